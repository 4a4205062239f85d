use macrokid_threads::{Job, JobContext};

#[derive(Job)]
#[job(runs = "bake", outptu = "u32")]
struct Bake;

impl Bake {
    fn bake(&mut self, _cx: &JobContext) -> u32 {
        1
    }
}

fn main() {}
