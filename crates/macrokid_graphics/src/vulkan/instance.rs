//! Loader, instance, validation layer (with synchronization validation) and the debug
//! messenger that reports through `tracing` and counts messages.

use std::ffi::{c_void, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ash::{ext, vk};

use super::{map_create, Instance};
use crate::hal::InstanceDesc;
use crate::{EnvironmentError, GraphicsError, ValidationCounts};

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Counts validation-layer messages by severity. Shared between the debug messenger callback
/// (which may run on any thread) and the renderer.
#[derive(Debug, Default)]
pub struct ValidationCounter {
    warnings: AtomicU64,
    errors: AtomicU64,
}

impl ValidationCounter {
    /// The counts so far.
    pub fn counts(&self) -> ValidationCounts {
        ValidationCounts {
            warnings: self.warnings.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

pub(super) struct Messenger {
    loader: ext::debug_utils::Instance,
    raw: vk::DebugUtilsMessengerEXT,
    /// Leaked `Arc` handed to the callback as user data; reclaimed in `Drop`.
    user_data: *const ValidationCounter,
}

pub(super) struct InstanceShared {
    pub(super) entry: ash::Entry,
    pub(super) raw: ash::Instance,
    pub(super) messenger: Option<Messenger>,
    pub(super) counter: Arc<ValidationCounter>,
    /// `VK_KHR_surface` functions when the instance was created with the surface extensions.
    pub(super) surface: Option<ash::khr::surface::Instance>,
}

// SAFETY: `Messenger::user_data` points to a `ValidationCounter` (atomics only, `Sync`) kept
// alive by the leaked `Arc`; every other field is `Send + Sync` (ash function tables and handles).
unsafe impl Send for InstanceShared {}
// SAFETY: as above; the raw pointer is only dereferenced by the callback as `&ValidationCounter`.
unsafe impl Sync for InstanceShared {}

impl Drop for InstanceShared {
    fn drop(&mut self) {
        // SAFETY: every child object (devices) holds an `Arc<InstanceShared>`, so none is alive
        // now; the messenger was created from this instance and is destroyed before it; the
        // user-data pointer came from `Arc::into_raw` and is reclaimed exactly once, after the
        // messenger that used it is gone.
        unsafe {
            if let Some(m) = self.messenger.take() {
                m.loader.destroy_debug_utils_messenger(m.raw, None);
                drop(Arc::from_raw(m.user_data));
            }
            self.raw.destroy_instance(None);
        }
    }
}

/// The debug-utils messenger callback: counts validation warnings and errors in the
/// [`ValidationCounter`] behind `user_data` and forwards every message to `tracing`.
///
/// # Safety
/// Called only by the Vulkan loader/validation layer for the messenger it was registered with:
/// - `data` is null or points to a valid `VkDebugUtilsMessengerCallbackDataEXT` (with
///   null or NUL-terminated `pMessageIdName`/`pMessage`) for the duration of the call;
/// - `user_data` is null or the `*const ValidationCounter` registered with the messenger,
///   which stays alive until the messenger is destroyed.
unsafe extern "system" fn debug_callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user_data: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes a valid callback-data struct for the duration of the call (or
    // null, handled); `user_data` is the `ValidationCounter` pointer registered at creation and
    // alive until the messenger is destroyed.
    let (id, message, counter) = unsafe {
        let data = data.as_ref();
        let id = data
            .and_then(|d| d.message_id_name_as_c_str())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let message = data
            .and_then(|d| d.message_as_c_str())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            id,
            message,
            (user_data as *const ValidationCounter).as_ref(),
        )
    };
    if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
        if let Some(c) = counter {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        tracing::error!(target: "macrokid_graphics::vulkan::validation", ?types, %id, "{message}");
    } else if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::WARNING) {
        if let Some(c) = counter {
            c.warnings.fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(target: "macrokid_graphics::vulkan::validation", ?types, %id, "{message}");
    } else {
        tracing::debug!(target: "macrokid_graphics::vulkan::validation", ?types, %id, "{message}");
    }
    vk::FALSE
}

pub(super) fn has_extension(props: &[vk::ExtensionProperties], name: &CStr) -> bool {
    props
        .iter()
        .any(|p| p.extension_name_as_c_str().is_ok_and(|n| n == name))
}

pub(super) fn create(desc: &InstanceDesc<'_>) -> Result<Instance, GraphicsError> {
    // SAFETY: loading the Vulkan loader library runs its initialisers; libvulkan is designed
    // to be loaded this way and we keep the `Entry` alive as long as every object made from it.
    let entry = unsafe { ash::Entry::load() }.map_err(|e| EnvironmentError::LoaderMissing {
        reason: e.to_string(),
    })?;

    // SAFETY: plain loader queries with no preconditions beyond a loaded entry.
    let version = unsafe { entry.try_enumerate_instance_version() }
        .map_err(|e| map_create("querying the instance version", e))?
        .unwrap_or(vk::API_VERSION_1_0);
    if version < vk::API_VERSION_1_3 {
        return Err(EnvironmentError::NoAdapter {
            found: format!(
                "the Vulkan loader supports only {}.{}, 1.3 is required",
                vk::api_version_major(version),
                vk::api_version_minor(version)
            ),
        }
        .into());
    }

    let mut layers: Vec<*const std::ffi::c_char> = Vec::new();
    let mut extensions: Vec<*const std::ffi::c_char> = Vec::new();
    if desc.validation {
        // SAFETY: loader query, no preconditions.
        let available = unsafe { entry.enumerate_instance_layer_properties() }
            .map_err(|e| map_create("listing instance layers", e))?;
        let present = available
            .iter()
            .any(|l| l.layer_name_as_c_str().is_ok_and(|n| n == VALIDATION_LAYER));
        if !present {
            return Err(EnvironmentError::ValidationLayerMissing.into());
        }
        // SAFETY: loader query with a valid, NUL-terminated layer name.
        let layer_exts =
            unsafe { entry.enumerate_instance_extension_properties(Some(VALIDATION_LAYER)) }
                .map_err(|e| map_create("listing validation layer extensions", e))?;
        // SAFETY: loader query, no preconditions.
        let global_exts = unsafe { entry.enumerate_instance_extension_properties(None) }
            .map_err(|e| map_create("listing instance extensions", e))?;
        for ext_name in [ext::debug_utils::NAME, ext::validation_features::NAME] {
            if !has_extension(&layer_exts, ext_name) && !has_extension(&global_exts, ext_name) {
                return Err(EnvironmentError::MissingExtension {
                    kind: "instance",
                    name: ext_name.to_string_lossy().into_owned(),
                    hint: "install a newer vulkan-validationlayers package",
                }
                .into());
            }
            extensions.push(ext_name.as_ptr());
        }
        layers.push(VALIDATION_LAYER.as_ptr());
    }

    if desc.surfaces {
        // SAFETY: loader query, no preconditions.
        let global_exts = unsafe { entry.enumerate_instance_extension_properties(None) }
            .map_err(|e| map_create("listing instance extensions", e))?;
        if !has_extension(&global_exts, ash::khr::surface::NAME) {
            return Err(EnvironmentError::MissingExtension {
                kind: "instance",
                name: ash::khr::surface::NAME.to_string_lossy().into_owned(),
                hint: "install a Vulkan driver with window-system support (mesa-vulkan-drivers)",
            }
            .into());
        }
        extensions.push(ash::khr::surface::NAME.as_ptr());
        // Every platform surface extension the loader has: the window's display decides which
        // one `ash-window` uses.
        for name in [
            ash::khr::xlib_surface::NAME,
            ash::khr::xcb_surface::NAME,
            ash::khr::wayland_surface::NAME,
        ] {
            if has_extension(&global_exts, name) {
                extensions.push(name.as_ptr());
            }
        }
    }

    let app_name = CString::new(desc.app_name.replace('\0', " ")).unwrap_or_default();
    let app_info = vk::ApplicationInfo::default()
        .application_name(&app_name)
        .application_version(0)
        .engine_name(c"macrokid")
        .engine_version(vk::make_api_version(0, 0, 1, 0))
        .api_version(vk::API_VERSION_1_3);
    let enabled_features = [vk::ValidationFeatureEnableEXT::SYNCHRONIZATION_VALIDATION];
    let mut validation_features =
        vk::ValidationFeaturesEXT::default().enabled_validation_features(&enabled_features);
    let mut create_info = vk::InstanceCreateInfo::default()
        .application_info(&app_info)
        .enabled_layer_names(&layers)
        .enabled_extension_names(&extensions);
    if desc.validation {
        create_info = create_info.push_next(&mut validation_features);
    }
    // SAFETY: every pointer in `create_info` (names, app info, pNext chain) refers to locals
    // that outlive this call; the extensions were checked above.
    let raw = unsafe { entry.create_instance(&create_info, None) }
        .map_err(|e| map_create("creating the Vulkan instance", e))?;

    let counter = Arc::new(ValidationCounter::default());
    let surface = desc
        .surfaces
        .then(|| ash::khr::surface::Instance::new(&entry, &raw));
    let mut shared = InstanceShared {
        entry,
        raw,
        messenger: None,
        counter,
        surface,
    };
    if desc.validation {
        let loader = ext::debug_utils::Instance::new(&shared.entry, &shared.raw);
        let user_data = Arc::into_raw(Arc::clone(&shared.counter));
        let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
            .message_severity(
                vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                    | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                    | vk::DebugUtilsMessageSeverityFlagsEXT::INFO,
            )
            .message_type(
                vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                    | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                    | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
            )
            .pfn_user_callback(Some(debug_callback))
            .user_data(user_data as *mut c_void);
        // SAFETY: the instance was created with VK_EXT_debug_utils enabled; the callback is a
        // valid `extern "system"` fn and `user_data` stays alive until the messenger is
        // destroyed in `InstanceShared::drop`.
        match unsafe { loader.create_debug_utils_messenger(&info, None) } {
            Ok(raw) => {
                shared.messenger = Some(Messenger {
                    loader,
                    raw,
                    user_data,
                });
            }
            Err(e) => {
                // SAFETY: reclaims the Arc leaked above; the messenger was not created.
                drop(unsafe { Arc::from_raw(user_data) });
                return Err(map_create("creating the debug messenger", e));
            }
        }
    }
    tracing::debug!(validation = desc.validation, "Vulkan instance created");
    Ok(Instance {
        shared: Arc::new(shared),
    })
}

impl crate::hal::Instance<super::Vulkan> for Instance {
    fn init(desc: &InstanceDesc<'_>) -> Result<Instance, GraphicsError> {
        create(desc)
    }

    fn validation_counts(&self) -> ValidationCounts {
        self.shared.counter.counts()
    }

    fn select_adapter(
        &self,
        preference: Option<(&str, &'static str)>,
    ) -> Result<super::Adapter, GraphicsError> {
        super::adapter::select(self, preference)
    }
}
