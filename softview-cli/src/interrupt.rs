//! Ctrl-C on a command that runs statements: the server cancels the running statement before
//! the command exits, so nothing it was doing commits afterwards (a DELETE waiting for a row
//! lock would otherwise go on, and commit, once the lock was released).

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::prelude::*;
use diesel::sql_types::Integer;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use softview::Result;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether SIGINT or SIGTERM arrived; an error then is the cancellation's.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Connects to `url` and, on the first SIGINT or SIGTERM, asks the server (on a connection of
/// its own) to cancel whatever that connection is running; the statement then fails with the
/// cancellation and the command ends with status 130. A second signal ends the command at once.
pub fn connect(url: &str) -> Result<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    let pid: i32 =
        diesel::select(diesel::dsl::sql::<Integer>("pg_backend_pid()")).get_result(&mut conn)?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| {
        softview::Error::InvalidArgument(format!("cannot watch for SIGINT and SIGTERM: {e}"))
    })?;
    let url = url.to_owned();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            let cancel = || -> std::result::Result<(), String> {
                let mut canceller = PgConnection::establish(&url).map_err(|e| e.to_string())?;
                diesel::sql_query("SELECT pg_cancel_backend($1)")
                    .bind::<Integer, _>(pid)
                    .execute(&mut canceller)
                    .map_err(|e| e.to_string())?;
                Ok(())
            };
            if let Err(error) = cancel() {
                eprintln!(
                    "error: interrupted, and the server could not be asked to cancel: {error}"
                );
                std::process::exit(130);
            }
        }
    });
    Ok(conn)
}
