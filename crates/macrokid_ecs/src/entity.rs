//! Generational entity ids and their allocator.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::EcsError;

/// A handle to an entity of a [`World`](crate::World): a 32-bit index plus a
/// 32-bit generation.
///
/// The index names a slot in the world's entity table; the generation counts
/// how many times that slot was freed. When an entity is despawned its slot's
/// generation is bumped, so every copy of the old id becomes *stale*: the
/// world rejects it with [`EcsError::StaleEntity`] instead of resolving it to
/// whatever entity reuses the slot. An id is never aliased: a slot whose
/// generation would wrap around is retired instead of reused.
///
/// Packed into a `u64` by [`to_bits`](Self::to_bits) as
/// `generation << 32 | index`. Ordering is by index, then generation.
/// `Debug` and `Display` print `{index}v{generation}`, e.g. `3v1`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entity {
    index: u32,
    generation: u32,
}

impl Entity {
    pub(crate) const fn new(index: u32, generation: u32) -> Self {
        Self { index, generation }
    }

    /// The slot index in the world's entity table.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// How many times the slot was freed before this id was handed out.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// The id packed as `generation << 32 | index`.
    pub const fn to_bits(self) -> u64 {
        (self.generation as u64) << 32 | self.index as u64
    }

    /// The inverse of [`to_bits`](Self::to_bits). Every `u64` is a
    /// well-formed id; whether it names a live entity is for the world to say.
    pub const fn from_bits(bits: u64) -> Self {
        Self {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Debug for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index, self.generation)
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where a live entity's components are: its archetype and its row there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) archetype: u32,
    pub(crate) row: u32,
}

impl Location {
    /// The marker of a free slot.
    const FREE: Location = Location {
        archetype: u32::MAX,
        row: u32::MAX,
    };

    /// The marker of a reserved slot whose entity is not placed yet (see
    /// [`Entities::flush_reserved`]). Like a free slot, not alive.
    const RESERVED: Location = Location {
        archetype: u32::MAX,
        row: u32::MAX - 1,
    };

    /// Whether the slot holds a live entity (neither free nor reserved).
    #[inline]
    fn is_live(self) -> bool {
        self.archetype != u32::MAX
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    generation: u32,
    location: Location,
}

/// The entity table: one slot per index ever allocated, and a free list.
///
/// Freed indices are reused last-in first-out with their generation bumped.
///
/// Ids can also be *reserved* through `&self` ([`reserve_id`](Self::reserve_id),
/// hecs's and bevy's design): an atomic cursor walks down the free list and
/// then past the last slot, so concurrent reservations never hand out one id
/// twice. Reserved ids become slots in [`flush_reserved`](Self::flush_reserved)
/// and entities in [`place`](Self::place); [`cancel_reservations`](Self::cancel_reservations)
/// forgets them. Every `&mut` method other than these expects no pending
/// reservation (the world flushes or cancels them at the end of each stage).
#[derive(Debug, Default)]
pub(crate) struct Entities {
    slots: Vec<Slot>,
    free: Vec<u32>,
    alive: usize,
    /// `free.len()` minus the number of pending reservations: a positive
    /// value `n` means the next reservation takes `free[n - 1]`; zero or
    /// below, new slots past `slots.len()`.
    cursor: AtomicI64,
}

impl Entities {
    /// Reserves an id without taking `&mut`: the next free index (last
    /// freed first, as [`alloc`](Self::alloc) would), then fresh indices.
    /// The id is not alive until [`flush_reserved`](Self::flush_reserved)
    /// and [`place`](Self::place).
    ///
    /// # Panics
    /// When the reservation would need more than 2^32 - 1 slots.
    pub(crate) fn reserve_id(&self) -> Entity {
        let n = self.cursor.fetch_sub(1, Ordering::Relaxed);
        if n > 0 {
            let index = self.free[n as usize - 1];
            Entity::new(index, self.slots[index as usize].generation)
        } else {
            let index = u32::try_from(self.slots.len() as i64 - n)
                .ok()
                .filter(|&i| i < u32::MAX)
                .expect("entity table full: more than 2^32 - 1 entity slots were reserved");
            Entity::new(index, 0)
        }
    }

    /// The number of pending reservations.
    pub(crate) fn pending_reservations(&self) -> usize {
        (self.free.len() as i64 - self.cursor.load(Ordering::Relaxed)) as usize
    }

