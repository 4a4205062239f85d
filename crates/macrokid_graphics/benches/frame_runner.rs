//! The frame runner with and without overlap, in one run: `overlapped` reads each headless
//! frame back one frame late (the GPU renders frame N while frame N + 1 is simulated),
//! `serial` (`FrameRunner::overlap(false)`, the baseline) reads it back in its own Present
//! stage. Compare the two medians as a ratio (`overlapped / serial`): below 1 when the CPU
//! stages and the GPU work really run at once.
//!
//! Scene: 10,000 instanced cubes at 640×360, validation off, one recording thread. Update
//! integrates 10,000 positions and orientations (trigonometry per entity, a real CPU load);
//! Extract copies them into an owned snapshot; Present sums the image's bytes (a stand-in for
//! writing it). One measured iteration is 8 frames and the final read-back.
//!
//! ```text
//! cargo bench -p macrokid_graphics --bench frame_runner -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! On Mesa lavapipe the "GPU" is the CPU's other cores: the overlap shows only when cores are
//! free for it.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::ops::ControlFlow;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use glam::{Mat4, Quat, Vec3};
use macrokid_graphics::app::{BoxError, Delivered, FrameApp, FrameRunner, FrameSnapshot};
use macrokid_graphics::vulkan::Vulkan;
use macrokid_graphics::{
    Camera, Frame, InstanceData, Mesh, MeshHandle, RendererConfig, VulkanRenderer,
};

const ENTITIES: usize = 10_000;
const FRAMES: u64 = 8;

struct Swarm {
    cube: MeshHandle,
    positions: Vec<Vec3>,
    velocities: Vec<Vec3>,
    angles: Vec<f32>,
    checksum: u64,
}

impl Swarm {
    fn new(cube: MeshHandle) -> Swarm {
        let f = |i: usize, k: f32| ((i as f32 * k).sin() * 43_758.547).fract();
        Swarm {
            cube,
            positions: (0..ENTITIES)
                .map(|i| {
                    Vec3::new(
                        f(i, 1.1) * 60.0 - 30.0,
                        f(i, 2.3) * 30.0,
                        f(i, 3.7) * 40.0 - 20.0,
                    )
                })
                .collect(),
            velocities: (0..ENTITIES)
                .map(|i| Vec3::new(f(i, 4.1) - 0.5, f(i, 5.3) - 0.5, f(i, 6.7) - 0.5))
                .collect(),
            angles: vec![0.0; ENTITIES],
            checksum: 0,
        }
    }
}

impl FrameApp<Vulkan> for Swarm {
    fn update(&mut self, frame: u64) -> Result<(), BoxError> {
        let t = frame as f32 * 0.05;
        for ((p, v), a) in self
            .positions
            .iter_mut()
            .zip(&self.velocities)
            .zip(&mut self.angles)
        {
            let swirl = Vec3::new(
                (p.z * 0.1 + t).sin(),
                (p.x * 0.1 - t).cos(),
                (p.y * 0.1).sin(),
            );
            *p += (*v + swirl * 0.2) * 0.1;
            *a += 0.05 * (1.0 + v.x.abs());
        }
        Ok(())
    }

    fn extract(&mut self, _frame: u64) -> Result<FrameSnapshot, BoxError> {
        let instances: Arc<[InstanceData]> = self
            .positions
            .iter()
            .zip(&self.angles)
            .enumerate()
            .map(|(i, (p, a))| {
                let model = Mat4::from_scale_rotation_translation(
                    Vec3::splat(0.6),
                    Quat::from_rotation_y(*a),
                    *p,
                );
                InstanceData::new(model, [0.3 + (i % 7) as f32 / 10.0, 0.5, 0.8, 1.0])
            })
            .collect();
        Ok(FrameSnapshot {
            instances,
            camera: Camera::look_at(
                Vec3::new(0.0, 40.0, 70.0),
                Vec3::ZERO,
                0.8,
                640.0 / 360.0,
                0.1,
                500.0,
            ),
        })
    }

    fn record(&mut self, frame: &mut Frame<'_, Vulkan>, _: &FrameSnapshot) -> Result<(), BoxError> {
        Ok(frame.draw_instanced_with_threads(self.cube, 1)?)
    }

    fn deliver(&mut self, delivered: Delivered) -> Result<(), BoxError> {
        if let Delivered::Image { image, .. } = delivered {
            self.checksum = image.rgba.iter().map(|&b| u64::from(b)).sum();
        }
        Ok(())
    }
}

fn frame_runner(c: &mut Criterion) {
    let config = RendererConfig::default().size(640, 360).validation(false);
    let mut renderer = VulkanRenderer::new(config).expect("a Vulkan driver (lavapipe in CI)");
    let cube = renderer.upload_mesh(&Mesh::cube()).expect("cube upload");
    let mut app = Swarm::new(cube);
    let mut group = c.benchmark_group("frame_runner_8_frames");
    group.sample_size(10);
    for (name, overlap) in [("serial", false), ("overlapped", true)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut runner = FrameRunner::new().overlap(overlap);
                let summary = runner
                    .run(&mut renderer, &mut app, FRAMES, |_, _| {
                        Ok(ControlFlow::Continue(()))
                    })
                    .expect("the frames run");
                assert_eq!(summary.frames, FRAMES);
            });
        });
    }
    group.finish();
    assert!(app.checksum > 0, "frames were read back");
}

criterion_group!(benches, frame_runner);
criterion_main!(benches);
