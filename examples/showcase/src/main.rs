//! # The macrokid showcase
//!
//! An ECS world of `--entities` moving, bouncing, spinning objects, driven by a
//! derive-scheduled set of systems and drawn headless by the Vulkan backend as
//! instanced meshes (a built-in cube, or any glTF 2.0 model with `--model`).
//! Every frame is written to `OUT/frame_NNNN.png`; at the end a table of
//! per-stage times is printed.
//!
//! The frame loop is `macrokid_graphics`' [`FrameRunner`]: Update (the ECS stages before
//! `extract`) → Extract (the ECS `extract` stage, then an owned snapshot of the instances) →
//! Prepare → Record → Submit → Present (read back and write the previous frame's PNG) run as
//! a planned schedule, so frame N renders on the GPU while frame N + 1 is simulated. The
//! table's stage and system times are the frame scheduler's observer's; its "no overlap" line
//! estimates what a frame would take if nothing overlapped, and `--no-overlap` runs that
//! baseline for real (each frame read back in its own Present stage). On a terminal a progress bar shows on
//! stderr (`--no-progress` hides it).
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

mod app;
mod model;
mod report;
mod shutdown;
mod sim;
mod window;

use std::fs;
use std::io::IsTerminal as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use glam::Vec3;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use macrokid_ecs::World;
use macrokid_graphics::app::FrameRunner;
use macrokid_graphics::{PostProcess, Renderer, RendererConfig};
use macrokid_threads::{Scheduler, ThreadPool};

use crate::app::{Showcase, Sink};
use crate::report::Table;
use crate::shutdown::Shutdown;
use crate::sim::Bounds;

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
    /// Read each frame back in its own Present stage instead of one frame later, so nothing
    /// overlaps: the baseline the timing table's overlap is judged against.
    #[arg(long)]
    no_overlap: bool,
    /// Hide the progress bar (it is drawn on stderr only when stderr is a terminal).
    #[arg(long)]
    no_progress: bool,
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
    let (triangles, textures) = (gpu_model.triangles, gpu_model.textures);
    println!(
        "showcase: {} entities, {} frames at {}x{}, mesh: {} ({} triangles, {} textures), {} threads, adapter: {}",
        args.entities,
        args.frames,
        args.width,
        args.height,
        mesh_name,
        triangles,
        textures,
        args.threads,
        output.renderer().adapter_name(),
    );
    println!("populate: {:.2} ms", populate_time.as_secs_f64() * 1e3);

    let sink = if args.window {
        Sink::Window
    } else {
        Sink::Files {
            out: args.out.clone(),
            points: args.dump_points,
        }
    };
    let mut app = Showcase::new(
        world,
        scheduler,
        Arc::clone(&pool),
        args.threads,
        gpu_model,
        args.dt,
        bounds,
        sink,
    );
    let aspect = app.aspect();
    aspect.store(
        (args.width as f32 / args.height as f32).to_bits(),
        Ordering::Relaxed,
    );

    // The frame loop is the runner's: Update → Extract → Prepare → Record → Submit → Present
    // as a planned schedule, frame N on the GPU while frame N + 1 is simulated.
    let mut runner = FrameRunner::new().overlap(!args.no_overlap);
    let mut table = Table::default();
    let frames = args.frames as u64;
    let loop_start = Instant::now();
    let summary = match &mut output {
        Output::Files(renderer) => {
            let progress = progress_bar(frames, args.no_progress);
            let summary = runner.run(&mut **renderer, &mut app, frames, |_, report| {
                if let Some(report) = report {
                    table.push(report);
                    if report.frame.is_some() {
                        progress.inc(1);
                    }
                }
                Ok(flow(!shutdown.requested()))
            });
            progress.finish_and_clear();
            summary
        }
        Output::Window(shown) => {
            let (state, mut events) = shown.parts();
            runner.run(state, &mut app, frames, |state, report| {
                if let Some(report) = report {
                    table.push(report);
                    table.window_gpu(state.gpu_timings());
                    if report.delivered.is_some() {
                        state.presented();
                    }
                }
                let open = events.pump(state)?;
                if let Some((w, h)) = state.extent() {
                    aspect.store((w as f32 / h as f32).to_bits(), Ordering::Relaxed);
                }
                Ok(flow(open && !shutdown.requested()))
            })
        }
    };
    let summary = summary.map_err(|e| e.to_string())?;
    let wall = loop_start.elapsed();
    let frames_done = summary.frames;
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

    table.print(frames_done, wall);
    if let Some(signal) = shutdown.signal_name() {
        println!(
            "stopped by {signal} after {frames_done} of {} frames",
            args.frames
        );
    }
    let world = &app.world;
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

/// Go on while `go`.
fn flow(go: bool) -> ControlFlow<()> {
    if go {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}

/// A progress bar of `frames` frames on stderr, drawn only when stderr is a terminal and
/// `hidden` is false (so piped output and tests see nothing of it).
fn progress_bar(frames: u64, hidden: bool) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(frames), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames, {elapsed} elapsed, eta {eta}")
    {
        bar.set_style(style);
    }
    bar
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
