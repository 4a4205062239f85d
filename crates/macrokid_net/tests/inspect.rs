//! Inspection over `query.request` against a real server: the coordinator's answers, the
//! drops of malformed requests, and the `macrokid-inspect` binary with the cluster's login.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{demo_instances, demo_tasks, name};
use macrokid_ecs::Entity;
use macrokid_net::codec::{self, DropReason};
use macrokid_net::coordinator::{Coordinator, CoordinatorConfig};
use macrokid_net::demo::{self, Angle, Position};
use macrokid_net::inspect;
use macrokid_net::protocol::{self, MsgType, QueryRequest, QueryResponse, Subjects};
use macrokid_net::security::ClusterAuth;
use macrokid_net::server::{NatsServer, ServerOptions};

const ENTITIES: usize = 900;
const WAIT: Duration = Duration::from_secs(5);

/// Runs `work` while the coordinator serves queries; returns what `work` returns.
async fn while_serving<T>(c: &mut Coordinator, work: impl Future<Output = T>) -> T {
    tokio::select! {
        () = c.serve_until(tokio::time::Instant::now() + Duration::from_secs(60)) => {
            panic!("the queries did not finish within 60 s")
        }
        out = work => out,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_answers_systems_and_entities_and_drops_bad_requests() {
    let server = NatsServer::start(ServerOptions::new()).expect("server");
    let url = server.url();
    let subjects = Subjects::new("inspect.test").expect("prefix");
    let _tasks = demo_tasks(&url, &subjects);
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5))
        .json_views(demo::json_views());
    let mut c = Coordinator::connect(config, demo::world(ENTITIES))
        .await
        .expect("coordinator");
    c.wait_for_instances(&demo_instances(), Duration::from_secs(10))
        .await
        .expect("instances");
    let mut last = None;
    for _ in 0..3 {
        last = Some(c.tick().await.expect("tick"));
    }
    let last = last.expect("ticked");
    let inspector = inspect::connect(&url, &subjects, None)
        .await
        .expect("inspector connects");

    let (systems, entities, unknown) = while_serving(&mut c, async {
        let ask = |r: QueryRequest| {
            let (inspector, subjects) = (inspector.clone(), subjects.clone());
            async move { inspect::query(&inspector, &subjects, &r, WAIT).await }
        };
        (
            ask(QueryRequest::Systems).await.expect("systems answered"),
            ask(QueryRequest::Entities {
                components: vec!["Position".into(), "macrokid_net::demo::Angle".into()],
                first: 4,
            })
            .await
            .expect("entities answered"),
            ask(QueryRequest::Entities {
                components: vec!["Mass".into()],
                first: 1,
            })
            .await
            .expect("an error answer"),
        )
    })
    .await;

    let QueryResponse::Systems {
        tick,
        entities: count,
        systems,
    } = systems
    else {
        panic!("not a systems answer: {systems:?}")
    };
    assert_eq!(tick, 3);
    assert_eq!(count, ENTITIES as u64);
    let names: Vec<_> = systems.iter().map(|s| s.system.clone()).collect();
    assert_eq!(names, [name("Damping"), name("Movement"), name("Spin")]);
    let movement = &systems[1];
    assert!(
        movement
            .access
            .writes
            .iter()
            .any(|w| w.ends_with("Position")),
        "{movement:?}"
    );
    assert_eq!(movement.instances.len(), 2);
    assert!(movement.instances.iter().all(|i| i.live && i.shards > 0));
    let in_last = &last.systems[&name("Movement")];
    assert_eq!(
        movement.instances.iter().map(|i| i.shards).sum::<u32>(),
        in_last.shards
    );
    assert_eq!(movement.rows, in_last.rows);

    let QueryResponse::Entities { count, rows_json } = entities else {
        panic!("not an entities answer: {entities:?}")
    };
    assert_eq!(count, ENTITIES.div_ceil(3) as u64, "every third body spins");
    assert_eq!(rows_json.len(), 4);
    for row in &rows_json {
        let row: serde_json::Value = serde_json::from_str(row).expect("JSON");
        let entity = Entity::from_bits(row["bits"].as_u64().expect("bits"));
        assert_eq!(row["entity"], entity.to_string());
        let components = &row["components"];
        let position: Vec<f32> =
            serde_json::from_value(components["macrokid_net::demo::Position"].clone())
                .expect("a Position shows as its three numbers");
        assert_eq!(position, c.world().get::<Position>(entity).expect("live").0);
        let angle: f32 = serde_json::from_value(components["macrokid_net::demo::Angle"].clone())
            .expect("an Angle shows as its number");
        assert_eq!(angle, c.world().get::<Angle>(entity).expect("live").0);
    }
    match unknown {
        QueryResponse::Error(message) => assert!(message.contains("\"Mass\""), "{message}"),
        other => panic!("not an error: {other:?}"),
    }

    // Malformed requests: no headers, another protocol version, a body that is not a
    // request, and a well-formed one without a reply subject. None is answered.
    let before = c.drops().snapshot();
    let queries_before = c.queries_answered();
    while_serving(&mut c, async {
        let short = Duration::from_millis(300);
        let raw = inspector.request(subjects.query_request(), "garbage".into());
        assert!(tokio::time::timeout(short, raw)
            .await
            .map_or(true, |r| r.is_err()));
        let mut old = codec::headers(MsgType::QueryRequest, None, None);
        old.insert(protocol::HEADER_VERSION, "0");
        let (_, body) = codec::encode_control(&QueryRequest::Systems).expect("encode");
        let versioned = inspector.request_with_headers(subjects.query_request(), old, body.clone());
        assert!(tokio::time::timeout(short, versioned)
            .await
            .map_or(true, |r| r.is_err()));
        let bad_body = inspector.request_with_headers(
            subjects.query_request(),
            codec::headers(MsgType::QueryRequest, None, None),
            "not msgpack".into(),
        );
        assert!(tokio::time::timeout(short, bad_body)
            .await
            .map_or(true, |r| r.is_err()));
        let (headers, body) = codec::encode_control(&QueryRequest::Systems).expect("encode");
        inspector
            .publish_with_headers(subjects.query_request(), headers, body)
            .await
            .expect("publish");
        inspector.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let after = c.drops().snapshot();
    let grew =
        |r: DropReason| after.get(&r).copied().unwrap_or(0) - before.get(&r).copied().unwrap_or(0);
    assert_eq!(
        grew(DropReason::MissingHeader),
        2,
        "no headers, no reply: {after:?}"
    );
    assert_eq!(grew(DropReason::WrongVersion), 1, "{after:?}");
    assert_eq!(grew(DropReason::Malformed), 1, "{after:?}");
    assert_eq!(c.queries_answered(), queries_before, "none answered");
    // And the coordinator still answers.
    let again = while_serving(
        &mut c,
        inspect::query(&inspector, &subjects, &QueryRequest::Systems, WAIT),
    )
    .await
    .expect("answered");
    assert!(
        matches!(again, QueryResponse::Systems { tick: 3, .. }),
        "{again:?}"
    );
}

/// The binary against a server that requires a login: the inspector's login works, no
/// login is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macrokid_inspect_asks_with_the_inspector_login() {
    let subjects = Subjects::new("inspect.bin").expect("prefix");
    let auth = ClusterAuth::generate(&subjects, &demo::systems()).expect("random");
    let dir = tempfile::tempdir().expect("temp dir");
    auth.write_config(&dir.path().join("nats.conf"))
        .expect("config");
    let password = dir.path().join("inspector.password");
    std::fs::write(&password, format!("{}\n", auth.inspector().password)).expect("write");
    let server = NatsServer::start(ServerOptions::new().config_file(dir.path().join("nats.conf")))
        .expect("server");
    let url = server.url();
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .credentials(auth.coordinator().clone())
        .json_views(demo::json_views());
    let mut c = Coordinator::connect(config, demo::world(ENTITIES))
        .await
        .expect("coordinator logs in");

    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_macrokid-inspect"))
                .args(args)
                .output()
                .expect("runs macrokid-inspect")
        })
    };
    let login = vec![
        "--url".to_owned(),
        url.clone(),
        "--prefix".to_owned(),
        "inspect.bin".to_owned(),
        "--user".to_owned(),
        auth.inspector().user.clone(),
        "--password-file".to_owned(),
        password.display().to_string(),
    ];
    let with = |extra: &[&str]| {
        let mut a = login.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let (systems, entities, anonymous) = while_serving(&mut c, async {
        let systems = run(with(&["systems"])).await.expect("joined");
        let entities = run(with(&["entities", "Frozen", "--first", "2"]))
            .await
            .expect("joined");
        let anonymous = run(vec![
            "--url".into(),
            url.clone(),
            "--prefix".into(),
            "inspect.bin".into(),
            "--timeout-ms".into(),
            "500".into(),
            "systems".into(),
        ])
        .await
        .expect("joined");
        (systems, entities, anonymous)
    })
    .await;
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(systems.status.success(), "{systems:?}");
    assert_eq!(
        text(&systems).lines().next(),
        Some(format!("tick 0, {ENTITIES} entities, 0 systems").as_str())
    );
    assert!(entities.status.success(), "{entities:?}");
    let lines: Vec<String> = text(&entities).lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        format!("{} entities", ENTITIES.div_ceil(10)),
        "every tenth is frozen"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    for row in &lines[1..] {
        let row: serde_json::Value = serde_json::from_str(row).expect("a JSON row");
        assert!(row["components"]
            .as_object()
            .expect("components")
            .contains_key("macrokid_net::demo::Frozen"));
    }
    assert!(!anonymous.status.success(), "no login, no answer");
    let err = String::from_utf8_lossy(&anonymous.stderr);
    assert!(err.contains("could not connect"), "{err}");
}
