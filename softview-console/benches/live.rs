//! How soon an open console page hears of a change: from the moment a soft delete is sent (its
//! commit included) to the event arriving on each connected `/events` stream, with 1 and 50
//! streams open, side by side in one run. `cargo bench -p softview-console --bench live`
//! (SOFTVIEW_BENCH_QUICK=1 for a smoke run).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use softview_devdb::{Template, test_database};

const ITEMS: Template = Template {
    name: "console_bench",
    setup: |conn| {
        conn.batch_execute(softview::toolkit::INSTALL_SQL)?;
        conn.batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, deleted_at timestamptz);
             INSERT INTO items VALUES (1, NULL);
             SELECT softview.enable('items');",
        )?;
        Ok(())
    },
};

/// Opens an event stream; each `data:` line it reads is reported with the time it arrived.
fn open_stream(
    address: std::net::SocketAddr,
    client: usize,
    arrivals: mpsc::Sender<(usize, Instant)>,
) {
    let mut stream = TcpStream::connect(address).expect("the console accepts");
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.starts_with("data: ") && arrivals.send((client, Instant::now())).is_err() {
                return;
            }
            line.clear();
        }
    });
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::var_os("SOFTVIEW_BENCH_QUICK").is_some();
    let rounds = if quick { 20 } else { 200 };
    let database = test_database(&ITEMS)?;
    let mut conn = database.connect()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let config = softview_console::Config::new(database.url(), address, "bench");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                softview_console::serve(listener, config, async move {
                    let _ = stopped.await;
                })
                .await
            })
    });
    while TcpStream::connect(address).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }

    println!(
        "soft delete or restore of one row, sent to the event reaching each open /events stream; {rounds} changes per row"
    );
    println!(
        "{:<10} {:>8} {:>11} {:>11} {:>11} {:>14}",
        "streams", "events", "median ms", "p99 ms", "max ms", "median vs 1"
    );
    let mut baseline = None;
    let mut toggle = false;
    for clients in [1usize, 50] {
        let (arrivals, arrived) = mpsc::channel();
        for client in 0..clients {
            open_stream(address, client, arrivals.clone());
        }
        let mut change = |conn: &mut diesel::PgConnection| {
            toggle = !toggle;
            conn.batch_execute(if toggle {
                "UPDATE items SET deleted_at = now() WHERE id = 1"
            } else {
                "UPDATE items SET deleted_at = NULL WHERE id = 1"
            })
        };
        // Until every stream hears a change: the streams and the listening connection are up.
        'warm: loop {
            change(&mut conn)?;
            let mut heard = vec![false; clients];
            let deadline = Instant::now() + Duration::from_millis(500);
            while let Ok((client, _)) =
                arrived.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                heard[client] = true;
                if heard.iter().all(|h| *h) {
                    break 'warm;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        while arrived.try_recv().is_ok() {}
        let mut latencies = Vec::with_capacity(rounds * clients);
        for round in 0..rounds {
            // Changes come at any moment, not just after the listener's last look (it polls
            // every 20 ms): a spread of waits between rounds.
            std::thread::sleep(Duration::from_millis((round as u64 * 7) % 23));
            let sent = Instant::now();
            change(&mut conn)?;
            for _ in 0..clients {
                let (_, at) = arrived
                    .recv_timeout(Duration::from_secs(5))
                    .expect("every stream hears the change within 5s");
                latencies.push((at - sent).as_secs_f64() * 1000.0);
            }
        }
        latencies.sort_by(f64::total_cmp);
        let median = percentile(&latencies, 0.5);
        let base = *baseline.get_or_insert(median);
        println!(
            "{clients:<10} {:>8} {median:>11.2} {:>11.2} {:>11.2} {:>13.2}x",
            latencies.len(),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            median / base
        );
    }
    let _ = stop.send(());
    drop(server);
    std::process::exit(0);
}
