//! A system as a process: [`run_system`] turns any `#[derive(System)]` + [`Run`] system
//! into a NATS client that registers, heartbeats, receives its shards, runs the unchanged
//! system code on them and publishes the changed columns (seed 003, "System Process").
//!
//! Per job (one [`SystemSchedule`] naming this instance):
//!
//! 1. the shards' columns arrive on `P.component.set.<system>.<instance>` as chunks and are
//!    reassembled; the columns the schedule marks as reused
//!    ([`crate::protocol::ShardAssignment::reused`]) are taken from this process's copy of
//!    its last job (inputs, with the written columns replaced by the results it sent); a
//!    job whose copy is missing or of another round is not run but answered with
//!    [`TickAck::missing`], and the coordinator sends it again in full;
//! 2. the shards are grouped by component set (presence columns included) into tables
//!    of a local [`World`] (entities keep their ids,
//!    [`World::from_columns`]), with the shards' sparse
//!    sets ([`SPARSE_COLUMN_PREFIX`]) in sparse-set storage; when the tables
//!    and sparse sets hold the same entities as in the previous job (the steady state), the
//!    values are only overwritten in place;
//! 3. the resources the schedule carries are set, the rows are stamped added or changed
//!    as the shards' change flags say ([`TICKS_COLUMN_PREFIX`]) and the system's previous
//!    run is set before them ([`World::set_system_last_run`]; none on a first run), so
//!    `Changed`/`Added` filters see what a local run sees; the system runs once over all
//!    the job's shards ([`World::run_system`]);
//! 4. for each shard, the columns of the components the system writes go back on
//!    `P.component.changed.<system>` with change flags naming the rows the run changed,
//!    and the written sparse values the run changed (the entity column only when no
//!    table column is written: the coordinator knows the shard's rows), then a
//!    [`TickAck`].
//!
//! A process need not act on `P.entity.destroy`: the coordinator never asks to reuse a
//! copy whose entities are not the world's now (a destroyed entity is in no table), so
//! no schedule reuses a copy that held one; the copy is replaced by the next job on that
//! shard number. (Acting on the broadcast would race with jobs scheduled before it and
//! still queued.)
//!
//! The process registers again when it sees [`REREGISTER_AFTER`] tick starts without a job
//! (a coordinator that declared it dead takes it back only on registration,
//! [`crate::liveness`]). Malformed, wrong-version or foreign messages are counted in
//! [`SystemProcess::drops`] and dropped.
//!
//! A system that may record commands (it declares `spawns`, `despawns`, `inserts` or
//! `removes`) runs differently: once per shard, in shard order, each time on a fresh
//! world holding only that shard, with [`World::record_commands`] on. Its result shard
//! carries the written columns as the system left them (before its commands moved rows)
//! and a [`COMMANDS_COLUMN`] with the applied commands in recording order
//! ([`RemoteCommand`]: spawns as a spawn plus an insert per component the new entity has
//! after the run, values as snapshot row bytes of the registry's names; ids it spawned as
//! [`EntityRef::Spawned`]). Per shard, so the coordinator can apply all shards' commands
//! in shard order whatever instance ran them ([`crate::coordinator`], "Remote
//! commands"); exact for a system that records while iterating one query, as a local run
//! records in table and row order. Such a system sees only its shard's rows per run (with
//! the shard's sparse sets and change ticks, as above); its inserts and removes of sparse
//! components travel as commands too. Any other system whose run changes the local
//! tables' structure fails the job (the coordinator re-routes it).
//!
//! A table component the system neither reads nor writes arrives as a *presence* column
//! ([`PRESENT_COLUMN_PREFIX`]): the local rows get it zero-filled (when this process's
//! registry has it as plain-old-data of the same size), so `With`, `Without` and `Has` on
//! it, and a declared `with(..)` / `without(..)`, select what a local run selects; the
//! system cannot read the zeros (that needs a declared read).
//!
//! Limits: resource writes stay local. A serde-registered sparse component does not
//! travel (one the system reads or writes is an error on the coordinator,
//! [`crate::coordinator::CoordinatorError::NotPod`]; a filter on one it does not declare
//! sees no entity with it), nor does the presence of a serde-registered or unregistered
//! table component the system does not access (a `With<T>` filter on one sees none, a
//! `Without<T>` every row). Splitting a
//! system over several instances is right for systems whose effect on an entity depends
//! on that entity's row and the resources only (every `for` over a query is); a system
//! that looks across entities should run as one instance.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Client;
use futures_util::StreamExt;
use macrokid_ecs::change::ComponentTicks;
use macrokid_ecs::snapshot::{SparseColumns, TableColumns, TableShape};
use macrokid_ecs::{Run, SnapshotRegistry, Tick, World};

use crate::codec::{
    chunk_budget, chunk_headers, decode_control, encode_control, encode_shard, Column,
    DropCounters, DropReason, Reassembler, Shard,
};
use crate::protocol::{compact_flags, flag_at, is_table_column};
use crate::protocol::{
    encode_commands, AccessDescriptor, ControlMessage, EntityRef, Heartbeat, InstanceId, NameError,
    RemoteCommand, ResourceValue, Subjects, SystemName, SystemRegister, SystemSchedule, TickAck,
    TickStart, COMMANDS_COLUMN, ENTITY_COLUMN, FLAG_ADDED, FLAG_CHANGED, PRESENT_COLUMN_PREFIX,
    SPARSE_COLUMN_PREFIX, TICKS_COLUMN_PREFIX,
};

/// Tick starts without a job after which a process registers again.
pub const REREGISTER_AFTER: u32 = 3;

/// Heartbeats between repeated registrations while no job has arrived.
pub const REGISTER_EVERY: u64 = 3;

/// Largest shard a process accepts, in bytes of column data.
const MAX_SHARD_BYTES: u64 = 1 << 31;

/// How a system process connects and behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SystemProcessConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The cluster's subjects.
    pub subjects: Subjects,
    /// The component and resource types of the cluster, by name (the same registration as
    /// the coordinator's world); the columns the system touches must be plain-old-data.
    pub registry: SnapshotRegistry,
    /// This process's id ([`InstanceId::random`] by default).
    pub instance_id: InstanceId,
    /// How often to send a heartbeat (default 100 ms).
    pub heartbeat_interval: Duration,
    /// Login, when the server requires one ([`crate::security`]).
    pub credentials: Option<crate::security::Credentials>,
}

impl SystemProcessConfig {
    /// A process for the cluster at `url` under `subjects` with `registry`.
    pub fn new(url: impl Into<String>, subjects: Subjects, registry: SnapshotRegistry) -> Self {
        Self {
            url: url.into(),
            subjects,
            registry,
            instance_id: InstanceId::random(),
            heartbeat_interval: Duration::from_millis(100),
            credentials: None,
        }
    }

    /// Sets [`SystemProcessConfig::instance_id`].
    #[must_use]
    pub fn instance_id(mut self, id: InstanceId) -> Self {
        self.instance_id = id;
        self
    }

