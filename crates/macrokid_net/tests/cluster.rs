//! The coordinator and system processes against a real nats-server: the world hash after N
//! ticks equals that of the same systems run in one process.

use std::time::Duration;

use macrokid_net::codec::{self, DropReason};
use macrokid_net::coordinator::{Coordinator, CoordinatorConfig};
use macrokid_net::demo::{self, Damping, Movement, Spin};
use macrokid_net::protocol::{self, MsgType};
use macrokid_net::protocol::{InstanceId, Subjects};
use macrokid_net::server::{NatsServer, ServerOptions};

mod common;

use common::{name, spawn};

const TICKS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_over_nats_end_with_the_local_world_hash() {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("cluster-tasks").expect("prefix");

    let mut local = demo::world(3000);
    demo::run_local(&mut local, TICKS).expect("local run");

    let tasks = [
        spawn::<Movement>(&url, &subjects, 1),
        spawn::<Movement>(&url, &subjects, 2),
        spawn::<Spin>(&url, &subjects, 3),
        spawn::<Damping>(&url, &subjects, 4),
    ];
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_secs(5));
    let mut coordinator = Coordinator::connect(config, demo::world(3000))
        .await
        .expect("coordinator connects");
    assert_ne!(coordinator.world().hash(), local.hash());
    coordinator
        .wait_for_instances(
            &[
                (name("Movement"), 2),
                (name("Spin"), 1),
                (name("Damping"), 1),
            ],
            Duration::from_secs(10),
        )
        .await
        .expect("instances register");
    // Malformed, wrong-version and foreign messages are counted and dropped.
    let client = coordinator.client().clone();
    client
        .publish(subjects.register(&name("Movement")), "garbage".into())
        .await
        .expect("publish");
    let mut old = codec::headers(MsgType::Heartbeat, None, Some(InstanceId(1)));
    old.insert(protocol::HEADER_VERSION, "0");
    client
        .publish_with_headers(subjects.heartbeat(&name("Movement")), old, "x".into())
        .await
        .expect("publish");
    client
        .publish_with_headers(
            subjects.component_changed(&name("Movement")),
            codec::chunk_headers(1, Some(InstanceId(1))),
            "XXXX-not-a-chunk".into(),
        )
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for tick in 0..TICKS {
        let report = coordinator.tick().await.expect("tick");
        assert_eq!(report.tick, tick);
        assert_eq!(report.rounds, 2, "Movement+Spin, then Damping");
        let movement = &report.systems[&name("Movement")];
        assert_eq!(movement.per_instance.len(), 2, "both instances got shards");
        assert_eq!(movement.skipped, 0);
        assert_eq!(report.reroutes, 0);
    }
    assert_eq!(coordinator.world().hash(), local.hash());
    let drops = coordinator.drops();
    assert_eq!(
        drops.get(DropReason::MissingHeader),
        1,
        "{:?}",
        drops.snapshot()
    );
    assert_eq!(
        drops.get(DropReason::WrongVersion),
        1,
        "{:?}",
        drops.snapshot()
    );
    assert_eq!(
        drops.get(DropReason::Malformed),
        1,
        "{:?}",
        drops.snapshot()
    );
    assert_eq!(drops.total(), 3, "{:?}", drops.snapshot());
    assert_eq!(coordinator.tracker().counters().late_results, 0);
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
        assert!(t.stats.jobs() >= TICKS, "{} jobs", t.stats.jobs());
        assert_eq!(t.stats.drops().total(), 0);
        // Steady state: the local world is built once, then overwritten in place.
        assert_eq!(t.stats.rebuilds(), 1);
    }
}

