//! Surfaces and swapchains (`VK_KHR_surface`, `VK_KHR_swapchain`; Vulkan spec chapter 34,
//! "Window System Integration"): [`Surface`] (one per window, made by `ash-window` from the
//! window's raw handles), [`Swapchain`] (its images wrapped as [`Texture`]s with views, and one
//! binary "render finished" semaphore per image), binary [`Semaphore`]s for acquisition, and
//! the submission and presentation of a window frame.
//!
//! Semaphore reuse follows the spec's swapchain rules: a present semaphore belongs to one
//! image and is signalled again only after that image was acquired again (which happens after
//! the presentation engine consumed the previous wait); an acquire semaphore is reused only
//! after the submission that waited for it completed (the window waits for that timeline
//! value before acquiring with it).

use std::sync::Arc;

use ash::vk;
use raw_window_handle::{RawDisplayHandle, RawWindowHandle};

use super::device::{DeviceShared, TextureInner};
use super::instance::InstanceShared;
use super::{map_oom, map_oom_lost, CommandBuffer, Device, Fence, Instance, KeepAlive, Queue};
use super::{Texture, TextureView};
use crate::hal::{Device as _, TextureViewDesc};
use crate::{DeviceError, EnvironmentError, GraphicsError, TextureFormat, UsageError};

/// How a swapchain paces presentation (`VkPresentModeKHR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PresentMode {
    /// Wait for vertical blank, queue frames (`FIFO`, always supported): no tearing.
    #[default]
    Fifo,
    /// Wait for vertical blank, replace the queued frame (`MAILBOX`): no tearing, low latency.
    Mailbox,
    /// Present at once (`IMMEDIATE`): may tear.
    Immediate,
}

impl PresentMode {
    fn raw(self) -> vk::PresentModeKHR {
        match self {
            PresentMode::Fifo => vk::PresentModeKHR::FIFO,
            PresentMode::Mailbox => vk::PresentModeKHR::MAILBOX,
            PresentMode::Immediate => vk::PresentModeKHR::IMMEDIATE,
        }
    }
}

/// A `VkSurfaceKHR` of one window.
pub(crate) struct Surface {
    instance: Arc<InstanceShared>,
    raw: vk::SurfaceKHR,
}

impl Surface {
    /// Creates a surface for the window behind `display`/`window`.
    ///
    /// # Errors
    /// [`EnvironmentError::MissingExtension`] when the instance was created without surfaces
    /// or lacks the platform's surface extension; out-of-memory.
    ///
    /// # Safety
    /// The handles are valid and the window outlives the surface.
    pub(crate) unsafe fn new(
        instance: &Instance,
        display: RawDisplayHandle,
        window: RawWindowHandle,
    ) -> Result<Surface, GraphicsError> {
        let shared = &instance.shared;
        if shared.surface.is_none() {
            return Err(EnvironmentError::MissingExtension {
                kind: "instance",
                name: ash::khr::surface::NAME.to_string_lossy().into_owned(),
                hint: "create the renderer through `Engine::new`, which enables surfaces",
            }
            .into());
        }
        // SAFETY: the instance is live and has VK_KHR_surface plus every platform surface
        // extension the loader offers; the handles are valid (caller contract).
        let raw = unsafe {
            ash_window::create_surface(&shared.entry, &shared.raw, display, window, None)
        }
        .map_err(|e| match e {
            vk::Result::ERROR_EXTENSION_NOT_PRESENT => EnvironmentError::MissingExtension {
                kind: "instance",
                name: format!("surface extension for {display:?}"),
                hint: "install a Vulkan loader and driver with this window system's surface \
                       extension, or use X11",
            }
            .into(),
            other => GraphicsError::from(map_oom("creating a window surface", other)),
        })?;
        Ok(Surface {
            instance: Arc::clone(shared),
            raw,
        })
    }
}

impl Drop for Surface {
    fn drop(&mut self) {
        if let Some(loader) = &self.instance.surface {
            // SAFETY: created from this instance; its swapchains hold an `Arc<Surface>`, so
            // none is alive.
            unsafe { loader.destroy_surface(self.raw, None) };
        }
    }
}

/// A binary semaphore.
pub(crate) struct Semaphore {
    shared: Arc<DeviceShared>,
    raw: vk::Semaphore,
}

impl Semaphore {
    /// Creates an unsignalled binary semaphore.
    ///
    /// # Errors
    /// Out-of-memory.
    pub(crate) fn new(device: &Device) -> Result<Semaphore, DeviceError> {
        // SAFETY: a plain create info.
        let raw = unsafe {
            device
                .shared
                .raw
                .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
        }
        .map_err(|e| map_oom("creating a semaphore", e))?;
        Ok(Semaphore {
            shared: Arc::clone(&device.shared),
            raw,
        })
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: the owner (a window or its swapchain) drops it only after the submissions
        // and presentations that use it completed.
        unsafe { self.shared.raw.destroy_semaphore(self.raw, None) };
    }
}

