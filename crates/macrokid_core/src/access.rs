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
use std::sync::Arc;

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

/// The resources a system reads, writes, and changes through deferred
/// commands.
///
/// Three sets, each kept sorted (by [`ResourceId`] order) and free of
/// duplicates:
/// - **reads** and **writes**: what the system touches while it runs. A
///   resource in `writes` is never also listed in `reads`: writing implies
///   reading.
/// - **deferred writes**: what the system changes through commands that
///   apply at the end of its stage (an ECS system inserting or removing a
///   component type, despawning entities). They conflict with nothing
///   inside the stage — no system of the stage can observe them — and like
///   writes with the stages that run beside it (see
///   [`including_deferred`](Self::including_deferred)). A resource may be
///   both written and deferred-written.
///
/// One vocabulary for everything a system can reach: an ECS system's
/// queries, resources and structural commands all end up here, so the
/// planner (and the `Schedule` derive) judge conflicts from one place.
///
/// Two refinements narrow what a read or write covers (legion's
/// archetype-level access, in a vocabulary that knows no ECS):
/// - an **entity filter** ([`required`](Self::required) /
///   [`excluded`](Self::excluded)): for an ECS system, the component types
///   every entity it touches has, and those none has
///   (`#[system(with(..), without(..))]`). It is a declaration only; a world
///   turns it into parts.
/// - **parts** ([`restrict`](Self::restrict)): the read or write of a
///   resource covers only the listed parts of it (for a component type: the
///   archetype tables the system's queries can match). Two accesses that
///   both restrict a resource collide on it only when their parts intersect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceAccess {
    reads: Vec<ResourceId>,
    writes: Vec<ResourceId>,
    deferred: Vec<ResourceId>,
    required: Vec<ResourceId>,
    excluded: Vec<ResourceId>,
    /// Sorted by id; each part list ascending and distinct.
    parts: Vec<(ResourceId, Arc<[u32]>)>,
}

/// Inserts `id` into the sorted, distinct `list`.
fn insert_sorted(list: &mut Vec<ResourceId>, id: ResourceId) {
    if let Err(pos) = list.binary_search(&id) {
        list.insert(pos, id);
    }
}

/// Whether two ascending lists share an element.
fn intersects(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => return true,
        }
    }
    false
}

/// The entity allocator of an ECS world, as a resource: spawning through
/// commands reserves entity ids from it while the system runs, so a
/// spawning system *writes* [`ResourceId::entity_allocator`]. Two spawning
/// systems therefore conflict, the planner orders them (declaration order),
/// and the ids they reserve do not depend on thread timing.
///
/// Despawning frees ids only when the commands apply: a *deferred* write of
/// the allocator.
#[derive(Debug)]
pub enum EntityAllocator {}

impl ResourceId {
    /// The id of the [`EntityAllocator`]: `ResourceId::of::<EntityAllocator>()`.
    pub fn entity_allocator() -> Self {
        Self::of::<EntityAllocator>()
    }
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

    /// Builder: adds a deferred write of `id` (a change made through
    /// commands applied at the stage boundary).
    #[must_use]
    pub fn with_deferred_write(mut self, id: ResourceId) -> Self {
        self.add_deferred_write(id);
        self
    }

    /// Adds a deferred write of `id`.
    pub fn add_deferred_write(&mut self, id: ResourceId) {
        insert_sorted(&mut self.deferred, id);
    }

    /// Builder: the entity filter requires component type `id` (see the
    /// type's docs).
    #[must_use]
    pub fn with_required(mut self, id: ResourceId) -> Self {
        insert_sorted(&mut self.required, id);
        self
    }

    /// Builder: the entity filter excludes component type `id`.
    #[must_use]
    pub fn with_excluded(mut self, id: ResourceId) -> Self {
        insert_sorted(&mut self.excluded, id);
        self
    }

    /// The entity filter's required types, sorted.
    pub fn required(&self) -> &[ResourceId] {
        &self.required
    }

    /// The entity filter's excluded types, sorted.
    pub fn excluded(&self) -> &[ResourceId] {
        &self.excluded
    }

