use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

// Two independent cycles: both reported.
#[derive(Schedule)]
struct Game {
    #[stage(after = "b")]
    a: (A,),
    #[stage(after = "a")]
    b: (),
    #[stage(after = "d")]
    c: (B,),
    #[stage(after = "c")]
    d: (C,),
}

fn main() {}
