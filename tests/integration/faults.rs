//! Faults in the database around softview: an enabled table dropped or altered behind its
//! back, keys too long for an event, cascades a purge sets off. One broken table never stops the
//! others, and every error names the table.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use diesel::prelude::*;
use softview::lifecycle::events::{Listener, Operation};
use softview::lifecycle::purge::{self, PurgeOptions, PurgeReport};

use crate::common::{count, db, exec, fingerprint, seed, sql_error, text};

fn purge_now(conn: &mut PgConnection, dry_run: bool) -> PurgeReport {
    let options = PurgeOptions {
        older_than: Some(chrono::Duration::zero()),
        dry_run,
        ..PurgeOptions::default()
    };
    purge::purge(conn, &options, &AtomicBool::new(false), |_| {}).unwrap()
}

/// An enabled table `extra` with one row deleted a day ago, and place 2 deleted too.
fn extra_table(conn: &mut PgConnection) {
    seed(conn);
    exec(
        conn,
        "CREATE TABLE extra (id int PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('extra');
         INSERT INTO extra VALUES (1, now() - interval '1 day');
         UPDATE places SET deleted_at = now() - interval '1 day' WHERE id = 2;",
    );
}

#[test]
fn a_dropped_enabled_table_is_skipped_by_the_purge_and_forgotten_by_the_next_enable() {
    let (_db, mut conn) = db();
    extra_table(&mut conn);
    exec(&mut conn, "DROP TABLE extra CASCADE");

    // Revision 3 failed here for every table ("Unexpected null for non-null column").
    let report = purge_now(&mut conn, false);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        report.tables[report.tables.len() - 1],
        ("public.places".into(), 1)
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.enabled_tables"),
        4,
        "the listing skips the dropped table"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview_internal.tables"),
        5,
        "until something forgets it"
    );

    exec(&mut conn, "SELECT softview.refresh_all()");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview_internal.tables"),
        4
    );
    assert_eq!(
        count(&mut conn, "SELECT softview.forget_dropped_tables()"),
        0
    );
}

#[test]
fn an_enabled_temporary_table_is_forgotten_when_its_session_ends() {
    let (database, mut conn) = db();
    {
        let mut session = database.connect().unwrap();
        exec(
            &mut session,
            "CREATE TEMPORARY TABLE scratch (id int PRIMARY KEY, deleted_at timestamptz);
             SELECT softview.enable('scratch');",
        );
    }
    // The temporary schema is dropped as the backend exits, a moment after the disconnect.
    for _ in 0..100 {
        if count(
            &mut conn,
            "SELECT count(*) FROM pg_class WHERE relname = 'scratch'",
        ) == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        count(&mut conn, "SELECT softview.forget_dropped_tables()"),
        1
    );
    assert!(purge_now(&mut conn, true).failures.is_empty());
}

#[test]
fn a_table_whose_deleted_at_was_dropped_is_named_and_does_not_stop_the_others() {
    let (_db, mut conn) = db();
    extra_table(&mut conn);
    exec(
        &mut conn,
        "SELECT softview.drop_views('extra'); ALTER TABLE extra DROP COLUMN deleted_at CASCADE",
    );
    for call in [
        "SELECT softview.refresh('extra')",
        "SELECT * FROM softview.trash('extra')",
        "SELECT softview.purge_batch('extra', 10, '0')",
    ] {
        let (state, message) = sql_error(&mut conn, call);
        assert_eq!(state, "42703", "{call}");
        assert_eq!(
            message, "table is not soft-deletable: public.extra",
            "{call}"
        );
    }

    // refresh_all repairs the others and passes over this one with a warning.
    exec(
        &mut conn,
        "DROP VIEW active_reviews; SELECT softview.refresh_all()",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_reviews"), 1);

    let report = purge_now(&mut conn, false);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].table, "public.extra");
    assert!(
        report.failures[0]
            .message
            .starts_with("table is not soft-deletable: public.extra"),
        "{}",
        report.failures[0].message
    );
    assert_eq!(
        report.tables.iter().find(|(t, _)| t == "public.places"),
        Some(&("public.places".into(), 1))
    );
}

