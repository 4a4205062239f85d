//! World operations: spawn, despawn, insert, remove, get, queries, filters,
//! resources, stale ids.

use macrokid_ecs::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Pos(i32);
#[derive(Clone, Copy, Debug, PartialEq)]
struct Vel(i32);
#[derive(Clone, Debug, PartialEq)]
struct Name(String);
#[derive(Debug, PartialEq)]
struct Tag;

#[test]
fn spawn_get_and_len() {
    let mut world = World::new();
    assert!(world.is_empty());
    let a = world.spawn((Pos(1), Vel(2)));
    let b = world.spawn((Pos(3),));
    let c = world.spawn(());
    assert_eq!(world.len(), 3);
    assert_eq!(world.get::<Pos>(a), Ok(&Pos(1)));
    assert_eq!(world.get::<Vel>(a), Ok(&Vel(2)));
    assert_eq!(world.get::<Pos>(b), Ok(&Pos(3)));
    assert_eq!(
        world.get::<Vel>(b),
        Err(EcsError::MissingComponent {
            entity: b,
            component: std::any::type_name::<Vel>()
        })
    );
    assert!(world.contains(c));
    assert!(world.has::<Pos>(a) && !world.has::<Pos>(c));
    world.get_mut::<Pos>(a).unwrap().0 = 10;
    assert_eq!(world.get::<Pos>(a), Ok(&Pos(10)));
}

#[test]
fn stale_id_rejected_after_despawn_and_after_index_reuse() {
    let mut world = World::new();
    let a = world.spawn((Pos(1),));
    let keep = world.spawn((Pos(2),));
    world.despawn(a).unwrap();
    let stale = Err(EcsError::StaleEntity { entity: a });
    assert_eq!(world.get::<Pos>(a), stale.clone().map(|()| &Pos(0)));
    assert_eq!(world.despawn(a), stale);
    assert_eq!(world.insert(a, Vel(1)), stale);
    assert_eq!(world.remove::<Pos>(a), stale.clone().map(|()| Pos(0)));
    assert!(!world.contains(a));

    // The index is reused with a new generation; the old id still fails.
    let b = world.spawn((Pos(3),));
    assert_eq!(b.index(), a.index());
    assert_ne!(b.generation(), a.generation());
    assert_eq!(world.get::<Pos>(b), Ok(&Pos(3)));
    assert_eq!(
        world.get::<Pos>(a),
        Err(EcsError::StaleEntity { entity: a })
    );
    assert_eq!(world.get::<Pos>(keep), Ok(&Pos(2)));
    let msg = EcsError::StaleEntity { entity: a }.to_string();
    assert!(
        msg.contains(&format!("{a:?}")) && msg.contains("stale"),
        "{msg}"
    );
}

#[test]
fn insert_and_remove_move_between_tables_keeping_other_components() {
    let mut world = World::new();
    let others: Vec<Entity> = (0..5).map(|i| world.spawn((Pos(i), Vel(-i)))).collect();
    let e = world.spawn((Pos(100), Vel(200)));
    world.insert(e, Name("e".into())).unwrap();
    assert_eq!(world.get::<Pos>(e), Ok(&Pos(100)));
    assert_eq!(world.get::<Vel>(e), Ok(&Vel(200)));
    assert_eq!(world.get::<Name>(e), Ok(&Name("e".into())));
    // Replacing keeps the table.
    let tables = world.archetype_count();
    world.insert(e, Name("f".into())).unwrap();
    assert_eq!(world.archetype_count(), tables);
    assert_eq!(world.get::<Name>(e), Ok(&Name("f".into())));

    assert_eq!(world.remove::<Vel>(e), Ok(Vel(200)));
    assert_eq!(world.get::<Pos>(e), Ok(&Pos(100)));
    assert_eq!(world.get::<Name>(e), Ok(&Name("f".into())));
    assert!(!world.has::<Vel>(e));
    assert!(matches!(
        world.remove::<Vel>(e),
        Err(EcsError::MissingComponent { .. })
    ));

    // Moving the first of a table out swap-removes; the others stay intact.
    world.insert(others[0], Tag).unwrap();
    for (i, &o) in others.iter().enumerate() {
        assert_eq!(world.get::<Pos>(o), Ok(&Pos(i as i32)));
        assert_eq!(world.get::<Vel>(o), Ok(&Vel(-(i as i32))));
    }
    assert_eq!(world.remove::<Tag>(others[0]), Ok(Tag));
    assert_eq!(world.get::<Pos>(others[0]), Ok(&Pos(0)));
    // Round trips reuse cached tables.
    let tables = world.archetype_count();
    world.insert(others[1], Tag).unwrap();
    world.remove::<Tag>(others[1]).unwrap();
    assert_eq!(world.archetype_count(), tables);
}

