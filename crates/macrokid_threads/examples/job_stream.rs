//! A producer thread streams jobs into a small bounded queue, blocking when
//! it is full (back-pressure); the main loop runs one 2 ms frame at a time
//! and takes the producer's results in chunks as they complete.
//!
//! `cargo run --release -p macrokid_threads --example job_stream`

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use macrokid_threads::{JobContext, JobEvent, JobQueue, Priority};

/// Counts primes below `limit` by trial division: a CPU-bound job whose cost
/// grows with `limit`.
#[derive(macrokid_threads::Job)]
#[job(run = "count", output = "(u32, usize)", name = "primes")]
struct Primes {
    limit: u32,
}

impl Primes {
    fn count(&mut self, cx: &JobContext) -> (u32, usize) {
        let mut found = 0;
        for n in 2..self.limit {
            if n % 1024 == 0 && cx.is_cancelled() {
                break;
            }
            if (2..).take_while(|d| d * d <= n).all(|d| n % d != 0) {
                found += 1;
            }
        }
        (self.limit, found)
    }
}

fn main() {
    let batch: Arc<JobQueue<Primes>> = Arc::new(
        JobQueue::builder()
            .capacity(32)
            .ordered()
            .build()
            .expect("processor"),
    );
    let total = 400;
    let stream = Arc::new(batch.stream());
    let producer_stream = Arc::clone(&stream);
    let producer = thread::spawn(move || {
        let stream = producer_stream;
        let mut waited = Duration::ZERO;
        for i in 0..total {
            let job = Primes {
                limit: 2_000 + 37 * i,
            };
            let t = Instant::now();
            // Blocks while the queue holds 32 jobs: memory stays flat.
            stream
                .push_timeout(job, Priority::Normal, Duration::from_secs(10))
                .expect("the main loop keeps running frames");
            waited += t.elapsed();
        }
        waited
    });

    let mut frames = 0;
    let mut results = Vec::new();
    let mut chunks = 0;
    while !producer.is_finished() || stream.pending() > 0 {
        let report = batch.run_frame(Duration::from_millis(2));
        frames += 1;
        let chunk = stream.try_chunk();
        if !chunk.is_empty() {
            chunks += 1;
        }
        for event in chunk {
            if let JobEvent::Completed { output, .. } = event {
                results.push(output);
            }
        }
        if frames % 20 == 0 {
            println!(
                "frame {frames}: {} jobs, {:.0} µs, {} queued (capacity {})",
                report.jobs_run,
                report.elapsed.as_secs_f64() * 1e6,
                report.queued,
                batch.capacity()
            );
        }
        // Frames run back to back here; a game would render in between.
        thread::yield_now();
    }
    let waited = producer.join().expect("producer");
    // Ordered processor: results in submission order.
    assert!(results.windows(2).all(|w| w[0].0 < w[1].0));
    let (limit, primes) = *results.last().expect("results");
    println!(
        "{} results in {chunks} chunks over {frames} frames; the producer blocked {:.1} ms \
         on a full queue; {primes} primes below {limit}",
        results.len(),
        waited.as_secs_f64() * 1e3
    );
}
