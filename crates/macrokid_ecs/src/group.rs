//! Work groups on the ECS world: [`World`] is a
//! [`GroupWorld`](macrokid_threads::GroupWorld) whose commands are
//! [`CommandBuffer`]s, and [`GroupRun`] makes any ECS system ([`Run`]) a
//! system of a synchronized work group.
//!
//! A thin adapter over the world's public API: a group system runs through
//! [`World::run_system`], which applies the system's commands when it
//! returns `Ok` and drops them when it fails or panics, so a failed attempt
//! under [`ErrorPolicy::RetryOnce`](macrokid_threads::ErrorPolicy) leaves no
//! command behind. In-place component writes made through queries before a
//! failure stay: systems that may fail should write through commands.

use macrokid_core::SystemDescriptor;
use macrokid_threads::{BoxError, GroupSystem, GroupWorld, SystemStatus};

use crate::command::CommandBuffer;
use crate::system::Run;
use crate::world::World;

impl GroupWorld for World {
    type Commands = CommandBuffer;

    fn apply_commands(&mut self, mut commands: CommandBuffer) {
        World::apply_commands(self, &mut commands);
    }
}

/// An ECS system as a synchronized work-group system: its name and access
/// come from its [`System`](macrokid_core::System) impl; each run goes
/// through [`World::run_system`].
///
/// ```
/// use macrokid_ecs::prelude::*;
/// use macrokid_ecs::GroupRun;
/// use macrokid_threads::{App, WorkGroup};
///
/// struct Position(f32);
///
/// #[derive(System)]
/// #[system(writes(Position))]
/// struct Drift;
/// impl Run for Drift {
///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
///         cx.query::<&mut Position>().for_each(|mut p| p.0 += 1.0);
///         Ok(())
///     }
/// }
///
/// let mut world = World::new();
/// let e = world.spawn((Position(0.0),));
/// let mut app = App::builder()
///     .add_group(WorkGroup::synchronized("movement").system(GroupRun(Drift)))
///     .build()?;
/// app.tick(&mut world)?;
/// assert_eq!(world.get::<Position>(e)?.0, 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupRun<S>(pub S);

impl<S: Run> GroupSystem<World> for GroupRun<S> {
    fn descriptor(&self) -> SystemDescriptor {
        SystemDescriptor::of::<S>()
    }

    fn run(
        &mut self,
        world: &mut World,
        _commands: &mut CommandBuffer,
    ) -> Result<SystemStatus, BoxError> {
        world
            .run_system(&mut self.0)
            .map(|()| SystemStatus::Executed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use macrokid_threads::{App, ErrorPolicy, GroupOutcome, TickError, WorkGroup};

    struct Health(i32);
    struct Marker;

    /// Spawns a `Marker` entity through commands, then fails on its first
    /// `failures` attempts (or panics when `panics`).
    #[derive(System)]
    #[system(reads(Health), spawns, inserts(Marker))]
    struct SpawnThenFail {
        failures: u32,
        attempts: u32,
        panics: bool,
    }

    impl Run for SpawnThenFail {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            self.attempts += 1;
            cx.commands().spawn((Marker,));
            if self.attempts <= self.failures {
                assert!(!self.panics, "spawner blew up");
                return Err("spawner failed".into());
            }
            Ok(())
        }
    }

    #[derive(System)]
    #[system(writes(Health))]
    struct Heal;

    impl Run for Heal {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            cx.query::<&mut Health>().for_each(|mut h| h.0 += 1);
            Ok(())
        }
    }

    fn markers(world: &mut World) -> usize {
        world.query::<&Marker>().iter().count()
    }

    fn app(policy: ErrorPolicy, failures: u32, panics: bool) -> App<World> {
        App::builder()
            .add_group(
                WorkGroup::synchronized("spawning")
                    .policy(policy)
                    .system(GroupRun(SpawnThenFail {
                        failures,
                        attempts: 0,
                        panics,
                    })),
            )
            .add_group(WorkGroup::synchronized("healing").system(GroupRun(Heal)))
            .build()
            .unwrap()
    }

    #[test]
    fn retry_once_applies_only_the_retrys_commands() {
        let mut world = World::new();
        let e = world.spawn((Health(0),));
        let report = app(ErrorPolicy::RetryOnce, 1, false)
            .tick(&mut world)
            .unwrap();
        assert_eq!(report.outcome("spawning"), Some(&GroupOutcome::Executed));
        assert_eq!(markers(&mut world), 1, "the failed attempt's spawn leaked");
        assert_eq!(world.get::<Health>(e).unwrap().0, 1);
    }

    #[test]
    fn continue_and_abort_drop_the_failed_commands() {
        let mut world = World::new();
        let e = world.spawn((Health(0),));
        let report = app(ErrorPolicy::Continue, 1, false)
            .tick(&mut world)
            .unwrap();
        assert!(matches!(
            report.outcome("spawning"),
            Some(GroupOutcome::Errored { system, .. }) if system.contains("SpawnThenFail")
        ));
        assert_eq!(
            (markers(&mut world), world.get::<Health>(e).unwrap().0),
            (0, 1)
        );

        let err = app(ErrorPolicy::Abort, 1, true)
            .tick(&mut world)
            .unwrap_err();
        let TickError::Aborted {
            group,
            system,
            error,
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(group, "spawning");
        assert!(system.contains("SpawnThenFail"), "{system}");
        assert_eq!(error, "panicked: spawner blew up");
        // Nothing of the panicking attempt, and `healing` did not run.
        assert_eq!(
            (markers(&mut world), world.get::<Health>(e).unwrap().0),
            (0, 1)
        );
        // The world is still usable after the panic.
        world.run_system(&mut Heal).unwrap();
        assert_eq!(world.get::<Health>(e).unwrap().0, 2);
    }
}
