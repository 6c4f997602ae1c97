//! Every known pitfall of soft delete through views: one test shows PostgreSQL failing as a
//! user would see it, one shows what softview does instead. docs/pitfalls.md is the index;
//! tests/pitfall_docs.rs checks that every test it names exists.

use crate::common::{count, db, exec, seed, sql_error, text};
use diesel::dsl::count as count_of;
use diesel::prelude::*;
use softview::{Error, Lifecycle};
use softview_example::schema::{activities, place_activities, places, reviews};
use softview_example::views::{
    active_activities, active_place_activities, active_places, active_reviews,
};
use softview_example::{ActivityRecord, NewActivity, PlaceRecord, ReviewRecord};

/// Views declared as if they were tables, the way a user would write them by hand: each
/// `table!` claims a single-column primary key that PostgreSQL does not know about.
mod naive {
    diesel::table! {
        #[sql_name = "active_places"]
        naive_places (id) {
            id -> Int8,
            name -> Text,
        }
    }
    diesel::table! {
        #[sql_name = "active_place_activities"]
        naive_links (id) {
            id -> Int8,
            place_id -> Int8,
            activity_id -> Int8,
        }
    }
    diesel::joinable!(naive_links -> naive_places (place_id));
    diesel::allow_tables_to_appear_in_same_query!(naive_places, naive_links);
}

/// The SQL Diesel generates for `query`, to replay it through `sql_error`.
fn sql_of<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>(query: &Q) -> String {
    let debug = diesel::debug_query::<diesel::pg::Pg, _>(query).to_string();
    debug.split(" -- binds:").next().unwrap().to_owned()
}

// 1. GROUP BY on a view ------------------------------------------------------------------------

/// A user counts each place's activities, grouping by the view's id as they would on the
/// table. Diesel accepts it (the naive declaration says `id` is the key); PostgreSQL does not,
/// because a view has no primary key: 42803.
#[test]
fn group_by_a_views_id_fails_in_postgres() {
    use naive::{naive_links, naive_places};
    let (_db, mut conn) = db();
    seed(&mut conn);
    let query = naive_places::table
        .left_join(naive_links::table)
        .group_by(naive_places::id)
        .select((
            naive_places::id,
            naive_places::name,
            count_of(naive_links::id.nullable()),
        ));
    let (state, message) = sql_error(&mut conn, &sql_of(&query));
    assert_eq!(state, "42803");
    assert_eq!(
        message,
        r#"column "active_places.name" must appear in the GROUP BY clause or be used in an aggregate function"#
    );
    let through_diesel = query
        .load::<(i64, String, i64)>(&mut conn)
        .unwrap_err()
        .to_string();
    assert!(
        through_diesel.contains("must appear in the GROUP BY clause"),
        "{through_diesel}"
    );

    // The same query on the base tables runs: the table's primary key covers `name`.
    let on_tables: Vec<(i64, String, i64)> = places::table
        .left_join(place_activities::table)
        .group_by(places::id)
        .select((
            places::id,
            places::name,
            count_of(place_activities::id.nullable()),
        ))
        .order(places::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        on_tables,
        vec![(1, "Park".into(), 2), (2, "Beach".into(), 1)]
    );
}

/// Resolution: the count as a correlated subquery, one row per place, no GROUP BY at all.
#[test]
fn activity_counts_as_a_correlated_subquery() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let counts: Vec<(i64, String, i64)> = active_places::table
        .select((
            active_places::id,
            active_places::name,
            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM active_place_activities l \
                  WHERE l.place_id = active_places.id)",
            ),
        ))
        .order(active_places::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(counts, vec![(1, "Park".into(), 2), (2, "Beach".into(), 1)]);
}

/// Each live place with the number of its live activities, grouped by every selected column.
fn live_activity_counts(conn: &mut PgConnection) -> Vec<(i64, String, i64)> {
    active_places::table
        .left_join(active_place_activities::table)
        .group_by((active_places::id, active_places::name))
        .select((
            active_places::id,
            active_places::name,
            count_of(active_place_activities::id.nullable()),
        ))
        .order(active_places::id)
        .load(conn)
        .unwrap()
}

/// Resolution: group by every selected column of the view. With softview's generated
/// declarations this is the only GROUP BY over a view that compiles.
#[test]
fn activity_counts_grouping_by_every_selected_column() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    assert_eq!(
        live_activity_counts(&mut conn),
        vec![(1, "Park".into(), 2), (2, "Beach".into(), 1)]
    );
}

