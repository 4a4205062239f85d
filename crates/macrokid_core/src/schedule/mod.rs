//! The schedule planner: from stage and system descriptions to an immutable
//! [`Plan`].
//!
//! A schedule is a set of named *stages*; each stage holds *systems* with a
//! declared [`ResourceAccess`]. Stages are ordered by `after`/`before`
//! constraints; inside a stage, systems are grouped into *batches* of systems
//! that do not conflict, so that a scheduler may run one batch in parallel.
//!
//! Planning never runs anything (the runtime in `macrokid_threads` only
//! executes a plan), and the plan depends on nothing but its input: the same
//! descriptors always give the same plan.
//!
//! - **Stage order**: topological (Kahn's algorithm), ties broken by
//!   declaration order.
//! - **Layers** ([`Plan::topo_groups`]): a stage sits in the first layer after
//!   all of its predecessors (longest-path layering).
//! - **Batches**: greedy in declaration order; a system joins the batch right
//!   after the last batch holding a system it conflicts with. Conflicting
//!   systems therefore never share a batch and always run in declaration
//!   order.

mod batch;
mod error;
mod export;
mod graph;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

pub use batch::{batch_by_conflict, Batch};
pub use error::PlanError;
pub use graph::{check_stage_graph, GraphIssue, ListEntry, OrderList};

use crate::access::ResourceAccess;
use crate::system::{System, SystemSlot};

/// A system as the planner sees it: a name and an access set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SystemDescriptor {
    /// The system's name, used in plans, exports and error messages.
    pub name: Cow<'static, str>,
    /// What the system reads and writes.
    pub access: ResourceAccess,
}

impl SystemDescriptor {
    /// A descriptor from a name and an access set.
    pub fn new(name: impl Into<Cow<'static, str>>, access: ResourceAccess) -> Self {
        Self {
            name: name.into(),
            access,
        }
    }

    /// The descriptor of system type `S`: [`System::name`] and [`System::access`].
    pub fn of<S: System>() -> Self {
        Self::new(S::name(), S::access())
    }
}

/// A stage as declared: a name, ordering constraints and its systems in
/// declaration order.
///
/// ```
/// use macrokid_core::{ResourceAccess, StageDescriptor, SystemDescriptor};
///
/// let stage = StageDescriptor::new("simulate")
///     .after("input")
///     .before("render")
///     .with_system(SystemDescriptor::new("integrate", ResourceAccess::new()));
/// assert_eq!(stage.after, ["input"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StageDescriptor {
    /// The stage's name, unique within a plan.
    pub name: Cow<'static, str>,
    /// Stages that must run before this one.
    pub after: Vec<Cow<'static, str>>,
    /// Stages that must run after this one.
    pub before: Vec<Cow<'static, str>>,
    /// The stage's systems, in declaration order.
    pub systems: Vec<SystemDescriptor>,
}

impl StageDescriptor {
    /// An empty stage without constraints.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            after: Vec::new(),
            before: Vec::new(),
            systems: Vec::new(),
        }
    }

    /// Builder: this stage runs after stage `name`.
    #[must_use]
    pub fn after(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.after.push(name.into());
        self
    }

    /// Builder: this stage runs before stage `name`.
    #[must_use]
    pub fn before(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.before.push(name.into());
        self
    }

    /// Builder: appends a system (declaration order is call order).
    #[must_use]
    pub fn with_system(mut self, system: SystemDescriptor) -> Self {
        self.systems.push(system);
        self
    }

    /// Builder: appends several systems in iteration order.
    #[must_use]
    pub fn with_systems(mut self, systems: impl IntoIterator<Item = SystemDescriptor>) -> Self {
        self.systems.extend(systems);
        self
    }
}

/// One stage of a [`Plan`]: its systems and their batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    name: Cow<'static, str>,
    declared_index: usize,
    first_slot: usize,
    systems: Vec<SystemDescriptor>,
    batches: Vec<Batch>,
}

impl StagePlan {
    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage's position among the declared stages (0-based).
    pub fn declared_index(&self) -> usize {
        self.declared_index
    }

    /// The stage's systems, in declaration order.
    pub fn systems(&self) -> &[SystemDescriptor] {
        &self.systems
    }

    /// The [`SystemSlot`] of `self.systems()[system_index]`: its flat index in
    /// the plan, counting the systems of all stages in stage *declaration*
    /// order, then system declaration order.
    ///
    /// # Panics
    /// When `system_index >= self.systems().len()`.
    pub fn slot(&self, system_index: usize) -> SystemSlot {
        assert!(
            system_index < self.systems.len(),
            "system index {system_index} out of range: stage `{}` has {} systems",
            self.name,
            self.systems.len()
        );
        SystemSlot(self.first_slot + system_index)
    }

