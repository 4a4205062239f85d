//! [`FrameRunner`]: the frame as a schedule. Each frame runs the stages
//! Update → Extract → Prepare → Record → Submit → Present ([`FRAME_STAGES`]) as stages of a
//! [`Plan`] built by `macrokid_core`'s planner and executed by a `macrokid_threads`
//! [`Scheduler`]; the times of every stage and system come from a [`SchedulerObserver`]
//! installed on that scheduler ([`FrameReport`]).
//!
//! The user supplies the state and its systems through [`FrameApp`] (what to simulate, what
//! to draw, what to do with a finished frame) and where frames go through [`RenderTarget`]
//! (a headless [`Renderer`], or a window); the runner owns the frame loop. The ECS, if any,
//! stays the user's business: `update` and `extract` run whatever schedule the user has.
//!
//! # Overlap (frames in flight)
//! Extract returns an owned [`FrameSnapshot`] (`Arc<[InstanceData]>` and a [`Camera`]): the
//! renderer never borrows the simulation's state, so the next frame's Update can run while
//! the GPU renders this one. A headless frame is read back one frame late: the Present stage of
//! frame N reads back frame N − 1, after frame N was submitted. So for every frame N:
//!
//! ```text
//! Submit(N) → Update(N+1) → Extract(N+1) → Prepare(N+1) → Record(N+1) → Submit(N+1) → read back N
//! ```
//!
//! and the GPU renders frame N while the CPU runs Update..Submit of frame N + 1: two frames
//! in flight ([`FRAMES_IN_FLIGHT`](crate::FRAMES_IN_FLIGHT)), paced by the renderer's timeline
//! semaphore (Prepare's `begin-frame` waits for the frame slot's previous submission).
//! [`FrameRunner::finish`] reads back the last frame. A window presents each frame in its own
//! Submit stage (`Frame::present` submits and queues the present in one call), so nothing is
//! pending between frames there; the swapchain and the timeline pace it.
//!
//! # The plan
//! | stage | systems (in batch order) | what they do |
//! |---|---|---|
//! | `update` | `update` | [`FrameApp::update`] |
//! | `extract` | `extract` | [`FrameApp::extract`] → [`FrameSnapshot`] |
//! | `prepare` | `begin-frame`, `upload` | [`RenderTarget::begin_frame`] (waits for the frame slot, or acquires the swapchain image); camera and instance upload |
//! | `record` | `record` | [`FrameApp::record`] (secondary command buffers, on the user's threads) |
//! | `submit` | `submit` | [`Frame::submit`] (headless) or [`Frame::present`] (window) |
//! | `present` | `read-back`, `deliver` | [`RenderTarget::read_back`] of the previous frame (waits for the GPU); [`FrameApp::deliver`] |
//!
//! The systems of a stage write a common resource (the frame, the pending frame), so the
//! planner puts each in its own batch and they run in the order above.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
pub use macrokid_threads::BoxError;
use macrokid_threads::{
    ScheduleError, Scheduler, SchedulerObserver, StageReport, SystemReport, SystemTask,
};

use crate::hal::RenderBackend;
use crate::{Camera, Frame, FrameImage, FrameTicket, FrameTimings, InstanceData, Renderer};

/// The frame stages, in execution order.
pub const FRAME_STAGES: [&str; 6] = [
    "update", "extract", "prepare", "record", "submit", "present",
];

/// What Extract hands the renderer: owned, immutable, cheap to clone (`Arc`). Keeping it
/// owned lets the simulation go on while the frame is rendered and read back.
#[derive(Clone, Debug)]
pub struct FrameSnapshot {
    /// One instance per drawn object; [`Frame::upload_instances`] copies them in Prepare.
    pub instances: Arc<[InstanceData]>,
    /// The camera of the frame ([`Frame::set_view`] in Prepare).
    pub camera: Camera,
}

