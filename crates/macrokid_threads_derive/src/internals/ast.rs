//! The derive inputs as the code generators see them: the item's name and
//! generics plus its parsed attributes, with every span kept.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Generics, Ident, LitStr, Type};

use super::attr::{reject_attr, JobAttrs, JobPriority, StageAttrs, StageRef, SystemAttrs};
use super::symbol::{JOB, STAGE, SYSTEM};
use super::Ctxt;

/// The keyword span of a non-struct item (`enum` / `union`), for errors.
fn kind_span(input: &DeriveInput) -> (Span, &'static str) {
    match &input.data {
        Data::Struct(s) => (s.struct_token.span, "a struct"),
        Data::Enum(e) => (e.enum_token.span, "an enum"),
        Data::Union(u) => (u.union_token.span, "a union"),
    }
}

/// The name of an identifier without a raw prefix: `r#type` is `type`.
pub(crate) fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

// ---------------------------------------------------------------------------

/// A `#[derive(System)]` input.
pub(crate) struct SystemInput<'a> {
    /// The struct's name.
    pub(crate) ident: &'a Ident,
    /// The struct's generics, carried to every impl.
    pub(crate) generics: &'a Generics,
    /// `name = "..."`, else `None` (the struct's name).
    pub(crate) name: Option<LitStr>,
    /// Types read (not written), as written.
    pub(crate) reads: Vec<Type>,
    /// Types written, as written.
    pub(crate) writes: Vec<Type>,
    /// Types added through commands.
    pub(crate) inserts: Vec<Type>,
    /// Types removed through commands.
    pub(crate) removes: Vec<Type>,
    /// The entity filter: types every touched entity has.
    pub(crate) with: Vec<Type>,
    /// The entity filter: types no touched entity has.
    pub(crate) without: Vec<Type>,
    /// Whether the system spawns through commands.
    pub(crate) spawns: bool,
    /// Whether the system despawns through commands.
    pub(crate) despawns: bool,
}

impl<'a> SystemInput<'a> {
    /// Reads a `#[derive(System)]` input; `None` when it is not a struct
    /// (reported in `cx`).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = SystemAttrs::from_attrs(cx, &input.attrs);
        let fields = match &input.data {
            Data::Struct(s) => &s.fields,
            _ => {
                let (span, kind) = kind_span(input);
                cx.error_at(
                    span,
                    format!(
                        "`#[derive(System)]` works on structs only, not on {kind}: a system is \
                         a struct holding its own state (or a unit struct)"
                    ),
                );
                return None;
            }
        };
        for field in fields {
            reject_attr(
                cx,
                &field.attrs,
                SYSTEM,
                "`#[system(...)]` goes on the struct, not on a field",
            );
        }
        Some(Self {
            ident: &input.ident,
            generics: &input.generics,
            name: attrs.name,
            reads: attrs.reads,
            writes: attrs.writes,
            inserts: attrs.inserts,
            removes: attrs.removes,
            with: attrs.with,
            without: attrs.without,
            spawns: attrs.spawns.is_some(),
            despawns: attrs.despawns.is_some(),
        })
    }
}

// ---------------------------------------------------------------------------

/// A `#[derive(Job)]` input.
pub(crate) struct JobInput<'a> {
    /// The type's name.
    pub(crate) ident: &'a Ident,
    /// The type's generics, carried to the impl.
    pub(crate) generics: &'a Generics,
    /// The method that runs the job.
    pub(crate) run: Ident,
    /// `output = "..."`, else `None` (`()`).
    pub(crate) output: Option<Type>,
    /// `name = "..."`, else `None` (the trait's default).
    pub(crate) name: Option<LitStr>,
    /// `priority = "..."`, else `None` (the trait's default, normal).
    pub(crate) priority: Option<(JobPriority, Span)>,
}

