//! Compile-fail tests of what a system may reach (trybuild): structural
//! changes through commands must be declared like reads and writes.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p
//! macrokid_ecs --test ui` and read the diff before keeping it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/commands/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
