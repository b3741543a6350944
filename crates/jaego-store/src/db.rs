//! Connecting, pool layout and migrations.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::postgres::PgListener;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use tokio::task::JoinHandle;

use crate::batcher::Batcher;
use crate::error::StoreResult;
use crate::events::EventSignal;

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// How the store runs, beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Apply reservations that arrive together in one transaction. Off only
    /// to measure what group commit buys (`jaego bench`).
    pub group_commit: bool,
    /// Largest PostgreSQL pool, and SQLite's reader pool.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            group_commit: true,
            max_connections: 16,
        }
    }
}

/// The database, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    /// Takes every write. On SQLite it holds one connection: SQLite has one
    /// writer at a time anyway, and queueing in the pool beats busy retries.
    pub(crate) writer: AnyPool,
    /// Takes reads. On SQLite, WAL lets these run beside the writer.
    pub(crate) reader: AnyPool,
    pub(crate) batcher: Option<Batcher>,
    pub(crate) audit: crate::audit::AuditWriter,
    pub(crate) lookups: crate::lookups::Lookups,
    /// Bumped after every commit that wrote events (see [`crate::events`]).
    pub(crate) events: EventSignal,
    /// On PostgreSQL, the task that turns `NOTIFY jaego_events` from any
    /// instance into a bump of `events`; on SQLite, the WAL checkpointer.
    background: Mutex<Option<JoinHandle<()>>>,
}

/// SQLite settings for every connection: WAL with full durability (every
/// commit is fsynced), foreign keys on, and a busy wait for other processes
/// (`jaego verify`, a backup) rather than an instant error. Temporary
/// b-trees and statement journals (a large multi-row statement's undo
/// copy of the pages it changes) stay in memory instead of temp files: they
/// never outlive the statement, so durability does not depend on them. The
/// page cache
/// is set per pool: see [`SQLITE_WRITER_CACHE_KIB`].
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY;";

/// The writer's page cache: every batch touches the same hot index pages,
/// and SQLite's 2 MiB default re-reads them. Readers keep a small cache, so
/// memory stays bounded (one writer, at most 8 readers).
const SQLITE_WRITER_CACHE_KIB: i64 = 32 * 1024;
const SQLITE_READER_CACHE_KIB: i64 = 4 * 1024;

/// How often the checkpointer copies committed WAL pages into the database
/// file (see [`checkpointer`]).
const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The WAL size, in pages, past which the writer checkpoints by itself, in
/// the commit that crossed it: a safety net for a checkpointer that cannot
/// keep up (1 GiB at SQLite's 4 KiB pages). SQLite's default of 1,000
/// pages made every fourth megabyte of writes pay a checkpoint inside a
/// request, and an allocation run's commit about a second.
const SQLITE_WRITER_AUTOCHECKPOINT_PAGES: i64 = 262_144;

/// The size the WAL file is cut back to when it starts over, so one large
/// transaction does not leave a file that big on disk for good.
const SQLITE_JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

impl Store {
    /// Connects to `url` (`sqlite://FILE` or `postgres://…`), creating a
    /// SQLite file if missing, and runs the migrations.
    pub async fn connect(url: &str, options: StoreOptions) -> StoreResult<Store> {
        install_default_drivers();
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}; use sqlite://FILE or postgres://…")
                    .into(),
            )
            .into());
        };
        let (writer, reader) = match engine {
            Engine::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let writer = sqlite_pool(
                    1,
                    SQLITE_WRITER_CACHE_KIB,
                    SQLITE_WRITER_AUTOCHECKPOINT_PAGES,
                )
                .connect(&url)
                .await?;
                let reader = sqlite_pool(
                    options.max_connections.clamp(1, 8),
                    SQLITE_READER_CACHE_KIB,
                    SQLITE_WRITER_AUTOCHECKPOINT_PAGES,
                )
                .connect(&url)
                .await?;
                (writer, reader)
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        sqlx::migrate!("./migrations").run(&writer).await?;
        let events = EventSignal::new();
        let batcher = options
            .group_commit
            .then(|| Batcher::spawn(engine, writer.clone(), events.clone()));
        let background = match engine {
            Engine::Postgres => listen_for_events(url, events.clone()).await?,
            Engine::Sqlite => checkpointer(url).await?,
        };
        let audit = crate::audit::AuditWriter::spawn(writer.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                engine,
                writer,
                reader,
                batcher,
                audit,
                lookups: Default::default(),
                events,
                background: Mutex::new(Some(background)),
            }),
        })
    }

    pub fn engine(&self) -> Engine {
        self.inner.engine
    }

    /// Whether reservations go through the group-commit worker.
    pub fn group_commit(&self) -> bool {
        self.inner.batcher.is_some()
    }

    /// Answers whether the database takes a trivial query (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.inner.reader).await?;
        Ok(())
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        let background = self.inner.background.lock().ok().and_then(|mut l| l.take());
        if let Some(task) = background {
            task.abort();
        }
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    pub(crate) fn writer(&self) -> &AnyPool {
        &self.inner.writer
    }

    /// A write transaction that holds the write lock from its first
    /// statement (see [`begin_write`]).
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        begin_write(&self.inner.writer, self.inner.engine).await
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.inner.reader
    }
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the
/// database's one write lock is taken at once, so every read inside the
/// transaction is a read of rows no other writer can change before commit
/// (which is how [`crate::ledger::lock_rows`] locks on SQLite). On
/// PostgreSQL a plain `BEGIN`: rows are locked one by one as statements
/// touch them.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    engine: Engine,
) -> StoreResult<Transaction<'static, Any>> {
    Ok(match engine {
        Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Engine::Postgres => pool.begin().await?,
    })
}

