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
//!
//! async-nats and tokio are confined to this crate.
//!

pub mod server;
