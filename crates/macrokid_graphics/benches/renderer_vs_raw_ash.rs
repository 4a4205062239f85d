//! The renderer against an independent raw-ash baseline of the same scene
//! (`benches/raw_ash/`: ash + vk-mem only, the same committed SPIR-V).
//!
//! Scene: a unit cube with per-face UVs and white vertex colour, textured with a 64×64 sRGB
//! checkerboard (linear filtering, repeat), 10,000 instances on a 100×100 grid with varied
//! tints, camera at (0, 40, 70) looking at the origin, 1280×720, `R8G8B8A8_UNORM` colour and
//! `D32_SFLOAT` depth, 2 frames in flight, every frame read back to host memory on both sides.
//!
//! The renderer is configured like the baseline: push descriptors
//! (`RendererConfig::descriptors(Some(DescriptorPath::Push))`; `MACROKID_DESCRIPTORS`
//! still overrides it), no post pass, no pipeline-cache file.
//!
//! Runs:
//! - `cargo bench -p macrokid_graphics --bench renderer_vs_raw_ash`: first the check below,
//!   then the measurements with validation **off** on both sides, printed as medians and
//!   renderer / raw-ash ratios from this one run (the two sides alternate in rounds).
//!   Arguments after `--` that are not flags select workloads by substring of their label,
//!   as a criterion filter would: `-- record` measures only the two record workloads,
//!   `-- frame:` only the frame workload.
//! - Without `--bench` (as `cargo test --benches` runs it) or with `--check`: only the check:
//!   both sides with the validation layer and synchronization validation **on** render the
//!   instanced frame (1 thread) and the 10k separate draws (1 and 2 threads), 3 frames each
//!   so both frame slots are reused; any validation message on either side fails, and every
//!   read-back image must be byte-identical between the two sides and across the modes
//!   (tolerance: exact, 0 differing bytes). Exit status 1 on failure.
//!
//! Workloads:
//! - frame: 10k textured instanced cubes, one instanced draw recorded on 1 thread
//!   (`Frame::draw_material_range_with_threads` / one `vkCmdDrawIndexed`); frame time is the
//!   wall time of one loop step (begin, upload instances, record, submit, read back the
//!   previous frame), median over the steady-state steps.
//! - record: 10k separate draws (1 instance each) split into 1 or 2 contiguous chunks, one
//!   secondary command buffer per chunk, chunks on a 2-thread rayon pool; the renderer through
//!   `PassEncoder::begin` + `CommandCtx::draw_instanced_with(mesh, material, i..i + 1)` per
//!   draw, raw ash binding pipeline, push constants, push descriptor and buffers once per
//!   secondary and then `vkCmdDrawIndexed(36, 1, 0, 0, i)` per draw. Both sides record the
//!   same commands into each secondary: viewport and scissor, pipeline, push constants, the
//!   push descriptor, vertex buffers 0 and 1 (the renderer binds them in two calls, raw ash
//!   in one), the index buffer, then one `vkCmdDrawIndexed` per instance; the renderer still
//!   checks every draw's handles and instance range (a draw that repeats the context's
//!   previous mesh and material records only the draw, as raw ash does). Record time is from
//!   before the first chunk starts to after the last secondary ends. A diagnostic raw-ash
//!   variant (1 thread) re-pushes constants and the descriptor and re-binds the buffers before
//!   every draw, to separate the driver's cost of those commands from the renderer's own.
//!   On 2 threads the record time includes the thread pool's dispatch (waking the worker),
//!   which on a loaded machine can exceed the recording itself; the bench also prints the
//!   busiest chunk's record time, measured on its thread from before `begin` (raw ash:
//!   `vkBeginCommandBuffer`) to after `finish` (`vkEndCommandBuffer`), without it.

mod raw_ash;
mod scene;

use std::ops::Range;
use std::time::{Duration, Instant};

use macrokid_graphics::{FrameTicket, GraphicsError, MaterialHandle, MeshHandle, VulkanRenderer};
use raw_ash::{DrawMode, RawAsh, SceneDesc};
use scene::{Scene, HEIGHT, INSTANCES, WIDTH};

