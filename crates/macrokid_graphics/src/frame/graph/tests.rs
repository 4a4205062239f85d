//! The frame graph on lavapipe with validation and synchronization validation on: transients
//! that alias one allocation, and a barrier left out by hand (outside the graph) being caught.

use super::*;
use crate::graph::{LoadOp, PassCallbacks, StoreOp, TextureDesc};
use crate::hal::{
    Adapter as _, BufferDesc, BufferTextureCopy, BufferUsages, CommandEncoderDesc, Instance as _,
    InstanceDesc, MemoryLocation, Texture as _,
};
use crate::passes::PostPass;
use crate::resource::Timeline;
use crate::vulkan::{Device, Instance, Queue, Vulkan};
use crate::{PostProcess, TextureFormat};

const SIZE: u32 = 32;

fn open(name: &str) -> (Instance, Device, Queue) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let instance = Instance::init(&InstanceDesc {
        app_name: name,
        validation: true,
        surfaces: false,
    })
    .unwrap_or_else(|e| panic!("this test needs lavapipe and the validation layer: {e}"));
    let adapter = instance.select_adapter(None).unwrap();
    // SAFETY: `adapter` was selected from `instance`.
    let (device, queue) = unsafe { adapter.open(&instance) }.unwrap();
    (instance, device, queue)
}

fn readback_buffer(device: &Device) -> crate::vulkan::Buffer {
    device
        .create_buffer(&BufferDesc {
            label: "test read-back",
            size: u64::from(SIZE * SIZE * 4),
            usage: BufferUsages::COPY_DST,
            location: MemoryLocation::GpuToCpu,
        })
        .unwrap()
}

fn output_texture(device: &Device) -> (crate::vulkan::Texture, crate::vulkan::TextureView) {
    let texture = device
        .create_texture(&hal::TextureDesc {
            label: "test output",
            width: SIZE,
            height: SIZE,
            format: TextureFormat::Rgba8Unorm,
            usage: TextureUsages::COLOR_ATTACHMENT | TextureUsages::COPY_SRC,
        })
        .unwrap();
    let view = device
        .create_texture_view(&texture, &TextureViewDesc::default())
        .unwrap();
    (texture, view)
}

