//! The wire protocol: subjects, routing headers and control message types.
//!
//! Subjects follow seed 003 ("NATS Subject Hierarchy") under a configurable prefix instead
//! of the fixed `engine.`, so several clusters (and tests) share one server side by side.
//! Three subjects gain a `<system>` suffix that the seed lacks — `coord.tick.done.<system>`,
//! `system.heartbeat.<system>` and `system.register.<system>` — so that the server can
//! restrict each system process to publishing on its own subjects
//! ([`crate::security`]); the coordinator subscribes to them with a `*` wildcard.
//!
//! | Subject ([`Subjects`] method)                  | Direction              | Payload |
//! |------------------------------------------------|------------------------|---------|
//! | `P.coord.tick` ([`Subjects::tick_start`])      | coordinator → systems  | [`TickStart`] |
//! | `P.coord.tick.done.S` ([`Subjects::tick_ack`]) | system → coordinator   | [`TickAck`] |
//! | `P.entity.create` ([`Subjects::entity_create`])| coordinator → all      | [`EntityCreated`] |
//! | `P.entity.destroy` ([`Subjects::entity_destroy`]) | coordinator → all   | [`EntityDestroyed`] |
//! | `P.component.set.S` ([`Subjects::component_set`]) | coordinator → system | column chunks ([`crate::codec`]) |
//! | `P.component.changed.S` ([`Subjects::component_changed`]) | system → coordinator | column chunks |
//! | `P.system.register.S` ([`Subjects::register`]) | system → coordinator   | [`SystemRegister`] |
//! | `P.system.schedule.S` ([`Subjects::schedule`]) | coordinator → system   | [`SystemSchedule`] |
//! | `P.system.heartbeat.S` ([`Subjects::heartbeat`]) | system → coordinator | [`Heartbeat`] |
//! | `P.query.request` ([`Subjects::query_request`]) | any → coordinator     | [`QueryRequest`] |
//! | `P.query.response.…` ([`Subjects::query_response_prefix`]) | coordinator → requester | [`QueryResponse`] |
//!
//! `P` is the prefix, `S` a system name. Query responses go to the requester's reply
//! subject, which a requester creates under `P.query.response` (async-nats
//! `ConnectOptions::custom_inbox_prefix`), so its permissions can stay inside the prefix.
//!
//! Every message carries the routing headers [`HEADER_MSG_TYPE`], [`HEADER_VERSION`] and,
//! where they apply, [`HEADER_TICK`] and [`HEADER_INSTANCE`], so a receiver can filter
//! without decoding the payload (seed 003, "Serialisation").

use std::fmt;

use serde::{Deserialize, Serialize};

/// The protocol version; a message with another version is dropped and counted. 2: shards
/// carry sparse sets ([`SPARSE_COLUMN_PREFIX`]) and change flags ([`TICKS_COLUMN_PREFIX`]),
/// which a version-1 process would take for table columns. 3: shards carry the presence
/// of the table components the system does not access ([`PRESENT_COLUMN_PREFIX`], one
/// element where a version-2 process wants one per row), and registrations the system's
/// entity filter ([`AccessDescriptor::required`], [`AccessDescriptor::excluded`]).
pub const PROTOCOL_VERSION: u16 = 3;

/// Header: the message type, one of [`MsgType::as_str`].
pub const HEADER_MSG_TYPE: &str = "Macrokid-Msg-Type";
/// Header: the protocol version, decimal.
pub const HEADER_VERSION: &str = "Macrokid-Version";
/// Header: the tick id, decimal.
pub const HEADER_TICK: &str = "Macrokid-Tick";
/// Header: the sending or addressed system instance, [`InstanceId`] in hex.
pub const HEADER_INSTANCE: &str = "Macrokid-Instance";

/// The component name of the entity-id column in a shard: 8-byte little-endian entity ids,
/// one per row, in the row order of every other column of that shard.
pub const ENTITY_COLUMN: &str = "macrokid.entity";

/// The component name of the command column in a result shard: one byte per element, the
/// MessagePack encoding of the shard's [`RemoteCommand`]s ([`encode_commands`]). Present
/// only when the system's run on that shard recorded commands; it has no rows.
pub const COMMANDS_COLUMN: &str = "macrokid.commands";

