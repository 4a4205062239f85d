//! `#[derive(Job)]`.
//!
//! ```text
//! #[job(run = "method", output = "Type", name = "...", priority = "low|normal|high")]
//! ```
//! generates
//! ```text
//! impl JobRun for X {
//!     type Output = Type;                                  // default `()`
//!     fn run(&mut self, cx: &JobContext) -> Type { Self::method(self, cx) }
//!     fn name(&self) -> &str { "..." }                     // only with `name`
//!     fn priority(&self) -> Priority { Priority::High }    // only with `priority`
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{parse_quote, DeriveInput, WhereClause};

use crate::internals::ast::JobInput;
use crate::internals::attr::JobPriority;
use crate::internals::Ctxt;

/// Expands one `#[derive(Job)]` input, or returns every error in it.
pub(crate) fn expand_derive_job(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let parsed = JobInput::from_ast(&cx, input);
    cx.check()?;
    let Some(job) = parsed else {
        // Unreachable: `from_ast` returns `None` only after reporting.
        return Ok(TokenStream::new());
    };
    Ok(generate(&job))
}

fn generate(job: &JobInput<'_>) -> TokenStream {
    let private = quote!(::macrokid_threads::__private);
    let ident = job.ident;
    let (impl_generics, ty_generics, where_clause) = job.generics.split_for_impl();
    let mut bounds: WhereClause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    bounds
        .predicates
        .push(parse_quote!(Self: ::core::marker::Send + 'static));

    let output = match &job.output {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    // Spanned at the `run = "..."` literal: a missing method or a wrong
    // signature is reported there.
    let method = &job.run;
    let call = quote_spanned!(method.span()=> Self::#method(self, cx));
    let name = job.name.as_ref().map(|lit| {
        quote! {
            #[inline]
            fn name(&self) -> &str {
                #lit
            }
        }
    });
    let priority = job.priority.map(|(priority, span)| {
        let variant = match priority {
            JobPriority::Low => quote_spanned!(span=> Low),
            JobPriority::Normal => quote_spanned!(span=> Normal),
            JobPriority::High => quote_spanned!(span=> High),
        };
        quote! {
            #[inline]
            fn priority(&self) -> #private::Priority {
                #private::Priority::#variant
            }
        }
    });

    quote! {
        #[automatically_derived]
        impl #impl_generics #private::JobRun for #ident #ty_generics #bounds {
            type Output = #output;

            #[inline]
            fn run(&mut self, cx: &#private::JobContext) -> Self::Output {
                #call
            }

            #name
            #priority
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &str) -> syn::Result<String> {
        let input: DeriveInput = syn::parse_str(src).expect("test input parses");
        expand_derive_job(&input).map(|tokens| tokens.to_string())
    }

    #[test]
    fn defaults_leave_name_and_priority_to_the_trait() {
        let out = expand("#[job(run = \"go\")] struct J;").unwrap();
        assert!(out.contains("type Output = () ;"), "{out}");
        assert!(out.contains("Self :: go (self , cx)"), "{out}");
        assert!(!out.contains("fn name"), "{out}");
        assert!(!out.contains("fn priority"), "{out}");
    }

    #[test]
    fn every_key_is_generated() {
        let out =
            expand("#[job(run = \"go\", output = \"Vec<u8>\", name = \"n\", priority = \"low\")] struct J;")
                .unwrap();
        assert!(out.contains("type Output = Vec < u8 > ;"), "{out}");
        assert!(out.contains("\"n\""), "{out}");
        assert!(out.contains("Priority :: Low"), "{out}");
    }

    #[test]
    fn a_bad_run_is_not_also_reported_missing() {
        let err = expand("#[job(run = \"two words\", priority = \"soon\")] struct J;").unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("`run` must name a method"));
        assert!(messages[1].starts_with("unknown priority `soon`"));
    }
}