/// The count the article found unchanged: soft-deleting Swim removes it from every place's
/// count through the views, and restoring it puts it back.
#[test]
fn a_soft_deleted_activity_leaves_every_count_and_a_restore_brings_it_back() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let counts = |conn: &mut PgConnection| -> Vec<i64> {
        live_activity_counts(conn)
            .into_iter()
            .map(|(_, _, n)| n)
            .collect()
    };
    assert_eq!(counts(&mut conn), vec![2, 1]);
    activities::table.soft_delete(&mut conn, 1).unwrap();
    assert_eq!(counts(&mut conn), vec![1, 0]);
    activities::table.restore(&mut conn, 1).unwrap();
    assert_eq!(counts(&mut conn), vec![2, 1]);
}

// 2. Upsert through a view ---------------------------------------------------------------------

/// The upsert pitfalls need the setup the article had: a plain unique index and a view over
/// the table. Kept inside the tests; the crate's schema never declares it.
fn naive_upsert_setup(conn: &mut PgConnection) {
    exec(
        conn,
        "CREATE TABLE naive_tags (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                                  name text NOT NULL CONSTRAINT naive_tags_name_key UNIQUE,
                                  note text, deleted_at timestamptz);
         CREATE VIEW active_naive_tags AS SELECT * FROM naive_tags WHERE deleted_at IS NULL;
         INSERT INTO naive_tags (name, note, deleted_at) VALUES ('old', 'deleted', now());",
    );
}

/// `ON CONFLICT (name) DO UPDATE` through the view, when the conflicting row is deleted.
/// PostgreSQL 15.18 and earlier minor releases update the hidden row and return it, and it
/// stays invisible; later ones (15.20 here) refuse: the conflicting row is not visible through
/// the view (55000). Either way the upsert a user meant did not happen.
#[test]
fn upsert_through_a_view_updates_a_hidden_row_or_is_refused() {
    let (_db, mut conn) = db();
    naive_upsert_setup(&mut conn);
    let outcome = crate::common::sql_outcome(
        &mut conn,
        "INSERT INTO active_naive_tags (name, note) VALUES ('old', 'new value')
         ON CONFLICT (name) DO UPDATE SET note = excluded.note",
    );
    match outcome {
        None => assert_eq!(
            text(&mut conn, "SELECT note FROM naive_tags WHERE name = 'old'").as_deref(),
            Some("new value"),
            "the hidden row was updated"
        ),
        Some((state, message)) => {
            assert_eq!(state, "55000");
            assert_eq!(
                message,
                r#"conflicting row is not visible through view "active_naive_tags""#
            );
            assert_eq!(
                text(&mut conn, "SELECT note FROM naive_tags WHERE name = 'old'").as_deref(),
                Some("deleted")
            );
        }
    }
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_naive_tags"),
        0,
        "no live row with the name"
    );
}

/// `ON CONFLICT DO NOTHING` through the view: nothing is inserted, and nothing says so.
#[test]
fn upsert_do_nothing_through_a_view_silently_inserts_nothing() {
    let (_db, mut conn) = db();
    naive_upsert_setup(&mut conn);
    exec(
        &mut conn,
        "INSERT INTO active_naive_tags (name) VALUES ('old') ON CONFLICT DO NOTHING",
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_naive_tags"),
        0
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM naive_tags"), 1);
}

/// `ON CONFLICT ON CONSTRAINT` names a constraint of the table; the view has none.
#[test]
fn on_conflict_on_constraint_through_a_view_fails() {
    let (_db, mut conn) = db();
    naive_upsert_setup(&mut conn);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO active_naive_tags (name) VALUES ('x') ON CONFLICT ON CONSTRAINT naive_tags_name_key DO NOTHING",
    );
    assert_eq!(state, "42704");
    assert_eq!(
        message,
        r#"constraint "naive_tags_name_key" for table "active_naive_tags" does not exist"#
    );
}

/// A view with an INSTEAD OF INSERT trigger (as every writable join view needs) takes no
/// conflict target at all: 42P10.
#[test]
fn on_conflict_columns_on_a_view_with_an_insert_trigger_fails() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO active_place_activities (place_id, activity_id) VALUES (1, 1)
         ON CONFLICT (place_id, activity_id) DO NOTHING",
    );
    assert_eq!(state, "42P10");
    assert_eq!(
        message,
        "there is no unique or exclusion constraint matching the ON CONFLICT specification"
    );
}

