//! JetStream snapshots and surviving a nats-server restart, against a real server.

use std::time::Duration;

use futures_util::StreamExt;
use macrokid_net::codec::chunk_budget;
use macrokid_net::protocol::Subjects;
use macrokid_net::server::{NatsServer, ServerOptions};
use macrokid_net::snapshot::{Snapshot, SnapshotStore};

/// Bytes that differ per `seed`, larger than one message so the store chunks them.
fn opaque(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_snapshot_survives_a_new_client_and_a_server_restart() {
    let mut server = NatsServer::start(ServerOptions::new()).expect("server");
    let subjects = Subjects::new("snap.test").expect("prefix");
    let budget = chunk_budget(server.max_payload());
    let client = async_nats::connect(server.url()).await.expect("connect");
    let store = SnapshotStore::open(client.clone(), &subjects, budget)
        .await
        .expect("bucket");
    assert_eq!(store.latest("world1").await.expect("query"), None);
    let big = opaque(3 * server.max_payload() + 17, 1);
    store.put("world1", 10, &big).await.expect("put");
    let newer = opaque(2 * server.max_payload(), 2);
    store.put("world1", 20, &newer).await.expect("put");
    store.put("world2", 5, b"other").await.expect("put");
    assert!(
        store.put("bad.world", 1, b"x").await.is_err(),
        "a dotted id is refused"
    );
    let expected = Snapshot {
        tick: 20,
        bytes: newer,
    };
    assert_eq!(
        store.latest("world1").await.expect("get"),
        Some(expected.clone())
    );
    drop(store);
    drop(client);

    // A new coordinator: a fresh connection opens the same bucket.
    let client = async_nats::connect(server.url()).await.expect("connect");
    let store = SnapshotStore::open(client, &subjects, budget)
        .await
        .expect("bucket");
    assert_eq!(
        store.latest("world1").await.expect("get"),
        Some(expected.clone())
    );
    assert_eq!(
        store.latest("world2").await.expect("get").map(|s| s.bytes),
        Some(b"other".to_vec())
    );
    drop(store);

    // The store directory outlives the server process.
    tokio::task::block_in_place(|| server.restart()).expect("restart");
    let client = async_nats::connect(server.url()).await.expect("reconnect");
    let store = SnapshotStore::open(client, &subjects, budget)
        .await
        .expect("bucket");
    assert_eq!(store.latest("world1").await.expect("get"), Some(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_and_messages_resume_after_a_server_restart() {
    let mut server = NatsServer::start(ServerOptions::new()).expect("server");
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .reconnect_delay_callback(|attempt| Duration::from_millis(50 * attempt.min(10) as u64))
        .event_callback(move |e| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.send(e.to_string());
            }
        })
        .connect(server.url())
        .await
        .expect("connect");
    let mut sub = client.subscribe("restart.test.tick").await.expect("sub");
    client.flush().await.expect("flush");
    client
        .publish("restart.test.tick", "before".into())
        .await
        .expect("publish");
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(&msg.payload[..], b"before");

    tokio::task::block_in_place(|| server.restart()).expect("restart");
    // Publish until the resubscribed client gets one back: ticks resume.
    let mut resumed = false;
    for i in 0..100 {
        let _ = client
            .publish("restart.test.tick", format!("after {i}").into())
            .await;
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            assert!(msg.payload.starts_with(b"after"), "{:?}", msg.payload);
            resumed = true;
            break;
        }
    }
    assert!(
        resumed,
        "no message went through within 10 s of the restart"
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.iter().any(|e| e == "disconnected"), "{seen:?}");
    assert!(seen.iter().any(|e| e == "connected"), "{seen:?}");
}

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{demo_instances, demo_tasks};
use macrokid_net::coordinator::{empty_world, Coordinator, CoordinatorConfig, CoordinatorError};
use macrokid_net::demo;

fn local_hash(entities: usize, ticks: u64) -> u64 {
    let mut world = demo::world(entities);
    demo::run_local(&mut world, ticks).expect("local run");
    world.hash()
}

/// A coordinator snapshots every 4 ticks; after 10 ticks it is dropped (the system
/// processes keep running); a new one on the same store resumes at tick 8 with the hash
/// of 8 local ticks, takes the running processes back, and 5 ticks later has the hash of
/// 13 local ticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_coordinator_resumes_from_the_last_snapshot_with_the_same_hash() {
    const ENTITIES: usize = 2000;
    let server = NatsServer::start(ServerOptions::new()).expect("server");
    let url = server.url();
    let subjects = Subjects::new("persist.test").expect("prefix");
    let tasks = demo_tasks(&url, &subjects);
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5))
        .snapshot_every(Some(4))
        .world_id("w1");

    let mut first = Coordinator::connect(config.clone(), demo::world(ENTITIES))
        .await
        .expect("coordinator");
    first
        .wait_for_instances(&demo_instances(), Duration::from_secs(10))
        .await
        .expect("instances");
    for tick in 0..10u64 {
        let report = first.tick().await.expect("tick");
        assert_eq!(report.tick, tick);
        assert_eq!(
            report.snapshot_bytes.is_some(),
            (tick + 1) % 4 == 0,
            "tick {tick}: {report:?}"
        );
    }
    assert_eq!(first.snapshot_failures(), 0);
    assert_eq!(first.world().hash(), local_hash(ENTITIES, 10));
    drop(first);

    // Another world id has no snapshot: nothing changes.
    let mut other =
        Coordinator::connect(config.clone().world_id("w2"), empty_world(demo::registry()))
            .await
            .expect("coordinator");
    assert_eq!(other.resume().await.expect("store answers"), None);
    assert_eq!(other.tick_count(), 0);
    assert!(other.world().is_empty());
    drop(other);

    // A world that does not register the snapshot's types refuses it and stays as it was.
    let mut unregistered = Coordinator::connect(
        config.clone(),
        empty_world(macrokid_ecs::SnapshotRegistry::new()),
    )
    .await
    .expect("coordinator");
    let err = unregistered.resume().await.expect_err("unknown types");
    assert!(
        matches!(err, CoordinatorError::WorldSnapshot { tick: 8, .. }),
        "{err}"
    );
    assert_eq!(unregistered.tick_count(), 0);
    assert!(unregistered.world().is_empty());
    drop(unregistered);

    let mut second = Coordinator::connect(config, empty_world(demo::registry()))
        .await
        .expect("coordinator");
    assert_eq!(second.resume().await.expect("snapshot"), Some(8));
    assert_eq!(second.tick_count(), 8);
    assert_eq!(second.world().len(), ENTITIES);
    assert_eq!(second.world().hash(), local_hash(ENTITIES, 8));
    // The processes still running re-register with the new coordinator on their own.
    second
        .wait_for_instances(&demo_instances(), Duration::from_secs(10))
        .await
        .expect("instances register again");
    for tick in 8..13u64 {
        let report = second.tick().await.expect("tick");
        assert_eq!(report.tick, tick);
        assert!(
            report.systems.values().all(|s| s.skipped == 0),
            "{report:?}"
        );
    }
    assert_eq!(second.world().hash(), local_hash(ENTITIES, 13));
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
    }
}