/// Frames per measured block; the first of each block is not counted (nothing in flight).
const BLOCK: usize = 8;
/// Alternating rounds (renderer block + raw-ash block, order swapped every round).
const FRAME_ROUNDS: usize = 10;
const RECORD_ROUNDS: usize = 4;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Per counted frame: loop-step wall times, record times and busiest-chunk record times;
/// then the last image.
type Run = (Vec<Duration>, Vec<Duration>, Vec<Duration>, Vec<u8>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--check");
    // Non-flag arguments filter the measured workloads by substring of their label, as a
    // criterion filter would (`cargo bench ... -- record`); none measures all three.
    let filters: Vec<&str> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    if let Err(e) = run(bench, &filters) {
        eprintln!("renderer_vs_raw_ash: {e}");
        std::process::exit(1);
    }
}

/// The renderer side: renderer, mesh and material.
struct RendererSide {
    renderer: VulkanRenderer,
    mesh: MeshHandle,
    material: MaterialHandle,
}

impl RendererSide {
    fn new(scene: &Scene, validation: bool) -> Result<RendererSide, GraphicsError> {
        let renderer = VulkanRenderer::new(scene.renderer_config(validation))?;
        let (mesh, material) = scene.upload(&renderer)?;
        Ok(RendererSide {
            renderer,
            mesh,
            material,
        })
    }

    /// One frame: upload, record as `mode` on `threads` chunks, submit. Returns the ticket,
    /// the record time and the longest time one chunk spent recording on its thread.
    fn submit(
        &mut self,
        scene: &Scene,
        mode: DrawMode,
        threads: usize,
        pool: &rayon::ThreadPool,
    ) -> Result<(FrameTicket, Duration, Duration), BoxError> {
        let (mesh, material) = (self.mesh, self.material);
        let mut frame = self.renderer.begin_frame()?;
        frame.set_view(scene.camera);
        frame.upload_instances(&scene.instances)?;
        let start = Instant::now();
        let busiest = match mode {
            DrawMode::Instanced => {
                pool.install(|| {
                    frame.draw_material_range_with_threads(mesh, material, 0..INSTANCES, threads)
                })?;
                start.elapsed()
            }
            DrawMode::Separate | DrawMode::SeparateRebind => {
                let encoder = frame.encoder_for("main")?;
                let record = move |chunk: usize| -> Result<(), GraphicsError> {
                    let mut ctx = encoder.begin(chunk)?;
                    for i in chunk_range(chunk, threads) {
                        ctx.draw_instanced_with(mesh, material, i..i + 1)?;
                    }
                    ctx.finish()
                };
                let timed = move |chunk: usize| {
                    let start = Instant::now();
                    let result = record(chunk);
                    (result, start.elapsed())
                };
                let results = if threads == 1 {
                    vec![timed(0)]
                } else {
                    let mut results: Vec<(Result<(), GraphicsError>, Duration)> =
                        (0..threads).map(|_| (Ok(()), Duration::ZERO)).collect();
                    pool.scope(|s| {
                        for (chunk, result) in results.iter_mut().enumerate() {
                            s.spawn(move |_| *result = timed(chunk));
                        }
                    });
                    results
                };
                let busiest = results.iter().map(|r| r.1).max().unwrap_or_default();
                results.into_iter().try_for_each(|r| r.0)?;
                busiest
            }
        };
        let record = start.elapsed();
        Ok((frame.submit()?, record, busiest))
    }
}

fn chunk_range(chunk: usize, threads: usize) -> Range<u32> {
    let n = u64::from(INSTANCES);
    let start = chunk as u64 * n / threads as u64;
    let end = (chunk as u64 + 1) * n / threads as u64;
    start as u32..end as u32
}

/// Either side, driven the same way.
enum Side<'a> {
    Renderer(&'a mut RendererSide),
    Raw(&'a mut RawAsh, &'a [u8]),
}

