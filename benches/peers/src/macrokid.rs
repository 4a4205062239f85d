//! macrokid_ecs: the workloads exactly as in
//! `crates/macrokid_ecs/benches/ecs_bench_suite.rs`.

use std::sync::Arc;

use glam::{Mat4, Vec3};
use macrokid_ecs::prelude::*;

use crate::harness::{expect_rows, measure, Timing};

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

#[derive(Schedule, Default)]
struct SwapSchedule {
    #[stage]
    swaps: (SwapAb, SwapCd, SwapCe),
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

// many_systems (not in ecs_bench_suite; in TARGETS.md): 32 trivial systems
// in one stage, each on its own 100 entities.
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

        fn many_systems(timing: &Timing) -> f64 {
            let mut world = World::new();
            $(
                world.spawn_batch((0..100).map(|_| ($component(0.0),)));
                expect_rows("many_systems", world.query::<&mut $component>().len(), 100);
            )*
            let scheduler = Scheduler::new(Arc::new(ThreadPool::new(threads()).unwrap()));
            let mut schedule = ManySystems { all: ($($system,)*) };
            measure(timing, || world.run_schedule(&mut schedule, &scheduler).unwrap())
        }
    };
}

many_systems!(
    S00 M00, S01 M01, S02 M02, S03 M03, S04 M04, S05 M05, S06 M06, S07 M07,
    S08 M08, S09 M09, S10 M10, S11 M11, S12 M12, S13 M13, S14 M14, S15 M15,
    S16 M16, S17 M17, S18 M18, S19 M19, S20 M20, S21 M21, S22 M22, S23 M23,
    S24 M24, S25 M25, S26 M26, S27 M27, S28 M28, S29 M29, S30 M30, S31 M31
);

pub fn run(workload: &str, timing: &Timing) -> Option<f64> {
    Some(match workload {
        "simple_insert" => {
            let make = || {
                let mut world = World::new();
                world.spawn_batch((0..10_000).map(|_| bundle()));
                world
            };
            let rows = make().query::<(&Velocity, &Position)>().len();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, make)
        }
        "simple_iter" => {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            let rows = world.query::<(&Velocity, &mut Position)>().len();
            expect_rows("simple_iter", rows, 10_000);
            measure(timing, || {
                world
                    .query::<(&Velocity, &mut Position)>()
                    .for_each(|(v, mut p)| p.0 += v.0);
            })
        }
        "frag_iter" => {
            let mut world = World::new();
            spawn_fragmented(&mut world);
            expect_rows("frag_iter", world.query::<&mut Data>().len(), 26 * 20);
            measure(timing, || {
                world.query::<&mut Data>().for_each(|mut d| d.0 *= 2.0);
            })
        }
        "heavy_compute" => {
            let mut world = World::new();
            world.spawn_batch((0..1000).map(|_| {
                (
                    Transform(Mat4::from_axis_angle(Vec3::X, 1.2)),
                    Position(Vec3::X),
                    Rotation(Vec3::X),
                    Velocity(Vec3::X),
                )
            }));
            let rows = world.query::<(&mut Position, &mut Transform)>().len();
            expect_rows("heavy_compute", rows, 1000);
            measure(timing, || {
                world
                    .query::<(&mut Position, &mut Transform)>()
                    .par_for_each(|(mut pos, mut mat)| {
                        for _ in 0..100 {
                            mat.0 = mat.0.inverse();
                        }
                        pos.0 = mat.0.transform_vector3(pos.0);
                    });
            })
        }
        "schedule" => {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0))));
            world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0))));
            world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Sd(0.0))));
            world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Se(0.0))));
            expect_rows("schedule ab", world.query::<(&Sa, &Sb)>().len(), 40_000);
            expect_rows("schedule cd", world.query::<(&Sc, &Sd)>().len(), 10_000);
            expect_rows("schedule ce", world.query::<(&Sc, &Se)>().len(), 10_000);
            let scheduler = Scheduler::new(Arc::new(ThreadPool::new(threads()).unwrap()));
            let mut schedule = SwapSchedule::default();
            measure(timing, || {
                world.run_schedule(&mut schedule, &scheduler).unwrap()
            })
        }
        "add_remove" | "add_remove_sparse" => {
            let mut world = World::new();
            if workload == "add_remove_sparse" {
                world.register_sparse::<Sb>().unwrap();
            }
            let entities = world.spawn_batch((0..10_000).map(|_| (Sa(0.0),)));
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || {
                for &e in &entities {
                    world.insert(e, Sb(0.0)).unwrap();
                }
                for &e in &entities {
                    world.remove::<Sb>(e).unwrap();
                }
                // What a game loop does once per frame (bevy's `App` too).
                world.clear_trackers();
            })
        }
        "many_systems" => many_systems(timing),
        _ => return None,
    })
}
