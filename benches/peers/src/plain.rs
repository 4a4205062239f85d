//! The plain-`Vec` baselines, as in
//! `crates/macrokid_ecs/benches/ecs_bench_suite.rs` (`baseline_plain_vec_*`),
//! plus heavy_compute's, which that bench lacks: the same matrix inversions
//! over two `Vec`s with rayon's parallel iterators.

use glam::{Mat4, Vec3};
use rayon::prelude::*;

use crate::harness::{measure, Timing};

#[derive(Clone, Copy)]
struct Transform(Mat4);
#[derive(Clone, Copy)]
struct Position(Vec3);
#[derive(Clone, Copy)]
struct Rotation(Vec3);
#[derive(Clone, Copy)]
struct Velocity(Vec3);
#[derive(Clone, Copy)]
struct Data(f32);
struct Sb(f32);

fn bundle() -> (Transform, Position, Rotation, Velocity) {
    (
        Transform(Mat4::from_scale(Vec3::ONE)),
        Position(Vec3::X),
        Rotation(Vec3::X),
        Velocity(Vec3::X),
    )
}

/// many_systems: the same 32 loops over plain `Vec`s, one after another.
fn many_systems(timing: &Timing) -> f64 {
    let mut columns: Vec<Vec<f32>> = vec![vec![0.0; 100]; 32];
    measure(timing, || {
        for column in &mut columns {
            for x in column.iter_mut() {
                *x += 1.0;
            }
            std::hint::black_box(&mut *column);
        }
    })
}

pub fn run(workload: &str, timing: &Timing) -> Option<f64> {
    Some(match workload {
        // The same 10k bundles collected into a fresh plain `Vec`.
        "simple_insert" => measure(timing, || (0..10_000).map(|_| bundle()).collect::<Vec<_>>()),
        "simple_iter" => {
            let mut positions = vec![Position(Vec3::X); 10_000];
            let velocities = vec![Velocity(Vec3::X); 10_000];
            measure(timing, || {
                for (p, v) in positions.iter_mut().zip(&velocities) {
                    p.0 += v.0;
                }
                std::hint::black_box(&mut positions);
            })
        }
        // 26 plain `Vec`s of 20 values, each walked.
        "frag_iter" => {
            let mut columns: Vec<Vec<Data>> = vec![vec![Data(1.0); 20]; 26];
            measure(timing, || {
                for column in &mut columns {
                    for d in column.iter_mut() {
                        d.0 *= 2.0;
                    }
                    std::hint::black_box(&mut *column);
                }
            })
        }
        "heavy_compute" => {
            let mut positions = vec![Position(Vec3::X); 1000];
            let mut transforms = vec![Transform(Mat4::from_axis_angle(Vec3::X, 1.2)); 1000];
            measure(timing, || {
                positions
                    .par_iter_mut()
                    .zip(transforms.par_iter_mut())
                    .for_each(|(pos, mat)| {
                        for _ in 0..100 {
                            mat.0 = mat.0.inverse();
                        }
                        pos.0 = mat.0.transform_vector3(pos.0);
                    });
                std::hint::black_box((&mut positions, &mut transforms));
            })
        }
        // The three swaps over columns laid out as the world's tables are
        // (40k rows of a/b, 10k of c/d, 10k of c/e), on one thread.
        "schedule" => {
            let mut a = vec![0.0_f32; 40_000];
            let mut b = vec![1.0_f32; 40_000];
            let mut cd = vec![2.0_f32; 10_000];
            let mut d = vec![3.0_f32; 10_000];
            let mut ce = vec![4.0_f32; 10_000];
            let mut e = vec![5.0_f32; 10_000];
            measure(timing, || {
                for (x, y) in a.iter_mut().zip(&mut b) {
                    std::mem::swap(x, y);
                }
                for (x, y) in cd.iter_mut().zip(&mut d) {
                    std::mem::swap(x, y);
                }
                for (x, y) in ce.iter_mut().zip(&mut e) {
                    std::mem::swap(x, y);
                }
                std::hint::black_box((&mut a, &mut b, &mut cd, &mut d, &mut ce, &mut e));
            })
        }
        // An optional `B` per entity in a plain `Vec`, set and cleared.
        "add_remove" => {
            let mut slots: Vec<Option<Sb>> = (0..10_000).map(|_| None).collect();
            measure(timing, || {
                for slot in slots.iter_mut() {
                    *slot = Some(Sb(0.0));
                }
                for slot in slots.iter_mut() {
                    std::hint::black_box(slot.take());
                }
            })
        }
        "many_systems" => many_systems(timing),
        _ => return None,
    })
}
