//! `cargo run`: a narrated tour of soft delete through views, from Diesel, on the example
//! domain, in a database of its own on a throwaway PostgreSQL (or on the server
//! `DATABASE_URL` names).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use diesel::dsl::count_star;
use diesel::prelude::*;

use softview::lifecycle::events::Listener;
use softview::lifecycle::{archive, purge};
use softview::{Error, Lifecycle, as_actor};
use softview_devdb::Server;
use softview_example::schema::{activities, place_activities, places, reviews};
use softview_example::views::{active_activities, active_place_activities, active_places};
use softview_example::{
    NewActivity, NewPlace, NewPlaceActivity, NewReview, Place, PlaceRecord, Review,
};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let console = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("serve") => true,
        Some(other) => {
            eprintln!(
                "error: unknown argument {other:?}: `cargo run` runs the tour, `cargo run -- serve` opens the console"
            );
            return ExitCode::FAILURE;
        }
    };
    match Server::from_env().map_err(Into::into).and_then(|server| {
        if console {
            serve(&server)
        } else {
            run(&server)
        }
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the tour in a database of its own on `server`, dropped afterwards.
fn run(server: &Server) -> Result<()> {
    if server.is_throwaway() {
        println!(
            "Started a throwaway PostgreSQL (DATABASE_URL is unset); it goes away at the end."
        );
    } else {
        println!("Using the server DATABASE_URL names, in a database of the tour's own.");
    }
    let database = format!("softview_tour_{}", std::process::id());
    server.create_database(&database, None)?;
    let url = server.url(&database);
    let result = PgConnection::establish(&url)
        .map_err(Into::into)
        .and_then(|mut conn| narrate(&mut conn, &url));
    server.drop_database(&database)?;
    result
}

/// `cargo run -- serve`: the admin console on the example domain, with a few rows deleted,
/// short grace periods and a purge worker, so that countdowns run out and rows leave live.
fn serve(server: &Server) -> Result<()> {
    let database = format!("softview_console_{}", std::process::id());
    server.create_database(&database, None)?;
    let url = server.url(&database);
    let result = PgConnection::establish(&url)
        .map_err(Into::into)
        .and_then(|mut conn| seed(&mut conn))
        .and_then(|()| {
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let worker = {
                let (url, stop) = (url.clone(), std::sync::Arc::clone(&stop));
                std::thread::spawn(move || {
                    softview::lifecycle::worker::run(
                        &url,
                        &purge::PurgeOptions::default(),
                        std::time::Duration::from_secs(5),
                        &stop,
                        |_| {},
                        |_| {},
                    )
                })
            };
            println!(
                "The example domain, with rows deleted a while ago; a purge worker runs every 5s."
            );
            let listen = "127.0.0.1:7878".parse().expect("a socket address");
            let served =
                softview_console::run(softview_console::Config::new(&url, listen, "example admin"));
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = worker.join();
            served.map_err(Into::into)
        });
    server.drop_database(&database)?;
    result
}

/// The example domain with a little of everything: live and deleted rows, a row hidden with its
/// parent, text that looks like HTML, and grace periods of minutes.
fn seed(conn: &mut PgConnection) -> Result<()> {
    softview_example::run_migrations(conn)?;
    diesel::sql_query(
        "INSERT INTO places (name) SELECT name FROM unnest(ARRAY['Harbour', 'Old Mill', 'Lighthouse',
             'Boathouse', 'Quarry', 'Orchard', 'Watermill', 'Ferry landing']) AS name",
    )
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO activities (name, kind) VALUES ('Kayaking', 'water'), ('Climbing', 'rock'),
             ('Sailing', 'water'), ('Cider tasting', 'food')",
    )
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO place_activities (place_id, activity_id)
         SELECT p, a FROM generate_series(1, 8) AS p, generate_series(1, 4) AS a WHERE (p + a) % 2 = 0",
    )
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO reviews (place_id, rating, body) VALUES
             (1, 5, 'Calm water, friendly staff'), (1, 4, 'Busy at noon'), (2, 3, '<script>alert(\"not run\")</script> shows as text'),
             (3, 5, 'Best view on the coast'), (4, 2, 'Closed on Mondays'), (6, 4, 'Apples!')",
    )
    .execute(conn)?;
    purge::set_grace_period(conn, "places", Some(chrono::Duration::minutes(10)))?;
    purge::set_grace_period(conn, "reviews", Some(chrono::Duration::minutes(3)))?;
    diesel::sql_query(
        "UPDATE places SET deleted_at = now() - interval '2 minutes' WHERE name = 'Quarry'",
    )
    .execute(conn)?;
    diesel::sql_query("UPDATE reviews SET deleted_at = now() - interval '2 minutes' WHERE id = 5")
        .execute(conn)?;
    Ok(())
}

