// A system that only reads `Position` cannot be handed to an API that needs
// `Writes<Position>`, nor one that declared nothing to one needing `Reads`.
use macrokid_threads::{Reads, System, Writes};

struct Position;

#[derive(System)]
#[system(reads(Position))]
struct Draw;

#[derive(System)]
struct Idle;

fn needs_write<S: Writes<Position>>(_: &S) {}
fn needs_read<S: Reads<Position>>(_: &S) {}

fn main() {
    needs_write(&Draw);
    needs_read(&Idle);
}
