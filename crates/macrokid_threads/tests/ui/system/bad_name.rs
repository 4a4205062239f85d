use macrokid_threads::System;

#[derive(System)]
#[system(name = draw)]
struct Draw;

#[derive(System)]
#[system(name = "a", name = "b")]
struct Twice;

#[derive(System)]
#[system(name = "")]
struct Empty;

fn main() {}
