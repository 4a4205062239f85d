//! Every component is dropped exactly once: on despawn, remove (by the
//! caller), replace, clear, world drop and after moves between tables.

use std::collections::HashMap;
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
