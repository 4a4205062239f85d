//! A property test against a simple model: random spawn / despawn / insert /
//! remove sequences must leave the world equal to a
//! `HashMap<Entity, (Option<A>, Option<B>, Option<S>)>` (`S` has sparse-set
//! storage), also across snapshot → restore round trips (equal hash, same
//! ids handed out afterwards); change detection of `A` and of `S` (added,
//! changed, removed since the last `clear_trackers`) must match a model of
//! sets; and a twin world that stores `S` in tables, fed the same
//! operations, must hash equal after every step.

use std::collections::{HashMap, HashSet};

use macrokid_ecs::prelude::*;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct A(u32);
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct B(String);
/// Stored in a sparse set (in the main world; in tables in the twin).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct S(u32);

fn registry() -> SnapshotRegistry {
    let mut registry = SnapshotRegistry::new();
    registry.register_pod::<A>().register::<B>().register::<S>();
    registry
}

fn new_world(sparse: bool) -> World {
    let mut world = World::new();
    if sparse {
        world.register_sparse::<S>().unwrap();
    }
    *world.snapshot_registry_mut() = registry();
    world
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
    SpawnAS(u32),
    InsertS(usize, u32),
    RemoveS(usize),
    /// Writes the `S` of an entity through `get_mut`.
    TouchS(usize, u32),
    /// Writes every `S` of entities with an `A` through a query.
    BumpSWithA,
}

/// Change detection of one component since the last `clear_trackers`.
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

fn check_changes<T: Component>(world: &mut World, changes: &Changes) {
    let added: HashSet<Entity> = world.query_filtered::<Entity, Added<T>>().iter().collect();
    let changed: HashSet<Entity> = world
        .query_filtered::<Entity, Changed<T>>()
        .iter()
        .collect();
    assert_eq!(added, changes.added);
    assert_eq!(changed, changes.changed);
    assert_eq!(world.removed::<T>().collect::<Vec<_>>(), changes.removed);
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
        any::<u32>().prop_map(Op::SpawnAS),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertS(i, v)),
        any::<usize>().prop_map(Op::RemoveS),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::TouchS(i, v)),
        Just(Op::BumpSWithA),
    ]
}

/// An entity's components in the model.
type Components = (Option<A>, Option<B>, Option<S>);

type Model = HashMap<Entity, Components>;

