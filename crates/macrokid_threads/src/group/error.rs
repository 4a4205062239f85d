//! Errors of work-group registration and of ticks.

use crate::run::BoxError;

/// Why [`AppBuilder::build`](super::AppBuilder::build) refused the groups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// Two groups have the same name.
    #[error("two work groups are named `{group}`; give each group its own name")]
    DuplicateGroup {
        /// The repeated name.
        group: String,
    },

    /// `AppBuilder::add_system` named a group that is not registered, or
    /// is async.
    #[error(
        "system `{system}` was added to work group `{group}`, which is not a registered \
         synchronized group; register the group first (`add_group`) or fix the name"
    )]
    UnknownGroup {
        /// The group asked for.
        group: String,
        /// The system.
        system: String,
    },

    /// One system (by name) was added to two groups.
    #[error(
        "system `{system}` is in work group `{first}` and in work group `{second}`; a system \
         belongs to one group only: remove it from one of them"
    )]
    SystemInTwoGroups {
        /// The system's name.
        system: String,
        /// The group registered first.
        first: String,
        /// The group registered second.
        second: String,
    },

    /// Two groups write one resource: each writable component or resource
    /// is owned by a single group.
    #[error(
        "work groups `{first}` and `{second}` both write `{resource}`; one group must own each \
         written resource: move the writers into one group, or make one of them record commands \
         instead"
    )]
    WriteConflict {
        /// The resource (type name).
        resource: String,
        /// The group registered first.
        first: String,
        /// The group registered second.
        second: String,
    },

    /// A system of an async group declares a write, and the group does not
    /// allow writes.
    #[error(
        "system `{system}` of async work group `{group}` writes `{resource}`; async groups are \
         read-only: declare it as a read and record commands, or call `allow_writes()` on the \
         group"
    )]
    AsyncWrite {
        /// The async group.
        group: String,
        /// The writing system.
        system: String,
        /// The resource it declares to write (type name).
        resource: String,
    },
}

/// Why a tick stopped before its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TickError {
    /// A system of a group under [`ErrorPolicy::Abort`](super::ErrorPolicy::Abort)
    /// failed or panicked: the tick stopped after it.
    #[error("tick {tick} aborted: system `{system}` of work group `{group}` failed: {error}")]
    Aborted {
        /// The tick's index.
        tick: u64,
        /// The group.
        group: String,
        /// The failing system.
        system: String,
        /// Its error text, or `panicked: <message>`.
        error: String,
    },

    /// A lifecycle hook returned an error: the tick stopped there.
    #[error("tick {tick}: {stage} hook `{hook}` failed: {source}")]
    Hook {
        /// The tick's index.
        tick: u64,
        /// `pre_tick`, `post_tick` or `maintenance`.
        stage: &'static str,
        /// The hook's name.
        hook: String,
        /// What it reported.
        #[source]
        source: BoxError,
    },
}