/// The prefix of a sparse-set component's column in a shard; the rest of the name is the
/// component's registered name. One element per entity of the shard that has the
/// component, in row order: the row within the shard (`u32` little-endian), the change
/// flags ([`FLAG_ADDED`], [`FLAG_CHANGED`]), then the value's raw bytes (`pod_size` of
/// them, none for a zero-sized type). Sent by the coordinator for every plain-old-data
/// sparse set with entities in the shard (a system may filter on one it does not
/// declare); sent back for the written ones, only the entities the run changed.
pub const SPARSE_COLUMN_PREFIX: &str = "macrokid.sparse.";

/// The prefix of a table column's change flags in a shard; the rest of the name is the
/// component's registered name. One byte per row: [`FLAG_ADDED`] and [`FLAG_CHANGED`];
/// one byte in all when every row has the same flags ([`compact_flags`], [`flag_at`]).
/// From the coordinator (only when [`SystemSchedule::since_last_run`]): the rows added or
/// changed since the system's previous run, which the process stamps so the run sees what
/// a local run would; absent when no row is. From the process, per written column: the
/// rows the run changed, the only ones the coordinator writes back and stamps.
pub const TICKS_COLUMN_PREFIX: &str = "macrokid.ticks.";

/// The prefix of a *presence* column in a shard; the rest of the name is the registered
/// name of a plain-old-data table component that the shard's table has and the system
/// neither reads nor writes. One 4-byte element: the component's size in bytes (`u32`
/// little-endian, 0 for a zero-sized type). The process gives the shard's local rows that
/// component, zero-filled, so `With` / `Without` / `Has` filters on it (and a declared
/// `with(..)` / `without(..)`) select the rows a local run selects; the system cannot
/// read the zeros (reading needs a declared read). Reused like a table column.
pub const PRESENT_COLUMN_PREFIX: &str = "macrokid.present.";

/// Change flag: the component was added since the system's previous run.
pub const FLAG_ADDED: u8 = 1;

/// Change flag: the component was changed since the system's previous run (for a result:
/// by the run).
pub const FLAG_CHANGED: u8 = 2;

/// `flags` (one byte per row) as a [`TICKS_COLUMN_PREFIX`] column carries them: one byte
/// when every row has the same flags, else unchanged.
pub fn compact_flags(flags: &[u8]) -> &[u8] {
    match flags.split_first() {
        // Branch-free within a block (so that it vectorizes), early out between blocks.
        Some((first, rest))
            if rest
                .chunks(1024)
                .all(|block| block.iter().fold(true, |same, f| same & (f == first))) =>
        {
            &flags[..1]
        }
        _ => flags,
    }
}

/// The flags of row `row` in a [`TICKS_COLUMN_PREFIX`] column's bytes (one byte for every
/// row, or one per row); `None` past the end.
pub fn flag_at(flags: &[u8], row: usize) -> Option<u8> {
    if flags.len() == 1 {
        Some(flags[0])
    } else {
        flags.get(row).copied()
    }
}

/// Whether a shard column's name is a component's (a table column), not one of the
/// protocol's ([`ENTITY_COLUMN`], [`COMMANDS_COLUMN`], sparse and tick columns).
pub fn is_table_column(name: &str) -> bool {
    !name.starts_with("macrokid.")
}

/// An entity named by a remote command: one of the coordinator's (its id bits) or the
/// `n`-th entity spawned by the commands of the same system in the same round, counted
/// over its shards in shard order (the coordinator allocates the real ids, see
/// [`crate::coordinator`]'s "Remote commands").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityRef {
    /// An entity of the coordinator's world, by `Entity::to_bits`.
    Existing(u64),
    /// The `n`-th [`RemoteCommand::Spawn`] of this shard's list.
    Spawned(u32),
}

