//! The console over HTTP, against a real server on an ephemeral port and a real database: every
//! page and action, errors in words, escaping, cross-site refusal, the host check and the token.

mod common;

use common::{Console, exec, form_body, next_event, number};

fn fingerprint(console: &Console) -> String {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct F {
        #[diesel(sql_type = diesel::sql_types::Text)]
        f: String,
    }
    diesel::sql_query(
        "SELECT concat_ws('|',
            (SELECT string_agg(format('%s:%s', id, deleted_at IS NULL), ',' ORDER BY id) FROM shop.customers),
            (SELECT string_agg(format('%s:%s', id, deleted_at IS NULL), ',' ORDER BY id) FROM shop.orders),
            (SELECT count(*) FROM shop.\"order lines\"),
            (SELECT count(*) FROM softview.deleted_records)) AS f",
    )
    .get_result::<F>(&mut console.conn())
    .unwrap()
    .f
}

#[test]
fn the_tables_page_counts_every_enabled_table() {
    let console = Console::start();
    exec(
        &mut console.conn(),
        "UPDATE shop.orders SET deleted_at = now() - interval '40 days' WHERE id = 11",
    );
    let page = console.get("/");
    assert_eq!(page.status, 200, "{}", page.body);
    for table in [
        "shop.customers",
        "shop.orders",
        "shop.\"order lines\"",
        "shop.gift_cards",
    ] {
        let escaped = table.replace('"', "&#34;");
        assert!(
            page.body.contains(&escaped),
            "{table} missing from {}",
            page.body
        );
    }
    // orders: 2 live, 1 deleted and due (the default grace period is 30 days).
    let orders = &page.body[page.body.find("shop.orders</a>").unwrap()..];
    let cells: Vec<&str> = orders
        .split("<td class=\"num")
        .skip(1)
        .take(3)
        .map(|c| c.split('>').nth(1).unwrap().split('<').next().unwrap())
        .collect();
    assert_eq!(cells, ["2", "1", "1"]);
    assert!(page.body.contains("No softview worker is connected"));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("script-src 'self'"))
    );
}

#[test]
fn a_table_page_shows_deleted_rows_in_place_escaped_and_paged_by_key() {
    let console = Console::start();
    let conn = &mut console.conn();
    exec(conn, "INSERT INTO shop.customers SELECT g, 'customer ' || g, NULL FROM generate_series(4, 120) g;
             UPDATE shop.customers SET deleted_at = now() WHERE id = 3");
    let page = console.get("/tables/shop.customers");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    assert!(!page.body.contains("<script>alert"));
    let row3 = &page.body[page.body.find("id=\"row-3\"").unwrap()..];
    let row3 = &row3[..row3.find("</tr>").unwrap()];
    assert!(row3.contains("class=\"deleted\""), "{row3}");
    assert!(row3.contains("<time class=\"countdown\""), "{row3}");
    assert!(row3.contains(">Undo<"), "{row3}");
    // Orders of the deleted customer are hidden, and say by what.
    exec(
        conn,
        "UPDATE shop.customers SET deleted_at = now() WHERE id = 1",
    );
    let orders = console.get("/tables/shop.orders");
    assert!(
        orders
            .body
            .contains("hidden while shop.customers (id)=(1) is deleted"),
        "{}",
        orders.body
    );
    // Keyset pages of 50: the next page starts after the last key shown.
    let rows = |body: &str| body.matches("<tr id=\"row-").count();
    assert_eq!(rows(&page.body), 50);
    let next = page
        .body
        .split("href=\"")
        .find(|h| h.contains("after="))
        .unwrap();
    let next = next.split('"').next().unwrap().replace("&#38;", "&");
    assert!(next.ends_with("after=50"), "{next}");
    let second = console.get(&next);
    assert!(
        second.body.contains("id=\"row-51\""),
        "{next}: {}",
        second.body
    );
    assert!(!second.body.contains("id=\"row-50\""));
    // Filters.
    let deleted = console.get("/tables/shop.customers?shown=deleted");
    assert_eq!(rows(&deleted.body), 2);
    let live = console.get("/tables/shop.customers?shown=live");
    assert!(!live.body.contains("id=\"row-3\""));
    let wrong = console.get("/tables/shop.customers?shown=gone");
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("unknown row filter"), "{}", wrong.body);
}