/// Bare `ON CONFLICT DO NOTHING` on a view whose trigger inserts plainly: accepted, and then
/// the trigger's own INSERT raises 23505 anyway.
#[test]
fn bare_on_conflict_do_nothing_on_a_trigger_view_still_raises_23505() {
    let (_db, mut conn) = db();
    naive_upsert_setup(&mut conn);
    exec(
        &mut conn,
        "CREATE VIEW naive_tag_writer AS SELECT * FROM naive_tags;
         CREATE FUNCTION naive_tag_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO naive_tags (name) VALUES (NEW.name); RETURN NEW; END $$;
         CREATE TRIGGER naive_tag_insert INSTEAD OF INSERT ON naive_tag_writer
             FOR EACH ROW EXECUTE FUNCTION naive_tag_insert();",
    );
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO naive_tag_writer (name) VALUES ('old') ON CONFLICT DO NOTHING",
    );
    assert_eq!(state, "23505");
    assert!(message.contains("naive_tags_name_key"), "{message}");
}

/// Resolution: upsert on the base table against the partial unique index
/// (`.on_conflict(name).filter_target(deleted_at.is_null())`). A name held only by a deleted
/// row gets a new live row; a name held by a live row updates that row.
#[test]
fn upsert_on_the_base_table_targets_the_partial_index() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    activities::table.soft_delete(&mut conn, 2).unwrap();
    let upsert = |conn: &mut PgConnection, name: &str, kind: &str| -> ActivityRecord {
        diesel::insert_into(activities::table)
            .values(&NewActivity {
                name,
                kind: Some(kind),
            })
            .on_conflict(activities::name)
            .filter_target(activities::deleted_at.is_null())
            .do_update()
            .set(activities::kind.eq(diesel::upsert::excluded(activities::kind)))
            .returning(ActivityRecord::as_returning())
            .get_result(conn)
            .unwrap()
    };
    let run = upsert(&mut conn, "Run", "trail");
    assert_ne!(run.id, 2, "a new live row; the deleted one is left alone");
    assert_eq!(
        text(&mut conn, "SELECT kind FROM activities WHERE id = 2"),
        None
    );
    let swim = upsert(&mut conn, "Swim", "pool");
    assert_eq!((swim.id, swim.kind.as_deref()), (1, Some("pool")));
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_activities"),
        2
    );
}

/// Resolution, when "bring the deleted one back" is what is meant: insert-or-revive.
#[test]
fn insert_or_revive_brings_back_the_deleted_row_holding_the_key() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    activities::table.soft_delete(&mut conn, 2).unwrap();
    let run = activities::table
        .insert_or_revive(
            &mut conn,
            NewActivity {
                name: "Run",
                kind: Some("trail"),
            },
        )
        .unwrap();
    assert_eq!((run.id, run.deleted_at), (2, None));
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM activities WHERE name = 'Run'"
        ),
        1
    );
}

// 3. Unique keys held by deleted rows ----------------------------------------------------------

/// With a plain unique index, a deleted row still holds its key: a new row with that key
/// fails with 23505, although no read shows the holder.
#[test]
fn a_plain_unique_index_lets_a_deleted_row_hold_its_key() {
    let (_db, mut conn) = db();
    naive_upsert_setup(&mut conn);
    let (state, message) = sql_error(&mut conn, "INSERT INTO naive_tags (name) VALUES ('old')");
    assert_eq!(state, "23505");
    assert_eq!(
        message,
        r#"duplicate key value violates unique constraint "naive_tags_name_key""#
    );
}

/// With softview's partial index the key is free once its holder is deleted; restoring the
/// old row then is a typed conflict naming the key, and changes nothing.
#[test]
fn a_partial_unique_index_frees_the_key_and_restore_reports_the_conflict() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    activities::table.soft_delete(&mut conn, 1).unwrap();
    exec(
        &mut conn,
        "INSERT INTO activities (id, name) VALUES (9, 'Swim')",
    );
    match activities::table.restore(&mut conn, 1) {
        Err(Error::UniqueConflict {
            constraint, detail, ..
        }) => {
            assert_eq!(constraint, "activities_name_live");
            assert_eq!(detail, "Key (name)=(Swim) already exists.");
        }
        other => panic!("expected UniqueConflict, got {other:?}"),
    }
    assert!(
        activities::table
            .find_any(&mut conn, 1)
            .unwrap()
            .deleted_at
            .is_some()
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_activities WHERE name = 'Swim'"
        ),
        1
    );
}

// 4. Frozen view columns: tests/refresh.rs --------------------------------------------------------

// 5. Join views are not auto-updatable ---------------------------------------------------------

