//! Remote systems' commands, against a real nats-server: the demo's `Lifecycle` despawns
//! and spawns through commands in two system processes, the coordinator applies them, and
//! the world hash equals local mode while columns are reused as rows move; a command
//! payload that does not decode is counted and dropped.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use macrokid_ecs::prelude::*;
use macrokid_net::codec::{
    chunk_headers, decode_control, encode_control, encode_shard, Column, DropCounters, DropReason,
    Reassembler, Shard,
};
use macrokid_net::demo::{self, Angle, AngularVelocity, Damping, Lifecycle, Movement, Spin};
use macrokid_net::protocol::{
    EntityCreated, EntityDestroyed, Heartbeat, InstanceId, Subjects, SystemRegister,
    SystemSchedule, TickAck, COMMANDS_COLUMN, ENTITY_COLUMN,
};
use macrokid_net::server::{NatsServer, ServerOptions};
use macrokid_net::system_process::access_of;
use macrokid_net::{Coordinator, CoordinatorConfig};

use common::{name, spawn};

/// 40 ticks: every body with a lifetime is replaced at least once (lifetimes are below
/// 31 ticks, new ones below 37), so despawns free ids that later spawns take again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_of_two_instances_apply_in_shard_order_with_the_local_hash() {
    const TICKS: u64 = 40;
    const ENTITIES: usize = 1500;
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("commands").expect("prefix");
    let mut local = demo::world_with_lifecycle(ENTITIES);
    demo::run_local(&mut local, TICKS).expect("local run");

    let tasks = [
        spawn::<Movement>(&url, &subjects, 1),
        spawn::<Movement>(&url, &subjects, 2),
        spawn::<Spin>(&url, &subjects, 3),
        spawn::<Damping>(&url, &subjects, 4),
        spawn::<Lifecycle>(&url, &subjects, 5),
        spawn::<Lifecycle>(&url, &subjects, 6),
    ];
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, demo::world_with_lifecycle(ENTITIES))
        .await
        .expect("coordinator connects");
    c.wait_for_instances(
        &[
            (name("Movement"), 2),
            (name("Spin"), 1),
            (name("Damping"), 1),
            (name("Lifecycle"), 2),
        ],
        Duration::from_secs(10),
    )
    .await
    .expect("instances register");
    let watcher = async_nats::connect(&url).await.expect("connects");
    let mut creates = watcher
        .subscribe(subjects.entity_create())
        .await
        .expect("sub");
    let mut destroys = watcher
        .subscribe(subjects.entity_destroy())
        .await
        .expect("sub");
    watcher.flush().await.expect("flush");
    let mut reused_after_commands = 0u64;
    let (mut created, mut destroyed) = (0, 0);
    for tick in 0..TICKS {
        let applied_before = c.command_counts().applied;
        let report = c.tick().await.expect("tick");
        assert_eq!(report.rounds, 3, "tick {tick}: {report:?}");
        created += report.created;
        destroyed += report.destroyed;
        let lifecycle = &report.systems[&name("Lifecycle")];
        assert_eq!(lifecycle.skipped, 0);
        if tick == 0 {
            assert_eq!(lifecycle.per_instance.len(), 2, "{lifecycle:?}");
        }
        if tick > 0 && applied_before > 0 {
            reused_after_commands += report.systems[&name("Movement")].reused_bytes;
        }
    }
    let counts = c.command_counts();
    assert!(counts.applied > 200, "{counts:?}");
    assert_eq!((counts.failed, counts.malformed_payloads), (0, 0));
    assert!(
        reused_after_commands > 0,
        "columns were reused in ticks after rows moved"
    );
    assert_eq!(c.world().len(), ENTITIES, "one spawn per despawn");
    assert!(destroyed > 200, "{destroyed}");
    assert_eq!(created, destroyed);
    // Every created and destroyed entity was broadcast, once.
    let counters = DropCounters::new();
    let mut heard = (std::collections::HashSet::new(), 0u32);
    for _ in 0..destroyed {
        let msg = tokio::time::timeout(Duration::from_secs(5), destroys.next())
            .await
            .expect("a destroy broadcast")
            .expect("open");
        let gone: EntityDestroyed =
            decode_control(msg.headers.as_ref(), &msg.payload, &counters).expect("decodes");
        assert!(heard.0.insert(gone.entity), "{gone:?} broadcast twice");
    }
    for _ in 0..created {
        let msg = tokio::time::timeout(Duration::from_secs(5), creates.next())
            .await
            .expect("a create broadcast")
            .expect("open");
        let new: EntityCreated =
            decode_control(msg.headers.as_ref(), &msg.payload, &counters).expect("decodes");
        assert_eq!(
            new.archetype.len(),
            3,
            "Position, Velocity, Lifetime: {new:?}"
        );
        heard.1 += 1;
    }
    assert_eq!(heard.1, created);
    assert_eq!(c.world().hash(), local.hash());
    assert_eq!(c.drops().total(), 0, "{:?}", c.drops().snapshot());
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
        assert_eq!(t.stats.drops().total(), 0);
    }
    // Lifecycle changes the rows of the tables with a Lifetime every tick: the other
    // systems' processes replace those tables' rows and keep their local world (one
    // rebuild per job before per-table reuse: 32-40 of 40 here).
    for t in &tasks[..4] {
        let (rebuilds, refreshes) = (t.stats.rebuilds(), t.stats.table_refreshes());
        assert!(
            rebuilds <= TICKS / 4,
            "{rebuilds} rebuilds in {TICKS} ticks"
        );
        assert!(refreshes > 0, "no table's rows were replaced");
    }
    // Lifecycle's processes keep one world from shard to shard: a restore only for a
    // table it has not seen (one per shard before, not counted: at least 40 each; 3-4
    // here).
    for t in &tasks[4..] {
        let rebuilds = t.stats.rebuilds();
        assert!(
            (1..=8).contains(&rebuilds),
            "{rebuilds} rebuilds in {TICKS} ticks"
        );
    }
}

