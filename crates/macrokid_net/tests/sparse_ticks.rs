//! Sparse-set components and change ticks in distributed mode, against a real
//! nats-server: systems that read, write, filter on (declared or not) and insert or remove
//! sparse components, and systems with `Changed` / `Added` filters on table and sparse
//! components, systems that filter `With` / `Without` / `Has` on table components they
//! neither read nor write (in queries or declared as `with(..)` / `without(..)`), and a
//! system skipped for lack of a live instance, end with the world hash of the same
//! systems run in one process.

mod common;

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use macrokid_ecs::prelude::*;
use macrokid_net::coordinator::{Coordinator, CoordinatorConfig};
use macrokid_net::liveness::LivenessConfig;
use macrokid_net::protocol::{Subjects, SystemName};
use macrokid_net::server::{NatsServer, ServerOptions};

use common::{name, spawn_with, Task};

/// A position, metres.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Pos(f32);

/// A velocity, metres per tick.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Vel(f32);

/// A speed factor some bodies have (sparse).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Boost(f32);

/// A tag (sparse, zero-sized).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Marked;

/// A mass some bodies have (a table component: its own tables).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Heavy(f32);

/// A tag some bodies have (a zero-sized table component).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Pinned;

/// A counter of what systems saw.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Count(u32);

/// A second counter.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Born(u32);

/// A third counter.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Seen(u32);

fn registry() -> SnapshotRegistry {
    let mut r = SnapshotRegistry::new();
    r.register_pod_as::<Pos>("Pos")
        .register_pod_as::<Vel>("Vel")
        .register_pod_as::<Boost>("Boost")
        .register_pod_as::<Marked>("Marked")
        .register_pod_as::<Heavy>("Heavy")
        .register_pod_as::<Pinned>("Pinned")
        .register_pod_as::<Count>("Count")
        .register_pod_as::<Born>("Born")
        .register_pod_as::<Seen>("Seen");
    r
}

/// `entities` bodies; every fourth has a `Boost`, every third is `Marked` (both sparse),
/// every fifth is `Heavy` and every seventh `Pinned` (table components: four tables).
fn world(entities: usize) -> World {
    let mut w = World::new();
    w.register_sparse::<Boost>().expect("sparse");
    w.register_sparse::<Marked>().expect("sparse");
    *w.snapshot_registry_mut() = registry();
    for i in 0..entities {
        let v = (i % 11) as f32 - 5.0;
        let e = w.spawn((Pos(i as f32), Vel(v), Count(0), Born(0), Seen(0)));
        if i % 4 == 0 {
            w.insert(e, Boost(1.0 + (i % 5) as f32)).expect("live");
        }
        if i % 3 == 0 {
            w.insert(e, Marked).expect("live");
        }
        if i % 5 == 0 {
            w.insert(e, Heavy(2.0)).expect("live");
        }
        if i % 7 == 0 {
            w.insert(e, Pinned).expect("live");
        }
    }
    w
}

/// Reads the sparse `Boost` of the bodies that have one.
#[derive(System, Default)]
#[system(reads(Boost), writes(Vel))]
struct Boosting;

impl Run for Boosting {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for (mut v, b) in cx.query::<(&mut Vel, &Boost)>().iter() {
            v.0 = (v.0 * b.0).clamp(-50.0, 50.0);
        }
        Ok(())
    }
}

/// Writes the sparse `Boost`, only where it is above 1 (a part of the set).
#[derive(System, Default)]
#[system(writes(Boost))]
struct Decay;

impl Run for Decay {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut b in cx.query::<&mut Boost>().iter() {
            if b.0 > 1.0 {
                b.0 = 1.0 + (b.0 - 1.0) * 0.5;
            }
        }
        Ok(())
    }
}

/// Moves `Marked` bodies: a `With` filter on a sparse tag the system does not declare.
#[derive(System, Default)]
#[system(reads(Vel), writes(Pos))]
struct MoveMarked;

impl Run for MoveMarked {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for (mut p, v) in cx.query_filtered::<(&mut Pos, &Vel), With<Marked>>().iter() {
            p.0 += v.0;
        }
        Ok(())
    }
}

/// Counts the bodies without the tag (`Without` on a sparse tag).
#[derive(System, Default)]
#[system(writes(Count))]
struct CountUnmarked;

impl Run for CountUnmarked {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut c in cx.query_filtered::<&mut Count, Without<Marked>>().iter() {
            c.0 += 1;
        }
        Ok(())
    }
}

/// Tags and untags bodies through commands (inserts and removes of a sparse tag), from
/// their position.
#[derive(System, Default)]
#[system(reads(Pos), inserts(Marked), removes(Marked))]
struct Toggle;