/// Listens for `NOTIFY jaego_events` on a connection of its own and bumps
/// `signal` for each, so a change committed through any instance wakes this
/// instance's subscribers. `PgListener` reconnects by itself; notifications
/// sent while it was away are lost, so it bumps once after every wait,
/// and readers re-query the log (they never trust the notification's
/// content).
async fn listen_for_events(url: &str, signal: EventSignal) -> StoreResult<JoinHandle<()>> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(crate::events::NOTIFY_CHANNEL).await?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(_) => signal.bump(),
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost its connection; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    signal.bump();
                }
            }
        }
    }))
}

/// Copies committed WAL pages back into the SQLite database file, on a
/// connection and thread of its own, every [`SQLITE_CHECKPOINT_EVERY`].
/// SQLite otherwise checkpoints in the connection whose commit pushed the
/// WAL past its limit, and that is always the one writer: the request or
/// allocation run that happened to commit then waited for the copy and
/// its fsync, and every other write queued behind it. A `PASSIVE`
/// checkpoint takes no lock that writers or readers wait for; the writer
/// starts the WAL over at its next transaction once every page is copied.
/// Durability does not depend on it: a commit is durable in the WAL.
async fn checkpointer(url: &str) -> StoreResult<JoinHandle<()>> {
    // A checkpoint after a big transaction takes seconds; that is its job,
    // not a slow statement worth a warning.
    let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
    let pool = sqlite_pool(1, 1024, SQLITE_WRITER_AUTOCHECKPOINT_PAGES)
        .connect_with(options)
        .await?;
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(SQLITE_CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
            }
        }
    }))
}

fn sqlite_pool(max: u32, cache_kib: i64, autocheckpoint_pages: i64) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(SQLITE_PRAGMAS).await?;
                conn.execute(
                    format!(
                        "PRAGMA cache_size = -{cache_kib}; \
                         PRAGMA wal_autocheckpoint = {autocheckpoint_pages}; \
                         PRAGMA journal_size_limit = {SQLITE_JOURNAL_SIZE_LIMIT};"
                    )
                    .as_str(),
                )
                .await?;
                Ok(())
            })
        })
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row};

    use crate::testing::fresh_sqlite;
    use crate::{Store, StoreOptions};

    /// The database file alone (without its WAL) holds a commit once the
    /// checkpointer has copied it there; the writer no longer does that
    /// itself for small WALs, so without the checkpointer the copy below
    /// would never see the tenant.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_commits_into_the_database_file() {
        let db = fresh_sqlite();
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        // Past the checkpointer's first rounds (one runs at start).
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        store.create_tenant("checkpointed").await.unwrap();
        let file = db.url.trim_start_matches("sqlite://").to_string();
        let copy = format!("{file}.copy");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            std::fs::copy(&file, &copy).unwrap();
            // A copy taken mid-checkpoint may be torn: read as not yet.
            let found = match sqlx::SqliteConnection::connect(&format!("sqlite://{copy}")).await {
                Ok(mut conn) => {
                    let n: i64 = sqlx::query(
                        "SELECT count(*) AS n FROM tenants WHERE name = 'checkpointed'",
                    )
                    .fetch_one(&mut conn)
                    .await
                    .map_or(0, |row| row.get("n"));
                    let _ = conn.close().await;
                    n
                }
                Err(_) => 0,
            };
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(format!("{copy}-wal"));
            let _ = std::fs::remove_file(format!("{copy}-shm"));
            if found == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the commit never reached the database file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        store.close().await;
    }
}