/// A hand-played `Lifecycle` instance answers each shard with its rows and a command
/// column that is not MessagePack: the payload is counted and dropped, the rows merge,
/// and no command applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_command_payload_is_counted_and_dropped() {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("commands-bad").expect("prefix");
    let system = name("Lifecycle");
    let me = InstanceId(9);
    let client = async_nats::connect(&url).await.expect("connects");
    let mut schedules = client
        .subscribe(subjects.schedule(&system))
        .await
        .expect("sub");
    let mut sets = client
        .subscribe(subjects.component_set_for(&system, me))
        .await
        .expect("sub");
    let register = SystemRegister {
        system: system.clone(),
        access: access_of::<Lifecycle>(),
        instance_id: me,
    };
    let publish = |subject: String, headers, body| {
        let client = client.clone();
        async move {
            client
                .publish_with_headers(subject, headers, body)
                .await
                .expect("publish");
        }
    };
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, demo::world_with_lifecycle(300))
        .await
        .expect("coordinator connects");
    let (h, b) = encode_control(&register).expect("encodes");
    publish(subjects.register(&system), h, b).await;
    client.flush().await.expect("flush");

    // The instance: heartbeats, and answers every shard it gets.
    let player = {
        let (client, subjects, system) = (client.clone(), subjects.clone(), system.clone());
        tokio::spawn(async move {
            let counters = Arc::new(DropCounters::new());
            let mut reassembler = Reassembler::new(1 << 24, counters.clone());
            let mut jobs: Vec<SystemSchedule> = Vec::new();
            let mut shards: Vec<Shard> = Vec::new();
            let mut beat = tokio::time::interval(Duration::from_millis(50));
            let mut sequence = 0;
            loop {
                tokio::select! {
                    _ = beat.tick() => {
                        sequence += 1;
                        let hb = Heartbeat { instance_id: me, system: system.clone(), sequence, load: 0.0 };
                        let (h, b) = encode_control(&hb).expect("encodes");
                        client.publish_with_headers(subjects.heartbeat(&system), h, b).await.expect("publish");
                    }
                    Some(msg) = schedules.next() => {
                        if let Ok(s) = decode_control::<SystemSchedule>(msg.headers.as_ref(), &msg.payload, &counters) {
                            jobs.push(s);
                        }
                    }
                    Some(msg) = sets.next() => {
                        if let Some(shard) = reassembler.push_bytes(&msg.payload) {
                            shards.push(shard);
                        }
                    }
                }
                for job in std::mem::take(&mut jobs) {
                    let mine: Vec<u32> = job
                        .shards
                        .iter()
                        .filter(|a| a.instance_id == me)
                        .map(|a| a.shard)
                        .collect();
                    let ready = mine.iter().all(|n| {
                        shards
                            .iter()
                            .any(|s| s.tick == job.tick_id && s.shard == *n)
                    });
                    if !ready {
                        jobs.push(job);
                        continue;
                    }
                    for n in &mine {
                        let input = shards
                            .iter()
                            .find(|s| s.tick == job.tick_id && s.shard == *n)
                            .expect("ready");
                        let ids = input.column(ENTITY_COLUMN).expect("entity column").clone();
                        let result = Shard {
                            tick: job.tick_id,
                            system: system.clone(),
                            shard: *n,
                            columns: vec![
                                ids,
                                Column::new(COMMANDS_COLUMN, 1, vec![0xc1, 0xff, 0x00])
                                    .expect("bytes"),
                            ],
                        };
                        for chunk in encode_shard(&result, 1 << 16).expect("encodes") {
                            client
                                .publish_with_headers(
                                    subjects.component_changed(&system),
                                    chunk_headers(job.tick_id, Some(me)),
                                    chunk,
                                )
                                .await
                                .expect("publish");
                        }
                    }
                    let ack = TickAck {
                        tick_id: job.tick_id,
                        instance_id: me,
                        system: system.clone(),
                        shards: mine,
                        run_micros: 1,
                        missing: Vec::new(),
                    };
                    let (h, b) = encode_control(&ack).expect("encodes");
                    client
                        .publish_with_headers(subjects.tick_ack(&system), h, b)
                        .await
                        .expect("publish");
                    client.flush().await.expect("flush");
                }
            }
        })
    };
    c.wait_for_instances(&[(system.clone(), 1)], Duration::from_secs(10))
        .await
        .expect("registered");
    let before = c.world().hash();
    let report = c.tick().await.expect("tick");
    let shards = report.systems[&system].shards;
    assert!(shards >= 4, "{report:?}");
    assert_eq!(report.systems[&system].skipped, 0, "{report:?}");
    let counts = c.command_counts();
    assert_eq!(counts.malformed_payloads, u64::from(shards), "{counts:?}");
    assert_eq!((counts.applied, counts.failed), (0, 0));
    assert!(c.drops().get(DropReason::Malformed) >= u64::from(shards));
    assert_eq!(
        c.world().hash(),
        before,
        "nothing changed: no column, no command"
    );
    player.abort();
}

