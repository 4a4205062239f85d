//! The ecs_bench_suite workloads of `benches/ecs_bench_suite.rs`, each run a
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
//! `add_remove_sparse`, `many_systems` (32 trivial systems in one stage,
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

use glam::{Mat4, Vec3};
use macrokid_ecs::prelude::*;

#[derive(Clone, Copy)]
struct Transform(Mat4);
#[derive(Clone, Copy)]
struct Position(Vec3);
#[derive(Clone, Copy)]
struct Rotation(Vec3);
#[derive(Clone, Copy)]
struct Velocity(Vec3);

fn bundle() -> (Transform, Position, Rotation, Velocity) {
    (
        Transform(Mat4::from_scale(Vec3::ONE)),
        Position(Vec3::X),
        Rotation(Vec3::X),
        Velocity(Vec3::X),
    )
}

macro_rules! frag_types {
    ($($t:ident),*) => {
        $(#[derive(Clone, Copy)] struct $t(f32);)*
        fn spawn_fragmented(world: &mut World) {
            $(world.spawn_batch((0..20).map(|_| ($t(0.0), Data(1.0))));)*
        }
    };
}
#[derive(Clone, Copy)]
struct Data(f32);
frag_types!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z);

struct Sa(f32);
struct Sb(f32);
struct Sc(f32);
struct Sd(f32);
struct Se(f32);

#[derive(System, Default)]
#[system(writes(Sa, Sb))]
struct SwapAb;
impl Run for SwapAb {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<(&mut Sa, &mut Sb)>()
            .for_each(|(mut a, mut b)| std::mem::swap(&mut a.0, &mut b.0));
        Ok(())
    }
}

#[derive(System, Default)]
#[system(writes(Sc, Sd), with(Sd))]
struct SwapCd;
impl Run for SwapCd {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<(&mut Sc, &mut Sd)>()
            .for_each(|(mut c, mut d)| std::mem::swap(&mut c.0, &mut d.0));
        Ok(())
    }
}

#[derive(System, Default)]
#[system(writes(Sc, Se), with(Se))]
struct SwapCe;
impl Run for SwapCe {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<(&mut Sc, &mut Se)>()
            .for_each(|(mut c, mut e)| std::mem::swap(&mut c.0, &mut e.0));
        Ok(())
    }
}

#[derive(System, Default)]
#[system(writes(Sc, Sd))]
struct SwapCdUnfiltered;
impl Run for SwapCdUnfiltered {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<(&mut Sc, &mut Sd)>()
            .for_each(|(mut c, mut d)| std::mem::swap(&mut c.0, &mut d.0));
        Ok(())
    }
}

#[derive(System, Default)]
#[system(writes(Sc, Se))]
struct SwapCeUnfiltered;
impl Run for SwapCeUnfiltered {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.query::<(&mut Sc, &mut Se)>()
            .for_each(|(mut c, mut e)| std::mem::swap(&mut c.0, &mut e.0));
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct SwapSchedule {
    #[stage]
    swaps: (SwapAb, SwapCd, SwapCe),
}

#[derive(Schedule, Default)]
struct SwapScheduleUnfiltered {
    #[stage]
    swaps: (SwapAb, SwapCdUnfiltered, SwapCeUnfiltered),
}

fn schedule_world() -> World {
    let mut world = World::new();
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Sd(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Se(0.0))));
    world
}

macro_rules! many_systems {
    ($($system:ident $component:ident),*) => {
        $(
            #[derive(Clone, Copy)]
            struct $component(f32);

            #[derive(System)]
            #[system(writes($component))]
            struct $system;
            impl Run for $system {
                fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
                    cx.query::<&mut $component>().for_each(|mut c| c.0 += 1.0);
                    Ok(())
                }
            }
        )*

        #[derive(Schedule)]
        struct ManySystems {
            #[stage]
            all: ($($system,)*),
        }

        fn many_systems_world() -> (World, ManySystems) {
            let mut world = World::new();
            $(world.spawn_batch((0..100).map(|_| ($component(0.0),)));)*
            (world, ManySystems { all: ($($system,)*) })
        }
    };
}

many_systems!(
    S00 M00, S01 M01, S02 M02, S03 M03, S04 M04, S05 M05, S06 M06, S07 M07,
    S08 M08, S09 M09, S10 M10, S11 M11, S12 M12, S13 M13, S14 M14, S15 M15,
    S16 M16, S17 M17, S18 M18, S19 M19, S20 M20, S21 M21, S22 M22, S23 M23,
    S24 M24, S25 M25, S26 M26, S27 M27, S28 M28, S29 M29, S30 M30, S31 M31
);

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
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            std::hint::black_box(world);
        }),
        "simple_iter" => {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            measure(n, || {
                world
                    .query::<(&Velocity, &mut Position)>()
                    .for_each(|(v, mut p)| p.0 += v.0);
            });
        }
        "frag_iter" => {
            let mut world = World::new();
            spawn_fragmented(&mut world);
            measure(n, || {
                world.query::<&mut Data>().for_each(|mut d| d.0 *= 2.0);
            });
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
            let mut world = World::new();
            if workload == "add_remove_sparse" {
                world.register_sparse::<Sb>().unwrap();
            }
            let entities = world.spawn_batch((0..10_000).map(|_| (Sa(0.0),)));
            measure(n, || {
                for &e in &entities {
                    world.insert(e, Sb(0.0)).unwrap();
                }
                for &e in &entities {
                    world.remove::<Sb>(e).unwrap();
                }
                world.clear_trackers();
            });
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
