//! The frame runner on the real Vulkan driver (Mesa lavapipe in CI) with validation and
//! synchronization validation on: frames overlap (Update of frame N + 1 runs while frame N is
//! in flight), every image shows its own snapshot, stage and system times are the scheduler
//! observer's, failures name their stage and system, and a stop ends after the frame in flight.
#![cfg(feature = "vulkan")]

mod common;

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use glam::Mat4;
use macrokid_graphics::app::{
    BoxError, Delivered, FrameApp, FrameReport, FrameRunner, FrameSnapshot, RunError, FRAME_STAGES,
};
use macrokid_graphics::vulkan::Vulkan;
use macrokid_graphics::{Frame, InstanceData, Mesh, MeshHandle};
use macrokid_threads::{SchedulerObserver, StageReport, SystemReport};

/// Red on even frames, blue on odd ones.
fn tint(frame: u64) -> [f32; 4] {
    if frame % 2 == 0 {
        [0.9, 0.05, 0.05, 1.0]
    } else {
        [0.05, 0.05, 0.9, 1.0]
    }
}

/// One cube whose colour follows the frame index; records when each Update started and
/// which images arrived.
struct Cubes {
    /// Uploaded by `run`.
    cube: Option<MeshHandle>,
    /// The frame index the simulation is at (advanced by Update).
    tick: u64,
    updates: Vec<(u64, Instant)>,
    images: Vec<(u64, [u8; 4], [f32; 4])>,
    fail_extract_at: Option<u64>,
}

impl Cubes {
    fn new() -> Self {
        Cubes {
            cube: None,
            tick: 0,
            updates: Vec::new(),
            images: Vec::new(),
            fail_extract_at: None,
        }
    }
}

impl FrameApp<Vulkan> for Cubes {
    fn update(&mut self, frame: u64) -> Result<(), BoxError> {
        self.updates.push((frame, Instant::now()));
        self.tick = frame;
        Ok(())
    }

    fn extract(&mut self, frame: u64) -> Result<FrameSnapshot, BoxError> {
        if self.fail_extract_at == Some(frame) {
            return Err(format!("no snapshot for frame {frame}").into());
        }
        Ok(FrameSnapshot {
            instances: Arc::from([InstanceData::new(Mat4::IDENTITY, tint(self.tick))]),
            camera: camera(2.5),
        })
    }

    fn record(
        &mut self,
        frame: &mut Frame<'_, Vulkan>,
        _snapshot: &FrameSnapshot,
    ) -> Result<(), BoxError> {
        Ok(frame.draw_instanced_with_threads(self.cube.ok_or("no mesh")?, 1)?)
    }

    fn deliver(&mut self, delivered: Delivered) -> Result<(), BoxError> {
        if let Delivered::Image {
            frame,
            image,
            snapshot,
        } = delivered
        {
            let centre = image.pixel(image.width / 2, image.height / 2);
            self.images
                .push((frame, centre, snapshot.instances[0].color));
        }
        Ok(())
    }
}

/// Every report the frame scheduler gave its observer, in order.
#[derive(Default)]
struct Seen {
    stages: Mutex<Vec<(String, Duration)>>,
    systems: Mutex<Vec<(String, String, Duration)>>,
}

impl SchedulerObserver for Seen {
    fn on_stage(&self, report: &StageReport<'_>) {
        self.stages
            .lock()
            .unwrap()
            .push((report.stage.to_owned(), report.duration));
    }

    fn on_system(&self, report: &SystemReport<'_>) {
        self.systems.lock().unwrap().push((
            report.stage.to_owned(),
            report.system.to_owned(),
            report.duration,
        ));
    }
}

