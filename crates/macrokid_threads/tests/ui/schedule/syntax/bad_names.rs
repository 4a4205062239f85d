use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

#[derive(Schedule)]
struct Game {
    #[stage(name = "")]
    input: (A,),
    #[stage(name = "a, b")]
    simulate: (B,),
    #[stage(after = "", before = "input,,simulate")]
    present: (C,),
}

fn main() {}