/// One structural change a system made in a system process, in the order it applied
/// there (its recording order). Component values are the snapshot row bytes of the
/// component registered under `component` in the cluster's `SnapshotRegistry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteCommand {
    /// Spawns an entity with no components; the inserts naming it follow.
    Spawn,
    /// Despawns an entity.
    Despawn(EntityRef),
    /// Inserts (or replaces) a component.
    Insert {
        /// The entity.
        entity: EntityRef,
        /// The registered component name.
        component: String,
        /// The value: the snapshot row bytes.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Removes a component.
    Remove {
        /// The entity.
        entity: EntityRef,
        /// The registered component name.
        component: String,
    },
}

/// The payload of a [`COMMANDS_COLUMN`]: `commands` in MessagePack.
///
/// # Errors
/// The encoder's message (it fails only on values serde cannot write).
pub fn encode_commands(commands: &[RemoteCommand]) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec(commands)
}

/// The commands of a [`COMMANDS_COLUMN`] payload.
///
/// # Errors
/// The decoder's message when the bytes are not a list of [`RemoteCommand`]s.
pub fn decode_commands(bytes: &[u8]) -> Result<Vec<RemoteCommand>, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

/// Why a subject prefix or a system name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("a {what} must not be empty")]
    Empty {
        /// `"prefix"` or `"system name"`.
        what: &'static str,
    },
    /// The name holds a character that would change the subject's meaning.
    #[error(
        "{what} {name:?} contains {bad:?}; use ASCII letters, digits, `_` and `-` (a prefix may also use `.` between tokens)"
    )]
    BadCharacter {
        /// `"prefix"` or `"system name"`.
        what: &'static str,
        /// The refused name.
        name: String,
        /// The first offending character.
        bad: char,
    },
}

/// Checks a subject token: ASCII alphanumerics, `_` and `-`; `.` only where `dots` allows
/// and never empty between dots.
fn check_name(what: &'static str, name: &str, dots: bool) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.');
    if let Some(bad) = name.chars().find(|&c| !ok(c)) {
        return Err(NameError::BadCharacter {
            what,
            name: name.to_string(),
            bad,
        });
    }
    if dots && name.split('.').any(str::is_empty) {
        return Err(NameError::BadCharacter {
            what,
            name: name.to_string(),
            bad: '.',
        });
    }
    Ok(())
}

/// A system's name as used in subjects (`component.set.<system>`): a single subject token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SystemName(String);

impl SystemName {
    /// Checks and wraps `name`.
    ///
    /// # Errors
    /// [`NameError`] when `name` is empty or holds anything but ASCII letters, digits, `_`
    /// and `-` (a `.`, `*`, `>` or space would change which subjects it names).
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check_name("system name", &name, false)?;
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SystemName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SystemName> for String {
    fn from(value: SystemName) -> Self {
        value.0
    }
}

impl fmt::Display for SystemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One system process, unique for the life of the cluster: chosen by the process at start
/// ([`InstanceId::random`]) and sent in [`SystemRegister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId(pub u64);

impl InstanceId {
    /// A fresh id from the process id, the time and the std hasher's random keys.
    pub fn random() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(now);
        Self(h.finish())
    }

