//! A tour of `#[derive(System)]` and `#[derive(Schedule)]`: a small game
//! loop of nine systems over four stages, its plan (stage layers, batches and
//! the conflicts that put systems apart, the Mermaid graph), then a few ticks
//! on a thread pool with per-system timing.
//!
//! Run with `cargo run -p macrokid_threads --example schedule_tour`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use macrokid_threads::{
    BoxError, RunSchedule, Schedule, Scheduler, SchedulerObserver, Standalone, StandaloneSystem,
    System, SystemReport, SystemSlot, ThreadPool,
};

// --- The data the systems touch (only their types matter here) -----------------

struct Input;
struct Time;
struct Position;
struct Velocity;
struct Contacts;
struct Brains;
struct Audio;
struct Instances;
struct Frame;

// --- Systems: declared access, and a little work each ---------------------------

/// Burns `work` of wall-clock time: half asleep, half spinning (so that the
/// pool really has something to run in parallel).
fn busy(work: Duration) {
    std::thread::sleep(work / 2);
    let until = Instant::now() + work / 2;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

macro_rules! work {
    ($($system:ident: $ms:expr),* $(,)?) => {$(
        impl StandaloneSystem for $system {
            fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
                busy(Duration::from_micros($ms * 1000));
                Ok(())
            }
        }
    )*};
}

#[derive(System, Default)]
#[system(writes(Input), name = "poll_input")]
struct PollInput;

#[derive(System, Default)]
#[system(writes(Time), name = "clock")]
struct Clock;

#[derive(System, Default)]
#[system(reads(Input, Time), writes(Velocity), name = "steer")]
struct Steer;

#[derive(System, Default)]
#[system(reads(Position), writes(Brains), name = "think")]
struct Think;

#[derive(System, Default)]
#[system(reads(Velocity, Time), writes(Position), name = "integrate")]
struct Integrate;

#[derive(System, Default)]
#[system(reads(Brains), writes(Audio), name = "mix_audio")]
struct MixAudio;

#[derive(System, Default)]
#[system(reads(Position), writes(Contacts), name = "collide")]
struct Collide;

#[derive(System, Default)]
#[system(reads(Position, Contacts), writes(Instances), name = "extract")]
struct ExtractInstances;

#[derive(System, Default)]
#[system(reads(Instances), writes(Frame), name = "present")]
struct Present;

work!(
    PollInput: 1,
    Clock: 1,
    Steer: 2,
    Think: 4,
    Integrate: 3,
    MixAudio: 2,
    Collide: 3,
    ExtractInstances: 2,
    Present: 2,
);

/// The schedule: four stages, declared out of order on purpose (`render`
/// first) to show that `after`/`before` decide the order, not the fields.
#[derive(Schedule, Default)]
struct Game {
    #[stage(name = "render", after = "extract")]
    present: Present,
    #[stage]
    input: (PollInput, Clock),
    #[stage(after = "input")]
    simulate: (Steer, Think, Integrate, MixAudio, Collide),
    #[stage(after = "simulate", before = "render")]
    extract: (ExtractInstances,),
}

// --- Timing through the scheduler's observer --------------------------------------

#[derive(Default)]
struct Timing {
    stage: String,
    batch: usize,
    runs: u32,
    parallel_runs: u32,
    total: Duration,
    max: Duration,
}

/// Collects per-system and per-stage durations, keyed by slot / stage name.
#[derive(Default)]
struct Timings {
    systems: Mutex<BTreeMap<(usize, String), Timing>>,
    stages: Mutex<BTreeMap<String, (u32, Duration)>>,
}

impl SchedulerObserver for Timings {
    fn on_system(&self, report: &SystemReport<'_>) {
        let mut systems = self.systems.lock().unwrap();
        let t = systems
            .entry((report.slot.0, report.system.to_owned()))
            .or_default();
        t.stage = report.stage.to_owned();
        t.batch = report.batch;
        t.runs += 1;
        t.parallel_runs += u32::from(report.parallel);
        t.total += report.duration;
        t.max = t.max.max(report.duration);
    }

