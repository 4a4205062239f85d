//! Presented frames per second of a macrokid [`Window`](macrokid_graphics::window::Window)
//! against a raw-ash swapchain loop (`benches/raw_ash/present.rs`: ash, ash-window and vk-mem
//! only, the same committed SPIR-V), both drawing the same scene into their own X11 window.
//!
//! Scene (`benches/scene/`, shared with `renderer_vs_raw_ash`): 10,000 textured instanced
//! cubes, the same instance data on both sides, one instanced draw recorded on one thread, at
//! 1280×720, 2 frames in flight. The renderer is configured like the baseline: push
//! descriptors, no post pass, no pipeline-cache file. Both sides render into an
//! `R8G8B8A8_UNORM` colour target with a `D32_SFLOAT` depth target and blit it into the
//! acquired swapchain image (the renderer's window frame graph ends with this `present` pass;
//! the baseline does the same blit), then present. The renderer's GPU timestamps are off
//! (`RendererConfig::gpu_timestamps(false)`), as the baseline writes none: on lavapipe every
//! timestamp flushes the rasterizer's binned scene, and with them on (the default) this bench
//! measured the renderer's process at about 1.2× the baseline's CPU time per frame, the
//! difference being the kernel's page faults for scene memory freed and allocated again at
//! each flush (`perf record`); without them the two are within noise of each other.
//!
//! Present mode: IMMEDIATE on both sides (FIFO where the surface lacks it; the bench prints
//! what each side got). Under FIFO both loops would be paced by the X server's (virtual)
//! vertical blank, so the ratio would measure the display's pacing, not the code; IMMEDIATE
//! lets each side present as fast as it renders.
//!
//! The X server: `DISPLAY` when set, else a private `Xvfb` (`tests/common/x11.rs`, shared with
//! the window tests) with a screen wide enough for both windows side by side, so neither hides
//! the other (an obscured window would be cheaper to present).
//!
//! Runs:
//! - `cargo bench -p macrokid_graphics --bench window_vs_raw_ash`: first the check below, then
//!   the measurement with validation **off** on both sides: 10 warm-up frames per side (not
//!   counted), then blocks of `FRAMES` frames in the order macrokid, raw ash, macrokid, raw ash
//!   (two rounds, so drift in the machine's load hits both sides). A block's rate is its
//!   frames over the wall time from an idle device to the device idle again after its last
//!   present. Printed: each side's frames per second per round and overall, and macrokid's
//!   rate as a percentage of raw ash's (target ≥ 95%), all from this one run. Also printed,
//!   as a diagnostic that load from other processes inflates far less than wall time: the
//!   process's CPU time (user + system, `getrusage`, all threads: lavapipe's rasterizer
//!   threads and the X11 present copies on the client side included; the X server's own work
//!   is not) per frame on each side, and their ratio.
//! - Without `--bench` (as `cargo test --benches` runs it) or with `--check`: only the check:
//!   both sides with the validation layer and synchronization validation **on** present 4
//!   frames; any validation message fails, and the two windows' contents as the X server holds
//!   them (read with `xwd`) must be identical (tolerance: exact, both are the same RGBA8
//!   render blitted into an 8-bit UNORM swapchain image). Exit status 1 on failure.
//!
//! With `MACROKID_SKIP_WINDOW_TESTS` set and no display (no `DISPLAY`, no Xvfb) it says so and
//! exits 0.

#![expect(
    unsafe_code,
    reason = "the raw-ash window's surface is made from raw window handles, and CPU time comes \
              from getrusage (unsafe contracts)"
)]

#[path = "../tests/common/x11.rs"]
mod x11;

mod raw_ash;
mod scene;

use std::time::{Duration, Instant};

