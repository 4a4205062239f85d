//! Resources: one value per type, boxed, with a borrow flag each.

use std::any::Any;
use std::cell::UnsafeCell;

use super::borrow::Scope;
use super::borrow::{BorrowFlag, Mode, Ref, RefMut};

/// One resource value and its borrow flag.
pub(crate) struct ResourceSlot {
    value: UnsafeCell<Box<dyn Any + Send + Sync>>,
    flag: BorrowFlag,
}

// SAFETY: the boxed value is `Send + Sync`; shared access to it goes through
// `get` (I2) or the flag-guarded `borrow`/`borrow_mut` (I1), so a `&mut` to it
// is never live together with any other reference.
unsafe impl Sync for ResourceSlot {}

fn mismatch<T>() -> ! {
    panic!(
        "storage invariant broken: resource slot does not hold `{}`",
        std::any::type_name::<T>()
    )
}

impl ResourceSlot {
    /// A slot holding `value`.
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> Self {
        Self {
            value: UnsafeCell::new(Box::new(value)),
            flag: BorrowFlag::default(),
        }
    }

    /// The value, through exclusive access.
    pub(crate) fn get_mut<T: 'static>(&mut self) -> &mut T {
        self.value
            .get_mut()
            .downcast_mut::<T>()
            .unwrap_or_else(|| mismatch::<T>())
    }

    /// Replaces the value, returning the old one.
    pub(crate) fn replace<T: 'static>(&mut self, value: T) -> T {
        std::mem::replace(self.get_mut::<T>(), value)
    }

    /// The value, moved out.
    pub(crate) fn into_inner<T: 'static>(self) -> T {
        *self
            .value
            .into_inner()
            .downcast::<T>()
            .unwrap_or_else(|_| mismatch::<T>())
    }

    fn shared<T: 'static>(&self) -> &T {
        // SAFETY: (I1)/(I2): callers either hold the read flag (`borrow`) or
        // call from outside any flag-holding context (`get`), so no `&mut`
        // to the value is live.
        let value: &(dyn Any + Send + Sync) = unsafe { &**self.value.get() };
        value.downcast_ref::<T>().unwrap_or_else(|| mismatch::<T>())
    }

    /// The value, shared, without a flag (invariant I2).
    pub(crate) fn get<T: 'static>(&self) -> &T {
        self.shared::<T>()
    }

    /// The value under a read borrow taken for `who`.
    ///
    /// # Panics
    /// When the resource is written right now.
    pub(crate) fn borrow<T: 'static>(&self, who: &'static str) -> Ref<'_, T> {
        // The guard exists before the downcast (which may panic), so the
        // flag is released on unwind.
        let held = self
            .flag
            .hold(Mode::Read, who, std::any::type_name::<T>(), Scope::All);
        Ref::new(self.shared::<T>(), held)
    }

    /// The value under the write borrow taken for `who`.
    ///
    /// # Panics
    /// When the resource is read or written right now.
    pub(crate) fn borrow_mut<T: 'static>(&self, who: &'static str) -> RefMut<'_, T> {
        // The guard exists before the downcast (which may panic), so the
        // flag is released on unwind.
        let held = self
            .flag
            .hold(Mode::Write, who, std::any::type_name::<T>(), Scope::All);
        // SAFETY: (I1): the write flag just taken (held by `held`, then by
        // the returned guard) excludes every other reference to the value
        // until that guard drops.
        let value: &mut (dyn Any + Send + Sync) = unsafe { &mut **self.value.get() };
        RefMut::new(
            value.downcast_mut::<T>().unwrap_or_else(|| mismatch::<T>()),
            held,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_release_and_values_round_trip() {
        let mut slot = ResourceSlot::new(5_u32);
        {
            let a = slot.borrow::<u32>("a");
            let b = slot.borrow::<u32>("b");
            assert_eq!(*a + *b, 10);
        }
        *slot.borrow_mut::<u32>("c") += 1;
        assert_eq!(*slot.get::<u32>(), 6);
        assert_eq!(slot.replace(7_u32), 6);
        *slot.get_mut::<u32>() += 1;
        assert_eq!(slot.into_inner::<u32>(), 8);
    }

    #[test]
    fn a_panic_after_taking_the_flag_releases_it() {
        let slot = ResourceSlot::new(5_u32);
        // The wrong type: the downcast panics after the flag is taken.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _r = slot.borrow::<u64>("reader");
        }));
        assert!(read.is_err());
        assert!(slot.flag.is_free(), "the read flag was released on unwind");
        let write = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = slot.borrow_mut::<u64>("writer");
        }));
        assert!(write.is_err());
        assert!(slot.flag.is_free(), "the write flag was released on unwind");
        *slot.borrow_mut::<u32>("writer") += 1;
        assert_eq!(*slot.borrow::<u32>("reader"), 6);
        assert!(slot.flag.is_free());
    }

    #[test]
    fn write_during_read_panics() {
        let slot = ResourceSlot::new(String::from("x"));
        let _r = slot.borrow::<String>("reader");
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = slot.borrow_mut::<String>("writer");
        }));
        assert!(err.is_err());
    }
}