    /// Sets [`SystemProcessConfig::heartbeat_interval`].
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`SystemProcessConfig::credentials`].
    #[must_use]
    pub fn credentials(mut self, credentials: crate::security::Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// Why a system process stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemProcessError {
    /// The system's name is not a valid subject token.
    #[error("system name: {0}")]
    Name(#[from] NameError),
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
    /// Building the tokio runtime failed.
    #[error("could not start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

fn nats_err(what: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> SystemProcessError {
    move |e| SystemProcessError::Nats {
        what,
        message: e.to_string(),
    }
}

/// The access descriptor of system type `S`: the type names it reads, writes and changes
/// through commands, and its entity filter.
pub fn access_of<S: macrokid_core::System>() -> AccessDescriptor {
    let access = S::access();
    let names = |ids: &[macrokid_core::ResourceId]| {
        let mut names: Vec<String> = ids.iter().map(|r| r.name().to_owned()).collect();
        names.sort();
        names.dedup();
        names
    };
    AccessDescriptor {
        reads: names(access.reads()),
        writes: names(access.writes()),
        deferred: names(access.deferred_writes()),
        required: names(access.required()),
        excluded: names(access.excluded()),
    }
}

/// Counters a running process shares with its caller.
#[derive(Debug, Default)]
pub struct SystemProcess {
    drops: Arc<DropCounters>,
    jobs: AtomicU64,
    failed_jobs: AtomicU64,
    rebuilds: AtomicU64,
    table_refreshes: AtomicU64,
}

impl SystemProcess {
    /// Messages dropped, by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Jobs run and published.
    pub fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Relaxed)
    }

    /// Jobs whose results were not published (the system failed or changed the tables).
    pub fn failed_jobs(&self) -> u64 {
        self.failed_jobs.load(Ordering::Relaxed)
    }

    /// Times the local world was rebuilt: the first job, and a job whose tables (component
    /// sets) or sparse sets differ from the world's; for a system that records commands
    /// (run shard by shard), each shard whose table the kept world lacks or that has
    /// sparse sets.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// Tables of the local world whose rows were replaced (the others kept) because the
    /// job's entities in them changed, summed over jobs: what a job costs instead of a
    /// rebuild when only some tables' rows changed.
    pub fn table_refreshes(&self) -> u64 {
        self.table_refreshes.load(Ordering::Relaxed)
    }
}

/// Runs system `S` (made with `Default`) as a process of the cluster until the connection
/// closes or the process is killed, on a runtime of its own. See [`run_system_until`].
///
/// # Errors
/// [`SystemProcessError`] when the runtime, the connection or a subscription fails.
pub fn run_system<S: Run + Default>(config: SystemProcessConfig) -> Result<(), SystemProcessError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_system_until(
        S::default(),
        config,
        std::future::pending(),
        Arc::default(),
    ))
}

/// One shard as the job received it.
struct Received {
    shard: Shard,
}

/// The layout of the local world: per table, its entities and column names.
struct Layout {
    tables: Vec<(Vec<u64>, Vec<String>, Vec<Present>)>,
    /// Per sparse set: its name and entities.
    sparse: Vec<(String, Vec<u64>)>,
    /// The round and shard numbers of the last job run on the world: their columns are
    /// what the world holds (inputs, with the written columns as the system left them).
    last_job: Option<(u64, Vec<u32>)>,
}

/// Runs `system` as a process of the cluster until `stop` completes (then it returns
/// `Ok`) or the connection closes; counters go to `stats`.
///
/// # Errors
/// [`SystemProcessError`] when the connection or a subscription fails.
pub async fn run_system_until<S: Run>(
    mut system: S,
    config: SystemProcessConfig,
    stop: impl Future<Output = ()>,
    stats: Arc<SystemProcess>,
) -> Result<(), SystemProcessError> {
    let name = SystemName::new(S::name())?;
    let subjects = config.subjects.clone();
    let me = config.instance_id;
    let client = crate::connection::ConnectionWatch::new()
        .connect_options(config.credentials.as_ref())
        .connect(&config.url)
        .await
        .map_err(|e| SystemProcessError::Connect {
            url: config.url.clone(),
            message: e.to_string(),
        })?;
    let budget = chunk_budget(client.server_info().max_payload);
    let mut ticks = client
        .subscribe(subjects.tick_start())
        .await
        .map_err(|e| nats_err("subscribe")(&e))?;
    let mut schedules = client
        .subscribe(subjects.schedule(&name))
        .await
        .map_err(|e| nats_err("subscribe")(&e))?;
    let mut sets = client
        .subscribe(subjects.component_set_for(&name, me))
        .await
        .map_err(|e| nats_err("subscribe")(&e))?;

    let register = SystemRegister {
        system: name.clone(),
        access: access_of::<S>(),
        instance_id: me,
    };
    publish(&client, subjects.register(&name), &register).await?;
    client.flush().await.map_err(|e| nats_err("flush")(&e))?;
    tracing::info!(system = %name, instance = %me, "system process registered");

    let busy_micros = Arc::new(AtomicU64::new(0));
    let scheduled = Arc::new(AtomicBool::new(false));
    let job_count = Arc::new(AtomicU64::new(0));
    let heartbeat = tokio::spawn(heartbeats(
        client.clone(),
        subjects.clone(),
        register.clone(),
        config.heartbeat_interval,
        busy_micros.clone(),
        scheduled.clone(),
        job_count.clone(),
    ));

    let mut reassembler = Reassembler::new(MAX_SHARD_BYTES, stats.drops.clone());
    let mut received: BTreeMap<(u64, u32), Received> = BTreeMap::new();
    let mut jobs: Vec<SystemSchedule> = Vec::new();
    let mut local: Option<(Layout, World)> = None;
    let mut scratch: Option<ShardWorld> = None;
    // The columns of the shards of the last job run: (round, shard → columns).
    let mut held: Option<(u64, HashMap<u32, Vec<Column>>)> = None;
    let mut unscheduled = 0u32;
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            msg = ticks.next() => {
                let Some(msg) = msg else { break Err(nats_err("subscription")(&"closed")) };
                if decode_control::<TickStart>(msg.headers.as_ref(), &msg.payload, &stats.drops).is_ok() {
                    unscheduled += 1;
                    if unscheduled >= REREGISTER_AFTER {
                        unscheduled = 0;
                        tracing::info!(system = %name, instance = %me, "not scheduled for a while; registering again");
                        scheduled.store(false, Ordering::Relaxed);
                        publish(&client, subjects.register(&name), &register).await?;
                    }
                }
            }
            msg = schedules.next() => {
                let Some(msg) = msg else { break Err(nats_err("subscription")(&"closed")) };
                let Ok(schedule) = decode_control::<SystemSchedule>(msg.headers.as_ref(), &msg.payload, &stats.drops) else {
                    continue;
                };
                if schedule.system != name {
                    stats.drops.record(DropReason::WrongType);
                    continue;
                }
                let mine: Vec<_> = schedule.shards.iter().filter(|s| s.instance_id == me).cloned().collect();
                if mine.is_empty() {
                    continue;
                }
                unscheduled = 0;
                scheduled.store(true, Ordering::Relaxed);
                job_count.fetch_add(1, Ordering::Relaxed);
                jobs.push(SystemSchedule { shards: mine, ..schedule });
            }
            msg = sets.next() => {
                let Some(msg) = msg else { break Err(nats_err("subscription")(&"closed")) };
                if let Some(shard) = reassembler.push_bytes(&msg.payload) {
                    if shard.system != name {
                        stats.drops.record(DropReason::WrongType);
                        continue;
                    }
                    received.insert((shard.tick, shard.shard), Received { shard });
                }
            }
        }
        // Run every job whose shards are all in, oldest first.
        while let Some(index) = jobs.iter().position(|j| {
            j.shards
                .iter()
                .all(|s| s.all_reused || received.contains_key(&(j.tick_id, s.shard)))
        }) {
            let job = jobs.remove(index);
            let round = job.tick_id;
            // Older rounds are over for this process: their leftovers are dropped.
            jobs.retain(|j| j.tick_id >= round);
            received.retain(|k, _| k.0 >= round);
            reassembler.evict_before(round);
            let (shards, missing) = complete_shards(&job, &name, &mut received, held.as_ref());
            if !missing.is_empty() {
                // The coordinator sends these shards again in full under the same round.
                for s in &job.shards {
                    reassembler.forget(round, &name, s.shard);
                }
                held = None;
                tracing::debug!(system = %name, round, ?missing, "reused columns not held; asking for the shards in full");
                let ack = TickAck {
                    tick_id: round,
                    instance_id: me,
                    system: name.clone(),
                    shards: Vec::new(),
                    run_micros: 0,
                    missing,
                };
                publish(&client, subjects.tick_ack(&name), &ack).await?;
                client.flush().await.map_err(|e| nats_err("flush")(&e))?;
                continue;
            }
            let started = Instant::now();
            let outcome = run_job(
                &mut system,
                &config.registry,
                &mut local,
                &mut scratch,
                &job,
                &shards,
                &stats,
            );
            let micros = started.elapsed().as_micros() as u64;
            busy_micros.fetch_add(micros, Ordering::Relaxed);
            match outcome {
                Ok(results) => {
                    let mut done = Vec::with_capacity(results.len());
                    let mut kept = match held.take() {
                        Some((r, map)) if r == round => map,
                        _ => HashMap::new(),
                    };
                    for shard in &results {
                        let chunks = match encode_shard(shard, budget) {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::error!(system = %name, error = %e, "cannot encode a result shard");
                                continue;
                            }
                        };
                        for chunk in chunks {
                            client
                                .publish_with_headers(
                                    subjects.component_changed(&name),
                                    chunk_headers(round, Some(me)),
                                    chunk,
                                )
                                .await
                                .map_err(|e| nats_err("publish")(&e))?;
                        }
                        done.push(shard.shard);
                        if let Some(input) = shards.iter().find(|s| s.shard == shard.shard) {
                            let mut columns = input.columns.clone();
                            for out in &shard.columns {
                                if let Some(c) = columns
                                    .iter_mut()
                                    .find(|c| c.component() == out.component())
                                {
                                    *c = out.clone();
                                }
                            }
                            kept.insert(shard.shard, columns);
                        }
                    }
                    held = Some((round, kept));
                    let ack = TickAck {
                        tick_id: round,
                        instance_id: me,
                        system: name.clone(),
                        shards: done,
                        run_micros: micros,
                        missing: Vec::new(),
                    };
                    // Counted before the ack: a coordinator done with the round may
                    // stop the process before the count would come after it.
                    stats.jobs.fetch_add(1, Ordering::Relaxed);
                    publish(&client, subjects.tick_ack(&name), &ack).await?;
                    client.flush().await.map_err(|e| nats_err("flush")(&e))?;
                }
                Err(message) => {
                    held = None;
                    stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(system = %name, round, %message, "job failed; its results are not sent");
                }
            }
        }
    };
    heartbeat.abort();
    result
}

