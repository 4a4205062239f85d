use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

use macrokid_threads::{BoxError, RunSchedule, RunSystem, Scheduler, SystemSlot};

#[derive(Schedule)]
struct Game {
    #[stage]
    input: (A, B),
    #[stage(after = "input")]
    present: C,
}

/// Runs A and B but not C.
struct Partial;
impl RunSystem<A> for Partial {
    fn run_system(&self, _: &mut A, _: SystemSlot) -> Result<(), BoxError> {
        Ok(())
    }
}
impl RunSystem<B> for Partial {
    fn run_system(&self, _: &mut B, _: SystemSlot) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {
    let mut game = Game { input: (A, B), present: C };
    let _ = game.run(&Scheduler::single_threaded(), &Partial);
}
