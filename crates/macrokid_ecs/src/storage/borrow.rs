//! Runtime borrow flags: many readers or one writer per component type and
//! per resource, checked with atomics. They back the compile-time
//! `Reads`/`Writes` declarations so that even a wrong declaration cannot
//! alias a `&mut`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};

use macrokid_core::{ResourceAccess, ResourceId};

use crate::change::Tick;

/// How a borrow uses its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub enum Mode {
    /// Shared: `&T`.
    Read,
    /// Exclusive: `&mut T`.
    Write,
}

/// What part of a component type (or resource) a borrow covers: the
/// archetype tables a query matched, one table (a single-entity guard), or
/// everything (resources). Two borrows of one type collide only when their
/// scopes share a table — legion's archetype-level access, the rule the
/// planner uses too (see `ResourceAccess::restrict`).
#[derive(Clone, Debug)]
pub(crate) enum Scope {
    /// Every table (and resources, which have no tables).
    All,
    /// These tables (ascending).
    Tables(Arc<[u32]>),
    /// One table.
    Table(u32),
}

impl Scope {
    fn tables(&self) -> Option<&[u32]> {
        match self {
            Scope::All => None,
            Scope::Tables(tables) => Some(tables),
            Scope::Table(table) => Some(std::slice::from_ref(table)),
        }
    }

    /// Whether the two scopes share a table.
    fn overlaps(&self, other: &Scope) -> bool {
        let (Some(a), Some(b)) = (self.tables(), other.tables()) else {
            return true;
        };
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

/// One borrow held on a flag.
#[derive(Debug)]
struct Holder {
    id: u64,
    mode: Mode,
    who: &'static str,
    scope: Scope,
}

#[derive(Debug, Default)]
struct FlagState {
    holders: Vec<Holder>,
    next_id: u64,
}

/// Readers–writer flag of one component type or resource, per scope: many
/// readers or one writer *per table*. Two writers of one component type
/// hold the flag at once when their tables are disjoint (two systems with
/// disjoint `with`/`without` filters, which the planner puts in one batch).
///
/// The holder names are kept to explain a conflict in the panic message.
#[derive(Debug, Default)]
pub(crate) struct BorrowFlag {
    state: Mutex<FlagState>,
}

impl BorrowFlag {
    /// Takes a borrow of `what` over `scope` for `who`; returns its id for
    /// [`release`](Self::release).
    ///
    /// # Panics
    /// When the borrow conflicts with one already held over a common table
    /// (a reader against a writer, or a second writer); the message names
    /// `what`, `who` and the holder of the other borrow.
    pub(crate) fn acquire(
        &self,
        mode: Mode,
        who: &'static str,
        what: &'static str,
        scope: Scope,
    ) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let clash = state
            .holders
            .iter()
            .find(|h| (mode == Mode::Write || h.mode == Mode::Write) && h.scope.overlaps(&scope));
        if let Some(clash) = clash {
            let held = if clash.mode == Mode::Write {
                format!("`{}` writes it", clash.who)
            } else {
                let readers = state
                    .holders
                    .iter()
                    .filter(|h| h.mode == Mode::Read && h.scope.overlaps(&scope))
                    .count();
                format!("it is read by `{}` ({readers} reader(s) in all)", clash.who)
            };
            drop(state);
            conflict(mode, who, what, &held);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.holders.push(Holder {
            id,
            mode,
            who,
            scope,
        });
        id
    }

    /// Takes a borrow of `what` over `scope` for `who` (as
    /// [`acquire`](Self::acquire)) and returns the guard that gives it back
    /// on drop.
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire); then nothing is held.
    pub(crate) fn hold(
        &self,
        mode: Mode,
        who: &'static str,
        what: &'static str,
        scope: Scope,
    ) -> HeldBorrow<'_> {
        let id = self.acquire(mode, who, what, scope);
        HeldBorrow {
            flag: self,
            id,
            mode,
        }
    }

    /// Gives back the borrow `id` returned by `acquire`.
    pub(crate) fn release(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let position = state.holders.iter().position(|h| h.id == id);
        debug_assert!(position.is_some(), "released a borrow that is not held");
        if let Some(position) = position {
            state.holders.swap_remove(position);
        }
    }

