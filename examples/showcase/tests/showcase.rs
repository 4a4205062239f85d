//! End-to-end tests of the showcase binary: real Vulkan (Mesa lavapipe on CI)
//! with validation on — the showcase exits non-zero on any validation message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHOWCASE: &str = env!("CARGO_BIN_EXE_showcase");

/// The Khronos sample models: `MACROKID_GLTF_ASSETS`, or `../shared/assets/gltf`
/// beside the checkout.
fn gltf_assets() -> PathBuf {
    if let Some(dir) = std::env::var_os("MACROKID_GLTF_ASSETS") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets/gltf");
    assert!(
        dir.join("Box.glb").exists(),
        "glTF sample models not found at {}; set MACROKID_GLTF_ASSETS to the folder holding Box.glb and Duck.glb",
        dir.display()
    );
    dir
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("macrokid-showcase-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn showcase(out: &Path, extra: &[&str]) -> Output {
    Command::new(SHOWCASE)
        .args(["--width", "320", "--height", "180", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("the showcase binary starts")
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "showcase failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Rgba {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 4]>,
}

fn read_png(path: &Path) -> Rgba {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    Rgba {
        width: info.width,
        height: info.height,
        pixels,
    }
}

/// Checks one frame: not blank, the background shows, and the pixel at
/// (nearly) every projected instance centre is covered by some object.
fn check_frame(png_path: &Path, points_path: &Path) {
    let image = read_png(png_path);
    assert_eq!((image.width, image.height), (320, 180));
    let mut counts: HashMap<[u8; 4], usize> = HashMap::new();
    for p in &image.pixels {
        *counts.entry(*p).or_default() += 1;
    }
    let (&background, &background_count) = counts.iter().max_by_key(|(_, &n)| n).unwrap();
    let total = image.pixels.len();
    assert!(
        counts.len() > 16,
        "{}: only {} distinct colours: blank image",
        png_path.display(),
        counts.len()
    );
    let covered = total - background_count;
    assert!(
        covered * 100 >= total,
        "{}: objects cover only {covered} of {total} pixels",
        png_path.display()
    );
    let points = std::fs::read_to_string(points_path).unwrap();
    let mut inside = 0;
    let mut hits = 0;
    for line in points.lines() {
        let mut it = line.split_whitespace().map(|v| v.parse::<f32>().unwrap());
        let (x, y) = (it.next().unwrap(), it.next().unwrap());
        // Keep away from the border, where rounding could leave the image.
        if x < 2.0 || y < 2.0 || x > image.width as f32 - 3.0 || y > image.height as f32 - 3.0 {
            continue;
        }
        inside += 1;
        let pixel = image.pixels[y as usize * image.width as usize + x as usize];
        if pixel != background {
            hits += 1;
        }
    }
    assert!(
        inside >= 20,
        "{}: only {inside} instance centres inside the image",
        png_path.display()
    );
    assert!(
        hits * 100 >= inside * 95,
        "{}: only {hits} of {inside} instance centres are covered by an object",
        png_path.display()
    );
}

fn check_run(name: &str, extra: &[&str]) {
    let out = scratch(name);
    let mut args = vec!["--entities", "400", "--frames", "3", "--dump-points"];
    args.extend_from_slice(extra);
    let output = showcase(&out, &args);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("validation messages: 0"),
        "stdout:\n{stdout}"
    );
    for stage in [
        "update",
        "extract",
        "prepare",
        "record",
        "submit",
        "present",
        "read-back",
        "no overlap",
        "frame ",
    ] {
        assert!(
            stdout.contains(stage),
            "timing table lacks `{stage}`:\n{stdout}"
        );
    }
    // stderr is not a terminal here: no progress bar.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("frames, "), "stderr:\n{stderr}");
    for frame in 0..3 {
        check_frame(
            &out.join(format!("frame_{frame:04}.png")),
            &out.join(format!("frame_{frame:04}.points")),
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn renders_built_in_cube() {
    check_run("cube", &[]);
}

/// The no-overlap baseline (`--no-overlap`: each frame read back in its own Present stage)
/// draws the same frames.
#[test]
fn renders_without_overlap() {
    check_run("no-overlap", &["--no-overlap"]);
}

#[test]
fn renders_gltf_box() {
    let model = gltf_assets().join("Box.glb");
    check_run("box", &["--model", model.to_str().unwrap()]);
}

#[test]
fn renders_gltf_duck() {
    let model = gltf_assets().join("Duck.glb");
    check_run("duck", &["--model", model.to_str().unwrap()]);
}

#[test]
fn one_and_two_threads_give_identical_images() {
    let one = scratch("threads1");
    let two = scratch("threads2");
    for (dir, threads) in [(&one, "1"), (&two, "2")] {
        assert_success(&showcase(
            dir,
            &["--entities", "2000", "--frames", "2", "--threads", threads],
        ));
    }
    for frame in 0..2 {
        let name = format!("frame_{frame:04}.png");
        let a = std::fs::read(one.join(&name)).unwrap();
        let b = std::fs::read(two.join(&name)).unwrap();
        assert!(a == b, "{name} differs between 1 and 2 threads");
    }
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&two);
}

fn assert_clean_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr:\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "the showcase panicked:\n{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "stderr lacks `{expected}`:\n{stderr}"
    );
}

#[test]
fn missing_model_is_a_clear_error() {
    let out = scratch("missing");
    let output = showcase(
        &out,
        &["--model", "/nonexistent/model.glb", "--frames", "1"],
    );
    assert_clean_failure(&output, "/nonexistent/model.glb");
    assert!(!out.join("frame_0000.png").exists());
}

#[test]
fn corrupt_model_is_a_clear_error() {
    let out = scratch("corrupt");
    let model = out.join("corrupt.glb");
    // A GLB header that promises more bytes than follow, then garbage.
    let mut bytes = b"glTF\x02\x00\x00\x00\x00\x10\x00\x00".to_vec();
    bytes.extend_from_slice(&[0xAB; 40]);
    std::fs::write(&model, bytes).unwrap();
    let output = showcase(&out, &["--model", model.to_str().unwrap(), "--frames", "1"]);
    assert_clean_failure(&output, "corrupt.glb");
}

#[test]
fn window_without_display_is_a_clear_error() {
    let out = scratch("no-display");
    let output = Command::new(SHOWCASE)
        .args(["--window", "--frames", "1", "--out"])
        .arg(&out)
        .env_remove("DISPLAY")
        .output()
        .expect("the showcase binary starts");
    assert_clean_failure(&output, "DISPLAY is not set");
}

/// Starts a long headless run, sends `signal` once two frames exist, and checks the run ends
/// cleanly: exit 0, the summary printed, every written PNG decodes, no partial file left.
fn signal_ends_run_cleanly(name: &str, signal: &str) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let out = scratch(name);
    let child = Command::new(SHOWCASE)
        .args(["--width", "160", "--height", "90", "--entities", "200"])
        .args(["--frames", "100000", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the showcase binary starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !out.join("frame_0001.png").exists() {
        assert!(Instant::now() < deadline, "no second frame within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("the showcase ends");
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("stopped by SIG{signal} after")),
        "stdout:\n{stdout}"
    );
    assert!(
        stdout.contains("validation messages: 0"),
        "stdout:\n{stdout}"
    );
    assert!(stdout.contains("frame "), "no timing table:\n{stdout}");
    let mut pngs = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(file.ends_with(".png"), "left behind: {file}");
        let image = read_png(&path);
        assert_eq!((image.width, image.height), (160, 90), "{file}");
        pngs += 1;
    }
    assert!(pngs >= 2, "only {pngs} frames written");
    assert!(pngs < 100_000, "the signal did not stop the run");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sigterm_ends_a_headless_run_cleanly() {
    signal_ends_run_cleanly("sigterm", "TERM");
}

#[test]
fn sigint_ends_a_headless_run_cleanly() {
    signal_ends_run_cleanly("sigint", "INT");
}

// ---- signals to a windowed run, under Xvfb --------------------------------------------------

/// An `Xvfb` this test started; killed (by its process id) on drop.
struct Xvfb {
    child: std::process::Child,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The X display for a windowed run: `DISPLAY` when set, else a fresh `Xvfb` (kept alive by the
/// returned guard). `Xvfb -displayfd` picks a free display number itself and writes it once it
/// accepts connections, so tests running at once (and other X servers on the machine) never
/// race for a number. `Ok(None)` means skip: no display, no Xvfb and
/// `MACROKID_SKIP_WINDOW_TESTS` set.
fn x_display() -> Result<Option<(String, Option<Xvfb>)>, String> {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::Duration;
    if let Some(display) = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()) {
        return Ok(Some((display, None)));
    }
    let xvfb = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("Xvfb"))
        .find(|p| p.is_file());
    let Some(xvfb) = xvfb else {
        if std::env::var_os("MACROKID_SKIP_WINDOW_TESTS").is_some() {
            eprintln!("skipped (MACROKID_SKIP_WINDOW_TESTS): DISPLAY is unset, Xvfb not installed");
            return Ok(None);
        }
        return Err(
            "DISPLAY is unset and Xvfb is not installed; install it with \
             `apt-get install -y xvfb` (or `cargo xtask setup`), or set DISPLAY"
                .into(),
        );
    };
    let mut child = Command::new(&xvfb)
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "640x480x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", xvfb.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let server = Xvfb { child };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(line) if line.trim().parse::<u32>().is_ok() => {
            Ok(Some((format!(":{}", line.trim()), Some(server))))
        }
        Ok(line) => Err(format!("Xvfb did not start (it wrote {line:?})")),
        Err(_) => Err("Xvfb did not accept connections within 15 s".into()),
    }
}

/// A child process killed (by its process id) if the test ends before it does.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts a long windowed run under X, sends `signal` once it logged its first presented
/// frame, and checks the run ends cleanly: exit 0, the summary printed (timing table,
/// "stopped by", the number of presented frames), no validation message (counted up to the
/// window's destruction), no panic, and no file written (`--window` writes no PNG).
fn signal_ends_windowed_run_cleanly(name: &str, signal: &str) {
    use std::io::{BufRead as _, Read as _};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let Some((display, server)) = x_display().unwrap() else {
        return;
    };
    let out = scratch(name);
    let mut child = Command::new(SHOWCASE)
        .args([
            "--window",
            "--width",
            "160",
            "--height",
            "90",
            "--entities",
            "200",
        ])
        .args(["--frames", "100000", "--out"])
        .arg(&out)
        .env("DISPLAY", &display)
        .env("RUST_LOG", "warn,showcase=info")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the showcase binary starts");
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let mut guard = KillOnDrop(Some(child));
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.contains("first frame presented"));
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    // Wait for the first present; the child ending first (the channel closes) is a failure.
    let deadline = Instant::now() + Duration::from_secs(60);
    let presented = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(true) => break true,
            Ok(false) => {}
            Err(_) => break false,
        }
    };
    if !presented {
        drop(guard);
        panic!(
            "no frame presented within 60 s (or the showcase ended first) on DISPLAY={display}:\n\
             stdout:\n{}\nstderr:\n{}",
            stdout.join().unwrap(),
            stderr.join().unwrap()
        );
    }
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = guard.0.take().unwrap().wait().expect("the showcase ends");
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    drop(server);
    let context = format!("status {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(status.code(), Some(0), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    assert!(
        stdout.contains(&format!("stopped by SIG{signal} after")),
        "{context}"
    );
    assert!(stdout.contains("frame "), "no timing table: {context}");
    let presented: u64 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("presented ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `presented N frames` line: {context}"));
    assert!(presented >= 1, "{context}");
    assert!(
        presented < 100_000,
        "the signal did not stop the run: {context}"
    );
    assert!(stdout.contains("validation messages: 0"), "{context}");
    // `--window` presents instead of writing: nothing in the output folder, so no PNG (whole or
    // partial) is left to decode.
    let written: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(written.is_empty(), "a windowed run wrote {written:?}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sigterm_ends_a_windowed_run_cleanly() {
    signal_ends_windowed_run_cleanly("win-sigterm", "TERM");
}