/// What acquiring an image returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Image `index` is ours; `suboptimal`: recreate the swapchain after this frame.
    Image {
        /// Index into [`Swapchain::images`].
        index: u32,
        /// The swapchain no longer matches the surface exactly.
        suboptimal: bool,
    },
    /// The swapchain no longer matches the surface: recreate it (no image was acquired and
    /// the semaphore is not signalled).
    OutOfDate,
}

/// A swapchain with its images (as textures and views) and one present semaphore per image.
pub(crate) struct Swapchain {
    // Drop order: views and images before the swapchain (see `Drop`).
    views: Vec<TextureView>,
    images: Vec<Texture>,
    present: Vec<Semaphore>,
    loader: ash::khr::swapchain::Device,
    /// Keeps the device (whose functions `loader` calls) alive until the swapchain is gone.
    _device: Arc<DeviceShared>,
    raw: vk::SwapchainKHR,
    extent: (u32, u32),
    format: TextureFormat,
    mode: PresentMode,
    _surface: Arc<Surface>,
}

impl Swapchain {
    /// Creates a swapchain for `surface` of about `extent` (the surface's current extent wins
    /// when it has one; else `extent` clamped to the surface's limits), in `mode` when the
    /// surface supports it (else FIFO), replacing `old` (which stays to be dropped by the
    /// caller). Returns `None` when the extent is 0 in either dimension (a minimised window;
    /// VUID-VkSwapchainCreateInfoKHR-imageExtent-01689).
    ///
    /// # Errors
    /// [`EnvironmentError::MissingExtension`] without `VK_KHR_swapchain`;
    /// [`UsageError::InvalidConfig`] when the queue cannot present to the surface or the
    /// surface offers no 8-bit UNORM RGBA/BGRA format or no transfer-destination use;
    /// out-of-memory, surface lost.
    pub(crate) fn new(
        device: &Device,
        surface: &Arc<Surface>,
        extent: (u32, u32),
        mode: PresentMode,
        old: Option<&Swapchain>,
    ) -> Result<Option<Swapchain>, GraphicsError> {
        let shared = &device.shared;
        let Some(loader) = shared.swapchain.clone() else {
            return Err(EnvironmentError::MissingExtension {
                kind: "device",
                name: ash::khr::swapchain::NAME.to_string_lossy().into_owned(),
                hint: "use a driver that can present (Mesa lavapipe can) and create the \
                       renderer through `Engine::new`",
            }
            .into());
        };
        let surface_fns = surface
            .instance
            .surface
            .as_ref()
            .expect("a surface exists only on an instance with surfaces");
        let query =
            |what: &'static str, e: vk::Result| -> GraphicsError { map_oom_lost(what, e).into() };
        // SAFETY: the physical device and the surface are live objects of the same instance.
        let supported = unsafe {
            surface_fns.get_physical_device_surface_support(
                shared.physical,
                shared.queue_family,
                surface.raw,
            )
        }
        .map_err(|e| query("querying surface support", e))?;
        if !supported {
            return Err(UsageError::InvalidConfig(format!(
                "queue family {} of the selected adapter cannot present to this window; \
                 select another adapter (MACROKID_ADAPTER)",
                shared.queue_family
            ))
            .into());
        }
        // SAFETY: as for the support query above.
        let caps = unsafe {
            surface_fns.get_physical_device_surface_capabilities(shared.physical, surface.raw)
        }
        .map_err(|e| query("querying surface capabilities", e))?;
        // SAFETY: as for the support query above.
        let formats = unsafe {
            surface_fns.get_physical_device_surface_formats(shared.physical, surface.raw)
        }
        .map_err(|e| query("querying surface formats", e))?;
        // SAFETY: as for the support query above.
        let modes = unsafe {
            surface_fns.get_physical_device_surface_present_modes(shared.physical, surface.raw)
        }
        .map_err(|e| query("querying present modes", e))?;

        let extent = if caps.current_extent.width == u32::MAX {
            (
                extent
                    .0
                    .clamp(caps.min_image_extent.width, caps.max_image_extent.width),
                extent
                    .1
                    .clamp(caps.min_image_extent.height, caps.max_image_extent.height),
            )
        } else {
            (caps.current_extent.width, caps.current_extent.height)
        };
        if extent.0 == 0 || extent.1 == 0 {
            return Ok(None);
        }
        let (format, color_space) = [
            (vk::Format::B8G8R8A8_UNORM, TextureFormat::Bgra8Unorm),
            (vk::Format::R8G8B8A8_UNORM, TextureFormat::Rgba8Unorm),
        ]
        .into_iter()
        .find_map(|(raw, ours)| {
            formats
                .iter()
                .find(|f| f.format == raw)
                .map(|f| (ours, f.color_space))
        })
        .ok_or_else(|| {
            UsageError::InvalidConfig(format!(
                "the window surface offers none of B8G8R8A8_UNORM, R8G8B8A8_UNORM (it offers \
                 {:?}); use a driver whose window system offers one",
                formats.iter().map(|f| f.format).collect::<Vec<_>>()
            ))
        })?;
        let usage = vk::ImageUsageFlags::TRANSFER_DST | vk::ImageUsageFlags::COLOR_ATTACHMENT;
        if !caps.supported_usage_flags.contains(usage) {
            return Err(UsageError::InvalidConfig(format!(
                "the window surface's images support only {:?}, transfer destination and \
                 colour attachment are needed",
                caps.supported_usage_flags
            ))
            .into());
        }
        let mode = if modes.contains(&mode.raw()) {
            mode
        } else {
            tracing::warn!(requested = ?mode, available = ?modes, "present mode not supported, using FIFO");
            PresentMode::Fifo
        };
        let mut count = caps.min_image_count + 1;
        if caps.max_image_count != 0 {
            count = count.min(caps.max_image_count);
        }
        let alpha = [
            vk::CompositeAlphaFlagsKHR::OPAQUE,
            vk::CompositeAlphaFlagsKHR::INHERIT,
            vk::CompositeAlphaFlagsKHR::PRE_MULTIPLIED,
            vk::CompositeAlphaFlagsKHR::POST_MULTIPLIED,
        ]
        .into_iter()
        .find(|a| caps.supported_composite_alpha.contains(*a))
        .unwrap_or(vk::CompositeAlphaFlagsKHR::OPAQUE);
        let info = vk::SwapchainCreateInfoKHR::default()
            .surface(surface.raw)
            .min_image_count(count)
            .image_format(super::conv::map_texture_format(format))
            .image_color_space(color_space)
            .image_extent(vk::Extent2D {
                width: extent.0,
                height: extent.1,
            })
            .image_array_layers(1)
            .image_usage(usage)
            .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
            .pre_transform(caps.current_transform)
            .composite_alpha(alpha)
            .present_mode(mode.raw())
            .clipped(true)
            .old_swapchain(old.map_or(vk::SwapchainKHR::null(), |o| o.raw));
        // SAFETY: the surface is live and supported by the queue family (checked above); the
        // parameters were checked against its capabilities; `old` (if any) belongs to this
        // surface and is retired by this call.
        let raw = unsafe { loader.create_swapchain(&info, None) }.map_err(|e| match e {
            vk::Result::ERROR_NATIVE_WINDOW_IN_USE_KHR | vk::Result::ERROR_SURFACE_LOST_KHR => {
                GraphicsError::from(map_oom_lost("creating a swapchain (surface lost)", e))
            }
            other => map_oom_lost("creating a swapchain", other).into(),
        })?;
        let mut swapchain = Swapchain {
            views: Vec::new(),
            images: Vec::new(),
            present: Vec::new(),
            loader,
            _device: Arc::clone(shared),
            raw,
            extent,
            format,
            mode,
            _surface: Arc::clone(surface),
        };
        // SAFETY: `raw` is a live swapchain of this device.
        let images = unsafe { swapchain.loader.get_swapchain_images(raw) }
            .map_err(|e| map_oom("listing swapchain images", e))?;
        for image in images {
            let texture = Texture {
                inner: Arc::new(TextureInner::swapchain_image(
                    shared, image, format, extent.0, extent.1,
                )),
            };
            swapchain.views.push(device.create_texture_view(
                &texture,
                &TextureViewDesc {
                    label: "swapchain image",
                },
            )?);
            swapchain.images.push(texture);
            swapchain.present.push(Semaphore::new(device)?);
        }
        tracing::debug!(
            ?extent,
            ?format,
            ?mode,
            images = swapchain.images.len(),
            "swapchain created"
        );
        Ok(Some(swapchain))
    }

