//! GPU resources at the renderer level: the submission timeline, the upload path (a reused
//! staging buffer and command encoder) and uploaded meshes.
#![expect(
    unsafe_code,
    reason = "drives the HAL's unsafe submit, wait and recording functions and states their contracts"
)]

use std::sync::Mutex;

mod material;
mod registry;

pub use material::MaterialDesc;
pub(crate) use material::{MaterialEntry, SamplerCache, TextureEntry};
pub(crate) use registry::{read, write, MeshEntry, Registry};
pub use registry::{
    MaterialHandle, MaterialKind, MeshHandle, MeshKind, TextureHandle, TextureKind,
};

use crate::hal::{
    BufferBarrier, BufferCopy, BufferDesc, BufferTextureCopy, BufferUsages, CommandEncoder as _,
    CommandEncoderDesc, Device as _, MemoryLocation, Queue as _, RenderBackend, TextureBarrier,
    TextureDesc, TextureUsages, TextureViewDesc,
};
use crate::scene::Vertex;
use crate::{BufferUse, DeviceError, GraphicsError, TextureFormat, TextureUse, UsageError};

/// The queue's submission timeline: one timeline fence whose value counts submissions.
/// Frames and uploads both submit through it, so "the GPU passed submission `v`" is one
/// comparison.
pub(crate) struct Timeline<B: RenderBackend> {
    fence: B::Fence,
    /// The value the last successful submission signals.
    last: Mutex<u64>,
}

impl<B: RenderBackend> Timeline<B> {
    pub(crate) fn new(device: &B::Device) -> Result<Timeline<B>, DeviceError> {
        Ok(Timeline {
            fence: device.create_fence()?,
            last: Mutex::new(0),
        })
    }

    /// Submits `buffers`; returns the value that signals their completion.
    ///
    /// # Safety
    /// As [`Queue::submit`](crate::hal::Queue::submit) for the buffers (primaries of this
    /// queue's device, each submitted once, encoders not reset before the returned value is
    /// reached, barriers ordering them after earlier submissions).
    pub(crate) unsafe fn submit(
        &self,
        queue: &B::Queue,
        buffers: Vec<B::CommandBuffer>,
    ) -> Result<u64, DeviceError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let value = *last + 1;
        // SAFETY: the caller upholds the buffer contract; `value` exceeds every value
        // signalled before because `last` only grows and is updated under this lock.
        unsafe { queue.submit(buffers, (&self.fence, value)) }?;
        *last = value;
        Ok(value)
    }

    /// Like [`Timeline::submit`], with `submit` doing the submission that signals the given
    /// `(fence, value)` (a window frame's, which also waits for and signals swapchain
    /// semaphores).
    ///
    /// # Safety
    /// `submit` upholds [`Queue::submit`](crate::hal::Queue::submit)'s contract for what it
    /// submits and signals exactly the value it is given when it returns `Ok`.
    pub(crate) unsafe fn submit_with(
        &self,
        submit: impl FnOnce((&B::Fence, u64)) -> Result<(), DeviceError>,
    ) -> Result<u64, DeviceError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let value = *last + 1;
        submit((&self.fence, value))?;
        *last = value;
        Ok(value)
    }

    /// The value the last successful submission signals (0 before the first).
    pub(crate) fn last_submitted(&self) -> u64 {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value the GPU has reached.
    pub(crate) fn completed(&self, device: &B::Device) -> Result<u64, DeviceError> {
        device.fence_value(&self.fence)
    }

    /// Waits until the GPU reached `value` (a value returned by [`Timeline::submit`]).
    pub(crate) fn wait(&self, device: &B::Device, value: u64) -> Result<(), DeviceError> {
        debug_assert!(value <= *self.last.lock().unwrap_or_else(|p| p.into_inner()));
        // SAFETY: `value` was returned by a successful `submit`, so it will be signalled.
        unsafe { device.wait(&self.fence, value, None) }.map(|_| ())
    }
}

/// Upload slots in the ring: this many uploads may be in flight before one waits.
const UPLOAD_RING: usize = 3;

/// One slot of the upload ring: a command encoder and a staging buffer, reused.
struct UploadSlot<B: RenderBackend> {
    encoder: B::CommandEncoder,
    staging: Option<B::Buffer>,
    /// Timeline value of the slot's last upload submission.
    last: Option<u64>,
}

