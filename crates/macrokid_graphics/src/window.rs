//! Windows: [`Engine`] (process-wide: the [`Renderer`] with its instance, device, queue,
//! allocator, passes, caches and the headless target, created with the surface and swapchain
//! extensions) and any number of [`Window`]s sharing it, on winit 0.30.
//!
//! # Structure
//! The existing [`Renderer`] *is* the engine plus a headless target: the engine wraps one
//! (so headless code is unchanged) and adds the windows. A window owns its winit window, its
//! surface, swapchain (images, image views, one present semaphore per image), one acquire
//! semaphore per frame in flight, and its own compiled frame graph (the renderer's graph with
//! the output as a transient and a last `present` pass that blits it into the acquired
//! swapchain image, which the graph leaves in `Present` use; see
//! the frame module) with the graph's transients (depth, HDR) and, with post-processing, its
//! own post pass, and its own [`FRAMES_IN_FLIGHT`] frame slots (per slot: the primary and
//! per-recording-thread command encoders, i.e. command pools, the instance buffer and the
//! timestamp queries; the headless target has the renderer's). A slot's "fence" is the value
//! of the renderer's one timeline semaphore that its last submission signals: a window's frame
//! waits only for its own frame `FRAMES_IN_FLIGHT` earlier, never for another window's or a
//! headless frame.
//!
//! # Lifecycle
//! [`Engine::create_window`] (from winit's `ApplicationHandler::resumed` or later) →
//! per frame [`Engine::begin_frame`] (`None` while the window is minimised) → the usual
//! [`Frame`] calls → [`Frame::submit`] (which presents) → [`Engine::destroy_window`] when the
//! user closes it → [`Engine::shutdown`], which refuses while windows live. Recreating a
//! swapchain (resize, out of date, suboptimal) waits only for the submissions of that window
//! (its last timeline value), never for the whole device; destroying a window waits for the
//! device to idle (see [`Engine::destroy_window`] for why), leaving other windows' state alone.
//!
//! # Synchronisation (Vulkan spec §34.10, "WSI Swapchain")
//! Acquire semaphore `k = n mod FRAMES_IN_FLIGHT` is reused by the window's frame `n` only
//! after the submission that waited for it (frame `n - FRAMES_IN_FLIGHT`) completed on the
//! timeline; the submission waits for it at all stages (so the graph's `Undefined` →
//! `TransferDst` transition of the image comes after it) and signals the image's present
//! semaphore, which `vkQueuePresentKHR` waits for.
#![expect(
    unsafe_code,
    reason = "surfaces, acquisition, submission and presentation call the Vulkan backend's unsafe \
              functions and uphold their contracts"
)]

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use raw_window_handle::{HasDisplayHandle as _, HasWindowHandle as _};
use winit::dpi::PhysicalSize;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::WindowId;

use crate::frame::graph::{FrameGraph, Sink, OUTPUT_FORMAT};
use crate::frame::{FrameSlot, FrameTarget, GpuTimingsCell};
use crate::hal::Device as _;
use crate::passes::PostPass;
use crate::vulkan::swapchain::{self, Acquired, Semaphore, Surface, Swapchain};
pub use crate::vulkan::PresentMode;
use crate::vulkan::Vulkan;
use crate::{
    Frame, GpuTimings, GraphicsError, RenderBackend, Renderer, RendererConfig, FRAMES_IN_FLIGHT,
};

/// What went wrong with a window or the engine's window bookkeeping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// No display to open windows on.
    #[error(
        "no display to open a window on: {reason}; set DISPLAY to a running X server (for \
         example `Xvfb :99 & export DISPLAY=:99`) or run headless"
    )]
    NoDisplay {
        /// Why: `DISPLAY` unset, or what opening it reported.
        reason: String,
    },
    /// The engine was asked to shut down while windows are alive.
    #[error(
        "the engine cannot shut down while {} window(s) live: [{}]; destroy them first with \
         Engine::destroy_window",
        names.len(),
        names.join(", ")
    )]
    WindowsAlive {
        /// Titles of the live windows, in creation order.
        names: Vec<String>,
    },
    /// No window of the engine has this id (it was destroyed or belongs to another engine).
    #[error("no window with id {id} in this engine (destroyed, or from another engine)")]
    UnknownWindow {
        /// The winit window id, formatted.
        id: String,
    },
    /// The window system failed to create a window or to hand out its handles.
    #[error("the window system failed to {what}: {message}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The window system's message.
        message: String,
    },
    /// A graphics error (surface, swapchain, device).
    #[error(transparent)]
    Graphics(#[from] GraphicsError),
}

