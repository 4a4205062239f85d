//! macrokid_ecs: the workloads exactly as the criterion bench
//! `crates/macrokid_ecs/benches/ecs_bench_suite.rs` measures them (both
//! include `crates/macrokid_ecs/benches/workloads/mod.rs`).

use crate::harness::{expect_rows, measure, Timing};

#[path = "../../../crates/macrokid_ecs/benches/workloads/mod.rs"]
mod workloads;
use workloads::*;

pub fn run(workload: &str, timing: &Timing) -> Option<f64> {
    Some(match workload {
        "simple_insert" => {
            let rows = simple_insert().query::<(&Velocity, &Position)>().len();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, simple_insert)
        }
        "simple_iter" => {
            let mut world = simple_iter_world();
            let rows = world.query::<(&Velocity, &mut Position)>().len();
            expect_rows("simple_iter", rows, 10_000);
            measure(timing, || simple_iter(&mut world))
        }
        "frag_iter" => {
            let mut world = frag_iter_world();
            expect_rows("frag_iter", world.query::<&mut Data>().len(), 26 * 20);
            measure(timing, || frag_iter(&mut world))
        }
        "heavy_compute" => {
            let mut world = heavy_compute_world();
            let rows = world.query::<(&mut Position, &mut Transform)>().len();
            expect_rows("heavy_compute", rows, 1000);
            measure(timing, || heavy_compute(&mut world))
        }
        "schedule" => {
            let mut world = schedule_world();
            expect_rows("schedule ab", world.query::<(&Sa, &Sb)>().len(), 40_000);
            expect_rows("schedule cd", world.query::<(&Sc, &Sd)>().len(), 10_000);
            expect_rows("schedule ce", world.query::<(&Sc, &Se)>().len(), 10_000);
            let scheduler = scheduler();
            let mut schedule = SwapSchedule::default();
            measure(timing, || {
                world.run_schedule(&mut schedule, &scheduler).unwrap()
            })
        }
        "add_remove" | "add_remove_sparse" => {
            let (mut world, entities) = add_remove_world(workload == "add_remove_sparse");
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || add_remove(&mut world, &entities))
        }
        "add_remove_held" => {
            let (mut world, entities) = add_remove_world(true);
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || add_remove_held(&mut world, &entities))
        }
        "many_systems" => {
            let (mut world, mut schedule) = many_systems_world();
            for rows in many_systems_rows(&mut world) {
                expect_rows("many_systems", rows, 100);
            }
            let scheduler = scheduler();
            measure(timing, || {
                world.run_schedule(&mut schedule, &scheduler).unwrap()
            })
        }
        _ => return None,
    })
}
