//! A property test against a simple model: random spawn / despawn / insert /
//! remove sequences must leave the world equal to a
//! `HashMap<Entity, (Option<A>, Option<B>)>`, also across snapshot →
//! restore round trips (equal hash, same ids handed out afterwards); and
//! change detection of `A` (added, changed, removed since the last
//! `clear_trackers`) must match a model of sets.

use std::collections::{HashMap, HashSet};

use macrokid_ecs::prelude::*;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct A(u32);
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct B(String);

fn registry() -> SnapshotRegistry {
    let mut registry = SnapshotRegistry::new();
    registry.register_pod::<A>().register::<B>();
    registry
}

#[derive(Clone, Debug)]
enum Op {
    SpawnA(u32),
    SpawnB(u32),
    SpawnAB(u32),
    SpawnEmpty,
    /// Picks an entity by index among all ids ever handed out (so stale
    /// ids are exercised too).
    Despawn(usize),
    InsertA(usize, u32),
    InsertB(usize, u32),
    RemoveA(usize),
    RemoveB(usize),
    /// Replaces the world by one restored from its snapshot.
    SnapshotRestore,
    /// Writes the `A` of an entity through `get_mut`.
    TouchA(usize, u32),
    /// Reads the `A` of an entity through `get_mut` (no change).
    PeekA(usize),
    /// Starts a new change-detection epoch.
    ClearTrackers,
}

/// Change detection of `A` since the last `clear_trackers`.
#[derive(Default)]
struct Changes {
    added: HashSet<Entity>,
    changed: HashSet<Entity>,
    removed: Vec<Entity>,
}

impl Changes {
    fn add(&mut self, e: Entity) {
        self.added.insert(e);
        self.changed.insert(e);
    }

    fn lose(&mut self, e: Entity) {
        self.added.remove(&e);
        self.changed.remove(&e);
        self.removed.push(e);
    }
}

fn check_changes(world: &mut World, changes: &Changes) {
    let added: HashSet<Entity> = world.query_filtered::<Entity, Added<A>>().iter().collect();
    let changed: HashSet<Entity> = world
        .query_filtered::<Entity, Changed<A>>()
        .iter()
        .collect();
    assert_eq!(added, changes.added);
    assert_eq!(changed, changes.changed);
    assert_eq!(world.removed::<A>().collect::<Vec<_>>(), changes.removed);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::SpawnA),
        any::<u32>().prop_map(Op::SpawnB),
        any::<u32>().prop_map(Op::SpawnAB),
        Just(Op::SpawnEmpty),
        any::<usize>().prop_map(Op::Despawn),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertA(i, v)),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertB(i, v)),
        any::<usize>().prop_map(Op::RemoveA),
        any::<usize>().prop_map(Op::RemoveB),
        Just(Op::SnapshotRestore),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::TouchA(i, v)),
        any::<usize>().prop_map(Op::PeekA),
        Just(Op::ClearTrackers),
    ]
}

type Model = HashMap<Entity, (Option<A>, Option<B>)>;

