// Removing and despawning through commands, on the builder too, need
// `removes(...)` and `despawns`.
use macrokid_ecs::prelude::*;

struct Position(f32);

#[derive(System)]
#[system(reads(Position))]
struct Cull;

impl Run for Cull {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, _) in cx.query::<(Entity, &Position)>().iter() {
            commands.entity(e).remove::<Position>();
            commands.despawn(e);
        }
        Ok(())
    }
}

fn main() {}