    /// Whether no borrow is held.
    #[cfg(test)]
    pub(crate) fn is_free(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .holders
            .is_empty()
    }
}

#[cold]
fn conflict(mode: Mode, who: &'static str, what: &'static str, held: &str) -> ! {
    let wants = match mode {
        Mode::Read => "read",
        Mode::Write => "write",
    };
    panic!(
        "borrow conflict on `{what}`: `{who}` wants to {wants} it while {held}; \
         a system's declared reads/writes (and `with`/`without` filters) must match what it \
         touches, and one system may not hold two overlapping borrows of the same type"
    )
}

/// Records that a query uses component `T` in `mode`, in the one access
/// vocabulary ([`ResourceAccess`]).
///
/// # Panics
/// When the query already uses `T` and either use is a write: such a query
/// would alias a `&mut`.
#[doc(hidden)]
pub fn add_query_access<T: 'static>(access: &mut ResourceAccess, mode: Mode) {
    let id = ResourceId::of::<T>();
    let aliased = match mode {
        Mode::Read => access.is_write(id),
        Mode::Write => access.touches(id),
    };
    if aliased {
        panic!(
            "a query names component `{}` twice, at least once mutably; a query may borrow a \
             component mutably only once and not read it at the same time",
            id.name()
        );
    }
    match mode {
        Mode::Read => access.add_read(id),
        Mode::Write => access.add_write(id),
    }
}

/// Borrows held for one query or guard; released on drop (also on unwind).
#[derive(Default)]
pub(crate) struct BorrowSet<'w> {
    held: Vec<(&'w BorrowFlag, u64)>,
}

impl<'w> BorrowSet<'w> {
    /// Takes a borrow and keeps it until `self` drops.
    ///
    /// # Panics
    /// See [`BorrowFlag::acquire`]; the borrows taken so far are released.
    pub(crate) fn acquire(
        &mut self,
        flag: &'w BorrowFlag,
        mode: Mode,
        who: &'static str,
        what: &'static str,
        scope: Scope,
    ) {
        let id = flag.acquire(mode, who, what, scope);
        self.held.push((flag, id));
    }
}

impl Drop for BorrowSet<'_> {
    fn drop(&mut self) {
        for (flag, id) in self.held.drain(..) {
            flag.release(id);
        }
    }
}

/// One borrow of a flag, given back on drop (also on unwind).
///
/// Made by [`BorrowFlag::hold`] before the guarded reference is computed, so
/// that a panic in between cannot leave the flag set.
#[derive(Debug)]
pub(crate) struct HeldBorrow<'a> {
    flag: &'a BorrowFlag,
    id: u64,
    mode: Mode,
}

impl Drop for HeldBorrow<'_> {
    fn drop(&mut self) {
        self.flag.release(self.id);
    }
}

/// A shared borrow of a component or resource, holding its read flag.
///
/// Dereferences to `&T`; the flag is released on drop.
pub struct Ref<'a, T: ?Sized> {
    value: &'a T,
    _held: HeldBorrow<'a>,
}

impl<'a, T: ?Sized> Ref<'a, T> {
    /// `held` is a read borrow of the flag that guards `value`.
    pub(crate) fn new(value: &'a T, held: HeldBorrow<'a>) -> Self {
        debug_assert_eq!(held.mode, Mode::Read);
        Self { value, _held: held }
    }
}

impl<T: ?Sized> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// An exclusive borrow of a component or resource, holding its write flag.
///
/// Dereferences to `&mut T`; the flag is released on drop.
pub struct RefMut<'a, T: ?Sized> {
    value: &'a mut T,
    /// A component's changed tick and the tick to stamp on write (`None`
    /// for resources).
    ticks: Option<(&'a mut Tick, Tick)>,
    _held: HeldBorrow<'a>,
}

impl<'a, T: ?Sized> RefMut<'a, T> {
    /// `held` is the write borrow of the flag that guards `value`.
    pub(crate) fn new(value: &'a mut T, held: HeldBorrow<'a>) -> Self {
        debug_assert_eq!(held.mode, Mode::Write);
        Self {
            value,
            ticks: None,
            _held: held,
        }
    }

