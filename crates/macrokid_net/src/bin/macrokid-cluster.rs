//! `macrokid-cluster`: the demo simulation ([`macrokid_net::demo`]) in distributed mode.
//!
//! ```text
//! macrokid-cluster run [--entities N] [--instances N] [--ticks N] [--kill-at T]
//!                      [--freeze-at T] [--rate HZ] [--deadline-ms MS] [--reuse on|off]
//!                      [--snapshot-every N] [--resume] [--store DIR] [--world ID]
//!                      [--restart-server-at T] [--no-auth] [--systems LIST]
//!     starts nats-server, N Movement instances, one Spin, one Damping and two Lifecycle
//!     (a system whose despawns and spawns travel as commands; child processes
//!     of this binary), runs the coordinator here for the ticks, prints one line per tick
//!     and a last line comparing the world hash with the same simulation run locally;
//!     stops everything on Ctrl+C. --kill-at SIGKILLs the first Movement instance at tick
//!     T, --freeze-at SIGSTOPs the last one at tick T (and SIGCONTs it 10 ticks later).
//!     --snapshot-every N stores the world in JetStream after every N-th tick; --resume
//!     starts from the latest snapshot of the world id (default `demo`) and runs --ticks
//!     more. Both keep the JetStream store in --store DIR (default
//!     `$TMPDIR/macrokid-cluster-store`), so a later run finds it. --restart-server-at T
//!     kills nats-server (by its process id) at the start of tick T and starts it again
//!     300 ms later on the same port and store. The server requires a login by default,
//!     with a user per system and per-subject permissions ([`macrokid_net::security`]);
//!     --no-auth runs it open. --systems Movement,Spin (any of Movement, Spin, Damping,
//!     Lifecycle; all four by default) runs only those systems, here and in the local run
//!     the hash is compared with: `--systems Movement --instances 2` is the world moved by
//!     two system processes.
//! macrokid-cluster coordinator URL PREFIX ENTITIES TICKS
//!     only the coordinator, against a running server and system processes.
//! macrokid-cluster system NAME URL PREFIX [INSTANCE]
//!     one system process (NAME: Movement, Spin, Damping or Lifecycle).
//! ```
//!
//! The `coordinator` and `system` commands log in as `$MACROKID_NATS_USER` with
//! `$MACROKID_NATS_PASSWORD` when both are set (`run` passes each child its system's login
//! this way, not on the command line).
//!
//! Exit status 1 when a tick was lost or the hash differs from the local run.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use macrokid_net::coordinator::{Coordinator, CoordinatorConfig, TickReport};
use macrokid_net::demo::{self, Damping, Lifecycle, Movement, Spin};
use macrokid_net::protocol::{InstanceId, Subjects, SystemName};
use macrokid_net::security::{ClusterAuth, Credentials};
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
    let result = match Cli::parse().command {
        Cmd::System(a) => system(a),
        Cmd::Coordinator(a) => coordinator(a),
        Cmd::Run(a) => a.options().and_then(run),
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

fn system(a: SystemArgs) -> Result<bool, String> {
    let subjects = Subjects::new(a.prefix.as_str()).map_err(|e| e.to_string())?;
    let mut config = SystemProcessConfig::new(a.url.as_str(), subjects, demo::registry());
    if let Some(login) = env_login() {
        config = config.credentials(login);
    }
    if let Some(id) = a.instance {
        config = config.instance_id(InstanceId(id));
    }
    match a.name {
        DemoSystem::Movement => run_system::<Movement>(config),
        DemoSystem::Spin => run_system::<Spin>(config),
        DemoSystem::Damping => run_system::<Damping>(config),
        DemoSystem::Lifecycle => run_system::<Lifecycle>(config),
    }
    .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Environment variable: the NATS user of a `coordinator` or `system` process.
const USER_ENV: &str = "MACROKID_NATS_USER";
/// Environment variable: its password.
const PASSWORD_ENV: &str = "MACROKID_NATS_PASSWORD";

fn env_login() -> Option<Credentials> {
    let user = std::env::var(USER_ENV).ok()?;
    let password = std::env::var(PASSWORD_ENV).ok()?;
    Some(Credentials::new(user, password))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn coordinator(a: CoordinatorArgs) -> Result<bool, String> {
    let subjects = Subjects::new(a.prefix.as_str()).map_err(|e| e.to_string())?;
    let (url, entities, ticks) = (a.url, a.entities, a.ticks);
    runtime()?.block_on(async {
        let mut config = CoordinatorConfig::new(url.as_str(), subjects, demo::systems())
            .json_views(demo::json_views());
        if let Some(login) = env_login() {
            config = config.credentials(login);
        }
        let mut c = Coordinator::connect(config, demo::world_with_lifecycle(entities))
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
    systems: Vec<DemoSystem>,
    entities: usize,
    instances: usize,
    ticks: u64,
    kill_at: Option<u64>,
    freeze_at: Option<u64>,
    rate: Option<f64>,
    deadline: Duration,
    reuse: bool,
    snapshot_every: Option<u64>,
    resume: bool,
    store: Option<PathBuf>,
    world: String,
    restart_server_at: Option<u64>,
    auth: bool,
}

/// The demo simulation in distributed mode (see the crate docs of
/// `src/bin/macrokid-cluster.rs`).
#[derive(Parser, Debug)]
#[command(
    name = "macrokid-cluster",
    version,
    about = "The demo simulation of macrokid's distributed mode: nats-server, a coordinator and system processes"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Starts nats-server, the system processes and the coordinator, runs the ticks and
    /// compares the world hash with a local run.
    Run(RunArgs),
    /// Only the coordinator, against a running server and system processes.
    Coordinator(CoordinatorArgs),
    /// One system process of the demo.
    System(SystemArgs),
}

/// The demo's systems.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[value(rename_all = "verbatim")]
enum DemoSystem {
    Movement,
    Spin,
    Damping,
    Lifecycle,
}

impl DemoSystem {
    /// The system's name, as it registers.
    fn name(self) -> &'static str {
        match self {
            Self::Movement => "Movement",
            Self::Spin => "Spin",
            Self::Damping => "Damping",
            Self::Lifecycle => "Lifecycle",
        }
    }

    /// The system processes `run` starts for it: `movement` Movement instances, two
    /// Lifecycle, one of the others.
    fn instances(self, movement: usize) -> usize {
        match self {
            Self::Movement => movement,
            Self::Lifecycle => 2,
            Self::Spin | Self::Damping => 1,
        }
    }
}

#[derive(clap::Args, Debug)]
struct SystemArgs {
    /// The system.
    #[arg(value_enum)]
    name: DemoSystem,
    /// The NATS server, e.g. nats://127.0.0.1:4222.
    url: String,
    /// The cluster's subject prefix.
    prefix: String,
    /// This process's instance id (random when left out).
    instance: Option<u64>,
}

#[derive(clap::Args, Debug)]
struct CoordinatorArgs {
    /// The NATS server, e.g. nats://127.0.0.1:4222.
    url: String,
    /// The cluster's subject prefix.
    prefix: String,
    /// Bodies in the world.
    entities: usize,
    /// Ticks to run.
    ticks: u64,
}

/// `on` or `off`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    On,
    Off,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Bodies in the world.
    #[arg(long, default_value_t = 10_000)]
    entities: usize,
    /// Movement instances.
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// Ticks to run.
    #[arg(long, default_value_t = 300)]
    ticks: u64,
    /// SIGKILL the first Movement instance at this tick.
    #[arg(long, value_name = "T")]
    kill_at: Option<u64>,
    /// SIGSTOP the last Movement instance at this tick (SIGCONT 10 ticks later).
    #[arg(long, value_name = "T")]
    freeze_at: Option<u64>,
    /// Fixed tick rate in Hz (as fast as possible when left out).
    #[arg(long, value_name = "HZ")]
    rate: Option<f64>,
    /// How long a round waits for results, in milliseconds.
    #[arg(long = "deadline-ms", value_name = "MS", default_value_t = 500)]
    deadline_ms: u64,
    /// Whether columns an instance holds byte-equal stay home.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    reuse: Switch,
    /// Store the world in JetStream after every N-th tick (at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    snapshot_every: Option<u64>,
    /// Start from the latest snapshot of --world.
    #[arg(long)]
    resume: bool,
    /// The JetStream store directory (default $TMPDIR/macrokid-cluster-store).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The world id in the snapshot store.
    #[arg(long, default_value = "demo")]
    world: String,
    /// Kill nats-server at the start of this tick and start it again 300 ms later.
    #[arg(long, value_name = "T")]
    restart_server_at: Option<u64>,
    /// Run the server without login and permissions.
    #[arg(long)]
    no_auth: bool,
    /// The systems to run, comma-separated (the others are left out here and in the local
    /// run the hash is compared with).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "LIST",
        default_values_t = [DemoSystem::Movement, DemoSystem::Spin, DemoSystem::Damping, DemoSystem::Lifecycle]
    )]
    systems: Vec<DemoSystem>,
}

