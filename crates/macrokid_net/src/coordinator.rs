//! The coordinator: owns the canonical [`World`] and runs its ticks through system
//! processes (seed 003, "Tick Lifecycle" and "Coordinator").
//!
//! Per tick ([`Coordinator::tick`]):
//!
//! 1. apply the queued commands ([`Coordinator::queue`]) and take in registrations and
//!    heartbeats; instances silent past the heartbeat timeout are declared dead;
//! 2. plan with `macrokid_core`'s planner from the registered access descriptors (one
//!    stage, the systems in [`CoordinatorConfig::systems`] order, then the others by name);
//!    the plan is rebuilt only when the set of systems changes. Each batch of mutually
//!    conflict-free systems is one *round*: its systems run at once, in their own
//!    processes;
//! 3. per system of the round, the tables holding a component it reads or writes (or an
//!    entity with a sparse-set component it reads or writes) and admitted by its declared
//!    entity filter (`#[system(with(..), without(..))]`, [`AccessDescriptor::required`] /
//!    [`AccessDescriptor::excluded`]: a table lacking a required table component or
//!    having an excluded one is not sent) are
//!    split into one contiguous row range per live instance — the *shards* — and placed
//!    by [`InstanceTracker::assign`]; the coordinator publishes a [`SystemSchedule`] and
//!    each shard's columns (entity ids and every accessed component, raw little-endian
//!    bytes, each a slice of one read of the table's column) to its instance. A column
//!    the instance already holds — it got or wrote it in its last merged job on the same
//!    rows of the same entities, and no row of it was stamped changed in the world since
//!    that job's merge ([`World::column_changed_since`]: the row ticks are read, not the
//!    column's bytes; the world's change tick moves on after every round) — is neither
//!    read nor sent: the schedule names it in [`ShardAssignment::reused`] (off with
//!    [`CoordinatorConfig::reuse_columns`]). A write that bypasses change detection
//!    ([`macrokid_ecs::Mut::bypass_change_detection`]) is not seen. An instance that
//!    lacks a reused column answers with [`TickAck::missing`] and gets its shards again
//!    in full, in the same round. Besides the table columns a shard carries (never
//!    reused): every plain-old-data sparse set that has entities among its rows
//!    ([`SPARSE_COLUMN_PREFIX`]: row, change flags, value; all of them, since a query
//!    may filter `With`/`Without` on a sparse component the system does not declare), and
//!    the *change flags* ([`TICKS_COLUMN_PREFIX`]) of each accessed table column with a
//!    row added or changed since the system's previous run (see "Change ticks"). And,
//!    reused like a column, the *presence* ([`PRESENT_COLUMN_PREFIX`]: name and size, no
//!    rows) of each plain-old-data component of the shard's table that the system
//!    neither reads nor writes: the process gives its rows that component, zero-filled,
//!    so `With`/`Without`/`Has` on it (in a query or declared) select the rows a local
//!    run selects. A serde-registered or unregistered one is not named: a filter on it
//!    sees it absent;
//! 4. it waits for the changed columns up to [`CoordinatorConfig::deadline`]; a result
//!    is merged when it comes from the shard's current owner and has the shard's row
//!    count (overwrite: the planner puts no two writers of a component in one round;
//!    only the rows, and sparse values, the run changed are written and stamped changed,
//!    as a local run stamps them); at the deadline, shards of instances
//!    declared dead are re-sent to live ones and waited for again, shards of systems with
//!    no live instance are skipped with a warning (a system whose every shard is skipped
//!    did not run: its previous run stays where it was, see "Change ticks"); late results
//!    are dropped and counted;
//!    then the round's *remote commands* apply (below);
//! 5. after the last round the tick advances; with [`CoordinatorConfig::tick_period`] the
//!    coordinator then sleeps to a fixed rate, else it runs as fast as possible.
//!
//! 6. with [`CoordinatorConfig::snapshot_every`], every n-th tick ends with a snapshot
//!    of the world in JetStream; [`Coordinator::resume`] starts a new coordinator from
//!    the latest ([`persist`]).
//!
//! A round whose messages were lost to a server restart is sent again once the connection
//! is back instead of being judged by the liveness rules ([`reconnect`]). Queries on
//! `P.query.request` are answered while the coordinator waits ([`query`]).
//!
//! # Remote commands
//!
//! A system process sends the commands a system recorded on a shard with that shard's
//! result (a [`COMMANDS_COLUMN`], see [`crate::system_process`]); they are kept only when
//! the result merges (from the shard's owner, in its round). After the round's merge
//! they apply system by system in plan (declaration) order, each system's shards in shard
//! order (table order, then row order: the order one local run iterates). Spawned ids
//! come from the coordinator's allocator: before a system's commands apply, each of its
//! [`RemoteCommand::Spawn`]s, in that order, spawns an empty entity — the ids a local run
//! would have reserved while the system ran, last freed index first — and the
//! [`EntityRef::Spawned`] placeholders map to them (the scheme of bevy's and hecs's id
//! reservation, done at apply time). The planner counts a system's deferred writes
//! (inserts, removes, despawns) as writes, so no system of the same round reads what the
//! commands change. A command that does not apply is logged and counted, a payload that
//! does not decode is dropped and counted ([`Coordinator::command_counts`]). The entities
//! they created and destroyed are then broadcast on `P.entity.create` and
//! `P.entity.destroy` (seed 003), one message per entity ([`TickReport::created`],
//! [`TickReport::destroyed`]). Column reuse stays correct as rows move and entities go:
//! a held copy is reused only when its entity column equals, byte for byte, the world's
//! entities of the shard's rows now (ids with their generation), so a copy that holds a
//! destroyed entity — alive in no table — is never reused, and the coordinator need not
//! look for such copies when entities are destroyed (it did, scanning every held entity
//! column: O(held bytes) per tick with a despawn); the copy is replaced by the next merge
//! on its shard number. (This also covers a zero-sized tag's column, which would compare
//! equal though rows moved: it is never reused without the entity column.) Changes
//! queued with [`Coordinator::queue`] are closures and are not broadcast.
//!
//! # Change ticks
//!
//! The coordinator keeps each system's previous run as the ECS scheduler does: the
//! world's change tick at which its round's results merged (the change tick steps after
//! every round). A system whose shards were all skipped for lack of a live instance keeps
//! its previous run, as a system a local schedule did not run: its next run sees the
//! changes of the ticks it missed. One with some shards merged and others skipped counts
//! as run (the skipped rows' changes of that round are not seen by it later). A shard carries, per accessed table column and sparse entity, whether
//! it was added or changed after that tick ([`crate::protocol::FLAG_ADDED`],
//! [`crate::protocol::FLAG_CHANGED`]; one byte for the whole shard when every row has
//! the same, none when no row has any), and [`SystemSchedule::since_last_run`]; the
//! process stamps its local rows accordingly before the run, so `Changed<T>` and
//! `Added<T>` filters see exactly the rows a local run would — writes merged from other
//! systems' remote runs, remote commands, queued commands and `world_mut` changes
//! included. A system's first run sees every row as added (so does its first run under a
//! coordinator started by [`Coordinator::resume`]: the previous runs are not in the
//! snapshot). The held tick is not clamped
//! by [`World::check_change_ticks`]: a system idle for 2^32 change ticks or more may see
//! old changes again. `RemovedComponents` do not travel: `removed::<T>()` in a remote
//! system sees only what its own run removed.
//!
//! A malformed, wrong-version or unexpected message is counted in
//! [`Coordinator::drops`] and dropped; it never stops a tick.

pub mod persist;
pub mod query;
pub mod reconnect;

pub use persist::empty_world;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{Client, Message, Subscriber};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
use macrokid_ecs::{Tick, World};

use crate::codec::{
    chunk_budget, decode_control, encode_control, encode_shard, read_routing, Column, DropCounters,
    DropReason, Reassembler, Shard,
};
use crate::connection::ConnectionWatch;
use crate::inspect::JsonViews;
use crate::liveness::{InstanceTracker, LivenessConfig, ResultOutcome};
use crate::protocol::compact_flags;
use crate::protocol::{
    decode_commands, AccessDescriptor, ControlMessage, EntityCreated, EntityDestroyed, EntityRef,
    Heartbeat, InstanceId, MsgType, RemoteCommand, ResourceValue, ShardAssignment, Subjects,
    SystemName, SystemRegister, SystemSchedule, TickAck, TickStart, COMMANDS_COLUMN, ENTITY_COLUMN,
    FLAG_ADDED, FLAG_CHANGED, PRESENT_COLUMN_PREFIX, SPARSE_COLUMN_PREFIX, TICKS_COLUMN_PREFIX,
};
use crate::snapshot::{SnapshotError, SnapshotStore};

/// A change to the world applied at the start of the next tick.
pub type WorldCommand = Box<dyn FnOnce(&mut World) + Send>;

