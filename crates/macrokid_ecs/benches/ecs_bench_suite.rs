//! The workloads of the public ecs_bench_suite (simple_insert, simple_iter,
//! frag_iter, heavy_compute, schedule, add_remove), as criterion benches,
//! plus `many_systems` (32 trivial systems in one stage, each on its own
//! 100 entities: what one system costs to schedule and run) and the
//! plain-`Vec` baselines of the same loops (`baseline_plain_vec_*`: insert,
//! iter, frag_iter, schedule, add_remove, many_systems), measured in the same
//! run so that ratios are comparable on a noisy machine. Peers' numbers are
//! in `shared/design/TARGETS.md`.
//!
//! ```text
//! cargo bench -p macrokid_ecs --bench ecs_bench_suite -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `examples/ecs_workloads.rs` runs the same workloads for callgrind
//! instruction counts.

#![allow(missing_docs, dead_code)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
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

fn simple_insert(c: &mut Criterion) {
    c.bench_function("simple_insert", |b| {
        b.iter(|| {
            let mut world = World::new();
            world.spawn_batch((0..10_000).map(|_| bundle()));
            world
        });
    });
}

/// The simple_insert baseline: the same 10k bundles collected into a fresh
/// plain `Vec` (one allocation, as large as the world's four columns).
fn baseline_plain_vec_insert(c: &mut Criterion) {
    c.bench_function("baseline_plain_vec_insert", |b| {
        b.iter(|| (0..10_000).map(|_| bundle()).collect::<Vec<_>>());
    });
}

fn simple_iter(c: &mut Criterion) {
    let mut world = World::new();
    world.spawn_batch((0..10_000).map(|_| bundle()));
    c.bench_function("simple_iter", |b| {
        b.iter(|| {
            world
                .query::<(&Velocity, &mut Position)>()
                .for_each(|(v, mut p)| p.0 += v.0);
        });
    });
}

/// Calibration on a noisy machine: the same loop over two plain `Vec`s.
fn baseline_plain_vec_iter(c: &mut Criterion) {
    let mut positions = vec![Position(Vec3::X); 10_000];
    let velocities = vec![Velocity(Vec3::X); 10_000];
    c.bench_function("baseline_plain_vec_iter", |b| {
        b.iter(|| {
            for (p, v) in positions.iter_mut().zip(&velocities) {
                p.0 += v.0;
            }
            criterion::black_box(&mut positions);
        });
    });
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

fn frag_iter(c: &mut Criterion) {
    let mut world = World::new();
    spawn_fragmented(&mut world);
    c.bench_function("frag_iter", |b| {
        b.iter(|| world.query::<&mut Data>().for_each(|mut d| d.0 *= 2.0));
    });
}

/// The frag_iter baseline: 26 plain `Vec`s of 20 values, each walked.
fn baseline_plain_vec_frag_iter(c: &mut Criterion) {
    let mut columns: Vec<Vec<Data>> = vec![vec![Data(1.0); 20]; 26];
    c.bench_function("baseline_plain_vec_frag_iter", |b| {
        b.iter(|| {
            for column in &mut columns {
                for d in column.iter_mut() {
                    d.0 *= 2.0;
                }
                criterion::black_box(&mut *column);
            }
        });
    });
}

fn heavy_compute(c: &mut Criterion) {
    let mut world = World::new();
    world.spawn_batch((0..1000).map(|_| {
        (
            Transform(Mat4::from_axis_angle(Vec3::X, 1.2)),
            Position(Vec3::X),
            Rotation(Vec3::X),
            Velocity(Vec3::X),
        )
    }));
    c.bench_function("heavy_compute", |b| {
        b.iter(|| {
            world
                .query::<(&mut Position, &mut Transform)>()
                .par_for_each(|(mut pos, mut mat)| {
                    for _ in 0..100 {
                        mat.0 = mat.0.inverse();
                    }
                    pos.0 = mat.0.transform_vector3(pos.0);
                });
        });
    });
}

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

/// Declares `with(Sd)`: its writes of `Sc` touch only tables with `Sd`,
/// disjoint from `SwapCe`'s, so the world's plan puts both in one batch
/// (archetype-level conflicts, as legion's scheduler does from its queries).
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

/// `SwapCd` without its `with` filter: conflicts with `SwapCe` by type.
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

/// `SwapCe` without its `with` filter.
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

/// The same work with type-level conflicts only: the in-run baseline of
/// the archetype-level refinement.
#[derive(Schedule, Default)]
struct SwapScheduleUnfiltered {
    #[stage]
    swaps: (SwapAb, SwapCdUnfiltered, SwapCeUnfiltered),
}

fn schedule(c: &mut Criterion) {
    let mut world = World::new();
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Sd(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Se(0.0))));
    let scheduler = Scheduler::new(Arc::new(
        ThreadPool::new(std::thread::available_parallelism().map_or(2, |n| n.get())).unwrap(),
    ));
    assert_eq!(
        world.schedule_plan::<SwapSchedule>().stages()[0]
            .batches()
            .len(),
        1,
        "the refined plan runs the three swaps together"
    );
    let mut schedule = SwapSchedule::default();
    c.bench_function("schedule", |b| {
        b.iter(|| world.run_schedule(&mut schedule, &scheduler).unwrap());
    });
    let mut unfiltered = SwapScheduleUnfiltered::default();
    c.bench_function("schedule_type_level_conflicts", |b| {
        b.iter(|| world.run_schedule(&mut unfiltered, &scheduler).unwrap());
    });
}

