//! Change detection: per-row added/changed ticks, the [`Mut`] guard that
//! marks a change only when written through, and the wrap-around-safe tick
//! comparison.
//!
//! The design is bevy_ecs's (`Tick`, `ComponentTicks`, `check_change_ticks`):
//! the world keeps a 32-bit change tick; every system run gets a tick of its
//! own (`this_run`) and remembers the tick of its previous run
//! (`last_run`); a component row records the tick at which it was added and
//! last changed. A row is *changed for a system* when its tick is newer than
//! the system's `last_run`, measured backwards from `this_run` with wrapping
//! arithmetic, so the comparison stays right when the counter wraps around as
//! long as no tick is older than [`MAX_CHANGE_AGE`] — which
//! `World::check_change_ticks` ensures by clamping old ticks, run
//! automatically every [`CHECK_TICK_THRESHOLD`] ticks.
//!
//! Ticks are given out deterministically: in a schedule, system slot `s`
//! of a stage run starting at world tick `t` runs with `this_run = t + 1 + s`,
//! and the stage's commands apply at `t + 1 + slots`. Conflicting systems run
//! in slot order, so a reader sees every write of a conflicting writer exactly
//! once, whichever of the two runs first within a tick.

use std::any::TypeId;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::entity::Entity;
use crate::hash::TypeIdMap;

/// How many ticks may pass between two `check_change_ticks` passes (the
/// world runs one when this many ticks passed since the last).
pub const CHECK_TICK_THRESHOLD: u32 = 518_400_000;

/// The oldest a tick may get relative to the current one before it is
/// clamped; older changes are reported as "at least this old".
pub const MAX_CHANGE_AGE: u32 = u32::MAX - (2 * CHECK_TICK_THRESHOLD - 1);

/// A point in a world's change history (a wrapping 32-bit counter).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Tick(u32);

impl Tick {
    /// The tick with counter value `tick`.
    pub const fn new(tick: u32) -> Self {
        Self(tick)
    }

    /// The counter value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether `self` is after `last_run`, both seen from `this_run`
    /// (wrap-around safe while both are at most [`MAX_CHANGE_AGE`] old).
    #[inline]
    pub fn is_newer_than(self, last_run: Tick, this_run: Tick) -> bool {
        let ticks_since_insert = this_run.0.wrapping_sub(self.0).min(MAX_CHANGE_AGE);
        let ticks_since_system = this_run.0.wrapping_sub(last_run.0).min(MAX_CHANGE_AGE);
        ticks_since_system > ticks_since_insert
    }

    /// Clamps `self` to at most [`MAX_CHANGE_AGE`] before `now`. Returns
    /// whether it changed.
    pub(crate) fn check(&mut self, now: Tick) -> bool {
        if now.0.wrapping_sub(self.0) > MAX_CHANGE_AGE {
            self.0 = now.0.wrapping_sub(MAX_CHANGE_AGE);
            true
        } else {
            false
        }
    }

    /// The tick `n` after this one.
    pub(crate) fn after(self, n: u32) -> Tick {
        Tick(self.0.wrapping_add(n))
    }
}

impl fmt::Debug for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tick({})", self.0)
    }
}

/// When a component row was added and last changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentTicks {
    /// The tick of the insert (or spawn) that added the component.
    pub added: Tick,
    /// The tick of the last write through a [`Mut`], `get_mut`, or insert.
    pub changed: Tick,
}

impl ComponentTicks {
    /// Added and changed at `tick`.
    pub const fn new(tick: Tick) -> Self {
        Self {
            added: tick,
            changed: tick,
        }
    }
}

/// The ticks a system run compares rows against: its previous run and this
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemTicks {
    /// The `this_run` of the system's previous run (for a first run,
    /// [`MAX_CHANGE_AGE`] before `this_run`: every row counts as new).
    pub last_run: Tick,
    /// This run's tick: writes are stamped with it.
    pub this_run: Tick,
}