#[test]
fn pages_name_what_is_not_an_enabled_table() {
    let console = Console::start();
    let view = console.get("/tables/shop.active_customers");
    assert_eq!(view.status, 404);
    assert!(
        view.body
            .contains("It is the view softview made for shop.customers: give the table."),
        "{}",
        view.body
    );
    let missing = console.get("/tables/shop.nothing");
    assert!(missing.status >= 400);
    assert!(missing.body.contains("shop.nothing"), "{}", missing.body);
}

#[test]
fn the_confirmation_says_what_each_action_will_do() {
    let console = Console::start();
    let before = fingerprint(&console);
    let soft = console.get("/tables/shop.customers/confirm?action=soft_delete&key=1");
    assert_eq!(soft.status, 200);
    assert!(
        soft.body.contains("<b>1</b> row soft-deleted in"),
        "{}",
        soft.body
    );
    assert!(
        soft.body
            .contains("<b>2</b> rows hidden with it from <span class=\"table-name\">shop.orders")
    );
    assert!(soft.body.contains(
        "<b>3</b> rows hidden with it from <span class=\"table-name\">shop.&#34;order lines&#34;"
    ));
    let hard = console.get("/tables/shop.customers/confirm?action=hard_delete&key=1");
    assert!(
        hard.body
            .contains("<b>2</b> rows deleted for good from <span class=\"table-name\">shop.orders")
    );
    assert!(hard.body.contains("name=\"reason\""));
    let refused = console.get("/tables/shop.customers/confirm?action=hard_delete&key=2");
    assert!(
        refused.body.contains("This cannot be done"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("is still referenced from table &#34;gift_cards&#34;")
    );
    assert!(!refused.body.contains("type=\"submit\""));
    let live_undo = console.get("/tables/shop.customers/confirm?action=restore&key=1");
    assert_eq!(live_undo.status, 409);
    assert!(
        live_undo
            .body
            .contains("row is not deleted: shop.customers (id)=(1)"),
        "{}",
        live_undo.body
    );
    assert_eq!(fingerprint(&console), before, "a preview changes nothing");
}

#[test]
fn delete_undo_and_delete_permanently_do_what_they_said() {
    let console = Console::start();
    let token = console.form_token("/tables/shop.customers/confirm?action=soft_delete&key=1");
    let conn = &mut console.conn();
    let deleted = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "soft_delete"), ("key", "1")],
    );
    assert_eq!(deleted.status, 303);
    let location = deleted.header("location").unwrap();
    assert!(
        location.starts_with("/tables/shop.customers?"),
        "{location}"
    );
    assert!(
        console
            .get(location)
            .body
            .contains("Soft-deleted the row with key 1.")
    );
    assert_eq!(
        number(conn, "SELECT count(*) AS n FROM shop.active_orders"),
        1
    );
    let undone = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "restore"), ("key", "1")],
    );
    assert_eq!(undone.status, 303);
    assert_eq!(
        number(conn, "SELECT count(*) AS n FROM shop.active_orders"),
        3
    );
    // A permanent delete needs a reason; without one nothing happens.
    let unexplained = console.post(
        "/tables/shop.customers/act",
        &[
            ("csrf", &token),
            ("action", "hard_delete"),
            ("key", "1"),
            ("reason", "  "),
        ],
    );
    assert_eq!(unexplained.status, 422);
    assert!(unexplained.body.contains("Say why"));
    assert_eq!(number(conn, "SELECT count(*) AS n FROM shop.customers"), 3);
    let gone = console.post(
        "/tables/shop.customers/act",
        &[
            ("csrf", &token),
            ("action", "hard_delete"),
            ("key", "1"),
            ("reason", "asked to be forgotten"),
        ],
    );
    assert_eq!(gone.status, 303);
    assert_eq!(
        number(
            conn,
            "SELECT count(*) AS n FROM softview.deleted_records
             WHERE actor = 'console tester' AND reason = 'asked to be forgotten'"
        ),
        6,
        "the customer, 2 orders and 3 order lines, archived with who and why"
    );
}

