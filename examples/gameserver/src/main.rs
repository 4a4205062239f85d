//! A game-server tick loop on macrokid work groups (the scheduler design of
//! seed 002).
//!
//! Each tick, at a fixed rate:
//! - pre-tick hook `receive_inputs`: the simulated network turns one
//!   player's velocity (deterministic inputs);
//! - `movement` (synchronized, priority 10): `Integrate` then `Bounce`;
//! - `spawning` (synchronized, the policy under test): `SpawnPickup` and
//!   `SpawnBonus` spawn one pickup each through commands; with
//!   `--inject-failures`, `SpawnPickup` fails its first attempt every 7th
//!   tick and `SpawnBonus` panics on its first attempt every 13th tick —
//!   both after recording their spawn, which must then never be applied;
//! - `interest` (async, read-only, deadline 4 ms): an interest grid over a
//!   snapshot of the positions (the densest cell is kept as analytics);
//! - `overrun` (async, deadline 5 ms, with `--inject-failures`): sleeps
//!   25 ms every 10th tick; the tick does not wait for it, its late result
//!   is dropped and counted;
//! - post-tick hook `broadcast` and maintenance hook `persist` (every 30
//!   ticks).
//!
//! The scenario runs once per error policy (`Abort`, `Continue`,
//! `RetryOnce`) on identical worlds and prints each group's outcomes and a
//! hash of the synchronized world state (positions, velocities, pickups),
//! which depends only on the seed, the tick count and the policy.
//!
//! `cargo run --release -p gameserver -- --ticks 120 --inject-failures --trace target/gameserver.json --metrics target/gameserver.prom`

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use macrokid_core::{ResourceAccess, ResourceId};
use macrokid_ecs::prelude::*;
use macrokid_ecs::GroupRun;
use macrokid_threads::{
    App, ErrorPolicy, FnAsyncSystem, GroupOutcome, PrometheusMetrics, SchedulerObserver,
    SystemStatus, TickError, WorkGroup,
};

#[derive(Parser, Debug)]
#[command(
    name = "gameserver",
    version,
    about = "macrokid game-server tick loop: work groups, error policies, injected faults"
)]
struct Args {
    /// Ticks to run per policy.
    #[arg(long, default_value_t = 120)]
    ticks: u64,
    /// Tick rate in Hz (0: as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    rate: f64,
    /// Players in the world.
    #[arg(long, default_value_t = 2_000)]
    players: usize,
    /// Worker threads of the pool async groups run on.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seed of the initial world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The policy of the `spawning` group; all three by default.
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
    /// Inject faults: a system that fails sometimes, one that panics, one
    /// that overruns its deadline.
    #[arg(long)]
    inject_failures: bool,
    /// Write a Chrome-trace / Perfetto JSON file of the run.
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Log format on stderr: `text` (human-readable lines) or `json` (one
    /// JSON object per line: timestamp, level, target, fields, spans).
    /// `RUST_LOG` sets the filter.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: macrokid_threads::LogFormat,
    /// Write the metrics (summed over the runs) in the Prometheus text
    /// format to this path at exit.
    #[arg(long, value_name = "PATH")]
    metrics: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    Abort,
    Continue,
    RetryOnce,
}

impl PolicyArg {
    fn policy(self) -> ErrorPolicy {
        match self {
            Self::Abort => ErrorPolicy::Abort,
            Self::Continue => ErrorPolicy::Continue,
            Self::RetryOnce => ErrorPolicy::RetryOnce,
        }
    }
}

// --- Components and resources ----------------------------------------------

/// Where a player is, in metres.
#[derive(Clone, Copy, Debug)]
struct Position([f32; 2]);

/// How fast a player moves, in metres per second.
#[derive(Clone, Copy, Debug)]
struct Velocity([f32; 2]);

/// An item on the ground.
#[derive(Clone, Copy, Debug)]
struct Pickup([f32; 2]);

/// The square arena: `-half..=half` on both axes.
#[derive(Clone, Copy, Debug)]
struct Arena {
    half: f32,
}

/// The server clock: this tick's index and step.
#[derive(Clone, Copy, Debug, Default)]
struct Clock {
    tick: u64,
    dt: f32,
}

/// Whether faults are injected this run.
#[derive(Clone, Copy, Debug)]
struct Faults(bool);

/// A small deterministic generator (SplitMix64).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A number in `-1..1` from `seed`.
fn unit(seed: u64) -> f32 {
    (mix(seed) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

// --- Systems ------------------------------------------------------------------

/// `position += velocity * dt`.
#[derive(System)]
#[system(reads(Velocity, Clock), writes(Position))]
struct Integrate;

impl Run for Integrate {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Clock>()?.dt;
        cx.query::<(&mut Position, &Velocity)>()
            .par_for_each(|(mut p, v)| {
                p.0[0] += v.0[0] * dt;
                p.0[1] += v.0[1] * dt;
            });
        Ok(())
    }
}

/// Reflects players that left the arena.
#[derive(System)]
#[system(reads(Arena), writes(Position, Velocity))]
struct Bounce;

impl Run for Bounce {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let half = cx.resource::<Arena>()?.half;
        cx.query::<(&mut Position, &mut Velocity)>()
            .par_for_each(|(mut p, mut v)| {
                for axis in 0..2 {
                    if p.0[axis].abs() > half {
                        p.0[axis] = p.0[axis].clamp(-half, half);
                        v.0[axis] = -v.0[axis];
                    }
                }
            });
        Ok(())
    }
}

/// Spawns one pickup per tick through commands; with faults, its first
/// attempt of every 7th tick fails after recording the spawn.
#[derive(System, Default)]
#[system(reads(Clock, Faults, Pickup), spawns, inserts(Pickup))]
struct SpawnPickup {
    failed_tick: Option<u64>,
}

impl Run for SpawnPickup {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let tick = cx.resource::<Clock>()?.tick;
        let faults = cx.resource::<Faults>()?.0;
        cx.commands()
            .spawn((Pickup([unit(tick * 2), unit(tick * 2 + 1)]),));
        if faults && tick % 7 == 3 && self.failed_tick != Some(tick) {
            self.failed_tick = Some(tick);
            return Err(format!("lost the item database connection at tick {tick}").into());
        }
        Ok(())
    }
}