impl Run for Toggle {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, p, has) in cx.query::<(Entity, &Pos, Has<Marked>)>().iter() {
            let want = (p.0.abs() as i64) % 3 == 0;
            if want && !has {
                commands.entity(e).insert(Marked);
            } else if !want && has {
                commands.entity(e).remove::<Marked>();
            }
        }
        Ok(())
    }
}

/// Moves the bodies with a positive velocity only (writes a part of `Pos`).
#[derive(System, Default)]
#[system(reads(Vel), writes(Pos))]
struct Jolt;

impl Run for Jolt {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for (mut p, v) in cx.query::<(&mut Pos, &Vel)>().iter() {
            if v.0 > 0.0 {
                p.0 += v.0;
            }
        }
        Ok(())
    }
}

/// Halves and flips the fast velocities (writes a part of `Vel`).
#[derive(System, Default)]
#[system(writes(Vel))]
struct Flip;

impl Run for Flip {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut v in cx.query::<&mut Vel>().iter() {
            if v.0.abs() > 2.0 {
                v.0 = -v.0 * 0.5;
            }
        }
        Ok(())
    }
}

/// Counts the changed positions (`Changed` on a table component).
#[derive(System, Default)]
#[system(reads(Pos), writes(Count))]
struct Tally;

impl Run for Tally {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut c in cx.query_filtered::<&mut Count, Changed<Pos>>().iter() {
            c.0 += 1;
        }
        Ok(())
    }
}

/// Counts the bodies whose `Boost` was added (`Added` on a sparse component).
#[derive(System, Default)]
#[system(reads(Boost), writes(Born))]
struct TallyAdded;

impl Run for TallyAdded {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut b in cx.query_filtered::<&mut Born, Added<Boost>>().iter() {
            b.0 += 1;
        }
        Ok(())
    }
}

/// Counts the bodies whose velocity or `Boost` changed (`Changed` on a sparse component
/// and one another remote system writes).
#[derive(System, Default)]
#[system(reads(Boost, Vel), writes(Seen))]
struct TallyChanged;

impl Run for TallyChanged {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut s in cx
            .query_filtered::<&mut Seen, Or<(Changed<Boost>, Changed<Vel>)>>()
            .iter()
        {
            s.0 += 1;
        }
        Ok(())
    }
}

/// Slows the heavy bodies: `With` on a table component the system does not declare.
#[derive(System, Default)]
#[system(writes(Vel))]
struct SlowHeavy;

impl Run for SlowHeavy {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut v in cx.query_filtered::<&mut Vel, With<Heavy>>().iter() {
            v.0 *= 0.5;
        }
        Ok(())
    }
}

/// Moves the bodies that are not pinned: `Without` on an undeclared zero-sized table
/// component.
#[derive(System, Default)]
#[system(reads(Vel), writes(Pos))]
struct MoveFree;

impl Run for MoveFree {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for (mut p, v) in cx
            .query_filtered::<(&mut Pos, &Vel), Without<Pinned>>()
            .iter()
        {
            p.0 += v.0;
        }
        Ok(())
    }
}

/// Counts the pinned bodies: a declared `with(..)` entity filter on a table tag.
#[derive(System, Default)]
#[system(writes(Count), with(Pinned))]
struct CountPinned;

impl Run for CountPinned {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut c in cx.query::<&mut Count>().iter() {
            c.0 += 1;
        }
        Ok(())
    }
}

/// Counts the light bodies: a declared `without(..)` entity filter on a table component.
#[derive(System, Default)]
#[system(writes(Born), without(Heavy))]
struct CountLight;

impl Run for CountLight {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for mut b in cx.query::<&mut Born>().iter() {
            b.0 += 1;
        }
        Ok(())
    }
}

/// Weighs every body: `Has` on an undeclared table component.
#[derive(System, Default)]
#[system(writes(Seen))]
struct Weigh;

impl Run for Weigh {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        for (mut s, heavy) in cx.query::<(&mut Seen, Has<Heavy>)>().iter() {
            s.0 += if heavy { 2 } else { 1 };
        }
        Ok(())
    }
}

/// A change made between ticks, the same on both worlds.
fn between_ticks(world: &mut World, tick: u64) {
    let entities: Vec<Entity> = world.query::<Entity>().iter().collect();
    for (i, &e) in entities.iter().enumerate() {
        if (i as u64 + tick) % 37 == 0 {
            world.insert(e, Boost(2.0)).expect("live");
        }
        if (i as u64 + tick) % 53 == 0 {
            world.get_mut::<Pos>(e).expect("live").0 += 1.0;
        }
        if (i as u64 + tick) % 61 == 0 && world.has::<Boost>(e) {
            world.remove::<Boost>(e).expect("has it");
        }
    }
}