    /// The slots of this stage's systems: `slot(0)..slot(len - 1)`, contiguous.
    pub fn slots(&self) -> std::ops::Range<usize> {
        self.first_slot..self.first_slot + self.systems.len()
    }

    /// The batches in execution order. Every system of the stage is in
    /// exactly one batch; no batch holds two conflicting systems; two
    /// conflicting systems are in batches ordered like their declarations.
    /// Empty when the stage has no systems.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }
}

/// An immutable execution plan: stages in execution order, each split into
/// conflict-free batches.
///
/// # Example
/// ```
/// use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
///
/// struct Position;
/// struct Velocity;
/// let reads_vel_writes_pos = ResourceAccess::new()
///     .with_read(ResourceId::of::<Velocity>())
///     .with_write(ResourceId::of::<Position>());
/// let reads_pos = ResourceAccess::new().with_read(ResourceId::of::<Position>());
///
/// let plan = Plan::build([
///     StageDescriptor::new("present").after("simulate"),
///     StageDescriptor::new("simulate")
///         .after("input")
///         .with_system(SystemDescriptor::new("integrate", reads_vel_writes_pos))
///         .with_system(SystemDescriptor::new("draw_debug", reads_pos.clone()))
///         .with_system(SystemDescriptor::new("log", reads_pos)),
///     StageDescriptor::new("input"),
/// ])?;
///
/// let order: Vec<&str> = plan.stages().iter().map(|s| s.name()).collect();
/// assert_eq!(order, ["input", "simulate", "present"]);
/// assert_eq!(plan.topo_groups(), [["input"], ["simulate"], ["present"]]);
///
/// // `integrate` writes what the other two read: two batches.
/// let simulate = plan.stage("simulate").unwrap();
/// let batches: Vec<&[usize]> = simulate.batches().iter().map(|b| b.systems()).collect();
/// assert_eq!(batches, [&[0][..], &[1, 2][..]]);
/// // Slots count systems in stage declaration order: `present` has none.
/// assert_eq!(simulate.slot(0).0, 0);
/// # Ok::<(), macrokid_core::PlanError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Stages in execution order.
    stages: Vec<StagePlan>,
    /// Declaration index -> position in `stages`.
    position: Vec<usize>,
    /// Direct predecessors per declaration index, sorted, deduplicated.
    pred: Vec<Vec<usize>>,
    /// Longest-path layers of declaration indices, each sorted ascending.
    layers: Vec<Vec<usize>>,
    /// Stage name -> position in `stages`.
    by_name: HashMap<Cow<'static, str>, usize>,
    system_count: usize,
}

impl Plan {
    /// Validates `stages` (in declaration order) and plans them.
    ///
    /// # Errors
    /// - [`PlanError::DuplicateStage`] when two stages share a name;
    /// - [`PlanError::SelfDependency`] when a stage lists itself in `after`
    ///   or `before`;
    /// - [`PlanError::UnknownStage`] when `after`/`before` names a stage that
    ///   is not declared;
    /// - [`PlanError::Cycle`] when the constraints admit no order; the error
    ///   holds one real cycle of the graph.
    ///
    /// The first problem found is reported, in the order listed above.
    pub fn build(stages: impl IntoIterator<Item = StageDescriptor>) -> Result<Plan, PlanError> {
        let declared: Vec<StageDescriptor> = stages.into_iter().collect();
        let graph = graph::StageGraph::build(&declared)?;

        let mut first_slot = Vec::with_capacity(declared.len());
        let mut system_count = 0;
        for stage in &declared {
            first_slot.push(system_count);
            system_count += stage.systems.len();
        }

        let mut position = vec![0; declared.len()];
        for (pos, &index) in graph.order.iter().enumerate() {
            position[index] = pos;
        }
        let mut slots: Vec<Option<StagePlan>> = declared
            .into_iter()
            .enumerate()
            .map(|(index, stage)| {
                Some(StagePlan {
                    batches: batch::batch_systems(&stage.systems),
                    name: stage.name,
                    declared_index: index,
                    first_slot: first_slot[index],
                    systems: stage.systems,
                })
            })
            .collect();
        let stages: Vec<StagePlan> = graph
            .order
            .iter()
            .map(|&index| slots[index].take().expect("each stage is ordered once"))
            .collect();

        let layer_count = graph.layer.iter().max().map_or(0, |&l| l + 1);
        let mut layers = vec![Vec::new(); layer_count];
        for (index, &layer) in graph.layer.iter().enumerate() {
            layers[layer].push(index);
        }

        let by_name = stages
            .iter()
            .enumerate()
            .map(|(pos, stage)| (stage.name.clone(), pos))
            .collect();

        Ok(Plan {
            stages,
            position,
            pred: graph.pred,
            layers,
            by_name,
            system_count,
        })
    }