/// Spawns a bonus pickup per tick; with faults, panics on its first
/// attempt of every 13th tick after recording the spawn.
#[derive(System, Default)]
#[system(reads(Clock, Faults, Pickup), spawns, inserts(Pickup))]
struct SpawnBonus {
    panicked_tick: Option<u64>,
}

impl Run for SpawnBonus {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let tick = cx.resource::<Clock>()?.tick;
        let faults = cx.resource::<Faults>()?.0;
        cx.commands().spawn((Pickup([unit(tick + 99), 0.0]),));
        if faults && tick % 13 == 5 && self.panicked_tick != Some(tick) {
            self.panicked_tick = Some(tick);
            panic!("bonus table index out of range at tick {tick}");
        }
        Ok(())
    }
}

// --- The scenario -------------------------------------------------------------

/// What the async analytics saw.
#[derive(Debug, Default)]
struct Analytics {
    densest_cell: usize,
    grids_built: u64,
}

fn populate(world: &mut World, players: usize, seed: u64) {
    world.insert_resource(Arena { half: 100.0 });
    world.insert_resource(Clock::default());
    world.spawn_batch((0..players as u64).map(|i| {
        let s = seed.wrapping_mul(1_000_003).wrapping_add(i * 4);
        (
            Position([unit(s) * 100.0, unit(s + 1) * 100.0]),
            Velocity([unit(s + 2) * 5.0, unit(s + 3) * 5.0]),
        )
    }));
}

/// FNV-1a over the synchronized state: every player's entity id, position
/// and velocity bits in entity order, then every pickup's.
fn world_hash(world: &mut World) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut players: Vec<(u64, [u32; 4])> = world
        .query::<(Entity, &Position, &Velocity)>()
        .iter()
        .map(|(e, p, v)| {
            let bits = [p.0[0], p.0[1], v.0[0], v.0[1]].map(f32::to_bits);
            (e.to_bits(), bits)
        })
        .collect();
    players.sort_unstable();
    let mut pickups: Vec<(u64, [u32; 2])> = world
        .query::<(Entity, &Pickup)>()
        .iter()
        .map(|(e, p)| (e.to_bits(), p.0.map(f32::to_bits)))
        .collect();
    pickups.sort_unstable();
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for (e, bits) in players {
        h.write_u64(e);
        bits.iter().for_each(|b| h.write_u32(*b));
    }
    for (e, bits) in pickups {
        h.write_u64(e);
        bits.iter().for_each(|b| h.write_u32(*b));
    }
    h.finish()
}

