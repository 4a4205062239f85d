//! Fracture example (work in progress).
fn main() {}
