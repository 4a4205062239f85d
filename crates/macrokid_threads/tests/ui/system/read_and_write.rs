use macrokid_threads::System;

struct Position;
struct Velocity;

#[derive(System)]
#[system(reads(Velocity, Position), writes(Position))]
struct Integrate;

fn main() {}
