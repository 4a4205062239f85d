//! A second lavapipe beside the system one: Mesa from Debian's `<codename>-backports` suite,
//! unpacked under `target/mesa-backports/` and selected per process with `VK_DRIVER_FILES`.
//!
//! Why: Debian 12's Mesa 22.3 lavapipe has no descriptor indexing (`runtimeDescriptorArray =
//! false`), so the renderer's bindless path cannot run on it; Mesa 25 from bookworm-backports
//! reports Vulkan 1.4 with `runtimeDescriptorArray`, `descriptorBindingPartiallyBound` and
//! `shaderSampledImageArrayNonUniformIndexing`. Nothing is installed: the `.deb` is fetched with
//! `apt-get download` through a private sources list and package-list directory (the system's
//! apt state is untouched), extracted with `dpkg -x`, and its ICD manifest is rewritten to point
//! at the extracted library by absolute path.
//!
//! The sources entry is derived from the machine's own Debian entry (deb822
//! `/etc/apt/sources.list.d/debian.sources`, or a one-line `/etc/apt/sources.list`): same
//! mirror and keyring, suite `<codename>-backports`, component `main`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TaskResult;

/// The Debian package holding lavapipe.
const PACKAGE: &str = "mesa-vulkan-drivers";

/// Where the backports driver lives, relative to the workspace root.
pub(crate) const DIR: &str = "target/mesa-backports";

/// The ICD manifest the tests pass in `VK_DRIVER_FILES`.
pub(crate) fn icd_path(root: &Path) -> PathBuf {
    root.join(DIR).join("lvp_icd.json")
}

/// Makes sure the backports lavapipe is unpacked and its manifest written; returns the
/// manifest's path. Reuses an earlier download.
pub(crate) fn ensure(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join(DIR);
    let icd = icd_path(root);
    let library = dir.join("root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so");
    if icd.exists() && library.exists() {
        return Ok(icd);
    }
    let codename = os_release_codename()?;
    let (uri, signed_by) = debian_archive_entry()?;
    let apt = dir.join("apt");
    fs::create_dir_all(apt.join("lists/partial"))
        .and_then(|()| fs::create_dir_all(apt.join("cache/archives/partial")))
        .map_err(|e| format!("cannot create {}: {e}", apt.display()))?;
    let sources = apt.join("sources.list");
    let signed = signed_by
        .map(|k| format!("[signed-by={k}] "))
        .unwrap_or_default();
    let entry = format!("deb {signed}{uri} {codename}-backports main\n");
    fs::write(&sources, &entry).map_err(|e| format!("cannot write {}: {e}", sources.display()))?;
    let private = [
        format!("-oDir::Etc::SourceList={}", sources.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_string(),
        format!("-oDir::State::Lists={}", apt.join("lists").display()),
        format!("-oDir::Cache={}", apt.join("cache").display()),
        "-oAPT::Sandbox::User=root".to_string(),
        "-qq".to_string(),
    ];
    println!("==> mesa: fetching {PACKAGE} from {codename}-backports ({uri})");
    run(Command::new("apt-get").args(&private).arg("update"))?;
    // `apt-get download` writes into the current directory.
    run(Command::new("apt-get")
        .args(&private)
        .args(["download", &format!("{PACKAGE}/{codename}-backports")])
        .current_dir(&apt))?;
    let deb = fs::read_dir(&apt)
        .map_err(|e| format!("cannot list {}: {e}", apt.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PACKAGE) && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            format!(
                "apt-get download left no {PACKAGE}*.deb in {}",
                apt.display()
            )
        })?;
    let unpacked = dir.join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    if !library.exists() {
        return Err(format!(
            "{} holds no {}; the package layout changed",
            deb.display(),
            library.display()
        ));
    }
    let manifest = unpacked.join("usr/share/vulkan/icd.d/lvp_icd.json");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let rewritten = rewrite_library_path(&text, &library)
        .ok_or_else(|| format!("{} has no \"library_path\"", manifest.display()))?;
    fs::write(&icd, rewritten).map_err(|e| format!("cannot write {}: {e}", icd.display()))?;
    println!(
        "==> mesa: {} unpacked; select it with VK_DRIVER_FILES={}",
        deb.file_name().unwrap_or_default().to_string_lossy(),
        icd.display()
    );
    Ok(icd)
}