/// A link view written as a join has more than one table in FROM: PostgreSQL cannot write
/// through it without triggers.
#[test]
fn writing_to_a_join_view_without_triggers_fails() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE VIEW naive_links AS
         SELECT l.* FROM place_activities l
         JOIN active_places p ON p.id = l.place_id
         JOIN active_activities a ON a.id = l.activity_id
         WHERE l.deleted_at IS NULL",
    );
    let (state, message) = sql_error(
        &mut conn,
        "INSERT INTO naive_links (place_id, activity_id) VALUES (2, 2)",
    );
    assert_eq!(state, "55000");
    assert_eq!(message, r#"cannot insert into view "naive_links""#);
}

/// A trigger that writes without checking the parents lets a link to a deleted parent in:
/// the row exists and no read can see it.
#[test]
fn a_naive_link_trigger_makes_invisible_rows() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE VIEW naive_links AS
         SELECT l.* FROM place_activities l
         JOIN active_places p ON p.id = l.place_id
         JOIN active_activities a ON a.id = l.activity_id
         WHERE l.deleted_at IS NULL;
         CREATE FUNCTION naive_link_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO place_activities (place_id, activity_id) VALUES (NEW.place_id, NEW.activity_id);
               RETURN NEW; END $$;
         CREATE TRIGGER naive_link_insert INSTEAD OF INSERT ON naive_links
             FOR EACH ROW EXECUTE FUNCTION naive_link_insert();
         DELETE FROM active_activities WHERE id = 2;
         INSERT INTO naive_links (place_id, activity_id) VALUES (2, 2);",
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM place_activities WHERE place_id = 2 AND activity_id = 2"
        ),
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM naive_links WHERE place_id = 2 AND activity_id = 2"
        ),
        0
    );
}

// 6. CHECK OPTION ------------------------------------------------------------------------------

/// `WITH CHECK OPTION` refuses any write whose result the view would not show, and a soft
/// delete is exactly such a write: 44000.
#[test]
fn check_option_makes_soft_delete_through_the_view_fail() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE VIEW checked_places AS SELECT * FROM places WHERE deleted_at IS NULL WITH CHECK OPTION",
    );
    let (state, message) = sql_error(
        &mut conn,
        "UPDATE checked_places SET deleted_at = now() WHERE id = 1",
    );
    assert_eq!(state, "44000");
    assert_eq!(
        message,
        r#"new row violates check option for view "checked_places""#
    );
}

/// softview's views have no check option: a soft delete through UPDATE or DELETE works.
#[test]
fn soft_delete_through_softviews_views_works_by_update_and_by_delete() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE active_places SET deleted_at = now() WHERE id = 1",
    );
    let deleted = diesel::delete(active_places::table.filter(active_places::id.eq(2)))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM places WHERE deleted_at IS NOT NULL"
        ),
        2
    );
}

// 7. Row-level security through views --------------------------------------------------------

fn row_level_security_setup(conn: &mut PgConnection, role: &str) {
    exec(
        conn,
        &format!(
            "INSERT INTO places (name) VALUES ('Public'), ('Secret');
             ALTER TABLE places ENABLE ROW LEVEL SECURITY;
             CREATE POLICY hide_secret ON places USING (name <> 'Secret');
             CREATE VIEW owner_rights_places AS SELECT * FROM places WHERE deleted_at IS NULL;
             CREATE ROLE {role};
             GRANT SELECT ON places, owner_rights_places, active_places TO {role};"
        ),
    );
}

/// A view runs with its owner's rights unless it is `security_invoker`: a reader the policy
/// should stop sees the hidden row through it.
#[test]
fn a_view_with_owner_rights_bypasses_row_level_security() {
    let (_db, mut conn) = db();
    row_level_security_setup(&mut conn, "softview_rls_reader_a");
    exec(&mut conn, "SET ROLE softview_rls_reader_a");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM places"),
        1,
        "the policy applies to the table"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM owner_rights_places"),
        2,
        "and not through the view"
    );
    exec(
        &mut conn,
        "RESET ROLE; DROP OWNED BY softview_rls_reader_a; DROP ROLE softview_rls_reader_a",
    );
}

/// softview's views are `security_invoker`: the reader's policy applies through them.
#[test]
fn softviews_views_respect_row_level_security() {
    let (_db, mut conn) = db();
    row_level_security_setup(&mut conn, "softview_rls_reader_b");
    exec(&mut conn, "SET ROLE softview_rls_reader_b");
    assert_eq!(
        text(&mut conn, "SELECT string_agg(name, ',') FROM active_places").as_deref(),
        Some("Public")
    );
    exec(
        &mut conn,
        "RESET ROLE; DROP OWNED BY softview_rls_reader_b; DROP ROLE softview_rls_reader_b",
    );
}