/// How the coordinator connects and paces ticks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoordinatorConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The cluster's subjects.
    pub subjects: Subjects,
    /// Planning order of the systems (declaration order for the planner); systems that
    /// register and are not listed follow, by name.
    pub systems: Vec<SystemName>,
    /// How long a round waits for results before the liveness decisions (default 250 ms).
    pub deadline: Duration,
    /// `Some(period)`: one tick per period (fixed rate); `None`: as fast as possible.
    pub tick_period: Option<Duration>,
    /// The simulated time step sent in [`TickStart`], in seconds.
    pub dt_seconds: f64,
    /// Heartbeat timeout and deadline strikes.
    pub liveness: LivenessConfig,
    /// Login, when the server requires one ([`crate::security`]).
    pub credentials: Option<crate::security::Credentials>,
    /// Whether columns an instance already holds from its last merged job, unchanged in
    /// the world since, stay home ([`ShardAssignment::reuse_round`]); default `true`. `false` sends every
    /// accessed column every round (for comparison).
    pub reuse_columns: bool,
    /// `Some(n)`: store a snapshot of the world in JetStream after every n-th tick
    /// ([`persist`]); `None` (the default): no snapshots.
    pub snapshot_every: Option<u64>,
    /// The world's id in the snapshot store (a subject token; default `world`).
    pub world_id: String,
    /// How query answers show component values ([`crate::inspect`]).
    pub json_views: JsonViews,
}

impl CoordinatorConfig {
    /// A coordinator for the cluster at `url` under `subjects`, planning `systems` in
    /// that order.
    pub fn new(url: impl Into<String>, subjects: Subjects, systems: Vec<SystemName>) -> Self {
        Self {
            url: url.into(),
            subjects,
            systems,
            deadline: Duration::from_millis(250),
            tick_period: None,
            dt_seconds: 1.0 / 60.0,
            liveness: LivenessConfig::default(),
            credentials: None,
            reuse_columns: true,
            snapshot_every: None,
            world_id: "world".to_owned(),
            json_views: JsonViews::new(),
        }
    }

    /// Sets [`CoordinatorConfig::reuse_columns`].
    #[must_use]
    pub fn reuse_columns(mut self, reuse: bool) -> Self {
        self.reuse_columns = reuse;
        self
    }

    /// Sets [`CoordinatorConfig::json_views`].
    #[must_use]
    pub fn json_views(mut self, views: JsonViews) -> Self {
        self.json_views = views;
        self
    }

    /// Sets [`CoordinatorConfig::deadline`].
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets [`CoordinatorConfig::tick_period`].
    #[must_use]
    pub fn tick_period(mut self, period: Option<Duration>) -> Self {
        self.tick_period = period;
        self
    }

    /// Sets [`CoordinatorConfig::liveness`].
    #[must_use]
    pub fn liveness(mut self, liveness: LivenessConfig) -> Self {
        self.liveness = liveness;
        self
    }

    /// Sets [`CoordinatorConfig::credentials`].
    #[must_use]
    pub fn credentials(mut self, credentials: crate::security::Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// Why the coordinator could not start or run a tick.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// Connecting to the NATS server failed.
    #[error(
        "could not connect to NATS at {url}: {message}; is the server running and the URL right?"
    )]
    Connect {
        /// The URL.
        url: String,
        /// The client's message.
        message: String,
    },
    /// A NATS operation failed (subscribe, publish, flush).
    #[error("NATS {what} failed: {message}")]
    Nats {
        /// What was being done.
        what: &'static str,
        /// The client's message.
        message: String,
    },
    /// A column a system accesses cannot travel: it is not registered as plain-old-data.
    #[error("system {system} accesses component `{component}`, which is not registered as plain-old-data; register it with `SnapshotRegistry::register_pod`")]
    NotPod {
        /// The system.
        system: SystemName,
        /// The component's type name.
        component: String,
    },
    /// The registered systems could not be planned.
    #[error("planning the registered systems failed: {0}")]
    Plan(#[from] macrokid_core::PlanError),
    /// The snapshot store failed (JetStream off or refusing, no permission).
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The world could not be written to, or restored from, a snapshot.
    #[error("snapshot of world {world:?} at tick {tick}: {source}")]
    WorldSnapshot {
        /// The world id.
        world: String,
        /// The tick count of the snapshot.
        tick: u64,
        /// The ECS's reason (an unregistered component type, a foreign format...).
        #[source]
        source: macrokid_ecs::SnapshotError,
    },
    /// Waiting for instances timed out.
    #[error("timed out after {waited:?} waiting for instances: {missing}")]
    Timeout {
        /// How long it waited.
        waited: Duration,
        /// Which systems lacked instances, and how many they had.
        missing: String,
    },
}

fn nats_err(what: &'static str, e: impl std::fmt::Display) -> CoordinatorError {
    CoordinatorError::Nats {
        what,
        message: e.to_string(),
    }
}

/// Returns once the server has taken every subscription `client` made before the call.
///
/// `Client::flush` only writes the socket: a message another connection publishes right
/// after it may reach the server before the subscriptions and be lost (seen here: a
/// registration published after `Coordinator::connect` returned, under load). The
/// server handles one connection's operations in order, so a message this connection
/// publishes to its own fresh inbox and receives back shows that the subscriptions before
/// it are in place.
///
/// # Errors
/// [`CoordinatorError::Nats`] when the round trip fails or takes over 10 s.
async fn subscriptions_live(client: &Client) -> Result<(), CoordinatorError> {
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| nats_err("subscribe", e))?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|e| nats_err("publish", e))?;
    client.flush().await.map_err(|e| nats_err("flush", e))?;
    match tokio::time::timeout(Duration::from_secs(10), echo.next()).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(nats_err("subscribe", "the connection closed")),
        Err(_) => {
            return Err(nats_err(
                "subscription round trip",
                "no echo from the server within 10 s",
            ))
        }
    }
    echo.unsubscribe()
        .await
        .map_err(|e| nats_err("unsubscribe", e))
}

/// One system's part of a tick.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SystemTickReport {
    /// Shards sent (re-sends not counted).
    pub shards: u32,
    /// Rows sent.
    pub rows: u64,
    /// Shards per instance, by instance (after re-routing).
    pub per_instance: BTreeMap<InstanceId, u32>,
    /// The longest run time an instance reported, in microseconds.
    pub max_run_micros: u64,
    /// Shards skipped for lack of a live instance.
    pub skipped: u32,
    /// Column bytes sent to instances (first sends; re-sends not counted).
    pub sent_bytes: u64,
    /// Column bytes not sent because the instance held them ([`ShardAssignment::reused`]).
    pub reused_bytes: u64,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TickReport {
    /// The tick.
    pub tick: u64,
    /// Wall time of the tick (commands to merge), without the fixed-rate sleep.
    pub duration: Duration,
    /// Rounds (batches) run.
    pub rounds: u32,
    /// Per system.
    pub systems: BTreeMap<SystemName, SystemTickReport>,
    /// Shards re-routed from dead instances in this tick.
    pub reroutes: u32,
    /// Instances declared dead in this tick.
    pub deaths: u32,
    /// Time spent building and publishing the rounds' schedules and shards (checking the
    /// row ticks of what the instances hold, reading the columns to send, chunking,
    /// publishing).
    pub send_time: Duration,
    /// Time spent merging results into the world (checks and column writes).
    pub merge_time: Duration,
    /// The size of the snapshot stored after this tick, in bytes; `None` when none was.
    pub snapshot_bytes: Option<usize>,
    /// How long storing that snapshot took (not part of [`TickReport::duration`]).
    pub snapshot_duration: Duration,
    /// Whether a snapshot was due after this tick but skipped because the client was not
    /// connected ([`Coordinator::snapshot_skips`]).
    pub snapshot_skipped: bool,
    /// Shards sent again in this tick because the connection to the server dropped.
    pub retried_shards: u32,
    /// Entities remote commands created in this tick (broadcast on `P.entity.create`).
    pub created: u32,
    /// Entities remote commands destroyed in this tick (broadcast on `P.entity.destroy`).
    pub destroyed: u32,
}

/// Where a shard's rows live in the world, for the merge.
#[derive(Debug, Clone)]
struct ShardPlan {
    table: usize,
    rows: Range<usize>,
    /// The registered names of the columns the system may write in that table.
    writable: Vec<String>,
    /// The columns sent (entity column first), for a re-send.
    columns: Vec<Column>,
}

/// What an instance holds of one shard number after a job whose results were merged:
/// the columns it was given, with the ones it wrote replaced by its results.
#[derive(Debug, Clone)]
struct Held {
    round: u64,
    /// The world's change tick while the copy matched the world: a row of the column
    /// stamped changed after it is no longer what the instance holds.
    at: Tick,
    table: usize,
    rows: Range<usize>,
    columns: Vec<Column>,
}

