use macrokid_threads::{Job, JobContext};

#[derive(Job)]
#[job(run = "bake", output = "Vec<")]
struct Bake;

impl Bake {
    fn bake(&mut self, _cx: &JobContext) -> Vec<u8> {
        Vec::new()
    }
}

fn main() {}
