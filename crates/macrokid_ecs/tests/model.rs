//! A property test against a simple model: random spawn / despawn / insert /
//! remove sequences must leave the world equal to a
//! `HashMap<Entity, (Option<A>, Option<B>, Option<S>)>` (`S` has sparse-set
//! storage), also across snapshot → restore round trips (equal hash, same
//! ids handed out afterwards); change detection of `A` and of `S` (added,
//! changed, removed since the last `clear_trackers`) must match a model of
//! sets; and a twin world that stores `S` in tables, fed the same
//! operations, must hash equal after every step.
//!
//! Operations also come as command batches: a system run
//! ([`World::run_system`]) that records spawns (through
//! `Commands::spawn`, which returns the id), inserts, removes and
//! despawns of table and sparse components on existing, just-spawned or
//! never-placed ids. The twin receives the same changes as direct calls
//! (the spawns first: `Commands::spawn` reserves the id a direct
//! `World::spawn` would have returned when the system ran), so after every
//! batch the world must equal the model and hash equal to the twin, the
//! returned ids must be the twin's, and the failed-command count must be
//! the model's. A command on an id that a later spawn of its batch places
//! (a failed batch's id, handed out again) fails as stale. A batch that
//! fails drops its commands and leaves the world as it was; its reserved
//! ids are handed out again by the next spawns, direct or deferred. Every
//! direct spawn returns the twin's id too.

use std::collections::{HashMap, HashSet, VecDeque};

use macrokid_ecs::prelude::*;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
struct A(u32);
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct B(String);
/// Stored in a sparse set (in the main world; in tables in the twin).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct S(u32);

fn registry() -> SnapshotRegistry {
    let mut registry = SnapshotRegistry::new();
    registry.register_pod::<A>().register::<B>().register::<S>();
    registry
}

fn new_world(sparse: bool) -> World {
    let mut world = World::new();
    if sparse {
        world.register_sparse::<S>().unwrap();
    }
    *world.snapshot_registry_mut() = registry();
    world
}

#[derive(Clone, Debug)]
enum Op {
    SpawnA(u32),
    SpawnB(u32),
    SpawnAB(u32),
    SpawnEmpty,
    /// Picks an entity by index among all ids ever handed out (so stale
    /// ids are exercised too).
    Despawn(usize),
    InsertA(usize, u32),
    InsertB(usize, u32),
    RemoveA(usize),
    RemoveB(usize),
    /// Replaces the world by one restored from its snapshot.
    SnapshotRestore,
    /// Writes the `A` of an entity through `get_mut`.
    TouchA(usize, u32),
    /// Reads the `A` of an entity through `get_mut` (no change).
    PeekA(usize),
    /// Starts a new change-detection epoch.
    ClearTrackers,
    SpawnAS(u32),
    InsertS(usize, u32),
    RemoveS(usize),
    /// Writes the `S` of an entity through `get_mut`.
    TouchS(usize, u32),
    /// Writes every `S` of entities with an `A` through a query.
    BumpSWithA,
    /// Inserts (`Some`) and removes (`None`) `S`s through one held
    /// `World::sparse_storage_mut` (the twin, whose `S` is a table
    /// component, through `insert`/`remove`).
    HeldS(Vec<(usize, Option<u32>)>),
    /// A system run that records these commands and succeeds.
    Commands(Vec<Cmd>),
    /// A system run that records the commands before `.1` (modulo their
    /// count plus one) and then fails.
    FailingCommands(Vec<Cmd>, usize),
}

/// The entity a recorded command is about.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Among all ids ever handed out (as the direct operations pick).
    Ever(usize),
    /// Among the ids spawned earlier in the same batch (`Ever` when none).
    Spawned(usize),
    /// Among the ids reserved by failed batches (never placed by them;
    /// alive only when a later spawn handed them out again).
    Ghost(usize),
}

/// A component value a command inserts.
#[derive(Clone, Copy, Debug)]
enum Value {
    A(u32),
    B(u32),
    S(u32),
}

/// A component type a command removes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    A,
    B,
    S,
}

/// The bundle of a spawn command.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Empty,
    A,
    B,
    AB,
    SA,
}

impl Shape {
    fn components(self, v: u32) -> Components {
        let (a, b, s) = match self {
            Shape::Empty => (false, false, false),
            Shape::A => (true, false, false),
            Shape::B => (false, true, false),
            Shape::AB => (true, true, false),
            Shape::SA => (true, false, true),
        };
        (
            a.then_some(A(v)),
            b.then(|| B(v.to_string())),
            s.then_some(S(v)),
        )
    }

    /// Spawns this bundle directly (the twin's side of a command spawn).
    fn spawn(self, world: &mut World, v: u32) -> Entity {
        match self {
            Shape::Empty => world.spawn(()),
            Shape::A => world.spawn((A(v),)),
            Shape::B => world.spawn((B(v.to_string()),)),
            Shape::AB => world.spawn((A(v), B(v.to_string()))),
            Shape::SA => world.spawn((S(v), A(v))),
        }
    }
}

/// One command of a batch.
#[derive(Clone, Copy, Debug)]
enum Cmd {
    Spawn(Shape, u32),
    Insert(Target, Value),
    Remove(Target, Kind),
    Despawn(Target),
}

/// A command with its entity resolved, as the system recorded it.
#[derive(Clone, Copy, Debug)]
enum Recorded {
    Spawn(Entity, Shape, u32),
    Insert(Entity, Value),
    Remove(Entity, Kind),
    Despawn(Entity),
}

/// Records a batch of commands through its typed [`Commands`]; fails
/// after `fail_at` commands when that is set.
#[derive(System, Default)]
#[system(spawns, despawns, inserts(A, B, S), removes(A, B, S))]
struct Batch {
    commands: Vec<Cmd>,
    fail_at: Option<usize>,
    ever: Vec<Entity>,
    ghosts: Vec<Entity>,
    /// Output: what was recorded, with entities resolved.
    recorded: Vec<Recorded>,
}

impl Batch {
    fn resolve(&self, target: Target, spawned: &[Entity]) -> Option<Entity> {
        let pick = |list: &[Entity], i: usize| (!list.is_empty()).then(|| list[i % list.len()]);
        match target {
            Target::Ever(i) => pick(&self.ever, i),
            Target::Spawned(i) => pick(spawned, i).or_else(|| pick(&self.ever, i)),
            Target::Ghost(i) => pick(&self.ghosts, i),
        }
    }
}

