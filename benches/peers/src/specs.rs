//! specs 0.20: ecs_bench_suite's `src/specs/*.rs`, with macrokid's data
//! (glam instead of cgmath) and entity counts (the suite's specs `schedule`
//! spawns 10k extra entities with only `A`; here all libraries spawn the
//! same 40k). Every component in a `VecStorage`, as in the suite; systems
//! run through `run_now`, `schedule` through a parallel `Dispatcher`,
//! heavy_compute through `par_join` (rayon).

use glam::{Mat4, Vec3};
use rayon::prelude::*;
use specs::prelude::*;

use crate::harness::{expect_rows, measure, Timing};

macro_rules! vec_components {
    ($($t:ident($inner:ty)),*) => {
        $(
            #[derive(Clone, Copy)]
            struct $t($inner);
            impl Component for $t {
                type Storage = VecStorage<Self>;
            }
        )*
    };
}

vec_components!(
    Transform(Mat4),
    Position(Vec3),
    Rotation(Vec3),
    Velocity(Vec3),
    Data(f32)
);
vec_components!(Sa(f32), Sb(f32), Sc(f32), Sd(f32), Se(f32));

fn register_four(world: &mut World) {
    world.register::<Transform>();
    world.register::<Position>();
    world.register::<Rotation>();
    world.register::<Velocity>();
}

macro_rules! frag_types {
    ($($t:ident),*) => {
        vec_components!($($t(f32)),*);
        fn spawn_fragmented(world: &mut World) {
            $(
                world.register::<$t>();
                (0..20).for_each(|_| {
                    world.create_entity().with($t(0.0)).with(Data(1.0)).build();
                });
            )*
        }
    };
}
frag_types!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, R, S, T, U, V, W, X, Y, Z);

struct SimpleIterSystem;
impl<'a> System<'a> for SimpleIterSystem {
    type SystemData = (ReadStorage<'a, Velocity>, WriteStorage<'a, Position>);

    fn run(&mut self, (velocities, mut positions): Self::SystemData) {
        for (v, p) in (&velocities, &mut positions).join() {
            p.0 += v.0;
        }
    }
}

struct FragIterSystem;
impl<'a> System<'a> for FragIterSystem {
    type SystemData = WriteStorage<'a, Data>;

    fn run(&mut self, mut data: Self::SystemData) {
        for d in (&mut data).join() {
            d.0 *= 2.0;
        }
    }
}

struct HeavyComputeSystem;
impl<'a> System<'a> for HeavyComputeSystem {
    type SystemData = (WriteStorage<'a, Position>, WriteStorage<'a, Transform>);

    fn run(&mut self, (mut positions, mut transforms): Self::SystemData) {
        (&mut positions, &mut transforms)
            .par_join()
            .for_each(|(pos, mat)| {
                for _ in 0..100 {
                    mat.0 = mat.0.inverse();
                }
                pos.0 = mat.0.transform_vector3(pos.0);
            });
    }
}

macro_rules! swap_system {
    ($name:ident, $x:ident, $y:ident) => {
        struct $name;
        impl<'a> System<'a> for $name {
            type SystemData = (WriteStorage<'a, $x>, WriteStorage<'a, $y>);

            fn run(&mut self, (mut xs, mut ys): Self::SystemData) {
                for (x, y) in (&mut xs, &mut ys).join() {
                    std::mem::swap(&mut x.0, &mut y.0);
                }
            }
        }
    };
}
swap_system!(AbSystem, Sa, Sb);
swap_system!(CdSystem, Sc, Sd);
swap_system!(CeSystem, Sc, Se);

fn spawn_four(world: &mut World, n: usize) {
    (0..n).for_each(|_| {
        world
            .create_entity()
            .with(Transform(Mat4::from_scale(Vec3::ONE)))
            .with(Position(Vec3::X))
            .with(Rotation(Vec3::X))
            .with(Velocity(Vec3::X))
            .build();
    });
}

