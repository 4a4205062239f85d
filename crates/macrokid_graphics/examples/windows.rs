//! Two windows sharing one [`Engine`], each drawing its own scene (a ring of cubes in its own
//! colour over its own clear colour), with the frame rate in the titles. Runs until both
//! windows are closed, or for `--frames N` frames per window.
//!
//! ```text
//! cargo run -p macrokid_graphics --example windows [-- --frames 300] [--validation] [--mailbox]
//! ```
//!
//! Needs an X display (`DISPLAY`; e.g. `Xvfb :99 & DISPLAY=:99 cargo run ...`); without one it
//! exits with an error naming `DISPLAY`.

use std::process::ExitCode;
use std::time::Instant;

use glam::{Mat4, Vec3};
use macrokid_graphics::window::{event_loop, Engine, PresentMode, WindowDesc};
use macrokid_graphics::{Camera, InstanceData, Mesh, MeshHandle, RendererConfig};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalPosition;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow};
use winit::window::WindowId;

/// One window's scene and frame-rate counter.
struct Scene {
    id: WindowId,
    name: &'static str,
    color: [f32; 4],
    frames: u64,
    since: Instant,
    frames_since: u64,
}

struct App {
    engine: Engine,
    cube: MeshHandle,
    scenes: Vec<Scene>,
    max_frames: Option<u64>,
    present_mode: PresentMode,
    started: bool,
    error: Option<String>,
}

impl App {
    fn fail(&mut self, event_loop: &ActiveEventLoop, error: String) {
        self.error.get_or_insert(error);
        event_loop.exit();
    }

    fn render(&mut self, index: usize) -> Result<(), String> {
        let scene = &self.scenes[index];
        let (id, color, t) = (scene.id, scene.color, scene.frames as f32 / 60.0);
        let aspect = self
            .engine
            .window(id)
            .and_then(|w| w.extent())
            .map_or(1.0, |(w, h)| w as f32 / h as f32);
        let cube = self.cube;
        let Some(mut frame) = self.engine.begin_frame(id).map_err(|e| e.to_string())? else {
            return Ok(()); // minimised
        };
        frame.set_view(Camera::look_at(
            Vec3::new(0.0, 3.0, 6.0),
            Vec3::ZERO,
            0.9,
            aspect,
            0.1,
            50.0,
        ));
        let instances: Vec<_> = (0..8)
            .map(|i| {
                let a = t + i as f32 * std::f32::consts::TAU / 8.0;
                let model = Mat4::from_translation(Vec3::new(2.2 * a.cos(), 0.0, 2.2 * a.sin()))
                    * Mat4::from_rotation_y(2.0 * a)
                    * Mat4::from_scale(Vec3::splat(0.45));
                InstanceData::new(model, color)
            })
            .collect();
        frame
            .upload_instances(&instances)
            .map_err(|e| e.to_string())?;
        frame.draw_instanced(cube).map_err(|e| e.to_string())?;
        frame.present().map_err(|e| e.to_string())?;
        let scene = &mut self.scenes[index];
        scene.frames += 1;
        scene.frames_since += 1;
        let elapsed = scene.since.elapsed().as_secs_f64();
        if elapsed >= 0.5 {
            let fps = scene.frames_since as f64 / elapsed;
            if let Some(w) = self.engine.window(id) {
                w.set_title(&format!("macrokid: {} cubes, {fps:.0} fps", scene.name));
            }
            scene.since = Instant::now();
            scene.frames_since = 0;
        }
        Ok(())
    }

    fn close(&mut self, id: WindowId) -> Result<(), String> {
        if let Some(i) = self.scenes.iter().position(|s| s.id == id) {
            let scene = self.scenes.remove(i);
            println!("{}: {} frames", scene.name, scene.frames);
            self.engine.destroy_window(id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.started {
            return;
        }
        self.started = true;
        event_loop.set_control_flow(ControlFlow::Poll);
        let windows = [
            ("red", [0.9, 0.15, 0.1, 1.0], [0.08, 0.02, 0.02, 1.0], 0),
            ("blue", [0.1, 0.35, 0.95, 1.0], [0.01, 0.02, 0.08, 1.0], 420),
        ];
        for (name, color, clear, x) in windows {
            let desc = WindowDesc::new(format!("macrokid: {name} cubes"), 400, 300)
                .clear_color(clear)
                .present_mode(self.present_mode);
            match self.engine.create_window(event_loop, &desc) {
                Ok(id) => {
                    if let Some(w) = self.engine.window(id) {
                        w.winit().set_outer_position(PhysicalPosition::new(x, 0));
                    }
                    self.scenes.push(Scene {
                        id,
                        name,
                        color,
                        frames: 0,
                        since: Instant::now(),
                        frames_since: 0,
                    });
                }
                Err(e) => return self.fail(event_loop, e.to_string()),
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        let result = match event {
            WindowEvent::Resized(size) => self.engine.resized(id, size).map_err(|e| e.to_string()),
            WindowEvent::CloseRequested | WindowEvent::Destroyed => self.close(id),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.fail(event_loop, e);
        } else if self.started && self.scenes.is_empty() {
            event_loop.exit();
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        for i in 0..self.scenes.len() {
            if let Err(e) = self.render(i) {
                return self.fail(event_loop, e);
            }
        }
        if let Some(max) = self.max_frames {
            let done: Vec<_> = self
                .scenes
                .iter()
                .filter(|s| s.frames >= max)
                .map(|s| s.id)
                .collect();
            for id in done {
                if let Err(e) = self.close(id) {
                    return self.fail(event_loop, e);
                }
            }
        }
        if self.started && self.scenes.is_empty() {
            event_loop.exit();
        }
    }
}

fn parse_args() -> Result<(Option<u64>, bool, PresentMode), String> {
    let mut args = std::env::args().skip(1);
    let (mut frames, mut validation, mut mode) = (None, false, PresentMode::Fifo);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" => {
                let n = args.next().ok_or("--frames needs a number")?;
                frames = Some(
                    n.parse()
                        .map_err(|_| format!("--frames {n:?}: not a whole number"))?,
                );
            }
            "--validation" => validation = true,
            "--mailbox" => mode = PresentMode::Mailbox,
            "--immediate" => mode = PresentMode::Immediate,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --frames N, --validation, --mailbox, \
                     --immediate"
                ))
            }
        }
    }
    Ok((frames, validation, mode))
}

fn run() -> Result<(), String> {
    let (max_frames, validation, present_mode) = parse_args()?;
    let event_loop = event_loop().map_err(|e| e.to_string())?;
    let engine =
        Engine::new(RendererConfig::default().validation(validation)).map_err(|e| e.to_string())?;
    let cube = engine
        .renderer()
        .upload_mesh(&Mesh::cube())
        .map_err(|e| e.to_string())?;
    let mut app = App {
        engine,
        cube,
        scenes: Vec::new(),
        max_frames,
        present_mode,
        started: false,
        error: None,
    };
    event_loop
        .run_app(&mut app)
        .map_err(|e| format!("event loop: {e}"))?;
    if let Some(e) = app.error.take() {
        return Err(e);
    }
    for id in app.engine.window_ids() {
        app.close(id)?;
    }
    let counts = app.engine.renderer().validation_counts();
    app.engine.shutdown().map_err(|e| e.to_string())?;
    if counts.total() > 0 {
        return Err(format!("validation reported {counts:?}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
