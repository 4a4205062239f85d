//! Attribute parsing: `#[system(...)]`, `#[job(...)]` and `#[stage(...)]`
//! into values that keep the spans of what the user wrote.
//!
//! Every parser records its errors in a [`Ctxt`] and goes on with the next
//! key, so one item with three mistakes gets three errors.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{token, Attribute, Expr, ExprLit, Ident, Lit, LitStr, Meta, Token, Type};

use super::symbol::{
    Symbol, AFTER, BEFORE, DESPAWNS, INSERTS, JOB, NAME, OUTPUT, PRIORITY, READS, REMOVES, RUN,
    SPAWNS, STAGE, SYSTEM, WITH, WITHOUT, WRITES,
};
use super::{did_you_mean, one_of, Ctxt};

/// An attribute value that may be given at most once; remembers where.
pub(crate) struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: Symbol,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: Symbol) -> Self {
        Self {
            cx,
            name,
            value: None,
        }
    }

    /// Stores `value`, or reports a duplicate at `obj` when one is stored.
    fn set<A: ToTokens>(&mut self, obj: A, value: T) {
        if self.value.is_some() {
            self.cx
                .error_spanned_by(obj, format!("duplicate `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

// ---------------------------------------------------------------------------
// Shared pieces

/// Reports an unknown key and skips its value so parsing can go on.
fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attr: Symbol,
    known: &[Symbol],
) -> syn::Result<()> {
    let path = meta.path.to_token_stream().to_string().replace(' ', "");
    let names: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
    let mut msg = format!(
        "unknown key `{path}` in `#[{attr}(...)]`; expected {}",
        one_of(&names)
    );
    if let Some(close) = did_you_mean(&path, names.iter().copied()) {
        msg.push_str(&format!(" (did you mean `{close}`?)"));
    }
    cx.error_spanned_by(&meta.path, msg);
    skip_value(meta)
}

/// Consumes whatever value follows a key (`= expr` or `(...)`), valid or not.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        skip_to_comma(meta.input)
    } else if meta.input.peek(token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
        Ok(())
    } else {
        Ok(())
    }
}

/// Skips token trees up to (not including) the next `,` outside `<...>`.
fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut depth = 0usize;
        while let Some((tt, next)) = rest.token_tree() {
            if let TokenTree::Punct(p) = &tt {
                match p.as_char() {
                    ',' if depth == 0 => break,
                    '<' => depth += 1,
                    '>' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// Parses `key = "string"`. Reports (and skips) any other shape; `Ok(None)`
/// then means "already reported".
fn parse_lit_str(
    cx: &Ctxt,
    key: Symbol,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("expected `{key} = \"...\"`: a string literal after `=`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    meta.input.parse::<Token![=]>()?;
    let fork = meta.input.fork();
    match fork.parse::<Expr>() {
        Ok(Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        })) => {
            meta.input.parse::<Expr>()?;
            Ok(Some(lit))
        }
        Ok(other) => {
            meta.input.parse::<Expr>()?;
            cx.error_spanned_by(
                other,
                format!("expected a string literal: `{key} = \"...\"`"),
            );
            Ok(None)
        }
        Err(_) => {
            let span = meta.input.span();
            skip_to_comma(meta.input)?;
            cx.error_at(
                span,
                format!("expected a string literal: `{key} = \"...\"`"),
            );
            Ok(None)
        }
    }
}

/// Parses `key(Type, Type, ...)` into `out`, reporting each entry that is
/// not a type and going on with the next one.
fn parse_type_list(
    cx: &Ctxt,
    key: Symbol,
    meta: &ParseNestedMeta<'_>,
    out: &mut Vec<Type>,
) -> syn::Result<()> {
    if !meta.input.peek(token::Paren) {
        cx.error_spanned_by(
            &meta.path,
            format!(
                "expected `{key}(...)`: a parenthesized list of types, e.g. `{key}(Position, Time)`"
            ),
        );
        return skip_value(meta);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    while !content.is_empty() {
        if content.peek(Lit) {
            let lit: Lit = content.parse()?;
            let hint = match &lit {
                Lit::Str(s) => format!("; write the type without quotes: `{key}({})`", s.value()),
                _ => String::new(),
            };
            cx.error_spanned_by(
                &lit,
                format!("expected a type in `{key}(...)`, found a literal{hint}"),
            );
        } else {
            match content.parse::<Type>() {
                Ok(ty) => match &ty {
                    Type::Infer(_) | Type::ImplTrait(_) | Type::Never(_) => {
                        cx.error_spanned_by(
                            &ty,
                            format!("expected a concrete type in `{key}(...)`"),
                        );
                    }
                    _ => out.push(ty),
                },
                Err(_) => {
                    cx.error_at(
                        content.span(),
                        format!("expected a type in `{key}(...)`, e.g. `{key}(Position, Time)`"),
                    );
                    skip_to_comma(&content)?;
                }
            }
        }
        if content.is_empty() {
            break;
        }
        if content.peek(Token![,]) {
            content.parse::<Token![,]>()?;
        } else {
            cx.error_at(
                content.span(),
                format!("expected `,` between the types of `{key}(...)`"),
            );
            skip_to_comma(&content)?;
            if content.peek(Token![,]) {
                content.parse::<Token![,]>()?;
            }
        }
    }
    Ok(())
}

/// Reports every attribute named `name` among `attrs` as misplaced.
pub(crate) fn reject_attr(cx: &Ctxt, attrs: &[Attribute], name: Symbol, why: &str) {
    for attr in attrs.iter().filter(|a| a.path() == name) {
        cx.error_spanned_by(attr, why);
    }
}

// ---------------------------------------------------------------------------
// #[system(...)]

/// What `#[system(...)]` attributes of one struct say.
pub(crate) struct SystemAttrs {
    /// `name = "..."`: overrides the system's name.
    pub(crate) name: Option<LitStr>,
    /// `reads(...)`, every occurrence concatenated, as written.
    pub(crate) reads: Vec<Type>,
    /// `writes(...)`, every occurrence concatenated, as written.
    pub(crate) writes: Vec<Type>,
    /// `inserts(...)`, every occurrence concatenated, as written.
    pub(crate) inserts: Vec<Type>,
    /// `removes(...)`, every occurrence concatenated, as written.
    pub(crate) removes: Vec<Type>,
    /// `with(...)`, every occurrence concatenated, as written.
    pub(crate) with: Vec<Type>,
    /// `without(...)`, every occurrence concatenated, as written.
    pub(crate) without: Vec<Type>,
    /// `spawns`, where written.
    pub(crate) spawns: Option<Span>,
    /// `despawns`, where written.
    pub(crate) despawns: Option<Span>,
}

/// Reads a bare flag key (`spawns`): no value, at most once.
fn parse_flag(
    cx: &Ctxt,
    key: Symbol,
    meta: &ParseNestedMeta<'_>,
    out: &mut Option<Span>,
) -> syn::Result<()> {
    if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` takes no value: write `#[system({key})]`"),
        );
        return skip_value(meta);
    }
    if out.is_some() {
        cx.error_spanned_by(&meta.path, format!("`{key}` is listed twice"));
    }
    *out = Some(meta.path.span());
    Ok(())
}

impl SystemAttrs {
    /// Reads every `#[system(...)]` among `attrs`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut name = Attr::none(cx, NAME);
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        let mut inserts = Vec::new();
        let mut removes = Vec::new();
        let mut with = Vec::new();
        let mut without = Vec::new();
        let mut spawns = None;
        let mut despawns = None;
        for attr in attrs.iter().filter(|a| a.path() == SYSTEM) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path == READS {
                    parse_type_list(cx, READS, &meta, &mut reads)
                } else if meta.path == WRITES {
                    parse_type_list(cx, WRITES, &meta, &mut writes)
                } else if meta.path == INSERTS {
                    parse_type_list(cx, INSERTS, &meta, &mut inserts)
                } else if meta.path == REMOVES {
                    parse_type_list(cx, REMOVES, &meta, &mut removes)
                } else if meta.path == WITH {
                    parse_type_list(cx, WITH, &meta, &mut with)
                } else if meta.path == WITHOUT {
                    parse_type_list(cx, WITHOUT, &meta, &mut without)
                } else if meta.path == SPAWNS {
                    parse_flag(cx, SPAWNS, &meta, &mut spawns)
                } else if meta.path == DESPAWNS {
                    parse_flag(cx, DESPAWNS, &meta, &mut despawns)
                } else if meta.path == NAME {
                    if let Some(lit) = parse_lit_str(cx, NAME, &meta)? {
                        if lit.value().is_empty() {
                            cx.error_spanned_by(&lit, "a system name cannot be empty");
                        }
                        name.set(&meta.path, lit);
                    }
                    Ok(())
                } else {
                    unknown_key(
                        cx,
                        &meta,
                        SYSTEM,
                        &[
                            READS, WRITES, INSERTS, REMOVES, SPAWNS, DESPAWNS, WITH, WITHOUT, NAME,
                        ],
                    )
                }
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        Self {
            name: name.get(),
            reads,
            writes,
            inserts,
            removes,
            with,
            without,
            spawns,
            despawns,
        }
    }
}

// ---------------------------------------------------------------------------
// #[job(...)]

/// `priority = "..."` of a job.
#[derive(Clone, Copy)]
pub(crate) enum JobPriority {
    /// `"low"`
    Low,
    /// `"normal"`
    Normal,
    /// `"high"`
    High,
}

/// What `#[job(...)]` attributes of one type say.
pub(crate) struct JobAttrs {
    /// `run = "method"`: the method, spanned at the string literal.
    pub(crate) run: Option<Ident>,
    /// `output = "Type"`, parsed, spanned at the string literal.
    pub(crate) output: Option<Type>,
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `priority = "..."`, and the literal's span.
    pub(crate) priority: Option<(JobPriority, Span)>,
    /// Whether a `run` key was written at all (even with a bad value), so
    /// that a bad value is not also reported as missing.
    pub(crate) run_written: bool,
}

impl JobAttrs {
    /// Reads every `#[job(...)]` among `attrs`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut run = Attr::none(cx, RUN);
        let mut output = Attr::none(cx, OUTPUT);
        let mut name = Attr::none(cx, NAME);
        let mut priority = Attr::none(cx, PRIORITY);
        let mut run_written = false;
        for attr in attrs.iter().filter(|a| a.path() == JOB) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path == RUN {
                    run_written = true;
                    if let Some(lit) = parse_lit_str(cx, RUN, &meta)? {
                        match lit.parse::<Ident>() {
                            Ok(method) => {
                                run.set(&meta.path, Ident::new(&method.to_string(), lit.span()));
                            }
                            Err(_) => cx.error_spanned_by(
                                &lit,
                                "`run` must name a method of this type, e.g. `run = \"tick\"` \
                                 for `fn tick(&mut self, cx: &JobContext) -> Output`",
                            ),
                        }
                    }
                } else if meta.path == OUTPUT {
                    if let Some(lit) = parse_lit_str(cx, OUTPUT, &meta)? {
                        match lit.parse::<Type>() {
                            Ok(ty) => output.set(&meta.path, ty),
                            Err(err) => cx.error_spanned_by(
                                &lit,
                                format!("`output` is not a type: {err}"),
                            ),
                        }
                    }
                } else if meta.path == NAME {
                    if let Some(lit) = parse_lit_str(cx, NAME, &meta)? {
                        if lit.value().is_empty() {
                            cx.error_spanned_by(&lit, "a job name cannot be empty");
                        }
                        name.set(&meta.path, lit);
                    }
                } else if meta.path == PRIORITY {
                    if let Some(lit) = parse_lit_str(cx, PRIORITY, &meta)? {
                        let value = match lit.value().as_str() {
                            "low" => Some(JobPriority::Low),
                            "normal" => Some(JobPriority::Normal),
                            "high" => Some(JobPriority::High),
                            other => {
                                cx.error_spanned_by(
                                    &lit,
                                    format!(
                                        "unknown priority `{other}`; expected \"low\", \"normal\" or \"high\""
                                    ),
                                );
                                None
                            }
                        };
                        if let Some(value) = value {
                            priority.set(&meta.path, (value, lit.span()));
                        }
                    }
                } else {
                    unknown_key(cx, &meta, JOB, &[RUN, OUTPUT, NAME, PRIORITY])?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        Self {
            run: run.get(),
            output: output.get(),
            name: name.get(),
            priority: priority.get(),
            run_written,
        }
    }
}

// ---------------------------------------------------------------------------
// #[stage(...)]

/// One stage name inside `after = "..."` or `before = "..."`.
pub(crate) struct StageRef {
    /// The name, trimmed.
    pub(crate) name: String,
    /// The span of the string literal it came from (a literal cannot be
    /// split into sub-spans on stable Rust).
    pub(crate) span: Span,
    /// The literal's tokens, for `error_spanned_by`.
    pub(crate) tokens: TokenStream,
}

/// What the `#[stage]` attributes of one field say.
pub(crate) struct StageAttrs {
    /// Whether the field carries `#[stage]` at all.
    pub(crate) present: bool,
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// Every name in every `after = "..."`, in order.
    pub(crate) after: Vec<StageRef>,
    /// Every name in every `before = "..."`, in order.
    pub(crate) before: Vec<StageRef>,
}

/// Splits `"a, b"` into stage references; a trailing comma is allowed.
fn parse_stage_list(cx: &Ctxt, key: Symbol, lit: &LitStr, out: &mut Vec<StageRef>) {
    let value = lit.value();
    let mut items: Vec<&str> = value.split(',').map(str::trim).collect();
    if items.len() > 1 && items.last() == Some(&"") {
        items.pop();
    }
    if items.iter().all(|i| i.is_empty()) {
        cx.error_spanned_by(
            lit,
            format!("`{key}` names no stage; write `{key} = \"stage\"` or `{key} = \"a, b\"`"),
        );
        return;
    }
    for item in items {
        if item.is_empty() {
            cx.error_spanned_by(
                lit,
                format!("empty stage name in `{key}`: stage names are separated by single commas"),
            );
        } else {
            out.push(StageRef {
                name: item.to_owned(),
                span: lit.span(),
                tokens: lit.to_token_stream(),
            });
        }
    }
}

impl StageAttrs {
    /// Reads every `#[stage]` / `#[stage(...)]` among a field's `attrs`.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut present = false;
        let mut name = Attr::none(cx, NAME);
        let mut after = Vec::new();
        let mut before = Vec::new();
        for attr in attrs.iter().filter(|a| a.path() == STAGE) {
            present = true;
            match &attr.meta {
                Meta::Path(_) => continue,
                Meta::NameValue(nv) => {
                    cx.error_spanned_by(
                        nv,
                        "expected `#[stage]` or `#[stage(name = \"...\", after = \"...\", before = \"...\")]`",
                    );
                    continue;
                }
                Meta::List(_) => {}
            }
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path == NAME {
                    if let Some(lit) = parse_lit_str(cx, NAME, &meta)? {
                        let value = lit.value();
                        if value.is_empty() {
                            cx.error_spanned_by(&lit, "a stage name cannot be empty");
                        } else if value.contains(',') {
                            cx.error_spanned_by(
                                &lit,
                                "a stage name cannot contain `,` (it separates names in `after`/`before`)",
                            );
                        } else if value.trim() != value {
                            cx.error_spanned_by(
                                &lit,
                                "a stage name cannot start or end with whitespace",
                            );
                        }
                        name.set(&meta.path, lit);
                    }
                } else if meta.path == AFTER {
                    if let Some(lit) = parse_lit_str(cx, AFTER, &meta)? {
                        parse_stage_list(cx, AFTER, &lit, &mut after);
                    }
                } else if meta.path == BEFORE {
                    if let Some(lit) = parse_lit_str(cx, BEFORE, &meta)? {
                        parse_stage_list(cx, BEFORE, &lit, &mut before);
                    }
                } else {
                    unknown_key(cx, &meta, STAGE, &[NAME, AFTER, BEFORE])?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        Self {
            present,
            name: name.get(),
            after,
            before,
        }
    }
}