/// The schedule baseline: the three swaps over plain `Vec` columns laid
/// out as the world's tables are (40k rows of `Sa`/`Sb`, 10k of `Sc`/`Sd`,
/// 10k of `Sc`/`Se`), one after another on one thread.
fn baseline_plain_vec_schedule(c: &mut Criterion) {
    let mut a = vec![0.0_f32; 40_000];
    let mut b = vec![1.0_f32; 40_000];
    let mut cd = vec![2.0_f32; 10_000];
    let mut d = vec![3.0_f32; 10_000];
    let mut ce = vec![4.0_f32; 10_000];
    let mut e = vec![5.0_f32; 10_000];
    c.bench_function("baseline_plain_vec_schedule", |bench| {
        bench.iter(|| {
            for (x, y) in a.iter_mut().zip(&mut b) {
                std::mem::swap(x, y);
            }
            for (x, y) in cd.iter_mut().zip(&mut d) {
                std::mem::swap(x, y);
            }
            for (x, y) in ce.iter_mut().zip(&mut e) {
                std::mem::swap(x, y);
            }
            criterion::black_box((&mut a, &mut b, &mut cd, &mut d, &mut ce, &mut e));
        });
    });
}

fn add_remove(c: &mut Criterion) {
    let mut world = World::new();
    let entities = world.spawn_batch((0..10_000).map(|_| (Sa(0.0),)));
    c.bench_function("add_remove", |b| {
        b.iter(|| {
            for &e in &entities {
                world.insert(e, Sb(0.0)).unwrap();
            }
            for &e in &entities {
                world.remove::<Sb>(e).unwrap();
            }
            // What a game loop does once per frame (bevy's `App` too): the
            // removals recorded for `RemovedComponents` are dropped.
            world.clear_trackers();
        });
    });
}

/// `add_remove` with `Sb` in a sparse set: no table move per insert or
/// remove.
fn add_remove_sparse(c: &mut Criterion) {
    let mut world = World::new();
    world.register_sparse::<Sb>().unwrap();
    let entities = world.spawn_batch((0..10_000).map(|_| (Sa(0.0),)));
    c.bench_function("add_remove_sparse", |b| {
        b.iter(|| {
            for &e in &entities {
                world.insert(e, Sb(0.0)).unwrap();
            }
            for &e in &entities {
                world.remove::<Sb>(e).unwrap();
            }
            world.clear_trackers();
        });
    });
}

/// The add_remove baseline: an optional `Sb` per entity in a plain `Vec`,
/// set and cleared.
fn baseline_plain_vec_add_remove(c: &mut Criterion) {
    let mut slots: Vec<Option<Sb>> = (0..10_000).map(|_| None).collect();
    c.bench_function("baseline_plain_vec_add_remove", |b| {
        b.iter(|| {
            for slot in slots.iter_mut() {
                *slot = Some(Sb(0.0));
            }
            for slot in slots.iter_mut() {
                criterion::black_box(slot.take());
            }
        });
    });
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

        fn many_systems(c: &mut Criterion) {
            let mut world = World::new();
            $(world.spawn_batch((0..100).map(|_| ($component(0.0),)));)*
            let scheduler = Scheduler::new(Arc::new(
                ThreadPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .unwrap(),
            ));
            let mut schedule = ManySystems { all: ($($system,)*) };
            c.bench_function("many_systems", |b| {
                b.iter(|| world.run_schedule(&mut schedule, &scheduler).unwrap());
            });
        }

        /// The same 32 loops over plain `Vec`s, one after another.
        fn baseline_plain_vec_many_systems(c: &mut Criterion) {
            let mut columns: Vec<Vec<f32>> = vec![vec![0.0; 100]; 32];
            c.bench_function("baseline_plain_vec_many_systems", |b| {
                b.iter(|| {
                    for column in &mut columns {
                        for x in column.iter_mut() {
                            *x += 1.0;
                        }
                        criterion::black_box(&mut *column);
                    }
                });
            });
        }
    };
}

many_systems!(
    S00 M00, S01 M01, S02 M02, S03 M03, S04 M04, S05 M05, S06 M06, S07 M07,
    S08 M08, S09 M09, S10 M10, S11 M11, S12 M12, S13 M13, S14 M14, S15 M15,
    S16 M16, S17 M17, S18 M18, S19 M19, S20 M20, S21 M21, S22 M22, S23 M23,
    S24 M24, S25 M25, S26 M26, S27 M27, S28 M28, S29 M29, S30 M30, S31 M31
);

criterion_group!(
    benches,
    simple_insert,
    baseline_plain_vec_insert,
    simple_iter,
    baseline_plain_vec_iter,
    frag_iter,
    baseline_plain_vec_frag_iter,
    heavy_compute,
    schedule,
    baseline_plain_vec_schedule,
    add_remove,
    add_remove_sparse,
    baseline_plain_vec_add_remove,
    many_systems,
    baseline_plain_vec_many_systems
);
criterion_main!(benches);
