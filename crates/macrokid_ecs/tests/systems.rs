//! Systems on a world: `SystemCx` queries, resources and commands; derived
//! schedules through `World::run_schedule`; determinism across thread counts;
//! the runtime borrow guard; error handling.

use std::sync::Arc;

use macrokid_ecs::prelude::*;
use macrokid_threads::ThreadPool;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Position(f32);
#[derive(Clone, Copy, Debug, PartialEq)]
struct Velocity(f32);
#[derive(Clone, Copy, Debug, PartialEq)]
struct Health(i32);
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spawned(u32);
struct Time {
    dt: f32,
}
#[derive(Default)]
struct Snapshot(Vec<(Entity, f32)>);

#[derive(System, Default)]
#[system(reads(Velocity, Time), writes(Position))]
struct Integrate;

impl Run for Integrate {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Time>()?.dt;
        cx.query::<(&mut Position, &Velocity)>()
            .par_for_each(|(mut p, v)| p.0 += v.0 * dt);
        Ok(())
    }
}

/// Damages everything, despawns the dead and spawns one entity per death,
/// from two systems in one stage that may run in parallel.
#[derive(System, Default)]
#[system(writes(Health), spawns, despawns, inserts(Spawned, Position))]
struct Reap {
    tag: u32,
}

impl Run for Reap {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, mut h) in cx.query::<(Entity, &mut Health)>().iter() {
            h.0 -= 1;
            if h.0 <= 0 {
                commands.despawn(e);
                commands.spawn((Spawned(self.tag), Position(e.index() as f32)));
            }
        }
        Ok(())
    }
}

#[derive(System, Default)]
#[system(reads(Spawned), spawns, inserts(Velocity, Spawned, Health))]
struct Birth;

impl Run for Birth {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, s) in cx.query::<(Entity, &Spawned)>().iter() {
            commands.insert(e, Velocity(s.0 as f32));
            commands.spawn((Spawned(s.0 + 100), Health(1000)));
        }
        Ok(())
    }
}

#[derive(System, Default)]
#[system(reads(Position), writes(Snapshot))]
struct Extract;