/// A finished frame, handed to [`FrameApp::deliver`] in the Present stage.
#[derive(Debug)]
#[non_exhaustive]
pub enum Delivered {
    /// A headless frame, read back: its image and the snapshot it was drawn from.
    Image {
        /// The runner's frame index (0 for the first frame of the run).
        frame: u64,
        /// The pixels ([`FrameImage::frame`] is the renderer's frame number).
        image: FrameImage,
        /// What was drawn.
        snapshot: FrameSnapshot,
    },
    /// A window frame: submitted and queued for presentation.
    Presented {
        /// The runner's frame index.
        frame: u64,
        /// What was drawn.
        snapshot: FrameSnapshot,
    },
}

/// Where a [`FrameRunner`]'s frames go: a headless [`Renderer`] (frames are read back), or a
/// window (frames are presented). `Send`: the runner calls it from the scheduler's systems.
pub trait RenderTarget<B: RenderBackend>: Send {
    /// The renderer (uploads, validation counts).
    fn renderer(&self) -> &Renderer<B>;

    /// Whether frames are read back ([`RenderTarget::read_back`]); `false` for a window,
    /// whose frames are presented by [`Frame::present`].
    fn reads_back(&self) -> bool;

    /// Starts a frame; `None` skips drawing this frame (a minimised window): the frame's
    /// Update and Extract still ran.
    ///
    /// # Errors
    /// Whatever the target reports (device lost, surface lost); the runner names the stage
    /// (`prepare`) and system (`begin-frame`).
    fn begin_frame(&mut self) -> Result<Option<Frame<'_, B>>, BoxError>;

    /// Waits for a submitted frame and copies its image to host memory.
    ///
    /// # Errors
    /// Whatever the target reports; a target that does not read back returns an error.
    fn read_back(&mut self, ticket: FrameTicket) -> Result<FrameImage, BoxError>;
}

impl<B: RenderBackend> RenderTarget<B> for Renderer<B> {
    fn renderer(&self) -> &Renderer<B> {
        self
    }

    fn reads_back(&self) -> bool {
        true
    }

    fn begin_frame(&mut self) -> Result<Option<Frame<'_, B>>, BoxError> {
        Ok(Some(Renderer::begin_frame(self)?))
    }

    fn read_back(&mut self, ticket: FrameTicket) -> Result<FrameImage, BoxError> {
        Ok(Renderer::read_back(self, ticket)?)
    }
}

/// The user's state and systems, run by a [`FrameRunner`]. `Send`: each method runs as a
/// system of the frame schedule.
pub trait FrameApp<B: RenderBackend>: Send {
    /// Update: advances the simulation by one frame (`frame` = 0 for the run's first).
    ///
    /// # Errors
    /// Whatever the simulation reports; the run stops with [`RunError::Stage`].
    fn update(&mut self, frame: u64) -> Result<(), BoxError>;

    /// Extract: an owned snapshot of what frame `frame` draws.
    ///
    /// # Errors
    /// As [`FrameApp::update`].
    fn extract(&mut self, frame: u64) -> Result<FrameSnapshot, BoxError>;

    /// Record: draws into `frame`, whose camera and instances (`snapshot`'s) are uploaded;
    /// e.g. [`Frame::draw_instanced`] (secondary command buffers on worker threads).
    ///
    /// # Errors
    /// As [`FrameApp::update`].
    fn record(
        &mut self,
        frame: &mut Frame<'_, B>,
        snapshot: &FrameSnapshot,
    ) -> Result<(), BoxError>;

