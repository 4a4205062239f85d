use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

// Five mistakes in one schedule: every one is reported.
#[derive(Schedule)]
struct Game {
    #[stage(after = "simulate")]
    input: (A,),
    #[stage(after = "input", colour = "red")]
    simulate: (B,),
    #[stage(after = "rendr")]
    present: (C,),
    #[stage(name = "present", before = "extract")]
    extract: (),
    untagged: (),
}

fn main() {}
