//! The purge scheduled inside the database with pg_cron: `softview.schedule_purge` on a server
//! that runs pg_cron's jobs from this database, and what it says everywhere else.

use diesel::prelude::*;

use crate::common::{count, db, exec, sql_error, text};

#[test]
fn without_pg_cron_here_scheduling_says_where_and_what_to_run_instead() {
    let (_db, mut conn) = db();
    let conn = &mut conn;
    let (state, message) = sql_error(conn, "SELECT softview.schedule_purge('* * * * *', 500)");
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("42704", "pg_cron is not installed in this database")
    );
    // Where the server runs pg_cron from another database (the throwaway server does, from
    // `postgres`, when pg_cron is installed), the detail is the call to run there.
    let database = text(conn, "SELECT current_database()::text").unwrap();
    let cron_database = text(
        conn,
        "SELECT nullif(current_setting('cron.database_name', true), '')",
    );
    let Err(diesel::result::Error::DatabaseError(_, info)) =
        diesel::sql_query("SELECT softview.schedule_purge('* * * * *', 500)").execute(conn)
    else {
        panic!("schedule_purge succeeded without pg_cron");
    };
    assert_eq!(
        info.hint(),
        Some("Or run `softview worker` beside the database: it purges on an interval.")
    );
    let expected = match cron_database {
        Some(cron) => format!(
            "pg_cron runs its jobs from database {cron}. There, run: SELECT cron.schedule_in_database(\
             'softview purge {database}', '* * * * *', 'CALL softview.purge_due(500)', '{database}')"
        ),
        None => "The server does not load pg_cron (shared_preload_libraries).".to_owned(),
    };
    assert_eq!(info.details(), Some(expected.as_str()));
    let (state, message) = sql_error(conn, "SELECT softview.schedule_purge('* * * * *', 0)");
    assert_eq!(
        (state.as_str(), message.as_str()),
        ("22023", "a purge batch must hold at least one row, got 0")
    );
    assert!(!crate::common::truth(
        conn,
        "SELECT softview.unschedule_purge()"
    ));
    // The purge pass itself is a procedure anyone with the tables' rights can CALL.
    exec(
        conn,
        "INSERT INTO places (id, name, deleted_at) SELECT g, 'p' || g, now() - interval '40 days' FROM generate_series(1, 25) g;
         INSERT INTO reviews (place_id, rating, body) VALUES (1, 5, 'gone with its place');",
    );
    // A statement of its own: a procedure that commits cannot run inside a transaction block.
    exec(conn, "CALL softview.purge_due(10)");
    assert_eq!(count(conn, "SELECT count(*) FROM places"), 0);
    assert_eq!(
        count(
            conn,
            "SELECT count(*) FROM softview.deleted_records WHERE purged"
        ),
        25
    );
}

/// A server of its own that runs pg_cron's jobs from the test's database, when pg_cron is
/// installed beside the server binaries (Debian: postgresql-15-cron; `.ci/run` installs it).
#[test]
fn pg_cron_runs_the_scheduled_purge() {
    let search = softview_devdb::BinarySearch::from_env();
    let server = match softview_devdb::Server::start_throwaway_with_cron(&search, "softview_cron") {
        Ok(server) => server,
        Err(error) => {
            assert!(
                std::env::var("SOFTVIEW_PG_CRON").as_deref() != Ok("required"),
                "SOFTVIEW_PG_CRON=required: {error}"
            );
            eprintln!("skipped: {error}");
            return;
        }
    };
    server.create_database("softview_cron", None).unwrap();
    let mut conn = PgConnection::establish(&server.url("softview_cron")).unwrap();
    let conn = &mut conn;
    softview_example::run_migrations(conn).unwrap();
    exec(
        conn,
        "CREATE EXTENSION pg_cron;
         INSERT INTO places (id, name, deleted_at) VALUES (1, 'old', now() - interval '40 days'), (2, 'live', NULL);
         INSERT INTO reviews (place_id, rating, body) VALUES (1, 4, 'cascades');",
    );
    let job = count(conn, "SELECT softview.schedule_purge('* * * * *', 100)");
    // Scheduling again replaces the schedule: still one job.
    assert_eq!(
        count(conn, "SELECT softview.schedule_purge('* * * * *', 100)"),
        job
    );
    assert_eq!(
        text(conn, "SELECT command FROM cron.job").as_deref(),
        Some("CALL softview.purge_due(100)")
    );
    // pg_cron's schedules have a minute's resolution: the job runs at the next minute.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while count(conn, "SELECT count(*) FROM places") == 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduled purge did not run within 90 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(
        text(conn, "SELECT string_agg(name, ',') FROM places").as_deref(),
        Some("live")
    );
    assert_eq!(
        text(conn, "SELECT string_agg(format('%s %s', table_name, purged), ', ' ORDER BY table_name) FROM softview.deleted_records").as_deref(),
        Some("public.places t, public.reviews f")
    );
    assert_eq!(
        text(
            conn,
            "SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1"
        )
        .as_deref(),
        Some("succeeded")
    );
    assert!(crate::common::truth(
        conn,
        "SELECT softview.unschedule_purge()"
    ));
    assert_eq!(count(conn, "SELECT count(*) FROM cron.job"), 0);
}
