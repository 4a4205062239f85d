//! The attribute names the derives understand, as constants.

use std::fmt::{self, Display};

use syn::{Ident, Path};

/// An attribute or key name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Symbol(&'static str);

impl Symbol {
    /// The name as written.
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

/// `#[system(...)]` on a `#[derive(System)]` struct.
pub(crate) const SYSTEM: Symbol = Symbol("system");
/// `reads(A, B)` in `#[system]`.
pub(crate) const READS: Symbol = Symbol("reads");
/// `writes(C)` in `#[system]`.
pub(crate) const WRITES: Symbol = Symbol("writes");
/// `inserts(C)` in `#[system]`: component types added through commands.
pub(crate) const INSERTS: Symbol = Symbol("inserts");
/// `removes(C)` in `#[system]`: component types removed through commands.
pub(crate) const REMOVES: Symbol = Symbol("removes");
/// `spawns` in `#[system]`: the system spawns entities through commands.
pub(crate) const SPAWNS: Symbol = Symbol("spawns");
/// `despawns` in `#[system]`: the system despawns entities through commands.
pub(crate) const DESPAWNS: Symbol = Symbol("despawns");
/// `with(A)` in `#[system]`: the system touches only entities with `A`.
pub(crate) const WITH: Symbol = Symbol("with");
/// `without(B)` in `#[system]`: the system touches only entities without `B`.
pub(crate) const WITHOUT: Symbol = Symbol("without");
/// `name = "..."` in `#[system]`, `#[job]` and `#[stage]`.
pub(crate) const NAME: Symbol = Symbol("name");

/// `#[job(...)]` on a `#[derive(Job)]` type.
pub(crate) const JOB: Symbol = Symbol("job");
/// `run = "method"` in `#[job]`.
pub(crate) const RUN: Symbol = Symbol("run");
/// `output = "Type"` in `#[job]`.
pub(crate) const OUTPUT: Symbol = Symbol("output");
/// `priority = "low|normal|high"` in `#[job]`.
pub(crate) const PRIORITY: Symbol = Symbol("priority");

/// `#[stage(...)]` on a field of a `#[derive(Schedule)]` struct.
pub(crate) const STAGE: Symbol = Symbol("stage");
/// `after = "a, b"` in `#[stage]`.
pub(crate) const AFTER: Symbol = Symbol("after");
/// `before = "c, d"` in `#[stage]`.
pub(crate) const BEFORE: Symbol = Symbol("before");

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for &Ident {
    fn eq(&self, word: &Symbol) -> bool {
        *self == word.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
