//! The simulated world: components, resources, systems and their schedule.

use glam::{Quat, Vec3};
use macrokid_ecs::prelude::*;
use macrokid_graphics::InstanceData;
use macrokid_threads::{Schedule, System};

/// Where an entity is, in world units.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub(crate) struct Position(pub(crate) Vec3);

/// How fast an entity moves, in world units per second.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub(crate) struct Velocity(pub(crate) Vec3);

/// How an entity spins: a unit axis and a rate in radians per second.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Spin {
    pub(crate) axis: Vec3,
    pub(crate) rate: f32,
}

/// The entity's orientation.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub(crate) struct Rotation(pub(crate) Quat);

/// Uniform scale and RGBA colour (linear, 0..=1) of the drawn mesh.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub(crate) struct Appearance {
    pub(crate) scale: f32,
    pub(crate) color: [f32; 4],
}

/// How many more ticks the entity lives; at zero it expires and a new
/// entity is spawned in its place. Anchors (entities that never move) have
/// none.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub(crate) struct Lifetime(pub(crate) u32);

/// A tag on the entities currently selected (drawn brighter). It comes and
/// goes every few ticks, so it has sparse-set storage: toggling it moves no
/// table row.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Selected;

/// Ticks between two changes of the selection.
pub(crate) const SELECTION_PERIOD: u64 = 8;

/// Every this many entities (by index) one is selected.
const SELECTION_STRIDE: u64 = 5;

/// The random source of respawns, and how many entities expired so far.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Spawner {
    pub(crate) rng: SplitMix64,
    pub(crate) respawned: u64,
    /// The box new entities appear in.
    pub(crate) half_extent: [f32; 3],
}

/// The number of runs of [`ToggleSelection`] so far.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SelectionClock(pub(crate) u64);

/// How many entities had their `Position` changed (written, or added by
/// a spawn) since the previous tick's `TrackMoved` (a `Changed<Position>`
/// query). Not part of the world hash: a restored world counts every entity
/// as changed once.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moved(pub(crate) usize);

/// Simulation clock: the step of this tick and the time since start, in seconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Time {
    pub(crate) dt: f32,
    pub(crate) elapsed: f32,
}

/// The box entities bounce inside: `-half_extent..=half_extent` on each axis.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub(crate) half_extent: Vec3,
}

/// The immutable snapshot the renderer draws: one instance per entity, in
/// entity order of the query (deterministic for a given world history).
#[derive(Clone, Debug, Default)]
pub(crate) struct Instances(pub(crate) Vec<InstanceData>);

/// `position += velocity * dt`.
#[derive(System)]
#[system(reads(Velocity, Time), writes(Position))]
pub(crate) struct Integrate;

impl Run for Integrate {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Time>()?.dt;
        // Anchors (zero velocity) are not written, so `Changed<Position>`
        // skips them.
        cx.query::<(&mut Position, &Velocity)>()
            .par_for_each(|(mut position, velocity)| {
                if velocity.0 != Vec3::ZERO {
                    position.0 += velocity.0 * dt;
                }
            });
        Ok(())
    }
}

/// Reflects entities that left the bounds back inside, flipping the velocity
/// component that carried them out.
#[derive(System)]
#[system(reads(Bounds), writes(Position, Velocity))]
pub(crate) struct Bounce;

impl Run for Bounce {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let half = cx.resource::<Bounds>()?.half_extent;
        cx.query::<(&mut Position, &mut Velocity)>().par_for_each(
            |(mut position, mut velocity)| {
                for axis in 0..3 {
                    if position.0[axis] > half[axis] {
                        position.0[axis] = 2.0 * half[axis] - position.0[axis];
                        velocity.0[axis] = -velocity.0[axis].abs();
                    } else if position.0[axis] < -half[axis] {
                        position.0[axis] = -2.0 * half[axis] - position.0[axis];
                        velocity.0[axis] = velocity.0[axis].abs();
                    }
                }
            },
        );
        Ok(())
    }
}

/// `rotation = rotation * axis_angle(axis, rate * dt)`, renormalised.
#[derive(System)]
#[system(reads(Spin, Time), writes(Rotation))]
pub(crate) struct SpinAround;

impl Run for SpinAround {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Time>()?.dt;
        cx.query::<(&mut Rotation, &Spin)>()
            .par_for_each(|(mut rotation, spin)| {
                rotation.0 =
                    (rotation.0 * Quat::from_axis_angle(spin.axis, spin.rate * dt)).normalize();
            });
        Ok(())
    }
}

