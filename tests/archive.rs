//! The archive of hard deletes: every kind of hard delete, who and why, restore, retention.

mod common;

use common::{count, db, exec, pagila, seed, text};
use diesel::prelude::*;
use softview::lifecycle::archive;
use softview::schema::{places, reviews};
use softview::{Error, ReviewRecord, SoftDelete, as_actor};

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
        Err(Error::ActorRequired(message)) => {
            assert_eq!(
                message,
                "actor required: hard delete from public.places needs softview.actor"
            )
        }
        other => panic!("expected ActorRequired, got {other:?}"),
    }
    let (state, _) = common::sql_error(&mut conn, "DELETE FROM places WHERE id = 2");
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
    let (state, _) = common::sql_error(
        &mut conn,
        "DO $$ BEGIN PERFORM set_config('softview.actor', '', true); DELETE FROM places; END $$",
    );
    assert_eq!(state, "SV002");
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
        Err(Error::ArchiveDecode { .. })
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
                column: named,
                message,
            }) => {
                assert_eq!(named, column, "{message}");
                assert!(message.contains(problem), "{message}");
                assert!(
                    message.starts_with(&format!(
                        "archived row {} no longer fits public.places: column {column}: ",
                        entry.id
                    )),
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
        Err(Error::ArchiveDrift { ref column, .. }) if column == "city"
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

mod pagila_tables {
    use super::*;

    diesel::table! { actor (actor_id) { actor_id -> Int4, first_name -> Text, last_name -> Text, last_update -> Timestamptz, deleted_at -> Nullable<Timestamptz>, } }
    diesel::table! { film_actor (actor_id, film_id) { actor_id -> Int4, film_id -> Int4, last_update -> Timestamptz, } }

    #[derive(Debug, Queryable, Selectable, Insertable, serde::Deserialize)]
    #[diesel(table_name = actor, check_for_backend(diesel::pg::Pg))]
    pub struct ActorRecord {
        pub actor_id: i32,
        pub first_name: String,
        pub last_name: String,
        pub last_update: chrono::DateTime<chrono::Utc>,
        pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    }
    softview::soft_deletable!(actor, record: ActorRecord, key: i32);
    softview::hard_deletable!(film_actor, key: (i32, i32));

    #[test]
    fn the_lifecycle_on_a_non_id_key_and_a_composite_key() {
        use softview::Delete;
        let (_db, mut conn) = pagila();
        exec(
            &mut conn,
            "INSERT INTO film_actor (actor_id, film_id) VALUES (1, 1), (2, 1), (1, 2)",
        );

        let deleted = actor::table.soft_delete(&mut conn, 1).unwrap();
        assert!(deleted.deleted_at.is_some());
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM active_film_actor"),
            1
        );
        assert_eq!(actor::table.trash(&mut conn).unwrap().len(), 1);
        actor::table.restore(&mut conn, 1).unwrap();
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM active_film_actor"),
            3
        );

        assert_eq!(film_actor::table.delete(&mut conn, (2, 1)).unwrap(), 1);
        let entry = archive::list(&mut conn, Some("public.film_actor"), 1)
            .unwrap()
            .remove(0);
        assert_eq!(
            entry.primary_key,
            serde_json::json!({"actor_id": 2, "film_id": 1})
        );
        archive::restore_any(&mut conn, entry.id).unwrap();
        assert_eq!(count(&mut conn, "SELECT count(*) FROM film_actor"), 3);

        as_actor(&mut conn, "ann", Some("left the cast"), |conn| {
            actor::table.hard_delete(conn, 2).map(drop)
        })
        .unwrap_err();
        // film_actor restricts deleting an actor with films: nothing deleted, nothing archived.
        assert_eq!(
            count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
            0
        );
        exec(&mut conn, "DELETE FROM film_actor WHERE actor_id = 2");
        as_actor(&mut conn, "ann", Some("left the cast"), |conn| {
            actor::table.hard_delete(conn, 2).map(drop)
        })
        .unwrap();
        let entry = archive::list(&mut conn, Some("public.actor"), 1)
            .unwrap()
            .remove(0);
        let back = actor::table.restore_archived(&mut conn, entry.id).unwrap();
        assert_eq!((back.actor_id, back.first_name.as_str()), (2, "NICK"));
    }
}
