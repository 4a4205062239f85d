//! The Chrome trace of a run opens as JSON with `traceEvents` naming every
//! system (scheduler stages and work groups, synchronized and async), with
//! one `tick`, `group` and `system` span per tick and group.
//!
//! Alone in its binary: it installs the global `tracing` subscriber (spans
//! from pool threads reach only a global one).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use macrokid_core::{Plan, ResourceAccess, StageDescriptor, SystemDescriptor};
use macrokid_threads::{BoxError, ChromeTrace, Dispatch, Scheduler, SystemTask, ThreadPool};
use tracing_subscriber::prelude::*;

mod common;
use common::{app, World};

#[test]
fn the_chrome_trace_names_every_system_per_tick() {
    const TICKS: u64 = 3;
    let path = std::env::temp_dir().join(format!("macrokid-trace-{}.json", std::process::id()));
    let (layer, trace) = ChromeTrace::layer(&path).unwrap();
    tracing_subscriber::registry().with(layer).init();

    let pool = Arc::new(ThreadPool::new(2).unwrap());
    let mut app = app(Arc::clone(&pool)).build().unwrap();
    let mut world = World::default();
    for _ in 0..TICKS {
        app.tick(&mut world).unwrap();
    }
    // A scheduler stage too, with a parallel batch on the pool.
    let plan = Plan::build([StageDescriptor::new("render").with_systems(
        ["cull", "record"].map(|n| SystemDescriptor::new(n, ResourceAccess::new())),
    )])
    .unwrap();
    let mut a = || -> Result<(), BoxError> { Ok(()) };
    let mut b = || -> Result<(), BoxError> { Ok(()) };
    let mut tasks: [SystemTask<'_>; 2] = [&mut a, &mut b];
    Scheduler::new(pool)
        .with_dispatch(Dispatch::AlwaysParallel)
        .run_stage(&plan.stages()[0], &mut tasks)
        .unwrap();
    trace.finish().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = json["traceEvents"]
        .as_array()
        .expect("a `traceEvents` array");
    // Begin events per (span name, system/group/stage field).
    let mut begins: BTreeMap<(String, String), usize> = BTreeMap::new();
    for event in events.iter().filter(|e| e["ph"] == "B") {
        let name = event["name"].as_str().unwrap_or_default().to_owned();
        let args = &event["args"];
        let field = ["system", "group", "stage", "tick"]
            .iter()
            .find_map(|key| args.get(*key))
            // tracing-chrome records `&str` fields through `Debug`: quoted.
            .map(|v| {
                v.as_str()
                    .map_or_else(|| v.to_string(), str::to_owned)
                    .trim_matches('"')
                    .to_owned()
            })
            .unwrap_or_default();
        *begins.entry((name, field)).or_default() += 1;
    }
    let systems: BTreeSet<&str> = begins
        .keys()
        .filter(|(name, _)| name == "system")
        .map(|(_, system)| system.as_str())
        .collect();
    for system in [
        "integrate",
        "collide",
        "always_fails",
        "count_players",
        "cull",
        "record",
    ] {
        assert!(systems.contains(system), "`{system}` missing: {systems:?}");
    }
    let count = |name: &str, field: &str| begins[&(name.to_owned(), field.to_owned())];
    for group in ["movement", "faults", "analytics"] {
        assert_eq!(count("group", group), TICKS as usize, "{group}");
    }
    assert_eq!(count("system", "integrate"), TICKS as usize);
    assert_eq!(count("system", "count_players"), TICKS as usize);
    assert_eq!(count("stage", "render"), 1);
    assert_eq!(
        begins.keys().filter(|(name, _)| name == "tick").count(),
        TICKS as usize
    );
    std::fs::remove_file(&path).unwrap();
}
