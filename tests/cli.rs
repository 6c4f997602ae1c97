//! The `softview` command, run as a user runs it.

use std::process::{Command, Output};

fn softview(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softview"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("softview runs")
}

#[test]
fn with_no_arguments_the_tour_runs_on_a_throwaway_server() {
    let output = softview(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "Started a throwaway PostgreSQL",
        "1 row deleted; no child or link row was written",
        "error: parent row is deleted: public.places (id)=(2); restore the parent first",
        "place_activities: 3 rows in the table, 1 in active_place_activities",
        "Old Mill  Climbing, Kayaking",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn schema_prints_what_src_views_rs_holds() {
    let output = softview(&["schema"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        include_str!("../src/views.rs")
    );
}

#[test]
fn errors_print_one_line_and_exit_non_zero() {
    let output = softview(&[
        "migrate",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let output = softview(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unrecognized subcommand 'frobnicate'")
    );
}
