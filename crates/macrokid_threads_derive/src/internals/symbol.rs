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
