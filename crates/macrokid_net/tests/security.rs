//! Server-side authentication and permissions against a real nats-server.

use std::time::Duration;

use futures_util::StreamExt;
use macrokid_net::protocol::{Subjects, SystemName};
use macrokid_net::security::ClusterAuth;
use macrokid_net::server::{NatsServer, ServerOptions};
use tokio::sync::mpsc;

struct Cluster {
    server: NatsServer,
    auth: ClusterAuth,
    subjects: Subjects,
    _dir: tempfile::TempDir,
}

fn sys(name: &str) -> SystemName {
    SystemName::new(name).expect("valid name")
}

fn secured(prefix: &str) -> Cluster {
    let subjects = Subjects::new(prefix).expect("valid prefix");
    let auth = ClusterAuth::generate(&subjects, &[sys("movement"), sys("spin")]).expect("random");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("nats.conf");
    auth.write_config(&config).expect("config written");
    let server = NatsServer::start(ServerOptions::new().config_file(&config)).expect("server");
    assert!(
        server.info().auth_required,
        "the server demands credentials"
    );
    Cluster {
        server,
        auth,
        subjects,
        _dir: dir,
    }
}

/// Connects as `options`, forwarding server errors (permission violations) to a channel.
async fn connect_watching(
    url: &str,
    options: async_nats::ConnectOptions,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = options
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .expect("authorised connect");
    (client, rx)
}

#[tokio::test]
async fn a_client_without_credentials_is_refused() {
    let c = secured("sec.anon");
    let err = async_nats::connect(c.server.url())
        .await
        .expect_err("no credentials, no connection");
    assert_eq!(
        err.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "{err}"
    );
    let wrong = async_nats::ConnectOptions::with_user_and_password(
        "coordinator".into(),
        "not-the-password".into(),
    )
    .connect(c.server.url())
    .await
    .expect_err("wrong password");
    assert_eq!(
        wrong.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation
    );
}

#[tokio::test]
async fn a_system_cannot_publish_on_another_systems_subjects() {
    let c = secured("sec.perm");
    let url = c.server.url();
    let coordinator = c
        .auth
        .coordinator()
        .connect_options()
        .connect(&url)
        .await
        .expect("coordinator connects");
    let mut changed = coordinator
        .subscribe(c.subjects.component_changed_any())
        .await
        .expect("subscribe");
    let mut acks = coordinator
        .subscribe(c.subjects.tick_ack_any())
        .await
        .expect("subscribe");
    coordinator.flush().await.expect("flush");

    let movement = sys("movement");
    let spin = sys("spin");
    let options = c
        .auth
        .system(&movement)
        .expect("generated")
        .connect_options();
    let (system, mut errors) = connect_watching(&url, options).await;
    // Forged: movement's user writing spin's results and acks, and a tick start.
    system
        .publish(c.subjects.component_changed(&spin), "forged".into())
        .await
        .expect("queued");
    system
        .publish(c.subjects.tick_ack(&spin), "forged".into())
        .await
        .expect("queued");
    system
        .publish(c.subjects.tick_start(), "forged".into())
        .await
        .expect("queued");
    // Its own subjects work.
    system
        .publish(c.subjects.component_changed(&movement), "mine".into())
        .await
        .expect("queued");
    system
        .publish(c.subjects.tick_ack(&movement), "ack".into())
        .await
        .expect("queued");
    system.flush().await.expect("flush");

    let first = tokio::time::timeout(Duration::from_secs(5), changed.next())
        .await
        .expect("own result arrives")
        .expect("subscription open");
    assert_eq!(
        first.subject.as_str(),
        c.subjects.component_changed(&movement)
    );
    assert_eq!(&first.payload[..], b"mine");
    let ack = tokio::time::timeout(Duration::from_secs(5), acks.next())
        .await
        .expect("own ack arrives")
        .expect("subscription open");
    assert_eq!(&ack.payload[..], b"ack");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), changed.next())
            .await
            .is_err(),
        "the forged result was not delivered"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), acks.next())
            .await
            .is_err(),
        "the forged ack was not delivered"
    );

    let mut violations = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), errors.recv()).await {
        violations.push(e);
        if violations.len() == 3 {
            break;
        }
    }
    assert_eq!(
        violations.len(),
        3,
        "one violation per forged publish: {violations:?}"
    );
    assert!(
        violations.iter().all(|v| v
            .to_lowercase()
            .contains("permissions violation for publish")),
        "{violations:?}"
    );
    assert!(violations[0].contains(&c.subjects.component_changed(&spin)));
}

#[tokio::test]
async fn a_system_cannot_read_another_systems_shards() {
    let c = secured("sec.read");
    let url = c.server.url();
    let coordinator = c
        .auth
        .coordinator()
        .connect_options()
        .connect(&url)
        .await
        .expect("coordinator connects");
    let movement = sys("movement");
    let spin = sys("spin");
    let options = c
        .auth
        .system(&movement)
        .expect("generated")
        .connect_options();
    let (system, mut errors) = connect_watching(&url, options).await;
    let mut own = system
        .subscribe(c.subjects.component_set(&movement))
        .await
        .expect("subscribe");
    system.flush().await.expect("flush");
    let mut stolen = system
        .subscribe(c.subjects.component_set(&spin))
        .await
        .expect("the client queues the request");
    system.flush().await.expect("flush");
    let e = tokio::time::timeout(Duration::from_secs(2), errors.recv())
        .await
        .expect("a violation is reported")
        .expect("open");
    assert!(
        e.to_lowercase()
            .contains("permissions violation for subscription"),
        "{e}"
    );
    coordinator
        .publish(c.subjects.component_set(&spin), "spin data".into())
        .await
        .expect("publish");
    coordinator
        .publish(c.subjects.component_set(&movement), "movement data".into())
        .await
        .expect("publish");
    coordinator.flush().await.expect("flush");
    let got = tokio::time::timeout(Duration::from_secs(5), own.next())
        .await
        .expect("own shard arrives")
        .expect("open");
    assert_eq!(&got.payload[..], b"movement data");
    let nothing = tokio::time::timeout(Duration::from_millis(300), stolen.next()).await;
    assert!(
        !matches!(nothing, Ok(Some(_))),
        "another system's shard was delivered"
    );
}

#[tokio::test]
async fn the_inspector_may_only_query() {
    let c = secured("sec.insp");
    let url = c.server.url();
    let coordinator = c
        .auth
        .coordinator()
        .connect_options()
        .connect(&url)
        .await
        .expect("coordinator connects");
    let mut requests = coordinator
        .subscribe(c.subjects.query_request())
        .await
        .expect("subscribe");
    coordinator.flush().await.expect("flush");
    let responder = tokio::spawn(async move {
        let msg = requests.next().await.expect("a request");
        let reply = msg.reply.expect("a reply subject");
        coordinator
            .publish(reply, "answer".into())
            .await
            .expect("reply");
        coordinator.flush().await.expect("flush");
    });
    let (inspector, mut errors) =
        connect_watching(&url, c.auth.inspector().connect_options()).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        inspector.request(c.subjects.query_request(), "systems?".into()),
    )
    .await
    .expect("in time")
    .expect("answered through the query.response inbox");
    assert_eq!(&answer.payload[..], b"answer");
    responder.await.expect("responder");
    inspector
        .publish(c.subjects.tick_start(), "forged".into())
        .await
        .expect("queued");
    inspector.flush().await.expect("flush");
    let e = tokio::time::timeout(Duration::from_secs(2), errors.recv())
        .await
        .expect("a violation is reported")
        .expect("open");
    assert!(e.to_lowercase().contains("permissions violation"), "{e}");
}
