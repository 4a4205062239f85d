//! Column reuse ([`ShardAssignment::reuse_round`]): columns an instance already holds
//! byte-equal stay home, and an instance that does not hold them asks for the shard in
//! full ([`TickAck::missing`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use macrokid_ecs::World;
use macrokid_net::codec::{
    chunk_budget, chunk_headers, decode_control, encode_control, encode_shard, Column,
    DropCounters, Reassembler, Shard,
};
use macrokid_net::coordinator::{Coordinator, CoordinatorConfig};
use macrokid_net::demo::{self, Damping, Movement, Position, Spin, Time, Velocity};
use macrokid_net::protocol::{
    InstanceId, ResourceValue, ShardAssignment, Subjects, SystemSchedule, TickAck, ENTITY_COLUMN,
};
use macrokid_net::server::{NatsServer, ServerOptions};

mod common;

use common::{name, spawn};

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

async fn next_ack(acks: &mut async_nats::Subscriber, counters: &DropCounters) -> TickAck {
    let msg = tokio::time::timeout(Duration::from_secs(5), acks.next())
        .await
        .expect("an ack in time")
        .expect("ack");
    decode_control::<TickAck>(msg.headers.as_ref(), &msg.payload, counters).expect("a valid ack")
}

async fn result(changed: &mut async_nats::Subscriber, reassembler: &mut Reassembler) -> Shard {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), changed.next())
            .await
            .expect("a result in time")
            .expect("result");
        if let Some(done) = reassembler.push_bytes(&msg.payload) {
            return done;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_columns_stay_home_and_the_hash_equals_local_mode() {
    const TICKS: u64 = 6;
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let mut local = demo::world(2000);
    demo::run_local(&mut local, TICKS).expect("local run");
    for (prefix, reuse) in [("reuse-on", true), ("reuse-off", false)] {
        let subjects = Subjects::new(prefix).expect("prefix");
        let tasks = [
            spawn::<Movement>(&url, &subjects, 1),
            spawn::<Movement>(&url, &subjects, 2),
            spawn::<Spin>(&url, &subjects, 3),
            spawn::<Damping>(&url, &subjects, 4),
        ];
        let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
            .deadline(Duration::from_secs(5))
            .reuse_columns(reuse);
        let mut c = Coordinator::connect(config, demo::world(2000))
            .await
            .expect("coordinator connects");
        c.wait_for_instances(
            &[
                (name("Movement"), 2),
                (name("Spin"), 1),
                (name("Damping"), 1),
            ],
            Duration::from_secs(10),
        )
        .await
        .expect("instances register");
        for tick in 0..TICKS {
            let report = c.tick().await.expect("tick");
            let movement = &report.systems[&name("Movement")];
            let damping = &report.systems[&name("Damping")];
            let spin = &report.systems[&name("Spin")];
            if tick == 0 || !reuse {
                assert_eq!(movement.reused_bytes + damping.reused_bytes, 0);
                continue;
            }
            // Damping and Spin hold every column they were given (only they write
            // them); Movement gets only the velocities Damping changed, and their change
            // flags (one byte per shard: every row changed).
            assert_eq!(damping.sent_bytes, 0, "tick {tick}: {damping:?}");
            assert_eq!(spin.sent_bytes, 0, "tick {tick}: {spin:?}");
            assert_eq!(
                movement.sent_bytes,
                2000 * 12 + u64::from(movement.shards),
                "tick {tick}: {movement:?}"
            );
            assert!(movement.reused_bytes >= 2000 * (8 + 12), "{movement:?}");
        }
        assert_eq!(c.world().hash(), local.hash(), "reuse {reuse}");
        assert_eq!(c.drops().total(), 0, "{:?}", c.drops().snapshot());
        for t in &tasks {
            assert_eq!(t.stats.failed_jobs(), 0);
            assert_eq!(t.stats.drops().total(), 0);
        }
    }
}

/// Plays the coordinator by hand: a schedule that tells the process to reuse columns of a
/// round it never ran is answered with `missing`; the full re-send then runs, and the next
/// round reuses everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_asks_in_full_for_columns_it_does_not_hold() {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("reuse-missing").expect("prefix");
    let system = name("Movement");
    let me = InstanceId(7);
    let client = async_nats::connect(&url).await.expect("connects");
    let mut acks = client
        .subscribe(subjects.tick_ack(&system))
        .await
        .expect("sub");
    let mut changed = client
        .subscribe(subjects.component_changed(&system))
        .await
        .expect("sub");
    let mut registers = client
        .subscribe(subjects.register_any())
        .await
        .expect("sub");
    client.flush().await.expect("flush");
    let _task = spawn::<Movement>(&url, &subjects, me.0);
    registers.next().await.expect("the process registers");

    // Three bodies in one table: Position and Velocity.
    let mut world = World::new();
    *world.snapshot_registry_mut() = demo::registry();
    world.insert_resource(Time { dt: 0.5 });
    for i in 0..3 {
        let f = i as f32;
        world.spawn((Position([f, 0.0, 0.0]), Velocity([1.0, 2.0, f])));
    }
    let shape = world
        .table_shapes()
        .into_iter()
        .find(|s| s.rows == 3)
        .expect("the bodies' table");
    let mut columns = vec![Column::entities(
        &world
            .table_entities(shape.table)
            .expect("table")
            .iter()
            .map(|e| e.to_bits())
            .collect::<Vec<_>>(),
    )];
    for c in &shape.columns {
        let mut bytes = Vec::new();
        let size = world
            .read_pod_column(shape.table, c.name, &mut bytes)
            .expect("pod");
        columns.push(Column::new(c.name, size as u32, bytes).expect("whole"));
    }
    let names: Vec<String> = columns.iter().map(|c| c.component().to_owned()).collect();
    let time_name = std::any::type_name::<Time>();
    let resources = vec![ResourceValue {
        name: time_name.to_owned(),
        bytes: world
            .resource_bytes(time_name)
            .expect("registered")
            .expect("present"),
    }];
    let schedule = |round: u64, reuse: Option<u64>| SystemSchedule {
        tick_id: round,
        system: system.clone(),
        shards: vec![ShardAssignment {
            shard: 0,
            instance_id: me,
            rows: 3,
            reuse_round: reuse,
            reused: if reuse.is_some() {
                names.clone()
            } else {
                Vec::new()
            },
            all_reused: reuse.is_some(),
        }],
        tick: round,
        resources: resources.clone(),
        zero_sized: Vec::new(),
        since_last_run: false,
    };
    let counters = DropCounters::new();
    let publish_schedule = |s: SystemSchedule| {
        let client = client.clone();
        let subject = subjects.schedule(&system);
        async move {
            let (h, b) = encode_control(&s).expect("encodes");
            client
                .publish_with_headers(subject, h, b)
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        }
    };

    // Round 1 claims the process holds round 0: it does not.
    publish_schedule(schedule(1, Some(0))).await;
    let ack = next_ack(&mut acks, &counters).await;
    assert_eq!((ack.tick_id, ack.missing.clone()), (1, vec![0]), "{ack:?}");
    assert!(ack.shards.is_empty());

    // The full re-send of round 1 runs.
    publish_schedule(schedule(1, None)).await;
    let shard = Shard {
        tick: 1,
        system: system.clone(),
        shard: 0,
        columns: columns.clone(),
    };
    let budget = chunk_budget(client.server_info().max_payload);
    for chunk in encode_shard(&shard, budget).expect("encodes") {
        client
            .publish_with_headers(
                subjects.component_set_for(&system, me),
                chunk_headers(1, Some(me)),
                chunk,
            )
            .await
            .expect("publish");
    }
    client.flush().await.expect("flush");
    let mut reassembler = Reassembler::new(1 << 20, Arc::new(DropCounters::new()));
    let first = result(&mut changed, &mut reassembler).await;
    let ack = next_ack(&mut acks, &counters).await;
    assert_eq!((ack.tick_id, ack.shards.clone()), (1, vec![0]), "{ack:?}");
    assert!(ack.missing.is_empty());
    // Only the written column comes back: the coordinator knows the shard's rows.
    assert!(first.column(ENTITY_COLUMN).is_none());
    let position = first.columns.iter().find(|c| c.element_size() == 12);
    let after_one = f32s(position.expect("Position").bytes());
    // p + v * dt, with dt 0.5.
    assert_eq!(after_one, [0.5, 1.0, 0.0, 1.5, 1.0, 0.5, 2.5, 1.0, 1.0]);

    // Round 2 reuses everything from round 1, Position included (the result it sent).
    publish_schedule(schedule(2, Some(1))).await;
    let second = result(&mut changed, &mut reassembler).await;
    let ack = next_ack(&mut acks, &counters).await;
    assert_eq!((ack.tick_id, ack.shards.clone()), (2, vec![0]), "{ack:?}");
    let position = second.columns.iter().find(|c| c.element_size() == 12);
    let after_two = f32s(position.expect("Position").bytes());
    assert_eq!(after_two, [1.0, 2.0, 0.0, 2.0, 2.0, 1.0, 3.0, 2.0, 2.0]);
    drop(server);
}

