//! Sparse-set components: storage moves, queries, change detection,
//! removals, hashes and snapshots, plus `Or` and `get_many_mut`.

use macrokid_ecs::prelude::*;
use macrokid_ecs::QueryState;

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Pos(f32);
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Vel(f32);
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Selected(u32);
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tag;

fn registry() -> SnapshotRegistry {
    let mut r = SnapshotRegistry::new();
    r.register_pod::<Pos>()
        .register_pod::<Vel>()
        .register::<Selected>()
        .register::<Tag>();
    r
}

fn sparse_world() -> World {
    let mut world = World::new();
    world.register_sparse::<Selected>().unwrap();
    world.register_sparse::<Tag>().unwrap();
    *world.snapshot_registry_mut() = registry();
    world
}

/// The table count and every entity's position in iteration order: with
/// no table move, both are unchanged.
fn layout(world: &mut World) -> (usize, Vec<Entity>) {
    let order = world.query::<Entity>().iter().collect();
    (world.archetype_count(), order)
}

#[test]
fn adding_and_removing_a_sparse_component_moves_no_table_row() {
    let mut world = sparse_world();
    let es: Vec<Entity> = (0..5).map(|i| world.spawn((Pos(i as f32),))).collect();
    let before = layout(&mut world);
    world.insert(es[1], Selected(7)).unwrap();
    world.insert(es[3], Tag).unwrap();
    world.insert(es[1], Selected(8)).unwrap();
    assert_eq!(layout(&mut world), before, "no new table, no row moved");
    assert_eq!(world.remove::<Selected>(es[1]).unwrap(), Selected(8));
    assert_eq!(layout(&mut world), before);
    assert!(matches!(
        world.remove::<Selected>(es[1]),
        Err(EcsError::MissingComponent { .. })
    ));
    // A table component does move the entity (a new table appears).
    world.insert(es[2], Vel(1.0)).unwrap();
    assert_eq!(world.archetype_count(), before.0 + 1);
    assert!(world.has::<Tag>(es[3]) && !world.has::<Tag>(es[2]));
}

#[test]
fn registering_after_table_use_is_an_error() {
    let mut world = World::new();
    world.spawn((Pos(0.0),));
    assert_eq!(
        world.register_sparse::<Pos>(),
        Err(EcsError::StorageInUse {
            component: std::any::type_name::<Pos>()
        })
    );
    assert!(!world.is_sparse::<Pos>());
    world.register_sparse::<Tag>().unwrap();
    world.register_sparse::<Tag>().unwrap();
    assert!(world.is_sparse::<Tag>());
}

#[test]
fn queries_read_write_filter_and_option_sparse_components() {
    let mut world = sparse_world();
    let a = world.spawn((Pos(1.0), Selected(1)));
    let b = world.spawn((Pos(2.0), Vel(1.0)));
    let c = world.spawn((Pos(3.0), Vel(1.0), Selected(3), Tag));
    let _d = world.spawn((Selected(4),));
    let mut both: Vec<(f32, u32)> = world
        .query::<(&Pos, &Selected)>()
        .iter()
        .map(|(p, s)| (p.0, s.0))
        .collect();
    both.sort_by(|x, y| x.0.total_cmp(&y.0));
    assert_eq!(both, [(1.0, 1), (3.0, 3)]);
    for (mut s, v) in world.query::<(&mut Selected, Option<&Vel>)>().iter() {
        s.0 += if v.is_some() { 100 } else { 10 };
    }
    assert_eq!(world.get::<Selected>(a).unwrap().0, 11);
    assert_eq!(world.get::<Selected>(c).unwrap().0, 103);
    let has: Vec<(Entity, bool)> = world.query::<(Entity, Has<Tag>)>().iter().collect();
    assert!(has.contains(&(c, true)) && has.contains(&(a, false)));
    let opt: Vec<Option<u32>> = {
        let mut q = world.query_filtered::<Option<&Selected>, With<Vel>>();
        let mut v: Vec<Option<u32>> = q.iter().map(|s| s.map(|s| s.0)).collect();
        v.sort();
        v
    };
    assert_eq!(opt, [None, Some(103)]);
    assert_eq!(world.query_filtered::<&Pos, With<Tag>>().len(), 1);
    assert_eq!(world.query_filtered::<&Pos, Without<Selected>>().len(), 1);
    assert_eq!(
        world
            .query_filtered::<Entity, (With<Pos>, Without<Tag>)>()
            .iter()
            .collect::<Vec<_>>()
            .len(),
        2
    );
    // Read-only queries on a shared world see sparse components.
    let shared: &World = &world;
    assert_eq!(shared.query_ref::<&Selected>().len(), 3);
    let mut state = QueryState::<(&Pos, &Selected), Without<Tag>>::new();
    assert_eq!(state.query_ref(shared).len(), 1);
    let mut q = world.query::<&Selected>();
    assert!(matches!(q.get(b), Err(EcsError::QueryMismatch { .. })));
    assert_eq!(q.get(a).unwrap().0, 11);
}

