use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

#[derive(Schedule)]
struct Game {
    #[stage]
    input: (A,),
    #[stage(after = "input, input")]
    simulate: (B,),
    #[stage(after = "simulate", after = "simulate")]
    present: (C,),
}

fn main() {}