impl Run for Extract {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut out = cx.resource_mut::<Snapshot>()?;
        out.0.clear();
        out.0.extend(
            cx.query::<(Entity, &Position)>()
                .iter()
                .map(|(e, p)| (e, p.0)),
        );
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct Game {
    #[stage]
    simulate: (Integrate,),
    #[stage(after = "simulate")]
    reap: (Reap, Birth),
    #[stage(after = "reap")]
    extract: (Extract,),
}

fn populate(world: &mut World) {
    world.insert_resource(Time { dt: 0.5 });
    world.insert_resource(Snapshot::default());
    // Smaller under Miri; still more rows than one parallel chunk.
    let scale = if cfg!(miri) { 10 } else { 1 };
    world.spawn_batch(
        (0..3000 / scale).map(|i| (Position(i as f32), Velocity(1.0), Health(i % 5 + 1))),
    );
    world.spawn_batch((0..1000 / scale).map(|i| (Position(-(i as f32)), Health(i % 3 + 1))));
}

/// Everything observable about a world, sorted by entity.
fn dump(world: &mut World) -> Vec<String> {
    let mut rows: Vec<(Entity, String)> = world
        .query::<(
            Entity,
            Option<&Position>,
            Option<&Velocity>,
            Option<&Health>,
            Option<&Spawned>,
        )>()
        .iter()
        .map(|(e, p, v, h, s)| (e, format!("{e:?} {p:?} {v:?} {h:?} {s:?}")))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

fn run_frames(scheduler: &Scheduler, frames: usize) -> (Vec<String>, Vec<(Entity, f32)>) {
    let mut world = World::new();
    populate(&mut world);
    let mut game = Game {
        reap: (Reap { tag: 1 }, Birth),
        ..Game::default()
    };
    for _ in 0..frames {
        world.run_schedule(&mut game, scheduler).unwrap();
    }
    let snapshot = world.resource::<Snapshot>().unwrap().0.clone();
    (dump(&mut world), snapshot)
}

#[test]
fn schedule_runs_stages_and_applies_commands_between_them() {
    let mut world = World::new();
    world.insert_resource(Time { dt: 0.5 });
    world.insert_resource(Snapshot::default());
    let moving = world.spawn((Position(0.0), Velocity(2.0), Health(10)));
    let dying = world.spawn((Position(7.0), Health(1)));
    let mut game = Game::default();
    world
        .run_schedule(&mut game, &Scheduler::single_threaded())
        .unwrap();

    assert_eq!(world.get::<Position>(moving), Ok(&Position(1.0)));
    assert_eq!(world.get::<Health>(moving), Ok(&Health(9)));
    assert!(!world.contains(dying));
    // Reap's spawn applied after the `reap` stage; Birth ran in the same
    // stage, so it did not see the new entity yet.
    let spawned: Vec<(Entity, Spawned)> = world
        .query::<(Entity, &Spawned)>()
        .iter()
        .map(|(e, s)| (e, *s))
        .collect();
    assert_eq!(spawned.len(), 1);
    let (child, _) = spawned[0];
    assert!(!world.has::<Velocity>(child));
    // Extract (after reap) saw the child.
    let snapshot = &world.resource::<Snapshot>().unwrap().0;
    assert_eq!(snapshot.len(), 2);
    assert!(snapshot.contains(&(child, dying.index() as f32)));

    // Next frame: Birth sees the child.
    world
        .run_schedule(&mut game, &Scheduler::single_threaded())
        .unwrap();
    assert_eq!(world.get::<Velocity>(child), Ok(&Velocity(0.0)));
    assert_eq!(world.query::<&Spawned>().len(), 2);
}

#[test]
fn command_order_is_deterministic_across_thread_counts() {
    let frames = if cfg!(miri) { 2 } else { 6 };
    let pool = |threads| Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()));
    let single = run_frames(&Scheduler::single_threaded(), frames);
    let two = run_frames(&pool(2), frames);
    let initial = if cfg!(miri) { 400 } else { 4000 };
    assert!(
        single.0.len() > initial,
        "commands spawned entities: {}",
        single.0.len()
    );
    assert_eq!(single, two);
    // Under Miri, pools are slow to simulate: one multi-threaded run is enough.
    if !cfg!(miri) {
        assert_eq!(single, run_frames(&pool(1), frames));
        assert_eq!(single, run_frames(&pool(4), frames));
    }
}

#[test]
fn run_system_applies_its_commands() {
    let mut world = World::new();
    let e = world.spawn((Health(1),));
    world.run_system(&mut Reap { tag: 7 }).unwrap();
    assert!(!world.contains(e));
    let got: Vec<Spawned> = world.query::<&Spawned>().iter().copied().collect();
    assert_eq!(got, [Spawned(7)]);
}

#[derive(System)]
#[system(
    writes(Position),
    inserts(Position),
    removes(Position),
    spawns,
    despawns
)]
struct StaleCommands(Entity);

impl Run for StaleCommands {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        assert!(!cx.contains(self.0));
        cx.commands().insert(self.0, Position(1.0));
        cx.commands().despawn(self.0);
        cx.commands().remove::<Position>(self.0);
        cx.commands().spawn((Position(5.0),));
        Ok(())
    }
}

#[test]
fn stale_commands_are_skipped_and_counted() {
    let mut world = World::new();
    let gone = world.spawn((Position(0.0),));
    world.despawn(gone).unwrap();
    world.run_system(&mut StaleCommands(gone)).unwrap();
    assert_eq!(world.failed_command_count(), 3);
    assert_eq!(world.len(), 1, "the valid spawn still applied");
    assert!(!world.contains(gone));
}

#[derive(System, Default)]
#[system(writes(Health), spawns, inserts(Health))]
struct Fails;

impl Run for Fails {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.commands().spawn((Health(1),));
        Err("boom".into())
    }
}