// 8. Counts and joins over base tables --------------------------------------------------------

/// Counting links on the base link table counts links to deleted places and activities.
#[test]
fn counting_on_the_base_link_table_counts_links_to_deleted_parents() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    places::table.soft_delete(&mut conn, 1).unwrap();
    let links: i64 = place_activities::table
        .filter(place_activities::deleted_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(links, 3, "the link rows are live; their place is not");
}

/// The same count through the link view counts only links a user can reach.
#[test]
fn counting_through_the_views_counts_only_live_links() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    places::table.soft_delete(&mut conn, 1).unwrap();
    let links: i64 = active_place_activities::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(links, 1);
    let names: Vec<String> = active_place_activities::table
        .inner_join(active_activities::table)
        .select(active_activities::name)
        .load(&mut conn)
        .unwrap();
    assert_eq!(names, vec!["Swim".to_owned()]);
}

// 9. A deleted parent of a live child ----------------------------------------------------------

/// Admin code reads base tables with record models: the live review and its deleted place.
#[test]
fn admin_code_sees_a_live_child_with_its_deleted_parent() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    places::table.soft_delete(&mut conn, 1).unwrap();
    let (review, place): (ReviewRecord, PlaceRecord) = reviews::table
        .inner_join(places::table)
        .filter(reviews::id.eq(1))
        .select((ReviewRecord::as_select(), PlaceRecord::as_select()))
        .first(&mut conn)
        .unwrap();
    assert!(review.deleted_at.is_none());
    assert!(place.deleted_at.is_some());
}

/// Live code reads the views: neither the review nor its place is there.
#[test]
fn live_code_sees_neither_the_child_nor_its_deleted_parent() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    places::table.soft_delete(&mut conn, 1).unwrap();
    let reviews: Vec<(i64, String)> = active_reviews::table
        .inner_join(active_places::table)
        .select((active_reviews::id, active_places::name))
        .load(&mut conn)
        .unwrap();
    assert_eq!(reviews, vec![(2, "Beach".to_owned())]);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_reviews WHERE id = 1"
        ),
        0
    );
}

/// Pitfall 11: a table whose rows have parents in the same table. Toolkit revision 3 followed
/// foreign keys to other tables only: the subtasks of a deleted task stayed in the view, and
/// one could be added under it.
#[test]
fn revision_3_leaves_the_subtasks_of_a_deleted_task_live() {
    let database = softview_devdb::test_database(&crate::common::EMPTY).expect("test database");
    let mut conn = database.connect().expect("connect");
    exec(
        &mut conn,
        include_str!("../fixtures/toolkit_revision_3.sql"),
    );
    exec(
        &mut conn,
        "CREATE TABLE tasks (id int PRIMARY KEY, parent_id int REFERENCES tasks, deleted_at timestamptz);
         SELECT softview.enable('tasks');
         INSERT INTO tasks VALUES (1, NULL, NULL), (2, 1, NULL), (3, 2, NULL);
         DELETE FROM active_tasks WHERE id = 1;
         INSERT INTO active_tasks (id, parent_id) VALUES (4, 1);",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM active_tasks"
        )
        .as_deref(),
        Some("2,3,4"),
        "the deleted task's subtree is live, and grew"
    );
}

/// Pitfall 12: ON DELETE SET NULL. Toolkit revision 3 archived the deleted folder but not what
/// its delete did to the files that referred to it: restoring the folder left them detached.
#[test]
fn revision_3_restores_a_folder_without_the_files_its_delete_detached() {
    let database = softview_devdb::test_database(&crate::common::EMPTY).expect("test database");
    let mut conn = database.connect().expect("connect");
    exec(
        &mut conn,
        include_str!("../fixtures/toolkit_revision_3.sql"),
    );
    exec(
        &mut conn,
        "CREATE TABLE folders (id int PRIMARY KEY, deleted_at timestamptz);
         CREATE TABLE files (id int PRIMARY KEY, folder_id int REFERENCES folders ON DELETE SET NULL);
         SELECT softview.enable('folders');
         INSERT INTO folders VALUES (1, NULL);
         INSERT INTO files VALUES (1, 1), (2, 1);
         DELETE FROM folders WHERE id = 1;",
    );
    exec(
        &mut conn,
        "SELECT softview.restore_transaction(transaction_id) FROM softview.deleted_records",
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s:%s', id, folder_id), ',' ORDER BY id) FROM files"
        )
        .as_deref(),
        Some("1:,2:"),
        "the folder is back, its files are not in it"
    );
}
