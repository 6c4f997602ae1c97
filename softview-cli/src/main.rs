//! The `softview` command: the toolkit's SQL for a project's migrations, the Diesel
//! declarations of its views, and the lifecycle (trash, restore, delete, archive, purge, worker,
//! live events) on any database that has the toolkit. `DATABASE_URL` is read from the
//! environment or a `.env` file, as diesel_cli reads it.

mod admin;
mod cli;
mod interrupt;
mod jobs;
mod migrations;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    end_quietly_on_broken_pipes();
    // A missing .env is normal; a broken one is reported by the command that needs the URL.
    let _ = dotenvy::dotenv();
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if interrupt::interrupted() => {
            eprintln!(
                "error: interrupted: the server canceled the statement, and nothing of it was committed"
            );
            ExitCode::from(130)
        }
        Err(error) => {
            // One line, whatever the source: libpq's messages span several.
            let message = error.to_string();
            let lines: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", lines.join(" "));
            ExitCode::FAILURE
        }
    }
}

/// `softview trash places | head`: once the reader has gone, the next write ends the command
/// the way it ends `cat` (SIGPIPE, status 141 in a shell) instead of a panic. Rust ignores
/// SIGPIPE so that writes fail with an error, which `println!` turns into a panic. Whatever the
/// command committed before it printed stays committed; a purge or worker batch still running
/// is rolled back by the server.
fn end_quietly_on_broken_pipes() {
    // SAFETY: restores the default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
