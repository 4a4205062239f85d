//! The timing table the showcase prints, built from the frame runner's reports (stage and
//! system times from the scheduler's observer, GPU pass times from timestamp queries).

use std::time::Duration;

use macrokid_graphics::app::FrameReport;

/// One full frame's times.
#[derive(Clone, Debug, Default)]
struct Row {
    /// `(stage, system)` → time; `system` is `None` for the whole stage. In run order.
    times: Vec<(String, Option<String>, Duration)>,
    /// Host time waiting for the GPU (frame slot, read-back).
    gpu_wait: Duration,
    /// GPU time of the geometry and post passes of the frame read back in this frame.
    gpu_geometry: Duration,
    gpu_post: Duration,
    /// Wall time of the frame.
    wall: Duration,
}

impl Row {
    fn get(&self, stage: &str, system: Option<&str>) -> Option<Duration> {
        self.times
            .iter()
            .find(|(s, y, _)| s == stage && y.as_deref() == system)
            .map(|(.., d)| *d)
    }

    fn stage_sum(&self) -> Duration {
        self.times
            .iter()
            .filter(|(_, y, _)| y.is_none())
            .map(|(.., d)| *d)
            .sum()
    }

    /// What the frame would take without overlap, at least: the stages' host work (their
    /// time less the waits for the GPU) plus the GPU passes.
    fn serial(&self) -> Duration {
        self.stage_sum().saturating_sub(self.gpu_wait) + self.gpu_geometry + self.gpu_post
    }
}

/// Every frame's times, and the time of the `present/deliver` system (PNG writing) over the
/// whole run.
#[derive(Debug, Default)]
pub(crate) struct Table {
    frames: Vec<Row>,
    deliver: Duration,
}

impl Table {
    /// Adds a runner report: a full frame becomes a row; the final read-back
    /// ([`FrameRunner::finish`](macrokid_graphics::app::FrameRunner::finish)) only adds its
    /// delivery time.
    pub(crate) fn push(&mut self, report: &FrameReport) {
        self.deliver += report.system("present", "deliver").unwrap_or_default();
        if report.frame.is_none() || report.skipped {
            return;
        }
        let times = report
            .stages
            .iter()
            .map(|t| (t.stage.clone(), None, t.duration))
            .chain(
                report
                    .systems
                    .iter()
                    .map(|t| (t.stage.clone(), t.system.clone(), t.duration)),
            )
            .collect();
        let timings = report.read_back.unwrap_or_default();
        self.frames.push(Row {
            times,
            gpu_wait: report.gpu_wait(),
            gpu_geometry: timings.gpu_geometry,
            gpu_post: timings.gpu_post,
            wall: report.wall,
        });
    }

    /// Fills the latest row's GPU pass times from a window's timestamp queries: the times of
    /// the window's latest frame whose submission completed, which trail the row's frame by one
    /// or two frames ([`Window::gpu_timings`](macrokid_graphics::window::Window::gpu_timings)).
    /// Window frames are not read back, so this is their only source of GPU times.
    pub(crate) fn window_gpu(&mut self, timings: Option<macrokid_graphics::GpuTimings>) {
        if let (Some(row), Some(t)) = (self.frames.last_mut(), timings) {
            if row.gpu_geometry.is_zero() {
                row.gpu_geometry = t.geometry;
                row.gpu_post = t.post;
            }
        }
    }

    /// Prints median, mean and max per stage (and per system of the stages that have several)
    /// in milliseconds; the GPU passes; the frame's wall time against what it would take
    /// without overlap; then frames per second over the whole loop (`wall`, including PNG
    /// encoding) and without the PNG encoding.
    pub(crate) fn print(&self, frames: u64, wall: Duration) {
        println!();
        println!(
            "{:<14} {:>10} {:>10} {:>10}",
            "stage", "median ms", "mean ms", "max ms"
        );
        let column = |f: &dyn Fn(&Row) -> Duration| -> (f64, f64, f64) {
            let mut v: Vec<f64> = self
                .frames
                .iter()
                .map(|t| f(t).as_secs_f64() * 1e3)
                .collect();
            v.sort_by(f64::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let max = v.last().copied().unwrap_or(0.0);
            (median, mean, max)
        };
        let line = |name: &str, (median, mean, max): (f64, f64, f64)| {
            println!("{name:<14} {median:>10.3} {mean:>10.3} {max:>10.3}");
        };
        // Rows in the order the first frame ran them: each stage, then its systems when it
        // has more than one.
        let Some(first) = self.frames.first() else {
            println!("(no frame was drawn)");
            return;
        };
        for (stage, ..) in first.times.iter().filter(|(_, y, _)| y.is_none()) {
            line(
                stage,
                column(&|r: &Row| r.get(stage, None).unwrap_or_default()),
            );
            let systems: Vec<&str> = first
                .times
                .iter()
                .filter(|(s, y, _)| s == stage && y.is_some())
                .filter_map(|(_, y, _)| y.as_deref())
                .collect();
            if systems.len() > 1 {
                for system in systems {
                    line(
                        &format!("  {system}"),
                        column(&|r: &Row| r.get(stage, Some(system)).unwrap_or_default()),
                    );
                }
            }
        }
        line("frame", column(&|r: &Row| r.wall));
        if self.frames.iter().all(|r| r.gpu_geometry.is_zero()) {
            // No timestamps came back (`RendererConfig::gpu_timestamps` off, or no window
            // frame completed yet): the GPU's share is unknown.
            println!("GPU passes: not measured (no timestamp query results)");
        } else {
            println!("GPU passes (timestamp queries; they run beside the stages above):");
            line(" geometry", column(&|r: &Row| r.gpu_geometry));
            line(" post", column(&|r: &Row| r.gpu_post));
            println!("overlap (frame N renders on the GPU while frame N+1 is simulated):");
            line(" waits for GPU", column(&|r: &Row| r.gpu_wait));
            line(" no overlap", column(&Row::serial));
            line(" frame", column(&|r: &Row| r.wall));
            let (serial, _, _) = column(&Row::serial);
            let (frame, _, _) = column(&|r: &Row| r.wall);
            if serial > 0.0 {
                println!(
                    "median frame time is {:.0}% of \"no overlap\" (the stages less their waits for \
                     the GPU, plus the GPU passes: what a frame takes when nothing overlaps)",
                    100.0 * frame / serial
                );
            }
        }
        let png = self.deliver;
        let secs = wall.as_secs_f64();
        let render_secs = (wall.saturating_sub(png)).as_secs_f64();
        println!(
            "\n{frames} frames in {:.1} ms: {:.1} fps with PNG writing, {:.1} fps without ({:.1} ms PNG)",
            secs * 1e3,
            frames as f64 / secs,
            frames as f64 / render_secs.max(1e-9),
            png.as_secs_f64() * 1e3,
        );
    }
}
