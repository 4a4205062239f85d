use macrokid_threads::{Job, JobContext};

#[derive(Job)]
#[job(run = "bake", priority = "urgent")]
struct Bake;

impl Bake {
    fn bake(&mut self, _cx: &JobContext) {}
}

fn main() {}
