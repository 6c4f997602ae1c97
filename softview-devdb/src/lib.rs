//! A throwaway PostgreSQL server for tests, benchmarks and the tour, with no setup.
//!
//! [`Server::from_env`] uses `DATABASE_URL` when it is set and otherwise starts a private
//! server from the local PostgreSQL binaries: `initdb` into a fresh temporary directory (as the
//! `postgres` OS user when running as root, since `initdb` refuses root), `pg_ctl -w start` on a
//! free loopback port with a private socket directory and `fsync=off`. Dropping the server stops
//! it and removes the directory; a small watchdog does the same if the process dies first.
//!
//! [`test_database`] gives every test its own database, cloned from a [`Template`] that was set
//! up once per process, so tests are isolated and run in parallel.
//!
//! Unix only: the server runs as the `postgres` user when we are root, and a watchdog process
//! stops it if the owning process dies.

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::collections::HashMap;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_query;

/// What can go wrong starting a server or making a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No PostgreSQL server binaries were found.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; searched: {searched}. \
         Install the PostgreSQL server package (for example `apt-get install postgresql`), \
         set PG_BIN to its bin directory, or set DATABASE_URL to use a running server"
    )]
    ServerBinariesNotFound {
        /// The places looked at.
        searched: String,
    },

    /// A step of starting or stopping the server failed.
    #[error("throwaway PostgreSQL: {step} failed: {output}")]
    ServerStart {
        /// The step (`initdb`, `pg_ctl start`, …).
        step: &'static str,
        /// What it printed, and the server log.
        output: String,
    },

    /// Setting up a template failed (here or earlier in this process).
    #[error("test database setup failed: {0}")]
    Setup(String),

    /// A statement failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),

    /// Connecting failed.
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),

    /// A file or process could not be handled.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where to look for `initdb`, `pg_ctl` and `postgres`, in order.
#[derive(Debug, Clone, Default)]
pub struct BinarySearch {
    /// An explicit directory (`PG_BIN`); when set, no other place is tried.
    pub pg_bin: Option<PathBuf>,
    /// The `pg_config` to ask for `--bindir`.
    pub pg_config: Option<PathBuf>,
    /// Directories holding one folder per major version, each with a `bin/` (Debian layout).
    pub version_roots: Vec<PathBuf>,
    /// The `PATH` to search last.
    pub path: Option<OsString>,
}

impl BinarySearch {
    /// The search this process would do: `PG_BIN`, `pg_config --bindir`,
    /// `/usr/lib/postgresql/*/bin` (newest first), then `PATH`.
    pub fn from_env() -> Self {
        Self {
            pg_bin: std::env::var_os("PG_BIN").map(PathBuf::from),
            pg_config: Some(PathBuf::from("pg_config")),
            version_roots: vec![PathBuf::from("/usr/lib/postgresql")],
            path: std::env::var_os("PATH"),
        }
    }

