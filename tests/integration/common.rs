//! Helpers shared by the integration tests: a migrated database per test, and ways to read
//! what PostgreSQL answered.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use softview_devdb::{TestDatabase, test_database};

/// An empty database, for tests that install a toolkit of their own (an older revision, or
/// as a role of their own).
pub const EMPTY: softview_devdb::Template = softview_devdb::Template {
    name: "empty",
    setup: |_| Ok(()),
};

/// A fresh migrated database and a connection to it.
pub fn db() -> (TestDatabase, PgConnection) {
    let database = test_database(&softview_example::TEMPLATE).expect("test database");
    let conn = database.connect().expect("connect to test database");
    (database, conn)
}

pub fn exec(conn: &mut PgConnection, sql: &str) {
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
}

pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<BigInt>(&format!("({sql})")))
        .get_result(conn)
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
}

pub fn text(conn: &mut PgConnection, sql: &str) -> Option<String> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>(
        &format!("({sql})"),
    ))
    .get_result(conn)
    .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
}

pub fn truth(conn: &mut PgConnection, sql: &str) -> bool {
    diesel::select(diesel::dsl::sql::<Bool>(&format!("({sql})")))
        .get_result(conn)
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
}

/// The SQLSTATE and message PostgreSQL raises for `sql`, which must fail. The statement runs
/// in a subtransaction, so whatever it did is undone, as it is for the caller of a failed
/// statement.
pub fn sql_error(conn: &mut PgConnection, sql: &str) -> (String, String) {
    sql_outcome(conn, sql).unwrap_or_else(|| panic!("expected an error from: {sql}"))
}

/// What `sql` raised, if anything: its SQLSTATE and message. When it succeeds, its effects stay.
pub fn sql_outcome(conn: &mut PgConnection, sql: &str) -> Option<(String, String)> {
    exec(
        conn,
        "CREATE OR REPLACE FUNCTION pg_temp.error_of(statement text) RETURNS text[]
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE statement;
             RETURN NULL;
         EXCEPTION WHEN OTHERS THEN
             RETURN ARRAY[SQLSTATE, SQLERRM];
         END $$",
    );
    let answer: Option<Vec<String>> = diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Array<Text>>>(
            "pg_temp.error_of(",
        )
        .bind::<Text, _>(sql)
        .sql(")"),
    )
    .get_result(conn)
    .expect("error_of runs");
    answer.map(|pair| (pair[0].clone(), pair[1].clone()))
}

/// Places, activities and links: Park and Beach; Swim at both, Run at the Park; a review each.
pub fn seed(conn: &mut PgConnection) {
    exec(
        conn,
        "INSERT INTO places (id, name) VALUES (1, 'Park'), (2, 'Beach');
         INSERT INTO activities (id, name, kind) VALUES (1, 'Swim', 'water'), (2, 'Run', NULL);
         INSERT INTO place_activities (id, place_id, activity_id) VALUES (1, 1, 1), (2, 2, 1), (3, 1, 2);
         INSERT INTO reviews (id, place_id, rating, body) VALUES (1, 1, 5, 'green'), (2, 2, 4, 'sandy');
         SELECT setval(pg_get_serial_sequence(t, 'id'), 100)
         FROM unnest(ARRAY['places', 'activities', 'place_activities', 'reviews']) AS t;",
    );
}

/// A migrated database with tests/fixtures/catalog.sql loaded on top.
pub fn catalog() -> (TestDatabase, PgConnection) {
    let (database, mut conn) = db();
    exec(&mut conn, include_str!("../fixtures/catalog.sql"));
    (database, conn)
}

/// A digest of everything a softview call could change in the example database: the rows of
/// its tables, the archive, the catalog and settings, and the names of the objects in `public`.
/// Equal before and after a failed call means the call changed nothing.
pub fn fingerprint(conn: &mut PgConnection) -> String {
    text(
        conn,
        "SELECT md5(concat_ws('|',
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM places t),
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM activities t),
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM place_activities t),
             (SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM reviews t),
             (SELECT string_agg(to_jsonb(d)::text, ',' ORDER BY id) FROM softview.deleted_records d),
             (SELECT string_agg(to_jsonb(c)::text, ',' ORDER BY enable_order) FROM softview_internal.tables c),
             (SELECT to_jsonb(s)::text FROM softview_internal.settings s),
             (SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname)
              FROM pg_class WHERE relnamespace = 'public'::regnamespace)))",
    )
    .expect("a digest")
}
