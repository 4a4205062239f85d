//! Helpers shared by the integration tests: system processes on threads of the test.

#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use std::sync::Arc;

use macrokid_net::demo;
use macrokid_net::protocol::{InstanceId, Subjects, SystemName};
use macrokid_net::system_process::{run_system_until, SystemProcess, SystemProcessConfig};

/// A checked system name.
pub(crate) fn name(s: &str) -> SystemName {
    SystemName::new(s).expect("valid")
}

/// A system process on its own thread, runtime and NATS connection; stops when dropped.
pub(crate) struct Task {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Its counters.
    pub(crate) stats: Arc<SystemProcess>,
}

impl Drop for Task {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts system `S` of the demo as instance `id` of the cluster at `url`.
pub(crate) fn spawn<S: macrokid_ecs::Run + Default>(
    url: &str,
    subjects: &Subjects,
    id: u64,
) -> Task {
    spawn_with::<S>(url, subjects, id, demo::registry())
}

/// Starts system `S` as instance `id` of the cluster at `url`, with the component and
/// resource types of `registry`.
pub(crate) fn spawn_with<S: macrokid_ecs::Run + Default>(
    url: &str,
    subjects: &Subjects,
    id: u64,
    registry: macrokid_ecs::SnapshotRegistry,
) -> Task {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stats = Arc::new(SystemProcess::default());
    let config =
        SystemProcessConfig::new(url, subjects.clone(), registry).instance_id(InstanceId(id));
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

/// The demo's four instances: Movement ×2 (ids 1, 2), Spin (3), Damping (4).
pub(crate) fn demo_tasks(url: &str, subjects: &Subjects) -> [Task; 4] {
    use macrokid_net::demo::{Damping, Movement, Spin};
    [
        spawn::<Movement>(url, subjects, 1),
        spawn::<Movement>(url, subjects, 2),
        spawn::<Spin>(url, subjects, 3),
        spawn::<Damping>(url, subjects, 4),
    ]
}

/// What [`demo_tasks`] registers.
pub(crate) fn demo_instances() -> [(SystemName, usize); 3] {
    [
        (name("Movement"), 2),
        (name("Spin"), 1),
        (name("Damping"), 1),
    ]
}
