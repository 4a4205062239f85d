//! # The macrokid showcase
//!
//! An ECS world of `--entities` moving, bouncing, spinning objects, driven by a
//! derive-scheduled set of systems and drawn headless by the Vulkan backend as
//! instanced meshes (a built-in cube, or any glTF 2.0 model with `--model`).
//! Every frame is written to `OUT/frame_NNNN.png`; at the end a table of
//! per-stage times is printed.
//!
//! ```text
//! cargo xtask demo -- --entities 10000 --frames 8 --model ../shared/assets/gltf/Duck.glb
//! ```
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT end the run cleanly: the frame in flight is
//! finished and written, the GPU is waited for, the summary is printed, and the exit
//! status is 0. PNG files are written under a temporary name and renamed, so a
//! `frame_NNNN.png` is never half-written.
//!
//! With `--window` the frames are presented in a window (X11: `DISPLAY` must name a running
//! X server) instead of written as PNGs, with the frame rate in the title; `--frames` still
//! bounds the run and closing the window ends it. The frame graph is the headless one, ending
//! in a blit into the swapchain image instead of the read-back.
//!
//! Exit status: 0 on success; 1 with a message (no panic) when the model file
//! is missing or corrupt, no Vulkan driver is found, or the validation layer
//! reported anything.

mod model;
mod report;
mod shutdown;
mod sim;
mod window;

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use glam::{Mat4, Vec3};
use macrokid_ecs::World;
use macrokid_graphics::{PostProcess, Renderer, RendererConfig};
use macrokid_threads::{Scheduler, ThreadPool};

use crate::report::{StageTimes, Table};
use crate::shutdown::Shutdown;
use crate::sim::{Bounds, Instances, Tick, Time};

