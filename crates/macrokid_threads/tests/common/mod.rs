//! The app both `metrics.rs` and `trace.rs` observe: two synchronized work
//! groups (one with a system that always fails, under
//! `ErrorPolicy::Continue`) and an asynchronous one, over a world that sums
//! the commands its systems record.

use std::sync::Arc;
use std::time::Duration;

use macrokid_core::ResourceAccess;
use macrokid_threads::{
    App, AppBuilder, BoxError, ErrorPolicy, FnAsyncSystem, FnSystem, GroupWorld, SystemStatus,
    ThreadPool, WorkGroup,
};

#[derive(Default)]
pub(crate) struct World(pub(crate) u64);

impl GroupWorld for World {
    type Commands = Vec<u64>;
    fn apply_commands(&mut self, commands: Vec<u64>) {
        self.0 += commands.iter().sum::<u64>();
    }
}

pub(crate) fn ok(
    name: &'static str,
) -> FnSystem<impl FnMut(&mut World, &mut Vec<u64>) -> Result<SystemStatus, BoxError> + Send> {
    FnSystem::new(
        name,
        ResourceAccess::new(),
        |_: &mut World, c: &mut Vec<u64>| {
            c.push(1);
            Ok(SystemStatus::Executed)
        },
    )
}

pub(crate) fn app(pool: Arc<ThreadPool>) -> AppBuilder<World> {
    let mut builder = App::builder();
    builder
        .pool(pool)
        .add_group(
            WorkGroup::synchronized("movement")
                .system(ok("integrate"))
                .system(ok("collide")),
        )
        .add_group(
            WorkGroup::synchronized("faults")
                .policy(ErrorPolicy::Continue)
                .system(FnSystem::new(
                    "always_fails",
                    ResourceAccess::new(),
                    |_: &mut World, _: &mut Vec<u64>| Err("injected".into()),
                )),
        )
        .add_group(
            WorkGroup::asynchronous("analytics", Duration::from_secs(10), |w: &World| w.0)
                .async_system(FnAsyncSystem::new(
                    "count_players",
                    ResourceAccess::new(),
                    |_: &u64, _: &mut Vec<u64>| Ok(SystemStatus::Executed),
                )),
        );
    builder
}