    /// The first directory holding the server binaries.
    pub fn find(&self) -> Result<PathBuf, Error> {
        let has_server = |dir: &Path| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| dir.join(b).is_file())
        };
        if let Some(dir) = &self.pg_bin {
            return if has_server(dir) {
                Ok(dir.clone())
            } else {
                Err(Error::ServerBinariesNotFound {
                    searched: format!(
                        "PG_BIN={} (no initdb, pg_ctl and postgres there)",
                        dir.display()
                    ),
                })
            };
        }
        let mut candidates = Vec::new();
        if let Some(pg_config) = &self.pg_config
            && let Ok(out) = Command::new(pg_config).arg("--bindir").output()
            && out.status.success()
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        for root in &self.version_roots {
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect();
            versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
            candidates.extend(versions.into_iter().map(|(_, bin)| bin));
        }
        if let Some(path) = &self.path {
            candidates.extend(std::env::split_paths(path));
        }
        candidates
            .iter()
            .find(|d| has_server(d))
            .cloned()
            .ok_or_else(|| Error::ServerBinariesNotFound {
                searched: candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// A PostgreSQL server to create databases on: the one `DATABASE_URL` names, or a throwaway one.
#[derive(Debug)]
pub struct Server {
    /// URL of the server's maintenance database, used to create and drop databases.
    admin_url: String,
    throwaway: Option<Throwaway>,
}

#[derive(Debug)]
struct Throwaway {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres_user: bool,
}

impl Server {
    /// `DATABASE_URL`'s server when it is set (nothing is started), else a throwaway one.
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Ok(Self::external(url)),
            _ => Self::start_throwaway(&BinarySearch::from_env()),
        }
    }

    /// The running server `url` points at; nothing is started or stopped.
    pub fn external(url: String) -> Self {
        Self {
            admin_url: url,
            throwaway: None,
        }
    }

    /// Starts a private server from the binaries `search` finds. Where the pg_cron extension
    /// is installed beside them (Debian: `postgresql-15-cron`), the server loads it, runs its
    /// jobs from database `postgres`, and `CREATE EXTENSION pg_cron` is done there.
    pub fn start_throwaway(search: &BinarySearch) -> Result<Self, Error> {
        let bin = search.find()?;
        let cron = pg_cron_installed(&bin).then_some("postgres");
        let server = Self::start(bin, cron)?;
        if cron.is_some() {
            PgConnection::establish(&server.admin_url)?
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_cron")?;
        }
        Ok(server)
    }

    /// Starts a private server that loads pg_cron and runs its jobs from `cron_database`
    /// (which the caller creates, with the extension). Fails when pg_cron is not installed
    /// beside the binaries `search` finds.
    pub fn start_throwaway_with_cron(
        search: &BinarySearch,
        cron_database: &str,
    ) -> Result<Self, Error> {
        let bin = search.find()?;
        if !pg_cron_installed(&bin) {
            return Err(Error::ServerStart {
                step: "pg_cron",
                output: format!(
                    "pg_cron is not installed beside {} (Debian: apt-get install postgresql-<major>-cron)",
                    bin.display()
                ),
            });
        }
        Self::start(bin, Some(cron_database))
    }

    fn start(bin: PathBuf, cron_database: Option<&str>) -> Result<Self, Error> {
        let as_postgres_user = std::fs::metadata("/proc/self").map(|m| m.uid() == 0)?;
        let dir = tempfile::Builder::new().prefix("softview-pg-").tempdir()?;
        if as_postgres_user {
            let (uid, gid) = postgres_user_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let mut server = Self {
            admin_url: String::new(),
            throwaway: Some(Throwaway {
                bin,
                dir,
                as_postgres_user,
            }),
        };
        let throwaway = server.throwaway.as_ref().expect("just set");
        let data = throwaway.data_dir();
        let mut initdb = throwaway.command("initdb");
        initdb
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
            .args(["--no-sync", "--no-instructions", "-D"])
            .arg(&data);
        throwaway.run("initdb", initdb)?;
        // A port picked here can be taken before the server binds it: try a few.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                throwaway.dir.path().display()
            );
            if let Some(database) = cron_database {
                // Jobs run in background workers: no connection, so no password, is needed.
                options += &format!(
                    " -c shared_preload_libraries=pg_cron -c cron.database_name={database} \
                     -c cron.use_background_workers=on -c max_worker_processes=16"
                );
            }
            let mut start = throwaway.command("pg_ctl");
            start
                .args(["-w", "-s", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(throwaway.dir.path().join("server.log"))
                .args(["-o", &options, "start"]);
            match throwaway.run("pg_ctl start", start) {
                Ok(()) => {
                    server.admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                    throwaway.spawn_watchdog();
                    return Ok(server);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// Whether this server was started here (and is stopped when dropped).
    pub fn is_throwaway(&self) -> bool {
        self.throwaway.is_some()
    }

    /// The data directory of a throwaway server.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.throwaway.as_ref().map(Throwaway::data_dir)
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
    }

    /// The URL of the server's default database (`DATABASE_URL` itself, when that is used).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Creates database `name`, as a copy of `template` when given.
    pub fn create_database(&self, name: &str, template: Option<&str>) -> Result<(), Error> {
        let mut conn = PgConnection::establish(&self.admin_url)?;
        let template = template
            .map(|t| format!(" TEMPLATE {}", quote_ident(t)))
            .unwrap_or_default();
        sql_query(format!("CREATE DATABASE {}{template}", quote_ident(name))).execute(&mut conn)?;
        Ok(())
    }

    /// Drops database `name`, disconnecting its sessions.
    pub fn drop_database(&self, name: &str) -> Result<(), Error> {
        let mut conn = PgConnection::establish(&self.admin_url)?;
        sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .execute(&mut conn)?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(throwaway) = &self.throwaway {
            let mut stop = throwaway.command("pg_ctl");
            stop.args(["-w", "-s", "-m", "immediate", "-D"])
                .arg(throwaway.data_dir())
                .arg("stop");
            // Errors cannot be reported from drop; the watchdog retries if this failed.
            let _ = throwaway.run("pg_ctl stop", stop);
        }
    }
}

/// Whether pg_cron's library is installed beside the server binaries in `bin` (Debian's
/// `lib/`, or `lib/postgresql/` of a tarball layout).
fn pg_cron_installed(bin: &Path) -> bool {
    let lib = bin.parent().map(|p| p.join("lib")).unwrap_or_default();
    lib.join("pg_cron.so").is_file() || lib.join("postgresql/pg_cron.so").is_file()
}

/// `runuser`, which root's PATH may lack when it has no sbin directory (a login shell's PATH
/// usually has it; a CI job's or a container's may not).
fn runuser() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("runuser"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

impl Throwaway {
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server binary, run as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new(runuser());
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, step: &'static str, mut command: Command) -> Result<(), Error> {
        let Output {
            status,
            stdout,
            stderr,
        } = command
            .stdin(Stdio::null())
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| Error::ServerStart {
                step,
                output: format!(
                    "cannot run {}: {e}",
                    command.get_program().to_string_lossy()
                ),
            })?;
        if status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        Err(Error::ServerStart {
            step,
            output: format!(
                "{}{}{log}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            )
            .trim()
            .to_string(),
        })
    }

    /// Stops the server and removes its directory once this process is gone, however it ended
    /// (a static server in a test binary is never dropped; a test process can be killed).
    fn spawn_watchdog(&self) {
        let dir = self.dir.path().display().to_string();
        let stop = format!(
            "{}'{}' -w -s -m immediate -D '{dir}/data' stop",
            if self.as_postgres_user {
                format!("'{}' -u postgres -- ", runuser().display())
            } else {
                String::new()
            },
            self.bin.join("pg_ctl").display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d '{dir}' ]; do sleep 1; done; \
             if [ -d '{dir}' ]; then {stop} >/dev/null 2>&1; rm -rf '{dir}'; fi",
            pid = std::process::id()
        );
        // Its own process group, so a Ctrl-C aimed at the tests does not take it down first.
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
    }
}

fn postgres_user_ids() -> Result<(u32, u32), Error> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .ok_or(Error::ServerStart {
            step: "initdb",
            output: "running as root needs an OS user named postgres to run initdb as \
                     (the PostgreSQL server package creates it), or set DATABASE_URL"
                .into(),
        })
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Double-quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// How to set up the databases tests clone: a name and what to run into an empty database.
/// The first [`test_database`] call for a template makes it; later calls clone it.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// Part of the template database's name, unique per kind of setup.
    pub name: &'static str,
    /// Runs once into the empty template database.
    pub setup: fn(&mut PgConnection) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
}

/// A database of its own for one test, made from a template; dropped with it.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to it.
    pub fn connect(&self) -> Result<PgConnection, Error> {
        Ok(PgConnection::establish(&self.url)?)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(Ok(server)) = SERVER.get() {
            let _ = server.drop_database(&self.name);
        }
    }
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TEMPLATES: Mutex<Option<HashMap<&'static str, Result<String, String>>>> = Mutex::new(None);
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The test server of this process (`DATABASE_URL`'s, or a throwaway one), started on first use.
pub fn test_server() -> Result<&'static Server, Error> {
    SERVER
        .get_or_init(|| {
            let server = Server::from_env().map_err(|e| e.to_string())?;
            if !server.is_throwaway() {
                drop_stale_databases(&server).map_err(|e| e.to_string())?;
            }
            Ok(server)
        })
        .as_ref()
        .map_err(|e| Error::Setup(e.clone()))
}

/// A fresh database for one test, cloned from `template`, which is set up on first use.
pub fn test_database(template: &Template) -> Result<TestDatabase, Error> {
    let server = test_server()?;
    let template_name = {
        let mut templates = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
        templates
            .get_or_insert_with(HashMap::new)
            .entry(template.name)
            .or_insert_with(|| make_template(server, template).map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Setup)?
    };
    let name = format!(
        "{}_{}",
        database_prefix(),
        NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
    );
    server.create_database(&name, Some(&template_name))?;
    Ok(TestDatabase {
        url: server.url(&name),
        name,
    })
}

fn make_template(server: &Server, template: &Template) -> Result<String, Error> {
    let name = format!("{}_template_{}", database_prefix(), template.name);
    server.create_database(&name, None)?;
    let mut conn = PgConnection::establish(&server.url(&name))?;
    (template.setup)(&mut conn)
        .map_err(|e| Error::Setup(format!("template {}: {e}", template.name)))?;
    Ok(name)
}

/// `softview_test_<host>_<pid>`: a database name no other process, here or on another machine
/// sharing the server, makes.
fn database_prefix() -> String {
    format!("softview_test_{}_{}", host_tag(), std::process::id())
}

/// A short tag of this machine: the hostname's letters and digits.
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let tag: String = host
        .trim()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    if tag.is_empty() { "local".into() } else { tag }
}

/// On a shared `DATABASE_URL` server, this machine's test databases of processes that are gone
/// (a template is never dropped) are removed before new ones are made. Databases made by
/// other machines are left alone: their processes are not ours to look at.
fn drop_stale_databases(server: &Server) -> Result<(), Error> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let mine = format!("softview_test_{}_", host_tag());
    let mut conn = PgConnection::establish(server.admin_url())?;
    let names: Vec<Name> =
        sql_query("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
            .bind::<diesel::sql_types::Text, _>(&mine)
            .load(&mut conn)?;
    for Name { datname } in names {
        let pid = datname[mine.len()..]
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            server.drop_database(&datname)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name_and_keeps_parameters() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
        assert_eq!(
            with_database("postgresql://h:1/", "t1"),
            "postgresql://h:1/t1"
        );
    }
}
