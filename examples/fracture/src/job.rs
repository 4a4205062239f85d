//! The fracture job: cut one polygon into pieces with `geo` boolean
//! operations.

use geo::{Area, BooleanOps, BoundingRect, Centroid, Coord, LineString, MultiPolygon, Polygon};
use macrokid_threads::{JobContext, JobRun, Priority};

use crate::shapes::{Rng, Shape};

/// Destroys one object: `cuts` random straight cracks through it, each
/// splitting every current piece in two (or more, for concave pieces) by
/// intersecting with, and subtracting, a half-plane.
pub(crate) struct Fracture {
    /// Which object of the scene.
    pub(crate) object: usize,
    pub(crate) shape: Shape,
    pub(crate) polygon: Polygon<f64>,
    pub(crate) cuts: u32,
    pub(crate) seed: u64,
    pub(crate) priority: Priority,
    /// `fracture/<shape>/<cracks>`, the cost-learning kind.
    pub(crate) kind: String,
}

impl Fracture {
    pub(crate) fn new(
        object: usize,
        shape: Shape,
        polygon: Polygon<f64>,
        cuts: u32,
        seed: u64,
        priority: Priority,
    ) -> Self {
        Self {
            object,
            shape,
            polygon,
            cuts,
            seed,
            priority,
            kind: format!("fracture/{}/{cuts}", shape.name()),
        }
    }
}

/// What a fracture produced.
pub(crate) struct Fragments {
    pub(crate) object: usize,
    pub(crate) pieces: Vec<Polygon<f64>>,
    /// Area of the original polygon, square units.
    pub(crate) area_before: f64,
    /// Sum of the pieces' areas, square units.
    pub(crate) area_after: f64,
}

impl Fragments {
    /// `|after - before| / before`.
    pub(crate) fn relative_area_error(&self) -> f64 {
        (self.area_after - self.area_before).abs() / self.area_before
    }
}

/// A polygon covering the side of the line through `point` with direction
/// angle `angle` to the left of it, large enough to cover a box of
/// half-diagonal `reach` around `point`.
fn half_plane(point: Coord<f64>, angle: f64, reach: f64) -> Polygon<f64> {
    let d = Coord {
        x: angle.cos() * reach,
        y: angle.sin() * reach,
    };
    let n = Coord { x: -d.y, y: d.x };
    Polygon::new(
        LineString::new(vec![
            point - d,
            point + d,
            point + d + n,
            point - d + n,
            point - d,
        ]),
        vec![],
    )
}

impl Fracture {
    fn fracture(&mut self, cx: &JobContext) -> Fragments {
        let area_before = self.polygon.unsigned_area();
        let mut rng = Rng::new(self.seed);
        let bbox = self.polygon.bounding_rect().expect("objects are not empty");
        let reach = 4.0 * (bbox.width() + bbox.height());
        let center = self.polygon.centroid().map_or(bbox.center(), |c| c.0);
        let mut pieces = MultiPolygon(vec![self.polygon.clone()]);
        for cut in 0..self.cuts {
            if cx.is_cancelled() {
                break; // partial work; the processor discards it
            }
            // A crack through a point near the centre, at a random angle.
            let through = Coord {
                x: center.x + rng.range(-0.3, 0.3) * bbox.width(),
                y: center.y + rng.range(-0.3, 0.3) * bbox.height(),
            };
            let plane = half_plane(through, rng.range(0.0, std::f64::consts::PI), reach);
            let mut next = Vec::with_capacity(pieces.0.len() * 2);
            for piece in &pieces.0 {
                next.extend(piece.intersection(&plane).0);
                next.extend(piece.difference(&plane).0);
            }
            pieces = MultiPolygon(next);
            cx.report_progress((cut + 1) as f32 / self.cuts as f32);
        }
        let area_after = pieces.0.iter().map(Area::unsigned_area).sum();
        Fragments {
            object: self.object,
            pieces: pieces.0,
            area_before,
            area_after,
        }
    }
}

impl JobRun for Fracture {
    type Output = Fragments;

    fn run(&mut self, cx: &JobContext) -> Fragments {
        self.fracture(cx)
    }

    /// Cost is learned per kind: shape family and crack count (a star has
    /// more edges to cut than a square, five cracks cost more than two).
    fn name(&self) -> &str {
        &self.kind
    }

    fn priority(&self) -> Priority {
        self.priority
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Coord;
    use macrokid_threads::CancelToken;

    fn job(shape: Shape, cuts: u32) -> Fracture {
        let mut rng = Rng::new(3);
        let polygon = crate::shapes::make(&mut rng, shape, Coord { x: 10.0, y: 10.0 }, 5.0);
        Fracture::new(0, shape, polygon, cuts, 11, Priority::Normal)
    }

    #[test]
    fn every_shape_breaks_into_pieces_that_keep_its_area() {
        for shape in Shape::ALL {
            let fragments = job(shape, 4).run(&JobContext::detached());
            assert!(
                fragments.pieces.len() >= 5,
                "{shape:?}: {}",
                fragments.pieces.len()
            );
            assert!(fragments.relative_area_error() < 1e-6, "{shape:?}");
            assert!(fragments.area_before > 1.0);
        }
    }

    #[test]
    fn a_cancelled_fracture_stops_before_the_next_crack() {
        let token = CancelToken::new();
        token.cancel();
        let fragments = job(Shape::Star, 5).run(&JobContext::new(token, None));
        assert_eq!(fragments.pieces.len(), 1, "no crack was made");
    }

    #[test]
    fn kinds_name_shape_and_cracks() {
        assert_eq!(job(Shape::Ring, 3).name(), "fracture/ring/3");
    }
}