#[test]
fn refusals_are_shown_in_words_and_change_nothing() {
    let console = Console::start();
    let token = console.form_token("/tables/shop.customers/confirm?action=soft_delete&key=1");
    let conn = &mut console.conn();
    exec(
        conn,
        "UPDATE shop.customers SET deleted_at = now() WHERE id = 1;
             INSERT INTO shop.customers VALUES (4, 'Ada', NULL)",
    );
    let before = fingerprint(&console);
    let taken = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "restore"), ("key", "1")],
    );
    assert_eq!(taken.status, 409);
    assert!(
        taken
            .body
            .contains("unique key already taken: Key (name)=(Ada) already exists."),
        "{}",
        taken.body
    );
    assert!(taken.body.contains("Nothing was changed."));
    let referenced = console.post(
        "/tables/shop.customers/act",
        &[
            ("csrf", &token),
            ("action", "hard_delete"),
            ("key", "2"),
            ("reason", "test"),
        ],
    );
    assert_eq!(referenced.status, 409);
    assert!(
        referenced
            .body
            .contains("row is still referenced from table gift_cards"),
        "{}",
        referenced.body
    );
    // Writing under a deleted parent, through the toolkit, is refused in words too.
    let bad_key = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "soft_delete"), ("key", "x")],
    );
    assert_eq!(bad_key.status, 500);
    assert!(
        bad_key
            .body
            .contains("invalid input syntax for type bigint"),
        "{}",
        bad_key.body
    );
    let missing = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "soft_delete"), ("key", "99")],
    );
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("row not found: shop.customers (id)=(99)")
    );
    assert_eq!(fingerprint(&console), before);
}

#[test]
fn cross_site_requests_and_foreign_hosts_are_refused() {
    let console = Console::start();
    let token = console.form_token("/tables/shop.customers/confirm?action=soft_delete&key=1");
    let before = fingerprint(&console);
    let form = form_body(&[("csrf", &token), ("action", "soft_delete"), ("key", "1")]);
    let host = console.address.to_string();
    for (headers, why) in [
        (vec![("Origin", "http://evil.example")], "another origin"),
        (vec![("Sec-Fetch-Site", "cross-site")], "a cross-site fetch"),
    ] {
        let refused = console.request("POST", "/tables/shop.customers/act", &headers, &form);
        assert_eq!(refused.status, 403, "{why}");
        assert!(
            refused.body.contains("came from another site"),
            "{why}: {}",
            refused.body
        );
    }
    let no_token = console.post(
        "/tables/shop.customers/act",
        &[("action", "soft_delete"), ("key", "1")],
    );
    assert_eq!(no_token.status, 403);
    assert!(no_token.body.contains("form token is missing or stale"));
    let stale = console.post(
        "/tables/shop.customers/act",
        &[
            ("csrf", "0123456789abcdef0123456789abcdef"),
            ("action", "soft_delete"),
            ("key", "1"),
        ],
    );
    assert_eq!(stale.status, 403);
    // A name of another site pointed at 127.0.0.1 (DNS rebinding) reads nothing.
    let rebound = console.request(
        "GET",
        "/tables/shop.customers",
        &[("Host", "evil.example:80")],
        "",
    );
    assert_eq!(rebound.status, 421);
    assert!(!rebound.body.contains("Ada"));
    let local = console.request(
        "GET",
        "/",
        &[("Host", &host.replace("127.0.0.1", "localhost"))],
        "",
    );
    assert_eq!(local.status, 200);
    assert_eq!(fingerprint(&console), before);
}

