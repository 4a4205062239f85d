//! `#[derive(System)]`.
//!
//! ```text
//! #[system(reads(A, B), writes(C), inserts(D), removes(E), spawns, despawns,
//!          with(F), without(G), name = "custom")]
//! ```
//! generates
//! ```text
//! impl System for X { fn name() -> &'static str { "custom" }
//!                     fn access() -> ResourceAccess { reads A, B; writes C, the entity
//!                         allocator (spawns); deferred writes D, E, the entity allocator
//!                         (despawns); required F; excluded G } }
//! impl Reads<A> for X {}  impl Reads<B> for X {}  impl Reads<C> for X {}
//! impl Writes<C> for X {}  impl Inserts<D> for X {}  impl Removes<E> for X {}
//! impl Spawns for X {}  impl Despawns for X {}
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, DeriveInput, WhereClause};

use crate::internals::ast::{unraw, SystemInput};
use crate::internals::{check, Ctxt};

/// Expands one `#[derive(System)]` input, or returns every error in it.
pub(crate) fn expand_derive_system(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let parsed = SystemInput::from_ast(&cx, input);
    if let Some(parsed) = &parsed {
        check::check_system(&cx, parsed);
    }
    cx.check()?;
    let Some(system) = parsed else {
        // Unreachable: `from_ast` returns `None` only after reporting.
        return Ok(TokenStream::new());
    };
    Ok(generate(&system))
}

fn generate(system: &SystemInput<'_>) -> TokenStream {
    let private = quote!(::macrokid_threads::__private);
    let ident = system.ident;
    let (impl_generics, ty_generics, where_clause) = system.generics.split_for_impl();

    // `System: Send + 'static` and `ResourceId::of::<T>()` needs `T: 'static`;
    // stating both keeps generic systems compiling with the right errors.
    let mut bounds: WhereClause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    bounds
        .predicates
        .push(parse_quote!(Self: ::core::marker::Send + 'static));
    for ty in system
        .reads
        .iter()
        .chain(&system.writes)
        .chain(&system.inserts)
        .chain(&system.removes)
        .chain(&system.with)
        .chain(&system.without)
    {
        bounds.predicates.push(parse_quote!(#ty: 'static));
    }

    let name = match &system.name {
        Some(lit) => quote!(#lit),
        None => {
            let s = unraw(ident);
            quote!(#s)
        }
    };
    let reads = system
        .reads
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> .with_read(#private::ResourceId::of::<#ty>())));
    let writes = system
        .writes
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> .with_write(#private::ResourceId::of::<#ty>())));
    let deferred = system.inserts.iter().chain(&system.removes).map(
        |ty| quote_spanned!(ty.span()=> .with_deferred_write(#private::ResourceId::of::<#ty>())),
    );
    let required = system
        .with
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> .with_required(#private::ResourceId::of::<#ty>())));
    let excluded = system
        .without
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> .with_excluded(#private::ResourceId::of::<#ty>())));
    let spawns = system
        .spawns
        .then(|| quote!(.with_write(#private::ResourceId::entity_allocator())));
    let despawns = system
        .despawns
        .then(|| quote!(.with_deferred_write(#private::ResourceId::entity_allocator())));
    let insert_markers = system.inserts.iter().map(|ty| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Inserts<#ty> for #ident #ty_generics #where_clause {}
        }
    });
    let remove_markers = system.removes.iter().map(|ty| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Removes<#ty> for #ident #ty_generics #where_clause {}
        }
    });
    let spawn_marker = system.spawns.then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Spawns for #ident #ty_generics #where_clause {}
        }
    });
    let despawn_marker = system.despawns.then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Despawns for #ident #ty_generics #where_clause {}
        }
    });
    let read_markers = system.reads.iter().chain(&system.writes).map(|ty| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Reads<#ty> for #ident #ty_generics #where_clause {}
        }
    });
    let write_markers = system.writes.iter().map(|ty| {
        quote! {
            #[automatically_derived]
            impl #impl_generics #private::Writes<#ty> for #ident #ty_generics #where_clause {}
        }
    });

    quote! {
        #[automatically_derived]
        impl #impl_generics #private::System for #ident #ty_generics #bounds {
            #[inline]
            fn name() -> &'static str {
                #name
            }

            fn access() -> #private::ResourceAccess {
                #private::ResourceAccess::new()
                    #(#reads)* #(#writes)* #(#deferred)* #spawns #despawns
                    #(#required)* #(#excluded)*
            }
        }

        #(#read_markers)*
        #(#write_markers)*
        #(#insert_markers)*
        #(#remove_markers)*
        #spawn_marker
        #despawn_marker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(src: &str) -> syn::Result<String> {
        let input: DeriveInput = syn::parse_str(src).expect("test input parses");
        expand_derive_system(&input).map(|tokens| tokens.to_string())
    }

    #[test]
    fn writes_get_both_markers_reads_one() {
        let out = expand("#[system(reads(A), writes(B))] struct S;").unwrap();
        assert_eq!(out.matches(":: Reads < A >").count(), 1, "{out}");
        assert_eq!(out.matches(":: Reads < B >").count(), 1, "{out}");
        assert_eq!(out.matches(":: Writes < B >").count(), 1, "{out}");
        assert_eq!(out.matches(":: Writes < A >").count(), 0, "{out}");
        assert!(out.contains("\"S\""), "{out}");
    }

    #[test]
    fn errors_of_all_attributes_are_collected() {
        let err = expand("#[system(reads(A, A), bogus)] #[system(writes(A), name = 1)] struct S;")
            .unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
    }
}