/// What a system's schedules of the round in flight carry besides the shards.
#[derive(Debug, Clone, Default)]
struct RoundExtras {
    resources: Vec<ResourceValue>,
    zero_sized: Vec<String>,
    since_last_run: bool,
}

impl RoundExtras {
    /// The schedule of `shards` of `system` in round `tick_id` of tick `tick`.
    fn schedule(
        &self,
        tick_id: u64,
        system: &SystemName,
        shards: Vec<ShardAssignment>,
        tick: u64,
    ) -> SystemSchedule {
        SystemSchedule {
            tick_id,
            system: system.clone(),
            shards,
            tick,
            resources: self.resources.clone(),
            zero_sized: self.zero_sized.clone(),
            since_last_run: self.since_last_run,
        }
    }
}

/// A registered system as the planner and the shard builder need it.
#[derive(Debug, Clone)]
struct Registered {
    access: AccessDescriptor,
}

/// The coordinator: the canonical world and its tick loop over NATS.
pub struct Coordinator {
    config: CoordinatorConfig,
    client: Client,
    world: World,
    tracker: InstanceTracker,
    drops: Arc<DropCounters>,
    /// Per sending instance, so chunks of two instances never mix.
    reassemblers: HashMap<InstanceId, Reassembler>,
    systems: BTreeMap<SystemName, Registered>,
    plan: Option<(Vec<SystemName>, Vec<Vec<SystemName>>)>,
    interned: HashMap<String, ResourceId>,
    commands: Vec<WorldCommand>,
    changed: Subscriber,
    acks: Subscriber,
    registers: Subscriber,
    heartbeats: Subscriber,
    budget: usize,
    tick: u64,
    round: u64,
    next_tick_at: Option<Instant>,
    merged_shards: u64,
    /// The shards of the round in flight, by (system, shard).
    shard_plans: HashMap<(SystemName, u32), ShardPlan>,
    /// Per system of the round in flight: what its schedules carry besides the shards.
    round_extras: HashMap<SystemName, RoundExtras>,
    /// Per system: the world's change tick when its results last merged (its previous
    /// run, as a local run records it); rows stamped after it are new to its next run.
    last_runs: HashMap<SystemName, Tick>,
    /// The first round of the tick in flight and its report.
    current: Option<(u64, TickReport)>,
    /// The acks the round in flight still waits for (they carry the run times).
    pending_acks: HashSet<(SystemName, InstanceId)>,
    /// Per (instance, system, shard number): the columns the instance holds from its last
    /// merged job, so that columns unchanged since need not travel again.
    held: HashMap<(InstanceId, SystemName, u32), Held>,
    /// (system, instance) whose shards of the round in flight must be sent again in full
    /// (the instance did not hold the columns it was told to reuse).
    resends: Vec<(SystemName, InstanceId)>,
    /// `P.query.request`.
    queries: Subscriber,
    /// Counts the client's disconnects.
    watch: ConnectionWatch,
    /// The disconnects already handled (waited for at a tick start or retried).
    seen_disconnects: u64,
    retried_rounds: u64,
    retried_shards: u64,
    /// The snapshot store, opened on first use.
    snapshots: Option<SnapshotStore>,
    snapshot_failures: u64,
    snapshot_skips: u64,
    /// The commands of the round in flight's merged results, by (system, shard).
    round_commands: BTreeMap<(SystemName, u32), Vec<RemoteCommand>>,
    /// Remote commands applied, failed to apply, and command payloads dropped as malformed.
    command_counts: CommandCounts,
    /// The last tick's report, for query answers.
    last_report: Option<TickReport>,
    queries_answered: u64,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("tick", &self.tick)
            .field("systems", &self.systems.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Coordinator {
    /// Connects and subscribes; `world` becomes the canonical world (its snapshot registry
    /// names the columns that travel: register them with `register_pod`).
    ///
    /// # Errors
    /// [`CoordinatorError::Connect`] or [`CoordinatorError::Nats`].
    pub async fn connect(
        config: CoordinatorConfig,
        world: World,
    ) -> Result<Self, CoordinatorError> {
        let watch = ConnectionWatch::new();
        let client = watch
            .connect_options(config.credentials.as_ref())
            .connect(&config.url)
            .await
            .map_err(|e| CoordinatorError::Connect {
                url: config.url.clone(),
                message: e.to_string(),
            })?;
        let s = &config.subjects;
        let sub = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject)
                    .await
                    .map_err(|e| nats_err("subscribe", e))
            }
        };
        let changed = sub(s.component_changed_any()).await?;
        let acks = sub(s.tick_ack_any()).await?;
        let registers = sub(s.register_any()).await?;
        let heartbeats = sub(s.heartbeat_any()).await?;
        let queries = sub(s.query_request()).await?;
        subscriptions_live(&client).await?;
        let budget = chunk_budget(client.server_info().max_payload);
        Ok(Self {
            tracker: InstanceTracker::new(config.liveness),
            config,
            client,
            world,
            drops: Arc::new(DropCounters::new()),
            reassemblers: HashMap::new(),
            systems: BTreeMap::new(),
            plan: None,
            interned: HashMap::new(),
            commands: Vec::new(),
            changed,
            acks,
            registers,
            heartbeats,
            budget,
            tick: 0,
            round: first_round(),
            next_tick_at: None,
            merged_shards: 0,
            shard_plans: HashMap::new(),
            round_extras: HashMap::new(),
            last_runs: HashMap::new(),
            current: None,
            pending_acks: HashSet::new(),
            held: HashMap::new(),
            resends: Vec::new(),
            queries,
            seen_disconnects: watch.disconnects(),
            watch,
            retried_rounds: 0,
            retried_shards: 0,
            snapshots: None,
            snapshot_failures: 0,
            snapshot_skips: 0,
            round_commands: BTreeMap::new(),
            command_counts: CommandCounts::default(),
            last_report: None,
            queries_answered: 0,
        })
    }

    /// The canonical world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The canonical world, mutable (between ticks).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Gives the world back.
    pub fn into_world(self) -> World {
        self.world
    }

    /// Queues a change applied at the start of the next tick, before planning.
    pub fn queue(&mut self, command: impl FnOnce(&mut World) + Send + 'static) {
        self.commands.push(Box::new(command));
    }

    /// The next tick's number (ticks done so far).
    pub fn tick_count(&self) -> u64 {
        self.tick
    }

    /// Messages dropped, by reason (malformed, wrong version, late...).
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The liveness tracker (instances, counters).
    pub fn tracker(&self) -> &InstanceTracker {
        &self.tracker
    }

    /// Result shards merged so far.
    pub fn merged_shards(&self) -> u64 {
        self.merged_shards
    }

    /// The NATS client (to publish test messages, or for a query responder).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until each `(system, n)` has at least `n` live instances, handling
    /// registrations and heartbeats meanwhile.
    ///
    /// # Errors
    /// [`CoordinatorError::Timeout`] after `timeout`.
    pub async fn wait_for_instances(
        &mut self,
        wanted: &[(SystemName, usize)],
        timeout: Duration,
    ) -> Result<(), CoordinatorError> {
        let start = Instant::now();
        loop {
            let missing: Vec<String> = wanted
                .iter()
                .filter_map(|(s, n)| {
                    let live = self.tracker.live(s).len();
                    (live < *n).then(|| format!("{s} has {live} of {n}"))
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(CoordinatorError::Timeout {
                    waited: timeout,
                    missing: missing.join(", "),
                });
            }
            let until = tokio::time::Instant::now() + left.min(Duration::from_millis(50));
            self.pump_until(until, None).await;
        }
    }

    /// Handles control traffic (registrations, heartbeats; results of `round` when given,
    /// else late ones) until `until`.
    async fn pump_until(&mut self, until: tokio::time::Instant, round: Option<u64>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return,
                Some(msg) = self.registers.next() => self.on_register(&msg),
                Some(msg) = self.heartbeats.next() => self.on_heartbeat(&msg),
                Some(msg) = self.changed.next() => self.on_changed(&msg, round.unwrap_or(u64::MAX)),
                Some(msg) = self.acks.next() => self.on_ack(&msg, round),
                Some(msg) = self.queries.next() => self.on_query(msg).await,
            }
            if let Some(r) = round {
                for (system, instance) in std::mem::take(&mut self.resends) {
                    if let Err(e) = self.resend_full(r, &system, instance).await {
                        tracing::warn!(%system, %instance, error = %e, "could not send the shards again");
                    }
                }
            }
            // Done when every shard is merged and every instance's ack (its run time) is in.
            if round.is_some_and(|r| self.tracker.all_delivered(r) && self.pending_acks.is_empty())
            {
                return;
            }
        }
    }

    fn on_register(&mut self, msg: &Message) {
        let Ok(reg) =
            decode_control::<SystemRegister>(msg.headers.as_ref(), &msg.payload, &self.drops)
        else {
            return;
        };
        if !msg.subject.as_str().ends_with(&format!(".{}", reg.system)) {
            self.drops.record(DropReason::Inconsistent);
            return;
        }
        let outcome = self.tracker.register(&reg, Instant::now());
        // A process that registers (again) may have restarted: it holds nothing.
        self.held.retain(|(i, _, _), _| *i != reg.instance_id);
        tracing::info!(system = %reg.system, instance = %reg.instance_id, ?outcome, "registration");
        let changed = self
            .systems
            .get(&reg.system)
            .is_none_or(|r| r.access != reg.access);
        if changed {
            self.systems.insert(
                reg.system.clone(),
                Registered {
                    access: reg.access.clone(),
                },
            );
            self.plan = None;
        }
    }

    fn on_heartbeat(&mut self, msg: &Message) {
        if let Ok(hb) = decode_control::<Heartbeat>(msg.headers.as_ref(), &msg.payload, &self.drops)
        {
            self.tracker.heartbeat(&hb, Instant::now());
        }
    }

    fn on_ack(&mut self, msg: &Message, round: Option<u64>) {
        if let Ok(ack) = decode_control::<TickAck>(msg.headers.as_ref(), &msg.payload, &self.drops)
        {
            if !ack.missing.is_empty() {
                self.held.retain(|(i, _, _), _| *i != ack.instance_id);
                if round == Some(ack.tick_id) {
                    tracing::debug!(system = %ack.system, instance = %ack.instance_id, "reused columns not held; sending the shards again in full");
                    self.resends.push((ack.system, ack.instance_id));
                }
                return;
            }
            if round == Some(ack.tick_id) {
                self.pending_acks
                    .remove(&(ack.system.clone(), ack.instance_id));
            }
            if let Some(report) = self.current.as_mut() {
                if ack.tick_id >= report.0 {
                    let sys = report.1.systems.entry(ack.system).or_default();
                    sys.max_run_micros = sys.max_run_micros.max(ack.run_micros);
                }
            }
        }
    }

    fn on_changed(&mut self, msg: &Message, round: u64) {
        let routing = match read_routing(msg.headers.as_ref(), MsgType::ColumnChunk) {
            Ok(r) => r,
            Err(reason) => {
                self.drops.record(reason);
                return;
            }
        };
        let Some(instance) = routing.instance else {
            self.drops.record(DropReason::MissingHeader);
            return;
        };
        let drops = self.drops.clone();
        let reassembler = self
            .reassemblers
            .entry(instance)
            .or_insert_with(|| Reassembler::new(1 << 31, drops));
        let Some(shard) = reassembler.push_bytes(&msg.payload) else {
            return;
        };
        if shard.tick != round {
            // Results of a finished round (or of none in flight).
            self.tracker
                .result(shard.tick, &shard.system, shard.shard, instance);
            self.drops.record(DropReason::Late);
            return;
        }
        match self
            .tracker
            .result(shard.tick, &shard.system, shard.shard, instance)
        {
            ResultOutcome::Accepted => {
                let started = Instant::now();
                self.merge(&shard, instance);
                if let Some((_, report)) = self.current.as_mut() {
                    report.merge_time += started.elapsed();
                }
            }
            ResultOutcome::Late => self.drops.record(DropReason::Late),
            ResultOutcome::Duplicate => self.drops.record(DropReason::Duplicate),
            ResultOutcome::Unexpected => self.drops.record(DropReason::Inconsistent),
        }
    }

    /// Overwrites the shard's rows with the result columns, after checking that they are
    /// the rows sent (the entity column when the result carries one, else every column's
    /// row count) and that the system may write them; then records what `instance` holds.
    fn merge(&mut self, shard: &Shard, instance: InstanceId) {
        let Some(plan) = self.shard_plans.get(&(shard.system.clone(), shard.shard)) else {
            self.drops.record(DropReason::Inconsistent);
            return;
        };
        let rows = plan.rows.len();
        let same_rows = match shard.column(ENTITY_COLUMN) {
            Some(ids) => {
                ids.element_size() == 8
                    && ids.len() == rows
                    && self.world.table_entities(plan.table).is_ok_and(|e| {
                        e.get(plan.rows.clone()).is_some_and(|e| {
                            e.iter()
                                .zip(ids.bytes().chunks_exact(8))
                                .all(|(a, b)| a.to_bits().to_le_bytes() == b)
                        })
                    })
            }
            None => {
                let mut data = shard
                    .columns
                    .iter()
                    .filter(|c| {
                        c.component() != COMMANDS_COLUMN
                            && !c.component().starts_with(SPARSE_COLUMN_PREFIX)
                            && !c.component().starts_with(TICKS_COLUMN_PREFIX)
                    })
                    .peekable();
                data.peek().is_some() && data.all(|c| c.len() == rows)
            }
        };
        if !same_rows {
            self.drops.record(DropReason::Inconsistent);
            return;
        }
        if let Some(payload) = shard.column(COMMANDS_COLUMN) {
            match decode_commands(payload.bytes()) {
                Ok(commands) => {
                    self.round_commands
                        .insert((shard.system.clone(), shard.shard), commands);
                }
                Err(e) => {
                    tracing::warn!(system = %shard.system, shard = shard.shard, error = %e, "a malformed command payload; its commands are dropped");
                    self.drops.record(DropReason::Malformed);
                    self.command_counts.malformed_payloads += 1;
                }
            }
        }
        let mut held = plan.columns.clone();
        let mut complete = true;
        for column in &shard.columns {
            let name = column.component();
            if name == ENTITY_COLUMN
                || name == COMMANDS_COLUMN
                || name.starts_with(TICKS_COLUMN_PREFIX)
            {
                continue;
            }
            let component = name.strip_prefix(SPARSE_COLUMN_PREFIX).unwrap_or(name);
            if !plan.writable.iter().any(|w| w == component) {
                tracing::warn!(system = %shard.system, component = name, "a result column the system does not write; dropped");
                self.drops.record(DropReason::Inconsistent);
                complete = false;
                continue;
            }
            let written = if component == name {
                // Only the rows the run changed, when the result says which.
                let changed = shard
                    .column(&format!("{TICKS_COLUMN_PREFIX}{name}"))
                    .map(|c| c.bytes().clone());
                write_changed_rows(&mut self.world, plan, column, changed.as_deref())
            } else {
                merge_sparse(&mut self.world, plan, component, column)
            };
            if let Err(e) = written {
                tracing::warn!(system = %shard.system, error = %e, "a result column does not fit; dropped");
                self.drops.record(DropReason::Inconsistent);
                complete = false;
                continue;
            }
            if component != name {
                // Sparse sets travel in full every round; nothing to hold.
                continue;
            }
            match held
                .iter_mut()
                .find(|c| c.component() == column.component())
            {
                Some(slot) => *slot = column.clone(),
                None => complete = false,
            }
        }
        let key = (instance, shard.system.clone(), shard.shard);
        // The held copy's written columns are the results; a row the run did not change
        // (not written back) holds the value the instance was sent, the world's.
        if complete {
            let entry = Held {
                round: shard.tick,
                at: self.world.change_tick(),
                table: plan.table,
                rows: plan.rows.clone(),
                columns: held,
            };
            self.held.insert(key, entry);
        } else {
            self.held.remove(&key);
        }
        self.merged_shards += 1;
    }

    /// Handles every control message already received, without waiting.
    fn drain_ready(&mut self) {
        loop {
            let mut any = false;
            while let Some(Some(m)) = self.registers.next().now_or_never() {
                self.on_register(&m);
                any = true;
            }
            while let Some(Some(m)) = self.heartbeats.next().now_or_never() {
                self.on_heartbeat(&m);
                any = true;
            }
            while let Some(Some(m)) = self.changed.next().now_or_never() {
                self.on_changed(&m, u64::MAX);
                any = true;
            }
            while let Some(Some(m)) = self.acks.next().now_or_never() {
                self.on_ack(&m, None);
                any = true;
            }
            if !any {
                return;
            }
        }
    }

    fn resource_id(&mut self, name: &str) -> ResourceId {
        let next = self.interned.len() as u64;
        *self.interned.entry(name.to_owned()).or_insert_with(|| {
            // One leak per distinct type name for the life of the process.
            let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
            ResourceId::dynamic("macrokid_net", next, leaked)
        })
    }

    /// The rounds of a tick: the plan's batches of registered systems, by name.
    fn batches(&mut self) -> Result<Vec<Vec<SystemName>>, CoordinatorError> {
        let mut order: Vec<SystemName> = self
            .config
            .systems
            .iter()
            .filter(|s| self.systems.contains_key(*s))
            .cloned()
            .collect();
        for s in self.systems.keys() {
            if !order.contains(s) {
                order.push(s.clone());
            }
        }
        if let Some((planned, batches)) = &self.plan {
            if *planned == order {
                return Ok(batches.clone());
            }
        }
        for s in &self.config.systems {
            if !self.systems.contains_key(s) {
                tracing::warn!(system = %s, "system never registered; it is skipped until an instance registers");
            }
        }
        let mut stage = StageDescriptor::new("tick");
        for s in &order {
            let access = self.systems[s].access.clone();
            let mut a = ResourceAccess::new();
            for r in &access.reads {
                a = a.with_read(self.resource_id(r));
            }
            // Commands apply after the round, so a deferred write conflicts as a write.
            for w in access.writes.iter().chain(&access.deferred) {
                a = a.with_write(self.resource_id(w));
            }
            stage = stage.with_system(SystemDescriptor::new(Cow::Owned(s.as_str().to_owned()), a));
        }
        let plan = Plan::build([stage])?;
        let batches: Vec<Vec<SystemName>> = plan.stages()[0]
            .batches()
            .iter()
            .map(|b| b.systems().iter().map(|&i| order[i].clone()).collect())
            .collect();
        tracing::info!(?batches, "planned");
        self.plan = Some((order, batches.clone()));
        Ok(batches)
    }

    async fn publish_control<M: ControlMessage>(
        &self,
        subject: String,
        msg: &M,
    ) -> Result<(), CoordinatorError> {
        let (headers, body) = encode_control(msg).map_err(|e| nats_err("encode", e))?;
        self.client
            .publish_with_headers(subject, headers, body)
            .await
            .map_err(|e| nats_err("publish", e))
    }

    async fn send_shard(
        &self,
        round: u64,
        system: &SystemName,
        shard: u32,
        to: InstanceId,
        columns: &[Column],
    ) -> Result<(), CoordinatorError> {
        if columns.is_empty() {
            return Ok(());
        }
        let data = Shard {
            tick: round,
            system: system.clone(),
            shard,
            columns: columns.to_vec(),
        };
        let chunks = encode_shard(&data, self.budget).map_err(|e| nats_err("encode", e))?;
        let subject = self.config.subjects.component_set_for(system, to);
        for chunk in chunks {
            self.client
                .publish_with_headers(
                    subject.clone(),
                    crate::codec::chunk_headers(round, Some(to)),
                    chunk,
                )
                .await
                .map_err(|e| nats_err("publish", e))?;
        }
        Ok(())
    }

    /// Builds, assigns and sends the shards of `system` for `round`; `false` when nothing
    /// was sent (no rows, no registration or no live instance).
    async fn send_system(
        &mut self,
        round: u64,
        system: &SystemName,
        report: &mut TickReport,
    ) -> Result<bool, CoordinatorError> {
        let Some(reg) = self.systems.get(system).cloned() else {
            return Ok(false);
        };
        let live = self.tracker.live(system).len();
        let shapes = self.world.table_shapes();
        let accessed = |t: &str| {
            reg.access
                .reads
                .iter()
                .chain(&reg.access.writes)
                .any(|n| n == t)
        };
        let mut resources = Vec::new();
        for name in reg.access.reads.iter().chain(&reg.access.writes) {
            let is_column = shapes
                .iter()
                .any(|s| s.columns.iter().any(|c| c.type_name == name));
            if !is_column {
                if let Ok(Some(bytes)) = self.world.resource_bytes(name) {
                    resources.push(ResourceValue {
                        name: name.clone(),
                        bytes,
                    });
                }
            }
        }
        let since = self.last_runs.get(system).copied();
        let now = self.world.change_tick();
        // Every plain-old-data sparse set with entities travels (a system may filter on one
        // it does not declare); one the system reads or writes must be plain-old-data.
        let mut sparse: Vec<SparseTravel> = Vec::new();
        for shape in self.world.sparse_shapes() {
            let Some(size) = shape.pod_size else {
                if accessed(shape.type_name) {
                    return Err(CoordinatorError::NotPod {
                        system: system.clone(),
                        component: shape.type_name.to_owned(),
                    });
                }
                continue;
            };
            if shape.len > 0 {
                sparse.push(SparseTravel::read(
                    &self.world,
                    &shape,
                    size,
                    accessed(shape.type_name),
                    reg.access.writes.iter().any(|w| w == shape.type_name),
                )?);
            }
        }
        // The system's declared entity filter, on table components (a sparse one is left to
        // the process, which gets every sparse set): a table that lacks a required one or
        // has an excluded one holds no entity the system touches.
        let sparse_names: Vec<&str> = self
            .world
            .sparse_shapes()
            .iter()
            .map(|s| s.type_name)
            .collect();
        let has = |s: &macrokid_ecs::snapshot::TableShape, name: &String| {
            s.columns.iter().any(|c| c.type_name == name)
        };
        let admitted = |s: &macrokid_ecs::snapshot::TableShape| {
            reg.access
                .required
                .iter()
                .all(|n| has(s, n) || sparse_names.contains(&n.as_str()))
                && !reg.access.excluded.iter().any(|n| has(s, n))
        };
        // The shards: per admitted table holding an accessed column or an entity with an
        // accessed sparse component, one contiguous row range per live instance, numbered
        // in table order.
        let tables: Vec<&macrokid_ecs::snapshot::TableShape> = shapes
            .iter()
            .filter(|s| {
                s.rows > 0
                    && admitted(s)
                    && (s.columns.iter().any(|c| accessed(c.type_name))
                        || sparse
                            .iter()
                            .any(|set| set.accessed && set.by_table.contains_key(&s.table)))
            })
            .collect();
        let mut ranges: Vec<(usize, Range<usize>)> = Vec::new();
        for (t, shape) in tables.iter().enumerate() {
            if let Some(c) = shape
                .columns
                .iter()
                .find(|c| accessed(c.type_name) && c.pod_size.is_none())
            {
                return Err(CoordinatorError::NotPod {
                    system: system.clone(),
                    component: c.type_name.to_owned(),
                });
            }
            let k = live.clamp(1, shape.rows);
            let (base, extra) = (shape.rows / k, shape.rows % k);
            let mut start = 0;
            for i in 0..k {
                let end = start + base + usize::from(i < extra);
                ranges.push((t, start..end));
                start = end;
            }
        }
        if ranges.is_empty() {
            return Ok(false);
        }
        let assignment = self.tracker.assign(system, ranges.len() as u32);
        let entry = report.systems.entry(system.clone()).or_default();
        if assignment.is_empty() {
            entry.skipped += ranges.len() as u32;
            return Ok(false);
        }
        self.tracker.open_tick(round, system, &assignment);
        entry.shards += ranges.len() as u32;
        entry.rows += ranges.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
        for &i in &assignment {
            *entry.per_instance.entry(i).or_default() += 1;
            self.pending_acks.insert((system.clone(), i));
        }
        let mut pieces: Vec<ShardPlan> = Vec::with_capacity(ranges.len());
        let mut zero_sized: Vec<String> = Vec::new();
        let mut to_send: Vec<Vec<Column>> = Vec::with_capacity(ranges.len());
        let mut shards = Vec::with_capacity(ranges.len());
        let (mut sent_bytes, mut reused_bytes) = (0u64, 0u64);
        for (t, shape) in tables.iter().enumerate() {
            let columns: Vec<&macrokid_ecs::snapshot::ColumnShape> = shape
                .columns
                .iter()
                .filter(|c| accessed(c.type_name))
                .collect();
            // The presence of the table's other plain-old-data components (the system may
            // filter on them): one small column each, reused like the others.
            let present: Vec<Column> = shape
                .columns
                .iter()
                .filter(|c| !accessed(c.type_name))
                .filter_map(|c| {
                    let size = u32::try_from(c.pod_size?).ok()?;
                    Some(Column::new(
                        format!("{PRESENT_COLUMN_PREFIX}{}", c.name),
                        4,
                        size.to_le_bytes().to_vec(),
                    ))
                })
                .collect::<Result<_, _>>()
                .map_err(|e| nats_err("column", e))?;
            let mut writable = Vec::new();
            for c in &columns {
                let size = c.pod_size.unwrap_or(0);
                if size == 0 && !zero_sized.iter().any(|z| z == c.name) {
                    zero_sized.push(c.name.to_owned());
                }
                if size > 0 && reg.access.writes.iter().any(|w| w == c.type_name) {
                    writable.push(c.name.to_owned());
                }
            }
            writable.extend(
                sparse
                    .iter()
                    .filter(|set| set.written && set.size > 0)
                    .map(|set| set.name.to_owned()),
            );
            let entities = self
                .world
                .table_entities(shape.table)
                .map_err(|e| nats_err("read table", e))?;
            // Per shard of this table and per column (the entity column first): the copy
            // the instance holds when it is still current, else `None` (sent). Current
            // means: the same table, rows and entities, and no row of the column stamped
            // changed after the tick at which the copy matched the world — the row ticks
            // are read, not the column's bytes.
            let mine: Vec<usize> = (0..ranges.len()).filter(|&i| ranges[i].0 == t).collect();
            let mut kept: Vec<Vec<Option<Column>>> = Vec::with_capacity(mine.len());
            for &i in &mine {
                let rows = ranges[i].1.clone();
                let held = self
                    .held
                    .get(&(assignment[i], system.clone(), i as u32))
                    .filter(|h| {
                        self.config.reuse_columns && h.table == shape.table && h.rows == rows
                    })
                    .filter(|h| {
                        h.columns.iter().any(|ids| {
                            ids.component() == ENTITY_COLUMN
                                && ids.element_size() == 8
                                && ids.len() == rows.len()
                                && entities[rows.clone()]
                                    .iter()
                                    .zip(ids.bytes().chunks_exact(8))
                                    .all(|(e, b)| e.to_bits().to_le_bytes() == b)
                        })
                    });
                let mut per_column = Vec::with_capacity(columns.len() + present.len() + 1);
                let held_column = |name: &str| {
                    held.and_then(|h| h.columns.iter().find(|c| c.component() == name).cloned())
                };
                per_column.push(held_column(ENTITY_COLUMN));
                for c in &columns {
                    let size = c.pod_size.unwrap_or(0).max(1) as u32;
                    per_column.push(held.and_then(|h| {
                        let copy = h
                            .columns
                            .iter()
                            .find(|k| k.component() == c.name && k.element_size() == size)?;
                        let changed = self
                            .world
                            .column_changed_since(shape.table, c.name, rows.clone(), h.at)
                            .unwrap_or(true);
                        (!changed).then(|| copy.clone())
                    }));
                }
                // A table's component set never changes: a held presence column is current.
                per_column.extend(present.iter().map(|p| held_column(p.component())));
                kept.push(per_column);
            }
            // One read per column that some shard needs; the shards are slices of it.
            let needed = |col: usize| kept.iter().any(|k| k[col].is_none());
            let ids = needed(0).then(|| {
                let mut ids = bytes::BytesMut::with_capacity(entities.len() * 8);
                for e in entities {
                    ids.extend_from_slice(&e.to_bits().to_le_bytes());
                }
                ids.freeze()
            });
            let mut read: Vec<Option<Bytes>> = Vec::with_capacity(columns.len());
            for (j, c) in columns.iter().enumerate() {
                if !needed(j + 1) {
                    read.push(None);
                    continue;
                }
                let mut bytes = Vec::new();
                let size = self
                    .world
                    .read_pod_column(shape.table, c.name, &mut bytes)
                    .map_err(|e| nats_err("read column", e))?;
                // Tags travel as one zero byte per row.
                read.push(Some(if size == 0 {
                    Bytes::from(vec![0u8; shape.rows])
                } else {
                    Bytes::from(bytes)
                }));
            }
            for (&i, kept) in mine.iter().zip(kept) {
                let rows = ranges[i].1.clone();
                let mut all = Vec::with_capacity(columns.len() + present.len() + 1);
                let mut reused = Vec::new();
                let mut send = Vec::new();
                for (j, copy) in kept.into_iter().enumerate() {
                    let column = match copy {
                        Some(copy) => {
                            reused_bytes += copy.bytes().len() as u64;
                            reused.push(copy.component().to_owned());
                            copy
                        }
                        None if j > columns.len() => {
                            let column = present[j - columns.len() - 1].clone();
                            sent_bytes += column.bytes().len() as u64;
                            send.push(column.clone());
                            column
                        }
                        None => {
                            let (name, size, bytes) = if j == 0 {
                                (ENTITY_COLUMN, 8, ids.as_ref())
                            } else {
                                let c = columns[j - 1];
                                (c.name, c.pod_size.unwrap_or(0).max(1), read[j - 1].as_ref())
                            };
                            let bytes = bytes.expect("read above: a shard needs it");
                            let column = Column::new(
                                name,
                                size as u32,
                                bytes.slice(rows.start * size..rows.end * size),
                            )
                            .map_err(|e| nats_err("column", e))?;
                            sent_bytes += column.bytes().len() as u64;
                            send.push(column.clone());
                            column
                        }
                    };
                    all.push(column);
                }
                // Change flags and sparse sets are never reused: they are small, and the
                // flags differ every round.
                let mut extra = Vec::new();
                if let Some(since) = since {
                    for c in &columns {
                        let changed = self
                            .world
                            .column_changed_since(shape.table, c.name, rows.clone(), since)
                            .map_err(|e| nats_err("read ticks", e))?;
                        if !changed {
                            continue;
                        }
                        let mut flags = Vec::with_capacity(rows.len());
                        self.world
                            .column_change_flags(
                                shape.table,
                                c.name,
                                rows.clone(),
                                since,
                                (FLAG_ADDED, FLAG_CHANGED),
                                &mut flags,
                            )
                            .map_err(|e| nats_err("read ticks", e))?;
                        extra.push(
                            Column::new(
                                format!("{TICKS_COLUMN_PREFIX}{}", c.name),
                                1,
                                compact_flags(&flags).to_vec(),
                            )
                            .map_err(|e| nats_err("column", e))?,
                        );
                    }
                }
                for set in &sparse {
                    if let Some(column) = set.column(shape.table, &rows, since, now)? {
                        extra.push(column);
                    }
                }
                for column in extra {
                    sent_bytes += column.bytes().len() as u64;
                    send.push(column.clone());
                    all.push(column);
                }
                shards.push(ShardAssignment {
                    shard: i as u32,
                    instance_id: assignment[i],
                    rows: rows.len() as u32,
                    reuse_round: (!reused.is_empty())
                        .then(|| {
                            self.held
                                .get(&(assignment[i], system.clone(), i as u32))
                                .map(|h| h.round)
                        })
                        .flatten(),
                    all_reused: send.is_empty(),
                    reused,
                });
                to_send.push(send);
                pieces.push(ShardPlan {
                    table: shape.table,
                    rows,
                    writable: writable.clone(),
                    columns: all,
                });
            }
        }
        let entry = report.systems.entry(system.clone()).or_default();
        entry.sent_bytes += sent_bytes;
        entry.reused_bytes += reused_bytes;
        let extras = RoundExtras {
            resources,
            zero_sized,
            since_last_run: since.is_some(),
        };
        let schedule = extras.schedule(round, system, shards, self.tick);
        self.publish_control(self.config.subjects.schedule(system), &schedule)
            .await?;
        for (i, (send, &to)) in to_send.iter().zip(&assignment).enumerate() {
            self.send_shard(round, system, i as u32, to, send).await?;
        }
        for (i, piece) in pieces.into_iter().enumerate() {
            self.shard_plans.insert((system.clone(), i as u32), piece);
        }
        self.round_extras.insert(system.clone(), extras);
        Ok(true)
    }

    /// Puts back the previous run of each system of the round just finished whose every
    /// shard was skipped for lack of a live instance (`before`: per system of the round,
    /// its previous run before the round): it did not run, so the changes of this round
    /// stay new to its next run, as for a system a local schedule did not run. A system
    /// with some shards merged counts as run (its skipped rows miss the changes).
    fn keep_last_runs_of_skipped(&mut self, before: &[(SystemName, Option<Tick>)]) {
        let Some((_, report)) = self.current.as_ref() else {
            return;
        };
        for (system, previous) in before {
            let skipped = report
                .systems
                .get(system)
                .is_some_and(|r| r.skipped > 0 && r.skipped >= r.shards);
            if !skipped {
                continue;
            }
            match previous {
                Some(tick) => self.last_runs.insert(system.clone(), *tick),
                None => self.last_runs.remove(system),
            };
        }
    }

    /// Sends every shard of `system` that `instance` owns in `round` again, in full (no
    /// reused columns), after the instance reported that it lacked the reused ones.
    async fn resend_full(
        &mut self,
        round: u64,
        system: &SystemName,
        instance: InstanceId,
    ) -> Result<(), CoordinatorError> {
        let owned = self.tracker.owned(round, system, instance);
        if owned.is_empty() {
            return Ok(());
        }
        let extras = self.round_extras.get(system).cloned().unwrap_or_default();
        let mut shards = Vec::new();
        let mut sends = Vec::new();
        for shard in owned {
            let Some(plan) = self.shard_plans.get(&(system.clone(), shard)) else {
                continue;
            };
            shards.push(ShardAssignment {
                shard,
                instance_id: instance,
                rows: plan.rows.len() as u32,
                reuse_round: None,
                reused: Vec::new(),
                all_reused: false,
            });
            sends.push((shard, plan.columns.clone()));
        }
        let schedule = extras.schedule(round, system, shards, self.tick);
        self.publish_control(self.config.subjects.schedule(system), &schedule)
            .await?;
        for (shard, columns) in sends {
            self.send_shard(round, system, shard, instance, &columns)
                .await?;
        }
        self.client.flush().await.map_err(|e| nats_err("flush", e))
    }

    /// Runs one tick (see the module docs); with a fixed rate, first waits for its time.
    ///
    /// # Errors
    /// [`CoordinatorError::Nats`] when publishing fails, [`CoordinatorError::NotPod`] when
    /// a system accesses a component that cannot travel, [`CoordinatorError::Plan`].
    pub async fn tick(&mut self) -> Result<TickReport, CoordinatorError> {
        if let Some(at) = self.next_tick_at {
            // Waiting for the tick's time, the coordinator answers queries.
            self.pump_until(at.into(), None).await;
        }
        if self.connection_lost_since(self.seen_disconnects) {
            // Instances silent only because the server was away are not swept as dead.
            self.await_reconnection(None).await;
        }
        let started = Instant::now();
        self.next_tick_at = self.config.tick_period.map(|p| started + p);
        for command in std::mem::take(&mut self.commands) {
            command(&mut self.world);
        }
        self.drain_ready();
        self.answer_ready_queries().await;
        let deaths_before = self.tracker.counters().deaths;
        let reroutes_before = self.tracker.counters().reroutes;
        let retried_before = self.retried_shards;
        self.tracker.sweep(Instant::now());
        let start = TickStart {
            tick_id: self.tick,
            dt_seconds: self.config.dt_seconds,
        };
        self.publish_control(self.config.subjects.tick_start(), &start)
            .await?;
        let batches = self.batches()?;
        self.current = Some((
            self.round + 1,
            TickReport {
                tick: self.tick,
                ..TickReport::default()
            },
        ));
        for batch in batches {
            self.round += 1;
            let mut round = self.round;
            self.shard_plans.clear();
            self.round_extras.clear();
            self.pending_acks.clear();
            self.round_commands.clear();
            let mut report = self.current.take().map(|c| c.1).unwrap_or_default();
            let mut any = false;
            let sending = Instant::now();
            // Each system's previous run before this round, restored if it does not run.
            let mut before: Vec<(SystemName, Option<Tick>)> = Vec::with_capacity(batch.len());
            for system in &batch {
                any |= self.send_system(round, system, &mut report).await?;
                // Its results merge at this change tick (stepped after the round).
                before.push((
                    system.clone(),
                    self.last_runs
                        .insert(system.clone(), self.world.change_tick()),
                ));
            }
            report.send_time += sending.elapsed();
            self.current = Some((round, report));
            if !any {
                self.keep_last_runs_of_skipped(&before);
                continue;
            }
            self.client
                .flush()
                .await
                .map_err(|e| nats_err("flush", e))?;
            let mut epoch = self.seen_disconnects;
            loop {
                let until = tokio::time::Instant::now() + self.config.deadline;
                self.pump_until(until, Some(round)).await;
                if self.tracker.all_delivered(round) {
                    break;
                }
                if self.connection_lost_since(epoch) {
                    // Lost to a server outage, not missed: send again, judge nobody.
                    round = self.retry_round(round).await?;
                    epoch = self.seen_disconnects;
                    continue;
                }
                let outcome = self.tracker.deadline(round, Instant::now());
                for dead in &outcome.newly_dead {
                    self.pending_acks.retain(|(_, i)| i != dead);
                    // It comes back only by registering, holding nothing by then.
                    self.held.retain(|(i, _, _), _| i != dead);
                }
                for r in &outcome.reroutes {
                    self.pending_acks.remove(&(r.system.clone(), r.from));
                    self.pending_acks.insert((r.system.clone(), r.to));
                    tracing::warn!(system = %r.system, shard = r.shard, from = %r.from, to = %r.to, "shard re-routed");
                    let Some(plan) = self.shard_plans.get(&(r.system.clone(), r.shard)).cloned()
                    else {
                        continue;
                    };
                    let extras = self
                        .round_extras
                        .get(&r.system)
                        .cloned()
                        .unwrap_or_default();
                    let shards = vec![ShardAssignment {
                        shard: r.shard,
                        instance_id: r.to,
                        rows: plan.rows.len() as u32,
                        reuse_round: None,
                        reused: Vec::new(),
                        all_reused: false,
                    }];
                    let schedule = extras.schedule(round, &r.system, shards, self.tick);
                    self.publish_control(self.config.subjects.schedule(&r.system), &schedule)
                        .await?;
                    self.send_shard(round, &r.system, r.shard, r.to, &plan.columns)
                        .await?;
                    if let Some((_, report)) = self.current.as_mut() {
                        let sys = report.systems.entry(r.system.clone()).or_default();
                        if let Some(n) = sys.per_instance.get_mut(&r.from) {
                            *n = n.saturating_sub(1);
                        }
                        *sys.per_instance.entry(r.to).or_default() += 1;
                    }
                }
                for (system, _) in &outcome.skipped {
                    self.pending_acks.retain(|(s, _)| s != system);
                    if let Some((_, report)) = self.current.as_mut() {
                        report.systems.entry(system.clone()).or_default().skipped += 1;
                    }
                }
                if outcome.finished {
                    break;
                }
                self.client
                    .flush()
                    .await
                    .map_err(|e| nats_err("flush", e))?;
            }
            self.keep_last_runs_of_skipped(&before);
            // Held copies of this round's merges were taken at the current
            // change tick: the round's commands (an insert may overwrite a value
            // in place) and every later write (the next round's merges, queued
            // commands, `world_mut`) must be stamped after it.
            self.world.step_change_tick();
            let (created, destroyed) = self.apply_remote_commands(&batch);
            // Held copies with a destroyed entity need no scan (see "Remote commands").
            if !created.is_empty() || !destroyed.is_empty() {
                self.broadcast_entities(&created, &destroyed).await?;
            }
            if let Some((_, report)) = self.current.as_mut() {
                report.rounds += 1;
                report.created += created.len() as u32;
                report.destroyed += destroyed.len() as u32;
            }
        }
        self.tick += 1;
        let mut report = self.current.take().map(|c| c.1).unwrap_or_default();
        report.deaths = (self.tracker.counters().deaths - deaths_before) as u32;
        report.reroutes = (self.tracker.counters().reroutes - reroutes_before) as u32;
        report.duration = started.elapsed();
        report.retried_shards = (self.retried_shards - retried_before) as u32;
        self.snapshot_after_tick(&mut report).await;
        self.last_report = Some(report.clone());
        Ok(report)
    }
}

