use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

#[derive(Schedule)]
struct Game {
    #[stage(after = "present")]
    input: (A,),
    #[stage(after = "input")]
    simulate: (B,),
    #[stage(after = "simulate")]
    present: (C,),
}

fn main() {}
