//! src/schema.rs and src/views.rs are generated; these tests fail when either drifts from
//! what the migrations make. To regenerate:
//!   diesel print-schema --database-url <migrated database> > src/schema.rs
//!   diesel print-schema --database-url <…> --schema softview -o deleted_records > src/toolkit_schema.rs
//!   cargo run -- schema > src/views.rs

mod common;

use std::process::Command;

use common::db;

#[test]
fn views_rs_matches_the_generator() {
    let (_db, mut conn) = db();
    let generated = softview::codegen::generate_views(&mut conn, "public").unwrap();
    let committed = include_str!("../src/views.rs");
    assert!(
        generated == committed,
        "src/views.rs is out of date: run `cargo run -- schema > src/views.rs`\n{generated}"
    );
}

fn diesel_print_schema(database_url: &str, extra: &[&str]) -> String {
    let output = Command::new("diesel")
        .args(["print-schema", "--database-url", database_url])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running diesel_cli failed ({e}); install it with \
                 `cargo install diesel_cli --no-default-features --features postgres`"
            )
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn schema_rs_matches_diesel_print_schema() {
    let (database, _conn) = db();
    let generated = diesel_print_schema(database.url(), &[]);
    assert!(
        generated == include_str!("../src/schema.rs"),
        "src/schema.rs is out of date: run `diesel print-schema > src/schema.rs`\n{generated}"
    );
}

#[test]
fn toolkit_schema_rs_matches_diesel_print_schema() {
    let (database, _conn) = db();
    let generated = diesel_print_schema(
        database.url(),
        &["--schema", "softview", "-o", "deleted_records"],
    );
    assert!(
        generated == include_str!("../src/toolkit_schema.rs"),
        "src/toolkit_schema.rs is out of date\n{generated}"
    );
}