impl SystemTicks {
    /// The ticks of a run at `this_run` after one at `last_run`.
    pub const fn new(last_run: Tick, this_run: Tick) -> Self {
        Self { last_run, this_run }
    }

    /// The ticks of a first run at `this_run`.
    pub fn first_run(this_run: Tick) -> Self {
        Self {
            last_run: Tick(this_run.0.wrapping_sub(MAX_CHANGE_AGE)),
            this_run,
        }
    }
}

/// Mutable access to a component that records a change only when written
/// through (`DerefMut`), like bevy_ecs's `Mut`. Reading through `Deref`
/// leaves the row unchanged, so a `Changed<T>` filter only sees real writes.
///
/// Query items of `&mut T` are `Mut<'_, T>`; field access and method calls
/// work through auto-deref (`pos.x += 1.0`), and `&mut *m` gives a plain
/// `&mut T` (marking the change).
pub struct Mut<'a, T: ?Sized> {
    value: &'a mut T,
    added: &'a Tick,
    changed: &'a mut Tick,
    this_run: Tick,
}

impl<'a, T: ?Sized> Mut<'a, T> {
    /// `value` with its row's added and changed ticks; writes stamp
    /// `changed` with `this_run`.
    pub(crate) fn new(
        value: &'a mut T,
        added: &'a Tick,
        changed: &'a mut Tick,
        this_run: Tick,
    ) -> Self {
        Self {
            value,
            added,
            changed,
            this_run,
        }
    }

    /// When the component was added and last changed.
    pub fn ticks(&self) -> ComponentTicks {
        ComponentTicks {
            added: *self.added,
            changed: *self.changed,
        }
    }

    /// Marks the value changed without writing it.
    pub fn set_changed(&mut self) {
        *self.changed = self.this_run;
    }

    /// The value, mutable, *without* marking a change (for writes that
    /// must not wake `Changed<T>` readers, e.g. caches).
    pub fn bypass_change_detection(&mut self) -> &mut T {
        self.value
    }

    /// The `&'a mut T`, marking the change.
    pub fn into_inner(self) -> &'a mut T {
        *self.changed = self.this_run;
        self.value
    }
}

impl<T: ?Sized> Deref for Mut<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized> DerefMut for Mut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        *self.changed = self.this_run;
        self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: ?Sized + PartialEq> PartialEq<T> for Mut<'_, T> {
    fn eq(&self, other: &T) -> bool {
        *self.value == *other
    }
}

/// One component type's removal log: the entities that lost it, with the
/// tick, in the order it happened.
pub(crate) type Removals = Vec<(Entity, Tick)>;

/// The world's removal logs (for `World::removed` and `RemovedComponents`),
/// one per component type that ever lost a value.
///
/// The logs are a dense list found through a map, and the type pushed to
/// last is remembered: removals come in runs of one type (a loop of
/// `remove::<T>`), which then find their log without hashing.
#[derive(Default)]
pub(crate) struct RemovalLog {
    logs: Vec<Removals>,
    index: TypeIdMap<TypeId, usize>,
    /// The type pushed to last and its index in `logs`.
    last: Option<(TypeId, usize)>,
}

impl RemovalLog {
    /// Logs that `entity` lost its component of type `type_id` at `tick`.
    #[inline(always)]
    pub(crate) fn push(&mut self, type_id: TypeId, entity: Entity, tick: Tick) {
        self.entry(type_id).or_default().push((entity, tick));
    }

    /// The log of `type_id` (made, empty, if new), spelled as a map's
    /// `entry(..).or_default()` for the paths written against one.
    #[inline]
    pub(crate) fn entry(&mut self, type_id: TypeId) -> RemovalEntry<'_> {
        let index = match self.last {
            Some((last, index)) if last == type_id => index,
            _ => self.index_of(type_id),
        };
        RemovalEntry(&mut self.logs[index])
    }

    /// The index of `type_id`'s log (made if new), remembered as the last.
    #[cold]
    fn index_of(&mut self, type_id: TypeId) -> usize {
        let next = self.logs.len();
        let index = *self.index.entry(type_id).or_insert(next);
        if index == next {
            self.logs.push(Removals::new());
        }
        self.last = Some((type_id, index));
        index
    }

    /// The log of `type_id`, if it has one.
    pub(crate) fn get(&self, type_id: &TypeId) -> Option<&Removals> {
        self.index.get(type_id).map(|&index| &self.logs[index])
    }

    /// Every log, mutable (to clear, age or clamp their ticks).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Removals> {
        self.logs.iter_mut()
    }
}