/// Counts down every [`Lifetime`]; an entity whose lifetime ends is
/// despawned and a new one spawned in its place, both through commands (in
/// query order, so the result does not depend on threads).
#[derive(System)]
#[system(
    writes(Lifetime, Spawner),
    spawns,
    despawns,
    inserts(Position, Velocity, Spin, Rotation, Appearance, Lifetime)
)]
pub(crate) struct Expire;

impl Run for Expire {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut spawner = cx.resource_mut::<Spawner>()?;
        let commands = cx.commands();
        for (entity, mut lifetime) in cx.query::<(Entity, &mut Lifetime)>().iter() {
            lifetime.0 = lifetime.0.saturating_sub(1);
            if lifetime.0 == 0 {
                commands.despawn(entity);
                let half = Vec3::from(spawner.half_extent);
                let bundle = random_entity(&mut spawner.rng, half, true);
                commands.spawn(bundle);
                spawner.respawned += 1;
            }
        }
        Ok(())
    }
}

/// Every [`SELECTION_PERIOD`] ticks, selects every fifth entity by index
/// (shifting the pick each time) and deselects the others, through
/// commands that insert and remove the sparse [`Selected`] tag.
#[derive(System)]
#[system(
    reads(Selected),
    writes(SelectionClock),
    inserts(Selected),
    removes(Selected)
)]
pub(crate) struct ToggleSelection;

impl Run for ToggleSelection {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let round = {
            let mut clock = cx.resource_mut::<SelectionClock>()?;
            clock.0 += 1;
            clock.0
        };
        if round % SELECTION_PERIOD != 1 {
            return Ok(());
        }
        let shift = round / SELECTION_PERIOD;
        let commands = cx.commands();
        for (entity, selected) in cx.query::<(Entity, Has<Selected>)>().iter() {
            let pick = (u64::from(entity.index()) + shift) % SELECTION_STRIDE == 0;
            if pick && !selected {
                commands.insert(entity, Selected);
            } else if !pick && selected {
                commands.remove::<Selected>(entity);
            }
        }
        Ok(())
    }
}

/// Counts the entities whose `Position` changed since this system's last
/// run into [`Moved`].
#[derive(System)]
#[system(reads(Position), writes(Moved))]
pub(crate) struct TrackMoved;

impl Run for TrackMoved {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let moved = cx.query_filtered::<Entity, Changed<Position>>().len();
        cx.resource_mut::<Moved>()?.0 = moved;
        Ok(())
    }
}

/// Copies every drawable entity into the [`Instances`] snapshot; selected
/// entities are drawn halfway to white.
#[derive(System)]
#[system(reads(Position, Rotation, Appearance, Selected), writes(Instances))]
pub(crate) struct Extract;

impl Run for Extract {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut snapshot = std::mem::take(&mut cx.resource_mut::<Instances>()?.0);
        snapshot.clear();
        snapshot.extend(
            cx.query::<(&Position, &Rotation, &Appearance, Option<&Selected>)>()
                .iter()
                .map(|(position, rotation, appearance, selected)| {
                    let mut color = appearance.color;
                    if selected.is_some() {
                        for c in &mut color[..3] {
                            *c = 0.5 * (*c + 1.0);
                        }
                    }
                    InstanceData::new(
                        glam::Mat4::from_scale_rotation_translation(
                            Vec3::splat(appearance.scale),
                            rotation.0,
                            position.0,
                        ),
                        color,
                    )
                }),
        );
        cx.resource_mut::<Instances>()?.0 = snapshot;
        Ok(())
    }
}

/// One tick of the showcase world. `Integrate` and `SpinAround` touch
/// disjoint data and share a batch; `Bounce` writes `Position` too, so the
/// planner puts it in a later batch of the same stage. `ToggleSelection`
/// and `Expire` change the world through commands, applied at the end of
/// their stages; `TrackMoved` then sees the positions changed this tick.
#[derive(Schedule)]
pub(crate) struct Tick {
    #[stage]
    pub(crate) update: (Integrate, SpinAround, Bounce, ToggleSelection),
    #[stage(after = "update")]
    pub(crate) lifecycle: (Expire,),
    #[stage(after = "lifecycle")]
    pub(crate) extract: (TrackMoved, Extract),
}

impl Tick {
    /// The schedule's systems (all stateless).
    pub(crate) fn new() -> Self {
        Self {
            update: (Integrate, SpinAround, Bounce, ToggleSelection),
            lifecycle: (Expire,),
            extract: (TrackMoved, Extract),
        }
    }
}