#[test]
fn sigint_ends_a_windowed_run_cleanly() {
    signal_ends_windowed_run_cleanly("win-sigint", "INT");
}

#[test]
fn sighup_ends_a_windowed_run_cleanly() {
    signal_ends_windowed_run_cleanly("win-sighup", "HUP");
}

#[test]
fn sigquit_ends_a_windowed_run_cleanly() {
    signal_ends_windowed_run_cleanly("win-sigquit", "QUIT");
}

// ---- golden image of the two-pass showcase --------------------------------------------------

/// Compares the PNG at `actual` with the golden `tests/golden/<name>` pixel for pixel (exact on
/// lavapipe). On a difference the frame is copied to `tests/golden/<stem>.actual.png` and the
/// test fails naming the first differing pixel. `MACROKID_UPDATE_GOLDENS=1` rewrites the golden.
fn assert_png_golden_exact(actual: &Path, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let golden = dir.join(name);
    if std::env::var_os("MACROKID_UPDATE_GOLDENS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(actual, &golden).unwrap();
        return;
    }
    assert!(
        golden.exists(),
        "missing golden {}; run with MACROKID_UPDATE_GOLDENS=1",
        golden.display()
    );
    let (want, got) = (read_png(&golden), read_png(actual));
    let copy = dir.join(format!(
        "{}.actual.png",
        name.strip_suffix(".png").unwrap_or(name)
    ));
    let fail = |what: String| -> ! {
        std::fs::copy(actual, &copy).unwrap();
        panic!("{what}; actual written to {}", copy.display());
    };
    if (want.width, want.height) != (got.width, got.height) {
        fail(format!(
            "golden {} is {}x{}, the frame {}x{}",
            golden.display(),
            want.width,
            want.height,
            got.width,
            got.height
        ));
    }
    let mut differing = want
        .pixels
        .iter()
        .zip(&got.pixels)
        .enumerate()
        .filter(|(_, (w, g))| w != g);
    if let Some((first, (w, g))) = differing.next() {
        let count = 1 + differing.count();
        fail(format!(
            "{count} pixels differ from golden {}; first at (x {}, y {}): golden {w:?}, got {g:?}",
            golden.display(),
            first as u32 % got.width,
            first as u32 / got.width
        ));
    }
    let _ = std::fs::remove_file(&copy);
}

