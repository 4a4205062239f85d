//! glTF models with their materials (`scene::Model`) on the sample assets, and every broken
//! file the loader must report without panicking.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::gltf_assets;
use glam::Vec3;
use macrokid_graphics::scene::{AlphaMode, ColorSpace, Filter, Image, Model, SceneError, WrapMode};
use macrokid_graphics::Mesh;
use serde_json::Value;

fn load(name: &str) -> Model {
    Model::load(gltf_assets().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Distinct texels: a flat-colour "texture" has 1.
fn distinct_texels(image: &Image) -> usize {
    image
        .pixels
        .chunks_exact(4)
        .map(|t| <[u8; 4]>::try_from(t).unwrap())
        .collect::<HashSet<_>>()
        .len()
}

fn assert_sane(model: &Model, name: &str) {
    assert!(!model.draws.is_empty(), "{name}: no draws");
    for d in &model.draws {
        assert_eq!(d.material, model.primitives[d.primitive].material);
        assert!(d.material < model.materials.len());
        let mesh = &model.primitives[d.primitive].mesh;
        mesh.validate().unwrap();
        for v in &mesh.vertices {
            assert!(
                (Vec3::from(v.normal).length() - 1.0).abs() < 1e-3,
                "{name}: normal {:?} not unit",
                v.normal
            );
            assert!(v
                .position
                .iter()
                .chain(&v.uv)
                .chain(&v.color)
                .all(|f| f.is_finite()));
        }
    }
    let (lo, hi) = model.bounds().unwrap();
    assert!(lo.is_finite() && hi.is_finite(), "{name}: bounds {lo} {hi}");
    assert!(
        (hi - lo).min_element() > 0.0,
        "{name}: flat bounds {lo} {hi}"
    );
}

fn assert_unit_cube(model: &mut Model, name: &str) {
    model.normalize_to_unit_cube();
    let (lo, hi) = model.bounds().unwrap();
    assert!(
        ((hi - lo).max_element() - 1.0).abs() < 1e-4,
        "{name}: {lo} {hi}"
    );
    assert!(
        ((lo + hi) * 0.5).abs().max_element() < 1e-4,
        "{name}: {lo} {hi}"
    );
}

#[test]
fn box_textured_glb_has_its_texture() {
    let mut model = load("BoxTextured.glb");
    assert_sane(&model, "BoxTextured.glb");
    assert_eq!(model.draws.len(), 1);
    assert_eq!(model.primitives[0].mesh.triangle_count(), 12);
    let material = &model.materials[model.draws[0].material];
    assert_eq!(material.name.as_deref(), Some("Texture"));
    assert_eq!(material.metallic_factor, 0.0);
    let tex = material.base_color_texture.expect("base-colour texture");
    assert_eq!(tex.tex_coord, 0);
    // magFilter LINEAR, minFilter NEAREST_MIPMAP_LINEAR (9986), wrap REPEAT.
    assert_eq!(tex.sampler.mag_filter, Filter::Linear);
    assert_eq!(tex.sampler.min_filter, Filter::Nearest);
    assert_eq!(tex.sampler.mipmap_filter, Some(Filter::Linear));
    assert_eq!(tex.sampler.wrap_u, WrapMode::Repeat);
    assert_eq!(tex.sampler.wrap_v, WrapMode::Repeat);
    let image = &model.images[tex.image];
    assert_eq!((image.width, image.height), (256, 256));
    assert_eq!(image.pixels.len(), 256 * 256 * 4);
    assert_eq!(image.color_space, ColorSpace::Srgb);
    assert!(
        distinct_texels(image) > 100,
        "{} texels",
        distinct_texels(image)
    );
    // The file's UVs span 0..6 in u (the logo repeats) and 0..1 in v.
    let uvs = &model.primitives[0].mesh.vertices;
    let max_u = uvs.iter().map(|v| v.uv[0]).fold(0.0, f32::max);
    assert!((max_u - 6.0).abs() < 1e-6, "max u {max_u}");
    // The root node turns Z-up into Y-up: a real transform, kept per draw.
    assert_ne!(model.draws[0].transform, glam::Mat4::IDENTITY);
    assert_unit_cube(&mut model, "BoxTextured.glb");
}

#[test]
fn box_textured_gltf_matches_the_glb() {
    let glb = load("BoxTextured.glb");
    let gltf = load("BoxTextured/BoxTextured.gltf");
    // Same PNG, decoded the same (the .glb names its image, the .gltf does not).
    assert_eq!(glb.images.len(), 1);
    assert_eq!(glb.images[0].pixels, gltf.images[0].pixels);
    assert_eq!(glb.images[0].color_space, gltf.images[0].color_space);
    assert_eq!(glb.materials, gltf.materials);
    assert_eq!(glb.draws, gltf.draws);
    assert_eq!(
        glb.primitives[0].mesh, gltf.primitives[0].mesh,
        "same geometry buffer"
    );
}

#[test]
fn box_vertex_colors_are_the_rgb_cube() {
    let model = load("BoxVertexColors.glb");
    assert_sane(&model, "BoxVertexColors.glb");
    // The file is the unit cube [0, 1]³ whose COLOR_0 (VEC3 float) equals each corner's
    // position: black at the origin, red at +X, white at (1, 1, 1)…, alpha 1 (VEC3).
    let vertices = &model.primitives[0].mesh.vertices;
    assert_eq!(vertices.len(), 24);
    for v in vertices {
        let [x, y, z] = v.position;
        assert_eq!(v.color, [x, y, z, 1.0], "corner {:?}", v.position);
    }
    let colors: HashSet<[u32; 4]> = vertices.iter().map(|v| v.color.map(f32::to_bits)).collect();
    assert_eq!(colors.len(), 8, "one colour per corner");
    assert_eq!(vertices[0].color, [0.0, 0.0, 0.0, 1.0], "vertex 0 is black");
    assert_eq!(vertices[1].color, [1.0, 0.0, 0.0, 1.0], "vertex 1 is red");
    assert_eq!(vertices[7].color, [1.0; 4], "vertex 7 is white");
    // No material in the file: the glTF default material.
    assert_eq!(model.materials.len(), 1);
    assert_eq!(model.materials[0].source_index, None);
    assert_eq!(model.materials[0].base_color_factor, [1.0; 4]);
}

#[test]
fn damaged_helmet_has_color_and_normal_maps() {
    let mut model = load("DamagedHelmet.glb");
    assert_sane(&model, "DamagedHelmet.glb");
    let m = &model.materials[model.draws[0].material];
    let base = m.base_color_texture.expect("base-colour texture");
    let normal = m.normal_texture.expect("normal map");
    let (base, normal) = (&model.images[base.image], &model.images[normal.image]);
    assert_eq!(base.color_space, ColorSpace::Srgb);
    assert_eq!(normal.color_space, ColorSpace::Linear);
    assert_ne!(base.source_index, normal.source_index);
    for image in [base, normal] {
        assert_eq!((image.width, image.height), (2048, 2048));
        assert!(distinct_texels(image) > 1000);
    }
    // A tangent-space normal map points mostly along +Z: blue is high on average.
    let mean_blue = normal
        .pixels
        .chunks_exact(4)
        .map(|t| f64::from(t[2]))
        .sum::<f64>()
        / f64::from(normal.width * normal.height);
    assert!(mean_blue > 180.0, "mean blue {mean_blue}");
    // The empty sampler {} gives the trilinear repeating default.
    assert_eq!(m.base_color_texture.unwrap().sampler, Default::default());
    // Only base colour and normal are decoded (not metallic-roughness, occlusion, emissive).
    assert_eq!(model.images.len(), 2);
    assert_eq!(m.emissive_factor, [1.0; 3]);
    assert_eq!(m.alpha_mode, AlphaMode::Opaque);
    assert_unit_cube(&mut model, "DamagedHelmet.glb");
}

#[test]
fn fox_loads_in_bind_pose() {
    let mut model = load("Fox.glb");
    assert_sane(&model, "Fox.glb");
    assert_eq!(model.draws.len(), 1);
    assert_eq!(
        model.draws[0].node,
        Some(1),
        "the `fox` node holds the skinned mesh"
    );
    let (lo, hi) = model.bounds().unwrap();
    // The fox is about 1.5 m long in centimetres, standing on the ground, along Z.
    let size = hi - lo;
    assert!(size.z > 100.0 && size.z < 200.0, "length {size}");
    assert!(size.y > 50.0 && size.y < 150.0, "height {size}");
    assert!(lo.y.abs() < 5.0, "feet at {lo}");
    assert!(model.materials[0].base_color_texture.is_some());
    assert_unit_cube(&mut model, "Fox.glb");
}

#[test]
fn rigged_simple_loads_in_bind_pose() {
    let mut model = load("RiggedSimple.glb");
    assert_sane(&model, "RiggedSimple.glb");
    assert_eq!(model.draws.len(), 1);
    assert_eq!(model.draws[0].node, Some(2), "the `Cylinder` node");
    let (lo, hi) = model.bounds().unwrap();
    let size = hi - lo;
    // A cylinder about 2 wide and 9 long; Z_UP and Armature rotate its length onto X.
    assert!(
        size.max_element() > 8.0 && size.max_element() < 10.0,
        "{size}"
    );
    assert!(size.min_element() > 1.5, "{size}");
    let m = &model.materials[0];
    assert!((m.base_color_factor[1] - 0.64).abs() < 1e-6);
    assert_unit_cube(&mut model, "RiggedSimple.glb");
}

#[test]
fn box_and_duck_still_load() {
    let model = load("Box.glb");
    assert_sane(&model, "Box.glb");
    assert_eq!(model.materials[0].base_color_factor, [0.8, 0.0, 0.0, 1.0]);
    assert!(model.images.is_empty());
    let duck = load("Duck.glb");
    assert_sane(&duck, "Duck.glb");
    assert!(duck.primitives[0].mesh.triangle_count() > 4000);
    assert!(duck.materials[0].base_color_texture.is_some());
    // Mesh::from_gltf is the merged, normalised model.
    let merged = Mesh::from_gltf(gltf_assets().join("Duck.glb")).unwrap();
    assert_eq!(
        merged.vertex_count(),
        duck.primitives[0].mesh.vertex_count()
    );
    assert!(
        merged.vertices.iter().any(|v| v.uv != [0.0, 0.0]),
        "UVs kept"
    );
}

#[test]
fn cube_uvs_cover_each_face_upright() {
    let cube = Mesh::cube();
    for face in cube.vertices.chunks_exact(4) {
        let mut corners: Vec<[u32; 2]> = face.iter().map(|v| v.uv.map(f32::to_bits)).collect();
        corners.sort_unstable();
        let mut expected: Vec<[u32; 2]> = [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
            .iter()
            .map(|uv| uv.map(f32::to_bits))
            .collect();
        expected.sort_unstable();
        assert_eq!(corners, expected);
        let at = |uv: [f32; 2]| Vec3::from(face.iter().find(|v| v.uv == uv).unwrap().position);
        // Where the texture's right and up edges run on the cube: u grows to the right along
        // the top row, v grows down along the left column (glTF's top-left origin).
        let right = at([1.0, 0.0]) - at([0.0, 0.0]);
        let up = at([0.0, 0.0]) - at([0.0, 1.0]);
        assert_eq!(at([1.0, 1.0]) - at([0.0, 1.0]), right, "a parallelogram");
        let normal = Vec3::from(face[0].normal);
        // Seen from outside, right × up points at the viewer: the image is not mirrored.
        assert_eq!(right.cross(up), normal, "mirrored on the face {normal}");
        // And it is upright: +Y up on the sides; on the top face up is −Z (its bottom edge
        // is shared with the +Z face), on the bottom face +Z (its top edge is).
        let expected_up = if normal == Vec3::Y {
            Vec3::NEG_Z
        } else if normal == Vec3::NEG_Y {
            Vec3::Z
        } else {
            Vec3::Y
        };
        assert_eq!(up, expected_up, "texture up on the face {normal}");
        assert!(face.iter().all(|v| v.color == [1.0; 4]));
    }
}

// ---- broken files ---------------------------------------------------------------------------

/// A fresh copy of the multi-file BoxTextured in its own temp dir.
fn box_textured_copy(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("macrokid-scene-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["BoxTextured.gltf", "BoxTextured0.bin", "CesiumLogoFlat.png"] {
        std::fs::copy(gltf_assets().join("BoxTextured").join(f), dir.join(f)).unwrap();
    }
    dir.join("BoxTextured.gltf")
}

fn edit_json(gltf: &Path, edit: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_slice(&std::fs::read(gltf).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(gltf, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
}

/// The error, checked to name the file and each of `needles`.
fn load_err(path: &Path, needles: &[&str]) -> SceneError {
    let err = Model::load(path).expect_err("a broken file loaded");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "no file name in: {text}"
    );
    for n in needles {
        assert!(text.contains(n), "{n:?} missing from: {text}");
    }
    err
}

#[test]
fn missing_bin_is_named() {
    let gltf = box_textured_copy("nobin");
    std::fs::remove_file(gltf.with_file_name("BoxTextured0.bin")).unwrap();
    let err = load_err(&gltf, &["buffer 0", "BoxTextured0.bin"]);
    assert!(
        matches!(err, SceneError::MissingBuffer { buffer: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn truncated_bin_is_named() {
    let gltf = box_textured_copy("shortbin");
    let bin = gltf.with_file_name("BoxTextured0.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..600]).unwrap();
    let err = load_err(&gltf, &["buffer 0", "600", "840"]);
    assert!(matches!(err, SceneError::BufferTooShort { .. }), "{err:?}");
}

#[test]
fn missing_image_is_named() {
    let gltf = box_textured_copy("noimage");
    std::fs::remove_file(gltf.with_file_name("CesiumLogoFlat.png")).unwrap();
    let err = load_err(&gltf, &["image 0", "CesiumLogoFlat.png"]);
    assert!(
        matches!(err, SceneError::MissingImage { image: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn undecodable_image_is_named() {
    let gltf = box_textured_copy("badimage");
    let png = gltf.with_file_name("CesiumLogoFlat.png");
    // A PNG signature followed by garbage, then a truncated copy: both must fail to decode.
    let mut bytes = std::fs::read(&png).unwrap();
    for b in &mut bytes[8..200] {
        *b = 0xA5;
    }
    std::fs::write(&png, &bytes).unwrap();
    let err = load_err(&gltf, &["image 0", "CesiumLogoFlat.png", "does not decode"]);
    assert!(
        matches!(err, SceneError::ImageDecode { image: 0, .. }),
        "{err:?}"
    );
    std::fs::write(&png, b"not an image at all").unwrap();
    let err = load_err(&gltf, &["image 0", "CesiumLogoFlat.png"]);
    assert!(matches!(err, SceneError::ImageDecode { .. }), "{err:?}");
}

#[test]
fn undecodable_image_inside_a_glb_is_named() {
    let mut bytes = std::fs::read(gltf_assets().join("BoxTextured.glb")).unwrap();
    let png = bytes
        .windows(8)
        .position(|w| w == b"\x89PNG\r\n\x1a\n")
        .expect("embedded PNG");
    for b in &mut bytes[png + 8..png + 100] {
        *b = 0;
    }
    let dir = std::env::temp_dir().join(format!("macrokid-scene-glbimage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("BoxTextured-corrupt.glb");
    std::fs::write(&path, &bytes).unwrap();
    let err = load_err(&path, &["image 0", "buffer view 3"]);
    assert!(matches!(err, SceneError::ImageDecode { .. }), "{err:?}");
}

#[test]
fn accessor_past_its_buffer_view_is_named() {
    let gltf = box_textured_copy("overrun");
    // POSITION (accessor 2) starts at byte 288 of a 576-byte view with stride 12: 24 elements
    // end exactly at 576; 25 would end at 588.
    edit_json(&gltf, |j| j["accessors"][2]["count"] = 25.into());
    let err = load_err(&gltf, &["accessor 2", "POSITION", "mesh 0", "588", "576"]);
    assert!(
        matches!(err, SceneError::AccessorOutOfRange { accessor: 2, .. }),
        "{err:?}"
    );

    // A huge count must not overflow or allocate: it is an out-of-range error too.
    edit_json(&gltf, |j| {
        j["accessors"][2]["count"] = u64::from(u32::MAX).into()
    });
    load_err(&gltf, &["accessor 2"]);
}

#[test]
fn buffer_view_past_its_buffer_is_named() {
    let gltf = box_textured_copy("viewoverrun");
    // bufferView 0 (the indices) covers 768..840; make it reach 900.
    edit_json(&gltf, |j| j["bufferViews"][0]["byteLength"] = 132.into());
    let err = load_err(
        &gltf,
        &[
            "accessor 0",
            "indices of mesh 0",
            "buffer view 0",
            "768..900",
            "840",
        ],
    );
    assert!(
        matches!(err, SceneError::AccessorOutOfRange { .. }),
        "{err:?}"
    );
}

#[test]
fn index_out_of_range_is_named() {
    let gltf = box_textured_copy("badindex");
    let bin = gltf.with_file_name("BoxTextured0.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    // Indices are u16 at byte 768; make the fifth one 999.
    bytes[768 + 8..768 + 10].copy_from_slice(&999u16.to_le_bytes());
    std::fs::write(&bin, &bytes).unwrap();
    let err = load_err(
        &gltf,
        &["mesh 0", "primitive 0", "index 4 is 999", "24 vertices"],
    );
    assert!(matches!(err, SceneError::BadIndices { .. }), "{err:?}");
}

#[test]
fn attribute_naming_a_missing_accessor_is_named() {
    // gltf-json's own validation would index out of bounds here; the loader checks first.
    let gltf = box_textured_copy("noaccessor");
    edit_json(&gltf, |j| {
        j["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = 1701.into()
    });
    let err = load_err(
        &gltf,
        &["attributes.POSITION", "accessor 1701", "4 accessors"],
    );
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
}

#[test]
fn image_without_its_source_fields_is_named() {
    // gltf's Image::source would unwrap a missing mimeType / uri; the loader checks first.
    let gltf = box_textured_copy("nouri");
    edit_json(&gltf, |j| {
        j["images"][0].as_object_mut().unwrap().remove("uri");
    });
    let err = load_err(&gltf, &["images[0]", "neither a uri nor a bufferView"]);
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");

    let mut bytes = std::fs::read(gltf_assets().join("BoxTextured.glb")).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"\"mimeType\"")
        .expect("mimeType key in the JSON chunk");
    bytes[at + 1] = b'X'; // "XimeType": an unknown key, so the image has no mimeType
    let dir = std::env::temp_dir().join(format!("macrokid-scene-nomime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("no-mime.glb");
    std::fs::write(&path, &bytes).unwrap();
    let err = load_err(&path, &["images[0]", "bufferView but no mimeType"]);
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
}

#[test]
fn wrong_accessor_types_are_named() {
    let gltf = box_textured_copy("badtype");
    edit_json(&gltf, |j| j["accessors"][3]["type"] = "VEC3".into());
    let err = load_err(&gltf, &["accessor 3", "TEXCOORD_0"]);
    assert!(matches!(err, SceneError::AccessorType { .. }), "{err:?}");
}

#[test]
fn no_triangles_is_an_error() {
    let gltf = box_textured_copy("points");
    edit_json(&gltf, |j| {
        j["meshes"][0]["primitives"][0]["mode"] = 0.into()
    });
    let err = load_err(&gltf, &["no triangle"]);
    assert!(matches!(err, SceneError::NoTriangles { .. }), "{err:?}");
}

#[test]
fn unsupported_required_extension_is_named() {
    let gltf = box_textured_copy("draco");
    edit_json(&gltf, |j| {
        j["extensionsUsed"] = serde_json::json!(["KHR_draco_mesh_compression"]);
        j["extensionsRequired"] = serde_json::json!(["KHR_draco_mesh_compression"]);
    });
    let err = load_err(&gltf, &["KHR_draco_mesh_compression"]);
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
}

#[test]
fn node_cycle_is_an_error_not_a_hang() {
    let gltf = box_textured_copy("cycle");
    edit_json(&gltf, |j| {
        j["nodes"][1]["children"] = serde_json::json!([0])
    });
    let err = load_err(&gltf, &["node 0", "reached twice"]);
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
}

#[test]
fn embedded_data_uris_load() {
    // The multi-file box with its .bin and .png inlined as base64 data: URIs.
    let gltf = box_textured_copy("datauri");
    let b64 = |bytes: &[u8]| {
        // RFC 4648 base64, written out here so the test needs no extra crate.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    };
    let bin = std::fs::read(gltf.with_file_name("BoxTextured0.bin")).unwrap();
    let png = std::fs::read(gltf.with_file_name("CesiumLogoFlat.png")).unwrap();
    edit_json(&gltf, |j| {
        j["buffers"][0]["uri"] =
            format!("data:application/octet-stream;base64,{}", b64(&bin)).into();
        j["images"][0]["uri"] = format!("data:image/png;base64,{}", b64(&png)).into();
    });
    std::fs::remove_file(gltf.with_file_name("BoxTextured0.bin")).unwrap();
    std::fs::remove_file(gltf.with_file_name("CesiumLogoFlat.png")).unwrap();
    let inline = Model::load(&gltf).unwrap();
    assert_eq!(inline, load("BoxTextured/BoxTextured.gltf"));
}

// ---- hand-built files: component types, strips, sparse accessors, shared meshes ------------

/// Writes `name.gltf` with `json` and, beside it, `name.bin` holding `bin` (the JSON's
/// buffer 0 is pointed at it and given its length).
fn write_gltf(case: &str, mut json: Value, bin: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("macrokid-scene-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{case}.bin")), bin).unwrap();
    json["asset"] = serde_json::json!({"version": "2.0"});
    json["buffers"] = serde_json::json!([{"uri": format!("{case}.bin"), "byteLength": bin.len()}]);
    let path = dir.join(format!("{case}.gltf"));
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    path
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|f| f.to_le_bytes()).collect()
}

#[test]
fn normalised_colours_and_uvs_in_a_strip() {
    // Four vertices of a unit square in the XY plane, as a CCW triangle strip.
    let mut bin = f32_bytes(&[0., 0., 0., 1., 0., 0., 0., 1., 0., 1., 1., 0.]); // 0..48
    bin.extend([
        255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 51, 102, 153, 204,
    ]); // 48..64
    for uv in [0u16, 0, 65535, 0, 0, 65535, 65535, 65535] {
        bin.extend(uv.to_le_bytes()); // 64..80
    }
    let json = serde_json::json!({
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{
            "attributes": {"POSITION": 0, "COLOR_0": 1, "TEXCOORD_0": 2},
            "mode": 5
        }]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5121, "normalized": true, "count": 4, "type": "VEC4"},
            {"bufferView": 2, "componentType": 5123, "normalized": true, "count": 4, "type": "VEC2"}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 48},
            {"buffer": 0, "byteOffset": 48, "byteLength": 16},
            {"buffer": 0, "byteOffset": 64, "byteLength": 16}
        ]
    });
    let model = Model::load(write_gltf("strip", json, &bin)).unwrap();
    let mesh = &model.primitives[0].mesh;
    // No NORMAL: flat-shaded, so the strip's list `0 1 2, 1 3 2` (winding kept) is
    // de-indexed into six vertices.
    assert_eq!(mesh.indices, (0..6).collect::<Vec<u32>>());
    let corner = [0usize, 1, 2, 1, 3, 2];
    let positions = [[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [1., 1., 0.]];
    for (v, &c) in mesh.vertices.iter().zip(&corner) {
        assert_eq!(v.position, positions[c], "strip as a list, winding kept");
    }
    let colors = [
        [1.0, 0.0, 0.0, 1.0],
        [0.0, 1.0, 0.0, 128.0 / 255.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.2, 0.4, 0.6, 0.8],
    ];
    let uvs = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
    for (v, &c) in mesh.vertices.iter().zip(&corner) {
        assert_eq!((v.color, v.uv), (colors[c], uvs[c]), "corner {c}");
    }
    for v in &mesh.vertices {
        assert_eq!(
            v.normal,
            [0.0, 0.0, 1.0],
            "computed normals face the CCW side"
        );
    }
    assert_eq!(model.materials[0].source_index, None, "default material");
}

#[test]
fn sparse_accessors_override_their_base() {
    // Base positions of one triangle, then sparse data replacing vertex 2.
    let mut bin = f32_bytes(&[0., 0., 0., 1., 0., 0., 0., 1., 0.]); // 0..36
    bin.extend([2, 0, 0, 0]); // 36..40: sparse indices (u8, padded)
    bin.extend(f32_bytes(&[5., 5., 0.])); // 40..52: sparse values
    let json = |sparse_index: u8, with_base: bool| {
        let mut accessor = serde_json::json!({
            "componentType": 5126, "count": 3, "type": "VEC3",
            "min": [0, 0, 0], "max": [5, 5, 0],
            "sparse": {
                "count": 1,
                "indices": {"bufferView": 1, "componentType": 5121},
                "values": {"bufferView": 2}
            }
        });
        if with_base {
            accessor["bufferView"] = 0.into();
        }
        let mut bin = bin.clone();
        bin[36] = sparse_index;
        (
            serde_json::json!({
                "scenes": [{"nodes": [0]}],
                "nodes": [{"mesh": 0}],
                "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
                "accessors": [accessor],
                "bufferViews": [
                    {"buffer": 0, "byteOffset": 0, "byteLength": 36},
                    {"buffer": 0, "byteOffset": 36, "byteLength": 1},
                    {"buffer": 0, "byteOffset": 40, "byteLength": 12}
                ]
            }),
            bin,
        )
    };
    let (j, b) = json(2, true);
    let model = Model::load(write_gltf("sparse", j, &b)).unwrap();
    let p: Vec<[f32; 3]> = model.primitives[0]
        .mesh
        .vertices
        .iter()
        .map(|v| v.position)
        .collect();
    assert_eq!(p, vec![[0., 0., 0.], [1., 0., 0.], [5., 5., 0.]]);

    let (j, b) = json(2, false);
    let model = Model::load(write_gltf("sparse-zeros", j, &b)).unwrap();
    let p: Vec<[f32; 3]> = model.primitives[0]
        .mesh
        .vertices
        .iter()
        .map(|v| v.position)
        .collect();
    assert_eq!(
        p,
        vec![[0., 0., 0.], [0., 0., 0.], [5., 5., 0.]],
        "zeros without a view"
    );

    let (j, b) = json(7, true);
    let path = write_gltf("sparse-bad", j, &b);
    let err = load_err(&path, &["accessor 0", "POSITION", "sparse index 0 is 7"]);
    assert!(
        matches!(err, SceneError::AccessorOutOfRange { .. }),
        "{err:?}"
    );
}

#[test]
fn a_shared_mesh_is_loaded_once_and_drawn_per_node() {
    let mut bin = f32_bytes(&[0., 0., 0., 1., 0., 0., 0., 1., 0.]);
    bin.extend([0u8, 1, 2, 0]); // u8 indices, padded
    let json = serde_json::json!({
        "scenes": [{"nodes": [0, 1]}],
        "nodes": [
            {"mesh": 0, "translation": [10, 0, 0]},
            {"mesh": 0, "scale": [-1, 1, 1], "children": [2]},
            {"mesh": 0, "translation": [3, 0, 0]}
        ],
        "meshes": [{"name": "tri", "primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "material": 0}]}],
        "materials": [{"name": "red", "pbrMetallicRoughness": {"baseColorFactor": [1, 0, 0, 1]},
                       "alphaMode": "MASK", "alphaCutoff": 0.25, "doubleSided": true}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
             "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5121, "count": 3, "type": "SCALAR"}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36},
            {"buffer": 0, "byteOffset": 36, "byteLength": 3}
        ]
    });
    let mut model = Model::load(write_gltf("shared", json, &bin)).unwrap();
    assert_eq!(model.primitives.len(), 1, "one mesh, loaded once");
    assert_eq!(model.draws.len(), 3);
    assert_eq!(
        model.draws.iter().map(|d| d.node).collect::<Vec<_>>(),
        vec![Some(0), Some(1), Some(2)],
        "depth-first, nodes before their children"
    );
    assert!(!model.draws[0].is_mirrored());
    assert!(model.draws[1].is_mirrored() && model.draws[2].is_mirrored());
    // The child's world transform is parent × local (glTF 2.0 "Transformations"): vertex
    // (1, 0, 0) is moved by the child's translation to (4, 0, 0), then mirrored by the
    // parent's scale to (-4, 0, 0). The other order (local × parent) would give (2, 0, 0).
    let child = model.draws[2].transform.transform_point3(Vec3::X);
    assert!(
        child.abs_diff_eq(Vec3::new(-4.0, 0.0, 0.0), 1e-6),
        "{child}"
    );
    let m = &model.materials[0];
    assert_eq!(m.name.as_deref(), Some("red"));
    assert_eq!(m.alpha_mode, AlphaMode::Mask { cutoff: 0.25 });
    assert!(m.double_sided);

    // Merging flips the winding of mirrored draws so every triangle still faces +Z.
    let merged = model.merged_mesh();
    assert_eq!(merged.triangle_count(), 3);
    for tri in merged.indices.chunks_exact(3) {
        let [a, b, c] =
            [tri[0], tri[1], tri[2]].map(|i| Vec3::from(merged.vertices[i as usize].position));
        let n = (b - a).cross(c - a);
        assert!(n.z > 0.0, "triangle {tri:?} faces {n}");
    }

    model.normalize_to_unit_cube();
    let (lo, hi) = model.bounds().unwrap();
    assert!(((hi - lo).max_element() - 1.0).abs() < 1e-5 && ((lo + hi) * 0.5).length() < 1e-5);
}

#[test]
fn an_indexed_cube_without_normals_is_flat_shaded() {
    // The 8 corners of the unit cube, corner k at ((k & 1), (k >> 1 & 1), (k >> 2 & 1)) − 0.5,
    // with COLOR_0 = position + 0.5 and TEXCOORD_0 = (x, z) + 0.5; Mesh::cube's 12 CCW
    // triangles as u16 indices into them. No NORMAL.
    let corner = |p: [f32; 3]| p.map(|c| usize::from(c > 0.0));
    let corner_index = |p: [f32; 3]| {
        let [x, y, z] = corner(p);
        (x | y << 1 | z << 2) as u16
    };
    let position = |k: usize| [k & 1, k >> 1 & 1, k >> 2 & 1].map(|c| c as f32 - 0.5);
    let color = |p: [f32; 3]| [p[0] + 0.5, p[1] + 0.5, p[2] + 0.5, 1.0];
    let uv = |p: [f32; 3]| [p[0] + 0.5, p[2] + 0.5];
    let cube = Mesh::cube();
    let mut bin = f32_bytes(&(0..8).flat_map(position).collect::<Vec<_>>()); // 0..96
    bin.extend(f32_bytes(
        &(0..8).flat_map(|k| color(position(k))).collect::<Vec<_>>(),
    )); // 96..224
    bin.extend(f32_bytes(
        &(0..8).flat_map(|k| uv(position(k))).collect::<Vec<_>>(),
    )); // 224..288
    for &i in &cube.indices {
        bin.extend(corner_index(cube.vertices[i as usize].position).to_le_bytes());
    } // 288..360
    let json = serde_json::json!({
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{
            "attributes": {"POSITION": 0, "COLOR_0": 1, "TEXCOORD_0": 2}, "indices": 3
        }]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3",
             "min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5]},
            {"bufferView": 1, "componentType": 5126, "count": 8, "type": "VEC4"},
            {"bufferView": 2, "componentType": 5126, "count": 8, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": 36, "type": "SCALAR"}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 96},
            {"buffer": 0, "byteOffset": 96, "byteLength": 128},
            {"buffer": 0, "byteOffset": 224, "byteLength": 64},
            {"buffer": 0, "byteOffset": 288, "byteLength": 72}
        ]
    });
    let path = write_gltf("flatcube", json, &bin);
    let model = Model::load(&path).unwrap();
    let mesh = &model.primitives[0].mesh;
    // glTF 2.0 §3.7.2.1: flat normals, so no vertex is shared between triangles.
    assert_eq!(mesh.vertex_count(), 36);
    assert_eq!(mesh.indices, (0..36).collect::<Vec<u32>>());
    let mut per_axis = std::collections::HashMap::new();
    for (t, tri) in mesh.vertices.chunks_exact(3).enumerate() {
        // Triangle t is the cube's triangle t, corners in the same order.
        let expected = &cube.indices[3 * t..3 * t + 3];
        for (v, &e) in tri.iter().zip(expected) {
            let want = cube.vertices[e as usize];
            assert_eq!(v.position, want.position, "triangle {t}");
            assert_eq!(
                v.normal, want.normal,
                "triangle {t}: the face's axis-aligned normal"
            );
            assert_eq!((v.color, v.uv), (color(v.position), uv(v.position)));
        }
        // `+ 0.0` turns a -0.0 component into 0.0 so equal normals share a key.
        *per_axis
            .entry(tri[0].normal.map(|c| (c + 0.0).to_bits()))
            .or_insert(0) += 1;
    }
    assert_eq!(per_axis.len(), 6, "six face directions: {per_axis:?}");
    assert!(per_axis.values().all(|&n| n == 2), "two triangles per face");
    assert_sane(&model, "flatcube");
    // The merged mesh keeps the 36 vertices.
    assert_eq!(Mesh::from_gltf(&path).unwrap().vertex_count(), 36);
}

#[test]
fn files_with_normals_load_as_stored() {
    // Box.glb and Duck.glb carry NORMAL: vertices, normals and indices are the file's own.
    for name in ["Box.glb", "Duck.glb"] {
        let model = load(name);
        let (document, buffers, _) = gltf::import(gltf_assets().join(name)).unwrap();
        let mesh = document.meshes().next().unwrap();
        let prim = mesh.primitives().next().unwrap();
        let reader = prim.reader(|b| Some(&buffers[b.index()]));
        let positions: Vec<[f32; 3]> = reader.read_positions().unwrap().collect();
        let normals: Vec<[f32; 3]> = reader.read_normals().unwrap().collect();
        let indices: Vec<u32> = reader.read_indices().unwrap().into_u32().collect();
        let loaded = &model.primitives[0].mesh;
        assert_eq!(loaded.vertex_count(), positions.len(), "{name}");
        assert_eq!(loaded.indices, indices, "{name}");
        for ((v, p), n) in loaded.vertices.iter().zip(&positions).zip(&normals) {
            assert_eq!((v.position, v.normal), (*p, *n), "{name}");
        }
    }
}

/// A one-triangle file with TEXCOORD_0 = `(0.1, 0.2)` and TEXCOORD_1 = `(0.7, 0.8)` on every
/// vertex (or without TEXCOORD_1), textured with BoxTextured's PNG.
fn two_uv_sets(case: &str, with_set_1: bool, material: Value) -> PathBuf {
    let mut bin = f32_bytes(&[0., 0., 0., 1., 0., 0., 0., 1., 0.]); // 0..36
    bin.extend(f32_bytes(&[0.1, 0.2, 0.1, 0.2, 0.1, 0.2])); // 36..60
    bin.extend(f32_bytes(&[0.7, 0.8, 0.7, 0.8, 0.7, 0.8])); // 60..84
    let mut attributes = serde_json::json!({"POSITION": 0, "TEXCOORD_0": 1});
    if with_set_1 {
        attributes["TEXCOORD_1"] = 2.into();
    }
    let json = serde_json::json!({
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": attributes, "material": 0}]}],
        "materials": [material],
        "textures": [{"source": 0}],
        "images": [{"uri": "CesiumLogoFlat.png"}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
             "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC2"},
            {"bufferView": 2, "componentType": 5126, "count": 3, "type": "VEC2"}
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": 36},
            {"buffer": 0, "byteOffset": 36, "byteLength": 24},
            {"buffer": 0, "byteOffset": 60, "byteLength": 24}
        ]
    });
    let path = write_gltf(case, json, &bin);
    std::fs::copy(
        gltf_assets().join("BoxTextured/CesiumLogoFlat.png"),
        path.with_file_name("CesiumLogoFlat.png"),
    )
    .unwrap();
    path
}

#[test]
fn the_base_colour_textures_uv_set_is_loaded() {
    let base_color = |set: u32| serde_json::json!({"pbrMetallicRoughness": {"baseColorTexture": {"index": 0, "texCoord": set}}});
    let uvs = |model: &Model| {
        model.primitives[0]
            .mesh
            .vertices
            .iter()
            .map(|v| v.uv)
            .collect::<Vec<_>>()
    };
    let model = Model::load(two_uv_sets("uvset1", true, base_color(1))).unwrap();
    assert_eq!(model.primitives[0].uv_set, 1);
    assert_eq!(model.materials[0].base_color_texture.unwrap().tex_coord, 1);
    assert_eq!(uvs(&model), vec![[0.7, 0.8]; 3], "TEXCOORD_1");

    let model = Model::load(two_uv_sets("uvset0", true, base_color(0))).unwrap();
    assert_eq!(model.primitives[0].uv_set, 0);
    assert_eq!(uvs(&model), vec![[0.1, 0.2]; 3], "TEXCOORD_0");

    // Without a base-colour texture, the normal map's set.
    let normal_map = serde_json::json!({"normalTexture": {"index": 0, "texCoord": 1}});
    let model = Model::load(two_uv_sets("uvsetnormal", true, normal_map)).unwrap();
    assert_eq!(model.primitives[0].uv_set, 1);
    assert_eq!(uvs(&model), vec![[0.7, 0.8]; 3], "TEXCOORD_1");

    // A material sampling a set the primitive lacks breaks glTF's textureInfo.texCoord.
    let path = two_uv_sets("uvsetmissing", false, base_color(1));
    let err = load_err(
        &path,
        &[
            "mesh 0",
            "primitive 0",
            "no TEXCOORD_1",
            "material 0",
            "set 1",
        ],
    );
    assert!(matches!(err, SceneError::Invalid { .. }), "{err:?}");
}

/// A colon in a later path segment is a relative reference (RFC 3986 §4.2); Windows forbids
/// colons in file names, so this runs on Unix only.
#[cfg(unix)]
#[test]
fn a_colon_after_the_first_segment_is_a_relative_path() {
    let gltf = box_textured_copy("colonpath");
    let dir = gltf.with_file_name("sub").join("v1:2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(
        gltf.with_file_name("BoxTextured0.bin"),
        dir.join("BoxTextured0.bin"),
    )
    .unwrap();
    edit_json(&gltf, |j| {
        j["buffers"][0]["uri"] = "sub/v1:2/BoxTextured0.bin".into()
    });
    assert_eq!(
        Model::load(&gltf).unwrap(),
        load("BoxTextured/BoxTextured.gltf")
    );
}

/// `file:` URIs name absolute local paths (RFC 8089); another host is refused by name.
#[cfg(unix)]
#[test]
fn file_uris_are_absolute_local_paths() {
    let gltf = box_textured_copy("fileuri");
    let png = gltf.with_file_name("Cesium Logo.png");
    std::fs::rename(gltf.with_file_name("CesiumLogoFlat.png"), &png).unwrap();
    let absolute = png.canonicalize().unwrap();
    let uri = format!("file://{}", absolute.display()).replace(' ', "%20");
    edit_json(&gltf, |j| j["images"][0]["uri"] = uri.clone().into());
    let model = Model::load(&gltf).unwrap();
    assert_eq!(model, load("BoxTextured/BoxTextured.gltf"), "{uri}");

    edit_json(&gltf, |j| {
        j["images"][0]["uri"] = "file://fileserver/share/Cesium%20Logo.png".into()
    });
    let err = load_err(&gltf, &["image 0", "host \"fileserver\""]);
    assert!(matches!(err, SceneError::Unsupported { .. }), "{err:?}");

    edit_json(&gltf, |j| {
        j["images"][0]["uri"] = "file:Cesium%20Logo.png".into()
    });
    let err = load_err(
        &gltf,
        &["image 0", "no absolute path", "relative to the .gltf"],
    );
    assert!(matches!(err, SceneError::Unsupported { .. }), "{err:?}");
}

mod corrupted {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any bytes of a GLB overwritten: loading returns Ok or a SceneError, never panics.
        #[test]
        fn corrupted_glb_never_panics(
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            truncate in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let mut bytes = std::fs::read(gltf_assets().join("BoxTextured.glb")).unwrap();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if let Some(at) = truncate {
                bytes.truncate(at.index(bytes.len()));
            }
            let dir = std::env::temp_dir()
                .join(format!("macrokid-scene-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("corrupt.glb");
            std::fs::write(&path, &bytes).unwrap();
            if let Err(e) = Model::load(&path) {
                prop_assert!(e.to_string().contains("corrupt.glb"), "{}", e);
            }
        }

        /// Numbers in the JSON of the multi-file box replaced at random (offsets, lengths,
        /// counts, strides, indices) and keys removed: an error or a model, never a panic.
        #[test]
        fn corrupted_gltf_json_never_panics(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u64..2000), 0..4),
            removals in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        ) {
            let gltf = box_textured_copy("fuzz-json");
            edit_json(&gltf, |j| {
                let (mut numbers, mut keys) = (Vec::new(), Vec::new());
                collect_pointers(j, String::new(), &mut numbers, &mut keys);
                for (at, value) in edits {
                    if let Some(slot) = j.pointer_mut(&numbers[at.index(numbers.len())]) {
                        *slot = value.into();
                    }
                }
                for at in removals {
                    let (parent, key) = &keys[at.index(keys.len())];
                    if let Some(Value::Object(o)) = j.pointer_mut(parent) {
                        o.remove(key);
                    }
                }
            });
            if let Err(e) = Model::load(&gltf) {
                prop_assert!(e.to_string().contains("BoxTextured.gltf"), "{}", e);
            }
        }
    }

    /// JSON pointers of every non-negative integer in `v`, and (parent pointer, key) of every
    /// object member.
    fn collect_pointers(
        v: &Value,
        at: String,
        numbers: &mut Vec<String>,
        keys: &mut Vec<(String, String)>,
    ) {
        match v {
            Value::Number(n) if n.as_u64().is_some() => numbers.push(at),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    collect_pointers(x, format!("{at}/{i}"), numbers, keys);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    keys.push((at.clone(), k.clone()));
                    collect_pointers(x, format!("{at}/{k}"), numbers, keys);
                }
            }
            _ => {}
        }
    }
}
