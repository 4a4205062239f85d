//! Work groups: sets of systems with a mode, a priority, an interval and an
//! error policy, run tick by tick by an [`App`] (design: the game-server
//! ECS scheduler of seed 002, "WorkGroup" and "Execution Flow").
//!
//! - [`GroupMode::Synchronized`] groups run inside the tick, one after the
//!   other (higher [`priority`](WorkGroup::priority) first, then
//!   registration order), their systems in the order they were added, each
//!   with `&mut` access to the world.
//! - [`GroupMode::Async`] groups are dispatched to the pool after the
//!   synchronized ones. They never borrow the world: at dispatch the group's
//!   `extract` function builds an owned view of what it reads (on the tick
//!   thread), and its systems run on that view, recording deferred commands.
//!   The tick waits at a barrier for each group until its deadline; a group
//!   on time has its commands applied (in priority order); a late group does
//!   not block the tick: it is reported [`GroupOutcome::TimedOut`], and its
//!   result, when it arrives, is dropped and counted. Async systems may
//!   declare only reads unless the group [allows writes](WorkGroup::allow_writes)
//!   (which then go through its commands).
//! - [`ErrorPolicy`] says what a failing system does to the tick: `Abort`,
//!   `Continue` or `RetryOnce`. Every system records into a fresh command
//!   buffer that is applied only when the system succeeds, so a failed
//!   attempt's commands never reach the world.
//!
//! The world is any type implementing [`GroupWorld`]; the ECS implements
//! it for its `World`.

mod app;
mod error;
mod system;

use std::fmt;
use std::time::Duration;

use macrokid_core::{ResourceAccess, SystemDescriptor};

pub use app::{App, AppBuilder, GroupReport, Plugin, TickInfo, TickReport};
pub use error::{RegistrationError, TickError};
pub use system::{AsyncSystem, FnAsyncSystem, FnSystem, GroupSystem, SystemStatus};

/// A world that work groups run on: deferred commands and how they apply.
pub trait GroupWorld {
    /// The deferred writes a system records (entity spawns, component
    /// inserts...). A system gets a fresh, empty one per attempt.
    type Commands: Default + Send + 'static;

    /// Applies `commands` to the world, in recording order.
    fn apply_commands(&mut self, commands: Self::Commands);
}

/// Whether a group runs inside the tick or on the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupMode {
    /// In the configured order, inside the tick, with `&mut` world access.
    Synchronized,
    /// On the pool, on an extracted view, merged at the barrier if it
    /// finishes within `deadline` of its dispatch.
    Async {
        /// How long the barrier waits for the group, from its dispatch.
        deadline: Duration,
    },
}

/// What a failing system (an error or a panic) does to its group and tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Stop the tick: the rest of the group and the groups after it do not
    /// run, the post-tick hooks do not run, and [`App::tick`] returns
    /// [`TickError::Aborted`] naming the system and group.
    Abort,
    /// Log the error (`tracing::warn!`), drop the failing system's
    /// commands, and go on with the next system.
    #[default]
    Continue,
    /// Drop the failed attempt's commands and run the system once more,
    /// with a fresh command buffer; a second failure is then handled as
    /// under `Continue`.
    RetryOnce,
}

/// How a group's run in one tick ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupOutcome {
    /// Its systems ran; at least one did work.
    Executed,
    /// Its systems ran and every one reported [`SystemStatus::SkippedEmpty`]
    /// (or the group has none).
    SkippedEmpty,
    /// Not this tick: the tick index is not a multiple of its interval.
    NotDue,
    /// An async group whose previous run is still going (it timed out
    /// earlier): not dispatched again until that run ends.
    StillRunning,
    /// A system failed (after its retry, under `RetryOnce`).
    Errored {
        /// The failing system.
        system: String,
        /// What went wrong (the error's text, or `panicked: <message>`).
        error: String,
    },
    /// An async group that missed its deadline; its result is dropped when
    /// it arrives.
    TimedOut,
}

impl GroupOutcome {
    /// The outcome's name as used in metrics and traces (`executed`,
    /// `skipped_empty`, `not_due`, `still_running`, `errored`, `timed_out`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Executed => "executed",
            Self::SkippedEmpty => "skipped_empty",
            Self::NotDue => "not_due",
            Self::StillRunning => "still_running",
            Self::Errored { .. } => "errored",
            Self::TimedOut => "timed_out",
        }
    }
}

/// A synchronized group's system, with its descriptor taken at
/// registration.
pub(crate) struct SyncEntry<W: GroupWorld> {
    pub(crate) descriptor: SystemDescriptor,
    pub(crate) system: Box<dyn GroupSystem<W>>,
}

/// The systems of a group, by mode.
pub(crate) enum GroupKind<W: GroupWorld> {
    Sync(Vec<SyncEntry<W>>),
    Async(Box<dyn app::AsyncRunner<W>>),
}

