//! The archive of hard deletes: every kind of hard delete, who and why, restore, retention.

use crate::common::{count, db, exec, seed, sql_error, text};
use diesel::prelude::*;
use softview::lifecycle::archive;
use softview::{Error, Lifecycle, as_actor};
use softview_example::ReviewRecord;
use softview_example::schema::{places, reviews};

#[test]
fn raw_sql_deletes_and_foreign_key_cascades_are_archived_together() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "DELETE FROM places WHERE id = 1");
    let rows = archive::list(&mut conn, None, 10).unwrap();
    let mut tables: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.table_name.clone(), r.primary_key.to_string()))
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        vec![
            ("public.place_activities".into(), r#"{"id":1}"#.into()),
            ("public.place_activities".into(), r#"{"id":3}"#.into()),
            ("public.places".into(), r#"{"id":1}"#.into()),
            ("public.reviews".into(), r#"{"id":1}"#.into()),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.transaction_id == rows[0].transaction_id)
    );
    let place = rows
        .iter()
        .find(|r| r.table_name == "public.places")
        .unwrap();
    assert_eq!(
        place.row_data,
        serde_json::json!({"id": 1, "name": "Park", "deleted_at": null})
    );
    assert_eq!(
        (place.actor.as_deref(), place.reason.as_deref()),
        (None, None)
    );
}

#[test]
fn actor_and_reason_are_recorded_and_do_not_leak_to_the_next_transaction() {
    let (database, _conn) = db();
    let pool = diesel::r2d2::Pool::builder()
        .max_size(1)
        .build(diesel::r2d2::ConnectionManager::<PgConnection>::new(
            database.url(),
        ))
        .unwrap();
    let mut conn = pool.get().unwrap();
    seed(&mut conn);
    as_actor(&mut conn, "ann", Some("duplicate entry"), |conn| {
        places::table.hard_delete(conn, 2).map(drop)
    })
    .unwrap();
    drop(conn);

    // The same pooled connection, a later transaction: the settings read '' and count as unset.
    let mut conn = pool.get().unwrap();
    assert_eq!(
        text(&mut conn, "SELECT current_setting('softview.actor', true)").as_deref(),
        Some("")
    );
    exec(&mut conn, "DELETE FROM reviews WHERE id = 1");
    let rows = archive::list(&mut conn, None, 10).unwrap();
    let who = |table: &str| {
        let row = rows.iter().find(|r| r.table_name == table).unwrap();
        (row.actor.clone(), row.reason.clone())
    };
    assert_eq!(
        who("public.places"),
        (Some("ann".into()), Some("duplicate entry".into()))
    );
    assert_eq!(who("public.reviews"), (None, None));
}

#[test]
fn a_table_that_requires_an_actor_refuses_anonymous_hard_deletes() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    archive::require_actor(&mut conn, "places", true).unwrap();
    match places::table.hard_delete(&mut conn, 2) {
        Err(error @ Error::ActorRequired { .. }) => {
            let Error::ActorRequired { ref table, .. } = error else {
                unreachable!()
            };
            assert_eq!(table, "public.places");
            assert!(
                std::error::Error::source(&error)
                    .unwrap()
                    .to_string()
                    .starts_with("actor required: public.places"),
                "{error}"
            );
        }
        other => panic!("expected ActorRequired, got {other:?}"),
    }
    let (state, _) = crate::common::sql_error(&mut conn, "DELETE FROM places WHERE id = 2");
    assert_eq!(state, "SV002");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM places"),
        2,
        "nothing deleted"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0
    );

    as_actor(&mut conn, "ops", None, |conn| {
        places::table.hard_delete(conn, 2).map(drop)
    })
    .unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) FROM places"), 1);
    // An empty actor counts as unset.
    let (state, _) = crate::common::sql_error(
        &mut conn,
        "DO $$ BEGIN PERFORM set_config('softview.actor', '', true); DELETE FROM places; END $$",
    );
    assert_eq!(state, "SV002");
}

