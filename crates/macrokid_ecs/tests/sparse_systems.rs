//! Sparse-set components inside systems: archetype-level plans never
//! narrow a sparse component (one set serves every table), `with`/`without`
//! filters on a sparse component select rows rather than tables, and
//! `Commands::spawn` places sparse bundle parts on the reserved id.

use std::sync::Arc;

use macrokid_core::ResourceId;
use macrokid_ecs::prelude::*;
use macrokid_ecs::QueryState;
use macrokid_threads::{Dispatch, ThreadPool};

#[derive(Debug, PartialEq)]
struct C(u32);
struct A;
struct B;
/// Registered sparse in every world below.
#[derive(Debug, PartialEq)]
struct Sel(u32);

fn batches(plan: &macrokid_core::Plan) -> Vec<Vec<usize>> {
    plan.stages()[0]
        .batches()
        .iter()
        .map(|b| b.systems().to_vec())
        .collect()
}

/// Tables `{C, A}` and `{C, B}`, each entity also with a sparse `Sel`.
fn split_world() -> (World, Entity, Entity) {
    let mut world = World::new();
    world.register_sparse::<Sel>().unwrap();
    let with_a = world.spawn((C(0), A, Sel(0)));
    let with_b = world.spawn((C(0), B, Sel(0)));
    (world, with_a, with_b)
}

/// Writes the sparse `Sel` of entities without `A`.
#[derive(System, Default)]
#[system(writes(Sel), without(A))]
struct SelNotA;
impl Run for SelNotA {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<&mut Sel>().for_each(|mut s| s.0 += 1);
        Ok(())
    }
}