    /// Parses the header form (16 hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        u64::from_str_radix(text, 16).ok().map(Self)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The subjects of one cluster, all under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Subjects under `prefix` (seed 003 uses `engine`).
    ///
    /// # Errors
    /// [`NameError`] when `prefix` is empty, has an empty token (`a..b`) or holds anything
    /// but ASCII letters, digits, `_`, `-` and `.`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, NameError> {
        let prefix = prefix.into();
        check_name("prefix", &prefix, true)?;
        Ok(Self { prefix })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every engine subject: `P.>`.
    pub fn all(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// `P.coord.tick`: [`TickStart`].
    pub fn tick_start(&self) -> String {
        format!("{}.coord.tick", self.prefix)
    }

    /// `P.coord.tick.done.<system>`: [`TickAck`].
    pub fn tick_ack(&self, system: &SystemName) -> String {
        format!("{}.coord.tick.done.{system}", self.prefix)
    }

    /// `P.coord.tick.done.*`: every system's acks.
    pub fn tick_ack_any(&self) -> String {
        format!("{}.coord.tick.done.*", self.prefix)
    }

    /// `P.entity.create`: [`EntityCreated`].
    pub fn entity_create(&self) -> String {
        format!("{}.entity.create", self.prefix)
    }

    /// `P.entity.destroy`: [`EntityDestroyed`].
    pub fn entity_destroy(&self) -> String {
        format!("{}.entity.destroy", self.prefix)
    }

    /// `P.component.set.<system>`: column chunks sent to a system's instances.
    pub fn component_set(&self, system: &SystemName) -> String {
        format!("{}.component.set.{system}", self.prefix)
    }

    /// `P.component.set.<system>.<instance>`: column chunks sent to one instance of a system.
    pub fn component_set_for(&self, system: &SystemName, instance: InstanceId) -> String {
        format!("{}.component.set.{system}.{instance}", self.prefix)
    }

    /// `P.component.changed.<system>`: changed column chunks from a system's instances.
    pub fn component_changed(&self, system: &SystemName) -> String {
        format!("{}.component.changed.{system}", self.prefix)
    }

    /// `P.component.changed.*`.
    pub fn component_changed_any(&self) -> String {
        format!("{}.component.changed.*", self.prefix)
    }

    /// `P.system.register.<system>`: [`SystemRegister`].
    pub fn register(&self, system: &SystemName) -> String {
        format!("{}.system.register.{system}", self.prefix)
    }

    /// `P.system.register.*`.
    pub fn register_any(&self) -> String {
        format!("{}.system.register.*", self.prefix)
    }

    /// `P.system.schedule.<system>`: [`SystemSchedule`].
    pub fn schedule(&self, system: &SystemName) -> String {
        format!("{}.system.schedule.{system}", self.prefix)
    }

    /// `P.system.heartbeat.<system>`: [`Heartbeat`].
    pub fn heartbeat(&self, system: &SystemName) -> String {
        format!("{}.system.heartbeat.{system}", self.prefix)
    }

    /// `P.system.heartbeat.*`.
    pub fn heartbeat_any(&self) -> String {
        format!("{}.system.heartbeat.*", self.prefix)
    }

    /// `P.query.request`: [`QueryRequest`], answered on the message's reply subject.
    pub fn query_request(&self) -> String {
        format!("{}.query.request", self.prefix)
    }

    /// `P.query.response`: the inbox prefix requesters use for [`QueryResponse`]s.
    pub fn query_response_prefix(&self) -> String {
        format!("{}.query.response", self.prefix)
    }

    /// `P.snapshot.<world>`: the JetStream subject of a world's snapshots.
    pub fn snapshot(&self, world: &str) -> String {
        format!("{}.snapshot.{world}", self.prefix)
    }

    /// `P.snapshot.>`.
    pub fn snapshot_any(&self) -> String {
        format!("{}.snapshot.>", self.prefix)
    }
}

/// The type of a message, sent in [`HEADER_MSG_TYPE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MsgType {
    /// [`TickStart`].
    TickStart,
    /// [`TickAck`].
    TickAck,
    /// [`EntityCreated`].
    EntityCreated,
    /// [`EntityDestroyed`].
    EntityDestroyed,
    /// A column chunk ([`crate::codec::ChunkHeader`]).
    ColumnChunk,
    /// [`SystemRegister`].
    Register,
    /// [`SystemSchedule`].
    Schedule,
    /// [`Heartbeat`].
    Heartbeat,
    /// [`QueryRequest`].
    QueryRequest,
    /// [`QueryResponse`].
    QueryResponse,
}

impl MsgType {
    /// Every type, for parsing.
    pub const ALL: [MsgType; 10] = [
        MsgType::TickStart,
        MsgType::TickAck,
        MsgType::EntityCreated,
        MsgType::EntityDestroyed,
        MsgType::ColumnChunk,
        MsgType::Register,
        MsgType::Schedule,
        MsgType::Heartbeat,
        MsgType::QueryRequest,
        MsgType::QueryResponse,
    ];

    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            MsgType::TickStart => "tick-start",
            MsgType::TickAck => "tick-ack",
            MsgType::EntityCreated => "entity-created",
            MsgType::EntityDestroyed => "entity-destroyed",
            MsgType::ColumnChunk => "column-chunk",
            MsgType::Register => "register",
            MsgType::Schedule => "schedule",
            MsgType::Heartbeat => "heartbeat",
            MsgType::QueryRequest => "query-request",
            MsgType::QueryResponse => "query-response",
        }
    }

    /// Parses a header value.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// A control message: a serde struct with its [`MsgType`] (MessagePack on the wire,
