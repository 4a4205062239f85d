//! [`App`]: the tick loop over work groups, with lifecycle hooks and
//! plugins; [`AppBuilder`] registers and validates them.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use macrokid_core::{ResourceAccess, SystemDescriptor, SystemSlot};

use super::{
    AsyncSystem, ErrorPolicy, GroupKind, GroupOutcome, GroupSystem, GroupWorld, RegistrationError,
    SyncEntry, SystemStatus, TickError, WorkGroup,
};
use crate::executor::{SchedulerObserver, SystemOutcome, SystemReport};
use crate::panic::panic_message;
use crate::pool::ThreadPool;
use crate::run::BoxError;

/// What a hook learns of the tick it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickInfo {
    /// The tick's index, from 0.
    pub tick: u64,
    /// When the tick started.
    pub started: Instant,
}

/// A summary of one group's run in one tick, given to
/// [`SchedulerObserver::on_group`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GroupReport<'a> {
    /// The group's name.
    pub group: &'a str,
    /// The tick's index.
    pub tick: u64,
    /// Whether the group is asynchronous.
    pub is_async: bool,
    /// The union of its systems' declared accesses.
    pub access: &'a ResourceAccess,
    /// Wall-clock time: of its systems for a synchronized group; from
    /// dispatch to the barrier's verdict for an async one (zero when it did
    /// not run).
    pub duration: Duration,
    /// How it ended.
    pub outcome: &'a GroupOutcome,
    /// System attempts made, retries included.
    pub attempts: usize,
}

/// What one tick did, returned by [`App::tick`] and given to
/// [`SchedulerObserver::on_tick`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TickReport {
    /// The tick's index, from 0.
    pub tick: u64,
    /// Wall-clock time of the whole tick, hooks included.
    pub duration: Duration,
    /// Every group's outcome: synchronized groups in run order, then async
    /// groups in merge order.
    pub groups: Vec<(Arc<str>, GroupOutcome)>,
    /// Async groups still running at the end of the tick (late ones).
    pub async_in_flight: usize,
    /// Late async results dropped so far, over the app's life.
    pub late_results_dropped: u64,
}

impl TickReport {
    /// The outcome of group `name` in this tick.
    pub fn outcome(&self, name: &str) -> Option<&GroupOutcome> {
        self.groups
            .iter()
            .find(|(group, _)| &**group == name)
            .map(|(_, outcome)| outcome)
    }
}

/// A module of an application: registers its groups, systems, hooks and
/// start-up work (resources) on an [`AppBuilder`].
///
/// ```
/// use macrokid_threads::{App, AppBuilder, FnSystem, GroupWorld, Plugin, SystemStatus, WorkGroup};
/// use macrokid_core::ResourceAccess;
///
/// #[derive(Default)]
/// struct World { ticks: u64, greeting: Option<&'static str> }
/// impl GroupWorld for World {
///     type Commands = ();
///     fn apply_commands(&mut self, (): ()) {}
/// }
///
/// struct Clock;
/// impl Plugin<World> for Clock {
///     fn build(&self, app: &mut AppBuilder<World>) {
///         app.add_startup("greet", |w: &mut World| w.greeting = Some("hello"));
///         app.add_group(WorkGroup::synchronized("clock").system(FnSystem::new(
///             "count",
///             ResourceAccess::new(),
///             |w: &mut World, _: &mut ()| {
///                 w.ticks += 1;
///                 Ok(SystemStatus::Executed)
///             },
///         )));
///     }
/// }
///
/// let mut app = App::builder().add_plugin(Clock).build()?;
/// let mut world = World::default();
/// app.tick(&mut world)?;
/// app.tick(&mut world)?;
/// assert_eq!((world.ticks, world.greeting), (2, Some("hello")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Plugin<W: GroupWorld> {
    /// Registers what the plugin brings.
    fn build(&self, app: &mut AppBuilder<W>);
}

type Hook<W> = Box<dyn FnMut(&mut W, &TickInfo) -> Result<(), BoxError> + Send>;
type Startup<W> = Box<dyn FnOnce(&mut W) + Send>;