/// A small deterministic pseudo-random generator (SplitMix64, Steele et al.,
/// "Fast splittable pseudorandom number generators", OOPSLA 2014) so that a
/// seed gives the same world on every machine.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        // 24 random bits give every representable step of an f32 in 0..1.
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// A uniformly distributed unit vector.
    pub(crate) fn unit_vector(&mut self) -> Vec3 {
        loop {
            let v = Vec3::new(
                self.range(-1.0, 1.0),
                self.range(-1.0, 1.0),
                self.range(-1.0, 1.0),
            );
            let len2 = v.length_squared();
            if (1e-4..=1.0).contains(&len2) {
                return v / len2.sqrt();
            }
        }
    }
}

/// The component and resource types of the showcase world, for
/// `World::hash`, snapshots and restores: the components as raw
/// plain-old-data columns, the clock through serde. (`Bounds` is set once
/// by `populate`; `Instances` is rebuilt every tick by `Extract`.)
pub(crate) fn snapshot_registry() -> SnapshotRegistry {
    let mut registry = SnapshotRegistry::new();
    registry
        .register_pod_as::<Position>("showcase::Position")
        .register_pod_as::<Velocity>("showcase::Velocity")
        .register_pod_as::<Spin>("showcase::Spin")
        .register_pod_as::<Rotation>("showcase::Rotation")
        .register_pod_as::<Appearance>("showcase::Appearance")
        .register_pod_as::<Lifetime>("showcase::Lifetime")
        .register_as::<Selected>("showcase::Selected")
        .register_resource_as::<Time>("showcase::Time")
        .register_resource_as::<Spawner>("showcase::Spawner")
        .register_resource_as::<SelectionClock>("showcase::SelectionClock");
    registry
}

/// The components of a mortal entity (anchors lack the `Lifetime`).
type EntityBundle = (Position, Velocity, Spin, Rotation, Appearance, Lifetime);

/// The components of one entity, from `rng`: a random place in the box of
/// `half`, velocity, spin, orientation, look and lifetime. Immortal entities
/// (`mortal == false`) are anchors: zero velocity (their lifetime is
/// dropped by the caller).
fn random_entity(rng: &mut SplitMix64, half: Vec3, mortal: bool) -> EntityBundle {
    let position = Vec3::new(
        rng.range(-half.x, half.x),
        rng.range(-half.y, half.y),
        rng.range(-half.z, half.z),
    );
    let velocity = rng.unit_vector() * rng.range(0.5, 4.0);
    let spin = Spin {
        axis: rng.unit_vector(),
        rate: rng.range(0.5, 3.0),
    };
    let hue = rng.range(0.0, 1.0);
    let rotation = Rotation(Quat::from_axis_angle(
        rng.unit_vector(),
        rng.range(0.0, std::f32::consts::TAU),
    ));
    let appearance = Appearance {
        scale: rng.range(0.35, 0.7),
        color: hue_to_rgba(hue),
    };
    let lifetime = rng.range(MIN_LIFETIME, MAX_LIFETIME) as u32;
    (
        Position(position),
        Velocity(if mortal { velocity } else { Vec3::ZERO }),
        spin,
        rotation,
        appearance,
        Lifetime(lifetime),
    )
}

/// Lifetimes of mortal entities, in ticks.
const MIN_LIFETIME: f32 = 30.0;
const MAX_LIFETIME: f32 = 600.0;

/// Every this many entities of the initial population one is an anchor.
const ANCHOR_STRIDE: usize = 8;

/// Fills `world` with `count` entities spread through `bounds`, plus the
/// resources the systems read, and registers the snapshot types.
pub(crate) fn populate(world: &mut World, count: usize, bounds: Bounds, seed: u64) {
    *world.snapshot_registry_mut() = snapshot_registry();
    world
        .register_sparse::<Selected>()
        .expect("`Selected` is registered before its first use");
    let mut rng = SplitMix64::new(seed);
    let half = bounds.half_extent;
    let mut anchors = Vec::new();
    let mortal: Vec<EntityBundle> = (0..count)
        .filter_map(|i| {
            let (p, v, s, r, a, l) = random_entity(&mut rng, half, i % ANCHOR_STRIDE != 0);
            if i % ANCHOR_STRIDE == 0 {
                anchors.push((p, v, s, r, a));
                None
            } else {
                Some((p, v, s, r, a, l))
            }
        })
        .collect();
    world.spawn_batch(anchors);
    world.spawn_batch(mortal);
    world.insert_resource(Spawner {
        rng,
        respawned: 0,
        half_extent: half.to_array(),
    });
    world.insert_resource(SelectionClock::default());
    world.insert_resource(Moved::default());
    world.insert_resource(Time::default());
    world.insert_resource(bounds);
    world.insert_resource(Instances(Vec::with_capacity(count)));
}