/// Real processes (the `macrokid-cluster` binary and its system children): one Movement
/// instance is SIGKILLed, another SIGSTOPped and later SIGCONTed; the run loses no tick,
/// re-routes within 3 ticks, counts the frozen instance's late results, takes it back when
/// it registers again, and ends with the world hash of the local run.
#[test]
fn real_processes_survive_a_kill_and_a_freeze_with_the_local_hash() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_macrokid-cluster"))
        .args([
            "run",
            "--entities",
            "3000",
            "--instances",
            "3",
            "--ticks",
            "40",
            "--kill-at",
            "8",
            "--freeze-at",
            "16",
            "--rate",
            "40",
            "--deadline-ms",
            "300",
        ])
        .output()
        .expect("runs macrokid-cluster");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("output");
    assert!(last.contains("lost ticks 0"), "{last}");
    assert!(last.contains("equals local"), "{last}");
    let after = |what: &str| -> u64 {
        let end = last
            .find(&format!(" ticks ({what})"))
            .expect("re-route reported");
        let start = last[..end].rfind(' ').expect("number") + 1;
        last[start..end].parse().expect("a tick count")
    };
    assert!((1..=3).contains(&after("kill")), "{last}");
    assert!((1..=3).contains(&after("freeze")), "{last}");
    let stats = stdout
        .lines()
        .find(|l| l.contains("late results"))
        .expect("stats line");
    let count = |key: &str| -> u64 {
        let start = stats.find(key).expect("key") + key.len() + 1;
        stats[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    assert!(count("rejoins") >= 1, "{stats}");
    assert!(count("late results") >= 1, "{stats}");
}

/// When the only instance of a system stops, its shards of that tick are skipped (no live
/// instance to re-route to) and the following ticks skip the system with a warning; the
/// world then equals a local run that left the system out from that tick on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_without_live_instances_is_skipped() {
    let server = NatsServer::start(ServerOptions::new()).expect("nats-server");
    let url = server.url();
    let subjects = Subjects::new("cluster-skip").expect("prefix");
    let movement = spawn::<Movement>(&url, &subjects, 1);
    let spin = spawn::<Spin>(&url, &subjects, 2);
    let damping = spawn::<Damping>(&url, &subjects, 3);
    let config = CoordinatorConfig::new(&url, subjects.clone(), demo::systems())
        .deadline(Duration::from_millis(300));
    let mut coordinator = Coordinator::connect(config, demo::world(500))
        .await
        .expect("coordinator connects");
    coordinator
        .wait_for_instances(
            &[
                (name("Movement"), 1),
                (name("Spin"), 1),
                (name("Damping"), 1),
            ],
            Duration::from_secs(10),
        )
        .await
        .expect("instances register");
    for _ in 0..2 {
        let report = coordinator.tick().await.expect("tick");
        assert_eq!(report.systems[&name("Damping")].skipped, 0);
    }
    drop(damping);
    let report = coordinator.tick().await.expect("tick");
    assert_eq!(report.deaths, 1, "{report:?}");
    assert!(report.systems[&name("Damping")].skipped > 0, "{report:?}");
    let report = coordinator.tick().await.expect("tick");
    assert!(report.systems[&name("Damping")].skipped > 0, "{report:?}");
    assert_eq!(report.systems[&name("Movement")].skipped, 0);

    let mut local = demo::world(500);
    demo::run_local(&mut local, 2).expect("local");
    for _ in 0..2 {
        local.run_system(&mut Movement).expect("runs");
        local.run_system(&mut Spin).expect("runs");
    }
    assert_eq!(coordinator.world().hash(), local.hash());
    drop((movement, spin));
}