fn check(world: &mut World, model: &Model, ever: &[Entity]) {
    assert_eq!(world.len(), model.len());
    for &e in ever {
        match model.get(&e) {
            None => {
                assert!(!world.contains(e));
                assert_eq!(world.get::<A>(e), Err(EcsError::StaleEntity { entity: e }));
            }
            Some((a, b)) => {
                assert!(world.contains(e));
                assert_eq!(world.get::<A>(e).ok(), a.as_ref());
                assert_eq!(world.get::<B>(e).ok(), b.as_ref());
            }
        }
    }
    let mut from_query: Vec<(Entity, Option<A>, Option<B>)> = world
        .query::<(Entity, Option<&A>, Option<&B>)>()
        .iter()
        .map(|(e, a, b)| (e, a.copied(), b.cloned()))
        .collect();
    from_query.sort_by_key(|x| x.0);
    let mut expected: Vec<(Entity, Option<A>, Option<B>)> = model
        .iter()
        .map(|(e, (a, b))| (*e, *a, b.clone()))
        .collect();
    expected.sort_by_key(|x| x.0);
    assert_eq!(from_query, expected);
    let with_both = world.query::<(&A, &B)>().len();
    assert_eq!(
        with_both,
        model
            .values()
            .filter(|(a, b)| a.is_some() && b.is_some())
            .count()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn world_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        let mut world = World::new();
        *world.snapshot_registry_mut() = registry();
        let mut model: Model = HashMap::new();
        let mut ever: Vec<Entity> = Vec::new();
        let mut changes = Changes::default();
        let pick = |ever: &[Entity], i: usize| (!ever.is_empty()).then(|| ever[i % ever.len()]);
        for op in ops {
            match op {
                Op::SpawnA(v) => { let e = world.spawn((A(v),)); model.insert(e, (Some(A(v)), None)); ever.push(e); changes.add(e); }
                Op::SpawnB(v) => { let e = world.spawn((B(v.to_string()),)); model.insert(e, (None, Some(B(v.to_string())))); ever.push(e); }
                Op::SpawnAB(v) => { let e = world.spawn((A(v), B(v.to_string()))); model.insert(e, (Some(A(v)), Some(B(v.to_string())))); ever.push(e); changes.add(e); }
                Op::SpawnEmpty => { let e = world.spawn(()); model.insert(e, (None, None)); ever.push(e); }
                Op::Despawn(i) => if let Some(e) = pick(&ever, i) {
                    let expected = match model.remove(&e) {
                        Some((a, _)) => { if a.is_some() { changes.lose(e); } Ok(()) }
                        None => Err(EcsError::StaleEntity { entity: e }),
                    };
                    prop_assert_eq!(world.despawn(e), expected);
                },
                Op::InsertA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, A(v));
                    match model.get_mut(&e) {
                        Some(slot) => {
                            prop_assert_eq!(r, Ok(()));
                            if slot.0.replace(A(v)).is_some() { changes.changed.insert(e); } else { changes.add(e); }
                        }
                        None => prop_assert!(r.is_err()),
                    }
                },
                Op::InsertB(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, B(v.to_string()));
                    match model.get_mut(&e) { Some(slot) => { prop_assert_eq!(r, Ok(())); slot.1 = Some(B(v.to_string())); } None => prop_assert!(r.is_err()) }
                },
                Op::RemoveA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<A>(e);
                    match model.get_mut(&e) {
                        Some(slot) => match slot.0.take() {
                            Some(a) => { prop_assert_eq!(r, Ok(a)); changes.lose(e); }
                            None => prop_assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "expected MissingComponent"),
                        },
                        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                    }
                },
                Op::RemoveB(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<B>(e);
                    match model.get_mut(&e) {
                        Some(slot) => match slot.1.take() {
                            Some(b) => prop_assert_eq!(r, Ok(b)),
                            None => prop_assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "expected MissingComponent"),
                        },
                        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                    }
                },
                Op::SnapshotRestore => {
                    let bytes = world.snapshot().expect("every component is registered");
                    let restored = World::from_snapshot(registry(), &bytes).expect("own snapshot restores");
                    prop_assert_eq!(restored.hash(), world.hash());
                    world = restored;
                    check(&mut world, &model, &ever);
                    // A restore starts change detection afresh: every row is
                    // added at the restore, no removal is remembered.
                    world.clear_trackers();
                    changes = Changes::default();
                }
                Op::TouchA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|mut a| a.0 = v);
                    match model.get_mut(&e) {
                        Some((Some(a), _)) => { prop_assert_eq!(r, Ok(())); a.0 = v; changes.changed.insert(e); }
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::PeekA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|a| *a);
                    match model.get(&e) {
                        Some((Some(a), _)) => prop_assert_eq!(r, Ok(*a)),
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::ClearTrackers => { world.clear_trackers(); changes = Changes::default(); }
            }
            check_changes(&mut world, &changes);
        }
        check(&mut world, &model, &ever);
        check_changes(&mut world, &changes);
        // Ids are never aliased: every id ever handed out is distinct.
        let mut ids = ever.clone();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), ever.len());
    }
}