/// A saturated colour from a hue in `0..1` (HSV with S = 0.65, V = 0.95).
fn hue_to_rgba(hue: f32) -> [f32; 4] {
    let (s, v) = (0.65_f32, 0.95_f32);
    let h = (hue.fract() * 6.0).clamp(0.0, 5.999);
    let sector = h as u32;
    let f = h - sector as f32;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b, 1.0]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use macrokid_threads::{Scheduler, ThreadPool};

    use super::*;

    const DT: f32 = 1.0 / 60.0;

    fn world(seed: u64) -> World {
        let mut world = World::new();
        let bounds = Bounds {
            half_extent: Vec3::new(8.0, 5.0, 4.0),
        };
        populate(&mut world, 2_000, bounds, seed);
        world
    }

    /// Runs `ticks` ticks as the showcase does (clock, then the schedule).
    fn run(world: &mut World, tick: &mut Tick, scheduler: &Scheduler, ticks: usize) {
        for _ in 0..ticks {
            let time = world.resource_mut::<Time>().unwrap();
            time.dt = DT;
            time.elapsed += DT;
            world.run_schedule(tick, scheduler).unwrap();
        }
    }

    fn scheduler(threads: usize) -> Scheduler {
        Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()))
    }

    /// The world hash after 100 ticks is the same with 1, 2 and 8 threads,
    /// and differs for another seed.
    #[test]
    fn hash_after_100_ticks_is_independent_of_threads() {
        let hashes: Vec<u64> = [1, 2, 8]
            .into_iter()
            .map(|threads| {
                let mut world = world(7);
                run(&mut world, &mut Tick::new(), &scheduler(threads), 100);
                world.hash()
            })
            .collect();
        assert_eq!(hashes[0], hashes[1]);
        assert_eq!(hashes[0], hashes[2]);
        let mut other = world(8);
        run(&mut other, &mut Tick::new(), &scheduler(2), 100);
        assert_ne!(other.hash(), hashes[0]);
    }

    /// Entities expire and are replaced (the population stays the same),
    /// the selection follows its rule, and `Changed<Position>` counts the
    /// mortal entities (moved or just spawned) but not the anchors.
    #[test]
    fn entities_respawn_selection_toggles_and_moved_skips_anchors() {
        let scheduler = scheduler(2);
        let mut world = world(5);
        let count = world.len();
        let anchors = world.query_filtered::<Entity, Without<Lifetime>>().len();
        assert_eq!(anchors, count.div_ceil(ANCHOR_STRIDE));
        run(&mut world, &mut Tick::new(), &scheduler, 100);
        assert_eq!(world.len(), count, "every expired entity was replaced");
        let respawned = world.resource::<Spawner>().unwrap().respawned;
        assert!(respawned > 0, "some lifetimes ended within 100 ticks");
        assert_eq!(world.resource::<Moved>().unwrap().0, count - anchors);
        // Round 100: the last selection was made in round 97 (shift 12).
        let shift = 97 / SELECTION_PERIOD;
        let mut selected = 0;
        for (entity, has) in world.query::<(Entity, Has<Selected>)>().iter() {
            let pick = (u64::from(entity.index()) + shift) % SELECTION_STRIDE == 0;
            // Entities spawned after the last selection round are unpicked.
            assert!(!has || pick, "{entity:?} selected against the rule");
            selected += usize::from(has);
        }
        assert!(selected > count / (SELECTION_STRIDE as usize) / 2);
        assert!(world.is_sparse::<Selected>());
    }

    /// Snapshot after 50 ticks, restore into a fresh world, 50 more ticks:
    /// the same hash as 100 ticks without the round trip.
    #[test]
    fn snapshot_restore_continues_identically() {
        let scheduler = scheduler(2);
        let mut straight = world(3);
        run(&mut straight, &mut Tick::new(), &scheduler, 100);

        let mut first = world(3);
        run(&mut first, &mut Tick::new(), &scheduler, 50);
        let bytes = first.snapshot().unwrap();
        let mut restored = World::from_snapshot(snapshot_registry(), &bytes).unwrap();
        assert_eq!(restored.hash(), first.hash());
        restored.insert_resource(*first.resource::<Bounds>().unwrap());
        restored.insert_resource(Instances::default());
        restored.insert_resource(Moved::default());
        assert!(restored.is_sparse::<Selected>());
        run(&mut restored, &mut Tick::new(), &scheduler, 50);
        assert_eq!(restored.hash(), straight.hash());
    }
}
