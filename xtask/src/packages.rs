//! System packages the project needs, how to tell whether each is present,
//! and installing the missing ones with `apt-get` (Debian/Ubuntu).

use std::path::Path;
use std::process::Command;

use crate::TaskResult;

/// One system requirement: how to detect it and which Debian package brings it.
pub(crate) struct Requirement {
    /// What it is, for messages.
    what: &'static str,
    /// The Debian package that provides it.
    package: &'static str,
    /// Whether it is present on this machine.
    present: fn() -> bool,
}

/// The Vulkan loader (`libvulkan.so.1`).
const LOADER: Requirement = Requirement {
    what: "the Vulkan loader (libvulkan.so.1)",
    package: "libvulkan1",
    present: || has_library("libvulkan.so.1"),
};

/// A Vulkan driver: any installable client driver manifest.
const DRIVER: Requirement = Requirement {
    what: "a Vulkan driver (Mesa lavapipe works on any CPU)",
    package: "mesa-vulkan-drivers",
    present: || {
        ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
            .iter()
            .any(|dir| dir_has_json(Path::new(dir)))
    },
};

/// The Khronos validation layer (tests fail on any validation message, so they need it).
const VALIDATION: Requirement = Requirement {
    what: "the Khronos Vulkan validation layer",
    package: "vulkan-validationlayers",
    present: || {
        [
            "/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json",
            "/etc/vulkan/explicit_layer.d/VkLayer_khronos_validation.json",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
    },
};

/// The GLSL compiler.
const GLSLC: Requirement = Requirement {
    what: "glslc (GLSL to SPIR-V compiler)",
    package: "glslc",
    present: || has_program("glslc"),
};

/// The SPIR-V validator.
const SPIRV_VAL: Requirement = Requirement {
    what: "spirv-val (SPIR-V validator)",
    package: "spirv-tools",
    present: || has_program("spirv-val"),
};

/// Xvfb, the virtual X server the window tests start when `DISPLAY` is unset.
const XVFB: Requirement = Requirement {
    what: "Xvfb (virtual X server for the window tests)",
    package: "xvfb",
    present: || has_program("Xvfb"),
};

/// xwd, which the window tests use to read a window's pixels back from the X server.
const XWD: Requirement = Requirement {
    what: "xwd (X window dump, for the window tests)",
    package: "x11-apps",
    present: || has_program("xwd"),
};

/// What running the showcase needs.
pub(crate) const RUNTIME: &[Requirement] = &[LOADER, DRIVER, VALIDATION];

/// What the tests and the shader check need.
pub(crate) const ALL: &[Requirement] = &[LOADER, DRIVER, VALIDATION, GLSLC, SPIRV_VAL, XVFB, XWD];

/// What compiling shaders needs.
pub(crate) const SHADER_TOOLS: &[Requirement] = &[GLSLC, SPIRV_VAL];

/// Makes sure every requirement is present: installs the missing packages
/// with `apt-get` when running as root where `apt-get` exists.
///
/// # Errors
/// When something is missing and cannot be installed here; the message holds
/// the exact command to run.
pub(crate) fn ensure(requirements: &[Requirement]) -> TaskResult {
    let missing: Vec<&Requirement> = requirements.iter().filter(|r| !(r.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
    packages.dedup();
    let list = packages.join(" ");
    for r in &missing {
        println!("xtask: missing {} (package {})", r.what, r.package);
    }
    if !(is_root() && has_program("apt-get")) {
        return Err(format!(
            "missing system packages; install them with:\n    sudo apt-get update && sudo apt-get install -y {list}"
        ));
    }
    println!("xtask: installing {list} with apt-get");
    let update = Command::new("apt-get")
        .args(["update", "-q"])
        .status()
        .map_err(|e| format!("could not run apt-get update: {e}"))?;
    if !update.success() {
        return Err(format!(
            "`apt-get update` failed ({update}); run by hand:\n    apt-get update && apt-get install -y {list}"
        ));
    }
    let install = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("could not run apt-get install: {e}"))?;
    if !install.success() {
        return Err(format!(
            "`apt-get install` failed ({install}); run by hand:\n    apt-get update && apt-get install -y {list}"
        ));
    }
    let still: Vec<&str> = missing
        .iter()
        .filter(|r| !(r.present)())
        .map(|r| r.what)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "installed {list}, but still missing: {}",
            still.join(", ")
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn has_library(name: &str) -> bool {
    if let Ok(out) = Command::new("ldconfig").arg("-p").output() {
        if String::from_utf8_lossy(&out.stdout).contains(name) {
            return true;
        }
    }
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ]
    .iter()
    .any(|dir| Path::new(dir).join(name).exists())
}

fn dir_has_json(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|ext| ext == "json"))
    })
}