/// Counts of the commands remote systems sent ([`Coordinator::command_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandCounts {
    /// Commands applied to the world.
    pub applied: u64,
    /// Commands that did not apply (a stale entity, a missing or unregistered component,
    /// a value of the wrong size, a spawn index out of range); each is logged.
    pub failed: u64,
    /// Command payloads dropped because they did not decode (counted in
    /// [`Coordinator::drops`] as malformed too).
    pub malformed_payloads: u64,
}

impl Coordinator {
    /// What became of the commands remote systems sent.
    pub fn command_counts(&self) -> CommandCounts {
        self.command_counts
    }

    /// Applies the commands of the round just merged: system by system in `batch` order
    /// (declaration order), each system's shards in shard order. First every spawn of the
    /// system gets its id, in that order — as a local run reserves ids while the system
    /// runs, before any of its commands apply — then the commands apply in that order.
    ///
    /// Returns the entities the commands created (alive after them) and destroyed, for
    /// the `entity.create` / `entity.destroy` broadcasts.
    fn apply_remote_commands(
        &mut self,
        batch: &[SystemName],
    ) -> (Vec<macrokid_ecs::Entity>, Vec<macrokid_ecs::Entity>) {
        let mut created = Vec::new();
        let mut destroyed = Vec::new();
        if self.round_commands.is_empty() {
            return (created, destroyed);
        }
        let mut pending = std::mem::take(&mut self.round_commands);
        for system in batch {
            let keys: Vec<(SystemName, u32)> = pending
                .keys()
                .filter(|(s, _)| s == system)
                .cloned()
                .collect();
            let lists: Vec<Vec<RemoteCommand>> =
                keys.iter().filter_map(|k| pending.remove(k)).collect();
            let spawned: Vec<Vec<macrokid_ecs::Entity>> = lists
                .iter()
                .map(|commands| {
                    commands
                        .iter()
                        .filter(|c| matches!(c, RemoteCommand::Spawn))
                        .map(|_| self.world.spawn(()))
                        .collect()
                })
                .collect();
            for (commands, ids) in lists.iter().zip(&spawned) {
                for command in commands {
                    let resolve = |r: &EntityRef| match *r {
                        EntityRef::Existing(bits) => Ok(macrokid_ecs::Entity::from_bits(bits)),
                        EntityRef::Spawned(n) => ids.get(n as usize).copied().ok_or_else(|| {
                            format!("spawn {n} of {} in this shard's commands", ids.len())
                        }),
                    };
                    let result = match command {
                        RemoteCommand::Spawn => Ok(()),
                        RemoteCommand::Despawn(e) => resolve(e).and_then(|e| {
                            self.world.despawn(e).map_err(|e| e.to_string())?;
                            destroyed.push(e);
                            Ok(())
                        }),
                        RemoteCommand::Insert {
                            entity,
                            component,
                            value,
                        } => resolve(entity).and_then(|e| {
                            self.world
                                .insert_encoded(e, component, value)
                                .map_err(|e| e.to_string())
                        }),
                        RemoteCommand::Remove { entity, component } => {
                            resolve(entity).and_then(|e| {
                                self.world
                                    .remove_encoded(e, component)
                                    .map_err(|e| e.to_string())
                            })
                        }
                    };
                    match result {
                        Ok(()) => self.command_counts.applied += 1,
                        Err(error) => {
                            self.command_counts.failed += 1;
                            tracing::warn!(%system, ?command, %error, "a remote command did not apply");
                        }
                    }
                }
            }
            created.extend(spawned.into_iter().flatten());
        }
        created.retain(|&e| self.world.contains(e));
        (created, destroyed)
    }