fn check(world: &mut World, model: &Model, ever: &[Entity]) {
    assert_eq!(world.len(), model.len());
    for &e in ever {
        match model.get(&e) {
            None => {
                assert!(!world.contains(e));
                assert_eq!(world.get::<A>(e), Err(EcsError::StaleEntity { entity: e }));
            }
            Some((a, b, s)) => {
                assert!(world.contains(e));
                assert_eq!(world.get::<A>(e).ok(), a.as_ref());
                assert_eq!(world.get::<B>(e).ok(), b.as_ref());
                assert_eq!(world.get::<S>(e).ok(), s.as_ref());
            }
        }
    }
    type Row = (Entity, Option<A>, Option<B>, Option<S>);
    let mut from_query: Vec<Row> = world
        .query::<(Entity, Option<&A>, Option<&B>, Option<&S>)>()
        .iter()
        .map(|(e, a, b, s)| (e, a.copied(), b.cloned(), s.copied()))
        .collect();
    from_query.sort_by_key(|x| x.0);
    let mut expected: Vec<Row> = model
        .iter()
        .map(|(e, (a, b, s))| (*e, *a, b.clone(), *s))
        .collect();
    expected.sort_by_key(|x| x.0);
    assert_eq!(from_query, expected);
    let count = |f: &dyn Fn(&Components) -> bool| model.values().filter(|v| f(v)).count();
    assert_eq!(
        world.query::<(&A, &B)>().len(),
        count(&|(a, b, _)| a.is_some() && b.is_some())
    );
    assert_eq!(
        world.query::<(&A, &S)>().len(),
        count(&|(a, _, s)| a.is_some() && s.is_some())
    );
    assert_eq!(
        world.query_filtered::<&B, Without<S>>().len(),
        count(&|(_, b, s)| b.is_some() && s.is_none())
    );
    assert_eq!(
        world
            .query_filtered::<Entity, Or<(With<B>, With<S>)>>()
            .iter()
            .count(),
        count(&|(_, b, s)| b.is_some() || s.is_some())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn world_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        let mut world = new_world(true);
        let mut twin = new_world(false);
        let mut model: Model = HashMap::new();
        let mut ever: Vec<Entity> = Vec::new();
        let mut changes = Changes::default();
        let mut changes_s = Changes::default();
        let pick = |ever: &[Entity], i: usize| (!ever.is_empty()).then(|| ever[i % ever.len()]);
        for op in ops {
            match op {
                Op::SpawnA(v) => { let e = world.spawn((A(v),)); twin.spawn((A(v),)); model.insert(e, (Some(A(v)), None, None)); ever.push(e); changes.add(e); }
                Op::SpawnB(v) => { let e = world.spawn((B(v.to_string()),)); twin.spawn((B(v.to_string()),)); model.insert(e, (None, Some(B(v.to_string())), None)); ever.push(e); }
                Op::SpawnAB(v) => { let e = world.spawn((A(v), B(v.to_string()))); twin.spawn((A(v), B(v.to_string()))); model.insert(e, (Some(A(v)), Some(B(v.to_string())), None)); ever.push(e); changes.add(e); }
                Op::SpawnEmpty => { let e = world.spawn(()); twin.spawn(()); model.insert(e, (None, None, None)); ever.push(e); }
                Op::SpawnAS(v) => { let e = world.spawn((S(v), A(v))); twin.spawn((S(v), A(v))); model.insert(e, (Some(A(v)), None, Some(S(v)))); ever.push(e); changes.add(e); changes_s.add(e); }
                Op::Despawn(i) => if let Some(e) = pick(&ever, i) {
                    let expected = match model.remove(&e) {
                        Some((a, _, s)) => {
                            if a.is_some() { changes.lose(e); }
                            if s.is_some() { changes_s.lose(e); }
                            Ok(())
                        }
                        None => Err(EcsError::StaleEntity { entity: e }),
                    };
                    prop_assert_eq!(twin.despawn(e), expected.clone());
                    prop_assert_eq!(world.despawn(e), expected);
                },
                Op::InsertS(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, S(v));
                    prop_assert_eq!(twin.insert(e, S(v)), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => {
                            prop_assert_eq!(r, Ok(()));
                            if slot.2.replace(S(v)).is_some() { changes_s.changed.insert(e); } else { changes_s.add(e); }
                        }
                        None => prop_assert!(r.is_err()),
                    }
                },
                Op::RemoveS(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<S>(e);
                    prop_assert_eq!(twin.remove::<S>(e), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => match slot.2.take() {
                            Some(s) => { prop_assert_eq!(r, Ok(s)); changes_s.lose(e); }
                            None => prop_assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "expected MissingComponent"),
                        },
                        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                    }
                },
                Op::TouchS(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<S>(e).map(|mut s| s.0 = v);
                    prop_assert_eq!(twin.get_mut::<S>(e).map(|mut s| s.0 = v), r.clone());
                    match model.get_mut(&e) {
                        Some((_, _, Some(s))) => { prop_assert_eq!(r, Ok(())); s.0 = v; changes_s.changed.insert(e); }
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::BumpSWithA => {
                    for w in [&mut world, &mut twin] {
                        for (mut s, a) in w.query::<(&mut S, &A)>().iter() {
                            s.0 = s.0.wrapping_add(a.0);
                        }
                    }
                    for (&e, (a, _, s)) in model.iter_mut() {
                        if let (Some(a), Some(s)) = (a, s) {
                            s.0 = s.0.wrapping_add(a.0);
                            changes_s.changed.insert(e);
                        }
                    }
                },
                Op::InsertA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, A(v));
                    prop_assert_eq!(twin.insert(e, A(v)), r.clone());
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
                    prop_assert_eq!(twin.insert(e, B(v.to_string())), r.clone());
                    match model.get_mut(&e) { Some(slot) => { prop_assert_eq!(r, Ok(())); slot.1 = Some(B(v.to_string())); } None => prop_assert!(r.is_err()) }
                },
                Op::RemoveA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<A>(e);
                    prop_assert_eq!(twin.remove::<A>(e), r.clone());
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
                    prop_assert_eq!(twin.remove::<B>(e), r.clone());
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
                    prop_assert!(restored.is_sparse::<S>(), "sparse storage survives a snapshot");
                    world = restored;
                    let twin_bytes = twin.snapshot().expect("every component is registered");
                    twin.restore(&twin_bytes).expect("own snapshot restores");
                    check(&mut world, &model, &ever);
                    // A restore starts change detection afresh: every row is
                    // added at the restore, no removal is remembered.
                    world.clear_trackers();
                    twin.clear_trackers();
                    changes = Changes::default();
                    changes_s = Changes::default();
                }
                Op::TouchA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|mut a| a.0 = v);
                    prop_assert_eq!(twin.get_mut::<A>(e).map(|mut a| a.0 = v), r.clone());
                    match model.get_mut(&e) {
                        Some((Some(a), _, _)) => { prop_assert_eq!(r, Ok(())); a.0 = v; changes.changed.insert(e); }
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::PeekA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|a| *a);
                    match model.get(&e) {
                        Some((Some(a), _, _)) => prop_assert_eq!(r, Ok(*a)),
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::ClearTrackers => {
                    world.clear_trackers();
                    twin.clear_trackers();
                    changes = Changes::default();
                    changes_s = Changes::default();
                }
            }
            check_changes::<A>(&mut world, &changes);
            check_changes::<S>(&mut world, &changes_s);
            check_changes::<S>(&mut twin, &changes_s);
            prop_assert_eq!(world.hash(), twin.hash(), "storage type does not change the hash");
        }
        check(&mut world, &model, &ever);
        check(&mut twin, &model, &ever);
        check_changes::<A>(&mut world, &changes);
        // Ids are never aliased: every id ever handed out is distinct.
        let mut ids = ever.clone();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), ever.len());
    }
}