/// An archived row that fits the table but not the record model (the JSON was changed) is
/// refused with serde's reason, and stays in the archive.
#[test]
fn an_archived_row_the_record_model_cannot_read_is_refused_and_kept() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "DELETE FROM reviews WHERE id = 2");
    exec(
        &mut conn,
        "UPDATE softview.deleted_records SET row_data = jsonb_set(row_data, '{body}', '5')",
    );
    let entry = archive::list(&mut conn, Some("reviews"), 1)
        .unwrap()
        .remove(0);
    match reviews::table.restore_archived(&mut conn, entry.id) {
        Err(error @ Error::ArchiveDecode { .. }) => {
            let reason = std::error::Error::source(&error).unwrap().to_string();
            assert!(reason.contains("expected a string"), "{reason}");
        }
        other => panic!("expected ArchiveDecode, got {other:?}"),
    }
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews"), 1);
}

#[test]
fn an_archived_row_is_restored_typed_and_leaves_the_archive() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "DELETE FROM reviews WHERE id = 2");
    let entry = archive::list(&mut conn, Some("public.reviews"), 1)
        .unwrap()
        .remove(0);
    let restored: ReviewRecord = reviews::table
        .restore_archived(&mut conn, entry.id)
        .unwrap();
    assert_eq!(
        (restored.id, restored.body.as_str(), restored.rating),
        (2, "sandy", 4)
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_reviews"), 2);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0
    );

    // An archive entry of another table is refused.
    exec(&mut conn, "DELETE FROM reviews WHERE id = 2");
    let entry = archive::list(&mut conn, None, 1).unwrap().remove(0);
    assert!(matches!(
        places::table.restore_archived(&mut conn, entry.id),
        Err(Error::ArchiveMismatch { ref archived_table, ref table, .. })
            if archived_table == "public.reviews" && table == "places"
    ));
}

#[test]
fn a_whole_transaction_is_restored_parents_first() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let before = text(
        &mut conn,
        "SELECT (SELECT count(*) FROM places) || '/' || (SELECT count(*) FROM reviews) || '/' || (SELECT count(*) FROM place_activities)",
    );
    exec(&mut conn, "DELETE FROM places WHERE id = 1");
    let transaction = archive::list(&mut conn, None, 1).unwrap()[0].transaction_id;
    assert_eq!(
        archive::restore_transaction(&mut conn, transaction).unwrap(),
        4
    );
    let after = text(
        &mut conn,
        "SELECT (SELECT count(*) FROM places) || '/' || (SELECT count(*) FROM reviews) || '/' || (SELECT count(*) FROM place_activities)",
    );
    assert_eq!(before, after);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0
    );
}

#[test]
fn restore_from_the_archive_names_the_column_that_drifted_and_keeps_the_entry() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let drifts = [
        // A column gone since the delete.
        (
            "ALTER TABLE places ADD COLUMN note text; UPDATE places SET note = 'x'",
            "SELECT softview.drop_views('places'); ALTER TABLE places DROP COLUMN note; SELECT softview.refresh('places')",
            "note",
            "the column no longer exists",
        ),
        // A type that no longer takes the value.
        (
            "UPDATE places SET name = 'Park'",
            "SELECT softview.drop_views('places'); ALTER TABLE places ALTER COLUMN name TYPE int USING length(name); SELECT softview.refresh('places')",
            "name",
            "does not fit type integer",
        ),
        // A new NOT NULL column without default.
        (
            "SELECT 1",
            "ALTER TABLE places ADD COLUMN city text NOT NULL DEFAULT 'x'; ALTER TABLE places ALTER COLUMN city DROP DEFAULT",
            "city",
            "NOT NULL without a default",
        ),
    ];
    for (prepare, change, column, problem) in drifts {
        let (_db, mut conn) = db();
        seed(&mut conn);
        exec(&mut conn, prepare);
        exec(&mut conn, "DELETE FROM places WHERE id = 2");
        exec(&mut conn, change);
        let entry = archive::list(&mut conn, Some("public.places"), 1)
            .unwrap()
            .remove(0);
        match archive::restore_any(&mut conn, entry.id) {
            Err(Error::ArchiveDrift {
                table,
                column: named,
                detail: message,
                ..
            }) => {
                assert_eq!(table, "public.places");
                assert_eq!(named.as_deref(), Some(column), "{message}");
                assert!(message.contains(problem), "{message}");
                assert!(
                    message.starts_with(&format!("Archived row {}: column {column}: ", entry.id)),
                    "{message}"
                );
            }
            other => panic!("expected ArchiveDrift for {column}, got {other:?}"),
        }
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM places WHERE id = 2"),
            0
        );
        assert_eq!(
            count(
                &mut conn,
                &format!(
                    "SELECT count(*) FROM softview.deleted_records WHERE id = {}",
                    entry.id
                )
            ),
            1
        );
    }
    // The typed path checks the same way.
    exec(
        &mut conn,
        "DELETE FROM places WHERE id = 2; ALTER TABLE places ADD COLUMN city text NOT NULL DEFAULT 'x'; ALTER TABLE places ALTER COLUMN city DROP DEFAULT",
    );
    let entry = archive::list(&mut conn, Some("public.places"), 1)
        .unwrap()
        .remove(0);
    assert!(matches!(
        places::table.restore_archived(&mut conn, entry.id),
        Err(Error::ArchiveDrift { ref column, .. }) if column.as_deref() == Some("city")
    ));
}

