//! [`SparseStorageMut`]: one sparse-set component's storage held across
//! many inserts and removals (specs's `WriteStorage`, for the components
//! that come and go).

use std::any::TypeId;
use std::fmt;

use crate::change::{ComponentTicks, Mut, Removals, Tick};
use crate::component::Component;
use crate::entity::{Entities, Entity};
use crate::error::EcsError;
use crate::storage::TypedSparseSet;

use super::{missing_component, World};

/// Exclusive access to the sparse set of component `T`, held across many
/// operations: [`World::sparse_storage_mut`].
///
/// Each call does what [`World::insert`], [`World::remove`],
/// [`World::get`] and [`World::get_mut`] do for a sparse `T` (the same
/// added/changed ticks, the same removal log read by
/// [`World::removed`] and [`SystemCx::removed`](crate::SystemCx::removed)), without finding the set by type on every call:
/// the set, its values typed as `T`, and `T`'s removal log are looked up
/// once, when the handle is made. It borrows the world mutably, so no
/// entity is spawned or despawned while it is held.
///
/// ```
/// use macrokid_ecs::prelude::*;
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Selected;
///
/// let mut world = World::new();
/// world.register_sparse::<Selected>().unwrap();
/// let entities = world.spawn_batch((0..4).map(|i| (i as f32,)));
/// {
///     let mut selected = world.sparse_storage_mut::<Selected>().unwrap();
///     for &e in &entities[..2] {
///         selected.insert(e, Selected).unwrap();
///     }
///     assert_eq!(selected.len(), 2);
///     assert_eq!(selected.remove(entities[0]), Ok(Selected));
/// }
/// assert!(world.has::<Selected>(entities[1]));
/// assert_eq!(world.removed::<Selected>().collect::<Vec<_>>(), [entities[0]]);
/// ```
pub struct SparseStorageMut<'w, T: Component> {
    entities: &'w Entities,
    set: TypedSparseSet<'w, T>,
    removals: &'w mut Removals,
    tick: Tick,
}

impl<T: Component> fmt::Debug for SparseStorageMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SparseStorageMut")
            .field("component", &std::any::type_name::<T>())
            .field("len", &self.set.len())
            .field("tick", &self.tick)
            .finish()
    }
}

impl<T: Component> SparseStorageMut<'_, T> {
    /// Checks that `entity` is alive.
    #[inline(always)]
    fn check_alive(&self, entity: Entity) -> Result<(), EcsError> {
        self.entities.location(entity).map(drop)
    }

    /// Gives `entity` the component `value`, stamped added and changed at
    /// the world's change tick; when it already has a `T`, the value is
    /// replaced (stamped changed) and the old one returned.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive; `value` is
    /// dropped.
    ///
    /// # Panics
    /// When the set would hold more than 2^32 - 1 values.
    #[inline]
    pub fn insert(&mut self, entity: Entity, value: T) -> Result<Option<T>, EcsError> {
        self.check_alive(entity)?;
        Ok(self.set.insert(entity, value, self.tick))
    }

    /// Removes the `T` of `entity` and returns it; the removal is logged
    /// (for [`World::removed`] and [`SystemCx::removed`](crate::SystemCx::removed))
    /// as [`World::remove`] logs it.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::MissingComponent`] when it has no `T`.
    #[inline]
    pub fn remove(&mut self, entity: Entity) -> Result<T, EcsError> {
        self.check_alive(entity)?;
        let Some(value) = self.set.remove(entity) else {
            return Err(missing_component::<T>(entity));
        };
        self.removals.push((entity, self.tick));
        Ok(value)
    }

    /// The `T` of `entity`, if it is alive and has one.
    #[inline]
    pub fn get(&self, entity: Entity) -> Option<&T> {
        self.check_alive(entity).ok()?;
        self.set.get(entity)
    }

    /// The `T` of `entity` behind a guard that stamps it changed on write
    /// (as [`World::get_mut`]), if it is alive and has one.
    #[inline]
    pub fn get_mut(&mut self, entity: Entity) -> Option<Mut<'_, T>> {
        self.check_alive(entity).ok()?;
        let tick = self.tick;
        let (value, added, changed) = self.set.get_mut(entity)?;
        Some(Mut::new(value, added, changed, tick))
    }

    /// Whether `entity` is alive and has a `T`.
    #[inline]
    pub fn contains(&self, entity: Entity) -> bool {
        self.get(entity).is_some()
    }

    /// The number of entities with a `T`.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no entity has a `T`.
    pub fn is_empty(&self) -> bool {
        self.set.len() == 0
    }

    /// When the `T` of `entity` was added and last changed, if it is alive
    /// and has one.
    pub fn ticks(&self, entity: Entity) -> Option<ComponentTicks> {
        self.check_alive(entity).ok()?;
        self.set.ticks(entity)
    }
}

impl World {
    /// The storage of sparse component `T`, held: for many inserts and
    /// removals in a row (toggling a tag on thousands of entities), each
    /// cheaper than a [`World::insert`]/[`World::remove`], which find the
    /// set by type every call. The handle borrows the world mutably.
    ///
    /// # Errors
    /// [`EcsError::NotSparse`] when `T` was not registered with
    /// [`World::register_sparse`] (table components move rows on insert
    /// and remove; use [`World::insert`] for them).
    pub fn sparse_storage_mut<T: Component>(
        &mut self,
    ) -> Result<SparseStorageMut<'_, T>, EcsError> {
        let type_id = TypeId::of::<T>();
        let set = self.sparse.get_mut(&type_id).ok_or(EcsError::NotSparse {
            component: std::any::type_name::<T>(),
        })?;
        Ok(SparseStorageMut {
            entities: &self.entities,
            set: set.typed_mut::<T>(),
            removals: self.removed.entry(type_id).or_default(),
            tick: self.change_tick,
        })
    }
}
