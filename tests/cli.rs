//! The `softview` command, run as a user runs it.

mod common;

use common::{count, db, exec, run_softview, seed};

#[test]
fn with_no_arguments_the_tour_runs_on_a_throwaway_server() {
    let (code, stdout, stderr) = run_softview(None, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for expected in [
        "Started a throwaway PostgreSQL",
        "1 row deleted; no child or link row was written",
        "error: parent row is deleted: public.places (id)=(2); restore the parent first",
        "place_activities: 3 rows in the table, 1 in active_place_activities",
        "Old Mill  Climbing, Kayaking",
        "public.places            {\"id\":2}  ana@example.com  duplicate of Harbour",
        "4 rows restored",
        "event on channel softview: SoftDelete public.places {\"id\":2}",
        "event on channel softview: Restore public.places {\"id\":2}",
        "event on channel softview: Purge public.reviews {\"id\":1}",
        "archived as {\"id\":1} by \"softview purge\"",
        "activities_name_plain  unique across deleted rows",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn schema_prints_what_src_views_rs_holds() {
    let (code, stdout, stderr) = run_softview(None, &["schema"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, include_str!("../src/views.rs"));
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
    assert!(
        row.contains("public.reviews") && row.contains("ann") && row.contains("spam"),
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
            "error: bad key for places: expected 1 value(s) for (id), got 2",
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
            "error: table tags is not soft-deletable: it has no deleted_at or is not enabled",
        ),
        (
            vec!["delete", "tags", "1"],
            "error: table tags is not enabled for softview",
        ),
        (
            vec!["delete", "places", "1", "--reason", "r"],
            "error: --reason needs --actor",
        ),
    ] {
        let (code, _, err) = run_softview(Some(database.url()), &args);
        assert_eq!(code, Some(1), "{args:?}");
        assert_eq!(err.trim_end(), expected, "{args:?}");
    }
    assert_eq!(count(&mut conn, "SELECT count(*) FROM active_places"), 2);

    let (code, _, err) = run_softview(None, &["trash", "places"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("set DATABASE_URL"), "{err}");
}
