//! The archive's partitions: created ahead, a gap filled by one partition, rows that found no
//! partition moved in, and pruning that drops whole partitions and deletes rows only where the
//! cut falls. now() cannot be moved back, so spans before this week are made here by hand, as
//! earlier calls of softview.add_archive_partitions would have left them. Each test runs in
//! one transaction, so that now() does not cross midnight between two statements.

use softview::lifecycle::archive;

use crate::common::{count, db, exec, seed, sql_error, text};

/// The start of the current ISO week, UTC, as an SQL expression.
const WEEK: &str = "(date_trunc('week', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')";
/// The start of the current UTC day.
const DAY: &str = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')";

/// `rows` archived rows of a made-up table at `at` (an SQL expression), routed to whichever
/// partition takes them.
fn archive_rows(conn: &mut diesel::PgConnection, rows: i32, at: &str) {
    exec(
        conn,
        &format!(
            "INSERT INTO softview.deleted_records (table_name, primary_key, row_data, archived_at)
             SELECT 'gone', jsonb_build_object('id', g), jsonb_build_object('id', g), {at}
             FROM generate_series(1, {rows}) AS g"
        ),
    );
}

/// Drops every partition but the default one: the tests make their own history.
fn drop_dated_partitions(conn: &mut diesel::PgConnection) {
    exec(
        conn,
        "DO $$
         DECLARE p regclass;
         BEGIN
             FOR p IN SELECT partition FROM softview.archive_partitions WHERE archived_until IS NOT NULL LOOP
                 EXECUTE format('DROP TABLE %s', p);
             END LOOP;
         END $$",
    );
}

fn rows_in(conn: &mut diesel::PgConnection, partition: &str) -> i64 {
    count(conn, &format!("SELECT count(*) FROM {partition}"))
}

#[test]
fn pruning_drops_whole_partitions_and_deletes_rows_only_where_the_cut_falls() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "BEGIN");
    // This week's and next week's, whenever the template database was made.
    drop_dated_partitions(&mut conn);
    archive::add_partitions(&mut conn).unwrap();
    for (name, from, until) in [("three", 21, 14), ("two", 14, 7), ("one", 7, 0)] {
        exec(
            &mut conn,
            &format!(
                "CREATE TABLE softview_internal.weeks_ago_{name} PARTITION OF softview.deleted_records
                 FOR VALUES FROM ({WEEK} - interval '{from} days') TO ({WEEK} - interval '{until} days')"
            ),
        );
    }
    archive_rows(&mut conn, 100, &format!("{WEEK} - interval '20 days'"));
    archive_rows(&mut conn, 50, &format!("{WEEK} - interval '13 days'"));
    archive_rows(&mut conn, 30, &format!("{WEEK} - interval '8 days'"));
    archive_rows(&mut conn, 20, &format!("{WEEK} - interval '2 days'"));
    // Older than every partition, and newer: the default partition takes both.
    archive_rows(&mut conn, 1, &format!("{WEEK} - interval '30 days'"));
    archive_rows(&mut conn, 1, "now() + interval '60 days'");
    // And rows the archive trigger writes now, into this week's partition.
    exec(&mut conn, "DELETE FROM reviews");
    let reviews = count(
        &mut conn,
        "SELECT count(*) FROM softview.deleted_records WHERE table_name = 'public.reviews'",
    );
    assert!(reviews > 0);
    assert_eq!(
        rows_in(&mut conn, "softview_internal.deleted_records_default"),
        2
    );

    // Reference changes recorded by the transactions of either side of the cut.
    exec(
        &mut conn,
        &format!(
            "INSERT INTO softview.changed_references (table_oid, table_name, primary_key, constraint_name,
                                                      old_values, new_values, recorded_at)
             SELECT 'reviews'::regclass, 'public.reviews', jsonb_build_object('id', n), 'c', '{{}}', '{{}}', at
             FROM (VALUES (1, {WEEK} - interval '13 days'), (2, {WEEK} - interval '8 days')) AS v(n, at)"
        ),
    );
    // The cut falls ten days before this week: inside the partition of two weeks ago.
    let pruned = count(
        &mut conn,
        &format!("SELECT softview.prune_archive(now() - ({WEEK} - interval '10 days'))"),
    );
    assert_eq!(pruned, 100 + 50 + 1);
    assert_eq!(
        text(
            &mut conn,
            "SELECT to_regclass('softview_internal.weeks_ago_three')::text"
        ),
        None,
        "the partition older than the cut is dropped whole"
    );
    assert_eq!(rows_in(&mut conn, "softview_internal.weeks_ago_two"), 30);
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(primary_key::text, ' ') FROM softview.changed_references"
        )
        .as_deref(),
        Some(r#"{"id": 2}"#),
        "the reference changes of forgotten transactions are forgotten too"
    );
    assert_eq!(rows_in(&mut conn, "softview_internal.weeks_ago_one"), 20);
    assert_eq!(
        rows_in(&mut conn, "softview_internal.deleted_records_default"),
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.deleted_records WHERE table_name = 'public.reviews'"
        ),
        reviews
    );

    // A cut before everything forgets nothing and drops nothing.
    assert_eq!(
        count(
            &mut conn,
            "SELECT softview.prune_archive(interval '1000 days')"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM softview.archive_partitions"
        ),
        5
    );
}

