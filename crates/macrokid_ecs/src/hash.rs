//! A hasher for maps keyed by [`TypeId`](std::any::TypeId).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `TypeId`s are already hashes; this hasher passes a written `u64` through
/// and mixes anything else with FNV-1a.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
}

/// A `HashMap` with [`TypeIdHasher`].
pub(crate) type TypeIdMap<K, V> = HashMap<K, V, BuildHasherDefault<TypeIdHasher>>;
