//! `macrokid-cluster`: the demo simulation ([`macrokid_net::demo`]) in distributed mode.
//!
//! ```text
//! macrokid-cluster run [--entities N] [--instances N] [--ticks N] [--kill-at T]
//!                      [--freeze-at T] [--rate HZ] [--deadline-ms MS] [--reuse on|off]
//!     starts nats-server, N Movement instances, one Spin and one Damping (child processes
//!     of this binary), runs the coordinator here for the ticks, prints one line per tick
//!     and a last line comparing the world hash with the same simulation run locally;
//!     stops everything on Ctrl+C. --kill-at SIGKILLs the first Movement instance at tick
//!     T, --freeze-at SIGSTOPs the last one at tick T (and SIGCONTs it 10 ticks later).
//! macrokid-cluster coordinator URL PREFIX ENTITIES TICKS
//!     only the coordinator, against a running server and system processes.
//! macrokid-cluster system NAME URL PREFIX [INSTANCE]
//!     one system process (NAME: Movement, Spin or Damping).
//! ```
//!
//! Exit status 1 when a tick was lost or the hash differs from the local run.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use macrokid_net::coordinator::{Coordinator, CoordinatorConfig, TickReport};
use macrokid_net::demo::{self, Damping, Movement, Spin};
use macrokid_net::protocol::{InstanceId, Subjects, SystemName};
use macrokid_net::server::{NatsServer, ServerOptions};
use macrokid_net::system_process::{run_system, SystemProcessConfig};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MACROKID_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("system") => system(&args[1..]),
        Some("coordinator") => coordinator(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => Err("usage: macrokid-cluster run|coordinator|system ... (see the crate docs of src/bin/macrokid-cluster.rs)".to_owned()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("macrokid-cluster: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn system(args: &[String]) -> Result<bool, String> {
    let [name, url, prefix, rest @ ..] = args else {
        return Err("usage: macrokid-cluster system NAME URL PREFIX [INSTANCE]".to_owned());
    };
    let subjects = Subjects::new(prefix.as_str()).map_err(|e| e.to_string())?;
    let mut config = SystemProcessConfig::new(url.as_str(), subjects, demo::registry());
    if let Some(id) = rest.first() {
        config = config.instance_id(InstanceId(
            id.parse().map_err(|e| format!("instance id {id:?}: {e}"))?,
        ));
    }
    match name.as_str() {
        "Movement" => run_system::<Movement>(config),
        "Spin" => run_system::<Spin>(config),
        "Damping" => run_system::<Damping>(config),
        other => {
            return Err(format!(
                "unknown system {other:?}; use Movement, Spin or Damping"
            ))
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(true)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| format!("{what} {text:?}: {e}"))
}

fn coordinator(args: &[String]) -> Result<bool, String> {
    let [url, prefix, entities, ticks] = args else {
        return Err("usage: macrokid-cluster coordinator URL PREFIX ENTITIES TICKS".to_owned());
    };
    let subjects = Subjects::new(prefix.as_str()).map_err(|e| e.to_string())?;
    let entities: usize = parse("entities", entities)?;
    let ticks: u64 = parse("ticks", ticks)?;
    runtime()?.block_on(async {
        let config = CoordinatorConfig::new(url.as_str(), subjects, demo::systems());
        let mut c = Coordinator::connect(config, demo::world(entities))
            .await
            .map_err(|e| e.to_string())?;
        let wanted: Vec<(SystemName, usize)> =
            demo::systems().into_iter().map(|s| (s, 1)).collect();
        c.wait_for_instances(&wanted, Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..ticks {
            let report = c.tick().await.map_err(|e| e.to_string())?;
            println!("{}", describe(&report));
        }
        let world = c.into_world();
        println!("world hash {:016x}", world.hash());
        Ok(true)
    })
}

/// Child processes; SIGKILLed (after a SIGCONT) and reaped on drop.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            signal(child, "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status();
}

struct Options {
    entities: usize,
    instances: usize,
    ticks: u64,
    kill_at: Option<u64>,
    freeze_at: Option<u64>,
    rate: Option<f64>,
    deadline: Duration,
    reuse: bool,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        entities: 10_000,
        instances: 2,
        ticks: 300,
        kill_at: None,
        freeze_at: None,
        rate: None,
        deadline: Duration::from_millis(500),
        reuse: true,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--entities" => o.entities = parse(flag, value)?,
            "--instances" => o.instances = parse(flag, value)?,
            "--ticks" => o.ticks = parse(flag, value)?,
            "--kill-at" => o.kill_at = Some(parse(flag, value)?),
            "--freeze-at" => o.freeze_at = Some(parse(flag, value)?),
            "--rate" => o.rate = Some(parse(flag, value)?),
            "--deadline-ms" => o.deadline = Duration::from_millis(parse(flag, value)?),
            "--reuse" => {
                o.reuse = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("--reuse takes on or off, got {other}")),
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let needed = 1 + usize::from(o.kill_at.is_some()) + usize::from(o.freeze_at.is_some());
    if o.instances < needed {
        return Err(format!(
            "--instances {} leaves no Movement instance alive with the kill/freeze asked for; use at least {needed}",
            o.instances
        ));
    }
    Ok(o)
}

fn describe(r: &TickReport) -> String {
    let systems: Vec<String> = r
        .systems
        .iter()
        .map(|(name, s)| {
            let per: Vec<String> = s
                .per_instance
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(i, n)| format!("{}:{n}", &i.to_string()[12..]))
                .collect();
            format!(
                "{name} {} rows/{} shards [{}] sent {:.2} MB reused {:.2} MB run {:.2} ms{}",
                s.rows,
                s.shards,
                per.join(" "),
                s.sent_bytes as f64 / 1e6,
                s.reused_bytes as f64 / 1e6,
                s.max_run_micros as f64 / 1000.0,
                if s.skipped > 0 {
                    format!(" SKIPPED {}", s.skipped)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let mut line = format!(
        "tick {:4}: {:7.2} ms (send {:.2}, merge {:.2}), {} rounds; {}",
        r.tick,
        r.duration.as_secs_f64() * 1000.0,
        r.send_time.as_secs_f64() * 1000.0,
        r.merge_time.as_secs_f64() * 1000.0,
        r.rounds,
        systems.join("; ")
    );
    if r.deaths > 0 || r.reroutes > 0 {
        line.push_str(&format!(
            "; {} dead, {} shards re-routed",
            r.deaths, r.reroutes
        ));
    }
    line
}

fn run(args: &[String]) -> Result<bool, String> {
    let o = options(args)?;
    let server = NatsServer::start(ServerOptions::new()).map_err(|e| e.to_string())?;
    let url = server.url();
    let prefix = format!("cluster{}", std::process::id());
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut children = Children(Vec::new());
    let mut spawn = |name: &str, id: u64| -> Result<(), String> {
        let child = Command::new(&exe)
            .args(["system", name, &url, &prefix, &id.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        children.0.push((name.to_owned(), child));
        Ok(())
    };
    for i in 0..o.instances {
        spawn("Movement", 1 + i as u64)?;
    }
    spawn("Spin", 1001)?;
    spawn("Damping", 1002)?;
    println!(
        "cluster: nats-server at {url}, {} entities, {} Movement instances, 1 Spin, 1 Damping",
        o.entities, o.instances
    );

    let subjects = Subjects::new(prefix.as_str()).map_err(|e| e.to_string())?;
    let outcome = runtime()?.block_on(async {
        let config = CoordinatorConfig::new(url.as_str(), subjects, demo::systems())
            .deadline(o.deadline)
            .reuse_columns(o.reuse)
            .tick_period(o.rate.map(|hz| Duration::from_secs_f64(1.0 / hz)));
        let mut c = Coordinator::connect(config, demo::world(o.entities))
            .await
            .map_err(|e| e.to_string())?;
        let mut wanted: Vec<(SystemName, usize)> = demo::systems().into_iter().map(|s| (s, 1)).collect();
        wanted[0].1 = o.instances;
        c.wait_for_instances(&wanted, Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut done = 0u64;
        let mut lost = 0u64;
        let mut killed: Option<(u64, InstanceId)> = None;
        let mut frozen: Option<(u64, InstanceId)> = None;
        let mut kill_reroute: Option<u64> = None;
        let mut freeze_reroute: Option<u64> = None;
        let mut tick_ms = Vec::new();
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut interrupted = false;
        for tick in 0..o.ticks {
            if o.kill_at == Some(tick) {
                let (_, child) = &mut children.0[0];
                let _ = child.kill();
                killed = Some((tick, InstanceId(1)));
                println!("cluster: SIGKILL Movement instance {} at tick {tick}", InstanceId(1));
            }
            if o.freeze_at == Some(tick) {
                let index = o.instances - 1;
                signal(&children.0[index].1, "STOP");
                frozen = Some((tick, InstanceId(1 + index as u64)));
                println!("cluster: SIGSTOP Movement instance {} at tick {tick}", InstanceId(1 + index as u64));
            }
            if let Some((at, _)) = frozen {
                if tick == at + 10 {
                    signal(&children.0[o.instances - 1].1, "CONT");
                    println!("cluster: SIGCONT the frozen instance at tick {tick}");
                }
            }
            let report = tokio::select! {
                r = c.tick() => r.map_err(|e| e.to_string())?,
                _ = &mut ctrl_c => { interrupted = true; break; }
            };
            done += 1;
            tick_ms.push(report.duration.as_secs_f64() * 1000.0);
            if report.systems.values().any(|s| s.skipped > 0) {
                lost += 1;
            }
            for (at, id, slot) in [
                (killed, "kill", &mut kill_reroute),
                (frozen, "freeze", &mut freeze_reroute),
            ]
            .into_iter()
            .filter_map(|(k, what, slot)| k.map(|(at, id)| (at, (id, what), slot)))
            {
                let dead = c.tracker().status(id.0).is_some_and(|s| s.dead.is_some());
                if slot.is_none() && dead {
                    *slot = Some(tick - at + 1);
                    println!("cluster: {} instance {} declared dead, its shards re-routed in tick {tick}", id.1, id.0);
                }
            }
            println!("{}", describe(&report));
        }
        let elapsed = started.elapsed();
        if interrupted {
            println!("cluster: interrupted after {done} ticks; stopping");
        }
        let counters = c.tracker().counters();
        let drops = c.drops().total();
        // The client and its subscriptions are dropped here, inside the runtime.
        let world = c.into_world();
        Ok::<_, String>((world, counters, drops, done, lost, elapsed, kill_reroute, freeze_reroute, tick_ms, interrupted))
    });
    let (
        world,
        counters,
        drops,
        done,
        lost,
        elapsed,
        kill_reroute,
        freeze_reroute,
        mut tick_ms,
        interrupted,
    ) = outcome?;
    drop(children);
    let hash = world.hash();
    let mut local = demo::world(o.entities);
    demo::run_local(&mut local, done).map_err(|e| e.to_string())?;
    let equal = local.hash() == hash;
    tick_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        tick_ms
            .get(((tick_ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "cluster: tick ms p50 {:.2}, p90 {:.2}, max {:.2}; late results {}, rejoins {}, drops {}",
        pct(0.5),
        pct(0.9),
        pct(1.0),
        counters.late_results,
        counters.rejoins,
        drops
    );
    let mut failover = Vec::new();
    if let Some(n) = kill_reroute {
        failover.push(format!("{n} ticks (kill)"));
    }
    if let Some(n) = freeze_reroute {
        failover.push(format!("{n} ticks (freeze)"));
    }
    let failover = if failover.is_empty() {
        String::new()
    } else {
        format!(" rerouted after {},", failover.join(" and "))
    };
    println!(
        "cluster: {done} ticks, {:.0} ticks/s,{failover} lost ticks {lost}, world hash {hash:016x} {} local",
        done as f64 / elapsed.as_secs_f64(),
        if equal { "equals" } else { "DIFFERS FROM" }
    );
    drop(server);
    Ok(equal && lost == 0 && !interrupted)
}