    /// `(width, height)` of the images.
    pub(crate) fn extent(&self) -> (u32, u32) {
        self.extent
    }

    /// The images' format.
    pub(crate) fn format(&self) -> TextureFormat {
        self.format
    }

    /// The present mode in use.
    pub(crate) fn mode(&self) -> PresentMode {
        self.mode
    }

    /// Number of images.
    pub(crate) fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Image `index` and its view.
    pub(crate) fn image(&self, index: u32) -> (&Texture, &TextureView) {
        (&self.images[index as usize], &self.views[index as usize])
    }

    /// The present ("render finished") semaphore of image `index`.
    pub(crate) fn present_semaphore(&self, index: u32) -> &Semaphore {
        &self.present[index as usize]
    }

    /// Acquires the next image, signalling `semaphore` when it is ready to be written.
    ///
    /// # Errors
    /// Out-of-memory, device or surface lost.
    ///
    /// # Safety
    /// `semaphore` is unsignalled and no pending operation waits for it.
    pub(crate) unsafe fn acquire(&self, semaphore: &Semaphore) -> Result<Acquired, DeviceError> {
        // SAFETY: the swapchain is live; the semaphore is unsignalled with no pending wait
        // (caller contract); no fence.
        match unsafe {
            self.loader
                .acquire_next_image(self.raw, u64::MAX, semaphore.raw, vk::Fence::null())
        } {
            Ok((index, suboptimal)) => Ok(Acquired::Image { index, suboptimal }),
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => Ok(Acquired::OutOfDate),
            Err(e) => Err(map_oom_lost("acquiring a swapchain image", e)),
        }
    }

