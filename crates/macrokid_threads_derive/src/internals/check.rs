//! Checks that involve several attributes or fields together: duplicate
//! types of a system, and the stage graph of a schedule (unknown names,
//! duplicates, self-dependencies, cycles; the planner's own check from
//! `macrokid_core`).

use std::collections::HashSet;

use macrokid_core::{check_stage_graph, GraphIssue, ListEntry, OrderList, StageDescriptor};
use proc_macro2::Span;
use quote::ToTokens;
use syn::Type;

use super::ast::{ScheduleInput, SystemInput};
use super::attr::StageRef;
use super::{did_you_mean, Ctxt};

/// A type's tokens as text, whitespace-insensitive: `Vec < A >` and
/// `Vec<A>` compare equal. Two paths to one type (`A` and `crate::A`) are
/// not detected here; they only make the access list longer.
fn type_key(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Reports types listed twice in one list, types in both `reads` and
/// `writes`, and types in both `with` and `without`.
pub(crate) fn check_system(cx: &Ctxt, input: &SystemInput<'_>) {
    let written: HashSet<String> = input.writes.iter().map(type_key).collect();
    let mut reads: HashSet<String> = HashSet::new();
    for ty in &input.reads {
        let key = type_key(ty);
        if written.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!(
                    "`{key}` is in both `reads` and `writes`; writes imply reads: \
                     remove it from `reads`"
                ),
            );
        } else if !reads.insert(key.clone()) {
            cx.error_spanned_by(ty, format!("`{key}` is listed twice in `reads`"));
        }
    }
    for (list, name) in [
        (&input.writes, "writes"),
        (&input.inserts, "inserts"),
        (&input.removes, "removes"),
        (&input.with, "with"),
        (&input.without, "without"),
    ] {
        let mut seen: HashSet<String> = HashSet::new();
        for ty in list {
            let key = type_key(ty);
            if !seen.insert(key.clone()) {
                cx.error_spanned_by(ty, format!("`{key}` is listed twice in `{name}`"));
            }
        }
    }
    let required: HashSet<String> = input.with.iter().map(type_key).collect();
    for ty in &input.without {
        let key = type_key(ty);
        if required.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!(
                    "`{key}` is in both `with` and `without`: no entity could match; \
                     remove it from one of them"
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------

/// Checks the stage graph of a schedule with the planner's own check
/// ([`macrokid_core::check_stage_graph`]: one algorithm for the compile-time
/// check and for `Plan::build`) and reports every issue at the attribute
/// that caused it: duplicate stage names, unknown names in
/// `after`/`before`, names listed twice in one list, self-dependencies, and
/// one cycle per strongly connected component (spelled `a -> b -> c -> a`,
/// at the attribute value that closes it).
pub(crate) fn check_schedule(cx: &Ctxt, input: &ScheduleInput<'_>) {
    let stages = &input.stages;
    let descriptors: Vec<StageDescriptor> = stages
        .iter()
        .map(|stage| StageDescriptor {
            name: stage.name.clone().into(),
            after: stage.after.iter().map(|r| r.name.clone().into()).collect(),
            before: stage.before.iter().map(|r| r.name.clone().into()).collect(),
            systems: Vec::new(),
        })
        .collect();
    // For messages: every stage by declaration index, and the valid,
    // distinct names for suggestions.
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    let mut known: Vec<&str> = Vec::new();
    for name in &names {
        if !name.is_empty() && !name.contains(',') && !known.contains(name) {
            known.push(name);
        }
    }
    let entry = |at: ListEntry| -> (&StageRef, &'static str) {
        let stage = &stages[at.stage];
        match at.list {
            OrderList::After => (&stage.after[at.entry], "after"),
            OrderList::Before => (&stage.before[at.entry], "before"),
        }
    };

    for issue in check_stage_graph(&descriptors) {
        match issue {
            GraphIssue::DuplicateStage { stage, first } => cx.error_at(
                stages[stage].name_span,
                format!(
                    "duplicate stage name `{}`: field `{}` already declares a stage of that \
                     name; rename one with `#[stage(name = \"...\")]`",
                    stages[stage].name,
                    super::ast::unraw(stages[first].field),
                ),
            ),
            GraphIssue::ListedTwice { at } => {
                let (r, key) = entry(at);
                cx.error_spanned_by(
                    &r.tokens,
                    format!("stage `{}` is listed twice in `{key}`", r.name),
                );
            }
            GraphIssue::UnknownStage { at } => {
                let (r, key) = entry(at);
                report_unknown(cx, &r.name, key, r.span, &known);
            }
            GraphIssue::SelfDependency { at } => {
                let (r, key) = entry(at);
                cx.error_spanned_by(
                    &r.tokens,
                    format!(
                        "stage `{}` cannot run {key} itself; remove `{}` from `{key}`",
                        stages[at.stage].name, r.name
                    ),
                );
            }
            GraphIssue::Cycle {
                stages: cycle,
                closing,
            } => {
                let path: Vec<&str> = cycle.iter().map(|&n| names[n]).collect();
                cx.error_spanned_by(
                    &entry(closing).0.tokens,
                    format!(
                        "the stages form a cycle: {} -> {}; no order can satisfy every \
                         `after`/`before`, remove one of these constraints",
                        path.join(" -> "),
                        path[0]
                    ),
                );
            }
            // `GraphIssue` is non-exhaustive: a kind this derive does not
            // know yet still fails the build, in plain words.
            other => cx.error_spanned_by(
                input.ident,
                format!("the stage graph is not valid: {other:?}"),
            ),
        }
    }
}

fn report_unknown(cx: &Ctxt, name: &str, key: &str, span: Span, names: &[&str]) {
    let mut msg = format!("unknown stage `{name}` in `{key}`");
    match did_you_mean(name, names.iter().copied()) {
        Some(close) => msg.push_str(&format!("; did you mean `{close}`?")),
        None if names.is_empty() => {}
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            msg.push_str(&format!("; the stages are {}", list.join(", ")));
        }
    }
    cx.error_at(span, msg);
}