fn build_app(
    args: &Args,
    policy: ErrorPolicy,
    pool: &Arc<macrokid_threads::ThreadPool>,
    analytics: &Arc<Mutex<Analytics>>,
    metrics: Option<&Arc<PrometheusMetrics>>,
) -> Result<App<World>, String> {
    let dt = if args.rate > 0.0 {
        (1.0 / args.rate) as f32
    } else {
        1.0 / 60.0
    };
    let players = args.players as u64;
    let mut builder = App::builder();
    builder
        .pool(Arc::clone(pool))
        .add_pre_tick("receive_inputs", move |world: &mut World, info| {
            *world.resource_mut::<Clock>()? = Clock {
                tick: info.tick,
                dt,
            };
            // One player per tick turns (a deterministic "client input").
            let chosen = mix(info.tick) % players;
            for (i, mut v) in world.query::<&mut Velocity>().iter().enumerate() {
                if i as u64 == chosen {
                    v.0 = [v.0[1], -v.0[0]];
                }
            }
            Ok(())
        })
        .add_group(
            WorkGroup::synchronized("movement")
                .priority(10)
                .system(GroupRun(Integrate))
                .system(GroupRun(Bounce)),
        )
        .add_group(
            WorkGroup::synchronized("spawning")
                .policy(policy)
                .system(GroupRun(SpawnPickup::default()))
                .system(GroupRun(SpawnBonus::default())),
        );
    let grid = Arc::clone(analytics);
    builder.add_group(
        WorkGroup::asynchronous("interest", Duration::from_millis(4), |world: &World| {
            // The view the group owns: the positions the post-tick hook
            // published (what clients were sent).
            world
                .resource::<PositionSnapshot>()
                .map(|s| s.0.clone())
                .unwrap_or_default()
        })
        .async_system(FnAsyncSystem::new(
            "interest_grid",
            ResourceAccess::new().with_read(ResourceId::of::<Position>()),
            move |positions: &Vec<[f32; 2]>, _: &mut CommandBuffer| {
                if positions.is_empty() {
                    return Ok(SystemStatus::SkippedEmpty);
                }
                let mut cells = [0usize; 64];
                for p in positions {
                    let x = (((p[0] + 100.0) / 25.0) as usize).min(7);
                    let y = (((p[1] + 100.0) / 25.0) as usize).min(7);
                    cells[y * 8 + x] += 1;
                }
                let mut stats = grid.lock().map_err(|e| e.to_string())?;
                stats.densest_cell = cells.iter().copied().max().unwrap_or(0);
                stats.grids_built += 1;
                Ok(SystemStatus::Executed)
            },
        )),
    );
    if args.inject_failures {
        builder.add_group(
            WorkGroup::asynchronous("overrun", Duration::from_millis(5), |w: &World| {
                w.resource::<Clock>().map(|c| c.tick).unwrap_or(0)
            })
            .async_system(FnAsyncSystem::new(
                "slow_report",
                ResourceAccess::new().with_read(ResourceId::of::<Clock>()),
                |tick: &u64, _: &mut CommandBuffer| {
                    if tick % 10 == 9 {
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    Ok(SystemStatus::Executed)
                },
            )),
        );
    }
    builder
        .add_post_tick("broadcast", |world: &mut World, _| {
            // Refresh the snapshot the async groups read next tick, the way
            // a server prepares its outgoing state.
            let positions: Vec<[f32; 2]> = world.query::<&Position>().iter().map(|p| p.0).collect();
            world.insert_resource(PositionSnapshot(positions));
            Ok(())
        })
        .add_maintenance("persist", 30, |world: &mut World, info| {
            tracing::info!(tick = info.tick, hash = world_hash(world), "checkpoint");
            Ok(())
        })
        .add_startup("insert_faults", {
            let faults = args.inject_failures;
            move |world: &mut World| {
                world.insert_resource(Faults(faults));
            }
        });
    if let Some(metrics) = metrics {
        builder.observer(Arc::clone(metrics) as Arc<dyn SchedulerObserver>);
    }
    builder.build().map_err(|e| e.to_string())
}

/// The positions as of the last post-tick: what async groups read.
#[derive(Clone, Debug, Default)]
struct PositionSnapshot(Vec<[f32; 2]>);

/// What one policy's run gave.
struct RunSummary {
    outcomes: BTreeMap<String, BTreeMap<&'static str, u64>>,
    aborted: Vec<String>,
    tick_times: Vec<Duration>,
    late_dropped: u64,
    hash: u64,
    pickups: usize,
    analytics: Analytics,
}

fn run_policy(
    args: &Args,
    policy: ErrorPolicy,
    pool: &Arc<macrokid_threads::ThreadPool>,
    metrics: Option<&Arc<PrometheusMetrics>>,
) -> Result<RunSummary, String> {
    let mut world = World::new();
    populate(&mut world, args.players, args.seed);
    world.insert_resource(PositionSnapshot::default());
    let analytics = Arc::new(Mutex::new(Analytics::default()));
    let mut app = build_app(args, policy, pool, &analytics, metrics)?;
    let period = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let mut outcomes: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut aborted = Vec::new();
    let mut tick_times = Vec::with_capacity(args.ticks as usize);
    let start = Instant::now();
    for tick in 0..args.ticks {
        let begun = Instant::now();
        match app.tick(&mut world) {
            Ok(report) => {
                for (group, outcome) in &report.groups {
                    *outcomes
                        .entry(group.to_string())
                        .or_default()
                        .entry(outcome.label())
                        .or_default() += 1;
                    if let GroupOutcome::Errored { system, error } = outcome {
                        tracing::warn!(tick, group = &**group, system, error, "group errored");
                    }
                }
            }
            Err(err @ TickError::Aborted { .. }) => aborted.push(err.to_string()),
            Err(err) => return Err(err.to_string()),
        }
        tick_times.push(begun.elapsed());
        if let Some(period) = period {
            let next = start + period * u32::try_from(tick + 1).unwrap_or(u32::MAX);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    // Let late async runs end so that their dropped results are counted.
    std::thread::sleep(Duration::from_millis(50));
    let pickups = world.query::<&Pickup>().iter().count();
    let analytics = std::mem::take(&mut *analytics.lock().map_err(|e| e.to_string())?);
    Ok(RunSummary {
        outcomes,
        aborted,
        tick_times,
        late_dropped: app.late_results_dropped(),
        hash: world_hash(&mut world),
        pickups,
        analytics,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn print_summary(policy: ErrorPolicy, summary: &RunSummary) {
    let mut times = summary.tick_times.clone();
    times.sort_unstable();
    println!("== policy {policy:?} ==");
    println!(
        "ticks {}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; aborted ticks {}; late async results dropped {}",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        summary.aborted.len(),
        summary.late_dropped,
    );
    let labels = [
        "executed",
        "skipped_empty",
        "not_due",
        "still_running",
        "errored",
        "timed_out",
    ];
    println!("  group outcomes over the ticks that completed:");
    println!(
        "  {:<10} {:>8} {:>13} {:>7} {:>13} {:>7} {:>9}",
        "group", labels[0], labels[1], labels[2], labels[3], labels[4], labels[5]
    );
    for (group, counts) in &summary.outcomes {
        let c = |l: &str| counts.get(l).copied().unwrap_or(0);
        println!(
            "  {:<10} {:>8} {:>13} {:>7} {:>13} {:>7} {:>9}",
            group,
            c(labels[0]),
            c(labels[1]),
            c(labels[2]),
            c(labels[3]),
            c(labels[4]),
            c(labels[5])
        );
    }
    if let Some(first) = summary.aborted.first() {
        println!("  first abort: {first}");
    }
    println!(
        "  pickups {}; interest grids built {}, densest cell {} players",
        summary.pickups, summary.analytics.grids_built, summary.analytics.densest_cell
    );
    println!("  world hash {:#018x}", summary.hash);
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The injected panics are caught and reported by the scheduler; print
    // one line per panic instead of the default message and backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("gameserver: panic: {info}")));
    let telemetry = match macrokid_threads::Telemetry::new("error")
        .log_format(args.log_format)
        .chrome_trace(args.trace.as_ref())
        .init()
    {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("gameserver: error: {e}");
            return ExitCode::FAILURE;
        }
    };

    let result = run(&args);
    if let Err(e) = telemetry.finish() {
        eprintln!("gameserver: error: cannot finish the trace file: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gameserver: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.threads == 0 || args.players == 0 {
        return Err("--threads and --players must be at least 1".into());
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(format!(
            "--rate must be a finite number of Hz ≥ 0, got {}",
            args.rate
        ));
    }
    let pool = Arc::new(
        macrokid_threads::ThreadPool::builder()
            .num_threads(args.threads)
            .thread_name_prefix("gameserver-worker")
            .build()
            .map_err(|e| e.to_string())?,
    );
    let metrics = args
        .metrics
        .as_ref()
        .map(|_| Arc::new(PrometheusMetrics::new()));
    let policies: Vec<ErrorPolicy> = match args.policy {
        Some(policy) => vec![policy.policy()],
        None => vec![
            ErrorPolicy::Abort,
            ErrorPolicy::Continue,
            ErrorPolicy::RetryOnce,
        ],
    };
    println!(
        "gameserver: {} players, {} ticks at {} Hz, {} threads, faults {}",
        args.players,
        args.ticks,
        args.rate,
        args.threads,
        if args.inject_failures { "on" } else { "off" }
    );
    for policy in policies {
        let summary = run_policy(args, policy, &pool, metrics.as_ref())?;
        print_summary(policy, &summary);
    }
    if let (Some(metrics), Some(path)) = (&metrics, &args.metrics) {
        std::fs::write(path, metrics.encode())
            .map_err(|e| format!("cannot write metrics to {}: {e}", path.display()))?;
        println!("wrote Prometheus metrics to {}", path.display());
    }
    if let Some(path) = &args.trace {
        println!("wrote a Chrome trace to {}", path.display());
    }
    Ok(())
}