impl From<crate::DeviceError> for WindowError {
    fn from(e: crate::DeviceError) -> Self {
        WindowError::Graphics(e.into())
    }
}

/// How to create a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDesc {
    /// Title (also the window's name in [`WindowError::WindowsAlive`]).
    pub title: String,
    /// Requested inner width in physical pixels (the window system may choose another).
    pub width: u32,
    /// Requested inner height in physical pixels.
    pub height: u32,
    /// Requested present mode; FIFO when the surface does not support it.
    pub present_mode: PresentMode,
    /// Clear colour (linear RGBA) of this window's frames; `None`: the renderer's.
    pub clear_color: Option<[f32; 4]>,
}

impl WindowDesc {
    /// A `width × height` window titled `title`, FIFO, the renderer's clear colour.
    pub fn new(title: impl Into<String>, width: u32, height: u32) -> WindowDesc {
        WindowDesc {
            title: title.into(),
            width,
            height,
            present_mode: PresentMode::Fifo,
            clear_color: None,
        }
    }

    /// Sets the present mode.
    #[must_use]
    pub fn present_mode(mut self, mode: PresentMode) -> WindowDesc {
        self.present_mode = mode;
        self
    }

    /// Sets the clear colour (linear RGBA).
    #[must_use]
    pub fn clear_color(mut self, color: [f32; 4]) -> WindowDesc {
        self.clear_color = Some(color);
        self
    }
}

/// Creates winit's event loop (one per process; usable from any thread on X11), or a
/// [`WindowError::NoDisplay`] naming `DISPLAY` when there is no display.
///
/// # Errors
/// [`WindowError::NoDisplay`] when `DISPLAY` is unset or the X server cannot be opened;
/// [`WindowError::Os`] when an event loop already exists in this process.
pub fn event_loop() -> Result<EventLoop<()>, WindowError> {
    use winit::platform::x11::EventLoopBuilderExtX11 as _;
    match std::env::var_os("DISPLAY") {
        Some(d) if !d.is_empty() => {}
        _ => {
            return Err(WindowError::NoDisplay {
                reason: "DISPLAY is not set".to_owned(),
            })
        }
    }
    EventLoop::builder()
        .with_any_thread(true)
        .build()
        .map_err(|e| match e {
            winit::error::EventLoopError::RecreationAttempt => WindowError::Os {
                what: "create a second event loop (winit allows one per process)",
                message: e.to_string(),
            },
            other => WindowError::NoDisplay {
                reason: format!(
                    "DISPLAY={} cannot be opened ({other})",
                    std::env::var("DISPLAY").unwrap_or_default()
                ),
            },
        })
}

