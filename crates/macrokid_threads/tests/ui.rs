//! Compile-fail and compile-pass tests of the derives (trybuild).
//!
//! One `.rs` per mistake, with the expected compiler output next to it in a
//! `.stderr`; regenerate those with `TRYBUILD=overwrite cargo test -p
//! macrokid_threads --test ui` and read the diff before keeping it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/system/*.rs");
    t.compile_fail("tests/ui/job/*.rs");
    t.compile_fail("tests/ui/schedule/*/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