#[test]
fn par_for_each_writes_every_sparse_row_once() {
    let mut world = sparse_world();
    // Several parallel chunks (256 rows or more each); fewer rows under Miri,
    // which interprets every one.
    let n = if cfg!(miri) { 1000 } else { 5000 };
    let es = world.spawn_batch((0..n).map(|i| (Pos(i as f32),)));
    for e in es.iter().step_by(3) {
        world.insert(*e, Selected(0)).unwrap();
    }
    world
        .query::<(&Pos, &mut Selected)>()
        .par_for_each(|(p, mut s)| s.0 += p.0 as u32 + 1);
    for (i, e) in es.iter().enumerate() {
        let expected = (i % 3 == 0).then_some(i as u32 + 1);
        assert_eq!(world.get::<Selected>(*e).ok().map(|s| s.0), expected);
    }
}

#[test]
fn change_detection_and_removals_cover_sparse_components() {
    let mut world = sparse_world();
    let a = world.spawn((Pos(0.0),));
    let b = world.spawn((Pos(1.0), Selected(1)));
    world.clear_trackers();
    assert_eq!(world.query_filtered::<Entity, Added<Selected>>().len(), 0);
    world.insert(a, Selected(2)).unwrap();
    let added: Vec<Entity> = world
        .query_filtered::<Entity, Added<Selected>>()
        .iter()
        .collect();
    assert_eq!(added, [a]);
    world.clear_trackers();
    // A read through `Mut` is not a change; a write is.
    for s in world.query::<&mut Selected>().iter() {
        let _ = s.0;
    }
    assert_eq!(world.query_filtered::<Entity, Changed<Selected>>().len(), 0);
    world.get_mut::<Selected>(b).unwrap().0 = 9;
    let changed: Vec<Entity> = world
        .query_filtered::<Entity, Changed<Selected>>()
        .iter()
        .collect();
    assert_eq!(changed, [b]);
    let ticks = world.component_ticks::<Selected>(b).unwrap();
    assert!(ticks.changed.get() > ticks.added.get());
    world.clear_trackers();
    world.remove::<Selected>(a).unwrap();
    world.despawn(b).unwrap();
    assert_eq!(world.removed::<Selected>().collect::<Vec<_>>(), [a, b]);
    assert_eq!(world.query::<&Selected>().len(), 0);
}

#[test]
fn or_filters_mix_table_sparse_and_change_conditions() {
    let mut world = sparse_world();
    let a = world.spawn((Pos(0.0), Vel(1.0)));
    let b = world.spawn((Pos(1.0), Tag));
    let c = world.spawn((Pos(2.0),));
    let sorted = |mut v: Vec<Entity>| {
        v.sort();
        v
    };
    let q: Vec<Entity> = world
        .query_filtered::<Entity, Or<(With<Vel>, With<Tag>)>>()
        .iter()
        .collect();
    assert_eq!(sorted(q), sorted(vec![a, b]));
    world.clear_trackers();
    world.get_mut::<Pos>(c).unwrap().0 = 5.0;
    let q: Vec<Entity> = world
        .query_filtered::<Entity, Or<(Changed<Pos>, (With<Tag>, Without<Vel>))>>()
        .iter()
        .collect();
    assert_eq!(sorted(q), sorted(vec![b, c]));
    assert_eq!(
        world
            .query_filtered::<Entity, Or<(Added<Selected>, Changed<Vel>)>>()
            .len(),
        0
    );
    assert_eq!(world.query_filtered::<Entity, Or<()>>().len(), 0);
}