/// Turns a body's spin back whenever its angle's fraction of a radian passes
/// one half in the direction it spins, by inserting a new
/// [`AngularVelocity`] through commands: an insert over a value the entity already
/// has, which overwrites it in place (no row moves, the entity column stays equal).
#[derive(System, Default)]
#[system(reads(Angle, AngularVelocity), inserts(AngularVelocity))]
struct Kick;

impl Run for Kick {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, a, w) in cx.query::<(Entity, &Angle, &AngularVelocity)>().iter() {
            if (a.0.fract() > 0.5) == (w.0 > 0.0) {
                commands.insert(e, AngularVelocity(-w.0));
            }
        }
        Ok(())
    }
}

/// `Spin` keeps its `AngularVelocity` column at home between ticks (nobody writes
/// it), so when a remote `Kick`'s commands overwrite values in place the coordinator
/// must send that column again: a stale copy would spin the wrong way and the hash
/// would differ from local mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_overwritten_by_remote_commands_is_sent_again() {
    const TICKS: u64 = 30;
    const ENTITIES: usize = 600;
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("overwrite").expect("prefix");
    let mut local = demo::world(ENTITIES);
    for _ in 0..TICKS {
        local.run_system(&mut Spin).expect("spin");
        local.run_system(&mut Kick).expect("kick");
    }
    let _tasks = [
        spawn::<Spin>(&url, &subjects, 1),
        spawn::<Kick>(&url, &subjects, 2),
    ];
    let config = CoordinatorConfig::new(&url, subjects.clone(), vec![name("Spin"), name("Kick")])
        .deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, demo::world(ENTITIES))
        .await
        .expect("coordinator connects");
    c.wait_for_instances(
        &[(name("Spin"), 1), (name("Kick"), 1)],
        Duration::from_secs(10),
    )
    .await
    .expect("instances register");
    let mut kicks_before_reuse = 0u64;
    for _ in 0..TICKS {
        let applied = c.command_counts().applied;
        let report = c.tick().await.expect("tick");
        assert_eq!(report.rounds, 2, "{report:?}");
        if c.command_counts().applied > applied {
            kicks_before_reuse += 1;
        }
    }
    assert!(
        kicks_before_reuse > 5,
        "Kick overwrote values in {kicks_before_reuse} ticks"
    );
    assert_eq!(c.command_counts().failed, 0);
    assert_eq!(
        c.world().hash(),
        local.hash(),
        "no stale AngularVelocity was reused"
    );
}
