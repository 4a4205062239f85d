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
