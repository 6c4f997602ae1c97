//! `softview migration`: writes the Diesel migrations that change a big table online, one
//! directory per statement, since `CREATE INDEX CONCURRENTLY` runs alone and outside a
//! transaction (`metadata.toml` says `run_in_transaction = false` for those).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use softview::online::Step;
use softview::{Error, Result};

/// Writes `steps` as migrations under `dir`, versioned one second apart from `now` so that they
/// run in order, and returns their directories.
pub fn write(
    dir: &Path,
    steps: &[Step],
    now: DateTime<Utc>,
    command: &str,
) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "the migrations directory {} does not exist: pass --dir",
            dir.display()
        )));
    }
    let mut written = Vec::with_capacity(steps.len());
    for (n, step) in steps.iter().enumerate() {
        let version = (now + chrono::Duration::seconds(n as i64)).format("%Y-%m-%d-%H%M%S");
        let path = dir.join(format!("{version}_softview_{}", step.name));
        let header = format!(
            "-- Written by `softview {command}`{}.\n",
            if step.in_transaction {
                ""
            } else {
                ": PostgreSQL runs this statement only alone and outside a transaction"
            }
        );
        let mut files = vec![
            ("up.sql", format!("{header}{};\n", step.up)),
            ("down.sql", format!("{header}{};\n", step.down)),
        ];
        if !step.in_transaction {
            files.push(("metadata.toml", "run_in_transaction = false\n".to_owned()));
        }
        let io = |error: std::io::Error| {
            Error::InvalidArgument(format!("cannot write {}: {error}", path.display()))
        };
        std::fs::create_dir(&path).map_err(io)?;
        for (name, text) in files {
            std::fs::write(path.join(name), text).map_err(io)?;
        }
        written.push(path);
    }
    Ok(written)
}
