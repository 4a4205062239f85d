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
//! The workloads themselves are in `benches/workloads/mod.rs`, shared with
//! `examples/ecs_workloads.rs` (callgrind instruction counts) and the peers
//! comparison in `benches/peers/` at the repository root.

#![allow(missing_docs, dead_code)]

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "workloads/mod.rs"]
mod workloads;
use workloads::*;

fn simple_insert(c: &mut Criterion) {
    c.bench_function("simple_insert", |b| b.iter(workloads::simple_insert));
}

/// The simple_insert baseline: the same 10k bundles collected into a fresh
/// plain `Vec` (one allocation, as large as the world's four columns).
fn baseline_plain_vec_insert(c: &mut Criterion) {
    c.bench_function("baseline_plain_vec_insert", |b| {
        b.iter(|| (0..10_000).map(|_| bundle()).collect::<Vec<_>>());
    });
}

fn simple_iter(c: &mut Criterion) {
    let mut world = simple_iter_world();
    c.bench_function("simple_iter", |b| {
        b.iter(|| workloads::simple_iter(&mut world))
    });
}

/// Calibration on a noisy machine: the same loop over two plain `Vec`s.
fn baseline_plain_vec_iter(c: &mut Criterion) {
    let mut positions = vec![Position(glam::Vec3::X); 10_000];
    let velocities = vec![Velocity(glam::Vec3::X); 10_000];
    c.bench_function("baseline_plain_vec_iter", |b| {
        b.iter(|| {
            for (p, v) in positions.iter_mut().zip(&velocities) {
                p.0 += v.0;
            }
            criterion::black_box(&mut positions);
        });
    });
}

fn frag_iter(c: &mut Criterion) {
    let mut world = frag_iter_world();
    c.bench_function("frag_iter", |b| b.iter(|| workloads::frag_iter(&mut world)));
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
    let mut world = heavy_compute_world();
    c.bench_function("heavy_compute", |b| {
        b.iter(|| workloads::heavy_compute(&mut world));
    });
}

fn schedule(c: &mut Criterion) {
    let mut world = schedule_world();
    let scheduler = scheduler();
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
    let (mut world, entities) = add_remove_world(false);
    c.bench_function("add_remove", |b| {
        b.iter(|| workloads::add_remove(&mut world, &entities));
    });
}

/// `add_remove` with `Sb` in a sparse set: no table move per insert or
/// remove.
fn add_remove_sparse(c: &mut Criterion) {
    let (mut world, entities) = add_remove_world(true);
    c.bench_function("add_remove_sparse", |b| {
        b.iter(|| workloads::add_remove(&mut world, &entities));
    });
}

/// `add_remove_sparse` with the set held across the loop
/// (`World::sparse_storage_mut`), as specs's bench holds its storage.
fn add_remove_held(c: &mut Criterion) {
    let (mut world, entities) = add_remove_world(true);
    c.bench_function("add_remove_held", |b| {
        b.iter(|| workloads::add_remove_held(&mut world, &entities));
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

fn many_systems(c: &mut Criterion) {
    let (mut world, mut schedule) = many_systems_world();
    let scheduler = scheduler();
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
    add_remove_held,
    baseline_plain_vec_add_remove,
    many_systems,
    baseline_plain_vec_many_systems
);
criterion_main!(benches);