    /// Present: a frame is finished (read back, or presented). The default does nothing.
    ///
    /// # Errors
    /// As [`FrameApp::update`].
    fn deliver(&mut self, delivered: Delivered) -> Result<(), BoxError> {
        let _ = delivered;
        Ok(())
    }
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A system of the frame schedule failed or panicked; the error names the stage and
    /// the system (e.g. stage `prepare`, system `begin-frame`).
    #[error(transparent)]
    Stage(#[from] ScheduleError),
    /// The `control` callback of [`FrameRunner::run`] returned an error.
    #[error("between frames: {0}")]
    Control(BoxError),
}

/// The time of one stage or system run, as the scheduler's observer saw it.
#[derive(Clone, Debug)]
pub struct Timing {
    /// The stage.
    pub stage: String,
    /// The system; `None` for the stage as a whole.
    pub system: Option<String>,
    /// When it started (its end, when the observer was called, minus its duration).
    pub started: Instant,
    /// Wall-clock time.
    pub duration: Duration,
}

impl Timing {
    /// When it ended.
    pub fn ended(&self) -> Instant {
        self.started + self.duration
    }
}

/// What one frame of a [`FrameRunner`] did and how long each part took.
#[derive(Clone, Debug)]
pub struct FrameReport {
    /// The runner's frame index that went through Update..Submit; `None` for
    /// [`FrameRunner::finish`], which only presents.
    pub frame: Option<u64>,
    /// The stages that ran, in order, from the observer.
    pub stages: Vec<Timing>,
    /// The systems that ran, in order of completion, from the observer.
    pub systems: Vec<Timing>,
    /// Wall-clock time of the whole frame (all its stages).
    pub wall: Duration,
    /// Whether the target skipped drawing (a minimised window).
    pub skipped: bool,
    /// The runner's frame index delivered in this frame's Present stage (headless: the
    /// previous frame; window: this one), if any.
    pub delivered: Option<u64>,
    /// The renderer's timings of the frame read back in this Present stage (GPU pass times
    /// from timestamp queries, read-back wait); `None` for windows.
    pub read_back: Option<FrameTimings>,
}

impl FrameReport {
    /// The observed time of stage `stage`, `None` when it did not run.
    pub fn stage(&self, stage: &str) -> Option<Duration> {
        self.stages
            .iter()
            .find(|t| t.stage == stage)
            .map(|t| t.duration)
    }

    /// The observed time of `system` in `stage`, `None` when it did not run.
    pub fn system(&self, stage: &str, system: &str) -> Option<Duration> {
        self.systems
            .iter()
            .find(|t| t.stage == stage && t.system.as_deref() == Some(system))
            .map(|t| t.duration)
    }

    /// The full timing record of `system` in `stage`.
    pub fn system_timing(&self, stage: &str, system: &str) -> Option<&Timing> {
        self.systems
            .iter()
            .find(|t| t.stage == stage && t.system.as_deref() == Some(system))
    }

    /// Host time spent waiting for the GPU: `prepare/begin-frame` (the frame slot's previous
    /// submission, or the swapchain image) plus `present/read-back` (the previous frame).
    /// The read-back includes copying the image out of mapped memory.
    pub fn gpu_wait(&self) -> Duration {
        self.system("prepare", "begin-frame").unwrap_or_default()
            + self.system("present", "read-back").unwrap_or_default()
    }

    /// The sum of the stage times.
    pub fn stage_sum(&self) -> Duration {
        self.stages.iter().map(|t| t.duration).sum()
    }
}

/// How a [`FrameRunner::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunSummary {
    /// Frames that went through Update..Submit.
    pub frames: u64,
    /// Whether `control` stopped the run before the frame limit.
    pub stopped: bool,
}

/// Records the frame scheduler's reports and forwards them to the user's observer.
struct Recorder {
    log: Mutex<Vec<Timing>>,
    forward: Option<Arc<dyn SchedulerObserver>>,
}

impl Recorder {
    fn push(&self, stage: &str, system: Option<&str>, duration: Duration) {
        let ended = Instant::now();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Timing {
                stage: stage.to_owned(),
                system: system.map(str::to_owned),
                started: ended.checked_sub(duration).unwrap_or(ended),
                duration,
            });
    }

    fn take(&self) -> Vec<Timing> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl SchedulerObserver for Recorder {
    fn on_system(&self, report: &SystemReport<'_>) {
        self.push(report.stage, Some(report.system), report.duration);
        if let Some(forward) = &self.forward {
            forward.on_system(report);
        }
    }

    fn on_stage(&self, report: &StageReport<'_>) {
        self.push(report.stage, None, report.duration);
        if let Some(forward) = &self.forward {
            forward.on_stage(report);
        }
    }
}