/// One window: its winit window, surface, swapchain, acquire semaphores and frame graph.
/// Created by [`Engine::create_window`], owned by the engine, looked up by [`WindowId`].
pub struct Window {
    // Declaration order is drop order: GPU objects first, the winit window last (the
    // surface refers to it).
    /// This window's frame slots, one per frame in flight (command encoders, instance buffer,
    /// timestamp queries): frame `n` of the window uses slot `n mod FRAMES_IN_FLIGHT`, with
    /// acquire semaphore `n mod FRAMES_IN_FLIGHT`.
    slots: Vec<FrameSlot<Vulkan>>,
    post: Option<PostPass<Vulkan>>,
    graph: Option<FrameGraph<Vulkan>>,
    swapchain: Option<Swapchain>,
    /// One per frame in flight, with the timeline value of the submission that waited for it.
    acquire: Vec<(Semaphore, AtomicU64)>,
    surface: Arc<Surface>,
    /// Timeline value of this window's last submission.
    last_submitted: AtomicU64,
    /// Present or acquire reported suboptimal/out of date: recreate before the next frame.
    stale: AtomicBool,
    /// An image was acquired and its frame not submitted yet.
    acquired: AtomicBool,
    presented: AtomicU64,
    /// GPU pass times of the latest window frame whose submission completed.
    gpu_timings: GpuTimingsCell,
    skipped: u64,
    recreations: u64,
    frames_begun: u64,
    /// The size the window system last reported (`Resized`), or the initial inner size.
    size: (u32, u32),
    /// The `size` the current swapchain (or the decision to have none) was made for.
    built_for: Option<(u32, u32)>,
    desc: WindowDesc,
    id: WindowId,
    winit: Arc<winit::window::Window>,
}

impl Window {
    /// The winit window id.
    pub fn id(&self) -> WindowId {
        self.id
    }

    /// The title it was created with (see [`Window::set_title`]).
    pub fn title(&self) -> &str {
        &self.desc.title
    }

    /// Sets the title shown by the window system (e.g. with the frame rate); the name in
    /// errors stays the creation title.
    pub fn set_title(&self, title: &str) {
        self.winit.set_title(title);
    }

    /// The winit window (for `request_inner_size`, `set_minimized`, ...).
    pub fn winit(&self) -> &winit::window::Window {
        &self.winit
    }

    /// `(width, height)` of the swapchain images; `None` while minimised (or before the first
    /// frame after a 0-sized resize).
    pub fn extent(&self) -> Option<(u32, u32)> {
        self.swapchain.as_ref().map(Swapchain::extent)
    }

    /// The present mode in use (the requested one when supported, else FIFO); `None` without
    /// a swapchain.
    pub fn present_mode(&self) -> Option<PresentMode> {
        self.swapchain.as_ref().map(Swapchain::mode)
    }

    /// Number of swapchain images; 0 without a swapchain.
    pub fn image_count(&self) -> usize {
        self.swapchain.as_ref().map_or(0, Swapchain::image_count)
    }

    /// Frames presented so far.
    pub fn frames_presented(&self) -> u64 {
        self.presented.load(Ordering::Relaxed)
    }