/// The showcase's two-pass frame (lit, textured geometry into an HDR target, then tone
/// mapping and vignette) with DamagedHelmet at a fixed seed, 160×120, matches its golden;
/// recorded on 1 and 8 threads, the frame is the same.
#[test]
fn two_pass_frame_at_a_fixed_seed_matches_its_golden() {
    let model = gltf_assets().join("DamagedHelmet.glb");
    let mut frames = Vec::new();
    for threads in ["1", "8"] {
        let out = scratch(&format!("golden{threads}"));
        let output = Command::new(SHOWCASE)
            .args(["--width", "160", "--height", "120", "--entities", "30"])
            .args(["--frames", "1", "--seed", "42", "--threads", threads])
            .arg("--model")
            .arg(&model)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("the showcase binary starts");
        assert_success(&output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("validation messages: 0"),
            "stdout:\n{stdout}"
        );
        assert!(stdout.contains("1 textures"), "stdout:\n{stdout}");
        frames.push(out);
    }
    let name = "frame_0000.png";
    let (one, eight) = (
        std::fs::read(frames[0].join(name)).unwrap(),
        std::fs::read(frames[1].join(name)).unwrap(),
    );
    assert!(one == eight, "the frame differs between 1 and 8 threads");
    assert_png_golden_exact(&frames[0].join(name), "showcase_helmet_seed42_160x120.png");
    for dir in frames {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---- broken glTF files through `--model` ----------------------------------------------------

/// A fresh copy of the multi-file BoxTextured (`.gltf` + `.bin` + `.png`) in its own temp dir;
/// returns the `.gltf`.
fn box_textured_copy(case: &str) -> PathBuf {
    let dir = scratch(case);
    for f in ["BoxTextured.gltf", "BoxTextured0.bin", "CesiumLogoFlat.png"] {
        std::fs::copy(gltf_assets().join("BoxTextured").join(f), dir.join(f)).unwrap();
    }
    dir.join("BoxTextured.gltf")
}

/// Runs the showcase on `model` (one small frame) and checks it fails cleanly (exit status 1,
/// no panic) with a message naming the `.gltf` and each of `needles`, and writes no frame.
fn assert_model_error(model: &Path, needles: &[&str]) {
    let out = model.parent().unwrap().join("out");
    let output = showcase(
        &out,
        &[
            "--model",
            model.to_str().unwrap(),
            "--frames",
            "1",
            "--entities",
            "10",
        ],
    );
    assert_clean_failure(&output, &model.display().to_string());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks `{needle}`:\n{stderr}"
        );
    }
    assert!(!out.join("frame_0000.png").exists());
    let _ = std::fs::remove_dir_all(model.parent().unwrap());
}