#[test]
fn despawn_keeps_the_swapped_entity_valid() {
    let mut world = World::new();
    let es: Vec<Entity> = (0..4).map(|i| world.spawn((Pos(i),))).collect();
    world.despawn(es[0]).unwrap();
    world.despawn(es[2]).unwrap();
    assert_eq!(world.get::<Pos>(es[1]), Ok(&Pos(1)));
    assert_eq!(world.get::<Pos>(es[3]), Ok(&Pos(3)));
    assert_eq!(world.len(), 2);
}

#[test]
fn queries_items_options_entities_and_filters() {
    let mut world = World::new();
    let a = world.spawn((Pos(1), Vel(1)));
    let b = world.spawn((Pos(2),));
    let c = world.spawn((Pos(3), Vel(3), Tag));
    let _d = world.spawn((Vel(4),));

    let mut seen: Vec<(Entity, i32, Option<i32>)> = world
        .query::<(Entity, &Pos, Option<&Vel>)>()
        .iter()
        .map(|(e, p, v)| (e, p.0, v.map(|v| v.0)))
        .collect();
    seen.sort();
    assert_eq!(seen, [(a, 1, Some(1)), (b, 2, None), (c, 3, Some(3))]);

    for (mut p, v) in world.query::<(&mut Pos, &Vel)>().iter() {
        p.0 += v.0;
    }
    assert_eq!(world.get::<Pos>(a), Ok(&Pos(2)));
    assert_eq!(world.get::<Pos>(b), Ok(&Pos(2)));
    assert_eq!(world.get::<Pos>(c), Ok(&Pos(6)));

    let mut without: Vec<Entity> = world
        .query_filtered::<Entity, (With<Pos>, Without<Tag>)>()
        .iter()
        .collect();
    without.sort();
    assert_eq!(without, [a, b]);
    let with: Vec<Entity> = world.query_filtered::<Entity, With<Tag>>().iter().collect();
    assert_eq!(with, [c]);

    for mut v in world.query::<Option<&mut Vel>>().iter().flatten() {
        v.0 *= 10;
    }
    assert_eq!(world.get::<Vel>(a), Ok(&Vel(10)));
    assert_eq!(world.query::<&Vel>().len(), 3);
    assert_eq!(world.query::<()>().len(), 4);

    let mut sum = 0;
    world.query::<&Pos>().for_each(|p| sum += p.0);
    assert_eq!(sum, 2 + 2 + 6);
}

#[test]
fn query_cache_sees_new_tables() {
    let mut world = World::new();
    world.spawn((Pos(1),));
    assert_eq!(world.query::<&Pos>().len(), 1);
    world.spawn((Pos(2), Tag));
    world.spawn((Pos(3), Vel(0), Tag));
    assert_eq!(world.query::<&Pos>().len(), 3);
    assert_eq!(world.query_filtered::<&Pos, Without<Tag>>().len(), 1);
}

#[test]
#[should_panic(expected = "twice")]
fn query_naming_a_component_mutably_twice_panics() {
    let mut world = World::new();
    world.spawn((Pos(1),));
    let _ = world.query::<(&mut Pos, &mut Pos)>();
}

#[test]
#[should_panic(expected = "twice")]
fn query_reading_and_writing_one_component_panics() {
    let mut world = World::new();
    let _ = world.query::<(&Pos, Option<&mut Pos>)>();
}

#[test]
#[should_panic(expected = "names component")]
fn bundle_with_duplicate_types_panics() {
    let mut world = World::new();
    world.spawn((Pos(1), Pos(2)));
}

