//! The render graph: exact barriers of a two-pass frame, batching and order from the core planner,
//! culling, transient aliasing, errors, the executor's walk (through a recording test double that
//! logs calls; the Vulkan mapping is tested with the backend), exports, and a property test over
//! random graphs against a model of resource states.

use macrokid_graphics::graph::{
    BufferBarrier, BufferImport, CompiledGraph, CompiledPass, ExecuteError, GraphError,
    GraphRecorder, GraphSubmitter, LoadOp, PassCallbacks, PassId, PassRecorder, RenderGraph,
    StoreOp, TextureBarrier, TextureDesc, TextureHandle, TextureImport,
};
use macrokid_graphics::{BufferUse, TextureFormat, TextureUse};

/// One call the executor made.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Barrier(Vec<TextureBarrier>, Vec<BufferBarrier>),
    Begin(String),
    /// Pushed by a pass's record callback through the context.
    Record(String),
    End(String),
}

/// A recorder that logs every call; the pass context is the log itself.
#[derive(Default)]
struct LogRecorder {
    calls: Vec<Call>,
    fail_begin: Option<&'static str>,
}

#[derive(Debug, PartialEq)]
struct RecorderFailed(&'static str);

impl std::fmt::Display for RecorderFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RecorderFailed {}

impl GraphRecorder for LogRecorder {
    type Context = Vec<Call>;
    type Error = RecorderFailed;

    fn barrier(
        &mut self,
        textures: &[TextureBarrier],
        buffers: &[BufferBarrier],
    ) -> Result<(), RecorderFailed> {
        assert!(
            !textures.is_empty() || !buffers.is_empty(),
            "empty barrier issued"
        );
        self.calls
            .push(Call::Barrier(textures.to_vec(), buffers.to_vec()));
        Ok(())
    }

    fn begin_pass(&mut self, pass: &CompiledPass) -> Result<&mut Vec<Call>, RecorderFailed> {
        if self.fail_begin == Some(pass.name()) {
            return Err(RecorderFailed("device lost"));
        }
        self.calls.push(Call::Begin(pass.name().to_owned()));
        Ok(&mut self.calls)
    }

    fn end_pass(&mut self, pass: &CompiledPass) -> Result<(), RecorderFailed> {
        self.calls.push(Call::End(pass.name().to_owned()));
        Ok(())
    }
}

/// The worker half of parallel recording: each pass records into its own log.
struct LogPassRecorder {
    fail_finish: Option<&'static str>,
}

impl PassRecorder for LogPassRecorder {
    type Context = Vec<Call>;
    type Recorded = Vec<Call>;
    type Error = RecorderFailed;

    fn begin_recording(&self, _pass: &CompiledPass) -> Result<Vec<Call>, RecorderFailed> {
        Ok(Vec::new())
    }

    fn finish_recording(
        &self,
        pass: &CompiledPass,
        context: Vec<Call>,
    ) -> Result<Vec<Call>, RecorderFailed> {
        if self.fail_finish == Some(pass.name()) {
            return Err(RecorderFailed("out of memory"));
        }
        Ok(context)
    }
}

/// The submit half: logs like [`LogRecorder`], replaying each pass's log between begin and end.
impl GraphSubmitter<Vec<Call>> for LogRecorder {
    type Error = RecorderFailed;

    fn barrier(
        &mut self,
        textures: &[TextureBarrier],
        buffers: &[BufferBarrier],
    ) -> Result<(), RecorderFailed> {
        GraphRecorder::barrier(self, textures, buffers)
    }

    fn begin_pass(&mut self, pass: &CompiledPass) -> Result<(), RecorderFailed> {
        GraphRecorder::begin_pass(self, pass).map(|_| ())
    }

    fn execute_recorded(
        &mut self,
        _pass: &CompiledPass,
        recorded: Vec<Call>,
    ) -> Result<(), RecorderFailed> {
        self.calls.extend(recorded);
        Ok(())
    }

    fn end_pass(&mut self, pass: &CompiledPass) -> Result<(), RecorderFailed> {
        GraphRecorder::end_pass(self, pass)
    }
}

/// Runs `graph` through the parallel executor on a pool of `threads` threads.
fn execute_parallel_on(
    graph: &CompiledGraph,
    threads: usize,
) -> Result<Vec<Call>, ExecuteError<RecorderFailed>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool starts");
    let mut submitter = LogRecorder::default();
    pool.install(|| {
        graph.execute_parallel(
            &LogPassRecorder { fail_finish: None },
            &mut submitter,
            &mut log_callbacks(graph),
        )
    })?;
    Ok(submitter.calls)
}

fn rgba(w: u32, h: u32) -> TextureDesc {
    TextureDesc::new(w, h, TextureFormat::Rgba8Unorm)
}

fn depth32(w: u32, h: u32) -> TextureDesc {
    TextureDesc::new(w, h, TextureFormat::Depth32Float)
}

/// Callbacks that log `Record(name)` for every pass of `graph`.
fn log_callbacks(graph: &CompiledGraph) -> PassCallbacks<'_, Vec<Call>> {
    let mut callbacks = PassCallbacks::new(graph);
    for pass in graph.passes() {
        let name = pass.name().to_owned();
        callbacks.set(pass.id(), move |log: &mut Vec<Call>| {
            log.push(Call::Record(name.clone()));
            Ok(())
        });
    }
    callbacks
}

fn barrier(
    texture: TextureHandle,
    before: TextureUse,
    after: TextureUse,
    discard: bool,
) -> TextureBarrier {
    TextureBarrier {
        texture,
        before,
        after,
        discard,
    }
}

fn names(graph: &CompiledGraph, ids: &[PassId]) -> Vec<String> {
    ids.iter()
        .map(|&id| graph.pass(id).name().to_owned())
        .collect()
}

struct TwoPass {
    graph: CompiledGraph,
    output: TextureHandle,
    color: TextureHandle,
    depth: TextureHandle,
}

/// geometry (colour + depth attachments) -> post (samples colour, writes the output).
fn two_pass() -> TwoPass {
    let mut g = RenderGraph::new();
    let output = g.import_texture(
        "output",
        rgba(320, 180),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let color = g.create_texture("color", rgba(320, 180));
    let depth = g.create_texture("depth", depth32(320, 180));
    g.add_pass("geometry")
        .color_attachment(color, LoadOp::Clear([0.1, 0.2, 0.3, 1.0]), StoreOp::Store)
        .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::DontCare)
        .id();
    g.add_pass("post")
        .sampled(color)
        .color_attachment(output, LoadOp::DontCare, StoreOp::Store)
        .id();
    TwoPass {
        graph: g.compile().expect("the two-pass graph compiles"),
        output,
        color,
        depth,
    }
}