#[test]
fn prune_forgets_old_entries_only() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "DELETE FROM reviews;
         UPDATE softview.deleted_records SET archived_at = now() - interval '40 days' WHERE primary_key = '{\"id\": 1}'",
    );
    assert_eq!(
        archive::prune(&mut conn, chrono::Duration::days(30)).unwrap(),
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        1
    );
    match archive::prune(&mut conn, chrono::Duration::days(-1)) {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("must not be negative"), "{message}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

/// The typed lifecycle on tables outside `public`, with quoted mixed-case names, keys not
/// called `id` and a composite key, declared as a user declares them.
mod catalog_tables {
    use super::*;
    use crate::common::catalog;

    pub mod catalog {
        diesel::table! {
            catalog.performer (performer_id) {
                performer_id -> Int4,
                full_name -> Text,
                updated_at -> Timestamptz,
                deleted_at -> Nullable<Timestamptz>,
            }
        }
        diesel::table! {
            catalog.casting (performer_id, title_id) {
                performer_id -> Int4,
                title_id -> Int2,
                #[sql_name = "table"]
                table_ -> Nullable<Text>,
            }
        }
        diesel::table! {
            #[sql_name = "AuditNotes"]
            catalog.audit_notes (note_id) {
                #[sql_name = "noteId"]
                note_id -> Int8,
                #[sql_name = "titleId"]
                title_id -> Int2,
                #[sql_name = "macro"]
                macro_ -> Nullable<Text>,
                #[sql_name = "try"]
                try_ -> Nullable<Int4>,
                deleted_at -> Nullable<Timestamptz>,
            }
        }
    }

    #[derive(Debug, Queryable, Selectable, Insertable, serde::Deserialize)]
    #[diesel(table_name = catalog::performer, check_for_backend(diesel::pg::Pg))]
    pub struct PerformerRecord {
        pub performer_id: i32,
        pub full_name: String,
        pub updated_at: chrono::DateTime<chrono::Utc>,
        pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    }

    /// The archive keeps rows as JSON under their SQL names: renamed fields say so to serde.
    #[derive(Debug, PartialEq, Queryable, Selectable, Insertable, serde::Deserialize)]
    #[diesel(table_name = catalog::audit_notes, check_for_backend(diesel::pg::Pg))]
    pub struct AuditNoteRecord {
        #[serde(rename = "noteId")]
        pub note_id: i64,
        #[serde(rename = "titleId")]
        pub title_id: i16,
        #[serde(rename = "macro")]
        pub macro_: Option<String>,
        #[serde(rename = "try")]
        pub try_: Option<i32>,
        pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    }

    softview::soft_deletable!(catalog::performer, record: PerformerRecord, key: i32);
    softview::soft_deletable!(catalog::audit_notes, record: AuditNoteRecord, key: i64);
    softview::hard_deletable!(catalog::casting, key: (i32, i16));

    #[test]
    fn every_typed_operation_on_a_mixed_case_table_in_another_schema() {
        let (_db, mut conn) = catalog();
        let notes = catalog::audit_notes::table;
        exec(
            &mut conn,
            r#"INSERT INTO catalog."AuditNotes" ("noteId", "titleId", macro, try)
               VALUES (1, 1, 'm', 7), (2, 2, NULL, NULL)"#,
        );

        let deleted = notes.soft_delete(&mut conn, 1).unwrap();
        assert!(deleted.deleted_at.is_some());
        assert_eq!(
            count(
                &mut conn,
                r#"SELECT count(*) FROM catalog."active_AuditNotes""#
            ),
            1
        );
        let trash = notes.trash(&mut conn).unwrap();
        assert_eq!(trash.len(), 1);
        assert_eq!(
            trash[0].purge_at,
            deleted.deleted_at.unwrap() + chrono::Duration::days(30)
        );
        assert_eq!(notes.find_any(&mut conn, 1).unwrap().note_id, 1);
        assert_eq!(notes.restore(&mut conn, 1).unwrap().deleted_at, None);
        match notes.restore(&mut conn, 1) {
            Err(Error::NotDeleted { table, key, .. }) => {
                assert_eq!(
                    (table.as_str(), key.as_str()),
                    (r#"catalog."AuditNotes""#, "1")
                )
            }
            other => panic!("expected NotDeleted, got {other:?}"),
        }
        match notes.find_any(&mut conn, 9) {
            Err(Error::NotFound { table, .. }) => assert_eq!(table, r#"catalog."AuditNotes""#),
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert_eq!(
            notes
                .soft_delete_where(&mut conn, Box::new(catalog::audit_notes::try_.is_null()))
                .unwrap(),
            1
        );
        assert_eq!(
            notes
                .restore_where(&mut conn, Box::new(catalog::audit_notes::try_.is_null()))
                .unwrap(),
            1
        );
        assert_eq!(
            notes.delete(&mut conn, 2).unwrap(),
            1,
            "delete soft-deletes here"
        );

        let gone = as_actor(&mut conn, "ann", Some("typo"), |conn| {
            notes.hard_delete(conn, 1)
        })
        .unwrap();
        let entry = archive::list(&mut conn, Some(r#"catalog."AuditNotes""#), 1)
            .unwrap()
            .remove(0);
        assert_eq!(entry.table_name, r#"catalog."AuditNotes""#);
        assert_eq!(entry.primary_key, serde_json::json!({"noteId": 1}));
        assert_eq!(entry.actor.as_deref(), Some("ann"));
        match catalog::performer::table.restore_archived(&mut conn, entry.id) {
            Err(Error::ArchiveMismatch {
                archived_table,
                table,
                ..
            }) => {
                assert_eq!(archived_table, r#"catalog."AuditNotes""#);
                assert_eq!(table, "catalog.performer");
            }
            other => panic!("expected ArchiveMismatch, got {other:?}"),
        }
        let back = notes.restore_archived(&mut conn, entry.id).unwrap();
        assert_eq!(back, gone);
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
            0
        );

        // The purge takes the soft-deleted note 2 once its grace period is over.
        exec(
            &mut conn,
            r#"UPDATE catalog."AuditNotes" SET deleted_at = now() - interval '31 days' WHERE "noteId" = 2"#,
        );
        let options = softview::lifecycle::purge::PurgeOptions {
            table: Some(r#"catalog."AuditNotes""#.to_owned()),
            ..Default::default()
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let report = softview::lifecycle::purge::purge(&mut conn, &options, &stop, |_| {}).unwrap();
        assert_eq!(report.tables, [(r#"catalog."AuditNotes""#.to_owned(), 1)]);
    }

    #[test]
    fn the_lifecycle_on_a_non_id_key_and_a_composite_key() {
        let (_db, mut conn) = catalog();
        exec(
            &mut conn,
            "INSERT INTO catalog.casting (performer_id, title_id) VALUES (1, 1), (2, 1), (1, 2)",
        );
        let performers = catalog::performer::table;
        assert!(
            performers
                .soft_delete(&mut conn, 1)
                .unwrap()
                .deleted_at
                .is_some()
        );
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM catalog.active_casting"),
            1
        );
        performers.restore(&mut conn, 1).unwrap();
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM catalog.active_casting"),
            3
        );

        assert_eq!(
            catalog::casting::table.delete(&mut conn, (2, 1)).unwrap(),
            1
        );
        let entry = archive::list(&mut conn, Some("catalog.casting"), 1)
            .unwrap()
            .remove(0);
        assert_eq!(
            entry.primary_key,
            serde_json::json!({"performer_id": 2, "title_id": 1})
        );
        archive::restore_any(&mut conn, entry.id).unwrap();
        assert_eq!(count(&mut conn, "SELECT count(*) FROM catalog.casting"), 3);

        // casting still refers to performer 2 (NO ACTION): nothing deleted, nothing archived.
        match performers.hard_delete(&mut conn, 2) {
            Err(Error::StillReferenced {
                referencing,
                constraint,
                ..
            }) => {
                assert_eq!(referencing, "casting");
                assert_eq!(constraint.as_deref(), Some("casting_performer_id_fkey"));
            }
            other => panic!("expected StillReferenced, got {other:?}"),
        }
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
            0
        );
        exec(
            &mut conn,
            "DELETE FROM catalog.casting WHERE performer_id = 2",
        );
        let entry_count = count(&mut conn, "SELECT count(*) FROM softview.deleted_records");
        performers.hard_delete(&mut conn, 2).unwrap();
        let entry = archive::list(&mut conn, Some("catalog.performer"), 1)
            .unwrap()
            .remove(0);
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
            entry_count + 1
        );
        let back = performers.restore_archived(&mut conn, entry.id).unwrap();
        assert_eq!(
            (back.performer_id, back.full_name.as_str()),
            (2, "Grace Hopper")
        );
    }
}

/// TRUNCATE fires no DELETE trigger, so it would remove rows past the archive, the required
/// actor and the events. Before, it did; now it is refused, naming the table and the ways to
/// remove rows, unless the session opts out of the archive explicitly.
#[test]
fn truncate_of_an_enabled_table_is_refused_unless_the_session_opts_out() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    for sql in ["TRUNCATE reviews", "TRUNCATE places CASCADE"] {
        assert_eq!(
            sql_error(&mut conn, sql),
            (
                "55000".to_owned(),
                format!(
                    "cannot truncate public.{}: softview archives every row removed from it",
                    if sql.contains("reviews") {
                        "reviews"
                    } else {
                        "places"
                    }
                )
            ),
            "{sql}"
        );
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews"), 2);
    assert_eq!(count(&mut conn, "SELECT count(*) FROM place_activities"), 3);
    exec(
        &mut conn,
        "BEGIN; SET LOCAL softview.allow_truncate = on; TRUNCATE reviews; COMMIT",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews"), 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        0,
        "the opt-out skips the archive, as it says"
    );
    // Disabling removes the guard with the rest.
    exec(
        &mut conn,
        "SELECT softview.disable('reviews'); TRUNCATE reviews",
    );
}

/// A DELETE or TRUNCATE that names a partition fires the partition's statement triggers, not
/// the partitioned table's. Before, deleting from a partition skipped the archive and
/// truncating it was allowed; now every partition is guarded, one created or attached later
/// too, and a detached one is let go.
/// The archive trigger reads a table's key columns from softview's catalog, where enable and
/// refresh store them, instead of looking them up on every statement: after a primary key
/// changes, rows are archived under the new key from the table's next refresh.
#[test]
fn the_archive_keys_rows_by_the_primary_key_of_the_last_refresh() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE stock (sku text, site int, units int, deleted_at timestamptz, PRIMARY KEY (sku));
         SELECT softview.enable('stock');
         INSERT INTO stock VALUES ('a', 1, 5, NULL), ('b', 2, 5, NULL), ('c', 3, 5, NULL);
         DELETE FROM stock WHERE sku = 'a';
         ALTER TABLE stock DROP CONSTRAINT stock_pkey, ADD PRIMARY KEY (sku, site);
         DELETE FROM stock WHERE sku = 'b';
         SELECT softview.refresh('stock');
         DELETE FROM stock WHERE sku = 'c';",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(primary_key::text, '; ' ORDER BY id) FROM softview.deleted_records"
        )
        .as_deref(),
        Some(r#"{"sku": "a"}; {"sku": "b"}; {"sku": "c", "site": 3}"#)
    );
}

#[test]
fn deletes_and_truncates_naming_a_partition_are_archived_or_refused() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE ledger (id int, region text, deleted_at timestamptz, PRIMARY KEY (id, region))
             PARTITION BY LIST (region);
         CREATE TABLE ledger_north PARTITION OF ledger FOR VALUES IN ('north');
         CREATE TABLE ledger_south PARTITION OF ledger FOR VALUES IN ('south') PARTITION BY RANGE (id);
         CREATE TABLE ledger_south_low PARTITION OF ledger_south FOR VALUES FROM (0) TO (100);
         SELECT softview.enable('ledger');
         INSERT INTO ledger (id, region) VALUES (1, 'north'), (2, 'north'), (3, 'south');
         DELETE FROM ledger_north WHERE id = 1;
         DELETE FROM ledger_south_low WHERE id = 3;
         DELETE FROM ledger WHERE id = 2;",
    );
    let archived = |conn: &mut PgConnection| {
        text(
            conn,
            "SELECT string_agg(format('%s %s', table_name, primary_key), '; ' ORDER BY id)
             FROM softview.deleted_records",
        )
    };
    assert_eq!(
        archived(&mut conn).as_deref(),
        Some(
            r#"public.ledger {"id": 1, "region": "north"}; public.ledger {"id": 3, "region": "south"}; public.ledger {"id": 2, "region": "north"}"#
        ),
        "each row once, under the partitioned table's name"
    );
    assert_eq!(
        sql_error(&mut conn, "TRUNCATE ledger_south_low"),
        (
            "55000".to_owned(),
            "cannot truncate public.ledger_south_low: softview archives every row removed from it"
                .to_owned()
        )
    );

    // A partition created or attached later is guarded at once (the toolkit was installed by
    // a superuser, with its event trigger); one detached is let go. The attached one has its
    // columns in another order and a dropped one: its rows keep the partitioned table's key.
    exec(
        &mut conn,
        "CREATE TABLE ledger_east PARTITION OF ledger FOR VALUES IN ('east');
         CREATE TABLE ledger_west (deleted_at timestamptz, gone int, region text NOT NULL, id int NOT NULL);
         ALTER TABLE ledger_west DROP COLUMN gone;
         ALTER TABLE ledger ATTACH PARTITION ledger_west FOR VALUES IN ('west');
         INSERT INTO ledger (id, region) VALUES (4, 'east'), (5, 'west');
         DELETE FROM ledger_east WHERE id = 4;
         DELETE FROM ledger_west WHERE id = 5;",
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.deleted_records WHERE primary_key->>'region' IN ('east', 'west')"
        ),
        2,
        "both archived"
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT primary_key::text FROM softview.deleted_records WHERE primary_key->>'region' = 'west'"
        )
        .as_deref(),
        Some(r#"{"id": 5, "region": "west"}"#)
    );
    exec(
        &mut conn,
        "ALTER TABLE ledger DETACH PARTITION ledger_west;
         INSERT INTO ledger_west (id, region) VALUES (6, 'west');
         DELETE FROM ledger_west;
         TRUNCATE ledger_west;",
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.deleted_records WHERE primary_key->>'region' = 'west'"
        ),
        1,
        "the detached table is no longer ledger's"
    );

    // Restoring a row deleted from a partition puts it back through the partitioned table.
    exec(
        &mut conn,
        "SELECT softview.restore_archived((SELECT id FROM softview.deleted_records
                                           WHERE primary_key->>'id' = '1'))",
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM ledger_north"), 1);

    // Disabling removes the triggers from every partition.
    exec(&mut conn, "SELECT softview.disable('ledger')");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'softview%'
             AND tgrelid IN (SELECT relid FROM pg_partition_tree('ledger'))"
        ),
        0
    );
}