impl Run for Batch {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        let mut spawned = Vec::new();
        for (n, &command) in self.commands.iter().enumerate() {
            if self.fail_at == Some(n) {
                return Err(format!("batch fails after {n} commands").into());
            }
            let recorded = match command {
                Cmd::Spawn(shape, v) => {
                    let e = match shape {
                        Shape::Empty => commands.spawn(()),
                        Shape::A => commands.spawn((A(v),)),
                        Shape::B => commands.spawn((B(v.to_string()),)),
                        Shape::AB => commands.spawn((A(v), B(v.to_string()))),
                        Shape::SA => commands.spawn((S(v), A(v))),
                    };
                    spawned.push(e);
                    Recorded::Spawn(e, shape, v)
                }
                Cmd::Insert(target, value) => {
                    let Some(e) = self.resolve(target, &spawned) else {
                        continue;
                    };
                    // Both paths: the builder on just-spawned ids, the
                    // plain call otherwise.
                    let builder = matches!(target, Target::Spawned(_));
                    match (value, builder) {
                        (Value::A(v), true) => drop(commands.entity(e).insert(A(v))),
                        (Value::B(v), true) => drop(commands.entity(e).insert(B(v.to_string()))),
                        (Value::S(v), true) => drop(commands.entity(e).insert(S(v))),
                        (Value::A(v), false) => commands.insert(e, A(v)),
                        (Value::B(v), false) => commands.insert(e, B(v.to_string())),
                        (Value::S(v), false) => commands.insert(e, S(v)),
                    }
                    Recorded::Insert(e, value)
                }
                Cmd::Remove(target, kind) => {
                    let Some(e) = self.resolve(target, &spawned) else {
                        continue;
                    };
                    match kind {
                        Kind::A => commands.remove::<A>(e),
                        Kind::B => drop(commands.entity(e).remove::<B>()),
                        Kind::S => commands.remove::<S>(e),
                    }
                    Recorded::Remove(e, kind)
                }
                Cmd::Despawn(target) => {
                    let Some(e) = self.resolve(target, &spawned) else {
                        continue;
                    };
                    if matches!(target, Target::Spawned(_)) {
                        commands.entity(e).despawn();
                    } else {
                        commands.despawn(e);
                    }
                    Recorded::Despawn(e)
                }
            };
            self.recorded.push(recorded);
        }
        if self.fail_at.is_some() {
            return Err("batch fails after all its commands".into());
        }
        Ok(())
    }
}

/// Applies one recorded command to the model and, directly, to the twin;
/// returns whether it applied (the model's verdict) and whether it was a
/// despawn that applied.
///
/// The twin spawned every entity of the batch before its other commands;
/// `pending` holds the spawned ids whose spawn command comes later in the
/// batch. A command on one of those (a failed batch's id, handed out again
/// by a spawn of this batch) fails, as on any id that is not alive: it is
/// not given to the twin, where the entity already exists.
fn apply_recorded(
    recorded: Recorded,
    pending: &mut HashSet<Entity>,
    model: &mut Model,
    twin: &mut World,
    changes: &mut Changes,
    changes_s: &mut Changes,
) -> (bool, bool) {
    match recorded {
        Recorded::Insert(e, _) | Recorded::Remove(e, _) | Recorded::Despawn(e)
            if pending.contains(&e) =>
        {
            assert!(!model.contains_key(&e), "a reserved id was alive");
            (false, false)
        }
        Recorded::Spawn(e, shape, v) => {
            pending.remove(&e);
            let components = shape.components(v);
            assert!(!model.contains_key(&e), "a spawn returned the live {e:?}");
            if components.0.is_some() {
                changes.add(e);
            }
            if components.2.is_some() {
                changes_s.add(e);
            }
            model.insert(e, components);
            (true, false)
        }
        Recorded::Insert(e, value) => {
            let r = match value {
                Value::A(v) => twin.insert(e, A(v)),
                Value::B(v) => twin.insert(e, B(v.to_string())),
                Value::S(v) => twin.insert(e, S(v)),
            };
            let Some(slot) = model.get_mut(&e) else {
                assert_eq!(r, Err(EcsError::StaleEntity { entity: e }));
                return (false, false);
            };
            assert_eq!(r, Ok(()));
            match value {
                Value::A(v) => {
                    if slot.0.replace(A(v)).is_some() {
                        changes.changed.insert(e);
                    } else {
                        changes.add(e);
                    }
                }
                Value::B(v) => slot.1 = Some(B(v.to_string())),
                Value::S(v) => {
                    if slot.2.replace(S(v)).is_some() {
                        changes_s.changed.insert(e);
                    } else {
                        changes_s.add(e);
                    }
                }
            }
            (true, false)
        }
        Recorded::Remove(e, kind) => {
            let r = match kind {
                Kind::A => twin.remove::<A>(e).map(drop),
                Kind::B => twin.remove::<B>(e).map(drop),
                Kind::S => twin.remove::<S>(e).map(drop),
            };
            let Some(slot) = model.get_mut(&e) else {
                assert_eq!(r, Err(EcsError::StaleEntity { entity: e }));
                return (false, false);
            };
            let had = match kind {
                Kind::A => slot.0.take().is_some(),
                Kind::B => slot.1.take().is_some(),
                Kind::S => slot.2.take().is_some(),
            };
            if !had {
                assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "{r:?}");
                return (false, false);
            }
            assert_eq!(r, Ok(()));
            match kind {
                Kind::A => changes.lose(e),
                Kind::B => {}
                Kind::S => changes_s.lose(e),
            }
            (true, false)
        }
        Recorded::Despawn(e) => {
            let r = twin.despawn(e);
            match model.remove(&e) {
                Some((a, _, s)) => {
                    assert_eq!(r, Ok(()));
                    if a.is_some() {
                        changes.lose(e);
                    }
                    if s.is_some() {
                        changes_s.lose(e);
                    }
                    (true, true)
                }
                None => {
                    assert_eq!(r, Err(EcsError::StaleEntity { entity: e }));
                    (false, false)
                }
            }
        }
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<usize>().prop_map(Target::Ever),
        any::<usize>().prop_map(Target::Spawned),
        any::<usize>().prop_map(Target::Ghost),
    ]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let shape = prop_oneof![
        Just(Shape::Empty),
        Just(Shape::A),
        Just(Shape::B),
        Just(Shape::AB),
        Just(Shape::SA),
    ];
    let value = prop_oneof![
        any::<u32>().prop_map(Value::A),
        any::<u32>().prop_map(Value::B),
        any::<u32>().prop_map(Value::S),
    ];
    let kind = prop_oneof![Just(Kind::A), Just(Kind::B), Just(Kind::S)];
    prop_oneof![
        (shape, any::<u32>()).prop_map(|(s, v)| Cmd::Spawn(s, v)),
        (target(), value).prop_map(|(t, v)| Cmd::Insert(t, v)),
        (target(), kind).prop_map(|(t, k)| Cmd::Remove(t, k)),
        target().prop_map(Cmd::Despawn),
    ]
}

/// Change detection of one component since the last `clear_trackers`.
#[derive(Default)]
struct Changes {
    added: HashSet<Entity>,
    changed: HashSet<Entity>,
    removed: Vec<Entity>,
}