#[test]
fn par_for_each_equals_sequential() {
    // Smaller under Miri, still several chunks per table.
    let scale = if cfg!(miri) { 10 } else { 1 };
    let mut par = World::new();
    let mut seq = World::new();
    for world in [&mut par, &mut seq] {
        world.spawn_batch((0..5000 / scale).map(|i| (Pos(i), Vel(i % 7))));
        world.spawn_batch((0..3000 / scale).map(|i| (Pos(-i), Vel(3), Tag)));
        world.spawn_batch((0..100 / scale).map(|i| (Pos(i),)));
    }
    par.query::<(&mut Pos, &Vel)>()
        .par_for_each(|(mut p, v)| p.0 = p.0 * 3 + v.0);
    for (mut p, v) in seq.query::<(&mut Pos, &Vel)>().iter() {
        p.0 = p.0 * 3 + v.0;
    }
    let collect = |w: &mut World| -> Vec<(Entity, i32)> {
        let mut v: Vec<_> = w
            .query::<(Entity, &Pos)>()
            .iter()
            .map(|(e, p)| (e, p.0))
            .collect();
        v.sort();
        v
    };
    assert_eq!(collect(&mut par), collect(&mut seq));
    let count = std::sync::atomic::AtomicUsize::new(0);
    par.query::<&Pos>().par_for_each(|_| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(count.into_inner(), (8100 / scale) as usize);
}

#[test]
fn spawn_batch_returns_ids_in_order() {
    let mut world = World::new();
    let ids = world.spawn_batch((0..10).map(|i| (Pos(i), Vel(i))));
    for (i, e) in ids.iter().enumerate() {
        assert_eq!(world.get::<Pos>(*e), Ok(&Pos(i as i32)));
    }
}

#[test]
fn clear_makes_every_id_stale_and_keeps_resources() {
    let mut world = World::new();
    let ids = world.spawn_batch((0..10).map(|i| (Pos(i),)));
    world.insert_resource(5_u32);
    world.clear();
    assert!(world.is_empty());
    assert!(ids.iter().all(|&e| !world.contains(e)));
    assert_eq!(world.query::<&Pos>().len(), 0);
    assert_eq!(world.resource::<u32>(), Ok(&5));
    let fresh = world.spawn((Pos(1),));
    assert!(world.contains(fresh));
    assert!(!ids.contains(&fresh));
}

#[test]
fn resources_insert_get_remove_and_errors_name_the_type() {
    struct Time {
        dt: f32,
    }
    let mut world = World::new();
    assert!(world.insert_resource(Time { dt: 0.5 }).is_none());
    assert_eq!(world.resource::<Time>().unwrap().dt, 0.5);
    world.resource_mut::<Time>().unwrap().dt = 0.25;
    let old = world.insert_resource(Time { dt: 1.0 }).unwrap();
    assert_eq!(old.dt, 0.25);
    assert!(world.has_resource::<Time>());
    assert_eq!(world.remove_resource::<Time>().unwrap().dt, 1.0);
    let err = world.resource::<Time>().err().unwrap();
    assert!(matches!(err, EcsError::MissingResource { resource } if resource.ends_with("Time")));
    assert!(err.to_string().contains("Time"), "{err}");
    assert!(world.remove_resource::<Time>().is_err());
    assert!(world.resource_mut::<Time>().is_err());
}

#[test]
fn world_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<World>();
    check::<CommandBuffer>();
}

#[test]
fn entity_debug_format() {
    let mut world = World::new();
    let a = world.spawn(());
    world.despawn(a).unwrap();
    let b = world.spawn(());
    assert_eq!(format!("{a:?}"), "0v0");
    assert_eq!(format!("{b:?}"), "0v1");
}

#[test]
fn a_panicking_batch_iterator_leaves_the_world_consistent() {
    let mut world = World::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        world.spawn_batch((0..10).map(|i| {
            assert!(i < 4, "iterator failure");
            (Pos(i), Vel(i))
        }));
    }));
    assert!(result.is_err());
    assert_eq!(world.len(), 4);
    let mut rows: Vec<(i32, i32)> = world
        .query::<(&Pos, &Vel)>()
        .iter()
        .map(|(p, v)| (p.0, v.0))
        .collect();
    rows.sort();
    assert_eq!(rows, [(0, 0), (1, 1), (2, 2), (3, 3)]);
    let e = world.spawn((Pos(9), Vel(9)));
    assert_eq!(world.get::<Pos>(e), Ok(&Pos(9)));
}

#[test]
fn queries_reading_one_component_twice_are_accepted() {
    let mut world = World::new();
    let a = world.spawn((Pos(1), Vel(10)));
    let b = world.spawn((Pos(2),));
    let mut pairs: Vec<(i32, i32)> = world
        .query::<(&Pos, &Pos)>()
        .iter()
        .map(|(x, y)| (x.0, y.0))
        .collect();
    pairs.sort();
    assert_eq!(pairs, [(1, 1), (2, 2)]);

    let mut mixed: Vec<(Entity, Option<i32>, i32, Option<i32>)> = world
        .query::<(Entity, Option<&Pos>, &Pos, Option<&Vel>)>()
        .iter()
        .map(|(e, x, y, v)| (e, x.map(|x| x.0), y.0, v.map(|v| v.0)))
        .collect();
    mixed.sort();
    assert_eq!(mixed, [(a, Some(1), 1, Some(10)), (b, Some(2), 2, None)]);

    // Repeated shared reads next to a write of another type.
    world
        .query::<(&Pos, &mut Vel, Option<&Pos>)>()
        .for_each(|(p, mut v, q)| v.0 += p.0 + q.map_or(0, |q| q.0));
    assert_eq!(world.get::<Vel>(a), Ok(&Vel(12)));
}

