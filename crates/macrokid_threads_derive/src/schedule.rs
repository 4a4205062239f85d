//! `#[derive(Schedule)]`.
//!
//! ```text
//! struct Game {
//!     #[stage]                  input:    (PollInput,),
//!     #[stage(after = "input")] simulate: (Integrate, Collide),
//! }
//! ```
//! generates
//! ```text
//! impl Schedule for Game {
//!     fn plan() -> &'static Plan { /* OnceLock: Plan::build([StageDescriptor::new("input")
//!         .with_system(SystemDescriptor::of::<PollInput>()), ...]) */ }
//!     fn topo_groups() -> Vec<Vec<&'static str>> { Self::plan().topo_groups() }
//! }
//! impl<Cx: ?Sized> RunSchedule<Cx> for Game
//! where Cx: RunSystem<PollInput> + RunSystem<Integrate> + RunSystem<Collide>
//! {
//!     fn run_stage(&mut self, scheduler: &Scheduler, stage: usize, cx: &Cx) -> Result<(), ScheduleError> {
//!         // range check, then `self.run_stages(scheduler, Self::plan(), &[stage], cx)`
//!     }
//!     fn run_stages(&mut self, scheduler: &Scheduler, plan: &Plan, stages: &[usize], cx: &Cx)
//!         -> Result<(), ScheduleError> {
//!         // one task per system of every stage field (disjoint `&mut` borrows),
//!         // `<Cx as RunSystem<S>>::run_system(cx, &mut self.field.k, SystemSlot(flat))`;
//!         // the requested stages' task arrays handed to `scheduler.run_layer(..)`
//!     }
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, DeriveInput, GenericParam, Ident, Index, Type, WhereClause};

use crate::internals::ast::{ScheduleInput, Shape, Stage};
use crate::internals::{check, Ctxt};

/// Expands one `#[derive(Schedule)]` input, or returns every error in it.
pub(crate) fn expand_derive_schedule(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let parsed = ScheduleInput::from_ast(&cx, input);
    if let Some(parsed) = &parsed {
        // Checked even when attributes had errors, so that the user sees
        // every mistake at once; names that failed to parse are simply
        // absent from the graph.
        check::check_schedule(&cx, parsed);
    }
    cx.check()?;
    let Some(schedule) = parsed else {
        // Unreachable: `from_ast` returns `None` only after reporting.
        return Ok(TokenStream::new());
    };
    Ok(generate(&schedule))
}

