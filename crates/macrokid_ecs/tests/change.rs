//! Change detection: `Added`/`Changed` relative to each system's previous
//! run, `Mut` marking only on write, removals seen once, direct world
//! access with `clear_trackers`.

use macrokid_ecs::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Pos(i32);
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tag;

/// What the observers saw, per schedule run.
#[derive(Default)]
struct Seen {
    changed_before: Vec<Vec<i32>>,
    changed_after: Vec<Vec<i32>>,
    added: Vec<Vec<i32>>,
    removed: Vec<Vec<Entity>>,
}

/// Slot 0: sees changes made by `Bump` (slot 1) one run later.
#[derive(System, Default)]
#[system(reads(Pos), writes(Seen))]
struct ObserveBefore;
impl Run for ObserveBefore {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut v: Vec<i32> = cx
            .query_filtered::<&Pos, Changed<Pos>>()
            .iter()
            .map(|p| p.0)
            .collect();
        v.sort_unstable();
        cx.resource_mut::<Seen>()?.changed_before.push(v);
        Ok(())
    }
}

/// Bumps the positions listed in `Plan` for this run (reads all, writes
/// only those: the others must not count as changed).
#[derive(System, Default)]
#[system(reads(Plan), writes(Pos))]
struct Bump;
impl Run for Bump {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let plan = cx.resource::<Plan>()?;
        let targets = plan.0.get(plan.1).cloned().unwrap_or_default();
        for mut p in cx.query::<&mut Pos>().iter() {
            // A read through the guard is not a change.
            if targets.contains(&p.0) {
                p.0 += 1000;
            }
        }
        Ok(())
    }
}

/// Slot 2: sees `Bump`'s changes in the same schedule run.
#[derive(System, Default)]
#[system(reads(Pos), writes(Seen))]
struct ObserveAfter;
impl Run for ObserveAfter {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let mut v: Vec<i32> = cx
            .query_filtered::<&Pos, Changed<Pos>>()
            .iter()
            .map(|p| p.0)
            .collect();
        v.sort_unstable();
        let mut added: Vec<i32> = cx
            .query_filtered::<&Pos, Added<Pos>>()
            .iter()
            .map(|p| p.0)
            .collect();
        added.sort_unstable();
        let removed: Vec<Entity> = cx.removed::<Pos>().collect();
        let mut seen = cx.resource_mut::<Seen>()?;
        seen.changed_after.push(v);
        seen.added.push(added);
        seen.removed.push(removed);
        Ok(())
    }
}

/// Per run: which `Pos` values `Bump` writes; the run index.
#[derive(Default)]
struct Plan(Vec<Vec<i32>>, usize);

#[derive(Schedule, Default)]
struct Sched {
    #[stage]
    main: (ObserveBefore, Bump, ObserveAfter),
}

fn run(world: &mut World, sched: &mut Sched) {
    world
        .run_schedule(sched, &Scheduler::single_threaded())
        .unwrap();
    world.resource_mut::<Plan>().unwrap().1 += 1;
}

#[test]
fn changed_and_added_are_relative_to_each_systems_last_run() {
    let mut world = World::new();
    world.insert_resource(Seen::default());
    world.insert_resource(Plan(vec![vec![], vec![2], vec![], vec![3]], 0));
    let mut sched = Sched::default();
    world.spawn_batch([(Pos(1),), (Pos(2),), (Pos(3),)]);

    // Run 0: a first run sees everything as added and changed.
    run(&mut world, &mut sched);
    // Run 1: Bump writes 2 -> 1002; ObserveAfter sees it now, ObserveBefore
    // next run. A spawn between runs is added for both.
    world.spawn((Pos(4),));
    run(&mut world, &mut sched);
    // Run 2: nothing written.
    run(&mut world, &mut sched);
    // Run 3: 3 -> 1003.
    run(&mut world, &mut sched);
    run(&mut world, &mut sched);

    let seen = world.remove_resource::<Seen>().unwrap();
    assert_eq!(
        seen.changed_after,
        [vec![1, 2, 3], vec![4, 1002], vec![], vec![1003], vec![]]
    );
    assert_eq!(
        seen.changed_before,
        [vec![1, 2, 3], vec![4], vec![1002], vec![], vec![1003]]
    );
    assert_eq!(seen.added, [vec![1, 2, 3], vec![4], vec![], vec![], vec![]]);
}