struct NamedHook<W> {
    name: String,
    every: u64,
    run: Hook<W>,
}

/// Registers work groups, hooks and plugins, then validates them into an
/// [`App`].
pub struct AppBuilder<W: GroupWorld> {
    groups: Vec<WorkGroup<W>>,
    extra_systems: Vec<(String, SyncEntry<W>)>,
    startup: Vec<(String, Startup<W>)>,
    pre_tick: Vec<NamedHook<W>>,
    post_tick: Vec<NamedHook<W>>,
    maintenance: Vec<NamedHook<W>>,
    pool: Option<Arc<ThreadPool>>,
    observer: Option<Arc<dyn SchedulerObserver>>,
}

impl<W: GroupWorld> Default for AppBuilder<W> {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            extra_systems: Vec::new(),
            startup: Vec::new(),
            pre_tick: Vec::new(),
            post_tick: Vec::new(),
            maintenance: Vec::new(),
            pool: None,
            observer: None,
        }
    }
}

impl<W: GroupWorld> AppBuilder<W> {
    /// Registers a work group.
    pub fn add_group(&mut self, group: WorkGroup<W>) -> &mut Self {
        self.groups.push(group);
        self
    }

    /// Adds a system to the synchronized group named `group` (registered
    /// before or after this call); for plugins that extend another's group.
    /// A group that does not exist, or is async, is reported by
    /// [`build`](Self::build) as [`RegistrationError::UnknownGroup`].
    pub fn add_system(
        &mut self,
        group: impl Into<String>,
        system: impl GroupSystem<W> + 'static,
    ) -> &mut Self {
        self.extra_systems.push((
            group.into(),
            SyncEntry {
                descriptor: system.descriptor(),
                system: Box::new(system),
            },
        ));
        self
    }

    /// Runs `f` once on the world, before the first tick's pre-tick hooks
    /// (insert resources, spawn the initial entities). Start-up work runs in
    /// registration order.
    pub fn add_startup(
        &mut self,
        name: impl Into<String>,
        f: impl FnOnce(&mut W) + Send + 'static,
    ) -> &mut Self {
        self.startup.push((name.into(), Box::new(f)));
        self
    }

    /// A hook run at the start of every tick, before any group (network
    /// input, clock sync). Hooks run in registration order; an error stops
    /// the tick with [`TickError::Hook`].
    pub fn add_pre_tick(
        &mut self,
        name: impl Into<String>,
        f: impl FnMut(&mut W, &TickInfo) -> Result<(), BoxError> + Send + 'static,
    ) -> &mut Self {
        self.pre_tick.push(NamedHook {
            name: name.into(),
            every: 1,
            run: Box::new(f),
        });
        self
    }

    /// A hook run at the end of every tick that was not aborted, after the
    /// async barrier (network output, events).
    pub fn add_post_tick(
        &mut self,
        name: impl Into<String>,
        f: impl FnMut(&mut W, &TickInfo) -> Result<(), BoxError> + Send + 'static,
    ) -> &mut Self {
        self.post_tick.push(NamedHook {
            name: name.into(),
            every: 1,
            run: Box::new(f),
        });
        self
    }

    /// A hook run after the post-tick hooks on ticks whose index is a
    /// multiple of `every` (persistence, clean-up); `0` is taken as 1.
    pub fn add_maintenance(
        &mut self,
        name: impl Into<String>,
        every: u64,
        f: impl FnMut(&mut W, &TickInfo) -> Result<(), BoxError> + Send + 'static,
    ) -> &mut Self {
        self.maintenance.push(NamedHook {
            name: name.into(),
            every: every.max(1),
            run: Box::new(f),
        });
        self
    }

    /// Lets `plugin` register what it brings.
    pub fn add_plugin(&mut self, plugin: impl Plugin<W>) -> &mut Self {
        plugin.build(self);
        self
    }

    /// The pool async groups run on (default: [`ThreadPool::global`]).
    pub fn pool(&mut self, pool: Arc<ThreadPool>) -> &mut Self {
        self.pool = Some(pool);
        self
    }