#[test]
fn missing_bin_is_a_clear_error() {
    let gltf = box_textured_copy("nobin");
    std::fs::remove_file(gltf.with_file_name("BoxTextured0.bin")).unwrap();
    assert_model_error(&gltf, &["buffer 0", "BoxTextured0.bin"]);
}

#[test]
fn missing_image_is_a_clear_error() {
    let gltf = box_textured_copy("noimage");
    std::fs::remove_file(gltf.with_file_name("CesiumLogoFlat.png")).unwrap();
    assert_model_error(&gltf, &["image 0", "CesiumLogoFlat.png", "cannot be read"]);
}

#[test]
fn undecodable_image_is_a_clear_error() {
    let gltf = box_textured_copy("badimage");
    let png = gltf.with_file_name("CesiumLogoFlat.png");
    // The PNG signature stays; the header and data after it are garbage.
    let mut bytes = std::fs::read(&png).unwrap();
    for b in &mut bytes[8..200] {
        *b = 0xA5;
    }
    std::fs::write(&png, &bytes).unwrap();
    assert_model_error(&gltf, &["image 0", "CesiumLogoFlat.png", "does not decode"]);
}

#[test]
fn out_of_range_accessor_is_a_clear_error() {
    let gltf = box_textured_copy("overrun");
    // POSITION (accessor 2) starts at byte 288 of the 576-byte buffer view 1 with stride 12:
    // 24 elements end at 576, 25 would end at 588.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&gltf).unwrap()).unwrap();
    assert_eq!(json["accessors"][2]["count"], 24);
    json["accessors"][2]["count"] = 25.into();
    std::fs::write(&gltf, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    assert_model_error(&gltf, &["accessor 2", "POSITION", "out of range"]);
}
