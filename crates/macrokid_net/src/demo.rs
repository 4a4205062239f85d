//! The example simulation of the cluster command and the distributed-mode tests: moving,
//! damped and spinning bodies, some of them frozen.
//!
//! Four systems in three rounds: [`Movement`] (reads [`Velocity`], [`Time`], [`Frozen`];
//! writes [`Position`]) and [`Spin`] (reads [`AngularVelocity`], [`Time`]; writes
//! [`Angle`]) do not conflict and run at once; [`Damping`] writes the [`Velocity`] that
//! `Movement` reads, so the planner puts it in a second round; [`Lifecycle`] counts down
//! each [`Lifetime`] and replaces an expired body by a new one through commands (despawn,
//! spawn), which insert the `Position` and `Velocity` the others write, so it runs in a
//! third round and its commands apply after it. [`run_local`] runs the same systems in one
//! process, in plan order, for comparing world hashes.

use bytemuck::{Pod, Zeroable};
use macrokid_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::protocol::SystemName;

/// Position in metres.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct Position(pub [f32; 3]);

/// Velocity in metres per second.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct Velocity(pub [f32; 3]);

/// Rotation about the vertical axis, radians.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct Angle(pub f32);

/// Angular velocity, radians per second.
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct AngularVelocity(pub f32);

/// A tag: frozen bodies do not move (a zero-sized component).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct Frozen;

/// Remaining life in ticks; at 0 the body is replaced ([`Lifecycle`]).
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable, Serialize)]
#[repr(C)]
pub struct Lifetime(pub u32);

/// The time step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds per tick.
    pub dt: f32,
}

/// `position += velocity * dt` for bodies that are not frozen.
#[derive(System, Default)]
#[system(reads(Velocity, Time, Frozen), writes(Position))]
pub struct Movement;

impl Run for Movement {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Time>()?.dt;
        for (mut p, v) in cx
            .query_filtered::<(&mut Position, &Velocity), Without<Frozen>>()
            .iter()
        {
            for (p, v) in p.0.iter_mut().zip(v.0) {
                *p += v * dt;
            }
        }
        Ok(())
    }
}

/// `angle += angular velocity * dt`, wrapped to `[0, 2π)`.
#[derive(System, Default)]
#[system(reads(AngularVelocity, Time), writes(Angle))]
pub struct Spin;

impl Run for Spin {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let dt = cx.resource::<Time>()?.dt;
        for (mut a, w) in cx.query::<(&mut Angle, &AngularVelocity)>().iter() {
            a.0 = (a.0 + w.0 * dt).rem_euclid(std::f32::consts::TAU);
        }
        Ok(())
    }
}

/// `velocity *= 1 - 0.1 * dt` (air drag).
#[derive(System, Default)]
#[system(reads(Time), writes(Velocity))]
pub struct Damping;

impl Run for Damping {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let k = 1.0 - 0.1 * cx.resource::<Time>()?.dt;
        for mut v in cx.query::<&mut Velocity>().iter() {
            for c in &mut v.0 {
                *c *= k;
            }
        }
        Ok(())
    }
}

/// Counts each [`Lifetime`] down; a body whose life is over is despawned and a new one
/// spawned in its place (values from the old body's index), both through commands.
#[derive(System, Default)]
#[system(
    writes(Lifetime),
    spawns,
    despawns,
    inserts(Position, Velocity, Lifetime)
)]
pub struct Lifecycle;

impl Run for Lifecycle {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, mut life) in cx.query::<(Entity, &mut Lifetime)>().iter() {
            if life.0 > 0 {
                life.0 -= 1;
                continue;
            }
            commands.despawn(e);
            let i = e.index();
            let x = (i % 101) as f32;
            commands.spawn((
                Position([x, 0.0, -x]),
                Velocity([1.0, (i % 7) as f32 * 0.5, -0.25]),
                Lifetime(20 + i % 17),
            ));
        }
        Ok(())
    }
}