/// A Movement instance played by hand that never keeps anything: every schedule that
/// reuses columns is answered with `missing`, so every tick after the first goes through
/// the coordinator's full re-send — and still ends with the local world hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_resends_in_full_when_an_instance_lacks_reused_columns() {
    const TICKS: u64 = 5;
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("reuse-resend").expect("prefix");
    let system = name("Movement");
    let me = InstanceId(9);
    let make_world = || {
        let mut w = World::new();
        *w.snapshot_registry_mut() = demo::registry();
        w.insert_resource(Time { dt: 0.25 });
        for i in 0..50 {
            let f = i as f32;
            w.spawn((Position([f, -f, 1.0]), Velocity([0.5, f * 0.1, -1.0])));
        }
        w
    };
    let mut local = make_world();
    for _ in 0..TICKS {
        local.run_system(&mut Movement).expect("runs");
    }

    let config = CoordinatorConfig::new(&url, subjects.clone(), vec![system.clone()])
        .deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, make_world())
        .await
        .expect("coordinator connects");
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let fake = {
        let asked = asked.clone();
        let client = async_nats::connect(&url).await.expect("connects");
        let subjects = subjects.clone();
        let system = system.clone();
        let mut schedules = client
            .subscribe(subjects.schedule(&system))
            .await
            .expect("sub");
        let mut sets = client
            .subscribe(subjects.component_set_for(&system, me))
            .await
            .expect("sub");
        let register = macrokid_net::protocol::SystemRegister {
            system: system.clone(),
            access: macrokid_net::system_process::access_of::<Movement>(),
            instance_id: me,
        };
        let (h, b) = encode_control(&register).expect("encodes");
        client
            .publish_with_headers(subjects.register(&system), h, b)
            .await
            .expect("publish");
        client.flush().await.expect("flush");
        let heartbeats = {
            let (client, subjects, system) = (client.clone(), subjects.clone(), system.clone());
            tokio::spawn(async move {
                let mut timer = tokio::time::interval(Duration::from_millis(100));
                for sequence in 0.. {
                    timer.tick().await;
                    let hb = macrokid_net::protocol::Heartbeat {
                        instance_id: me,
                        system: system.clone(),
                        sequence,
                        load: 0.1,
                    };
                    let (h, b) = encode_control(&hb).expect("encodes");
                    let _ = client
                        .publish_with_headers(subjects.heartbeat(&system), h, b)
                        .await;
                }
            })
        };
        tokio::spawn(async move {
            let _heartbeats = heartbeats;
            let counters = DropCounters::new();
            let mut reassembler = Reassembler::new(1 << 20, Arc::new(DropCounters::new()));
            let budget = chunk_budget(client.server_info().max_payload);
            while let Some(msg) = schedules.next().await {
                let schedule =
                    decode_control::<SystemSchedule>(msg.headers.as_ref(), &msg.payload, &counters)
                        .expect("a valid schedule");
                let mine: Vec<&ShardAssignment> = schedule
                    .shards
                    .iter()
                    .filter(|s| s.instance_id == me)
                    .collect();
                let send_ack = |shards: Vec<u32>, missing: Vec<u32>| {
                    let ack = TickAck {
                        tick_id: schedule.tick_id,
                        instance_id: me,
                        system: system.clone(),
                        shards,
                        run_micros: 1,
                        missing,
                    };
                    encode_control(&ack).expect("encodes")
                };
                if mine.iter().any(|s| s.reuse_round.is_some()) {
                    asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (h, b) = send_ack(Vec::new(), mine.iter().map(|s| s.shard).collect());
                    client
                        .publish_with_headers(subjects.tick_ack(&system), h, b)
                        .await
                        .expect("publish");
                    client.flush().await.expect("flush");
                    continue;
                }
                let mut done = Vec::new();
                while done.len() < mine.len() {
                    let msg = sets.next().await.expect("chunks");
                    if let Some(shard) = reassembler.push_bytes(&msg.payload) {
                        done.push(shard);
                    }
                }
                for shard in &done {
                    let col = |n: &str| {
                        shard
                            .columns
                            .iter()
                            .find(|c| c.component().ends_with(n))
                            .expect("column")
                    };
                    let (p, v) = (col("Position"), col("Velocity"));
                    let out: Vec<u8> = f32s(p.bytes())
                        .into_iter()
                        .zip(f32s(v.bytes()))
                        .flat_map(|(p, v)| (p + v * 0.25f32).to_le_bytes())
                        .collect();
                    let result = Shard {
                        tick: shard.tick,
                        system: system.clone(),
                        shard: shard.shard,
                        columns: vec![Column::new(p.component(), 12, out).expect("whole")],
                    };
                    for chunk in encode_shard(&result, budget).expect("encodes") {
                        client
                            .publish_with_headers(
                                subjects.component_changed(&system),
                                chunk_headers(shard.tick, Some(me)),
                                chunk,
                            )
                            .await
                            .expect("publish");
                    }
                }
                let (h, b) = send_ack(done.iter().map(|s| s.shard).collect(), Vec::new());
                client
                    .publish_with_headers(subjects.tick_ack(&system), h, b)
                    .await
                    .expect("publish");
                client.flush().await.expect("flush");
            }
        })
    };

    c.wait_for_instances(&[(system.clone(), 1)], Duration::from_secs(10))
        .await
        .expect("the fake registers");
    for tick in 0..TICKS {
        let report = c.tick().await.expect("tick");
        assert_eq!(report.reroutes, 0);
        assert_eq!(report.deaths, 0);
        let movement = &report.systems[&system];
        assert_eq!(movement.skipped, 0);
        if tick > 0 {
            // The first send reused the columns merged in the tick before.
            assert!(movement.reused_bytes > 0, "tick {tick}: {movement:?}");
        }
    }
    assert_eq!(c.world().hash(), local.hash());
    assert_eq!(c.drops().total(), 0, "{:?}", c.drops().snapshot());
    fake.abort();
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), TICKS - 1);
}

