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
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
