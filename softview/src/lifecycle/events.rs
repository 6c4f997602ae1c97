//! Live events: every soft delete, restore, hard delete and purge is announced with NOTIFY on
//! channel `softview`; a [`Listener`] turns them into typed [`Event`]s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Result};

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

/// One announced change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Schema-qualified, as `public.places`.
    pub table: String,
    /// The primary key, as `{"id": 7}`.
    pub key: serde_json::Value,
    /// What happened.
    pub operation: Operation,
    /// When the statement ran.
    pub at: DateTime<Utc>,
}

/// How often a waiting listener looks at its socket. Diesel's `notifications_iter` reads what
/// has arrived without sending a query; it does not block, so waiting means looking again.
const POLL: Duration = Duration::from_millis(20);

/// A dedicated connection listening on channel `softview`. Notifications arrive in commit
/// order, each transaction's in the order it sent them.
pub struct Listener {
    conn: PgConnection,
    pending: VecDeque<Event>,
}

impl Listener {
    /// Connects and listens; events of transactions that commit from now on arrive.
    pub fn connect(database_url: &str) -> Result<Self> {
        let mut conn = PgConnection::establish(database_url)?;
        diesel::sql_query("LISTEN softview").execute(&mut conn)?;
        Ok(Self {
            conn,
            pending: VecDeque::new(),
        })
    }

    /// The next event, waiting at most `timeout`; `None` when none came.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            for notification in self.conn.notifications_iter() {
                let notification = notification?;
                let event = serde_json::from_str(&notification.payload).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "unreadable event {:?}: {e}",
                        notification.payload
                    ))
                })?;
                self.pending.push_back(event);
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
}