/// The server is killed (by its process id) while the coordinator ticks as fast as it can,
/// and started again on the same port and store 400 ms later: the clients reconnect, the
/// round in flight is sent again, no tick is skipped, and the world ends with the local
/// run's hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_run_survives_a_server_restart_with_the_local_hash() {
    const ENTITIES: usize = 3000;
    const KILL_AFTER: u64 = 5;
    const AFTER_RESTART: u64 = 8;
    let server = NatsServer::start(ServerOptions::new()).expect("server");
    let url = server.url();
    let port = server.port();
    let subjects = Subjects::new("restart.cluster").expect("prefix");
    let tasks = demo_tasks(&url, &subjects);
    // Longer than the outage: the round in flight is retried at its deadline, and a
    // loaded machine does not make a live instance miss one.
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(2));
    let mut coordinator = Coordinator::connect(config, demo::world(ENTITIES))
        .await
        .expect("coordinator");
    coordinator
        .wait_for_instances(&demo_instances(), Duration::from_secs(10))
        .await
        .expect("instances");

    let started_ticks = Arc::new(AtomicU64::new(0));
    let started = started_ticks.clone();
    let restarter = std::thread::spawn(move || {
        let mut server = server;
        while started.load(Ordering::Acquire) < KILL_AFTER {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Into the tick that just started: its shards or results are in flight.
        std::thread::sleep(Duration::from_millis(2));
        let pid = server.pid().expect("running");
        server.stop();
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the server process {pid} is gone"
        );
        std::thread::sleep(Duration::from_millis(400));
        server.restart().expect("the server starts again");
        let at = started.load(Ordering::Acquire);
        (server, at)
    });

    let mut tick = 0u64;
    let mut restarted_at = None;
    let mut retried = 0u32;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        started_ticks.store(tick + 1, Ordering::Release);
        let report = coordinator.tick().await.expect("tick");
        assert_eq!(report.tick, tick);
        assert!(
            report.systems.values().all(|s| s.skipped == 0),
            "tick {tick} lost shards: {report:?}"
        );
        assert_eq!(report.rounds, 2, "tick {tick}: {report:?}");
        retried += report.retried_shards;
        tick += 1;
        if restarted_at.is_none() && restarter.is_finished() {
            restarted_at = Some(tick);
        }
        if restarted_at.is_some_and(|at| tick >= at + AFTER_RESTART) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no end after {tick} ticks"
        );
    }
    let (server, _) = restarter.join().expect("restarter");
    assert_eq!(server.port(), port, "the same port");
    assert!(
        coordinator.disconnects() >= 1,
        "the coordinator saw the outage"
    );
    println!(
        "restart survived: {tick} ticks, {} rounds / {retried} shards sent again, deaths {}, drops {:?}",
        coordinator.retries().0,
        coordinator.tracker().counters().deaths,
        coordinator.drops().snapshot()
    );
    assert_eq!(
        coordinator.tracker().counters().deaths,
        0,
        "nobody died of the outage"
    );
    assert_eq!(coordinator.world().hash(), local_hash(ENTITIES, tick));
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
    }
}
