//! The per-stage timing table the showcase prints.

use std::time::Duration;

/// Wall time of each frame stage of one frame.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StageTimes {
    /// The `update` stage of the ECS schedule (integrate, spin, bounce).
    pub(crate) update: Duration,
    /// The `extract` stage (ECS → instance snapshot).
    pub(crate) extract: Duration,
    /// Begin frame (waits for the frame in flight) and upload of instances.
    pub(crate) prepare: Duration,
    /// Recording secondary command buffers on the worker threads.
    pub(crate) record: Duration,
    /// Primary command buffer, queue submit, wait, read-back.
    pub(crate) submit: Duration,
    /// GPU time of the geometry pass (timestamp queries; inside `submit`).
    pub(crate) gpu_geometry: Duration,
    /// GPU time of the post pass (timestamp queries; inside `submit`).
    pub(crate) gpu_post: Duration,
}

impl StageTimes {
    fn stages(&self) -> [(&'static str, Duration); 5] {
        [
            ("update", self.update),
            ("extract", self.extract),
            ("prepare", self.prepare),
            ("record", self.record),
            ("submit", self.submit),
        ]
    }

    fn total(&self) -> Duration {
        self.stages().iter().map(|(_, d)| *d).sum()
    }
}

/// Every frame's [`StageTimes`].
#[derive(Debug, Default)]
pub(crate) struct Table {
    frames: Vec<StageTimes>,
}

impl Table {
    pub(crate) fn push(&mut self, times: StageTimes) {
        self.frames.push(times);
    }

    /// Prints median, mean and max per stage in milliseconds, then frames per
    /// second over the whole loop (`wall`, including PNG encoding) and without
    /// the PNG encoding (`png`).
    pub(crate) fn print(&self, frames: usize, wall: Duration, png: Duration) {
        println!();
        println!(
            "{:<10} {:>10} {:>10} {:>10}",
            "stage", "median ms", "mean ms", "max ms"
        );
        let n = self.frames.len().max(1);
        let column = |f: &dyn Fn(&StageTimes) -> Duration| -> (f64, f64, f64) {
            let mut v: Vec<f64> = self
                .frames
                .iter()
                .map(|t| f(t).as_secs_f64() * 1e3)
                .collect();
            v.sort_by(f64::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(0.0);
            let mean = v.iter().sum::<f64>() / n as f64;
            let max = v.last().copied().unwrap_or(0.0);
            (median, mean, max)
        };
        for (i, name) in ["update", "extract", "prepare", "record", "submit"]
            .iter()
            .enumerate()
        {
            let (median, mean, max) = column(&|t: &StageTimes| t.stages()[i].1);
            println!("{name:<10} {median:>10.3} {mean:>10.3} {max:>10.3}");
        }
        let (median, mean, max) = column(&|t: &StageTimes| t.total());
        println!("{:<10} {median:>10.3} {mean:>10.3} {max:>10.3}", "frame");
        println!("GPU passes (timestamp queries, part of submit):");
        let (median, mean, max) = column(&|t: &StageTimes| t.gpu_geometry);
        println!(
            "{:<10} {median:>10.3} {mean:>10.3} {max:>10.3}",
            " geometry"
        );
        let (median, mean, max) = column(&|t: &StageTimes| t.gpu_post);
        println!("{:<10} {median:>10.3} {mean:>10.3} {max:>10.3}", " post");
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