    /// Forgets every pending reservation: the next ones hand out the same
    /// ids again (for commands that are dropped, not applied).
    pub(crate) fn cancel_reservations(&mut self) {
        *self.cursor.get_mut() = self.free.len() as i64;
    }

    /// Turns the pending reservations into reserved slots (off the free
    /// list, not alive) and returns their ids in reservation order.
    pub(crate) fn flush_reserved(&mut self) -> Vec<Entity> {
        let cursor = *self.cursor.get_mut();
        let mut reserved = Vec::new();
        let kept = cursor.max(0) as usize;
        for &index in self.free[kept..].iter().rev() {
            let slot = &mut self.slots[index as usize];
            slot.location = Location::RESERVED;
            reserved.push(Entity::new(index, slot.generation));
        }
        self.free.truncate(kept);
        for _ in 0..(-cursor).max(0) {
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                location: Location::RESERVED,
            });
            reserved.push(Entity::new(index, 0));
        }
        *self.cursor.get_mut() = self.free.len() as i64;
        reserved
    }

    /// Makes a flushed reservation alive at `location`.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not a flushed, unplaced
    /// reservation.
    pub(crate) fn place(&mut self, entity: Entity, location: Location) -> Result<(), EcsError> {
        match self.slots.get_mut(entity.index as usize) {
            Some(slot)
                if slot.generation == entity.generation && slot.location == Location::RESERVED =>
            {
                slot.location = location;
                self.alive += 1;
                Ok(())
            }
            _ => Err(EcsError::StaleEntity { entity }),
        }
    }

    /// Whether `entity` is a flushed reservation not placed yet.
    pub(crate) fn is_reserved(&self, entity: Entity) -> bool {
        self.slots.get(entity.index as usize).is_some_and(|slot| {
            slot.generation == entity.generation && slot.location == Location::RESERVED
        })
    }

    /// Gives back flushed reservations that were never placed, as a
    /// despawn would (generation bumped, index freed).
    pub(crate) fn release_unplaced(&mut self, reserved: &[Entity]) {
        for &entity in reserved {
            if self.is_reserved(entity) {
                let slot = &mut self.slots[entity.index as usize];
                slot.location = Location::FREE;
                if let Some(next) = slot.generation.checked_add(1) {
                    slot.generation = next;
                    self.free.push(entity.index);
                }
            }
        }
        *self.cursor.get_mut() = self.free.len() as i64;
    }

    /// Hands out an id (reusing a freed index when there is one) located at
    /// `location`.
    ///
    /// # Panics
    /// When all 2^32 - 1 slots are taken (then nothing changes).
    ///
    /// The one-at-a-time model that tests check [`alloc_rows`](Self::alloc_rows)
    /// against.
    #[cfg(test)]
    pub(crate) fn alloc(&mut self, location: Location) -> Entity {
        self.alloc_below(location, u32::MAX)
    }