/// A three-pass graph (plus the copy out) whose two depth transients live in different batches:
/// they share one slot, the backend binds two images to one allocation, and executing the graph
/// twice (the second execution's first-use barriers wait for the first's last uses of the
/// shared memory) renders the expected clear colour with no validation message.
#[test]
fn aliased_transients_share_one_allocation_and_render_validation_clean() {
    let (instance, device, queue) = open("graph-aliasing-test");
    let mut g = RenderGraph::new();
    let color = |format| TextureDesc::new(SIZE, SIZE, format);
    let output = g.import_texture(
        "output",
        color(TextureFormat::Rgba8Unorm),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let readback = g.import_buffer(
        "read-back",
        BufferImport {
            size: u64::from(SIZE * SIZE * 4),
            initial: Some(BufferUse::HostRead),
            final_use: Some(BufferUse::HostRead),
        },
    );
    let a = g.create_texture("a", color(TextureFormat::Rgba16Float));
    let depth0 = g.create_texture("depth 0", color(TextureFormat::Depth32Float));
    let b = g.create_texture("b", color(TextureFormat::Rgba8Unorm));
    let depth1 = g.create_texture("depth 1", color(TextureFormat::Depth32Float));
    let _first = g
        .add_pass("first")
        .color_attachment(a, LoadOp::Clear([1.0, 0.0, 0.0, 1.0]), StoreOp::Store)
        .depth_attachment(depth0, LoadOp::Clear(1.0), StoreOp::DontCare)
        .id();
    let second = g
        .add_pass("second")
        .sampled(a)
        .color_attachment(b, LoadOp::Clear([0.0, 1.0, 0.0, 1.0]), StoreOp::Store)
        .depth_attachment(depth1, LoadOp::Clear(0.5), StoreOp::DontCare)
        .id();
    let clear = [0.0, 0.0, 1.0, 1.0];
    let _third = g
        .add_pass("third")
        .sampled(b)
        .color_attachment(output, LoadOp::Clear(clear), StoreOp::Store)
        .id();
    let copy = g
        .add_pass("copy")
        .texture(output, TextureUse::TransferSrc)
        .buffer(readback, BufferUse::TransferDst)
        .id();
    let compiled = g.compile().unwrap();

    // The plan: depth 0 and depth 1 share a slot; a and b (overlapping lifetimes, different
    // formats) have their own.
    assert_eq!(compiled.slots().len(), 3, "{compiled:?}");
    let shared = compiled
        .slots()
        .iter()
        .find(|s| s.textures().len() == 2)
        .expect("a slot with two occupants");
    assert_eq!(shared.textures(), [depth0, depth1]);
    // depth 1 takes the slot over from depth 0: its first barrier discards the contents after
    // depth 0's attachment writes (the Vulkan backend adds a global memory barrier for them).
    let handoff = compiled
        .pass(second)
        .texture_barriers()
        .iter()
        .find(|b| b.texture == depth1)
        .expect("a barrier into depth 1");
    assert!(handoff.discard, "{handoff:?}");
    assert_eq!(handoff.before, TextureUse::DepthStencilAttachment);
    assert_eq!(handoff.after, TextureUse::DepthStencilAttachment);

    let before = device.allocation_count();
    let transients = GraphTextures::<Vulkan>::new(&device, &compiled).unwrap();
    // Three slots: three allocations for four textures.
    assert_eq!(device.allocation_count() - before, 3);
    let binding = |t| transients.get(t).unwrap().0.memory_binding();
    assert_eq!(
        binding(depth0),
        binding(depth1),
        "the depth transients alias"
    );
    assert_ne!(binding(a), binding(b));
    assert_ne!(binding(a), binding(depth0));

    let (out, out_view) = output_texture(&device);
    let buffer = readback_buffer(&device);
    let timeline = Timeline::<Vulkan>::new(&device).unwrap();
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc { label: "graph" })
        .unwrap();
    let mut last = 0;
    for _ in 0..2 {
        let mut bindings = Bindings::new(&compiled, &transients);
        bindings
            .texture(output, &out, &out_view)
            .buffer(readback, &buffer);
        let mut callbacks = PassCallbacks::<crate::vulkan::CommandEncoder>::new(&compiled);
        let (out, buffer) = (&out, &buffer);
        callbacks.set(copy, move |encoder| {
            // SAFETY: outside rendering; the graph moved the output to TransferSrc and the
            // buffer (SIZE² × 4 bytes) to TransferDst.
            unsafe {
                encoder.copy_texture_to_buffer(
                    out,
                    buffer,
                    &[BufferTextureCopy {
                        buffer_offset: 0,
                        origin: (0, 0),
                        size: (SIZE, SIZE),
                    }],
                )
            };
            Ok(())
        });
        // SAFETY: the encoder was reset after the previous submission completed (waited
        // below); the output starts each execution with discarded contents, the buffer after
        // the host's read; the transients belong to this graph; no queries; no secondaries.
        let cmd = unsafe {
            encoder.reset_all().unwrap();
            encoder.begin_encoding(Some("graph")).unwrap();
            let mut recorder = HalRecorder::<Vulkan>::new(&mut encoder, bindings, None, None);
            compiled.execute(&mut recorder, &mut callbacks).unwrap();
            encoder.end_encoding().unwrap()
        };
        // SAFETY: a primary of this device, submitted once; waited for before the encoder is
        // reset.
        last = unsafe { timeline.submit(&queue, vec![cmd]) }.unwrap();
        timeline.wait(&device, last).unwrap();
    }
    assert!(last >= 2);
    let mut rgba = Vec::new();
    // SAFETY: the submission completed and ended with TransferDst → HostRead.
    unsafe { device.read_buffer(&buffer, 0, (SIZE * SIZE * 4) as usize, &mut rgba) }.unwrap();
    assert!(rgba.chunks_exact(4).all(|p| p == [0, 0, 255, 255]));
    assert_eq!(
        instance.validation_counts().total(),
        0,
        "validation reported {:?} (see the log)",
        instance.validation_counts()
    );
}