/// A blank actor would be archived as none; `as_actor` refuses it before running anything.
#[test]
fn as_actor_refuses_a_blank_actor() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let result = as_actor(&mut conn, "  ", None, |conn| {
        places::table.hard_delete(conn, 2).map(drop)
    });
    assert!(
        matches!(&result, Err(Error::InvalidArgument(m)) if m == "as_actor needs an actor that is not blank, got \"  \""),
        "{result:?}"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM places WHERE id = 2"),
        1
    );
}

/// A transaction that deletes a subtree and then its ancestor archives children before their
/// parents; restoring ordered by table alone failed with 23503 and restored nothing. Rows now
/// go back row by row as their parents arrive.
#[test]
fn a_deleted_tree_is_restored_whole_and_a_blocked_one_not_at_all() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes ON DELETE CASCADE,
                             deleted_at timestamptz);
         SELECT softview.enable('nodes');
         INSERT INTO nodes (id, parent_id)
         SELECT g, CASE WHEN g > 1 THEN g / 2 END FROM generate_series(1, 31) g;
         BEGIN;
         DELETE FROM nodes WHERE id = 8;
         DELETE FROM nodes WHERE id = 2;
         COMMIT;",
    );
    let archived = count(&mut conn, "SELECT count(*) FROM softview.deleted_records");
    assert_eq!(archived, 15, "node 2 and its subtree of four levels");
    assert!(
        count(
            &mut conn,
            "SELECT id FROM softview.deleted_records WHERE primary_key->>'id' = '4'"
        ) > count(
            &mut conn,
            "SELECT id FROM softview.deleted_records WHERE primary_key->>'id' = '8'"
        ),
        "a child is archived before its parent"
    );
    let transaction = count(
        &mut conn,
        "SELECT max(transaction_id) FROM softview.deleted_records",
    );
    assert_eq!(
        archive::restore_transaction(&mut conn, transaction).unwrap(),
        15
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_nodes"), 31);

    // Delete node 4's subtree, then node 2 alone in another transaction: the first can only
    // come back under a node 2 that is there.
    exec(&mut conn, "DELETE FROM nodes WHERE id = 4");
    exec(
        &mut conn,
        "UPDATE nodes SET parent_id = NULL WHERE parent_id = 2;
         DELETE FROM nodes WHERE id = 2;",
    );
    let subtree = count(
        &mut conn,
        "SELECT transaction_id FROM softview.deleted_records WHERE primary_key->>'id' = '4'",
    );
    let before = count(&mut conn, "SELECT count(*) FROM nodes");
    let error = archive::restore_transaction(&mut conn, subtree).unwrap_err();
    assert!(
        matches!(&error, Error::ParentMissing { constraint: Some(c), detail, .. }
                 if c == "nodes_parent_id_fkey" && detail == "Key (parent_id)=(2) is not present in table \"nodes\"."),
        "{error:?}"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM nodes"),
        before,
        "nothing restored"
    );
    let (state, message) = sql_error(
        &mut conn,
        &format!("SELECT softview.restore_transaction({subtree})"),
    );
    assert_eq!(
        (state.as_str(), message.as_str()),
        (
            "23503",
            "insert or update on table \"nodes\" violates foreign key constraint \"nodes_parent_id_fkey\""
        )
    );
}