/// A frame submitted and not read back yet.
struct Pending {
    frame: u64,
    ticket: FrameTicket,
    snapshot: FrameSnapshot,
}

/// Position of each stage in the plan (a chain, so `0..6`).
const UPDATE: usize = 0;
const EXTRACT: usize = 1;
const PREPARE: usize = 2;
const RECORD: usize = 3;
const SUBMIT: usize = 4;
const PRESENT: usize = 5;

/// The frame loop as a schedule; see the [module documentation](self).
///
/// ```
/// # #[cfg(feature = "vulkan")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::ops::ControlFlow;
/// use std::sync::Arc;
/// use glam::{Mat4, Vec3};
/// use macrokid_graphics::app::{BoxError, Delivered, FrameApp, FrameRunner, FrameSnapshot};
/// use macrokid_graphics::{
///     vulkan::Vulkan, Camera, Frame, InstanceData, Mesh, MeshHandle, RendererConfig,
///     VulkanRenderer,
/// };
///
/// struct Spinner { cube: MeshHandle, angle: f32, images: Vec<u64> }
///
/// impl FrameApp<Vulkan> for Spinner {
///     fn update(&mut self, _frame: u64) -> Result<(), BoxError> {
///         self.angle += 0.1;
///         Ok(())
///     }
///     fn extract(&mut self, _frame: u64) -> Result<FrameSnapshot, BoxError> {
///         let model = Mat4::from_rotation_y(self.angle);
///         Ok(FrameSnapshot {
///             instances: Arc::from([InstanceData::new(model, [1.0, 0.5, 0.2, 1.0])]),
///             camera: Camera::look_at(Vec3::new(2.0, 1.5, 2.5), Vec3::ZERO, 0.9, 1.0, 0.1, 10.0),
///         })
///     }
///     fn record(&mut self, frame: &mut Frame<'_, Vulkan>, _: &FrameSnapshot) -> Result<(), BoxError> {
///         Ok(frame.draw_instanced(self.cube)?)
///     }
///     fn deliver(&mut self, delivered: Delivered) -> Result<(), BoxError> {
///         if let Delivered::Image { frame, .. } = delivered {
///             self.images.push(frame); // or image.save_png(..)
///         }
///         Ok(())
///     }
/// }
///
/// let mut renderer = VulkanRenderer::new(RendererConfig::default().size(64, 64))?;
/// let cube = renderer.upload_mesh(&Mesh::cube())?;
/// let mut app = Spinner { cube, angle: 0.0, images: Vec::new() };
/// let mut runner = FrameRunner::new();
/// let summary = runner.run(&mut renderer, &mut app, 3, |_, report| {
///     if let Some(report) = report {
///         assert!(report.stage("update").is_some() || report.frame.is_none());
///     }
///     Ok(ControlFlow::Continue(()))
/// })?;
/// assert_eq!(summary.frames, 3);
/// assert_eq!(app.images, [0, 1, 2]);
/// assert_eq!(renderer.validation_counts().total(), 0);
/// # Ok(()) }
/// # #[cfg(not(feature = "vulkan"))]
/// # fn main() {}
/// ```
pub struct FrameRunner {
    plan: Plan,
    scheduler: Scheduler,
    recorder: Arc<Recorder>,
    pending: Option<Pending>,
    next_frame: u64,
    overlap: bool,
}

impl Default for FrameRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FrameRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameRunner")
            .field("next_frame", &self.next_frame)
            .field("pending", &self.pending.as_ref().map(|p| p.frame))
            .finish()
    }
}

