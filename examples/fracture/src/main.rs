//! Fracture: a game destroys hundreds of objects at once; each destruction
//! cuts a 2D polygon (convex, star, blob or holed ring) into pieces with
//! `geo` boolean operations. A [`JobQueue`] runs the cuts on the pool
//! a 2 ms budget per frame, so frames do not stutter; results arrive as they
//! complete.
//!
//! Prints, per frame: jobs run, budget used, overshoot; then the same jobs in
//! fixed batches of 100 per frame (the hand-tuned way) for comparison, and
//! the throughput of 500 simultaneous jobs against a sequential loop.
//!
//! ```text
//! cargo run --release -p fracture -- [--objects N] [--waves N] [--threads N] [--seed N]
//!                                     [--quiet] [--png DIR]
//! ```
//!
//! With `--png DIR`, each frame of the game is also drawn to
//! `DIR/frame_NNN.png`: intact objects grey, fractured ones as coloured
//! pieces flying apart.
//!
//! Exits with status 1 if a fracture lost or gained area (pieces must sum to
//! the original area within a relative 1e-6) or a job failed.

mod job;
mod render;
mod shapes;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use geo::Coord;
use macrokid_threads::{FrameReport, JobContext, JobEvent, JobId, JobQueue, JobRun, Priority};

use job::{Fracture, Fragments};
use shapes::{Rng, Shape};

/// Per-frame budget for fractures.
const BUDGET: Duration = Duration::from_millis(2);
/// Largest accepted `|area after - area before| / area before`. `geo`'s
/// boolean operations (i_overlay) snap coordinates to an integer grid, which
/// moves vertices by ~1e-8 of the shape's extent; 1e-6 leaves a margin of
/// 10x over the worst error seen while still catching a lost sliver.
const AREA_TOLERANCE: f64 = 1e-6;
/// Frames between two waves of destruction.
const WAVE_EVERY: u64 = 15;

struct Args {
    objects: usize,
    waves: usize,
    threads: Option<usize>,
    seed: u64,
    quiet: bool,
    png: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        objects: 500,
        waves: 4,
        threads: None,
        seed: 7,
        quiet: false,
        png: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--objects" => args.objects = value("--objects")? as usize,
            "--waves" => args.waves = value("--waves")?.max(1) as usize,
            "--threads" => args.threads = Some(value("--threads")? as usize),
            "--seed" => args.seed = value("--seed")?,
            "--quiet" => args.quiet = true,
            "--png" => {
                let dir = it.next().ok_or("--png needs a directory")?;
                args.png = Some(dir.into());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

/// The scene's `n` objects as fracture jobs: a mix of every shape family,
/// 1 to 6 units across, with 2 to 5 cracks each; small debris is low
/// priority.
fn scene(n: usize, seed: u64) -> Vec<Fracture> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|object| {
            let shape = Shape::ALL[object % Shape::ALL.len()];
            let center = Coord {
                x: rng.range(0.0, 200.0),
                y: rng.range(0.0, 120.0),
            };
            let size = rng.range(1.0, 6.0);
            let cuts = rng.int(2, 5);
            let polygon = shapes::make(&mut rng, shape, center, size);
            let priority = if size < 2.0 {
                Priority::Low
            } else {
                Priority::Normal
            };
            Fracture::new(object, shape, polygon, cuts, rng.next_u64(), priority)
        })
        .collect()
}

/// World size in units (objects are placed in `0..200` × `0..120`).
const WORLD: Coord<f64> = Coord { x: 206.0, y: 126.0 };

/// What `--png` draws of one object.
struct Visual {
    polygon: geo::Polygon<f64>,
    center: Coord<f64>,
    /// Pieces and the frame they arrived in, once fractured.
    broken: Option<(Vec<geo::Polygon<f64>>, u64)>,
}