#[test]
fn get_many_mut_rejects_duplicates_and_stale_ids_and_never_aliases() {
    let mut world = sparse_world();
    let a = world.spawn((Pos(1.0), Selected(1)));
    let b = world.spawn((Pos(2.0),));
    let c = world.spawn((Pos(3.0), Vel(0.0), Selected(3)));
    let dead = world.spawn((Pos(9.0),));
    world.despawn(dead).unwrap();
    {
        let mut q = world.query::<&mut Pos>();
        let [mut x, mut y, mut z] = q.get_many_mut([c, a, b]).unwrap();
        x.0 += 10.0;
        y.0 += 20.0;
        z.0 += 30.0;
        assert!(matches!(
            q.get_many_mut([a, a]),
            Err(EcsError::DuplicateEntity { entity, .. }) if entity == a
        ));
        assert!(matches!(
            q.get_many_mut([a, dead]),
            Err(EcsError::StaleEntity { .. })
        ));
    }
    let values: Vec<f32> = [a, b, c]
        .iter()
        .map(|&e| world.get::<Pos>(e).unwrap().0)
        .collect();
    assert_eq!(values, [21.0, 32.0, 13.0]);
    let mut q = world.query::<(&mut Selected, &Pos)>();
    assert!(matches!(
        q.get_many_mut([a, b]),
        Err(EcsError::QueryMismatch { entity, .. }) if entity == b
    ));
    let [(mut s1, _), (mut s3, _)] = q.get_many_mut([a, c]).unwrap();
    std::mem::swap(&mut s1.0, &mut s3.0);
    drop(q);
    assert_eq!(world.get::<Selected>(a).unwrap().0, 3);
}

/// Builds one logical world in one of several ways: sparse or table
/// storage for `Selected`/`Tag`, and different operation orders.
fn build(sparse: bool, order: u8) -> World {
    let mut world = World::new();
    if sparse {
        world.register_sparse::<Selected>().unwrap();
        world.register_sparse::<Tag>().unwrap();
    }
    *world.snapshot_registry_mut() = registry();
    let es: [Entity; 6] = std::array::from_fn(|i| world.spawn((Pos(i as f32),)));
    type Step = Box<dyn Fn(&mut World)>;
    let steps: Vec<Step> = vec![
        Box::new(move |w| w.insert(es[1], Selected(1)).unwrap()),
        Box::new(move |w| w.insert(es[2], Tag).unwrap()),
        Box::new(move |w| w.insert(es[4], Selected(4)).unwrap()),
        Box::new(move |w| w.insert(es[4], Vel(2.0)).unwrap()),
        Box::new(move |w| w.insert(es[5], Selected(9)).unwrap()),
    ];
    let order: Vec<usize> = match order {
        0 => vec![0, 1, 2, 3, 4],
        _ => vec![4, 3, 2, 1, 0],
    };
    for i in order {
        steps[i](&mut world);
    }
    world.remove::<Selected>(es[5]).unwrap();
    world
}

#[test]
fn world_hash_ignores_storage_type_and_operation_order() {
    let reference = build(false, 0).hash();
    for (sparse, order) in [(true, 0), (true, 1), (false, 1)] {
        assert_eq!(
            build(sparse, order).hash(),
            reference,
            "sparse {sparse}, order {order}"
        );
    }
    let mut other = build(true, 0);
    let e = other
        .query_filtered::<Entity, With<Tag>>()
        .iter()
        .next()
        .unwrap();
    other.insert(e, Selected(0)).unwrap();
    assert_ne!(other.hash(), reference, "a sparse component counts");
}

#[test]
fn snapshots_round_trip_sparse_components() {
    let world = build(true, 1);
    let bytes = world.snapshot().unwrap();
    let restored = World::from_snapshot(registry(), &bytes).unwrap();
    assert_eq!(restored.hash(), world.hash());
    assert!(restored.is_sparse::<Selected>() && restored.is_sparse::<Tag>());
    let mut restored = restored;
    let e = restored.spawn((Pos(7.0),));
    let before = restored.archetype_count();
    restored.insert(e, Tag).unwrap();
    assert_eq!(
        restored.archetype_count(),
        before,
        "still sparse after restore"
    );
    // Restoring sparse data into a world that stores the type in tables is
    // fine (the snapshot's storage is adopted)...
    let mut table_world = build(false, 0);
    table_world.restore(&bytes).unwrap();
    assert_eq!(table_world.hash(), world.hash());
    // ...but table data into a world registered sparse is refused whole.
    let table_bytes = build(false, 0).snapshot().unwrap();
    let mut sparse_world = build(true, 0);
    let hash = sparse_world.hash();
    assert!(matches!(
        sparse_world.restore(&table_bytes),
        Err(SnapshotError::Column { .. })
    ));
    assert_eq!(
        sparse_world.hash(),
        hash,
        "unchanged after a refused restore"
    );
}

#[test]
fn a_sparse_component_of_an_unregistered_type_is_an_error() {
    #[derive(Debug)]
    struct Secret;
    let mut world = World::new();
    world.register_sparse::<Secret>().unwrap();
    assert!(world.snapshot().is_ok(), "an empty set is left out");
    world.spawn((Secret,));
    assert!(matches!(
        world.snapshot(),
        Err(SnapshotError::UnregisteredComponent { .. })
    ));
}