#[test]
fn away_from_loopback_the_console_needs_a_token() {
    let refused = softview_console::token_from(Some("short".into()), None);
    assert!(matches!(
        refused,
        Err(softview_console::Error::TokenTooShort)
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = softview_devdb::test_database(&common::SHOP).unwrap();
    let open = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let config = softview_console::Config::new(db.url(), "0.0.0.0:0".parse().unwrap(), "x");
        softview_console::serve(listener, config, async {}).await
    });
    let message = open.unwrap_err().to_string();
    assert!(
        message.starts_with("refusing to listen on 0.0.0.0:"),
        "{message}"
    );
    assert!(message.contains("SOFTVIEW_CONSOLE_TOKEN"));

    let secret = "a-token-of-some-length";
    let console = Console::start_with(|c, _| c.token = Some(secret.into()));
    assert_eq!(console.get("/").status, 401);
    let browser = console.request("GET", "/", &[("Accept", "text/html")], "");
    assert_eq!(browser.status, 303);
    assert_eq!(browser.header("location"), Some("/login"));
    assert_eq!(console.post("/login", &[("token", "wrong")]).status, 401);
    let login = console.post("/login", &[("token", secret)]);
    assert_eq!(login.status, 303);
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    assert_eq!(
        console
            .request("GET", "/", &[("Cookie", session)], "")
            .status,
        200
    );
    let bearer = format!("Bearer {secret}");
    assert_eq!(
        console
            .request("GET", "/archive", &[("Authorization", &bearer)], "")
            .status,
        200
    );
    assert_eq!(
        console
            .request("GET", "/archive", &[("Authorization", "Bearer nope")], "")
            .status,
        401
    );
}

/// The numeric cells of `table`'s line on the tables page: live, deleted, due, archived.
fn table_cells(body: &str, table: &str) -> Vec<String> {
    let line = &body[body.find(&format!("{table}</a>")).unwrap()..];
    let line = &line[..line.find("</tr>").unwrap()];
    line.split("<td class=\"num")
        .skip(1)
        .map(|cell| {
            let text = cell.split_once('>').unwrap().1;
            let text = text
                .strip_prefix("<a href=")
                .map_or(text, |link| link.split_once('>').unwrap().1);
            text.split('<').next().unwrap().to_owned()
        })
        .collect()
}

/// `cell` is an estimate ("≈ n") within 20% of `expected`.
fn assert_about(cell: &str, expected: f64) {
    let n: f64 = cell
        .strip_prefix("≈ ")
        .unwrap_or_else(|| panic!("{cell} is not an estimate"))
        .parse()
        .unwrap();
    assert!(
        (n - expected).abs() <= expected * 0.2,
        "{cell} is not about {expected}"
    );
}

#[test]
fn the_tables_page_estimates_the_counts_of_a_big_table_and_of_a_big_archive() {
    let console = Console::start();
    let conn = &mut console.conn();
    // Counting these would read every row: the page shows the planner's estimates instead.
    exec(
        conn,
        "CREATE TABLE shop.visits (id bigint PRIMARY KEY, deleted_at timestamptz);
         INSERT INTO shop.visits
         SELECT g, CASE WHEN g % 4 = 0 THEN now() - interval '40 days' END
         FROM generate_series(1, 250000) AS g;
         SELECT softview.enable('shop.visits');
         ANALYZE shop.visits",
    );
    let cells = table_cells(&console.get("/").body, "shop.visits");
    assert_about(&cells[0], 187_500.0);
    assert_about(&cells[1], 62_500.0);
    assert_about(&cells[2], 62_500.0);
    assert_eq!(cells[3], "0", "a small archive is counted");
    exec(
        conn,
        "INSERT INTO softview.deleted_records (table_name, primary_key, row_data, table_oid)
         SELECT 'shop.orders', jsonb_build_object('id', g), jsonb_build_object('id', g),
                'shop.orders'::regclass
         FROM generate_series(1, 250000) AS g;
         ANALYZE softview.deleted_records",
    );
    let body = console.get("/").body;
    assert_about(&table_cells(&body, "shop.orders")[3], 250_000.0);
    // The small tables' own counts stay exact.
    assert_eq!(table_cells(&body, "shop.orders")[..3], ["3", "0", "0"]);
}

