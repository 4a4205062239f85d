//! Errors of plan building.

use std::fmt;

/// Why a set of stages could not be turned into a [`Plan`](super::Plan).
///
/// Every variant names the stage(s) involved. [`Plan::build`](super::Plan::build)
/// checks in this order and reports the first problem found: duplicate names
/// (in declaration order), then each stage's `after` and `before` lists (in
/// declaration order) for self-references and unknown names, then cycles.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A stage's `after` or `before` list names a stage that was not declared.
    #[error(
        "stage `{stage}` is ordered against unknown stage `{referenced}`; \
         declare a stage named `{referenced}` or fix the name in the `after`/`before` list of `{stage}`"
    )]
    UnknownStage {
        /// The stage whose `after`/`before` list holds the bad name.
        stage: String,
        /// The name that matches no declared stage.
        referenced: String,
    },

    /// Two stages were declared with the same name.
    #[error(
        "stage `{name}` is declared more than once; stage names must be unique within a plan, \
         rename or merge one of them"
    )]
    DuplicateStage {
        /// The repeated name.
        name: String,
    },

    /// A stage lists itself in its own `after` or `before` list.
    #[error(
        "stage `{stage}` is ordered after or before itself; remove `{stage}` from its own \
         `after`/`before` list"
    )]
    SelfDependency {
        /// The stage that names itself.
        stage: String,
    },

    /// The `after`/`before` constraints form a cycle, so no order satisfies them.
    #[error(
        "stages form a dependency cycle: {}; remove one of these `after`/`before` constraints \
         to break it",
        CycleDisplay(.cycle)
    )]
    Cycle {
        /// The stages of one cycle, each listed once, in edge order: every
        /// stage must run before the next one, and the last before the first.
        /// Starts at the cycle's first-declared stage. Never shorter than two
        /// (a stage depending on itself is [`PlanError::SelfDependency`]).
        cycle: Vec<String>,
    },
}

impl PlanError {
    /// The cycle spelled `a -> b -> c -> a`, if this is a [`PlanError::Cycle`].
    pub fn cycle_path(&self) -> Option<String> {
        match self {
            PlanError::Cycle { cycle } => Some(CycleDisplay(cycle).to_string()),
            _ => None,
        }
    }
}

/// Formats `[a, b, c]` as `a -> b -> c -> a`.
struct CycleDisplay<'a>(&'a [String]);

impl fmt::Display for CycleDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for name in self.0 {
            write!(f, "{name} -> ")?;
        }
        match self.0.first() {
            Some(first) => f.write_str(first),
            None => Ok(()),
        }
    }
}
