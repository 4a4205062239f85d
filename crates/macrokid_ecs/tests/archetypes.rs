//! Archetype-level conflicts (legion's design): two writers of one
//! component conflict only when their `with`/`without` filters let them
//! match a common table that exists. The world's plan for a schedule
//! (`World::schedule_plan`) follows the tables, is rebuilt when a table
//! appears, and the runtime borrow flags follow the same rule.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use macrokid_core::ResourceId;
use macrokid_ecs::prelude::*;
use macrokid_threads::{Dispatch, ThreadPool};

#[derive(Debug, PartialEq)]
struct C(u32);
struct A;
struct B;

/// Each writer waits (up to 5 s) for `parties` writers to be inside their
/// run at once.
struct Rendezvous {
    arrived: AtomicUsize,
    parties: usize,
}

impl Rendezvous {
    fn new(parties: usize) -> Self {
        Self {
            arrived: AtomicUsize::new(0),
            parties,
        }
    }

    fn meet(&self, who: &str) -> SystemResult {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.arrived.load(Ordering::SeqCst) < self.parties {
            if Instant::now() > deadline {
                return Err(format!("`{who}` waited 5 s: the writers did not run together").into());
            }
            std::thread::yield_now();
        }
        Ok(())
    }
}

/// Writes `C` of entities without `A`, holding its query while it waits.
#[derive(System, Default)]
#[system(reads(Rendezvous), writes(C), without(A))]
struct NotA;
impl Run for NotA {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut query = cx.query::<&mut C>();
        cx.resource::<Rendezvous>()?.meet("NotA")?;
        query.for_each(|mut c| c.0 += 1);
        Ok(())
    }
}

/// Writes `C` of entities without `B`, holding its query while it waits.
#[derive(System, Default)]
#[system(reads(Rendezvous), writes(C), without(B))]
struct NotB;
impl Run for NotB {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut query = cx.query::<&mut C>();
        cx.resource::<Rendezvous>()?.meet("NotB")?;
        query.for_each(|mut c| c.0 += 10);
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct Writers {
    #[stage]
    write: (NotA, NotB),
}

fn batches(plan: &macrokid_core::Plan) -> Vec<Vec<usize>> {
    plan.stages()[0]
        .batches()
        .iter()
        .map(|b| b.systems().to_vec())
        .collect()
}

/// Tables `{C, A}` and `{C, B}`: `NotA` matches only the second, `NotB`
/// only the first.
fn split_world() -> (World, Entity, Entity) {
    let mut world = World::new();
    let with_a = world.spawn((C(0), A));
    let with_b = world.spawn((C(0), B));
    (world, with_a, with_b)
}

#[test]
fn writers_with_disjoint_without_filters_share_a_batch_until_a_table_overlaps() {
    // By type alone they conflict.
    assert_eq!(batches(Writers::plan()), [vec![0], vec![1]]);

    let (mut world, _, _) = split_world();
    let plan = world.schedule_plan::<Writers>();
    assert_eq!(batches(&plan), [vec![0, 1]], "{plan}");
    let c = ResourceId::of::<C>();
    let not_a = &plan.stages()[0].systems()[0].access;
    assert!(not_a.parts_of(c).is_some_and(|p| p.len() == 1));
    // Unchanged tables: the same plan, not rebuilt.
    assert!(Arc::ptr_eq(&plan, &world.schedule_plan::<Writers>()));
    // A table unrelated to `C` rebuilds the plan but keeps the batch.
    world.spawn((A, B));
    assert_eq!(batches(&world.schedule_plan::<Writers>()), [vec![0, 1]]);

    // A table `{C}` matches both filters: now they conflict.
    world.spawn((C(0),));
    let plan = world.schedule_plan::<Writers>();
    assert_eq!(batches(&plan), [vec![0], vec![1]], "{plan}");
}

#[test]
fn disjoint_writers_run_at_the_same_time() {
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
        .with_dispatch(Dispatch::AlwaysParallel);
    let (mut world, with_a, with_b) = split_world();
    for tick in 0..3 {
        world.insert_resource(Rendezvous::new(2));
        world
            .run_schedule(&mut Writers::default(), &scheduler)
            .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    }
    // Each writer touched only the tables its filter admits.
    assert_eq!(world.get::<C>(with_a), Ok(&C(30)));
    assert_eq!(world.get::<C>(with_b), Ok(&C(3)));
}

#[test]
fn overlapping_writers_run_one_after_the_other() {
    // With a `{C}` table the writers are in two batches; a rendezvous of one
    // party each never waits, and the shared entity sees both writes.
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
        .with_dispatch(Dispatch::AlwaysParallel);
    let (mut world, _, _) = split_world();
    let both = world.spawn((C(0),));
    world.insert_resource(Rendezvous::new(1));
    world
        .run_schedule(&mut Writers::default(), &scheduler)
        .unwrap();
    assert_eq!(world.get::<C>(both), Ok(&C(11)));
}

#[derive(System, Default)]
#[system(writes(C), with(A))]
struct OnlyA;
impl Run for OnlyA {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<&mut C>().for_each(|mut c| c.0 += 100);
        Ok(())
    }
}