/// A work group: systems with a mode, a priority, an interval and an error
/// policy. Built with [`WorkGroup::synchronized`] or
/// [`WorkGroup::asynchronous`], registered with [`AppBuilder::add_group`].
///
/// ```
/// use macrokid_threads::{ErrorPolicy, FnSystem, GroupWorld, SystemStatus, WorkGroup};
/// use macrokid_core::ResourceAccess;
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl GroupWorld for Counter {
///     type Commands = Vec<u64>;
///     fn apply_commands(&mut self, commands: Vec<u64>) {
///         self.0 += commands.iter().sum::<u64>();
///     }
/// }
///
/// let group = WorkGroup::<Counter>::synchronized("movement")
///     .priority(10)
///     .every(2)
///     .policy(ErrorPolicy::RetryOnce)
///     .system(FnSystem::new("step", ResourceAccess::new(), |_w: &mut Counter, cmds: &mut Vec<u64>| {
///         cmds.push(1);
///         Ok(SystemStatus::Executed)
///     }));
/// assert_eq!(group.name(), "movement");
/// assert_eq!(group.system_names(), ["step"]);
/// ```
pub struct WorkGroup<W: GroupWorld> {
    pub(crate) name: String,
    pub(crate) priority: i32,
    pub(crate) interval: u64,
    pub(crate) policy: ErrorPolicy,
    pub(crate) allow_writes: bool,
    pub(crate) kind: GroupKind<W>,
}

impl<W: GroupWorld> WorkGroup<W> {
    /// A synchronized group named `name`: priority 0, every tick,
    /// [`ErrorPolicy::Continue`].
    pub fn synchronized(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            priority: 0,
            interval: 1,
            policy: ErrorPolicy::default(),
            allow_writes: false,
            kind: GroupKind::Sync(Vec::new()),
        }
    }

    /// Builder: adds a system to a synchronized group (systems run in the
    /// order they are added).
    ///
    /// # Panics
    /// When the group is asynchronous (use [`async_system`](Self::async_system)):
    /// a programming error, not input.
    #[must_use]
    pub fn system(mut self, system: impl GroupSystem<W> + 'static) -> Self {
        match &mut self.kind {
            GroupKind::Sync(systems) => systems.push(SyncEntry {
                descriptor: system.descriptor(),
                system: Box::new(system),
            }),
            GroupKind::Async(_) => panic!(
                "`WorkGroup::system` on async group `{}`: add async systems with \
                 `async_system`",
                self.name
            ),
        }
        self
    }

    /// Builder: the group's priority; groups of one mode run (and async
    /// results merge) from the highest priority to the lowest, ties in
    /// registration order. Default 0.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Builder: run on ticks whose index is a multiple of `ticks` (the
    /// first tick has index 0); `0` is taken as 1. Default every tick.
    #[must_use]
    pub fn every(mut self, ticks: u64) -> Self {
        self.interval = ticks.max(1);
        self
    }

    /// Builder: the error policy (default [`ErrorPolicy::Continue`]).
    #[must_use]
    pub fn policy(mut self, policy: ErrorPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builder: lets the systems of an async group declare writes (they
    /// reach the world through the group's commands, at the barrier).
    /// Without it, registering an async group with a writing system is
    /// [`RegistrationError::AsyncWrite`]. No effect on synchronized groups.
    #[must_use]
    pub fn allow_writes(mut self) -> Self {
        self.allow_writes = true;
        self
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's mode.
    pub fn mode(&self) -> GroupMode {
        match &self.kind {
            GroupKind::Sync(_) => GroupMode::Synchronized,
            GroupKind::Async(runner) => GroupMode::Async {
                deadline: runner.deadline(),
            },
        }
    }

    /// The descriptors of its systems, in run order.
    pub fn descriptors(&self) -> Vec<&SystemDescriptor> {
        match &self.kind {
            GroupKind::Sync(systems) => systems.iter().map(|e| &e.descriptor).collect(),
            GroupKind::Async(runner) => runner.descriptors().iter().collect(),
        }
    }

    /// The names of its systems, in run order.
    pub fn system_names(&self) -> Vec<&str> {
        self.descriptors().into_iter().map(|d| &*d.name).collect()
    }

    /// The union of its systems' accesses.
    pub fn access(&self) -> ResourceAccess {
        let mut access = ResourceAccess::new();
        for descriptor in self.descriptors() {
            access.extend(&descriptor.access);
        }
        access
    }
}

impl<W: GroupWorld + 'static> WorkGroup<W> {
    /// An async group named `name` whose systems run on a view `V` that
    /// `extract` builds from the world at dispatch (on the tick thread),
    /// waited for at the barrier for `deadline` from its dispatch.
    pub fn asynchronous<V: Send + Sync + 'static>(
        name: impl Into<String>,
        deadline: Duration,
        extract: impl FnMut(&W) -> V + Send + 'static,
    ) -> Self {
        let name = name.into();
        Self {
            kind: GroupKind::Async(Box::new(app::AsyncGroup::<W, V>::new(
                deadline,
                Box::new(extract),
            ))),
            name,
            priority: 0,
            interval: 1,
            policy: ErrorPolicy::default(),
            allow_writes: false,
        }
    }

    /// Builder: adds a system to an async group whose view is `V`.
    ///
    /// # Panics
    /// When the group is synchronized, or its view is not `V` (a
    /// programming error, not input).
    #[must_use]
    pub fn async_system<V: Send + Sync + 'static>(
        mut self,
        system: impl AsyncSystem<V, W::Commands> + 'static,
    ) -> Self {
        match &mut self.kind {
            GroupKind::Async(runner) => {
                let descriptor = system.descriptor();
                let boxed: Box<dyn AsyncSystem<V, W::Commands>> = Box::new(system);
                if let Err(found) = runner.push(descriptor, Box::new(boxed)) {
                    panic!(
                        "`WorkGroup::async_system` on `{}`: the system runs on a view `{}` but \
                         the group extracts `{found}`",
                        self.name,
                        std::any::type_name::<V>()
                    );
                }
            }
            GroupKind::Sync(_) => panic!(
                "`WorkGroup::async_system` on synchronized group `{}`: add its systems with \
                 `system`",
                self.name
            ),
        }
        self
    }
}

impl<W: GroupWorld> fmt::Debug for WorkGroup<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkGroup")
            .field("name", &self.name)
            .field("mode", &self.mode())
            .field("priority", &self.priority)
            .field("interval", &self.interval)
            .field("policy", &self.policy)
            .field("systems", &self.system_names())
            .finish()
    }
}