    fn on_stage(&self, report: &macrokid_threads::StageReport<'_>) {
        let mut stages = self.stages.lock().unwrap();
        let s = stages.entry(report.stage.to_owned()).or_default();
        s.0 += 1;
        s.1 += report.duration;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plan = Game::plan();

    println!("== Stage layers (Game::topo_groups) ==");
    for (layer, stages) in Game::topo_groups().iter().enumerate() {
        println!("  layer {layer}: {}", stages.join(", "));
    }

    println!("\n== Batches per stage, in execution order ==");
    for stage in plan.stages() {
        println!("stage `{}`:", stage.name());
        let systems = stage.systems();
        for (b, batch) in stage.batches().iter().enumerate() {
            let names: Vec<&str> = batch.systems().iter().map(|&i| &*systems[i].name).collect();
            println!("  batch {b}: [{}]", names.join(", "));
            // Why is each system of this batch not in an earlier one? Name the
            // conflicting system of the latest earlier batch.
            for &i in batch.systems() {
                let earlier = stage.batches()[..b].iter().enumerate().rev();
                let blocker = earlier
                    .flat_map(|(eb, batch)| batch.systems().iter().map(move |&j| (eb, j)))
                    .find_map(|(eb, j)| {
                        systems[i]
                            .access
                            .conflict_with(&systems[j].access)
                            .map(|c| (eb, j, c))
                    });
                if let Some((eb, j, conflict)) = blocker {
                    println!(
                        "           {} waits for {} (batch {eb}): {conflict}",
                        systems[i].name, systems[j].name
                    );
                }
            }
        }
    }

    println!("\n== Mermaid (Plan::to_mermaid) ==");
    print!("{}", plan.to_mermaid());

    // Run a few ticks on a pool of four threads, timing every system.
    let timings = Arc::new(Timings::default());
    let pool = Arc::new(ThreadPool::new(4)?);
    let scheduler = Scheduler::new(pool).with_observer(timings.clone());
    let mut game = Game::default();
    let ticks = 5;
    let started = Instant::now();
    for _ in 0..ticks {
        game.run(&scheduler, &Standalone)?;
    }
    let wall = started.elapsed();

    println!(
        "\n== {ticks} ticks on {} threads: {:.2} ms per tick ==",
        scheduler.parallelism(),
        ms(wall) / f64::from(ticks)
    );
    println!(
        "{:<5} {:<9} {:<5} {:<11} {:>4} {:>8} {:>9} {:>8}",
        "slot", "stage", "batch", "system", "runs", "parallel", "mean ms", "max ms"
    );
    let systems = timings.systems.lock().unwrap();
    let mut busy_total = Duration::ZERO;
    for ((slot, name), t) in systems.iter() {
        busy_total += t.total;
        println!(
            "{:<5} {:<9} {:<5} {:<11} {:>4} {:>8} {:>9.2} {:>8.2}",
            slot,
            t.stage,
            t.batch,
            name,
            t.runs,
            t.parallel_runs,
            ms(t.total) / f64::from(t.runs),
            ms(t.max)
        );
    }
    println!("\n{:<9} {:>4} {:>12}", "stage", "runs", "mean ms");
    let stages = timings.stages.lock().unwrap();
    let mut stage_total = Duration::ZERO;
    for stage in plan.stages() {
        if let Some(&(runs, total)) = stages.get(stage.name()) {
            stage_total += total;
            println!(
                "{:<9} {:>4} {:>12.2}",
                stage.name(),
                runs,
                ms(total) / f64::from(runs)
            );
        }
    }
    println!(
        "\nsystem time {:.2} ms in {:.2} ms of stage time: {:.2}x from running batches in parallel",
        ms(busy_total),
        ms(stage_total),
        busy_total.as_secs_f64() / stage_total.as_secs_f64().max(f64::EPSILON)
    );
    Ok(())
}