    /// Publishes one [`EntityCreated`] per created entity (with its components' registered
    /// names) and one [`EntityDestroyed`] per destroyed one.
    async fn broadcast_entities(
        &mut self,
        created: &[macrokid_ecs::Entity],
        destroyed: &[macrokid_ecs::Entity],
    ) -> Result<(), CoordinatorError> {
        for &e in created {
            let archetype = self
                .world
                .component_names(e)
                .map(|names| names.into_iter().map(str::to_owned).collect())
                .unwrap_or_default();
            let msg = EntityCreated {
                entity: e.to_bits(),
                archetype,
            };
            self.publish_control(self.config.subjects.entity_create(), &msg)
                .await?;
        }
        for &e in destroyed {
            let msg = EntityDestroyed {
                entity: e.to_bits(),
            };
            self.publish_control(self.config.subjects.entity_destroy(), &msg)
                .await?;
        }
        Ok(())
    }
}

/// The first round id of a coordinator: the wall clock in microseconds since the Unix
/// epoch. System processes drop chunks of rounds older than the newest they ran, so a
/// coordinator that replaces another (a restart, [`Coordinator::resume`]) must number
/// its rounds above its predecessor's; one that issues fewer than one round per
/// microsecond always stays below the clock, so its successor starts above it.
fn first_round() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

