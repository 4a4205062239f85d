//! The X server for window tests and the window bench: a private `Xvfb` when `DISPLAY` is
//! unset ([`ensure_display`]), and reading a window's pixels back from the server
//! ([`window_image`], with `xwd`).
//!
//! Shared by `tests/window.rs` and `benches/window_vs_raw_ash.rs` (each includes this file with
//! `#[path]`; it is not a module of `tests/common/mod.rs`, whose tests need no X server).

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An `Xvfb` this process started; killed (by its process id) on drop.
pub(crate) struct Xvfb {
    child: Child,
    /// Its display name, e.g. `:1`.
    pub(crate) display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `Ok(None)` when `DISPLAY` is set (use it); else starts `Xvfb` with one screen of
/// `width × height` pixels at 24 bits and returns it (set `DISPLAY` to its
/// [`display`](Xvfb::display) for the code that opens windows).
///
/// `Xvfb -displayfd` picks a free display number itself and writes it once it accepts
/// connections, so runs at the same time (and other X servers on the machine) never race for
/// a number.
///
/// # Errors
/// `DISPLAY` unset and `Xvfb` not installed (the message has the install command); Xvfb did
/// not start within 15 s.
pub(crate) fn ensure_display(width: u32, height: u32) -> Result<Option<Xvfb>, String> {
    if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        return Ok(None);
    }
    let xvfb = find_program("Xvfb").ok_or(
        "DISPLAY is unset and Xvfb is not installed; install it with \
         `apt-get install -y xvfb` (or `cargo xtask setup`), or set DISPLAY",
    )?;
    let mut child = Command::new(&xvfb)
        .args([
            "-displayfd".to_owned(),
            "1".to_owned(),
            "-screen".to_owned(),
            "0".to_owned(),
            format!("{width}x{height}x24"),
            "-nolisten".to_owned(),
            "tcp".to_owned(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", xvfb.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut server = Xvfb {
        child,
        display: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(line) if line.trim().parse::<u32>().is_ok() => {
            server.display = format!(":{}", line.trim());
            Ok(Some(server))
        }
        Ok(line) => Err(format!("Xvfb did not start (it wrote {line:?})")),
        Err(_) => Err("Xvfb did not accept connections within 15 s".into()),
    }
}

/// An X window's contents as `(width, height, RGB pixels row by row)`, read with `xwd` (XWD
/// format, X11R7: a big-endian header of 25 CARD32 (`header_size` bytes with the window name),
/// `ncolors` 12-byte colour entries, then `bytes_per_line`-strided pixels in `byte_order`).
///
/// # Errors
/// Not an X11 window; `xwd` missing (`apt-get install -y x11-apps`) or failing; a pixel depth
/// other than 32 bits.
pub(crate) fn window_image(
    window: &winit::window::Window,
) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    use raw_window_handle::{HasWindowHandle as _, RawWindowHandle};
    let xid = match window.window_handle().map_err(|e| e.to_string())?.as_raw() {
        RawWindowHandle::Xlib(h) => format!("{:#x}", h.window),
        RawWindowHandle::Xcb(h) => format!("{:#x}", h.window.get()),
        other => return Err(format!("not an X11 window: {other:?}")),
    };
    let out = Command::new("xwd")
        .args(["-silent", "-id", &xid])
        .output()
        .map_err(|e| format!("running xwd (apt-get install -y x11-apps): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "xwd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let d = out.stdout;
    if d.len() < 100 {
        return Err(format!("xwd wrote {} bytes, less than its header", d.len()));
    }
    let field = |i: usize| u32::from_be_bytes(d[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let (header, width, height) = (field(0) as usize, field(4), field(5));
    let (byte_order, bpp, stride) = (field(7), field(11), field(12) as usize);
    let masks = [field(14), field(15), field(16)];
    let ncolors = field(19) as usize;
    if bpp != 32 {
        return Err(format!("xwd image at {bpp} bits per pixel, 32 expected"));
    }
    let end = header + ncolors * 12 + height as usize * stride;
    if d.len() < end {
        return Err(format!("xwd wrote {} bytes, {end} expected", d.len()));
    }
    let mut pixels = Vec::with_capacity((width * height) as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let at = header + ncolors * 12 + y * stride + x * 4;
            let bytes: [u8; 4] = d[at..at + 4].try_into().expect("4 bytes");
            let pixel = if byte_order == 0 {
                u32::from_le_bytes(bytes)
            } else {
                u32::from_be_bytes(bytes)
            };
            pixels.push(masks.map(|m| ((pixel & m) >> m.trailing_zeros()) as u8));
        }
    }
    Ok((width, height, pixels))
}