    /// The stages in execution order: topological, ties broken by declaration
    /// order (of all stages ready to run, the first-declared runs first).
    pub fn stages(&self) -> &[StagePlan] {
        &self.stages
    }

    /// The stages in layers: layer 0 holds the stages without predecessors,
    /// and every other stage sits in the layer right after its deepest
    /// predecessor (longest-path layering). Stages of one layer have no
    /// ordering constraint between them; within a layer they are listed in
    /// declaration order.
    pub fn topo_groups(&self) -> Vec<Vec<&str>> {
        self.layers
            .iter()
            .map(|layer| layer.iter().map(|&i| self.declared(i).name()).collect())
            .collect()
    }

    /// [`topo_groups`](Self::topo_groups) as positions in
    /// [`stages`](Self::stages): one list per layer, each in declaration
    /// order.
    pub fn layer_positions(&self) -> Vec<Vec<usize>> {
        self.layers
            .iter()
            .map(|layer| layer.iter().map(|&i| self.position[i]).collect())
            .collect()
    }

    /// Splits `positions` (stages of one layer, as positions in
    /// [`stages`](Self::stages)) into *waves* of stages that may run at the
    /// same time: [`batch_by_conflict`] over each stage's systems' accesses
    /// [including deferred writes](crate::ResourceAccess::including_deferred)
    /// (a stage's commands apply before a stage beside it could look).
    /// Returns positions, each wave in the given order.
    pub fn waves(&self, positions: &[usize]) -> Vec<Vec<usize>> {
        let accesses: Vec<ResourceAccess> = positions
            .iter()
            .map(|&pos| {
                let mut access = ResourceAccess::new();
                for system in self.stages[pos].systems() {
                    access.extend(&system.access.including_deferred());
                }
                access
            })
            .collect();
        batch_by_conflict(positions.len(), |a, b| {
            accesses[a].conflicts_with(&accesses[b])
        })
        .into_iter()
        .map(|wave| wave.into_iter().map(|k| positions[k]).collect())
        .collect()
    }

    /// A copy of this plan with every system's access replaced by
    /// `refine(slot, system)` and the batches of every stage recomputed from
    /// the new accesses; stage order, layers, names and slots are kept.
    /// For narrowing accesses with knowledge the types alone lack — an ECS
    /// world restricts component accesses to the archetype tables a system
    /// can match ([`ResourceAccess::restrict`]), so two writers of one
    /// component on disjoint tables share a batch.
    #[must_use]
    pub fn refine(
        &self,
        mut refine: impl FnMut(SystemSlot, &SystemDescriptor) -> ResourceAccess,
    ) -> Plan {
        let mut plan = self.clone();
        for stage in &mut plan.stages {
            let first = stage.first_slot;
            for (k, system) in stage.systems.iter_mut().enumerate() {
                system.access = refine(SystemSlot(first + k), system);
            }
            stage.batches = batch::batch_systems(&stage.systems);
        }
        plan
    }

    /// The number of systems over all stages (one past the largest
    /// [`SystemSlot`]).
    pub fn system_count(&self) -> usize {
        self.system_count
    }

    /// The stage named `name`, if any.
    pub fn stage(&self, name: &str) -> Option<&StagePlan> {
        self.stage_index(name).map(|pos| &self.stages[pos])
    }

    /// The position of the stage named `name` in [`stages`](Self::stages)
    /// (execution order), if any.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The direct ordering constraints, deduplicated, as `(earlier, later)`
    /// stage names, sorted by the declaration index of `later`, then of
    /// `earlier`. `a.after("b")` and `b.before("a")` both give `("b", "a")`.
    pub fn dependencies(&self) -> Vec<(&str, &str)> {
        self.pred
            .iter()
            .enumerate()
            .flat_map(|(later, preds)| {
                preds.iter().map(move |&earlier| {
                    (self.declared(earlier).name(), self.declared(later).name())
                })
            })
            .collect()
    }

    /// The stage with declaration index `index`.
    fn declared(&self, index: usize) -> &StagePlan {
        &self.stages[self.position[index]]
    }
}

impl fmt::Display for Plan {
    /// A readable listing: one line per stage in execution order with its
    /// batches, e.g. `simulate (after input): [integrate] [draw_debug, log]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for stage in &self.stages {
            f.write_str(stage.name())?;
            let preds = &self.pred[stage.declared_index];
            if !preds.is_empty() {
                f.write_str(" (after ")?;
                for (k, &p) in preds.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(self.declared(p).name())?;
                }
                f.write_str(")")?;
            }
            f.write_str(":")?;
            for batch in stage.batches() {
                f.write_str(" [")?;
                for (k, &s) in batch.systems().iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&stage.systems()[s].name)?;
                }
                f.write_str("]")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
