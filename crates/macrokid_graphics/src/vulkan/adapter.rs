//! Physical-device selection and logical-device creation.

use std::sync::Arc;

use ash::vk;

use super::{
    conv, device::DeviceShared, instance::has_extension, map_create, map_unexpected, Adapter,
    Device, Instance, Queue, Vulkan,
};
use crate::hal::Capabilities;
use crate::{AdapterInfo, EnvironmentError, GraphicsError};

/// Why a physical device cannot be used, or the adapter it becomes.
fn probe(instance: &ash::Instance, raw: vk::PhysicalDevice) -> Result<Adapter, (String, String)> {
    // SAFETY: `raw` was enumerated from this instance, which is alive.
    let props = unsafe { instance.get_physical_device_properties(raw) };
    let name = props
        .device_name_as_c_str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<unnamed device>".to_owned());
    if props.api_version < vk::API_VERSION_1_3 {
        return Err((name, "supports only Vulkan < 1.3".to_owned()));
    }
    let mut v13 = vk::PhysicalDeviceVulkan13Features::default();
    let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
    let mut features = vk::PhysicalDeviceFeatures2::default()
        .push_next(&mut v13)
        .push_next(&mut v12);
    let mut driver = vk::PhysicalDeviceDriverProperties::default();
    let mut props2 = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
    // SAFETY: as above; the pNext chains point to locals that outlive the calls, and the
    // device supports Vulkan 1.3 so these 1.1/1.2/1.3 structures are valid to query.
    let families = unsafe {
        instance.get_physical_device_features2(raw, &mut features);
        instance.get_physical_device_properties2(raw, &mut props2);
        instance.get_physical_device_queue_family_properties(raw)
    };
    if v13.dynamic_rendering == vk::FALSE
        || v13.synchronization2 == vk::FALSE
        || v12.timeline_semaphore == vk::FALSE
    {
        return Err((
            name,
            "lacks dynamicRendering, synchronization2 or timelineSemaphore".to_owned(),
        ));
    }
    // SAFETY: `raw` was enumerated from this instance, which is alive.
    let extensions =
        unsafe { instance.enumerate_device_extension_properties(raw) }.unwrap_or_default();
    let mut caps = Capabilities {
        timestamp_period_ns: None,
        push_descriptors: has_extension(&extensions, ash::khr::push_descriptor::NAME),
        descriptor_indexing: v12.runtime_descriptor_array == vk::TRUE
            && v12.descriptor_binding_partially_bound == vk::TRUE
            && v12.shader_sampled_image_array_non_uniform_indexing == vk::TRUE
            && v12.descriptor_binding_sampled_image_update_after_bind == vk::TRUE,
    };
    let Some(queue_family) = families
        .iter()
        .position(|f| f.queue_flags.contains(vk::QueueFlags::GRAPHICS) && f.queue_count > 0)
    else {
        return Err((name, "has no graphics queue".to_owned()));
    };
    let timestamps = props.limits.timestamp_compute_and_graphics == vk::TRUE
        && families[queue_family].timestamp_valid_bits > 0;
    caps.timestamp_period_ns = timestamps.then_some(props.limits.timestamp_period);
    let driver_name = driver
        .driver_name_as_c_str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver_info = driver
        .driver_info_as_c_str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Adapter {
        raw,
        info: AdapterInfo {
            name,
            kind: conv::map_device_type(props.device_type),
            driver: format!("{driver_name} {driver_info}").trim().to_owned(),
            api_version: (
                vk::api_version_major(props.api_version),
                vk::api_version_minor(props.api_version),
                vk::api_version_patch(props.api_version),
            ),
        },
        queue_family: queue_family as u32,
        caps,
        cache_header: {
            let mut h = [0u8; 32];
            h[0..4].copy_from_slice(&32u32.to_le_bytes());
            h[4..8].copy_from_slice(&1u32.to_le_bytes()); // VK_PIPELINE_CACHE_HEADER_VERSION_ONE
            h[8..12].copy_from_slice(&props.vendor_id.to_le_bytes());
            h[12..16].copy_from_slice(&props.device_id.to_le_bytes());
            h[16..32].copy_from_slice(&props.pipeline_cache_uuid);
            h
        },
    })
}