impl Changes {
    fn add(&mut self, e: Entity) {
        self.added.insert(e);
        self.changed.insert(e);
    }

    fn lose(&mut self, e: Entity) {
        self.added.remove(&e);
        self.changed.remove(&e);
        self.removed.push(e);
    }
}

fn check_changes<T: Component>(world: &mut World, changes: &Changes) {
    let added: HashSet<Entity> = world.query_filtered::<Entity, Added<T>>().iter().collect();
    let changed: HashSet<Entity> = world
        .query_filtered::<Entity, Changed<T>>()
        .iter()
        .collect();
    assert_eq!(added, changes.added);
    assert_eq!(changed, changes.changed);
    assert_eq!(world.removed::<T>().collect::<Vec<_>>(), changes.removed);
}

/// Checks a direct spawn: the twin handed out the same id, and it is the
/// next one a failed batch left to hand out again.
/// Checks the result `r` of removing the `S` of `e` against the model,
/// and applies the removal to it.
fn check_remove_s(
    model: &mut Model,
    changes_s: &mut Changes,
    e: Entity,
    r: Result<S, EcsError>,
) -> Result<(), TestCaseError> {
    match model.get_mut(&e) {
        Some(slot) => match slot.2.take() {
            Some(s) => {
                prop_assert_eq!(r, Ok(s));
                changes_s.lose(e);
            }
            None => prop_assert!(
                matches!(r, Err(EcsError::MissingComponent { .. })),
                "expected MissingComponent"
            ),
        },
        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
    }
    Ok(())
}

fn next_id(e: Entity, twin: Entity, reissue: &mut VecDeque<Entity>) -> Result<(), TestCaseError> {
    prop_assert_eq!(e, twin, "the twin hands out the same ids");
    if let Some(again) = reissue.pop_front() {
        prop_assert_eq!(e, again, "a cancelled reservation is handed out again");
    }
    Ok(())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::SpawnA),
        any::<u32>().prop_map(Op::SpawnB),
        any::<u32>().prop_map(Op::SpawnAB),
        Just(Op::SpawnEmpty),
        any::<usize>().prop_map(Op::Despawn),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertA(i, v)),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertB(i, v)),
        any::<usize>().prop_map(Op::RemoveA),
        any::<usize>().prop_map(Op::RemoveB),
        Just(Op::SnapshotRestore),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::TouchA(i, v)),
        any::<usize>().prop_map(Op::PeekA),
        Just(Op::ClearTrackers),
        any::<u32>().prop_map(Op::SpawnAS),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::InsertS(i, v)),
        any::<usize>().prop_map(Op::RemoveS),
        (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::TouchS(i, v)),
        Just(Op::BumpSWithA),
        proptest::collection::vec((any::<usize>(), proptest::option::of(any::<u32>())), 0..6)
            .prop_map(Op::HeldS),
        proptest::collection::vec(cmd(), 0..8).prop_map(Op::Commands),
        proptest::collection::vec(cmd(), 0..8).prop_map(Op::Commands),
        (proptest::collection::vec(cmd(), 0..8), any::<usize>())
            .prop_map(|(c, f)| Op::FailingCommands(c, f)),
    ]
}

/// An entity's components in the model.
type Components = (Option<A>, Option<B>, Option<S>);

type Model = HashMap<Entity, Components>;

