use macrokid_threads::Job;

#[derive(Job)]
#[job(run = "go")]
union Bits {
    int: u32,
}

fn main() {}