pub(super) fn select(
    instance: &Instance,
    preference: Option<(&str, &'static str)>,
) -> Result<Adapter, GraphicsError> {
    let raw_instance = &instance.shared.raw;
    // SAFETY: the instance is alive.
    let devices = unsafe { raw_instance.enumerate_physical_devices() }
        .map_err(|e| map_create("enumerating physical devices", e))?;
    let mut usable = Vec::new();
    let mut rejected = Vec::new();
    for raw in devices {
        match probe(raw_instance, raw) {
            Ok(a) => usable.push(a),
            Err((name, why)) => rejected.push(format!("{name} {why}")),
        }
    }
    if let Some((wanted, source)) = preference {
        let needle = wanted.to_lowercase();
        let position = usable
            .iter()
            .position(|a| a.info.name.to_lowercase().contains(&needle));
        return match position {
            Some(i) => Ok(usable.swap_remove(i)),
            None => Err(EnvironmentError::AdapterNotFound {
                requested: wanted.to_owned(),
                source_of_request: source,
                available: usable.iter().map(|a| a.info.name.clone()).collect(),
            }
            .into()),
        };
    }
    // Stable sort: ties keep the driver's enumeration order.
    usable.sort_by_key(|a| a.info.kind);
    if usable.is_empty() {
        return Err(EnvironmentError::NoAdapter {
            found: if rejected.is_empty() {
                "the loader reports no physical devices".to_owned()
            } else {
                rejected.join("; ")
            },
        }
        .into());
    }
    Ok(usable.swap_remove(0))
}

pub(super) fn open(
    instance: &Instance,
    adapter: &Adapter,
) -> Result<(Device, Queue), GraphicsError> {
    let priorities = [1.0f32];
    let queue_info = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(adapter.queue_family)
        .queue_priorities(&priorities)];
    let mut v13 = vk::PhysicalDeviceVulkan13Features::default()
        .dynamic_rendering(true)
        .synchronization2(true);
    let mut v12 = vk::PhysicalDeviceVulkan12Features::default().timeline_semaphore(true);
    if adapter.caps.descriptor_indexing {
        v12 = v12
            .runtime_descriptor_array(true)
            .descriptor_binding_partially_bound(true)
            .shader_sampled_image_array_non_uniform_indexing(true)
            .descriptor_binding_sampled_image_update_after_bind(true);
    }
    let mut extensions = Vec::new();
    if adapter.caps.push_descriptors {
        extensions.push(ash::khr::push_descriptor::NAME.as_ptr());
    }
    let swapchain = instance.shared.surface.is_some() && {
        // SAFETY: the physical device belongs to this live instance.
        let available = unsafe {
            instance
                .shared
                .raw
                .enumerate_device_extension_properties(adapter.raw)
        }
        .unwrap_or_default();
        has_extension(&available, ash::khr::swapchain::NAME)
    };
    if swapchain {
        extensions.push(ash::khr::swapchain::NAME.as_ptr());
    }
    let create_info = vk::DeviceCreateInfo::default()
        .queue_create_infos(&queue_info)
        .enabled_extension_names(&extensions)
        .push_next(&mut v13)
        .push_next(&mut v12);
    let raw_instance = &instance.shared.raw;
    // SAFETY: the physical device belongs to this live instance; the features were checked in
    // `probe`; all pointers refer to locals that outlive the call.
    let raw = unsafe { raw_instance.create_device(adapter.raw, &create_info, None) }
        .map_err(|e| map_create("creating the Vulkan device", e))?;
    // SAFETY: the family/index pair was requested in `create_info`.
    let queue = unsafe { raw.get_device_queue(adapter.queue_family, 0) };

    let mut alloc_info = vk_mem::AllocatorCreateInfo::new(raw_instance, &raw, adapter.raw);
    alloc_info.vulkan_api_version = vk::API_VERSION_1_3;
    // SAFETY: instance, device and physical device are valid and outlive the allocator
    // (`DeviceShared` drops the allocator before destroying the device, and holds the instance).
    let allocator = match unsafe { vk_mem::Allocator::new(alloc_info) } {
        Ok(a) => a,
        Err(e) => {
            // SAFETY: nothing was created from the device yet.
            unsafe { raw.destroy_device(None) };
            return Err(map_unexpected("creating the memory allocator", e).into());
        }
    };
    let debug_utils = instance
        .shared
        .messenger
        .is_some()
        .then(|| ash::ext::debug_utils::Device::new(raw_instance, &raw));
    let push_descriptor = adapter
        .caps
        .push_descriptors
        .then(|| ash::khr::push_descriptor::Device::new(raw_instance, &raw));
    let swapchain = swapchain.then(|| ash::khr::swapchain::Device::new(raw_instance, &raw));
    let shared = Arc::new(DeviceShared::new(
        Arc::clone(&instance.shared),
        raw,
        allocator,
        adapter.queue_family,
        queue,
        push_descriptor,
        debug_utils,
        adapter.cache_header,
        adapter.raw,
        swapchain,
    ));
    Ok((
        Device {
            shared: Arc::clone(&shared),
        },
        Queue { shared },
    ))
}

impl crate::hal::Adapter<Vulkan> for Adapter {
    fn info(&self) -> AdapterInfo {
        self.info.clone()
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    unsafe fn open(&self, instance: &Instance) -> Result<(Device, Queue), GraphicsError> {
        open(instance, self)
    }
}
