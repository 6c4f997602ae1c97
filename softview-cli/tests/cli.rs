//! The `softview` command, run as a user runs it, on databases with the example domain.

#[allow(dead_code)] // the helpers of the root crate's integration tests; a few are used here
#[path = "../../tests/integration/common.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{count, db, exec, fingerprint, seed, text};
use diesel::prelude::*;

/// The `softview` command, on the database at `url`, or with DATABASE_URL unset.
fn softview_command(url: Option<&str>, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_softview"));
    command.args(args);
    match url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command
}

/// Runs `softview` to the end: (succeeded, stdout, stderr).
fn run_softview(url: Option<&str>, args: &[&str]) -> (Option<i32>, String, String) {
    let output = softview_command(url, args).output().expect("softview runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits until some session of this database has run `LISTEN <channel>`, so that a
/// notification sent next reaches it.
fn wait_for_listener(conn: &mut PgConnection, channel: &str) {
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
/// `n` places deleted `age` ago, ids from `first`.
fn deleted_places(conn: &mut PgConnection, first: i64, n: i64, age: &str) {
    exec(
        conn,
        &format!(
            "INSERT INTO places (id, name, deleted_at)
             SELECT g, 'place ' || g, now() - interval '{age}' FROM generate_series({first}, {}) g",
            first + n - 1
        ),
    );
}

#[test]
fn schema_prints_what_the_example_views_rs_holds() {
    let (database, _conn) = db();
    let (code, stdout, stderr) = run_softview(Some(database.url()), &["schema"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, include_str!("../../src/views.rs"));
}

#[test]
fn schema_names_the_schemas_it_was_told_to_skip() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE SCHEMA app;
         CREATE TABLE app.tasks (id bigint PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('app.tasks');",
    );
    let url = Some(database.url());
    let (code, stdout, stderr) = run_softview(url, &["schema", "--schema", "public"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "softview schema: skipped schemas with enabled tables: app"
    );
    assert!(!stdout.contains("pub mod app"), "{stdout}");
    let (_, stdout, stderr) = run_softview(url, &["schema"]);
    assert_eq!(stderr, "");
    assert!(stdout.contains("pub mod app {"), "{stdout}");
}

#[test]
fn errors_print_one_line_and_exit_non_zero() {
    let (code, _, stderr) = run_softview(
        None,
        &[
            "migrate",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let (code, _, stderr) = run_softview(None, &["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{stderr}"
    );
}

#[test]
fn the_admin_commands_delete_list_restore_and_archive() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let url = Some(database.url());

    let (code, out, _) = run_softview(url, &["delete", "places", "2"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("soft-deleted places 2: "), "{out}");
    let (code, out, _) = run_softview(url, &["trash", "places"]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines()
            .nth(2)
            .unwrap()
            .trim_start()
            .starts_with(r#"{"id":2}"#),
        "{out}"
    );
    let (code, _, _) = run_softview(url, &["restore", "places", "2"]);
    assert_eq!(code, Some(0));
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 2);

    let hard = [
        "delete", "reviews", "1", "--hard", "--actor", "ann", "--reason", "spam",
    ];
    let (code, _, err) = run_softview(url, &hard);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = run_softview(url, &["archive", "list"]);
    assert_eq!(code, Some(0));
    let row = out.lines().nth(2).unwrap();
    let role = text(&mut conn, "SELECT current_user::text").unwrap();
    assert!(
        out.lines().next().unwrap().contains("database role")
            && row.contains("public.reviews")
            && row.contains("ann")
            && row.contains(&format!(" {role} "))
            && row.contains("spam"),
        "{out}"
    );
    let id = row.split_whitespace().next().unwrap();
    let (code, _, err) = run_softview(url, &["archive", "restore", id]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews"), 2);

    exec(
        &mut conn,
        "UPDATE softview.deleted_records SET archived_at = now() - interval '9 days'",
    );
    let (code, out, _) = run_softview(url, &["archive", "prune", "--older-than", "1w"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "pruned 0 archived row(s) older than 1w");

    // This week's partition among them, and the default one last.
    let (code, out, err) = run_softview(url, &["archive", "partitions"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("partition") && lines[0].contains("rows (estimate)"),
        "{out}"
    );
    let this_week = text(
        &mut conn,
        "SELECT format('softview_internal.deleted_records_%s %s',
                       to_char(date_trunc('week', now() AT TIME ZONE 'UTC'), 'YYYYMMDD'),
                       to_char(date_trunc('week', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS UTC'))",
    )
    .unwrap();
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        lines.iter().any(|line| words(line).starts_with(&this_week)),
        "{out}"
    );
    assert!(
        words(lines.last().unwrap())
            .starts_with("softview_internal.deleted_records_default (default: any other time) 0"),
        "{out}"
    );
}

#[test]
fn admin_mistakes_get_one_line_and_a_non_zero_exit() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "CREATE TABLE tags (id int PRIMARY KEY)");
    for (args, expected) in [
        (
            vec!["restore", "places", "x"],
            "error: invalid input syntax for type bigint: \"x\"",
        ),
        (
            vec!["restore", "places", "1,2"],
            "error: invalid input syntax for type bigint: \"1,2\"",
        ),
        (
            vec!["restore", "places", "1"],
            "error: row is not deleted: public.places (id)=(1)",
        ),
        (
            vec!["delete", "places", "9"],
            "error: row not found: public.places (id)=(9)",
        ),
        (
            vec!["trash", "nosuch"],
            "error: relation \"nosuch\" does not exist",
        ),
        (
            vec!["trash", "tags"],
            "error: table is not soft-deletable: public.tags. softview.enable was not called for it.",
        ),
        (
            vec!["delete", "tags", "1"],
            "error: table is not enabled for softview: public.tags. softview.enable was not called for it.",
        ),
        (
            vec!["trash", "active_places"],
            "error: table is not soft-deletable: public.active_places. It is the view softview made for public.places: give the table.",
        ),
        (
            vec!["delete", "places_id_seq", "1"],
            "error: table is not enabled for softview: public.places_id_seq. It is a sequence, not a table.",
        ),
        (
            vec!["restore", "places_pkey", "1"],
            "error: table is not enabled for softview: public.places_pkey. It is an index, not a table.",
        ),
        (
            vec!["trash", "bad\"name"],
            "error: relation \"bad\"name\" does not exist",
        ),
        (vec!["trash", ""], "error: invalid name syntax"),
        (
            vec!["delete", "places", ""],
            "error: invalid input syntax for type bigint: \"\"",
        ),
        (
            vec!["delete", "places", "99999999999999999999"],
            "error: value \"99999999999999999999\" is out of range for type bigint",
        ),
        (
            vec!["delete", "places", "1", "2"],
            "error: bad key for public.places: expected 1 value(s) for (id), got 2",
        ),
        (
            vec!["archive", "list", "--table", "active_places"],
            "error: the archive holds rows of tables, and active_places is not one. It is the view softview made for public.places: give the table.",
        ),
        (
            vec!["archive", "restore", "999"],
            "error: row not found: softview.deleted_records (id)=(999)",
        ),
        (
            vec!["schema", "--schema", "nosuch"],
            "error: no enabled tables in schema(s) nosuch: the schemas with enabled tables are public",
        ),
        (
            vec![
                "--database-url",
                "mysql://root:secret@db/app",
                "trash",
                "places",
            ],
            "error: the database URL is not a PostgreSQL URL but a mysql:// one: write postgres://user@host/database (or libpq's host=… dbname=…)",
        ),
        (
            vec!["--database-url", "places.db", "trash", "places"],
            "error: the database URL is not a PostgreSQL URL: write postgres://user@host/database (or libpq's host=… dbname=…)",
        ),
        (
            vec!["archive", "restore", "--transaction", "42"],
            "error: nothing archived for transaction 42",
        ),
    ] {
        let before = fingerprint(&mut conn);
        let (code, out, err) = run_softview(Some(database.url()), &args);
        assert_eq!(code, Some(1), "{args:?}");
        assert_eq!(err.trim_end(), expected, "{args:?}");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(
            fingerprint(&mut conn),
            before,
            "{args:?} changed the database"
        );
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 2);

    let (code, _, err) = run_softview(None, &["trash", "places"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("set DATABASE_URL"), "{err}");
}

fn worker_process(url: &str) -> std::process::Child {
    softview_command(Some(url), &["worker", "--batch", "20", "--interval", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for_archive(conn: &mut PgConnection, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(conn, "SELECT count(*) FROM softview.deleted_records") < at_least {
        assert!(Instant::now() < deadline, "the worker archived nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A worker killed with SIGKILL in the middle of a purge loses nothing: each row is either
/// still in the table or in the archive, once; the next run finishes the job.
#[test]
fn a_worker_killed_mid_purge_loses_nothing() {
    let (database, mut conn) = db();
    const ROWS: i64 = 20_000;
    deleted_places(&mut conn, 1, ROWS, "40 days");
    let mut worker = worker_process(database.url());
    wait_for_archive(&mut conn, 100);
    Command::new("kill")
        .args(["-9", &worker.id().to_string()])
        .status()
        .unwrap();
    worker.wait().unwrap();
    // The killed client's backend can still commit the batch it was running: wait until it
    // has gone, then count the table and the archive in one snapshot.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &mut conn,
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(
            Instant::now() < deadline,
            "the killed worker's backend stays"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (left, archived): (i64, i64) = diesel::select((
        diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM places)"),
        diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM softview.deleted_records)",
        ),
    ))
    .get_result(&mut conn)
    .unwrap();
    assert!(left > 0, "killed before the end");
    assert_eq!(left + archived, ROWS);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT primary_key) FROM softview.deleted_records"
        ),
        archived
    );

    let (code, stdout, _) = run_softview(Some(database.url()), &["purge", "--batch", "5000"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.split(" in ").next().unwrap(),
        format!("purged {left} row(s) (public.places {left})")
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT primary_key) FROM softview.deleted_records"
        ),
        ROWS
    );
}

/// SIGTERM lets the current batch finish, then the worker exits 0.
#[test]
fn a_worker_stops_cleanly_on_sigterm() {
    let (database, mut conn) = db();
    deleted_places(&mut conn, 1, 20_000, "40 days");
    let worker = worker_process(database.url());
    wait_for_archive(&mut conn, 20);
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let output = worker.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("worker: stopped\n"));
    let left = count(&mut conn, "SELECT count(*) FROM places");
    let archived = count(&mut conn, "SELECT count(*) FROM softview.deleted_records");
    assert_eq!(left + archived, 20_000);
    assert_eq!(archived % 20, 0, "whole batches only");
}

/// A worker waiting out its interval starts a pass when woken.
#[test]
fn a_waiting_worker_wakes_when_notified() {
    let (database, mut conn) = db();
    let mut worker = worker_process(database.url());
    wait_for_listener(&mut conn, "softview_worker");
    deleted_places(&mut conn, 1, 10, "40 days");
    exec(&mut conn, "SELECT softview.wake_worker()");
    wait_for_archive(&mut conn, 10);
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(worker.wait().unwrap().success());
}

#[test]
fn purge_command_mistakes_get_one_line_and_a_non_zero_exit() {
    let (database, mut conn) = db();
    exec(&mut conn, "CREATE TABLE tags (id int PRIMARY KEY)");
    for (args, code, first_line) in [
        (
            vec!["purge", "--older-than=-5d"],
            2,
            "error: invalid value '-5d' for '--older-than <OLDER_THAN>': \"-5d\" is not an age: write a whole number of s (seconds), m (minutes), h, d or w, as 30d",
        ),
        (
            vec!["purge", "--batch", "0"],
            2,
            "error: invalid value '0' for '--batch <BATCH>': 0 is not in 1..=2147483647",
        ),
        (
            vec!["purge", "--older-than", "1.5d"],
            2,
            "error: invalid value '1.5d' for '--older-than <OLDER_THAN>': \"1.5d\" is not an age: write a whole number of s (seconds), m (minutes), h, d or w, as 30d",
        ),
        (
            vec!["worker", "--interval", "0s"],
            2,
            "error: invalid value '0s' for '--interval <INTERVAL>': \"0s\" is too short: the interval is at least 1s",
        ),
        (
            vec!["archive", "list", "--limit=-1"],
            2,
            "error: invalid value '-1' for '--limit <LIMIT>': -1 is not in 1..=100000",
        ),
        (
            vec!["delete", "places", "1", "--hard", "--actor", " "],
            2,
            "error: invalid value ' ' for '--actor <ACTOR>': must not be empty or blank",
        ),
        (
            vec!["delete", "places", "1", "--actor", "ann"],
            2,
            "error: the following required arguments were not provided:",
        ),
        (
            vec!["delete", "places", "1", "--hard", "--reason", "r"],
            2,
            "error: the following required arguments were not provided:",
        ),
        (
            vec!["worker", "--interval", "soon"],
            2,
            "error: invalid value 'soon' for '--interval <INTERVAL>': \"soon\" is not an age: write a whole number of s (seconds), m (minutes), h, d or w, as 30d",
        ),
        (
            vec!["purge", "--table", "nosuch"],
            1,
            "error: relation \"nosuch\" does not exist",
        ),
        (
            vec!["purge", "--table", "tags"],
            1,
            "error: table is not soft-deletable: public.tags. softview.enable was not called for it.",
        ),
        (
            vec!["purge", "--table", "active_places"],
            1,
            "error: table is not soft-deletable: public.active_places. It is the view softview made for public.places: give the table.",
        ),
        (
            vec!["purge", "--older-than", "400000w"],
            1,
            "error: invalid age to purge from: it must be at most 1000 years, got 2800000 days",
        ),
        (
            vec!["purge", "--older-than", "9999999999999999999d"],
            2,
            "error: invalid value '9999999999999999999d' for '--older-than <OLDER_THAN>': \"9999999999999999999d\" is not an age: write a whole number of s (seconds), m (minutes), h, d or w, as 30d",
        ),
    ] {
        let before = fingerprint(&mut conn);
        let (status, _, stderr) = run_softview(Some(database.url()), &args);
        assert_eq!(status, Some(code), "{args:?}");
        assert_eq!(stderr.lines().next().unwrap(), first_line, "{args:?}");
        assert_eq!(
            fingerprint(&mut conn),
            before,
            "{args:?} changed the database"
        );
    }
    let (_, stdout, _) = run_softview(
        Some(database.url()),
        &["purge", "--dry-run", "--older-than", "1d"],
    );
    assert_eq!(stdout, "dry run: would purge 0 row(s)\n");
}

#[test]
fn the_watch_command_prints_events_live() {
    use std::io::BufRead;
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut watch = softview_command(Some(database.url()), &["watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_listener(&mut conn, "softview");
    // A payload that is not an event is reported on stderr; watching goes on.
    exec(&mut conn, "NOTIFY softview, 'not an event'");
    exec(&mut conn, "DELETE FROM active_places WHERE id = 1");
    let mut lines = std::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let event = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("SoftDelete"))
        .expect("an event line");
    assert!(
        event.ends_with(r#"SoftDelete   public.places  {"id":1}"#),
        "{event}"
    );
    // A bulk delete is one line with its count and the transaction to read its rows by.
    exec(
        &mut conn,
        "INSERT INTO activities (id, name) SELECT g, 'a' || g FROM generate_series(10, 210) g;
         DELETE FROM activities WHERE id >= 10",
    );
    let bulk = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("public.activities"))
        .expect("a summary line");
    assert!(
        bulk.contains("HardDelete   public.activities  201 rows of transaction "),
        "{bulk}"
    );
    std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(watch.wait().unwrap().success(), "SIGINT ends watch with 0");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.starts_with("watch: ignored a payload that is not an event, from backend ")
            && stderr.contains(r#": "not an event" (expected ident at line 1 column 2)"#),
        "{stderr}"
    );
}

/// Output into a pipe whose reader has gone: before, the command committed, then panicked on
/// the write and exited 101. Now it ends as `cat` does, killed by SIGPIPE, with nothing on
/// stderr; the delete it made before printing is committed.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (database, mut conn) = db();
    seed(&mut conn);
    for args in [&["delete", "places", "2"][..], &["trash", "places"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = softview_command(Some(database.url()), args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            (
                output.status.signal(),
                String::from_utf8_lossy(&output.stderr).as_ref()
            ),
            (Some(libc::SIGPIPE), ""),
            "softview {args:?}"
        );
    }
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM places WHERE id = 2 AND deleted_at IS NOT NULL"
        ),
        1
    );
}

/// Ctrl-C on a delete that waits for a row lock. Before, the command exited at once and its
/// statement stayed on the server, deleting the row as soon as the lock was released. Now the
/// server cancels the statement first: exit 130, one line, and the row stays live.
#[test]
fn ctrl_c_cancels_the_statement_on_the_server() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut locker = database.connect().unwrap();
    exec(
        &mut locker,
        "BEGIN; SELECT 1 FROM places WHERE id = 1 FOR UPDATE",
    );
    let delete = softview_command(Some(database.url()), &["delete", "places", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while count(
        &mut conn,
        "SELECT count(*) FROM pg_locks WHERE NOT granted
           AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())",
    ) == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the delete never waited"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill")
        .args(["-INT", &delete.id().to_string()])
        .status()
        .unwrap();
    let output = delete.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "error: interrupted: the server canceled the statement, and nothing of it was committed"
    );
    exec(&mut locker, "ROLLBACK");
    // No statement of the command is left on the server to delete the row now.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE '%soft_delete_row%' AND pid <> pg_backend_pid()"
        ),
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_places WHERE id = 1"),
        1
    );
}

/// Before, restoring a review of a deleted place printed "restored" and nothing else, though the
/// review stayed out of `active_reviews`; now a second line says which parent hides it.
#[test]
fn restoring_a_row_whose_parent_is_deleted_says_it_stays_hidden() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE reviews SET deleted_at = now() WHERE id = 1;
         UPDATE places SET deleted_at = now() WHERE id = 1;",
    );
    let (code, out, _) = run_softview(Some(database.url()), &["restore", "reviews", "1"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.lines().nth(1),
        Some(
            "  it stays hidden while its parent public.places (id)=(1) is deleted or hidden: restore that too"
        )
    );
    let (code, out, _) = run_softview(Some(database.url()), &["restore", "places", "1"]);
    assert_eq!((code, out.lines().count()), (Some(0), 1), "{out}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM active_reviews WHERE id = 1"
        ),
        1
    );
}

/// Before, a second soft delete of a row also said "soft-deleted"; it keeps its first
/// deleted_at, and now says so.
#[test]
fn deleting_a_deleted_row_says_it_already_was() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let first = run_softview(Some(database.url()), &["delete", "places", "2"]).1;
    let second = run_softview(Some(database.url()), &["delete", "places", "2"]).1;
    assert!(first.starts_with("soft-deleted places 2: "), "{first}");
    assert!(
        second.starts_with("already soft-deleted places 2: "),
        "{second}"
    );
    assert_eq!(
        first.split_once(": ").map(|(_, row)| row),
        second.split_once(": ").map(|(_, row)| row),
        "the same row, deleted_at unchanged"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 1);
}

/// Before, a purge that failed on one table printed only the error and exited 1, although the
/// batches of other tables were committed and archived. Now it goes on with the other tables,
/// prints what it committed, names the table that failed, and exits 1.
#[test]
fn a_purge_that_fails_on_one_table_reports_what_it_committed() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "CREATE FUNCTION keep_activities() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'activities are kept'; END $$;
         CREATE TRIGGER keep BEFORE DELETE ON activities FOR EACH ROW EXECUTE FUNCTION keep_activities();
         UPDATE activities SET deleted_at = now() - interval '40 days' WHERE id = 2;
         UPDATE reviews SET deleted_at = now() - interval '40 days' WHERE id = 2;",
    );
    let (code, out, err) = run_softview(Some(database.url()), &["purge"]);
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with("purged 1 row(s) (public.reviews 1) in 1 batch(es)"),
        "{out}"
    );
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "purge of public.activities failed: activities are kept",
            "error: the purge of 1 table(s) failed; what the summary above counts is committed"
        ]
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        1
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM activities WHERE id = 2"),
        1
    );
}