fn check(world: &mut World, model: &Model, ever: &[Entity]) {
    assert_eq!(world.len(), model.len());
    for &e in ever {
        match model.get(&e) {
            None => {
                assert!(!world.contains(e));
                assert_eq!(world.get::<A>(e), Err(EcsError::StaleEntity { entity: e }));
            }
            Some((a, b, s)) => {
                assert!(world.contains(e));
                assert_eq!(world.get::<A>(e).ok(), a.as_ref());
                assert_eq!(world.get::<B>(e).ok(), b.as_ref());
                assert_eq!(world.get::<S>(e).ok(), s.as_ref());
            }
        }
    }
    type Row = (Entity, Option<A>, Option<B>, Option<S>);
    let mut from_query: Vec<Row> = world
        .query::<(Entity, Option<&A>, Option<&B>, Option<&S>)>()
        .iter()
        .map(|(e, a, b, s)| (e, a.copied(), b.cloned(), s.copied()))
        .collect();
    from_query.sort_by_key(|x| x.0);
    let mut expected: Vec<Row> = model
        .iter()
        .map(|(e, (a, b, s))| (*e, *a, b.clone(), *s))
        .collect();
    expected.sort_by_key(|x| x.0);
    assert_eq!(from_query, expected);
    let count = |f: &dyn Fn(&Components) -> bool| model.values().filter(|v| f(v)).count();
    assert_eq!(
        world.query::<(&A, &B)>().len(),
        count(&|(a, b, _)| a.is_some() && b.is_some())
    );
    assert_eq!(
        world.query::<(&A, &S)>().len(),
        count(&|(a, _, s)| a.is_some() && s.is_some())
    );
    assert_eq!(
        world.query_filtered::<&B, Without<S>>().len(),
        count(&|(_, b, s)| b.is_some() && s.is_none())
    );
    assert_eq!(
        world
            .query_filtered::<Entity, Or<(With<B>, With<S>)>>()
            .iter()
            .count(),
        count(&|(_, b, s)| b.is_some() || s.is_some())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn world_matches_model(ops in proptest::collection::vec(op(), 1..200)) {
        let mut world = new_world(true);
        let mut twin = new_world(false);
        let mut model: Model = HashMap::new();
        let mut ever: Vec<Entity> = Vec::new();
        let mut changes = Changes::default();
        let mut changes_s = Changes::default();
        // Ids reserved by failed batches, never placed by them.
        let mut ghosts: Vec<Entity> = Vec::new();
        // The ids the next spawns must hand out again (those a failed
        // batch reserved), until a despawn changes the free list.
        let mut reissue: VecDeque<Entity> = VecDeque::new();
        let pick = |ever: &[Entity], i: usize| (!ever.is_empty()).then(|| ever[i % ever.len()]);
        for op in ops {
            match op {
                Op::SpawnA(v) => { let e = world.spawn((A(v),)); let t = twin.spawn((A(v),)); next_id(e, t, &mut reissue)?; model.insert(e, (Some(A(v)), None, None)); ever.push(e); changes.add(e); }
                Op::SpawnB(v) => { let e = world.spawn((B(v.to_string()),)); let t = twin.spawn((B(v.to_string()),)); next_id(e, t, &mut reissue)?; model.insert(e, (None, Some(B(v.to_string())), None)); ever.push(e); }
                Op::SpawnAB(v) => { let e = world.spawn((A(v), B(v.to_string()))); let t = twin.spawn((A(v), B(v.to_string()))); next_id(e, t, &mut reissue)?; model.insert(e, (Some(A(v)), Some(B(v.to_string())), None)); ever.push(e); changes.add(e); }
                Op::SpawnEmpty => { let e = world.spawn(()); let t = twin.spawn(()); next_id(e, t, &mut reissue)?; model.insert(e, (None, None, None)); ever.push(e); }
                Op::SpawnAS(v) => { let e = world.spawn((S(v), A(v))); let t = twin.spawn((S(v), A(v))); next_id(e, t, &mut reissue)?; model.insert(e, (Some(A(v)), None, Some(S(v)))); ever.push(e); changes.add(e); changes_s.add(e); }
                Op::Despawn(i) => if let Some(e) = pick(&ever, i) {
                    let expected = match model.remove(&e) {
                        Some((a, _, s)) => {
                            if a.is_some() { changes.lose(e); }
                            if s.is_some() { changes_s.lose(e); }
                            Ok(())
                        }
                        None => Err(EcsError::StaleEntity { entity: e }),
                    };
                    prop_assert_eq!(twin.despawn(e), expected.clone());
                    if expected.is_ok() { reissue.clear(); }
                    prop_assert_eq!(world.despawn(e), expected);
                },
                Op::InsertS(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, S(v));
                    prop_assert_eq!(twin.insert(e, S(v)), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => {
                            prop_assert_eq!(r, Ok(()));
                            if slot.2.replace(S(v)).is_some() { changes_s.changed.insert(e); } else { changes_s.add(e); }
                        }
                        None => prop_assert!(r.is_err()),
                    }
                },
                Op::RemoveS(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<S>(e);
                    prop_assert_eq!(twin.remove::<S>(e), r.clone());
                    check_remove_s(&mut model, &mut changes_s, e, r)?;
                },
                Op::TouchS(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<S>(e).map(|mut s| s.0 = v);
                    prop_assert_eq!(twin.get_mut::<S>(e).map(|mut s| s.0 = v), r.clone());
                    match model.get_mut(&e) {
                        Some((_, _, Some(s))) => { prop_assert_eq!(r, Ok(())); s.0 = v; changes_s.changed.insert(e); }
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::HeldS(toggles) => {
                    prop_assert!(matches!(twin.sparse_storage_mut::<S>(), Err(EcsError::NotSparse { .. })), "a table S is not sparse");
                    let held_len = {
                    let mut held = world.sparse_storage_mut::<S>().unwrap();
                    for (i, v) in toggles {
                        let Some(e) = pick(&ever, i) else { continue };
                        match v {
                            Some(v) => {
                                let r = held.insert(e, S(v));
                                prop_assert_eq!(twin.insert(e, S(v)), r.clone().map(drop));
                                match model.get_mut(&e) {
                                    Some(slot) => {
                                        let old = slot.2.replace(S(v));
                                        prop_assert_eq!(&r, &Ok(old));
                                        if old.is_some() { changes_s.changed.insert(e); } else { changes_s.add(e); }
                                        prop_assert_eq!(held.get(e), Some(&S(v)));
                                    }
                                    None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                                }
                            }
                            None => {
                                let r = held.remove(e);
                                prop_assert_eq!(twin.remove::<S>(e), r.clone());
                                check_remove_s(&mut model, &mut changes_s, e, r)?;
                                prop_assert!(!held.contains(e));
                            }
                        }
                    }
                    held.len()
                    };
                    prop_assert_eq!(held_len, model.values().filter(|slot| slot.2.is_some()).count());
                },
                Op::BumpSWithA => {
                    for w in [&mut world, &mut twin] {
                        for (mut s, a) in w.query::<(&mut S, &A)>().iter() {
                            s.0 = s.0.wrapping_add(a.0);
                        }
                    }
                    for (&e, (a, _, s)) in model.iter_mut() {
                        if let (Some(a), Some(s)) = (a, s) {
                            s.0 = s.0.wrapping_add(a.0);
                            changes_s.changed.insert(e);
                        }
                    }
                },
                Op::InsertA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, A(v));
                    prop_assert_eq!(twin.insert(e, A(v)), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => {
                            prop_assert_eq!(r, Ok(()));
                            if slot.0.replace(A(v)).is_some() { changes.changed.insert(e); } else { changes.add(e); }
                        }
                        None => prop_assert!(r.is_err()),
                    }
                },
                Op::InsertB(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.insert(e, B(v.to_string()));
                    prop_assert_eq!(twin.insert(e, B(v.to_string())), r.clone());
                    match model.get_mut(&e) { Some(slot) => { prop_assert_eq!(r, Ok(())); slot.1 = Some(B(v.to_string())); } None => prop_assert!(r.is_err()) }
                },
                Op::RemoveA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<A>(e);
                    prop_assert_eq!(twin.remove::<A>(e), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => match slot.0.take() {
                            Some(a) => { prop_assert_eq!(r, Ok(a)); changes.lose(e); }
                            None => prop_assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "expected MissingComponent"),
                        },
                        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                    }
                },
                Op::RemoveB(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.remove::<B>(e);
                    prop_assert_eq!(twin.remove::<B>(e), r.clone());
                    match model.get_mut(&e) {
                        Some(slot) => match slot.1.take() {
                            Some(b) => prop_assert_eq!(r, Ok(b)),
                            None => prop_assert!(matches!(r, Err(EcsError::MissingComponent { .. })), "expected MissingComponent"),
                        },
                        None => prop_assert_eq!(r, Err(EcsError::StaleEntity { entity: e })),
                    }
                },
                Op::SnapshotRestore => {
                    let bytes = world.snapshot().expect("every component is registered");
                    let restored = World::from_snapshot(registry(), &bytes).expect("own snapshot restores");
                    prop_assert_eq!(restored.hash(), world.hash());
                    prop_assert!(restored.is_sparse::<S>(), "sparse storage survives a snapshot");
                    world = restored;
                    let twin_bytes = twin.snapshot().expect("every component is registered");
                    twin.restore(&twin_bytes).expect("own snapshot restores");
                    check(&mut world, &model, &ever);
                    // A restore starts change detection afresh: every row is
                    // added at the restore, no removal is remembered.
                    world.clear_trackers();
                    twin.clear_trackers();
                    changes = Changes::default();
                    changes_s = Changes::default();
                }
                Op::TouchA(i, v) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|mut a| a.0 = v);
                    prop_assert_eq!(twin.get_mut::<A>(e).map(|mut a| a.0 = v), r.clone());
                    match model.get_mut(&e) {
                        Some((Some(a), _, _)) => { prop_assert_eq!(r, Ok(())); a.0 = v; changes.changed.insert(e); }
                        _ => prop_assert!(r.is_err()),
                    }
                },
                Op::PeekA(i) => if let Some(e) = pick(&ever, i) {
                    let r = world.get_mut::<A>(e).map(|a| *a);
                    match model.get(&e) {
                        Some((Some(a), _, _)) => prop_assert_eq!(r, Ok(*a)),
                        _ => prop_assert!(r.is_err()),
                    }
                },
                op @ (Op::Commands(_) | Op::FailingCommands(..)) => {
                    let (commands, fail_at) = match op {
                        Op::FailingCommands(c, at) => { let at = at % (c.len() + 1); (c, Some(at)) }
                        Op::Commands(c) => (c, None),
                        _ => unreachable!(),
                    };
                    let mut batch = Batch { commands, fail_at, ever: ever.clone(), ghosts: ghosts.clone(), recorded: Vec::new() };
                    let hash_before = world.hash();
                    let len_before = world.len();
                    let failed_before = world.failed_command_count();
                    let result = world.run_system(&mut batch);
                    let spawned: Vec<Entity> = batch.recorded.iter().filter_map(|r| match *r { Recorded::Spawn(e, ..) => Some(e), _ => None }).collect();
                    // After a failed batch, the next spawns hand out its
                    // reserved ids again, in order.
                    for (e, again) in spawned.iter().zip(&reissue) {
                        prop_assert_eq!(e, again, "a cancelled reservation is handed out again");
                    }
                    if fail_at.is_some() {
                        prop_assert!(result.is_err(), "the batch fails");
                        prop_assert_eq!(world.hash(), hash_before, "a failed batch changes nothing");
                        prop_assert_eq!(world.len(), len_before);
                        prop_assert_eq!(world.failed_command_count(), failed_before, "dropped, not failed");
                        for &e in &spawned {
                            prop_assert!(!world.contains(e), "{:?} was only reserved", e);
                            if !ghosts.contains(&e) { ghosts.push(e); }
                        }
                        if spawned.len() > reissue.len() { reissue = spawned.into_iter().collect(); }
                    } else {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        // The twin spawns first, directly: a reserved id is
                        // the one a direct spawn returns when the system ran.
                        for r in &batch.recorded {
                            if let Recorded::Spawn(e, shape, v) = *r {
                                prop_assert_eq!(shape.spawn(&mut twin, v), e, "the id a direct spawn returns");
                            }
                        }
                        let mut failed = 0;
                        let mut despawned = false;
                        let mut pending: HashSet<Entity> = spawned.iter().copied().collect();
                        for r in batch.recorded {
                            let (applied, despawn) = apply_recorded(r, &mut pending, &mut model, &mut twin, &mut changes, &mut changes_s);
                            failed += u64::from(!applied);
                            despawned |= despawn;
                        }
                        prop_assert_eq!(world.failed_command_count() - failed_before, failed, "failed commands");
                        reissue.drain(..spawned.len().min(reissue.len()));
                        if despawned { reissue.clear(); }
                        ever.extend(&spawned);
                        check(&mut world, &model, &ever);
                    }
                }
                Op::ClearTrackers => {
                    world.clear_trackers();
                    twin.clear_trackers();
                    changes = Changes::default();
                    changes_s = Changes::default();
                }
            }
            check_changes::<A>(&mut world, &changes);
            check_changes::<S>(&mut world, &changes_s);
            check_changes::<S>(&mut twin, &changes_s);
            prop_assert_eq!(world.hash(), twin.hash(), "storage type does not change the hash");
        }
        check(&mut world, &model, &ever);
        check(&mut twin, &model, &ever);
        check_changes::<A>(&mut world, &changes);
        // Ids are never aliased: every id ever handed out is distinct.
        let mut ids = ever.clone();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), ever.len());
    }
}

