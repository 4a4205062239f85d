//! Prints what macrokid loads from a glTF 2.0 file: primitives, draws, materials, images.
//!
//! ```text
//! cargo run -p macrokid_graphics --example gltf_info -- path/to/Model.glb
//! ```
//!
//! A file that does not load prints its `SceneError` and exits with status 1.

use std::io::Write;
use std::process::ExitCode;

use macrokid_graphics::scene::{Model, TextureRef};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: gltf_info FILE.gltf|FILE.glb");
        return ExitCode::from(2);
    };
    let model = match Model::load(path) {
        Ok(model) => model,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match print_model(&mut std::io::stdout().lock(), path, &model) {
        // A closed pipe (`gltf_info x.glb | head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write the report: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

fn print_model(out: &mut impl Write, path: &str, model: &Model) -> std::io::Result<()> {
    writeln!(out, "{path}")?;
    if let Some((lo, hi)) = model.bounds() {
        writeln!(
            out,
            "  bounds: min {lo:.3}, max {hi:.3}, size {:.3}",
            hi - lo
        )?;
    }
    writeln!(out, "  primitives: {}", model.primitives.len())?;
    for (i, p) in model.primitives.iter().enumerate() {
        let colored = p.mesh.vertices.iter().any(|v| v.color != [1.0; 4]);
        let (lo, hi) = p.mesh.vertices.iter().fold(
            ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]),
            |(lo, hi), v| {
                (
                    [lo[0].min(v.uv[0]), lo[1].min(v.uv[1])],
                    [hi[0].max(v.uv[0]), hi[1].max(v.uv[1])],
                )
            },
        );
        let name = p
            .mesh_name
            .as_deref()
            .map_or(String::new(), |n| format!(" {n:?}"));
        writeln!(
            out,
            "    [{i}] mesh {}{name} primitive {}: {} vertices, {} triangles, uv {lo:?}..{hi:?}, vertex colours: {}, material {}",
            p.source_mesh,
            p.source_primitive,
            p.mesh.vertex_count(),
            p.mesh.triangle_count(),
            if colored { "yes" } else { "white" },
            p.material,
        )?;
    }
    writeln!(out, "  draws: {}", model.draws.len())?;
    for (i, d) in model.draws.iter().enumerate() {
        let (scale, _, translation) = d.transform.to_scale_rotation_translation();
        writeln!(
            out,
            "    [{i}] primitive {} material {} node {:?}: translation {translation:.3}, scale {scale:.3}{}",
            d.primitive,
            d.material,
            d.node,
            if d.is_mirrored() { ", mirrored" } else { "" },
        )?;
    }
    writeln!(out, "  materials: {}", model.materials.len())?;
    for (i, m) in model.materials.iter().enumerate() {
        writeln!(
            out,
            "    [{i}] {} (file index {:?}): base colour {:?}, metallic {}, roughness {}, alpha {:?}, double-sided {}",
            m.name.as_deref().unwrap_or("<unnamed>"),
            m.source_index,
            m.base_color_factor,
            m.metallic_factor,
            m.roughness_factor,
            m.alpha_mode,
            m.double_sided,
        )?;
        let textures: [(&str, &Option<TextureRef>); 2] = [
            ("base colour", &m.base_color_texture),
            ("normal map", &m.normal_texture),
        ];
        for (what, t) in textures {
            if let Some(t) = t {
                writeln!(
                    out,
                    "        {what}: image {} (TEXCOORD_{}), {:?}",
                    t.image, t.tex_coord, t.sampler
                )?;
            }
        }
    }
    writeln!(out, "  images: {}", model.images.len())?;
    for (i, img) in model.images.iter().enumerate() {
        writeln!(
            out,
            "    [{i}] {} (file index {}): {}x{} RGBA8, {:?}",
            img.name.as_deref().unwrap_or("<unnamed>"),
            img.source_index,
            img.width,
            img.height,
            img.color_space,
        )?;
    }
    Ok(())
}
