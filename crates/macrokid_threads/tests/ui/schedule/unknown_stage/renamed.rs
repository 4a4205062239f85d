use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

// A renamed stage is known by its new name only.
#[derive(Schedule)]
struct Game {
    #[stage(name = "poll")]
    input: (A,),
    #[stage(after = "input")]
    simulate: (B, C),
}

fn main() {}