// ---------------------------------------------------------------------------
// The model through schedules.
//
// Random steps run a schedule (one of two schedule types, picked per case)
// through `World::run_schedule` on three worlds at once: a single-threaded
// scheduler, a 2-thread pool that runs every batch of several systems in
// parallel (`Dispatch::AlwaysParallel`) and a 3-thread pool with cost-aware
// dispatch. Each world has its own copy of a model that executes the
// schedule's stages in plan order, the systems of a stage in slot order,
// each stage's commands after it in slot order (waves only merge stages
// that cannot see each other's effects), with a logical clock standing in
// for change ticks. After every step each world must equal its model
// (entity set, component values), the commands that failed must be the
// model's, every `Changed`/`Added` observer must have seen exactly the
// model's entities, and the three worlds must hash equal. Direct
// operations between schedule runs (despawn, insert or remove `B`, which
// moves table rows, and writes of `A`) interleave.

mod through_schedules {
    use std::collections::HashMap;
    use std::sync::{Arc, OnceLock};

    use macrokid_ecs::prelude::*;
    use macrokid_ecs::StageCx;
    use macrokid_threads::Dispatch;
    use proptest::prelude::*;

    use super::{check, cmd, new_world, Batch, Cmd, Kind, Model, Recorded, Value, A, B, S};

    /// When a component row was added and last changed, in model time.
    #[derive(Clone, Copy, Debug)]
    struct Stamp {
        added: u64,
        changed: u64,
    }

    impl Stamp {
        fn new(now: u64) -> Self {
            Self {
                added: now,
                changed: now,
            }
        }
    }

    #[derive(Clone, Debug, Default)]
    struct Row {
        a: Option<(A, Stamp)>,
        b: Option<B>,
        s: Option<(S, Stamp)>,
    }

    /// The world as the model sees it, with a logical clock: every system
    /// run, every stage's command application and every direct operation
    /// takes the next tick.
    #[derive(Clone, Debug, Default)]
    struct SchedModel {
        rows: HashMap<Entity, Row>,
        now: u64,
        failed: u64,
        /// Per slot: the model time of the system's last run.
        last_runs: HashMap<usize, u64>,
    }

    impl SchedModel {
        fn tick(&mut self) -> u64 {
            self.now += 1;
            self.now
        }

        fn projection(&self) -> Model {
            self.rows
                .iter()
                .map(|(&e, r)| (e, (r.a.map(|(a, _)| a), r.b.clone(), r.s.map(|(s, _)| s))))
                .collect()
        }

