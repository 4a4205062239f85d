use macrokid_threads::System;

struct Position;

#[derive(System)]
#[system(reads("Position"))]
struct Draw;

fn main() {}
