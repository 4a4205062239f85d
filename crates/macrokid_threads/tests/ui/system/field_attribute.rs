use macrokid_threads::System;

struct Position;

#[derive(System)]
struct Draw {
    #[system(reads(Position))]
    count: u32,
}

fn main() {}
