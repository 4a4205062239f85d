//! Work groups on an `App`: error policies (Abort, Continue, RetryOnce),
//! panics, async deadlines and late results, registration errors,
//! intervals, priorities, hooks and plugins.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use macrokid_core::{ResourceAccess, ResourceId};
use macrokid_threads::{
    App, AppBuilder, BoxError, ErrorPolicy, FnAsyncSystem, FnSystem, GroupOutcome, GroupReport,
    GroupWorld, Plugin, RegistrationError, SchedulerObserver, SystemStatus, ThreadPool, TickError,
    WorkGroup,
};

/// A small world: a few counters, changed only through commands here.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
struct Sim {
    counters: [i64; 4],
    log: Vec<String>,
}

#[derive(Debug)]
enum Op {
    Add(usize, i64),
}

impl GroupWorld for Sim {
    type Commands = Vec<Op>;
    fn apply_commands(&mut self, commands: Vec<Op>) {
        for op in commands {
            match op {
                Op::Add(i, d) => self.counters[i] += d,
            }
        }
    }
}

fn hash(sim: &Sim) -> u64 {
    let mut h = DefaultHasher::new();
    sim.counters.hash(&mut h);
    h.finish()
}

struct C0;
struct C1;
struct C2;

fn writes<T: 'static>() -> ResourceAccess {
    ResourceAccess::new().with_write(ResourceId::of::<T>())
}

/// A system adding `d` to counter `i` through commands.
fn add(
    name: &'static str,
    access: ResourceAccess,
    i: usize,
    d: i64,
) -> FnSystem<impl FnMut(&mut Sim, &mut Vec<Op>) -> Result<SystemStatus, BoxError> + Send> {
    FnSystem::new(name, access, move |_: &mut Sim, c: &mut Vec<Op>| {
        c.push(Op::Add(i, d));
        Ok(SystemStatus::Executed)
    })
}

/// A system that records +100 on counter `i`, then fails (or panics) on
/// its first `failures` attempts, and records +1 when it succeeds.
fn flaky(
    name: &'static str,
    i: usize,
    failures: usize,
    panics: bool,
) -> FnSystem<impl FnMut(&mut Sim, &mut Vec<Op>) -> Result<SystemStatus, BoxError> + Send> {
    let mut attempts = 0;
    FnSystem::new(
        name,
        ResourceAccess::new(),
        move |_: &mut Sim, c: &mut Vec<Op>| {
            attempts += 1;
            if attempts <= failures {
                c.push(Op::Add(i, 100));
                if panics {
                    panic!("kaboom on attempt {attempts}");
                }
                return Err(format!("transient failure on attempt {attempts}").into());
            }
            c.push(Op::Add(i, 1));
            Ok(SystemStatus::Executed)
        },
    )
}

fn pool() -> Arc<ThreadPool> {
    Arc::new(ThreadPool::new(2).unwrap())
}

/// `faulty` (policy under test): +1 on C0, the flaky system on C1, +1 on
/// C2; then `after`: +10 on C3. A post-tick hook logs.
fn app_with(policy: ErrorPolicy, failures: usize, panics: bool) -> App<Sim> {
    App::builder()
        .pool(pool())
        .add_group(
            WorkGroup::synchronized("faulty")
                .priority(1)
                .policy(policy)
                .system(add("first", writes::<C0>(), 0, 1))
                .system(flaky("flaky", 1, failures, panics))
                .system(add("last", writes::<C2>(), 2, 1)),
        )
        .add_group(WorkGroup::synchronized("after").system(add(
            "after_sys",
            ResourceAccess::new(),
            3,
            10,
        )))
        .add_post_tick("log", |w: &mut Sim, _| {
            w.log.push("post".into());
            Ok(())
        })
        .build()
        .unwrap()
}