/// A runtime-declared resource of the frame plan.
fn resource(index: u64, name: &'static str) -> ResourceId {
    ResourceId::dynamic("frame-runner", index, name)
}

impl FrameRunner {
    /// A runner with its frame [`Plan`] (see the [module documentation](self)).
    ///
    /// Its scheduler is single-threaded: every system of the frame plan writes what the next
    /// one reads, so none could run beside another; the parallel work happens inside the
    /// systems (the user's ECS scheduler in `update`, recording threads in `record`).
    pub fn new() -> FrameRunner {
        Self::build(None)
    }

    /// [`FrameRunner::new`], forwarding every stage and system report of the frame
    /// scheduler to `observer` too (e.g. `PrometheusMetrics`).
    pub fn with_observer(observer: Arc<dyn SchedulerObserver>) -> FrameRunner {
        Self::build(Some(observer))
    }

    fn build(forward: Option<Arc<dyn SchedulerObserver>>) -> FrameRunner {
        let app = resource(0, "app state");
        let snapshot = resource(1, "frame snapshot");
        let frame = resource(2, "frame");
        let target = resource(3, "render target");
        let pending = resource(4, "pending frame");
        let system = |name: &'static str, reads: &[ResourceId], writes: &[ResourceId]| {
            let mut access = ResourceAccess::new();
            for &r in reads {
                access.add_read(r);
            }
            for &w in writes {
                access.add_write(w);
            }
            SystemDescriptor::new(name, access)
        };
        let stages = [
            StageDescriptor::new("update").with_system(system("update", &[], &[app])),
            StageDescriptor::new("extract")
                .after("update")
                .with_system(system("extract", &[], &[app, snapshot])),
            StageDescriptor::new("prepare")
                .after("extract")
                .with_system(system("begin-frame", &[], &[target, frame]))
                .with_system(system("upload", &[snapshot], &[frame])),
            StageDescriptor::new("record")
                .after("prepare")
                .with_system(system("record", &[snapshot], &[app, frame])),
            StageDescriptor::new("submit")
                .after("record")
                .with_system(system("submit", &[snapshot], &[frame, pending])),
            StageDescriptor::new("present")
                .after("submit")
                .with_system(system("read-back", &[], &[target, pending]))
                .with_system(system("deliver", &[pending], &[app])),
        ];
        let plan = Plan::build(stages).expect("the frame plan is a chain of six distinct stages");
        debug_assert!(plan
            .stages()
            .iter()
            .map(|s| s.name())
            .eq(FRAME_STAGES.iter().copied()));
        let recorder = Arc::new(Recorder {
            log: Mutex::new(Vec::new()),
            forward,
        });
        let scheduler = Scheduler::single_threaded().with_observer(Arc::clone(&recorder) as _);
        FrameRunner {
            plan,
            scheduler,
            recorder,
            pending: None,
            next_frame: 0,
            overlap: true,
        }
    }

    /// Builder: whether a headless frame is read back one frame late, in the next frame's
    /// Present stage (`true`, the default: the GPU renders frame N while frame N + 1 is
    /// simulated), or in its own Present stage (`false`: Present waits for the GPU right after
    /// Submit, nothing overlaps; the baseline the overlap is measured against).
    #[must_use]
    pub fn overlap(mut self, overlap: bool) -> FrameRunner {
        self.overlap = overlap;
        self
    }

    /// The frame plan: [`FRAME_STAGES`] in order, each split into batches by the planner.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Frames run so far (the next frame's index).
    pub fn frames(&self) -> u64 {
        self.next_frame
    }

    /// The runner's index of the frame submitted and not read back yet, if any.
    pub fn pending(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.frame)
    }

    /// Runs one frame: all six stages. Present reads back and delivers the frame submitted
    /// by the previous call (headless) or delivers this one (window).
    ///
    /// # Errors
    /// [`RunError::Stage`] naming the stage and system that failed; the frame is dropped
    /// (a frame that was begun and not submitted is discarded).
    pub fn frame<B, T, A>(&mut self, target: &mut T, app: &mut A) -> Result<FrameReport, RunError>
    where
        B: RenderBackend,
        T: RenderTarget<B>,
        A: FrameApp<B>,
    {
        let started = Instant::now();
        let _ = self.recorder.take();
        let number = self.next_frame;
        self.next_frame += 1;
        let stages = self.plan.stages();
        let scheduler = &self.scheduler;
        let reads_back = target.reads_back();

        // Update.
        let mut update = || app.update(number);
        scheduler.run_stage(&stages[UPDATE], &mut [&mut update as SystemTask<'_>])?;

        // Extract.
        let mut snapshot: Option<FrameSnapshot> = None;
        let mut extract = || {
            snapshot = Some(app.extract(number)?);
            Ok(())
        };
        scheduler.run_stage(&stages[EXTRACT], &mut [&mut extract as SystemTask<'_>])?;
        let snapshot = snapshot.expect("extract succeeded, so it stored the snapshot");

        // Prepare, Record, Submit: the frame borrows the target until it is submitted.
        let (ticket, skipped) = {
            let cell: Mutex<Option<Frame<'_, B>>> = Mutex::new(None);
            let lock = || cell.lock().unwrap_or_else(PoisonError::into_inner);
            let mut once = Some(&mut *target);
            let mut begin = || {
                let target = once.take().expect("begin-frame runs once per frame");
                *lock() = target.begin_frame()?;
                Ok(())
            };
            let mut upload = || {
                if let Some(frame) = lock().as_mut() {
                    frame.set_view(snapshot.camera);
                    frame.upload_instances(&snapshot.instances)?;
                }
                Ok(())
            };
            scheduler.run_stage(
                &stages[PREPARE],
                &mut [&mut begin as SystemTask<'_>, &mut upload],
            )?;
            let skipped = lock().is_none();

            let mut record = || match lock().as_mut() {
                Some(frame) => app.record(frame, &snapshot),
                None => Ok(()),
            };
            scheduler.run_stage(&stages[RECORD], &mut [&mut record as SystemTask<'_>])?;

            let mut ticket = None;
            let mut submit = || {
                let Some(frame) = lock().take() else {
                    return Ok(());
                };
                if reads_back {
                    ticket = Some(frame.submit()?);
                } else {
                    frame.present()?;
                }
                Ok(())
            };
            scheduler.run_stage(&stages[SUBMIT], &mut [&mut submit as SystemTask<'_>])?;
            (ticket, skipped)
        };

        // Present: read back the previous frame (headless) or deliver this one (window).
        let this = ticket.map(|ticket| Pending {
            frame: number,
            ticket,
            snapshot: snapshot.clone(),
        });
        let delivery = if reads_back && !self.overlap {
            this.map(Delivery::ReadBack)
        } else if reads_back {
            std::mem::replace(&mut self.pending, this).map(Delivery::ReadBack)
        } else if skipped {
            None
        } else {
            Some(Delivery::Presented(number, snapshot))
        };
        let (delivered, read_back) = self.present(target, app, delivery)?;
        Ok(self.report(Some(number), started, skipped, delivered, read_back))
    }

    /// Ends a run: reads back and delivers the frame still pending (headless), running only
    /// the Present stage. `None` when nothing was pending.
    ///
    /// # Errors
    /// [`RunError::Stage`] naming `present` and the failing system.
    pub fn finish<B, T, A>(
        &mut self,
        target: &mut T,
        app: &mut A,
    ) -> Result<Option<FrameReport>, RunError>
    where
        B: RenderBackend,
        T: RenderTarget<B>,
        A: FrameApp<B>,
    {
        let Some(pending) = self.pending.take() else {
            return Ok(None);
        };
        let started = Instant::now();
        let _ = self.recorder.take();
        let (delivered, read_back) =
            self.present(target, app, Some(Delivery::ReadBack(pending)))?;
        Ok(Some(
            self.report(None, started, false, delivered, read_back),
        ))
    }

    /// Runs up to `frames` frames, then [`FrameRunner::finish`]. `control` runs on the
    /// calling thread before the first frame (`None`) and after every frame (its report,
    /// the final one included): pump window events, check a shutdown flag, draw progress,
    /// collect the reports. [`ControlFlow::Break`] stops after the frame in flight (it is
    /// still read back and delivered).
    ///
    /// # Errors
    /// [`RunError::Stage`] from a frame; [`RunError::Control`] from `control`.
    pub fn run<B, T, A, C>(
        &mut self,
        target: &mut T,
        app: &mut A,
        frames: u64,
        mut control: C,
    ) -> Result<RunSummary, RunError>
    where
        B: RenderBackend,
        T: RenderTarget<B>,
        A: FrameApp<B>,
        C: FnMut(&mut T, Option<&FrameReport>) -> Result<ControlFlow<()>, BoxError>,
    {
        let mut summary = RunSummary {
            frames: 0,
            stopped: false,
        };
        let mut flow = control(target, None).map_err(RunError::Control)?;
        while summary.frames < frames {
            if flow.is_break() {
                summary.stopped = true;
                break;
            }
            let report = self.frame(target, app)?;
            summary.frames += 1;
            flow = control(target, Some(&report)).map_err(RunError::Control)?;
        }
        if let Some(report) = self.finish(target, app)? {
            // Nothing is left to stop: the flow is ignored.
            let _ = control(target, Some(&report)).map_err(RunError::Control)?;
        }
        Ok(summary)
    }

    /// The Present stage: `read-back` (headless) then `deliver`.
    fn present<B, T, A>(
        &self,
        target: &mut T,
        app: &mut A,
        delivery: Option<Delivery>,
    ) -> Result<(Option<u64>, Option<FrameTimings>), RunError>
    where
        B: RenderBackend,
        T: RenderTarget<B>,
        A: FrameApp<B>,
    {
        let mut delivery = delivery;
        // Handed from `read-back` to `deliver` (two systems of one stage share it).
        let ready: Mutex<Option<Delivered>> = Mutex::new(None);
        let mut read_back_timings = None;
        let mut read_back = || {
            *ready.lock().unwrap_or_else(PoisonError::into_inner) = match delivery.take() {
                None => None,
                Some(Delivery::ReadBack(p)) => {
                    let image = target.read_back(p.ticket)?;
                    read_back_timings = Some(image.timings);
                    Some(Delivered::Image {
                        frame: p.frame,
                        image,
                        snapshot: p.snapshot,
                    })
                }
                Some(Delivery::Presented(frame, snapshot)) => {
                    Some(Delivered::Presented { frame, snapshot })
                }
            };
            Ok(())
        };
        let mut delivered = None;
        let mut deliver = || {
            let Some(d) = ready.lock().unwrap_or_else(PoisonError::into_inner).take() else {
                return Ok(());
            };
            delivered = Some(match &d {
                Delivered::Image { frame, .. } | Delivered::Presented { frame, .. } => *frame,
            });
            app.deliver(d)
        };
        self.scheduler.run_stage(
            &self.plan.stages()[PRESENT],
            &mut [&mut read_back as SystemTask<'_>, &mut deliver],
        )?;
        Ok((delivered, read_back_timings))
    }

    fn report(
        &self,
        frame: Option<u64>,
        started: Instant,
        skipped: bool,
        delivered: Option<u64>,
        read_back: Option<FrameTimings>,
    ) -> FrameReport {
        let wall = started.elapsed();
        let (stages, systems) = self
            .recorder
            .take()
            .into_iter()
            .partition(|t| t.system.is_none());
        FrameReport {
            frame,
            stages,
            systems,
            wall,
            skipped,
            delivered,
            read_back,
        }
    }
}

/// What the Present stage hands on.
enum Delivery {
    ReadBack(Pending),
    Presented(u64, FrameSnapshot),
}
