//! The macrokid_ecs side of the public ecs_bench_suite workloads
//! (<https://github.com/rust-gamedev/ecs_bench_suite>: simple_insert,
//! simple_iter, frag_iter, heavy_compute, schedule, add_remove) plus
//! `add_remove_sparse`, `add_remove_held` and `many_systems`, written once. Three programs
//! include this file with `#[path]`, so they measure the same code:
//!
//! - `benches/ecs_bench_suite.rs` (criterion, beside plain-`Vec` baselines);
//! - `examples/ecs_workloads.rs` (a fixed iteration count, for callgrind);
//! - `benches/peers/src/macrokid.rs` at the repository root (macrokid beside
//!   bevy_ecs, hecs, legion and specs, each in its own process).
//!
//! Each workload is a setup (`*_world`, outside the measured loop) and one
//! iteration (a function of the world). The data are the suite's with glam
//! `Mat4`/`Vec3` in newtypes (the suite used cgmath).

#![allow(dead_code)]

use glam::{Mat4, Vec3};
use macrokid_ecs::prelude::*;

#[derive(Clone, Copy)]
pub(crate) struct Transform(pub(crate) Mat4);
#[derive(Clone, Copy)]
pub(crate) struct Position(pub(crate) Vec3);
#[derive(Clone, Copy)]
pub(crate) struct Rotation(pub(crate) Vec3);
#[derive(Clone, Copy)]
pub(crate) struct Velocity(pub(crate) Vec3);

/// The simple_insert/simple_iter bundle.
pub(crate) fn bundle() -> (Transform, Position, Rotation, Velocity) {
    (
        Transform(Mat4::from_scale(Vec3::ONE)),
        Position(Vec3::X),
        Rotation(Vec3::X),
        Velocity(Vec3::X),
    )
}

/// simple_insert, one iteration: a new world with 10k bundles spawned in one
/// batch (the caller drops it inside its measured loop).
pub(crate) fn simple_insert() -> World {
    let mut world = World::new();
    world.spawn_batch((0..10_000).map(|_| bundle()));
    world
}

/// simple_iter setup: 10k bundles.
pub(crate) fn simple_iter_world() -> World {
    simple_insert()
}

/// simple_iter, one iteration: `position += velocity` over every row.
pub(crate) fn simple_iter(world: &mut World) {
    world
        .query::<(&Velocity, &mut Position)>()
        .for_each(|(v, mut p)| p.0 += v.0);
}

macro_rules! frag_types {
    ($($t:ident),*) => {
        $(#[derive(Clone, Copy)] pub(crate) struct $t(pub(crate) f32);)*

        /// frag_iter setup: 26 archetypes (`A`..`Z`, each with [`Data`]) of
        /// 20 entities.
        pub(crate) fn frag_iter_world() -> World {
            let mut world = World::new();
            $(world.spawn_batch((0..20).map(|_| ($t(0.0), Data(1.0))));)*
            world
        }
    };
}
#[derive(Clone, Copy)]
pub(crate) struct Data(pub(crate) f32);
frag_types!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z);

/// frag_iter, one iteration: `data *= 2` over all 520 rows.
pub(crate) fn frag_iter(world: &mut World) {
    world.query::<&mut Data>().for_each(|mut d| d.0 *= 2.0);
}

/// heavy_compute setup: 1k entities with a rotation matrix.
pub(crate) fn heavy_compute_world() -> World {
    let mut world = World::new();
    world.spawn_batch((0..1000).map(|_| {
        (
            Transform(Mat4::from_axis_angle(Vec3::X, 1.2)),
            Position(Vec3::X),
            Rotation(Vec3::X),
            Velocity(Vec3::X),
        )
    }));
    world
}

/// heavy_compute, one iteration: per entity 100 matrix inversions and a
/// transform, in parallel (`par_for_each` on the rayon pool).
pub(crate) fn heavy_compute(world: &mut World) {
    world
        .query::<(&mut Position, &mut Transform)>()
        .par_for_each(|(mut pos, mut mat)| {
            for _ in 0..100 {
                mat.0 = mat.0.inverse();
            }
            pos.0 = mat.0.transform_vector3(pos.0);
        });
}

pub(crate) struct Sa(pub(crate) f32);
pub(crate) struct Sb(pub(crate) f32);
pub(crate) struct Sc(pub(crate) f32);
pub(crate) struct Sd(pub(crate) f32);
pub(crate) struct Se(pub(crate) f32);