/// Runs `systems` for `ticks` ticks in one process (in declaration order) and through a
/// coordinator with `instances` processes of each, changing both worlds the same way
/// between ticks; asserts equal world hashes.
async fn same_as_local(
    prefix: &str,
    ticks: u64,
    entities: usize,
    systems: &[&str],
    local_run: impl Fn(&mut World) -> SystemResult,
    spawn: impl Fn(&str, &Subjects) -> Vec<Task>,
) -> World {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new(prefix).expect("prefix");
    let mut local = world(entities);
    for tick in 0..ticks {
        between_ticks(&mut local, tick);
        local_run(&mut local).expect("local run");
    }
    let tasks = spawn(&url, &subjects);
    let order: Vec<SystemName> = systems.iter().map(|s| name(s)).collect();
    let config =
        CoordinatorConfig::new(&url, subjects.clone(), order).deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, world(entities))
        .await
        .expect("coordinator connects");
    let mut wanted: Vec<(SystemName, usize)> = Vec::new();
    for s in systems {
        wanted.push((name(s), 1));
    }
    c.wait_for_instances(&wanted, Duration::from_secs(10))
        .await
        .expect("instances register");
    for tick in 0..ticks {
        between_ticks(c.world_mut(), tick);
        let report = c.tick().await.expect("tick");
        for (system, r) in &report.systems {
            assert_eq!(r.skipped, 0, "tick {tick}: {system} skipped");
        }
    }
    let counts = c.command_counts();
    assert_eq!((counts.failed, counts.malformed_payloads), (0, 0));
    assert_eq!(c.world().hash(), local.hash(), "distributed == local");
    drop(tasks);
    local
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_components_are_read_written_filtered_inserted_and_removed_remotely() {
    const SYSTEMS: [&str; 5] = ["Boosting", "Decay", "MoveMarked", "CountUnmarked", "Toggle"];
    let local = same_as_local(
        "sparse",
        8,
        600,
        &SYSTEMS,
        |w| {
            w.run_system(&mut Boosting)?;
            w.run_system(&mut Decay)?;
            w.run_system(&mut MoveMarked)?;
            w.run_system(&mut CountUnmarked)?;
            w.run_system(&mut Toggle)
        },
        |url, subjects| {
            vec![
                spawn_with::<Boosting>(url, subjects, 1, registry()),
                spawn_with::<Boosting>(url, subjects, 2, registry()),
                spawn_with::<Decay>(url, subjects, 3, registry()),
                spawn_with::<MoveMarked>(url, subjects, 4, registry()),
                spawn_with::<CountUnmarked>(url, subjects, 5, registry()),
                spawn_with::<Toggle>(url, subjects, 6, registry()),
                spawn_with::<Toggle>(url, subjects, 7, registry()),
            ]
        },
    )
    .await;
    // The systems did act on the sparse components (the hashes compare something).
    let start = world(600);
    let marked = |w: &mut World| w.query::<&Marked>().iter().count();
    let mut start_mut = start;
    let mut local = local;
    assert_ne!(
        marked(&mut local),
        marked(&mut start_mut),
        "Toggle changed the tags"
    );
    let boosts = |w: &mut World| w.query::<&Boost>().iter().map(|b| b.0).sum::<f32>();
    assert_ne!(boosts(&mut local), boosts(&mut start_mut), "Decay wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_and_added_filters_see_the_rows_a_local_run_sees() {
    const SYSTEMS: [&str; 6] = [
        "Jolt",
        "Flip",
        "Decay",
        "Tally",
        "TallyAdded",
        "TallyChanged",
    ];
    let mut local = same_as_local(
        "ticks",
        10,
        500,
        &SYSTEMS,
        |w| {
            w.run_system(&mut Jolt)?;
            w.run_system(&mut Flip)?;
            w.run_system(&mut Decay)?;
            w.run_system(&mut Tally)?;
            w.run_system(&mut TallyAdded)?;
            w.run_system(&mut TallyChanged)
        },
        |url, subjects| {
            vec![
                spawn_with::<Jolt>(url, subjects, 1, registry()),
                spawn_with::<Flip>(url, subjects, 2, registry()),
                spawn_with::<Decay>(url, subjects, 3, registry()),
                spawn_with::<Tally>(url, subjects, 4, registry()),
                spawn_with::<Tally>(url, subjects, 5, registry()),
                spawn_with::<TallyAdded>(url, subjects, 6, registry()),
                spawn_with::<TallyChanged>(url, subjects, 7, registry()),
            ]
        },
    )
    .await;
    // The filters did select: neither every row every tick nor only the first run's.
    let counts: Vec<u32> = local.query::<&Count>().iter().map(|c| c.0).collect();
    assert!(counts.contains(&1), "first run only: {counts:?}");
    assert!(counts.iter().any(|&c| c > 1 && c < 10), "{counts:?}");
    let seen: Vec<u32> = local.query::<&Seen>().iter().map(|c| c.0).collect();
    assert!(seen.iter().any(|&c| c > 1 && c < 10), "{seen:?}");
    let born: Vec<u32> = local.query::<&Born>().iter().map(|c| c.0).collect();
    assert!(born.iter().any(|&c| c > 1), "{born:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_table_components_the_system_does_not_access_select_as_locally() {
    const SYSTEMS: [&str; 5] = [
        "SlowHeavy",
        "MoveFree",
        "CountPinned",
        "CountLight",
        "Weigh",
    ];
    let mut local = same_as_local(
        "tablefilters",
        6,
        400,
        &SYSTEMS,
        |w| {
            w.run_system(&mut SlowHeavy)?;
            w.run_system(&mut MoveFree)?;
            w.run_system(&mut CountPinned)?;
            w.run_system(&mut CountLight)?;
            w.run_system(&mut Weigh)
        },
        |url, subjects| {
            vec![
                spawn_with::<SlowHeavy>(url, subjects, 1, registry()),
                spawn_with::<MoveFree>(url, subjects, 2, registry()),
                spawn_with::<MoveFree>(url, subjects, 3, registry()),
                spawn_with::<CountPinned>(url, subjects, 4, registry()),
                spawn_with::<CountLight>(url, subjects, 5, registry()),
                spawn_with::<Weigh>(url, subjects, 6, registry()),
            ]
        },
    )
    .await;
    // The filters did select (neither none nor every body).
    let counts: Vec<u32> = local.query::<&Count>().iter().map(|c| c.0).collect();
    assert!(counts.contains(&0) && counts.contains(&6), "{counts:?}");
    let born: Vec<u32> = local.query::<&Born>().iter().map(|c| c.0).collect();
    assert!(born.contains(&0) && born.contains(&6), "{born:?}");
    let seen: Vec<u32> = local.query::<&Seen>().iter().map(|c| c.0).collect();
    assert!(seen.contains(&6) && seen.contains(&12), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_skipped_for_lack_of_an_instance_later_sees_the_changes_it_missed() {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("skipped").expect("prefix");
    let _jolt = spawn_with::<Jolt>(&url, &subjects, 1, registry());
    let mut tally = Some(spawn_with::<Tally>(&url, &subjects, 2, registry()));
    let config = CoordinatorConfig::new(&url, subjects.clone(), vec![name("Jolt"), name("Tally")])
        .deadline(Duration::from_millis(500))
        .liveness(LivenessConfig::default().heartbeat_timeout(Duration::from_millis(400)));
    let mut c = Coordinator::connect(config, world(300))
        .await
        .expect("coordinator connects");
    c.wait_for_instances(
        &[(name("Jolt"), 1), (name("Tally"), 1)],
        Duration::from_secs(10),
    )
    .await
    .expect("instances register");
    // Tally's only instance stops before tick 3; another starts before tick 6.
    let mut tally_ran = Vec::new();
    for tick in 0..9u64 {
        if tick == 3 {
            drop(tally.take());
        }
        if tick == 6 {
            tally = Some(spawn_with::<Tally>(&url, &subjects, 3, registry()));
            c.wait_for_instances(&[(name("Tally"), 1)], Duration::from_secs(10))
                .await
                .expect("the new instance registers");
        }
        between_ticks(c.world_mut(), tick);
        let report = c.tick().await.expect("tick");
        let r = report
            .systems
            .get(&name("Tally"))
            .cloned()
            .unwrap_or_default();
        assert!(
            r.skipped == 0 || r.skipped >= r.shards,
            "tick {tick}: partly skipped {r:?}"
        );
        tally_ran.push(r.skipped == 0);
    }
    assert!(tally_ran[..3].iter().all(|&r| r), "{tally_ran:?}");
    assert!(!tally_ran[3..6].iter().any(|&r| r), "{tally_ran:?}");
    assert!(tally_ran[6..].iter().all(|&r| r), "{tally_ran:?}");
    // The same ticks in one process, Tally not run where it was skipped.
    let mut local = world(300);
    for (tick, &ran) in tally_ran.iter().enumerate() {
        between_ticks(&mut local, tick as u64);
        local.run_system(&mut Jolt).expect("runs");
        if ran {
            local.run_system(&mut Tally).expect("runs");
        }
    }
    assert_eq!(c.world().hash(), local.hash(), "distributed == local");
    drop(tally);
}
