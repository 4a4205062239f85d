use super::*;
use crate::access::ResourceId;

struct A;
struct B;

fn stage(name: &'static str) -> StageDescriptor {
    StageDescriptor::new(name)
}

fn sys(name: &'static str, access: ResourceAccess) -> SystemDescriptor {
    SystemDescriptor::new(name, access)
}

fn reads<T: 'static>() -> ResourceAccess {
    ResourceAccess::new().with_read(ResourceId::of::<T>())
}

fn writes<T: 'static>() -> ResourceAccess {
    ResourceAccess::new().with_write(ResourceId::of::<T>())
}

fn order(plan: &Plan) -> Vec<&str> {
    plan.stages().iter().map(StagePlan::name).collect()
}

fn batches(stage: &StagePlan) -> Vec<Vec<usize>> {
    stage
        .batches()
        .iter()
        .map(|b| b.systems().to_vec())
        .collect()
}

#[test]
fn empty_plan() {
    let plan = Plan::build([]).unwrap();
    assert!(plan.stages().is_empty());
    assert!(plan.topo_groups().is_empty());
    assert_eq!(plan.system_count(), 0);
    assert_eq!(
        plan.to_dot(),
        "digraph plan {\n    rankdir=LR;\n    node [shape=box];\n}\n"
    );
}

#[test]
fn brief_example_orders_and_layers() {
    let plan = Plan::build([
        stage("input"),
        stage("simulate").after("input"),
        stage("extract").after("simulate").before("present"),
        stage("present"),
    ])
    .unwrap();
    assert_eq!(order(&plan), ["input", "simulate", "extract", "present"]);
    assert_eq!(
        plan.topo_groups(),
        [["input"], ["simulate"], ["extract"], ["present"]]
    );
}

#[test]
fn ties_follow_declaration_order() {
    // `x` waits for `p`, which is declared last; `y` and `p` are ready first.
    let plan = Plan::build([stage("x").after("p"), stage("y"), stage("p")]).unwrap();
    assert_eq!(order(&plan), ["y", "p", "x"]);
    assert_eq!(plan.topo_groups(), [vec!["y", "p"], vec!["x"]]);
    assert_eq!(plan.stage("x").unwrap().declared_index(), 0);
    assert_eq!(plan.stage_index("x"), Some(2));
}

#[test]
fn layers_use_the_longest_path() {
    // a -> b -> c and a -> c: c is in layer 2, not 1.
    let plan = Plan::build([
        stage("c").after("a").after("b"),
        stage("b").after("a"),
        stage("a"),
        stage("d"),
    ])
    .unwrap();
    assert_eq!(plan.topo_groups(), [vec!["a", "d"], vec!["b"], vec!["c"]]);
    assert_eq!(order(&plan), ["a", "b", "c", "d"]);
    assert_eq!(plan.dependencies(), [("b", "c"), ("a", "c"), ("a", "b")]);
}

#[test]
fn after_and_before_give_the_same_edge_once() {
    let plan = Plan::build([stage("a").before("b"), stage("b").after("a").after("a")]).unwrap();
    assert_eq!(plan.dependencies(), [("a", "b")]);
    assert_eq!(plan.to_mermaid().matches("-->").count(), 1);
}

#[test]
fn slots_count_in_declaration_order() {
    let plan = Plan::build([
        stage("late")
            .after("early")
            .with_system(sys("l0", reads::<A>())),
        stage("early")
            .with_system(sys("e0", reads::<A>()))
            .with_system(sys("e1", reads::<A>())),
    ])
    .unwrap();
    assert_eq!(plan.system_count(), 3);
    let late = plan.stage("late").unwrap();
    let early = plan.stage("early").unwrap();
    assert_eq!(late.slot(0), SystemSlot(0));
    assert_eq!(early.slot(0), SystemSlot(1));
    assert_eq!(early.slot(1), SystemSlot(2));
    assert_eq!(early.slots(), 1..3);
}

#[test]
#[should_panic(expected = "out of range")]
fn slot_out_of_range_panics() {
    let plan = Plan::build([stage("a").with_system(sys("s", reads::<A>()))]).unwrap();
    let _ = plan.stages()[0].slot(1);
}

