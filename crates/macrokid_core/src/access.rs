//! Resource identities and read/write access sets.
//!
//! A *resource* is anything a system touches: an ECS component type, a
//! world resource, a render attachment. Two accesses conflict when one writes
//! a resource the other reads or writes (the classic readers–writer rule, as
//! in shred and bevy_ecs `Access`).

use std::any::TypeId;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The identity of a resource: a Rust type, or a runtime-declared resource (a render-graph
/// texture, an archetype), plus its readable name.
///
/// Two kinds of id exist and never compare equal to each other:
/// - [`ResourceId::of::<T>()`](ResourceId::of): a Rust type (an ECS component or resource);
/// - [`ResourceId::dynamic(space, index, name)`](ResourceId::dynamic): the `index`-th resource
///   of a namespace `space` declared at run time (e.g. `"render-graph"` textures), for resources
///   that have no Rust type of their own.
///
/// Equality and hashing use the identity only (type id, or space and index); ordering is by
/// name first (so that plans and printed sets are stable and readable) and by identity to break
/// ties between same-named resources.
#[derive(Clone, Copy)]
pub struct ResourceId {
    key: ResourceKey,
    name: &'static str,
}

/// What a [`ResourceId`] is equal by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ResourceKey {
    Type(TypeId),
    Dynamic { space: &'static str, index: u64 },
}

impl ResourceId {
    /// The id of type `T`; its name is [`std::any::type_name`] of `T`.
    pub fn of<T: ?Sized + 'static>() -> Self {
        Self {
            key: ResourceKey::Type(TypeId::of::<T>()),
            name: std::any::type_name::<T>(),
        }
    }

    /// The id of the `index`-th runtime-declared resource of namespace `space`, shown as `name`.
    ///
    /// Ids are equal when `space` and `index` are; `name` is for display only. Use one `space`
    /// per kind of runtime resource (e.g. `"render-graph"`), so ids of different owners never
    /// collide with each other or with a type's id.
    pub fn dynamic(space: &'static str, index: u64, name: &'static str) -> Self {
        Self {
            key: ResourceKey::Dynamic { space, index },
            name,
        }
    }

    /// The full name, e.g. `"showcase::Position"` for a type, or the name given to
    /// [`ResourceId::dynamic`].
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The type name without its module path, e.g. `"Position"`.
    pub fn short_name(&self) -> &'static str {
        short_type_name(self.name)
    }

    /// The [`TypeId`] this id stands for, or `None` for a [dynamic](ResourceId::dynamic) id.
    pub fn type_id(&self) -> Option<TypeId> {
        match self.key {
            ResourceKey::Type(id) => Some(id),
            ResourceKey::Dynamic { .. } => None,
        }
    }

    /// The namespace and index of a [dynamic](ResourceId::dynamic) id, `None` for a type's id.
    pub fn dynamic_key(&self) -> Option<(&'static str, u64)> {
        match self.key {
            ResourceKey::Type(_) => None,
            ResourceKey::Dynamic { space, index } => Some((space, index)),
        }
    }
}

/// Strips module paths from a type name: `a::b::C<d::E>` becomes `C<E>`.
fn short_type_name(name: &'static str) -> &'static str {
    // Only the outer path is stripped, generic arguments are kept as they are;
    // that keeps this allocation-free.
    let generic_start = name.find('<').unwrap_or(name.len());
    match name[..generic_start].rfind("::") {
        Some(pos) => &name[pos + 2..],
        None => name,
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for ResourceId {}

impl Hash for ResourceId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.key == other.key {
            return Ordering::Equal;
        }
        self.name
            .cmp(other.name)
            .then_with(|| self.key.cmp(&other.key))
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// How two accesses collide on one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// Both sides write the resource.
    WriteWrite,
    /// The left side reads what the right side writes.
    ReadWrite,
    /// The left side writes what the right side reads.
    WriteRead,
}

/// Why two accesses may not run at the same time: the first resource (in
/// [`ResourceId`] order) on which they collide, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The resource both sides touch.
    pub resource: ResourceId,
    /// Which side writes it.
    pub kind: ConflictKind,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.kind {
            ConflictKind::WriteWrite => "both write",
            ConflictKind::ReadWrite => "one reads and the other writes",
            ConflictKind::WriteRead => "one writes and the other reads",
        };
        write!(f, "{how} `{}`", self.resource)
    }
}

/// The set of resources a system reads and the set it writes.
///
/// Both sets are kept sorted (by [`ResourceId`] order) and free of duplicates.
/// A resource in `writes` is never also listed in `reads`: writing implies
/// reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceAccess {
    reads: Vec<ResourceId>,
    writes: Vec<ResourceId>,
}

impl ResourceAccess {
    /// An empty access: reads and writes nothing, conflicts with nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: adds a read of `id` (ignored when `id` is already written).
    #[must_use]
    pub fn with_read(mut self, id: ResourceId) -> Self {
        self.add_read(id);
        self
    }

    /// Builder: adds a write of `id` (removing a read of it, if any).
    #[must_use]
    pub fn with_write(mut self, id: ResourceId) -> Self {
        self.add_write(id);
        self
    }

    /// Adds a read of `id` (ignored when `id` is already written).
    pub fn add_read(&mut self, id: ResourceId) {
        if self.writes.binary_search(&id).is_ok() {
            return;
        }
        if let Err(pos) = self.reads.binary_search(&id) {
            self.reads.insert(pos, id);
        }
    }