#[test]
fn abort_stops_the_tick_and_names_system_and_group() {
    let mut app = app_with(ErrorPolicy::Abort, 1, false);
    let mut world = Sim::default();
    let err = app.tick(&mut world).unwrap_err();
    let TickError::Aborted {
        tick,
        ref group,
        ref system,
        ref error,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((tick, &**group, &**system), (0, "faulty", "flaky"));
    assert_eq!(error, "transient failure on attempt 1");
    assert!(err
        .to_string()
        .contains("system `flaky` of work group `faulty`"));
    // `first` applied; the failed attempt's +100 never; nothing after it.
    assert_eq!(world.counters, [1, 0, 0, 0]);
    assert!(world.log.is_empty(), "post-tick hooks do not run");
    // The next tick runs normally (the system now succeeds).
    let report = app.tick(&mut world).unwrap();
    assert_eq!(report.tick, 1);
    assert_eq!(world.counters, [2, 1, 1, 10]);
}

#[test]
fn continue_logs_drops_the_failed_commands_and_goes_on() {
    let mut app = app_with(ErrorPolicy::Continue, 1, false);
    let mut world = Sim::default();
    let report = app.tick(&mut world).unwrap();
    assert_eq!(
        report.outcome("faulty"),
        Some(&GroupOutcome::Errored {
            system: "flaky".into(),
            error: "transient failure on attempt 1".into()
        })
    );
    assert_eq!(report.outcome("after"), Some(&GroupOutcome::Executed));
    assert_eq!(world.counters, [1, 0, 1, 10]);
    assert_eq!(world.log, ["post"]);
}

#[test]
fn retry_once_never_applies_the_first_attempts_commands() {
    let mut retried = Sim::default();
    let report = app_with(ErrorPolicy::RetryOnce, 1, false)
        .tick(&mut retried)
        .unwrap();
    assert_eq!(report.outcome("faulty"), Some(&GroupOutcome::Executed));
    // Same world as a run in which the system never failed.
    let mut clean = Sim::default();
    app_with(ErrorPolicy::RetryOnce, 0, false)
        .tick(&mut clean)
        .unwrap();
    assert_eq!(retried.counters, [1, 1, 1, 10]);
    assert_eq!(hash(&retried), hash(&clean));
}

#[test]
fn retry_once_failing_twice_is_reported_and_the_tick_goes_on() {
    let mut world = Sim::default();
    let report = app_with(ErrorPolicy::RetryOnce, 2, false)
        .tick(&mut world)
        .unwrap();
    assert_eq!(
        report.outcome("faulty"),
        Some(&GroupOutcome::Errored {
            system: "flaky".into(),
            error: "transient failure on attempt 2".into()
        })
    );
    assert_eq!(world.counters, [1, 0, 1, 10]);
}

#[test]
fn a_panic_is_an_error_naming_system_and_group_and_the_world_stays_consistent() {
    for policy in [
        ErrorPolicy::Abort,
        ErrorPolicy::Continue,
        ErrorPolicy::RetryOnce,
    ] {
        let mut world = Sim::default();
        let result = app_with(policy, 1, true).tick(&mut world);
        // A run without the failing attempt, for comparison.
        let mut expected = Sim::default();
        match policy {
            ErrorPolicy::Abort => expected.counters = [1, 0, 0, 0],
            ErrorPolicy::Continue => expected.counters = [1, 0, 1, 10],
            _ => expected.counters = [1, 1, 1, 10],
        }
        assert_eq!(hash(&world), hash(&expected), "{policy:?}");
        match (policy, result) {
            (ErrorPolicy::Abort, Err(err)) => {
                let text = err.to_string();
                assert!(
                    text.contains("`flaky`") && text.contains("`faulty`"),
                    "{text}"
                );
                assert!(text.contains("panicked: kaboom on attempt 1"), "{text}");
            }
            (ErrorPolicy::Continue, Ok(report)) => assert_eq!(
                report.outcome("faulty"),
                Some(&GroupOutcome::Errored {
                    system: "flaky".into(),
                    error: "panicked: kaboom on attempt 1".into()
                })
            ),
            (ErrorPolicy::RetryOnce, Ok(report)) => {
                assert_eq!(report.outcome("faulty"), Some(&GroupOutcome::Executed));
            }
            (policy, other) => panic!("{policy:?}: {other:?}"),
        }
    }
}

/// The view an async group works on.
struct Snapshot(i64);

#[test]
fn an_async_group_on_time_merges_its_commands_at_the_barrier() {
    let mut app = App::builder()
        .pool(pool())
        .add_group(WorkGroup::synchronized("sync").system(add("inc", writes::<C0>(), 0, 1)))
        .add_group(
            WorkGroup::asynchronous("analytics", Duration::from_secs(10), |w: &Sim| {
                Snapshot(w.counters[0])
            })
            .async_system(FnAsyncSystem::new(
                "copy",
                ResourceAccess::new().with_read(ResourceId::of::<C0>()),
                |view: &Snapshot, c: &mut Vec<Op>| {
                    c.push(Op::Add(1, view.0));
                    Ok(SystemStatus::Executed)
                },
            )),
        )
        .build()
        .unwrap();
    let mut world = Sim::default();
    for _ in 0..3 {
        let report = app.tick(&mut world).unwrap();
        assert_eq!(report.outcome("analytics"), Some(&GroupOutcome::Executed));
    }
    // The view is extracted after the synchronized groups: 1 + 2 + 3.
    assert_eq!(world.counters[..2], [3, 6]);
}

#[test]
fn a_late_async_group_does_not_delay_the_tick_and_its_result_is_dropped() {
    const DEADLINE: Duration = Duration::from_millis(50);
    // Scheduling noise on a loaded CI machine; far below the 1 s overrun.
    const MARGIN: Duration = Duration::from_millis(400);
    let release = Arc::new(AtomicUsize::new(0));
    let gate = Arc::clone(&release);
    let mut app = App::builder()
        .pool(pool())
        .add_group(
            WorkGroup::asynchronous("slow", DEADLINE, |_: &Sim| ()).async_system(
                FnAsyncSystem::new(
                    "overrun",
                    ResourceAccess::new(),
                    move |_: &(), c: &mut Vec<Op>| {
                        c.push(Op::Add(0, 1000));
                        if gate.load(Ordering::SeqCst) == 0 {
                            thread::sleep(Duration::from_secs(1));
                        }
                        Ok(SystemStatus::Executed)
                    },
                ),
            ),
        )
        .build()
        .unwrap();
    let mut world = Sim::default();

    let report = app.tick(&mut world).unwrap();
    assert!(
        report.duration < DEADLINE + MARGIN,
        "the tick waited {:?}",
        report.duration
    );
    assert_eq!(report.outcome("slow"), Some(&GroupOutcome::TimedOut));
    assert_eq!(report.async_in_flight, 1);

    // Still running: not dispatched again, not waited for.
    let report = app.tick(&mut world).unwrap();
    assert_eq!(report.outcome("slow"), Some(&GroupOutcome::StillRunning));
    assert!(report.duration < MARGIN, "{:?}", report.duration);

    // Once it ends, its result is counted as dropped, never applied.
    let waited = Instant::now();
    while app.late_results_dropped() == 0 {
        assert!(waited.elapsed() < Duration::from_secs(30), "watchdog");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(app.late_results_dropped(), 1);
    assert_eq!(world.counters[0], 0);

    // Fast now: dispatched again and merged.
    release.store(1, Ordering::SeqCst);
    let mut report = app.tick(&mut world).unwrap();
    // The late run may still be clearing its flag at the very first try.
    while report.outcome("slow") == Some(&GroupOutcome::StillRunning) {
        thread::sleep(Duration::from_millis(5));
        report = app.tick(&mut world).unwrap();
    }
    assert_eq!(report.outcome("slow"), Some(&GroupOutcome::Executed));
    assert_eq!(world.counters[0], 1000);
    assert_eq!(report.late_results_dropped, 1);
}

#[test]
fn an_async_group_under_retry_once_retries_on_the_pool() {
    let mut attempts = 0;
    let mut app = App::builder()
        .pool(pool())
        .add_group(
            WorkGroup::asynchronous("retrying", Duration::from_secs(10), |_: &Sim| ())
                .policy(ErrorPolicy::RetryOnce)
                .async_system(FnAsyncSystem::new(
                    "once_broken",
                    ResourceAccess::new(),
                    move |_: &(), c: &mut Vec<Op>| {
                        attempts += 1;
                        c.push(Op::Add(0, 100));
                        if attempts == 1 {
                            return Err("first attempt fails".into());
                        }
                        Ok(SystemStatus::Executed)
                    },
                )),
        )
        .build()
        .unwrap();
    let mut world = Sim::default();
    let report = app.tick(&mut world).unwrap();
    assert_eq!(report.outcome("retrying"), Some(&GroupOutcome::Executed));
    assert_eq!(world.counters[0], 100, "only the retry's commands apply");
}

#[test]
fn registration_conflicts_name_both_groups() {
    let conflict = App::builder()
        .add_group(WorkGroup::synchronized("movement").system(add("move", writes::<C0>(), 0, 1)))
        .add_group(WorkGroup::synchronized("physics").system(add("push", writes::<C0>(), 0, 1)))
        .build()
        .unwrap_err();
    assert!(matches!(
        &conflict,
        RegistrationError::WriteConflict { first, second, .. }
            if first == "movement" && second == "physics"
    ));
    let text = conflict.to_string();
    assert!(
        text.contains("`movement`") && text.contains("`physics`"),
        "{text}"
    );
    assert!(text.contains("C0"), "{text}");

    let twice = App::builder()
        .add_group(WorkGroup::synchronized("a").system(add("shared", writes::<C0>(), 0, 1)))
        .add_group(WorkGroup::synchronized("b").system(add("shared", writes::<C1>(), 1, 1)))
        .build()
        .unwrap_err();
    assert_eq!(
        twice,
        RegistrationError::SystemInTwoGroups {
            system: "shared".into(),
            first: "a".into(),
            second: "b".into()
        }
    );

    let async_write = || {
        WorkGroup::asynchronous("net", Duration::from_millis(5), |_: &Sim| ()).async_system(
            FnAsyncSystem::new("send", writes::<C2>(), |_: &(), _: &mut Vec<Op>| {
                Ok(SystemStatus::Executed)
            }),
        )
    };
    let refused = App::builder().add_group(async_write()).build().unwrap_err();
    assert!(matches!(
        &refused,
        RegistrationError::AsyncWrite { group, system, .. } if group == "net" && system == "send"
    ));
    assert!(App::builder()
        .add_group(async_write().allow_writes())
        .build()
        .is_ok());

    let duplicate = App::<Sim>::builder()
        .add_group(WorkGroup::synchronized("x"))
        .add_group(WorkGroup::synchronized("x"))
        .build()
        .unwrap_err();
    assert_eq!(
        duplicate,
        RegistrationError::DuplicateGroup { group: "x".into() }
    );

    let unknown = App::builder()
        .add_system("nowhere", add("lost", ResourceAccess::new(), 0, 1))
        .build()
        .unwrap_err();
    assert!(matches!(unknown, RegistrationError::UnknownGroup { .. }));
}

#[test]
fn priorities_intervals_and_hooks_run_in_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let logger = |name: &'static str| {
        let order = Arc::clone(&order);
        FnSystem::new(
            name,
            ResourceAccess::new(),
            move |_: &mut Sim, _: &mut Vec<Op>| {
                order.lock().unwrap().push(name);
                Ok(SystemStatus::Executed)
            },
        )
    };
    let hook = |name: &'static str| {
        let order = Arc::clone(&order);
        move |_: &mut Sim, _: &macrokid_threads::TickInfo| -> Result<(), BoxError> {
            order.lock().unwrap().push(name);
            Ok(())
        }
    };
    let mut app = App::builder()
        .add_group(
            WorkGroup::synchronized("low")
                .priority(-1)
                .system(logger("low")),
        )
        .add_group(
            WorkGroup::synchronized("high")
                .priority(5)
                .system(logger("high")),
        )
        .add_group(
            WorkGroup::synchronized("odd")
                .every(2)
                .system(logger("every2")),
        )
        .add_pre_tick("pre", hook("pre"))
        .add_post_tick("post", hook("post"))
        .add_maintenance("maint", 3, hook("maint"))
        .build()
        .unwrap();
    assert_eq!(app.group_names(), ["high", "odd", "low"]);
    let mut world = Sim::default();
    let mut per_tick = Vec::new();
    for _ in 0..4 {
        let report = app.tick(&mut world).unwrap();
        per_tick.push(std::mem::take(&mut *order.lock().unwrap()));
        if report.tick % 2 == 1 {
            assert_eq!(report.outcome("odd"), Some(&GroupOutcome::NotDue));
        }
    }
    assert_eq!(
        per_tick[0],
        ["pre", "high", "every2", "low", "post", "maint"]
    );
    assert_eq!(per_tick[1], ["pre", "high", "low", "post"]);
    assert_eq!(per_tick[2], ["pre", "high", "every2", "low", "post"]);
    assert_eq!(per_tick[3], ["pre", "high", "low", "post", "maint"]);
}