enum Ticket {
    Renderer(FrameTicket),
    Raw(u64),
}

impl Side<'_> {
    fn submit(
        &mut self,
        scene: &Scene,
        mode: DrawMode,
        threads: usize,
        pool: &rayon::ThreadPool,
    ) -> Result<(Ticket, Duration, Duration), BoxError> {
        Ok(match self {
            Side::Renderer(r) => {
                let (t, d, b) = r.submit(scene, mode, threads, pool)?;
                (Ticket::Renderer(t), d, b)
            }
            Side::Raw(raw, instances) => {
                let (t, d, b) = raw.submit(instances, mode, threads, pool)?;
                (Ticket::Raw(t), d, b)
            }
        })
    }

    fn read_back(&mut self, ticket: Ticket) -> Result<Vec<u8>, BoxError> {
        Ok(match (self, ticket) {
            (Side::Renderer(r), Ticket::Renderer(t)) => r.renderer.read_back(t)?.rgba,
            (Side::Raw(raw, _), Ticket::Raw(t)) => raw.read_back(t)?,
            _ => unreachable!("tickets come from the same side"),
        })
    }

    /// Renders `frames` frames with 2 in flight (frame n's image is read back after frame
    /// n + 1 is submitted). Returns, for every frame after the first, the wall time of its
    /// loop step, its record time and its busiest chunk's record time, and the last image.
    fn run(
        &mut self,
        scene: &Scene,
        mode: DrawMode,
        threads: usize,
        frames: usize,
        pool: &rayon::ThreadPool,
    ) -> Result<Run, BoxError> {
        let mut frame_times = Vec::with_capacity(frames);
        let mut record_times = Vec::with_capacity(frames);
        let mut chunk_times = Vec::with_capacity(frames);
        let mut previous = None;
        let mut image = Vec::new();
        for _ in 0..frames {
            let start = Instant::now();
            let (ticket, record, busiest) = self.submit(scene, mode, threads, pool)?;
            if let Some(p) = previous.replace(ticket) {
                image = self.read_back(p)?;
                frame_times.push(start.elapsed());
                record_times.push(record);
                chunk_times.push(busiest);
            }
        }
        if let Some(p) = previous {
            image = self.read_back(p)?;
        }
        Ok((frame_times, record_times, chunk_times, image))
    }
}

fn run(bench: bool, filters: &[&str]) -> Result<(), BoxError> {
    let scene = Scene::new();
    let vertex_bytes = scene.vertex_bytes();
    let instance_bytes = scene.instance_bytes();
    let desc = scene.desc(&vertex_bytes);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    check(&scene, &desc, &instance_bytes, &pool)?;
    if bench {
        measure(&scene, &desc, &instance_bytes, &pool, filters)?;
    }
    Ok(())
}