fn narrate(conn: &mut PgConnection, url: &str) -> Result<()> {
    step("Migrations install the toolkit (schema softview) and the example domain");
    for version in softview_example::run_migrations(conn)? {
        println!("    ran {version}");
    }
    // Another connection listens to channel `softview`, as an open page of an app would.
    let events = &mut Listener::connect(url)?;

    step("Rows are written to the base tables");
    let [harbour, mill]: [i64; 2] = diesel::insert_into(places::table)
        .values(&[NewPlace { name: "Harbour" }, NewPlace { name: "Old Mill" }])
        .returning(places::id)
        .get_results(conn)?
        .try_into()
        .expect("two places inserted");
    let [kayak, climb]: [i64; 2] = diesel::insert_into(activities::table)
        .values(&[
            NewActivity {
                name: "Kayaking",
                kind: Some("water"),
            },
            NewActivity {
                name: "Climbing",
                kind: Some("rock"),
            },
        ])
        .returning(activities::id)
        .get_results(conn)?
        .try_into()
        .expect("two activities inserted");
    // Links go through the link view: idempotent, and checked against deleted parents.
    diesel::insert_into(active_place_activities::table)
        .values(&[
            NewPlaceActivity {
                place_id: harbour,
                activity_id: kayak,
            },
            NewPlaceActivity {
                place_id: mill,
                activity_id: kayak,
            },
            NewPlaceActivity {
                place_id: mill,
                activity_id: climb,
            },
        ])
        .execute(conn)?;
    diesel::insert_into(reviews::table)
        .values(&[
            NewReview {
                place_id: harbour,
                rating: 5,
                body: "Calm water",
            },
            NewReview {
                place_id: mill,
                rating: 4,
                body: "Good holds",
            },
        ])
        .execute(conn)?;
    show_live(conn)?;

    step("Old Mill is deleted through its view: DELETE FROM active_places soft-deletes");
    let deleted =
        diesel::delete(active_places::table.filter(active_places::id.eq(mill))).execute(conn)?;
    println!("    {deleted} row deleted; no child or link row was written");
    show_event(events)?;
    show_live(conn)?;

    step("Linking Kayaking to the deleted Old Mill through the link view is refused");
    let refused = diesel::insert_into(active_place_activities::table)
        .values(NewPlaceActivity {
            place_id: mill,
            activity_id: kayak,
        })
        .execute(conn)
        .map_err(Error::from);
    match refused {
        Err(error @ Error::ParentDeleted { .. }) => println!("    error: {error}"),
        other => println!("    unexpected: {other:?}"),
    }

    step("The base tables still hold everything (what admin code reads)");
    let records: Vec<PlaceRecord> = places::table
        .select(PlaceRecord::as_select())
        .order(places::id)
        .load(conn)?;
    print_records(&records);
    let links: i64 = place_activities::table
        .select(count_star())
        .get_result(conn)?;
    let live_links: i64 = active_place_activities::table
        .select(count_star())
        .get_result(conn)?;
    println!(
        "    place_activities: {links} rows in the table, {live_links} in active_place_activities"
    );

    step("The trash: deleted rows, newest first, and when a purge will remove them");
    let trash = places::table.trash(conn)?;
    print_table(
        &["id", "name", "deleted_at", "purged after"],
        &trash
            .iter()
            .map(|t| {
                vec![
                    t.record.id.to_string(),
                    t.record.name.clone(),
                    t.record.deleted_at.map_or("-".into(), timestamp),
                    timestamp(t.purge_at),
                ]
            })
            .collect::<Vec<_>>(),
    );

    step("Undo: restoring Old Mill brings back exactly what it hid");
    places::table.restore(conn, mill)?;
    show_event(events)?;
    show_live(conn)?;

    step("A hard delete, by an admin with a reason: the rows go, the archive keeps them");
    as_actor(
        conn,
        "ana@example.com",
        Some("duplicate of Harbour"),
        |conn| places::table.hard_delete(conn, mill).map(drop),
    )?;
    let archived = archive::list(conn, None, 10)?;
    print_table(
        &["table", "key", "actor", "reason", "transaction"],
        &archived
            .iter()
            .map(|a| {
                vec![
                    a.table_name.clone(),
                    a.primary_key.to_string(),
                    a.actor.clone().unwrap_or_default(),
                    a.reason.clone().unwrap_or_default(),
                    a.transaction_id.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "    the foreign-key cascade took the reviews and links along, in the same transaction"
    );
    for _ in &archived {
        show_event(events)?;
    }

    step("Restoring that transaction from the archive puts all of it back, parents first");
    let restored = archive::restore_transaction(conn, archived[0].transaction_id)?;
    println!("    {restored} rows restored");
    show_live(conn)?;
    step("A purge after a short grace period: the review deleted a second ago goes for good");
    purge::set_grace_period(conn, "reviews", Some(chrono::Duration::seconds(1)))?;
    let review: i64 = reviews::table
        .filter(reviews::place_id.eq(harbour))
        .select(reviews::id)
        .first(conn)?;
    reviews::table.soft_delete(conn, review)?;
    show_event(events)?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let report = purge::purge(
        conn,
        &purge::PurgeOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )?;
    println!("    purged {} row(s)", report.rows());
    show_event(events)?;
    let entry = archive::list(conn, Some("public.reviews"), 1)?.remove(0);
    println!(
        "    archived as {} by {:?}: {}",
        entry.primary_key,
        entry.actor.unwrap_or_default(),
        entry.reason.unwrap_or_default()
    );

    step("The index check: which indexes deleted rows spoil (one made as a generator would)");
    diesel::sql_query("CREATE UNIQUE INDEX activities_name_plain ON activities (name)")
        .execute(conn)?;
    #[derive(QueryableByName)]
    struct IndexProblem {
        #[diesel(sql_type = diesel::sql_types::Text)]
        index_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        problem: String,
    }
    let problems: Vec<IndexProblem> =
        diesel::sql_query("SELECT index_name, problem FROM softview.index_check('activities')")
            .load(conn)?;
    print_table(
        &["index", "problem"],
        &problems
            .into_iter()
            .map(|p| vec![p.index_name, p.problem])
            .collect::<Vec<_>>(),
    );
    diesel::sql_query("DROP INDEX activities_name_plain").execute(conn)?;

    println!(
        "\nDone: every read above went through an active_* view; no query filtered deleted_at."
    );
    println!(
        "To see it in the browser (the trash with undo, purge countdowns, live updates): cargo run -- serve"
    );
    Ok(())
}

fn print_records(records: &[PlaceRecord]) {
    print_table(
        &["id", "name", "deleted_at"],
        &records
            .iter()
            .map(|p| {
                vec![
                    p.id.to_string(),
                    p.name.clone(),
                    p.deleted_at.map_or("-".into(), timestamp),
                ]
            })
            .collect::<Vec<_>>(),
    );
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%F %T UTC").to_string()
}

/// Prints the next event the listener received.
fn show_event(events: &mut Listener) -> Result<()> {
    match events.next(std::time::Duration::from_secs(5))? {
        Some(event) => println!(
            "    event on channel softview: {:?} {} {}",
            event.operation, event.table, event.key
        ),
        None => println!("    (no event arrived)"),
    }
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Places with their activities and reviews, as live code sees them.
fn show_live(conn: &mut PgConnection) -> Result<()> {
    let places: Vec<Place> = active_places::table
        .select(Place::as_select())
        .order(active_places::id)
        .load(conn)?;
    let mut rows = Vec::new();
    for place in &places {
        let activities: Vec<String> = active_place_activities::table
            .inner_join(active_activities::table)
            .filter(active_place_activities::place_id.eq(place.id))
            .select(active_activities::name)
            .order(active_activities::name)
            .load(conn)?;
        let reviews: Vec<Review> = Review::belonging_to(place)
            .select(Review::as_select())
            .load(conn)?;
        rows.push(vec![
            place.name.clone(),
            activities.join(", "),
            reviews
                .iter()
                .map(|r| format!("{}* {}", r.rating, r.body))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    print_table(
        &[
            "place",
            "activities (active_place_activities)",
            "reviews (active_reviews)",
        ],
        &rows,
    );
    Ok(())
}

/// Prints rows as an aligned table under its headers, indented for the narration.
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("    {}", padded.join("  ").trim_end());
    };
    render(&mut headers.iter().copied());
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    render(&mut rules.iter().map(String::as_str));
    for row in rows {
        render(&mut row.iter().map(String::as_str));
    }
    if rows.is_empty() {
        println!("    (no rows)");
    }
}