/// Despawns `Tag`ged entities and removes `Pos` from odd ones, through
/// commands.
#[derive(System, Default)]
#[system(reads(Tag), writes(Pos), despawns, removes(Pos))]
struct Cull;
impl Run for Cull {
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
        let commands = cx.commands();
        for (e, p, tag) in cx.query::<(Entity, &Pos, Option<&Tag>)>().iter() {
            if tag.is_some() {
                commands.despawn(e);
            } else if p.0 % 2 == 1 {
                commands.remove::<Pos>(e);
            }
        }
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct CullThenObserve {
    #[stage]
    cull: (Cull,),
    #[stage(after = "cull")]
    observe: (ObserveAfter,),
}

#[test]
fn removals_are_seen_once() {
    let mut world = World::new();
    world.insert_resource(Seen::default());
    let a = world.spawn((Pos(1),));
    let b = world.spawn((Pos(2), Tag));
    let _c = world.spawn((Pos(4),));
    let mut sched = CullThenObserve::default();
    let scheduler = Scheduler::single_threaded();
    world.run_schedule(&mut sched, &scheduler).unwrap();
    world.run_schedule(&mut sched, &scheduler).unwrap();
    let seen = world.remove_resource::<Seen>().unwrap();
    assert_eq!(seen.removed, [vec![a, b], vec![]]);
    assert!(!world.contains(b));
    assert!(!world.has::<Pos>(a));
}

#[test]
fn world_access_uses_clear_trackers() {
    let mut world = World::new();
    let a = world.spawn((Pos(1),));
    let b = world.spawn((Pos(2),));
    let changed = |world: &mut World| -> Vec<i32> {
        world
            .query_filtered::<&Pos, Changed<Pos>>()
            .iter()
            .map(|p| p.0)
            .collect()
    };
    assert_eq!(changed(&mut world), [1, 2]);
    world.clear_trackers();
    assert_eq!(changed(&mut world), Vec::<i32>::new());
    // A read through `get_mut` marks nothing; a write does.
    assert_eq!(*world.get_mut::<Pos>(a).unwrap(), Pos(1));
    assert_eq!(changed(&mut world), Vec::<i32>::new());
    world.get_mut::<Pos>(b).unwrap().0 = 20;
    assert_eq!(changed(&mut world), [20]);
    let ticks = world.component_ticks::<Pos>(b).unwrap();
    assert_eq!(ticks.changed, world.change_tick());
    assert!(ticks.added != ticks.changed);
    // `&mut T` and `Changed<T>` in one query; a `Mut` read is no change.
    world.clear_trackers();
    world.insert(a, Pos(10)).unwrap();
    let mut visited = Vec::new();
    for (e, p) in world
        .query_filtered::<(Entity, &mut Pos), Changed<Pos>>()
        .iter()
    {
        visited.push((e, p.0));
    }
    assert_eq!(visited, [(a, 10)]);
    assert_eq!(
        world.query_filtered::<&Pos, Added<Pos>>().len(),
        0,
        "a replacing insert is a change, not an add"
    );
    world.remove::<Pos>(b).unwrap();
    assert_eq!(world.removed::<Pos>().collect::<Vec<_>>(), [b]);
    world.clear_trackers();
    assert_eq!(world.removed::<Pos>().count(), 0);
}

/// A row changed at tick `t`, trackers cleared at `t + 1`; then the 32-bit
/// counter goes almost all the way around. Without `check_change_ticks`
/// the wrapped distance makes the old row look new; with the periodic
/// check (which schedules run every `CHECK_TICK_THRESHOLD` ticks) it is
/// still old.
#[test]
fn change_ticks_survive_wrap_around() {
    fn changed_after_wrap(check: bool) -> usize {
        let mut world = World::new();
        world.spawn((Pos(7),));
        world.clear_trackers();
        world.clear_trackers();
        // In all 2^32 - 2 ticks: `now` lands one tick before the last clear.
        let total: u64 = (1 << 32) - 2;
        let step = total / 8;
        for i in 0..8 {
            let n = if i == 7 { total - 7 * step } else { step };
            world.advance_change_tick_for_tests(n as u32);
            if check {
                world.check_change_ticks();
            }
        }
        let count = world.query_filtered::<&Pos, Changed<Pos>>().len();
        count
    }
    assert_eq!(
        changed_after_wrap(false),
        1,
        "the unchecked counter aliases"
    );
    assert_eq!(changed_after_wrap(true), 0);
}

/// The same through schedules: systems' last runs are clamped too.
#[test]
fn systems_see_changes_after_many_ticks() {
    let mut world = World::new();
    world.insert_resource(Seen::default());
    world.insert_resource(Plan(vec![vec![]; 8], 0));
    world.spawn((Pos(7),));
    let mut sched = Sched::default();
    run(&mut world, &mut sched);
    for _ in 0..9 {
        world.advance_change_tick_for_tests(u32::MAX / 8);
        world.check_change_ticks();
    }
    let plan = &mut world.resource_mut::<Plan>().unwrap();
    plan.0[1] = vec![7];
    run(&mut world, &mut sched);
    run(&mut world, &mut sched);
    let seen = world.remove_resource::<Seen>().unwrap();
    assert_eq!(seen.changed_after, [vec![7], vec![1007], vec![]]);
    assert_eq!(seen.changed_before, [vec![7], vec![], vec![1007]]);
}