#[test]
fn an_event_whose_key_is_too_long_for_notify_goes_out_without_it() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE notes (title text PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('notes');
         INSERT INTO notes VALUES (repeat('n', 9000)), ('short');",
    );
    let mut listener = Listener::connect(database.url()).unwrap();
    // Revision 3 failed each of these with "payload string too long".
    exec(
        &mut conn,
        "DELETE FROM active_notes;
         UPDATE notes SET deleted_at = now() - interval '1 day';",
    );
    let mut events = Vec::new();
    while let Some(event) = listener.next(Duration::from_secs(5)).unwrap() {
        events.push(event);
        if events.len() == 2 {
            break;
        }
    }
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.operation == Operation::SoftDelete));
    let keys: Vec<_> = events.iter().map(|e| e.key.to_string()).collect();
    assert!(keys.contains(&"null".to_owned()), "{keys:?}");
    assert!(
        keys.contains(&r#"{"title":"short"}"#.to_owned()),
        "{keys:?}"
    );

    let report = purge_now(&mut conn, false);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.deleted_records WHERE length(primary_key ->> 'title') = 9000"
        ),
        1,
        "the archive keeps the whole key"
    );
}

#[test]
fn a_purge_and_its_dry_run_count_the_rows_cascades_delete() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() - interval '1 day' WHERE id = 1;
         CREATE TABLE tree (id int PRIMARY KEY, parent_id int REFERENCES tree ON DELETE CASCADE,
                            deleted_at timestamptz);
         SELECT softview.enable('tree');
         INSERT INTO tree VALUES (1, NULL, now() - interval '1 day'), (2, 1, NULL), (3, 2, NULL),
                                 (4, 1, now() - interval '1 day');",
    );
    // Tree row 4, deleted and due like its parent 1, goes with it through the cascade, in one
    // transaction: it counts as cascaded, not as purged on its own.
    let expected_cascades = vec![
        ("public.place_activities".to_owned(), 2),
        ("public.reviews".to_owned(), 1),
        ("public.tree".to_owned(), 3),
    ];

    let dry = purge_now(&mut conn, true);
    assert_eq!(dry.rows(), 2);
    assert_eq!(dry.cascaded, expected_cascades);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM tree"), 4);

    let real = purge_now(&mut conn, false);
    assert_eq!(real.rows(), 2);
    assert_eq!(real.cascaded, expected_cascades);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM tree"), 0);
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(table_name, ' ' ORDER BY table_name) FROM softview.deleted_records"
        )
        .as_deref(),
        Some(
            "public.place_activities public.place_activities public.places public.reviews \
             public.tree public.tree public.tree public.tree"
        )
    );
}

#[test]
fn the_toolkit_refuses_to_go_while_tables_are_enabled() {
    let (_db, mut conn) = db();
    let error = diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        softview::toolkit::UNINSTALL_SQL,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot remove the softview toolkit: tables places, activities, place_activities, reviews are still enabled"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.enabled_tables"),
        4
    );
    exec(
        &mut conn,
        "SELECT softview.disable(t) FROM unnest('{reviews,place_activities,activities,places}'::regclass[]) AS t",
    );
    exec(&mut conn, softview::toolkit::UNINSTALL_SQL);
    assert_eq!(
        text(&mut conn, "SELECT to_regnamespace('softview')::text"),
        None
    );
}

