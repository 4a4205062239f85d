use macrokid_threads::System;

struct Position;

#[derive(System)]
#[system(reads(Position))]
enum Draw {
    Fast,
    Slow,
}

fn main() {}
