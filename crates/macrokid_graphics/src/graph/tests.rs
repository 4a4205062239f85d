//! Unit tests of the compile step's rules (the behaviour across the module is tested in
//! `tests/graph.rs`).

use super::compile::{buffer_needs_barrier, texture_needs_barrier};
use super::*;
use crate::{BufferUse, TextureFormat, TextureUse};

fn desc() -> TextureDesc {
    TextureDesc::new(4, 4, TextureFormat::Rgba8Unorm)
}

#[test]
fn barrier_rule_reads_of_one_use_need_none() {
    use TextureUse::*;
    let t = |before: TextureUse, after: TextureUse| {
        texture_needs_barrier(before, before.is_write(), after, after.is_write())
    };
    assert!(!t(Sampled, Sampled));
    assert!(!t(TransferSrc, TransferSrc));
    assert!(t(Sampled, TransferSrc)); // layout change
    assert!(t(ColorAttachment, ColorAttachment)); // write after write
    assert!(t(Undefined, ColorAttachment));
    // A read-only depth attachment that stores writes: a barrier even between two of them.
    assert!(!texture_needs_barrier(
        DepthStencilRead,
        false,
        DepthStencilRead,
        false
    ));
    assert!(texture_needs_barrier(
        DepthStencilRead,
        true,
        DepthStencilRead,
        false
    ));
    assert!(!buffer_needs_barrier(BufferUse::Vertex, BufferUse::Vertex));
    assert!(buffer_needs_barrier(BufferUse::Vertex, BufferUse::Uniform));
    assert!(buffer_needs_barrier(
        BufferUse::TransferDst,
        BufferUse::TransferDst
    ));
}

#[test]
fn graph_compile_checks_pass_uses() {
    let mut g = RenderGraph::new();
    let t = g.create_texture("t", desc());
    let _ = g.add_pass("p").texture(t, TextureUse::ColorAttachment);
    let err = g.compile().unwrap_err();
    assert!(matches!(err, GraphError::InvalidUse { ref usage, .. } if usage == "ColorAttachment"));
    assert!(err.to_string().contains("color_attachment"), "{err}");

    let mut g = RenderGraph::new();
    let t = g.create_texture("t", desc());
    let _ = g.add_pass("p").texture(t, TextureUse::Present);
    assert!(matches!(g.compile(), Err(GraphError::InvalidUse { .. })));

    let mut g = RenderGraph::new();
    let b = g.import_buffer(
        "b",
        BufferImport {
            size: 16,
            initial: None,
            final_use: None,
        },
    );
    let _ = g.add_pass("p").buffer(b, BufferUse::HostRead);
    assert!(matches!(g.compile(), Err(GraphError::InvalidUse { .. })));
}

#[test]
fn graph_compile_checks_resources() {
    let mut g = RenderGraph::new();
    let _ = g.create_texture("t", TextureDesc::new(0, 4, TextureFormat::Rgba8Unorm));
    let err = g.compile().unwrap_err();
    assert!(
        matches!(err, GraphError::EmptyResource { ref detail, .. } if detail == "0×4 pixels"),
        "{err}"
    );

    let mut g = RenderGraph::new();
    let _ = g.create_texture("t", desc());
    let _ = g.create_texture("t", desc());
    assert!(matches!(g.compile(), Err(GraphError::DuplicateResource { ref name }) if name == "t"));
}

