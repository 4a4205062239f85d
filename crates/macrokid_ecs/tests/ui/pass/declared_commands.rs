// Every structural change declared: spawn returns the id, the builder
// chains on it.
use macrokid_ecs::prelude::*;

struct Position(f32);
struct Velocity(f32);
struct Frozen;

#[derive(System)]
#[system(reads(Position), spawns, despawns, inserts(Position, Velocity), removes(Frozen))]
struct Declared;

impl Run for Declared {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        let child: Entity = commands.spawn((Position(0.0),));
        commands.entity(child).insert(Velocity(1.0)).remove::<Frozen>();
        for (e, p) in cx.query::<(Entity, &Position)>().iter() {
            if p.0 > 10.0 {
                commands.entity(e).despawn();
            }
        }
        Ok(())
    }
}

fn main() {
    let mut world = World::new();
    world.spawn((Position(11.0),));
    world.run_system(&mut Declared).unwrap();
    assert_eq!(world.len(), 1);
}