/// Whether ticks `t` were stamped added or changed after `since`, seen from `now`, as
/// [`FLAG_ADDED`] and [`FLAG_CHANGED`] bits.
#[inline]
fn change_flags(t: macrokid_ecs::change::ComponentTicks, since: Tick, now: Tick) -> u8 {
    let mut flags = 0;
    if t.added.is_newer_than(since, now) {
        flags |= FLAG_ADDED;
    }
    if t.changed.is_newer_than(since, now) {
        flags |= FLAG_CHANGED;
    }
    flags
}

/// A sparse set of the world as one system's shards of a round carry it.
struct SparseTravel {
    /// The registered name.
    name: &'static str,
    /// Bytes per value (0 for a zero-sized type).
    size: usize,
    /// The system reads or writes it (its entities' tables are sharded).
    accessed: bool,
    /// The system writes it.
    written: bool,
    /// Per table: (row, index into `members`), by row.
    by_table: HashMap<usize, Vec<(usize, usize)>>,
    members: Vec<macrokid_ecs::SparseMember>,
    /// The values, `size` bytes per member.
    values: Vec<u8>,
}

impl SparseTravel {
    fn read(
        world: &World,
        shape: &macrokid_ecs::SparseShape,
        size: usize,
        accessed: bool,
        written: bool,
    ) -> Result<Self, CoordinatorError> {
        let mut values = Vec::new();
        let members = world
            .read_sparse_column(shape.name, &mut values)
            .map_err(|e| nats_err("read sparse set", e))?;
        let mut by_table: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (i, m) in members.iter().enumerate() {
            by_table.entry(m.table).or_default().push((m.row, i));
        }
        for rows in by_table.values_mut() {
            rows.sort_unstable();
        }
        Ok(Self {
            name: shape.name,
            size,
            accessed,
            written,
            by_table,
            members,
            values,
        })
    }

