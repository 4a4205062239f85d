//! # macrokid_core
//!
//! The shared vocabulary of macrokid: [`ResourceId`], [`ResourceAccess`] with
//! its conflict tests, the [`System`] metadata trait with the
//! [`Reads`]/[`Writes`] markers, and the schedule planner.
//!
//! This crate depends on no thread pool, no GPU crate and no proc-macro
//! crate: std and thiserror only (serde behind the `serde` feature).

mod access;
mod system;

pub use access::{Conflict, ConflictKind, ResourceAccess, ResourceId};
pub use system::{Reads, System, SystemSlot, Writes};