fn run(
    runner: &mut FrameRunner,
    app: &mut Cubes,
    frames: u64,
    stop_after: Option<u64>,
) -> (Result<u64, RunError>, Vec<FrameReport>, VulkanRendererBox) {
    let mut renderer = Box::new(renderer());
    app.cube = Some(renderer.upload_mesh(&Mesh::cube()).unwrap());
    let mut reports = Vec::new();
    let result = runner
        .run(&mut *renderer, app, frames, |_, report| {
            if let Some(report) = report {
                reports.push(report.clone());
                if stop_after.is_some() && report.frame == stop_after {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        })
        .map(|summary| summary.frames);
    (result, reports, renderer)
}

type VulkanRendererBox = Box<macrokid_graphics::VulkanRenderer>;

#[test]
fn update_of_the_next_frame_runs_while_a_frame_is_in_flight() {
    let mut runner = FrameRunner::new();
    let mut app = Cubes::new();
    let (result, reports, renderer) = run(&mut runner, &mut app, 6, None);
    assert_eq!(result.unwrap(), 6);
    assert_no_validation_messages(&renderer);

    // Six frames, then `finish` with only the Present stage.
    assert_eq!(reports.len(), 7);
    for (n, report) in reports[..6].iter().enumerate() {
        let n = n as u64;
        assert_eq!(report.frame, Some(n));
        assert!(!report.skipped);
        let names: Vec<&str> = report.stages.iter().map(|t| t.stage.as_str()).collect();
        assert_eq!(names, FRAME_STAGES);
        // Headless: Present of frame N delivers frame N - 1.
        assert_eq!(report.delivered, n.checked_sub(1));
    }
    assert_eq!(reports[6].frame, None);
    assert_eq!(reports[6].delivered, Some(5));
    let names: Vec<&str> = reports[6].stages.iter().map(|t| t.stage.as_str()).collect();
    assert_eq!(names, ["present"]);

    // For every N: submit(N) ended before update(N+1) started, and update(N+1) started
    // before frame N's read-back (the wait for its GPU work) completed, which came after
    // frame N+1 was submitted: frame N was in flight during Update..Submit of frame N+1.
    for n in 0..6 {
        let submitted = reports[n].system_timing("submit", "submit").unwrap();
        let next = &reports[n + 1];
        let read_back = next.system_timing("present", "read-back").unwrap();
        if let Some(update) = next.system_timing("update", "update") {
            assert!(submitted.ended() <= update.started, "frame {n}");
            assert!(update.started < read_back.ended(), "frame {n}");
            let next_submit = next.system_timing("submit", "submit").unwrap();
            assert!(next_submit.ended() <= read_back.started, "frame {n}");
        }
        // The read-back waited for frame N and copied it (timings of that frame).
        assert!(next.read_back.is_some(), "frame {n}");
    }
    // The app saw the same order: Update of frame N + 1 before frame N's image.
    let updates: Vec<u64> = app.updates.iter().map(|(f, _)| *f).collect();
    assert_eq!(updates, [0, 1, 2, 3, 4, 5]);

    // Each image shows the snapshot of its own frame (owned snapshots, not the live state).
    let delivered: Vec<u64> = app.images.iter().map(|(f, ..)| *f).collect();
    assert_eq!(delivered, [0, 1, 2, 3, 4, 5]);
    for (frame, centre, color) in &app.images {
        assert_eq!(
            *color,
            tint(*frame),
            "frame {frame} got another frame's snapshot"
        );
        if frame % 2 == 0 {
            assert!(
                centre[0] > centre[2] + 40,
                "frame {frame}: {centre:?} is not red"
            );
        } else {
            assert!(
                centre[2] > centre[0] + 40,
                "frame {frame}: {centre:?} is not blue"
            );
        }
    }
}

#[test]
fn stage_and_system_times_are_the_observers() {
    let seen = Arc::new(Seen::default());
    let mut runner = FrameRunner::with_observer(Arc::clone(&seen) as _);
    let mut app = Cubes::new();
    let (result, reports, renderer) = run(&mut runner, &mut app, 3, None);
    assert_eq!(result.unwrap(), 3);
    assert_no_validation_messages(&renderer);

    let from_reports: Vec<(String, Duration)> = reports
        .iter()
        .flat_map(|r| r.stages.iter().map(|t| (t.stage.clone(), t.duration)))
        .collect();
    assert_eq!(*seen.stages.lock().unwrap(), from_reports);
    let from_reports: Vec<(String, String, Duration)> = reports
        .iter()
        .flat_map(|r| {
            r.systems
                .iter()
                .map(|t| (t.stage.clone(), t.system.clone().unwrap(), t.duration))
        })
        .collect();
    assert_eq!(*seen.systems.lock().unwrap(), from_reports);
    // Every system of the plan ran in each full frame, in batch order.
    let systems: Vec<(&str, &str)> = reports[1]
        .systems
        .iter()
        .map(|t| (t.stage.as_str(), t.system.as_deref().unwrap()))
        .collect();
    assert_eq!(
        systems,
        [
            ("update", "update"),
            ("extract", "extract"),
            ("prepare", "begin-frame"),
            ("prepare", "upload"),
            ("record", "record"),
            ("submit", "submit"),
            ("present", "read-back"),
            ("present", "deliver"),
        ]
    );
    // A stage's time covers its systems'.
    for report in &reports {
        for stage in &report.stages {
            let inner: Duration = report
                .systems
                .iter()
                .filter(|t| t.stage == stage.stage)
                .map(|t| t.duration)
                .sum();
            assert!(inner <= stage.duration, "{}", stage.stage);
        }
    }
    // The plan: one batch per system, as the accesses chain them.
    let plan = runner.plan();
    let batches: Vec<usize> = plan.stages().iter().map(|s| s.batches().len()).collect();
    assert_eq!(batches, [1, 1, 2, 1, 1, 2]);
}

#[test]
fn a_failing_system_names_its_stage_and_the_frame_in_flight_survives() {
    let mut runner = FrameRunner::new();
    let mut app = Cubes::new();
    app.fail_extract_at = Some(2);
    let (result, reports, mut renderer) = run(&mut runner, &mut app, 5, None);
    let err = result.unwrap_err();
    assert!(matches!(err, RunError::Stage(_)));
    assert_eq!(
        err.to_string(),
        "system `extract` in stage `extract` failed: no snapshot for frame 2"
    );
    assert_eq!(reports.len(), 2);
    // Frame 1 is still pending: finishing the run reads it back.
    assert_eq!(runner.pending(), Some(1));
    let last = runner.finish(&mut *renderer, &mut app).unwrap().unwrap();
    assert_eq!(last.delivered, Some(1));
    let delivered: Vec<u64> = app.images.iter().map(|(f, ..)| *f).collect();
    assert_eq!(delivered, [0, 1]);
    assert_no_validation_messages(&renderer);
}

#[test]
fn without_overlap_each_frame_is_read_back_in_its_own_present_stage() {
    let mut runner = FrameRunner::new().overlap(false);
    let mut app = Cubes::new();
    let (result, reports, renderer) = run(&mut runner, &mut app, 4, None);
    assert_eq!(result.unwrap(), 4);
    // Nothing is pending between frames, so `finish` has nothing to do.
    assert_eq!(reports.len(), 4);
    for (n, report) in reports.iter().enumerate() {
        assert_eq!(report.delivered, Some(n as u64));
        let submitted = report.system_timing("submit", "submit").unwrap();
        let read_back = report.system_timing("present", "read-back").unwrap();
        assert!(submitted.ended() <= read_back.started);
    }
    let delivered: Vec<u64> = app.images.iter().map(|(f, ..)| *f).collect();
    assert_eq!(delivered, [0, 1, 2, 3]);
    assert_no_validation_messages(&renderer);
}

#[test]
fn break_stops_after_the_frame_in_flight() {
    let mut runner = FrameRunner::new();
    let mut app = Cubes::new();
    let (result, reports, renderer) = run(&mut runner, &mut app, 100, Some(2));
    assert_eq!(result.unwrap(), 3);
    assert_eq!(reports.last().unwrap().frame, None);
    let delivered: Vec<u64> = app.images.iter().map(|(f, ..)| *f).collect();
    assert_eq!(delivered, [0, 1, 2]);
    assert_eq!(runner.pending(), None);
    assert_no_validation_messages(&renderer);
}
