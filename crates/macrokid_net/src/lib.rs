//! Distributed mode for macrokid: the same systems as separate processes over
//! [NATS](https://nats.io), after seed 003 ("Distributed ECS") and the brief's
//! "Distributed mode".
//!
//! A coordinator owns the canonical world; system processes register their access,
//! receive archetype shards as raw column bytes, run and send changed columns back. This
//! crate holds the parts that do not depend on the ECS's internals:
//!
//! - [`server`]: finding and starting `nats-server` (2.10+) for tests and the cluster
//!   command, on a free loopback port with JetStream.
//! - [`protocol`]: subjects under a configurable prefix, routing headers, control messages.
//! - [`codec`]: MessagePack control messages, raw little-endian column chunks under the
//!   server's `max_payload`, reassembly, per-reason drop counters.
//! - [`security`]: server accounts and per-subject permissions for the coordinator and each
//!   system's processes.
//! - [`liveness`]: which instances are alive (heartbeats, per-tick deadlines) and where
//!   each shard goes.
//! - [`snapshot`]: the latest world snapshot per world id in a JetStream object store.
//! - [`connection`]: reconnect options and disconnect counts (a server restart is
//!   survived).
//! - [`inspect`]: asking a running coordinator about systems and entities
//!   (`macrokid-inspect`).
//! - [`coordinator`]: [`Coordinator`], the canonical world and its tick loop: plan,
//!   shard, send, wait up to a deadline, re-route, merge; snapshots and resume; query
//!   answers.
//! - [`system_process`]: [`run_system`], any `#[derive(System)]` + `Run` system as a
//!   process of the cluster.
//! - [`demo`]: the example simulation of the `macrokid-cluster` binary and the tests.
//!
//! The `macrokid-cluster` binary (`cargo xtask cluster`) starts a server, a coordinator
//! and system processes of the demo, and compares the final world hash with a local run.
//!
//! async-nats and tokio are confined to this crate.
//!
//! ```
//! use macrokid_net::codec::{encode_shard, Column, DropCounters, Reassembler, Shard};
//! use macrokid_net::protocol::SystemName;
//! use std::sync::Arc;
//!
//! let shard = Shard {
//!     tick: 1,
//!     system: SystemName::new("movement")?,
//!     shard: 0,
//!     columns: vec![
//!         Column::entities(&[1, 2, 3]),
//!         Column::new("Position", 12, vec![0u8; 36])?,
//!     ],
//! };
//! let chunks = encode_shard(&shard, 100)?; // a tiny budget: several chunks
//! let mut reassembler = Reassembler::new(1 << 20, Arc::new(DropCounters::new()));
//! let done: Vec<Shard> = chunks.iter().rev().filter_map(|c| reassembler.push(c)).collect();
//! assert_eq!(done, vec![shard]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
pub mod connection;
pub mod coordinator;
pub mod demo;
pub mod inspect;
pub mod liveness;
pub mod protocol;
pub mod security;
pub mod server;
pub mod snapshot;
pub mod system_process;

pub use coordinator::{Coordinator, CoordinatorConfig, TickReport};
pub use system_process::{run_system, run_system_until, SystemProcessConfig};