#[test]
fn the_archive_page_lists_and_restores() {
    let console = Console::start();
    let conn = &mut console.conn();
    exec(conn, "BEGIN; SELECT set_config('softview.actor', 'ops', true), set_config('softview.reason', 'spam <b>', true);
             DELETE FROM shop.customers WHERE id = 1; COMMIT");
    let page = console.get("/archive");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<td>ops</td>"));
    assert!(page.body.contains("<td>spam &#60;b&#62;</td>"));
    assert_eq!(page.body.matches("<tr id=\"entry-").count(), 6);
    let only_orders = console.get("/archive?table=shop.orders");
    assert_eq!(only_orders.body.matches("<tr id=\"entry-").count(), 2);
    let token = console.form_token("/archive");
    let transaction = number(
        conn,
        "SELECT max(transaction_id) AS n FROM softview.deleted_records",
    );
    let restored = console.post(
        "/archive/restore",
        &[("csrf", &token), ("transaction", &transaction.to_string())],
    );
    assert_eq!(restored.status, 303);
    assert_eq!(
        number(conn, "SELECT count(*) AS n FROM shop.\"order lines\""),
        4
    );
    assert_eq!(
        number(conn, "SELECT count(*) AS n FROM softview.deleted_records"),
        0
    );
    let gone = console.post("/archive/restore", &[("csrf", &token), ("id", "12345")]);
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("row not found"), "{}", gone.body);
    let both = console.post(
        "/archive/restore",
        &[("csrf", &token), ("id", "1"), ("transaction", "2")],
    );
    assert_eq!(both.status, 400);
}

/// The entry numbers a page lists, in order, and its link to older entries.
fn archive_entries(body: &str) -> (Vec<i64>, Option<String>) {
    let ids = body
        .split("<tr id=\"entry-")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect();
    let older = body
        .split_once("<nav class=\"pages\"><a href=\"")
        .map(|(_, rest)| rest[..rest.find('"').unwrap()].replace("&amp;", "&"));
    (ids, older)
}

#[test]
fn the_archive_pages_through_every_entry_once_by_the_time_of_its_delete() {
    let console = Console::start();
    let conn = &mut console.conn();
    // Entries 61 to 120 were archived two days ago by a transaction that finished late, so
    // they have the larger numbers but come after entries 1 to 60.
    exec(
        conn,
        "INSERT INTO softview.deleted_records (table_name, primary_key, row_data, archived_at)
         SELECT 'shop.gone', jsonb_build_object('id', g), jsonb_build_object('id', g),
                now() - CASE WHEN g > 60 THEN interval '2 days' ELSE interval '0' END
         FROM generate_series(1, 120) AS g",
    );
    let expected: Vec<i64> = {
        use diesel::prelude::*;
        diesel::select(diesel::dsl::sql::<
            diesel::sql_types::Array<diesel::sql_types::BigInt>,
        >(
            "(SELECT array_agg(id ORDER BY (row_data ->> 'id')::int <= 60 DESC, id DESC)
              FROM softview.deleted_records)",
        ))
        .get_result(conn)
        .unwrap()
    };
    let mut listed = Vec::new();
    let mut page = Some("/archive".to_owned());
    while let Some(path) = page {
        let body = console.get(&path).body;
        let (ids, older) = archive_entries(&body);
        assert!(ids.len() <= 50, "{path}");
        listed.extend(ids);
        page = older;
    }
    assert_eq!(listed, expected);
    // Older than an entry that is gone: the entries numbered below it.
    let gone = expected[30];
    exec(
        conn,
        &format!("DELETE FROM softview.deleted_records WHERE id = {gone}"),
    );
    let (ids, _) = archive_entries(&console.get(&format!("/archive?before={gone}")).body);
    assert_eq!(ids, expected[31..60]);
}