impl<'a> JobInput<'a> {
    /// Reads a `#[derive(Job)]` input; `None` when it cannot be generated
    /// (reported in `cx`).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = JobAttrs::from_attrs(cx, &input.attrs);
        let fields: Vec<&syn::Field> = match &input.data {
            Data::Struct(s) => s.fields.iter().collect(),
            Data::Enum(e) => {
                for variant in &e.variants {
                    reject_attr(
                        cx,
                        &variant.attrs,
                        JOB,
                        "`#[job(...)]` goes on the type, not on a variant",
                    );
                }
                e.variants.iter().flat_map(|v| v.fields.iter()).collect()
            }
            Data::Union(u) => {
                cx.error_at(
                    u.union_token.span,
                    "`#[derive(Job)]` works on structs and enums, not on a union",
                );
                return None;
            }
        };
        for field in fields {
            reject_attr(
                cx,
                &field.attrs,
                JOB,
                "`#[job(...)]` goes on the type, not on a field",
            );
        }
        let run = match attrs.run {
            Some(run) => run,
            None => {
                if !attrs.run_written {
                    cx.error_spanned_by(
                        &input.ident,
                        "missing `#[job(run = \"method\")]`: name the method that runs the job, \
                         `fn method(&mut self, cx: &JobContext) -> Output`",
                    );
                }
                return None;
            }
        };
        Some(Self {
            ident: &input.ident,
            generics: &input.generics,
            run,
            output: attrs.output,
            name: attrs.name,
            priority: attrs.priority,
        })
    }
}

// ---------------------------------------------------------------------------

/// How a stage field holds its systems.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `field: S` — one system, the field itself.
    Single,
    /// `field: (S1, S2, ...)` — one system per tuple element (`()` is a
    /// stage without systems).
    Tuple,
}

/// One field of a `#[derive(Schedule)]` struct: a stage.
pub(crate) struct Stage<'a> {
    /// The field.
    pub(crate) field: &'a Ident,
    /// The stage's name: `name = "..."`, else the field's name.
    pub(crate) name: String,
    /// Where the name was written (the literal, else the field's name).
    pub(crate) name_span: Span,
    /// Stages this one runs after.
    pub(crate) after: Vec<StageRef>,
    /// Stages this one runs before.
    pub(crate) before: Vec<StageRef>,
    /// The system types, in declaration order.
    pub(crate) systems: Vec<&'a Type>,
    /// Whether `systems` came from a tuple.
    pub(crate) shape: Shape,
}

/// A `#[derive(Schedule)]` input.
pub(crate) struct ScheduleInput<'a> {
    /// The struct's name.
    pub(crate) ident: &'a Ident,
    /// The struct's generics, carried to both impls.
    pub(crate) generics: &'a Generics,
    /// The stages, in declaration order.
    pub(crate) stages: Vec<Stage<'a>>,
}

impl<'a> ScheduleInput<'a> {
    /// Reads a `#[derive(Schedule)]` input; `None` when it is not a struct
    /// with named fields (reported in `cx`).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        reject_attr(
            cx,
            &input.attrs,
            STAGE,
            "`#[stage]` goes on the fields of a schedule, each field being one stage",
        );
        let fields = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        "`#[derive(Schedule)]` needs named fields: each field is a stage and its \
                         name is the stage's name, e.g. `struct Game { #[stage] input: (PollInput,) }`",
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "`#[derive(Schedule)]` needs named fields, one per stage, e.g. \
                         `struct Game { #[stage] input: (PollInput,) }`",
                    );
                    return None;
                }
            },
            _ => {
                let (span, kind) = kind_span(input);
                cx.error_at(
                    span,
                    format!(
                        "`#[derive(Schedule)]` works on structs with named fields, not on {kind}"
                    ),
                );
                return None;
            }
        };
        let mut stages = Vec::new();
        for field in &fields.named {
            let Some(ident) = &field.ident else { continue };
            let attrs = StageAttrs::from_attrs(cx, &field.attrs);
            if !attrs.present {
                cx.error_spanned_by(
                    ident,
                    format!(
                        "field `{}` has no `#[stage]`: every field of a schedule is a stage; \
                         add `#[stage]` (options: `name`, `after`, `before`)",
                        unraw(ident)
                    ),
                );
            }
            let (name, name_span) = match &attrs.name {
                Some(lit) => (lit.value(), lit.span()),
                None => (unraw(ident), ident.span()),
            };
            let (systems, shape) = match &field.ty {
                Type::Tuple(tuple) => (tuple.elems.iter().collect(), Shape::Tuple),
                other => (vec![other], Shape::Single),
            };
            stages.push(Stage {
                field: ident,
                name,
                name_span,
                after: attrs.after,
                before: attrs.before,
                systems,
                shape,
            });
        }
        Some(Self {
            ident: &input.ident,
            generics: &input.generics,
            stages,
        })
    }
}