    /// Presents image `index` once its present semaphore is signalled. Returns `true` when the
    /// swapchain should be recreated (suboptimal or out of date).
    ///
    /// # Errors
    /// Out-of-memory, device or surface lost.
    ///
    /// # Safety
    /// Image `index` was acquired and a submission that signals its present semaphore was
    /// made; it is presented once.
    pub(crate) unsafe fn present(&self, queue: &Queue, index: u32) -> Result<bool, DeviceError> {
        let waits = [self.present[index as usize].raw];
        let swapchains = [self.raw];
        let indices = [index];
        let info = vk::PresentInfoKHR::default()
            .wait_semaphores(&waits)
            .swapchains(&swapchains)
            .image_indices(&indices);
        let q = queue.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the queue is externally synchronised by its mutex; the image was acquired
        // and its semaphore will be signalled by an earlier submission (caller contract).
        match unsafe { self.loader.queue_present(*q, &info) } {
            Ok(suboptimal) => Ok(suboptimal),
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => Ok(true),
            Err(e) => Err(map_oom_lost("presenting a swapchain image", e)),
        }
    }
}

impl Drop for Swapchain {
    fn drop(&mut self) {
        // Views and image wrappers first (a view of a swapchain image is destroyed before the
        // image); command buffers still holding them have completed (the window waits for its
        // frames before dropping a swapchain) or only delay the view's destruction.
        self.views.clear();
        self.images.clear();
        // SAFETY: the owning window waited for every submission that used the images and the
        // present semaphores; a retired swapchain's pending presentations finish before the
        // images are released by the presentation engine.
        unsafe { self.loader.destroy_swapchain(self.raw, None) };
    }
}

/// Submits `buffers` like [`Queue::submit`](crate::hal::Queue::submit), waiting (at all
/// stages) for `wait` and signalling `present` besides the timeline value.
///
/// # Errors
/// Out-of-memory, device lost.
///
/// # Safety
/// As [`Queue::submit`](crate::hal::Queue::submit); `wait` is signalled or will be by an
/// earlier acquisition and is waited for once; `present` is unsignalled with no pending
/// signal.
pub(crate) unsafe fn submit(
    queue: &Queue,
    buffers: Vec<CommandBuffer>,
    signal: (&Fence, u64),
    wait: &Semaphore,
    present: &Semaphore,
) -> Result<(), DeviceError> {
    let (fence, value) = signal;
    let infos: Vec<_> = buffers
        .iter()
        .map(|b| vk::CommandBufferSubmitInfo::default().command_buffer(b.raw))
        .collect();
    let waits = [vk::SemaphoreSubmitInfo::default()
        .semaphore(wait.raw)
        .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
    let signals = [
        vk::SemaphoreSubmitInfo::default()
            .semaphore(fence.inner.raw)
            .value(value)
            .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS),
        vk::SemaphoreSubmitInfo::default()
            .semaphore(present.raw)
            .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS),
    ];
    let submit = vk::SubmitInfo2::default()
        .command_buffer_infos(&infos)
        .wait_semaphore_infos(&waits)
        .signal_semaphore_infos(&signals);
    {
        let q = queue.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the queue is externally synchronised by its mutex; buffers and semaphores
        // satisfy the caller contract; `info` points to locals alive for the call.
        unsafe {
            queue
                .shared
                .raw
                .queue_submit2(*q, &[submit], vk::Fence::null())
        }
        .map_err(|e| map_oom_lost("submitting a window frame", e))?;
    }
    let keep: Vec<KeepAlive> = buffers.into_iter().flat_map(|b| b.keep_alive).collect();
    fence.inner.keep_until(value, keep);
    Ok(())
}