/// Render into a texture, then sample it in a second pass. Through the graph (its
/// ColorAttachment → Sampled barrier) it is validation-clean; recorded by hand through the HAL
/// with that one barrier left out, the validation layer reports it (image layout and a
/// read-after-write hazard).
#[test]
fn a_barrier_left_out_by_hand_is_reported() {
    let (instance, device, queue) = open("graph-missing-barrier-test");
    let timeline = Timeline::<Vulkan>::new(&device).unwrap();
    let params = PostProcess::default();

    // Through the graph.
    let mut g = RenderGraph::new();
    let output = g.import_texture(
        "output",
        TextureDesc::new(SIZE, SIZE, TextureFormat::Rgba8Unorm),
        TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
    );
    let hdr = g.create_texture(
        "hdr",
        TextureDesc::new(SIZE, SIZE, TextureFormat::Rgba16Float),
    );
    g.add_pass("geometry")
        .color_attachment(hdr, LoadOp::Clear([0.5; 4]), StoreOp::Store)
        .id();
    let post_id = g
        .add_pass("post")
        .sampled(hdr)
        .color_attachment(output, LoadOp::DontCare, StoreOp::Store)
        .id();
    let compiled = g.compile().unwrap();
    let transients = GraphTextures::<Vulkan>::new(&device, &compiled).unwrap();
    let (out, out_view) = output_texture(&device);
    let post = PostPass::<Vulkan>::new(
        &device,
        transients.get(hdr).unwrap().1,
        TextureFormat::Rgba8Unorm,
        (SIZE, SIZE),
        params,
        None,
    )
    .unwrap();
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc { label: "graph" })
        .unwrap();
    let mut bindings = Bindings::new(&compiled, &transients);
    bindings.texture(output, &out, &out_view);
    let mut callbacks = PassCallbacks::<crate::vulkan::CommandEncoder>::new(&compiled);
    let post_ref = &post;
    callbacks.set(post_id, move |encoder| {
        // SAFETY: inline rendering into the Rgba8 output, viewport set; the graph moved the
        // HDR target the pass samples to Sampled.
        unsafe { post_ref.draw(encoder) };
        Ok(())
    });
    // SAFETY: a fresh encoder; output discarded at the start; transients of this graph.
    let cmd = unsafe {
        encoder.begin_encoding(Some("graph")).unwrap();
        let mut recorder = HalRecorder::<Vulkan>::new(&mut encoder, bindings, None, None);
        compiled.execute(&mut recorder, &mut callbacks).unwrap();
        encoder.end_encoding().unwrap()
    };
    // SAFETY: submitted once, waited for before anything is dropped or reused.
    let value = unsafe { timeline.submit(&queue, vec![cmd]) }.unwrap();
    timeline.wait(&device, value).unwrap();
    assert_eq!(
        instance.validation_counts().total(),
        0,
        "through the graph: {:?}",
        instance.validation_counts()
    );

    // By hand, the ColorAttachment → Sampled barrier of the HDR target left out.
    let hdr_texture = device
        .create_texture(&hal::TextureDesc {
            label: "hand hdr",
            width: SIZE,
            height: SIZE,
            format: TextureFormat::Rgba16Float,
            usage: TextureUsages::COLOR_ATTACHMENT | TextureUsages::SAMPLED,
        })
        .unwrap();
    let hdr_view = device
        .create_texture_view(&hdr_texture, &TextureViewDesc::default())
        .unwrap();
    let hand_post = PostPass::<Vulkan>::new(
        &device,
        &hdr_view,
        TextureFormat::Rgba8Unorm,
        (SIZE, SIZE),
        params,
        None,
    )
    .unwrap();
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc { label: "by hand" })
        .unwrap();
    // SAFETY: deliberately NOT upheld in one point: the post pass samples the HDR target while
    // it is still in ColorAttachment use (its barrier is missing). Everything else is valid;
    // lavapipe ignores image layouts, so the driver is not harmed, and the validation layer
    // reports the mistake.
    let cmd = unsafe {
        encoder.begin_encoding(Some("by hand")).unwrap();
        encoder.texture_barriers(&[
            hal::TextureBarrier {
                texture: &hdr_texture,
                before: TextureUse::Undefined,
                after: TextureUse::ColorAttachment,
                discard: true,
            },
            hal::TextureBarrier {
                texture: &out,
                before: TextureUse::TransferSrc,
                after: TextureUse::ColorAttachment,
                discard: true,
            },
        ]);
        encoder.begin_rendering(&RenderingDesc {
            label: "geometry",
            extent: (SIZE, SIZE),
            color_attachments: &[hal::ColorAttachment {
                view: &hdr_view,
                load: hal::LoadOp::Clear([0.5; 4]),
                store: hal::StoreOp::Store,
            }],
            depth_attachment: None,
            contents: RenderingContents::Inline,
        });
        encoder.end_rendering();
        // Missing: hdr ColorAttachment → Sampled.
        encoder.begin_rendering(&RenderingDesc {
            label: "post",
            extent: (SIZE, SIZE),
            color_attachments: &[hal::ColorAttachment {
                view: &out_view,
                load: hal::LoadOp::DontCare,
                store: hal::StoreOp::Store,
            }],
            depth_attachment: None,
            contents: RenderingContents::Inline,
        });
        encoder.set_viewport([0.0, 0.0, SIZE as f32, SIZE as f32]);
        hand_post.draw(&mut encoder);
        encoder.end_rendering();
        encoder.end_encoding().unwrap()
    };
    // SAFETY: submitted once and waited for (see above for the one broken rule).
    let value = unsafe { timeline.submit(&queue, vec![cmd]) }.unwrap();
    timeline.wait(&device, value).unwrap();
    let counts = instance.validation_counts();
    assert!(
        counts.errors >= 1,
        "the missing ColorAttachment → Sampled barrier was not reported: {counts:?}"
    );
}