/// Writes one swap system per (name, first, second[, filter]): the swap of
/// the two components over every row its query (and `with` filter) sees.
macro_rules! swap_systems {
    ($($(#[$doc:meta])* $name:ident: $a:ident, $b:ident $(, with($f:ident))?;)*) => {
        $(
            $(#[$doc])*
            #[derive(System, Default)]
            #[system(writes($a, $b) $(, with($f))?)]
            pub(crate) struct $name;
            impl Run for $name {
                fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
                    cx.query::<(&mut $a, &mut $b)>()
                        .for_each(|(mut x, mut y)| std::mem::swap(&mut x.0, &mut y.0));
                    Ok(())
                }
            }
        )*
    };
}

swap_systems! {
    SwapAb: Sa, Sb;
    /// Declares `with(Sd)`: its writes of `Sc` touch only tables with `Sd`,
    /// disjoint from `SwapCe`'s, so the world's plan puts both in one batch
    /// (archetype-level conflicts, as legion's scheduler does from its queries).
    SwapCd: Sc, Sd, with(Sd);
    SwapCe: Sc, Se, with(Se);
    /// `SwapCd` without its `with` filter: conflicts with `SwapCe` by type.
    SwapCdUnfiltered: Sc, Sd;
    /// `SwapCe` without its `with` filter.
    SwapCeUnfiltered: Sc, Se;
}

/// The schedule workload: three swaps in one stage.
#[derive(Schedule, Default)]
pub(crate) struct SwapSchedule {
    #[stage]
    swaps: (SwapAb, SwapCd, SwapCe),
}

/// The same work with type-level conflicts only: the in-run baseline of
/// the archetype-level refinement.
#[derive(Schedule, Default)]
pub(crate) struct SwapScheduleUnfiltered {
    #[stage]
    swaps: (SwapAb, SwapCdUnfiltered, SwapCeUnfiltered),
}

/// schedule setup: 40k entities, 10k each of (Sa, Sb), (Sa, Sb, Sc),
/// (Sa, Sb, Sc, Sd), (Sa, Sb, Sc, Se).
pub(crate) fn schedule_world() -> World {
    let mut world = World::new();
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Sd(0.0))));
    world.spawn_batch((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Se(0.0))));
    world
}

/// A scheduler on a pool of one thread per core (2 when unknown).
pub(crate) fn scheduler() -> Scheduler {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    Scheduler::new(std::sync::Arc::new(
        ThreadPool::new(threads).expect("a thread pool"),
    ))
}

/// add_remove setup: 10k entities of (Sa); with `sparse`, `Sb` is
/// registered as a sparse-set component first (`add_remove_sparse`).
pub(crate) fn add_remove_world(sparse: bool) -> (World, Vec<Entity>) {
    let mut world = World::new();
    if sparse {
        world.register_sparse::<Sb>().expect("a new world");
    }
    let entities = world.spawn_batch((0..10_000).map(|_| (Sa(0.0),)));
    (world, entities)
}

/// add_remove, one iteration: insert `Sb` into each entity, then remove it
/// from each.
pub(crate) fn add_remove(world: &mut World, entities: &[Entity]) {
    for &e in entities {
        world.insert(e, Sb(0.0)).expect("a live entity");
    }
    for &e in entities {
        world.remove::<Sb>(e).expect("an entity with Sb");
    }
    // What a game loop does once per frame (bevy's `App` too): the removals
    // recorded for `RemovedComponents` are dropped.
    world.clear_trackers();
}

/// add_remove_held, one iteration: add_remove with `Sb` in a sparse set
/// whose storage is held across both loops ([`World::sparse_storage_mut`]),
/// as specs's bench holds its `WriteStorage`.
pub(crate) fn add_remove_held(world: &mut World, entities: &[Entity]) {
    let mut storage = world.sparse_storage_mut::<Sb>().expect("a sparse Sb");
    for &e in entities {
        storage.insert(e, Sb(0.0)).expect("a live entity");
    }
    for &e in entities {
        storage.remove(e).expect("an entity with Sb");
    }
    world.clear_trackers();
}

macro_rules! many_systems {
    ($($system:ident $component:ident),*) => {
        $(
            #[derive(Clone, Copy)]
            pub(crate) struct $component(pub(crate) f32);

            #[derive(System)]
            #[system(writes($component))]
            pub(crate) struct $system;
            impl Run for $system {
                fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
                    cx.query::<&mut $component>().for_each(|mut c| c.0 += 1.0);
                    Ok(())
                }
            }
        )*

        /// many_systems (not in ecs_bench_suite; TARGETS.md's last row): 32
        /// trivial systems in one stage, each `c += 1` over its own component.
        #[derive(Schedule)]
        pub(crate) struct ManySystems {
            #[stage]
            all: ($($system,)*),
        }

        /// many_systems setup: 100 entities per component, and the schedule.
        pub(crate) fn many_systems_world() -> (World, ManySystems) {
            let mut world = World::new();
            $(world.spawn_batch((0..100).map(|_| ($component(0.0),)));)*
            (world, ManySystems { all: ($($system,)*) })
        }

        /// The rows each of the 32 systems sees (for the peers' row checks).
        // One query at a time: each borrows the world until its statement ends.
        #[allow(clippy::vec_init_then_push)]
        pub(crate) fn many_systems_rows(world: &mut World) -> Vec<usize> {
            let mut rows = Vec::new();
            $(rows.push(world.query::<&mut $component>().len());)*
            rows
        }
    };
}

many_systems!(
    S00 M00, S01 M01, S02 M02, S03 M03, S04 M04, S05 M05, S06 M06, S07 M07,
    S08 M08, S09 M09, S10 M10, S11 M11, S12 M12, S13 M13, S14 M14, S15 M15,
    S16 M16, S17 M17, S18 M18, S19 M19, S20 M20, S21 M21, S22 M22, S23 M23,
    S24 M24, S25 M25, S26 M26, S27 M27, S28 M28, S29 M29, S30 M30, S31 M31
);
