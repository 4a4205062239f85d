use macrokid_threads::Job;

#[derive(Job)]
#[job(run = "bake")]
struct Bake;

fn main() {}
