//! `cargo xtask shaders [--check]`: GLSL sources in `shaders/` compiled to
//! SPIR-V with `glslc --target-env=vulkan1.3 -O`, validated with
//! `spirv-val --target-env vulkan1.3`, written next to the source as
//! `NAME.EXT.spv`. The `.spv` files are committed so that `cargo build` needs
//! no shader tools; `--check` compiles into a temporary file and fails when a
//! committed `.spv` differs (stale) or is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{packages, TaskResult};

/// Shader stages glslc infers from the file extension.
const STAGES: &[&str] = &["vert", "frag", "comp", "geom", "tesc", "tese"];

pub(crate) fn run(root: &Path, args: &[String]) -> TaskResult {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        other => {
            return Err(format!(
                "`cargo xtask shaders` takes only `--check`, got {other:?}"
            ))
        }
    };
    packages::ensure(packages::SHADER_TOOLS)?;
    let dir = root.join("shaders");
    let sources = sources(&dir)?;
    if sources.is_empty() {
        return Err(format!("no shader sources in {}", dir.display()));
    }
    let scratch = std::env::temp_dir().join(format!("macrokid-shaders-{}", std::process::id()));
    fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut stale = Vec::new();
    for source in &sources {
        let file_name = source.file_name().unwrap_or_default().to_string_lossy();
        let committed = dir.join(format!("{file_name}.spv"));
        let fresh = scratch.join(format!("{file_name}.spv"));
        compile(source, &fresh)?;
        validate(&fresh)?;
        let fresh_bytes = fs::read(&fresh).map_err(|e| format!("{}: {e}", fresh.display()))?;
        if check {
            match fs::read(&committed) {
                Ok(bytes) if bytes == fresh_bytes => {
                    println!("up to date: {}", committed.display())
                }
                Ok(_) => stale.push(format!("{} is stale", committed.display())),
                Err(_) => stale.push(format!("{} is missing", committed.display())),
            }
        } else {
            fs::write(&committed, &fresh_bytes)
                .map_err(|e| format!("{}: {e}", committed.display()))?;
            println!("compiled {} -> {}", source.display(), committed.display());
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; run `cargo xtask shaders` and commit the .spv files",
            stale.join(", ")
        ))
    }
}

/// GLSL sources in `dir`, sorted by name.
fn sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| STAGES.contains(&e))
        })
        .collect();
    found.sort();
    Ok(found)
}

fn compile(source: &Path, out: &Path) -> TaskResult {
    let output = Command::new("glslc")
        .arg("--target-env=vulkan1.3")
        .arg("-O")
        .arg(source)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| format!("could not run glslc: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "glslc failed on {}:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn validate(spv: &Path) -> TaskResult {
    let output = Command::new("spirv-val")
        .args(["--target-env", "vulkan1.3"])
        .arg(spv)
        .output()
        .map_err(|e| format!("could not run spirv-val: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "spirv-val rejected {}:\n{}{}",
            spv.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
