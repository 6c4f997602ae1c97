//! The toolkit as an embedder installs it: what it creates, its public API, its revision.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview::Error;
use softview::toolkit::{self, Change};
use softview_devdb::test_server;

use crate::common::{exec, text};

/// An empty database of its own, dropped at the end.
struct EmptyDatabase {
    name: String,
}

impl EmptyDatabase {
    fn new(tag: &str) -> (Self, PgConnection) {
        let server = test_server().unwrap();
        let name = format!("softview_toolkit_{tag}_{}", std::process::id());
        server.create_database(&name, None).unwrap();
        let conn = PgConnection::establish(&server.url(&name)).unwrap();
        (Self { name }, conn)
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        let _ = test_server().unwrap().drop_database(&self.name);
    }
}

fn schema_objects(conn: &mut PgConnection) -> Option<String> {
    text(
        conn,
        "SELECT string_agg(n.nspname || '.' || c.relname, ' ' ORDER BY n.nspname, c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND c.relkind IN ('r', 'v', 'p')",
    )
}

#[test]
fn the_install_script_creates_only_the_toolkit_schemas_and_the_uninstall_removes_them() {
    let (_db, mut conn) = EmptyDatabase::new("only");
    conn.batch_execute(toolkit::INSTALL_SQL).unwrap();
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(nspname, ' ' ORDER BY nspname) FROM pg_namespace
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public')"
        )
        .as_deref(),
        Some("softview softview_internal")
    );
    assert_eq!(
        schema_objects(&mut conn).as_deref(),
        Some(
            "softview.deleted_records softview.enabled_tables softview_internal.settings \
             softview_internal.tables"
        )
    );
    assert_eq!(
        toolkit::installed_revision(&mut conn).unwrap(),
        Some(toolkit::REVISION)
    );
    conn.batch_execute(toolkit::UNINSTALL_SQL).unwrap();
    assert_eq!(schema_objects(&mut conn), None);
    assert_eq!(toolkit::installed_revision(&mut conn).unwrap(), None);
}

#[test]
fn the_public_schema_holds_exactly_what_the_header_lists() {
    let (_db, mut conn) = crate::common::db();
    let header: Vec<&str> = toolkit::INSTALL_SQL
        .lines()
        .take_while(|line| line.starts_with("--"))
        .filter_map(|line| line.strip_prefix("--   softview."))
        .map(|entry| entry.split(['(', ' ']).next().unwrap())
        .collect();
    let mut listed = header.clone();
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed.len(), header.len(), "listed twice: {header:?}");
    let held = text(
        &mut conn,
        "SELECT string_agg(name, ' ' ORDER BY name) FROM (
             SELECT proname::text AS name FROM pg_proc WHERE pronamespace = 'softview'::regnamespace
             UNION ALL
             SELECT relname::text FROM pg_class
             WHERE relnamespace = 'softview'::regnamespace AND relkind IN ('r', 'v')) AS o",
    )
    .unwrap();
    assert_eq!(held, listed.join(" "));
}

#[test]
fn a_second_install_is_refused_and_install_or_upgrade_leaves_a_current_toolkit_alone() {
    let (_db, mut conn) = crate::common::db();
    let error = conn.batch_execute(toolkit::INSTALL_SQL).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the softview toolkit is already installed (revision 1)"),
        "{error}"
    );
    assert_eq!(
        toolkit::install_or_upgrade(&mut conn).unwrap(),
        Change::Current
    );
    toolkit::check_revision(&mut conn).unwrap();
}

#[test]
fn install_or_upgrade_installs_into_an_empty_database_and_refuses_a_newer_toolkit() {
    let (_db, mut conn) = EmptyDatabase::new("newer");
    assert!(matches!(
        toolkit::check_revision(&mut conn),
        Err(Error::ToolkitMissing)
    ));
    assert_eq!(
        toolkit::install_or_upgrade(&mut conn).unwrap(),
        Change::Installed
    );
    exec(
        &mut conn,
        "CREATE OR REPLACE FUNCTION softview.version() RETURNS integer LANGUAGE sql AS 'SELECT 99'",
    );
    for result in [
        toolkit::install_or_upgrade(&mut conn).map(drop),
        toolkit::check_revision(&mut conn),
    ] {
        match result {
            Err(Error::ToolkitRevision {
                found: 99,
                expected,
            }) => {
                assert_eq!(expected, toolkit::REVISION)
            }
            other => panic!("expected ToolkitRevision, got {other:?}"),
        }
    }
    assert!(matches!(
        toolkit::upgrade_sql(0),
        Err(Error::InvalidArgument(message)) if message.contains("no toolkit revision 0")
    ));
}
