//! Generated files are generated: these tests fail when one drifts from what makes it.
//!
//! - `migrations/…_softview_toolkit/{up,down}.sql`: `softview toolkit` and `softview toolkit --down`
//! - `src/views.rs`: `softview schema` on a migrated database
//! - `src/schema.rs`: `diesel print-schema` on a migrated database
//! - `softview/src/toolkit_schema.rs`: `softview schema --archive` (`diesel print-schema` refuses
//!   the archive, which has no primary key)
//!
//! The diesel_cli check runs where `diesel` is installed (`.ci/run` installs it) and says
//! that it was skipped elsewhere.

use std::process::Command;

use crate::common::db;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_toolkit_migration_is_what_softview_toolkit_prints() {
    let dir = format!("{ROOT}/migrations/2026-11-22-000001_softview_toolkit");
    let up = std::fs::read_to_string(format!("{dir}/up.sql")).unwrap();
    let down = std::fs::read_to_string(format!("{dir}/down.sql")).unwrap();
    assert!(
        up == softview::toolkit::INSTALL_SQL,
        "{dir}/up.sql is out of date: run `cargo run -p softview-cli -- toolkit > {dir}/up.sql`"
    );
    assert!(
        down == softview::toolkit::UNINSTALL_SQL,
        "{dir}/down.sql is out of date: run `cargo run -p softview-cli -- toolkit --down > {dir}/down.sql`"
    );
}

#[test]
fn views_rs_matches_the_generator() {
    let (_db, mut conn) = db();
    let schemas = softview::codegen::enabled_schemas(&mut conn).unwrap();
    assert_eq!(schemas, ["public"]);
    let generated = softview::codegen::generate_views(&mut conn, &schemas).unwrap();
    assert!(
        generated == include_str!("../../src/views.rs"),
        "src/views.rs is out of date: run `cargo run -p softview-cli -- schema > src/views.rs` \
         on a migrated database\n{generated}"
    );
}

/// `diesel print-schema` with `args`, or `None` when diesel_cli is not installed.
fn diesel_print_schema(database_url: &str, args: &[&str]) -> Option<String> {
    let output = match Command::new("diesel")
        .args(["print-schema", "--database-url", database_url])
        .args(args)
        .current_dir(ROOT)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "skipped: diesel_cli is not installed, so the generated schema files were not \
                 checked against `diesel print-schema` (`.ci/run` installs it)"
            );
            return None;
        }
        Err(error) => panic!("running diesel_cli failed: {error}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn schema_rs_matches_diesel_print_schema() {
    let (database, _conn) = db();
    if let Some(generated) = diesel_print_schema(database.url(), &[]) {
        assert!(
            generated == include_str!("../../src/schema.rs"),
            "src/schema.rs is out of date: run `diesel print-schema > src/schema.rs`\n{generated}"
        );
    }
}

#[test]
fn toolkit_schema_rs_matches_the_generator() {
    let (_db, mut conn) = db();
    let generated = softview::codegen::generate_archive_schema(&mut conn).unwrap();
    assert!(
        generated == include_str!("../../softview/src/toolkit_schema.rs"),
        "softview/src/toolkit_schema.rs is out of date: run \
         `cargo run -p softview-cli -- schema --archive > softview/src/toolkit_schema.rs`\n{generated}"
    );
}