/// ON DELETE SET NULL nulls the references to a hard-deleted row; before, nothing recorded
/// them, and restoring the row left its children detached. The archive now records what the
/// action changed, and restoring the transaction puts each reference back where the row still
/// holds what the action set.
#[test]
fn references_a_delete_nulled_come_back_with_the_deleted_row() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE folders (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE files (id int PRIMARY KEY, folder_id int REFERENCES folders ON DELETE SET NULL,
                             name text, deleted_at timestamptz);
         SELECT softview.enable('folders');
         INSERT INTO folders VALUES (1, NULL), (2, NULL);
         INSERT INTO files VALUES (1, 1, 'a', NULL), (2, 1, 'b', NULL), (3, 2, 'c', NULL);
         DELETE FROM folders WHERE id = 1;",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s→%s', primary_key, old_values, new_values), '; ' ORDER BY id)
             FROM softview.changed_references"
        )
        .as_deref(),
        Some(r#"{"id": 1} {"folder_id": 1}→{"folder_id": null}; {"id": 2} {"folder_id": 1}→{"folder_id": null}"#)
    );
    // A user moves file 2 meanwhile: it stays where the user put it.
    exec(&mut conn, "UPDATE files SET folder_id = 2 WHERE id = 2");
    let transaction = count(
        &mut conn,
        "SELECT transaction_id FROM softview.deleted_records",
    );
    assert_eq!(
        archive::restore_transaction(&mut conn, transaction).unwrap(),
        1
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s:%s', id, folder_id), ',' ORDER BY id) FROM files"
        )
        .as_deref(),
        Some("1:1,2:2,3:2")
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.changed_references"
        ),
        0,
        "dealt with"
    );
    // A plain update of the reference is not recorded; disabling removes the recording.
    exec(&mut conn, "UPDATE files SET folder_id = NULL WHERE id = 3");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.changed_references"
        ),
        0
    );
    exec(&mut conn, "SELECT softview.disable('folders')");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'files'::regclass AND NOT tgisinternal"
        ),
        0
    );
}

