// Spawning needs `spawns` and every bundle type in `inserts(...)`.
use macrokid_ecs::prelude::*;

struct Position(f32);
struct Velocity(f32);

#[derive(System)]
#[system(spawns, inserts(Position))]
struct HalfDeclared;

impl Run for HalfDeclared {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.commands().spawn((Position(0.0), Velocity(1.0)));
        Ok(())
    }
}

#[derive(System)]
#[system(inserts(Position))]
struct NoSpawns;

impl Run for NoSpawns {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        cx.commands().spawn((Position(0.0),));
        Ok(())
    }
}

fn main() {}
