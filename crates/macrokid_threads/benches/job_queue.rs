//! Job queue: frame budget use and overshoot, adaptive vs a fixed
//! batch of 100 in the same run, then criterion timings of queue operations.
//!
//! Workload (TARGETS.md, "Job queue"): a 2 ms budget per frame, jobs of
//! 10–30 µs with 2% at 200 µs, the queue never empty. Both processors share
//! one rayon pool and run alternate frames, so machine noise hits both alike.
//!
//! `cargo bench -p macrokid_threads --bench job_queue` (about 20 s); add
//! `-- skip-criterion` (a filter no criterion bench matches) for the frame
//! statistics alone.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use macrokid_threads::{FrameReport, JobContext, JobQueue, JobRun, Priority, ThreadPool};

const BUDGET: Duration = Duration::from_millis(2);
const FRAMES: usize = 400;
const WARMUP_FRAMES: usize = 20;
/// Jobs kept waiting before each frame (more than any frame runs).
const BACKLOG: usize = 400;

/// Busy-waits for `cost` (a stand-in for CPU-heavy work of known length).
struct Spin {
    cost: Duration,
    kind: &'static str,
}

impl JobRun for Spin {
    type Output = ();

    fn run(&mut self, _cx: &JobContext) {
        let start = Instant::now();
        while start.elapsed() < self.cost {
            std::hint::spin_loop();
        }
    }

    fn name(&self) -> &str {
        self.kind
    }
}

/// SplitMix64: the same job sequence for every processor.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 98%: light, 10–30 µs; 2%: heavy, 200 µs. With `one_kind` both share
    /// one name, so the processor cannot tell them apart in advance.
    fn job(&mut self, one_kind: bool) -> Spin {
        let heavy = self.next() % 100 < 2;
        let cost = if heavy {
            Duration::from_micros(200)
        } else {
            Duration::from_nanos(10_000 + self.next() % 20_001)
        };
        let kind = match (one_kind, heavy) {
            (true, _) => "mixed",
            (false, true) => "heavy",
            (false, false) => "light",
        };
        Spin { cost, kind }
    }
}

/// One way of running frames, with its own queue and job sequence.
struct Contender {
    label: &'static str,
    batch: JobQueue<Spin>,
    rng: Rng,
    one_kind: bool,
    run: fn(&JobQueue<Spin>) -> FrameReport,
    reports: Vec<FrameReport>,
}

impl Contender {
    fn new(
        label: &'static str,
        pool: &Arc<ThreadPool>,
        one_kind: bool,
        run: fn(&JobQueue<Spin>) -> FrameReport,
    ) -> Self {
        Self {
            label,
            batch: JobQueue::builder()
                .pool(Arc::clone(pool))
                .capacity(2 * BACKLOG)
                .build()
                .expect("processor"),
            rng: Rng(42),
            one_kind,
            run,
            reports: Vec::with_capacity(FRAMES),
        }
    }

