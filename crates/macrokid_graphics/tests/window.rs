//! Window tests on X11 with lavapipe and validation (synchronization validation included; any
//! validation message fails a test).
//!
//! winit allows one event loop per process, so this is a `harness = false` target: the parent
//! process starts `Xvfb` (`common/x11.rs`, shared with the window bench) when `DISPLAY` is
//! unset, then runs every
//! scenario in a child process of this same binary (`--scenario NAME`), each with its own
//! engine and event loop, and prints libtest-like lines. Scenarios drive winit with
//! `pump_app_events`, so each reads as straight-line code.
//!
//! Run: `cargo test -p macrokid_graphics --test window [-- NAME-SUBSTRING]`. Without Xvfb and
//! without `DISPLAY` the target fails with the install command, unless
//! `MACROKID_SKIP_WINDOW_TESTS=1` (then it says it skipped).

#[path = "common/x11.rs"]
mod x11;

use std::collections::HashMap;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use glam::{Mat4, Vec3};
use macrokid_graphics::hal::Device as _;
use macrokid_graphics::window::{event_loop, Engine, PresentMode, WindowDesc, WindowError};
use macrokid_graphics::{Camera, InstanceData, Mesh, MeshHandle, RendererConfig};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::EventLoopExtPumpEvents as _;
use winit::window::WindowId;

type TestResult = Result<(), String>;

