//! The throwaway PostgreSQL and the per-test databases.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use softview_devdb::{BinarySearch, Error, Server, Template, TestDatabase, test_database};

/// Databases with one table, made once per process and cloned per test.
const TEMPLATE: Template = Template {
    name: "devdb",
    setup: |conn| Ok(conn.batch_execute("CREATE TABLE items (name text NOT NULL)")?),
};

fn db() -> (TestDatabase, PgConnection) {
    let database = test_database(&TEMPLATE).unwrap();
    let conn = database.connect().unwrap();
    (database, conn)
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<BigInt>(&format!("({sql})")))
        .get_result(conn)
        .unwrap()
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2) != Some("Z"))
}

#[test]
fn a_throwaway_server_leaves_no_process_or_directory_behind() {
    let server = Server::start_throwaway(&BinarySearch::from_env()).unwrap();
    let data = server.data_dir().unwrap();
    let pid: u32 = std::fs::read_to_string(data.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(process_alive(pid));
    let mut conn = PgConnection::establish(server.admin_url()).unwrap();
    assert_eq!(count(&mut conn, "SELECT 1::bigint"), 1);
    drop(conn);
    drop(server);

    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!process_alive(pid), "postmaster {pid} still running");
    assert!(
        !data.parent().unwrap().exists(),
        "{} still exists",
        data.display()
    );
}

#[test]
fn missing_binaries_say_how_to_fix_it() {
    let error = BinarySearch::default().find().unwrap_err();
    assert!(matches!(error, Error::ServerBinariesNotFound { .. }));
    let message = error.to_string();
    assert!(
        message.contains("Install the PostgreSQL server package"),
        "{message}"
    );
    assert!(message.contains("set DATABASE_URL"), "{message}");

    let empty = tempfile::tempdir().unwrap();
    let error = BinarySearch {
        pg_bin: Some(empty.path().to_owned()),
        ..Default::default()
    }
    .find()
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("PG_BIN={}", empty.path().display())),
        "{error}"
    );
}

#[test]
fn the_newest_installed_major_is_preferred() {
    let root = tempfile::tempdir().unwrap();
    for major in ["13", "16", "9"] {
        let bin = root.path().join(major).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for program in ["initdb", "pg_ctl", "postgres"] {
            std::fs::write(bin.join(program), "").unwrap();
        }
    }
    let search = BinarySearch {
        version_roots: vec![root.path().to_owned()],
        ..Default::default()
    };
    assert_eq!(search.find().unwrap(), root.path().join("16").join("bin"));
    let explicit = root.path().join("13").join("bin");
    let search = BinarySearch {
        pg_bin: Some(explicit.clone()),
        ..search
    };
    assert_eq!(search.find().unwrap(), explicit);
}

#[test]
fn each_test_database_is_separate_and_dropped_after() {
    let (first, mut first_conn) = db();
    let (second, mut second_conn) = db();
    assert_ne!(first.name(), second.name());
    first_conn
        .batch_execute("INSERT INTO items (name) VALUES ('only here')")
        .unwrap();
    assert_eq!(count(&mut second_conn, "SELECT count(*) FROM items"), 0);

    let name = first.name().to_owned();
    drop(first_conn);
    drop(first);
    assert_eq!(
        count(
            &mut second_conn,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        ),
        0
    );
}

/// Run by `a_killed_process_leaves_no_server_behind` in a child process: starts a server,
/// prints its data directory and kills itself with SIGKILL, so no destructor runs.
#[test]
fn killed_process_helper() {
    if std::env::var_os("SOFTVIEW_KILLED_PROCESS_HELPER").is_none() {
        return;
    }
    let server = Server::start_throwaway(&BinarySearch::from_env()).unwrap();
    println!("DATA_DIR={}", server.data_dir().unwrap().display());
    Command::new("kill")
        .args(["-9", &std::process::id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn a_killed_process_leaves_no_server_behind() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_process_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTVIEW_KILLED_PROCESS_HELPER", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let data = stdout
        .lines()
        .find_map(|l| l.split("DATA_DIR=").nth(1))
        .unwrap_or_else(|| panic!("helper printed no data directory: {stdout}"));
    let dir = Path::new(data).parent().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !dir.exists(),
        "{} left behind by a killed process",
        dir.display()
    );
}
