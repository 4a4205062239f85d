//! bevy_ecs 0.20: ecs_bench_suite's `src/bevy/*.rs`, ported to the 0.20 API,
//! with macrokid's data (glam instead of cgmath) and entity counts.
//!
//! Queries are held as a `QueryState` across iterations, as a bevy system
//! holds its query (the suite builds a new one per iteration).
//! `heavy_compute` iterates in parallel on bevy's `ComputeTaskPool` in
//! batches of 64 (as the suite); `schedule` uses bevy's multi-threaded
//! executor. bevy sees the two writers of `C` (`cd`, `ce`) as conflicting
//! (its conflicts are per component, refined only by `Without`), so it runs
//! them one after the other, as in the suite. `add_remove` calls
//! `World::clear_trackers` per iteration, as macrokid's does (what bevy's
//! `App` does once per frame; without it removals accumulate).

use bevy_ecs::batching::BatchingStrategy;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::Schedule;
use bevy_tasks::{ComputeTaskPool, TaskPool};
use glam::{Mat4, Vec3};

use crate::harness::{expect_rows, measure, Timing};

#[derive(Component, Clone, Copy)]
struct Transform(Mat4);
#[derive(Component, Clone, Copy)]
struct Position(Vec3);
#[derive(Component, Clone, Copy)]
struct Rotation(Vec3);
#[derive(Component, Clone, Copy)]
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
        $(#[derive(Component, Clone, Copy)] struct $t(f32);)*
        fn spawn_fragmented(world: &mut World) {
            $(world.spawn_batch((0..20).map(|_| ($t(0.0), Data(1.0))));)*
        }
    };
}
#[derive(Component, Clone, Copy)]
struct Data(f32);
frag_types!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z);

#[derive(Component)]
struct Sa(f32);
#[derive(Component)]
struct Sb(f32);
#[derive(Component)]
struct Sc(f32);
#[derive(Component)]
struct Sd(f32);
#[derive(Component)]
struct Se(f32);

fn ab(mut query: Query<(&mut Sa, &mut Sb)>) {
    for (mut a, mut b) in query.iter_mut() {
        std::mem::swap(&mut a.0, &mut b.0);
    }
}

fn cd(mut query: Query<(&mut Sc, &mut Sd)>) {
    for (mut c, mut d) in query.iter_mut() {
        std::mem::swap(&mut c.0, &mut d.0);
    }
}

fn ce(mut query: Query<(&mut Sc, &mut Se)>) {
    for (mut c, mut e) in query.iter_mut() {
        std::mem::swap(&mut c.0, &mut e.0);
    }
}

// many_systems: 32 function systems in one schedule, each writing its own
// component on its own 100 entities (no conflicts), multi-threaded executor.
macro_rules! many_systems {
    ($($system:ident $component:ident),*) => {
        $(
            #[derive(Component, Clone, Copy)]
            struct $component(f32);

            #[allow(non_snake_case)]
            fn $system(mut query: Query<&mut $component>) {
                for mut c in query.iter_mut() {
                    c.0 += 1.0;
                }
            }
        )*

        fn many_systems(timing: &Timing) -> f64 {
            let mut world = World::new();
            let mut schedule = Schedule::default();
            $(
                world.spawn_batch((0..100).map(|_| ($component(0.0),)));
                let rows = world.query::<&$component>().iter(&world).count();
                expect_rows("many_systems", rows, 100);
                schedule.add_systems($system);
            )*
            measure(timing, || schedule.run(&mut world))
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
    ComputeTaskPool::get_or_init(TaskPool::default);
    Some(match workload {
        "simple_insert" => {
            let make = || {
                let mut world = World::new();
                world.spawn_batch((0..10_000).map(|_| bundle()));
                world
            };
            let mut world = make();
            let rows = world.query::<(&Velocity, &Position)>().iter(&world).count();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, make)
        }
        "simple_iter" => {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            let mut query = world.query::<(&Velocity, &mut Position)>();
            expect_rows("simple_iter", query.iter_mut(&mut world).count(), 10_000);
            measure(timing, || {
                for (v, mut p) in query.iter_mut(&mut world) {
                    p.0 += v.0;
                }
            })
        }
        "frag_iter" => {
            let mut world = World::new();
            spawn_fragmented(&mut world);
            let mut query = world.query::<&mut Data>();
            expect_rows("frag_iter", query.iter_mut(&mut world).count(), 26 * 20);
            measure(timing, || {
                for mut d in query.iter_mut(&mut world) {
                    d.0 *= 2.0;
                }
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
            let mut query = world.query::<(&mut Position, &mut Transform)>();
            expect_rows("heavy_compute", query.iter_mut(&mut world).count(), 1000);
            measure(timing, || {
                query
                    .par_iter_mut(&mut world)
                    .batching_strategy(BatchingStrategy::fixed(64))
                    .for_each(|(mut pos, mut mat)| {
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
            let ab_rows = world.query::<(&Sa, &Sb)>().iter(&world).count();
            expect_rows("schedule ab", ab_rows, 40_000);
            let cd_rows = world.query::<(&Sc, &Sd)>().iter(&world).count();
            expect_rows("schedule cd", cd_rows, 10_000);
            let ce_rows = world.query::<(&Sc, &Se)>().iter(&world).count();
            expect_rows("schedule ce", ce_rows, 10_000);
            let mut schedule = Schedule::default();
            schedule.add_systems((ab, cd, ce));
            measure(timing, || schedule.run(&mut world))
        }
        "add_remove" => {
            let mut world = World::new();
            let entities: Vec<Entity> =
                world.spawn_batch((0..10_000).map(|_| (Sa(0.0),))).collect();
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || {
                for &e in &entities {
                    world.entity_mut(e).insert(Sb(0.0));
                }
                for &e in &entities {
                    world.entity_mut(e).remove::<Sb>();
                }
                world.clear_trackers();
            })
        }
        "many_systems" => many_systems(timing),
        _ => return None,
    })
}