/// The coordinator skips a held column by its row ticks, without reading it: a column
/// changed between ticks by the coordinator's own commands — one value, every value, or
/// rows moved by a despawn and a spawn that keep the row count — is sent again, never
/// taken from the instance's stale copy; the hash equals local mode with the same
/// commands between the same ticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_changed_by_commands_between_ticks_are_sent_again() {
    use macrokid_net::demo::{Angle, Frozen};

    fn set_one_angle(w: &mut World) {
        let e = w
            .query::<(macrokid_ecs::Entity, &Angle)>()
            .iter()
            .map(|(e, _)| e)
            .min()
            .expect("a spinning body");
        w.get_mut::<Angle>(e).expect("live").0 = 1.25;
    }
    fn slow_every_body(w: &mut World) {
        for mut v in w.query::<&mut Velocity>().iter() {
            v.0[0] *= 0.5;
        }
    }
    fn replace_one_spinner(w: &mut World) {
        let e = w
            .query_filtered::<(macrokid_ecs::Entity, &Angle), macrokid_ecs::Without<Frozen>>()
            .iter()
            .map(|(e, _)| e)
            .min()
            .expect("a spinning body");
        let (p, v) = (
            *w.get::<Position>(e).expect("live"),
            *w.get::<Velocity>(e).expect("live"),
        );
        w.despawn(e).expect("live");
        // Into the same table, so that its row count stays and the last row moved.
        w.spawn((p, v, Angle(0.5), macrokid_net::demo::AngularVelocity(2.0)));
    }
    /// A change the coordinator queues between ticks.
    type Command = fn(&mut World);
    let commands: [(u64, Command); 3] = [
        (2, set_one_angle),
        (4, slow_every_body),
        (6, replace_one_spinner),
    ];
    const TICKS: u64 = 8;
    const BODIES: usize = 900;
    let mut local = demo::world(BODIES);
    for tick in 0..TICKS {
        if let Some((_, command)) = commands.iter().find(|(t, _)| *t == tick) {
            command(&mut local);
        }
        demo::run_local(&mut local, 1).expect("local run");
    }

    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("reuse-commands").expect("prefix");
    let tasks = [
        spawn::<Movement>(&url, &subjects, 1),
        spawn::<Movement>(&url, &subjects, 2),
        spawn::<Spin>(&url, &subjects, 3),
        spawn::<Damping>(&url, &subjects, 4),
    ];
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5));
    let mut c = Coordinator::connect(config, demo::world(BODIES))
        .await
        .expect("coordinator connects");
    c.wait_for_instances(
        &[
            (name("Movement"), 2),
            (name("Spin"), 1),
            (name("Damping"), 1),
        ],
        Duration::from_secs(10),
    )
    .await
    .expect("instances register");
    for tick in 0..TICKS {
        if let Some((_, command)) = commands.iter().find(|(t, _)| *t == tick) {
            c.queue(*command);
        }
        let report = c.tick().await.expect("tick");
        let spin = &report.systems[&name("Spin")];
        let damping = &report.systems[&name("Damping")];
        match tick {
            0 => continue,
            // One Angle changed: Spin gets the Angle column of that body's table again
            // (4 bytes a row), and keeps the rest.
            2 => {
                assert!(spin.sent_bytes > 0, "tick {tick}: {spin:?}");
                assert!(spin.reused_bytes > 0, "tick {tick}: {spin:?}");
            }
            // Every Velocity changed: Damping, which wrote them last, gets them all again
            // (and one byte of change flags per shard).
            4 => {
                assert_eq!(
                    damping.sent_bytes,
                    BODIES as u64 * 12 + u64::from(damping.shards),
                    "tick {tick}: {damping:?}"
                )
            }
            // Rows moved: Spin and Damping get that table's shard in full again.
            6 => {
                assert!(spin.sent_bytes > 0, "tick {tick}: {spin:?}");
                assert!(damping.sent_bytes > 0, "tick {tick}: {damping:?}");
            }
            _ => {
                assert_eq!(spin.sent_bytes, 0, "tick {tick}: {spin:?}");
                assert_eq!(damping.sent_bytes, 0, "tick {tick}: {damping:?}");
            }
        }
        if tick == 2 {
            assert_eq!(damping.sent_bytes, 0, "tick {tick}: {damping:?}");
        }
    }
    assert_eq!(c.world().hash(), local.hash());
    assert_eq!(c.drops().total(), 0, "{:?}", c.drops().snapshot());
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
    }
}
