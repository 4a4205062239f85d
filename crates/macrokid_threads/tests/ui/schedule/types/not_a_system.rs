use macrokid_threads::{Schedule, System};

#[derive(System)]
struct A;
#[derive(System)]
struct B;
#[derive(System)]
struct C;

struct NotASystem;

#[derive(Schedule)]
struct Game {
    #[stage]
    input: (A, NotASystem),
    #[stage]
    single: String,
}

fn main() {}
