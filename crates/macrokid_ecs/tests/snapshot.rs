//! World hashes and snapshots: exact round trips, layout-independent
//! digests, and every malformed input rejected without touching the world.

use macrokid_ecs::prelude::*;
use macrokid_ecs::snapshot::SNAPSHOT_FORMAT_VERSION;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Pos {
    x: f32,
    y: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Vel {
    x: f32,
    y: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Name(String);

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Marker;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Tick(u64);

#[derive(Debug, PartialEq)]
struct NotSerializable(u8);

fn registry() -> SnapshotRegistry {
    let mut registry = SnapshotRegistry::new();
    registry
        .register_pod::<Pos>()
        .register_pod::<Vel>()
        .register::<Name>()
        .register::<Marker>()
        .register_resource::<Tick>();
    registry
}

fn registered_world() -> World {
    let mut world = World::new();
    *world.snapshot_registry_mut() = registry();
    world
}

/// A world with several tables, despawned slots (a free list) and a resource.
fn populated() -> (World, Vec<Entity>) {
    let mut world = registered_world();
    let mut ids = Vec::new();
    for i in 0..20 {
        let f = i as f32;
        let e = match i % 4 {
            0 => world.spawn((Pos { x: f, y: -f },)),
            1 => world.spawn((Pos { x: f, y: 1.0 }, Vel { x: 0.5, y: f })),
            2 => world.spawn((Name(format!("e{i}")), Pos { x: 0.0, y: f })),
            _ => world.spawn((Marker, Name("m".into()))),
        };
        ids.push(e);
    }
    for &e in &ids[3..8] {
        world.despawn(e).unwrap();
    }
    world.insert(ids[9], Marker).unwrap();
    world.remove::<Pos>(ids[10]).unwrap();
    world.insert_resource(Tick(42));
    (world, ids)
}

/// One query row: id, optional components, whether it has a `Marker`.
type Row = (Entity, Option<Pos>, Option<Vel>, Option<Name>, bool);

fn rows(world: &mut World) -> Vec<Row> {
    world
        .query::<(
            Entity,
            Option<&Pos>,
            Option<&Vel>,
            Option<&Name>,
            Option<&Marker>,
        )>()
        .iter()
        .map(|(e, p, v, n, m)| (e, p.copied(), v.copied(), n.cloned(), m.is_some()))
        .collect()
}

#[test]
fn snapshot_restores_exactly() {
    let (mut world, ids) = populated();
    let bytes = world.snapshot().unwrap();
    let mut restored = World::from_snapshot(registry(), &bytes).unwrap();
    assert_eq!(restored.hash(), world.hash());
    assert_eq!(restored.len(), world.len());
    // Same rows in the same (table, row) order: queries iterate alike.
    assert_eq!(rows(&mut restored), rows(&mut world));
    for &e in &ids {
        assert_eq!(restored.contains(e), world.contains(e));
    }
    assert_eq!(restored.resource::<Tick>(), Ok(&Tick(42)));
    // The allocator state came along: the next ids are the same.
    for _ in 0..7 {
        assert_eq!(
            restored.spawn((Pos { x: 1.0, y: 1.0 },)),
            world.spawn((Pos { x: 1.0, y: 1.0 },))
        );
    }
    assert_eq!(restored.hash(), world.hash());
    // A second round trip gives the same bytes.
    assert_eq!(restored.snapshot().unwrap(), world.snapshot().unwrap());
}

#[test]
fn restore_replaces_the_entities_of_a_live_world() {
    let (world, _) = populated();
    let bytes = world.snapshot().unwrap();
    let mut other = registered_world();
    let stray = other.spawn((Vel { x: 9.0, y: 9.0 }, NotSerializable(1)));
    other.insert_resource(Tick(1));
    other.insert_resource(7_u32);
    other.restore(&bytes).unwrap();
    assert_eq!(other.hash(), world.hash());
    assert!(
        !other.contains(stray) || other.get::<NotSerializable>(stray).is_err(),
        "the old entities are gone"
    );
    assert_eq!(other.query::<&NotSerializable>().len(), 0);
    assert_eq!(other.resource::<Tick>(), Ok(&Tick(42)), "replaced");
    assert_eq!(
        other.resource::<u32>(),
        Ok(&7),
        "unnamed resources are kept"
    );
}

#[test]
fn hash_ignores_layout_and_sees_values_and_ids() {
    // One logical world built two ways: different table creation order and
    // row order.
    let mut a = registered_world();
    let a0 = a.spawn((Pos { x: 1.0, y: 2.0 },));
    let a1 = a.spawn((Pos { x: 3.0, y: 4.0 }, Name("one".into())));
    let mut b = registered_world();
    let b0 = b.spawn((Pos { x: 1.0, y: 2.0 }, Name("zero".into())));
    let b1 = b.spawn((Pos { x: 3.0, y: 4.0 },));
    b.remove::<Name>(b0).unwrap();
    b.insert(b1, Name("one".into())).unwrap();
    assert_eq!((a0, a1), (b0, b1));
    assert_eq!(a.hash(), b.hash());

    // A value, an id or a resource changes the digest.
    let before = a.hash();
    a.get_mut::<Pos>(a0).unwrap().x = 1.5;
    assert_ne!(a.hash(), before);
    a.get_mut::<Pos>(a0).unwrap().x = 1.0;
    assert_eq!(a.hash(), before);
    a.insert_resource(Tick(0));
    assert_ne!(a.hash(), before);
    a.remove_resource::<Tick>().unwrap();
    a.despawn(a0).unwrap();
    let respawned = a.spawn((Pos { x: 1.0, y: 2.0 },));
    assert_eq!(respawned.index(), a0.index());
    assert_ne!(a.hash(), before, "the generation is part of the id");

    // An unregistered component counts by presence.
    let c0 = b.spawn(());
    let with_tag = b.hash();
    b.insert(c0, NotSerializable(1)).unwrap();
    let tagged = b.hash();
    assert_ne!(tagged, with_tag);
    b.insert(c0, NotSerializable(2)).unwrap();
    assert_eq!(b.hash(), tagged, "its value is not visible");
}

/// The digest of a fixed world, pinned: it must not change between runs,
/// builds or machines of one byte order. A deliberate change to the hash
/// encoding changes the tag `macrokid world hash v1` and this value.
/// Explicit names: `std::any::type_name` may change between compilers.
#[test]
fn hash_is_stable_across_runs() {
    let mut world = World::new();
    world
        .snapshot_registry_mut()
        .register_pod_as::<Pos>("Pos")
        .register_pod_as::<Vel>("Vel")
        .register_as::<Name>("Name")
        .register_as::<Marker>("Marker")
        .register_resource_as::<Tick>("Tick");
    let e = world.spawn((Pos { x: 1.0, y: 2.0 }, Name("a".into())));
    world.spawn((Marker,));
    world.despawn(e).unwrap();
    world.spawn((Vel { x: -1.0, y: 0.25 },));
    world.insert_resource(Tick(3));
    assert_eq!(
        world.hash(),
        0x520c_82be_2c7b_147d,
        "{:#018x}",
        world.hash()
    );
}

#[test]
fn empty_worlds_round_trip() {
    let world = registered_world();
    let bytes = world.snapshot().unwrap();
    let restored = World::from_snapshot(registry(), &bytes).unwrap();
    assert!(restored.is_empty());
    assert_eq!(restored.hash(), world.hash());
}

#[test]
fn unregistered_components_of_live_entities_are_an_error() {
    let mut world = registered_world();
    let e = world.spawn((Pos { x: 0.0, y: 0.0 }, NotSerializable(3)));
    assert_eq!(
        world.snapshot(),
        Err(SnapshotError::UnregisteredComponent {
            component: std::any::type_name::<NotSerializable>()
        })
    );
    // Once no entity holds it, its (empty) table is left out.
    world.remove::<NotSerializable>(e).unwrap();
    let bytes = world.snapshot().unwrap();
    let restored = World::from_snapshot(registry(), &bytes).unwrap();
    assert_eq!(restored.hash(), world.hash());
}

/// Restores `bytes` into a populated world and checks it failed with an
/// error matching `expected` and left the world as it was.
fn assert_rejected(bytes: &[u8], expected: impl Fn(&SnapshotError) -> bool) {
    let (mut world, _) = populated();
    let before = world.hash();
    let snapshot_before = world.snapshot().unwrap();
    let error = world
        .restore(bytes)
        .expect_err("malformed snapshot accepted");
    assert!(expected(&error), "unexpected error: {error}");
    assert_eq!(world.hash(), before);
    assert_eq!(world.snapshot().unwrap(), snapshot_before);
}

#[test]
fn truncated_snapshots_are_rejected_whole() {
    let (source, _) = populated();
    let bytes = source.snapshot().unwrap();
    // Every 7th length; under Miri, which interprets each attempt (two
    // snapshots and a restore), every 127th.
    let step = if cfg!(miri) { 127 } else { 7 };
    for len in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        assert_rejected(&bytes[..len], |e| {
            matches!(
                e,
                SnapshotError::NotASnapshot { .. } | SnapshotError::Length { .. }
            )
        });
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_rejected(&longer, |e| matches!(e, SnapshotError::Length { .. }));
}

#[test]
fn corrupted_and_foreign_snapshots_are_rejected() {
    let (source, _) = populated();
    let bytes = source.snapshot().unwrap();

    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    assert_rejected(&flipped, |e| matches!(e, SnapshotError::Checksum { .. }));

    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert_rejected(&magic, |e| matches!(e, SnapshotError::NotASnapshot { .. }));
    assert_rejected(b"{\"json\": true}", |e| {
        matches!(e, SnapshotError::NotASnapshot { .. })
    });

    let mut version = bytes.clone();
    version[8..12].copy_from_slice(&(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
    assert_rejected(&version, |e| {
        *e == SnapshotError::UnsupportedVersion {
            found: SNAPSHOT_FORMAT_VERSION + 1,
            supported: SNAPSHOT_FORMAT_VERSION,
        }
    });

    let mut order = bytes.clone();
    order[12] = if cfg!(target_endian = "little") { 2 } else { 1 };
    assert_rejected(&order, |e| matches!(e, SnapshotError::ByteOrder { .. }));
}

#[test]
fn unknown_names_are_rejected() {
    let (source, _) = populated();
    let bytes = source.snapshot().unwrap();
    let mut partial = SnapshotRegistry::new();
    partial.register_pod::<Pos>().register_pod::<Vel>();
    let mut world = World::new();
    *world.snapshot_registry_mut() = partial;
    let keep = world.spawn((Pos { x: 5.0, y: 5.0 },));
    let before = world.hash();
    let error = world.restore(&bytes).unwrap_err();
    assert!(
        matches!(&error, SnapshotError::UnknownName { kind: "component", name }
            if name == std::any::type_name::<Name>() || name == std::any::type_name::<Marker>()),
        "{error}"
    );
    assert_eq!(world.hash(), before);
    assert_eq!(world.get::<Pos>(keep), Ok(&Pos { x: 5.0, y: 5.0 }));
}

#[test]
fn a_name_registered_with_another_encoding_is_rejected() {
    let (source, _) = populated();
    let bytes = source.snapshot().unwrap();

    #[derive(Clone, Copy, Serialize, Deserialize)]
    struct PosAsSerde {
        x: f32,
        y: f32,
    }
    let mut other = SnapshotRegistry::new();
    other
        .register_as::<PosAsSerde>(std::any::type_name::<Pos>())
        .register_pod::<Vel>()
        .register::<Name>()
        .register::<Marker>()
        .register_resource::<Tick>();
    let error = World::from_snapshot(other, &bytes).unwrap_err();
    assert!(
        matches!(&error, SnapshotError::Column { reason, .. } if reason.contains("plain-old-data of 8 bytes in the snapshot, serde here")),
        "{error}"
    );

    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Wide(f64);
    let mut wide = registry();
    wide.register_pod_as::<Wide>("wide");
    let mut narrow = registry();
    narrow.register_pod_as::<u32>("wide");
    let mut world = World::new();
    *world.snapshot_registry_mut() = wide;
    world.spawn((Wide(1.0),));
    let bytes = world.snapshot().unwrap();
    let error = World::from_snapshot(narrow, &bytes).unwrap_err();
    assert!(matches!(error, SnapshotError::Column { .. }), "{error}");
}

#[test]
#[should_panic(expected = "already registered for another component type")]
fn one_name_for_two_types_panics() {
    let mut registry = SnapshotRegistry::new();
    registry
        .register_pod_as::<u32>("n")
        .register_pod_as::<u64>("n");
}

/// Snapshots written by hand, following the format documented in
/// `macrokid_ecs::snapshot`: the documentation is the format.
mod by_hand {
    use super::*;

    #[derive(Serialize)]
    struct Body {
        entities: EntityTable,
        tables: Vec<Table>,
        resources: Vec<Named>,
    }
    #[derive(Serialize)]
    struct EntityTable {
        generations: Vec<u32>,
        free: Vec<u32>,
    }
    #[derive(Serialize)]
    struct Table {
        entities: Vec<u64>,
        columns: Vec<Column>,
    }
    #[derive(Serialize)]
    struct Column {
        name: String,
        pod_size: Option<u32>,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    }
    #[derive(Serialize)]
    struct Named {
        name: String,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    }

    fn encode(body: &Body) -> Vec<u8> {
        let body = rmp_serde::to_vec_named(body).unwrap();
        let mut out = b"MKECSWLD".to_vec();
        out.extend_from_slice(&1_u32.to_le_bytes());
        out.push(if cfg!(target_endian = "little") { 1 } else { 2 });
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn pos_table(entities: Vec<u64>, values: &[Pos]) -> Table {
        Table {
            entities,
            columns: vec![Column {
                name: std::any::type_name::<Pos>().into(),
                pod_size: Some(8),
                bytes: bytemuck::cast_slice(values).to_vec(),
            }],
        }
    }

    fn empty_table() -> Table {
        Table {
            entities: vec![],
            columns: vec![],
        }
    }

    #[test]
    fn a_hand_written_snapshot_restores() {
        let values = [Pos { x: 1.0, y: 2.0 }, Pos { x: 3.0, y: 4.0 }];
        // Slot 0: generation 2, free; slot 1: alive as 1v5; slot 2: 2v0.
        let body = Body {
            entities: EntityTable {
                generations: vec![2, 5, 0],
                free: vec![0],
            },
            tables: vec![empty_table(), pos_table(vec![5 << 32 | 1, 2], &values)],
            resources: vec![Named {
                name: std::any::type_name::<Tick>().into(),
                bytes: rmp_serde::to_vec(&Tick(9)).unwrap(),
            }],
        };
        let mut world = World::from_snapshot(registry(), &encode(&body)).unwrap();
        let one = Entity::from_bits(5 << 32 | 1);
        assert_eq!(world.get::<Pos>(one), Ok(&values[0]));
        assert_eq!(world.get::<Pos>(Entity::from_bits(2)), Ok(&values[1]));
        assert_eq!(world.resource::<Tick>(), Ok(&Tick(9)));
        assert_eq!(world.len(), 2);
        // The free list is used: slot 0 comes back with generation 2.
        assert_eq!(world.spawn(()), Entity::from_bits(2 << 32));
    }

    fn rejected(body: Body, what: &str) {
        let error = World::from_snapshot(registry(), &encode(&body)).unwrap_err();
        assert!(
            matches!(&error, SnapshotError::Inconsistent { reason } if reason.contains(what))
                || matches!(&error, SnapshotError::Column { reason, .. } if reason.contains(what)),
            "expected `{what}`, got: {error}"
        );
    }

    #[test]
    fn inconsistent_snapshots_are_rejected() {
        let pos = [Pos { x: 0.0, y: 0.0 }];
        let two = [pos[0], pos[0]];
        let entities = |generations: Vec<u32>, free: Vec<u32>| EntityTable { generations, free };
        rejected(
            Body {
                entities: entities(vec![0], vec![]),
                tables: vec![empty_table(), pos_table(vec![0, 0], &two)],
                resources: vec![],
            },
            "more than one row",
        );
        rejected(
            Body {
                entities: entities(vec![1], vec![]),
                tables: vec![empty_table(), pos_table(vec![0], &pos)],
                resources: vec![],
            },
            "has generation 1",
        );
        rejected(
            Body {
                entities: entities(vec![0], vec![]),
                tables: vec![empty_table(), pos_table(vec![3], &pos)],
                resources: vec![],
            },
            "beyond the 1 entity slots",
        );
        rejected(
            Body {
                entities: entities(vec![0], vec![0]),
                tables: vec![empty_table(), pos_table(vec![0], &pos)],
                resources: vec![],
            },
            "alive or listed twice",
        );
        rejected(
            Body {
                entities: entities(vec![0, 4], vec![]),
                tables: vec![empty_table(), pos_table(vec![0], &pos)],
                resources: vec![],
            },
            "neither alive, free nor retired",
        );
        rejected(
            Body {
                entities: entities(vec![0], vec![]),
                tables: vec![pos_table(vec![0], &pos)],
                resources: vec![],
            },
            "first table",
        );
        rejected(
            Body {
                entities: entities(vec![0, 0], vec![]),
                tables: vec![
                    empty_table(),
                    pos_table(vec![0], &pos),
                    pos_table(vec![1], &pos),
                ],
                resources: vec![],
            },
            "same component set",
        );
        rejected(
            Body {
                entities: entities(vec![0], vec![]),
                tables: vec![empty_table(), pos_table(vec![0], &two)],
                resources: vec![],
            },
            "16 bytes for 1 rows",
        );
        // A retired slot (generation u32::MAX, not free) is consistent.
        let body = Body {
            entities: entities(vec![u32::MAX], vec![]),
            tables: vec![empty_table()],
            resources: vec![],
        };
        let mut world = World::from_snapshot(registry(), &encode(&body)).unwrap();
        assert_eq!(world.spawn(()).index(), 1, "the retired slot is not reused");
    }
}