        /// Applies one recorded command at `now`; returns whether it applied.
        fn apply(&mut self, recorded: Recorded, now: u64) -> bool {
            match recorded {
                Recorded::Spawn(e, shape, v) => {
                    assert!(
                        !self.rows.contains_key(&e),
                        "a spawn returned the live {e:?}"
                    );
                    let (a, b, s) = shape.components(v);
                    self.rows.insert(
                        e,
                        Row {
                            a: a.map(|a| (a, Stamp::new(now))),
                            b,
                            s: s.map(|s| (s, Stamp::new(now))),
                        },
                    );
                    true
                }
                Recorded::Insert(e, value) => {
                    let Some(row) = self.rows.get_mut(&e) else {
                        return false;
                    };
                    match value {
                        Value::A(v) => match &mut row.a {
                            Some((a, stamp)) => {
                                *a = A(v);
                                stamp.changed = now;
                            }
                            None => row.a = Some((A(v), Stamp::new(now))),
                        },
                        Value::B(v) => row.b = Some(B(v.to_string())),
                        Value::S(v) => match &mut row.s {
                            Some((s, stamp)) => {
                                *s = S(v);
                                stamp.changed = now;
                            }
                            None => row.s = Some((S(v), Stamp::new(now))),
                        },
                    }
                    true
                }
                Recorded::Remove(e, kind) => {
                    let Some(row) = self.rows.get_mut(&e) else {
                        return false;
                    };
                    match kind {
                        Kind::A => row.a.take().is_some(),
                        Kind::B => row.b.take().is_some(),
                        Kind::S => row.s.take().is_some(),
                    }
                }
                Recorded::Despawn(e) => self.rows.remove(&e).is_some(),
            }
        }

        /// The entities whose stamp (`added` or `changed`, by `pick`) is
        /// newer than the last run of `slot`; every one on a first run.
        fn since(
            &self,
            slot: usize,
            has: impl Fn(&Row) -> Option<Stamp>,
            pick: fn(Stamp) -> u64,
        ) -> Vec<Entity> {
            let last = self.last_runs.get(&slot).copied();
            let mut out: Vec<Entity> = self
                .rows
                .iter()
                .filter_map(|(&e, row)| {
                    let stamp = has(row)?;
                    last.is_none_or(|last| pick(stamp) > last).then_some(e)
                })
                .collect();
            out.sort();
            out
        }
    }

    /// The random input of one system slot for one schedule run.
    #[derive(Clone, Debug)]
    struct SlotInput {
        k: u32,
        commands: Vec<Cmd>,
    }

    /// A system of these schedules, with what it does to the model.
    trait Part {
        /// Takes this run's input (before the schedule runs).
        fn prepare(&mut self, input: &SlotInput, ever: &[Entity]);

        /// Does to `model` what the system did, at model time `now`, as
        /// slot `slot`; pushes recorded commands to `commands`; checks what
        /// an observer saw.
        fn model(
            &mut self,
            model: &mut SchedModel,
            slot: usize,
            now: u64,
            commands: &mut Vec<Recorded>,
        ) -> Result<(), TestCaseError>;
    }

    impl Part for Batch {
        fn prepare(&mut self, input: &SlotInput, ever: &[Entity]) {
            self.commands.clone_from(&input.commands);
            self.ever = ever.to_vec();
            self.recorded.clear();
        }

        fn model(
            &mut self,
            _: &mut SchedModel,
            _: usize,
            _: u64,
            commands: &mut Vec<Recorded>,
        ) -> Result<(), TestCaseError> {
            commands.extend(self.recorded.iter().copied());
            Ok(())
        }
    }

    /// Writes `A` of the entities with `B` whose value passes a rule of
    /// `k`; only reads the others (a read through `Mut` is no change).
    #[derive(System, Default)]
    #[system(writes(A), with(B))]
    struct BumpAWithB {
        k: u32,
    }

    impl BumpAWithB {
        fn rule(k: u32, a: &mut A) -> bool {
            let hit = (a.0 ^ k) % 3 == 0;
            if hit {
                a.0 = a.0.wrapping_add(k | 1);
            }
            hit
        }
    }