    /// GPU time of the passes of this window's latest frame whose submission completed (its
    /// [`GpuTimings::frame`] says which): timestamp queries around each pass of the window's
    /// frame graph, read from the window's frame slot without waiting when the window starts a
    /// frame after that submission completed (or when the slot comes round again, after
    /// waiting for it), so they trail the frame being prepared by one or two frames. `None`
    /// before the first such frame, or when the adapter has no timestamps.
    pub fn gpu_timings(&self) -> Option<GpuTimings> {
        *self.gpu_timings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Frames skipped because the window was minimised (0-sized).
    pub fn frames_skipped(&self) -> u64 {
        self.skipped
    }

    /// How many times the swapchain was recreated (resize, out of date, suboptimal).
    pub fn swapchain_recreations(&self) -> u64 {
        self.recreations
    }

    /// Waits until the GPU finished this window's submitted frames.
    fn wait_frames(&self, renderer: &Renderer<Vulkan>) -> Result<(), GraphicsError> {
        let last = self.last_submitted.load(Ordering::Acquire);
        if last > 0 {
            renderer.timeline.wait(&renderer.device, last)?;
        }
        Ok(())
    }

    /// Makes the swapchain, graph and post pass match the window's size (after waiting for
    /// this window's frames), or drops them while the size is 0.
    ///
    /// Replacing a swapchain waits for the device to idle first, as
    /// [`Engine::destroy_window`] does: the old swapchain's present semaphores were last
    /// waited for by presentations, which no timeline value covers, so waiting for this
    /// window's last submission is not enough to destroy them (VUID-vkDestroySemaphore-
    /// semaphore-01137: the validation layer reported it in one CI run of `resize_50_times`).
    fn rebuild(&mut self, renderer: &Renderer<Vulkan>) -> Result<(), GraphicsError> {
        if self.swapchain.is_some() {
            renderer.device.wait_idle()?;
        } else {
            self.wait_frames(renderer)?;
        }
        self.post = None;
        self.graph = None;
        let old = self.swapchain.take();
        if old.is_some() {
            self.recreations += 1;
        }
        self.built_for = Some(self.size);
        self.stale.store(false, Ordering::Relaxed);
        if self.size.0 == 0 || self.size.1 == 0 {
            return Ok(());
        }
        let Some(sc) = Swapchain::new(
            &renderer.device,
            &self.surface,
            self.size,
            self.desc.present_mode,
            old.as_ref(),
        )?
        else {
            return Ok(());
        };
        drop(old);
        let (width, height) = sc.extent();
        let config = renderer.config();
        let graph = FrameGraph::<Vulkan>::new(
            &renderer.device,
            width,
            height,
            self.desc.clear_color.unwrap_or(config.clear_color),
            config.post_process.is_some(),
            Sink::Present(sc.format()),
        )?;
        let hdr_view = graph
            .hdr
            .and_then(|hdr| graph.transients.get(hdr))
            .map(|(_, view)| view);
        self.post = match (hdr_view, config.post_process) {
            (Some(view), Some(params)) => Some(PostPass::new(
                &renderer.device,
                view,
                OUTPUT_FORMAT,
                (width, height),
                params,
                Some(renderer.pipeline_cache()),
            )?),
            _ => None,
        };
        self.graph = Some(graph);
        self.swapchain = Some(sc);
        Ok(())
    }
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("id", &self.id)
            .field("title", &self.desc.title)
            .field("extent", &self.extent())
            .field("frames_presented", &self.frames_presented())
            .finish_non_exhaustive()
    }
}

/// The process-wide engine: a [`Renderer`] (instance with the surface extensions, device with
/// `VK_KHR_swapchain`, queue, allocator, passes, caches, headless target) and the windows that
/// share it (see the [module documentation](self)).
///
/// Generic over the [`RenderBackend`] `B` as the renderer is, with a `PhantomData<B>` so that
/// its `Send`/`Sync` follow the backend's (the design's `Engine<B>`); windows need a backend
/// that presents, and [`Vulkan`] (the default) is the only one: every method is on
/// `Engine<Vulkan>`.
pub struct Engine<B: RenderBackend = Vulkan> {
    // Windows drop before the renderer they use.
    windows: Vec<Window>,
    renderer: Renderer<B>,
    _backend: PhantomData<B>,
}

impl Engine<Vulkan> {
    /// Creates the engine's renderer (see [`Renderer::with_backend`]) with surfaces enabled.
    /// Needs no display: windows are created later, on an event loop.
    ///
    /// # Errors
    /// As [`Renderer::with_backend`]; [`crate::EnvironmentError::MissingExtension`] when the
    /// loader has no `VK_KHR_surface`.
    pub fn new(config: RendererConfig) -> Result<Engine, WindowError> {
        Ok(Engine {
            windows: Vec::new(),
            renderer: Renderer::create(config, true)?,
            _backend: PhantomData,
        })
    }

    /// The renderer (uploads, materials, validation counts, headless frames).
    pub fn renderer(&self) -> &Renderer<Vulkan> {
        &self.renderer
    }

    /// The renderer, mutably (headless frames: [`Renderer::begin_frame`]).
    pub fn renderer_mut(&mut self) -> &mut Renderer<Vulkan> {
        &mut self.renderer
    }