/// Both sides with validation (and synchronization validation) on: zero messages, and
/// byte-identical images between the sides and across the modes.
fn check(
    scene: &Scene,
    desc: &SceneDesc<'_>,
    instance_bytes: &[u8],
    pool: &rayon::ThreadPool,
) -> Result<(), BoxError> {
    let start = Instant::now();
    let mut renderer = RendererSide::new(scene, true)?;
    let mut raw = RawAsh::new(WIDTH, HEIGHT, true, desc)?;
    let mut reference: Option<(String, Vec<u8>)> = None;
    let mut failures = Vec::new();
    for (mode, threads) in [
        (DrawMode::Instanced, 1),
        (DrawMode::Separate, 1),
        (DrawMode::Separate, 2),
    ] {
        let (_, _, _, r_image) =
            Side::Renderer(&mut renderer).run(scene, mode, threads, 3, pool)?;
        let (_, _, _, a_image) =
            Side::Raw(&mut raw, instance_bytes).run(scene, mode, threads, 3, pool)?;
        let label = format!("{mode:?} on {threads} thread(s)");
        if let Some(diff) = compare(&r_image, &a_image) {
            failures.push(format!("{label}: renderer vs raw ash: {diff}"));
        }
        match &reference {
            None => reference = Some((label, a_image)),
            Some((ref_label, ref_image)) => {
                if let Some(diff) = compare(ref_image, &a_image) {
                    failures.push(format!("raw ash {label} vs {ref_label}: {diff}"));
                }
            }
        }
    }
    let (_, _, _, rebind_image) =
        Side::Raw(&mut raw, instance_bytes).run(scene, DrawMode::SeparateRebind, 1, 3, pool)?;
    if let Some((ref_label, ref_image)) = &reference {
        if let Some(diff) = compare(ref_image, &rebind_image) {
            failures.push(format!("raw ash SeparateRebind vs {ref_label}: {diff}"));
        }
    }
    let renderer_messages = renderer.renderer.validation_counts().total();
    let raw_messages = raw_ash::validation_messages();
    if renderer_messages != 0 {
        failures.push(format!("renderer: {renderer_messages} validation messages"));
    }
    if raw_messages != 0 {
        failures.push(format!("raw ash: {raw_messages} validation messages"));
    }
    let covered = reference.as_ref().map_or(0, |(_, img)| {
        img.chunks_exact(4)
            .filter(|p| *p != rgba8(scene.clear_color))
            .count()
    });
    if covered < (WIDTH * HEIGHT / 10) as usize {
        failures.push(format!(
            "only {covered} pixels differ from the clear colour: the scene is not on screen"
        ));
    }
    println!(
        "check (validation + synchronization validation on, {WIDTH}x{HEIGHT}, adapter {:?} / {:?}): \
         renderer {renderer_messages} messages, raw ash {raw_messages} messages; images of \
         instanced (1 thread) and separate draws (1, 2 threads) compared exactly: {}; \
         {covered} pixels drawn; {:.1} s",
        renderer.renderer.adapter_name(),
        raw.adapter_name(),
        if failures.is_empty() { "identical" } else { "DIFFERENT" },
        start.elapsed().as_secs_f64(),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("check failed:\n  {}", failures.join("\n  ")).into())
    }
}

fn rgba8(c: [f32; 4]) -> [u8; 4] {
    c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// `None` when identical; else how many bytes differ, the first differing pixel and the
/// largest channel difference.
fn compare(a: &[u8], b: &[u8]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("sizes differ: {} vs {} bytes", a.len(), b.len()));
    }
    let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
    if differing == 0 {
        return None;
    }
    let first = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0) / 4;
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    Some(format!(
        "{differing} bytes differ, first at pixel ({}, {}), largest channel difference {max}",
        first as u32 % WIDTH,
        first as u32 / WIDTH
    ))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[v.len() / 2]
}

