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
