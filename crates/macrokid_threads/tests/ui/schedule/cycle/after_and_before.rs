use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

// `before` on one stage and `after` on the other close a cycle of two.
#[derive(Schedule)]
struct Game {
    #[stage(before = "simulate")]
    input: (A,),
    #[stage(before = "input")]
    simulate: (B, C),
}

fn main() {}