#[test]
fn open_pages_hear_of_changes_made_anywhere() {
    let console = Console::start();
    let mut events = console.event_stream(&[]);
    let conn = &mut console.conn();
    // Once the console's listening connection is up, a change reaches the open stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while number(
        conn,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN softview'",
    ) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the console never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    exec(
        conn,
        "UPDATE shop.orders SET deleted_at = now() WHERE id = 12",
    );
    let heard = next_event(&mut events);
    assert!(heard.contains("\"table\":\"shop.orders\""), "{heard}");
    exec(conn, "DELETE FROM shop.gift_cards");
    let mut next = next_event(&mut events);
    while !next.contains("gift_cards") {
        next = next_event(&mut events);
    }
    assert!(next.contains("\"operation\":\"HardDelete\""), "{next}");
}

#[test]
fn the_console_can_do_no_more_than_its_role() {
    let mut role = String::new();
    let console = Console::start_with(|config, conn| {
        role = format!("{}_viewer", config.database_url.rsplit('/').next().unwrap());
        exec(
            conn,
            &format!(
                "CREATE ROLE {role} NOLOGIN;
                 GRANT USAGE ON SCHEMA shop, softview TO {role};
                 GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {role};
                 DELETE FROM shop.gift_cards;"
            ),
        );
        config.database_url = format!("{}?options=-c%20role%3D{role}", config.database_url);
    });
    let before = fingerprint(&console);
    let page = console.get("/");
    assert!(
        page.body.contains(&format!("as role <b>{role}</b>")),
        "{}",
        page.body
    );
    assert_eq!(console.get("/tables/shop.customers").status, 200);
    let confirm = console.get("/tables/shop.customers/confirm?action=soft_delete&key=1");
    assert!(
        confirm
            .body
            .contains("This cannot be done: permission denied for table customers."),
        "{}",
        confirm.body
    );
    // The archive page carries a form (the role may read the gift card's entry).
    let token = console.form_token("/archive");
    let refused = console.post(
        "/tables/shop.customers/act",
        &[("csrf", &token), ("action", "soft_delete"), ("key", "1")],
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused
            .body
            .contains("permission denied for table customers"),
        "{}",
        refused.body
    );
    assert_eq!(fingerprint(&console), before);
    // Roles belong to the server: dropped once the console's database is.
    drop(console);
    let server = softview_devdb::test_server().unwrap();
    let admin = &mut diesel::Connection::establish(server.admin_url()).unwrap();
    exec(admin, &format!("DROP ROLE {role}"));
}

#[test]
fn a_lost_listening_connection_comes_back_and_pages_re_read() {
    let console = Console::start();
    let mut events = console.event_stream(&[]);
    let conn = &mut console.conn();
    let listening = "SELECT count(*) AS n FROM pg_stat_activity
                     WHERE datname = current_database() AND query = 'LISTEN softview'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while number(conn, listening) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the console never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What a server restart does to the listening connection (FATAL 57P01).
    exec(
        conn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query = 'LISTEN softview'",
    );
    assert_eq!(
        next_event(&mut events),
        r#"{"resync":true}"#,
        "pages are told to re-read"
    );
    exec(
        conn,
        "UPDATE shop.orders SET deleted_at = now() WHERE id = 12",
    );
    let next = next_event(&mut events);
    assert!(next.contains("\"table\":\"shop.orders\""), "{next}");
}