/// [`crate::codec::encode_control`]).
pub trait ControlMessage: Serialize + for<'de> Deserialize<'de> {
    /// Its type header.
    const TYPE: MsgType;
    /// The tick it belongs to, for [`HEADER_TICK`].
    fn tick(&self) -> Option<u64> {
        None
    }
    /// The instance it comes from or is addressed to, for [`HEADER_INSTANCE`].
    fn instance(&self) -> Option<InstanceId> {
        None
    }
}

/// Start of a tick (`P.coord.tick`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickStart {
    /// The tick, counting from 0.
    pub tick_id: u64,
    /// The simulated time step, in seconds.
    pub dt_seconds: f64,
}

impl ControlMessage for TickStart {
    const TYPE: MsgType = MsgType::TickStart;
    fn tick(&self) -> Option<u64> {
        Some(self.tick_id)
    }
}

/// An instance finished its shards of a tick (`P.coord.tick.done.<system>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickAck {
    /// The tick.
    pub tick_id: u64,
    /// The instance.
    pub instance_id: InstanceId,
    /// Its system.
    pub system: SystemName,
    /// The shards whose changed columns it published, ascending.
    pub shards: Vec<u32>,
    /// Time spent running the system on them, in microseconds.
    pub run_micros: u64,
    /// Shards it could not run because columns the schedule told it to reuse
    /// ([`ShardAssignment::reuse_round`]) were not held; the coordinator sends them again
    /// in full. Empty for a job that ran.
    #[serde(default)]
    pub missing: Vec<u32>,
}

impl ControlMessage for TickAck {
    const TYPE: MsgType = MsgType::TickAck;
    fn tick(&self) -> Option<u64> {
        Some(self.tick_id)
    }
    fn instance(&self) -> Option<InstanceId> {
        Some(self.instance_id)
    }
}

/// An entity was created (`P.entity.create`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCreated {
    /// The entity id (the ECS entity's bits).
    pub entity: u64,
    /// Its archetype: the component type names, sorted.
    pub archetype: Vec<String>,
}

impl ControlMessage for EntityCreated {
    const TYPE: MsgType = MsgType::EntityCreated;
}

/// An entity was destroyed (`P.entity.destroy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityDestroyed {
    /// The entity id.
    pub entity: u64,
}

impl ControlMessage for EntityDestroyed {
    const TYPE: MsgType = MsgType::EntityDestroyed;
}

/// A system's access descriptor: component (and resource) type names it reads and writes,
/// as the `System` derive declares them. The coordinator plans with these sets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessDescriptor {
    /// Type names read, sorted, without duplicates.
    pub reads: Vec<String>,
    /// Type names written, sorted, without duplicates.
    pub writes: Vec<String>,
    /// Type names changed through commands (inserts, removes, despawns: the entity
    /// allocator), sorted, without duplicates; the coordinator plans them as writes.
    #[serde(default)]
    pub deferred: Vec<String>,
    /// The system's entity filter: type names every entity it touches has
    /// (`#[system(with(..))]`), sorted, without duplicates. The coordinator sends no table
    /// that lacks one of them (sparse-set components are left to the process).
    #[serde(default)]
    pub required: Vec<String>,
    /// Type names no entity it touches has (`#[system(without(..))]`), sorted, without
    /// duplicates. The coordinator sends no table that has one of them.
    #[serde(default)]
    pub excluded: Vec<String>,
}

/// A system instance announces itself (`P.system.register.<system>`), at start and again
/// whenever it finds itself left out of the schedule while ticks go on (a coordinator that
/// declared it dead only takes it back on registration, [`crate::liveness`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemRegister {
    /// The system.
    pub system: SystemName,
    /// What it reads and writes.
    pub access: AccessDescriptor,
    /// This process.
    pub instance_id: InstanceId,
}

