//! The renderer's frame is a compiled render graph: its passes, transients and barriers as the
//! renderer built them, and frames rendered from it on lavapipe with validation on.
#![cfg(feature = "vulkan")]

mod common;

use glam::Mat4;
use macrokid_graphics::graph::{CompiledGraph, TextureBarrier};
use macrokid_graphics::{
    BufferUse, InstanceData, Mesh, PostProcess, RendererConfig, TextureFormat, TextureUse,
    VulkanRenderer,
};

fn renderer(post: bool) -> VulkanRenderer {
    common::init_tracing();
    let config = RendererConfig::default()
        .size(64, 48)
        .validation(true)
        .clear_color(common::CLEAR)
        .post_process(post.then(PostProcess::default));
    VulkanRenderer::new(config).expect("creating a lavapipe renderer with validation")
}

fn order(graph: &CompiledGraph) -> Vec<&str> {
    graph
        .order()
        .iter()
        .map(|&p| graph.pass(p).name())
        .collect()
}

/// `(texture name, before, after, discard)` of each texture barrier of `pass`.
fn texture_barriers<'g>(
    graph: &'g CompiledGraph,
    barriers: &[TextureBarrier],
) -> Vec<(&'g str, TextureUse, TextureUse, bool)> {
    barriers
        .iter()
        .map(|b| {
            (
                graph.texture_name(b.texture).unwrap(),
                b.before,
                b.after,
                b.discard,
            )
        })
        .collect()
}

/// Renders three frames with two in flight (each read back one frame later) and returns them.
fn render_three(renderer: &mut VulkanRenderer) -> Vec<Vec<u8>> {
    let cube = renderer.upload_mesh(&Mesh::cube()).unwrap();
    let mut images = Vec::new();
    let mut pending = None;
    for _ in 0..3 {
        let mut frame = renderer.begin_frame().unwrap();
        frame.set_view(common::camera(3.0));
        frame
            .upload_instances(&[InstanceData::new(Mat4::IDENTITY, [1.0, 0.5, 0.2, 1.0])])
            .unwrap();
        frame.draw_instanced_with_threads(cube, 2).unwrap();
        let ticket = frame.submit().unwrap();
        if let Some(previous) = pending.replace(ticket) {
            images.push(renderer.read_back(previous).unwrap().rgba);
        }
    }
    images.push(renderer.read_back(pending.unwrap()).unwrap().rgba);
    images
}

#[test]
fn the_two_pass_frame_is_a_graph_with_hdr_and_depth_transients() {
    let mut renderer = renderer(true);
    let graph = renderer.frame_graph();
    assert_eq!(order(graph), ["main", "post", "read-back"]);

    let transients: Vec<_> = graph
        .transients()
        .iter()
        .map(|t| (t.name(), t.desc().format, t.slot()))
        .collect();
    assert_eq!(
        transients,
        [
            ("depth", TextureFormat::Depth32Float, Some(0)),
            ("hdr", TextureFormat::Rgba16Float, Some(1)),
        ]
    );

    let main = graph.pass_by_name("main").unwrap();
    assert_eq!(
        texture_barriers(graph, main.texture_barriers()),
        [
            (
                "depth",
                TextureUse::DepthStencilAttachment,
                TextureUse::DepthStencilAttachment,
                true
            ),
            (
                "hdr",
                TextureUse::Sampled,
                TextureUse::ColorAttachment,
                true
            ),
        ]
    );
    let post = graph.pass_by_name("post").unwrap();
    assert_eq!(
        texture_barriers(graph, post.texture_barriers()),
        [
            (
                "output",
                TextureUse::TransferSrc,
                TextureUse::ColorAttachment,
                true
            ),
            (
                "hdr",
                TextureUse::ColorAttachment,
                TextureUse::Sampled,
                false
            ),
        ]
    );
    let read_back = graph.pass_by_name("read-back").unwrap();
    assert_eq!(
        texture_barriers(graph, read_back.texture_barriers()),
        [(
            "output",
            TextureUse::ColorAttachment,
            TextureUse::TransferSrc,
            false
        )]
    );
    let buffer = read_back.buffer_barriers();
    assert_eq!(buffer.len(), 1);
    assert_eq!(
        (buffer[0].before, buffer[0].after),
        (BufferUse::HostRead, BufferUse::TransferDst)
    );
    assert!(graph.final_texture_barriers().is_empty());
    let finals = graph.final_buffer_barriers();
    assert_eq!(
        finals
            .iter()
            .map(|b| (b.before, b.after))
            .collect::<Vec<_>>(),
        [(BufferUse::TransferDst, BufferUse::HostRead)]
    );

    let images = render_three(&mut renderer);
    assert!(images.windows(2).all(|w| w[0] == w[1]));
    // The vignette darkens the clear colour towards the corners: compare with an empty frame.
    let empty = renderer.begin_frame().unwrap().finish().unwrap().rgba;
    let drawn = images[0]
        .chunks_exact(4)
        .zip(empty.chunks_exact(4))
        .filter(|(a, b)| a != b)
        .count();
    assert!(drawn > 100, "the cube covers part of the image: {drawn}");
    common::assert_no_validation_messages(&renderer);
}

#[test]
fn without_post_the_geometry_pass_renders_into_the_output() {
    let mut renderer = renderer(false);
    let graph = renderer.frame_graph();
    assert_eq!(order(graph), ["main", "read-back"]);
    let main = graph.pass_by_name("main").unwrap();
    let color = main.color_attachments()[0];
    assert_eq!(graph.texture_name(color.attachment.texture), Some("output"));
    assert_eq!(color.slot, None, "the output is imported");
    assert_eq!(graph.transients().len(), 1);
    assert_eq!(graph.transients()[0].name(), "depth");

    let images = render_three(&mut renderer);
    assert!(images.windows(2).all(|w| w[0] == w[1]));
    let clear = [20, 40, 80, 255];
    let drawn = images[0].chunks_exact(4).filter(|p| *p != clear).count();
    assert!(drawn > 100, "the cube covers part of the image: {drawn}");
    common::assert_no_validation_messages(&renderer);
}