#[test]
fn a_failing_hook_stops_the_tick() {
    let mut app = App::<Sim>::builder()
        .add_pre_tick("sync_clients", |_, _| Err("socket closed".into()))
        .build()
        .unwrap();
    let err = app.tick(&mut Sim::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tick 0: pre_tick hook `sync_clients` failed: socket closed"
    );
}

#[test]
fn skipped_empty_and_observer_reports() {
    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, bool, String, usize)>>);
    impl SchedulerObserver for Seen {
        fn on_group(&self, r: &GroupReport<'_>) {
            self.0.lock().unwrap().push((
                r.group.to_owned(),
                r.is_async,
                r.outcome.label().to_owned(),
                r.attempts,
            ));
        }
    }
    let seen = Arc::new(Seen::default());
    let mut app = App::builder()
        .observer(seen.clone())
        .add_group(WorkGroup::synchronized("idle").system(FnSystem::new(
            "nothing",
            ResourceAccess::new(),
            |_: &mut Sim, _: &mut Vec<Op>| Ok(SystemStatus::SkippedEmpty),
        )))
        .add_group(
            WorkGroup::synchronized("retry")
                .policy(ErrorPolicy::RetryOnce)
                .system(flaky("flaky", 1, 1, false)),
        )
        .build()
        .unwrap();
    let report = app.tick(&mut Sim::default()).unwrap();
    assert_eq!(report.outcome("idle"), Some(&GroupOutcome::SkippedEmpty));
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            ("idle".to_owned(), false, "skipped_empty".to_owned(), 1),
            ("retry".to_owned(), false, "executed".to_owned(), 2),
        ]
    );
}

/// A plugin that brings a group, a system for another plugin's group and
/// start-up work.
struct Scoring;
impl Plugin<Sim> for Scoring {
    fn build(&self, app: &mut AppBuilder<Sim>) {
        app.add_startup("seed", |w: &mut Sim| w.counters[3] = 7)
            .add_group(WorkGroup::synchronized("score").system(add("score", writes::<C2>(), 2, 2)))
            .add_system("score", add("bonus", ResourceAccess::new(), 2, 1));
    }
}

#[test]
fn plugins_register_groups_systems_and_startup_work() {
    let mut app = App::builder().add_plugin(Scoring).build().unwrap();
    let mut world = Sim::default();
    app.tick(&mut world).unwrap();
    app.tick(&mut world).unwrap();
    assert_eq!(world.counters, [0, 0, 6, 7]);
}
