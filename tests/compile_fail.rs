//! Misuses that softview turns into compile errors. The expected messages in tests/ui/*.stderr
//! depend on the compiler: they are pinned to the toolchain in rust-toolchain.toml.
//! Regenerate with `TRYBUILD=overwrite cargo test --test compile_fail`.

#[test]
fn misuses_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
