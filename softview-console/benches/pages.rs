//! A table page costs the same on a table of a million rows as on one of a thousand: keyset
//! pages in primary-key order, side by side in one run. Then the tables page, before and after
//! the archive fills. `cargo bench -p softview-console
//! --bench pages` (SOFTVIEW_BENCH_QUICK=1 for a smoke run: 100,000 rows).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use softview_devdb::{Template, test_database};

const EMPTY: Template = Template {
    name: "console_pages_bench",
    setup: |conn| {
        conn.batch_execute(softview::toolkit::INSTALL_SQL)?;
        Ok(())
    },
};

fn get(address: std::net::SocketAddr, path: &str) -> (u16, usize) {
    let mut stream = TcpStream::connect(address).expect("the console accepts");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let status = String::from_utf8_lossy(&response[9..12])
        .parse()
        .unwrap_or(0);
    (status, response.len())
}

fn median_ms(address: std::net::SocketAddr, path: &str, runs: usize) -> f64 {
    let (status, _) = get(address, path);
    assert_eq!(status, 200, "{path}");
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            get(address, path);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let big: i64 = if quick { 100_000 } else { 1_000_000 };
    let runs = if quick { 10 } else { 50 };
    let database = test_database(&EMPTY)?;
    let mut conn = database.connect()?;
    // Two tables alike but for their size; one row in ten deleted.
    for (table, rows) in [("small", 1_000), ("big", big)] {
        conn.batch_execute(&format!(
            "CREATE TABLE {table} (id bigint PRIMARY KEY, name text NOT NULL, deleted_at timestamptz);
             INSERT INTO {table} SELECT g, 'row ' || g, CASE WHEN g % 10 = 0 THEN now() END
             FROM generate_series(1, {rows}) g;
             SELECT softview.enable('{table}');"
        ))?;
        conn.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let config = softview_console::Config::new(database.url(), address, "bench");
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                softview_console::serve(listener, config, std::future::pending()).await
            })
    });
    while TcpStream::connect(address).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("GET of a table page (50 rows), median of {runs}; small: 1,000 rows, big: {big} rows");
    println!(
        "{:<34} {:>10} {:>10} {:>10}",
        "page", "small ms", "big ms", "big/small"
    );
    let middle_small = 500;
    let middle_big = big / 2;
    for (label, small_path, big_path) in [
        (
            "first page, all rows".to_owned(),
            "/tables/public.small".to_owned(),
            "/tables/public.big".to_owned(),
        ),
        (
            "first page, live rows".to_owned(),
            "/tables/public.small?shown=live".to_owned(),
            "/tables/public.big?shown=live".to_owned(),
        ),
        (
            "first page, deleted rows".to_owned(),
            "/tables/public.small?shown=deleted".to_owned(),
            "/tables/public.big?shown=deleted".to_owned(),
        ),
        (
            "a page from the middle, all rows".to_owned(),
            format!("/tables/public.small?shown=all&after={middle_small}"),
            format!("/tables/public.big?shown=all&after={middle_big}"),
        ),
        (
            "the confirmation of a delete".to_owned(),
            format!(
                "/tables/public.small/confirm?action=soft_delete&key={}",
                middle_small + 1
            ),
            format!(
                "/tables/public.big/confirm?action=soft_delete&key={}",
                middle_big + 1
            ),
        ),
    ] {
        let small = median_ms(address, &small_path, runs);
        let big = median_ms(address, &big_path, runs);
        println!(
            "{label:<34} {small:>10.2} {big:>10.2} {:>9.2}x",
            big / small
        );
    }
    let tables = median_ms(address, "/", runs);
    println!("the tables page (both tables' counts; the big one's estimated): {tables:.2} ms");
    // The same page once the archive holds many entries, which exact counts would read whole.
    let archived = if quick { 300_000 } else { 3_000_000 };
    conn.batch_execute(&format!(
        "INSERT INTO softview.deleted_records (table_name, primary_key, row_data, table_oid)
         SELECT 'public.big', jsonb_build_object('id', g),
                jsonb_build_object('id', g, 'name', 'row ' || g, 'deleted_at', now()), 'big'::regclass
         FROM generate_series(1, {archived}) g;
         ANALYZE softview.deleted_records;"
    ))?;
    let tables = median_ms(address, "/", 5);
    println!("the tables page with {archived} archived rows (median of 5): {tables:.2} ms");
    std::process::exit(0);
}
