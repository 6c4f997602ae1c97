//! `cargo run`: the narrated tour, run as a new user runs it.

#[test]
fn cargo_run_tours_the_example_on_a_throwaway_server() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_softview-example"))
        .env_remove("DATABASE_URL")
        .output()
        .expect("the tour runs");
    let (code, stdout, stderr) = (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
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