impl ControlMessage for SystemRegister {
    const TYPE: MsgType = MsgType::Register;
    fn instance(&self) -> Option<InstanceId> {
        Some(self.instance_id)
    }
}

/// One shard of a tick given to one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardAssignment {
    /// The shard number within the system's tick, from 0.
    pub shard: u32,
    /// The instance that runs it.
    pub instance_id: InstanceId,
    /// Rows in the shard.
    pub rows: u32,
    /// `Some(r)`: the columns named in [`ShardAssignment::reused`] are not sent; the
    /// instance takes them from its copy of this shard number after its job of round `r`
    /// (the inputs it got, with the columns it wrote replaced by the results it sent),
    /// which the coordinator found unchanged in the world since. An instance that does not
    /// hold that copy answers with [`TickAck::missing`].
    #[serde(default)]
    pub reuse_round: Option<u64>,
    /// The columns (component names, [`ENTITY_COLUMN`] included) taken from the held copy.
    #[serde(default)]
    pub reused: Vec<String>,
    /// Every column is reused: no chunk is sent for this shard.
    #[serde(default)]
    pub all_reused: bool,
}

/// A registered resource's value, as the coordinator ships it to the systems that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceValue {
    /// The resource's registered snapshot name (its type name).
    pub name: String,
    /// Its MessagePack value (the snapshot format's resource bytes).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// The shards of a system for one round of a tick (`P.system.schedule.<system>`): a job
/// for the instances it names. A round is one batch of the tick's plan; a shard re-routed
/// after a deadline comes in a second schedule of the same round that lists only it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemSchedule {
    /// The round: increases by one per batch of every tick; the shards' chunks and the
    /// results carry it as their tick id.
    pub tick_id: u64,
    /// The system.
    pub system: SystemName,
    /// The shards of this job and their instances; an instance runs its own.
    pub shards: Vec<ShardAssignment>,
    /// The simulation tick the round belongs to.
    #[serde(default)]
    pub tick: u64,
    /// The registered resources the system reads, with their values at the round's start.
    #[serde(default)]
    pub resources: Vec<ResourceValue>,
    /// Component columns of zero-sized types (tags): they travel as one zero byte per row.
    #[serde(default)]
    pub zero_sized: Vec<String>,
    /// The system ran before on the coordinator: the shards' [`TICKS_COLUMN_PREFIX`]
    /// columns and sparse flags name the rows added or changed since (none where absent).
    /// `false`: a first run, every row is new.
    #[serde(default)]
    pub since_last_run: bool,
}

impl ControlMessage for SystemSchedule {
    const TYPE: MsgType = MsgType::Schedule;
    fn tick(&self) -> Option<u64> {
        Some(self.tick_id)
    }
}

/// Periodic liveness and load report (`P.system.heartbeat.<system>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its system.
    pub system: SystemName,
    /// Increases by one per heartbeat of this instance.
    pub sequence: u64,
    /// Share of the last interval spent running the system, 0 to 1.
    pub load: f32,
}

impl ControlMessage for Heartbeat {
    const TYPE: MsgType = MsgType::Heartbeat;
    fn instance(&self) -> Option<InstanceId> {
        Some(self.instance_id)
    }
}

/// An ad-hoc question to the coordinator (`P.query.request`), sent as a NATS request: the
/// answer, a [`QueryResponse`], goes to the message's reply subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum QueryRequest {
    /// The tick, the entity count, the registered systems and their instances.
    Systems,
    /// Entities having all these components: their count and the first rows.
    Entities {
        /// Component names: the registered snapshot name, the full type name or its last
        /// path segment (`Position` for `my_game::Position`).
        components: Vec<String>,
        /// How many rows to return at most.
        first: u32,
    },
}

impl ControlMessage for QueryRequest {
    const TYPE: MsgType = MsgType::QueryRequest;
}

/// One instance in a [`QueryResponse::Systems`] answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceReport {
    /// The instance.
    pub instance_id: InstanceId,
    /// Whether the coordinator considers it live.
    pub live: bool,
    /// Shards it ran in the last tick.
    pub shards: u32,
    /// Its last reported load: the share of the last heartbeat interval it spent running
    /// the system, 0 to 1.
    pub load: f32,
}