/// The job's shards with the columns it reuses filled in from `held`, and the shard
/// numbers it cannot complete (the held copy is of another round or lacks a column).
fn complete_shards(
    job: &SystemSchedule,
    name: &SystemName,
    received: &mut BTreeMap<(u64, u32), Received>,
    held: Option<&(u64, HashMap<u32, Vec<Column>>)>,
) -> (Vec<Shard>, Vec<u32>) {
    let mut shards = Vec::with_capacity(job.shards.len());
    let mut missing = Vec::new();
    for a in &job.shards {
        let mut shard = received.remove(&(job.tick_id, a.shard)).map_or_else(
            || Shard {
                tick: job.tick_id,
                system: name.clone(),
                shard: a.shard,
                columns: Vec::new(),
            },
            |r| r.shard,
        );
        if !a.reused.is_empty() || a.all_reused {
            let copy = held
                .filter(|(r, _)| a.reuse_round == Some(*r))
                .and_then(|(_, map)| map.get(&a.shard));
            let found: Option<Vec<Column>> = copy.and_then(|cols| {
                a.reused
                    .iter()
                    .map(|n| cols.iter().find(|c| c.component() == n).cloned())
                    .collect()
            });
            match found {
                Some(cols) if !cols.is_empty() => shard.columns.extend(cols),
                _ => {
                    missing.push(a.shard);
                    continue;
                }
            }
        }
        shards.push(shard);
    }
    (shards, missing)
}

async fn publish<M: ControlMessage>(
    client: &Client,
    subject: String,
    msg: &M,
) -> Result<(), SystemProcessError> {
    let (headers, body) = encode_control(msg).map_err(|e| nats_err("encode")(&e))?;
    client
        .publish_with_headers(subject, headers, body)
        .await
        .map_err(|e| nats_err("publish")(&e))
}

/// Heartbeats every `interval`; until the first job arrives, and whenever no job came in
/// the last [`REGISTER_EVERY`] heartbeats, every [`REGISTER_EVERY`] heartbeats also repeat
/// the registration: the coordinator may have started after this process, or a new one
/// may have replaced it (a restart resuming from a snapshot) and know nothing of it.
async fn heartbeats(
    client: Client,
    subjects: Subjects,
    register: SystemRegister,
    interval: Duration,
    busy_micros: Arc<AtomicU64>,
    scheduled: Arc<AtomicBool>,
    job_count: Arc<AtomicU64>,
) {
    let system = register.system.clone();
    let me = register.instance_id;
    let mut timer = tokio::time::interval(interval);
    let mut sequence = 0u64;
    let mut last_busy = 0u64;
    let mut last_jobs = 0u64;
    let mut idle = 0u64;
    loop {
        timer.tick().await;
        sequence += 1;
        let busy = busy_micros.load(Ordering::Relaxed);
        let load = (busy - last_busy) as f32 / interval.as_micros().max(1) as f32;
        last_busy = busy;
        let hb = Heartbeat {
            instance_id: me,
            system: system.clone(),
            sequence,
            load: load.clamp(0.0, 1.0),
        };
        if let Err(e) = publish(&client, subjects.heartbeat(&system), &hb).await {
            tracing::warn!(error = %e, "heartbeat not sent");
        }
        let jobs = job_count.load(Ordering::Relaxed);
        if jobs == last_jobs {
            idle += 1;
        } else {
            idle = 0;
            last_jobs = jobs;
        }
        let waiting = !scheduled.load(Ordering::Relaxed) || idle >= REGISTER_EVERY;
        if sequence % REGISTER_EVERY == 0 && waiting {
            if let Err(e) = publish(&client, subjects.register(&system), &register).await {
                tracing::warn!(error = %e, "registration not sent");
            }
        }
    }
}