/// Copies host data into device-local buffers and textures through a ring of
/// [`UPLOAD_RING`] staging buffers and command encoders, all reused: an upload takes the next
/// slot and waits only for that slot's previous upload (then rewrites its staging memory and
/// resets its encoder), never for its own copy — later submissions on the queue are ordered
/// after it by its closing barrier.
pub(crate) struct Uploader<B: RenderBackend> {
    ring: Vec<UploadSlot<B>>,
    next: usize,
}

impl<B: RenderBackend> Uploader<B> {
    pub(crate) fn new(device: &B::Device) -> Result<Uploader<B>, DeviceError> {
        let ring = (0..UPLOAD_RING)
            .map(|_| {
                Ok(UploadSlot {
                    encoder: device
                        .create_command_encoder(&CommandEncoderDesc { label: "uploads" })?,
                    staging: None,
                    last: None,
                })
            })
            .collect::<Result<_, DeviceError>>()?;
        Ok(Uploader { ring, next: 0 })
    }

    /// Writes `bytes` into the next slot's staging buffer and submits what `record` records
    /// (it gets the staging buffer, in [`BufferUse::TransferSrc`]).
    fn upload(
        &mut self,
        device: &B::Device,
        queue: &B::Queue,
        timeline: &Timeline<B>,
        bytes: &[u8],
        record: impl FnOnce(&mut B::CommandEncoder, &B::Buffer),
    ) -> Result<(), DeviceError> {
        let slot = &mut self.ring[self.next];
        self.next = (self.next + 1) % UPLOAD_RING;
        if let Some(last) = slot.last.take() {
            timeline.wait(device, last)?;
        }
        let size = (bytes.len() as u64).max(4);
        if slot.staging.as_ref().is_none_or(|s| {
            use crate::hal::Buffer as _;
            s.size() < size
        }) {
            slot.staging = Some(device.create_buffer(&BufferDesc {
                label: "staging",
                size: size.next_power_of_two().max(1 << 16),
                usage: BufferUsages::COPY_SRC,
                location: MemoryLocation::CpuToGpu,
            })?);
        }
        let staging = slot.staging.as_ref().expect("created above");
        // SAFETY: the slot's previous upload (the only user of its staging buffer and
        // encoder) completed: waited above; frames never use either.
        unsafe {
            slot.encoder.reset_all()?;
            device.write_buffer(staging, 0, bytes)?;
            slot.encoder.begin_encoding(Some("upload"))?;
        }
        record(&mut slot.encoder, staging);
        // SAFETY: recording, outside rendering (the closures below record copies and barriers).
        let cmd = unsafe { slot.encoder.end_encoding() }?;
        // SAFETY: a primary of this device, submitted once; the encoder is reset only after
        // waiting for this value (this slot's next upload); the closing barrier orders later
        // users.
        slot.last = Some(unsafe { timeline.submit(queue, vec![cmd]) }?);
        Ok(())
    }