    /// Reports every system, group and tick to `observer`.
    pub fn observer(&mut self, observer: Arc<dyn SchedulerObserver>) -> &mut Self {
        self.observer = Some(observer);
        self
    }

    /// Validates the registration and builds the app. Groups are sorted by
    /// priority (highest first), ties in registration order.
    ///
    /// # Errors
    /// - [`RegistrationError::DuplicateGroup`]: two groups share a name;
    /// - [`RegistrationError::UnknownGroup`]: `add_system` named a group
    ///   that does not exist or is async;
    /// - [`RegistrationError::SystemInTwoGroups`]: one system name in two
    ///   groups;
    /// - [`RegistrationError::WriteConflict`]: two groups write one resource;
    /// - [`RegistrationError::AsyncWrite`]: a system of an async group that
    ///   does not allow writes declares one.
    ///
    /// Each names the groups involved.
    pub fn build(&mut self) -> Result<App<W>, RegistrationError> {
        let mut groups = std::mem::take(&mut self.groups);
        for (target, entry) in std::mem::take(&mut self.extra_systems) {
            match groups.iter_mut().find(|g| g.name == target) {
                Some(WorkGroup {
                    kind: GroupKind::Sync(systems),
                    ..
                }) => systems.push(entry),
                _ => {
                    return Err(RegistrationError::UnknownGroup {
                        group: target,
                        system: entry.descriptor.name.into_owned(),
                    })
                }
            }
        }
        validate(&groups)?;

        let mut states: Vec<GroupState<W>> = groups
            .into_iter()
            .map(|group| GroupState {
                name: Arc::from(group.name.as_str()),
                access: group.access(),
                priority: group.priority,
                interval: group.interval,
                policy: group.policy,
                kind: group.kind,
            })
            .collect();
        // Stable: ties keep registration order.
        states.sort_by_key(|g| std::cmp::Reverse(g.priority));
        let (sync, asynchronous): (Vec<_>, Vec<_>) = states
            .into_iter()
            .partition(|g| matches!(g.kind, GroupKind::Sync(_)));
        Ok(App {
            sync_groups: sync,
            async_groups: asynchronous,
            startup: std::mem::take(&mut self.startup),
            pre_tick: std::mem::take(&mut self.pre_tick),
            post_tick: std::mem::take(&mut self.post_tick),
            maintenance: std::mem::take(&mut self.maintenance),
            pool: self
                .pool
                .take()
                .unwrap_or_else(|| Arc::clone(ThreadPool::global_arc())),
            observer: self.observer.take(),
            next_tick: 0,
            late_dropped: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl<W: GroupWorld> fmt::Debug for AppBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppBuilder")
            .field("groups", &self.groups)
            .field("pre_tick", &self.pre_tick.len())
            .field("post_tick", &self.post_tick.len())
            .field("maintenance", &self.maintenance.len())
            .finish_non_exhaustive()
    }
}

/// The registration rules, checked in registration order.
fn validate<W: GroupWorld>(groups: &[WorkGroup<W>]) -> Result<(), RegistrationError> {
    for (i, group) in groups.iter().enumerate() {
        if groups[..i].iter().any(|g| g.name == group.name) {
            return Err(RegistrationError::DuplicateGroup {
                group: group.name.clone(),
            });
        }
        if matches!(group.kind, GroupKind::Async(_)) && !group.allow_writes {
            for descriptor in group.descriptors() {
                if let Some(resource) = descriptor.access.writes().first() {
                    return Err(RegistrationError::AsyncWrite {
                        group: group.name.clone(),
                        system: descriptor.name.to_string(),
                        resource: resource.name().to_owned(),
                    });
                }
            }
        }
        for earlier in &groups[..i] {
            for system in group.system_names() {
                if earlier.system_names().contains(&system) {
                    return Err(RegistrationError::SystemInTwoGroups {
                        system: system.to_owned(),
                        first: earlier.name.clone(),
                        second: group.name.clone(),
                    });
                }
            }
            // Groups own components, not the entity allocator: spawning in
            // two groups is fine (synchronized groups run one at a time, and
            // an async group that spawns was explicitly allowed to write).
            let allocator = macrokid_core::ResourceId::entity_allocator();
            let (mine, theirs) = (group.access(), earlier.access());
            if let Some(resource) = mine
                .writes()
                .iter()
                .find(|&&w| w != allocator && theirs.writes().contains(&w))
            {
                return Err(RegistrationError::WriteConflict {
                    resource: resource.name().to_owned(),
                    first: earlier.name.clone(),
                    second: group.name.clone(),
                });
            }
        }
    }
    Ok(())
}

struct GroupState<W: GroupWorld> {
    name: Arc<str>,
    access: ResourceAccess,
    priority: i32,
    interval: u64,
    policy: ErrorPolicy,
    kind: GroupKind<W>,
}

/// The tick loop over validated work groups.
///
/// A tick ([`App::tick`]), after the design of seed 002:
/// 1. start-up work (first tick only), then the pre-tick hooks;
/// 2. the synchronized groups, by priority, each system's commands applied
///    right after it succeeds;
/// 3. the async groups that are due are dispatched to the pool (their views
///    extracted now, after the synchronized writes);
/// 4. the barrier: each async group is awaited until its deadline, in
///    priority order; those on time have their commands merged, late ones
///    are reported [`GroupOutcome::TimedOut`] and their results dropped;
/// 5. post-tick hooks, then the maintenance hooks that are due.
///
/// Spans (`tracing`): `tick` (field `tick`) around it all, `group` (fields
/// `group`, `mode`) around each group's run (for an async group, on the pool
/// thread that runs it, with an `extract` child span on the tick thread for
/// its view), `system` (fields `system`, `group`) around each system
/// attempt, `hook` (fields `stage`, `hook`) around each hook.
pub struct App<W: GroupWorld> {
    sync_groups: Vec<GroupState<W>>,
    async_groups: Vec<GroupState<W>>,
    startup: Vec<(String, Startup<W>)>,
    pre_tick: Vec<NamedHook<W>>,
    post_tick: Vec<NamedHook<W>>,
    maintenance: Vec<NamedHook<W>>,
    pool: Arc<ThreadPool>,
    observer: Option<Arc<dyn SchedulerObserver>>,
    next_tick: u64,
    late_dropped: Arc<AtomicU64>,
}

impl<W: GroupWorld> App<W> {
    /// A builder.
    pub fn builder() -> AppBuilder<W> {
        AppBuilder::default()
    }

    /// The index the next tick will have (the number of ticks run).
    pub fn ticks(&self) -> u64 {
        self.next_tick
    }

    /// Late async results dropped so far.
    pub fn late_results_dropped(&self) -> u64 {
        self.late_dropped.load(Ordering::SeqCst)
    }

    /// The groups' names: synchronized ones in run order, then async ones
    /// in merge order.
    pub fn group_names(&self) -> Vec<&str> {
        self.sync_groups
            .iter()
            .chain(&self.async_groups)
            .map(|g| &*g.name)
            .collect()
    }

    /// Runs one tick (see the type's docs for its steps).
    ///
    /// # Errors
    /// - [`TickError::Aborted`] when a system of a group under
    ///   [`ErrorPolicy::Abort`] fails or panics: for a synchronized group
    ///   the rest of the tick does not run; for an async group the barrier
    ///   completes (on-time results are merged) and the post-tick and
    ///   maintenance hooks do not run;
    /// - [`TickError::Hook`] when a hook returns an error (the tick stops
    ///   there).
    ///
    /// The tick index advances either way.
    pub fn tick(&mut self, world: &mut W) -> Result<TickReport, TickError> {
        let info = TickInfo {
            tick: self.next_tick,
            started: Instant::now(),
        };
        self.next_tick += 1;
        let span = tracing::info_span!("tick", tick = info.tick);
        let _entered = span.enter();

        for (name, startup) in self.startup.drain(..) {
            let _span = tracing::info_span!("startup", hook = &*name).entered();
            startup(world);
        }
        run_hooks(&mut self.pre_tick, "pre_tick", world, &info)?;

        let mut outcomes = Vec::with_capacity(self.sync_groups.len() + self.async_groups.len());
        for group in &mut self.sync_groups {
            let outcome = run_sync_group(group, world, &info, self.observer.as_deref());
            if let Some((system, error)) = abort_of(group.policy, &outcome.0) {
                return Err(TickError::Aborted {
                    tick: info.tick,
                    group: group.name.to_string(),
                    system,
                    error,
                });
            }
            outcomes.push((Arc::clone(&group.name), outcome.0));
        }

        // Dispatch, then the barrier.
        let mut pending = Vec::with_capacity(self.async_groups.len());
        for group in &mut self.async_groups {
            let GroupKind::Async(runner) = &mut group.kind else {
                unreachable!("async_groups holds async groups only");
            };
            if info.tick % group.interval != 0 {
                pending.push(Dispatched::Skipped(GroupOutcome::NotDue));
                continue;
            }
            let job = AsyncJob {
                group: Arc::clone(&group.name),
                policy: group.policy,
                observer: self.observer.clone(),
                late_dropped: Arc::clone(&self.late_dropped),
                span: tracing::info_span!("group", group = &*group.name, mode = "async"),
            };
            let deadline = runner.deadline();
            match runner.dispatch(world, &self.pool, job) {
                Some(rx) => pending.push(Dispatched::Running {
                    rx,
                    dispatched: Instant::now(),
                    deadline,
                }),
                None => pending.push(Dispatched::Skipped(GroupOutcome::StillRunning)),
            }
        }
        let mut abort = None;
        for (group, dispatched) in self.async_groups.iter().zip(pending) {
            let (outcome, duration, attempts) = match dispatched {
                Dispatched::Skipped(outcome) => (outcome, Duration::ZERO, 0),
                Dispatched::Running {
                    rx,
                    dispatched,
                    deadline,
                } => match dispatched
                    .checked_add(deadline)
                    .map_or_else(|| rx.recv().map_err(Into::into), |at| rx.recv_deadline(at))
                {
                    Ok(result) => {
                        for commands in result.commands {
                            world.apply_commands(commands);
                        }
                        (result.outcome, dispatched.elapsed(), result.attempts)
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // A result that lands between the timeout and here
                        // is late too: drop it and count it (after `rx`
                        // drops, the job counts its own failed send).
                        if rx.try_recv().is_ok() {
                            self.late_dropped.fetch_add(1, Ordering::SeqCst);
                        }
                        tracing::warn!(
                            group = &*group.name,
                            ?deadline,
                            "async group missed its deadline"
                        );
                        (GroupOutcome::TimedOut, dispatched.elapsed(), 0)
                    }
                    Err(RecvTimeoutError::Disconnected) => (
                        GroupOutcome::Errored {
                            system: String::new(),
                            error: "the async group's job ended without a result".to_owned(),
                        },
                        dispatched.elapsed(),
                        0,
                    ),
                },
            };
            if let Some(observer) = &self.observer {
                observer.on_group(&GroupReport {
                    group: &group.name,
                    tick: info.tick,
                    is_async: true,
                    access: &group.access,
                    duration,
                    outcome: &outcome,
                    attempts,
                });
            }
            if abort.is_none() {
                abort = abort_of(group.policy, &outcome)
                    .map(|(system, error)| (group.name.to_string(), system, error));
            }
            outcomes.push((Arc::clone(&group.name), outcome));
        }
        if let Some((group, system, error)) = abort {
            return Err(TickError::Aborted {
                tick: info.tick,
                group,
                system,
                error,
            });
        }

        run_hooks(&mut self.post_tick, "post_tick", world, &info)?;
        run_hooks(&mut self.maintenance, "maintenance", world, &info)?;

        let report = TickReport {
            tick: info.tick,
            duration: info.started.elapsed(),
            groups: outcomes,
            async_in_flight: self
                .async_groups
                .iter()
                .filter(|g| matches!(&g.kind, GroupKind::Async(r) if r.in_flight()))
                .count(),
            late_results_dropped: self.late_dropped.load(Ordering::SeqCst),
        };
        if let Some(observer) = &self.observer {
            observer.on_tick(&report);
        }
        Ok(report)
    }
}

impl<W: GroupWorld> fmt::Debug for App<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("groups", &self.group_names())
            .field("ticks", &self.next_tick)
            .field("late_results_dropped", &self.late_results_dropped())
            .finish_non_exhaustive()
    }
}