    /// Stamps `changed` with `this_run` on every mutable deref.
    pub(crate) fn with_ticks(mut self, changed: &'a mut Tick, this_run: Tick) -> Self {
        self.ticks = Some((changed, this_run));
        self
    }
}

impl<T: ?Sized> Deref for RefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized> DerefMut for RefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        if let Some((changed, this_run)) = &mut self.ticks {
            **changed = *this_run;
        }
        self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RefMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(t: &[u32]) -> Scope {
        Scope::Tables(Arc::from(t))
    }

    #[test]
    fn readers_share_writer_excludes() {
        let flag = BorrowFlag::default();
        let a = flag.acquire(Mode::Read, "a", "T", Scope::All);
        let b = flag.acquire(Mode::Read, "b", "T", Scope::All);
        flag.release(a);
        flag.release(b);
        assert!(flag.is_free());
        let c = flag.acquire(Mode::Write, "c", "T", Scope::All);
        flag.release(c);
        assert!(flag.is_free());
    }

    #[test]
    fn writers_of_disjoint_tables_share_the_flag() {
        let flag = BorrowFlag::default();
        let a = flag.acquire(Mode::Write, "Left", "C", tables(&[1, 3]));
        let b = flag.acquire(Mode::Write, "Right", "C", tables(&[2, 4]));
        let c = flag.acquire(Mode::Read, "Other", "C", Scope::Table(5));
        // A common table collides, whatever the scope kind.
        for scope in [tables(&[0, 4]), Scope::Table(3), Scope::All] {
            let err = std::panic::catch_unwind(|| flag.acquire(Mode::Read, "Late", "C", scope))
                .expect_err("a read of a written table must panic");
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("writes it"), "{msg}");
        }
        let err = std::panic::catch_unwind(|| flag.acquire(Mode::Write, "W", "C", Scope::Table(5)))
            .expect_err("a write of a read table must panic");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("read by `Other`"), "{msg}");
        for id in [a, b, c] {
            flag.release(id);
        }
        assert!(flag.is_free());
    }

    #[test]
    fn write_while_read_panics_naming_both() {
        let flag = BorrowFlag::default();
        flag.acquire(Mode::Read, "Render", "Position", Scope::All);
        let err = std::panic::catch_unwind(|| {
            flag.acquire(Mode::Write, "Integrate", "Position", Scope::All)
        })
        .expect_err("a write during a read must panic");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("`Position`") && msg.contains("`Integrate`") && msg.contains("`Render`"),
            "{msg}"
        );
    }

    #[test]
    fn read_while_written_panics() {
        let flag = BorrowFlag::default();
        flag.acquire(Mode::Write, "Integrate", "Position", Scope::All);
        let err =
            std::panic::catch_unwind(|| flag.acquire(Mode::Read, "Render", "Position", Scope::All))
                .expect_err("a read during a write must panic");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("`Integrate` writes it"), "{msg}");
    }

    #[test]
    fn borrow_set_releases_on_drop_and_unwind() {
        let a = BorrowFlag::default();
        let b = BorrowFlag::default();
        let other = b.acquire(Mode::Write, "other", "B", Scope::All);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut set = BorrowSet::default();
            set.acquire(&a, Mode::Write, "q", "A", Scope::All);
            set.acquire(&b, Mode::Read, "q", "B", Scope::All);
        }));
        assert!(result.is_err());
        assert!(a.is_free(), "the flag taken before the panic was released");
        b.release(other);
        assert!(b.is_free());
    }

    #[test]
    #[should_panic(expected = "names component `u32` twice")]
    fn duplicate_mutable_access_is_rejected() {
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Write);
        add_query_access::<u32>(&mut access, Mode::Write);
    }

    #[test]
    #[should_panic(expected = "names component `u32` twice")]
    fn a_read_after_a_write_is_rejected() {
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Write);
        add_query_access::<u32>(&mut access, Mode::Read);
    }

    #[test]
    fn duplicate_reads_are_merged() {
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Read);
        add_query_access::<u64>(&mut access, Mode::Write);
        add_query_access::<u32>(&mut access, Mode::Read);
        assert_eq!(access.reads(), &[ResourceId::of::<u32>()]);
        assert_eq!(access.writes(), &[ResourceId::of::<u64>()]);
    }
}
