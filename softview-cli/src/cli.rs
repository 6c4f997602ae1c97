use clap::{Parser, Subcommand};
use diesel::{Connection, PgConnection};

use softview::lifecycle::purge::PurgeOptions;
use softview::online::{self, Enable};
use softview::toolkit::{self, Change};
use softview::{Error, Result};

use crate::{admin, jobs, migrations};

/// Soft delete done by PostgreSQL itself, through active_* views.
#[derive(Debug, Parser)]
#[command(name = "softview", version, about, arg_required_else_help = true)]
pub struct Args {
    /// The database to work on (also read from DATABASE_URL and .env).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install the toolkit, or upgrade an older one, outside a migration tool.
    Migrate,
    /// List the soft-deleted rows of a table, newest first.
    Trash { table: String },
    /// Restore a soft-deleted row.
    Restore {
        table: String,
        /// The primary key: one value per key column (`7`, or `1 2`), or a composite key as
        /// one `1,2`. Values are taken as written, spaces and all.
        #[arg(required = true, num_args = 1.., allow_negative_numbers = true)]
        key: Vec<String>,
        /// Say what the restore would bring back into the views, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Soft-delete a row, or with --hard delete it for good (the archive keeps a copy).
    Delete {
        table: String,
        /// The primary key, as for `restore`.
        #[arg(required = true, num_args = 1.., allow_negative_numbers = true)]
        key: Vec<String>,
        #[arg(long)]
        hard: bool,
        /// Who deletes, recorded in the archive (with --hard: soft deletes are not archived).
        #[arg(long, requires = "hard", value_parser = not_blank)]
        actor: Option<String>,
        /// Why, recorded in the archive (needs --actor).
        #[arg(long, requires = "actor", value_parser = not_blank)]
        reason: Option<String>,
        /// Say what the delete would do, table by table (rows hidden with it; with --hard,
        /// rows deleted, changed or refusing it), change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// One purge pass: hard-delete rows whose grace period is over, in batches.
    Purge {
        /// Only this table (children of its rows go by their foreign keys).
        #[arg(long)]
        table: Option<String>,
        /// Purge rows deleted longer ago than this (30d, 12h, 15m for minutes, 90s) instead of
        /// the grace period.
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
        /// Time between passes (30s, 5m, 1h; at least 1s); `SELECT softview.wake_worker()`
        /// starts one early.
        #[arg(long, default_value = "60s", value_parser = parse_interval)]
        interval: chrono::Duration,
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..))]
        batch: i32,
    },
    /// Print soft deletes, restores, hard deletes and purges as they happen, until SIGINT.
    Watch,
    /// The admin console in the browser: every enabled table, the trash with undo, purge
    /// countdowns, the archive, live updates. Runs until Ctrl-C.
    Serve {
        /// Where to listen. Anything but a loopback address needs a token, from the
        /// SOFTVIEW_CONSOLE_TOKEN environment variable or --token-file (never the command line).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// A file whose first line is the token (at least 16 characters).
        #[arg(long, value_name = "PATH")]
        token_file: Option<std::path::PathBuf>,
        /// Who permanent deletes from the console are archived as.
        #[arg(long, default_value = "softview console", value_parser = not_blank)]
        actor: String,
    },
    /// The archive of hard-deleted rows.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Print the toolkit's SQL, for the up.sql (or with --down the down.sql) of your migration.
    Toolkit {
        /// The script that removes the toolkit.
        #[arg(long, conflicts_with = "upgrade_from")]
        down: bool,
        /// The script that upgrades an installed toolkit of this revision to this softview's.
        #[arg(long, value_name = "REVISION")]
        upgrade_from: Option<i32>,
    },
    /// Write Diesel migrations that change a big table without blocking its writers.
    #[command(subcommand)]
    Migration(MigrationCommand),
    /// Print the Diesel declarations of the active_* views, which `diesel print-schema` skips.
    Schema {
        /// Only these PostgreSQL schemas (repeatable); every schema with enabled tables if none.
        #[arg(long = "schema", value_name = "SCHEMA", conflicts_with = "archive")]
        schemas: Vec<String>,
        /// Print the declaration of the archive, softview.deleted_records, instead: the
        /// library's `toolkit_schema.rs` (`diesel print-schema` refuses a table without a
        /// primary key).
        #[arg(long)]
        archive: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MigrationCommand {
    /// Enable a table online: build the indexes the enable needs with CREATE INDEX
    /// CONCURRENTLY, each in a migration of its own, then enable it. Enable its parents first.
    Enable {
        table: String,
        /// The table has no deleted_at; its rows hide with their parents (enable_dependent).
        #[arg(long)]
        dependent: bool,
        #[arg(long, default_value = "migrations", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Make the unique indexes of an enabled table partial (WHERE deleted_at IS NULL) online:
    /// build each partial index concurrently, then retire the full one.
    PartialUnique {
        table: String,
        #[arg(long, default_value = "migrations", value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Archived rows, newest first.
    List {
        /// Only rows of this table.
        #[arg(long)]
        table: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
    },
    /// Put an archived row back, or every row one transaction deleted.
    Restore {
        #[arg(required_unless_present = "transaction")]
        id: Option<i64>,
        #[arg(long)]
        transaction: Option<i64>,
    },
    /// The archive's partitions: the archiving times each takes, its estimated rows and size.
    Partitions,
    /// Forget archived rows older than an age such as 30d, 12h, 15m or 90s.
    Prune {
        #[arg(long, value_parser = parse_age)]
        older_than: chrono::Duration,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Migrate => {
            let conn = &mut interruptible(args.database_url)?;
            match toolkit::install_or_upgrade(conn)? {
                Change::Installed => println!("installed toolkit revision {}", toolkit::REVISION),
                Change::Upgraded { from } => {
                    println!(
                        "upgraded the toolkit from revision {from} to {}",
                        toolkit::REVISION
                    )
                }
                Change::Current => {
                    println!(
                        "nothing to do: the toolkit is at revision {}",
                        toolkit::REVISION
                    )
                }
            }
            Ok(())
        }
        Command::Trash { table } => admin::trash(
            &mut with_toolkit(interruptible(args.database_url)?)?,
            &table,
        ),
        Command::Restore {
            table,
            key,
            dry_run,
        } => admin::restore(
            &mut with_toolkit(interruptible(args.database_url)?)?,
            &table,
            &key,
            dry_run,
        ),
        Command::Delete {
            table,
            key,
            hard,
            actor,
            reason,
            dry_run,
        } => admin::delete(
            &mut with_toolkit(interruptible(args.database_url)?)?,
            admin::Deletion {
                table: &table,
                key: &key,
                hard,
                actor: actor.as_deref(),
                reason: reason.as_deref(),
                dry_run,
            },
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
            jobs::purge_once(&mut with_toolkit(existing(args.database_url)?)?, &options)
        }
        Command::Worker { interval, batch } => {
            let url = toolkit_url(args.database_url)?;
            let options = PurgeOptions {
                batch_size: batch,
                ..PurgeOptions::default()
            };
            jobs::worker(&url, &options, interval)
        }
        Command::Watch => jobs::watch(&toolkit_url(args.database_url)?),
        Command::Serve {
            listen,
            token_file,
            actor,
        } => {
            let mut config =
                softview_console::Config::new(toolkit_url(args.database_url)?, listen, actor);
            config.token = softview_console::token_from(
                std::env::var("SOFTVIEW_CONSOLE_TOKEN").ok(),
                token_file.as_deref(),
            )
            .map_err(console_error)?;
            softview_console::run(config).map_err(console_error)
        }
        Command::Archive(command) => {
            let conn = &mut with_toolkit(interruptible(args.database_url)?)?;
            match command {
                ArchiveCommand::List { table, limit } => {
                    admin::archive_list(conn, table.as_deref(), limit)
                }
                ArchiveCommand::Restore { id, transaction } => {
                    admin::archive_restore(conn, id, transaction)
                }
                ArchiveCommand::Partitions => admin::archive_partitions(conn),
                ArchiveCommand::Prune { older_than } => admin::archive_prune(conn, older_than),
            }
        }
        Command::Toolkit { down, upgrade_from } => {
            let sql = match (down, upgrade_from) {
                (true, _) => toolkit::UNINSTALL_SQL.to_owned(),
                (false, Some(from)) => toolkit::upgrade_sql(from)?,
                (false, None) => toolkit::INSTALL_SQL.to_owned(),
            };
            print!("{sql}");
            Ok(())
        }
        Command::Migration(command) => {
            let conn = &mut with_toolkit(existing(args.database_url)?)?;
            let now = chrono::Utc::now();
            let written = match command {
                MigrationCommand::Enable {
                    table,
                    dependent,
                    dir,
                } => {
                    let how = if dependent {
                        Enable::Dependent
                    } else {
                        Enable::WithDeletedAt
                    };
                    let steps = online::enable_steps(conn, &table, how)?;
                    migrations::write(&dir, &steps, now, "migration enable")?
                }
                MigrationCommand::PartialUnique { table, dir } => {
                    let (steps, kept) = online::partial_unique_steps(conn, &table)?;
                    for index in &kept {
                        eprintln!("kept {}: {}", index.index_name, index.reason);
                    }
                    if steps.is_empty() {
                        eprintln!(
                            "nothing to do: no unique index of {table} holds deleted rows' keys"
                        );
                    }
                    migrations::write(&dir, &steps, now, "migration partial-unique")?
                }
            };
            for path in written {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Schema { archive: true, .. } => {
            let conn = &mut with_toolkit(existing(args.database_url)?)?;
            print!("{}", softview::codegen::generate_archive_schema(conn)?);
            Ok(())
        }
        Command::Schema { schemas, .. } => {
            let conn = &mut with_toolkit(existing(args.database_url)?)?;
            let enabled = softview::codegen::enabled_schemas(conn)?;
            let chosen = if schemas.is_empty() {
                enabled.clone()
            } else {
                schemas
            };
            let unknown: Vec<&str> = chosen
                .iter()
                .filter(|s| !enabled.contains(s))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "no enabled tables in schema(s) {}: the schemas with enabled tables are {}",
                    unknown.join(", "),
                    if enabled.is_empty() {
                        "none".to_owned()
                    } else {
                        enabled.join(", ")
                    }
                )));
            }
            let skipped: Vec<&String> = enabled.iter().filter(|s| !chosen.contains(s)).collect();
            if !skipped.is_empty() {
                eprintln!(
                    "softview schema: skipped schemas with enabled tables: {}",
                    skipped
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if chosen.is_empty() {
                eprintln!("softview schema: no enabled tables in this database");
            }
            print!("{}", softview::codegen::generate_views(conn, &chosen)?);
            Ok(())
        }
    }
}

/// The URL of the database the commands work on, which must already exist: a PostgreSQL URL
/// or a libpq `key=value` string (libpq's own message for anything else is `missing "="`).
fn existing_url(database_url: Option<String>) -> Result<String> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(url),
        Some(conninfo) if conninfo.contains('=') && !conninfo.contains("://") => Ok(conninfo),
        // The URL itself is not repeated: it may hold a password.
        Some(other) if !other.is_empty() => Err(Error::InvalidArgument(format!(
            "the database URL is not a PostgreSQL URL{}: write postgres://user@host/database \
             (or libpq's host=… dbname=…)",
            other
                .split_once("://")
                .map_or(String::new(), |(scheme, _)| format!(
                    " but a {scheme}:// one"
                ))
        ))),
        _ => Err(Error::InvalidArgument(
            "this command works on an existing database: set DATABASE_URL (or put it in .env) \
             or pass --database-url"
                .into(),
        )),
    }
}

fn existing(database_url: Option<String>) -> Result<PgConnection> {
    Ok(PgConnection::establish(&existing_url(database_url)?)?)
}

/// [`existing`], for commands whose statements Ctrl-C cancels on the server (see interrupt).
fn interruptible(database_url: Option<String>) -> Result<PgConnection> {
    crate::interrupt::connect(&existing_url(database_url)?)
}

/// [`existing`] checked to hold the toolkit this softview expects, so that a database without
/// it gets a line saying what to run instead of "schema softview does not exist" (or, for
/// `watch`, a wait for events that never come).
fn with_toolkit(mut conn: PgConnection) -> Result<PgConnection> {
    toolkit::check_revision(&mut conn)?;
    Ok(conn)
}

/// The URL, for commands that open their own connections, once [`with_toolkit`] has checked it.
fn toolkit_url(database_url: Option<String>) -> Result<String> {
    let url = existing_url(database_url)?;
    with_toolkit(PgConnection::establish(&url)?)?;
    Ok(url)
}

/// The console's errors, as the command reports errors: one line.
fn console_error(error: softview_console::Error) -> Error {
    match error {
        softview_console::Error::Softview(error) => error,
        other => Error::InvalidArgument(other.to_string()),
    }
}

/// An age such as `30d`, `12h`, `15m`, `90s` or `2w`.
fn parse_age(text: &str) -> std::result::Result<chrono::Duration, String> {
    const FORM: &str = "write a whole number of s (seconds), m (minutes), h, d or w, as 30d";
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age: {FORM}"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{text:?} is not an age: {FORM}")),
    };
    chrono::Duration::try_seconds(number.saturating_mul(seconds))
        .ok_or_else(|| format!("{text:?} is too long an age"))
}

/// The worker's interval: an age of at least one second (0s would run passes back to back).
fn parse_interval(text: &str) -> std::result::Result<chrono::Duration, String> {
    let interval = parse_age(text)?;
    if interval < chrono::Duration::seconds(1) {
        return Err(format!(
            "{text:?} is too short: the interval is at least 1s"
        ));
    }
    Ok(interval)
}

/// An actor or reason: something a reader of the archive can use, not blank.
fn not_blank(text: &str) -> std::result::Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty or blank".to_owned());
    }
    Ok(text.to_owned())
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
