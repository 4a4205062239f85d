use macrokid_threads::{Job, JobContext, JobRun, Priority};

#[derive(Job)]
#[job(run = "go", output = "Vec<u32>", name = "generic", priority = "low")]
struct Generic<T: Into<u32> + Copy + Send + 'static> {
    items: Vec<T>,
}

impl<T: Into<u32> + Copy + Send + 'static> Generic<T> {
    fn go(&mut self, _cx: &JobContext) -> Vec<u32> {
        self.items.iter().map(|&t| t.into()).collect()
    }
}

#[derive(Job)]
#[job(run = "go")]
enum Either {
    Left,
    Right,
}

impl Either {
    fn go(&mut self, _cx: &JobContext) {
        *self = match self {
            Either::Left => Either::Right,
            Either::Right => Either::Left,
        };
    }
}

fn main() {
    let cx = JobContext::detached();
    let mut job = Generic { items: vec![1u8, 2] };
    assert_eq!(JobRun::run(&mut job, &cx), vec![1, 2]);
    assert_eq!(job.name(), "generic");
    assert_eq!(job.priority(), Priority::Low);
    let mut either = Either::Left;
    either.run(&cx);
    assert!(matches!(either, Either::Right));
    assert_eq!(either.priority(), Priority::Normal);
}