use ash::vk;
use macrokid_graphics::hal::Device as _;
use macrokid_graphics::window::{event_loop, Engine, PresentMode, WindowDesc};
use macrokid_graphics::{MaterialHandle, MeshHandle};
use raw_ash::present::RawWindow;
use raw_ash::RawAsh;
use raw_window_handle::{HasDisplayHandle as _, HasWindowHandle as _};
use scene::{Scene, HEIGHT, INSTANCES, WIDTH};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::EventLoopExtPumpEvents as _;
use winit::window::WindowId;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Frames per measured block.
const FRAMES: usize = 60;
/// Frames per side before the measurement, not counted.
const WARM_UP: usize = 10;
/// Frames per side in the check.
const CHECK_FRAMES: usize = 4;
/// Horizontal gap between the two windows, in pixels.
const GAP: u32 = 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--check");
    // Before any thread exists: a private X server when `DISPLAY` is unset.
    let server = match x11::ensure_display(2 * WIDTH + GAP + 20, HEIGHT + 40) {
        Ok(server) => server,
        Err(e) if std::env::var_os("MACROKID_SKIP_WINDOW_TESTS").is_some() => {
            println!("window bench skipped (MACROKID_SKIP_WINDOW_TESTS): {e}");
            return;
        }
        Err(e) => {
            eprintln!("window_vs_raw_ash: {e}");
            std::process::exit(1);
        }
    };
    if let Some(server) = &server {
        // Edition 2021, and no other thread runs yet.
        std::env::set_var("DISPLAY", &server.display);
    }
    let result = run(bench);
    drop(server);
    if let Err(e) = result {
        eprintln!("window_vs_raw_ash: {e}");
        std::process::exit(1);
    }
}

/// Runs `f` inside a winit callback, where an [`ActiveEventLoop`] exists.
struct Once<F, R> {
    run: Option<F>,
    out: Option<R>,
}

impl<F: FnOnce(&ActiveEventLoop) -> R, R> ApplicationHandler for Once<F, R> {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(f) = self.run.take() {
            self.out = Some(f(event_loop));
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, _: WindowEvent) {}

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.resumed(event_loop);
    }
}

/// Runs `f` inside a winit callback.
fn with<R>(
    event_loop: &mut EventLoop<()>,
    f: impl FnOnce(&ActiveEventLoop) -> R,
) -> Result<R, BoxError> {
    let mut handler = Once {
        run: Some(f),
        out: None,
    };
    for _ in 0..1000 {
        let _ = event_loop.pump_app_events(Some(Duration::from_millis(1)), &mut handler);
        if let Some(out) = handler.out.take() {
            return Ok(out);
        }
    }
    Err("winit never called the event handler".into())
}

/// Handles pending window events (the same call on both sides, once per frame).
fn pump(event_loop: &mut EventLoop<()>) {
    let mut handler = Once::<fn(&ActiveEventLoop), ()> {
        run: None,
        out: None,
    };
    let _ = event_loop.pump_app_events(Some(Duration::ZERO), &mut handler);
}

/// Both sides, each with its window.
struct Sides {
    // Drop order: the raw window (surface, swapchain) before its device and its winit window.
    raw_window: RawWindow,
    raw: RawAsh,
    raw_winit: winit::window::Window,
    engine: Engine,
    window: WindowId,
    mesh: MeshHandle,
    material: MaterialHandle,
    instance_bytes: Vec<u8>,
    pool: rayon::ThreadPool,
}

