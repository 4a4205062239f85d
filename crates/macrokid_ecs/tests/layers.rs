//! Derived schedules on a world run the stages of one topological layer
//! together (`World::run_schedule` → `RunSchedule::run_stages` →
//! `Scheduler::run_layer`): stages that do not conflict meet at a
//! rendezvous; a stage that conflicts with an earlier one of its layer runs
//! in a later wave and sees that wave's commands.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use macrokid_ecs::prelude::*;
use macrokid_threads::{Dispatch, ThreadPool};

struct Left(u32);
struct Right(u32);
struct Tagged;

/// A rendezvous of `parties` systems: each arrives and waits (up to 5 s)
/// for all of them.
struct Rendezvous {
    arrived: AtomicUsize,
    parties: usize,
}

impl Rendezvous {
    fn meet(&self, who: &str) -> SystemResult {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.arrived.load(Ordering::SeqCst) < self.parties {
            if Instant::now() > deadline {
                return Err(format!(
                    "`{who}` waited 5 s at the rendezvous: the stages of the layer did not run \
                     at the same time"
                )
                .into());
            }
            std::thread::yield_now();
        }
        Ok(())
    }
}

#[derive(System, Default)]
#[system(reads(Rendezvous), writes(Left), inserts(Tagged))]
struct MoveLeft;
impl Run for MoveLeft {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.resource::<Rendezvous>()?.meet("MoveLeft")?;
        let commands = cx.commands();
        for (e, mut l) in cx.query::<(Entity, &mut Left)>().iter() {
            l.0 += 1;
            commands.insert(e, Tagged);
        }
        Ok(())
    }
}

#[derive(System, Default)]
#[system(reads(Rendezvous), writes(Right))]
struct MoveRight;
impl Run for MoveRight {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.resource::<Rendezvous>()?.meet("MoveRight")?;
        cx.query::<&mut Right>().for_each(|mut r| r.0 += 1);
        Ok(())
    }
}

/// Reads what `MoveLeft` inserts through commands: it must not share a wave
/// with `MoveLeft`.
#[derive(System, Default)]
#[system(reads(Tagged), writes(Right))]
struct CountTagged {
    seen: Vec<usize>,
}
impl Run for CountTagged {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        self.seen.push(cx.query::<&Tagged>().len());
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct Split {
    #[stage]
    left: (MoveLeft,),
    #[stage]
    right: (MoveRight,),
    #[stage]
    count: (CountTagged,),
}

#[test]
fn the_plan_puts_conflicting_stages_of_a_layer_in_later_waves() {
    let plan = Split::plan();
    assert_eq!(plan.topo_groups(), [["left", "right", "count"]]);
    let layers = plan.layer_positions();
    let waves = plan.waves(&layers[0]);
    let names: Vec<Vec<&str>> = waves
        .iter()
        .map(|w| w.iter().map(|&p| plan.stages()[p].name()).collect())
        .collect();
    // `count` reads `Tagged`, which `left` inserts (a deferred write), and
    // writes `Right` like `right`.
    assert_eq!(names, [vec!["left", "right"], vec!["count"]]);
}

#[test]
fn stages_of_one_layer_run_at_the_same_time_on_a_world() {
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
        .with_dispatch(Dispatch::AlwaysParallel);
    let mut world = World::new();
    world.spawn_batch((0..10).map(|i| (Left(i),)));
    world.spawn_batch((0..10).map(|i| (Right(i),)));
    let mut split = Split::default();
    for tick in 0..3 {
        world.insert_resource(Rendezvous {
            arrived: AtomicUsize::new(0),
            parties: 2,
        });
        world
            .run_schedule(&mut split, &scheduler)
            .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    }
    // `count` ran after the first wave's commands applied.
    assert_eq!(split.count.0.seen, [10, 10, 10]);
    assert_eq!(
        world.query::<&Left>().iter().map(|l| l.0).sum::<u32>(),
        45 + 30
    );
}

#[test]
fn single_threaded_runs_give_the_same_world() {
    let mut world = World::new();
    world.spawn_batch((0..10).map(|i| (Left(i),)));
    world.insert_resource(Rendezvous {
        arrived: AtomicUsize::new(0),
        parties: 1,
    });
    let mut split = Split::default();
    world
        .run_schedule(&mut split, &Scheduler::single_threaded())
        .unwrap();
    assert_eq!(split.count.0.seen, [10]);
}