fn generate(schedule: &ScheduleInput<'_>) -> TokenStream {
    let private = quote!(::macrokid_threads::__private);
    let ident = schedule.ident;
    let generics = schedule.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut bounds: WhereClause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    bounds
        .predicates
        .push(parse_quote!(Self: ::core::marker::Send + 'static));

    let descriptors = schedule
        .stages
        .iter()
        .map(|stage| stage_descriptor(&private, stage));
    let build = quote! {
        #private::build_plan(
            ::core::any::type_name::<Self>(),
            [#(#descriptors),*],
        )
    };
    // A `static` in a generic function is shared by every instantiation, so
    // generic schedules keep their plans in a registry keyed by type.
    let plan_body = if generics.params.is_empty() {
        quote! {
            static PLAN: #private::OnceLock<#private::Plan> = #private::OnceLock::new();
            PLAN.get_or_init(|| #build)
        }
    } else {
        quote! {
            #private::plan_for::<Self>(|| #build)
        }
    };

    // RunSchedule<__Cx>: the schedule's generics plus the context.
    let cx_ident = Ident::new("__Cx", Span::call_site());
    let mut run_generics = generics.clone();
    run_generics.params.push(GenericParam::Type(
        parse_quote!(#cx_ident: ?::core::marker::Sized),
    ));
    let (run_impl_generics, _, _) = run_generics.split_for_impl();
    let mut run_bounds = bounds.clone();
    let mut seen: Vec<String> = Vec::new();
    for ty in schedule.stages.iter().flat_map(|s| s.systems.iter()) {
        let key = quote!(#ty).to_string();
        if !seen.contains(&key) {
            seen.push(key);
            run_bounds
                .predicates
                .push(parse_quote!(#cx_ident: #private::RunSystem<#ty>));
        }
    }
    let stage_count = schedule.stages.len();
    // Per stage (declaration order): borrows of its systems, one closure
    // per system with its flat slot, and the array of tasks.
    let mut setup = Vec::new();
    let mut task_arrays = Vec::new();
    let mut flat = 0usize;
    for (i, stage) in schedule.stages.iter().enumerate() {
        setup.push(stage_tasks(&private, &cx_ident, i, flat, stage));
        let tasks = format_ident!("__tasks{}", i);
        task_arrays.push(quote!(::core::option::Option::Some(&mut #tasks[..])));
        flat += stage.systems.len();
    }

    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Schedule for #ident #ty_generics #bounds {
            fn plan() -> &'static #private::Plan {
                #plan_body
            }

            fn topo_groups() -> ::std::vec::Vec<::std::vec::Vec<&'static str>> {
                <Self as #private::Schedule>::plan().topo_groups()
            }
        }

        #[automatically_derived]
        impl #run_impl_generics #private::RunSchedule<#cx_ident> for #ident #ty_generics #run_bounds {
            fn run_stage(
                &mut self,
                __scheduler: &#private::Scheduler,
                __stage: usize,
                __cx: &#cx_ident,
            ) -> ::core::result::Result<(), #private::ScheduleError> {
                let __plan = <Self as #private::Schedule>::plan();
                if __stage >= __plan.stages().len() {
                    return ::core::result::Result::Err(
                        #private::stage_out_of_range(__stage, __plan.stages().len()),
                    );
                }
                #private::RunSchedule::<#cx_ident>::run_stages(
                    self, __scheduler, __plan, &[__stage], __cx,
                )
            }

            fn run_stages(
                &mut self,
                __scheduler: &#private::Scheduler,
                __plan: &#private::Plan,
                __stages: &[usize],
                __cx: &#cx_ident,
            ) -> ::core::result::Result<(), #private::ScheduleError> {
                let __name = ::core::any::type_name::<Self>();
                #private::check_plan_shape(
                    __name,
                    <Self as #private::Schedule>::plan(),
                    __plan,
                )?;
                let __all = __plan.stages();
                for &__pos in __stages {
                    if __pos >= __all.len() {
                        return ::core::result::Result::Err(
                            #private::stage_out_of_range(__pos, __all.len()),
                        );
                    }
                }
                #(#setup)*
                let mut __by_decl: [::core::option::Option<&mut [#private::SystemTask<'_>]>; #stage_count] =
                    [#(#task_arrays),*];
                if let [__pos] = *__stages {
                    // One stage (the common case): no `Vec`.
                    let mut __one = [#private::take_stage_tasks(
                        __name, __all, &mut __by_decl, __pos,
                    )?];
                    return __scheduler.run_layer(&mut __one);
                }
                let mut __entries: ::std::vec::Vec<#private::StageTasks<'_, '_>> =
                    ::std::vec::Vec::with_capacity(__stages.len());
                for &__pos in __stages {
                    __entries.push(#private::take_stage_tasks(
                        __name, __all, &mut __by_decl, __pos,
                    )?);
                }
                __scheduler.run_layer(&mut __entries)
            }
        }
    }
}

/// `StageDescriptor::new("name").after("a").before("b").with_system(...)`.
fn stage_descriptor(private: &TokenStream, stage: &Stage<'_>) -> TokenStream {
    let name = &stage.name;
    let after = stage.after.iter().map(|r| &r.name);
    let before = stage.before.iter().map(|r| &r.name);
    let systems = stage.systems.iter().map(|ty| {
        // Spanned at the field's type: a type that is not a `System` is
        // reported there.
        quote_spanned!(ty.span()=> .with_system(#private::SystemDescriptor::of::<#ty>()))
    });
    quote! {
        #private::StageDescriptor::new(#name)
            #(.after(#after))*
            #(.before(#before))*
            #(#systems)*
    }
}

/// The tasks of the stage declared at `index`, whose first system has flat
/// slot `first_slot`: `let mut __tasks{index}: [SystemTask; n] = [...]`.
fn stage_tasks(
    private: &TokenStream,
    cx: &Ident,
    index: usize,
    first_slot: usize,
    stage: &Stage<'_>,
) -> TokenStream {
    let field = stage.field;
    let n = stage.systems.len();
    let refs: Vec<Ident> = (0..n)
        .map(|k| format_ident!("__system{}_{}", index, k))
        .collect();
    let tasks: Vec<Ident> = (0..n)
        .map(|k| format_ident!("__task{}_{}", index, k))
        .collect();
    let array = format_ident!("__tasks{}", index);
    let borrows: Vec<TokenStream> = match stage.shape {
        Shape::Single => vec![quote!(&mut self.#field)],
        Shape::Tuple => (0..n)
            .map(|k| {
                let k = Index::from(k);
                quote!(&mut self.#field.#k)
            })
            .collect(),
    };
    let closures = stage
        .systems
        .iter()
        .zip(&refs)
        .zip(&tasks)
        .enumerate()
        .map(|(k, ((ty, r), t))| closure(private, cx, first_slot + k, ty, r, t));
    // A stage without systems (`field: ()`) is an ordering anchor; touching
    // the field keeps `dead_code` from calling it unused.
    let touch_empty = (n == 0).then(|| quote!(let _ = &self.#field;));
    quote! {
        #touch_empty
        #(let #refs = #borrows;)*
        #(#closures)*
        let mut #array: [#private::SystemTask<'_>; #n] = [#(&mut #tasks),*];
    }
}

fn closure(
    private: &TokenStream,
    cx: &Ident,
    slot: usize,
    ty: &Type,
    system: &Ident,
    task: &Ident,
) -> TokenStream {
    quote! {
        let mut #task = move || {
            <#cx as #private::RunSystem<#ty>>::run_system(
                __cx,
                &mut *#system,
                #private::SystemSlot(#slot),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &str) -> syn::Result<String> {
        let input: DeriveInput = syn::parse_str(src).expect("test input parses");
        expand_derive_schedule(&input).map(|tokens| tokens.to_string())
    }

    fn errors(src: &str) -> Vec<String> {
        match expand(src) {
            Ok(tokens) => panic!("expected errors, got {tokens}"),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn plain_schedules_keep_their_plan_in_a_static() {
        let out = expand("struct G { #[stage] a: (A, B), #[stage(after = \"a\")] b: C }").unwrap();
        assert!(out.contains("static PLAN"), "{out}");
        assert!(!out.contains("plan_for"), "{out}");
        // One bound per distinct system type, a task per system.
        assert_eq!(out.matches(":: RunSystem < A >").count(), 2, "{out}"); // bound + call
        assert!(out.contains("__task0_1"), "{out}");
        assert!(out.contains(". after (\"a\")"), "{out}");
    }

    #[test]
    fn generic_schedules_use_the_registry() {
        let out = expand("struct G<T: Send + 'static> { #[stage] a: (S<T>,) }").unwrap();
        assert!(out.contains("plan_for :: < Self >"), "{out}");
        assert!(!out.contains("static PLAN"), "{out}");
    }

    #[test]
    fn every_mistake_is_reported() {
        let errs = errors(
            "struct G {
                #[stage(after = \"b\", colour = \"red\")] a: (),
                #[stage(after = \"a, zz\")] b: (),
                #[stage(name = \"a\")] c: (),
                d: (),
            }",
        );
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs[0].starts_with("unknown key `colour`"), "{errs:#?}");
        assert!(
            errs[1].starts_with("field `d` has no `#[stage]`"),
            "{errs:#?}"
        );
        assert!(errs[2].starts_with("duplicate stage name `a`"), "{errs:#?}");
        assert!(
            errs[3].starts_with("unknown stage `zz` in `after`"),
            "{errs:#?}"
        );
        assert!(
            errs[4].starts_with("the stages form a cycle: a -> b -> a"),
            "{errs:#?}"
        );
    }

    #[test]
    fn non_structs_are_rejected() {
        assert_eq!(errors("enum G { A }").len(), 1);
        assert_eq!(errors("struct G(u8);").len(), 1);
        assert_eq!(errors("struct G;").len(), 1);
    }
}
