//! Shared helpers for the rendering and mesh tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use macrokid_graphics::{Camera, FrameImage};
#[cfg(feature = "vulkan")]
use macrokid_graphics::{RendererConfig, VulkanRenderer};

use glam::{Mat4, Vec3};

/// Directory of the Khronos sample glTF files: `$MACROKID_GLTF_ASSETS`, else
/// `../shared/assets/gltf` beside the checkout (where CI and every developer
/// machine have it).
///
/// # Panics
/// When neither holds `Box.glb`: the message says where to put the models.
pub fn gltf_assets() -> PathBuf {
    if let Some(dir) = std::env::var_os("MACROKID_GLTF_ASSETS") {
        return PathBuf::from(dir);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets/gltf");
    assert!(
        beside.join("Box.glb").is_file(),
        "glTF sample models not found at {}; set MACROKID_GLTF_ASSETS to the folder holding Box.glb and Duck.glb",
        beside.display()
    );
    beside
}

/// Routes `tracing` (validation messages included) to the test output once.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

pub const SIZE: u32 = 256;
/// Exactly representable in 8 bits (k / 255), so the expected clear pixel is unambiguous.
pub const CLEAR: [f32; 4] = [20.0 / 255.0, 40.0 / 255.0, 80.0 / 255.0, 1.0];

#[cfg(feature = "vulkan")]
/// A 256×256 renderer with validation (synchronization validation included) on.
pub fn renderer() -> VulkanRenderer {
    init_tracing();
    let config = RendererConfig::default()
        .size(SIZE, SIZE)
        .validation(true)
        .clear_color(CLEAR);
    VulkanRenderer::new(config).expect("creating a lavapipe renderer with validation")
}

/// A camera looking at the origin from `distance` along (1, 0.8, 1.4).
pub fn camera(distance: f32) -> Camera {
    let eye = Vec3::new(1.0, 0.8, 1.4).normalize() * distance;
    Camera {
        view_proj: Camera::perspective(0.9, 1.0, 0.05, 500.0)
            * Mat4::look_at_rh(eye, Vec3::ZERO, Vec3::Y),
        light_dir: Vec3::new(-0.3, -1.0, -0.5),
        ambient: 0.2,
    }
}

#[cfg(feature = "vulkan")]
pub fn assert_no_validation_messages(renderer: &VulkanRenderer) {
    let counts = renderer.validation_counts();
    assert_eq!(
        counts.total(),
        0,
        "validation reported {counts:?} (see the log above)"
    );
}

pub fn count_not_clear(image: &FrameImage, clear: [u8; 4]) -> usize {
    image.rgba.chunks_exact(4).filter(|p| *p != clear).count()
}

/// Saves the image under target/test-images for a human look.
pub fn save(image: &FrameImage, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-images");
    let _ = std::fs::create_dir_all(&dir);
    image.save_png(dir.join(name)).expect("saving a test image");
}

/// Compares `image` with the golden PNG `tests/golden/<name>`: at most `max_differing`
/// pixels may differ, each channel by at most `tolerance` (drivers round differently).
/// With `MACROKID_UPDATE_GOLDENS=1` the golden is (re)written instead.
pub fn assert_matches_golden(image: &FrameImage, name: &str, tolerance: u8, max_differing: usize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MACROKID_UPDATE_GOLDENS").is_some() {
        image.save_png(&path).expect("writing the golden");
        return;
    }
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden {}: {e}; run with MACROKID_UPDATE_GOLDENS=1",
            path.display()
        )
    });
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("decoding the golden");
    let mut golden = vec![0; reader.output_buffer_size().expect("golden size")];
    let info = reader.next_frame(&mut golden).expect("decoding the golden");
    golden.truncate(info.buffer_size());
    assert_eq!(
        (info.width, info.height),
        (image.width, image.height),
        "golden size"
    );
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let differing = golden
        .chunks_exact(4)
        .zip(image.rgba.chunks_exact(4))
        .filter(|(g, i)| {
            g.iter()
                .zip(i.iter())
                .any(|(a, b)| a.abs_diff(*b) > tolerance)
        })
        .count();
    if differing > max_differing {
        save(image, &format!("FAILED_{name}"));
        panic!(
            "{differing} pixels differ from golden {} by more than {tolerance} (allowed {max_differing}); \
             the image was saved as target/test-images/FAILED_{name}",
            path.display()
        );
    }
}

/// Compares `image` with the golden PNG `tests/golden/<name>` pixel for pixel (exact on
/// lavapipe). On a difference it writes the image as `tests/golden/<stem>.actual.png` next to
/// the golden and fails naming the first differing pixel and how many differ. With
/// `MACROKID_UPDATE_GOLDENS=1` the golden is (re)written instead.
pub fn assert_golden_exact(image: &FrameImage, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let path = dir.join(name);
    if std::env::var_os("MACROKID_UPDATE_GOLDENS").is_some() {
        image.save_png(&path).expect("writing the golden");
        return;
    }
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "missing golden {}: {e}; run with MACROKID_UPDATE_GOLDENS=1",
            path.display()
        )
    });
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("decoding the golden");
    let mut golden = vec![0; reader.output_buffer_size().expect("golden size")];
    let info = reader.next_frame(&mut golden).expect("decoding the golden");
    golden.truncate(info.buffer_size());
    let actual = dir.join(format!(
        "{}.actual.png",
        name.strip_suffix(".png").unwrap_or(name)
    ));
    if (info.width, info.height) != (image.width, image.height) {
        image.save_png(&actual).expect("writing the actual image");
        panic!(
            "golden {} is {}x{}, the image {}x{}; actual written to {}",
            path.display(),
            info.width,
            info.height,
            image.width,
            image.height,
            actual.display()
        );
    }
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let mut differing = golden
        .chunks_exact(4)
        .zip(image.rgba.chunks_exact(4))
        .enumerate()
        .filter(|(_, (g, i))| g != i);
    if let Some((first, (g, i))) = differing.next() {
        let count = 1 + differing.count();
        image.save_png(&actual).expect("writing the actual image");
        panic!(
            "{count} pixels differ from golden {}; first at (x {}, y {}): golden {g:?}, got {i:?}; \
             actual written to {}",
            path.display(),
            first as u32 % image.width,
            first as u32 / image.width,
            actual.display()
        );
    }
    let _ = std::fs::remove_file(&actual);
}
