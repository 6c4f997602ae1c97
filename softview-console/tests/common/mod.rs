//! A console on an ephemeral port over a database of its own, and a small HTTP client that
//! shows exactly what goes over the wire (headers, cookies, status).
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use softview_console::Config;
use softview_devdb::{Template, TestDatabase, test_database};

/// A shop in a schema of its own, with a name that needs quoting: customers (unique live
/// names), their orders (cascade), order lines (dependent, no deleted_at), and gift cards that
/// refuse a customer's permanent delete.
pub const SHOP: Template = Template {
    name: "console_shop",
    setup: |conn| {
        conn.batch_execute(softview::toolkit::INSTALL_SQL)?;
        conn.batch_execute(
            r#"
            CREATE SCHEMA shop;
            CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text NOT NULL, deleted_at timestamptz);
            CREATE UNIQUE INDEX customers_name_live ON shop.customers (name) WHERE deleted_at IS NULL;
            CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES shop.customers ON DELETE CASCADE,
                                      note text, deleted_at timestamptz);
            CREATE INDEX ON shop.orders (customer_id);
            CREATE TABLE shop."order lines" (order_id bigint REFERENCES shop.orders ON DELETE CASCADE, line int,
                                             item text NOT NULL, PRIMARY KEY (order_id, line));
            CREATE TABLE shop.gift_cards (id bigint PRIMARY KEY, customer_id bigint REFERENCES shop.customers,
                                          deleted_at timestamptz);
            SELECT softview.enable('shop.customers');
            SELECT softview.enable('shop.orders');
            SELECT softview.enable_dependent('shop."order lines"');
            SELECT softview.enable('shop.gift_cards');
            INSERT INTO shop.customers VALUES (1, 'Ada', NULL), (2, 'Grace', NULL), (3, '<script>alert(1)</script>', NULL);
            INSERT INTO shop.orders VALUES (10, 1, 'first', NULL), (11, 1, 'second', NULL), (12, 2, 'third', NULL);
            INSERT INTO shop."order lines" VALUES (10, 1, 'tea'), (10, 2, 'cups'), (11, 1, 'kettle'), (12, 1, 'sugar');
            INSERT INTO shop.gift_cards VALUES (100, 2, NULL);
            "#,
        )?;
        Ok(())
    },
};

/// A running console; stopped when dropped.
pub struct Console {
    pub address: SocketAddr,
    pub db: TestDatabase,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), softview_console::Error>>>,
}

impl Console {
    pub fn start() -> Self {
        Self::start_with(|_, _| {})
    }

    /// Starts one after `adjust` has changed its configuration, given a connection to its
    /// database.
    pub fn start_with(adjust: impl FnOnce(&mut Config, &mut PgConnection)) -> Self {
        let db = test_database(&SHOP).expect("a test database");
        let mut config = Config::new(db.url(), "127.0.0.1:0".parse().unwrap(), "console tester");
        adjust(&mut config, &mut db.connect().expect("a connection"));
        let std_listener = std::net::TcpListener::bind(config.listen).expect("an ephemeral port");
        std_listener.set_nonblocking(true).unwrap();
        let address = std_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                softview_console::serve(listener, config, async move {
                    let _ = stopped.await;
                })
                .await
            })
        });
        let console = Console {
            address,
            db,
            stop: Some(stop),
            thread: Some(thread),
        };
        console.wait_until_up();
        console
    }

    fn wait_until_up(&self) {
        for _ in 0..200 {
            if let Some(thread) = &self.thread {
                assert!(!thread.is_finished(), "the console stopped while starting");
            }
            if TcpStream::connect(self.address).is_ok()
                && self.get("/assets/console.css").status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the console did not start");
    }

    pub fn conn(&self) -> PgConnection {
        self.db.connect().expect("a connection")
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], "")
    }

    /// A POST as the console's own pages send it: same origin.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let origin = format!("http://{}", self.address);
        self.request(
            "POST",
            path,
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
            &form_body(form),
        )
    }

    /// The form token the pages carry.
    pub fn form_token(&self, page: &str) -> String {
        let body = self.get(page).body;
        let start = body
            .find("name=\"csrf\" value=\"")
            .expect("a form on the page")
            + 19;
        body[start..start + 32].to_owned()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            request += &format!("Host: {}\r\n", self.address);
        }
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        if method == "POST" {
            request += &format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        request += "\r\n";
        request += body;
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }

    /// Opens `/events` and returns a reader positioned after the response headers.
    pub fn event_stream(&self, headers: &[(&str, &str)]) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!(
            "GET /events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
            self.address
        );
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "events answered {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                return reader;
            }
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The next `data:` line of an event stream, skipping keep-alives and chunk sizes.
pub fn next_event(reader: &mut BufReader<TcpStream>) -> String {
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .expect("an event within the read timeout");
        assert!(n > 0, "the event stream ended");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            return data.to_owned();
        }
    }
}

pub fn form_body(form: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out += &rest[..size];
        body = &rest[size + 2..];
    }
    out
}

/// A number the database holds, from one query.
pub fn number(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).expect(sql).n
}

/// Runs SQL, several statements at once.
pub fn exec(conn: &mut PgConnection, sql: &str) {
    conn.batch_execute(sql).expect(sql);
}
