mod admin;
mod jobs;
mod tour;

use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use softview::devdb::Server;
use softview::lifecycle::purge::PurgeOptions;
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
    /// List the soft-deleted rows of a table, newest first.
    Trash { table: String },
    /// Restore a soft-deleted row; a composite key is written `1,2`.
    Restore { table: String, key: String },
    /// Soft-delete a row, or with --hard delete it for good (the archive keeps a copy).
    Delete {
        table: String,
        key: String,
        #[arg(long)]
        hard: bool,
        /// Who deletes, recorded in the archive.
        #[arg(long)]
        actor: Option<String>,
        /// Why, recorded in the archive (needs --actor).
        #[arg(long)]
        reason: Option<String>,
    },
    /// One purge pass: hard-delete rows whose grace period is over, in batches.
    Purge {
        /// Only this table (children of its rows go by their foreign keys).
        #[arg(long)]
        table: Option<String>,
        /// Purge rows deleted longer ago than this (30d, 12h, 90s) instead of the grace period.
        #[arg(long, value_parser = parse_age)]
        older_than: Option<chrono::Duration>,
        /// Rows per batch; each batch is one transaction.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
        batch: i32,
        /// Count what would be purged, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Purge on an interval until SIGINT or SIGTERM (which let the current batch finish).
    Worker {
        /// Time between passes (30s, 5m, 1h); `SELECT softview.wake_worker()` starts one early.
        #[arg(long, default_value = "60s", value_parser = parse_age)]
        interval: chrono::Duration,
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
        batch: i32,
    },
    /// Print soft deletes, restores, hard deletes and purges as they happen, until SIGINT.
    Watch,
    /// The archive of hard-deleted rows.
    #[command(subcommand)]
    Archive(ArchiveCommand),
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

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Archived rows, newest first.
    List {
        /// Only rows of this table.
        #[arg(long)]
        table: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put an archived row back, or every row one transaction deleted.
    Restore {
        #[arg(required_unless_present = "transaction")]
        id: Option<i64>,
        #[arg(long)]
        transaction: Option<i64>,
    },
    /// Forget archived rows older than an age such as 30d, 12h, 15m or 90s.
    Prune {
        #[arg(long, value_parser = parse_age)]
        older_than: chrono::Duration,
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
        Command::Trash { table } => admin::trash(&mut existing(args.database_url)?, &table),
        Command::Restore { table, key } => {
            admin::restore(&mut existing(args.database_url)?, &table, &key)
        }
        Command::Delete {
            table,
            key,
            hard,
            actor,
            reason,
        } => admin::delete(
            &mut existing(args.database_url)?,
            &table,
            &key,
            hard,
            actor.as_deref(),
            reason.as_deref(),
        ),
        Command::Purge {
            table,
            older_than,
            batch,
            dry_run,
        } => {
            let options = PurgeOptions {
                table,
                older_than,
                batch_size: batch,
                dry_run,
            };
            jobs::purge_once(&mut existing(args.database_url.clone())?, &options)
        }
        Command::Worker { interval, batch } => {
            let url = existing_url(args.database_url)?;
            let options = PurgeOptions {
                batch_size: batch,
                ..PurgeOptions::default()
            };
            jobs::worker(&url, &options, interval)
        }
        Command::Watch => jobs::watch(&existing_url(args.database_url)?),
        Command::Archive(command) => {
            let conn = &mut existing(args.database_url)?;
            match command {
                ArchiveCommand::List { table, limit } => {
                    admin::archive_list(conn, table.as_deref(), limit)
                }
                ArchiveCommand::Restore { id, transaction } => {
                    admin::archive_restore(conn, id, transaction)
                }
                ArchiveCommand::Prune { older_than } => admin::archive_prune(conn, older_than),
            }
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

/// The URL of the database the admin commands work on, which must already exist.
fn existing_url(database_url: Option<String>) -> Result<String> {
    match database_url {
        Some(url) if !url.is_empty() => Ok(url),
        _ => Err(Error::InvalidArgument(
            "this command works on an existing database: set DATABASE_URL or pass --database-url"
                .into(),
        )),
    }
}

fn existing(database_url: Option<String>) -> Result<PgConnection> {
    Ok(PgConnection::establish(&existing_url(database_url)?)?)
}

/// An age such as `30d`, `12h`, `15m`, `90s` or `2w`.
fn parse_age(text: &str) -> std::result::Result<chrono::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age: write a whole number and a unit, as 30d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{text:?}: the unit must be s, m, h, d or w")),
    };
    chrono::Duration::try_seconds(number.saturating_mul(seconds))
        .ok_or_else(|| format!("{text:?} is too long an age"))
}

pub fn format_age(age: chrono::Duration) -> String {
    let seconds = age.num_seconds();
    [(604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m")]
        .iter()
        .find(|(unit, _)| seconds != 0 && seconds % unit == 0)
        .map_or(format!("{seconds}s"), |(unit, name)| {
            format!("{}{name}", seconds / unit)
        })
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