/// One system in a [`QueryResponse::Systems`] answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemReport {
    /// The system.
    pub system: SystemName,
    /// Its access.
    pub access: AccessDescriptor,
    /// Its instances, by id.
    pub instances: Vec<InstanceReport>,
    /// Rows it was sent in the last tick.
    pub rows: u64,
    /// The longest run time an instance reported in the last tick, in microseconds.
    pub max_run_micros: u64,
}

/// The coordinator's answer to a [`QueryRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum QueryResponse {
    /// Answer to [`QueryRequest::Systems`].
    Systems {
        /// The next tick's number (ticks done).
        tick: u64,
        /// Live entities in the canonical world.
        entities: u64,
        /// The registered systems, by name.
        systems: Vec<SystemReport>,
    },
    /// Answer to [`QueryRequest::Entities`].
    Entities {
        /// How many entities match.
        count: u64,
        /// The first rows, one JSON object per entity, in table then row order:
        /// `{"entity": "<id>", "bits": <u64>, "components": {"<name>": <value>, ...}}`.
        rows_json: Vec<String>,
    },
    /// The request could not be answered; the message says why.
    Error(String),
}

impl ControlMessage for QueryResponse {
    const TYPE: MsgType = MsgType::QueryResponse;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(name: &str) -> SystemName {
        SystemName::new(name).expect("valid")
    }

    #[test]
    fn subjects_follow_the_seed_under_the_prefix() {
        let s = Subjects::new("test7.engine").expect("valid");
        let m = sys("movement");
        assert_eq!(s.tick_start(), "test7.engine.coord.tick");
        assert_eq!(s.tick_ack(&m), "test7.engine.coord.tick.done.movement");
        assert_eq!(s.entity_create(), "test7.engine.entity.create");
        assert_eq!(s.entity_destroy(), "test7.engine.entity.destroy");
        assert_eq!(s.component_set(&m), "test7.engine.component.set.movement");
        assert_eq!(
            s.component_changed(&m),
            "test7.engine.component.changed.movement"
        );
        assert_eq!(s.register(&m), "test7.engine.system.register.movement");
        assert_eq!(s.schedule(&m), "test7.engine.system.schedule.movement");
        assert_eq!(s.heartbeat(&m), "test7.engine.system.heartbeat.movement");
        assert_eq!(s.query_request(), "test7.engine.query.request");
        assert_eq!(s.query_response_prefix(), "test7.engine.query.response");
        assert_eq!(s.all(), "test7.engine.>");
    }

    #[test]
    fn names_that_would_change_a_subject_are_refused() {
        for bad in ["", "a.b", "a*", "a>", "a b", "ä"] {
            assert!(SystemName::new(bad).is_err(), "{bad:?} accepted");
        }
        for bad in ["", ".a", "a.", "a..b", "a.*", "a >"] {
            assert!(Subjects::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(SystemName::new("spin_2-b").is_ok());
        let err = SystemName::new("a.b").expect_err("dot");
        assert!(err.to_string().contains("'.'"), "{err}");
    }

    #[test]
    fn msg_types_round_trip_through_their_header_form() {
        for t in MsgType::ALL {
            assert_eq!(MsgType::parse(t.as_str()), Some(t));
        }
        assert_eq!(MsgType::parse("nope"), None);
    }

    #[test]
    fn instance_ids_round_trip_through_hex() {
        let id = InstanceId::random();
        assert_eq!(InstanceId::parse(&id.to_string()), Some(id));
        assert_ne!(InstanceId::random(), InstanceId::random());
    }

    #[test]
    fn a_system_name_is_checked_when_deserialized() {
        let bytes = rmp_serde::to_vec(&"bad.name").expect("encode");
        assert!(rmp_serde::from_slice::<SystemName>(&bytes).is_err());
        let bytes = rmp_serde::to_vec(&"good").expect("encode");
        assert_eq!(
            rmp_serde::from_slice::<SystemName>(&bytes).expect("decode"),
            sys("good")
        );
    }
}
