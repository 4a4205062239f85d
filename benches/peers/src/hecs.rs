//! hecs 0.11: ecs_bench_suite's `src/hecs/*.rs`, with macrokid's data
//! (glam instead of cgmath). `heavy_compute` bridges hecs's batches of 64
//! to rayon, as the suite. `schedule` is not written: hecs has no system
//! scheduler (the suite has no hecs version either).

use glam::{Mat4, Vec3};
use hecs::{Entity, World};
use rayon::prelude::*;

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

pub fn run(workload: &str, timing: &Timing) -> Option<f64> {
    Some(match workload {
        "simple_insert" => {
            let make = || {
                let mut world = World::new();
                world.spawn_batch((0..10_000).map(|_| bundle()));
                world
            };
            let mut world = make();
            let rows = world
                .query_mut::<(&Velocity, &Position)>()
                .into_iter()
                .count();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, make)
        }
        "simple_iter" => {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            let rows = world
                .query_mut::<(&Velocity, &mut Position)>()
                .into_iter()
                .count();
            expect_rows("simple_iter", rows, 10_000);
            measure(timing, || {
                for (v, p) in world.query_mut::<(&Velocity, &mut Position)>() {
                    p.0 += v.0;
                }
            })
        }
        "frag_iter" => {
            let mut world = World::new();
            spawn_fragmented(&mut world);
            let rows = world.query_mut::<&mut Data>().into_iter().count();
            expect_rows("frag_iter", rows, 26 * 20);
            measure(timing, || {
                for d in world.query_mut::<&mut Data>() {
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
            let rows = world
                .query_mut::<(&mut Position, &mut Transform)>()
                .into_iter()
                .count();
            expect_rows("heavy_compute", rows, 1000);
            measure(timing, || {
                world
                    .query::<(&mut Position, &mut Transform)>()
                    .iter_batched(64)
                    .par_bridge()
                    .for_each(|batch| {
                        for (pos, mat) in batch {
                            for _ in 0..100 {
                                mat.0 = mat.0.inverse();
                            }
                            pos.0 = mat.0.transform_vector3(pos.0);
                        }
                    });
            })
        }
        "add_remove" => {
            let mut world = World::new();
            let entities: Vec<Entity> =
                world.spawn_batch((0..10_000).map(|_| (Sa(0.0),))).collect();
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || {
                for &e in &entities {
                    world.insert_one(e, Sb(0.0)).unwrap();
                }
                for &e in &entities {
                    world.remove_one::<Sb>(e).unwrap();
                }
            })
        }
        _ => return None,
    })
}