    /// Opens a window on `event_loop` with its surface and swapchain (none while its size is
    /// 0) and returns its id.
    ///
    /// # Errors
    /// [`WindowError::Os`] when the window system refuses; surface and swapchain errors
    /// (no 8-bit UNORM BGRA/RGBA format, no presentation support); out-of-memory.
    pub fn create_window(
        &mut self,
        event_loop: &ActiveEventLoop,
        desc: &WindowDesc,
    ) -> Result<WindowId, WindowError> {
        let attributes = winit::window::Window::default_attributes()
            .with_title(desc.title.clone())
            .with_inner_size(PhysicalSize::new(desc.width.max(1), desc.height.max(1)));
        let winit =
            Arc::new(
                event_loop
                    .create_window(attributes)
                    .map_err(|e| WindowError::Os {
                        what: "create a window",
                        message: e.to_string(),
                    })?,
            );
        let handle_error = |e: raw_window_handle::HandleError| WindowError::Os {
            what: "hand out the window's raw handles",
            message: e.to_string(),
        };
        let display = winit.display_handle().map_err(handle_error)?.as_raw();
        let handle = winit.window_handle().map_err(handle_error)?.as_raw();
        // SAFETY: the handles come from the live winit window, which the `Window` keeps alive
        // (it is dropped after the surface).
        let surface = Arc::new(unsafe { Surface::new(&self.renderer.instance, display, handle) }?);
        let acquire = (0..FRAMES_IN_FLIGHT)
            .map(|_| Ok((Semaphore::new(&self.renderer.device)?, AtomicU64::new(0))))
            .collect::<Result<Vec<_>, crate::DeviceError>>()?;
        let slots = (0..FRAMES_IN_FLIGHT)
            .map(|_| self.renderer.create_window_slot())
            .collect::<Result<Vec<_>, _>>()?;
        let size = winit.inner_size();
        let mut window = Window {
            slots,
            post: None,
            graph: None,
            swapchain: None,
            acquire,
            surface,
            last_submitted: AtomicU64::new(0),
            stale: AtomicBool::new(false),
            acquired: AtomicBool::new(false),
            presented: AtomicU64::new(0),
            gpu_timings: Arc::new(Mutex::new(None)),
            skipped: 0,
            recreations: 0,
            frames_begun: 0,
            size: (size.width, size.height),
            built_for: None,
            desc: desc.clone(),
            id: winit.id(),
            winit,
        };
        window.rebuild(&self.renderer)?;
        window.recreations = 0;
        let id = window.id;
        tracing::info!(?id, title = %desc.title, extent = ?window.extent(), "window created");
        self.windows.push(window);
        Ok(id)
    }

    /// Tells the engine the window's new inner size (from winit's `WindowEvent::Resized`; a
    /// 0×0 size is a minimised window). The swapchain is recreated at the next
    /// [`Engine::begin_frame`].
    ///
    /// # Errors
    /// [`WindowError::UnknownWindow`].
    pub fn resized(&mut self, id: WindowId, size: PhysicalSize<u32>) -> Result<(), WindowError> {
        let window = self.window_mut_or_err(id)?;
        window.size = (size.width, size.height);
        Ok(())
    }

    /// Closes a window: waits for the device to idle, then destroys its swapchain, surface and
    /// winit window. Other windows and the engine keep their state (their frames in flight
    /// complete; nothing of theirs is recreated).
    ///
    /// Why the device and not only this window's frames: the last `vkQueuePresentKHR` waits
    /// for the image's present semaphore, and nothing but an idle queue tells when that wait
    /// was consumed (`VK_EXT_swapchain_maintenance1` would); destroying the semaphore earlier
    /// is VUID-vkDestroySemaphore-semaphore-01137, which the validation layer reported
    /// intermittently when only the window's timeline value was waited for. Swapchain
    /// recreation (resize) waits for the device too, for the same reason (`Window::rebuild`).
    ///
    /// # Errors
    /// [`WindowError::UnknownWindow`]; device lost.
    pub fn destroy_window(&mut self, id: WindowId) -> Result<(), WindowError> {
        let index = self
            .windows
            .iter()
            .position(|w| w.id == id)
            .ok_or_else(|| unknown(id))?;
        let window = self.windows.remove(index);
        self.renderer.device.wait_idle()?;
        tracing::info!(?id, title = %window.desc.title, "window destroyed");
        drop(window);
        Ok(())
    }

    /// Number of live windows.
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Ids of the live windows, in creation order.
    pub fn window_ids(&self) -> Vec<WindowId> {
        self.windows.iter().map(|w| w.id).collect()
    }

