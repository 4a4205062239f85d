//! Names a type of each crate, so that the manifest's dependencies are the
//! ones a real user would write. Only resolved (`cargo tree`), not built.

pub use bevy_ecs::world::World as BevyWorld;
pub use macrokid_ecs::World as MacrokidWorld;