/// One local table: the shards it holds, in order, and its columns.
struct Group {
    names: Vec<String>,
    /// The table's other components (zero-filled: the system only filters on them).
    present: Vec<Present>,
    entities: Vec<u64>,
    /// Per column, its bytes in each member shard (slices of the received messages).
    parts: Vec<Vec<bytes::Bytes>>,
    /// (shard index in the job, first row, rows).
    members: Vec<(usize, usize, usize)>,
}

/// Builds or refreshes the local world from `shards`, runs the system, and returns one
/// result shard per input shard; `Err` with a message when the job cannot be run.
fn run_job<S: Run>(
    system: &mut S,
    registry: &SnapshotRegistry,
    local: &mut Option<(Layout, World)>,
    scratch: &mut Option<ShardWorld>,
    job: &SystemSchedule,
    shards: &[Shard],
    stats: &SystemProcess,
) -> Result<Vec<Shard>, String> {
    if records_commands::<S>() {
        // Its world changes structure every run: no local world is kept.
        *local = None;
        let result = run_job_per_shard(system, registry, scratch, job, shards, stats);
        if result.is_err() {
            *scratch = None;
        }
        return result;
    }
    // Group the shards by component set, keeping their order.
    let mut groups: Vec<Group> = Vec::new();
    for (index, shard) in shards.iter().enumerate() {
        let ids = shard
            .column(ENTITY_COLUMN)
            .and_then(Column::entity_ids)
            .ok_or_else(|| format!("shard {} has no entity column", shard.shard))?;
        let cols = table_columns(shard, ids.len())?;
        let names: Vec<String> = cols.iter().map(|c| c.component().to_owned()).collect();
        let present = present_components(shard, registry);
        let group = match groups
            .iter()
            .position(|g| g.names == names && g.present == present)
        {
            Some(g) => g,
            None => {
                groups.push(Group {
                    names: names.clone(),
                    present,
                    entities: Vec::new(),
                    parts: vec![Vec::new(); names.len()],
                    members: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[group];
        g.members.push((index, g.entities.len(), ids.len()));
        g.entities.extend_from_slice(&ids);
        for (dst, col) in g.parts.iter_mut().zip(&cols) {
            if !job.zero_sized.iter().any(|z| z == col.component()) {
                dst.push(col.bytes().clone());
            }
        }
    }
    // Each shard's entities, as its group holds them.
    let mut ids: Vec<&[u64]> = vec![&[]; shards.len()];
    for g in &groups {
        for &(index, first, rows) in &g.members {
            ids[index] = &g.entities[first..first + rows];
        }
    }
    let sparse = sparse_inputs(shards, &ids)?;
    // The local table of each group: a group without component columns (a system that
    // reaches its entities through sparse components only) is the table without
    // components, the others follow in order.
    let local_table: Vec<usize> = groups
        .iter()
        .scan(0, |next, g| {
            Some(if g.names.is_empty() && g.present.is_empty() {
                0
            } else {
                *next += 1;
                *next
            })
        })
        .collect();
    let sparse_layout: Vec<(String, Vec<u64>)> = sparse
        .iter()
        .map(|s| (s.name.clone(), s.entities.clone()))
        .collect();
    // The local world is kept when it has the same tables (component sets, in order) and
    // sparse sets; the tables whose rows changed get their new rows, the others are
    // overwritten in place.
    let reuse = matches!(local, Some((l, _)) if l.tables.len() == groups.len()
        && l.tables.iter().zip(&groups).all(|((_, n, p), g)| *n == g.names && *p == g.present)
        && l.sparse == sparse_layout);
    if reuse {
        let (layout, world) = local.as_mut().expect("checked");
        let changed: Vec<usize> = (0..groups.len())
            .filter(|&t| layout.tables[t].0 != groups[t].entities)
            .collect();
        if !changed.is_empty() {
            stats
                .table_refreshes
                .fetch_add(changed.len() as u64, Ordering::Relaxed);
            let columns: Vec<Vec<(Vec<u8>, Option<u32>)>> = changed
                .iter()
                .map(|&t| group_columns(&groups[t], job, registry))
                .collect();
            let zeros = vec![
                0u8;
                changed
                    .iter()
                    .map(|&t| groups[t].present_bytes())
                    .max()
                    .unwrap_or(0)
            ];
            let tables: Vec<(usize, TableColumns<'_>)> = changed
                .iter()
                .zip(&columns)
                .map(|(&t, columns)| (local_table[t], group_table(&groups[t], columns, &zeros)))
                .collect();
            if let Err(e) = world.replace_table_rows(&tables) {
                *local = None;
                return Err(e.to_string());
            }
            for &t in &changed {
                layout.tables[t].0.clone_from(&groups[t].entities);
            }
        }
        // The steady state: the same rows, so each shard's columns are written in place —
        // except reused columns of a shard of the last job run here: the world holds them.
        // Taken: until this job succeeds, the world holds no job's columns for sure.
        let last_job = layout.last_job.take();
        let in_world = |shard: u32, name: &String| {
            job.shards.iter().any(|a| {
                a.shard == shard
                    && a.reused.contains(name)
                    && last_job.as_ref().is_some_and(|(round, shards)| {
                        a.reuse_round == Some(*round) && shards.contains(&shard)
                    })
            })
        };
        for (t, g) in groups.iter().enumerate() {
            if changed.contains(&t) {
                continue;
            }
            for (name, parts) in g.names.iter().zip(&g.parts) {
                if job.zero_sized.contains(name) {
                    continue;
                }
                for (bytes, &(index, first, _)) in parts.iter().zip(&g.members) {
                    if in_world(shards[index].shard, name) {
                        continue;
                    }
                    world
                        .write_pod_column(local_table[t], name, first, bytes)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        for set in sparse.iter().filter(|s| s.size > 0) {
            for (i, &e) in set.entities.iter().enumerate() {
                world
                    .insert_encoded(
                        macrokid_ecs::Entity::from_bits(e),
                        &set.name,
                        &set.values[i * set.size..(i + 1) * set.size],
                    )
                    .map_err(|e| e.to_string())?;
            }
        }
    } else {
        stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        let layout = Layout {
            tables: groups
                .iter()
                .map(|g| (g.entities.clone(), g.names.clone(), g.present.clone()))
                .collect(),
            sparse: sparse_layout,
            last_job: None,
        };
        let columns: Vec<Vec<(Vec<u8>, Option<u32>)>> = groups
            .iter()
            .map(|g| group_columns(g, job, registry))
            .collect();
        let zeros = vec![0u8; groups.iter().map(Group::present_bytes).max().unwrap_or(0)];
        let tables: Vec<TableColumns<'_>> = groups
            .iter()
            .zip(&columns)
            .map(|(g, columns)| group_table(g, columns, &zeros))
            .collect();
        let world = World::from_columns(registry.clone(), &tables, &sparse_columns(&sparse), &[])
            .map_err(|e| e.to_string())?;
        *local = Some((layout, world));
    }
    let (_, world) = local.as_mut().expect("set above");
    for ResourceValue { name, bytes } in &job.resources {
        world
            .set_resource_bytes(name, bytes)
            .map_err(|e| e.to_string())?;
    }
    let base = {
        let tables: Vec<StampTable<'_>> = groups
            .iter()
            .enumerate()
            .map(|(t, g)| {
                let members = g
                    .members
                    .iter()
                    .map(|&(index, _, rows)| (&shards[index], rows))
                    .collect();
                (local_table[t], g.names.as_slice(), members)
            })
            .collect();
        stamp_ticks::<S>(world, job, &tables, &sparse)?
    };
    let result = world.run_system(system);
    if let Err(e) = result {
        *local = None;
        return Err(format!("the system failed: {e}"));
    }
    // The tables must still hold the same rows: commands are not forwarded.
    for (t, g) in groups.iter().enumerate() {
        let same = world.table_entities(local_table[t]).is_ok_and(|e| {
            e.len() == g.entities.len() && e.iter().zip(&g.entities).all(|(a, &b)| a.to_bits() == b)
        });
        if !same {
            *local = None;
            return Err(
                "the system changed the local tables (commands are not forwarded in distributed mode)"
                    .to_owned(),
            );
        }
    }
    let writes = access_of_writes::<S>();
    let shapes = world.table_shapes();
    let sparse_out = SparseResults::read::<S>(world, &sparse, base)?;
    let mut out: Vec<Shard> = Vec::with_capacity(shards.len());
    for (t, g) in groups.iter().enumerate() {
        let shape = &shapes[local_table[t]];
        // Each written column and its change flags are read once; the result shards are
        // slices of them.
        let mut written: Vec<(&str, usize, bytes::Bytes, bytes::Bytes)> = Vec::new();
        for c in shape.columns.iter().filter(|c| {
            writes.iter().any(|w| w == c.type_name) && c.pod_size.is_some_and(|s| s > 0)
        }) {
            let mut bytes = Vec::new();
            let size = world
                .read_pod_column(local_table[t], c.name, &mut bytes)
                .map_err(|e| e.to_string())?;
            let flags = run_flags(world, local_table[t], c.name, g.entities.len(), base)?;
            written.push((
                c.name,
                size,
                bytes::Bytes::from(bytes),
                bytes::Bytes::from(flags),
            ));
        }
        for &(index, first, rows) in &g.members {
            let shard = &shards[index];
            // The coordinator knows which rows a shard holds; the entity column goes back
            // only when no written column does (a result needs at least one column).
            let mut columns = Vec::with_capacity(written.len().max(1));
            if written.is_empty() {
                columns.push(Column::entities(&g.entities[first..first + rows]));
            }
            for (name, size, bytes, flags) in &written {
                let slice = bytes.slice(first * size..(first + rows) * size);
                columns.push(Column::new(*name, *size as u32, slice).map_err(|e| e.to_string())?);
                columns.push(
                    Column::new(
                        format!("{TICKS_COLUMN_PREFIX}{name}"),
                        1,
                        compact_flags(&flags[first..first + rows]).to_vec(),
                    )
                    .map_err(|e| e.to_string())?,
                );
            }
            columns.extend(sparse_out.columns(index)?);
            out.push(Shard {
                tick: shard.tick,
                system: shard.system.clone(),
                shard: shard.shard,
                columns,
            });
        }
    }
    out.sort_by_key(|s| s.shard);
    if let Some((layout, _)) = local.as_mut() {
        layout.last_job = Some((job.tick_id, shards.iter().map(|s| s.shard).collect()));
    }
    Ok(out)
}

/// Whether system `S` may record commands: it declares spawns (a write of the entity
/// allocator), despawns, inserts or removes (deferred writes).
fn records_commands<S: macrokid_core::System>() -> bool {
    let access = S::access();
    !access.deferred_writes().is_empty()
        || access.is_write(macrokid_core::ResourceId::entity_allocator())
}

/// Runs a system that may record commands once per shard, in shard order, each time on
/// a world holding only that shard, and returns one result shard per input shard: the
/// written columns (values as the system left them, before its commands moved rows) and,
/// when the run recorded commands, a [`COMMANDS_COLUMN`] with them in recording order.
///
/// Per shard, so that the coordinator can apply every shard's commands in shard order —
/// the order in which one local run over the whole world would have recorded them, for a
/// system that records while iterating its query — wherever the shards ran.
fn run_job_per_shard<S: Run>(
    system: &mut S,
    registry: &SnapshotRegistry,
    scratch: &mut Option<ShardWorld>,
    job: &SystemSchedule,
    shards: &[Shard],
    stats: &SystemProcess,
) -> Result<Vec<Shard>, String> {
    let writes = access_of_writes::<S>();
    let mut out = Vec::with_capacity(shards.len());
    let mut order: Vec<&Shard> = shards.iter().collect();
    order.sort_by_key(|s| s.shard);
    for shard in order {
        let ids = shard
            .column(ENTITY_COLUMN)
            .and_then(Column::entity_ids)
            .ok_or_else(|| format!("shard {} has no entity column", shard.shard))?;
        let cols = table_columns(shard, ids.len())?;
        let sparse = sparse_inputs(std::slice::from_ref(shard), &[ids.as_slice()])?;
        let empty: &[u8] = &[];
        let present = present_components(shard, registry);
        let zeros = vec![0u8; present.iter().map(|p| p.size).max().unwrap_or(0) * ids.len()];
        let table = TableColumns {
            entities: &ids,
            columns: cols
                .iter()
                .map(|c| {
                    if job.zero_sized.iter().any(|z| z == c.component()) {
                        (c.component(), Some(0), empty)
                    } else {
                        (c.component(), Some(c.element_size()), &c.bytes()[..])
                    }
                })
                .chain(present_columns(&present, ids.len(), &zeros))
                .collect(),
        };
        let (world, local_table) = shard_world(scratch, registry, table, &sparse, stats)?;
        for ResourceValue { name, bytes } in &job.resources {
            world
                .set_resource_bytes(name, bytes)
                .map_err(|e| e.to_string())?;
        }
        let names: Vec<String> = cols.iter().map(|c| c.component().to_owned()).collect();
        let base = stamp_ticks::<S>(
            world,
            job,
            &[(local_table, names.as_slice(), vec![(shard, ids.len())])],
            &sparse,
        )?;
        // The registered names of the written plain-old-data columns, found before the
        // run (commands may move the rows to other tables).
        let written: Vec<(&'static str, usize)> = world
            .table_shapes()
            .get(local_table)
            .iter()
            .flat_map(|t| t.columns.iter())
            .filter(|c| writes.iter().any(|w| w == c.type_name))
            .filter_map(|c| c.pod_size.filter(|&s| s > 0).map(|s| (c.name, s)))
            .collect();
        world.record_commands(true);
        world
            .run_system(system)
            .map_err(|e| format!("the system failed: {e}"))?;
        let log = world.take_command_log();
        let now = world.change_tick();
        let mut columns = Vec::with_capacity(2 * written.len() + 1);
        if written.is_empty() {
            columns.push(Column::entities(&ids));
        }
        for &(name, size) in &written {
            let input = cols
                .iter()
                .find(|c| c.component() == name)
                .ok_or_else(|| format!("written column {name} was not sent"))?;
            let mut flags = Vec::with_capacity(ids.len());
            let bytes = if log.is_empty() {
                // Nothing moved: the shard's rows are still those of its local table.
                let mut bytes = Vec::with_capacity(input.bytes().len());
                world
                    .read_pod_column(local_table, name, &mut bytes)
                    .map_err(|e| e.to_string())?;
                flags = run_flags(world, local_table, name, ids.len(), base)?;
                bytes
            } else {
                // Row by row: a row whose entity is gone or lost the component keeps
                // its input value, unchanged (the coordinator's commands remove it anyway).
                let mut bytes = Vec::with_capacity(input.bytes().len());
                for (row, &id) in ids.iter().enumerate() {
                    let e = macrokid_ecs::Entity::from_bits(id);
                    let before = bytes.len();
                    let has = world.encode_component(e, name, &mut bytes).unwrap_or(false);
                    if !has || bytes.len() - before != size {
                        bytes.truncate(before);
                        bytes.extend_from_slice(&input.bytes()[row * size..(row + 1) * size]);
                        flags.push(0);
                    } else {
                        let ticks = world.component_ticks_by_name(e, name).ok().flatten();
                        flags.push(ticks.map_or(0, |t| run_flag(t.changed, base, now)));
                    }
                }
                bytes
            };
            columns.push(Column::new(name, size as u32, bytes).map_err(|e| e.to_string())?);
            columns.push(
                Column::new(
                    format!("{TICKS_COLUMN_PREFIX}{name}"),
                    1,
                    compact_flags(&flags).to_vec(),
                )
                .map_err(|e| e.to_string())?,
            );
        }
        columns.extend(SparseResults::read::<S>(world, &sparse, base)?.columns(0)?);
        if !log.is_empty() {
            let commands = remote_commands(world, &log)?;
            let payload = encode_commands(&commands).map_err(|e| e.to_string())?;
            columns.push(Column::new(COMMANDS_COLUMN, 1, payload).map_err(|e| e.to_string())?);
        }
        out.push(Shard {
            tick: shard.tick,
            system: shard.system.clone(),
            shard: shard.shard,
            columns,
        });
    }
    Ok(out)
}

/// The world a system that records commands runs one shard on, kept from shard to shard
/// (its commands change it; the next shard's rows replace what they left).
struct ShardWorld {
    world: World,
    /// Whether it may be reused: it holds no sparse set.
    reusable: bool,
}

/// The world to run one shard (`table`, with sparse sets `sparse`) on, and the shard's
/// table in it: the kept world with the shard's rows replacing those of the table of its
/// component set and every other table emptied ([`World::replace_table_rows`]), when it
/// has that table and neither it nor the shard has sparse sets; else a world restored from
/// a snapshot of the shard (kept for the next shard).
fn shard_world<'w>(
    scratch: &'w mut Option<ShardWorld>,
    registry: &SnapshotRegistry,
    table: TableColumns<'_>,
    sparse: &[SparseIn],
    stats: &SystemProcess,
) -> Result<(&'w mut World, usize), String> {
    let mut names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    names.sort_unstable();
    let found = scratch
        .as_ref()
        .filter(|s| s.reusable && sparse.is_empty())
        .and_then(|s| {
            let shapes = s.world.table_shapes();
            let target = shapes.iter().find(|shape| sorted_names(shape) == names)?;
            // Every other table with rows is emptied: all its columns must be registered
            // plain-old-data to be named.
            let others: Vec<(usize, Vec<(&'static str, u32)>)> = shapes
                .iter()
                .filter(|shape| shape.table != target.table && shape.rows > 0)
                .map(|shape| Some((shape.table, pod_columns(shape)?)))
                .collect::<Option<_>>()?;
            Some((target.table, others))
        });
    if let Some((target, others)) = found {
        let world = &mut scratch.as_mut().expect("found in it").world;
        let mut tables = Vec::with_capacity(1 + others.len());
        tables.push((target, table.clone()));
        tables.extend(others.iter().map(|(t, columns)| (*t, empty_table(columns))));
        match world.replace_table_rows(&tables) {
            Ok(()) => {
                let world = &mut scratch.as_mut().expect("found in it").world;
                return Ok((world, target));
            }
            Err(e) => {
                tracing::debug!(error = %e, "the kept shard world does not fit; restoring one")
            }
        }
    }
    stats.rebuilds.fetch_add(1, Ordering::Relaxed);
    // The tables of the kept world come along, empty: after a few shards the world has
    // the table of every shard, and restores stop.
    let known: Vec<Vec<(&'static str, u32)>> = scratch
        .as_ref()
        .filter(|s| s.reusable && sparse.is_empty() && !names.is_empty())
        .map(|s| {
            s.world
                .table_shapes()
                .iter()
                .filter(|shape| !shape.columns.is_empty() && sorted_names(shape) != names)
                .filter_map(pod_columns)
                .collect()
        })
        .unwrap_or_default();
    let mut tables = vec![table];
    tables.extend(known.iter().map(|columns| empty_table(columns)));
    let world = World::from_columns(registry.clone(), &tables, &sparse_columns(sparse), &[])
        .map_err(|e| e.to_string())?;
    // The shard's table follows the table without components, unless it is that one.
    let target = usize::from(!names.is_empty());
    let kept = scratch.insert(ShardWorld {
        reusable: world.sparse_shapes().is_empty(),
        world,
    });
    Ok((&mut kept.world, target))
}

/// The registered names of a table's columns, sorted.
fn sorted_names(shape: &TableShape) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = shape.columns.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names
}

/// A table's columns as (registered name, element size); `None` when one is not
/// registered plain-old-data.
fn pod_columns(shape: &TableShape) -> Option<Vec<(&'static str, u32)>> {
    shape
        .columns
        .iter()
        .map(|c| c.pod_size.map(|size| (c.name, size as u32)))
        .collect()
}

/// A table of these columns without rows.
fn empty_table<'a>(columns: &'a [(&'a str, u32)]) -> TableColumns<'a> {
    TableColumns {
        entities: &[],
        columns: columns
            .iter()
            .map(|&(name, size)| (name, Some(size), &[][..]))
            .collect(),
    }
}

/// The applied commands of `log` as [`RemoteCommand`]s, with the values `world` holds now:
/// a spawned entity is sent as a spawn followed by inserts of every component it has after
/// the run (later inserts and removes on it are folded in); an insert carries the value
/// the component has now, and is left out when a later command removed it.
fn remote_commands(
    world: &World,
    log: &[macrokid_ecs::CommandRecord],
) -> Result<Vec<RemoteCommand>, String> {
    use macrokid_ecs::CommandRecord;
    let mut spawned: HashMap<u64, u32> = HashMap::new();
    let mut out = Vec::with_capacity(log.len());
    let reference = |spawned: &HashMap<u64, u32>, e: macrokid_ecs::Entity| {
        spawned
            .get(&e.to_bits())
            .map_or(EntityRef::Existing(e.to_bits()), |&n| EntityRef::Spawned(n))
    };
    for record in log {
        match record {
            CommandRecord::Spawn(e) => {
                let n = spawned.len() as u32;
                spawned.insert(e.to_bits(), n);
                out.push(RemoteCommand::Spawn);
                if !world.contains(*e) {
                    continue;
                }
                for component in world.component_names(*e).map_err(|e| e.to_string())? {
                    let mut value = Vec::new();
                    world
                        .encode_component(*e, component, &mut value)
                        .map_err(|e| e.to_string())?;
                    out.push(RemoteCommand::Insert {
                        entity: EntityRef::Spawned(n),
                        component: component.to_owned(),
                        value,
                    });
                }
            }
            CommandRecord::Despawn(e) => out.push(RemoteCommand::Despawn(reference(&spawned, *e))),
            CommandRecord::Insert(e, component) => {
                if spawned.contains_key(&e.to_bits()) {
                    continue;
                }
                let mut value = Vec::new();
                if world.contains(*e)
                    && world
                        .encode_component(*e, component, &mut value)
                        .map_err(|e| e.to_string())?
                {
                    out.push(RemoteCommand::Insert {
                        entity: reference(&spawned, *e),
                        component: component.clone(),
                        value,
                    });
                }
            }
            CommandRecord::Remove(e, component) => {
                if spawned.contains_key(&e.to_bits()) {
                    continue;
                }
                out.push(RemoteCommand::Remove {
                    entity: reference(&spawned, *e),
                    component: component.clone(),
                });
            }
            _ => return Err(format!("a command the protocol cannot carry: {record:?}")),
        }
    }
    Ok(out)
}

fn access_of_writes<S: macrokid_core::System>() -> Vec<String> {
    access_of::<S>().writes
}

/// The component (table) columns of `shard`, by name, after checking that they have
/// `rows` rows each, and the change-flag columns one or `rows`.
fn table_columns(shard: &Shard, rows: usize) -> Result<Vec<&Column>, String> {
    let mut cols = Vec::new();
    for c in &shard.columns {
        let name = c.component();
        if name == ENTITY_COLUMN || name.starts_with(SPARSE_COLUMN_PREFIX) {
            continue;
        }
        let single = (name.starts_with(TICKS_COLUMN_PREFIX) && c.len() == 1)
            || name.starts_with(PRESENT_COLUMN_PREFIX);
        if c.len() != rows && !single {
            return Err(format!(
                "shard {} has columns of unequal length",
                shard.shard
            ));
        }
        if is_table_column(name) {
            cols.push(c);
        }
    }
    cols.sort_by(|a, b| a.component().cmp(b.component()));
    Ok(cols)
}

/// A table component the system does not access, present in a shard's table
/// ([`PRESENT_COLUMN_PREFIX`]): its registered name and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Present {
    name: String,
    size: usize,
}

/// Each column of `g` as one table column: the member shards' bytes concatenated (empty
/// for a zero-sized component) and the element size.
fn group_columns(
    g: &Group,
    job: &SystemSchedule,
    registry: &SnapshotRegistry,
) -> Vec<(Vec<u8>, Option<u32>)> {
    g.names
        .iter()
        .zip(&g.parts)
        .map(|(name, parts)| {
            if job.zero_sized.contains(name) {
                (Vec::new(), Some(0))
            } else {
                let bytes = parts.concat();
                let size = if g.entities.is_empty() {
                    registry.pod_size_by_name(name).map(|s| s as u32)
                } else {
                    Some((bytes.len() / g.entities.len()) as u32)
                };
                (bytes, size)
            }
        })
        .collect()
}

/// The local table of `g` from its [`group_columns`] and its presence columns (slices of
/// `zeros`, at least [`Group::present_bytes`] long).
fn group_table<'a>(
    g: &'a Group,
    columns: &'a [(Vec<u8>, Option<u32>)],
    zeros: &'a [u8],
) -> TableColumns<'a> {
    TableColumns {
        entities: &g.entities,
        columns: g
            .names
            .iter()
            .zip(columns)
            .map(|(n, (b, s))| (n.as_str(), *s, b.as_slice()))
            .chain(present_columns(&g.present, g.entities.len(), zeros))
            .collect(),
    }
}

impl Group {
    /// Bytes of the largest zero-filled presence column of the group's table.
    fn present_bytes(&self) -> usize {
        self.present.iter().map(|p| p.size).max().unwrap_or(0) * self.entities.len()
    }
}

/// The presence columns of `shard`, sorted by name: the ones `registry` registers as
/// plain-old-data of the same size (another is left out: a filter on it sees none).
fn present_components(shard: &Shard, registry: &SnapshotRegistry) -> Vec<Present> {
    let mut present: Vec<Present> = shard
        .columns
        .iter()
        .filter_map(|c| {
            let name = c.component().strip_prefix(PRESENT_COLUMN_PREFIX)?;
            let size = u32::from_le_bytes(c.bytes().get(..4)?.try_into().ok()?) as usize;
            (registry.pod_size_by_name(name) == Some(size)).then(|| Present {
                name: name.to_owned(),
                size,
            })
        })
        .collect();
    present.sort_by(|a, b| a.name.cmp(&b.name));
    present
}

/// The zero-filled table columns of `present` for `rows` rows (`zeros`: at least as long
/// as the largest).
fn present_columns<'a>(
    present: &'a [Present],
    rows: usize,
    zeros: &'a [u8],
) -> impl Iterator<Item = (&'a str, Option<u32>, &'a [u8])> + 'a {
    present.iter().map(move |p| {
        (
            p.name.as_str(),
            Some(p.size as u32),
            &zeros[..p.size * rows],
        )
    })
}

/// One sparse set as a job's shards carry it ([`SPARSE_COLUMN_PREFIX`] columns).
struct SparseIn {
    name: String,
    /// Bytes per value.
    size: usize,
    /// The entities that have it, in shard order, then row order.
    entities: Vec<u64>,
    /// Per entity: (shard index in the job, row in the shard).
    places: Vec<(usize, u32)>,
    /// Per entity: its change flags.
    flags: Vec<u8>,
    /// The values, `size` bytes per entity.
    values: Vec<u8>,
}

/// The sparse sets of `shards` (with their entity ids `ids`), by name.
fn sparse_inputs(shards: &[Shard], ids: &[&[u64]]) -> Result<Vec<SparseIn>, String> {
    let mut sets: BTreeMap<&str, SparseIn> = BTreeMap::new();
    for (index, (shard, ids)) in shards.iter().zip(ids).enumerate() {
        for c in &shard.columns {
            let Some(name) = c.component().strip_prefix(SPARSE_COLUMN_PREFIX) else {
                continue;
            };
            let element = c.element_size() as usize;
            let bad = || format!("shard {}: malformed sparse column {name}", shard.shard);
            let size = element.checked_sub(5).ok_or_else(bad)?;
            let set = sets.entry(name).or_insert_with(|| SparseIn {
                name: name.to_owned(),
                size,
                entities: Vec::new(),
                places: Vec::new(),
                flags: Vec::new(),
                values: Vec::new(),
            });
            if set.size != size {
                return Err(bad());
            }
            for e in c.bytes().chunks_exact(element) {
                let row = u32::from_le_bytes(e[..4].try_into().expect("4 bytes"));
                let &id = ids.get(row as usize).ok_or_else(bad)?;
                set.entities.push(id);
                set.places.push((index, row));
                set.flags.push(e[4]);
                set.values.extend_from_slice(&e[5..]);
            }
        }
    }
    Ok(sets.into_values().collect())
}

/// The snapshot form of `sparse`.
fn sparse_columns(sparse: &[SparseIn]) -> Vec<SparseColumns<'_>> {
    sparse
        .iter()
        .map(|s| SparseColumns {
            name: &s.name,
            entities: &s.entities,
            pod_size: Some(s.size as u32),
            bytes: &s.values,
        })
        .collect()
}

/// A local table to stamp: its index, its column names, and its member shards with their
/// row counts, in row order.
type StampTable<'a> = (usize, &'a [String], Vec<(&'a Shard, usize)>);

/// Stamps the carried columns of the local world (`tables`: table index, column names,
/// and the member shards with their row counts; `sparse`) so that system `S`'s run sees
/// as added or changed exactly the rows the coordinator flagged — every row on a first
/// run ([`SystemSchedule::since_last_run`] false) — and returns the change tick the run
/// starts from: a row the run writes is stamped after it.
///
/// Every value of the local world was written or stamped at the current change tick or
/// before it (the columns of this job included), so the system's previous run is set
/// after it and only the flagged rows are stamped, after that: the unflagged ones are
/// old already. A run of rows with the same flags is one stamp.
fn stamp_ticks<S: 'static>(
    world: &mut World,
    job: &SystemSchedule,
    tables: &[StampTable<'_>],
    sparse: &[SparseIn],
) -> Result<Tick, String> {
    let last_run = world.step_change_tick();
    let new = world.step_change_tick();
    let base = world.step_change_tick();
    if !job.since_last_run {
        world.set_system_last_run::<S>(None);
        return Ok(base);
    }
    world.set_system_last_run::<S>(Some(last_run));
    for (table, names, members) in tables {
        for name in names.iter() {
            let flag_column = format!("{TICKS_COLUMN_PREFIX}{name}");
            let mut first = 0;
            for &(shard, rows) in members {
                if let Some(flags) = shard.column(&flag_column) {
                    let flags = flags.bytes();
                    let mut row = 0;
                    while row < rows {
                        let f = flag_at(flags, row).unwrap_or(0);
                        let end = (row + 1..rows)
                            .find(|&r| flag_at(flags, r).unwrap_or(0) != f)
                            .unwrap_or(rows);
                        if f & (FLAG_ADDED | FLAG_CHANGED) != 0 {
                            world
                                .mark_column_changed(
                                    *table,
                                    name,
                                    first + row..first + end,
                                    new,
                                    f & FLAG_ADDED != 0,
                                )
                                .map_err(|e| e.to_string())?;
                        }
                        row = end;
                    }
                }
                first += rows;
            }
        }
    }
    for set in sparse {
        for (&e, &f) in set.entities.iter().zip(&set.flags) {
            if f & (FLAG_ADDED | FLAG_CHANGED) == 0 {
                continue;
            }
            let e = macrokid_ecs::Entity::from_bits(e);
            let ticks = world
                .component_ticks_by_name(e, &set.name)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("sparse component {} lost", set.name))?;
            let ticks = ComponentTicks {
                added: if f & FLAG_ADDED != 0 {
                    new
                } else {
                    ticks.added
                },
                changed: new,
            };
            world
                .set_component_ticks(e, &set.name, ticks)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(base)
}

/// Per row of the column registered as `name` in local table `table` (`rows` rows):
/// [`FLAG_CHANGED`] when the run (from change tick `base`) changed it. All zero without
/// reading the rows' ticks when none is changed.
fn run_flags(
    world: &World,
    table: usize,
    name: &str,
    rows: usize,
    base: Tick,
) -> Result<Vec<u8>, String> {
    if !world
        .column_changed_since(table, name, 0..rows, base)
        .map_err(|e| e.to_string())?
    {
        return Ok(vec![0; rows]);
    }
    let mut flags = Vec::with_capacity(rows);
    world
        .column_change_flags(table, name, 0..rows, base, (0, FLAG_CHANGED), &mut flags)
        .map_err(|e| e.to_string())?;
    Ok(flags)
}

/// [`FLAG_CHANGED`] when `changed` is after `base` (the run wrote the row), seen from `now`.
fn run_flag(changed: Tick, base: Tick, now: Tick) -> u8 {
    if changed.is_newer_than(base, now) {
        FLAG_CHANGED
    } else {
        0
    }
}

/// The values of the written sparse sets that a run changed, per job shard.
struct SparseResults {
    sets: Vec<WrittenSparse>,
}

/// One written sparse set after a run.
struct WrittenSparse {
    name: String,
    /// Bytes per value.
    size: usize,
    /// (shard index in the job, row in the shard, value) per entity the run changed.
    changed: Vec<(usize, u32, Vec<u8>)>,
}

impl SparseResults {
    /// Reads what system `S`'s run (from change tick `base`) changed of the sets of
    /// `inputs` that it writes.
    fn read<S: macrokid_core::System>(
        world: &World,
        inputs: &[SparseIn],
        base: Tick,
    ) -> Result<Self, String> {
        let writes = access_of_writes::<S>();
        let now = world.change_tick();
        let mut sets = Vec::new();
        for shape in world.sparse_shapes() {
            let size = shape.pod_size.unwrap_or(0);
            if size == 0 || !writes.iter().any(|w| w == shape.type_name) {
                continue;
            }
            let Some(input) = inputs.iter().find(|s| s.name == shape.name) else {
                continue;
            };
            let mut values = Vec::new();
            let members = world
                .read_sparse_column(shape.name, &mut values)
                .map_err(|e| e.to_string())?;
            let index: HashMap<u64, usize> = members
                .iter()
                .enumerate()
                .map(|(i, m)| (m.entity.to_bits(), i))
                .collect();
            let mut changed = Vec::new();
            for (e, &(shard, row)) in input.entities.iter().zip(&input.places) {
                let Some(&i) = index.get(e) else {
                    continue;
                };
                if run_flag(members[i].ticks.changed, base, now) != 0 {
                    changed.push((shard, row, values[i * size..(i + 1) * size].to_vec()));
                }
            }
            sets.push(WrittenSparse {
                name: shape.name.to_owned(),
                size,
                changed,
            });
        }
        Ok(Self { sets })
    }

    /// The [`SPARSE_COLUMN_PREFIX`] result columns of job shard `shard` (none for a set
    /// of which the run changed nothing there).
    fn columns(&self, shard: usize) -> Result<Vec<Column>, String> {
        let mut columns = Vec::new();
        for WrittenSparse {
            name,
            size,
            changed,
        } in &self.sets
        {
            let mut bytes = Vec::new();
            for (_, row, value) in changed.iter().filter(|c| c.0 == shard) {
                bytes.extend_from_slice(&row.to_le_bytes());
                bytes.push(FLAG_CHANGED);
                bytes.extend_from_slice(value);
            }
            if !bytes.is_empty() {
                columns.push(
                    Column::new(
                        format!("{SPARSE_COLUMN_PREFIX}{name}"),
                        (5 + size) as u32,
                        bytes,
                    )
                    .map_err(|e| e.to_string())?,
                );
            }
        }
        Ok(columns)
    }
}