#[test]
fn adding_partitions_fills_a_gap_with_one_and_moves_rows_out_of_the_default_partition() {
    let (_db, mut conn) = db();
    seed(&mut conn);
    exec(&mut conn, "BEGIN");
    exec(
        &mut conn,
        "SELECT softview.set_archive_partition_width('day')",
    );
    // The partitions the install made go; the newest left ended nine days ago, as if no purge
    // had run since.
    drop_dated_partitions(&mut conn);
    exec(
        &mut conn,
        &format!(
            "CREATE TABLE softview_internal.ten_days_ago PARTITION OF softview.deleted_records
             FOR VALUES FROM ({DAY} - interval '10 days') TO ({DAY} - interval '9 days')"
        ),
    );
    archive_rows(&mut conn, 3, &format!("{DAY} - interval '5 days'"));
    exec(&mut conn, "DELETE FROM reviews");
    let default_rows = rows_in(&mut conn, "softview_internal.deleted_records_default");
    assert!(default_rows > 3);

    // One partition for the gap, then one a day from today until a week from now.
    assert_eq!(archive::add_partitions(&mut conn).unwrap(), 1 + 8);
    assert_eq!(
        rows_in(&mut conn, "softview_internal.deleted_records_default"),
        0
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT string_agg(format('%s %s', archived_until - archived_from,
                                      (SELECT count(*) FROM softview.deleted_records d
                                       WHERE d.archived_at >= p.archived_from AND d.archived_at < p.archived_until)),
                               ', ' ORDER BY archived_from)
             FROM softview.archive_partitions p WHERE archived_from IS NOT NULL",
        )
        .as_deref(),
        Some(
            format!(
                "1 day 0, 9 days 3, 1 day {}, 1 day 0, 1 day 0, 1 day 0, 1 day 0, 1 day 0, 1 day 0, 1 day 0",
                default_rows - 3
            )
            .as_str()
        )
    );
    assert_eq!(
        text(
            &mut conn,
            &format!(
                "SELECT (partition::text = 'softview_internal.deleted_records_' || to_char({DAY}, 'YYYYMMDD'))::text
                 FROM softview.archive_partitions WHERE archived_from = {DAY}"
            )
        )
        .as_deref(),
        Some("true"),
        "partitions are named after the day they start"
    );
    assert_eq!(archive::add_partitions(&mut conn).unwrap(), 0);
}

#[test]
fn the_partition_width_applies_to_new_partitions_and_bad_widths_are_refused() {
    let (_db, mut conn) = db();
    for (width, shown) in [("year", "'year'"), ("", "''")] {
        assert_eq!(
            sql_error(
                &mut conn,
                &format!("SELECT softview.set_archive_partition_width('{width}')")
            ),
            (
                "22023".to_owned(),
                format!(
                    "invalid setting: an archive partition spans a day, a week or a month, not {shown}"
                )
            )
        );
    }
    assert_eq!(
        sql_error(
            &mut conn,
            "SELECT softview.set_archive_partition_width(NULL)"
        )
        .1,
        "invalid setting: an archive partition spans a day, a week or a month, not NULL"
    );
    assert_eq!(
        text(
            &mut conn,
            "SELECT archive_partition_width FROM softview_internal.settings"
        )
        .as_deref(),
        Some("week")
    );

    // Existing partitions keep their week; the next one runs to the end of its month.
    exec(&mut conn, "BEGIN");
    archive::add_partitions(&mut conn).unwrap();
    exec(
        &mut conn,
        "SELECT softview.set_archive_partition_width('month')",
    );
    let newest_before = text(
        &mut conn,
        "SELECT max(archived_until)::text FROM softview.archive_partitions",
    );
    let next_week = text(
        &mut conn,
        &format!("SELECT to_char({WEEK} + interval '7 days', 'YYYYMMDD')"),
    )
    .unwrap();
    exec(
        &mut conn,
        &format!("DROP TABLE softview_internal.deleted_records_{next_week}"),
    );
    // One partition, or two when the month ends within the coming week.
    assert!((1..=2).contains(&archive::add_partitions(&mut conn).unwrap()));
    assert_eq!(
        text(
            &mut conn,
            &format!(
                "SELECT (archived_until AT TIME ZONE 'UTC')::text FROM softview.archive_partitions
                 WHERE archived_from = {WEEK} + interval '7 days'"
            )
        ),
        text(
            &mut conn,
            &format!(
                "SELECT (date_trunc('month', {WEEK} AT TIME ZONE 'UTC' + interval '7 days')
                         + interval '1 month')::text"
            )
        )
    );
    assert_ne!(
        newest_before,
        text(
            &mut conn,
            "SELECT max(archived_until)::text FROM softview.archive_partitions"
        )
    );
}

