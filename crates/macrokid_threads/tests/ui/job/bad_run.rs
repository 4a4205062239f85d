use macrokid_threads::Job;

#[derive(Job)]
#[job(run = "not a method")]
struct Spaces;

#[derive(Job)]
#[job(run = bake)]
struct Unquoted;

fn main() {}