enum Dispatched<C> {
    Skipped(GroupOutcome),
    Running {
        rx: Receiver<AsyncResult<C>>,
        dispatched: Instant,
        deadline: Duration,
    },
}

/// `Some((system, error))` when `outcome` stops the tick under `policy`.
fn abort_of(policy: ErrorPolicy, outcome: &GroupOutcome) -> Option<(String, String)> {
    match (policy, outcome) {
        (ErrorPolicy::Abort, GroupOutcome::Errored { system, error }) => {
            Some((system.clone(), error.clone()))
        }
        _ => None,
    }
}

fn run_hooks<W>(
    hooks: &mut [NamedHook<W>],
    stage: &'static str,
    world: &mut W,
    info: &TickInfo,
) -> Result<(), TickError> {
    for hook in hooks {
        if info.tick % hook.every != 0 {
            continue;
        }
        let _span = tracing::info_span!("hook", stage, hook = &*hook.name).entered();
        (hook.run)(world, info).map_err(|source| TickError::Hook {
            tick: info.tick,
            stage,
            hook: hook.name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// One system attempt that failed.
struct Failure {
    message: String,
    panicked: bool,
}

/// Runs one attempt, catching a panic.
fn attempt(run: impl FnOnce() -> Result<SystemStatus, BoxError>) -> Result<SystemStatus, Failure> {
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(error)) => Err(Failure {
            message: error.to_string(),
            panicked: false,
        }),
        Err(payload) => Err(Failure {
            message: format!("panicked: {}", panic_message(payload.as_ref())),
            panicked: true,
        }),
    }
}

/// What running one system under a policy gave: its status or last
/// failure, the commands to apply (empty after a failure), and attempts.
struct SystemRun<C> {
    result: Result<SystemStatus, String>,
    commands: Option<C>,
    attempts: usize,
}

/// Runs one system under `policy`: each attempt gets a fresh command
/// buffer; a failed attempt's buffer is dropped (rolled back to the empty
/// snapshot); under `RetryOnce` a failure is followed by one more attempt.
fn run_system<C: Default>(
    group: &str,
    descriptor: &SystemDescriptor,
    index: usize,
    policy: ErrorPolicy,
    is_async: bool,
    observer: Option<&dyn SchedulerObserver>,
    mut run: impl FnMut(&mut C) -> Result<SystemStatus, BoxError>,
) -> SystemRun<C> {
    let max_attempts = if policy == ErrorPolicy::RetryOnce {
        2
    } else {
        1
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let span = tracing::info_span!("system", system = &*descriptor.name, group);
        let _entered = span.enter();
        let started = observer.map(|_| Instant::now());
        let mut commands = C::default();
        let result = attempt(|| run(&mut commands));
        if let (Some(observer), Some(started)) = (observer, started) {
            observer.on_system(&SystemReport {
                stage: group,
                system: &descriptor.name,
                slot: SystemSlot(index),
                batch: 0,
                access: &descriptor.access,
                duration: started.elapsed(),
                parallel: is_async,
                outcome: match &result {
                    Ok(_) => SystemOutcome::Completed,
                    Err(f) if f.panicked => SystemOutcome::Panicked,
                    Err(_) => SystemOutcome::Failed,
                },
            });
        }
        match result {
            Ok(status) => {
                return SystemRun {
                    result: Ok(status),
                    commands: Some(commands),
                    attempts,
                }
            }
            Err(failure) => {
                drop(commands);
                tracing::warn!(
                    system = &*descriptor.name,
                    group,
                    attempt = attempts,
                    error = %failure.message,
                    "system failed; its commands are dropped"
                );
                if attempts >= max_attempts {
                    return SystemRun {
                        result: Err(failure.message),
                        commands: None,
                        attempts,
                    };
                }
            }
        }
    }
}

/// Folds system results into the group's outcome; `Err` (with the
/// outcome) when the group must stop here.
#[derive(Default)]
struct OutcomeFold {
    executed: bool,
    first_error: Option<(String, String)>,
    attempts: usize,
}

impl OutcomeFold {
    /// Records one system's result; returns whether the group stops.
    fn add(
        &mut self,
        system: &str,
        result: &Result<SystemStatus, String>,
        policy: ErrorPolicy,
    ) -> bool {
        match result {
            Ok(SystemStatus::Executed) => self.executed = true,
            Ok(SystemStatus::SkippedEmpty) => {}
            Err(error) => {
                self.first_error
                    .get_or_insert_with(|| (system.to_owned(), error.clone()));
                return policy == ErrorPolicy::Abort;
            }
        }
        false
    }

    fn outcome(self) -> GroupOutcome {
        match self.first_error {
            Some((system, error)) => GroupOutcome::Errored { system, error },
            None if self.executed => GroupOutcome::Executed,
            None => GroupOutcome::SkippedEmpty,
        }
    }
}

/// Runs a synchronized group; returns its outcome and attempts.
fn run_sync_group<W: GroupWorld>(
    group: &mut GroupState<W>,
    world: &mut W,
    info: &TickInfo,
    observer: Option<&dyn SchedulerObserver>,
) -> (GroupOutcome, usize) {
    if info.tick % group.interval != 0 {
        let outcome = GroupOutcome::NotDue;
        report_group(observer, group, info, false, Duration::ZERO, &outcome, 0);
        return (outcome, 0);
    }
    let GroupKind::Sync(systems) = &mut group.kind else {
        unreachable!("sync_groups holds synchronized groups only");
    };
    let span = tracing::info_span!("group", group = &*group.name, mode = "synchronized");
    let _entered = span.enter();
    let started = Instant::now();
    let mut fold = OutcomeFold::default();
    for (index, entry) in systems.iter_mut().enumerate() {
        let run = run_system::<W::Commands>(
            &group.name,
            &entry.descriptor,
            index,
            group.policy,
            false,
            observer,
            |commands| entry.system.run(world, commands),
        );
        fold.attempts += run.attempts;
        if let Some(commands) = run.commands {
            world.apply_commands(commands);
        }
        if fold.add(&entry.descriptor.name, &run.result, group.policy) {
            break;
        }
    }
    let attempts = fold.attempts;
    let outcome = fold.outcome();
    report_group(
        observer,
        group,
        info,
        false,
        started.elapsed(),
        &outcome,
        attempts,
    );
    (outcome, attempts)
}

fn report_group<W: GroupWorld>(
    observer: Option<&dyn SchedulerObserver>,
    group: &GroupState<W>,
    info: &TickInfo,
    is_async: bool,
    duration: Duration,
    outcome: &GroupOutcome,
    attempts: usize,
) {
    if let Some(observer) = observer {
        observer.on_group(&GroupReport {
            group: &group.name,
            tick: info.tick,
            is_async,
            access: &group.access,
            duration,
            outcome,
            attempts,
        });
    }
}

// ---------------------------------------------------------------------------
// Async groups.

/// What an async group's job sends back to the barrier.
pub(crate) struct AsyncResult<C> {
    /// The commands of its successful systems, in system order.
    commands: Vec<C>,
    outcome: GroupOutcome,
    attempts: usize,
}

/// What a dispatched job needs besides the group's systems and view.
pub(crate) struct AsyncJob {
    group: Arc<str>,
    policy: ErrorPolicy,
    observer: Option<Arc<dyn SchedulerObserver>>,
    late_dropped: Arc<AtomicU64>,
    span: tracing::Span,
}

/// An async group with its view type erased.
pub(crate) trait AsyncRunner<W: GroupWorld>: Send {
    /// How long the barrier waits for it.
    fn deadline(&self) -> Duration;
    /// Its systems' descriptors, in run order.
    fn descriptors(&self) -> &[SystemDescriptor];
    /// Adds a system (a `Box<dyn AsyncSystem<V, W::Commands>>`, boxed as
    /// `Any`); `Err(view type name)` when its view type is not the group's.
    fn push(
        &mut self,
        descriptor: SystemDescriptor,
        system: Box<dyn Any + Send>,
    ) -> Result<(), &'static str>;
    /// Extracts the view and spawns the group's job; `None` while its
    /// previous run is still going.
    fn dispatch(
        &mut self,
        world: &W,
        pool: &ThreadPool,
        job: AsyncJob,
    ) -> Option<Receiver<AsyncResult<W::Commands>>>;
    /// Whether a run is going.
    fn in_flight(&self) -> bool;
}

type AsyncSystems<V, C> = Vec<Box<dyn AsyncSystem<V, C>>>;

pub(crate) struct AsyncGroup<W: GroupWorld, V> {
    deadline: Duration,
    extract: Box<dyn FnMut(&W) -> V + Send>,
    descriptors: Arc<[SystemDescriptor]>,
    systems: Arc<Mutex<AsyncSystems<V, W::Commands>>>,
    in_flight: Arc<AtomicBool>,
}

impl<W: GroupWorld, V> AsyncGroup<W, V> {
    pub(crate) fn new(deadline: Duration, extract: Box<dyn FnMut(&W) -> V + Send>) -> Self {
        Self {
            deadline,
            extract,
            descriptors: Arc::from(Vec::new()),
            systems: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<W, V> AsyncRunner<W> for AsyncGroup<W, V>
where
    W: GroupWorld + 'static,
    V: Send + Sync + 'static,
{
    fn deadline(&self) -> Duration {
        self.deadline
    }

    fn descriptors(&self) -> &[SystemDescriptor] {
        &self.descriptors
    }

    fn push(
        &mut self,
        descriptor: SystemDescriptor,
        system: Box<dyn Any + Send>,
    ) -> Result<(), &'static str> {
        let system = system
            .downcast::<Box<dyn AsyncSystem<V, W::Commands>>>()
            .map_err(|_| std::any::type_name::<V>())?;
        self.systems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(*system);
        let mut descriptors = self.descriptors.to_vec();
        descriptors.push(descriptor);
        self.descriptors = Arc::from(descriptors);
        Ok(())
    }

    fn dispatch(
        &mut self,
        world: &W,
        pool: &ThreadPool,
        job: AsyncJob,
    ) -> Option<Receiver<AsyncResult<W::Commands>>> {
        if self.in_flight.swap(true, Ordering::SeqCst) {
            return None;
        }
        let view = {
            let _span = tracing::info_span!(parent: &job.span, "extract").entered();
            (self.extract)(world)
        };
        let (tx, rx) = bounded(1);
        let systems = Arc::clone(&self.systems);
        let descriptors = Arc::clone(&self.descriptors);
        let in_flight = Arc::clone(&self.in_flight);
        pool.spawn(move || {
            let result = {
                let _span = job.span.enter();
                let mut systems = systems.lock().unwrap_or_else(PoisonError::into_inner);
                let mut fold = OutcomeFold::default();
                let mut commands = Vec::with_capacity(systems.len());
                for (index, (system, descriptor)) in
                    systems.iter_mut().zip(descriptors.iter()).enumerate()
                {
                    let run = run_system::<W::Commands>(
                        &job.group,
                        descriptor,
                        index,
                        job.policy,
                        true,
                        job.observer.as_deref(),
                        |c| system.run(&view, c),
                    );
                    fold.attempts += run.attempts;
                    commands.extend(run.commands);
                    if fold.add(&descriptor.name, &run.result, job.policy) {
                        break;
                    }
                }
                let attempts = fold.attempts;
                AsyncResult {
                    commands,
                    outcome: fold.outcome(),
                    attempts,
                }
            };
            in_flight.store(false, Ordering::SeqCst);
            if tx.send(result).is_err() {
                // The barrier gave up on this run: its result is dropped.
                job.late_dropped.fetch_add(1, Ordering::SeqCst);
            }
        });
        Some(rx)
    }

    fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst)
    }
}