#[test]
fn a_second_caller_adds_nothing_while_another_transaction_is_adding() {
    let (database, mut conn) = db();
    // The template database may have been made in the week before.
    archive::add_partitions(&mut conn).unwrap();
    let next_week = text(
        &mut conn,
        &format!("SELECT to_char({WEEK} + interval '7 days', 'YYYYMMDD')"),
    )
    .unwrap();
    exec(
        &mut conn,
        &format!("DROP TABLE softview_internal.deleted_records_{next_week}"),
    );
    exec(&mut conn, "BEGIN");
    assert_eq!(archive::add_partitions(&mut conn).unwrap(), 1);
    let mut other = database.connect().unwrap();
    assert_eq!(archive::add_partitions(&mut other).unwrap(), 0);
    exec(&mut conn, "COMMIT");
    assert_eq!(archive::add_partitions(&mut other).unwrap(), 0);
    assert_eq!(
        count(
            &mut other,
            &format!(
                "SELECT count(*) FROM softview.archive_partitions
                 WHERE partition = 'softview_internal.deleted_records_{next_week}'::regclass"
            )
        ),
        1
    );
}

#[test]
fn adding_gives_up_after_a_second_behind_a_reader_of_the_default_partition() {
    let (database, mut conn) = db();
    archive::add_partitions(&mut conn).unwrap();
    let next_week = text(
        &mut conn,
        &format!("SELECT to_char({WEEK} + interval '7 days', 'YYYYMMDD')"),
    )
    .unwrap();
    exec(
        &mut conn,
        &format!("DROP TABLE softview_internal.deleted_records_{next_week}"),
    );
    // A reader of the whole archive holds the default partition until it commits.
    let mut reader = database.connect().unwrap();
    exec(
        &mut reader,
        "BEGIN; SELECT count(*) FROM softview.deleted_records",
    );
    assert_eq!(archive::add_partitions(&mut conn).unwrap(), 0);
    let exists =
        format!("SELECT count(*) FROM pg_class WHERE relname = 'deleted_records_{next_week}'");
    assert_eq!(count(&mut conn, &exists), 0, "nothing is left half made");
    exec(&mut reader, "COMMIT");
    assert_eq!(archive::add_partitions(&mut conn).unwrap(), 1);
    assert_eq!(count(&mut conn, &exists), 1);
}

#[test]
fn listing_reads_newest_first_across_every_window_it_looks_in() {
    let (_db, mut conn) = db();
    exec(&mut conn, "BEGIN");
    // Two rows of each age, oldest first: in a year-old, a month-old and a day-old window, an
    // hour-old one and now. The late transaction's row has the largest number but its
    // transaction began two days ago.
    for age in ["400 days", "40 days", "2 days", "2 hours", "0"] {
        archive_rows(&mut conn, 2, &format!("now() - interval '{age}'"));
    }
    archive_rows(&mut conn, 1, "now() - interval '2 days'");
    let expected: Vec<i64> = ids(
        &mut conn,
        "SELECT string_agg(id::text, ',' ORDER BY archived_at DESC, id DESC) FROM softview.deleted_records",
    );
    assert_eq!(expected.len(), 11);
    let listed = |conn: &mut diesel::PgConnection, limit| {
        archive::list(conn, None, limit)
            .unwrap()
            .into_iter()
            .map(|row| row.id)
            .collect::<Vec<_>>()
    };
    // Within the first window, across three, across all, and more than there are.
    assert_eq!(listed(&mut conn, 2), expected[..2]);
    assert_eq!(listed(&mut conn, 7), expected[..7]);
    assert_eq!(listed(&mut conn, 11), expected);
    assert_eq!(listed(&mut conn, 50), expected);
    // The late row comes after the newer rows though its number is the largest.
    let newest_number = *expected.iter().max().unwrap();
    assert_eq!(expected.iter().position(|&id| id == newest_number), Some(4));
    exec(&mut conn, "ROLLBACK");
}

fn ids(conn: &mut diesel::PgConnection, sql: &str) -> Vec<i64> {
    text(conn, sql)
        .unwrap()
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect()
}