#[test]
fn despawn_and_clear_drop_sparse_components_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let mut world = World::new();
    world.register_sparse::<Counted>().unwrap();
    let a = world.spawn((Pos(0.0), Counted(drops.clone())));
    let _b = world.spawn((Counted(drops.clone()),));
    world.despawn(a).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let c = world.spawn((Pos(1.0),));
    assert!(
        !world.has::<Counted>(c),
        "a reused index has no stale value"
    );
    world.clear();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn query_writes_stamp_exactly_the_written_sparse_rows() {
    let mut world = sparse_world();
    let es = world.spawn_batch((0..300).map(|i| (Pos(i as f32),)));
    // Every other entity, inserted out of order, so that dense indices
    // differ from rows.
    for e in es.iter().rev().step_by(2) {
        world.insert(*e, Selected(e.index())).unwrap();
    }
    world.clear_trackers();
    for mut s in world.query::<&mut Selected>().iter() {
        if s.0 % 3 == 0 {
            s.0 += 1000;
        }
    }
    let mut changed: Vec<Entity> = world
        .query_filtered::<Entity, Changed<Selected>>()
        .iter()
        .collect();
    changed.sort();
    let mut expected: Vec<Entity> = es
        .iter()
        .rev()
        .step_by(2)
        .copied()
        .filter(|e| e.index() % 3 == 0)
        .collect();
    expected.sort();
    assert_eq!(changed, expected);
    // A writer filtered by its own ticks sees the same rows, and nothing
    // was added.
    assert_eq!(
        world
            .query_filtered::<&mut Selected, Changed<Selected>>()
            .len(),
        expected.len()
    );
    assert_eq!(world.query_filtered::<Entity, Added<Selected>>().len(), 0);
    for e in &expected {
        let ticks = world.component_ticks::<Selected>(*e).unwrap();
        assert!(ticks.changed.get() > ticks.added.get(), "{e:?}");
    }
}

#[test]
fn a_held_sparse_storage_inserts_removes_and_stamps_like_the_world() {
    let mut world = sparse_world();
    let es = world.spawn_batch((0..6).map(|i| (Pos(i as f32),)));
    world.insert(es[5], Selected(50)).unwrap();
    world.clear_trackers();
    {
        let mut selected = world.sparse_storage_mut::<Selected>().unwrap();
        assert_eq!(selected.len(), 1);
        for (i, e) in es[..4].iter().enumerate() {
            assert_eq!(selected.insert(*e, Selected(i as u32)), Ok(None));
        }
        assert_eq!(selected.insert(es[0], Selected(10)), Ok(Some(Selected(0))));
        assert_eq!(selected.remove(es[1]), Ok(Selected(1)));
        assert!(matches!(
            selected.remove(es[1]),
            Err(EcsError::MissingComponent { .. })
        ));
        selected.get_mut(es[5]).unwrap().0 += 1;
        assert_eq!(selected.get(es[5]), Some(&Selected(51)));
        assert!(selected.contains(es[2]) && !selected.contains(es[4]));
        assert_eq!(selected.len(), 4);
    }

    let mut added: Vec<Entity> = world
        .query_filtered::<Entity, Added<Selected>>()
        .iter()
        .collect();
    added.sort();
    assert_eq!(added, [es[0], es[2], es[3]]);
    let mut changed: Vec<Entity> = world
        .query_filtered::<Entity, Changed<Selected>>()
        .iter()
        .collect();
    changed.sort();
    assert_eq!(changed, [es[0], es[2], es[3], es[5]]);
    assert_eq!(world.removed::<Selected>().collect::<Vec<_>>(), [es[1]]);

    // Stale ids are errors; the value given is dropped, nothing changes.
    world.despawn(es[2]).unwrap();
    {
        let mut selected = world.sparse_storage_mut::<Selected>().unwrap();
        assert_eq!(
            selected.insert(es[2], Selected(7)),
            Err(EcsError::StaleEntity { entity: es[2] })
        );
        assert_eq!(
            selected.remove(es[2]),
            Err(EcsError::StaleEntity { entity: es[2] })
        );
        assert_eq!(selected.get(es[2]), None);
        assert_eq!(selected.len(), 3);
    }
    // A table component has no sparse storage to hold.
    let err = world.sparse_storage_mut::<Pos>().unwrap_err();
    assert!(matches!(err, EcsError::NotSparse { .. }));
    assert!(err.to_string().contains("register_sparse"), "{err}");
}
