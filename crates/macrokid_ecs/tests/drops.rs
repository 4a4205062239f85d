//! Every component is dropped exactly once: on despawn, remove (by the
//! caller), replace, clear, world drop and after moves between tables; also
//! when a component's `Drop` panics (the world stays consistent).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use macrokid_ecs::prelude::*;

/// A component that records its drops by id.
#[derive(Debug)]
struct Tracked {
    id: u32,
    log: Arc<Mutex<HashMap<u32, u32>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        *self.log.lock().unwrap().entry(self.id).or_default() += 1;
    }
}

#[derive(Debug)]
struct Other(#[allow(dead_code)] Tracked);

struct Tracker {
    log: Arc<Mutex<HashMap<u32, u32>>>,
    next: u32,
}

impl Tracker {
    fn new() -> Self {
        Self {
            log: Arc::default(),
            next: 0,
        }
    }
    fn make(&mut self) -> Tracked {
        self.next += 1;
        Tracked {
            id: self.next,
            log: self.log.clone(),
        }
    }
    fn dropped(&self, id: u32) -> u32 {
        self.log.lock().unwrap().get(&id).copied().unwrap_or(0)
    }
    fn all_dropped_once(&self) -> bool {
        let log = self.log.lock().unwrap();
        (1..=self.next).all(|id| log.get(&id) == Some(&1))
    }
}

#[test]
fn despawn_remove_replace_clear_and_world_drop() {
    let mut t = Tracker::new();
    let mut world = World::new();
    let a = world.spawn((t.make(), Other(t.make()))); // 1, 2
    let b = world.spawn((t.make(),)); // 3
    let c = world.spawn((t.make(), Other(t.make()))); // 4, 5

    world.despawn(a).unwrap();
    assert_eq!((t.dropped(1), t.dropped(2)), (1, 1));
    assert_eq!(t.dropped(4), 0, "the swapped-in row is not dropped");

    let removed = world.remove::<Tracked>(c).unwrap();
    assert_eq!(t.dropped(4), 0, "removed value is handed to the caller");
    drop(removed);
    assert_eq!(t.dropped(4), 1);

    let replacement = t.make(); // 6
    world.insert(b, replacement).unwrap();
    assert_eq!(t.dropped(3), 1, "replaced component dropped");
    let extra = t.make(); // 7
    world.insert(c, extra).unwrap(); // moves c's Other(5) to a new table
    assert_eq!(t.dropped(5), 0);

    let d = world.spawn((t.make(),)); // 8
    world.clear();
    assert_eq!(
        (t.dropped(5), t.dropped(6), t.dropped(7), t.dropped(8)),
        (1, 1, 1, 1)
    );
    assert!(!world.contains(d));

    world.spawn((t.make(), Other(t.make()))); // 9, 10
    world.insert_resource(t.make()); // 11
    drop(world);
    assert!(t.all_dropped_once(), "{:?}", t.log.lock().unwrap());
}

#[test]
fn commands_and_spawn_batch_drop_once() {
    let mut t = Tracker::new();
    let mut world = World::new();
    let ids = world.spawn_batch((0..50).map(|_| (t.make(),)));
    let mut commands = CommandBuffer::new();
    for &e in &ids[..10] {
        commands.despawn(e);
    }
    commands.insert(ids[10], t.make());
    commands.remove::<Tracked>(ids[11]);
    commands.despawn(ids[0]); // stale by then: skipped, nothing dropped twice
    let never_applied = t.make();
    let mut dropped_buffer = CommandBuffer::new();
    dropped_buffer.insert(ids[12], never_applied);
    drop(dropped_buffer);
    assert_eq!(world.apply_commands(&mut commands), 1);
    assert_eq!(world.failed_command_count(), 1);
    drop(world);
    assert!(t.all_dropped_once(), "{:?}", t.log.lock().unwrap());
}

/// A component (one type per `K`) that records its drops, and whose drop
/// panics (once) when its id is the armed one.
#[derive(Debug)]
struct Fragile<const K: u8> {
    id: u32,
    /// Which spawn it belongs to (the same for the parts of one entity).
    owner: u32,
    log: Arc<Mutex<HashMap<u32, u32>>>,
    armed: Arc<AtomicU32>,
}

impl<const K: u8> Drop for Fragile<K> {
    fn drop(&mut self) {
        *self.log.lock().unwrap().entry(self.id).or_default() += 1;
        if self
            .armed
            .compare_exchange(self.id, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            panic!("drop of component {} panics", self.id);
        }
    }
}

type Parts = (Fragile<0>, Fragile<1>, Fragile<2>);

struct Bench {
    t: Tracker,
    armed: Arc<AtomicU32>,
}

impl Bench {
    fn fragile<const K: u8>(&mut self, owner: u32) -> Fragile<K> {
        self.t.next += 1;
        Fragile {
            id: self.t.next,
            owner,
            log: self.t.log.clone(),
            armed: self.armed.clone(),
        }
    }

    fn parts(&mut self, owner: u32) -> Parts {
        (
            self.fragile(owner),
            self.fragile(owner),
            self.fragile(owner),
        )
    }

    fn arm(&self, id: u32) {
        self.armed.store(id, Ordering::SeqCst);
    }
}

/// Every entity with all three parts, with the owner of each part: the
/// parts of one row must belong to one spawn, and every table's columns
/// must have one length (or the query panics).
fn rows(world: &mut World) -> Vec<(Entity, [u32; 3])> {
    let mut rows: Vec<(Entity, [u32; 3])> = world
        .query::<(Entity, &Fragile<0>, &Fragile<1>, &Fragile<2>)>()
        .iter()
        .map(|(e, a, b, c)| (e, [a.owner, b.owner, c.owner]))
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_panicking_drop_leaves_the_world_consistent() {
    // Columns are ordered by type id, so arm each of the three types in
    // turn: one of them is the first column, one a middle one.
    for kind in 0..3_u32 {
        let mut b = Bench {
            t: Tracker::new(),
            armed: Arc::new(AtomicU32::new(0)),
        };
        let mut world = World::new();
        let mut owners = Vec::new();
        for owner in 0..5 {
            let parts = b.parts(owner);
            owners.push((world.spawn(parts), owner));
        }
        let loner = b.t.make();
        let loner_id = loner.id;
        let loner = world.spawn((loner, b.fragile::<0>(99)));

        // Despawn the second entity; the last one is moved into its row.
        let (victim, victim_owner) = owners.remove(1);
        let victim_ids: Vec<u32> = (1..=3).map(|k| victim_owner * 3 + k).collect();
        b.arm(victim_ids[kind as usize]);
        let despawned = catch_unwind(AssertUnwindSafe(|| world.despawn(victim)));
        assert!(despawned.is_err(), "the drop panic propagates");
        assert!(!world.contains(victim));
        assert_eq!(world.len(), 5);
        for &id in &victim_ids {
            assert_eq!(b.t.dropped(id), 1, "component {id} of the victim");
        }
        let expected: Vec<(Entity, [u32; 3])> = {
            let mut e: Vec<_> = owners.iter().map(|&(e, o)| (e, [o; 3])).collect();
            e.sort();
            e
        };
        assert_eq!(rows(&mut world), expected);
        let (last, last_owner) = owners[3];
        assert_eq!(world.get::<Fragile<2>>(last).unwrap().owner, last_owner);
        assert_eq!(world.get::<Tracked>(loner).unwrap().id, loner_id);
        assert_eq!(world.query::<&Fragile<0>>().len(), 5);

        // Later spawns, moves and despawns work as usual.
        let parts = b.parts(7);
        let fresh = world.spawn(parts);
        world.despawn(last).unwrap();
        world.insert(fresh, b.t.make()).unwrap();
        world.remove::<Tracked>(fresh).unwrap();
        assert_eq!(world.len(), 5);
        assert_eq!(world.get::<Fragile<1>>(fresh).unwrap().owner, 7);
        assert_eq!(rows(&mut world).len(), 4);

        // A panic in `clear` still empties the world, dropping everything.
        b.arm(b.t.next - 2);
        let cleared = catch_unwind(AssertUnwindSafe(|| world.clear()));
        assert!(cleared.is_err(), "the drop panic propagates");
        assert!(world.is_empty());
        assert!(!world.contains(fresh) && !world.contains(loner));
        assert!(rows(&mut world).is_empty());
        assert_eq!(world.query::<&Tracked>().len(), 0);
        assert!(b.t.all_dropped_once(), "{:?}", b.t.log.lock().unwrap());

        let parts = b.parts(8);
        let again = world.spawn(parts);
        assert_eq!(world.len(), 1);
        assert_eq!(rows(&mut world), [(again, [8; 3])]);
        world.clear();
        drop(world);
        assert!(b.t.all_dropped_once(), "{:?}", b.t.log.lock().unwrap());
    }
}
