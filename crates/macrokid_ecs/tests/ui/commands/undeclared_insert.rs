// A system that declares only `Spawned` (read) inserts `Velocity` through
// its commands: refused at the `insert` call, naming what to declare.
use macrokid_ecs::prelude::*;

struct Spawned(u32);
struct Velocity(f32);

#[derive(System)]
#[system(reads(Spawned))]
struct Birth;

impl Run for Birth {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, s) in cx.query::<(Entity, &Spawned)>().iter() {
            commands.insert(e, Velocity(s.0 as f32));
        }
        Ok(())
    }
}

fn main() {}