    /// [`alloc`](Self::alloc) with at most `limit` slots (a parameter only
    /// so that tests can reach the limit).
    #[cfg(test)]
    fn alloc_below(&mut self, location: Location, limit: u32) -> Entity {
        debug_assert_eq!(
            self.pending_reservations(),
            0,
            "alloc with pending reservations"
        );
        let entity = if let Some(index) = self.free.pop() {
            *self.cursor.get_mut() -= 1;
            let slot = &mut self.slots[index as usize];
            slot.location = location;
            Entity::new(index, slot.generation)
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i < limit)
                .expect("entity table full: more than 2^32 - 1 entity slots were allocated");
            self.slots.push(Slot {
                generation: 0,
                location,
            });
            Entity::new(index, 0)
        };
        // Counted only once allocated: the `expect` above changes nothing.
        self.alive += 1;
        entity
    }

    /// Hands out `count` ids for rows `first_row..first_row + count` of
    /// table `archetype`, in row order, appending them to `out`: freed
    /// indices first (last freed first, as `count` calls of
    /// [`alloc`](Self::alloc) would), then a run of fresh indices written
    /// in one pass (the bulk path of `World::spawn_batch`).
    ///
    /// # Panics
    /// When the rows would not fit `u32` row numbers or the fresh indices
    /// would pass 2^32 - 1 slots (then nothing changes).
    pub(crate) fn alloc_rows(
        &mut self,
        archetype: u32,
        first_row: usize,
        count: usize,
        out: &mut Vec<Entity>,
    ) {
        self.alloc_rows_below(archetype, first_row, count, out, u32::MAX);
    }

    /// [`alloc_rows`](Self::alloc_rows) with at most `limit` slots (a
    /// parameter only so that tests can reach the limit).
    fn alloc_rows_below(
        &mut self,
        archetype: u32,
        first_row: usize,
        count: usize,
        out: &mut Vec<Entity>,
        limit: u32,
    ) {
        debug_assert_eq!(
            self.pending_reservations(),
            0,
            "alloc with pending reservations"
        );
        let end_row = first_row
            .checked_add(count)
            .and_then(|end| u32::try_from(end).ok())
            .expect("more than 2^32 entities in one table");
        let reused = count.min(self.free.len());
        let fresh = count - reused;
        let start = self.slots.len();
        assert!(
            u32::try_from(start + fresh).is_ok_and(|end| end <= limit),
            "entity table full: more than 2^32 - 1 entity slots were allocated"
        );
        out.reserve(count);
        let mut row = first_row as u32;
        for _ in 0..reused {
            let index = self.free.pop().expect("`reused` is at most the free count");
            let slot = &mut self.slots[index as usize];
            slot.location = Location { archetype, row };
            out.push(Entity::new(index, slot.generation));
            row += 1;
        }
        *self.cursor.get_mut() -= reused as i64;
        debug_assert_eq!(end_row - row, fresh as u32);
        self.slots.extend((row..end_row).map(|row| Slot {
            generation: 0,
            location: Location { archetype, row },
        }));
        // `start + fresh` fits `u32`: checked above.
        let (start, end) = (start as u32, (start + fresh) as u32);
        out.extend((start..end).map(|index| Entity::new(index, 0)));
        self.alive += count;
    }

    /// Reserves capacity for `additional` more allocations.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots
            .reserve(additional.saturating_sub(self.free.len()));
    }

    /// The location of a live entity.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    pub(crate) fn location(&self, entity: Entity) -> Result<Location, EcsError> {
        match self.slots.get(entity.index as usize) {
            Some(slot) if slot.generation == entity.generation && slot.location.is_live() => {
                Ok(slot.location)
            }
            _ => Err(EcsError::StaleEntity { entity }),
        }
    }

    /// The number of slots (live, free, reserved or retired).
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The live entity in slot `index` and its location, if one is.
    pub(crate) fn live_at(&self, index: u32) -> Option<(Entity, Location)> {
        self.slots
            .get(index as usize)
            .filter(|slot| slot.location.is_live())
            .map(|slot| (Entity::new(index, slot.generation), slot.location))
    }

    /// Whether `entity` is alive.
    pub(crate) fn contains(&self, entity: Entity) -> bool {
        self.location(entity).is_ok()
    }

    /// Moves a live entity (the caller checked it is alive).
    pub(crate) fn set_location(&mut self, entity: Entity, location: Location) {
        let slot = &mut self.slots[entity.index as usize];
        debug_assert_eq!(
            slot.generation, entity.generation,
            "set_location on a stale {entity}"
        );
        slot.location = location;
    }

    /// Frees a live entity, returning where it was. Its generation is bumped
    /// so that every copy of `entity` becomes stale.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    pub(crate) fn free(&mut self, entity: Entity) -> Result<Location, EcsError> {
        let location = self.location(entity)?;
        let slot = &mut self.slots[entity.index as usize];
        slot.location = Location::FREE;
        self.alive -= 1;
        // An exhausted slot is retired: reusing it would hand out generation
        // 0 again and alias ids from 2^32 generations ago.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(entity.index);
            *self.cursor.get_mut() += 1;
        }
        Ok(location)
    }

    /// Makes each entity of `claims` alive at its location with the id
    /// given (the generation is taken as given, as a restore takes it):
    /// slots past the end are added first (free, generation 0), and every
    /// claimed slot leaves the free list. Used by `World::replace_table_rows`.
    ///
    /// The caller has checked that no claimed slot is alive or reserved,
    /// that the claimed indices are distinct and below `u32::MAX`, and that
    /// no reservation is pending.
    pub(crate) fn claim(&mut self, claims: &[(Entity, Location)]) {
        let Some(end) = claims.iter().map(|(e, _)| e.index as usize + 1).max() else {
            return;
        };
        if end > self.slots.len() {
            let start = self.slots.len() as u32;
            self.slots.resize(
                end,
                Slot {
                    generation: 0,
                    location: Location::FREE,
                },
            );
            self.free.extend(start..end as u32);
        }
        for &(entity, location) in claims {
            debug_assert!(!self.slots[entity.index as usize].location.is_live());
            self.slots[entity.index as usize] = Slot {
                generation: entity.generation,
                location,
            };
        }
        // The claimed slots are live now: what stays on the free list is the rest.
        let slots = &self.slots;
        self.free.retain(|&i| !slots[i as usize].location.is_live());
        self.alive += claims.len();
        *self.cursor.get_mut() = self.free.len() as i64;
    }

    /// The number of live entities.
    pub(crate) fn len(&self) -> usize {
        self.alive
    }

    /// The live entities and their locations, by ascending index.
    pub(crate) fn live(&self) -> impl Iterator<Item = (Entity, Location)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.location.is_live())
            .map(|(index, slot)| (Entity::new(index as u32, slot.generation), slot.location))
    }

    /// The generation of every slot, by index (live, free or retired).
    pub(crate) fn generations(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().map(|slot| slot.generation)
    }

    /// The free list, in order (the last index is reused first).
    pub(crate) fn free_list(&self) -> &[u32] {
        &self.free
    }

    /// An entity table rebuilt from parts: `generations[i]` and
    /// `locations[i]` (`None`: not alive) describe slot `i`; `free` is the
    /// free list.
    ///
    /// The caller has checked that the parts agree: one location per
    /// generation, live slots not on the free list, free indices distinct and
    /// in range, and every dead slot either free or retired
    /// (generation `u32::MAX`).
    pub(crate) fn from_parts(
        generations: &[u32],
        locations: &[Option<Location>],
        free: Vec<u32>,
    ) -> Self {
        debug_assert_eq!(generations.len(), locations.len());
        let slots: Vec<Slot> = generations
            .iter()
            .zip(locations)
            .map(|(&generation, location)| Slot {
                generation,
                location: location.unwrap_or(Location::FREE),
            })
            .collect();
        let alive = locations.iter().filter(|l| l.is_some()).count();
        let cursor = AtomicI64::new(free.len() as i64);
        Self {
            slots,
            free,
            alive,
            cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Location = Location {
        archetype: 0,
        row: 0,
    };

    #[test]
    fn bits_round_trip_and_debug() {
        let e = Entity::new(3, 1);
        assert_eq!(Entity::from_bits(e.to_bits()), e);
        assert_eq!(e.to_bits(), 1 << 32 | 3);
        assert_eq!(format!("{e:?}"), "3v1");
        assert_eq!(e.to_string(), "3v1");
    }

    #[test]
    fn freed_index_is_reused_with_bumped_generation() {
        let mut entities = Entities::default();
        let a = entities.alloc(HERE);
        let b = entities.alloc(HERE);
        assert_eq!((a.index(), a.generation()), (0, 0));
        assert_eq!((b.index(), b.generation()), (1, 0));
        entities.free(a).unwrap();
        assert_eq!(
            entities.location(a),
            Err(EcsError::StaleEntity { entity: a })
        );
        let c = entities.alloc(HERE);
        assert_eq!((c.index(), c.generation()), (0, 1));
        assert!(!entities.contains(a));
        assert!(entities.contains(c));
        assert_eq!(entities.free(a), Err(EcsError::StaleEntity { entity: a }));
        assert_eq!(entities.len(), 2);
    }

    #[test]
    fn forged_ids_are_rejected() {
        let mut entities = Entities::default();
        let a = entities.alloc(HERE);
        entities.free(a).unwrap();
        // The current generation of a free slot is not alive either.
        let forged = Entity::new(0, 1);
        assert!(!entities.contains(forged));
        assert!(!entities.contains(Entity::new(7, 0)));
    }

    #[test]
    fn a_full_table_panics_without_counting_an_entity() {
        let mut entities = Entities::default();
        let a = entities.alloc_below(HERE, 2);
        entities.alloc_below(HERE, 2);
        let full = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            entities.alloc_below(HERE, 2);
        }));
        let msg = full.expect_err("a third slot is over the limit");
        let msg = msg
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| msg.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(msg.contains("entity table full"), "{msg}");
        assert_eq!(entities.len(), 2, "the failed alloc is not counted");
        // A freed slot can still be reused, and the count stays exact.
        entities.free(a).unwrap();
        assert_eq!(entities.len(), 1);
        let b = entities.alloc_below(HERE, 2);
        assert_eq!(b.index(), a.index());
        assert_eq!(entities.len(), 2);
    }

    #[test]
    fn bulk_rows_match_repeated_allocs() {
        // Two tables, one allocating row by row and one in bulk, over the
        // same history of frees: same ids, same locations, same counts.
        let (mut single, mut bulk) = (Entities::default(), Entities::default());
        let mut out = Vec::new();
        for round in 0..4_u32 {
            let (first_row, count) = (round as usize * 3, 5 + round as usize);
            let expected: Vec<Entity> = (0..count)
                .map(|i| {
                    single.alloc(Location {
                        archetype: 7,
                        row: (first_row + i) as u32,
                    })
                })
                .collect();
            out.clear();
            bulk.alloc_rows(7, first_row, count, &mut out);
            assert_eq!(out, expected, "round {round}");
            for (i, &entity) in out.iter().enumerate() {
                let at = bulk.location(entity).unwrap();
                assert_eq!((at.archetype, at.row as usize), (7, first_row + i));
            }
            assert_eq!(bulk.len(), single.len());
            // Free every other id, most recent last, in both tables.
            for &entity in out.iter().step_by(2) {
                single.free(entity).unwrap();
                bulk.free(entity).unwrap();
            }
            assert_eq!(bulk.free_list(), single.free_list());
            assert_eq!(bulk.pending_reservations(), 0);
        }
        // Past the slot limit nothing changes.
        let before = (bulk.len(), bulk.free_list().len());
        let slots = bulk.generations().count() as u32;
        let full = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bulk.alloc_rows_below(1, 0, before.1 + 2, &mut Vec::new(), slots + 1);
        }));
        assert!(full.is_err(), "two fresh slots are over the limit");
        assert_eq!((bulk.len(), bulk.free_list().len()), before);
    }

    #[test]
    fn reservations_match_allocations_and_cancel_exactly() {
        // Two worlds, one allocating and one reserving, hand out the same ids.
        let mut direct = Entities::default();
        let mut reserving = Entities::default();
        for e in [&mut direct, &mut reserving] {
            let a = e.alloc(HERE);
            e.alloc(HERE);
            let c = e.alloc(HERE);
            e.free(a).unwrap();
            e.free(c).unwrap();
        }
        let expected: Vec<Entity> = (0..4).map(|_| direct.alloc(HERE)).collect();
        let reserved: Vec<Entity> = (0..4).map(|_| reserving.reserve_id()).collect();
        assert_eq!(reserved, expected);
        assert_eq!(reserving.pending_reservations(), 4);
        // Cancelled reservations are handed out again.
        reserving.cancel_reservations();
        let again: Vec<Entity> = (0..4).map(|_| reserving.reserve_id()).collect();
        assert_eq!(again, expected);
        let flushed = reserving.flush_reserved();
        assert_eq!(flushed, expected);
        assert_eq!(reserving.pending_reservations(), 0);
        assert!(!reserving.contains(flushed[0]), "reserved is not alive");
        for &e in &flushed[..3] {
            reserving.place(e, HERE).unwrap();
        }
        assert_eq!(
            reserving.place(flushed[0], HERE),
            Err(EcsError::StaleEntity { entity: flushed[0] })
        );
        reserving.release_unplaced(&flushed);
        assert_eq!(reserving.len(), 4);
        assert!(!reserving.contains(flushed[3]));
        // The unplaced one was freed like a despawn: its index comes back
        // with a bumped generation, as from the direct table.
        direct.free(expected[3]).unwrap();
        assert_eq!(reserving.alloc(HERE), direct.alloc(HERE));
    }

    #[test]
    fn concurrent_reservations_are_distinct() {
        let mut entities = Entities::default();
        let first = entities.alloc(HERE);
        entities.free(first).unwrap();
        let ids: Vec<Entity> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).map(|_| entities.reserve_id()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 400);
        let flushed = entities.flush_reserved();
        assert_eq!(flushed.len(), 400);
    }

    #[test]
    fn exhausted_generation_retires_the_slot() {
        let mut entities = Entities::default();
        let a = entities.alloc(HERE);
        entities.slots[0].generation = u32::MAX;
        let a = Entity::new(a.index(), u32::MAX);
        entities.free(a).unwrap();
        let b = entities.alloc(HERE);
        assert_ne!(b.index(), a.index());
    }
}
