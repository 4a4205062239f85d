//! Backend tests on lavapipe with validation and synchronization validation on.

use super::*;
use crate::hal::{
    Adapter as _, BufferBarrier, BufferDesc, BufferTextureCopy, BufferUsages, CommandEncoder as _,
    CommandEncoderDesc, Device as _, Instance as _, InstanceDesc, MemoryLocation, Queue as _,
    TextureBarrier, TextureDesc, TextureUsages,
};
use crate::{BufferUse, TextureFormat, TextureUse};

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

/// The messenger really counts: an invalid call produces an error that the counter sees.
#[test]
fn validation_messages_are_counted() {
    let (instance, device, _queue) = open("validation-counter-test");
    assert_eq!(instance.validation_counts().total(), 0);
    // 0x8000 is not a valid VkFenceCreateFlagBits value: VUID-VkFenceCreateInfo-flags-parameter.
    let info = vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::from_raw(0x8000));
    // SAFETY: the flags are invalid on purpose; the validation layer reports it and the
    // driver ignores unknown bits; the fence is destroyed right away.
    unsafe {
        let fence = device.shared.raw.create_fence(&info, None).unwrap();
        device.shared.raw.destroy_fence(fence, None);
    }
    let counts = instance.validation_counts();
    assert!(
        counts.errors >= 1,
        "the invalid flag was not reported: {counts:?}"
    );
}

fn texture_and_buffer(device: &Device, side: u32) -> (Texture, Buffer) {
    let texture = device
        .create_texture(&TextureDesc {
            label: "test texture",
            width: side,
            height: side,
            format: TextureFormat::Rgba8Unorm,
            usage: TextureUsages::COPY_SRC | TextureUsages::COPY_DST,
        })
        .unwrap();
    let buffer = device
        .create_buffer(&BufferDesc {
            label: "test buffer",
            size: u64::from(side * side * 4),
            usage: BufferUsages::COPY_SRC | BufferUsages::COPY_DST,
            location: MemoryLocation::GpuToCpu,
        })
        .unwrap();
    (texture, buffer)
}

/// Synchronization validation is on: two copies into one buffer with no barrier between them
/// (a barrier left out by hand) are reported as a write-after-write hazard while recording.
#[test]
fn a_missing_barrier_is_reported_by_synchronization_validation() {
    let (instance, device, _queue) = open("sync-validation-test");
    let (texture, buffer) = texture_and_buffer(&device, 8);
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc::default())
        .unwrap();
    let region = [BufferTextureCopy {
        buffer_offset: 0,
        origin: (0, 0),
        size: (8, 8),
    }];
    assert_eq!(instance.validation_counts().total(), 0);
    // SAFETY: a fresh encoder; texture and buffer belong to the device. The missing barrier
    // between the copies is the point; the buffer is never submitted.
    unsafe {
        encoder.begin_encoding(None).unwrap();
        encoder.texture_barriers(&[TextureBarrier {
            texture: &texture,
            before: TextureUse::Undefined,
            after: TextureUse::TransferSrc,
            discard: false,
        }]);
        encoder.copy_texture_to_buffer(&texture, &buffer, &region);
        encoder.copy_texture_to_buffer(&texture, &buffer, &region);
        let _unsubmitted = encoder.end_encoding().unwrap();
    }
    let counts = instance.validation_counts();
    assert!(
        counts.errors >= 1,
        "the WAW hazard was not reported: {counts:?}"
    );
}

/// The HAL's building blocks move texels buffer → texture → buffer with use-based barriers
/// and a timeline signal, without a validation message.
#[test]
fn texels_round_trip_through_a_texture() {
    let (instance, device, queue) = open("round-trip-test");
    let side = 16u32;
    let (texture, readback) = texture_and_buffer(&device, side);
    let upload = device
        .create_buffer(&BufferDesc {
            label: "upload",
            size: u64::from(side * side * 4),
            usage: BufferUsages::COPY_SRC,
            location: MemoryLocation::CpuToGpu,
        })
        .unwrap();
    let texels: Vec<u8> = (0..side * side * 4).map(|i| (i * 7 % 251) as u8).collect();
    let fence = device.create_fence().unwrap();
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc::default())
        .unwrap();
    let region = [BufferTextureCopy {
        buffer_offset: 0,
        origin: (0, 0),
        size: (side, side),
    }];
    // SAFETY: nothing uses `upload` yet; the encoder is fresh; every command is recorded
    // outside rendering with the resources in the uses the barriers state; the buffer is
    // submitted once with value 1 (the fence's first signal) and waited before the read.
    unsafe {
        device.write_buffer(&upload, 0, &texels).unwrap();
        encoder.begin_encoding(None).unwrap();
        encoder.texture_barriers(&[TextureBarrier {
            texture: &texture,
            before: TextureUse::Undefined,
            after: TextureUse::TransferDst,
            discard: false,
        }]);
        encoder.copy_buffer_to_texture(&upload, &texture, &region);
        encoder.texture_barriers(&[TextureBarrier {
            texture: &texture,
            before: TextureUse::TransferDst,
            after: TextureUse::TransferSrc,
            discard: false,
        }]);
        encoder.copy_texture_to_buffer(&texture, &readback, &region);
        encoder.buffer_barriers(&[BufferBarrier {
            buffer: &readback,
            before: BufferUse::TransferDst,
            after: BufferUse::HostRead,
        }]);
        let cmd = encoder.end_encoding().unwrap();
        queue.submit(vec![cmd], (&fence, 1)).unwrap();
        assert!(device.wait(&fence, 1, None).unwrap());
        let mut out = Vec::new();
        device
            .read_buffer(&readback, 0, texels.len(), &mut out)
            .unwrap();
        assert_eq!(out, texels);
    }
    assert_eq!(device.fence_value(&fence).unwrap(), 1);
    assert_eq!(instance.validation_counts().total(), 0);
}

/// Objects dropped while a submission uses them are destroyed only once the fence passes
/// its value: the allocation count stays up until then and returns to its start after.
#[test]
fn dropped_objects_live_until_the_fence_passes() {
    let (instance, device, queue) = open("keep-alive-test");
    let start = device.allocation_count();
    let (texture, buffer) = texture_and_buffer(&device, 64);
    assert_eq!(device.allocation_count(), start + 2);
    let fence = device.create_fence().unwrap();
    let mut encoder = device
        .create_command_encoder(&CommandEncoderDesc::default())
        .unwrap();
    // SAFETY: as in `texels_round_trip_through_a_texture`; the value 1 is signalled once.
    unsafe {
        encoder.begin_encoding(None).unwrap();
        encoder.texture_barriers(&[TextureBarrier {
            texture: &texture,
            before: TextureUse::Undefined,
            after: TextureUse::TransferSrc,
            discard: false,
        }]);
        encoder.copy_texture_to_buffer(
            &texture,
            &buffer,
            &[BufferTextureCopy {
                buffer_offset: 0,
                origin: (0, 0),
                size: (64, 64),
            }],
        );
        let cmd = encoder.end_encoding().unwrap();
        queue.submit(vec![cmd], (&fence, 1)).unwrap();
    }
    drop((texture, buffer, encoder));
    // Nothing is released before the fence is asked (or waited) for its value.
    assert_eq!(
        device.allocation_count(),
        start + 2,
        "kept by the pending submission"
    );
    // SAFETY: value 1 was submitted above.
    assert!(unsafe { device.wait(&fence, 1, None) }.unwrap());
    assert_eq!(device.allocation_count(), start, "released after the wait");
    assert_eq!(instance.validation_counts().total(), 0);
}
