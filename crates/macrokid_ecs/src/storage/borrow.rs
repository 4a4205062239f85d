//! Runtime borrow flags: many readers or one writer per component type and
//! per resource, checked with atomics. They back the compile-time
//! `Reads`/`Writes` declarations so that even a wrong declaration cannot
//! alias a `&mut`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use macrokid_core::{ResourceAccess, ResourceId};

use crate::change::{ComponentTicks, Tick};

/// How a borrow uses its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(hidden)]
pub enum Mode {
    /// Shared: `&T`.
    Read,
    /// Exclusive: `&mut T`.
    Write,
}

const WRITING: usize = usize::MAX;

/// Readers–writer flag of one component type or resource.
///
/// The holder names are kept only to explain a conflict in the panic message.
#[derive(Debug)]
pub(crate) struct BorrowFlag {
    state: AtomicUsize,
    holder: Mutex<&'static str>,
}

impl Default for BorrowFlag {
    fn default() -> Self {
        Self {
            state: AtomicUsize::new(0),
            holder: Mutex::new("nobody"),
        }
    }
}

impl BorrowFlag {
    fn holder(&self) -> &'static str {
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_holder(&self, who: &'static str) {
        *self.holder.lock().unwrap_or_else(PoisonError::into_inner) = who;
    }

    /// Takes a borrow of `what` for `who`.
    ///
    /// # Panics
    /// When the borrow conflicts with one already held (a reader against a
    /// writer, or a second writer); the message names `what`, `who` and the
    /// holder of the other borrow.
    pub(crate) fn acquire(&self, mode: Mode, who: &'static str, what: &'static str) {
        match mode {
            Mode::Read => {
                let mut current = self.state.load(Ordering::Relaxed);
                loop {
                    if current == WRITING || current == WRITING - 1 {
                        self.conflict(mode, who, what, current);
                    }
                    match self.state.compare_exchange_weak(
                        current,
                        current + 1,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => current = actual,
                    }
                }
                self.set_holder(who);
            }
            Mode::Write => {
                if let Err(actual) =
                    self.state
                        .compare_exchange(0, WRITING, Ordering::Acquire, Ordering::Relaxed)
                {
                    self.conflict(mode, who, what, actual);
                }
                self.set_holder(who);
            }
        }
    }

    #[cold]
    fn conflict(&self, mode: Mode, who: &'static str, what: &'static str, state: usize) -> ! {
        let wants = match mode {
            Mode::Read => "read",
            Mode::Write => "write",
        };
        let held = if state == WRITING {
            format!("`{}` writes it", self.holder())
        } else {
            format!(
                "it is read by `{}` ({state} reader(s) in all)",
                self.holder()
            )
        };
        panic!(
            "borrow conflict on `{what}`: `{who}` wants to {wants} it while {held}; \
             a system's declared reads/writes must match what it touches, and one \
             system may not hold two overlapping borrows of the same type"
        )
    }

    /// Takes a borrow of `what` for `who` (as [`acquire`](Self::acquire))
    /// and returns the guard that gives it back on drop.
    ///
    /// # Panics
    /// As [`acquire`](Self::acquire); then nothing is held.
    pub(crate) fn hold(&self, mode: Mode, who: &'static str, what: &'static str) -> HeldBorrow<'_> {
        self.acquire(mode, who, what);
        HeldBorrow { flag: self, mode }
    }

    /// Gives back a borrow taken with `acquire(mode, ..)`.
    pub(crate) fn release(&self, mode: Mode) {
        match mode {
            Mode::Read => {
                let previous = self.state.fetch_sub(1, Ordering::Release);
                debug_assert!(previous != 0 && previous != WRITING, "read flag underflow");
            }
            Mode::Write => {
                let previous = self.state.swap(0, Ordering::Release);
                debug_assert_eq!(previous, WRITING, "write flag released while not written");
            }
        }
    }

    /// Whether no borrow is held.
    #[cfg(test)]
    pub(crate) fn is_free(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }
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
    held: Vec<(&'w BorrowFlag, Mode)>,
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
    ) {
        flag.acquire(mode, who, what);
        self.held.push((flag, mode));
    }
}

impl Drop for BorrowSet<'_> {
    fn drop(&mut self) {
        for (flag, mode) in self.held.drain(..) {
            flag.release(mode);
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
    mode: Mode,
}

impl Drop for HeldBorrow<'_> {
    fn drop(&mut self) {
        self.flag.release(self.mode);
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
    /// A component's ticks and the tick to stamp on write (`None` for
    /// resources).
    ticks: Option<(&'a mut ComponentTicks, Tick)>,
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

    /// Stamps `ticks.changed` with `this_run` on every mutable deref.
    pub(crate) fn with_ticks(mut self, ticks: &'a mut ComponentTicks, this_run: Tick) -> Self {
        self.ticks = Some((ticks, this_run));
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
        if let Some((ticks, this_run)) = &mut self.ticks {
            ticks.changed = *this_run;
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

    #[test]
    fn readers_share_writer_excludes() {
        let flag = BorrowFlag::default();
        flag.acquire(Mode::Read, "a", "T");
        flag.acquire(Mode::Read, "b", "T");
        flag.release(Mode::Read);
        flag.release(Mode::Read);
        assert!(flag.is_free());
        flag.acquire(Mode::Write, "c", "T");
        flag.release(Mode::Write);
        assert!(flag.is_free());
    }

    #[test]
    fn write_while_read_panics_naming_both() {
        let flag = BorrowFlag::default();
        flag.acquire(Mode::Read, "Render", "Position");
        let err = std::panic::catch_unwind(|| flag.acquire(Mode::Write, "Integrate", "Position"))
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
        flag.acquire(Mode::Write, "Integrate", "Position");
        let err = std::panic::catch_unwind(|| flag.acquire(Mode::Read, "Render", "Position"))
            .expect_err("a read during a write must panic");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("`Integrate` writes it"), "{msg}");
    }

    #[test]
    fn borrow_set_releases_on_drop_and_unwind() {
        let a = BorrowFlag::default();
        let b = BorrowFlag::default();
        b.acquire(Mode::Write, "other", "B");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut set = BorrowSet::default();
            set.acquire(&a, Mode::Write, "q", "A");
            set.acquire(&b, Mode::Read, "q", "B");
        }));
        assert!(result.is_err());
        assert!(a.is_free(), "the flag taken before the panic was released");
        b.release(Mode::Write);
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
