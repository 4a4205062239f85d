//! Generational handles and the slot map that hands them out.
//!
//! A [`Handle`] is 64 bits: a 32-bit slot index and a 32-bit generation (the layout of the
//! engine-architecture seed, "opaque 64-bit handles (index:32 | generation:32)"). Removing a
//! value bumps its slot's generation, so every handle to it becomes *stale*: lookups return
//! `None` instead of reaching whatever reuses the slot. The design follows the `slotmap` crate
//! and bevy_ecs `Entity` (index + generation); a slot whose generation would wrap is retired.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// A generational handle to a value of kind `K` in a [`SlotMap`]; `Copy`, 8 bytes.
///
/// `K` only keeps handles of different kinds apart at compile time; it is never stored.
pub struct Handle<K> {
    index: u32,
    generation: u32,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Handle<K> {
    /// The slot index.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The generation of the slot when the handle was made.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The handle as 64 bits: `generation << 32 | index`.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The handle whose [`Handle::to_bits`] is `bits` (it may name nothing in a given map).
    pub fn from_bits(bits: u64) -> Handle<K> {
        Handle {
            index: bits as u32,
            generation: (bits >> 32) as u32,
            _kind: PhantomData,
        }
    }
}

impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Handle<K> {}
impl<K> PartialEq for Handle<K> {
    fn eq(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}
impl<K> Eq for Handle<K> {}
impl<K> Hash for Handle<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_bits().hash(state);
    }
}
impl<K> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}v{})", self.index, self.generation)
    }
}
impl<K> fmt::Display for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index, self.generation)
    }
}

struct Slot<V> {
    generation: u32,
    value: Option<V>,
}

/// Values of type `V` addressed by [`Handle<K>`]s. Insert, lookup and remove are O(1); freed
/// slots are reused (last freed first) with a bumped generation.
pub struct SlotMap<K, V> {
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    len: usize,
    _kind: PhantomData<fn() -> K>,
}

impl<K, V> Default for SlotMap<K, V> {
    fn default() -> Self {
        SlotMap {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            _kind: PhantomData,
        }
    }
}

impl<K, V> SlotMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` and returns its handle.
    ///
    /// # Panics
    /// When more than `u32::MAX` slots would be needed.
    pub fn insert(&mut self, value: V) -> Handle<K> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).expect("SlotMap: more than u32::MAX slots");
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert!(
            slot.value.is_none(),
            "SlotMap invariant: free slots are empty"
        );
        slot.value = Some(value);
        self.len += 1;
        Handle {
            index,
            generation: slot.generation,
            _kind: PhantomData,
        }
    }

    fn slot(&self, handle: Handle<K>) -> Option<&Slot<V>> {
        self.slots
            .get(handle.index as usize)
            .filter(|s| s.generation == handle.generation && s.value.is_some())
    }

    /// The value of `handle`, or `None` when the handle is stale (its value was removed).
    pub fn get(&self, handle: Handle<K>) -> Option<&V> {
        self.slot(handle).and_then(|s| s.value.as_ref())
    }

    /// The value of `handle` mutably, or `None` when stale.
    pub fn get_mut(&mut self, handle: Handle<K>) -> Option<&mut V> {
        self.slots
            .get_mut(handle.index as usize)
            .filter(|s| s.generation == handle.generation)
            .and_then(|s| s.value.as_mut())
    }

    /// Whether `handle` names a value.
    pub fn contains(&self, handle: Handle<K>) -> bool {
        self.slot(handle).is_some()
    }

    /// Removes and returns the value of `handle`; every copy of the handle becomes stale.
    /// `None` when it already was.
    pub fn remove(&mut self, handle: Handle<K>) -> Option<V> {
        let slot = self
            .slots
            .get_mut(handle.index as usize)
            .filter(|s| s.generation == handle.generation)?;
        let value = slot.value.take()?;
        self.len -= 1;
        // A slot whose generation would wrap is never reused, so no old handle can match it.
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            self.free.push(handle.index);
        }
        Some(value)
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Handles and values, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Handle<K>, &V)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    Handle {
                        index: i as u32,
                        generation: s.generation,
                        _kind: PhantomData,
                    },
                    v,
                )
            })
        })
    }
}

impl<K, V: fmt::Debug> fmt::Debug for SlotMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Kind;

    #[test]
    fn a_removed_value_leaves_its_handles_stale() {
        let mut map = SlotMap::<Kind, &str>::new();
        let a = map.insert("a");
        let b = map.insert("b");
        assert_eq!(map.remove(a), Some("a"));
        assert_eq!(map.get(a), None);
        assert_eq!(map.remove(a), None, "removing twice is a no-op");
        // The slot is reused with a new generation; the old handle stays stale.
        let c = map.insert("c");
        assert_eq!(c.index(), a.index());
        assert_ne!(c, a);
        assert_eq!(map.get(a), None);
        assert_eq!(map.get(c), Some(&"c"));
        assert_eq!(map.get(b), Some(&"b"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn bits_round_trip() {
        let h = Handle::<Kind>::from_bits(0x0000_0007_0000_0003);
        assert_eq!((h.index(), h.generation()), (3, 7));
        assert_eq!(h.to_bits(), 0x0000_0007_0000_0003);
        assert_eq!(std::mem::size_of::<Handle<Kind>>(), 8);
    }

    #[test]
    fn a_slot_at_the_last_generation_is_retired() {
        let mut map = SlotMap::<Kind, u8>::new();
        let h = map.insert(1);
        map.slots[0].generation = u32::MAX;
        let last = Handle::<Kind>::from_bits(u64::from(u32::MAX) << 32 | u64::from(h.index()));
        assert_eq!(map.remove(last), Some(1));
        let next = map.insert(2);
        assert_ne!(next.index(), h.index(), "the exhausted slot is not reused");
        assert_eq!(map.get(last), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32),
        Remove(usize),
        Get(usize),
    }

    proptest! {
        /// Against a model (a map from every handle ever issued to its live value or `None`):
        /// live handles find their value, removed ones are stale forever, `len` matches.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(
            prop_oneof![
                any::<u32>().prop_map(Op::Insert),
                any::<usize>().prop_map(Op::Remove),
                any::<usize>().prop_map(Op::Get),
            ],
            0..200,
        )) {
            let mut map = SlotMap::<Kind, u32>::new();
            let mut issued: Vec<Handle<Kind>> = Vec::new();
            let mut model: HashMap<Handle<Kind>, Option<u32>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(v) => {
                        let h = map.insert(v);
                        prop_assert!(!model.contains_key(&h), "a handle was issued twice");
                        model.insert(h, Some(v));
                        issued.push(h);
                    }
                    Op::Remove(i) if !issued.is_empty() => {
                        let h = issued[i % issued.len()];
                        let expected = model.get_mut(&h).and_then(Option::take);
                        prop_assert_eq!(map.remove(h), expected);
                    }
                    Op::Get(i) if !issued.is_empty() => {
                        let h = issued[i % issued.len()];
                        prop_assert_eq!(map.get(h).copied(), model[&h]);
                    }
                    _ => {}
                }
                prop_assert_eq!(map.len(), model.values().filter(|v| v.is_some()).count());
            }
        }
    }
}
