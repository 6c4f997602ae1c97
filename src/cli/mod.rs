mod tour;

use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use softview::devdb::Server;
use softview::{Error, Result};

/// Soft delete done by PostgreSQL itself, through active_* views.
#[derive(Debug, Parser)]
#[command(name = "softview", version, about)]
pub struct Args {
    /// Database to use; without it a throwaway PostgreSQL is started for the command.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A narrated walk through soft delete with views, in a database of its own (the default).
    Tour,
    /// Run the pending migrations (the toolkit and the example domain).
    Migrate {
        /// Revert every migration instead, newest first.
        #[arg(long)]
        revert_all: bool,
    },
    /// Print the toolkit's SQL, for the up.sql (or with --down the down.sql) of your migration.
    Toolkit {
        #[arg(long)]
        down: bool,
    },
    /// Print the Diesel declarations of the active_* views (what src/views.rs holds).
    Schema {
        /// The PostgreSQL schema whose enabled tables to declare.
        #[arg(long, default_value = "public")]
        schema: String,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command.unwrap_or(Command::Tour) {
        Command::Tour => {
            let server = server(args.database_url)?;
            tour::run(&server)
        }
        Command::Migrate { revert_all } => {
            let (_server, mut conn) = connect(args.database_url)?;
            let versions = if revert_all {
                softview::revert_all_migrations(&mut conn)?
            } else {
                softview::run_migrations(&mut conn)?
            };
            let verb = if revert_all { "reverted" } else { "ran" };
            if versions.is_empty() {
                println!("nothing to do: no migration {verb}");
            }
            for version in versions {
                println!("{verb} {version}");
            }
            Ok(())
        }
        Command::Toolkit { down } => {
            print!(
                "{}",
                if down {
                    softview::TOOLKIT_DOWN_SQL
                } else {
                    softview::TOOLKIT_SQL
                }
            );
            Ok(())
        }
        Command::Schema { schema } => {
            let (server, mut conn) = connect(args.database_url)?;
            if server.is_throwaway() {
                softview::run_migrations(&mut conn)?;
            }
            print!("{}", softview::codegen::generate_views(&mut conn, &schema)?);
            Ok(())
        }
    }
}

fn server(database_url: Option<String>) -> Result<Server> {
    match database_url {
        Some(url) if !url.is_empty() => Ok(Server::external(url)),
        _ => Server::from_env(),
    }
}

/// A connection to the given database, or to a throwaway server's default database.
fn connect(database_url: Option<String>) -> Result<(Server, PgConnection)> {
    let server = server(database_url)?;
    let conn = PgConnection::establish(server.admin_url()).map_err(Error::from)?;
    Ok((server, conn))
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("    {}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        println!("    (no rows)");
    }
}