/// Before, a database without the toolkit got "schema softview does not exist" (and `watch`
/// waited for events that could never come); now every command that needs the toolkit says
/// what to install, and exits 1.
#[test]
fn a_database_without_the_toolkit_gets_told_what_to_install() {
    let server = softview_devdb::test_server().unwrap();
    let name = format!("softview_cli_empty_{}", std::process::id());
    server.create_database(&name, None).unwrap();
    let url = server.url(&name);
    for args in [
        &["trash", "places"][..],
        &["delete", "places", "1"],
        &["purge"],
        &["watch"],
        &["worker"],
        &["archive", "list"],
        &["schema"],
    ] {
        let (code, _, err) = run_softview(Some(&url), args);
        assert_eq!(
            (code, err.trim_end()),
            (
                Some(1),
                "error: the softview toolkit is not installed: install it from a migration (`softview toolkit`)"
            ),
            "softview {args:?}"
        );
    }
    server.drop_database(&name).unwrap();
}

/// Keys are taken as written: a text key keeps its commas and spaces, a composite key takes one
/// argument per column (or one `a,b`), and the messages show the key as it was typed.
#[test]
fn keys_are_taken_as_written() {
    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE tags (name text PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('tags');
         INSERT INTO tags VALUES ('a,b'), (' padded '), ('padded');
         CREATE TABLE pairs (a int, b text, deleted_at timestamptz, PRIMARY KEY (a, b));
         SELECT softview.enable('pairs');
         INSERT INTO pairs VALUES (1, 'x,y'), (2, 'z');",
    );
    let url = Some(database.url());
    let (code, out, err) = run_softview(url, &["delete", "tags", "a,b"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("soft-deleted tags a,b: "), "{out}");
    let (code, out, _) = run_softview(url, &["delete", "tags", " padded "]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("soft-deleted tags  padded : "), "{out}");
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM active_tags"),
        1,
        "'padded' itself stays"
    );
    let (code, _, err) = run_softview(url, &["delete", "pairs", "1", "x,y"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run_softview(url, &["delete", "pairs", "2,z"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_pairs"), 0);
    let (code, out, _) = run_softview(url, &["restore", "pairs", "1", "x,y"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("restored pairs 1 x,y: "), "{out}");
    let (code, _, err) = run_softview(url, &["restore", "pairs", "1,x,y"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        "error: bad key for public.pairs: expected 2 value(s) for (a, b), got 3"
    );
}

#[test]
fn the_purge_summary_counts_the_rows_cascades_took() {
    let (database, mut conn) = db();
    seed(&mut conn);
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = now() - interval '2 days' WHERE id = 1",
    );
    let url = Some(database.url());
    let (code, out, _) = run_softview(url, &["purge", "--dry-run", "--older-than", "1d"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        "dry run: would purge 1 row(s) (public.places 1) and 3 row(s) their deletes cascaded to \
         (public.place_activities 2, public.reviews 1)\n"
    );
    let (code, out, _) = run_softview(url, &["purge", "--older-than", "1d"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with(
            "purged 1 row(s) (public.places 1) and 3 row(s) their deletes cascaded to \
             (public.place_activities 2, public.reviews 1) in 1 batch(es)"
        ),
        "{out}"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM softview.deleted_records"),
        4
    );
}

/// The backend of a session ended under it, as a server restart ends every session (both send
/// FATAL 57P01 and close the connection).
fn terminate_sessions(conn: &mut PgConnection, query: &str) {
    exec(
        conn,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query = '{query}'"
        ),
    );
}

#[test]
fn watch_and_worker_reconnect_after_losing_the_server() {
    use std::io::BufRead;
    let (database, mut conn) = db();
    seed(&mut conn);
    let mut watch = softview_command(Some(database.url()), &["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut worker = softview_command(Some(database.url()), &["worker", "--interval", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_listener(&mut conn, "softview");
    wait_for_listener(&mut conn, "softview_worker");
    terminate_sessions(&mut conn, "LISTEN softview");
    terminate_sessions(&mut conn, "LISTEN softview_worker");
    // Both come back on new sessions within their first wait of a second.
    std::thread::sleep(Duration::from_millis(200));
    wait_for_listener(&mut conn, "softview");
    wait_for_listener(&mut conn, "softview_worker");

    exec(&mut conn, "DELETE FROM active_places WHERE id = 1");
    let mut lines = std::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let event = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("SoftDelete"))
        .expect("an event line after the reconnect");
    assert!(event.ends_with(r#"public.places  {"id":1}"#), "{event}");
    deleted_places(&mut conn, 10, 3, "40 days");
    exec(&mut conn, "SELECT softview.wake_worker()");
    wait_for_archive(&mut conn, 3);

    for child in [&mut watch, &mut worker] {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    for (name, child) in [("watch", &mut watch), ("worker", &mut worker)] {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("{name}: lost the connection ("))
                && first.ends_with("); reconnecting in 1 s"),
            "{stderr}"
        );
    }
}

#[test]
fn dry_runs_say_what_an_action_would_do_and_change_nothing() {
    let (database, mut conn) = db();
    seed(&mut conn);
    let url = Some(database.url());
    let before = fingerprint(&mut conn);
    let (code, stdout, stderr) = run_softview(url, &["delete", "places", "1", "--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("dry run: the soft delete of places 1 would\n"),
        "{stdout}"
    );
    for line in [
        "public.places            1     soft-deleted",
        "public.place_activities  2     hidden from the views with it",
        "public.reviews           1     hidden from the views with it",
        "nothing was changed",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from\n{stdout}");
    }
    let (code, stdout, _) = run_softview(
        url,
        &[
            "delete",
            "places",
            "1",
            "--hard",
            "--dry-run",
            "--actor",
            "ops",
        ],
    );
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("public.place_activities  2     deleted for good"),
        "{stdout}"
    );
    exec(
        &mut conn,
        "CREATE TABLE visits (id int PRIMARY KEY, place_id bigint REFERENCES places)",
    );
    exec(&mut conn, "INSERT INTO visits VALUES (1, 2)");
    let before_refusal = fingerprint(&mut conn);
    let (code, stdout, stderr) =
        run_softview(url, &["delete", "places", "2", "--hard", "--dry-run"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: dry run: the delete for good would be refused: update or delete on table \"places\" violates \
         foreign key constraint \"visits_place_id_fkey\" on table \"visits\". Key (id)=(2) is still referenced from table \"visits\".\n"
    );
    assert_eq!(fingerprint(&mut conn), before_refusal);
    exec(
        &mut conn,
        "DROP TABLE visits; UPDATE places SET deleted_at = now() WHERE id = 1",
    );
    let (code, stdout, _) = run_softview(url, &["restore", "places", "1", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("public.reviews           1     back in the views with it"),
        "{stdout}"
    );
    let (code, _, stderr) = run_softview(url, &["restore", "places", "2", "--dry-run"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: row is not deleted: public.places (id)=(2)\n"
    );
    exec(
        &mut conn,
        "UPDATE places SET deleted_at = NULL WHERE id = 1",
    );
    assert_eq!(fingerprint(&mut conn), before);
}

/// `softview migration enable` writes one migration per statement; Diesel runs the concurrent
/// builds outside a transaction (they fail inside one), then the enable, and reverts them all.
#[test]
fn migration_enable_writes_migrations_diesel_runs_and_reverts() {
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};

    let (database, mut conn) = db();
    exec(
        &mut conn,
        "CREATE TABLE customers (id bigint PRIMARY KEY, deleted_at timestamptz);
         SELECT softview.enable('customers');
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers,
                              deleted_at timestamptz);
         CREATE INDEX ON orders (customer_id);
         INSERT INTO orders SELECT g, NULL FROM generate_series(1, 1000) g;",
    );
    let dir = std::env::temp_dir().join(format!("softview-migrations-{}", database.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, stdout, stderr) = run_softview(
        Some(database.url()),
        &[
            "migration",
            "enable",
            "orders",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let written: Vec<&str> = stdout.lines().collect();
    let names: Vec<String> = written
        .iter()
        .map(|path| path.split_once("_softview_").unwrap().1.to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "build_customers_live_keys",
            "build_orders_trash",
            "enable_orders"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(written[0]).join("metadata.toml")).unwrap(),
        "run_in_transaction = false\n"
    );
    assert!(
        !std::path::Path::new(written[2])
            .join("metadata.toml")
            .exists()
    );

    let migrations = FileBasedMigrations::from_path(&dir).unwrap();
    let applied = conn.run_pending_migrations(migrations.clone()).unwrap();
    assert_eq!(applied.len(), 3);
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
             WHERE relname IN ('orders_trash', 'active_orders', 'customers_live_keys')"
        )
        .as_deref(),
        Some("active_orders,customers_live_keys,orders_trash")
    );
    for _ in 0..3 {
        conn.revert_last_migration(migrations.clone()).unwrap();
    }
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM pg_class
             WHERE relname IN ('orders_trash', 'active_orders', 'customers_live_keys')"
        ),
        0
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let (code, _, stderr) = run_softview(
        Some(database.url()),
        &["migration", "enable", "orders", "--dir", "/no/such/dir"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: the migrations directory /no/such/dir does not exist: pass --dir\n"
    );
}