/// A named scenario.
type Scenario = (&'static str, fn() -> TestResult);

const SCENARIOS: &[Scenario] = &[
    ("resize_50_times", resize_50_times),
    ("two_windows_then_close_one", two_windows_then_close_one),
    ("minimise_to_zero_and_restore", minimise_to_zero_and_restore),
    (
        "shutdown_with_live_window_is_refused",
        shutdown_with_live_window_is_refused,
    ),
    (
        "no_display_is_an_error_naming_display",
        no_display_is_an_error_naming_display,
    ),
    ("present_modes", present_modes),
    ("dropped_frame_recovers", dropped_frame_recovers),
    ("window_matches_headless", window_matches_headless),
    (
        "window_frames_report_gpu_times",
        window_frames_report_gpu_times,
    ),
    (
        "two_windows_own_their_frame_slots_through_50_resizes",
        two_windows_own_their_frame_slots_through_50_resizes,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        let name = args.get(i + 1).map(String::as_str).unwrap_or_default();
        let Some((_, run)) = SCENARIOS.iter().find(|(n, _)| *n == name) else {
            eprintln!("unknown scenario {name:?}");
            return ExitCode::FAILURE;
        };
        init_tracing();
        return match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scenario {name} failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in SCENARIOS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let selected: Vec<_> = SCENARIOS
        .iter()
        .filter(|(n, _)| filter.as_deref().is_none_or(|f| n.contains(f)))
        .collect();
    let server = match x11::ensure_display(1280, 1024) {
        Ok(server) => server,
        Err(e) if std::env::var_os("MACROKID_SKIP_WINDOW_TESTS").is_some() => {
            println!("window tests skipped (MACROKID_SKIP_WINDOW_TESTS): {e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("window tests cannot run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let display = server
        .as_ref()
        .map(|s| s.display.clone())
        .or_else(|| std::env::var("DISPLAY").ok())
        .unwrap_or_default();
    println!(
        "\nrunning {} window tests on DISPLAY={display}",
        selected.len()
    );
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failed = Vec::new();
    for (name, _) in &selected {
        let start = Instant::now();
        let output = Command::new(&exe)
            .args(["--scenario", name])
            .env("DISPLAY", &display)
            .output()
            .expect("running a scenario in a child process");
        let ok = output.status.success();
        println!(
            "test {name} ... {} ({:.1} s)",
            if ok { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        if !ok {
            failed.push(*name);
            println!(
                "---- {name} stdout ----\n{}\n---- {name} stderr ----\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    drop(server);
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

// --- driving winit -----------------------------------------------------------------------

/// An engine with validation, its event loop, the sizes winit reported, and a cube.
struct Ctx {
    event_loop: EventLoop<()>,
    engine: Engine,
    sizes: HashMap<WindowId, PhysicalSize<u32>>,
    cube: MeshHandle,
    frame: u64,
    /// The renderer's number of the last frame [`Ctx::render`] presented.
    last_number: Option<u64>,
}

/// Runs one closure inside a winit callback (where an `ActiveEventLoop` exists) and records
/// `Resized` events.
struct Handler<'a, F, R> {
    run: Option<F>,
    out: Option<R>,
    engine: &'a mut Engine,
    sizes: &'a mut HashMap<WindowId, PhysicalSize<u32>>,
}

impl<F: FnOnce(&ActiveEventLoop, &mut Engine) -> R, R> Handler<'_, F, R> {
    fn go(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(f) = self.run.take() {
            self.out = Some(f(event_loop, self.engine));
        }
    }
}

impl<F: FnOnce(&ActiveEventLoop, &mut Engine) -> R, R> ApplicationHandler for Handler<'_, F, R> {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        self.go(event_loop);
    }

    fn window_event(&mut self, _: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        if let WindowEvent::Resized(size) = event {
            // Unknown ids (windows destroyed since) are fine to ignore.
            let _ = self.engine.resized(id, size);
            self.sizes.insert(id, size);
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.go(event_loop);
    }
}

impl Ctx {
    fn new() -> Result<Ctx, String> {
        let event_loop = event_loop().map_err(|e| e.to_string())?;
        let config = RendererConfig::default()
            .size(64, 64)
            .validation(true)
            .clear_color([0.0, 0.0, 0.0, 1.0]);
        let engine = Engine::new(config).map_err(|e| e.to_string())?;
        let cube = engine
            .renderer()
            .upload_mesh(&Mesh::cube())
            .map_err(|e| e.to_string())?;
        Ok(Ctx {
            event_loop,
            engine,
            sizes: HashMap::new(),
            cube,
            frame: 0,
            last_number: None,
        })
    }

    /// Runs `f` inside a winit callback.
    fn with<R>(&mut self, f: impl FnOnce(&ActiveEventLoop, &mut Engine) -> R) -> R {
        let mut handler = Handler {
            run: Some(f),
            out: None,
            engine: &mut self.engine,
            sizes: &mut self.sizes,
        };
        for _ in 0..1000 {
            let _ = self
                .event_loop
                .pump_app_events(Some(Duration::from_millis(1)), &mut handler);
            if let Some(out) = handler.out.take() {
                return out;
            }
        }
        panic!("winit never called the handler");
    }

    /// Handles pending window events.
    fn pump(&mut self) {
        self.with(|_, _| ());
    }

    fn create(&mut self, desc: WindowDesc) -> Result<WindowId, String> {
        self.with(|el, engine| engine.create_window(el, &desc))
            .map_err(|e| e.to_string())
    }

    /// Renders one frame of a rotating cube of `color` into window `id`; `false` when the
    /// window skipped it (minimised).
    fn render(&mut self, id: WindowId, color: [f32; 4]) -> Result<bool, String> {
        self.frame += 1;
        let angle = self.frame as f32 * 0.05;
        let cube = self.cube;
        let Some(mut frame) = self.engine.begin_frame(id).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        frame.set_view(Camera::look_at(
            Vec3::new(2.0, 1.5, 2.5),
            Vec3::ZERO,
            0.9,
            1.0,
            0.1,
            10.0,
        ));
        frame
            .upload_instances(&[InstanceData::new(Mat4::from_rotation_y(angle), color)])
            .map_err(|e| e.to_string())?;
        frame.draw_instanced(cube).map_err(|e| e.to_string())?;
        let number = frame.number();
        frame.present().map_err(|e| e.to_string())?;
        self.last_number = Some(number);
        Ok(true)
    }

    /// Renders `count` headless frames (so both frame slots have their instance buffers).
    fn headless(&mut self, count: usize) -> Result<(), String> {
        for _ in 0..count {
            let cube = self.cube;
            let mut frame = self
                .engine
                .renderer_mut()
                .begin_frame()
                .map_err(|e| e.to_string())?;
            frame
                .upload_instances(&[InstanceData::new(Mat4::IDENTITY, [1.0; 4])])
                .map_err(|e| e.to_string())?;
            frame.draw_instanced(cube).map_err(|e| e.to_string())?;
            frame.finish().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn check_validation(&self) -> TestResult {
        let counts = self.engine.renderer().validation_counts();
        if counts.total() == 0 {
            Ok(())
        } else {
            Err(format!("validation reported {counts:?} (see the log)"))
        }
    }

    fn allocations(&self) -> Result<u64, String> {
        // Retire what finished frames kept alive first.
        self.engine
            .renderer()
            .device()
            .wait_idle()
            .map_err(|e| e.to_string())?;
        self.engine
            .renderer()
            .collect_garbage()
            .map_err(|e| e.to_string())?;
        Ok(self.engine.renderer().allocation_count())
    }
}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

/// The pixel at `(x, y)` of X window `id` as RGB.
fn window_pixel(engine: &Engine, id: WindowId, x: u32, y: u32) -> Result<[u8; 3], String> {
    let (width, height, pixels) = window_image(engine, id)?;
    if x >= width || y >= height {
        return Err(format!("({x}, {y}) is outside the {width}×{height} window"));
    }
    Ok(pixels[(y * width + x) as usize])
}

/// X window `id`'s contents (see [`x11::window_image`]).
fn window_image(engine: &Engine, id: WindowId) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    let window = engine.window(id).ok_or("no such window")?;
    x11::window_image(window.winit())
}

// --- scenarios ---------------------------------------------------------------------------

/// 50 resizes of a rendering window (winit `request_inner_size`): every swapchain matches the
/// size the X server reported, no validation message, allocation count back to its start.
fn resize_50_times() -> TestResult {
    let mut ctx = Ctx::new()?;
    ctx.headless(2)?;
    let start = ctx.allocations()?;
    let id = ctx.create(WindowDesc::new("resize", 160, 120))?;
    for _ in 0..3 {
        ctx.pump();
        ctx.render(id, [1.0, 0.2, 0.2, 1.0])?;
    }
    for i in 0..50u32 {
        let want = PhysicalSize::new(120 + (i * 37) % 200, 90 + (i * 23) % 150);
        let _ = ctx
            .engine
            .window(id)
            .unwrap()
            .winit()
            .request_inner_size(want);
        // Render until the X server reported the new size and a swapchain of it presented.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            ctx.pump();
            ctx.render(id, [1.0, 0.2, 0.2, 1.0])?;
            let extent = ctx.engine.window(id).unwrap().extent();
            if ctx.sizes.get(&id) == Some(&want) && extent == Some((want.width, want.height)) {
                break;
            }
            ensure(Instant::now() < deadline, || {
                format!(
                    "resize {i}: wanted {want:?}, winit reported {:?}, swapchain {extent:?}",
                    ctx.sizes.get(&id)
                )
            })?;
        }
        ctx.check_validation()?;
    }
    let window = ctx.engine.window(id).unwrap();
    let (recreations, presented) = (window.swapchain_recreations(), window.frames_presented());
    ensure(recreations >= 50, || {
        format!("50 resizes recreated the swapchain only {recreations} times")
    })?;
    ensure(presented >= 53, || {
        format!("only {presented} frames presented")
    })?;
    ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    let end = ctx.allocations()?;
    ensure(end == start, || {
        format!("allocations: {start} before the window, {end} after it closed")
    })?;
    ctx.check_validation()?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// Two windows with different clear colours and cube colours render at once; each shows its
/// own scene on the X server; closing one leaves the other rendering.
fn two_windows_then_close_one() -> TestResult {
    let mut ctx = Ctx::new()?;
    // Clear colours exactly representable in 8 bits.
    let (clear_a, clear_b) = ([0.2, 0.0, 0.0, 1.0], [0.0, 0.0, 0.6, 1.0]);
    let a = ctx.create(WindowDesc::new("red", 200, 150).clear_color(clear_a))?;
    let b = ctx.create(WindowDesc::new("blue", 200, 150).clear_color(clear_b))?;
    ctx.engine
        .window(b)
        .unwrap()
        .winit()
        .set_outer_position(PhysicalPosition::new(400, 0));
    ensure(ctx.engine.window_count() == 2, || "two windows".into())?;
    ensure(ctx.engine.window_ids() == vec![a, b], || {
        "window ids in creation order".into()
    })?;
    for _ in 0..20 {
        ctx.pump();
        ensure(ctx.render(a, [1.0, 1.0, 0.0, 1.0])?, || "a skipped".into())?;
        ensure(ctx.render(b, [0.0, 1.0, 1.0, 1.0])?, || "b skipped".into())?;
    }
    ctx.engine
        .renderer()
        .device()
        .wait_idle()
        .map_err(|e| e.to_string())?;
    let corner_a = window_pixel(&ctx.engine, a, 2, 2)?;
    let corner_b = window_pixel(&ctx.engine, b, 2, 2)?;
    ensure(corner_a == [51, 0, 0], || {
        format!("window a's corner is {corner_a:?}, its clear colour is [51, 0, 0]")
    })?;
    ensure(corner_b == [0, 0, 153], || {
        format!("window b's corner is {corner_b:?}, its clear colour is [0, 0, 153]")
    })?;
    let (w, h) = ctx.engine.window(a).unwrap().extent().unwrap();
    let centre_a = window_pixel(&ctx.engine, a, w / 2, h / 2)?;
    let centre_b = window_pixel(&ctx.engine, b, w / 2, h / 2)?;
    // Yellow cube: red and green lit, no blue; cyan cube: green and blue, no red.
    ensure(
        centre_a[0] > 40 && centre_a[1] > 40 && centre_a[2] == 0,
        || format!("window a's centre {centre_a:?} is not the yellow cube"),
    )?;
    ensure(
        centre_b[0] == 0 && centre_b[1] > 40 && centre_b[2] > 40,
        || format!("window b's centre {centre_b:?} is not the cyan cube"),
    )?;
    let before = ctx.engine.window(b).unwrap().frames_presented();
    ctx.engine.destroy_window(a).map_err(|e| e.to_string())?;
    ensure(
        ctx.engine.window(a).is_none() && ctx.engine.window_count() == 1,
        || "window a is gone".into(),
    )?;
    for _ in 0..20 {
        ctx.pump();
        ensure(ctx.render(b, [0.0, 1.0, 1.0, 1.0])?, || "b skipped".into())?;
    }
    let after = ctx.engine.window(b).unwrap().frames_presented();
    ensure(after == before + 20, || {
        format!("window b presented {before} then {after}, expected 20 more")
    })?;
    ensure(ctx.engine.render_to_unknown_is_error(a), || {
        "rendering into a destroyed window must be an error".into()
    })?;
    ctx.check_validation()?;
    ctx.engine.destroy_window(b).map_err(|e| e.to_string())?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// A window reported at 0×0 (what winit's `Resized` delivers for a minimised window; X11
/// under Xvfb has no window manager to minimise, so the event is fed to the engine as winit
/// would) skips frames without a swapchain, then renders again when restored.
fn minimise_to_zero_and_restore() -> TestResult {
    let mut ctx = Ctx::new()?;
    let id = ctx.create(WindowDesc::new("minimise", 160, 120))?;
    for _ in 0..5 {
        ctx.pump();
        ensure(ctx.render(id, [0.2, 1.0, 0.2, 1.0])?, || "skipped".into())?;
    }
    ctx.engine.window(id).unwrap().winit().set_minimized(true);
    ctx.engine
        .resized(id, PhysicalSize::new(0, 0))
        .map_err(|e| e.to_string())?;
    for _ in 0..10 {
        ensure(!ctx.render(id, [0.2, 1.0, 0.2, 1.0])?, || {
            "a 0×0 window must skip its frames".into()
        })?;
    }
    let window = ctx.engine.window(id).unwrap();
    ensure(
        window.extent().is_none() && window.frames_skipped() == 10,
        || {
            format!(
                "minimised: extent {:?}, {} skipped",
                window.extent(),
                window.frames_skipped()
            )
        },
    )?;
    window.winit().set_minimized(false);
    let size = window.winit().inner_size();
    ctx.engine.resized(id, size).map_err(|e| e.to_string())?;
    for _ in 0..5 {
        ctx.pump();
        ensure(ctx.render(id, [0.2, 1.0, 0.2, 1.0])?, || {
            "restored window must render".into()
        })?;
    }
    let window = ctx.engine.window(id).unwrap();
    ensure(
        window.extent() == Some((size.width, size.height)) && window.frames_presented() == 10,
        || {
            format!(
                "restored: extent {:?}, {} presented",
                window.extent(),
                window.frames_presented()
            )
        },
    )?;
    ctx.check_validation()?;
    ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// Shutting the engine down with a live window is refused with an error naming it; the
/// engine comes back and shuts down once the window is destroyed.
fn shutdown_with_live_window_is_refused() -> TestResult {
    let mut ctx = Ctx::new()?;
    let id = ctx.create(WindowDesc::new("still open", 100, 80))?;
    ctx.pump();
    ctx.render(id, [1.0; 4])?;
    let Ctx {
        engine, event_loop, ..
    } = ctx;
    let refused = match engine.shutdown() {
        Ok(()) => return Err("shutdown with a live window succeeded".into()),
        Err(refused) => refused,
    };
    let message = refused.to_string();
    ensure(
        matches!(&refused.error, WindowError::WindowsAlive { names } if names == &["still open"]),
        || format!("wrong error: {message}"),
    )?;
    ensure(message.contains("still open"), || {
        format!("the error does not name the window: {message}")
    })?;
    let mut engine = *refused.engine;
    ensure(engine.window_count() == 1, || "the window survived".into())?;
    engine.destroy_window(id).map_err(|e| e.to_string())?;
    let counts = engine.renderer().validation_counts();
    ensure(counts.total() == 0, || format!("validation: {counts:?}"))?;
    engine.shutdown().map_err(|e| e.to_string())?;
    drop(event_loop);
    Ok(())
}

/// Without `DISPLAY`, creating the event loop is an error that names `DISPLAY`, not a panic.
fn no_display_is_an_error_naming_display() -> TestResult {
    // Edition 2021; the child process has no other threads yet.
    std::env::remove_var("DISPLAY");
    match event_loop() {
        Ok(_) => Err("an event loop was created without DISPLAY".into()),
        Err(e @ WindowError::NoDisplay { .. }) if e.to_string().contains("DISPLAY") => Ok(()),
        Err(other) => Err(format!("wrong error: {other}")),
    }
}

/// FIFO by default; mailbox and immediate when the surface supports them (else FIFO).
fn present_modes() -> TestResult {
    let mut ctx = Ctx::new()?;
    let fifo = ctx.create(WindowDesc::new("fifo", 64, 64))?;
    let immediate =
        ctx.create(WindowDesc::new("immediate", 64, 64).present_mode(PresentMode::Immediate))?;
    let mailbox =
        ctx.create(WindowDesc::new("mailbox", 64, 64).present_mode(PresentMode::Mailbox))?;
    for _ in 0..3 {
        ctx.pump();
        for id in [fifo, immediate, mailbox] {
            ctx.render(id, [1.0; 4])?;
        }
    }
    let mode = |id| ctx.engine.window(id).unwrap().present_mode();
    ensure(mode(fifo) == Some(PresentMode::Fifo), || "fifo".into())?;
    // lavapipe on X11 supports IMMEDIATE and MAILBOX; another driver may fall back to FIFO.
    for (id, want) in [
        (immediate, PresentMode::Immediate),
        (mailbox, PresentMode::Mailbox),
    ] {
        let got = mode(id);
        ensure(got == Some(want) || got == Some(PresentMode::Fifo), || {
            format!("requested {want:?}, got {got:?}")
        })?;
    }
    ctx.check_validation()?;
    for id in [fifo, immediate, mailbox] {
        ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    }
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// The window shows exactly what the headless target renders for the same scene: the X
/// server's copy of the window (read with `xwd`) equals the read-back image, tolerance 0 per
/// channel (both are the RGBA8 output of the same graph; the window's is blitted into a
/// BGRA8 UNORM swapchain image, a lossless reordering).
fn window_matches_headless() -> TestResult {
    let mut ctx = Ctx::new()?;
    let (width, height) = (64, 64); // the Ctx renderer's size
    let id = ctx.create(WindowDesc::new("compare", width, height))?;
    let camera = Camera::look_at(Vec3::new(2.0, 1.5, 2.5), Vec3::ZERO, 0.9, 1.0, 0.1, 10.0);
    let instance = InstanceData::new(Mat4::from_rotation_y(0.6), [0.9, 0.5, 0.2, 1.0]);
    let cube = ctx.cube;
    for _ in 0..3 {
        ctx.pump();
        let mut frame = ctx
            .engine
            .begin_frame(id)
            .map_err(|e| e.to_string())?
            .ok_or("the window skipped a frame")?;
        frame.set_view(camera);
        frame
            .upload_instances(&[instance])
            .map_err(|e| e.to_string())?;
        frame.draw_instanced(cube).map_err(|e| e.to_string())?;
        frame.present().map_err(|e| e.to_string())?;
    }
    let mut frame = ctx
        .engine
        .renderer_mut()
        .begin_frame()
        .map_err(|e| e.to_string())?;
    frame.set_view(camera);
    frame
        .upload_instances(&[instance])
        .map_err(|e| e.to_string())?;
    frame.draw_instanced(cube).map_err(|e| e.to_string())?;
    let headless = frame.finish().map_err(|e| e.to_string())?;
    ctx.engine
        .renderer()
        .device()
        .wait_idle()
        .map_err(|e| e.to_string())?;
    let (w, h, shown) = window_image(&ctx.engine, id)?;
    ensure((w, h) == (width, height), || {
        format!("the window is {w}×{h}, {width}×{height} expected")
    })?;
    let differing = headless
        .rgba
        .chunks_exact(4)
        .zip(&shown)
        .filter(|(a, b)| a[..3] != b[..])
        .count();
    let drawn = headless
        .rgba
        .chunks_exact(4)
        .filter(|p| p[..3] != [0, 0, 0])
        .count();
    ensure(drawn > 200, || format!("only {drawn} cube pixels headless"))?;
    ensure(differing == 0, || {
        format!(
            "{differing} of {} pixels differ between window and headless",
            w * h
        )
    })?;
    ctx.check_validation()?;
    ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// A window's frames report the GPU time of their passes (timestamp queries read once the
/// frame's submission completed): none before the first frame, then a nonzero geometry time
/// for one of the window's own frames, advancing as frames complete; headless frames in between
/// do not replace them.
fn window_frames_report_gpu_times() -> TestResult {
    let mut ctx = Ctx::new()?;
    if ctx
        .engine
        .renderer()
        .capabilities()
        .timestamp_period_ns
        .is_none()
    {
        return Err("the adapter has no timestamps (lavapipe has them)".into());
    }
    let id = ctx.create(WindowDesc::new("gpu times", 160, 120))?;
    let timings = |ctx: &Ctx| ctx.engine.window(id).unwrap().gpu_timings();
    ensure(timings(&ctx).is_none(), || {
        "GPU times before any frame".into()
    })?;
    ctx.headless(2)?; // frames 0 and 1
    let mut window_frames = Vec::new();
    for _ in 0..4 {
        ctx.pump();
        ensure(ctx.render(id, [1.0, 0.5, 0.2, 1.0])?, || "skipped".into())?;
        window_frames.extend(ctx.last_number);
    }
    let first = timings(&ctx).ok_or("no GPU times after 4 window frames")?;
    ensure(window_frames.contains(&first.frame), || {
        format!(
            "GPU times of frame {} are not of a window frame ({window_frames:?})",
            first.frame
        )
    })?;
    ensure(first.geometry > Duration::ZERO, || {
        format!("zero geometry time: {first:?}")
    })?;
    ensure(first.post == Duration::ZERO, || {
        format!("a post time without a post pass: {first:?}")
    })?;
    // Headless frames use the renderer's slots, not the window's: they replace nothing.
    ctx.headless(2)?;
    let after = timings(&ctx).ok_or("GPU times vanished")?;
    ensure(after == first, || {
        format!("headless frames changed the window's GPU times: {first:?}, then {after:?}")
    })?;
    // Two more window frames: the first of them finds the first four completed (the headless
    // frames waited for the GPU), so the times are of the fourth window frame or later.
    for _ in 0..2 {
        ctx.pump();
        ensure(ctx.render(id, [1.0, 0.5, 0.2, 1.0])?, || "skipped".into())?;
        window_frames.extend(ctx.last_number);
    }
    let later = timings(&ctx).ok_or("GPU times vanished")?;
    ensure(
        later.frame >= window_frames[3] && window_frames.contains(&later.frame),
        || format!("after 6 window frames: {later:?}, window frames {window_frames:?}"),
    )?;
    ensure(later.geometry > Duration::ZERO, || {
        format!("zero geometry time: {later:?}")
    })?;
    ctx.check_validation()?;
    ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// Each window owns its frame slots (command pools, instance buffers, queries) and the
/// headless target has the renderer's: a headless frame submitted before many frames of two
/// windows can still be read back (with shared slots the window frames would have reused its
/// slot), and two windows rendering through 50 resizes of the first (each resize recreating
/// only its swapchain) report no validation message; the allocation count returns to its
/// start once both windows are closed.
fn two_windows_own_their_frame_slots_through_50_resizes() -> TestResult {
    let mut ctx = Ctx::new()?;
    ctx.headless(2)?;
    let start = ctx.allocations()?;
    let a = ctx.create(WindowDesc::new("resized", 160, 120))?;
    let b = ctx.create(WindowDesc::new("steady", 128, 96))?;
    ctx.engine
        .window(b)
        .unwrap()
        .winit()
        .set_outer_position(PhysicalPosition::new(600, 0));
    // A headless frame in flight while both windows render.
    let cube = ctx.cube;
    let mut frame = ctx
        .engine
        .renderer_mut()
        .begin_frame()
        .map_err(|e| e.to_string())?;
    frame
        .upload_instances(&[InstanceData::new(Mat4::IDENTITY, [1.0; 4])])
        .map_err(|e| e.to_string())?;
    frame.draw_instanced(cube).map_err(|e| e.to_string())?;
    let ticket = frame.submit().map_err(|e| e.to_string())?;
    for _ in 0..5 {
        ctx.pump();
        ensure(ctx.render(a, [1.0, 0.2, 0.2, 1.0])?, || "a skipped".into())?;
        ensure(ctx.render(b, [0.2, 0.2, 1.0, 1.0])?, || "b skipped".into())?;
    }
    let image = ctx
        .engine
        .renderer_mut()
        .read_back(ticket)
        .map_err(|e| format!("the headless frame's slot was reused by window frames: {e}"))?;
    ensure(image.rgba.iter().any(|&c| c != 0), || {
        "an empty read-back".into()
    })?;
    let b_before = ctx.engine.window(b).unwrap().frames_presented();
    for i in 0..50u32 {
        let want = PhysicalSize::new(100 + (i * 41) % 220, 80 + (i * 29) % 160);
        let _ = ctx
            .engine
            .window(a)
            .unwrap()
            .winit()
            .request_inner_size(want);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            ctx.pump();
            ctx.render(a, [1.0, 0.2, 0.2, 1.0])?;
            ensure(ctx.render(b, [0.2, 0.2, 1.0, 1.0])?, || "b skipped".into())?;
            let extent = ctx.engine.window(a).unwrap().extent();
            if ctx.sizes.get(&a) == Some(&want) && extent == Some((want.width, want.height)) {
                break;
            }
            ensure(Instant::now() < deadline, || {
                format!("resize {i}: wanted {want:?}, swapchain {extent:?}")
            })?;
        }
        ctx.check_validation()?;
    }
    let (wa, wb) = (ctx.engine.window(a).unwrap(), ctx.engine.window(b).unwrap());
    ensure(wa.swapchain_recreations() >= 50, || {
        format!(
            "a recreated its swapchain {} times",
            wa.swapchain_recreations()
        )
    })?;
    ensure(wb.swapchain_recreations() == 0, || {
        format!(
            "b's swapchain was recreated {} times",
            wb.swapchain_recreations()
        )
    })?;
    ensure(wb.frames_presented() >= b_before + 50, || {
        format!(
            "b presented {} frames during the resizes",
            wb.frames_presented() - b_before
        )
    })?;
    ctx.engine.destroy_window(a).map_err(|e| e.to_string())?;
    ctx.engine.destroy_window(b).map_err(|e| e.to_string())?;
    let end = ctx.allocations()?;
    ensure(end == start, || {
        format!("allocations: {start} before the windows, {end} after they closed")
    })?;
    ctx.check_validation()?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

/// A window frame dropped after its image was acquired (never submitted): the next frame
/// starts over with a new swapchain and acquire semaphores, without validation messages.
fn dropped_frame_recovers() -> TestResult {
    let mut ctx = Ctx::new()?;
    let id = ctx.create(WindowDesc::new("dropped", 96, 64))?;
    for _ in 0..3 {
        ctx.pump();
        ctx.render(id, [1.0; 4])?;
    }
    let frame = ctx.engine.begin_frame(id).map_err(|e| e.to_string())?;
    ensure(frame.is_some(), || "the window should render".into())?;
    drop(frame);
    for _ in 0..5 {
        ctx.pump();
        ensure(ctx.render(id, [1.0; 4])?, || "skipped after a drop".into())?;
    }
    let window = ctx.engine.window(id).unwrap();
    ensure(
        window.frames_presented() == 8 && window.swapchain_recreations() == 1,
        || {
            format!(
                "{} presented, {} recreations",
                window.frames_presented(),
                window.swapchain_recreations()
            )
        },
    )?;
    ctx.check_validation()?;
    ctx.engine.destroy_window(id).map_err(|e| e.to_string())?;
    ctx.engine.shutdown().map_err(|e| e.to_string())
}

trait UnknownWindow {
    fn render_to_unknown_is_error(&mut self, id: WindowId) -> bool;
}

impl UnknownWindow for Engine {
    fn render_to_unknown_is_error(&mut self, id: WindowId) -> bool {
        matches!(self.begin_frame(id), Err(WindowError::UnknownWindow { .. }))
    }
}
