//! The showcase as a [`FrameApp`]: its ECS world is simulated in Update, copied into an owned
//! snapshot in Extract, drawn in Record, and written as PNG files (headless) in Present. The
//! frame loop itself is the [`FrameRunner`](macrokid_graphics::app::FrameRunner)'s.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use glam::{Mat4, Vec3};
use macrokid_ecs::World;
use macrokid_graphics::app::{BoxError, Delivered, FrameApp, FrameSnapshot};
use macrokid_graphics::vulkan::Vulkan;
use macrokid_graphics::{Camera, Frame, FrameImage, InstanceData};
use macrokid_threads::{Schedule as _, Scheduler, ThreadPool};

use crate::model::GpuModel;
use crate::sim::{Bounds, Instances, Tick, Time};

/// Where finished frames go.
pub(crate) enum Sink {
    /// PNG files in a folder, with `.points` files when `points` (see `--dump-points`).
    Files {
        /// The folder.
        out: PathBuf,
        /// Also write the projected instance centres.
        points: bool,
    },
    /// A window presents them; nothing is written.
    Window,
}

/// The world, its schedule and what drawing it needs.
pub(crate) struct Showcase {
    pub(crate) world: World,
    tick: Tick,
    /// Position of the ECS schedule's `extract` stage; the stages before it are Update.
    extract_stage: usize,
    scheduler: Scheduler,
    pool: Arc<ThreadPool>,
    threads: usize,
    model: GpuModel,
    dt: f32,
    bounds: Bounds,
    /// `width / height` of the target, as `f32` bits (a window's changes between frames).
    aspect: Arc<AtomicU32>,
    sink: Sink,
}

impl Showcase {
    #[expect(clippy::too_many_arguments, reason = "one call site, named fields")]
    pub(crate) fn new(
        world: World,
        scheduler: Scheduler,
        pool: Arc<ThreadPool>,
        threads: usize,
        model: GpuModel,
        dt: f32,
        bounds: Bounds,
        sink: Sink,
    ) -> Showcase {
        let extract_stage = Tick::plan()
            .stage_index("extract")
            .expect("the showcase schedule has an `extract` stage");
        Showcase {
            world,
            tick: Tick::new(),
            extract_stage,
            scheduler,
            pool,
            threads,
            model,
            dt,
            bounds,
            aspect: Arc::new(AtomicU32::new(1.0f32.to_bits())),
            sink,
        }
    }

    /// A handle to the aspect ratio the camera uses, for the window's event handling.
    pub(crate) fn aspect(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.aspect)
    }

    fn run_stages(&mut self, stages: std::ops::Range<usize>) -> Result<(), BoxError> {
        for stage in stages {
            self.world
                .run_stage(&mut self.tick, &self.scheduler, stage)?;
        }
        Ok(())
    }
}

/// The light's direction (world space, travelling down and away).
fn light_dir() -> Vec3 {
    Vec3::new(-0.4, -1.0, -0.6).normalize()
}

/// The view-projection matrix looking at a box of `half_extent` from the
/// front and a little above; Vulkan clip space (y down, depth 0..1).
pub(crate) fn camera(half_extent: Vec3, aspect: f32) -> Mat4 {
    let distance = half_extent.length() * 1.45;
    let eye = Vec3::new(0.0, half_extent.y * 0.8, distance);
    let view = Mat4::look_at_rh(eye, Vec3::ZERO, Vec3::Y);
    let mut proj = Mat4::perspective_rh(45f32.to_radians(), aspect, 0.1, distance * 3.0);
    proj.y_axis.y *= -1.0; // Vulkan's y points down.
    proj * view
}

impl FrameApp<Vulkan> for Showcase {
    /// The ECS schedule's stages before `extract` (update, lifecycle).
    fn update(&mut self, _frame: u64) -> Result<(), BoxError> {
        let time = self.world.resource_mut::<Time>()?;
        time.dt = self.dt;
        time.elapsed += self.dt;
        self.run_stages(0..self.extract_stage)
    }

    /// The ECS `extract` stage (and any after it), then the instances as an owned snapshot.
    fn extract(&mut self, _frame: u64) -> Result<FrameSnapshot, BoxError> {
        let stages = Tick::plan().stages().len();
        self.run_stages(self.extract_stage..stages)?;
        let instances: Arc<[InstanceData]> = Arc::from(&self.world.resource::<Instances>()?.0[..]);
        let aspect = f32::from_bits(self.aspect.load(Ordering::Relaxed));
        Ok(FrameSnapshot {
            instances,
            camera: Camera {
                view_proj: camera(self.bounds.half_extent, aspect),
                light_dir: light_dir(),
                ..Camera::default()
            },
        })
    }

    /// Secondary command buffers on the worker threads.
    fn record(
        &mut self,
        frame: &mut Frame<'_, Vulkan>,
        _snapshot: &FrameSnapshot,
    ) -> Result<(), BoxError> {
        let threads = self.threads;
        let model = &self.model;
        Ok(self.pool.install(|| model.draw(frame, threads))?)
    }

    /// Headless: writes `frame_NNNN.png` (and `.points`).
    fn deliver(&mut self, delivered: Delivered) -> Result<(), BoxError> {
        let (
            Sink::Files { out, points },
            Delivered::Image {
                frame,
                image,
                snapshot,
            },
        ) = (&self.sink, delivered)
        else {
            return Ok(());
        };
        let path = out.join(format!("frame_{frame:04}.png"));
        save_png_atomically(&image, &path)?;
        if *points {
            write_points(
                out,
                frame,
                &snapshot.instances,
                snapshot.camera.view_proj,
                &image,
            )?;
        }
        Ok(())
    }
}

/// Writes `image` to `path` through a temporary file in the same folder and a rename, so
/// `path` either does not exist or holds a whole PNG, even if the process dies mid-write.
fn save_png_atomically(image: &FrameImage, path: &Path) -> Result<(), String> {
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
    out: &Path,
    frame_index: u64,
    instances: &[InstanceData],
    view_proj: Mat4,
    image: &FrameImage,
) -> Result<(), String> {
    use std::fmt::Write as _;
    let (width, height) = (image.width, image.height);
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