    /// Limits the read or write of `id` to `parts` (e.g. the archetype
    /// tables a system can touch), replacing an earlier restriction of
    /// `id`. Sorts and deduplicates `parts`. Does nothing when `id` is
    /// neither read nor written. An empty list means the access touches no
    /// part of `id` yet: it collides on `id` with nothing.
    pub fn restrict(&mut self, id: ResourceId, parts: impl Into<Vec<u32>>) {
        if self.reads.binary_search(&id).is_err() && self.writes.binary_search(&id).is_err() {
            return;
        }
        let mut parts = parts.into();
        parts.sort_unstable();
        parts.dedup();
        let parts: Arc<[u32]> = parts.into();
        match self.parts.binary_search_by(|(r, _)| r.cmp(&id)) {
            Ok(pos) => self.parts[pos].1 = parts,
            Err(pos) => self.parts.insert(pos, (id, parts)),
        }
    }

    /// The parts the read or write of `id` is limited to, or `None` when it
    /// covers all of `id`.
    pub fn parts_of(&self, id: ResourceId) -> Option<&[u32]> {
        self.parts
            .binary_search_by(|(r, _)| r.cmp(&id))
            .ok()
            .map(|pos| &*self.parts[pos].1)
    }

    /// Adds every read, write and deferred write of `other` to `self`.
    ///
    /// Parts merge: a resource restricted on both sides keeps the union of
    /// the parts; one that either side reads or writes without restriction
    /// is no longer restricted. The entity filter of `self` is kept (that of
    /// `other` is not merged: a union of systems has no one filter).
    pub fn extend(&mut self, other: &ResourceAccess) {
        let before = self.clone();
        for &w in &other.writes {
            self.add_write(w);
        }
        for &r in &other.reads {
            self.add_read(r);
        }
        for &d in &other.deferred {
            self.add_deferred_write(d);
        }
        let touched = |a: &ResourceAccess, id: ResourceId| {
            a.reads.binary_search(&id).is_ok() || a.writes.binary_search(&id).is_ok()
        };
        let mut parts = Vec::new();
        for id in self.reads.iter().chain(&self.writes).copied() {
            let mine = touched(&before, id).then(|| before.parts_of(id));
            let theirs = touched(other, id).then(|| other.parts_of(id));
            let merged: Option<Vec<u32>> = match (mine, theirs) {
                (Some(None), _) | (_, Some(None)) | (None, None) => None,
                (Some(Some(p)), None) | (None, Some(Some(p))) => Some(p.to_vec()),
                (Some(Some(a)), Some(Some(b))) => {
                    let mut union = a.to_vec();
                    union.extend_from_slice(b);
                    union.sort_unstable();
                    union.dedup();
                    Some(union)
                }
            };
            if let Some(merged) = merged {
                parts.push((id, Arc::from(merged)));
            }
        }
        parts.sort_by_key(|a| a.0);
        self.parts = parts;
    }

    /// The access as seen from outside the stage: every deferred write
    /// becomes a write (the commands have applied by the time another stage
    /// could look). Stages that run beside each other (one topological
    /// layer) are compared with this.
    #[must_use]
    pub fn including_deferred(&self) -> ResourceAccess {
        let mut settled = self.clone();
        for &d in &self.deferred {
            settled.add_write(d);
        }
        // Commands may touch any entity: a deferred write covers all parts.
        settled
            .parts
            .retain(|(id, _)| self.deferred.binary_search(id).is_err());
        settled.deferred.clear();
        settled
    }

    /// Resources read but not written, sorted.
    pub fn reads(&self) -> &[ResourceId] {
        &self.reads
    }

    /// Resources written (and so also read), sorted.
    pub fn writes(&self) -> &[ResourceId] {
        &self.writes
    }

    /// Resources changed through deferred commands, sorted.
    pub fn deferred_writes(&self) -> &[ResourceId] {
        &self.deferred
    }

    /// Whether `id` is read, written or deferred-written.
    pub fn touches(&self, id: ResourceId) -> bool {
        self.reads.binary_search(&id).is_ok()
            || self.writes.binary_search(&id).is_ok()
            || self.deferred.binary_search(&id).is_ok()
    }

    /// Whether `id` is written (while the system runs).
    pub fn is_write(&self, id: ResourceId) -> bool {
        self.writes.binary_search(&id).is_ok()
    }

    /// Whether `id` is changed through deferred commands.
    pub fn is_deferred_write(&self, id: ResourceId) -> bool {
        self.deferred.binary_search(&id).is_ok()
    }

