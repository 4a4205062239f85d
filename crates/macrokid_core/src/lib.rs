//! # macrokid_core
//!
//! The shared vocabulary of macrokid: [`ResourceId`], [`ResourceAccess`] with
//! its conflict tests, the [`System`] metadata trait with the
//! [`Reads`]/[`Writes`] markers, the schedule planner, and generational
//! [`Handle`]s with the [`SlotMap`] that issues them.
//!
//! This crate depends on no thread pool, no GPU crate and no proc-macro
//! crate: std and thiserror only (serde behind the `serde` feature).
//!
//! # Planning a schedule
//!
//! Stages are ordered by their `after`/`before` constraints; the systems of a
//! stage are split into batches of systems whose accesses do not conflict.
//! The resulting [`Plan`] is immutable and deterministic; a runtime (the
//! `Scheduler` of `macrokid_threads`) runs it batch by batch.
//!
//! ```
//! use macrokid_core::{Plan, PlanError, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
//!
//! struct Position;
//! struct Velocity;
//! let pos = ResourceId::of::<Position>();
//! let vel = ResourceId::of::<Velocity>();
//!
//! let plan = Plan::build([
//!     StageDescriptor::new("input"),
//!     StageDescriptor::new("simulate")
//!         .after("input")
//!         .with_system(SystemDescriptor::new("integrate", ResourceAccess::new().with_read(vel).with_write(pos)))
//!         .with_system(SystemDescriptor::new("steer", ResourceAccess::new().with_write(vel)))
//!         .with_system(SystemDescriptor::new("count", ResourceAccess::new())),
//!     StageDescriptor::new("present").after("simulate"),
//! ])?;
//! assert_eq!(plan.topo_groups(), [["input"], ["simulate"], ["present"]]);
//! // `steer` writes what `integrate` reads: it waits for the next batch.
//! println!("{plan}");
//! assert_eq!(plan.to_string().lines().nth(1), Some("simulate (after input): [integrate, count] [steer]"));
//!
//! // Mistakes are errors that say what to fix.
//! let err = Plan::build([
//!     StageDescriptor::new("a").after("b"),
//!     StageDescriptor::new("b").after("a"),
//! ])
//! .unwrap_err();
//! assert!(matches!(err, PlanError::Cycle { .. }));
//! assert!(err.to_string().contains("a -> b -> a"));
//! # Ok::<(), PlanError>(())
//! ```

mod access;
mod handle;
mod schedule;
mod system;

pub use access::{Conflict, ConflictKind, EntityAllocator, ResourceAccess, ResourceId};
pub use handle::{Handle, SlotMap};
pub use schedule::{
    batch_by_conflict, check_stage_graph, Batch, GraphIssue, ListEntry, OrderList, Plan, PlanError,
    StageDescriptor, StagePlan, SystemDescriptor,
};
pub use system::{Despawns, Inserts, Reads, Removes, Spawns, System, SystemSlot, Writes};
