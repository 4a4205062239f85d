//! Renders 10,000 instanced cubes at 1280×720 on the default adapter (lavapipe here) and prints
//! per-stage timings. `cargo run -p macrokid_graphics --release --example headless_frames --
//! [frames] [threads] [instances] [--no-validation] [--save DIR]`
//!
//! `--per-draw` records one draw call per instance (10k draws) instead of one instanced
//! draw per thread, to measure recording cost.
//!
//! Exits with status 1 if validation reported anything.

use std::time::Instant;

use glam::{Mat4, Quat, Vec3};
use macrokid_graphics::{Camera, InstanceData, Mesh, RendererConfig, VulkanRenderer};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let validation = !args.iter().any(|a| a == "--no-validation");
    let per_draw = args.iter().any(|a| a == "--per-draw");
    let save = args
        .iter()
        .position(|a| a == "--save")
        .and_then(|i| args.get(i + 1).cloned());
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let frames = nums.first().copied().unwrap_or(10);
    let threads = nums.get(1).copied().unwrap_or(2);
    let count = nums.get(2).copied().unwrap_or(10_000);

    let config = RendererConfig::default()
        .validation(validation)
        .recording_threads(threads);
    let (w, h) = (config.width, config.height);
    let mut renderer = VulkanRenderer::new(config)?;
    println!(
        "adapter: {} ({:?}), {w}x{h}, {count} instances, {threads} recording threads, validation {validation}",
        renderer.adapter_info().name,
        renderer.adapter_info().kind
    );
    let cube = renderer.upload_mesh(&Mesh::cube())?;
    let side = (count as f32).sqrt().ceil() as usize;
    let camera = Camera::look_at(
        Vec3::new(0.0, side as f32 * 0.5, side as f32 * 0.9),
        Vec3::ZERO,
        0.8,
        w as f32 / h as f32,
        0.1,
        1000.0,
    );
    let mut instances = Vec::with_capacity(count);
    let start = Instant::now();
    println!("frame     wait   upload   record   submit  gpu+rb    total   (ms)");
    for f in 0..frames {
        let t = f as f32 * 0.05;
        instances.clear();
        instances.extend((0..count).map(|i| {
            let (x, z) = (
                (i % side) as f32 - side as f32 / 2.0,
                (i / side) as f32 - side as f32 / 2.0,
            );
            let model = Mat4::from_scale_rotation_translation(
                Vec3::splat(0.6),
                Quat::from_rotation_y(t + i as f32 * 0.1),
                Vec3::new(x, (t + i as f32 * 0.3).sin() * 0.5, z),
            );
            InstanceData::new(
                model,
                [
                    0.3 + (i % 5) as f32 * 0.15,
                    0.5,
                    0.9 - (i % 3) as f32 * 0.2,
                    1.0,
                ],
            )
        }));
        let mut frame = renderer.begin_frame()?;
        frame.set_view(camera);
        frame.upload_instances(&instances)?;
        if per_draw {
            record_per_instance(&frame, cube, threads)?;
        } else {
            frame.draw_instanced(cube)?;
        }
        let image = frame.finish()?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let s = image.timings;
        println!(
            "{:5} {:8.2} {:8.2} {:8.2} {:8.2} {:8.2} {:8.2}",
            image.frame,
            ms(s.wait),
            ms(s.upload),
            ms(s.record),
            ms(s.submit),
            ms(s.gpu_and_readback),
            ms(s.total())
        );
        if let Some(dir) = &save {
            std::fs::create_dir_all(dir)?;
            image.save_png(format!("{dir}/frame_{:04}.png", image.frame))?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{frames} frames in {elapsed:.2} s = {:.1} fps",
        frames as f64 / elapsed
    );
    let counts = renderer.validation_counts();
    println!(
        "validation messages: {} warnings, {} errors",
        counts.warnings, counts.errors
    );
    if counts.total() > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// One draw call per instance, `threads` contiguous chunks on scoped threads. Prints the
/// recording time (the renderer's `record` timing covers only `draw_instanced`).
fn record_per_instance(
    frame: &macrokid_graphics::Frame<'_, macrokid_graphics::vulkan::Vulkan>,
    mesh: macrokid_graphics::MeshHandle,
    threads: usize,
) -> Result<(), macrokid_graphics::GraphicsError> {
    let start = Instant::now();
    let n = frame.instance_count() as usize;
    let encoder = frame.encoder_for("main")?;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<(), macrokid_graphics::GraphicsError> {
                    let mut ctx = encoder.begin(t)?;
                    for i in (t * n / threads) as u32..((t + 1) * n / threads) as u32 {
                        ctx.draw_instanced(mesh, i..i + 1)?;
                    }
                    ctx.finish()
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("recording thread panicked"))
    })?;
    println!(
        "      recorded {n} draw calls on {threads} threads in {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
