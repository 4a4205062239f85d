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
    #[stage(afterr = "input", label = "sim")]
    simulate: (B,),
}

fn main() {}
