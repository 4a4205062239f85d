use macrokid_threads::{Job, JobContext};

// `output` says u32, the method returns a String: the error points at `run`.
#[derive(Job)]
#[job(run = "bake", output = "u32")]
struct Bake;

impl Bake {
    fn bake(&mut self, _cx: &JobContext) -> String {
        String::new()
    }
}

fn main() {}