#[test]
fn graph_compile_checks_attachments() {
    let mut g = RenderGraph::new();
    let a = g.create_texture("a", desc());
    let d1 = g.create_texture("d1", TextureDesc::new(4, 4, TextureFormat::Depth32Float));
    let d2 = g.create_texture("d2", TextureDesc::new(4, 4, TextureFormat::Depth32Float));
    let _ = g
        .add_pass("p")
        .color_attachment(a, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .depth_attachment(d1, LoadOp::Clear(1.0), StoreOp::Store)
        .depth_attachment(d2, LoadOp::Clear(1.0), StoreOp::Store);
    assert!(matches!(
        g.compile(),
        Err(GraphError::SecondDepthAttachment { ref resource, .. }) if resource == "d2"
    ));

    let mut g = RenderGraph::new();
    let a = g.create_texture("a", desc());
    let big = g.create_texture("big", TextureDesc::new(8, 4, TextureFormat::Depth32Float));
    let _ = g
        .add_pass("p")
        .color_attachment(a, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .depth_attachment(big, LoadOp::Clear(1.0), StoreOp::Store);
    assert!(matches!(
        g.compile(),
        Err(GraphError::AttachmentExtentMismatch {
            expected: (4, 4),
            found: (8, 4),
            ..
        })
    ));

    let mut g = RenderGraph::new();
    let a = g.create_texture("a", desc());
    let _ = g
        .add_pass("p")
        .color_attachment(a, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .sampled(a);
    let err = g.compile().unwrap_err();
    assert!(
        matches!(err, GraphError::ResourceUsedTwice { ref first, ref second, .. }
            if first == "ColorAttachment" && second == "Sampled"),
        "{err}"
    );

    // Attachments of the wrong kind of format.
    let mut g = RenderGraph::new();
    let d = g.create_texture("d", TextureDesc::new(4, 4, TextureFormat::Depth32Float));
    let _ = g
        .add_pass("p")
        .color_attachment(d, LoadOp::Clear([0.0; 4]), StoreOp::Store);
    let err = g.compile().unwrap_err();
    assert!(
        matches!(err, GraphError::AttachmentFormat { ref resource, expected: "colour", ref format, .. }
            if resource == "d" && format == "Depth32Float"),
        "{err}"
    );
    let mut g = RenderGraph::new();
    let c = g.create_texture("c", desc());
    let _ = g
        .add_pass("p")
        .depth_attachment(c, LoadOp::Clear(1.0), StoreOp::Store);
    assert!(matches!(
        g.compile(),
        Err(GraphError::AttachmentFormat {
            expected: "depth",
            ..
        })
    ));
    let mut g = RenderGraph::new();
    let c = g.create_texture("c", desc());
    let _ = g.add_pass("p").depth_read(c);
    assert!(matches!(
        g.compile(),
        Err(GraphError::AttachmentFormat {
            expected: "depth",
            ..
        })
    ));
}

#[test]
fn owned_resource_names_are_interned_once() {
    let mut g = RenderGraph::new();
    let a = g.create_texture(format!("cascade{}", 3), desc());
    let mut h = RenderGraph::new();
    let b = h.create_texture(String::from("cascade3"), desc());
    let _ = g
        .add_pass("p")
        .color_attachment(a, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .never_cull();
    let _ = h
        .add_pass("p")
        .color_attachment(b, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .never_cull();
    let (g, h) = (g.compile().unwrap(), h.compile().unwrap());
    let (na, nb) = (g.texture_name(a).unwrap(), h.texture_name(b).unwrap());
    assert_eq!(na, "cascade3");
    // The same leaked string serves both graphs.
    assert!(std::ptr::eq(na, nb));
    assert_eq!(g.texture_resource_id(a).unwrap().name(), "cascade3");
}

#[test]
fn graph_store_dont_care_leaves_contents_undefined() {
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        desc(),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let depth = g.create_texture("depth", TextureDesc::new(4, 4, TextureFormat::Depth32Float));
    let _ = g
        .add_pass("shadow")
        .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::DontCare);
    let _ = g.add_pass("light").sampled(depth).color_attachment(
        out,
        LoadOp::Clear([0.0; 4]),
        StoreOp::Store,
    );
    let err = g.compile().unwrap_err();
    assert!(
        matches!(err, GraphError::ReadBeforeWrite { ref pass, ref resource, .. }
            if pass == "light" && resource == "depth"),
        "{err}"
    );
}

#[test]
fn graph_clear_of_an_import_culls_its_earlier_writer() {
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        desc(),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let first = g
        .add_pass("first")
        .color_attachment(out, LoadOp::Clear([1.0; 4]), StoreOp::Store)
        .id();
    let second = g
        .add_pass("second")
        .color_attachment(out, LoadOp::Clear([0.0; 4]), StoreOp::Store)
        .id();
    let c = g.compile().unwrap();
    assert!(c.pass(first).is_culled());
    assert_eq!(c.order(), [second]);

    // Loading instead of clearing keeps the first writer.
    let mut g = RenderGraph::new();
    let out = g.import_texture(
        "out",
        desc(),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let first = g
        .add_pass("first")
        .color_attachment(out, LoadOp::Clear([1.0; 4]), StoreOp::Store)
        .id();
    let second = g
        .add_pass("second")
        .color_attachment(out, LoadOp::Load, StoreOp::Store)
        .id();
    let c = g.compile().unwrap();
    assert_eq!(c.order(), [first, second]);
    assert_eq!(c.culled().count(), 0);
}