#[test]
fn two_pass_graph_gets_exactly_the_expected_barriers() {
    let TwoPass {
        graph,
        output,
        color,
        depth,
    } = two_pass();
    assert_eq!(names(&graph, graph.order()), ["geometry", "post"]);
    assert_eq!(graph.batches().len(), 2);
    assert_eq!(graph.culled().count(), 0);

    // First uses discard the contents but wait for the previous execution's last use of the
    // memory: colour's slot was last sampled by post, depth's last written by geometry, and the
    // output was left in its final use.
    let geometry = graph.pass_by_name("geometry").unwrap();
    assert_eq!(
        geometry.texture_barriers(),
        [
            barrier(
                color,
                TextureUse::Sampled,
                TextureUse::ColorAttachment,
                true
            ),
            barrier(
                depth,
                TextureUse::DepthStencilAttachment,
                TextureUse::DepthStencilAttachment,
                true
            ),
        ]
    );
    assert_eq!(geometry.extent(), Some((320, 180)));
    // Attachments carry what a backend needs to begin rendering without the graph.
    let color_attachment = geometry.color_attachments()[0];
    assert_eq!(color_attachment.attachment.texture, color);
    assert_eq!(
        (color_attachment.format(), color_attachment.extent()),
        (TextureFormat::Rgba8Unorm, (320, 180))
    );
    assert_eq!(
        color_attachment.slot,
        graph.transient(color).unwrap().slot()
    );
    let depth_attachment = geometry.depth_attachment().unwrap();
    assert_eq!(depth_attachment.format(), TextureFormat::Depth32Float);
    assert_eq!(
        depth_attachment.slot,
        graph.transient(depth).unwrap().slot()
    );
    let post = graph.pass_by_name("post").unwrap();
    assert_eq!(
        post.color_attachments()[0].slot,
        None,
        "an import has no slot"
    );
    assert_eq!(
        post.texture_barriers(),
        [
            barrier(
                output,
                TextureUse::TransferSrc,
                TextureUse::ColorAttachment,
                true
            ),
            barrier(
                color,
                TextureUse::ColorAttachment,
                TextureUse::Sampled,
                false
            ),
        ]
    );
    assert!(post.buffer_barriers().is_empty());
    assert_eq!(
        graph.final_texture_barriers(),
        [barrier(
            output,
            TextureUse::ColorAttachment,
            TextureUse::TransferSrc,
            false
        )]
    );

    // The planner's view: dynamic ids in the render-graph space.
    let id = graph.texture_resource_id(color).unwrap();
    assert_eq!(id.dynamic_key(), Some(("render-graph", 1)));
    assert_eq!(id.name(), "color");
    assert!(geometry.access().is_write(id));
    assert!(post.access().touches(id) && !post.access().is_write(id));
    assert_eq!(graph.plan().stages()[0].systems().len(), 2);

    // Colour lives over both passes, depth over the first; different formats: two slots.
    let color_t = graph.transient(color).unwrap();
    let life = color_t.lifetime().unwrap();
    assert_eq!((life.first, life.last), (0, 1));
    assert_eq!(
        color_t.usages(),
        [TextureUse::ColorAttachment, TextureUse::Sampled]
    );
    let depth_t = graph.transient(depth).unwrap();
    assert_eq!(depth_t.lifetime().map(|l| (l.first, l.last)), Some((0, 0)));
    assert_ne!(color_t.slot(), depth_t.slot());
    assert_eq!(graph.slots().len(), 2);
    assert_eq!(graph.transient(output), None);
}

#[test]
fn executor_walks_barriers_passes_and_final_transitions_in_order() {
    let TwoPass {
        graph,
        output,
        color,
        depth,
    } = two_pass();
    let mut recorder = LogRecorder::default();
    graph
        .execute(&mut recorder, &mut log_callbacks(&graph))
        .unwrap();
    let expected = vec![
        Call::Barrier(
            vec![
                barrier(
                    color,
                    TextureUse::Sampled,
                    TextureUse::ColorAttachment,
                    true,
                ),
                barrier(
                    depth,
                    TextureUse::DepthStencilAttachment,
                    TextureUse::DepthStencilAttachment,
                    true,
                ),
            ],
            vec![],
        ),
        Call::Begin("geometry".into()),
        Call::Record("geometry".into()),
        Call::End("geometry".into()),
        Call::Barrier(
            vec![
                barrier(
                    output,
                    TextureUse::TransferSrc,
                    TextureUse::ColorAttachment,
                    true,
                ),
                barrier(
                    color,
                    TextureUse::ColorAttachment,
                    TextureUse::Sampled,
                    false,
                ),
            ],
            vec![],
        ),
        Call::Begin("post".into()),
        Call::Record("post".into()),
        Call::End("post".into()),
        Call::Barrier(
            vec![barrier(
                output,
                TextureUse::ColorAttachment,
                TextureUse::TransferSrc,
                false,
            )],
            vec![],
        ),
    ];
    assert_eq!(recorder.calls, expected);

    // The compiled graph is reusable: a second frame makes the same calls.
    let mut again = LogRecorder::default();
    graph
        .execute(&mut again, &mut log_callbacks(&graph))
        .unwrap();
    assert_eq!(again.calls, expected);
}

#[test]
fn a_second_execution_waits_for_the_first() {
    let TwoPass {
        graph,
        output,
        color,
        depth,
    } = two_pass();
    let mut first = LogRecorder::default();
    graph
        .execute(&mut first, &mut log_callbacks(&graph))
        .unwrap();
    let mut second = LogRecorder::default();
    graph
        .execute(&mut second, &mut log_callbacks(&graph))
        .unwrap();
    // Where the first execution left each piece of memory: its last barrier's `after`.
    let mut left_in = std::collections::HashMap::new();
    for call in &first.calls {
        if let Call::Barrier(textures, _) = call {
            for b in textures {
                let memory = graph.transient(b.texture).and_then(|t| t.slot());
                left_in.insert(
                    (memory.is_some(), memory.unwrap_or(b.texture.index())),
                    b.after,
                );
            }
        }
    }
    // Every first barrier of the second execution waits for that use, not for nothing.
    let mut waited = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for call in &second.calls {
        if let Call::Barrier(textures, _) = call {
            for b in textures {
                if seen.insert(b.texture) {
                    let memory = graph.transient(b.texture).and_then(|t| t.slot());
                    let key = (memory.is_some(), memory.unwrap_or(b.texture.index()));
                    assert_ne!(b.before, TextureUse::Undefined, "{b:?} waits for nothing");
                    assert_eq!(b.before, left_in[&key], "{b:?}");
                    waited.push((b.texture, b.before, b.discard));
                }
            }
        }
    }
    assert_eq!(
        waited,
        [
            (color, TextureUse::Sampled, true),
            (depth, TextureUse::DepthStencilAttachment, true),
            (output, TextureUse::TransferSrc, true),
        ]
    );
}

#[test]
fn depth_read_does_not_write_and_allows_parallel_readers() {
    let mut g = RenderGraph::new();
    let out_a = g.import_texture(
        "a",
        rgba(16, 16),
        TextureImport::persistent(TextureUse::Sampled),
    );
    let out_b = g.import_texture(
        "b",
        rgba(16, 16),
        TextureImport::persistent(TextureUse::Sampled),
    );
    let depth = g.create_texture("depth", depth32(16, 16));
    let prepass = g
        .add_pass("prepass")
        .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::Store)
        .id();
    let clear = LoadOp::Clear([0.0; 4]);
    let decals = g
        .add_pass("decals")
        .depth_read(depth)
        .color_attachment(out_a, clear, StoreOp::Store)
        .id();
    let fog = g
        .add_pass("fog")
        .depth_read(depth)
        .color_attachment(out_b, clear, StoreOp::Store)
        .id();
    let graph = g.compile().unwrap();
    let attachment = graph.pass(decals).depth_attachment().unwrap().attachment;
    assert_eq!(attachment.store, StoreOp::None);
    assert_eq!(graph.pass(decals).writes_texture(depth), Some(false));
    assert_eq!(graph.pass(prepass).writes_texture(depth), Some(true));
    // Two read-only depth passes do not conflict, and the second needs no barrier on depth.
    assert_eq!(graph.batches(), [vec![prepass], vec![decals, fog]]);
    assert_eq!(
        graph.pass(decals).texture_barriers()[1],
        barrier(
            depth,
            TextureUse::DepthStencilAttachment,
            TextureUse::DepthStencilRead,
            false
        )
    );
    assert!(graph
        .pass(fog)
        .texture_barriers()
        .iter()
        .all(|b| b.texture != depth));

    // A read-only depth use plus sampling the same texture in one pass is not supported: one
    // use per resource per pass.
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(16, 16),
        TextureImport::persistent(TextureUse::Sampled),
    );
    let depth = g.create_texture("depth", depth32(16, 16));
    let _ = g
        .add_pass("prepass")
        .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::Store);
    let _ = g
        .add_pass("particles")
        .depth_read(depth)
        .sampled(depth)
        .color_attachment(out, LoadOp::Load, StoreOp::Store);
    assert!(matches!(
        g.compile(),
        Err(GraphError::ResourceUsedTwice { .. })
    ));
}

