use macrokid_threads::System;

struct Position;
struct Frozen;

#[derive(System)]
#[system(spawns(Position), despawns, despawns, inserts(Position, Position))]
#[system(with(Frozen), without(Frozen), removes = "Position")]
struct Mistakes;

fn main() {}
