//! The ecs_bench_suite workloads (`benches/workloads/mod.rs`, the code the
//! criterion bench `benches/ecs_bench_suite.rs` measures), each run a
//! fixed number of times inside one `#[inline(never)]` function, for
//! instruction counts that do not depend on machine load:
//!
//! ```text
//! cargo build --release -p macrokid_ecs --example ecs_workloads
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=ecs_workloads::measure \
//!     target/release/examples/ecs_workloads frag_iter 1000
//! ```
//!
//! The instruction total divided by the iteration count is the cost of one
//! iteration (setup is outside `measure`). Workloads: `simple_insert`,
//! `simple_iter`, `frag_iter`, `schedule`, `schedule_type_level` (the same
//! swaps without `with` filters: type-level conflicts), `add_remove`,
//! `add_remove_sparse`, `add_remove_held` (the sparse set held across the
//! loop), `many_systems` (32 trivial systems in one stage,
//! each `c += 1` over its own 100 entities, as the bench's).
//!
//! `schedule` runs on a pool of `ECS_THREADS` threads (default 2), and the
//! systems run on pool threads, outside `measure`: count those with
//! `--collect-atstart=yes` and take the difference of two iteration
//! counts. `/usr/bin/time -f %R` gives the page faults of a run.
//! `ECS_INLINE_US` sets the scheduler's inline threshold in µs (`0`: every
//! batch of several systems in parallel, a huge value: every batch inline);
//! `many_systems` prints the batch's learnt serial cost at the end.

#![allow(missing_docs, dead_code)]

use std::sync::Arc;

use macrokid_ecs::prelude::*;

#[path = "../benches/workloads/mod.rs"]
mod workloads;
use workloads::*;

/// The measured loop: `n` calls of `f`.
#[inline(never)]
fn measure(n: usize, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "frag_iter".into());
    let n: usize = args
        .next()
        .map_or(100, |s| s.parse().expect("an iteration count"));
    let threads = std::env::var("ECS_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut scheduler = Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()));
    if let Some(us) = std::env::var("ECS_INLINE_US")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        scheduler = scheduler.with_inline_threshold(std::time::Duration::from_micros(us));
    }
    match workload.as_str() {
        "simple_insert" => measure(n, || {
            std::hint::black_box(simple_insert());
        }),
        "simple_iter" => {
            let mut world = simple_iter_world();
            measure(n, || simple_iter(&mut world));
        }
        "frag_iter" => {
            let mut world = frag_iter_world();
            measure(n, || frag_iter(&mut world));
        }
        "schedule" => {
            let mut world = schedule_world();
            let mut schedule = SwapSchedule::default();
            world.run_schedule(&mut schedule, &scheduler).unwrap();
            measure(n, || world.run_schedule(&mut schedule, &scheduler).unwrap());
        }
        "schedule_type_level" => {
            let mut world = schedule_world();
            let mut schedule = SwapScheduleUnfiltered::default();
            world.run_schedule(&mut schedule, &scheduler).unwrap();
            measure(n, || world.run_schedule(&mut schedule, &scheduler).unwrap());
        }
        "add_remove" | "add_remove_sparse" => {
            let (mut world, entities) = add_remove_world(workload == "add_remove_sparse");
            measure(n, || add_remove(&mut world, &entities));
        }
        "add_remove_held" => {
            let (mut world, entities) = add_remove_world(true);
            measure(n, || add_remove_held(&mut world, &entities));
        }
        "many_systems" => {
            let (mut world, mut schedule) = many_systems_world();
            world.run_schedule(&mut schedule, &scheduler).unwrap();
            measure(n, || world.run_schedule(&mut schedule, &scheduler).unwrap());
            let plan = world.schedule_plan::<ManySystems>();
            eprintln!(
                "many_systems: estimated serial cost of the batch {:?}",
                scheduler.batch_cost(&plan.stages()[0], 0)
            );
        }
        other => panic!("unknown workload `{other}`"),
    }
}