/// Every public function given NULL or an argument of the wrong kind: a SQLSTATE and a message
/// that names what was wrong, and the database as it was.
#[test]
fn bad_arguments_to_the_sql_api_are_named_and_change_nothing() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() WHERE id = 2;
         DELETE FROM reviews WHERE id = 1;",
    );
    let before = fingerprint(&mut conn);
    let null_table = ("22004", "invalid table: it must not be NULL");
    for (call, (state, message)) in [
        ("softview.enable(NULL)", null_table),
        ("softview.enable_dependent(NULL)", null_table),
        ("softview.refresh(NULL)", null_table),
        ("softview.drop_views(NULL)", null_table),
        ("softview.disable(NULL)", null_table),
        ("softview.require_actor(NULL)", null_table),
        ("softview.grace_period(NULL)", null_table),
        ("softview.set_grace_period(NULL, '1 day')", null_table),
        ("softview.purge_batch(NULL, 10)", null_table),
        ("softview.purgeable(NULL)", null_table),
        ("softview.purgeable_cascades(NULL)", null_table),
        ("softview.soft_delete_row(NULL, '{1}')", null_table),
        ("softview.trash(NULL)", null_table),
        ("softview.index_check(NULL)", null_table),
        (
            "softview.require_actor('places', NULL)",
            (
                "22004",
                "invalid setting: require_actor takes true or false, not NULL",
            ),
        ),
        ("softview.set_event_keys(NULL, false)", null_table),
        ("softview.set_hide_descendants(NULL, false)", null_table),
        ("softview.event_rows(NULL, 1)", null_table),
        (
            "softview.set_event_keys('places', NULL)",
            (
                "22004",
                "invalid setting: event_keys takes true or false, not NULL",
            ),
        ),
        (
            "softview.set_hide_descendants('places', NULL)",
            (
                "22004",
                "invalid setting: hide_descendants takes true or false, not NULL",
            ),
        ),
        (
            "softview.prune_archive(NULL)",
            ("22004", "invalid age to prune from: it must not be NULL"),
        ),
        (
            "softview.set_default_grace_period(NULL)",
            ("22004", "invalid default grace period: it must not be NULL"),
        ),
        (
            "softview.set_grace_period('places', '300000 years')",
            (
                "22023",
                "invalid grace period: it must be at most 1000 years, got 300000 years",
            ),
        ),
        (
            "softview.set_grace_period('places', '1 mon -30 days')",
            (
                "22023",
                "invalid grace period: it must not be negative, in any part; got 1 mon -30 days",
            ),
        ),
        (
            "softview.purge_batch('places', NULL)",
            (
                "22023",
                "a purge batch must hold at least one row, got <NULL>",
            ),
        ),
        (
            "softview.purge_batch('places', 0)",
            ("22023", "a purge batch must hold at least one row, got 0"),
        ),
        (
            "softview.soft_delete_row('places', NULL)",
            (
                "22023",
                "bad key for public.places: expected 1 value(s) for (id), got 0",
            ),
        ),
        (
            "softview.hard_delete_row('places', '{NULL}')",
            (
                "22004",
                "bad key for public.places: a primary key holds no NULL, got {NULL}",
            ),
        ),
        (
            "softview.restore_row('places', '{x}')",
            ("22P02", "invalid input syntax for type bigint: \"x\""),
        ),
        (
            "softview.restore_row('places', '{99999999999999999999}')",
            (
                "22003",
                "value \"99999999999999999999\" is out of range for type bigint",
            ),
        ),
        (
            "softview.restore_transaction(NULL)",
            ("P0002", "nothing archived for transaction NULL"),
        ),
        (
            "softview.restore_archived(NULL)",
            ("P0002", "row not found: softview.deleted_records"),
        ),
        (
            "softview.trash('active_places')",
            ("42809", "table is not soft-deletable: public.active_places"),
        ),
        (
            "softview.soft_delete_row('places_pkey', '{1}')",
            (
                "42P01",
                "table is not enabled for softview: public.places_pkey",
            ),
        ),
        (
            "softview.enable('active_places')",
            (
                "42809",
                "cannot enable public.active_places: it is not a table",
            ),
        ),
        (
            "softview.enable('places_id_seq')",
            (
                "42809",
                "cannot enable public.places_id_seq: it is not a table",
            ),
        ),
    ] {
        let (got_state, got_message) = sql_error(&mut conn, &format!("SELECT * FROM {call}"));
        assert_eq!(
            (got_state.as_str(), got_message.as_str()),
            (state, message),
            "{call}"
        );
        assert_eq!(
            fingerprint(&mut conn),
            before,
            "{call} changed the database"
        );
    }

    // The detail says what the name is, for the slip of naming the view.
    match diesel::sql_query("SELECT * FROM softview.trash('active_places')")
        .execute(&mut conn)
        .map_err(softview::Error::from)
    {
        Err(softview::Error::NotSoftDeletable { table, reason, .. }) => {
            assert_eq!(table, "public.active_places");
            assert_eq!(
                reason,
                "It is the view softview made for public.places: give the table."
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_archive_listing_of_no_rows_or_of_a_view_is_refused() {
    let (_db, mut conn) = db();
    let error = softview::lifecycle::archive::list(&mut conn, None, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the archive lists at least one row, got a limit of 0"
    );
    let error =
        softview::lifecycle::archive::list(&mut conn, Some("active_places"), 10).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the archive holds rows of tables, and active_places is not one. \
         It is the view softview made for public.places: give the table."
    );
}

/// The toolkit's owner generates a view's trigger function only for the view softview made:
/// with the view gone, there is nothing to attach it to.
#[test]
fn a_trigger_function_is_generated_only_for_an_existing_view() {
    let (_db, mut conn) = db();
    exec(&mut conn, "SELECT softview.drop_views('places')");
    assert_eq!(
        sql_error(
            &mut conn,
            "SELECT softview_internal.install_write_function('places')"
        ),
        (
            "42809".to_owned(),
            "cannot enable public.places: public.active_places is not a view of it".to_owned()
        )
    );
}
