use macrokid_threads::System;

struct Position;
struct Velocity;

// Three bad entries, three errors; the good ones are kept.
#[derive(System)]
#[system(reads(Position, 42, _), writes(Velocity Position))]
struct Integrate;

fn main() {}
