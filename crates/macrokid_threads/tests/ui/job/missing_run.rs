use macrokid_threads::Job;

#[derive(Job)]
#[job(output = "u32", priority = "high")]
struct Bake;

#[derive(Job)]
struct Nothing;

fn main() {}