fn quartiles(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort_unstable();
    if v.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    (v[v.len() / 4], v[v.len() * 3 / 4])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Validation off on both sides; the sides alternate in blocks of [`BLOCK`] frames, the
/// order swapped every round, so drift in machine load hits both.
fn measure(
    scene: &Scene,
    desc: &SceneDesc<'_>,
    instance_bytes: &[u8],
    pool: &rayon::ThreadPool,
    filters: &[&str],
) -> Result<(), BoxError> {
    let start = Instant::now();
    let mut renderer = RendererSide::new(scene, false)?;
    let mut raw = RawAsh::new(WIDTH, HEIGHT, false, desc)?;
    println!(
        "measure: validation off on both sides; adapter {:?}; {INSTANCES} textured cubes at \
         {WIDTH}x{HEIGHT}, 2 frames in flight, every frame read back",
        renderer.renderer.adapter_name()
    );
    let workloads = [
        (
            "frame: 10k textured instanced cubes, 1 thread",
            DrawMode::Instanced,
            1,
            FRAME_ROUNDS,
        ),
        (
            "record: 10k separate draws, 1 thread",
            DrawMode::Separate,
            1,
            RECORD_ROUNDS,
        ),
        (
            "record: 10k separate draws, 2 threads",
            DrawMode::Separate,
            2,
            RECORD_ROUNDS,
        ),
    ];
    for (label, mode, threads, rounds) in workloads {
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f)) {
            continue;
        }
        // Warm up both sides (first frames, instance buffers, worker pools).
        Side::Renderer(&mut renderer).run(scene, mode, threads, 3, pool)?;
        Side::Raw(&mut raw, instance_bytes).run(scene, mode, threads, 3, pool)?;
        let (mut r_frame, mut r_record, mut a_frame, mut a_record) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut r_chunk, mut a_chunk) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            for side in [round % 2, 1 - round % 2] {
                if side == 0 {
                    let (f, r, c, _) =
                        Side::Renderer(&mut renderer).run(scene, mode, threads, BLOCK, pool)?;
                    r_frame.extend(f);
                    r_record.extend(r);
                    r_chunk.extend(c);
                } else {
                    let (f, r, c, _) = Side::Raw(&mut raw, instance_bytes)
                        .run(scene, mode, threads, BLOCK, pool)?;
                    a_frame.extend(f);
                    a_record.extend(r);
                    a_chunk.extend(c);
                }
            }
        }
        let mut rebind_record = Vec::new();
        if mode == DrawMode::Separate && threads == 1 {
            for _ in 0..rounds / 2 {
                let (_, r, _, _) = Side::Raw(&mut raw, instance_bytes).run(
                    scene,
                    DrawMode::SeparateRebind,
                    1,
                    BLOCK,
                    pool,
                )?;
                rebind_record.extend(r);
            }
        }
        let n = r_frame.len();
        let (rf, af) = (median(&mut r_frame), median(&mut a_frame));
        let (rr, ar) = (median(&mut r_record), median(&mut a_record));
        let (rf_q1, rf_q3) = quartiles(&mut r_frame);
        let (af_q1, af_q3) = quartiles(&mut a_frame);
        let (rr_q1, rr_q3) = quartiles(&mut r_record);
        let (ar_q1, ar_q3) = quartiles(&mut a_record);
        println!("{label} ({n} frames per side):");
        println!(
            "  frame time  raw ash {:7.3} ms ({:6.1} fps, IQR {:.3}-{:.3})   renderer {:7.3} ms ({:6.1} fps, IQR {:.3}-{:.3})",
            ms(af), 1.0 / af.as_secs_f64(), ms(af_q1), ms(af_q3),
            ms(rf), 1.0 / rf.as_secs_f64(), ms(rf_q1), ms(rf_q3),
        );
        println!(
            "  record time raw ash {:7.3} ms (IQR {:.3}-{:.3})                 renderer {:7.3} ms (IQR {:.3}-{:.3})",
            ms(ar), ms(ar_q1), ms(ar_q3), ms(rr), ms(rr_q1), ms(rr_q3),
        );
        if mode == DrawMode::Instanced {
            println!(
                "  renderer frame rate = {:.1}% of raw ash (target >= 95%)",
                100.0 * af.as_secs_f64() / rf.as_secs_f64()
            );
        } else {
            println!(
                "  renderer record time = {:.2}x raw ash (target <= 1.1x); frame rate {:.1}% of raw ash",
                rr.as_secs_f64() / ar.as_secs_f64(),
                100.0 * af.as_secs_f64() / rf.as_secs_f64()
            );
            if threads > 1 {
                let (rc, ac) = (median(&mut r_chunk), median(&mut a_chunk));
                println!(
                    "  busiest chunk (record time on its thread, without the pool's dispatch): raw ash {:.3} ms, renderer {:.3} ms = {:.2}x",
                    ms(ac),
                    ms(rc),
                    rc.as_secs_f64() / ac.as_secs_f64()
                );
            }
        }
        if !rebind_record.is_empty() {
            let m = median(&mut rebind_record);
            println!(
                "  diagnostic: raw ash re-pushing constants + descriptor and re-binding buffers before every draw records in {:.3} ms ({:.2}x raw ash; renderer = {:.2}x this)",
                ms(m),
                m.as_secs_f64() / ar.as_secs_f64(),
                rr.as_secs_f64() / m.as_secs_f64()
            );
        }
    }
    println!("measure: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
