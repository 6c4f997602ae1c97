//! The application run as its users run it: through a role that is not the owner of its tables,
//! on a database that has the toolkit and the application's tables and nothing else.

use std::sync::atomic::AtomicBool;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use softview::lifecycle::{archive, purge};
use softview::{Error, Lifecycle, as_actor};
use softview_devdb::{Template, TestDatabase, test_database};
use softview_example_tasks::schema::app::{TaskNotes, tasks};
use softview_example_tasks::views::app::{active_TaskNotes, active_tasks};
use softview_example_tasks::{NewNote, NewTask, Note, Task};

/// The rights the application's role needs: its own tables and views, and USAGE on schema
/// softview (README, "Roles and grants"). Nothing on the toolkit's tables.
const APP_ROLE: &str = r#"
DO $$ BEGIN CREATE ROLE tasks_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA app, softview TO tasks_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO tasks_app;
"#;

const TEMPLATE: Template = Template {
    name: "tasks",
    setup: |conn| {
        softview_example_tasks::migrate(conn)?;
        Ok(conn.batch_execute(APP_ROLE)?)
    },
};

/// A database of the application's own and a connection acting as its role.
fn app() -> (TestDatabase, PgConnection) {
    let database = test_database(&TEMPLATE).unwrap();
    let mut conn = database.connect().unwrap();
    conn.batch_execute("SET ROLE tasks_app").unwrap();
    (database, conn)
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<BigInt>(&format!("({sql})")))
        .get_result(conn)
        .unwrap()
}

#[test]
fn the_lifecycle_runs_as_an_application_role_on_its_own_schema() {
    let (_db, mut conn) = app();
    let conn = &mut conn;
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM pg_roles WHERE rolname = current_user AND NOT rolsuper"
        ),
        1
    );
    let task: Task = diesel::insert_into(tasks::table)
        .values(NewTask {
            title: "write the README",
        })
        .returning((tasks::id, tasks::title, tasks::done))
        .get_result(conn)
        .unwrap();
    diesel::insert_into(TaskNotes::table)
        .values(NewNote {
            task_id: task.id,
            body: "say which derives",
            kind: Some("todo"),
        })
        .execute(conn)
        .unwrap();

    // Delete: the task and, with it, its note leave the views.
    let deleted = tasks::table.soft_delete(conn, task.id).unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(
        active_tasks::table.count().get_result::<i64>(conn).unwrap(),
        0
    );
    assert_eq!(
        active_TaskNotes::table
            .count()
            .get_result::<i64>(conn)
            .unwrap(),
        0
    );

    // Trash, with when the purge will take it.
    let trash = tasks::table.trash(conn).unwrap();
    assert_eq!(trash.len(), 1);
    assert_eq!(trash[0].record.id, task.id);

    // Restore: both back.
    tasks::table.restore(conn, task.id).unwrap();
    let notes: Vec<Note> = active_TaskNotes::table
        .select(Note::as_select())
        .load(conn)
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind.as_deref(), Some("todo"));

    // Hard delete with who and why; the cascade takes the note, the archive keeps both.
    as_actor(conn, "ana", Some("duplicate"), |conn| {
        tasks::table.hard_delete(conn, task.id).map(drop)
    })
    .unwrap();
    let entries = archive::list(conn, None, 10).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.actor.as_deref() == Some("ana")));
    let task_entry = entries
        .iter()
        .find(|e| e.table_name == "app.tasks")
        .unwrap();
    let note_entry = entries
        .iter()
        .find(|e| e.table_name == r#"app."TaskNotes""#)
        .unwrap();

    // Typed restore from the archive, parent first.
    let back = tasks::table.restore_archived(conn, task_entry.id).unwrap();
    assert_eq!(
        (back.id, back.title.as_str()),
        (task.id, "write the README")
    );
    let note = TaskNotes::table
        .restore_archived(conn, note_entry.id)
        .unwrap();
    assert_eq!(note.kind.as_deref(), Some("todo"));
    match TaskNotes::table.restore_archived(conn, note_entry.id) {
        Err(Error::NotFound { table, .. }) => assert_eq!(table, "softview.deleted_records"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // Purge: a note deleted longer ago than its grace period goes for good (and is archived).
    TaskNotes::table.soft_delete(conn, note.note_id).unwrap();
    let options = purge::PurgeOptions {
        table: Some(r#"app."TaskNotes""#.to_owned()),
        older_than: Some(chrono::Duration::zero()),
        ..purge::PurgeOptions::default()
    };
    let report = purge::purge(conn, &options, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(report.tables, [(r#"app."TaskNotes""#.to_owned(), 1)]);
    assert_eq!(count(conn, r#"SELECT count(*) FROM app."TaskNotes""#), 0);
    assert_eq!(count(conn, "SELECT count(*) FROM app.tasks"), 1);
}

#[test]
fn the_database_holds_the_toolkit_and_the_application_and_nothing_else() {
    let (_db, mut conn) = app();
    assert_eq!(
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "(SELECT string_agg(format('%s.%s', schemaname, tablename), ', ' ORDER BY schemaname, tablename)
              FROM pg_tables
              WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
                AND NOT (SELECT relispartition FROM pg_class
                         WHERE oid = format('%I.%I', schemaname, tablename)::regclass))"
        ))
        .get_result::<String>(&mut conn)
        .unwrap(),
        r#"app.TaskNotes, app.tasks, public.__diesel_schema_migrations, softview.changed_references, softview.deleted_records, softview_internal.settings, softview_internal.tables"#
    );
}

#[test]
fn the_generated_files_match_what_generates_them() {
    let database = test_database(&TEMPLATE).unwrap();
    let mut conn = database.connect().unwrap();
    let schemas = softview::codegen::enabled_schemas(&mut conn).unwrap();
    assert_eq!(schemas, ["app"]);
    let views = softview::codegen::generate_views(&mut conn, &schemas).unwrap();
    assert!(
        views == include_str!("../src/views.rs"),
        "src/views.rs is out of date: run `softview schema > src/views.rs`\n{views}"
    );
    let dir = "migrations/2026-01-01-000000_softview_toolkit";
    assert_eq!(
        std::fs::read_to_string(format!("{}/{dir}/up.sql", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        softview::toolkit::INSTALL_SQL,
        "{dir}/up.sql is out of date: run `softview toolkit > {dir}/up.sql`"
    );
}
