//! Online backup and restore of a SQLite database.
//!
//! A backup is `VACUUM INTO`: SQLite writes a compacted copy of the database
//! as one read transaction sees it, so the copy is transactionally
//! consistent while the server keeps writing (under WAL the writer is not
//! blocked). sqlx does not expose SQLite's online backup API
//! (`sqlite3_backup_*`), and linking a second `libsqlite3-sys` to reach it
//! is not possible; `VACUUM INTO` gives the same guarantee through plain
//! SQL, with a smaller file as a bonus. PostgreSQL is backed up with its
//! own tools (`pg_dump`/`pg_restore`; see docs/RELIABILITY.md).

use std::path::{Path, PathBuf};

use sqlx::{Connection, Row};

use crate::Store;
use crate::db::Engine;
use crate::error::{StoreError, StoreResult};

/// The file of a `sqlite://FILE[?…]` URL.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn io(context: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{context} {}: {e}", path.display()))
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

impl Store {
    /// Writes a consistent copy of this SQLite database to `output`, which
    /// must not exist. The copy is written beside it first and renamed into
    /// place once complete, so `output` is never a half-written file.
    pub async fn backup_sqlite(&self, output: &Path) -> StoreResult<()> {
        if self.engine() != Engine::Sqlite {
            return Err(StoreError::Conflict(
                "jaego backup copies SQLite databases; back PostgreSQL up with pg_dump".into(),
            ));
        }
        if output.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists; choose a new file",
                output.display()
            )));
        }
        let partial = with_suffix(output, ".partial");
        let _ = std::fs::remove_file(&partial);
        let target = partial.to_string_lossy().to_string();
        let written = sqlx::query("VACUUM INTO $1")
            .bind(&target)
            .execute(self.reader())
            .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("syncing", &partial, &e))?;
        std::fs::rename(&partial, output).map_err(|e| io("renaming to", output, &e))?;
        sync_dir(output);
        Ok(())
    }
}

/// Checks that `backup` is an intact jaego SQLite database; returns its
/// number of applied migrations.
pub async fn check_sqlite_backup(backup: &Path) -> StoreResult<i64> {
    if !backup.is_file() {
        return Err(StoreError::not_found("backup file", backup.display()));
    }
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", backup.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    let integrity: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    if integrity != "ok" {
        return Err(StoreError::Corrupt(format!(
            "{} fails its integrity check: {integrity}",
            backup.display()
        )));
    }
    let migrations: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| {
                StoreError::Corrupt(format!("{} is not a jaego database", backup.display()))
            })?
            .try_get("n")?;
    conn.close().await?;
    Ok(migrations)
}

/// Puts `backup` in place as the SQLite database of `url`. The server must
/// be stopped. Refuses to replace an existing database unless `replace`.
/// The old database's `-wal` and `-shm` files are removed first, so SQLite
/// cannot replay a stale log over the restored file; the copy is written
/// beside the target and renamed into place.
pub async fn restore_sqlite(backup: &Path, url: &str, replace: bool) -> StoreResult<PathBuf> {
    let target = sqlite_file(url).ok_or_else(|| {
        StoreError::Conflict("jaego restore writes SQLite databases (sqlite://FILE)".into())
    })?;
    check_sqlite_backup(backup).await?;
    if target.exists() && !replace {
        return Err(StoreError::Conflict(format!(
            "{} exists; pass --replace to overwrite it",
            target.display()
        )));
    }
    let partial = with_suffix(&target, ".restoring");
    std::fs::copy(backup, &partial).map_err(|e| io("copying to", &partial, &e))?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing", &partial, &e))?;
    for suffix in ["-wal", "-shm"] {
        let side = with_suffix(&target, suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing", &side, &e)),
        }
    }
    std::fs::rename(&partial, &target).map_err(|e| io("renaming to", &target, &e))?;
    sync_dir(&target);
    Ok(target)
}

/// Makes a rename durable by syncing the directory (best effort).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}