impl Sides {
    /// Creates both sides (validation on or off) and their windows side by side, in `mode`.
    fn new(
        event_loop: &mut EventLoop<()>,
        scene: &Scene,
        validation: bool,
        mode: PresentMode,
    ) -> Result<Sides, BoxError> {
        // No GPU timestamps: the baseline writes none, and on lavapipe each one flushes the
        // binned scene (see the module documentation).
        let mut engine = Engine::new(scene.renderer_config(validation).gpu_timestamps(false))?;
        let (mesh, material) = scene.upload(engine.renderer())?;
        let vertex_bytes = scene.vertex_bytes();
        let display = event_loop.display_handle()?.as_raw();
        let raw = RawAsh::with_display(
            WIDTH,
            HEIGHT,
            validation,
            &scene.desc(&vertex_bytes),
            display,
        )?;
        let desc = WindowDesc::new("macrokid", WIDTH, HEIGHT).present_mode(mode);
        let window = with(event_loop, |el| engine.create_window(el, &desc))??;
        let raw_winit = with(event_loop, |el| {
            el.create_window(
                winit::window::Window::default_attributes()
                    .with_title("raw ash")
                    .with_inner_size(PhysicalSize::new(WIDTH, HEIGHT))
                    .with_position(PhysicalPosition::new(WIDTH + GAP, 0)),
            )
        })??;
        if let Some(w) = engine.window(window) {
            w.winit().set_outer_position(PhysicalPosition::new(0, 0));
        }
        let raw_mode = match mode {
            PresentMode::Immediate => vk::PresentModeKHR::IMMEDIATE,
            PresentMode::Mailbox => vk::PresentModeKHR::MAILBOX,
            _ => vk::PresentModeKHR::FIFO,
        };
        // SAFETY: the handles come from the live winit window, which `Sides` drops after the
        // raw window.
        let raw_window = unsafe {
            RawWindow::new(
                &raw,
                raw_winit.display_handle()?.as_raw(),
                raw_winit.window_handle()?.as_raw(),
                vk::Extent2D {
                    width: WIDTH,
                    height: HEIGHT,
                },
                raw_mode,
            )
        }?;
        let extent = engine.window(window).and_then(|w| w.extent());
        let raw_extent = raw_window.extent();
        if extent != Some((WIDTH, HEIGHT))
            || (raw_extent.width, raw_extent.height) != (WIDTH, HEIGHT)
        {
            return Err(format!(
                "window sizes: macrokid {extent:?}, raw ash {raw_extent:?}; {WIDTH}x{HEIGHT} \
                 expected (the X screen must hold both windows)"
            )
            .into());
        }
        Ok(Sides {
            raw_window,
            raw,
            raw_winit,
            engine,
            window,
            mesh,
            material,
            instance_bytes: scene.instance_bytes(),
            pool: rayon::ThreadPoolBuilder::new().num_threads(1).build()?,
        })
    }

    /// One macrokid frame: begin (acquire), camera, instances, one instanced draw on one
    /// thread, present.
    fn macrokid_frame(&mut self, scene: &Scene) -> Result<(), BoxError> {
        let (mesh, material) = (self.mesh, self.material);
        let mut frame = self
            .engine
            .begin_frame(self.window)?
            .ok_or("the macrokid window skipped a frame (minimised?)")?;
        frame.set_view(scene.camera);
        frame.upload_instances(&scene.instances)?;
        frame.draw_material_range_with_threads(mesh, material, 0..INSTANCES, 1)?;
        frame.present()?;
        Ok(())
    }

    /// One raw-ash frame with the same instance data.
    fn raw_frame(&mut self) -> Result<(), BoxError> {
        self.raw_window
            .frame(&mut self.raw, &self.instance_bytes, &self.pool)?;
        Ok(())
    }

    /// Renders `frames` frames on side `side` (0: macrokid, 1: raw ash), pumping window events
    /// before each, from an idle device to an idle device; returns the wall time and the
    /// process's CPU time.
    fn block(
        &mut self,
        event_loop: &mut EventLoop<()>,
        scene: &Scene,
        side: usize,
        frames: usize,
    ) -> Result<(Duration, Duration), BoxError> {
        self.wait_idle()?;
        let cpu = process_cpu_time()?;
        let start = Instant::now();
        for _ in 0..frames {
            pump(event_loop);
            if side == 0 {
                self.macrokid_frame(scene)?;
            } else {
                self.raw_frame()?;
            }
        }
        self.wait_idle()?;
        let wall = start.elapsed();
        Ok((wall, process_cpu_time()?.saturating_sub(cpu)))
    }

    fn wait_idle(&self) -> Result<(), BoxError> {
        self.engine.renderer().device().wait_idle()?;
        self.raw.wait_idle()?;
        Ok(())
    }

    /// The present modes in use: `(macrokid, raw ash)`.
    fn modes(&self) -> (Option<PresentMode>, vk::PresentModeKHR) {
        (
            self.engine
                .window(self.window)
                .and_then(|w| w.present_mode()),
            self.raw_window.present_mode(),
        )
    }