    /// The live windows, in creation order.
    pub fn windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter()
    }

    /// The window with this id.
    pub fn window(&self, id: WindowId) -> Option<&Window> {
        self.windows.iter().find(|w| w.id == id)
    }

    fn window_mut_or_err(&mut self, id: WindowId) -> Result<&mut Window, WindowError> {
        self.windows
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| unknown(id))
    }

    /// Starts a frame into window `id`'s next swapchain image: recreates its swapchain first
    /// when its size changed or the last present/acquire reported it suboptimal or out of
    /// date (waiting for the device to idle, see `Window::rebuild`), waits until its acquire
    /// semaphore is free, acquires an image and starts a [`Frame`] (see [`Renderer::begin_frame`]) whose
    /// [`Frame::submit`] renders the window's frame graph into the image and presents it.
    /// Returns `None` (a skipped frame) while the window is minimised (size 0).
    ///
    /// A frame dropped without [`Frame::submit`] leaves its image acquired: the next call
    /// waits for the device to idle and recreates the window's swapchain and semaphores.
    ///
    /// # Errors
    /// [`WindowError::UnknownWindow`]; surface lost, device lost, out-of-memory.
    pub fn begin_frame(&mut self, id: WindowId) -> Result<Option<Frame<'_, Vulkan>>, WindowError> {
        let Engine {
            windows, renderer, ..
        } = self;
        let window = windows
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| unknown(id))?;
        if window.acquired.swap(false, Ordering::AcqRel) {
            // The previous frame was dropped after acquiring: its acquire semaphore is
            // signalled with nothing waiting for it. Start over with fresh ones.
            renderer.device.wait_idle()?;
            for (semaphore, value) in &mut window.acquire {
                *semaphore = Semaphore::new(&renderer.device)?;
                *value.get_mut() = 0;
            }
            window.stale.store(true, Ordering::Relaxed);
        }
        // The GPU times of this window's frames whose submission completed, without waiting.
        let completed = renderer.timeline.completed(&renderer.device)?;
        let period = renderer.capabilities().timestamp_period_ns;
        for slot in &mut window.slots {
            slot.poll_window_timestamps(&renderer.device, completed, period)?;
        }
        let mut acquired = None;
        for _attempt in 0..2 {
            if window.stale.load(Ordering::Relaxed) || window.built_for != Some(window.size) {
                window.rebuild(renderer)?;
            }
            let Some(sc) = &window.swapchain else {
                break;
            };
            let k = (window.frames_begun % FRAMES_IN_FLIGHT as u64) as usize;
            let (semaphore, used) = &window.acquire[k];
            let used = used.load(Ordering::Acquire);
            if used > 0 {
                renderer.timeline.wait(&renderer.device, used)?;
            }
            // SAFETY: the semaphore's last waiter (the submission with value `used`) completed
            // and every acquisition with it was waited for by a submission, or failed without
            // signalling it (out of date), or was dropped (handled above).
            match unsafe { sc.acquire(semaphore) }? {
                Acquired::Image { index, suboptimal } => {
                    if suboptimal {
                        window.stale.store(true, Ordering::Relaxed);
                    }
                    acquired = Some((k, index));
                    break;
                }
                Acquired::OutOfDate => window.stale.store(true, Ordering::Relaxed),
            }
        }
        let Some((k, index)) = acquired else {
            window.skipped += 1;
            return Ok(None);
        };
        window.frames_begun += 1;
        window.acquired.store(true, Ordering::Release);
        let Window {
            slots,
            swapchain,
            graph,
            post,
            acquire,
            last_submitted,
            stale,
            presented,
            acquired: pending,
            gpu_timings,
            ..
        } = window;
        let (Some(sc), Some(graph)) = (&*swapchain, &*graph) else {
            unreachable!("an image was acquired from the window's swapchain");
        };
        let (acquire_semaphore, acquire_used) = &acquire[k];
        let present_semaphore = sc.present_semaphore(index);
        let (last, stale, presented, pending) = (&*last_submitted, &*stale, &*presented, &*pending);
        let target = FrameTarget {
            gpu_timings: Arc::clone(gpu_timings),
            graph,
            post: post.as_ref(),
            image: sc.image(index),
            size: sc.extent(),
            submit: Box::new(move |queue, buffers, signal| {
                // SAFETY: the buffers satisfy `Queue::submit` (the frame's contract); the
                // acquire semaphore was signalled by this frame's acquisition and is waited for
                // once; the present semaphore of image `index` has no pending signal (the image
                // was acquired again, so its previous presentation consumed it).
                unsafe {
                    swapchain::submit(queue, buffers, signal, acquire_semaphore, present_semaphore)
                }?;
                acquire_used.store(signal.1, Ordering::Release);
                last.store(signal.1, Ordering::Release);
                pending.store(false, Ordering::Release);
                Ok(())
            }),
            present: Box::new(move |queue, _value| {
                // SAFETY: image `index` was acquired by this frame and the submission above
                // signals its present semaphore; it is presented once.
                if unsafe { sc.present(queue, index) }? {
                    stale.store(true, Ordering::Relaxed);
                }
                presented.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }),
        };
        // Slot `k` was last used by the submission that waited for acquire semaphore `k`
        // (waited for above), so `begin_frame_for`'s wait for it returns at once.
        Ok(Some(
            renderer.begin_frame_for(Some((target, &mut slots[k])))?,
        ))
    }

    /// Shuts the engine down: refuses while windows live (returning the engine inside the
    /// error), else waits for the GPU and destroys the renderer (pipelines, descriptors,
    /// allocator, device, instance, in that order).
    ///
    /// # Errors
    /// [`ShutdownRefused`] with [`WindowError::WindowsAlive`] naming the live windows.
    pub fn shutdown(self) -> Result<(), ShutdownRefused> {
        if !self.windows.is_empty() {
            let names = self.windows.iter().map(|w| w.desc.title.clone()).collect();
            return Err(ShutdownRefused {
                error: WindowError::WindowsAlive { names },
                engine: Box::new(self),
            });
        }
        drop(self);
        Ok(())
    }
}