/// The systems in planning (declaration) order.
pub fn systems() -> Vec<SystemName> {
    ["Movement", "Spin", "Damping", "Lifecycle"]
        .into_iter()
        .map(|s| SystemName::new(s).expect("valid names"))
        .collect()
}

/// The registry of the demo's components (plain-old-data) and its resource.
pub fn registry() -> SnapshotRegistry {
    let mut r = SnapshotRegistry::new();
    r.register_pod::<Position>()
        .register_pod::<Velocity>()
        .register_pod::<Angle>()
        .register_pod::<AngularVelocity>()
        .register_pod::<Frozen>()
        .register_pod::<Lifetime>()
        .register_resource::<Time>();
    r
}

/// Query answers show the demo's components as their values ([`crate::inspect`]).
pub fn json_views() -> crate::inspect::JsonViews {
    let mut v = crate::inspect::JsonViews::new();
    v.register::<Position>()
        .register::<Velocity>()
        .register::<Angle>()
        .register::<AngularVelocity>()
        .register::<Frozen>()
        .register::<Lifetime>();
    v
}

/// A world of `entities` bodies in four archetypes (every third spins, every tenth is
/// frozen), values from a fixed sequence, with [`Time`] at 60 Hz. No body has a
/// [`Lifetime`]: [`Lifecycle`] has nothing to do (see [`world_with_lifecycle`]).
pub fn world(entities: usize) -> World {
    build(entities, false)
}

/// [`world`] where every seventh body also has a [`Lifetime`] of up to 30 ticks (eight
/// archetypes): [`Lifecycle`] replaces bodies through commands. The cluster command's
/// world.
pub fn world_with_lifecycle(entities: usize) -> World {
    build(entities, true)
}

fn build(entities: usize, lifetimes: bool) -> World {
    let mut w = World::new();
    *w.snapshot_registry_mut() = registry();
    w.insert_resource(Time { dt: 1.0 / 60.0 });
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    for i in 0..entities {
        let p = Position([next() * 100.0, next() * 100.0, next() * 100.0]);
        let v = Velocity([next() * 5.0, next() * 5.0, next() * 5.0]);
        let e = w.spawn((p, v));
        if i % 3 == 0 {
            w.insert(e, Angle(0.0)).expect("live");
            w.insert(e, AngularVelocity(next() * 3.0)).expect("live");
        }
        if i % 10 == 0 {
            w.insert(e, Frozen).expect("live");
        }
        if lifetimes && i % 7 == 0 {
            w.insert(e, Lifetime((i % 31) as u32)).expect("live");
        }
    }
    w
}

/// Runs `ticks` ticks of the demo in this process, in plan order.
///
/// # Errors
/// A system's error (the demo's fail only without [`Time`]).
pub fn run_local(world: &mut World, ticks: u64) -> SystemResult {
    run_local_systems(world, ticks, &systems())
}

/// [`run_local`] with only the demo systems named in `systems` (the others are left
/// out), still in plan order whatever the order of `systems`: the local run that a
/// cluster of those systems alone (`macrokid-cluster run --systems ...`) is compared
/// with. Names that are not demo systems are ignored.
///
/// # Errors
/// A system's error (the demo's fail only without [`Time`]).
pub fn run_local_systems(world: &mut World, ticks: u64, systems: &[SystemName]) -> SystemResult {
    let has = |name: &str| systems.iter().any(|s| s.as_str() == name);
    let (movement, spin, damping, lifecycle) = (
        has("Movement"),
        has("Spin"),
        has("Damping"),
        has("Lifecycle"),
    );
    for _ in 0..ticks {
        if movement {
            world.run_system(&mut Movement)?;
        }
        if spin {
            world.run_system(&mut Spin)?;
        }
        if damping {
            world.run_system(&mut Damping)?;
        }
        if lifecycle {
            world.run_system(&mut Lifecycle)?;
        }
    }
    Ok(())
}
