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
    #[stage(name = "input")]
    more_input: (B,),
    #[stage(after = "input")]
    simulate: (C,),
}

fn main() {}