    impl Run for BumpAWithB {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            let k = self.k;
            cx.query::<&mut A>().for_each(|mut a| {
                let mut value = *a;
                if Self::rule(k, &mut value) {
                    *a = value;
                }
            });
            Ok(())
        }
    }

    /// Writes `A` of the entities without `B` (by an other rule): shares a
    /// batch with [`BumpAWithB`] (disjoint tables).
    #[derive(System, Default)]
    #[system(writes(A), without(B))]
    struct BumpAWithoutB {
        k: u32,
    }

    impl BumpAWithoutB {
        fn rule(k: u32, a: &mut A) -> bool {
            let hit = (a.0 ^ k) % 2 == 0;
            if hit {
                a.0 = a.0.wrapping_mul(3).wrapping_add(k);
            }
            hit
        }
    }

    impl Run for BumpAWithoutB {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            let k = self.k;
            for mut a in cx.query::<&mut A>().iter() {
                let mut value = *a;
                if Self::rule(k, &mut value) {
                    *a = value;
                }
            }
            Ok(())
        }
    }

    /// Writes `A` of the entities with the sparse `S` (a sparse filter:
    /// every table may hold them).
    #[derive(System, Default)]
    #[system(writes(A), with(S))]
    struct BumpAWithS {
        k: u32,
    }

    impl BumpAWithS {
        fn rule(k: u32, a: &mut A) -> bool {
            let hit = a.0 % 5 == k % 5;
            if hit {
                a.0 = a.0.rotate_left(1) ^ k;
            }
            hit
        }
    }

    impl Run for BumpAWithS {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            let k = self.k;
            cx.query::<&mut A>().for_each(|mut a| {
                let mut value = *a;
                if Self::rule(k, &mut value) {
                    *a = value;
                }
            });
            Ok(())
        }
    }

    /// Writes the sparse `S` of entities with an `A`, by a rule of both.
    #[derive(System, Default)]
    #[system(reads(A), writes(S))]
    struct BumpSByA {
        k: u32,
    }

    impl BumpSByA {
        fn rule(k: u32, a: A, s: &mut S) -> bool {
            let hit = (a.0 ^ k) % 2 == 1;
            if hit {
                s.0 = s.0.wrapping_add(a.0);
            }
            hit
        }
    }

    impl Run for BumpSByA {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            let k = self.k;
            cx.query::<(&mut S, &A)>().for_each(|(mut s, a)| {
                let mut value = *s;
                if Self::rule(k, *a, &mut value) {
                    *s = value;
                }
            });
            Ok(())
        }
    }

    /// Records the entities whose `A` was changed / added since its last run.
    #[derive(System, Default)]
    #[system(reads(A))]
    struct SeeA {
        changed: Vec<Entity>,
        added: Vec<Entity>,
    }

    impl Run for SeeA {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            self.changed = cx.query_filtered::<Entity, Changed<A>>().iter().collect();
            self.added = cx.query_filtered::<Entity, Added<A>>().iter().collect();
            self.changed.sort();
            self.added.sort();
            Ok(())
        }
    }

    /// Records the entities without `B` whose sparse `S` was changed /
    /// added since its last run.
    #[derive(System, Default)]
    #[system(reads(S), without(B))]
    struct SeeSWithoutB {
        changed: Vec<Entity>,
        added: Vec<Entity>,
    }

    impl Run for SeeSWithoutB {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            self.changed = cx.query_filtered::<Entity, Changed<S>>().iter().collect();
            self.added = cx.query_filtered::<Entity, Added<S>>().iter().collect();
            self.changed.sort();
            self.added.sort();
            Ok(())
        }
    }

    /// The model of a writer of `A` selected by `admits`, by `rule`.
    fn model_write_a(
        model: &mut SchedModel,
        now: u64,
        admits: impl Fn(&Row) -> bool,
        mut rule: impl FnMut(&mut A) -> bool,
    ) {
        for row in model.rows.values_mut() {
            if !admits(row) {
                continue;
            }
            if let Some((a, stamp)) = &mut row.a {
                if rule(a) {
                    stamp.changed = now;
                }
            }
        }
    }

    macro_rules! writer_part {
        ($system:ident, $admits:expr) => {
            impl Part for $system {
                fn prepare(&mut self, input: &SlotInput, _: &[Entity]) {
                    self.k = input.k;
                }

                fn model(
                    &mut self,
                    model: &mut SchedModel,
                    _: usize,
                    now: u64,
                    _: &mut Vec<Recorded>,
                ) -> Result<(), TestCaseError> {
                    let k = self.k;
                    model_write_a(model, now, $admits, |a| Self::rule(k, a));
                    Ok(())
                }
            }
        };
    }

    writer_part!(BumpAWithB, |row: &Row| row.b.is_some());
    writer_part!(BumpAWithoutB, |row: &Row| row.b.is_none());
    writer_part!(BumpAWithS, |row: &Row| row.s.is_some());

    impl Part for BumpSByA {
        fn prepare(&mut self, input: &SlotInput, _: &[Entity]) {
            self.k = input.k;
        }

        fn model(
            &mut self,
            model: &mut SchedModel,
            _: usize,
            now: u64,
            _: &mut Vec<Recorded>,
        ) -> Result<(), TestCaseError> {
            for row in model.rows.values_mut() {
                if let (Some((a, _)), Some((s, stamp))) = (row.a, &mut row.s) {
                    if Self::rule(self.k, a, s) {
                        stamp.changed = now;
                    }
                }
            }
            Ok(())
        }
    }

    impl Part for SeeA {
        fn prepare(&mut self, _: &SlotInput, _: &[Entity]) {}

        fn model(
            &mut self,
            model: &mut SchedModel,
            slot: usize,
            now: u64,
            _: &mut Vec<Recorded>,
        ) -> Result<(), TestCaseError> {
            let changed = model.since(slot, |r| r.a.map(|(_, t)| t), |t| t.changed);
            let added = model.since(slot, |r| r.a.map(|(_, t)| t), |t| t.added);
            prop_assert_eq!(&self.changed, &changed, "Changed<A> seen by slot {}", slot);
            prop_assert_eq!(&self.added, &added, "Added<A> seen by slot {}", slot);
            model.last_runs.insert(slot, now);
            Ok(())
        }
    }

    impl Part for SeeSWithoutB {
        fn prepare(&mut self, _: &SlotInput, _: &[Entity]) {}

        fn model(
            &mut self,
            model: &mut SchedModel,
            slot: usize,
            now: u64,
            _: &mut Vec<Recorded>,
        ) -> Result<(), TestCaseError> {
            let s_without_b = |r: &Row| r.b.is_none().then_some(r.s).flatten().map(|(_, t)| t);
            let changed = model.since(slot, s_without_b, |t| t.changed);
            let added = model.since(slot, s_without_b, |t| t.added);
            prop_assert_eq!(&self.changed, &changed, "Changed<S> seen by slot {}", slot);
            prop_assert_eq!(&self.added, &added, "Added<S> seen by slot {}", slot);
            model.last_runs.insert(slot, now);
            Ok(())
        }
    }

    /// A schedule of [`Part`]s.
    trait ModelSchedule: Default + for<'w> RunSchedule<StageCx<'w>> {
        /// The systems in slot order (stage declaration order, then system
        /// declaration order).
        fn parts(&mut self) -> Vec<&mut dyn Part>;
    }

    /// Two stages in a row; the first mixes commands, observers and the
    /// two writers of `A` that share a batch; two command systems per run.
    #[derive(Schedule, Default)]
    struct Linear {
        #[stage]
        early: (SeeA, Batch, BumpAWithB, BumpAWithoutB, SeeSWithoutB),
        #[stage(after = "early")]
        late: (BumpSByA, Batch, SeeA, BumpAWithS, SeeSWithoutB),
    }

    impl ModelSchedule for Linear {
        fn parts(&mut self) -> Vec<&mut dyn Part> {
            let (e0, e1, e2, e3, e4) = &mut self.early;
            let (l0, l1, l2, l3, l4) = &mut self.late;
            vec![e0, e1, e2, e3, e4, l0, l1, l2, l3, l4]
        }
    }

    /// Stages in one layer (`grow` and `tally` conflict through `grow`'s
    /// commands: two waves; `with_b` and `without_b` write `A` in disjoint
    /// tables: one wave), then two more layers.
    #[derive(Schedule, Default)]
    struct Layered {
        #[stage]
        grow: (Batch,),
        #[stage]
        tally: (SeeA,),
        #[stage(after = "grow, tally")]
        with_b: (BumpAWithB,),
        #[stage(after = "grow, tally")]
        without_b: (BumpAWithoutB,),
        #[stage(after = "with_b, without_b")]
        sparse: (BumpSByA, Batch, BumpAWithS),
        #[stage(after = "sparse")]
        see: (SeeSWithoutB, SeeA),
    }

    impl ModelSchedule for Layered {
        fn parts(&mut self) -> Vec<&mut dyn Part> {
            let (s0, s1, s2) = &mut self.sparse;
            let (v0, v1) = &mut self.see;
            vec![
                &mut self.grow.0,
                &mut self.tally.0,
                &mut self.with_b.0,
                &mut self.without_b.0,
                s0,
                s1,
                s2,
                v0,
                v1,
            ]
        }
    }

    /// One step of a case.
    #[derive(Clone, Debug)]
    enum Step {
        /// Runs the schedule with these inputs (by slot, cycled).
        Run(Vec<SlotInput>),
        Despawn(usize),
        InsertB(usize, u32),
        RemoveB(usize),
        /// Writes `A` through `World::get_mut`.
        TouchA(usize, u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        let input = (any::<u32>(), proptest::collection::vec(cmd(), 0..6))
            .prop_map(|(k, commands)| SlotInput { k, commands });
        prop_oneof![
            3 => proptest::collection::vec(input, 1..12).prop_map(Step::Run),
            1 => any::<usize>().prop_map(Step::Despawn),
            1 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Step::InsertB(i, v)),
            1 => any::<usize>().prop_map(Step::RemoveB),
            1 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Step::TouchA(i, v)),
        ]
    }

    /// The three schedulers every case runs on.
    fn schedulers() -> &'static [Scheduler; 3] {
        static SCHEDULERS: OnceLock<[Scheduler; 3]> = OnceLock::new();
        SCHEDULERS.get_or_init(|| {
            [
                Scheduler::single_threaded(),
                Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
                    .with_dispatch(Dispatch::AlwaysParallel),
                Scheduler::new(Arc::new(ThreadPool::new(3).unwrap())),
            ]
        })
    }

    struct Lane<Sch> {
        world: World,
        schedule: Sch,
        model: SchedModel,
        scheduler: &'static Scheduler,
    }

    fn run_case<Sch: ModelSchedule>(
        initial: &[(u8, u32)],
        steps: &[Step],
    ) -> Result<(), TestCaseError> {
        let plan = Sch::plan();
        let mut lanes: Vec<Lane<Sch>> = schedulers()
            .iter()
            .map(|scheduler| Lane {
                world: new_world(true),
                schedule: Sch::default(),
                model: SchedModel::default(),
                scheduler,
            })
            .collect();
        let mut ever: Vec<Entity> = Vec::new();
        for &(shape, v) in initial {
            let shape = [
                super::Shape::A,
                super::Shape::AB,
                super::Shape::SA,
                super::Shape::B,
            ][usize::from(shape) % 4];
            let mut id = None;
            for lane in &mut lanes {
                let e = shape.spawn(&mut lane.world, v);
                prop_assert!(id.is_none_or(|id| id == e), "one id per world");
                id = Some(e);
                let now = lane.model.tick();
                lane.model.apply(Recorded::Spawn(e, shape, v), now);
            }
            ever.extend(id);
        }
        let pick = |ever: &[Entity], i: usize| (!ever.is_empty()).then(|| ever[i % ever.len()]);
        for step in steps {
            let mut spawned_here: Option<Vec<Entity>> = None;
            for lane in &mut lanes {
                let model = &mut lane.model;
                let world = &mut lane.world;
                match step {
                    Step::Run(inputs) => {
                        for (slot, part) in lane.schedule.parts().into_iter().enumerate() {
                            part.prepare(&inputs[slot % inputs.len()], &ever);
                        }
                        let failed_before = world.failed_command_count();
                        world
                            .run_schedule(&mut lane.schedule, lane.scheduler)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let mut parts = lane.schedule.parts();
                        prop_assert_eq!(parts.len(), plan.system_count());
                        let mut spawned = Vec::new();
                        for stage in plan.stages() {
                            let mut commands = Vec::new();
                            for i in 0..stage.systems().len() {
                                let slot = stage.slot(i).0;
                                let now = model.tick();
                                parts[slot].model(model, slot, now, &mut commands)?;
                            }
                            let now = model.tick();
                            for recorded in commands {
                                if let Recorded::Spawn(e, ..) = recorded {
                                    spawned.push(e);
                                }
                                model.failed += u64::from(!model.apply(recorded, now));
                            }
                        }
                        prop_assert_eq!(
                            world.failed_command_count() - failed_before,
                            model.failed,
                            "failed commands"
                        );
                        model.failed = 0;
                        match &spawned_here {
                            Some(first) => prop_assert_eq!(first, &spawned, "the same ids"),
                            None => spawned_here = Some(spawned),
                        }
                    }
                    &Step::Despawn(i) => {
                        if let Some(e) = pick(&ever, i) {
                            let alive = model.rows.remove(&e).is_some();
                            model.tick();
                            prop_assert_eq!(world.despawn(e).is_ok(), alive);
                        }
                    }
                    &Step::InsertB(i, v) => {
                        if let Some(e) = pick(&ever, i) {
                            model.tick();
                            let alive = match model.rows.get_mut(&e) {
                                Some(row) => {
                                    row.b = Some(B(v.to_string()));
                                    true
                                }
                                None => false,
                            };
                            prop_assert_eq!(world.insert(e, B(v.to_string())).is_ok(), alive);
                        }
                    }
                    &Step::RemoveB(i) => {
                        if let Some(e) = pick(&ever, i) {
                            model.tick();
                            let had = model.rows.get_mut(&e).is_some_and(|r| r.b.take().is_some());
                            prop_assert_eq!(world.remove::<B>(e).is_ok(), had);
                        }
                    }
                    &Step::TouchA(i, v) => {
                        if let Some(e) = pick(&ever, i) {
                            let now = model.tick();
                            let had = match model.rows.get_mut(&e).and_then(|r| r.a.as_mut()) {
                                Some((a, stamp)) => {
                                    *a = A(v);
                                    stamp.changed = now;
                                    true
                                }
                                None => false,
                            };
                            let r = world.get_mut::<A>(e).map(|mut a| a.0 = v);
                            prop_assert_eq!(r.is_ok(), had);
                        }
                    }
                }
                check(world, &model.projection(), &ever);
            }
            ever.extend(spawned_here.into_iter().flatten());
            let hash = lanes[0].world.hash();
            for lane in &lanes[1..] {
                prop_assert_eq!(lane.world.hash(), hash, "1 thread and a pool agree");
            }
        }
        Ok(())
    }

    /// Cases of `schedules_match_model`: 16 by default, since each case
    /// runs three worlds through up to 16 schedule steps (about 1.5 s a
    /// case in a debug build); `PROPTEST_CASES=256` for a longer search.
    fn schedule_cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(schedule_cases()))]
        #[test]
        fn schedules_match_model(
            layered in any::<bool>(),
            initial in proptest::collection::vec((any::<u8>(), any::<u32>()), 0..40),
            steps in proptest::collection::vec(step(), 1..16),
        ) {
            if layered {
                run_case::<Layered>(&initial, &steps)?;
            } else {
                run_case::<Linear>(&initial, &steps)?;
            }
        }
    }

    /// The schedules' plans are what the model's comments claim: in
    /// `Linear`, the two writers of `A` with `with(B)` / `without(B)` share
    /// a batch once both kinds of tables exist; in `Layered`, `grow` and
    /// `tally` are one layer split into two waves.
    #[test]
    fn schedule_shapes() {
        let mut world = new_world(true);
        world.spawn((A(1), B("x".into())));
        world.spawn((A(2),));
        let plan = world.schedule_plan::<Linear>();
        let early = plan.stage("early").unwrap();
        let together = early
            .batches()
            .iter()
            .any(|b| b.systems().contains(&2) && b.systems().contains(&3));
        assert!(together, "{:?}", early.batches());
        let layered = world.schedule_plan::<Layered>();
        let layers = layered.layer_positions();
        assert_eq!(layers[0].len(), 2);
        assert_eq!(layered.waves(&layers[0]).len(), 2);
        assert_eq!(layers[1].len(), 2);
        assert_eq!(layered.waves(&layers[1]).len(), 1);
    }
}