/// One type's log in a [`RemovalLog`] (see [`RemovalLog::entry`]).
pub(crate) struct RemovalEntry<'a>(&'a mut Removals);

impl<'a> RemovalEntry<'a> {
    /// The log.
    #[inline(always)]
    pub(crate) fn or_default(self) -> &'a mut Removals {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_logs_keep_each_type_in_order_across_runs_and_switches() {
        let (a, b) = (TypeId::of::<u8>(), TypeId::of::<u16>());
        let e = |i| Entity::new(i, 0);
        let mut log = RemovalLog::default();
        assert!(log.get(&a).is_none());
        log.push(a, e(0), Tick::new(1));
        log.push(a, e(1), Tick::new(1));
        log.push(b, e(2), Tick::new(2));
        // Back to `a` after `b`: the remembered type is `b`, found by map.
        log.push(a, e(3), Tick::new(3));
        log.entry(b).or_default().push((e(4), Tick::new(4)));
        assert_eq!(
            log.get(&a).unwrap(),
            &[
                (e(0), Tick::new(1)),
                (e(1), Tick::new(1)),
                (e(3), Tick::new(3))
            ]
        );
        assert_eq!(
            log.get(&b).unwrap(),
            &[(e(2), Tick::new(2)), (e(4), Tick::new(4))]
        );
        for list in log.values_mut() {
            list.clear();
        }
        log.push(b, e(5), Tick::new(5));
        assert!(log.get(&a).unwrap().is_empty());
        assert_eq!(log.get(&b).unwrap(), &[(e(5), Tick::new(5))]);
        assert!(log.get(&TypeId::of::<u32>()).is_none());
    }

    #[test]
    fn newer_than_is_relative_to_this_run_and_wraps() {
        let t = |n| Tick::new(n);
        assert!(t(5).is_newer_than(t(4), t(6)));
        assert!(!t(4).is_newer_than(t(4), t(6)));
        assert!(!t(3).is_newer_than(t(4), t(6)));
        // Across the wrap: 2 is after u32::MAX - 1 when now is 3.
        assert!(t(2).is_newer_than(t(u32::MAX - 1), t(3)));
        assert!(!t(u32::MAX - 2).is_newer_than(t(u32::MAX - 1), t(3)));
    }

    #[test]
    fn check_clamps_old_ticks_so_order_survives() {
        let now = Tick::new(10);
        let mut old = Tick::new(now.0.wrapping_sub(MAX_CHANGE_AGE + 100));
        assert!(old.check(now));
        assert_eq!(now.0.wrapping_sub(old.0), MAX_CHANGE_AGE);
        let mut recent = Tick::new(5);
        assert!(!recent.check(now));
        assert_eq!(recent, Tick::new(5));
        // A first-run system sees recent rows as new; a row clamped to the
        // maximum age is as old as the first run's `last_run`, so not new.
        let first = SystemTicks::first_run(now);
        assert!(recent.is_newer_than(first.last_run, now));
        assert!(!old.is_newer_than(first.last_run, now));
    }

    #[test]
    fn mut_marks_only_on_write() {
        let mut value = 1_u32;
        let added = Tick::new(1);
        let mut changed = Tick::new(1);
        let mut m = Mut::new(&mut value, &added, &mut changed, Tick::new(9));
        assert_eq!(*m, 1);
        assert_eq!(m.ticks().changed, Tick::new(1), "a read changes nothing");
        *m += 1;
        assert_eq!(m.ticks().changed, Tick::new(9));
        assert_eq!(m.ticks().added, Tick::new(1));
        assert_eq!(value, 2);
    }
}