/// Command-line options.
#[derive(Parser, Debug)]
#[command(
    name = "showcase",
    version,
    about = "macrokid showcase: ECS + derive-scheduled systems + headless Vulkan"
)]
struct Args {
    /// Number of entities in the world.
    #[arg(long, default_value_t = 10_000)]
    entities: usize,
    /// Number of frames to simulate, render and write.
    #[arg(long, default_value_t = 8)]
    frames: usize,
    /// A glTF 2.0 model (.gltf or .glb) to draw instead of the built-in cube.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1280)]
    width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 720)]
    height: u32,
    /// Worker threads for the ECS schedule and for recording command buffers.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where the PNG files go.
    #[arg(long, default_value = "target/showcase")]
    out: PathBuf,
    /// Simulation step in seconds.
    #[arg(long, default_value_t = 1.0 / 30.0)]
    dt: f32,
    /// Seed of the initial world (same seed, same images).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Also write `frame_NNNN.points` files: the pixel position of every
    /// instance centre that lies inside the image (used by the tests).
    #[arg(long)]
    dump_points: bool,
    /// Present the frames in a window (needs `DISPLAY`) instead of writing PNG files;
    /// `--frames` still bounds the run, closing the window ends it.
    #[arg(long)]
    window: bool,
    /// Disable the Vulkan validation layer (enabled by default).
    #[arg(long)]
    no_validation: bool,
    /// Write a Chrome-trace / Perfetto JSON file of the run (spans per stage
    /// and system) to this path.
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Log format on stderr: `text` (human-readable lines) or `json` (one
    /// JSON object per line: timestamp, level, target, fields, spans).
    /// `RUST_LOG` sets the filter.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: macrokid_threads::LogFormat,
    /// Write the scheduler's metrics in the Prometheus text format to this
    /// path at exit.
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The log filter applies to the log output only, so that `--trace`
    // records every span whatever RUST_LOG says.
    let telemetry = match macrokid_threads::Telemetry::new("warn")
        .log_format(args.log_format)
        .chrome_trace(args.trace.as_ref())
        .init()
    {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("showcase: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = run(&args);
    if let Err(e) = telemetry.finish() {
        eprintln!("showcase: error: cannot finish the trace file: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("showcase: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The view-projection matrix looking at a box of `half_extent` from the
/// front and a little above; Vulkan clip space (y down, depth 0..1).
fn camera(half_extent: Vec3, aspect: f32) -> Mat4 {
    let distance = half_extent.length() * 1.45;
    let eye = Vec3::new(0.0, half_extent.y * 0.8, distance);
    let view = Mat4::look_at_rh(eye, Vec3::ZERO, Vec3::Y);
    let mut proj = Mat4::perspective_rh(45f32.to_radians(), aspect, 0.1, distance * 3.0);
    proj.y_axis.y *= -1.0; // Vulkan's y points down.
    proj * view
}

fn run(args: &Args) -> Result<(), String> {
    if args.entities == 0 || args.frames == 0 || args.width == 0 || args.height == 0 {
        return Err("--entities, --frames, --width and --height must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    let shutdown = Shutdown::install()?;
    // Load the model first: a bad file is the most likely user error, so report
    // it before any Vulkan work.
    let source = model::Source::load(args.model.as_deref())?;
    let mesh_name = match &args.model {
        Some(path) => path.display().to_string(),
        None => "built-in cube".to_string(),
    };
    fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create output folder {}: {e}", args.out.display()))?;

    // The world: entities spread through a box sized so that their density
    // stays about the same whatever their number.
    let side = (args.entities as f32).cbrt() * 1.1;
    let bounds = Bounds {
        half_extent: Vec3::new(side * 0.9, side * 0.55, side * 0.5),
    };
    let mut world = World::new();
    let setup = Instant::now();
    sim::populate(&mut world, args.entities, bounds, args.seed);
    let populate_time = setup.elapsed();

    let pool = Arc::new(
        ThreadPool::builder()
            .num_threads(args.threads)
            .thread_name_prefix("showcase-worker")
            .build()
            .map_err(|e| e.to_string())?,
    );
    let metrics = args
        .metrics
        .as_ref()
        .map(|_| Arc::new(macrokid_threads::PrometheusMetrics::new()));
    let mut scheduler = Scheduler::new(Arc::clone(&pool));
    if let Some(metrics) = &metrics {
        scheduler = scheduler.with_observer(Arc::clone(metrics) as _);
    }
    let mut tick = Tick::new();

    let config = RendererConfig {
        width: args.width,
        height: args.height,
        validation: !args.no_validation,
        // Two passes: lit geometry into an HDR target, then tone mapping + vignette.
        post_process: Some(PostProcess::default()),
        ..RendererConfig::default()
    };
    let mut output = if args.window {
        Output::Window(Box::new(window::Shown::open(config, "macrokid showcase")?))
    } else {
        Output::Files(Box::new(Renderer::new(config).map_err(|e| e.to_string())?))
    };
    let gpu_model = model::GpuModel::upload(output.renderer(), source)?;
    let view_proj = camera(bounds.half_extent, args.width as f32 / args.height as f32);
    let light_dir = Vec3::new(-0.4, -1.0, -0.6).normalize();

    println!(
        "showcase: {} entities, {} frames at {}x{}, mesh: {} ({} triangles, {} textures), {} threads, adapter: {}",
        args.entities,
        args.frames,
        args.width,
        args.height,
        mesh_name,
        gpu_model.triangles,
        gpu_model.textures,
        args.threads,
        output.renderer().adapter_name(),
    );
    println!("populate: {:.2} ms", populate_time.as_secs_f64() * 1e3);

    let mut table = Table::default();
    let loop_start = Instant::now();
    let mut png_time = Duration::ZERO;
    let mut frames_done = 0;
    for frame_index in 0..args.frames {
        if shutdown.requested() {
            break;
        }
        let mut times = StageTimes::default();
        {
            let time = world.resource_mut::<Time>().map_err(|e| e.to_string())?;
            time.dt = args.dt;
            time.elapsed += args.dt;
        }

        // Update and Extract: the two stages of the derived schedule.
        for (stage_index, stage) in <Tick as macrokid_threads::Schedule>::plan()
            .stages()
            .iter()
            .enumerate()
        {
            let started = Instant::now();
            world
                .run_stage(&mut tick, &scheduler, stage_index)
                .map_err(|e| e.to_string())?;
            let spent = started.elapsed();
            match stage.name() {
                "extract" => times.extract += spent,
                _ => times.update += spent,
            }
        }
        let instances = &world.resource::<Instances>().map_err(|e| e.to_string())?.0;

        // Prepare: upload this frame's instances and camera.
        let started = Instant::now();
        let (mut frame, view_proj) = match &mut output {
            Output::Files(renderer) => (
                renderer.begin_frame().map_err(|e| e.to_string())?,
                view_proj,
            ),
            Output::Window(shown) => {
                if !shown.pump()? {
                    break; // the window was closed
                }
                let aspect = shown.extent().map(|(w, h)| w as f32 / h as f32);
                match shown.begin_frame()? {
                    Some(frame) => (frame, camera(bounds.half_extent, aspect.unwrap_or(1.0))),
                    // Minimised: the world moves on, nothing is drawn.
                    None => continue,
                }
            }
        };
        frame.set_camera(view_proj, light_dir);
        frame
            .upload_instances(instances)
            .map_err(|e| e.to_string())?;
        times.prepare = started.elapsed();

        // Record: secondary command buffers on the worker threads.
        let started = Instant::now();
        pool.install(|| gpu_model.draw(&mut frame, args.threads))?;
        times.record = started.elapsed();

        if args.window {
            // Submit and present; no read-back, no PNG.
            let started = Instant::now();
            frame.present().map_err(|e| e.to_string())?;
            times.submit = started.elapsed();
            if let Output::Window(shown) = &mut output {
                shown.presented();
                // The latest completed window frame's GPU pass times (a frame or two behind).
                if let Some(gpu) = shown.gpu_timings() {
                    times.gpu_geometry = gpu.geometry;
                    times.gpu_post = gpu.post;
                }
            }
            table.push(times);
            frames_done += 1;
            continue;
        }
        // Submit (one thread), then wait and read the image back.
        let started = Instant::now();
        let image = frame.finish().map_err(|e| e.to_string())?;
        times.submit = started.elapsed();
        times.gpu_geometry = image.timings.gpu_geometry;
        times.gpu_post = image.timings.gpu_post;

        let started = Instant::now();
        let path = args.out.join(format!("frame_{frame_index:04}.png"));
        save_png_atomically(&image, &path)?;
        if args.dump_points {
            write_points(
                &args.out,
                frame_index,
                instances,
                view_proj,
                args.width,
                args.height,
            )?;
        }
        png_time += started.elapsed();
        table.push(times);
        frames_done += 1;
    }
    let wall = loop_start.elapsed();
    // Wait for the GPU and release every Vulkan object before the summary (windowed: the
    // window first, then the engine; its validation count includes the window's teardown).
    let messages = match output {
        Output::Files(renderer) => {
            let messages = renderer.validation_message_count();
            drop(renderer);
            messages
        }
        Output::Window(shown) => shown.close()?,
    };

    table.print(frames_done, wall, png_time);
    if let Some(signal) = shutdown.signal_name() {
        println!(
            "stopped by {signal} after {frames_done} of {} frames",
            args.frames
        );
    }
    // Equal for equal `--seed`, `--entities`, frames and `--dt`, whatever
    // `--threads` (see `macrokid_ecs::snapshot` for what it covers).
    println!("world hash: {:#018x}", world.hash());
    println!(
        "respawned: {}, selected now: {}, positions changed in the last tick: {}",
        world
            .resource::<sim::Spawner>()
            .map_or(0, |spawner| spawner.respawned),
        world.query_ref::<&sim::Selected>().len(),
        world.resource::<sim::Moved>().map_or(0, |moved| moved.0),
    );
    if args.window {
        println!("presented {frames_done} frames; validation messages: {messages}");
    } else {
        println!(
            "wrote {frames_done} frames to {}; validation messages: {messages}",
            args.out.display()
        );
    }
    if let (Some(metrics), Some(path)) = (&metrics, &args.metrics) {
        fs::write(path, metrics.encode())
            .map_err(|e| format!("cannot write metrics to {}: {e}", path.display()))?;
        println!("wrote Prometheus metrics to {}", path.display());
    }
    if messages > 0 {
        return Err(format!(
            "the Vulkan validation layer reported {messages} message(s); see the log above"
        ));
    }
    Ok(())
}

/// Where the frames go: PNG files (headless) or a window.
enum Output {
    Files(Box<Renderer<macrokid_graphics::vulkan::Vulkan>>),
    Window(Box<window::Shown>),
}

impl Output {
    fn renderer(&self) -> &Renderer<macrokid_graphics::vulkan::Vulkan> {
        match self {
            Output::Files(renderer) => renderer,
            Output::Window(shown) => shown.renderer(),
        }
    }
}

/// Writes `image` to `path` through a temporary file in the same folder and a rename, so
/// `path` either does not exist or holds a whole PNG, even if the process dies mid-write.
fn save_png_atomically(
    image: &macrokid_graphics::FrameImage,
    path: &std::path::Path,
) -> Result<(), String> {
    let partial = path.with_extension("png.partial");
    image.save_png(&partial).map_err(|e| e.to_string())?;
    fs::rename(&partial, path).map_err(|e| {
        format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    })
}

/// Writes the pixel coordinates of every instance centre inside the image:
/// one `x y` line per instance, `x` right and `y` down from the top-left
/// corner, in pixels.
fn write_points(
    out: &std::path::Path,
    frame_index: usize,
    instances: &[macrokid_graphics::InstanceData],
    view_proj: Mat4,
    width: u32,
    height: u32,
) -> Result<(), String> {
    use std::fmt::Write as _;
    let mut text = String::new();
    for instance in instances {
        let centre = instance.translation();
        let clip = view_proj * centre.extend(1.0);
        if clip.w <= 0.0 {
            continue;
        }
        let ndc = clip.truncate() / clip.w;
        if !(0.0..=1.0).contains(&ndc.z) || ndc.x.abs() >= 1.0 || ndc.y.abs() >= 1.0 {
            continue;
        }
        let x = (ndc.x * 0.5 + 0.5) * width as f32;
        let y = (ndc.y * 0.5 + 0.5) * height as f32;
        let _ = writeln!(text, "{x:.1} {y:.1}");
    }
    let path = out.join(format!("frame_{frame_index:04}.points"));
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
