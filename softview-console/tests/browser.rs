//! The console in a real browser: headless Chromium driven through WebDriver (chromedriver).
//! Deletes and undoes a row by clicking, watches a row deleted and then purged elsewhere change
//! without a reload, and saves a screenshot of each step under target/console-screenshots.
//!
//! Without chromedriver on PATH the test says so and passes, unless SOFTVIEW_BROWSER=required
//! (as `.ci/run` sets it after installing Debian's chromium and chromium-driver).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Console, exec};
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The state of row `id` on the open page (its first class: live, deleted or hidden), or None
/// when the row is not there.
async fn row_class(client: &Client, id: &str) -> Option<String> {
    let row = client.find(Locator::Id(id)).await.ok()?;
    let class = row.attr("class").await.ok().flatten()?;
    class.split_whitespace().next().map(str::to_owned)
}

/// Waits until `check` holds, up to 5 seconds (a change must show within one).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "waited 5s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn delete_undo_and_changes_from_elsewhere_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var("SOFTVIEW_BROWSER").as_deref() != Ok("required"),
            "SOFTVIEW_BROWSER=required but there is no chromedriver on PATH (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "skipped: no chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
        );
        return;
    };
    let console = Console::start();
    let conn = &mut console.conn();
    exec(
        conn,
        "SELECT softview.set_grace_period('shop.customers', interval '10 minutes')",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Driver(
        Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let base = format!("http://{}", console.address);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,760"]}),
        );
        let mut connected = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    connected = Some(client);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = connected.expect("a WebDriver session");
        let table = format!("{base}/tables/shop.customers");

        client.goto(&table).await.unwrap();
        assert_eq!(row_class(&client, "row-1").await.as_deref(), Some("live"));
        save(&client, "1-table").await;

        // Delete: the confirmation says what goes with the row, then the row is marked.
        client.find(Locator::Css("#row-1 a.delete")).await.unwrap().click().await.unwrap();
        let effects = client.find(Locator::Css("ul.effects")).await.unwrap().text().await.unwrap();
        assert!(effects.contains("2 rows hidden with it from shop.orders"), "{effects}");
        save(&client, "2-confirm-delete").await;
        client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        eventually("row 1 marked deleted", || async { row_class(&client, "row-1").await.as_deref() == Some("deleted") }).await;
        let countdown = client.find(Locator::Css("#row-1 time.countdown")).await.unwrap();
        eventually("the countdown to tick", || async {
            countdown.text().await.unwrap().starts_with("purged in 9m")
        })
        .await;
        save(&client, "3-deleted-with-countdown").await;

        // Undo.
        client.find(Locator::Css("#row-1 a.undo")).await.unwrap().click().await.unwrap();
        let effects = client.find(Locator::Css("ul.effects")).await.unwrap().text().await.unwrap();
        assert!(effects.contains("2 rows back with it in shop.orders"), "{effects}");
        client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        eventually("row 1 live again", || async { row_class(&client, "row-1").await.as_deref() == Some("live") }).await;
        save(&client, "4-undone").await;

        // Changes made elsewhere show without a reload: a marker set on this page survives.
        client.execute("window.notReloaded = true; return null;", vec![]).await.unwrap();
        eventually("the live stream to open", || async {
            client.find(Locator::Css("#live-status[data-state=open]")).await.is_ok()
        })
        .await;
        // The console's listening connection is up before the change is made.
        eventually("the console to listen", || async {
            common::number(
                &mut console.conn(),
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN softview'",
            ) > 0
        })
        .await;
        exec(conn, "UPDATE shop.customers SET deleted_at = now() WHERE id = 3");
        eventually("row 3 marked deleted", || async { row_class(&client, "row-3").await.as_deref() == Some("deleted") }).await;
        let name = client.find(Locator::Css("#row-3 .cell")).await.unwrap();
        assert_eq!(name.text().await.unwrap(), "3");
        let cells = client.find(Locator::Css("#row-3")).await.unwrap().text().await.unwrap();
        assert!(cells.contains("<script>alert(1)</script>"), "shown as text: {cells}");
        save(&client, "5-deleted-elsewhere").await;

        // The purge removes it: it leaves the page, and the archive page has it.
        exec(conn, "SELECT softview.purge_batch('shop.customers', 100, interval '0')");
        eventually("row 3 gone", || async { row_class(&client, "row-3").await.is_none() }).await;
        let still_here = client.execute("return window.notReloaded === true;", vec![]).await.unwrap();
        assert_eq!(still_here, serde_json::Value::Bool(true), "the page was not reloaded");
        save(&client, "6-purged").await;
        client.goto(&format!("{base}/archive")).await.unwrap();
        let archive = client.find(Locator::Css("main")).await.unwrap().text().await.unwrap();
        assert!(archive.contains("shop.customers") && archive.contains("(purge)"), "{archive}");
        save(&client, "7-archive").await;

        // Phone width.
        client.set_window_size(390, 844).await.unwrap();
        client.goto(&table).await.unwrap();
        save(&client, "8-phone").await;
        client.close().await.unwrap();
    });
}
