//! legion 0.4: ecs_bench_suite's `src/legion/*.rs`, with macrokid's data
//! (glam instead of cgmath) and entity counts. As in the suite, worlds are
//! packed after setup (`PackOptions::force()`), queries are held across
//! iterations, simple_insert goes through `into_soa` (legion's fast path for
//! column data), and `schedule` runs legion's `#[system(for_each)]` systems
//! on its parallel (rayon) executor.

use glam::{Mat4, Vec3};
use legion::storage::{IntoComponentSource, PackOptions};
use legion::*;

use crate::harness::{expect_rows, measure, Timing};

#[derive(Clone, Copy)]
struct Transform(Mat4);
#[derive(Clone, Copy)]
struct Position(Vec3);
#[derive(Clone, Copy)]
struct Rotation(Vec3);
#[derive(Clone, Copy)]
struct Velocity(Vec3);

fn soa_bundle() -> impl IntoComponentSource {
    (
        vec![Transform(Mat4::from_scale(Vec3::ONE)); 10_000],
        vec![Position(Vec3::X); 10_000],
        vec![Rotation(Vec3::X); 10_000],
        vec![Velocity(Vec3::X); 10_000],
    )
        .into_soa()
}

macro_rules! frag_types {
    ($($t:ident),*) => {
        $(#[derive(Clone, Copy)] struct $t(f32);)*
        fn spawn_fragmented(world: &mut World) {
            $(world.extend((0..20).map(|_| ($t(0.0), Data(1.0))));)*
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

#[system(for_each)]
fn ab(a: &mut Sa, b: &mut Sb) {
    std::mem::swap(&mut a.0, &mut b.0);
}

#[system(for_each)]
fn cd(c: &mut Sc, d: &mut Sd) {
    std::mem::swap(&mut c.0, &mut d.0);
}

#[system(for_each)]
fn ce(c: &mut Sc, e: &mut Se) {
    std::mem::swap(&mut c.0, &mut e.0);
}

// many_systems: 32 systems (SystemBuilder, one query each) in one
// schedule on legion's parallel executor, each on its own 100 entities.
macro_rules! many_systems {
    ($($system:ident $component:ident),*) => {
        $(
            #[derive(Clone, Copy)]
            struct $component(f32);
        )*

        fn many_systems(timing: &Timing) -> f64 {
            let mut world = World::default();
            let mut builder = Schedule::builder();
            $(
                world.extend((0..100).map(|_| ($component(0.0),)));
                let rows = <Read<$component>>::query().iter(&world).count();
                expect_rows("many_systems", rows, 100);
                builder.add_system(
                    SystemBuilder::new(stringify!($system))
                        .with_query(<Write<$component>>::query())
                        .build(|_, world, _, query| {
                            query.for_each_mut(world, |c| c.0 += 1.0);
                        }),
                );
            )*
            world.pack(PackOptions::force());
            let mut resources = Resources::default();
            let mut schedule = builder.build();
            measure(timing, || schedule.execute(&mut world, &mut resources))
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
                let mut world = World::default();
                world.extend(soa_bundle());
                world
            };
            let world = make();
            let rows = <(Read<Velocity>, Read<Position>)>::query()
                .iter(&world)
                .count();
            expect_rows("simple_insert", rows, 10_000);
            measure(timing, make)
        }
        "simple_iter" => {
            let mut world = World::default();
            world.extend(soa_bundle());
            world.pack(PackOptions::force());
            let mut query = <(Read<Velocity>, Write<Position>)>::query();
            expect_rows("simple_iter", query.iter_mut(&mut world).count(), 10_000);
            measure(timing, || {
                query.for_each_mut(&mut world, |(v, p)| p.0 += v.0);
            })
        }
        "frag_iter" => {
            let mut world = World::default();
            spawn_fragmented(&mut world);
            world.pack(PackOptions::force());
            let mut query = Write::<Data>::query();
            expect_rows("frag_iter", query.iter_mut(&mut world).count(), 26 * 20);
            measure(timing, || {
                query.for_each_mut(&mut world, |d| d.0 *= 2.0);
            })
        }
        "heavy_compute" => {
            let mut world = World::default();
            world.extend((0..1000).map(|_| {
                (
                    Transform(Mat4::from_axis_angle(Vec3::X, 1.2)),
                    Position(Vec3::X),
                    Rotation(Vec3::X),
                    Velocity(Vec3::X),
                )
            }));
            world.pack(PackOptions::force());
            let mut query = <(Write<Position>, Write<Transform>)>::query();
            expect_rows("heavy_compute", query.iter_mut(&mut world).count(), 1000);
            measure(timing, || {
                query.par_for_each_mut(&mut world, |(pos, mat)| {
                    for _ in 0..100 {
                        mat.0 = mat.0.inverse();
                    }
                    pos.0 = mat.0.transform_vector3(pos.0);
                });
            })
        }
        "schedule" => {
            let mut world = World::default();
            world.extend((0..10_000).map(|_| (Sa(0.0), Sb(0.0))));
            world.extend((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0))));
            world.extend((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Sd(0.0))));
            world.extend((0..10_000).map(|_| (Sa(0.0), Sb(0.0), Sc(0.0), Se(0.0))));
            world.pack(PackOptions::force());
            let ab_rows = <(Read<Sa>, Read<Sb>)>::query().iter(&world).count();
            expect_rows("schedule ab", ab_rows, 40_000);
            let cd_rows = <(Read<Sc>, Read<Sd>)>::query().iter(&world).count();
            expect_rows("schedule cd", cd_rows, 10_000);
            let ce_rows = <(Read<Sc>, Read<Se>)>::query().iter(&world).count();
            expect_rows("schedule ce", ce_rows, 10_000);
            let mut resources = Resources::default();
            let mut schedule = Schedule::builder()
                .add_system(ab_system())
                .add_system(cd_system())
                .add_system(ce_system())
                .build();
            measure(timing, || schedule.execute(&mut world, &mut resources))
        }
        "add_remove" => {
            let mut world = World::default();
            let entities: Vec<Entity> = world.extend((0..10_000).map(|_| (Sa(0.0),))).to_vec();
            expect_rows("add_remove", entities.len(), 10_000);
            measure(timing, || {
                for &e in &entities {
                    world.entry(e).unwrap().add_component(Sb(0.0));
                }
                for &e in &entities {
                    world.entry(e).unwrap().remove_component::<Sb>();
                }
            })
        }
        "many_systems" => many_systems(timing),
        _ => return None,
    })
}