/// Writes the sparse `Sel` of entities without `B`.
#[derive(System, Default)]
#[system(writes(Sel), without(B))]
struct SelNotB;
impl Run for SelNotB {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<&mut Sel>().for_each(|mut s| s.0 += 10);
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct SparseWriters {
    #[stage]
    write: (SelNotA, SelNotB),
}

#[test]
fn sparse_writers_with_disjoint_table_filters_still_conflict() {
    let (mut world, with_a, with_b) = split_world();
    // The same filters over a table component would share a batch (see
    // tests/archetypes.rs); a sparse set is shared by both tables.
    let plan = world.schedule_plan::<SparseWriters>();
    assert_eq!(batches(&plan), [vec![0], vec![1]], "{plan}");
    let sel = ResourceId::of::<Sel>();
    for system in plan.stages()[0].systems() {
        assert_eq!(system.access.parts_of(sel), None, "not narrowed");
    }
    // They run one after the other, each on the rows its filter admits,
    // without a borrow conflict, on any thread count.
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
        .with_dispatch(Dispatch::AlwaysParallel);
    for _ in 0..3 {
        world
            .run_schedule(&mut SparseWriters::default(), &scheduler)
            .unwrap();
    }
    assert_eq!(world.get::<Sel>(with_a), Ok(&Sel(30)));
    assert_eq!(world.get::<Sel>(with_b), Ok(&Sel(3)));
}

/// Writes `C` of entities with the sparse `Sel`, and pokes one entity.
#[derive(System, Default)]
#[system(writes(C), with(Sel))]
struct OnlySelected(Option<Entity>);
impl Run for OnlySelected {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<&mut C>().for_each(|mut c| c.0 += 100);
        if let Some(e) = self.0 {
            match cx.get_mut::<C>(e) {
                Ok(mut c) => c.0 += 1,
                Err(EcsError::QueryMismatch { .. }) => return Err("outside the filter".into()),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }
}

/// Writes `C` of entities without the sparse `Sel`.
#[derive(System, Default)]
#[system(writes(C), without(Sel))]
struct OnlyUnselected;
impl Run for OnlyUnselected {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut state = QueryState::<&mut C>::new();
        state.query_in(cx).for_each(|mut c| c.0 += 1000);
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct SelectedAndNot {
    #[stage]
    write: (OnlySelected, OnlyUnselected),
}

#[test]
fn a_sparse_with_or_without_filter_selects_rows_not_tables() {
    let mut world = World::new();
    world.register_sparse::<Sel>().unwrap();
    let selected = world.spawn((C(0), Sel(1)));
    let plain = world.spawn((C(0),));

    world.run_system(&mut OnlySelected(Some(selected))).unwrap();
    assert_eq!(world.get::<C>(selected), Ok(&C(101)));
    assert_eq!(world.get::<C>(plain), Ok(&C(0)));
    let err = world
        .run_system(&mut OnlySelected(Some(plain)))
        .unwrap_err();
    assert_eq!(err.to_string(), "outside the filter");
    assert_eq!(world.get::<C>(selected), Ok(&C(201)));

    world.run_system(&mut OnlyUnselected).unwrap();
    assert_eq!(world.get::<C>(selected), Ok(&C(201)));
    assert_eq!(world.get::<C>(plain), Ok(&C(1000)));

    // The filters select rows of one table: the plan cannot tell them
    // apart by table, so the writers of `C` conflict (and the accesses
    // of `C` cover the table instead of no table at all).
    let plan = world.schedule_plan::<SelectedAndNot>();
    assert_eq!(batches(&plan), [vec![0], vec![1]], "{plan}");
    let c = ResourceId::of::<C>();
    for system in plan.stages()[0].systems() {
        assert_eq!(system.access.parts_of(c).map(<[u32]>::len), Some(1));
    }
    world
        .run_schedule(
            &mut SelectedAndNot::default(),
            &Scheduler::single_threaded(),
        )
        .unwrap();
    assert_eq!(world.get::<C>(selected), Ok(&C(301)));
    assert_eq!(world.get::<C>(plain), Ok(&C(2000)));
}

#[test]
fn a_plan_built_before_a_sparse_registration_is_rebuilt() {
    let mut world = World::new();
    world.spawn((C(0), A));
    // `Sel` is no table type yet: the `with(Sel)` writer of `C` matches no
    // table.
    let before = world.schedule_plan::<SelectedAndNot>();
    let c = ResourceId::of::<C>();
    let only_selected = &before.stages()[0].systems()[0].access;
    assert_eq!(only_selected.parts_of(c).map(<[u32]>::len), Some(0));
    // Registered sparse, `Sel` no longer narrows by table (no table
    // appeared, yet the plan is rebuilt).
    world.register_sparse::<Sel>().unwrap();
    let after = world.schedule_plan::<SelectedAndNot>();
    assert!(!Arc::ptr_eq(&before, &after));
    let only_selected = &after.stages()[0].systems()[0].access;
    assert_eq!(only_selected.parts_of(c).map(<[u32]>::len), Some(1));
}

/// Spawns one entity with a table part and a sparse part.
#[derive(System, Default)]
#[system(spawns, inserts(C, Sel))]
struct SpawnSelected(Vec<Entity>);
impl Run for SpawnSelected {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let n = self.0.len() as u32;
        self.0.push(cx.commands().spawn((C(n), Sel(n + 10))));
        Ok(())
    }
}

#[test]
fn reserved_spawns_place_sparse_bundle_parts() {
    let (mut world, _, _) = split_world();
    let tables = world.archetype_count();
    let mut system = SpawnSelected::default();
    for _ in 0..3 {
        world.run_system(&mut system).unwrap();
    }
    assert_eq!(system.0.len(), 3);
    for (i, &e) in system.0.iter().enumerate() {
        let i = i as u32;
        assert_eq!(world.get::<C>(e), Ok(&C(i)));
        assert_eq!(world.get::<Sel>(e), Ok(&Sel(i + 10)));
    }
    // `{C}` is the only new table: `Sel` stays out of the tables.
    assert_eq!(world.archetype_count(), tables + 1);
    let mut rows: Vec<(Entity, u32)> = world
        .query::<(Entity, &Sel)>()
        .iter()
        .map(|(e, s)| (e, s.0))
        .filter(|(_, s)| *s >= 10)
        .collect();
    rows.sort_unstable_by_key(|r| r.1);
    let expected: Vec<(Entity, u32)> = system.0.iter().zip(10..).map(|(&e, s)| (e, s)).collect();
    assert_eq!(rows, expected);
}
