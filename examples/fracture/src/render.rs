//! A tiny software rasteriser: filled polygons (even-odd, holes included)
//! into an RGB image, saved as PNG. Only used with `--png DIR`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use geo::{Coord, Polygon};

/// An RGB8 image showing the world rectangle `0..world.x` × `0..world.y`
/// (y up).
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    /// Pixels per world unit.
    scale: f64,
    pixels: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32, world: Coord<f64>, background: [u8; 3]) -> Self {
        let scale = (f64::from(width) / world.x).min(f64::from(height) / world.y);
        Self {
            width,
            height,
            scale,
            pixels: background
                .iter()
                .copied()
                .cycle()
                .take(width as usize * height as usize * 3)
                .collect(),
        }
    }

    /// Fills `polygon` moved by `offset` (world units) with `color`, by
    /// scanlines through pixel centres and the even-odd rule over all rings.
    pub(crate) fn fill(&mut self, polygon: &Polygon<f64>, offset: Coord<f64>, color: [u8; 3]) {
        let to_px = |c: Coord<f64>| Coord {
            x: (c.x + offset.x) * self.scale,
            y: f64::from(self.height) - (c.y + offset.y) * self.scale,
        };
        let edges: Vec<(Coord<f64>, Coord<f64>)> = std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .flat_map(|ring| ring.lines().map(|l| (to_px(l.start), to_px(l.end))))
            .collect();
        let (mut y_min, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY);
        for (a, b) in &edges {
            y_min = y_min.min(a.y.min(b.y));
            y_max = y_max.max(a.y.max(b.y));
        }
        if !y_min.is_finite() {
            return;
        }
        let rows =
            (y_min.floor().max(0.0) as u32)..(y_max.ceil().min(f64::from(self.height)) as u32);
        let mut crossings = Vec::new();
        for row in rows {
            let y = f64::from(row) + 0.5;
            crossings.clear();
            for (a, b) in &edges {
                if (a.y <= y) != (b.y <= y) {
                    crossings.push(a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x));
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                let from = (pair[0] - 0.5).ceil().max(0.0) as u32;
                let to = ((pair[1] - 0.5).floor() + 1.0).clamp(0.0, f64::from(self.width)) as u32;
                for col in from..to {
                    let i = (row as usize * self.width as usize + col as usize) * 3;
                    self.pixels[i..i + 3].copy_from_slice(&color);
                }
            }
        }
    }

    /// Writes the image as an 8-bit RGB PNG.
    pub(crate) fn save(&self, path: &Path) -> Result<(), png::EncodingError> {
        let file = BufWriter::new(File::create(path)?);
        let mut encoder = png::Encoder::new(file, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&self.pixels)
    }
}

/// A stable, bright colour for piece `i`.
pub(crate) fn piece_color(i: usize) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [230, 96, 64],
        [240, 170, 60],
        [250, 220, 90],
        [120, 200, 110],
        [80, 170, 220],
        [150, 120, 230],
        [230, 110, 170],
        [200, 200, 200],
    ];
    PALETTE[i % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    #[test]
    fn a_square_with_a_hole_fills_the_ring_only() {
        let world = Coord { x: 10.0, y: 10.0 };
        let mut canvas = Canvas::new(10, 10, world, [0, 0, 0]);
        let square = polygon!(
            exterior: [(x: 1.0, y: 1.0), (x: 9.0, y: 1.0), (x: 9.0, y: 9.0), (x: 1.0, y: 9.0)],
            interiors: [[(x: 3.0, y: 3.0), (x: 3.0, y: 7.0), (x: 7.0, y: 7.0), (x: 7.0, y: 3.0)]],
        );
        canvas.fill(&square, Coord { x: 0.0, y: 0.0 }, [255, 255, 255]);
        let lit = canvas.pixels.chunks(3).filter(|p| p[0] == 255).count();
        // 8x8 square minus the 4x4 hole.
        assert_eq!(lit, 64 - 16);
    }
}