// many_systems: 32 systems in one parallel `Dispatcher`, each writing its
// own component (VecStorage) on its own 100 entities.
macro_rules! many_systems {
    ($($system:ident $component:ident),*) => {
        vec_components!($($component(f32)),*);
        $(
            struct $system;
            impl<'a> System<'a> for $system {
                type SystemData = WriteStorage<'a, $component>;

                fn run(&mut self, mut cs: Self::SystemData) {
                    for c in (&mut cs).join() {
                        c.0 += 1.0;
                    }
                }
            }
        )*

        fn many_systems(timing: &Timing) -> f64 {
            let mut world = World::new();
            let mut builder = DispatcherBuilder::new();
            $(
                world.register::<$component>();
                (0..100).for_each(|_| {
                    world.create_entity().with($component(0.0)).build();
                });
                expect_rows("many_systems", world.read_storage::<$component>().join().count(), 100);
                builder.add($system, stringify!($system), &[]);
            )*
            let mut dispatcher = builder.build();
            dispatcher.setup(&mut world);
            measure(timing, || dispatcher.dispatch_par(&world))
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
                register_four(&mut world);
                spawn_four(&mut world, 10_000);
                world
            };
            let world = make();
            let rows = (
                &world.read_storage::<Velocity>(),
                &world.read_storage::<Position>(),
            )
                .join()
                .count();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, make)
        }
        "simple_iter" => {
            let mut world = World::new();
            register_four(&mut world);
            spawn_four(&mut world, 10_000);
            let rows = (
                &world.read_storage::<Velocity>(),
                &world.read_storage::<Position>(),
            )
                .join()
                .count();
            expect_rows("simple_iter", rows, 10_000);
            let mut system = SimpleIterSystem;
            measure(timing, || system.run_now(&world))
        }
        "frag_iter" => {
            let mut world = World::new();
            world.register::<Data>();
            spawn_fragmented(&mut world);
            expect_rows(
                "frag_iter",
                world.read_storage::<Data>().join().count(),
                26 * 20,
            );
            let mut system = FragIterSystem;
            measure(timing, || system.run_now(&world))
        }
        "heavy_compute" => {
            let mut world = World::new();
            register_four(&mut world);
            (0..1000).for_each(|_| {
                world
                    .create_entity()
                    .with(Transform(Mat4::from_axis_angle(Vec3::X, 1.2)))
                    .with(Position(Vec3::X))
                    .with(Rotation(Vec3::X))
                    .with(Velocity(Vec3::X))
                    .build();
            });
            let rows = (
                &world.read_storage::<Position>(),
                &world.read_storage::<Transform>(),
            )
                .join()
                .count();
            expect_rows("heavy_compute", rows, 1000);
            let mut system = HeavyComputeSystem;
            measure(timing, || system.run_now(&world))
        }
        "schedule" => {
            let mut world = World::new();
            world.register::<Sa>();
            world.register::<Sb>();
            world.register::<Sc>();
            world.register::<Sd>();
            world.register::<Se>();
            (0..10_000).for_each(|_| {
                world.create_entity().with(Sa(0.0)).with(Sb(0.0)).build();
            });
            (0..10_000).for_each(|_| {
                world
                    .create_entity()
                    .with(Sa(0.0))
                    .with(Sb(0.0))
                    .with(Sc(0.0))
                    .build();
            });
            (0..10_000).for_each(|_| {
                world
                    .create_entity()
                    .with(Sa(0.0))
                    .with(Sb(0.0))
                    .with(Sc(0.0))
                    .with(Sd(0.0))
                    .build();
            });
            (0..10_000).for_each(|_| {
                world
                    .create_entity()
                    .with(Sa(0.0))
                    .with(Sb(0.0))
                    .with(Sc(0.0))
                    .with(Se(0.0))
                    .build();
            });
            let ab_rows = (&world.read_storage::<Sa>(), &world.read_storage::<Sb>())
                .join()
                .count();
            expect_rows("schedule ab", ab_rows, 40_000);
            let cd_rows = (&world.read_storage::<Sc>(), &world.read_storage::<Sd>())
                .join()
                .count();
            expect_rows("schedule cd", cd_rows, 10_000);
            let ce_rows = (&world.read_storage::<Sc>(), &world.read_storage::<Se>())
                .join()
                .count();
            expect_rows("schedule ce", ce_rows, 10_000);
            let mut dispatcher = DispatcherBuilder::new()
                .with(AbSystem, "ab", &[])
                .with(CdSystem, "cd", &[])
                .with(CeSystem, "ce", &[])
                .build();
            dispatcher.setup(&mut world);
            measure(timing, || dispatcher.dispatch_par(&world))
        }
        "add_remove" => {
            let mut world = World::new();
            world.register::<Sa>();
            world.register::<Sb>();
            let entities: Vec<Entity> = (0..10_000)
                .map(|_| world.create_entity().with(Sa(0.0)).build())
                .collect();
            expect_rows(
                "add_remove",
                world.read_storage::<Sa>().join().count(),
                10_000,
            );
            measure(timing, || {
                let mut b_storage = world.write_storage::<Sb>();
                for &e in &entities {
                    b_storage.insert(e, Sb(0.0)).unwrap();
                }
                for &e in &entities {
                    b_storage.remove(e);
                }
            })
        }
        "many_systems" => many_systems(timing),
        _ => return None,
    })
}
