//! Live updates: one connection listens on channel `softview` and every open page hears of each
//! change through server-sent events, as a hint to re-read what it shows.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use softview::lifecycle::events::{Listener, Operation};
use tokio::sync::broadcast;

use crate::Shared;

/// What a page is told: a table changed, or (after the console lost its listening connection,
/// or a page fell behind) that anything may have.
#[derive(Debug, Clone)]
pub enum Change {
    Table {
        table: String,
        operation: Operation,
    },
    Resync,
    /// The console is shutting down: streams end, so that it need not wait for pages to leave.
    Closing,
}

impl Change {
    fn to_json(&self) -> String {
        match self {
            Change::Table { table, operation } => serde_json::json!({
                "table": table,
                "operation": format!("{operation:?}"),
            })
            .to_string(),
            Change::Resync | Change::Closing => r#"{"resync":true}"#.to_owned(),
        }
    }
}

/// The listening thread's output, and what it remembers.
pub struct Hub {
    changes: broadcast::Sender<Change>,
    last_purges: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    stop: Arc<AtomicBool>,
}

/// Stops the listening thread and ends the event streams.
pub struct Stopper {
    stop: Arc<AtomicBool>,
    changes: broadcast::Sender<Change>,
}

impl Stopper {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.changes.send(Change::Closing);
    }
}

impl Hub {
    /// Starts the thread that listens on `database_url`. It reconnects after a lost connection,
    /// waiting 1, 2, 4 … at most 30 seconds, and then tells every page to re-read.
    pub fn start(database_url: String) -> Self {
        let (changes, _) = broadcast::channel(1024);
        let hub = Hub {
            changes,
            last_purges: Arc::default(),
            stop: Arc::default(),
        };
        let sender = hub.changes.clone();
        let last_purges = Arc::clone(&hub.last_purges);
        let stop = Arc::clone(&hub.stop);
        std::thread::Builder::new()
            .name("softview-console-listener".into())
            .spawn(move || listen(&database_url, &sender, &last_purges, &stop))
            .expect("a thread can be started");
        hub
    }

    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: Arc::clone(&self.stop),
            changes: self.changes.clone(),
        }
    }

    /// When this console last heard of a purge of `table`.
    pub fn last_purge(&self, table: &str) -> Option<DateTime<Utc>> {
        self.last_purges
            .lock()
            .expect("not poisoned")
            .get(table)
            .copied()
    }
}

fn listen(
    database_url: &str,
    sender: &broadcast::Sender<Change>,
    last_purges: &Mutex<HashMap<String, DateTime<Utc>>>,
    stop: &AtomicBool,
) {
    let mut wait = Duration::from_secs(1);
    let mut lost = false;
    while !stop.load(Ordering::SeqCst) {
        let mut listener = match Listener::connect(database_url) {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!(
                    "softview console: cannot listen for changes ({error}); retrying in {}s",
                    wait.as_secs()
                );
                sleep_unless_stopped(wait, stop);
                wait = (wait * 2).min(Duration::from_secs(30));
                lost = true;
                continue;
            }
        };
        if lost {
            eprintln!("softview console: listening for changes again");
            let _ = sender.send(Change::Resync);
        }
        wait = Duration::from_secs(1);
        while !stop.load(Ordering::SeqCst) {
            match listener.next(Duration::from_millis(200)) {
                Ok(Some(event)) => {
                    if event.operation == Operation::Purge {
                        last_purges
                            .lock()
                            .expect("not poisoned")
                            .insert(event.table.clone(), event.at);
                    }
                    // No page open is not an error.
                    let _ = sender.send(Change::Table {
                        table: event.table,
                        operation: event.operation,
                    });
                }
                Ok(None) => {}
                Err(_) if stop.load(Ordering::SeqCst) => return,
                Err(error) => {
                    eprintln!("softview console: lost the listening connection ({error})");
                    lost = true;
                    break;
                }
            }
        }
    }
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < wait && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}

/// `GET /events`: the changes, as server-sent events, from the moment the page connects. A page
/// that reconnects re-reads what it shows, since it may have missed some.
pub async fn events(
    State(console): State<Shared>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = console.live.changes.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let change = match receiver.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(_)) => Change::Resync,
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        if let Change::Closing = change {
            return None;
        }
        Some((Ok(SseEvent::default().data(change.to_json())), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