#[test]
fn batches_separate_conflicts_and_keep_declaration_order() {
    let plan = Plan::build([stage("s")
        .with_system(sys("w_a", writes::<A>()))
        .with_system(sys("r_b", reads::<B>()))
        .with_system(sys("r_a", reads::<A>()))
        .with_system(sys("w_b", writes::<B>()))
        .with_system(sys("r_a2", reads::<A>()))
        .with_system(sys("none", ResourceAccess::new()))])
    .unwrap();
    let s = &plan.stages()[0];
    // w_a | r_b -> batch 0; r_a conflicts with w_a -> batch 1; w_b conflicts
    // with r_b (batch 0) -> batch 1; r_a2 -> batch 1; none -> batch 0.
    assert_eq!(batches(s), [vec![0, 1, 5], vec![2, 3, 4]]);
}

#[test]
fn conflicting_later_system_never_runs_earlier() {
    // First-fit would put `r_c` into batch 0 next to `w_a`, before `w_a_c`
    // that it conflicts with; the planner keeps declaration order.
    struct C;
    let plan = Plan::build([stage("s")
        .with_system(sys("w_a", writes::<A>()))
        .with_system(sys(
            "w_a_c",
            ResourceAccess::new()
                .with_write(ResourceId::of::<A>())
                .with_write(ResourceId::of::<C>()),
        ))
        .with_system(sys("r_c", reads::<C>()))])
    .unwrap();
    assert_eq!(batches(&plan.stages()[0]), [vec![0], vec![1], vec![2]]);
}

#[test]
fn empty_stage_has_no_batches() {
    let plan = Plan::build([stage("a")]).unwrap();
    assert!(plan.stages()[0].batches().is_empty());
}

#[test]
fn duplicate_stage_is_an_error() {
    let err = Plan::build([stage("a"), stage("b"), stage("a")]).unwrap_err();
    assert_eq!(err, PlanError::DuplicateStage { name: "a".into() });
    assert!(err.to_string().contains("`a` is declared more than once"));
}

#[test]
fn self_dependency_is_an_error() {
    for descriptor in [stage("a").after("a"), stage("a").before("a")] {
        let err = Plan::build([descriptor]).unwrap_err();
        assert_eq!(err, PlanError::SelfDependency { stage: "a".into() });
        assert!(err.to_string().contains("remove `a` from its own"));
    }
}

