//! Destructible objects: convex, concave and holed 2D polygons, generated
//! from a seed.

use std::f64::consts::TAU;

use geo::{Coord, LineString, Polygon};

/// A small, fast, seedable generator (SplitMix64), so runs are repeatable
/// without a dependency.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }
}

/// The shape families of the scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Points on a circle at sorted random angles: convex.
    Convex,
    /// A star: alternating outer and inner radii, concave.
    Star,
    /// A star-shaped blob with a random radius per vertex, concave.
    Blob,
    /// A convex outline with a convex hole.
    Ring,
}

impl Shape {
    pub(crate) const ALL: [Shape; 4] = [Shape::Convex, Shape::Star, Shape::Blob, Shape::Ring];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Convex => "convex",
            Shape::Star => "star",
            Shape::Blob => "blob",
            Shape::Ring => "ring",
        }
    }
}

/// A closed ring of `n` vertices around `center`, counter-clockwise, with
/// radius `radius(i, angle)`.
fn ring(
    center: Coord<f64>,
    angles: &[f64],
    mut radius: impl FnMut(usize, f64) -> f64,
) -> LineString<f64> {
    let mut coords: Vec<Coord<f64>> = angles
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let r = radius(i, a);
            Coord {
                x: center.x + r * a.cos(),
                y: center.y + r * a.sin(),
            }
        })
        .collect();
    coords.push(coords[0]);
    LineString::new(coords)
}

/// `n` sorted angles in `0..TAU`, jittered around an even spacing so that no
/// two coincide.
fn angles(rng: &mut Rng, n: u32) -> Vec<f64> {
    let step = TAU / f64::from(n);
    (0..n)
        .map(|i| (f64::from(i) + rng.range(-0.35, 0.35)) * step)
        .collect()
}

/// One object of family `shape`, about `size` units across, at `center`.
pub(crate) fn make(rng: &mut Rng, shape: Shape, center: Coord<f64>, size: f64) -> Polygon<f64> {
    let r = size / 2.0;
    match shape {
        Shape::Convex => {
            let a = {
                let n = rng.int(5, 14);
                angles(rng, n)
            };
            Polygon::new(ring(center, &a, |_, _| r), vec![])
        }
        Shape::Star => {
            let points = rng.int(5, 9);
            let step = TAU / f64::from(2 * points);
            let a: Vec<f64> = (0..2 * points).map(|i| f64::from(i) * step).collect();
            let inner = rng.range(0.35, 0.6);
            Polygon::new(
                ring(center, &a, |i, _| if i % 2 == 0 { r } else { r * inner }),
                vec![],
            )
        }
        Shape::Blob => {
            let a = {
                let n = rng.int(12, 28);
                angles(rng, n)
            };
            let radii: Vec<f64> = a.iter().map(|_| r * rng.range(0.4, 1.0)).collect();
            Polygon::new(ring(center, &a, |i, _| radii[i]), vec![])
        }
        Shape::Ring => {
            let a = {
                let n = rng.int(8, 16);
                angles(rng, n)
            };
            let hole_a = {
                let n = rng.int(5, 8);
                angles(rng, n)
            };
            let hole = rng.range(0.3, 0.6);
            let mut inner = ring(center, &hole_a, |_, _| r * hole);
            // Holes wind clockwise.
            inner.0.reverse();
            Polygon::new(ring(center, &a, |_, _| r), vec![inner])
        }
    }
}