#[test]
fn query_get_single_has_and_shared_queries() {
    let mut world = World::new();
    let a = world.spawn((Pos(1), Vel(10)));
    let b = world.spawn((Pos(2),));
    let c = world.spawn((Vel(3), Tag));

    let mut q = world.query::<(&mut Pos, Has<Vel>)>();
    assert_eq!(q.get_mut(a).map(|(p, has)| (p.0, has)), Ok((1, true)));
    assert_eq!(q.get_mut(b).map(|(p, has)| (p.0, has)), Ok((2, false)));
    q.get_mut(b).unwrap().0 .0 = 20;
    assert_eq!(
        q.get_mut(c).map(|_| ()),
        Err(EcsError::QueryMismatch {
            entity: c,
            query: std::any::type_name::<((&mut Pos, Has<Vel>), ())>()
        })
    );
    assert!(matches!(
        q.single(),
        Err(EcsError::NotSingle {
            more_than_one: true,
            ..
        })
    ));
    drop(q);
    assert_eq!(world.get::<Pos>(b), Ok(&Pos(20)));

    let mut tagged = world.query_filtered::<(Entity, &Vel), With<Tag>>();
    assert_eq!(tagged.single().map(|(e, v)| (e, *v)), Ok((c, Vel(3))));
    drop(tagged);
    assert!(matches!(
        world.query_filtered::<&Pos, With<Tag>>().single(),
        Err(EcsError::NotSingle {
            more_than_one: false,
            ..
        })
    ));

    // Read-only queries on a shared world, beside unguarded `get`s and on
    // several threads at once.
    world.despawn(b).unwrap();
    let world = &world;
    let held = world.get::<Pos>(a).unwrap();
    let sums: Vec<i32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| world.query_ref::<&Pos>().iter().map(|p| p.0).sum::<i32>()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sums, [1, 1]);
    assert_eq!(held, &Pos(1));
    let mut shared = world.query_ref::<(&Vel, Option<&Tag>)>();
    assert_eq!(
        shared.get(c).map(|(v, t)| (*v, t.is_some())),
        Ok((Vel(3), true))
    );
    assert_eq!(
        shared.get(b).map(|_| ()),
        Err(EcsError::StaleEntity { entity: b })
    );
    assert_eq!(world.query_filtered_ref::<&Vel, Without<Tag>>().len(), 1);
}

#[test]
fn held_query_states_follow_new_tables_worlds_and_systems() {
    use macrokid_ecs::QueryState;

    let mut world = World::new();
    world.spawn((Pos(1),));
    let mut state = QueryState::<&mut Pos, Without<Tag>>::new();
    assert_eq!(state.query(&mut world).len(), 1);
    world.spawn((Pos(2), Vel(0)));
    world.spawn((Pos(3), Tag));
    for mut p in state.query(&mut world).iter() {
        p.0 *= 10;
    }
    let mut all = QueryState::<&Pos>::new();
    let mut values: Vec<i32> = all.query_ref(&world).iter().map(|p| p.0).collect();
    values.sort_unstable();
    assert_eq!(values, [3, 10, 20]);

    // Another world: matched from scratch, not with the first world's ids.
    let mut other = World::new();
    other.spawn((Vel(1), Tag));
    other.spawn((Pos(7),));
    assert_eq!(
        all.query_ref(&other)
            .iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        [7]
    );
    assert_eq!(all.query_ref(&world).len(), 3);

    // Inside a system, the state lives in the system.
    #[derive(System, Default)]
    #[system(writes(Pos))]
    struct Double {
        state: QueryState<&'static mut Pos>,
    }
    impl Run for Double {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            self.state.query_in(cx).for_each(|mut p| p.0 *= 2);
            Ok(())
        }
    }
    let mut double = Double::default();
    world.run_system(&mut double).unwrap();
    world.spawn((Pos(100), Vel(1), Tag));
    world.run_system(&mut double).unwrap();
    let mut values: Vec<i32> = all.query_ref(&world).iter().map(|p| p.0).collect();
    values.sort_unstable();
    assert_eq!(values, [12, 40, 80, 200]);
}