    /// The [`SPARSE_COLUMN_PREFIX`] column of the shard of `rows` of `table`; `None` when
    /// no entity of the shard has the component. Flags only with `since`.
    fn column(
        &self,
        table: usize,
        rows: &Range<usize>,
        since: Option<Tick>,
        now: Tick,
    ) -> Result<Option<Column>, CoordinatorError> {
        let Some(in_table) = self.by_table.get(&table) else {
            return Ok(None);
        };
        let first = in_table.partition_point(|&(row, _)| row < rows.start);
        let last = in_table.partition_point(|&(row, _)| row < rows.end);
        if first == last {
            return Ok(None);
        }
        let element = 5 + self.size;
        let mut bytes = Vec::with_capacity((last - first) * element);
        for &(row, i) in &in_table[first..last] {
            bytes.extend_from_slice(&((row - rows.start) as u32).to_le_bytes());
            bytes.push(since.map_or(0, |since| change_flags(self.members[i].ticks, since, now)));
            bytes.extend_from_slice(&self.values[i * self.size..(i + 1) * self.size]);
        }
        Column::new(
            format!("{SPARSE_COLUMN_PREFIX}{}", self.name),
            element as u32,
            bytes,
        )
        .map(Some)
        .map_err(|e| nats_err("column", e))
    }
}