    /// Destroys the windows, then the engine.
    fn close(self) -> Result<u64, BoxError> {
        let Sides {
            raw_window,
            raw,
            raw_winit,
            mut engine,
            window,
            ..
        } = self;
        drop(raw_window);
        drop(raw);
        drop(raw_winit);
        engine.destroy_window(window)?;
        let messages = engine.renderer().validation_counts().total();
        engine.shutdown().map_err(|e| e.to_string())?;
        Ok(messages)
    }
}

fn run(bench: bool) -> Result<(), BoxError> {
    let scene = Scene::new();
    let mut event_loop = event_loop()?;
    check(&mut event_loop, &scene)?;
    if bench {
        measure(&mut event_loop, &scene)?;
    }
    Ok(())
}

/// Validation and synchronization validation on: no message on either side, and identical
/// window contents.
fn check(event_loop: &mut EventLoop<()>, scene: &Scene) -> Result<(), BoxError> {
    let start = Instant::now();
    let mut sides = Sides::new(event_loop, scene, true, PresentMode::Immediate)?;
    for _ in 0..CHECK_FRAMES {
        pump(event_loop);
        sides.macrokid_frame(scene)?;
        sides.raw_frame()?;
    }
    sides.wait_idle()?;
    pump(event_loop);
    let window = sides
        .engine
        .window(sides.window)
        .ok_or("the macrokid window is gone")?;
    let (w, h, shown) = x11::window_image(window.winit())?;
    let (rw, rh, raw_shown) = x11::window_image(&sides.raw_winit)?;
    let adapter = sides.engine.renderer().adapter_name().to_owned();
    let presented = (window.frames_presented(), sides.raw_window.presented());
    let modes = sides.modes();
    let messages = sides.close()?;
    let raw_messages = raw_ash::validation_messages();
    let mut failures = Vec::new();
    if (w, h) != (rw, rh) || (w, h) != (WIDTH, HEIGHT) {
        failures.push(format!(
            "window sizes {w}x{h} (macrokid) and {rw}x{rh} (raw ash), {WIDTH}x{HEIGHT} expected"
        ));
    }
    let differing = shown.iter().zip(&raw_shown).filter(|(a, b)| a != b).count();
    if differing > 0 {
        failures.push(format!(
            "{differing} of {} pixels differ between the windows",
            shown.len()
        ));
    }
    let clear = scene
        .clear_color
        .map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
    let covered = shown.iter().filter(|p| p[..] != clear[..3]).count();
    if covered < (WIDTH * HEIGHT / 10) as usize {
        failures.push(format!(
            "only {covered} pixels differ from the clear colour: the scene is not on screen"
        ));
    }
    if messages != 0 {
        failures.push(format!("macrokid: {messages} validation messages"));
    }
    if raw_messages != 0 {
        failures.push(format!("raw ash: {raw_messages} validation messages"));
    }
    if presented != (CHECK_FRAMES as u64, CHECK_FRAMES as u64) {
        failures.push(format!(
            "presented {presented:?} frames, {CHECK_FRAMES} each expected"
        ));
    }
    println!(
        "check (validation + synchronization validation on, {WIDTH}x{HEIGHT} windows, adapter \
         {adapter:?}, present modes macrokid {:?} / raw ash {:?}): macrokid {messages} \
         messages, raw ash {raw_messages} messages; window contents compared exactly: {}; \
         {covered} pixels drawn; {:.1} s",
        modes.0,
        modes.1,
        if differing == 0 {
            "identical"
        } else {
            "DIFFERENT"
        },
        start.elapsed().as_secs_f64(),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("check failed:\n  {}", failures.join("\n  ")).into())
    }
}

