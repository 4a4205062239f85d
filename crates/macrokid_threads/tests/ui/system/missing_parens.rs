use macrokid_threads::System;

struct Position;

#[derive(System)]
#[system(reads = Position, writes)]
struct Draw;

fn main() {}