#[derive(Schedule, Default)]
struct Failing {
    #[stage]
    first: (Reap,),
    #[stage(after = "first")]
    second: (Fails,),
    #[stage(after = "second")]
    third: (Extract,),
}

#[test]
fn failing_stage_drops_its_commands_and_stops() {
    let mut world = World::new();
    world.insert_resource(Snapshot::default());
    let e = world.spawn((Position(1.0), Health(1)));
    let mut schedule = Failing::default();
    let err = world
        .run_schedule(&mut schedule, &Scheduler::single_threaded())
        .unwrap_err();
    assert!(
        matches!(&err, ScheduleError::SystemFailed { system, .. } if system.contains("Fails")),
        "{err}"
    );
    // First stage applied (despawn + spawn), second stage's spawn dropped,
    // third stage did not run.
    assert!(!world.contains(e));
    assert_eq!(world.query::<&Spawned>().len(), 1);
    assert_eq!(world.query::<&Health>().len(), 0);
    assert!(world.resource::<Snapshot>().unwrap().0.is_empty());
    // The world is still usable.
    world.run_system(&mut Extract).unwrap();
    assert_eq!(world.resource::<Snapshot>().unwrap().0.len(), 1);
}

/// Declares a read of `Position` but also holds a write: a wrong
/// hand-written declaration, caught at run time.
#[derive(Default)]
struct Liar;
macrokid_ecs::__doc::impl_system!(Liar, reads(), writes(Position));

impl Run for Liar {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut a = cx.query::<&mut Position>();
        let mut b = cx.query::<&Position>();
        for (mut x, y) in a.iter().zip(b.iter()) {
            x.0 = y.0;
        }
        Ok(())
    }
}

#[test]
fn overlapping_borrows_panic_with_both_borrowers_named() {
    let mut world = World::new();
    world.spawn((Position(1.0),));
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.run_system(&mut Liar)))
            .expect_err("overlapping borrows must panic");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("Position") && msg.contains("Liar") && msg.contains("writes it"),
        "{msg}"
    );
    // Flags were released on unwind: the world still works.
    assert_eq!(world.query::<&mut Position>().len(), 1);
}

#[derive(Schedule, Default)]
struct LiarSchedule {
    #[stage]
    only: (Liar,),
}

#[test]
fn a_panicking_system_becomes_a_schedule_error() {
    let mut world = World::new();
    world.spawn((Position(1.0),));
    let err = world
        .run_schedule(&mut LiarSchedule::default(), &Scheduler::single_threaded())
        .unwrap_err();
    assert!(matches!(err, ScheduleError::SystemPanicked { .. }), "{err}");
    assert_eq!(world.query::<&Position>().len(), 1);
}

#[derive(System, Default)]
#[system(reads(Position, Health))]
struct Lookup;

impl Run for Lookup {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let entities: Vec<Entity> = cx.query::<Entity>().iter().collect();
        for e in entities {
            let p = cx.get::<Position>(e)?;
            let h = cx.get::<Health>(e);
            assert!(p.0 >= 0.0);
            assert!(matches!(h, Err(EcsError::MissingComponent { .. })));
        }
        Ok(())
    }
}

#[test]
fn random_access_get_in_systems() {
    let mut world = World::new();
    world.spawn((Position(1.0),));
    world.spawn((Position(2.0),));
    world.run_system(&mut Lookup).unwrap();
}

#[test]
fn missing_resource_is_an_error_naming_the_type() {
    let mut world = World::new();
    let err = world.run_system(&mut Integrate).unwrap_err();
    assert!(err.to_string().contains("Time"), "{err}");
}