#[test]
fn unknown_stage_is_an_error() {
    let err = Plan::build([stage("input"), stage("simulate").after("inptu")]).unwrap_err();
    assert_eq!(
        err,
        PlanError::UnknownStage {
            stage: "simulate".into(),
            referenced: "inptu".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`simulate`") && msg.contains("`inptu`"),
        "{msg}"
    );

    let err = Plan::build([stage("a").before("nowhere")]).unwrap_err();
    assert!(
        matches!(err, PlanError::UnknownStage { ref referenced, .. } if referenced == "nowhere")
    );
}

#[test]
fn cycle_is_spelled_out() {
    let err = Plan::build([
        stage("x"),
        stage("b").after("a"),
        stage("c").after("b"),
        stage("a").after("c").after("x"),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        PlanError::Cycle {
            cycle: vec!["b".into(), "c".into(), "a".into()]
        }
    );
    assert_eq!(err.cycle_path().as_deref(), Some("b -> c -> a -> b"));
    assert!(err.to_string().contains("b -> c -> a -> b"), "{err}");
}

#[test]
fn two_stage_cycle_via_before() {
    let err = Plan::build([stage("a").before("b"), stage("b").before("a")]).unwrap_err();
    assert_eq!(err.cycle_path().as_deref(), Some("a -> b -> a"));
}

#[test]
fn cycle_downstream_of_a_blocked_stage_is_found() {
    // `d` is blocked by the cycle but is not on it.
    let err = Plan::build([
        stage("d").after("b"),
        stage("b").after("c"),
        stage("c").after("b"),
    ])
    .unwrap_err();
    assert_eq!(err.cycle_path().as_deref(), Some("b -> c -> b"));
}

#[test]
fn display_lists_stages_and_batches() {
    let plan = Plan::build([
        stage("input").with_system(sys("poll", writes::<A>())),
        stage("sim")
            .after("input")
            .with_system(sys("w", writes::<A>()))
            .with_system(sys("r", reads::<A>())),
    ])
    .unwrap();
    assert_eq!(
        plan.to_string(),
        "input: [poll]\nsim (after input): [w] [r]\n"
    );
}

#[test]
fn dot_and_mermaid_show_batches_and_escape_names() {
    let plan = Plan::build([
        stage("in\"put").with_system(sys("Vec<A>", reads::<A>())),
        stage("b").after("in\"put"),
    ])
    .unwrap();
    let dot = plan.to_dot();
    assert!(
        dot.contains("s0 [label=\"in\\\"put\\nbatch 0: Vec<A>\"];"),
        "{dot}"
    );
    assert!(dot.contains("s0 -> s1;"), "{dot}");
    let mermaid = plan.to_mermaid();
    assert!(
        mermaid.contains("s0[\"in#quot;put<br/>batch 0: Vec#lt;A#gt;\"]"),
        "{mermaid}"
    );
    assert!(mermaid.contains("s0 --> s1"), "{mermaid}");
}

#[cfg(feature = "serde")]
#[test]
fn json_round_trips_through_serde_json() {
    let plan = Plan::build([
        stage("sim")
            .after("input")
            .with_system(sys("w", writes::<A>()))
            .with_system(sys("r", reads::<A>())),
        stage("input"),
    ])
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(value["system_count"], 2);
    assert_eq!(
        value["topo_groups"],
        serde_json::json!([["input"], ["sim"]])
    );
    let sim = &value["stages"][1];
    assert_eq!(sim["name"], "sim");
    assert_eq!(sim["declared_index"], 0);
    assert_eq!(sim["after"], serde_json::json!(["input"]));
    assert_eq!(sim["batches"], serde_json::json!([[0], [1]]));
    assert_eq!(sim["systems"][1]["slot"], 1);
    assert_eq!(
        sim["systems"][0]["writes"],
        serde_json::json!([std::any::type_name::<A>()])
    );
}

#[test]
fn descriptor_of_system_type() {
    struct Integrate;
    impl crate::System for Integrate {
        fn name() -> &'static str {
            "Integrate"
        }
        fn access() -> ResourceAccess {
            writes::<A>()
        }
    }
    let d = SystemDescriptor::of::<Integrate>();
    assert_eq!(d.name, "Integrate");
    assert_eq!(d.access, writes::<A>());
}

#[test]
fn refined_accesses_on_disjoint_parts_share_a_batch() {
    let plan = Plan::build([stage("write")
        .with_system(sys("left", writes::<A>()))
        .with_system(sys("right", writes::<A>()))
        .with_system(sys("both", writes::<A>()))])
    .unwrap();
    assert_eq!(plan.stages()[0].batches().len(), 3);
    // Parts 1 and 2 are disjoint; `both` touches both.
    let refined = plan.refine(|slot, system| {
        let mut access = system.access.clone();
        let parts = match slot.0 {
            0 => vec![1],
            1 => vec![2],
            _ => vec![1, 2],
        };
        access.restrict(ResourceId::of::<A>(), parts);
        access
    });
    let batches: Vec<&[usize]> = refined.stages()[0]
        .batches()
        .iter()
        .map(|b| b.systems())
        .collect();
    assert_eq!(batches, [&[0, 1][..], &[2][..]]);
    // Everything but the batches is kept.
    assert_eq!(refined.topo_groups(), plan.topo_groups());
    assert_eq!(refined.system_count(), plan.system_count());
    assert_eq!(
        refined.stages()[0].systems()[0]
            .access
            .parts_of(ResourceId::of::<A>()),
        Some(&[1][..])
    );
}

#[test]
fn waves_split_a_layer_by_settled_accesses() {
    let a = ResourceId::of::<A>();
    let plan = Plan::build([
        stage("insert").with_system(sys("i", ResourceAccess::new().with_deferred_write(a))),
        stage("other").with_system(sys("o", writes::<B>())),
        stage("read").with_system(sys("r", ResourceAccess::new().with_read(a))),
    ])
    .unwrap();
    let layers = plan.layer_positions();
    assert_eq!(layers, [vec![0, 1, 2]]);
    // Inside a stage a deferred write conflicts with nothing; beside it, it
    // is a write: `read` waits for `insert`'s commands.
    assert_eq!(plan.waves(&layers[0]), [vec![0, 1], vec![2]]);
}
