//! The coordinator and system processes against a real nats-server: the world hash after N
//! ticks equals that of the same systems run in one process.

use std::sync::Arc;
use std::time::Duration;

use macrokid_net::coordinator::{Coordinator, CoordinatorConfig};
use macrokid_net::demo::{self, Damping, Movement, Spin};
use macrokid_net::protocol::{InstanceId, Subjects, SystemName};
use macrokid_net::server::{NatsServer, ServerOptions};
use macrokid_net::system_process::{run_system_until, SystemProcess, SystemProcessConfig};

const TICKS: u64 = 12;

fn name(s: &str) -> SystemName {
    SystemName::new(s).expect("valid")
}

/// A system process on its own thread, runtime and NATS connection; stops when dropped.
struct Task {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stats: Arc<SystemProcess>,
}

impl Drop for Task {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn<S: macrokid_ecs::Run + Default>(url: &str, subjects: &Subjects, id: u64) -> Task {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stats = Arc::new(SystemProcess::default());
    let config = SystemProcessConfig::new(url, subjects.clone(), demo::registry())
        .instance_id(InstanceId(id));
    let s = stats.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            run_system_until(
                S::default(),
                config,
                async {
                    let _ = rx.await;
                },
                s,
            )
            .await
            .expect("system process runs");
        });
    });
    Task {
        stop: Some(tx),
        thread: Some(thread),
        stats,
    }
}

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
            &[(name("Movement"), 2), (name("Spin"), 1), (name("Damping"), 1)],
            Duration::from_secs(10),
        )
        .await
        .expect("instances register");
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
    assert_eq!(coordinator.drops().total(), 0);
    assert_eq!(coordinator.tracker().counters().late_results, 0);
    for t in &tasks {
        assert_eq!(t.stats.failed_jobs(), 0);
        assert!(t.stats.jobs() >= TICKS, "{} jobs", t.stats.jobs());
        assert_eq!(t.stats.drops().total(), 0);
        // Steady state: the local world is built once, then overwritten in place.
        assert_eq!(t.stats.rebuilds(), 1);
    }
}