/// Rows that refer to each other in a cycle go back together: through foreign keys that are
/// deferrable (checked at the end of the restore), or, when they are not, with their nullable
/// references cut and filled in once every row is back.
#[test]
fn rows_that_refer_to_each_other_are_restored_together() {
    let (_db, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE people (id int PRIMARY KEY, partner_id int REFERENCES people, deleted_at timestamptz);
         CREATE TABLE teams (id int PRIMARY KEY, lead_id int NOT NULL, deleted_at timestamptz);
         CREATE TABLE members (id int PRIMARY KEY,
                               team_id int NOT NULL REFERENCES teams DEFERRABLE, deleted_at timestamptz);
         ALTER TABLE teams ADD FOREIGN KEY (lead_id) REFERENCES members DEFERRABLE;
         SELECT softview.enable('people'), softview.enable('teams'), softview.enable('members');
         INSERT INTO people VALUES (1, NULL, NULL), (2, 1, NULL);
         UPDATE people SET partner_id = 2 WHERE id = 1;
         BEGIN;
         SET CONSTRAINTS ALL DEFERRED;
         INSERT INTO teams VALUES (1, 1, NULL);
         INSERT INTO members VALUES (1, 1, NULL);
         COMMIT;",
    );
    let state = |conn: &mut PgConnection| {
        text(
            conn,
            "SELECT concat_ws(' ', (SELECT string_agg(id || '>' || partner_id, ',' ORDER BY id) FROM people),
                                   (SELECT string_agg(id || '>' || lead_id, ',') FROM teams),
                                   (SELECT string_agg(id || '>' || team_id, ',') FROM members))",
        )
    };
    let before = state(&mut conn);
    exec(&mut conn, "DELETE FROM people");
    exec(
        &mut conn,
        "BEGIN; SET CONSTRAINTS ALL DEFERRED; DELETE FROM teams; DELETE FROM members; COMMIT;",
    );
    for table in ["public.people", "public.teams"] {
        let transaction = count(
            &mut conn,
            &format!(
                "SELECT max(transaction_id) FROM softview.deleted_records WHERE table_name = '{table}'"
            ),
        );
        assert_eq!(
            archive::restore_transaction(&mut conn, transaction).unwrap(),
            2,
            "{table}"
        );
    }
    assert_eq!(state(&mut conn), before);
}