    /// Creates a device-local buffer of `usage` holding `bytes`, ready for `after` use.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn buffer(
        &mut self,
        device: &B::Device,
        queue: &B::Queue,
        timeline: &Timeline<B>,
        label: &str,
        usage: BufferUsages,
        after: BufferUse,
        bytes: &[u8],
    ) -> Result<B::Buffer, DeviceError> {
        let dst = device.create_buffer(&BufferDesc {
            label,
            size: bytes.len() as u64,
            usage: usage | BufferUsages::COPY_DST,
            location: MemoryLocation::GpuOnly,
        })?;
        let size = bytes.len() as u64;
        self.upload(device, queue, timeline, bytes, |encoder, staging| {
            // SAFETY: recording outside rendering; the staging buffer holds `size` bytes at 0
            // (written above) and `dst` is new with `size` bytes, in TransferDst from the start
            // (a new buffer has no earlier use); the barrier moves it to `after`.
            unsafe {
                if size > 0 {
                    encoder.copy_buffer_to_buffer(
                        staging,
                        &dst,
                        &[BufferCopy {
                            src_offset: 0,
                            dst_offset: 0,
                            size,
                        }],
                    );
                }
                encoder.buffer_barriers(&[BufferBarrier {
                    buffer: &dst,
                    before: BufferUse::TransferDst,
                    after,
                }]);
            }
        })?;
        Ok(dst)
    }

    /// Creates a sampled 2D texture holding `pixels` (tightly packed rows, top to bottom) and
    /// a view of it, ready for [`TextureUse::Sampled`].
    ///
    /// # Errors
    /// [`UsageError::TextureData`] when `pixels` is not `width × height × texel size` bytes or
    /// a side is zero; out-of-memory.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn texture(
        &mut self,
        device: &B::Device,
        queue: &B::Queue,
        timeline: &Timeline<B>,
        label: &str,
        width: u32,
        height: u32,
        format: TextureFormat,
        pixels: &[u8],
    ) -> Result<(B::Texture, B::TextureView), GraphicsError> {
        let expected = u64::from(width) * u64::from(height) * u64::from(format.bytes_per_texel());
        if width == 0 || height == 0 || expected != pixels.len() as u64 || format.is_depth() {
            return Err(UsageError::TextureData {
                label: label.to_owned(),
                width,
                height,
                format,
                expected,
                actual: pixels.len() as u64,
            }
            .into());
        }
        let texture = device.create_texture(&TextureDesc {
            label,
            width,
            height,
            format,
            usage: TextureUsages::SAMPLED | TextureUsages::COPY_DST,
        })?;
        let view = device.create_texture_view(&texture, &TextureViewDesc { label })?;
        self.upload(device, queue, timeline, pixels, |encoder, staging| {
            // SAFETY: recording outside rendering; the texture is new (Undefined) and moves to
            // TransferDst, receives the whole image from the staging buffer (tightly packed,
            // `expected` bytes written above), then moves to Sampled.
            unsafe {
                encoder.texture_barriers(&[TextureBarrier {
                    texture: &texture,
                    before: TextureUse::Undefined,
                    after: TextureUse::TransferDst,
                    discard: false,
                }]);
                encoder.copy_buffer_to_texture(
                    staging,
                    &texture,
                    &[BufferTextureCopy {
                        buffer_offset: 0,
                        origin: (0, 0),
                        size: (width, height),
                    }],
                );
                encoder.texture_barriers(&[TextureBarrier {
                    texture: &texture,
                    before: TextureUse::TransferDst,
                    after: TextureUse::Sampled,
                    discard: false,
                }]);
            }
        })?;
        Ok((texture, view))
    }
}

/// Checks a triangle list: a non-zero multiple of 3 indices, each below `vertices.len()`.
pub(crate) fn check_triangles(vertices: &[Vertex], indices: &[u32]) -> Result<(), UsageError> {
    if indices.is_empty() || indices.len() % 3 != 0 {
        return Err(UsageError::MeshData {
            reason: format!(
                "{} indices; a triangle list needs a non-zero multiple of 3",
                indices.len()
            ),
        });
    }
    if let Some((i, &bad)) = indices
        .iter()
        .enumerate()
        .find(|(_, &ix)| ix as usize >= vertices.len())
    {
        return Err(UsageError::MeshData {
            reason: format!(
                "index {i} is {bad} but there are only {} vertices",
                vertices.len()
            ),
        });
    }
    Ok(())
}

/// The bytes of a slice of plain `#[repr(C)]` `f32` data.
pub(crate) fn f32_bytes<T: F32Pod>(items: &[T]) -> &[u8] {
    // SAFETY: `T: F32Pod` is `#[repr(C)]` and made only of `f32`s without padding, so every
    // byte is initialised and the slice may be viewed as `size_of_val(items)` bytes.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items)) }
}

/// Marker for `#[repr(C)]` types made only of `f32` fields (no padding).
///
/// # Safety
/// Implement only for such types.
pub(crate) unsafe trait F32Pod: Copy {}
// SAFETY: `Vertex` is `#[repr(C)]` with 12 `f32`s (48 bytes, asserted in scene/mod.rs).
unsafe impl F32Pod for Vertex {}
// SAFETY: `InstanceData` is `#[repr(C)]` with 20 `f32`s (80 bytes, asserted in passes/mesh.rs).
unsafe impl F32Pod for crate::InstanceData {}