fn unknown(id: WindowId) -> WindowError {
    WindowError::UnknownWindow {
        id: format!("{id:?}"),
    }
}

impl<B: RenderBackend> Drop for Engine<B> {
    fn drop(&mut self) {
        if !self.windows.is_empty() {
            tracing::warn!(
                windows = self.windows.len(),
                "engine dropped with live windows; destroying them"
            );
        }
        if !self.windows.is_empty() {
            // As in `destroy_window`: the last presents' semaphore waits end with an idle queue.
            if let Err(e) = self.renderer.device.wait_idle() {
                tracing::error!(error = %e, "waiting for the GPU before destroying windows failed");
            }
            self.windows.clear();
        }
    }
}

impl<B: RenderBackend> std::fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("renderer", &self.renderer)
            .field("windows", &self.windows)
            .finish()
    }
}

/// [`Engine::shutdown`] refused: the error and the engine, still alive.
pub struct ShutdownRefused<B: RenderBackend = Vulkan> {
    /// Why ([`WindowError::WindowsAlive`]).
    pub error: WindowError,
    /// The engine, unchanged.
    pub engine: Box<Engine<B>>,
}

impl<B: RenderBackend> std::fmt::Debug for ShutdownRefused<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownRefused")
            .field("error", &self.error)
            .field("engine", &self.engine)
            .finish()
    }
}

impl<B: RenderBackend> std::fmt::Display for ShutdownRefused<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<B: RenderBackend> std::error::Error for ShutdownRefused<B> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    /// The engine can move to (and be shared with) another thread, as its backend can; a
    /// window's frame is built on the thread that owns the engine.
    #[test]
    fn engine_is_send_and_sync_like_its_backend() {
        send_sync::<Vulkan>();
        send_sync::<Engine<Vulkan>>();
        send_sync::<Engine>();
        send_sync::<ShutdownRefused>();
    }
}
