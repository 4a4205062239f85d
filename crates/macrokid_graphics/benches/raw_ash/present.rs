//! The raw-ash baseline in a window: a `VkSurfaceKHR` made by `ash-window` from a winit
//! window's raw handles, a swapchain, one acquire semaphore per frame in flight and one
//! present semaphore per image, and the frame loop step: wait for the frame slot, acquire,
//! render the scene and blit it into the image ([`RawAsh`]'s frame with
//! [`Output::Present`]), present.
//!
//! Semaphore reuse as in the renderer's windows (Vulkan spec §34.10): acquire semaphore
//! `k = frame mod FRAMES_IN_FLIGHT` is reused after the slot's previous submission (its only
//! waiter) completed; an image's present semaphore is signalled again only after the image was
//! acquired again.

use ash::{khr, vk};
use raw_window_handle::{RawDisplayHandle, RawWindowHandle};

use super::{vkr, DrawMode, Output, RawAsh, RawAshError, SceneDesc, FRAMES_IN_FLIGHT};

impl RawAsh {
    /// [`RawAsh::new`] with the surface extensions the display `display` needs and
    /// `VK_KHR_swapchain`, for [`RawWindow`]s.
    ///
    /// # Errors
    /// As [`RawAsh::new`]; no surface extension for this display.
    pub(crate) fn with_display(
        width: u32,
        height: u32,
        validation: bool,
        scene: &SceneDesc<'_>,
        display: RawDisplayHandle,
    ) -> Result<RawAsh, RawAshError> {
        let extensions = ash_window::enumerate_required_extensions(display)
            .map_err(vkr("ash_window::enumerate_required_extensions"))?;
        Self::create(width, height, validation, scene, extensions)
    }

    /// Waits until the device is idle.
    ///
    /// # Errors
    /// Device lost.
    pub(crate) fn wait_idle(&self) -> Result<(), RawAshError> {
        // SAFETY: the device is live; the queue is used by this thread only.
        unsafe { self.device.device_wait_idle() }.map_err(vkr("vkDeviceWaitIdle"))
    }
}

/// A window's surface and swapchain for a [`RawAsh`] made by [`RawAsh::with_display`].
pub(crate) struct RawWindow {
    device: ash::Device,
    surface_loader: khr::surface::Instance,
    swapchain_loader: khr::swapchain::Device,
    surface: vk::SurfaceKHR,
    swapchain: vk::SwapchainKHR,
    images: Vec<vk::Image>,
    extent: vk::Extent2D,
    mode: vk::PresentModeKHR,
    /// One per frame in flight.
    acquire: Vec<vk::Semaphore>,
    /// One per image.
    rendered: Vec<vk::Semaphore>,
    presented: u64,
}

impl RawWindow {
    /// Creates the surface of the window behind `display`/`window` and a swapchain of
    /// `extent` (the surface's current extent when it has one) in `mode` (FIFO when the
    /// surface does not support it), `B8G8R8A8_UNORM` or `R8G8B8A8_UNORM`, transfer
    /// destination, `minImageCount + 1` images, as the renderer's `Swapchain` does.
    ///
    /// # Errors
    /// Vulkan failures; the queue cannot present to the surface; no 8-bit UNORM format.
    ///
    /// # Safety
    /// The handles are valid and the window outlives the returned value.
    pub(crate) unsafe fn new(
        raw: &RawAsh,
        display: RawDisplayHandle,
        window: RawWindowHandle,
        extent: vk::Extent2D,
        mode: vk::PresentModeKHR,
    ) -> Result<RawWindow, RawAshError> {
        // SAFETY: the instance has the display's surface extensions (`with_display`); the
        // handles are valid (caller contract).
        let surface =
            unsafe { ash_window::create_surface(&raw.entry, &raw.instance, display, window, None) }
                .map_err(vkr("vkCreate*SurfaceKHR"))?;
        let mut out = RawWindow {
            device: raw.device.clone(),
            surface_loader: khr::surface::Instance::new(&raw.entry, &raw.instance),
            swapchain_loader: khr::swapchain::Device::new(&raw.instance, &raw.device),
            surface,
            swapchain: vk::SwapchainKHR::null(),
            images: Vec::new(),
            extent,
            mode,
            acquire: Vec::new(),
            rendered: Vec::new(),
            presented: 0,
        };
        // From here on `Drop` destroys what was made.
        out.create_swapchain(raw, extent, mode)?;
        Ok(out)
    }

