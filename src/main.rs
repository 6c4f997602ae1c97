//! The `softview` command. With no arguments it runs the tour on a throwaway PostgreSQL (or on
//! the server `DATABASE_URL` names); `migrate` and `schema` serve a project's own database.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
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
