use macrokid_threads::System;

struct Position;

#[derive(System)]
#[system(read(Position), label = "draw")]
struct Draw;

fn main() {}
