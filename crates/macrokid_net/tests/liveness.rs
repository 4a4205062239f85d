//! Failover against a real nats-server: a system process that is SIGSTOPped is declared
//! dead and its shards are re-routed within 3 ticks, no tick is lost, its late results are
//! dropped and counted, and after SIGCONT it re-registers and gets shards again.
//!
//! The system processes are this test binary run again as `child_system_process` (an
//! ignored test that does its work only when `MACROKID_NET_LIVENESS_CHILD` is set).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use macrokid_net::codec::{decode_control, encode_control, DropCounters};
use macrokid_net::liveness::{InstanceTracker, LivenessConfig, ResultOutcome};
use macrokid_net::protocol::{
    AccessDescriptor, Heartbeat, InstanceId, ShardAssignment, Subjects, SystemName, SystemRegister,
    SystemSchedule, TickAck, TickStart,
};
use macrokid_net::server::{NatsServer, ServerOptions};

const CHILD_ENV: &str = "MACROKID_NET_LIVENESS_CHILD";
const SHARDS: u32 = 4;
const TICKS: u64 = 30;
const FREEZE_AT: u64 = 5;
const THAW_AT: u64 = 15;
const DEADLINE: Duration = Duration::from_millis(150);

fn movement() -> SystemName {
    SystemName::new("movement").expect("valid")
}

async fn publish<M: macrokid_net::protocol::ControlMessage>(
    client: &async_nats::Client,
    subject: String,
    msg: &M,
) {
    let (headers, body) = encode_control(msg).expect("encodes");
    client
        .publish_with_headers(subject, headers, body)
        .await
        .expect("publish");
}

/// A system process: registers, heartbeats every 50 ms, acks its shards of each schedule,
/// and registers again after 3 tick starts without being scheduled.
#[tokio::test]
#[ignore = "a child process of a_frozen_instance_is_rerouted_and_rejoins"]
async fn child_system_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let (url, prefix, id) = (parts[0], parts[1], parts[2]);
    let me = InstanceId(id.parse().expect("numeric id"));
    let subjects = Subjects::new(prefix).expect("prefix");
    let system = movement();
    let client = async_nats::connect(url).await.expect("child connects");
    let mut ticks = client.subscribe(subjects.tick_start()).await.expect("sub");
    let mut schedules = client
        .subscribe(subjects.schedule(&system))
        .await
        .expect("sub");
    let register = SystemRegister {
        system: system.clone(),
        access: AccessDescriptor {
            reads: vec!["Velocity".into()],
            writes: vec!["Position".into()],
            ..AccessDescriptor::default()
        },
        instance_id: me,
    };
    publish(&client, subjects.register(&system), &register).await;
    client.flush().await.expect("flush");
    let counters = DropCounters::new();
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    let mut sequence = 0u64;
    let mut unscheduled = 0u32;
    loop {
        tokio::select! {
            _ = interval.tick() => {
                sequence += 1;
                let hb = Heartbeat { instance_id: me, system: system.clone(), sequence, load: 0.1 };
                publish(&client, subjects.heartbeat(&system), &hb).await;
            }
            Some(msg) = ticks.next() => {
                if decode_control::<TickStart>(msg.headers.as_ref(), &msg.payload, &counters).is_ok() {
                    unscheduled += 1;
                    if unscheduled >= 3 {
                        publish(&client, subjects.register(&system), &register).await;
                        unscheduled = 0;
                    }
                }
            }
            Some(msg) = schedules.next() => {
                let Ok(schedule) = decode_control::<SystemSchedule>(msg.headers.as_ref(), &msg.payload, &counters) else {
                    continue;
                };
                let mine: Vec<u32> = schedule.shards.iter().filter(|s| s.instance_id == me).map(|s| s.shard).collect();
                if !mine.is_empty() {
                    unscheduled = 0;
                    let ack = TickAck { tick_id: schedule.tick_id, instance_id: me, system: system.clone(), shards: mine, run_micros: 1, missing: Vec::new() };
                    publish(&client, subjects.tick_ack(&system), &ack).await;
                }
            }
        }
    }
}