    fn create_swapchain(
        &mut self,
        raw: &RawAsh,
        extent: vk::Extent2D,
        mode: vk::PresentModeKHR,
    ) -> Result<(), RawAshError> {
        let (s, physical) = (&self.surface_loader, raw.physical);
        // SAFETY: the physical device and the surface are live objects of one instance.
        let (supported, caps, formats, modes) = unsafe {
            (
                s.get_physical_device_surface_support(physical, raw.queue_family, self.surface)
                    .map_err(vkr("vkGetPhysicalDeviceSurfaceSupportKHR"))?,
                s.get_physical_device_surface_capabilities(physical, self.surface)
                    .map_err(vkr("vkGetPhysicalDeviceSurfaceCapabilitiesKHR"))?,
                s.get_physical_device_surface_formats(physical, self.surface)
                    .map_err(vkr("vkGetPhysicalDeviceSurfaceFormatsKHR"))?,
                s.get_physical_device_surface_present_modes(physical, self.surface)
                    .map_err(vkr("vkGetPhysicalDeviceSurfacePresentModesKHR"))?,
            )
        };
        if !supported {
            return Err(RawAshError::Input(
                "the queue family cannot present to the window".into(),
            ));
        }
        let format = [vk::Format::B8G8R8A8_UNORM, vk::Format::R8G8B8A8_UNORM]
            .into_iter()
            .find_map(|want| formats.iter().find(|f| f.format == want).copied())
            .ok_or_else(|| {
                RawAshError::Input(format!("no 8-bit UNORM swapchain format in {formats:?}"))
            })?;
        let extent = if caps.current_extent.width == u32::MAX {
            vk::Extent2D {
                width: extent
                    .width
                    .clamp(caps.min_image_extent.width, caps.max_image_extent.width),
                height: extent
                    .height
                    .clamp(caps.min_image_extent.height, caps.max_image_extent.height),
            }
        } else {
            caps.current_extent
        };
        let mode = if modes.contains(&mode) {
            mode
        } else {
            vk::PresentModeKHR::FIFO
        };
        let mut count = caps.min_image_count + 1;
        if caps.max_image_count != 0 {
            count = count.min(caps.max_image_count);
        }
        let alpha = if caps
            .supported_composite_alpha
            .contains(vk::CompositeAlphaFlagsKHR::OPAQUE)
        {
            vk::CompositeAlphaFlagsKHR::OPAQUE
        } else {
            vk::CompositeAlphaFlagsKHR::INHERIT
        };
        let info = vk::SwapchainCreateInfoKHR::default()
            .surface(self.surface)
            .min_image_count(count)
            .image_format(format.format)
            .image_color_space(format.color_space)
            .image_extent(extent)
            .image_array_layers(1)
            .image_usage(vk::ImageUsageFlags::TRANSFER_DST)
            .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
            .pre_transform(caps.current_transform)
            .composite_alpha(alpha)
            .present_mode(mode)
            .clipped(true);
        // SAFETY: the surface is live and supported by the queue family (checked above); the
        // parameters come from its capabilities.
        self.swapchain = unsafe { self.swapchain_loader.create_swapchain(&info, None) }
            .map_err(vkr("vkCreateSwapchainKHR"))?;
        // SAFETY: a live swapchain of this device.
        self.images = unsafe { self.swapchain_loader.get_swapchain_images(self.swapchain) }
            .map_err(vkr("vkGetSwapchainImagesKHR"))?;
        self.extent = extent;
        self.mode = mode;
        for i in 0..FRAMES_IN_FLIGHT + self.images.len() {
            // SAFETY: a plain create info on a live device.
            let semaphore = unsafe {
                self.device
                    .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
            }
            .map_err(vkr("vkCreateSemaphore"))?;
            if i < FRAMES_IN_FLIGHT {
                self.acquire.push(semaphore);
            } else {
                self.rendered.push(semaphore);
            }
        }
        Ok(())
    }

    /// The present mode in use.
    pub(crate) fn present_mode(&self) -> vk::PresentModeKHR {
        self.mode
    }

    /// The swapchain's extent.
    pub(crate) fn extent(&self) -> vk::Extent2D {
        self.extent
    }

    /// Frames presented so far.
    pub(crate) fn presented(&self) -> u64 {
        self.presented
    }

    /// One frame: waits for the next frame slot, acquires an image, renders `instances` (one
    /// instanced draw recorded on one thread) and blits the colour target into the image,
    /// presents it.
    ///
    /// # Errors
    /// Vulkan failures; the swapchain went out of date (the window changed size: the bench
    /// keeps its windows' sizes).
    pub(crate) fn frame(
        &mut self,
        raw: &mut RawAsh,
        instances: &[u8],
        pool: &rayon::ThreadPool,
    ) -> Result<(), RawAshError> {
        raw.wait_for_next_slot()?;
        let acquired = self.acquire[raw.next_slot()];
        // SAFETY: the semaphore's last waiter (the slot's previous submission) completed
        // (waited above), so it is unsignalled with no pending operation.
        let (index, _suboptimal) = unsafe {
            self.swapchain_loader.acquire_next_image(
                self.swapchain,
                u64::MAX,
                acquired,
                vk::Fence::null(),
            )
        }
        .map_err(vkr("vkAcquireNextImageKHR"))?;
        let rendered = self.rendered[index as usize];
        raw.submit_to(
            instances,
            DrawMode::Instanced,
            1,
            pool,
            &Output::Present {
                image: self.images[index as usize],
                extent: self.extent,
                acquired,
                rendered,
            },
        )?;
        let waits = [rendered];
        let swapchains = [self.swapchain];
        let indices = [index];
        let info = vk::PresentInfoKHR::default()
            .wait_semaphores(&waits)
            .swapchains(&swapchains)
            .image_indices(&indices);
        // SAFETY: image `index` was acquired above and the submission signals its present
        // semaphore; the queue is used by this thread only.
        unsafe { self.swapchain_loader.queue_present(raw.queue, &info) }
            .map_err(vkr("vkQueuePresentKHR"))?;
        self.presented += 1;
        Ok(())
    }
}

impl Drop for RawWindow {
    fn drop(&mut self) {
        // SAFETY: after the device is idle nothing uses the semaphores, images or swapchain
        // (the last presentations' semaphore waits end with the idle queue); the swapchain is
        // destroyed before its surface.
        unsafe {
            let _idle = self.device.device_wait_idle();
            for semaphore in self.acquire.drain(..).chain(self.rendered.drain(..)) {
                self.device.destroy_semaphore(semaphore, None);
            }
            if self.swapchain != vk::SwapchainKHR::null() {
                self.swapchain_loader
                    .destroy_swapchain(self.swapchain, None);
            }
            self.surface_loader.destroy_surface(self.surface, None);
        }
    }
}