/// Writes result column `column` into the shard's rows: only the rows whose flags in
/// `changed` (a [`TICKS_COLUMN_PREFIX`] result column) have [`FLAG_CHANGED`], in runs of
/// consecutive rows, or every row when the result names none.
fn write_changed_rows(
    world: &mut World,
    plan: &ShardPlan,
    column: &Column,
    changed: Option<&[u8]>,
) -> Result<(), String> {
    let Some(flags) = changed else {
        return world
            .write_pod_column(
                plan.table,
                column.component(),
                plan.rows.start,
                column.bytes(),
            )
            .map_err(|e| e.to_string());
    };
    let size = column.element_size() as usize;
    let rows = column.len();
    if flags.len() != rows && flags.len() != 1 {
        return Err(format!(
            "{} change flags for {} rows of {}",
            flags.len(),
            rows,
            column.component()
        ));
    }
    if flags.len() == 1 {
        // One byte for every row: all written or none.
        if flags[0] & FLAG_CHANGED == 0 {
            return Ok(());
        }
        return world
            .write_pod_column(
                plan.table,
                column.component(),
                plan.rows.start,
                column.bytes(),
            )
            .map_err(|e| e.to_string());
    }
    let changed = |row: usize| flags[row] & FLAG_CHANGED != 0;
    let mut row = 0;
    while row < rows {
        if !changed(row) {
            row += 1;
            continue;
        }
        let end = (row..rows).find(|&r| !changed(r)).unwrap_or(rows);
        world
            .write_pod_column(
                plan.table,
                column.component(),
                plan.rows.start + row,
                &column.bytes()[row * size..end * size],
            )
            .map_err(|e| e.to_string())?;
        row = end;
    }
    Ok(())
}

/// Overwrites the sparse component `name` of the shard's entities that a
/// [`SPARSE_COLUMN_PREFIX`] result column names as changed, stamped changed (an entity
/// that lost the component since is left alone).
fn merge_sparse(
    world: &mut World,
    plan: &ShardPlan,
    name: &str,
    column: &Column,
) -> Result<(), String> {
    let size = column.element_size() as usize;
    if size < 5 {
        return Err(format!("sparse column {name} of {size}-byte elements"));
    }
    let entities = world
        .table_entities(plan.table)
        .map_err(|e| e.to_string())?
        .get(plan.rows.clone())
        .ok_or_else(|| format!("shard rows {:?} past the table", plan.rows))?
        .to_vec();
    for element in column.bytes().chunks_exact(size) {
        let row = u32::from_le_bytes(element[..4].try_into().expect("4 bytes")) as usize;
        let &entity = entities
            .get(row)
            .ok_or_else(|| format!("sparse row {row} of a shard of {}", entities.len()))?;
        if element[4] & FLAG_CHANGED == 0 || !world.contains(entity) {
            continue;
        }
        let mut value = Vec::new();
        if !world
            .encode_component(entity, name, &mut value)
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        world
            .insert_encoded(entity, name, &element[5..])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
