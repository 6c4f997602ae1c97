//! Helpers shared by the integration tests: a migrated database per test, and ways to read
//! what PostgreSQL answered.
#![allow(dead_code)] // each test binary uses its own subset

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use softview::devdb::{TestDatabase, test_database};

/// A fresh migrated database and a connection to it.
pub fn db() -> (TestDatabase, PgConnection) {
    let database = test_database().expect("test database");
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

/// The Pagila sample schema (PostgreSQL licence), from the `shared/` folder beside the
/// checkout, or from `PAGILA_SCHEMA`.
pub fn pagila_schema() -> String {
    let path = std::env::var("PAGILA_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/pagila/pagila-schema.sql"
        )
        .to_owned()
    });
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("Pagila schema at {path}: {e}; set PAGILA_SCHEMA to its path"))
}

/// The Pagila schema (no data), with deleted_at on actor, film and customer, enabled.
pub fn pagila() -> (TestDatabase, PgConnection) {
    let (database, conn) = db();
    drop(conn);
    // The dump empties search_path for its session: load it on a connection of its own.
    database
        .connect()
        .unwrap()
        .batch_execute(&pagila_schema())
        .expect("pagila schema loads");
    let mut conn = database.connect().unwrap();
    exec(
        &mut conn,
        "ALTER TABLE actor ADD COLUMN deleted_at timestamptz;
         ALTER TABLE film ADD COLUMN deleted_at timestamptz;
         ALTER TABLE customer ADD COLUMN deleted_at timestamptz;
         SELECT softview.enable('actor');
         SELECT softview.enable('film');
         SELECT softview.enable('customer');
         SELECT softview.enable_dependent('film_actor');
         INSERT INTO language (language_id, name) VALUES (1, 'English');
         INSERT INTO actor (actor_id, first_name, last_name)
         VALUES (1, 'PENELOPE', 'GUINESS'), (2, 'NICK', 'WAHLBERG');
         INSERT INTO film (film_id, title, language_id, fulltext)
         VALUES (1, 'ACADEMY DINOSAUR', 1, ''), (2, 'ACE GOLDFINGER', 1, '');",
    );
    (database, conn)
}

/// The `softview` command, on the database at `url`, or with DATABASE_URL unset.
pub fn softview_command(url: Option<&str>, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_softview"));
    command.args(args);
    match url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command
}

/// Runs `softview` to the end: (succeeded, stdout, stderr).
pub fn run_softview(url: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let output = softview_command(url, args).output().expect("softview runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits until some session of this database has run `LISTEN <channel>`, so that a
/// notification sent next reaches it.
pub fn wait_for_listener(conn: &mut PgConnection, channel: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query = 'LISTEN {channel}'"
    );
    while count(conn, &sql) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "nobody listens on {channel}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