/// Child processes, SIGKILLed by their ids on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {}", child.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_is_rerouted_and_rejoins() {
    let server = NatsServer::start(ServerOptions::new()).expect("server");
    let prefix = "live.freeze";
    let subjects = Subjects::new(prefix).expect("prefix");
    let system = movement();
    let coordinator = async_nats::connect(server.url()).await.expect("connect");
    let mut registers = coordinator
        .subscribe(subjects.register_any())
        .await
        .expect("sub");
    let mut heartbeats = coordinator
        .subscribe(subjects.heartbeat_any())
        .await
        .expect("sub");
    let mut acks = coordinator
        .subscribe(subjects.tick_ack_any())
        .await
        .expect("sub");
    coordinator.flush().await.expect("flush");

    let exe = std::env::current_exe().expect("test binary");
    let children = Children(
        [1u64, 2]
            .iter()
            .map(|id| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "child_system_process",
                        "--ignored",
                        "--nocapture",
                    ])
                    .env(CHILD_ENV, format!("{} {prefix} {id}", server.url()))
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("child starts")
            })
            .collect(),
    );
    let frozen = InstanceId(2);
    let counters = DropCounters::new();
    let mut tracker = InstanceTracker::new(
        LivenessConfig::default().heartbeat_timeout(Duration::from_millis(500)),
    );

    // Both instances register.
    let start = Instant::now();
    while tracker.live(&system).len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "children did not register"
        );
        if let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(100), registers.next()).await
        {
            if let Ok(reg) =
                decode_control::<SystemRegister>(msg.headers.as_ref(), &msg.payload, &counters)
            {
                tracker.register(&reg, Instant::now());
            }
        }
    }

    let mut dead_at = None;
    let mut rejoined_at = None;
    let mut frozen_shards_after_rejoin = 0;
    for tick in 0..TICKS {
        if tick == FREEZE_AT {
            signal(&children.0[1], "-STOP");
        }
        if tick == THAW_AT {
            signal(&children.0[1], "-CONT");
        }
        publish(
            &coordinator,
            subjects.tick_start(),
            &TickStart {
                tick_id: tick,
                dt_seconds: 0.01,
            },
        )
        .await;
        let plan = tracker.assign(&system, SHARDS);
        assert!(!plan.is_empty(), "instance 1 stays live");
        if rejoined_at.is_some() {
            frozen_shards_after_rejoin += plan.iter().filter(|&&i| i == frozen).count();
        }
        tracker.open_tick(tick, &system, &plan);
        let shards = |pairs: Vec<(u32, InstanceId)>| SystemSchedule {
            tick_id: tick,
            system: system.clone(),
            shards: pairs
                .into_iter()
                .map(|(shard, instance_id)| ShardAssignment {
                    shard,
                    instance_id,
                    rows: 100,
                    reuse_round: None,
                    reused: Vec::new(),
                    all_reused: false,
                })
                .collect(),
            tick,
            resources: Vec::new(),
            zero_sized: Vec::new(),
            since_last_run: false,
        };
        let all: Vec<(u32, InstanceId)> = plan
            .iter()
            .enumerate()
            .map(|(s, &i)| (s as u32, i))
            .collect();
        publish(&coordinator, subjects.schedule(&system), &shards(all)).await;
        coordinator.flush().await.expect("flush");
        let mut deadline = tokio::time::Instant::now() + DEADLINE;
        let mut rounds = 0;
        while !tracker.is_finished(tick) {
            tokio::select! {
                Some(msg) = acks.next() => {
                    if let Ok(ack) = decode_control::<TickAck>(msg.headers.as_ref(), &msg.payload, &counters) {
                        for &shard in &ack.shards {
                            let outcome = tracker.result(ack.tick_id, &ack.system, shard, ack.instance_id);
                            assert_ne!(outcome, ResultOutcome::Unexpected, "{ack:?}");
                        }
                    }
                }
                Some(msg) = heartbeats.next() => {
                    if let Ok(hb) = decode_control::<Heartbeat>(msg.headers.as_ref(), &msg.payload, &counters) {
                        tracker.heartbeat(&hb, Instant::now());
                    }
                }
                Some(msg) = registers.next() => {
                    if let Ok(reg) = decode_control::<SystemRegister>(msg.headers.as_ref(), &msg.payload, &counters) {
                        if tracker.register(&reg, Instant::now()) == macrokid_net::liveness::RegisterOutcome::Rejoined {
                            rejoined_at.get_or_insert(tick);
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    rounds += 1;
                    assert!(rounds < 20, "tick {tick} never finished");
                    let out = tracker.deadline(tick, Instant::now());
                    if out.newly_dead.contains(&frozen) {
                        dead_at.get_or_insert(tick);
                    }
                    assert!(out.skipped.is_empty(), "instance 1 is live: nothing skipped");
                    if !out.reroutes.is_empty() {
                        let moved = out.reroutes.iter().map(|r| (r.shard, r.to)).collect();
                        publish(&coordinator, subjects.schedule(&system), &shards(moved)).await;
                        coordinator.flush().await.expect("flush");
                    }
                    deadline = tokio::time::Instant::now() + DEADLINE;
                }
            }
        }
    }
    // Let the thawed instance's stale acks arrive and be judged.
    let settle = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(msg)) = tokio::time::timeout_at(settle, acks.next()).await {
        if let Ok(ack) = decode_control::<TickAck>(msg.headers.as_ref(), &msg.payload, &counters) {
            for shard in ack.shards {
                tracker.result(ack.tick_id, &ack.system, shard, ack.instance_id);
            }
        }
    }

    for tick in 0..TICKS {
        assert!(tracker.is_finished(tick), "tick {tick} lost");
    }
    let dead_at = dead_at.expect("the frozen instance was declared dead");
    assert!(
        (FREEZE_AT..FREEZE_AT + 3).contains(&dead_at),
        "frozen at tick {FREEZE_AT}, re-routed at tick {dead_at}"
    );
    let rejoined_at = rejoined_at.expect("the thawed instance registered again");
    assert!(rejoined_at >= THAW_AT, "rejoined at {rejoined_at}");
    assert!(
        frozen_shards_after_rejoin > 0,
        "the rejoined instance got shards again"
    );
    let c = tracker.counters();
    assert!(
        c.late_results >= 1,
        "the thawed instance's old acks are late: {c:?}"
    );
    assert!(c.reroutes >= 2, "{c:?}");
    assert_eq!(c.deaths, 1, "{c:?}");
    assert_eq!(
        counters.total(),
        0,
        "no malformed message: {:?}",
        counters.snapshot()
    );
    eprintln!(
        "frozen at tick {FREEZE_AT}, re-routed at tick {dead_at} ({} ticks), rejoined at tick {rejoined_at}; {c:?}",
        dead_at - FREEZE_AT
    );
}