    /// Whether nothing is read, written or deferred-written.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty() && self.deferred.is_empty()
    }

    /// Whether `self` and `other` may not run at the same time within one
    /// stage (deferred writes are not compared: they apply after the stage).
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
        // Restricted on both sides to disjoint parts: no collision.
        let apart = |id: ResourceId| match (self.parts_of(id), other.parts_of(id)) {
            (Some(a), Some(b)) => !intersects(a, b),
            _ => false,
        };
        let ww =
            first_common(&self.writes, &other.writes, apart).map(|r| (r, ConflictKind::WriteWrite));
        let rw =
            first_common(&self.reads, &other.writes, apart).map(|r| (r, ConflictKind::ReadWrite));
        let wr =
            first_common(&self.writes, &other.reads, apart).map(|r| (r, ConflictKind::WriteRead));
        [ww, rw, wr]
            .into_iter()
            .flatten()
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(resource, kind)| Conflict { resource, kind })
    }
}

/// The smallest element present in both sorted slices for which `skip` is
/// false.
fn first_common(
    a: &[ResourceId],
    b: &[ResourceId],
    skip: impl Fn(ResourceId) -> bool,
) -> Option<ResourceId> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal if skip(a[i]) => {
                i += 1;
                j += 1;
            }
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
    fn deferred_writes_conflict_only_outside_the_stage() {
        let a = ResourceId::of::<A>();
        let inserts_a = ResourceAccess::new().with_deferred_write(a);
        let reads_a = ResourceAccess::new().with_read(a);
        assert!(!inserts_a.conflicts_with(&reads_a));
        assert!(!reads_a.conflicts_with(&inserts_a));
        assert!(inserts_a.touches(a) && inserts_a.is_deferred_write(a) && !inserts_a.is_write(a));
        let settled = inserts_a.including_deferred();
        assert_eq!(settled.writes(), &[a]);
        assert!(settled.deferred_writes().is_empty());
        assert_eq!(
            settled.conflict_with(&reads_a).map(|c| c.kind),
            Some(ConflictKind::WriteRead)
        );
        // Spawning writes the allocator now: two spawners conflict.
        let spawns = ResourceAccess::new().with_write(ResourceId::entity_allocator());
        assert!(spawns.conflicts_with(&spawns.clone()));
    }

    #[test]
    fn disjoint_parts_do_not_collide() {
        let a = ResourceId::of::<A>();
        let b = ResourceId::of::<B>();
        let mut left = ResourceAccess::new().with_write(a).with_write(b);
        let mut right = ResourceAccess::new().with_write(a);
        left.restrict(a, vec![3, 1]);
        right.restrict(a, vec![2, 4]);
        assert_eq!(left.parts_of(a), Some(&[1, 3][..]));
        assert!(!left.conflicts_with(&right));
        // Overlapping parts collide.
        right.restrict(a, vec![3]);
        assert_eq!(
            left.conflict_with(&right),
            Some(Conflict {
                resource: a,
                kind: ConflictKind::WriteWrite
            })
        );
        // An unrestricted side collides with any parts.
        let whole = ResourceAccess::new().with_read(a);
        assert!(whole.conflicts_with(&left));
        // The first colliding resource skips the apart ones.
        right.restrict(a, vec![9]);
        let right = right.with_read(b);
        assert_eq!(
            left.conflict_with(&right),
            Some(Conflict {
                resource: b,
                kind: ConflictKind::WriteRead
            })
        );
        // Restricting what is not touched does nothing.
        let mut empty = ResourceAccess::new();
        empty.restrict(a, vec![1]);
        assert_eq!(empty.parts_of(a), None);
    }

    #[test]
    fn extend_merges_parts() {
        let a = ResourceId::of::<A>();
        let b = ResourceId::of::<B>();
        let mut x = ResourceAccess::new().with_write(a).with_read(b);
        x.restrict(a, vec![1]);
        x.restrict(b, vec![5]);
        let mut y = ResourceAccess::new().with_write(a).with_read(b);
        y.restrict(a, vec![2]);
        x.extend(&y);
        assert_eq!(x.parts_of(a), Some(&[1, 2][..]));
        assert_eq!(x.parts_of(b), None, "`y` reads `B` unrestricted");
        let mut deferred = ResourceAccess::new().with_write(a).with_deferred_write(a);
        deferred.restrict(a, vec![1]);
        assert_eq!(deferred.including_deferred().parts_of(a), None);
        let filtered = ResourceAccess::new().with_required(a).with_excluded(b);
        assert_eq!(filtered.required(), &[a]);
        assert_eq!(filtered.excluded(), &[b]);
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
