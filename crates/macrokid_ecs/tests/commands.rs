//! Structural changes through typed commands: `Commands::spawn` returns the
//! entity (reserved from the allocator while the system runs),
//! `commands.entity(e)` builds on it, and the world is the same whatever
//! the thread count — spawning systems conflict on the entity allocator, so
//! they reserve ids in declaration order.

use std::sync::Arc;

use macrokid_ecs::prelude::*;
use macrokid_threads::{Dispatch, ThreadPool};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Age(u32);
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Parent(u64);
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Energy(f32);

/// Ages everything; despawns the old.
#[derive(System, Default)]
#[system(writes(Age), despawns)]
struct Grow;
impl Run for Grow {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, mut age) in cx.query::<(Entity, &mut Age)>().iter() {
            age.0 += 1;
            if age.0 > 6 {
                commands.entity(e).despawn();
            }
        }
        Ok(())
    }
}

/// Every entity of an even age has a child, which learns its parent
/// through the returned id.
#[derive(System, Default)]
#[system(reads(Age), spawns, inserts(Age, Parent))]
struct Breed {
    children: Vec<Entity>,
}
impl Run for Breed {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, age) in cx.query::<(Entity, &Age)>().iter() {
            if age.0 % 2 == 0 {
                let child = commands.spawn((Age(0),));
                commands.entity(child).insert(Parent(e.to_bits()));
                self.children.push(child);
            }
        }
        Ok(())
    }
}

/// Spawns three entities a tick, in the same stage as `Breed`.
#[derive(System, Default)]
#[system(spawns, inserts(Age, Energy))]
struct Seed {
    seeded: Vec<Entity>,
}
impl Run for Seed {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for k in 0..3 {
            let e = commands.spawn((Age(k),));
            commands.entity(e).insert(Energy(k as f32 * 0.5));
            self.seeded.push(e);
        }
        Ok(())
    }
}

/// A spawner in another stage of the same layer as `populate`.
#[derive(System, Default)]
#[system(reads(Energy), spawns, inserts(Energy))]
struct Immigrate;
impl Run for Immigrate {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let total: f32 = cx.query::<&Energy>().iter().map(|e| e.0).sum();
        cx.commands().spawn((Energy(total.sqrt()),));
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct Life {
    #[stage]
    grow: (Grow,),
    #[stage(after = "grow")]
    populate: (Breed, Seed),
    #[stage(after = "grow")]
    arrive: (Immigrate,),
}

fn world() -> World {
    let mut world = World::new();
    world
        .snapshot_registry_mut()
        .register_pod::<Age>()
        .register_pod::<Parent>()
        .register_pod::<Energy>();
    world.spawn_batch((0..20).map(|i| (Age(i % 7),)));
    world
}

fn run(scheduler: &Scheduler, ticks: usize) -> (u64, World, Life) {
    let mut world = world();
    let mut life = Life::default();
    for _ in 0..ticks {
        world.run_schedule(&mut life, scheduler).unwrap();
    }
    (world.hash(), world, life)
}

#[test]
fn spawning_systems_conflict_on_the_allocator() {
    let plan = Life::plan();
    let populate = plan.stage("populate").unwrap();
    assert_eq!(populate.batches().len(), 2, "{plan}");
    assert!(<Seed as System>::access().is_write(macrokid_core::ResourceId::entity_allocator()));
    assert!(
        <Grow as System>::access().is_deferred_write(macrokid_core::ResourceId::entity_allocator())
    );
}

#[test]
fn spawn_returns_the_entity_it_becomes() {
    let mut world = world();
    let mut seed = Seed::default();
    world.run_system(&mut seed).unwrap();
    assert_eq!(seed.seeded.len(), 3);
    for (k, &e) in seed.seeded.iter().enumerate() {
        assert_eq!(world.get::<Age>(e), Ok(&Age(k as u32)));
        assert_eq!(world.get::<Energy>(e), Ok(&Energy(k as f32 * 0.5)));
    }
    // The ids are those a direct spawn would have handed out.
    let mut direct = self::world();
    let expected: Vec<Entity> = (0..3).map(|k| direct.spawn((Age(k),))).collect();
    assert_eq!(seed.seeded, expected);
}

#[test]
fn world_hash_is_equal_across_thread_counts() {
    // Under Miri, 3 ticks: 20 entities grow to 61 (more than 100 after 30).
    let (ticks, grown_past) = if cfg!(miri) { (3, 40) } else { (30, 100) };
    let pool = |threads| {
        Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()))
            .with_dispatch(Dispatch::AlwaysParallel)
    };
    let (single, world, life) = run(&Scheduler::single_threaded(), ticks);
    assert!(
        world.len() > grown_past,
        "commands spawned entities: {} of 20 at the start",
        world.len()
    );
    // Every id a spawn returned is (or was) a real entity with its parent.
    let alive_children = life
        .populate
        .0
        .children
        .iter()
        .filter(|&&c| world.contains(c))
        .count();
    assert!(alive_children > 0);
    for &c in life
        .populate
        .0
        .children
        .iter()
        .filter(|&&c| world.contains(c))
    {
        assert!(world.has::<Parent>(c), "{c:?}");
    }
    for threads in [1, 2, 8] {
        let (hash, other, _) = run(&pool(threads), ticks);
        assert_eq!(hash, single, "{threads} thread(s): {}", other.len());
    }
}

/// Fails after spawning on its first run.
#[derive(System, Default)]
#[system(spawns, inserts(Age))]
struct FailOnce {
    runs: u32,
}
impl Run for FailOnce {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        self.runs += 1;
        cx.commands().spawn((Age(99),));
        if self.runs == 1 {
            return Err("first attempt fails".into());
        }
        Ok(())
    }
}

#[test]
fn a_failed_runs_reservations_are_handed_out_again() {
    let mut failing = world();
    let mut system = FailOnce::default();
    assert!(failing.run_system(&mut system).is_err());
    failing.run_system(&mut system).unwrap();
    let mut clean = world();
    clean.run_system(&mut FailOnce { runs: 1 }).unwrap();
    assert_eq!(failing.len(), clean.len());
    assert_eq!(failing.hash(), clean.hash());
}
