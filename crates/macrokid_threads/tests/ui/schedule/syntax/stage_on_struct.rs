use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

#[derive(Schedule)]
#[stage(name = "game")]
struct Game {
    #[stage]
    input: (A,),
}

fn main() {}