#[test]
fn a_system_sees_only_entities_its_filter_admits() {
    let (mut world, with_a, with_b) = split_world();
    world.run_system(&mut OnlyA).unwrap();
    assert_eq!(world.get::<C>(with_a), Ok(&C(100)));
    assert_eq!(world.get::<C>(with_b), Ok(&C(0)));

    #[derive(System, Default)]
    #[system(writes(C), with(A))]
    struct Poke(Option<Entity>);
    impl Run for Poke {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            let e = self.0.expect("set by the test");
            match cx.get_mut::<C>(e) {
                Ok(mut c) => c.0 += 1,
                Err(EcsError::QueryMismatch { .. }) => return Err("outside the filter".into()),
                Err(other) => return Err(other.into()),
            }
            Ok(())
        }
    }
    world.run_system(&mut Poke(Some(with_a))).unwrap();
    let err = world.run_system(&mut Poke(Some(with_b))).unwrap_err();
    assert_eq!(err.to_string(), "outside the filter");
}

/// The world's query cache keeps each matched table's column indices: a
/// cached query must stay right when tables with other column layouts
/// (and tables lacking an optional component) appear between its runs, and
/// its `Changed` filter must read the ticks of the right column.
#[test]
fn cached_queries_follow_new_tables_and_their_column_layouts() {
    #[derive(Debug, PartialEq)]
    struct P(i32);
    struct V(i32);
    struct Tag;
    let mut world = World::new();
    world.spawn((P(1), V(10)));
    let run = |world: &mut World| {
        world
            .query::<(&mut P, &V, Option<&Tag>)>()
            .for_each(|(mut p, v, tag)| p.0 += v.0 + i32::from(tag.is_some()) * 1000);
    };
    run(&mut world);
    // New tables between runs: extra columns before and after the queried
    // ones (by type id order), and one with the optional `Tag`.
    world.spawn((P(2), V(20), 5_u8));
    world.spawn((V(30), P(3), Tag, 7_u64));
    world.spawn((P(4),)); // no `V`: not matched
    world.clear_trackers();
    run(&mut world);
    let mut values: Vec<i32> = world.query::<&P>().iter().map(|p| p.0).collect();
    values.sort_unstable();
    assert_eq!(values, [4, 21, 22, 1033]);
    // Every written row is seen as changed (through the cached columns'
    // ticks), the unmatched one is not.
    let mut changed: Vec<i32> = world
        .query_filtered::<&P, Changed<P>>()
        .iter()
        .map(|p| p.0)
        .collect();
    changed.sort_unstable();
    assert_eq!(changed, [21, 22, 1033]);
}

/// `World::query` holds the world exclusively and takes no borrow flag: a
/// leaked shared-world query (whose flags are never given back) does not
/// block it.
#[test]
fn an_exclusive_query_is_not_blocked_by_a_leaked_shared_one() {
    struct P(i32);
    let mut world = World::new();
    world.spawn((P(1),));
    std::mem::forget(world.query_ref::<&P>());
    world.query::<&mut P>().for_each(|mut p| p.0 += 1);
    assert_eq!(world.query::<&P>().iter().map(|p| p.0).sum::<i32>(), 2);
}

#[test]
fn a_table_made_between_runs_changes_the_plan_of_the_next_run() {
    // `run_schedule` caches the schedule's layers and refined plan per
    // world: the second run must see the `{C}` table the first did not
    // have, and run the writers one after the other (with the first run's
    // batch they would both write `{C}` at once and the borrow flags would
    // fail the run).
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
        .with_dispatch(Dispatch::AlwaysParallel);
    let (mut world, with_a, with_b) = split_world();
    let mut writers = Writers::default();
    world.insert_resource(Rendezvous::new(2));
    world.run_schedule(&mut writers, &scheduler).unwrap();
    let before = world.schedule_plan::<Writers>();
    assert_eq!(batches(&before), [vec![0, 1]]);

    let both = world.spawn((C(0),));
    world.insert_resource(Rendezvous::new(1));
    for tick in 0..3 {
        world
            .run_schedule(&mut writers, &scheduler)
            .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    }
    let after = world.schedule_plan::<Writers>();
    assert!(!Arc::ptr_eq(&before, &after));
    assert_eq!(batches(&after), [vec![0], vec![1]]);
    assert_eq!(world.get::<C>(both), Ok(&C(33)));
    assert_eq!(world.get::<C>(with_a), Ok(&C(40)));
    assert_eq!(world.get::<C>(with_b), Ok(&C(4)));
}
