use macrokid_threads::System;

struct Position;
struct Velocity;

#[derive(System)]
#[system(reads(Position, Velocity, Position), writes(Vec<u8>, Vec < u8 >))]
struct Integrate;

fn main() {}
