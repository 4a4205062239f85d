//! glTF loading on the sample assets, plus corrupt and missing files.

mod common;

use common::gltf_assets;
use glam::Vec3;
use macrokid_graphics::scene::SceneError;
use macrokid_graphics::Mesh;

fn assert_unit_cube(mesh: &Mesh) {
    mesh.validate().unwrap();
    let (lo, hi) = mesh.bounds().unwrap();
    let extent = hi - lo;
    assert!(
        (extent.max_element() - 1.0).abs() < 1e-4,
        "largest side {extent}"
    );
    assert!(
        ((lo + hi) * 0.5).abs().max_element() < 1e-4,
        "centre {}",
        (lo + hi) * 0.5
    );
    for v in &mesh.vertices {
        assert!(
            (Vec3::from(v.normal).length() - 1.0).abs() < 1e-3,
            "normal {:?} not unit",
            v.normal
        );
    }
}

#[test]
fn box_glb() {
    let mesh = Mesh::from_gltf(gltf_assets().join("Box.glb")).unwrap();
    assert_eq!(mesh.vertex_count(), 24);
    assert_eq!(mesh.triangle_count(), 12);
    assert_unit_cube(&mesh);
}

#[test]
fn duck_glb() {
    let mesh = Mesh::from_gltf(gltf_assets().join("Duck.glb")).unwrap();
    assert!(
        mesh.triangle_count() > 4000,
        "{} triangles",
        mesh.triangle_count()
    );
    assert_unit_cube(&mesh);
}

#[test]
fn box_textured_multi_file_gltf() {
    let mesh = Mesh::from_gltf(gltf_assets().join("BoxTextured/BoxTextured.gltf")).unwrap();
    assert_eq!(mesh.triangle_count(), 12);
    assert_unit_cube(&mesh);
}

#[test]
fn missing_file_names_the_path() {
    let path = std::env::temp_dir().join("macrokid-definitely-missing/none.glb");
    let err = Mesh::from_gltf(&path).unwrap_err();
    assert!(matches!(err, SceneError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().contains("none.glb"), "{err}");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("macrokid-mesh-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn truncated_glb_is_invalid() {
    let bytes = std::fs::read(gltf_assets().join("Duck.glb")).unwrap();
    let path = temp_dir("truncated").join("Duck-truncated.glb");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let err = Mesh::from_gltf(&path).unwrap_err();
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("Duck-truncated.glb"), "{err}");
}

#[test]
fn garbage_and_missing_buffers_are_invalid() {
    let dir = temp_dir("garbage");
    let garbage = dir.join("garbage.gltf");
    std::fs::write(&garbage, b"this is not json").unwrap();
    assert!(matches!(
        Mesh::from_gltf(&garbage),
        Err(SceneError::Invalid { .. })
    ));

    // The multi-file box without its .bin next to it.
    let src = gltf_assets().join("BoxTextured/BoxTextured.gltf");
    let lonely = dir.join("BoxTextured.gltf");
    std::fs::copy(src, &lonely).unwrap();
    let err = Mesh::from_gltf(&lonely).unwrap_err();
    assert!(matches!(err, SceneError::MissingBuffer { .. }), "{err:?}");
    assert!(err.to_string().contains("BoxTextured0.bin"), "{err}");
}

#[test]
fn gltf_without_triangles() {
    let path = temp_dir("empty").join("empty.gltf");
    std::fs::write(
        &path,
        br#"{"asset":{"version":"2.0"},"scenes":[{"nodes":[]}],"scene":0}"#,
    )
    .unwrap();
    let err = Mesh::from_gltf(&path).unwrap_err();
    assert!(matches!(err, SceneError::NoTriangles { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.gltf"));
}

mod properties {
    use macrokid_graphics::scene::Vertex;
    use macrokid_graphics::Mesh;
    use proptest::prelude::*;

    fn vertex() -> impl Strategy<Value = Vertex> {
        let f = -1.0e6f32..1.0e6;
        (
            [f.clone(), f.clone(), f.clone()],
            [f.clone(), f.clone(), f.clone()],
            [f.clone(), f.clone()],
            [f.clone(), f.clone(), f.clone(), f],
        )
            .prop_map(|(position, normal, uv, color)| Vertex {
                position,
                normal,
                uv,
                color,
            })
    }

    /// A valid mesh: 1..64 vertices, 1..32 triangles with indices below the vertex count.
    fn mesh() -> impl Strategy<Value = Mesh> {
        prop::collection::vec(vertex(), 1..64).prop_flat_map(|vertices| {
            let n = vertices.len() as u32;
            (1usize..32)
                .prop_flat_map(move |triangles| prop::collection::vec(0..n, triangles * 3))
                .prop_map(move |indices| Mesh {
                    vertices: vertices.clone(),
                    indices,
                })
        })
    }

    /// Reads vertices back from the bytes the GPU receives (the 48-byte layout).
    fn decode(bytes: &[u8]) -> Vec<Vertex> {
        bytes
            .chunks_exact(Vertex::SIZE)
            .map(|v| {
                let f: Vec<f32> = v
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
                    .collect();
                Vertex {
                    position: [f[0], f[1], f[2]],
                    normal: [f[3], f[4], f[5]],
                    uv: [f[6], f[7]],
                    color: [f[8], f[9], f[10], f[11]],
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn valid_meshes_validate_and_round_trip(mesh in mesh()) {
            prop_assert!(mesh.validate().is_ok());
            prop_assert_eq!(decode(&mesh.vertex_bytes()), mesh.vertices.clone());
            let indices: Vec<u32> = mesh
                .index_bytes()
                .chunks_exact(4)
                .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
                .collect();
            prop_assert_eq!(indices, mesh.indices);
        }

        #[test]
        fn an_index_past_the_end_is_reported(mesh in mesh(), at in any::<prop::sample::Index>(), over in 0u32..1000) {
            let mut mesh = mesh;
            let i = at.index(mesh.indices.len());
            let bad = mesh.vertices.len() as u32 + over;
            mesh.indices[i] = bad;
            let err = mesh.validate().unwrap_err().to_string();
            prop_assert!(err.contains(&format!("index {i} is {bad}")), "{}", err);
        }

        #[test]
        fn a_partial_triangle_is_reported(mesh in mesh(), extra in 1usize..3) {
            let mut mesh = mesh;
            mesh.indices.extend(std::iter::repeat_n(0, extra));
            prop_assert!(mesh.validate().is_err());
        }
    }
}