#[test]
fn run_stage_runs_one_stage_and_applies_its_commands() {
    let mut world = World::new();
    world.insert_resource(Time { dt: 1.0 });
    world.insert_resource(Snapshot::default());
    let dying = world.spawn((Position(0.0), Health(1)));
    let mut game = Game::default();
    let scheduler = Scheduler::single_threaded();
    let stages: Vec<&str> = Game::plan().stages().iter().map(|s| s.name()).collect();
    assert_eq!(stages, ["simulate", "reap", "extract"]);
    world.run_stage(&mut game, &scheduler, 1).unwrap();
    assert!(!world.contains(dying), "the reap stage's despawn applied");
    assert!(
        world.resource::<Snapshot>().unwrap().0.is_empty(),
        "extract did not run"
    );
    world.run_stage(&mut game, &scheduler, 2).unwrap();
    assert_eq!(world.resource::<Snapshot>().unwrap().0.len(), 1);
    let err = world.run_stage(&mut game, &scheduler, 3).unwrap_err();
    assert!(
        matches!(err, ScheduleError::StageIndexOutOfRange { index: 3, .. }),
        "{err}"
    );
}

#[derive(System, Default)]
#[system(reads(Position, Velocity), writes(Snapshot))]
struct ReadTwice;

impl Run for ReadTwice {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut out = cx.resource_mut::<Snapshot>()?;
        out.0.clear();
        for (e, p, q) in cx.query::<(Entity, &Position, &Position)>().iter() {
            out.0.push((e, p.0 + q.0));
        }
        for (e, p, q, v) in cx
            .query::<(Entity, Option<&Position>, &Position, Option<&Velocity>)>()
            .iter()
        {
            out.0
                .push((e, p.map_or(0.0, |p| p.0) + q.0 + v.map_or(0.0, |v| v.0)));
        }
        Ok(())
    }
}

#[test]
fn system_queries_may_read_one_component_twice() {
    let mut world = World::new();
    world.insert_resource(Snapshot::default());
    let a = world.spawn((Position(1.0), Velocity(10.0)));
    let b = world.spawn((Position(2.0),));
    world.run_system(&mut ReadTwice).unwrap();
    let mut seen = world.resource::<Snapshot>().unwrap().0.clone();
    seen.sort_by(|x, y| x.partial_cmp(y).unwrap());
    assert_eq!(seen, [(a, 2.0), (a, 12.0), (b, 4.0), (b, 4.0)]);
}

/// Records the names of the threads its `par_for_each` ran on.
#[derive(System, Default)]
#[system(writes(Position))]
struct WhereParallel {
    threads: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Run for WhereParallel {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let threads = &self.threads;
        cx.query::<&mut Position>().par_for_each(|mut p| {
            p.0 += 1.0;
            let name = std::thread::current().name().unwrap_or("").to_owned();
            threads.lock().unwrap().insert(name);
        });
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct ParallelOnly {
    #[stage]
    only: (WhereParallel,),
}

/// A one-system wave runs on the thread that called `run_schedule` (not
/// handed to the pool), yet its `par_for_each` runs on the scheduler's
/// pool, never on rayon's global pool or the calling thread.
#[test]
fn par_for_each_runs_on_the_schedulers_pool() {
    let pool = ThreadPool::builder()
        .num_threads(2)
        .thread_name_prefix("stage-pool")
        .build()
        .unwrap();
    let scheduler = Scheduler::new(Arc::new(pool));
    let mut world = World::new();
    // Enough rows to split across both workers; under Miri, where each row
    // takes a lock and names its thread, three chunks of 256 or fewer.
    let n = if cfg!(miri) { 600 } else { 20_000 };
    world.spawn_batch((0..n).map(|i| (Position(i as f32),)));
    let mut schedule = ParallelOnly::default();
    for _ in 0..3 {
        world.run_schedule(&mut schedule, &scheduler).unwrap();
    }
    let threads = schedule.only.0.threads.into_inner().unwrap();
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|name| name.starts_with("stage-pool")),
        "{threads:?}"
    );
    let sum: f32 = world.query::<&Position>().iter().map(|p| p.0).sum();
    let expected: f32 = (0..n).map(|i| i as f32 + 3.0).sum();
    assert_eq!(sum, expected);
}