    fn frame(&mut self, record: bool) {
        while self.batch.len() < BACKLOG {
            let job = self.rng.job(self.one_kind);
            self.batch
                .submit(job, Priority::Normal)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let report = (self.run)(&self.batch);
        self.batch.drain_events().for_each(drop);
        if record {
            self.reports.push(report);
        }
    }

    fn print(&self) {
        let mut used: Vec<f64> = self
            .reports
            .iter()
            .map(|r| r.elapsed.min(BUDGET).as_secs_f64() / BUDGET.as_secs_f64())
            .collect();
        used.sort_by(f64::total_cmp);
        let mut over: Vec<Duration> = self
            .reports
            .iter()
            .map(|r| r.elapsed.saturating_sub(BUDGET))
            .collect();
        over.sort();
        let mut elapsed: Vec<Duration> = self.reports.iter().map(|r| r.elapsed).collect();
        elapsed.sort();
        let jobs: usize = self.reports.iter().map(|r| r.jobs_run).sum();
        let busy: f64 = self.reports.iter().map(FrameReport::occupancy).sum::<f64>()
            / self.reports.len() as f64;
        println!(
            "{:34} budget used mean {:5.1}% p50 {:5.1}% p5 {:5.1}% | overshoot p50 {:5.0} µs \
             p99 {:5.0} µs max {:5.0} µs | frame p50 {:5.0} µs | {:5.1} jobs/frame, workers busy {:4.1}%",
            self.label,
            100.0 * used.iter().sum::<f64>() / used.len() as f64,
            100.0 * quantile(&used, 0.5),
            100.0 * quantile(&used, 0.05),
            micros(quantile(&over, 0.5)),
            micros(quantile(&over, 0.99)),
            micros(quantile(&over, 1.0)),
            micros(quantile(&elapsed, 0.5)),
            jobs as f64 / self.reports.len() as f64,
            100.0 * busy,
        );
    }
}

/// Nearest-rank `q`-quantile of sorted `values`.
fn quantile<T: Copy>(sorted: &[T], q: f64) -> T {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
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

/// Runs the contenders' frames interleaved on a pool of `threads` workers
/// and prints their statistics.
fn frame_budget_report(threads: usize) {
    let pool = Arc::new(ThreadPool::new(threads).expect("pool"));
    let load_before = load_average();
    let mut contenders = [
        Contender::new("adaptive, 2 ms (light/heavy kinds)", &pool, false, |b| {
            b.run_frame(BUDGET)
        }),
        Contender::new("adaptive, 2 ms (one mixed kind)", &pool, true, |b| {
            b.run_frame(BUDGET)
        }),
        Contender::new("fixed batch of 100", &pool, false, |b| b.run_jobs(100)),
    ];
    for frame in 0..WARMUP_FRAMES + FRAMES {
        for c in &mut contenders {
            c.frame(frame >= WARMUP_FRAMES);
        }
    }
    println!(
        "frame budget {} µs, {FRAMES} frames each, {threads} workers, jobs 10-30 µs + 2% at 200 µs, \
         queue kept at {BACKLOG} jobs; load average {} before, {} after",
        BUDGET.as_micros(),
        load_before,
        load_average()
    );
    for c in &contenders {
        c.print();
    }
    for estimate in contenders[0].batch.cost_estimates() {
        println!(
            "  learned: {:6} {:6.1} µs over {} jobs",
            estimate.kind,
            micros(estimate.mean),
            estimate.samples
        );
    }
}

/// A job that does nothing (dispatch overhead).
struct Empty;

impl JobRun for Empty {
    type Output = ();
    fn run(&mut self, _cx: &JobContext) {}
}

fn queue_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch");
    // Cancelling a queued job costs the same whatever the queue holds.
    for queued in [100usize, 10_000] {
        let batch: JobQueue<Empty> = JobQueue::builder()
            .threads(1)
            .capacity(queued + 1)
            .build()
            .expect("processor");
        for _ in 0..queued {
            batch.submit(Empty, Priority::Low).expect("room");
        }
        group.bench_with_input(
            BenchmarkId::new("submit+cancel_queued", queued),
            &batch,
            |b, batch| {
                b.iter(|| {
                    let id = batch.submit(Empty, Priority::Normal).expect("room");
                    black_box(batch.cancel(id));
                    batch.drain_events().for_each(drop);
                })
            },
        );
    }
    // Per-job dispatch cost: 1000 empty jobs through one frame.
    let batch: JobQueue<Empty> = JobQueue::builder()
        .capacity(1000)
        .build()
        .expect("processor");
    group.bench_function("run_1000_empty_jobs", |b| {
        b.iter(|| {
            batch
                .submit_batch((0..1000).map(|_| Empty), Priority::Normal)
                .expect("room");
            let report = batch.run_until_idle();
            batch.drain_events().for_each(drop);
            black_box(report)
        })
    });
    group.finish();
}

fn main() {
    // One worker (the other core left to the game's main thread), then all.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    frame_budget_report(1);
    if cores > 1 {
        frame_budget_report(cores);
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    queue_benches(&mut c);
    c.final_summary();
}
