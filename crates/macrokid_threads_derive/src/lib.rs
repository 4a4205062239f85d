//! Derive macros of macrokid: `System`, `Job` and `Schedule`.
//!
//! Use them through `macrokid_threads`, which re-exports them next to the
//! traits they implement; the generated code names everything by absolute
//! paths under `::macrokid_threads::__private`.
//!
//! The pipeline follows serde_derive: this file only parses the input and
//! turns an error into `compile_error!`; `internals` reads the attributes
//! into an IR that keeps spans (`attr.rs`, `ast.rs`), checks what involves
//! several fields or attributes together (`check.rs`) and collects every
//! error of one item in a context (`ctxt.rs`), so that a user sees all their
//! mistakes at once; `system.rs`, `job.rs` and `schedule.rs` generate code.
//! The macros never panic on bad input.

mod internals;
mod job;
mod schedule;
mod system;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// `#[derive(System)]`: implements `System` (name and access), `Reads<T>` for
/// every type read or written and `Writes<T>` for every type written.
///
/// ```text
/// #[derive(System)]
/// #[system(reads(Velocity, Time), writes(Position), name = "integrate")]
/// struct Integrate;
/// ```
///
/// Keys of `#[system(...)]` (all optional; the attribute may be repeated and
/// its lists are concatenated):
///
/// | key | meaning |
/// |---|---|
/// | `reads(A, B, ...)` | types the system reads: `Reads<A>`, `Reads<B>` |
/// | `writes(C, ...)` | types the system writes (and so reads): `Reads<C>` and `Writes<C>` |
/// | `inserts(D, ...)` | component types added through commands: `Inserts<D>`, a deferred write of `D` |
/// | `removes(E, ...)` | component types removed through commands: `Removes<E>`, a deferred write of `E` |
/// | `spawns` | spawns through commands: `Spawns`, a write of the entity allocator |
/// | `despawns` | despawns through commands: `Despawns`, a deferred write of the entity allocator |
/// | `with(F, ...)` | entity filter: the system touches only entities with `F` |
/// | `without(G, ...)` | entity filter: the system touches only entities without `G` |
/// | `name = "..."` | `System::name()` (default: the struct's name) |
///
/// `access()` lists all of it as `ResourceId::of::<T>()` in one
/// `ResourceAccess` (reads, writes, deferred writes, required and excluded
/// types of the entity filter). Generic
/// structs keep their parameters (each instantiation is a system when it is
/// `Send + 'static`). Compile errors, at the offending token: structs only;
/// unknown keys; entries that are not types; a type listed twice; a type in
/// both `reads` and `writes` (writes imply reads) or in both `with` and
/// `without`; a list without parentheses; `spawns`/`despawns` with a value
/// or twice; a `name` that is not a non-empty string literal.
#[proc_macro_derive(System, attributes(system))]
pub fn derive_system(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    system::expand_derive_system(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[derive(Job)]`: implements `JobRun` by calling a method of the type.
///
/// ```text
/// #[derive(Job)]
/// #[job(run = "fracture", output = "Vec<Piece>", name = "fracture", priority = "high")]
/// struct Fracture { polygon: Polygon }
///
/// impl Fracture {
///     fn fracture(&mut self, cx: &JobContext) -> Vec<Piece> { ... }
/// }
/// ```
///
/// Keys of `#[job(...)]`, all string literals:
///
/// | key | meaning |
/// |---|---|
/// | `run = "method"` | required: `JobRun::run` calls `Self::method(self, cx)`, a `fn(&mut self, &JobContext) -> Output` |
/// | `output = "Type"` | `JobRun::Output` (default `()`) |
/// | `name = "..."` | `JobRun::name` (default: the trait's, the type's name) |
/// | `priority = "low" \| "normal" \| "high"` | `JobRun::priority` (default: normal) |
///
/// Works on structs and enums, generic or not. Compile errors at the
/// offending token: a missing `run`, unknown keys, values that are not
/// string literals, a `run` that is not an identifier, an `output` that is
/// not a type, an unknown priority; a method that does not exist or returns
/// another type than `output` is reported at the `run` literal.
#[proc_macro_derive(Job, attributes(job))]
pub fn derive_job(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    job::expand_derive_job(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[derive(Schedule)]`: implements `Schedule` (a plan built once) and
/// `RunSchedule<Cx>` for every context `Cx` that can run all its systems
/// (`Cx: RunSystem<S>` for each system type `S`).
///
/// ```text
/// #[derive(Schedule)]
/// struct Game {
///     #[stage]                                         input:    (PollInput,),
///     #[stage(after = "input")]                        simulate: (Integrate, Collide),
///     #[stage(after = "simulate", before = "present")] extract:  (ExtractInstances,),
///     #[stage(name = "present")]                       draw:     Present,
/// }
/// ```
///
/// Every field is a stage and carries `#[stage]` or `#[stage(...)]` with the
/// keys `name = "..."` (default: the field's name), `after = "a, b"` and
/// `before = "c, d"` (repeatable). A field's type is one system `S` or a
/// tuple of systems (`()` is a stage without systems). The stage graph is
/// checked at compile time: unknown stage names, duplicate names,
/// self-dependencies, names listed twice and cycles (spelled `a -> b -> a`)
/// are compile errors at the attribute value, all reported at once, as are
/// fields without `#[stage]`, unknown keys, non-string values, tuple structs,
/// unit structs and enums. See `macrokid_threads::Schedule`.
#[proc_macro_derive(Schedule, attributes(stage))]
pub fn derive_schedule(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    schedule::expand_derive_schedule(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