/// Draws every object of the game as it stands after `frame`.
fn draw(visuals: &HashMap<JobId, Visual>, frame: u64, dir: &std::path::Path) -> Result<(), String> {
    use geo::Centroid;
    let mut canvas = render::Canvas::new(1030, 630, WORLD, [18, 20, 28]);
    let mut ids: Vec<&JobId> = visuals.keys().collect();
    ids.sort();
    for id in ids {
        let visual = &visuals[id];
        match &visual.broken {
            None => canvas.fill(&visual.polygon, Coord { x: 3.0, y: 3.0 }, [110, 112, 125]),
            Some((pieces, at)) => {
                let t = (frame - at).min(12) as f64 * 0.06;
                for (i, piece) in pieces.iter().enumerate() {
                    let c = piece.centroid().map_or(visual.center, |p| p.0);
                    let offset = Coord {
                        x: 3.0 + (c.x - visual.center.x) * t,
                        y: 3.0 + (c.y - visual.center.y) * t,
                    };
                    canvas.fill(piece, offset, render::piece_color(i + id.to_raw() as usize));
                }
            }
        }
    }
    let path = dir.join(format!("frame_{frame:03}.png"));
    canvas
        .save(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Queues a wave of fractures, each at its own priority (debris low).
fn submit_wave(
    batch: &JobQueue<Fracture>,
    jobs: Vec<Fracture>,
) -> Result<Vec<JobId>, macrokid_threads::SubmitError<Fracture>> {
    jobs.into_iter().map(|job| batch.enqueue(job)).collect()
}

/// Tallies of terminal events.
#[derive(Default)]
struct Tally {
    completed: usize,
    failed: usize,
    cancelled: usize,
    progress_events: usize,
    pieces: usize,
    worst_area_error: f64,
    area_violations: usize,
}

impl Tally {
    fn add(&mut self, event: JobEvent<Fragments>) -> Option<JobId> {
        match event {
            JobEvent::Started { .. } => None,
            JobEvent::Progress { .. } => {
                self.progress_events += 1;
                None
            }
            JobEvent::Completed { id, output } => {
                self.completed += 1;
                self.pieces += output.pieces.len();
                let error = output.relative_area_error();
                self.worst_area_error = self.worst_area_error.max(error);
                if error > AREA_TOLERANCE {
                    self.area_violations += 1;
                    if self.area_violations <= 5 {
                        eprintln!(
                            "object {}: pieces sum to {} but the object had {}",
                            output.object, output.area_after, output.area_before
                        );
                    }
                }
                Some(id)
            }
            JobEvent::Failed { id, error } => {
                eprintln!("{id} failed: {error}");
                self.failed += 1;
                Some(id)
            }
            JobEvent::Cancelled { id } => {
                self.cancelled += 1;
                Some(id)
            }
        }
    }

    fn terminal(&self) -> usize {
        self.completed + self.failed + self.cancelled
    }
}

/// `q`-quantile (0..=1) of `values` (sorted in place), nearest rank.
fn quantile(values: &mut [Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The 1-minute load average (Linux), to judge how much other processes
/// competed for the cores during the run.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".to_owned())
}

/// Per-frame statistics over frames in which the queue was never empty
/// (a frame that ran out of work cannot fill its budget).
struct FrameStats {
    frames: usize,
    saturated: usize,
    mean_used: f64,
    min_used: f64,
    overshoot_p50: Duration,
    overshoot_p99: Duration,
    overshoot_max: Duration,
    elapsed_p50: Duration,
    elapsed_p99: Duration,
}

fn frame_stats(reports: &[FrameReport], budget: Duration) -> FrameStats {
    let saturated: Vec<&FrameReport> = reports.iter().filter(|r| r.queued > 0).collect();
    let used: Vec<f64> = saturated
        .iter()
        .map(|r| r.elapsed.min(budget).as_secs_f64() / budget.as_secs_f64())
        .collect();
    let mut overshoot: Vec<Duration> = reports
        .iter()
        .map(|r| r.elapsed.saturating_sub(budget))
        .collect();
    let mut elapsed: Vec<Duration> = reports.iter().map(|r| r.elapsed).collect();
    FrameStats {
        frames: reports.len(),
        saturated: saturated.len(),
        mean_used: used.iter().sum::<f64>() / used.len().max(1) as f64,
        min_used: used.iter().copied().fold(f64::INFINITY, f64::min),
        overshoot_p50: quantile(&mut overshoot, 0.5),
        overshoot_p99: quantile(&mut overshoot, 0.99),
        overshoot_max: quantile(&mut overshoot, 1.0),
        elapsed_p50: quantile(&mut elapsed, 0.5),
        elapsed_p99: quantile(&mut elapsed, 0.99),
    }
}

fn print_stats(label: &str, s: &FrameStats) {
    println!(
        "{label}: {} frames ({} with work left): budget used mean {:.1}% min {:.1}%; \
         frame time p50 {:.0} µs p99 {:.0} µs; overshoot p50 {:.0} µs p99 {:.0} µs max {:.0} µs",
        s.frames,
        s.saturated,
        100.0 * s.mean_used,
        100.0
            * if s.min_used.is_finite() {
                s.min_used
            } else {
                0.0
            },
        micros(s.elapsed_p50),
        micros(s.elapsed_p99),
        micros(s.overshoot_p50),
        micros(s.overshoot_p99),
        micros(s.overshoot_max),
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fracture: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = JobQueue::builder().capacity(4096);
    if let Some(threads) = args.threads {
        builder = builder.threads(threads);
    }
    let batch: JobQueue<Fracture> = match builder.build() {
        Ok(batch) => batch,
        Err(e) => {
            eprintln!("fracture: {e}");
            return ExitCode::FAILURE;
        }
    };
    let jobs = scene(args.objects, args.seed);
    let kinds = Shape::ALL.map(|s| jobs.iter().filter(|j| j.shape == s).count());
    println!(
        "scene: {} waves of {} objects ({} convex, {} star, {} blob, {} holed ring), \
         2-5 cracks each; {} workers; budget {} µs per frame; load average {}",
        args.waves,
        jobs.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        batch.num_workers(),
        BUDGET.as_micros(),
        load_average()
    );

    // --- 1. The game: a wave of destruction every 15 frames; 2 ms per frame. ---
    let mut tally = Tally::default();
    let mut submitted = 0;
    let mut reports = Vec::new();
    let mut urgent: Option<(JobId, u64)> = None;
    let mut urgent_done_in = None;
    let mut cancelled_by_game = 0;
    let mut last_wave: Vec<JobId> = Vec::new();
    let mut waves_left = args.waves;
    let mut visuals: HashMap<JobId, Visual> = HashMap::new();
    if let Some(dir) = &args.png {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("fracture: cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let start = Instant::now();
    while waves_left > 0 || tally.terminal() < submitted {
        let frame = batch.frames() + 1;
        if waves_left > 0 && frame % WAVE_EVERY == 1 {
            // Everything in sight explodes at once.
            waves_left -= 1;
            let wave = scene(args.objects, args.seed + waves_left as u64);
            let shapes: Vec<geo::Polygon<f64>> = if args.png.is_some() {
                wave.iter().map(|job| job.polygon.clone()).collect()
            } else {
                Vec::new()
            };
            match submit_wave(&batch, wave) {
                Ok(ids) => {
                    // Draw the newest wave only.
                    visuals.clear();
                    for (id, polygon) in ids.iter().zip(shapes) {
                        use geo::Centroid;
                        let center = polygon.centroid().map_or(Coord { x: 0.0, y: 0.0 }, |p| p.0);
                        visuals.insert(
                            *id,
                            Visual {
                                polygon,
                                center,
                                broken: None,
                            },
                        );
                    }
                    submitted += ids.len();
                    last_wave = ids;
                }
                Err(e) => {
                    eprintln!("fracture: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if frame == 3 {
            // Ten pieces of debris fell out of the world: cancel them
            // (queued: O(1); running: cooperative).
            for id in last_wave.iter().rev().take(10) {
                if batch.cancel(*id) != macrokid_threads::Cancellation::Inactive {
                    cancelled_by_game += 1;
                }
            }
        }
        if frame == 4 {
            // The player blows up the boss's shield and waits for it.
            let mut rng = Rng::new(99);
            let shield = shapes::make(&mut rng, Shape::Star, Coord { x: 0.0, y: 0.0 }, 8.0);
            let job = Fracture::new(usize::MAX, Shape::Star, shield, 5, 1, Priority::High);
            if let Ok(id) = batch.enqueue(job) {
                urgent = Some((id, frame));
                submitted += 1;
            }
        }
        let report = batch.run_frame(BUDGET);
        for event in batch.drain_events() {
            match &event {
                JobEvent::Completed { id, output } => {
                    if let Some(visual) = visuals.get_mut(id) {
                        visual.broken = Some((output.pieces.clone(), report.frame));
                    }
                }
                JobEvent::Cancelled { id } => {
                    visuals.remove(id);
                }
                _ => {}
            }
            if let Some(id) = tally.add(event) {
                if urgent.is_some_and(|(u, _)| u == id) {
                    urgent_done_in = Some(report.frame);
                }
            }
        }
        if !args.quiet {
            println!(
                "frame {:3}: {:3} jobs run, {:3} done so far, budget used {:5.1}%, \
                 workers busy {:5.1}%, overshoot {:4.0} µs, {:3} queued",
                report.frame,
                report.jobs_run,
                tally.terminal(),
                100.0 * report.budget_used().unwrap_or(0.0),
                100.0 * report.occupancy(),
                micros(report.overshoot),
                report.queued
            );
        }
        if let Some(dir) = &args.png {
            if let Err(e) = draw(&visuals, report.frame, dir) {
                eprintln!("fracture: {e}");
                return ExitCode::FAILURE;
            }
        }
        reports.push(report);
    }
    let game_time = start.elapsed();
    println!(
        "game: {} jobs finished in {} frames ({:.1} ms of frame time): {} completed, \
         {} failed, {} cancelled ({} cancel calls took effect), {} pieces, {} progress events",
        tally.terminal(),
        reports.len(),
        game_time.as_secs_f64() * 1e3,
        tally.completed,
        tally.failed,
        tally.cancelled,
        cancelled_by_game,
        tally.pieces,
        tally.progress_events
    );
    if let (Some((_, asked)), Some(done)) = (urgent, urgent_done_in) {
        println!("high-priority fracture queued before frame {asked}, completed in frame {done}");
    }
    println!(
        "area check: worst relative error {:.2e} (tolerance {AREA_TOLERANCE:.0e}), {} violations",
        tally.worst_area_error, tally.area_violations
    );
    for estimate in batch.cost_estimates() {
        println!(
            "  learned cost {:24} {:6.1} µs over {} jobs",
            estimate.kind,
            micros(estimate.mean),
            estimate.samples
        );
    }
    let adaptive = frame_stats(&reports, BUDGET);

    // --- 2. The same waves in fixed batches of 100 jobs per frame. ---
    let mut fixed_reports = Vec::new();
    let mut total = 0;
    for wave in 0..args.waves {
        let jobs = scene(args.objects, args.seed + wave as u64);
        total += jobs.len();
        if let Err(e) = submit_wave(&batch, jobs) {
            eprintln!("fracture: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut fixed_tally = Tally::default();
    while fixed_tally.terminal() < total {
        let report = batch.run_jobs(100);
        // Judge fixed batches against the same 2 ms budget.
        fixed_reports.push(report);
        batch.drain_events().for_each(|e| {
            fixed_tally.add(e);
        });
    }
    let fixed = frame_stats(&fixed_reports, BUDGET);
    print_stats("adaptive 2 ms budget", &adaptive);
    print_stats("fixed batch of 100  ", &fixed);

    // --- 3. Throughput: 500 simultaneous fractures. ---
    let n = 500;
    let mut sequential = scene(n, args.seed ^ 0xfeed);
    let cx = JobContext::detached();
    let t = Instant::now();
    let mut seq_pieces = 0;
    for job in &mut sequential {
        seq_pieces += job.run(&cx).pieces.len();
    }
    let seq_time = t.elapsed();
    let parallel = scene(n, args.seed ^ 0xfeed);
    let t = Instant::now();
    if let Err(e) = batch.submit_batch(parallel, Priority::Normal) {
        eprintln!("fracture: {e}");
        return ExitCode::FAILURE;
    }
    let report = batch.run_until_idle();
    let par_time = t.elapsed();
    let mut par_tally = Tally::default();
    batch.drain_events().for_each(|e| {
        par_tally.add(e);
    });
    println!(
        "throughput, {n} simultaneous fractures: {:.0} jobs/s on {} workers ({:.1} ms, \
         {} pieces) vs {:.0} jobs/s sequential ({:.1} ms, {} pieces): {:.2}x",
        n as f64 / par_time.as_secs_f64(),
        report.workers,
        par_time.as_secs_f64() * 1e3,
        par_tally.pieces,
        n as f64 / seq_time.as_secs_f64(),
        seq_time.as_secs_f64() * 1e3,
        seq_pieces,
        seq_time.as_secs_f64() / par_time.as_secs_f64()
    );
    println!("load average at the end: {}", load_average());
    let budgeted_rate = tally.completed as f64 / reports.len() as f64;
    println!(
        "under the 2 ms budget: {budgeted_rate:.1} fractures per frame, i.e. {:.0} per second at 60 fps",
        budgeted_rate * 60.0
    );

    let failures = tally.failed + fixed_tally.failed + par_tally.failed;
    let violations =
        tally.area_violations + fixed_tally.area_violations + par_tally.area_violations;
    if failures > 0 || violations > 0 || par_tally.pieces != seq_pieces {
        eprintln!(
            "fracture: {failures} failed jobs, {violations} area violations, \
             {} vs {seq_pieces} pieces parallel vs sequential",
            par_tally.pieces
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
