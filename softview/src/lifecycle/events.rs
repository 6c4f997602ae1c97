//! Live events: every soft delete, restore, hard delete and purge is announced with NOTIFY on
//! channel `softview`; a [`Listener`] turns them into typed [`Event`]s.
//!
//! Events are hints to re-read, not facts. PostgreSQL lets every role that can connect `LISTEN`
//! on the channel (payloads name tables and keys, whoever may read those rows) and `NOTIFY` on
//! it, so anyone can send a payload that looks like an event: each event says which backend
//! sent it, and a consumer acts on what it reads back from the database, with its own rights.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::error::Result;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `deleted_at` was set.
    SoftDelete,
    /// `deleted_at` was cleared.
    Restore,
    /// The row was deleted for good (and archived).
    HardDelete,
    /// A purge deleted the row for good (and archived it).
    Purge,
}

/// One announced change: of one row, or of [`Event::rows`] rows that one statement changed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Schema-qualified, as `public.places`.
    pub table: String,
    /// The primary key, as `{"id": 7}`; null for a table whose events leave keys out
    /// (`softview.set_event_keys`), for keys too long for a notification and for summaries:
    /// ask [`event_rows`] with [`Event::transaction`].
    pub key: serde_json::Value,
    /// How many rows the event is about: 1, or in a summary, sent once per operation by a
    /// statement that changed more rows than the setting `softview.max_row_events` (100 unless
    /// set): for hard deletes and purges all of them, none announced one by one; for soft
    /// deletes and restores the rows past the first `max_row_events`, which were.
    #[serde(default = "one_row")]
    pub rows: i64,
    /// What happened.
    pub operation: Operation,
    /// When the statement ran.
    pub at: DateTime<Utc>,
    /// The sending transaction (`deleted_records.transaction_id` for hard deletes); `None`
    /// from toolkits before revision 4.
    #[serde(default)]
    pub transaction: Option<i64>,
    /// The process id of the backend that sent it (`pg_backend_pid()` there).
    #[serde(skip)]
    pub sender_pid: i32,
}

fn one_row() -> i64 {
    1
}

/// A row an event's transaction changed, as [`event_rows`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct EventRow {
    /// The row's primary key, as `{"id": 7}`.
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub primary_key: serde_json::Value,
    /// `hard_delete` or `purge` (it is in the archive), `deleted` or `live` (its current
    /// version is that transaction's).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub state: String,
}

/// The rows of `table` that `transaction` changed, read with the caller's own rights
/// (`softview.event_rows`): what an event without a key is about. Reads the whole table for
/// soft deletes and restores.
pub fn event_rows(conn: &mut PgConnection, table: &str, transaction: i64) -> Result<Vec<EventRow>> {
    Ok(
        diesel::sql_query("SELECT * FROM softview.event_rows($1::regclass, $2)")
            .bind::<diesel::sql_types::Text, _>(table)
            .bind::<diesel::sql_types::BigInt, _>(transaction)
            .load(conn)?,
    )
}

/// A payload on channel `softview` that is not an event; the listener skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The payload as it came.
    pub payload: String,
    /// The process id of the backend that sent it.
    pub sender_pid: i32,
    /// Why it is not an event.
    pub reason: String,
}

/// How often a waiting listener looks at its socket. Diesel's `notifications_iter` reads what
/// has arrived without sending a query; it does not block, so waiting means looking again.
const POLL: Duration = Duration::from_millis(20);

/// A dedicated connection listening on channel `softview`. Notifications arrive in commit
/// order, each transaction's in the order it sent them.
pub struct Listener {
    conn: PgConnection,
    pending: VecDeque<Event>,
    unreadable: Vec<Unreadable>,
}

impl Listener {
    /// Connects and listens; events of transactions that commit from now on arrive.
    pub fn connect(database_url: &str) -> Result<Self> {
        let mut conn = PgConnection::establish(database_url)?;
        diesel::sql_query("LISTEN softview").execute(&mut conn)?;
        Ok(Self {
            conn,
            pending: VecDeque::new(),
            unreadable: Vec::new(),
        })
    }

    /// The next event, waiting at most `timeout`; `None` when none came. Payloads that are
    /// not events are skipped and kept for [`Listener::take_unreadable`].
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            let (arrived, failed) = super::arrived_notifications(&mut self.conn);
            if let (Some(error), true) = (failed, arrived.is_empty() && self.pending.is_empty()) {
                return Err(super::notification_error(&mut self.conn, error));
            }
            for notification in arrived {
                match serde_json::from_str::<Event>(&notification.payload) {
                    Ok(event) => self.pending.push_back(Event {
                        sender_pid: notification.process_id,
                        ..event
                    }),
                    Err(e) => self.unreadable.push(Unreadable {
                        payload: notification.payload,
                        sender_pid: notification.process_id,
                        reason: e.to_string(),
                    }),
                }
            }
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// The payloads skipped since the last call, oldest first.
    pub fn take_unreadable(&mut self) -> Vec<Unreadable> {
        std::mem::take(&mut self.unreadable)
    }
}