/// Validation off; warm-up, then blocks in the order macrokid, raw ash, macrokid, raw ash.
fn measure(event_loop: &mut EventLoop<()>, scene: &Scene) -> Result<(), BoxError> {
    let start = Instant::now();
    let mut sides = Sides::new(event_loop, scene, false, PresentMode::Immediate)?;
    let (mode, raw_mode) = sides.modes();
    println!(
        "measure: validation off on both sides; adapter {:?}; {INSTANCES} textured instanced \
         cubes at {WIDTH}x{HEIGHT} in one window per side, 2 frames in flight; present mode \
         requested IMMEDIATE, in use: macrokid {mode:?}, raw ash {raw_mode:?}; {WARM_UP} \
         warm-up frames per side, then blocks of {FRAMES} frames: macrokid, raw ash, macrokid, \
         raw ash",
        sides.engine.renderer().adapter_name()
    );
    sides.block(event_loop, scene, 0, WARM_UP)?;
    sides.block(event_loop, scene, 1, WARM_UP)?;
    let mut totals = [Duration::ZERO; 2];
    let mut cpu_totals = [Duration::ZERO; 2];
    let fps = |d: Duration| FRAMES as f64 / d.as_secs_f64();
    let per_frame = |d: Duration| d.as_secs_f64() * 1e3 / FRAMES as f64;
    for round in 1..=2 {
        let (macrokid, macrokid_cpu) = sides.block(event_loop, scene, 0, FRAMES)?;
        let (raw, raw_cpu) = sides.block(event_loop, scene, 1, FRAMES)?;
        totals[0] += macrokid;
        totals[1] += raw;
        cpu_totals[0] += macrokid_cpu;
        cpu_totals[1] += raw_cpu;
        println!(
            "  round {round}: macrokid {:6.2} fps ({FRAMES} frames in {:.3} s), raw ash {:6.2} fps \
             ({FRAMES} frames in {:.3} s): macrokid = {:.1}% of raw ash; CPU per frame macrokid \
             {:.2} ms, raw ash {:.2} ms ({:.3}x)",
            fps(macrokid),
            macrokid.as_secs_f64(),
            fps(raw),
            raw.as_secs_f64(),
            100.0 * raw.as_secs_f64() / macrokid.as_secs_f64(),
            per_frame(macrokid_cpu),
            per_frame(raw_cpu),
            macrokid_cpu.as_secs_f64() / raw_cpu.as_secs_f64(),
        );
    }
    let presented = sides
        .engine
        .window(sides.window)
        .map_or(0, |w| w.frames_presented());
    let raw_presented = sides.raw_window.presented();
    let expected = (WARM_UP + 2 * FRAMES) as u64;
    sides.close()?;
    if presented != expected || raw_presented != expected {
        return Err(format!(
            "presented {presented} (macrokid) and {raw_presented} (raw ash) frames, {expected} \
             expected"
        )
        .into());
    }
    let overall = |d: Duration| (2 * FRAMES) as f64 / d.as_secs_f64();
    println!(
        "  both rounds: macrokid {:.2} fps, raw ash {:.2} fps: macrokid presents at {:.1}% of raw \
         ash's rate (target >= 95%)",
        overall(totals[0]),
        overall(totals[1]),
        100.0 * totals[1].as_secs_f64() / totals[0].as_secs_f64(),
    );
    println!(
        "  CPU time per frame (diagnostic): macrokid {:.2} ms, raw ash {:.2} ms: macrokid = \
         {:.3}x raw ash",
        cpu_totals[0].as_secs_f64() * 1e3 / (2 * FRAMES) as f64,
        cpu_totals[1].as_secs_f64() * 1e3 / (2 * FRAMES) as f64,
        cpu_totals[0].as_secs_f64() / cpu_totals[1].as_secs_f64(),
    );
    println!("measure: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// CPU time (user + system) of this process, all threads, from `getrusage(RUSAGE_SELF)`.
///
/// # Errors
/// When `getrusage` fails (it does not for `RUSAGE_SELF` with a valid pointer).
fn process_cpu_time() -> Result<Duration, BoxError> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `usage` points to writable memory for one `rusage`, which the call fills on
    // success (checked before reading it).
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return Err(format!("getrusage: {}", std::io::Error::last_os_error()).into());
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(time(usage.ru_utime) + time(usage.ru_stime))
}