#[test]
fn callbacks_borrow_frame_data_and_the_graph_is_shared() {
    let TwoPass { graph, .. } = two_pass();
    let graph = &graph;
    // Two frames recorded at once from one shared compiled graph, each with callbacks that
    // borrow that frame's data.
    let frames: Vec<Vec<String>> = vec![vec!["cube".into()], vec!["cube".into(), "lamp".into()]];
    let logs: Vec<Vec<Call>> = std::thread::scope(|scope| {
        let handles: Vec<_> = frames
            .iter()
            .map(|meshes| {
                scope.spawn(move || {
                    let mut callbacks = PassCallbacks::new(graph);
                    callbacks.set_by_name("geometry", |log: &mut Vec<Call>| {
                        log.extend(meshes.iter().map(|m| Call::Record(m.clone())));
                        Ok(())
                    });
                    let mut recorder = LogRecorder::default();
                    graph.execute(&mut recorder, &mut callbacks).unwrap();
                    recorder.calls
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let records = |calls: &[Call]| -> Vec<String> {
        calls
            .iter()
            .filter_map(|c| match c {
                Call::Record(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(records(&logs[0]), ["cube"]);
    assert_eq!(records(&logs[1]), ["cube", "lamp"]);

    // Callbacks naming passes the graph does not have are refused before anything is recorded.
    let other = two_pass().graph;
    let mut recorder = LogRecorder::default();
    let err = graph
        .execute(&mut recorder, &mut log_callbacks(&other))
        .unwrap_err();
    assert!(matches!(err, ExecuteError::UnknownPass { .. }), "{err}");
    let mut callbacks = PassCallbacks::new(graph);
    callbacks.set_by_name("shadows", |_: &mut Vec<Call>| Ok(()));
    let err = graph.execute(&mut recorder, &mut callbacks).unwrap_err();
    assert!(
        matches!(&err, ExecuteError::UnknownPass { pass } if pass == "pass `shadows`"),
        "{err}"
    );
    let mut callbacks = PassCallbacks::new(graph);
    callbacks.set(other.order()[0], |_: &mut Vec<Call>| Ok(()));
    assert!(matches!(
        graph.execute(&mut recorder, &mut callbacks),
        Err(ExecuteError::UnknownPass { .. })
    ));
    assert!(recorder.calls.is_empty());
}

#[test]
fn parallel_recording_submits_the_same_stream_on_any_thread_count() {
    // Eight independent shadow passes (one batch), a pass combining them, a post pass.
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(16, 16),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    const SHADOWS: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
    let maps: Vec<TextureHandle> = SHADOWS
        .iter()
        .map(|&name| g.create_texture(name, depth32(16, 16)))
        .collect();
    for (&name, &map) in SHADOWS.iter().zip(&maps) {
        g.add_pass(name)
            .depth_attachment(map, LoadOp::Clear(1.0), StoreOp::Store)
            .id();
    }
    let lit = g.create_texture("lit", rgba(16, 16));
    let mut combine =
        g.add_pass("combine")
            .color_attachment(lit, LoadOp::Clear([0.0; 4]), StoreOp::Store);
    for &map in &maps {
        combine = combine.sampled(map);
    }
    combine.id();
    g.add_pass("post")
        .sampled(lit)
        .color_attachment(out, LoadOp::DontCare, StoreOp::Store)
        .id();
    let graph = g.compile().unwrap();
    assert_eq!(graph.batches()[0].len(), 8);

    let mut sequential = LogRecorder::default();
    graph
        .execute(&mut sequential, &mut log_callbacks(&graph))
        .unwrap();
    for threads in [1, 2, 8] {
        let calls = execute_parallel_on(&graph, threads).unwrap();
        assert_eq!(calls, sequential.calls, "{threads} recording threads");
    }

    // A failing recording is reported by pass name and nothing is submitted.
    let mut submitter = LogRecorder::default();
    let err = graph
        .execute_parallel(
            &LogPassRecorder {
                fail_finish: Some("s3"),
            },
            &mut submitter,
            &mut log_callbacks(&graph),
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ExecuteError::Recorder { pass: Some(pass), source: RecorderFailed("out of memory") }
                if pass == "s3"
        ),
        "{err}"
    );
    assert!(submitter.calls.is_empty());
}

#[test]
fn execution_errors_name_the_pass_and_stop() {
    let TwoPass { graph, .. } = two_pass();
    let mut recorder = LogRecorder {
        fail_begin: Some("post"),
        ..LogRecorder::default()
    };
    let err = graph
        .execute(&mut recorder, &mut log_callbacks(&graph))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ExecuteError::Recorder { pass: Some(pass), source: RecorderFailed("device lost") }
                if pass == "post"
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the graph recorder failed at render pass `post`: device lost"
    );
    assert_eq!(
        recorder.calls.last(),
        Some(&Call::Barrier(
            graph
                .pass_by_name("post")
                .unwrap()
                .texture_barriers()
                .to_vec(),
            vec![]
        ))
    );

    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(4, 4),
        TextureImport::new(TextureUse::Undefined, TextureUse::Undefined),
    );
    let broken = g
        .add_pass("broken")
        .color_attachment(out, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .id();
    let graph = g.compile().unwrap();
    let mut recorder = LogRecorder::default();
    let mut callbacks = PassCallbacks::new(&graph);
    callbacks.set(broken, |_: &mut Vec<Call>| {
        Err("stale pipeline handle".into())
    });
    let err = graph.execute(&mut recorder, &mut callbacks).unwrap_err();
    assert!(
        matches!(&err, ExecuteError::Pass { pass, .. } if pass == "broken"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "render pass `broken` failed to record: stale pipeline handle"
    );
    // No final transition was requested (`final_use` Undefined).
    assert!(graph.final_texture_barriers().is_empty());
}

#[test]
fn independent_passes_land_in_one_batch() {
    let mut g = RenderGraph::new();
    let shadow = g.import_texture(
        "shadow",
        depth32(64, 64),
        TextureImport::new(TextureUse::Undefined, TextureUse::Sampled),
    );
    let ui = g.import_texture(
        "ui",
        rgba(64, 64),
        TextureImport::new(TextureUse::Undefined, TextureUse::Sampled),
    );
    let atlas = g.import_texture(
        "atlas",
        rgba(64, 64),
        TextureImport::new(TextureUse::Sampled, TextureUse::Sampled),
    );
    let a = g
        .add_pass("shadow")
        .depth_attachment(shadow, LoadOp::Clear(1.0), StoreOp::Store)
        .sampled(atlas)
        .id();
    let b = g
        .add_pass("ui")
        .color_attachment(ui, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .sampled(atlas)
        .id();
    let graph = g.compile().unwrap();
    // Both only read `atlas` and write different textures: no conflict.
    assert_eq!(graph.batches(), [vec![a, b]]);
    // Reading `atlas` in the use it is already in needs no barrier.
    for pass in [a, b] {
        assert!(graph
            .pass(pass)
            .texture_barriers()
            .iter()
            .all(|t| t.texture != atlas));
    }
    // Depth attachment -> Sampled and colour attachment -> Sampled at the end.
    assert_eq!(graph.final_texture_barriers().len(), 2);
}

#[test]
fn read_after_write_chains_keep_declaration_order() {
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(16, 16),
        TextureImport::new(TextureUse::Undefined, TextureUse::Present),
    );
    let a_tex = g.create_texture("a", rgba(16, 16));
    let b_tex = g.create_texture("b", rgba(16, 16));
    let c_tex = g.create_texture("c", rgba(16, 16));
    let clear = LoadOp::Clear([0.0; 4]);
    // Declared so that an independent pass sits between links of the chain.
    let p0 = g
        .add_pass("make_a")
        .color_attachment(a_tex, clear, StoreOp::Store)
        .id();
    let p1 = g
        .add_pass("a_to_b")
        .sampled(a_tex)
        .color_attachment(b_tex, clear, StoreOp::Store)
        .id();
    let side = g
        .add_pass("side")
        .color_attachment(c_tex, clear, StoreOp::Store)
        .id();
    let p2 = g
        .add_pass("b_to_out")
        .sampled(b_tex)
        .sampled(c_tex)
        .color_attachment(out, clear, StoreOp::Store)
        .id();
    let graph = g.compile().unwrap();
    assert_eq!(graph.batches(), [vec![p0, side], vec![p1], vec![p2]]);
    assert_eq!(graph.order(), [p0, side, p1, p2]);
    assert_eq!(
        graph.final_texture_barriers(),
        [barrier(
            out,
            TextureUse::ColorAttachment,
            TextureUse::Present,
            false
        )]
    );

    // Write-after-read of an import: the reader was declared first and runs first.
    let mut g = RenderGraph::new();
    let history = g.import_texture(
        "history",
        rgba(16, 16),
        TextureImport::new(TextureUse::Sampled, TextureUse::Sampled),
    );
    let out = g.import_texture(
        "out",
        rgba(16, 16),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let read = g
        .add_pass("taa")
        .sampled(history)
        .color_attachment(out, clear, StoreOp::Store)
        .id();
    let write = g
        .add_pass("copy_history")
        .texture(out, TextureUse::TransferSrc)
        .texture(history, TextureUse::TransferDst)
        .id();
    let graph = g.compile().unwrap();
    assert_eq!(graph.order(), [read, write]);
    assert_eq!(
        graph.pass(write).texture_barriers(),
        [
            barrier(history, TextureUse::Sampled, TextureUse::TransferDst, false),
            barrier(
                out,
                TextureUse::ColorAttachment,
                TextureUse::TransferSrc,
                false
            ),
        ]
    );
    // `out` is already in its final use; `history` goes back to Sampled.
    assert_eq!(
        graph.final_texture_barriers(),
        [barrier(
            history,
            TextureUse::TransferDst,
            TextureUse::Sampled,
            false
        )]
    );
}

#[test]
fn passes_that_reach_no_import_are_culled() {
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(8, 8),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let used = g.create_texture("used", rgba(8, 8));
    let unused = g.create_texture("unused", rgba(8, 8));
    let debug = g.create_texture("debug", rgba(8, 8));
    let clear = LoadOp::Clear([0.0; 4]);
    g.add_pass("make_used")
        .color_attachment(used, clear, StoreOp::Store)
        .id();
    // Writes a texture nobody reads, and one read only by another culled pass.
    g.add_pass("dead_end")
        .color_attachment(unused, clear, StoreOp::Store)
        .id();
    g.add_pass("make_debug")
        .color_attachment(debug, clear, StoreOp::Store)
        .id();
    g.add_pass("view_debug").sampled(debug).id();
    // A pass with effects the graph cannot see, declaring nothing (a GPU marker), between
    // make_used and compose: it stays between them.
    let marker = g.add_pass("gpu_marker").never_cull().id();
    g.add_pass("compose")
        .sampled(used)
        .color_attachment(out, clear, StoreOp::Store)
        .id();
    // A pass with effects the graph cannot see survives when asked to.
    g.add_pass("timestamps").never_cull().id();
    let graph = g.compile().unwrap();
    let culled: Vec<&str> = graph.culled().map(CompiledPass::name).collect();
    assert_eq!(culled, ["dead_end", "make_debug", "view_debug"]);
    // Side-effect passes keep their declaration position relative to every kept pass.
    assert_eq!(
        names(&graph, graph.order()),
        ["make_used", "gpu_marker", "compose", "timestamps"]
    );
    assert_eq!(graph.batches().len(), 4);
    let side_effects = macrokid_core::ResourceId::dynamic(
        macrokid_graphics::graph::SIDE_EFFECTS_SPACE,
        0,
        "side effects",
    );
    assert!(graph.pass(marker).access().is_write(side_effects));
    let compose = graph.pass_by_name("compose").unwrap();
    assert!(compose.access().touches(side_effects) && !compose.access().is_write(side_effects));
    let dead = graph.pass_by_name("dead_end").unwrap();
    assert_eq!((dead.position(), dead.batch()), (None, None));
    assert!(dead.texture_barriers().is_empty());
    // Transients only culled passes use are not allocated.
    for t in [unused, debug] {
        let t = graph.transient(t).unwrap();
        assert_eq!((t.lifetime(), t.slot()), (None, None));
    }
    assert_eq!(graph.slots().len(), 1);
    let mut recorder = LogRecorder::default();
    graph
        .execute(&mut recorder, &mut log_callbacks(&graph))
        .unwrap();
    let recorded: Vec<&str> = recorder
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::Record(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded,
        ["make_used", "gpu_marker", "compose", "timestamps"]
    );
    assert!(graph
        .to_dot()
        .contains("p1 [label=\"dead_end\\nculled\", style=dashed];"));
    assert!(graph.to_mermaid().contains("class p1,p2,p3 culled"));
    assert!(graph
        .to_string()
        .ends_with("culled: dead_end, make_debug, view_debug\n"));
}

#[test]
fn transients_with_disjoint_lifetimes_share_a_slot() {
    // A blur chain: ping -> pong -> ping2 -> out; ping and ping2 never live in one batch.
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(32, 32),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let ping = g.create_texture("ping", rgba(32, 32));
    let pong = g.create_texture("pong", rgba(32, 32));
    let ping2 = g.create_texture("ping2", rgba(32, 32));
    let half = g.create_texture("half", rgba(16, 16));
    let clear = LoadOp::Clear([0.0; 4]);
    let dont = LoadOp::DontCare;
    let _ = g
        .add_pass("scene")
        .color_attachment(ping, clear, StoreOp::Store)
        .id();
    let _ = g
        .add_pass("blur_x")
        .sampled(ping)
        .color_attachment(pong, dont, StoreOp::Store)
        .id();
    let _ = g
        .add_pass("blur_y")
        .sampled(pong)
        .color_attachment(ping2, dont, StoreOp::Store)
        .id();
    let _ = g
        .add_pass("down")
        .sampled(ping2)
        .color_attachment(half, dont, StoreOp::Store)
        .id();
    let _ = g
        .add_pass("up")
        .sampled(half)
        .color_attachment(out, dont, StoreOp::Store)
        .id();
    let graph = g.compile().unwrap();
    let slot = |t| graph.transient(t).unwrap().slot().unwrap();
    assert_eq!(slot(ping), slot(ping2));
    assert_ne!(slot(ping), slot(pong));
    assert_ne!(slot(half), slot(ping)); // another size
    assert_eq!(graph.slots().len(), 3);
    assert_eq!(graph.slots()[slot(ping)].textures(), [ping, ping2]);
    // The first use of ping2 waits for the slot's previous occupant (ping, sampled by blur_x).
    let blur_y = graph.pass_by_name("blur_y").unwrap();
    assert!(blur_y.texture_barriers().contains(&barrier(
        ping2,
        TextureUse::Sampled,
        TextureUse::ColorAttachment,
        true
    )));
}

#[test]
fn imported_buffers_get_barriers_and_their_final_use() {
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(8, 8),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let instances = g.import_buffer(
        "instances",
        BufferImport {
            size: 1024,
            initial: None,
            final_use: None,
        },
    );
    let readback = g.import_buffer(
        "readback",
        BufferImport {
            size: 256,
            initial: None,
            final_use: Some(BufferUse::HostRead),
        },
    );
    let cull = g
        .add_pass("cull")
        .buffer(instances, BufferUse::StorageWrite)
        .id();
    let draw = g
        .add_pass("draw")
        .buffer(instances, BufferUse::Vertex)
        .color_attachment(out, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .id();
    let copy = g
        .add_pass("copy")
        .texture(out, TextureUse::TransferSrc)
        .buffer(readback, BufferUse::TransferDst)
        .id();
    let graph = g.compile().unwrap();
    assert_eq!(graph.order(), [cull, draw, copy]);
    // First use of a buffer with no previous GPU use: nothing to wait for.
    assert!(graph.pass(cull).buffer_barriers().is_empty());
    assert_eq!(
        graph.pass(draw).buffer_barriers(),
        [BufferBarrier {
            buffer: instances,
            before: BufferUse::StorageWrite,
            after: BufferUse::Vertex
        }]
    );
    assert_eq!(
        graph.final_buffer_barriers(),
        [BufferBarrier {
            buffer: readback,
            before: BufferUse::TransferDst,
            after: BufferUse::HostRead
        }]
    );
    assert!(
        graph.final_texture_barriers().is_empty(),
        "out is already TransferSrc"
    );
}

#[test]
fn errors_name_what_is_wrong() {
    // A transient read before any pass writes it.
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        rgba(8, 8),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let t = g.create_texture("gbuffer", rgba(8, 8));
    let _ = g.add_pass("light").sampled(t).color_attachment(
        out,
        LoadOp::Clear([0.0; 4]),
        StoreOp::Store,
    );
    let _ = g
        .add_pass("fill")
        .color_attachment(t, LoadOp::Clear([0.0; 4]), StoreOp::Store);
    let err = g.compile().unwrap_err();
    assert!(
        matches!(&err, GraphError::ReadBeforeWrite { pass, resource, usage }
            if pass == "light" && resource == "gbuffer" && usage == "Sampled"),
        "{err}"
    );

    // Loading a transient's first contents is a read too.
    let mut g = RenderGraph::new();
    let t = g.create_texture("t", rgba(8, 8));
    let _ = g
        .add_pass("p")
        .color_attachment(t, LoadOp::Load, StoreOp::Store);
    assert!(matches!(
        g.compile(),
        Err(GraphError::ReadBeforeWrite { usage, .. }) if usage == "ColorAttachment (load)"
    ));

    // A handle of another graph.
    let mut other = RenderGraph::new();
    let foreign = other.create_texture("foreign", rgba(8, 8));
    let mut g = RenderGraph::new();
    let _ = g.create_texture("mine", rgba(8, 8));
    let _ = g.add_pass("p").sampled(foreign);
    let err = g.compile().unwrap_err();
    assert!(
        matches!(err, GraphError::UnknownResource { index: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("did not declare"), "{err}");

    // Duplicate pass names.
    let mut g = RenderGraph::new();
    let _ = g.add_pass("blit").id();
    let _ = g.add_pass("blit").id();
    let err = g.compile().unwrap_err();
    assert!(matches!(&err, GraphError::DuplicatePass { name } if name == "blit"));
    assert!(err.to_string().contains("rename one of them"));
}

#[test]
fn exports_show_passes_resources_and_uses() {
    let TwoPass { graph, .. } = two_pass();
    let dot = graph.to_dot();
    assert!(dot.starts_with("digraph render_graph {"));
    assert!(dot.contains("p0 [label=\"geometry\\nbatch 0\"];"), "{dot}");
    assert!(
        dot.contains("p0 -> r1 [label=\"ColorAttachment\"];"),
        "{dot}"
    );
    assert!(dot.contains("r1 -> p1 [label=\"Sampled\"];"), "{dot}");
    assert!(dot.contains("r0 [shape=ellipse, label=\"output\\nimported 320×180 Rgba8Unorm, Undefined -> TransferSrc\"];"), "{dot}");
    let mermaid = graph.to_mermaid();
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(mermaid.contains("p1 -->|ColorAttachment| r0"), "{mermaid}");
    assert!(
        mermaid.contains("r2([\"depth<br/>transient 320×180 Depth32Float, slot 1\"])"),
        "{mermaid}"
    );
    assert!(!mermaid.contains("culled"));
    assert_eq!(
        graph.to_string(),
        "geometry [batch 0]: color Sampled -> ColorAttachment (discard), \
         depth DepthStencilAttachment -> DepthStencilAttachment (discard)\n\
         post [batch 1]: output TransferSrc -> ColorAttachment (discard), \
         color ColorAttachment -> Sampled\n\
         final: output ColorAttachment -> TransferSrc\n"
    );
    // The planner's own export of the batches.
    assert!(graph.plan().to_dot().contains("batch 1: post"));
}

mod model {
    //! Random graphs checked against a model of each piece of memory's current use.

    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Import {
            initial: TextureUse,
            final_use: TextureUse,
        },
        Transient,
        Buffer {
            initial: Option<BufferUse>,
            final_use: Option<BufferUse>,
        },
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Use {
        Tex(TextureUse),
        Color {
            load: bool,
            store: StoreOp,
        },
        /// `read_only` is `depth_read`, whose store op is `None`.
        Depth {
            load: bool,
            store: StoreOp,
            read_only: bool,
        },
        Buf(BufferUse),
    }

    #[derive(Debug, Clone)]
    struct Spec {
        resources: Vec<(Kind, bool)>,              // (kind, depth format)
        passes: Vec<(BTreeMap<usize, Use>, bool)>, // (uses by resource, never_cull)
    }

    impl Use {
        fn texture_use(self) -> Option<TextureUse> {
            match self {
                Use::Tex(u) => Some(u),
                Use::Color { .. } => Some(TextureUse::ColorAttachment),
                Use::Depth {
                    read_only: true, ..
                } => Some(TextureUse::DepthStencilRead),
                Use::Depth { .. } => Some(TextureUse::DepthStencilAttachment),
                Use::Buf(_) => None,
            }
        }
        /// Writes the memory, store ops included (Vulkan spec §8.1: `Store` and `DontCare` are
        /// write accesses, `None` is none).
        fn writes(self) -> bool {
            match self {
                Use::Buf(b) => b.is_write(),
                Use::Tex(u) => u.is_write(),
                Use::Color { .. } => true,
                Use::Depth {
                    read_only, store, ..
                } => !read_only || store != StoreOp::None,
            }
        }
        /// Reads undefined contents for sure.
        fn reads_previous(self) -> bool {
            match self {
                Use::Color { load, .. } => load,
                Use::Depth {
                    load, read_only, ..
                } => load || read_only,
                Use::Tex(u) => !u.is_write(),
                Use::Buf(b) => !b.is_write(),
            }
        }
        /// May read the previous contents (what culling follows).
        fn may_read_previous(self) -> bool {
            match self {
                Use::Color { load, .. } => load,
                Use::Depth {
                    load, read_only, ..
                } => load || read_only,
                Use::Tex(_) | Use::Buf(_) => true,
            }
        }
        /// A write whose result is stored.
        fn stores(self) -> bool {
            match self {
                Use::Color { store, .. } => store == StoreOp::Store,
                Use::Depth {
                    store, read_only, ..
                } => store == StoreOp::Store && !read_only,
                u => u.writes(),
            }
        }
    }

    fn texture_use() -> impl Strategy<Value = TextureUse> {
        prop::sample::select(vec![
            TextureUse::Sampled,
            TextureUse::StorageRead,
            TextureUse::StorageWrite,
            TextureUse::TransferSrc,
            TextureUse::TransferDst,
        ])
    }

    fn store_op() -> impl Strategy<Value = StoreOp> {
        prop::sample::select(vec![StoreOp::Store, StoreOp::DontCare, StoreOp::None])
    }

    fn use_for(kind: Kind, depth_format: bool) -> BoxedStrategy<Use> {
        match kind {
            Kind::Buffer { .. } => prop::sample::select(vec![
                BufferUse::Vertex,
                BufferUse::Uniform,
                BufferUse::StorageRead,
                BufferUse::StorageWrite,
                BufferUse::TransferSrc,
                BufferUse::TransferDst,
            ])
            .prop_map(Use::Buf)
            .boxed(),
            _ if depth_format => prop_oneof![
                texture_use().prop_map(Use::Tex),
                (any::<bool>(), store_op(), any::<bool>()).prop_map(|(load, store, read_only)| {
                    Use::Depth {
                        load,
                        store: if read_only { StoreOp::None } else { store },
                        read_only,
                    }
                }),
            ]
            .boxed(),
            _ => prop_oneof![
                texture_use().prop_map(Use::Tex),
                (any::<bool>(), store_op()).prop_map(|(load, store)| Use::Color { load, store }),
            ]
            .boxed(),
        }
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let import = (
            prop::sample::select(vec![
                TextureUse::Undefined,
                TextureUse::Sampled,
                TextureUse::TransferSrc,
            ]),
            prop::sample::select(vec![
                TextureUse::Undefined,
                TextureUse::Sampled,
                TextureUse::TransferSrc,
                TextureUse::Present,
            ]),
        )
            .prop_map(|(initial, final_use)| Kind::Import { initial, final_use });
        let buffer = (
            prop::option::of(prop::sample::select(vec![
                BufferUse::Uniform,
                BufferUse::TransferDst,
            ])),
            prop::option::of(prop::sample::select(vec![
                BufferUse::HostRead,
                BufferUse::Vertex,
            ])),
        )
            .prop_map(|(initial, final_use)| Kind::Buffer { initial, final_use });
        let resource = prop_oneof![
            2 => import.prop_map(|k| (k, false)),
            5 => any::<bool>().prop_map(|depth| (Kind::Transient, depth)),
            1 => buffer.prop_map(|k| (k, false)),
        ];
        (
            prop::collection::vec(resource, 1..8),
            1..12usize,
            prop::bool::weighted(0.8),
        )
            .prop_flat_map(|(resources, pass_count, fix)| {
                let n = resources.len();
                let per_resource: Vec<BoxedStrategy<Use>> =
                    resources.iter().map(|&(k, d)| use_for(k, d)).collect();
                let uses = per_resource;
                let pass = (
                    prop::collection::btree_set(0..n, 0..4),
                    uses,
                    prop::bool::weighted(0.4),
                );
                (
                    Just(resources),
                    prop::collection::vec(pass, pass_count),
                    Just(fix),
                )
            })
            .prop_map(|(resources, raw_passes, fix)| {
                let mut passes = Vec::new();
                for (set, uses, never_cull) in raw_passes {
                    let mut map = BTreeMap::new();
                    let mut has_depth = false;
                    for r in set {
                        let mut u = uses[r];
                        if let Use::Depth { .. } = u {
                            if has_depth {
                                u = Use::Tex(TextureUse::Sampled);
                            }
                            has_depth = true;
                        }
                        map.insert(r, u);
                    }
                    passes.push((map, never_cull));
                }
                let mut spec = Spec { resources, passes };
                if fix {
                    fix_reads_of_undefined(&mut spec);
                }
                spec
            })
    }

    fn defined_at_start(kind: Kind) -> bool {
        match kind {
            Kind::Import { initial, .. } => initial != TextureUse::Undefined,
            Kind::Transient => false,
            Kind::Buffer { .. } => true,
        }
    }

    /// Turns every read of undefined contents into a storage write, so the graph compiles.
    fn fix_reads_of_undefined(spec: &mut Spec) {
        let mut defined: Vec<bool> = spec
            .resources
            .iter()
            .map(|&(k, _)| defined_at_start(k))
            .collect();
        for (uses, _) in &mut spec.passes {
            for (&r, u) in uses.iter_mut() {
                if u.reads_previous() && !defined[r] {
                    *u = Use::Tex(TextureUse::StorageWrite);
                }
                if u.writes() {
                    defined[r] = u.stores();
                }
            }
        }
    }

    /// The first pass reading undefined contents and the resources it reads so, per the model.
    fn first_undefined_read(spec: &Spec) -> Option<(usize, Vec<&'static str>)> {
        let mut defined: Vec<bool> = spec
            .resources
            .iter()
            .map(|&(k, _)| defined_at_start(k))
            .collect();
        for (p, (uses, _)) in spec.passes.iter().enumerate() {
            let bad: Vec<&'static str> = uses
                .iter()
                .filter(|&(&r, u)| u.reads_previous() && !defined[r])
                .map(|(&r, _)| NAMES[r])
                .collect();
            if !bad.is_empty() {
                return Some((p, bad));
            }
            for (&r, u) in uses {
                if u.writes() {
                    defined[r] = u.stores();
                }
            }
        }
        None
    }

    const NAMES: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];

    enum Handle {
        T(TextureHandle),
        B(macrokid_graphics::graph::BufferHandle),
    }

    fn build(spec: &Spec) -> (RenderGraph, Vec<Handle>) {
        let mut g = RenderGraph::new();
        let handles: Vec<Handle> = spec
            .resources
            .iter()
            .enumerate()
            .map(|(i, &(kind, depth))| {
                let desc = if depth { depth32(8, 8) } else { rgba(8, 8) };
                match kind {
                    Kind::Import { initial, final_use } => Handle::T(g.import_texture(
                        NAMES[i],
                        desc,
                        TextureImport::new(initial, final_use),
                    )),
                    Kind::Transient => Handle::T(g.create_texture(NAMES[i], desc)),
                    Kind::Buffer { initial, final_use } => Handle::B(g.import_buffer(
                        NAMES[i],
                        BufferImport {
                            size: 64,
                            initial,
                            final_use,
                        },
                    )),
                }
            })
            .collect();
        for (p, (uses, never_cull)) in spec.passes.iter().enumerate() {
            let mut b = g.add_pass(format!("pass{p}"));
            for (&r, &u) in uses {
                b = match (&handles[r], u) {
                    (Handle::T(t), Use::Tex(tu)) => b.texture(*t, tu),
                    (Handle::T(t), Use::Color { load, store }) => b.color_attachment(
                        *t,
                        if load {
                            LoadOp::Load
                        } else {
                            LoadOp::Clear([0.0; 4])
                        },
                        store,
                    ),
                    (
                        Handle::T(t),
                        Use::Depth {
                            read_only: true, ..
                        },
                    ) => b.depth_read(*t),
                    (Handle::T(t), Use::Depth { load, store, .. }) => b.depth_attachment(
                        *t,
                        if load { LoadOp::Load } else { LoadOp::DontCare },
                        store,
                    ),
                    (Handle::B(h), Use::Buf(bu)) => b.buffer(*h, bu),
                    _ => unreachable!("uses are generated per resource kind"),
                };
            }
            if *never_cull {
                b = b.never_cull();
            }
            let _ = b.id();
        }
        (g, handles)
    }

    fn is_import(kind: Kind) -> bool {
        !matches!(kind, Kind::Transient)
    }

    /// Whether the contents of `r` after pass `p` are needed, given the kept passes.
    fn needed_after(spec: &Spec, kept: &[bool], p: usize, r: usize) -> bool {
        let later = spec.passes.iter().zip(kept).skip(p + 1);
        for ((uses, _), _) in later.filter(|&(_, &k)| k) {
            if let Some(u) = uses.get(&r) {
                return u.may_read_previous();
            }
        }
        is_import(spec.resources[r].0)
    }

    fn check(spec: &Spec, graph: &CompiledGraph, handles: &[Handle]) {
        let n = spec.passes.len();
        let kept: Vec<bool> = graph.passes().iter().map(|p| !p.is_culled()).collect();

        // Culling: a pass is kept exactly when it must be.
        for p in 0..n {
            let (uses, never_cull) = &spec.passes[p];
            let must = *never_cull
                || uses
                    .iter()
                    .any(|(&r, u)| u.writes() && u.stores() && needed_after(spec, &kept, p, r));
            assert_eq!(kept[p], must, "pass{p} kept={} but must={must}", kept[p]);
        }

        // Order: the kept passes, batches concatenated, conflicting passes in declaration order,
        // no conflict inside a batch.
        let order: Vec<usize> = graph.order().iter().map(|p| p.index()).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).filter(|&p| kept[p]).collect::<Vec<_>>());
        let flat: Vec<usize> = graph
            .batches()
            .iter()
            .flatten()
            .map(|p| p.index())
            .collect();
        assert_eq!(flat, order);
        let conflict = |a: usize, b: usize| {
            // never_cull passes are ordered against every kept pass (a side effect).
            spec.passes[a].1
                || spec.passes[b].1
                || spec.passes[a].0.iter().any(|(r, ua)| {
                    spec.passes[b]
                        .0
                        .get(r)
                        .is_some_and(|ub| ua.writes() || ub.writes())
                })
        };
        let pos: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i + 1..] {
                if conflict(a, b) {
                    assert!(
                        a < b,
                        "conflicting pass{a} and pass{b} out of declaration order"
                    );
                    assert_ne!(
                        graph.pass(pass_id(graph, a)).batch(),
                        graph.pass(pass_id(graph, b)).batch()
                    );
                }
            }
        }

        // Lifetimes and slots.
        let mut slot_of = HashMap::new();
        for (r, &(kind, _)) in spec.resources.iter().enumerate() {
            if !matches!(kind, Kind::Transient) {
                continue;
            }
            let Handle::T(h) = handles[r] else {
                unreachable!()
            };
            let t = graph.transient(h).unwrap();
            let users: Vec<usize> = order
                .iter()
                .filter(|&&p| spec.passes[p].0.contains_key(&r))
                .map(|p| pos[p])
                .collect();
            match (users.first(), users.last(), t.lifetime()) {
                (Some(&first), Some(&last), Some(life)) => {
                    assert_eq!((life.first, life.last), (first, last));
                    let batch = |i: usize| graph.pass(graph.order()[i]).batch().unwrap();
                    assert_eq!(
                        (life.first_batch, life.last_batch),
                        (batch(first), batch(last))
                    );
                    slot_of.insert(r, (t.slot().unwrap(), life, t.desc()));
                }
                (None, None, None) => assert_eq!(t.slot(), None),
                other => panic!("lifetime of r{r} is {other:?}"),
            }
        }
        for (&a, &(sa, la, da)) in &slot_of {
            assert_eq!(graph.slots()[sa].desc(), da);
            for (&b, &(sb, lb, _)) in &slot_of {
                if a < b && sa == sb {
                    assert!(
                        !la.overlaps(&lb),
                        "r{a} and r{b} share slot {sa} while both alive"
                    );
                    assert!(la.last < lb.first || lb.last < la.first);
                }
            }
        }

        // Barriers against a model of each piece of memory's use.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        enum Mem {
            Res(usize),
            Slot(usize),
        }
        let mem = |r: usize| {
            slot_of
                .get(&r)
                .map_or(Mem::Res(r), |&(s, _, _)| Mem::Slot(s))
        };
        // Each piece of memory's last use (and whether it wrote): where the previous execution
        // left it.
        let mut last: HashMap<Mem, (TextureUse, bool)> = HashMap::new();
        for &p in &order {
            for (&r, &u) in &spec.passes[p].0 {
                if let Some(t) = u.texture_use() {
                    last.insert(mem(r), (t, u.writes()));
                }
            }
        }
        // (use, writes) of each piece of memory.
        let mut tex: HashMap<Mem, (TextureUse, bool)> = HashMap::new();
        let mut buf: HashMap<usize, Option<BufferUse>> = HashMap::new();
        // Whether the first use discards (transients, imports in Undefined initial use).
        let mut discards = vec![false; spec.resources.len()];
        for (r, &(kind, _)) in spec.resources.iter().enumerate() {
            match kind {
                Kind::Import { initial, final_use } => {
                    let start = if initial != TextureUse::Undefined {
                        (initial, initial.is_write())
                    } else {
                        discards[r] = true;
                        match last.get(&Mem::Res(r)) {
                            Some(&l) if final_use == TextureUse::Undefined => l,
                            _ => (final_use, final_use.is_write()),
                        }
                    };
                    tex.insert(Mem::Res(r), start);
                }
                Kind::Buffer { initial, .. } => {
                    buf.insert(r, initial);
                }
                Kind::Transient => discards[r] = true,
            }
        }
        for (&m, &l) in &last {
            if let Mem::Slot(_) = m {
                tex.insert(m, l);
            }
        }
        let mut seen = vec![false; spec.resources.len()];
        for &p in &order {
            let pass = graph.pass(pass_id(graph, p));
            let mut expected_t = Vec::new();
            let mut expected_b = Vec::new();
            for (&r, &u) in &spec.passes[p].0 {
                match (&handles[r], u) {
                    (Handle::T(h), u) => {
                        let after = u.texture_use().unwrap();
                        let m = mem(r);
                        let (before, before_writes) = tex[&m];
                        let first_discard = discards[r] && !seen[r];
                        if first_discard || before != after || before_writes || u.writes() {
                            expected_t.push(TextureBarrier {
                                texture: *h,
                                before,
                                after,
                                discard: first_discard || before == TextureUse::Undefined,
                            });
                        }
                        tex.insert(m, (after, u.writes()));
                        seen[r] = true;
                    }
                    (Handle::B(h), Use::Buf(after)) => {
                        if let Some(before) = buf[&r] {
                            if before != after || before.is_write() || after.is_write() {
                                expected_b.push(BufferBarrier {
                                    buffer: *h,
                                    before,
                                    after,
                                });
                            }
                        }
                        buf.insert(r, Some(after));
                    }
                    _ => unreachable!(),
                }
            }
            assert_eq!(
                pass.texture_barriers(),
                expected_t,
                "texture barriers of pass{p}"
            );
            assert_eq!(
                pass.buffer_barriers(),
                expected_b,
                "buffer barriers of pass{p}"
            );
        }
        let mut final_t = Vec::new();
        let mut final_b = Vec::new();
        for (r, &(kind, _)) in spec.resources.iter().enumerate() {
            match (kind, &handles[r]) {
                (Kind::Import { final_use, .. }, Handle::T(h)) => {
                    let before = tex[&Mem::Res(r)].0;
                    let discard = discards[r] && !seen[r];
                    if final_use != TextureUse::Undefined && (before != final_use || discard) {
                        final_t.push(TextureBarrier {
                            texture: *h,
                            before,
                            after: final_use,
                            discard: discard || before == TextureUse::Undefined,
                        });
                    }
                }
                (
                    Kind::Buffer {
                        final_use: Some(after),
                        ..
                    },
                    Handle::B(h),
                ) => {
                    if let Some(before) = buf[&r] {
                        if before != after {
                            final_b.push(BufferBarrier {
                                buffer: *h,
                                before,
                                after,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!(graph.final_texture_barriers(), final_t);
        assert_eq!(graph.final_buffer_barriers(), final_b);
    }

    fn pass_id(graph: &CompiledGraph, index: usize) -> PassId {
        graph.passes()[index].id()
    }

    /// Where the memory of texture `t` is: `(is a slot, slot or resource index)`.
    fn memory_of(graph: &CompiledGraph, t: TextureHandle) -> (bool, usize) {
        match graph.transient(t).and_then(|tr| tr.slot()) {
            Some(slot) => (true, slot),
            None => (false, t.index()),
        }
    }

    /// Replays two executions of the executor's calls (with what the caller does between them:
    /// moving an import with a defined `initial` use back to it) and checks that every barrier's
    /// `before` is the current use of the same memory (on the first execution, a discarding
    /// barrier of memory in no use yet may wait for anything), that each pass finds its
    /// textures in the use it declared, and that imports are left in their final use.
    fn check_walk(spec: &Spec, graph: &CompiledGraph, handles: &[Handle]) -> Vec<Vec<Call>> {
        let mut runs = Vec::new();
        let mut state: HashMap<(bool, usize), TextureUse> = HashMap::new();
        for (r, &(kind, _)) in spec.resources.iter().enumerate() {
            if let (Kind::Import { initial, .. }, Handle::T(_)) = (kind, &handles[r]) {
                state.insert((false, r), initial);
            }
        }
        for execution in 0..2 {
            let mut recorder = LogRecorder::default();
            graph
                .execute(&mut recorder, &mut log_callbacks(graph))
                .unwrap();
            // The parallel executor submits exactly what the sequential one records.
            assert_eq!(execute_parallel_on(graph, 3).unwrap(), recorder.calls);
            if execution == 1 {
                for (r, &(kind, _)) in spec.resources.iter().enumerate() {
                    if let Kind::Import { initial, .. } = kind {
                        if initial != TextureUse::Undefined {
                            state.insert((false, r), initial);
                        }
                    }
                }
            }
            let mut records = Vec::new();
            for call in &recorder.calls {
                match call {
                    Call::Barrier(textures, _) => {
                        for b in textures {
                            let m = memory_of(graph, b.texture);
                            let current = *state.get(&m).unwrap_or(&TextureUse::Undefined);
                            let fresh = execution == 0 && current == TextureUse::Undefined;
                            if !(b.discard && fresh) {
                                assert_eq!(
                                    b.before, current,
                                    "barrier {b:?} of execution {execution} does not start where the memory is"
                                );
                            }
                            state.insert(m, b.after);
                        }
                    }
                    Call::Begin(name) => {
                        let pass = graph.pass_by_name(name).unwrap();
                        for &(t, u) in pass.textures() {
                            assert_eq!(
                                state.get(&memory_of(graph, t)),
                                Some(&u),
                                "{name} finds {t:?} in the wrong use"
                            );
                        }
                    }
                    Call::Record(name) => records.push(name.clone()),
                    Call::End(_) => {}
                }
            }
            let expected: Vec<String> = graph
                .order()
                .iter()
                .map(|&p| graph.pass(p).name().to_owned())
                .collect();
            assert_eq!(records, expected);
            for (r, &(kind, _)) in spec.resources.iter().enumerate() {
                if let Kind::Import { final_use, .. } = kind {
                    if final_use != TextureUse::Undefined {
                        assert_eq!(
                            state[&(false, r)],
                            final_use,
                            "r{r} not left in its final use"
                        );
                    }
                }
            }
            runs.push(recorder.calls);
        }
        runs
    }

    /// A use of a texture or buffer, for the hazard oracle.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum AnyUse {
        T(TextureUse),
        B(BufferUse),
    }

    impl AnyUse {
        /// Whether a barrier with this as `before` makes writes available (its source access
        /// is a write access).
        fn write_access(self) -> bool {
            match self {
                AnyUse::T(t) => t.is_write(),
                AnyUse::B(b) => b.is_write(),
            }
        }
    }

    /// One access to a piece of memory and how far barriers have carried it.
    #[derive(Debug)]
    struct Access {
        what: String,
        writes: bool,
        /// The use a following access must be in to be ordered after this one: its own use
        /// until a barrier whose source is that use carries it to the barrier's destination.
        frontier: AnyUse,
        /// Whether a barrier covered it.
        synced: bool,
    }

    /// An independent hazard oracle: every pair of accesses to the same memory where either
    /// writes (attachment store ops counted as writes, from the spec, not from the graph) must
    /// be ordered by a chain of barriers: the first barrier's source is the earlier access's
    /// use (a write access when it wrote), each next barrier's source is the previous one's
    /// destination (Vulkan spec §7.1 "Execution and Memory Dependencies", chained through
    /// pipeline barriers), and the last destination is the later access's use.
    #[derive(Default)]
    struct Oracle {
        memory: HashMap<(u8, usize), Vec<Access>>,
    }

    impl Oracle {
        fn barrier(&mut self, key: (u8, usize), before: AnyUse, after: AnyUse) {
            for a in self.memory.entry(key).or_default() {
                if a.frontier == before && (a.synced || !a.writes || before.write_access()) {
                    a.frontier = after;
                    a.synced = true;
                }
            }
        }

        fn access(&mut self, key: (u8, usize), usage: AnyUse, writes: bool, what: String) {
            let list = self.memory.entry(key).or_default();
            for a in list.iter() {
                if a.writes || writes {
                    assert!(
                        a.synced && a.frontier == usage,
                        "hazard: {what} ({usage:?}, writes: {writes}) is not ordered after {} ({:?}, writes: {}, synced: {})",
                        a.what, a.frontier, a.writes, a.synced
                    );
                }
            }
            list.push(Access {
                what,
                writes,
                frontier: usage,
                synced: false,
            });
        }
    }

    /// Runs the oracle over the call streams of consecutive executions (`runs`), with the
    /// accesses outside the graph: each import's `initial` use before the first execution, its
    /// `final_use` after each execution, and between executions what the caller does (moves an
    /// import with a defined `initial` use back to it; a buffer without an initial GPU use is
    /// synchronised with the host, so its accesses are done).
    fn check_hazards(spec: &Spec, graph: &CompiledGraph, handles: &[Handle], runs: &[Vec<Call>]) {
        let mut oracle = Oracle::default();
        let tex_key = |t: TextureHandle| {
            let (slot, i) = memory_of(graph, t);
            (u8::from(slot), i)
        };
        // The current use of each import, to know where the caller must move it from.
        let mut current: HashMap<(u8, usize), AnyUse> = HashMap::new();
        for (r, &(kind, _)) in spec.resources.iter().enumerate() {
            match kind {
                Kind::Import { initial, .. } if initial != TextureUse::Undefined => {
                    oracle.access(
                        (0, r),
                        AnyUse::T(initial),
                        initial.is_write(),
                        "initial".into(),
                    );
                    current.insert((0, r), AnyUse::T(initial));
                }
                Kind::Buffer {
                    initial: Some(initial),
                    ..
                } => {
                    oracle.access(
                        (2, r),
                        AnyUse::B(initial),
                        initial.is_write(),
                        "initial".into(),
                    );
                    current.insert((2, r), AnyUse::B(initial));
                }
                _ => {}
            }
        }
        for (execution, calls) in runs.iter().enumerate() {
            if execution > 0 {
                for (r, &(kind, _)) in spec.resources.iter().enumerate() {
                    match kind {
                        Kind::Import { initial, .. } if initial != TextureUse::Undefined => {
                            let from = current[&(0, r)];
                            if from != AnyUse::T(initial) {
                                oracle.barrier((0, r), from, AnyUse::T(initial));
                                current.insert((0, r), AnyUse::T(initial));
                            }
                        }
                        Kind::Buffer { initial: None, .. } => {
                            oracle.memory.remove(&(2, r));
                            current.remove(&(2, r));
                        }
                        Kind::Buffer {
                            initial: Some(initial),
                            ..
                        } => {
                            let from = current[&(2, r)];
                            if from != AnyUse::B(initial) {
                                oracle.barrier((2, r), from, AnyUse::B(initial));
                                current.insert((2, r), AnyUse::B(initial));
                            }
                        }
                        _ => {}
                    }
                }
            }
            for call in calls {
                match call {
                    Call::Barrier(textures, buffers) => {
                        for b in textures {
                            let key = tex_key(b.texture);
                            oracle.barrier(key, AnyUse::T(b.before), AnyUse::T(b.after));
                            current.insert(key, AnyUse::T(b.after));
                        }
                        for b in buffers {
                            let key = (2, b.buffer.index());
                            oracle.barrier(key, AnyUse::B(b.before), AnyUse::B(b.after));
                            current.insert(key, AnyUse::B(b.after));
                        }
                    }
                    Call::Begin(name) => {
                        let p: usize = name["pass".len()..].parse().unwrap();
                        for (&r, &u) in &spec.passes[p].0 {
                            let what = format!("{name} (execution {execution}) r{r}");
                            match (&handles[r], u) {
                                (Handle::T(t), u) => {
                                    let usage = AnyUse::T(u.texture_use().unwrap());
                                    oracle.access(tex_key(*t), usage, u.writes(), what);
                                }
                                (Handle::B(_), Use::Buf(b)) => {
                                    oracle.access((2, r), AnyUse::B(b), b.is_write(), what);
                                    current.insert((2, r), AnyUse::B(b));
                                }
                                _ => unreachable!(),
                            }
                        }
                    }
                    Call::Record(_) | Call::End(_) => {}
                }
            }
            for (r, &(kind, _)) in spec.resources.iter().enumerate() {
                let what = format!("final use (execution {execution}) r{r}");
                match kind {
                    Kind::Import { final_use, .. } if final_use != TextureUse::Undefined => {
                        oracle.access((0, r), AnyUse::T(final_use), final_use.is_write(), what);
                    }
                    Kind::Buffer {
                        final_use: Some(f), ..
                    } if current.contains_key(&(2, r)) => {
                        oracle.access((2, r), AnyUse::B(f), f.is_write(), what);
                    }
                    _ => {}
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn random_graphs_match_the_model(spec in spec()) {
            let (graph, handles) = build(&spec);
            match (graph.compile(), first_undefined_read(&spec)) {
                (Ok(graph), None) => {
                    check(&spec, &graph, &handles);
                    let runs = check_walk(&spec, &graph, &handles);
                    check_hazards(&spec, &graph, &handles, &runs);
                }
                (Err(GraphError::ReadBeforeWrite { pass, resource, .. }), Some((p, bad))) => {
                    prop_assert_eq!(pass, format!("pass{p}"));
                    prop_assert!(bad.contains(&resource.as_str()), "{} not among {:?}", resource, bad);
                }
                (result, expected) => {
                    prop_assert!(false, "compile gave {:?}, model expected read-before-write {:?}", result.map(|_| ()), expected);
                }
            }
        }
    }
}