    /// Adds a write of `id` (removing a read of it, if any).
    pub fn add_write(&mut self, id: ResourceId) {
        if let Ok(pos) = self.reads.binary_search(&id) {
            self.reads.remove(pos);
        }
        if let Err(pos) = self.writes.binary_search(&id) {
            self.writes.insert(pos, id);
        }
    }

    /// Adds every read and write of `other` to `self`.
    pub fn extend(&mut self, other: &ResourceAccess) {
        for &w in &other.writes {
            self.add_write(w);
        }
        for &r in &other.reads {
            self.add_read(r);
        }
    }

    /// Resources read but not written, sorted.
    pub fn reads(&self) -> &[ResourceId] {
        &self.reads
    }

    /// Resources written (and so also read), sorted.
    pub fn writes(&self) -> &[ResourceId] {
        &self.writes
    }

    /// Whether `id` is read or written.
    pub fn touches(&self, id: ResourceId) -> bool {
        self.reads.binary_search(&id).is_ok() || self.writes.binary_search(&id).is_ok()
    }

    /// Whether `id` is written.
    pub fn is_write(&self, id: ResourceId) -> bool {
        self.writes.binary_search(&id).is_ok()
    }

    /// Whether nothing is read or written.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty()
    }

    /// Whether `self` and `other` may not run at the same time.
    ///
    /// Equivalent to `self.conflict_with(other).is_some()`.
    pub fn conflicts_with(&self, other: &ResourceAccess) -> bool {
        self.conflict_with(other).is_some()
    }

    /// The first resource (in [`ResourceId`] order) on which `self` and
    /// `other` collide, and how; `None` when they can run together.
    ///
    /// Runs in O(n + m) over the sorted sets.
    pub fn conflict_with(&self, other: &ResourceAccess) -> Option<Conflict> {
        let ww = first_common(&self.writes, &other.writes).map(|r| (r, ConflictKind::WriteWrite));
        let rw = first_common(&self.reads, &other.writes).map(|r| (r, ConflictKind::ReadWrite));
        let wr = first_common(&self.writes, &other.reads).map(|r| (r, ConflictKind::WriteRead));
        [ww, rw, wr]
            .into_iter()
            .flatten()
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(resource, kind)| Conflict { resource, kind })
    }
}

/// The smallest element present in both sorted slices.
fn first_common(a: &[ResourceId], b: &[ResourceId]) -> Option<ResourceId> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => return Some(a[i]),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;
    struct C;

    #[test]
    fn dynamic_ids_are_equal_by_space_and_index_only() {
        let a = ResourceId::dynamic("render-graph", 0, "color");
        let a_renamed = ResourceId::dynamic("render-graph", 0, "hdr");
        let b = ResourceId::dynamic("render-graph", 1, "color");
        let other_space = ResourceId::dynamic("archetype", 0, "color");
        assert_eq!(a, a_renamed);
        assert_ne!(a, b);
        assert_ne!(a, other_space);
        assert_ne!(a, ResourceId::of::<A>());
        assert_eq!(a.type_id(), None);
        assert_eq!(a.dynamic_key(), Some(("render-graph", 0)));
        assert_eq!(ResourceId::of::<A>().dynamic_key(), None);
        let w = ResourceAccess::new().with_write(a);
        let r = ResourceAccess::new().with_read(a_renamed);
        assert!(w.conflicts_with(&r));
        assert!(!w.conflicts_with(&ResourceAccess::new().with_read(b)));
    }

    #[test]
    fn readers_share_writers_exclude() {
        let r_a = ResourceAccess::new().with_read(ResourceId::of::<A>());
        let r_a2 = ResourceAccess::new().with_read(ResourceId::of::<A>());
        let w_a = ResourceAccess::new().with_write(ResourceId::of::<A>());
        let w_b = ResourceAccess::new().with_write(ResourceId::of::<B>());
        assert!(!r_a.conflicts_with(&r_a2));
        assert_eq!(
            r_a.conflict_with(&w_a),
            Some(Conflict {
                resource: ResourceId::of::<A>(),
                kind: ConflictKind::ReadWrite
            })
        );
        assert_eq!(
            w_a.conflict_with(&r_a).map(|c| c.kind),
            Some(ConflictKind::WriteRead)
        );
        assert_eq!(
            w_a.conflict_with(&w_a).map(|c| c.kind),
            Some(ConflictKind::WriteWrite)
        );
        assert!(!w_a.conflicts_with(&w_b));
    }

    #[test]
    fn write_absorbs_read_and_sets_stay_sorted() {
        let acc = ResourceAccess::new()
            .with_read(ResourceId::of::<C>())
            .with_read(ResourceId::of::<A>())
            .with_write(ResourceId::of::<C>())
            .with_read(ResourceId::of::<C>())
            .with_read(ResourceId::of::<A>());
        assert_eq!(acc.reads(), &[ResourceId::of::<A>()]);
        assert_eq!(acc.writes(), &[ResourceId::of::<C>()]);
        assert!(acc.is_write(ResourceId::of::<C>()));
        assert!(acc.touches(ResourceId::of::<A>()));
        assert!(!acc.touches(ResourceId::of::<B>()));
    }

    #[test]
    fn short_names_strip_paths() {
        assert_eq!(ResourceId::of::<A>().short_name(), "A");
        assert_eq!(
            ResourceId::of::<Vec<A>>().short_name(),
            "Vec<macrokid_core::access::tests::A>"
        );
    }
}
