//! Derive macros of macrokid: `System`, `Job` and `Schedule`.
//! Use them through `macrokid_threads`, which re-exports them.

use proc_macro::TokenStream;

/// `#[derive(System)]`: see `macrokid_threads::System`.
#[proc_macro_derive(System, attributes(system))]
pub fn derive_system(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// `#[derive(Job)]`: see `macrokid_threads::JobRun`.
#[proc_macro_derive(Job, attributes(job))]
pub fn derive_job(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

/// `#[derive(Schedule)]`: see `macrokid_threads::Schedule`.
#[proc_macro_derive(Schedule, attributes(stage))]
pub fn derive_schedule(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