/// `VERSION_CODENAME` from `/etc/os-release`, e.g. `bookworm`.
fn os_release_codename() -> Result<String, String> {
    let text = fs::read_to_string("/etc/os-release")
        .map_err(|e| format!("cannot read /etc/os-release: {e}; this task needs Debian"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| "/etc/os-release has no VERSION_CODENAME; this task needs Debian".into())
}

/// The mirror URI and keyring of the machine's main Debian archive entry (not the security
/// archive): from deb822 `debian.sources` or the one-line `sources.list`.
fn debian_archive_entry() -> Result<(String, Option<String>), String> {
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list.d/debian.sources") {
        if let Some(found) = parse_deb822(&text) {
            return Ok(found);
        }
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        if let Some(found) = parse_one_line(&text) {
            return Ok(found);
        }
    }
    Err(
        "found no Debian archive entry in /etc/apt/sources.list.d/debian.sources or \
         /etc/apt/sources.list; add one (e.g. `deb http://deb.debian.org/debian bookworm main`)"
            .into(),
    )
}

/// The first deb822 stanza of type `deb` whose URI is not a security archive.
fn parse_deb822(text: &str) -> Option<(String, Option<String>)> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim().eq_ignore_ascii_case(name)).then(|| value.trim().to_string())
            })
        };
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let Some(uri) = field("URIs").and_then(|u| u.split_whitespace().next().map(String::from))
        else {
            continue;
        };
        if is_deb && !uri.contains("security") {
            return Some((uri, field("Signed-By")));
        }
    }
    None
}

/// The first one-line `deb` entry whose URI is not a security archive.
fn parse_one_line(text: &str) -> Option<(String, Option<String>)> {
    text.lines().map(str::trim).find_map(|line| {
        let rest = line.strip_prefix("deb ")?;
        let (options, rest) = match rest.trim_start().strip_prefix('[') {
            Some(r) => {
                let (opts, after) = r.split_once(']')?;
                (Some(opts), after)
            }
            None => (None, rest),
        };
        let uri = rest.split_whitespace().next()?.to_string();
        if uri.contains("security") {
            return None;
        }
        let signed = options.and_then(|o| {
            o.split_whitespace()
                .find_map(|kv| kv.strip_prefix("signed-by=").map(String::from))
        });
        Some((uri, signed))
    })
}

/// Replaces the value of `"library_path"` in an ICD manifest with `library`.
fn rewrite_library_path(manifest: &str, library: &Path) -> Option<String> {
    let key = manifest.find("\"library_path\"")?;
    let colon = key + manifest[key..].find(':')?;
    let open = colon + manifest[colon..].find('"')?;
    let close = open + 1 + manifest[open + 1..].find('"')?;
    Some(format!(
        "{}\"{}\"{}",
        &manifest[..open],
        library.display(),
        &manifest[close + 1..]
    ))
}

fn run(cmd: &mut Command) -> TaskResult {
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_skips_the_security_archive() {
        let text = "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
        assert_eq!(
            parse_deb822(text),
            Some((
                "http://deb.debian.org/debian".into(),
                Some("/usr/share/keyrings/debian-archive-keyring.gpg".into())
            ))
        );
    }

    #[test]
    fn one_line_entries_with_and_without_options() {
        assert_eq!(
            parse_one_line("deb http://mirror/debian bookworm main\n"),
            Some(("http://mirror/debian".into(), None))
        );
        assert_eq!(
            parse_one_line("deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm main"),
            Some(("http://m/debian".into(), Some("/k.gpg".into())))
        );
        assert_eq!(
            parse_one_line("deb http://security.debian.org bookworm-security main"),
            None
        );
    }

    #[test]
    fn manifest_library_path_is_rewritten() {
        let manifest = "{\n  \"ICD\": {\n    \"api_version\": \"1.4.305\",\n    \"library_path\": \"libvulkan_lvp.so\"\n  }\n}";
        let out = rewrite_library_path(manifest, Path::new("/x/libvulkan_lvp.so")).unwrap();
        assert!(
            out.contains("\"library_path\": \"/x/libvulkan_lvp.so\""),
            "{out}"
        );
        assert!(out.contains("\"api_version\": \"1.4.305\""));
    }
}