impl RunArgs {
    fn options(self) -> Result<Options, String> {
        // Planning order, each once.
        let systems = [
            DemoSystem::Movement,
            DemoSystem::Spin,
            DemoSystem::Damping,
            DemoSystem::Lifecycle,
        ]
        .into_iter()
        .filter(|s| self.systems.contains(s))
        .collect();
        let o = Options {
            systems,
            entities: self.entities,
            instances: self.instances,
            ticks: self.ticks,
            kill_at: self.kill_at,
            freeze_at: self.freeze_at,
            rate: self.rate,
            deadline: Duration::from_millis(self.deadline_ms),
            reuse: self.reuse == Switch::On,
            snapshot_every: self.snapshot_every,
            resume: self.resume,
            store: self.store,
            world: self.world,
            restart_server_at: self.restart_server_at,
            auth: !self.no_auth,
        };
        let failover = o.kill_at.is_some() || o.freeze_at.is_some();
        if failover && !o.systems.contains(&DemoSystem::Movement) {
            return Err(
                "--kill-at and --freeze-at stop Movement instances; add Movement to --systems"
                    .to_owned(),
            );
        }
        let needed = 1 + usize::from(o.kill_at.is_some()) + usize::from(o.freeze_at.is_some());
        if o.systems.contains(&DemoSystem::Movement) && o.instances < needed {
            return Err(format!(
                "--instances {} leaves no Movement instance alive with the kill/freeze asked for; use at least {needed}",
                o.instances
            ));
        }
        Ok(o)
    }
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

/// The subject prefix of `run`: fixed, so the snapshot bucket is found again by a later
/// run (each run has a server of its own).
const RUN_PREFIX: &str = "cluster";

/// What the tick loop of `run` found.
struct Outcome {
    world: macrokid_ecs::World,
    counters: macrokid_net::liveness::LivenessCounters,
    drops: u64,
    start: u64,
    done: u64,
    lost: u64,
    elapsed: Duration,
    kill_reroute: Option<u64>,
    freeze_reroute: Option<u64>,
    tick_ms: Vec<f64>,
    interrupted: bool,
    snapshots: u64,
    snapshot_failures: u64,
    snapshot_skips: u64,
    restarted: Option<u64>,
    retries: (u64, u64),
    commands: macrokid_net::coordinator::CommandCounts,
}

fn run(o: Options) -> Result<bool, String> {
    let subjects = Subjects::new(RUN_PREFIX).map_err(|e| e.to_string())?;
    let names: Vec<SystemName> = o
        .systems
        .iter()
        .map(|s| SystemName::new(s.name()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    // The login files live as long as the run.
    let auth_dir = tempfile::Builder::new()
        .prefix("macrokid-cluster-auth-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let auth = if o.auth {
        let auth = ClusterAuth::generate(&subjects, &names).map_err(|e| e.to_string())?;
        auth.write_config(&auth_dir.path().join("nats.conf"))
            .map_err(|e| e.to_string())?;
        Some(auth)
    } else {
        None
    };
    let mut server_options = ServerOptions::new();
    if auth.is_some() {
        server_options = server_options.config_file(auth_dir.path().join("nats.conf"));
    }
    if o.snapshot_every.is_some() || o.resume || o.store.is_some() {
        let store = o
            .store
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("macrokid-cluster-store"));
        std::fs::create_dir_all(&store)
            .map_err(|e| format!("creating the store directory {}: {e}", store.display()))?;
        server_options = server_options.store_dir(store);
    }
    let server = NatsServer::start(server_options).map_err(|e| e.to_string())?;
    let url = server.url();
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut children = Children(Vec::new());
    let mut spawn = |name: &str, id: u64| -> Result<(), String> {
        let mut cmd = Command::new(&exe);
        cmd.args(["system", name, &url, RUN_PREFIX, &id.to_string()])
            .stdin(Stdio::null());
        if let Some(auth) = &auth {
            let system = SystemName::new(name).map_err(|e| e.to_string())?;
            let login = auth
                .system(&system)
                .ok_or_else(|| format!("no login generated for {name}"))?;
            cmd.env(USER_ENV, &login.user)
                .env(PASSWORD_ENV, &login.password);
        }
        let child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        children.0.push((name.to_owned(), child));
        Ok(())
    };
    // Movement first: --kill-at and --freeze-at find its instances at the front.
    let mut processes = Vec::new();
    for &system in &o.systems {
        let first_id = match system {
            DemoSystem::Movement => 1,
            DemoSystem::Spin => 1001,
            DemoSystem::Damping => 1002,
            DemoSystem::Lifecycle => 1003,
        };
        let count = system.instances(o.instances);
        for i in 0..count {
            spawn(system.name(), first_id + i as u64)?;
        }
        processes.push(format!("{count} {}", system.name()));
    }
    println!(
        "cluster: nats-server at {url} ({}), {} entities, system processes: {}",
        if auth.is_some() {
            "login required, per-system permissions"
        } else {
            "no login"
        },
        o.entities,
        processes.join(", ")
    );
    if let Some(auth) = &auth {
        let file = auth_dir.path().join("inspector.password");
        write_private(&file, &auth.inspector().password)?;
        println!(
            "cluster: inspect with: macrokid-inspect --url {url} --prefix {RUN_PREFIX} --user {} --password-file {} systems",
            auth.inspector().user,
            file.display()
        );
    }

    let mut server_slot = Some(server);
    let outcome = runtime()?.block_on(async {
        let mut config = CoordinatorConfig::new(url.as_str(), subjects, names.clone())
            .deadline(o.deadline)
            .reuse_columns(o.reuse)
            .tick_period(o.rate.map(|hz| Duration::from_secs_f64(1.0 / hz)))
            .snapshot_every(o.snapshot_every)
            .world_id(o.world.as_str())
            .json_views(demo::json_views());
        if let Some(auth) = &auth {
            config = config.credentials(auth.coordinator().clone());
        }
        let mut c = Coordinator::connect(config, demo::world_with_lifecycle(o.entities))
            .await
            .map_err(|e| e.to_string())?;
        let mut start = 0;
        if o.resume {
            match c.resume().await.map_err(|e| e.to_string())? {
                Some(tick) => {
                    start = tick;
                    let mut local = demo::world_with_lifecycle(o.entities);
                    demo::run_local_systems(&mut local, tick, &names).map_err(|e| e.to_string())?;
                    let hash = c.world().hash();
                    println!(
                        "cluster: resumed world {} at tick {tick} from its snapshot: hash {hash:016x} {} local",
                        o.world,
                        if hash == local.hash() { "equals" } else { "DIFFERS FROM" }
                    );
                }
                None => println!("cluster: no snapshot of world {}; starting at tick 0", o.world),
            }
        }
        let wanted: Vec<(SystemName, usize)> = names
            .iter()
            .cloned()
            .zip(o.systems.iter().map(|s| s.instances(o.instances)))
            .collect();
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
        let mut snapshots = 0u64;
        let mut restarter: Option<std::thread::JoinHandle<(NatsServer, Result<(), String>)>> = None;
        let mut restarted = None;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut interrupted = false;
        for tick in start..start + o.ticks {
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
            if o.restart_server_at == Some(tick) {
                if let Some(mut server) = server_slot.take() {
                    restarted = Some(tick);
                    let pid = server.pid().unwrap_or(0);
                    println!("cluster: killing nats-server (pid {pid}) at tick {tick}; it starts again on port {} in 300 ms", server.port());
                    // Killed while the tick runs: its shards and results are in flight.
                    restarter = Some(std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(2));
                        server.stop();
                        std::thread::sleep(Duration::from_millis(300));
                        let result = server.restart().map_err(|e| e.to_string());
                        (server, result)
                    }));
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
            if report.snapshot_bytes.is_some() {
                snapshots += 1;
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
            let mut line = describe(&report);
            if let Some(bytes) = report.snapshot_bytes {
                line.push_str(&format!(
                    "; snapshot {:.1} KiB in {:.2} ms",
                    bytes as f64 / 1024.0,
                    report.snapshot_duration.as_secs_f64() * 1000.0
                ));
            }
            if report.snapshot_skipped {
                line.push_str("; snapshot skipped (not connected), taken at the next multiple");
            }
            if report.retried_shards > 0 {
                line.push_str(&format!("; {} shards re-sent after the server came back", report.retried_shards));
            }
            println!("{line}");
        }
        let elapsed = started.elapsed();
        if let Some(handle) = restarter {
            let (server, result) = handle.join().map_err(|_| "the server restart thread panicked".to_owned())?;
            result?;
            server_slot = Some(server);
        }
        if interrupted {
            println!("cluster: interrupted after {done} ticks; stopping");
        }
        let counters = c.tracker().counters();
        let drops = c.drops().total();
        let snapshot_failures = c.snapshot_failures();
        let snapshot_skips = c.snapshot_skips();
        let retries = c.retries();
        let commands = c.command_counts();
        // The client and its subscriptions are dropped here, inside the runtime.
        let world = c.into_world();
        Ok::<_, String>(Outcome {
            world,
            counters,
            drops,
            start,
            done,
            lost,
            elapsed,
            kill_reroute,
            freeze_reroute,
            tick_ms,
            interrupted,
            snapshots,
            snapshot_failures,
            snapshot_skips,
            restarted,
            retries,
            commands,
        })
    });
    let mut out = outcome?;
    drop(children);
    let hash = out.world.hash();
    let mut local = demo::world_with_lifecycle(o.entities);
    demo::run_local_systems(&mut local, out.start + out.done, &names).map_err(|e| e.to_string())?;
    let equal = local.hash() == hash;
    out.tick_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        out.tick_ms
            .get(((out.tick_ms.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "cluster: tick ms p50 {:.2}, p90 {:.2}, max {:.2}; late results {}, rejoins {}, drops {}",
        pct(0.5),
        pct(0.9),
        pct(1.0),
        out.counters.late_results,
        out.counters.rejoins,
        out.drops
    );
    println!(
        "cluster: remote commands applied {}, failed {}, malformed payloads {}",
        out.commands.applied, out.commands.failed, out.commands.malformed_payloads
    );
    if o.snapshot_every.is_some() {
        println!(
            "cluster: {} snapshots of world {} stored, {} failed, {} skipped while disconnected",
            out.snapshots, o.world, out.snapshot_failures, out.snapshot_skips
        );
    }
    let mut failover = Vec::new();
    if let Some(n) = out.kill_reroute {
        failover.push(format!("{n} ticks (kill)"));
    }
    if let Some(n) = out.freeze_reroute {
        failover.push(format!("{n} ticks (freeze)"));
    }
    let failover = if failover.is_empty() {
        String::new()
    } else {
        format!(" rerouted after {},", failover.join(" and "))
    };
    let resumed = if out.start > 0 {
        format!(" from tick {} (resumed),", out.start)
    } else {
        String::new()
    };
    let restart = match out.restarted {
        Some(at) => format!(
            " server restarted at tick {at} ({} rounds, {} shards re-sent),",
            out.retries.0, out.retries.1
        ),
        None => String::new(),
    };
    println!(
        "cluster: {} ticks,{resumed} {:.0} ticks/s,{failover}{restart} lost ticks {}, world hash {hash:016x} {} local",
        out.done,
        out.done as f64 / out.elapsed.as_secs_f64(),
        out.lost,
        if equal { "equals" } else { "DIFFERS FROM" }
    );
    drop(server_slot);
    Ok(equal && out.lost == 0 && !out.interrupted && out.snapshot_failures == 0)
}

/// Writes `text` to `path`, readable by the owner only.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
