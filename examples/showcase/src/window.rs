//! `--window`: the frames go to a window instead of PNG files. The showcase's frame loop
//! stays a plain loop: winit's events are pumped once per frame (`pump_app_events`), the
//! window's swapchain follows resizes, a minimised window skips frames, and closing the
//! window ends the run like a signal does.

use std::time::{Duration, Instant};

use macrokid_graphics::vulkan::Vulkan;
use macrokid_graphics::window::{event_loop, Engine, WindowDesc};
use macrokid_graphics::{Frame, Renderer, RendererConfig};
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::EventLoopExtPumpEvents as _;
use winit::window::WindowId;

/// The engine, its event loop and the one window.
pub(crate) struct Shown {
    event_loop: EventLoop<()>,
    state: State,
}

/// What the event handler updates.
struct State {
    engine: Engine,
    id: Option<WindowId>,
    closed: bool,
    title: String,
    since: Instant,
    frames_since: u32,
    presented: u64,
}

/// Handles the window's events (and creates it on the first callback).
struct Handler<'a> {
    shown: &'a mut State,
    desc: Option<&'a WindowDesc>,
    error: Option<String>,
}

impl ApplicationHandler for Handler<'_> {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        self.create(event_loop);
    }

    fn window_event(&mut self, _: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::Resized(size) => {
                if let Err(e) = self.shown.engine.resized(id, size) {
                    self.error = Some(e.to_string());
                }
            }
            WindowEvent::CloseRequested | WindowEvent::Destroyed => self.shown.closed = true,
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.create(event_loop);
    }
}

impl Handler<'_> {
    fn create(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(desc) = self.desc.take() {
            match self.shown.engine.create_window(event_loop, desc) {
                Ok(id) => self.shown.id = Some(id),
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }
}

impl Shown {
    /// Opens the event loop (an error naming `DISPLAY` when there is no display), the engine
    /// and a `width × height` window titled `title`.
    pub(crate) fn open(config: RendererConfig, title: &str) -> Result<Shown, String> {
        let event_loop = event_loop().map_err(|e| e.to_string())?;
        let (width, height) = (config.width, config.height);
        let engine = Engine::new(config).map_err(|e| e.to_string())?;
        let mut shown = Shown {
            event_loop,
            state: State {
                engine,
                id: None,
                closed: false,
                title: title.to_owned(),
                since: Instant::now(),
                frames_since: 0,
                presented: 0,
            },
        };
        let desc = WindowDesc::new(title, width, height);
        let deadline = Instant::now() + Duration::from_secs(10);
        while shown.state.id.is_none() {
            shown.pump_with(Some(&desc))?;
            if Instant::now() > deadline {
                return Err("the window system did not start the event loop in 10 s".into());
            }
        }
        Ok(shown)
    }

    fn pump_with(&mut self, desc: Option<&WindowDesc>) -> Result<(), String> {
        let mut handler = Handler {
            shown: &mut self.state,
            desc,
            error: None,
        };
        let _ = self
            .event_loop
            .pump_app_events(Some(Duration::ZERO), &mut handler);
        handler.error.map_or(Ok(()), Err)
    }

    /// Handles pending window events; returns `false` once the window was closed.
    pub(crate) fn pump(&mut self) -> Result<bool, String> {
        self.pump_with(None)?;
        Ok(!self.state.closed)
    }

    /// The engine's renderer (uploads, adapter, validation counts).
    pub(crate) fn renderer(&self) -> &Renderer<Vulkan> {
        self.state.engine.renderer()
    }

    /// `(width, height)` of the window's swapchain, `None` while minimised.
    pub(crate) fn extent(&self) -> Option<(u32, u32)> {
        let state = &self.state;
        state
            .id
            .and_then(|id| state.engine.window(id))
            .and_then(|w| w.extent())
    }

    /// GPU times of the passes of the window's latest frame whose submission completed
    /// (they trail the frame being prepared by one or two frames; see
    /// [`Window::gpu_timings`](macrokid_graphics::window::Window::gpu_timings)).
    pub(crate) fn gpu_timings(&self) -> Option<macrokid_graphics::GpuTimings> {
        let state = &self.state;
        state
            .id
            .and_then(|id| state.engine.window(id))
            .and_then(|w| w.gpu_timings())
    }

    /// A frame into the window, `None` while it is minimised.
    pub(crate) fn begin_frame(&mut self) -> Result<Option<Frame<'_, Vulkan>>, String> {
        let id = self.state.id.ok_or("the window is closed")?;
        self.state.engine.begin_frame(id).map_err(|e| e.to_string())
    }

    /// Counts a presented frame, logs the first one (at `info`, target `showcase::window`), and
    /// puts the frame rate in the title twice a second.
    pub(crate) fn presented(&mut self) {
        let s = &mut self.state;
        s.presented += 1;
        if s.presented == 1 {
            tracing::info!(title = %s.title, "first frame presented");
        }
        s.frames_since += 1;
        let elapsed = s.since.elapsed().as_secs_f64();
        if elapsed >= 0.5 {
            if let Some(w) = s.id.and_then(|id| s.engine.window(id)) {
                let fps = f64::from(s.frames_since) / elapsed;
                w.set_title(&format!("{}: {fps:.1} fps", s.title));
            }
            s.since = Instant::now();
            s.frames_since = 0;
        }
    }

    /// Destroys the window (waiting for the GPU to finish its frames), then the engine, and
    /// returns the number of validation messages reported up to and including the window's
    /// destruction (the engine's own teardown cannot be counted: its messenger goes with it).
    ///
    /// This is the end of every windowed run: after `--frames`, after the window was closed,
    /// and after a termination signal (the loop stops between frames, so the frame in flight
    /// was presented before this runs).
    pub(crate) fn close(self) -> Result<u64, String> {
        let Shown {
            event_loop,
            mut state,
        } = self;
        if let Some(id) = state.id.take() {
            state.engine.destroy_window(id).map_err(|e| e.to_string())?;
        }
        let messages = state.engine.renderer().validation_message_count();
        state.engine.shutdown().map_err(|e| e.to_string())?;
        drop(event_loop);
        Ok(messages)
    }
}