/// Runs `macrokid-cluster run` with `args`; returns stdout, after checking it succeeded.
fn cluster_run(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_macrokid-cluster"))
        .arg("run")
        .args(args)
        .output()
        .expect("runs macrokid-cluster");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Real processes with the default login: the server is killed by its process id at tick 8
/// and started again on the same port and store; no tick is lost and the hash is the
/// local one. Snapshots every 5 ticks land in the store directory, and a second run with
/// `--resume` continues from tick 20 with the local hash.
#[test]
fn real_processes_survive_a_server_restart_and_a_later_run_resumes() {
    let store = tempfile::tempdir().expect("store dir");
    let store_path = store.path().display().to_string();
    let common = [
        "--entities",
        "2000",
        "--deadline-ms",
        "1000",
        "--store",
        &store_path,
        "--world",
        "t1",
    ];
    let mut args = common.to_vec();
    args.extend([
        "--ticks",
        "20",
        "--snapshot-every",
        "5",
        "--restart-server-at",
        "8",
    ]);
    let first = cluster_run(&args);
    assert!(first.contains("login required"), "{first}");
    let last = first.lines().last().expect("output");
    assert!(last.contains("server restarted at tick 8"), "{last}");
    assert!(last.contains("lost ticks 0"), "{last}");
    assert!(last.contains("equals local"), "{last}");
    assert!(
        first.contains("cluster: 4 snapshots of world t1 stored, 0 failed"),
        "{first}"
    );

    let mut args = common.to_vec();
    args.extend(["--ticks", "6", "--resume"]);
    let second = cluster_run(&args);
    assert!(
        second.contains("resumed world t1 at tick 20 from its snapshot")
            && second.contains("equals local\n"),
        "{second}"
    );
    let last = second.lines().last().expect("output");
    assert!(
        last.starts_with("cluster: 6 ticks, from tick 20 (resumed)"),
        "{last}"
    );
    assert!(last.contains("equals local"), "{last}");
}

/// `--systems` runs a subset of the demo, given in any order: only those system processes
/// start, the coordinator plans only them, and the local run the hash is compared with
/// runs the same subset (a local run of all four would end with another hash).
#[test]
fn a_subset_of_the_systems_runs_and_ends_with_the_local_hash_of_that_subset() {
    let out = cluster_run(&[
        "--systems",
        "Spin,Movement",
        "--instances",
        "2",
        "--entities",
        "2000",
        "--ticks",
        "15",
        "--deadline-ms",
        "1000",
    ]);
    assert!(
        out.contains("system processes: 2 Movement, 1 Spin\n"),
        "{out}"
    );
    assert!(!out.contains("Damping"), "{out}");
    let last = out.lines().last().expect("output");
    assert!(last.starts_with("cluster: 15 ticks,"), "{last}");
    assert!(last.contains("lost ticks 0"), "{last}");
    assert!(last.contains("equals local"), "{last}");
}

/// The command line is parsed by clap: `--help` lists every option of `run`, and a bad
/// value is refused with exit status 2 before anything starts.
#[test]
fn the_command_line_has_help_and_refuses_bad_values() {
    let bin = env!("CARGO_BIN_EXE_macrokid-cluster");
    let help = std::process::Command::new(bin)
        .args(["run", "--help"])
        .output()
        .expect("runs");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--entities",
        "--instances",
        "--ticks",
        "--kill-at",
        "--freeze-at",
        "--rate",
        "--deadline-ms",
        "--reuse",
        "--snapshot-every",
        "--resume",
        "--store",
        "--world",
        "--restart-server-at",
        "--no-auth",
        "--systems",
    ] {
        assert!(text.contains(option), "{option} missing from:\n{text}");
    }
    for bad in [
        &["run", "--snapshot-every", "0"][..],
        &["run", "--reuse", "maybe"],
        &["run", "--ticks"],
        &["run", "--bogus", "1"],
        &["run", "--systems", "Movement,Gravity"],
        &["system", "Nope", "nats://127.0.0.1:1", "p"],
    ] {
        let out = std::process::Command::new(bin)
            .args(bad)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error"),
            "{bad:?}"
        );
    }
    let out = std::process::Command::new(bin)
        .args(["run", "--instances", "1", "--kill-at", "3"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--instances 1"));
    let out = std::process::Command::new(bin)
        .args(["run", "--systems", "Spin", "--freeze-at", "3"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add Movement to --systems"));
}
