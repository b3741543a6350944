//! Connecting, pool layout and migrations.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jaego_core::TenantId;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::postgres::PgListener;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Transaction};
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
    /// Orders per allocation-run transaction (see
    /// [`crate::orders::runs::RUN_CHUNK_ORDERS`], the default). Smaller chunks
    /// hold the writer, or PostgreSQL's row locks, for less time each.
    pub run_chunk_orders: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            group_commit: true,
            max_connections: 16,
            run_chunk_orders: crate::orders::runs::RUN_CHUNK_ORDERS,
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
    /// instance into a bump of `events`.
    listener: Mutex<Option<JoinHandle<()>>>,
    /// How many bulk jobs run (see [`Store::bulk_writes_begin`]).
    bulk: tokio::sync::Mutex<usize>,
    /// Orders per allocation-run transaction ([`StoreOptions::run_chunk_orders`]).
    pub(crate) run_chunk_orders: usize,
    /// The database's URL, for connections of a moment (SQLite's
    /// checkpoint after a bulk job).
    url: String,
}

/// SQLite settings for every connection: WAL with full durability (every
/// commit is fsynced), foreign keys on, and a busy wait for other processes
/// (`jaego verify`, a backup) rather than an instant error. Temporary
/// b-trees and statement journals (a large multi-row statement's undo
/// copy of the pages it changes) stay in memory instead of temp files: they
/// never outlive the statement, so durability does not depend on them. The
/// page cache
/// is set per pool: see [`SQLITE_WRITER_CACHE_KIB`].
///
/// Pages of 8 KiB rather than SQLite's 4 KiB: a
/// new database takes them (the setting comes before the first table and
/// before WAL, after which SQLite cannot change it); an existing one keeps
/// its own, and `jaego backup` writes the copy in 8 KiB pages (`VACUUM
/// INTO` takes the connection's setting), so a backup and a restore
/// convert it. Against 4 KiB, same machine, runs alternated: an allocation
/// run over 100,000 orders 4.70 s against 5.05 s, `hot-sku` 11,900-14,400
/// reservations/s against 11,000-12,300 with a lower p99, one transaction
/// per request about 10 % slower (more bytes per commit). 16 KiB ran the
/// allocation as fast but `hot-sku` no faster than 4 KiB
/// (docs/PERFORMANCE.md, "Pages of 8 KiB").
const SQLITE_PRAGMAS: &str = "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY; \
     PRAGMA journal_size_limit = 67108864;";

/// The writer's page cache: every batch touches the same hot index pages,
/// and SQLite's 2 MiB default re-reads them. Readers keep a small cache, so
/// memory stays bounded (one writer, at most 8 readers).
const SQLITE_WRITER_CACHE_KIB: i64 = 32 * 1024;
const SQLITE_READER_CACHE_KIB: i64 = 4 * 1024;

/// The writer's page cache while a bulk job runs (see
/// [`Store::bulk_writes_begin`]): a chunk of an allocation run changes
/// hundreds of MB of pages, and with the ordinary cache SQLite spills dirty
/// pages to the WAL mid-transaction and reads them back. Given back (and
/// the pages freed) when the last job ends.
const SQLITE_BULK_WRITER_CACHE_KIB: i64 = 256 * 1024;

/// How many WAL pages a commit may leave before it checkpoints them into
/// the database file (`wal_autocheckpoint`; SQLite's default is 1,000),
/// set on every connection and restored after a bulk job. A checkpoint
/// runs inside the commit that crosses the mark and holds the writer, so
/// it is a batch's worst case: at 1,000 pages the `hot-sku` p99 was 2.0-2.3
/// times its p50, at 250 1.6-1.8 times, with throughput within the noise
/// and a p50 about 5 % higher (docs/PERFORMANCE.md, "Smaller checkpoints").
const SQLITE_AUTOCHECKPOINT_PAGES: i64 = 250;

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
                let writer = sqlite_pool(1, SQLITE_WRITER_CACHE_KIB)
                    .connect(&url)
                    .await?;
                let reader =
                    sqlite_pool(options.max_connections.clamp(1, 8), SQLITE_READER_CACHE_KIB)
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
        if engine == Engine::Postgres {
            postgres_storage(&writer).await?;
        }
        let events = EventSignal::new();
        let batcher = options
            .group_commit
            .then(|| Batcher::spawn(engine, writer.clone(), events.clone(), url));
        let listener = match engine {
            Engine::Postgres => Some(listen_for_events(url, events.clone()).await?),
            Engine::Sqlite => None,
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
                listener: Mutex::new(listener),
                bulk: tokio::sync::Mutex::new(0),
                run_chunk_orders: options.run_chunk_orders.max(1),
                url: url.to_string(),
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

    /// What the group commit has done since the store opened; `None` with
    /// group commit off.
    pub fn group_commit_stats(&self) -> Option<crate::GroupCommitStats> {
        self.inner.batcher.as_ref().map(Batcher::stats)
    }

    /// Answers whether the database takes a trivial query (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.inner.reader).await?;
        Ok(())
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        let listener = self.inner.listener.lock().ok().and_then(|mut l| l.take());
        if let Some(listener) = listener {
            listener.abort();
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

    /// A write transaction of the orders of `tenants` (orders, their
    /// lines and allocations, returns, exchanges, shipments, pickups,
    /// allocation runs): [`begin_write`], then on PostgreSQL each tenant's
    /// order gate held shared until the end of the transaction (see
    /// [`order_gate`]). Every transaction that writes those tables begins
    /// here, except the order reset, which holds the gate alone.
    pub(crate) async fn begin_order_write(
        &self,
        tenants: &[TenantId],
    ) -> StoreResult<Transaction<'static, Any>> {
        let mut tx = self.begin_write().await?;
        order_gate(&mut tx, tenants, Gate::Shared).await?;
        Ok(tx)
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.inner.reader
    }

    /// Starts a bulk job (an allocation run) on SQLite: until the last one
    /// ends (the answer's [`BulkWrites::end`], or its drop), the writer
    /// does not checkpoint. SQLite checkpoints inside the commit that
    /// pushed the WAL past 1,000 pages, on the one writer; after a chunk of
    /// a run that is a copy of about 150 MB into the database file and its
    /// fsync, about a second inside the run's commit. Under ordinary load
    /// the writer's own checkpoints stay: they keep the WAL small and its
    /// file reused, which measured faster for reservations than a
    /// checkpointer of its own. The writer's page cache grows to
    /// [`SQLITE_BULK_WRITER_CACHE_KIB`] for the same time. Never fails: if
    /// the writer cannot be told, the job runs with checkpoints and the
    /// ordinary cache, only slower. Nothing on PostgreSQL.
    pub(crate) async fn bulk_writes_begin(&self) -> BulkWrites {
        let guard = BulkWrites {
            store: self.clone(),
            ended: false,
        };
        if self.inner.engine != Engine::Sqlite {
            return guard;
        }
        let mut running = self.inner.bulk.lock().await;
        *running += 1;
        if *running == 1
            && let Err(e) = sqlx::raw_sql(&format!(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -{SQLITE_BULK_WRITER_CACHE_KIB}"
            ))
            .execute(self.writer())
            .await
        {
            tracing::warn!(error = %e, "could not hold the writer's WAL checkpoints off or grow its cache");
        }
        guard
    }

    /// The end of a bulk job. When none is left, checkpoints what the jobs
    /// wrote on a connection of its own in the background
    /// (`PRAGMA wal_checkpoint(PASSIVE)` waits for no writer), and only
    /// then gives the writer its checkpoints back, unless a new job began
    /// meanwhile: so no commit ends up copying the jobs' WAL.
    async fn bulk_writes_end(&self) {
        if self.inner.engine != Engine::Sqlite {
            return;
        }
        let mut running = self.inner.bulk.lock().await;
        *running = running.saturating_sub(1);
        if *running > 0 {
            return;
        }
        if let Err(e) = sqlx::query(&format!("PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}"))
            .execute(self.writer())
            .await
        {
            tracing::error!(error = %e, "could not give the writer its page cache back");
        }
        drop(running);
        let store = self.clone();
        tokio::spawn(async move {
            // Its own connection: a checkpoint of a big WAL takes seconds,
            // which is its job, not a slow statement worth a warning.
            let checkpoint = async {
                let options =
                    AnyConnectOptions::from_str(&store.inner.url)?.disable_statement_logging();
                let mut conn = AnyConnection::connect_with(&options).await?;
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            };
            if let Err(e) = checkpoint.await {
                tracing::warn!(error = %e, "WAL checkpoint after a bulk job failed");
            }
            let running = store.inner.bulk.lock().await;
            if *running == 0
                && let Err(e) = sqlx::query(&format!(
                    "PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}"
                ))
                .execute(store.writer())
                .await
            {
                tracing::error!(error = %e, "could not restore the writer's WAL checkpoints");
            }
        });
    }
}

/// A bulk job under way (see [`Store::bulk_writes_begin`]). End it with
/// [`BulkWrites::end`]; dropped without that (a panic, an aborted task), it
/// ends in the background.
pub(crate) struct BulkWrites {
    store: Store,
    ended: bool,
}

impl BulkWrites {
    pub(crate) async fn end(mut self) {
        self.ended = true;
        self.store.bulk_writes_end().await;
    }
}

impl Drop for BulkWrites {
    fn drop(&mut self) {
        if !self.ended
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            runtime.spawn(async move { store.bulk_writes_end().await });
        }
    }
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the
/// database's one write lock is taken at once, so every read inside the
/// transaction is a read of rows no other writer can change before commit
/// (which is how [`crate::ledger::lock_rows`] locks on SQLite). On
/// PostgreSQL a plain `BEGIN`: rows are locked one by one as statements
/// touch them.
///
/// Every write transaction of the store begins here, not only those that
/// lock rows: in one process SQLite's writer pool has one connection, but
/// another process on the same file (`jaego token create` beside a running
/// server) is a second writer. A deferred `BEGIN` that reads and then
/// writes fails at once with `SQLITE_BUSY` when the other process holds or
/// has just released the write lock; `BEGIN IMMEDIATE` waits for the lock
/// (the busy timeout) before reading anything.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    engine: Engine,
) -> StoreResult<Transaction<'static, Any>> {
    Ok(match engine {
        Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Engine::Postgres => pool.begin().await?,
    })
}

/// How a transaction holds a tenant's order gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Beside every other order transaction of the tenant.
    Shared,
    /// Alone: the order reset.
    Exclusive,
}

/// Takes the order gate of each of `tenants` (a PostgreSQL advisory lock
/// held until the transaction ends, keyed by the tenant) as the
/// transaction's first lock. Row locks cannot serve the order reset: it
/// locks the orders that exist, but an order collected while it runs (and
/// an allocation taken over from a reservation with it) is a new row; if it
/// committed between the reset's read of the allocations and its deletes,
/// its allocation would be deleted without being given back. With the gate,
/// order transactions run beside each other and wait for a reset, and the
/// reset waits for those in progress. Taken first, before any row, so that
/// it adds no deadlock to the lock order (see
/// [`crate::orders::lock_orders`]). On SQLite nothing: `BEGIN IMMEDIATE`
/// already holds the one write lock.
pub(crate) async fn order_gate(
    tx: &mut Transaction<'_, Any>,
    tenants: &[TenantId],
    gate: Gate,
) -> StoreResult<()> {
    if crate::rows::Placeholders::of(tx) != crate::rows::Placeholders::Numbered {
        return Ok(());
    }
    // A void function read in FROM, so the row has a column the driver
    // can decode.
    let sql = match gate {
        Gate::Shared => "SELECT 1 FROM pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
        Gate::Exclusive => "SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))",
    };
    let mut keys: Vec<String> = tenants
        .iter()
        .map(|t| format!("jaego.orders:{t}"))
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        sqlx::query(sql).bind(key).execute(&mut **tx).await?;
    }
    Ok(())
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

/// Fill factors on PostgreSQL: how full a page of these tables is written,
/// leaving room for new versions of its rows on the same page, so that an
/// update is heap-only (no new entry in any of the table's indexes; none of
/// the updated columns is indexed). `order_lines` at half: an allocation run
/// (or a shipment) updates every line of a page at once; `psql`, 150,000
/// lines updated 10,000 at a time, 4.3 s at 100 against 1.0 s at 50. See
/// docs/PERFORMANCE.md, "Half-full pages for order lines on PostgreSQL"
/// (which also has `balances` at 80, tried and not kept).
pub(crate) const POSTGRES_FILLFACTORS: &[(&str, i64)] = &[("order_lines", 50)];

/// Storage settings that only PostgreSQL has, so not in the migrations
/// (which both engines share). A setting applies to pages written after
/// it; `ALTER TABLE` runs only when the setting is not there yet, so a
/// restart takes no lock.
async fn postgres_storage(pool: &AnyPool) -> StoreResult<()> {
    for (table, fillfactor) in POSTGRES_FILLFACTORS {
        let wanted = format!("fillfactor={fillfactor}");
        if !table_options(pool, table).await?.contains(&wanted) {
            sqlx::query(&format!("ALTER TABLE {table} SET ({wanted})"))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// A PostgreSQL table's storage parameters, as `name=value` texts.
async fn table_options(pool: &AnyPool, table: &str) -> StoreResult<Vec<String>> {
    let set: Option<String> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = $1::regclass",
    )
    .bind(table)
    .fetch_one(pool)
    .await?;
    Ok(set
        .unwrap_or_default()
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect())
}

fn sqlite_pool(max: u32, cache_kib: i64) -> AnyPoolOptions {
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
                         PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES}"
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

    async fn autocheckpoint(store: &Store) -> i64 {
        sqlx::query("PRAGMA wal_autocheckpoint")
            .fetch_one(store.writer())
            .await
            .unwrap()
            .get(0)
    }

    /// Whether a copy of the database file alone (without its WAL) has the
    /// tenant: only once a checkpoint has copied the commit there.
    async fn in_the_file(file: &str, tenant: &str) -> bool {
        let copy = format!("{file}.copy");
        std::fs::copy(file, &copy).unwrap();
        // A copy taken mid-checkpoint may be torn: read as not yet.
        let found = match sqlx::SqliteConnection::connect(&format!("sqlite://{copy}")).await {
            Ok(mut conn) => {
                let n: i64 = sqlx::query("SELECT count(*) FROM tenants WHERE name = $1")
                    .bind(tenant)
                    .fetch_one(&mut conn)
                    .await
                    .map_or(0, |row| row.get(0));
                let _ = conn.close().await;
                n == 1
            }
            Err(_) => false,
        };
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{copy}{suffix}"));
        }
        found
    }

    async fn cache_kib(store: &Store) -> i64 {
        let pages: i64 = sqlx::query("PRAGMA cache_size")
            .fetch_one(store.writer())
            .await
            .unwrap()
            .get(0);
        -pages
    }

    /// During a bulk job the writer does not checkpoint and has the larger
    /// page cache; when the last one ends (or is dropped) what was written
    /// reaches the database file without another commit, and the writer's
    /// checkpoints and its ordinary cache come back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_jobs_hold_the_writers_checkpoints_and_checkpoint_at_the_end() {
        let db = fresh_sqlite();
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let file = db.url.trim_start_matches("sqlite://").to_string();
        assert_eq!(
            autocheckpoint(&store).await,
            super::SQLITE_AUTOCHECKPOINT_PAGES
        );
        assert_eq!(cache_kib(&store).await, super::SQLITE_WRITER_CACHE_KIB);
        let first = store.bulk_writes_begin().await;
        let second = store.bulk_writes_begin().await;
        assert_eq!(autocheckpoint(&store).await, 0);
        assert_eq!(cache_kib(&store).await, super::SQLITE_BULK_WRITER_CACHE_KIB);
        store.create_tenant("bulk").await.unwrap();
        assert!(!in_the_file(&file, "bulk").await, "no checkpoint yet");
        first.end().await;
        assert_eq!(autocheckpoint(&store).await, 0, "one job still runs");
        assert_eq!(cache_kib(&store).await, super::SQLITE_BULK_WRITER_CACHE_KIB);
        // Dropped, as by a panic: it still ends.
        drop(second);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !in_the_file(&file, "bulk").await
            || autocheckpoint(&store).await != super::SQLITE_AUTOCHECKPOINT_PAGES
            || cache_kib(&store).await != super::SQLITE_WRITER_CACHE_KIB
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the bulk job's commit never reached the database file, or checkpoints never came back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        store.close().await;
    }

    /// Two processes on one SQLite file (the CLI's `jaego token create`
    /// beside a running server): while the server holds the write lock,
    /// the CLI's transaction, which reads the tenant and then writes the
    /// token, waits for it and succeeds. A deferred `BEGIN` would read its
    /// snapshot first and fail with `SQLITE_BUSY` at its first write, as
    /// the server's commit made that snapshot stale.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_process_writes_after_the_first_one_commits() {
        let db = fresh_sqlite();
        let server = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let tenant = server.create_tenant("shop").await.unwrap();
        let cli = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let mut held = server.begin_write().await.unwrap();
        sqlx::query("UPDATE tenants SET name = 'shop 2' WHERE id = $1")
            .bind(tenant.to_string())
            .execute(&mut *held)
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let cli = cli.clone();
            async move {
                cli.create_token(tenant, jaego_core::role::Role::Owner, "cli")
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the CLI waits for the write lock");
        held.commit().await.unwrap();
        let token = waiting
            .await
            .unwrap()
            .expect("the CLI's token, once the server committed");
        assert!(token.secret.starts_with("jg_"));
        let tokens = server.list_tokens(tenant).await.unwrap();
        assert_eq!(tokens.len(), 1);
        cli.close().await;
        server.close().await;
    }

    /// On PostgreSQL the tables of `POSTGRES_FILLFACTORS` have theirs,
    /// and a restart (a second connect to the same database) finds them
    /// there and leaves them. SQLite has no such setting and connects as before.
    #[tokio::test]
    async fn updated_tables_leave_room_on_their_pages_on_postgresql() {
        for db in crate::testing::fresh_databases("order_lines fill factor").await {
            let first = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let second = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            if db.engine == "postgres" {
                for (table, fillfactor) in super::POSTGRES_FILLFACTORS {
                    let options = super::table_options(second.writer(), table).await.unwrap();
                    assert_eq!(options, [format!("fillfactor={fillfactor}")], "{table}");
                }
            }
            first.close().await;
            second.close().await;
        }
    }

    /// Migration 0019 drops the tenant, order and SKU that allocation rows
    /// copied from their line, and 0020 copies the allocation rows and run
    /// results into tables without foreign keys. A database written before
    /// both keeps every allocation, read through its line, and every run
    /// result: the order shows each allocation on its line, the run its
    /// result, and `jaego verify` finds the ledger, the balance and the
    /// order rows in agreement and nothing dangling.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upgrade_keeps_allocations_on_their_lines() {
        for db in crate::testing::fresh_databases("db::an_upgrade_keeps_allocations").await {
            let url = match db.engine {
                "sqlite" => format!("{}?mode=rwc", db.url),
                _ => db.url.clone(),
            };
            // The migrations before 0019, from the source tree.
            let dir = std::env::temp_dir().join(format!(
                "jaego-migrations-{}",
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
            for entry in std::fs::read_dir(&source).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                if name.as_str() < "0019" {
                    std::fs::copy(&path, dir.join(&name)).unwrap();
                }
            }
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            sqlx::migrate::Migrator::new(dir.as_path())
                .await
                .unwrap()
                .run(&mut conn)
                .await
                .unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            let tenant = uuid::Uuid::now_v7().to_string();
            let location = uuid::Uuid::now_v7().to_string();
            let sku = uuid::Uuid::now_v7().to_string();
            let channel = uuid::Uuid::now_v7().to_string();
            let order = uuid::Uuid::now_v7().to_string();
            let lines = [
                uuid::Uuid::now_v7().to_string(),
                uuid::Uuid::now_v7().to_string(),
            ];
            let run = uuid::Uuid::now_v7().to_string();
            for (sql, args) in [
                (
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, 'old', 1)",
                    vec![&tenant],
                ),
                (
                    "INSERT INTO locations (id, tenant_id, code, name, kind, time_zone, policy, created_at) \
                     VALUES ($1, $2, 'W1', 'W1', 'warehouse', 'Asia/Seoul', 'strict', 1)",
                    vec![&location, &tenant],
                ),
                (
                    "INSERT INTO skus (id, tenant_id, code, name, tracked, created_at, updated_at) \
                     VALUES ($1, $2, 'S1', 'S1', 1, 1, 1)",
                    vec![&sku, &tenant],
                ),
                (
                    "INSERT INTO balances (tenant_id, sku_id, location_id, on_hand, allocated, updated_at) \
                     VALUES ($1, $2, $3, 5, 3, 1)",
                    vec![&tenant, &sku, &location],
                ),
                (
                    "INSERT INTO movements (id, tenant_id, sku_id, location_id, kind, quantity, d_on_hand, actor, created_at) \
                     VALUES ($1, $2, $3, $4, 'receipt', 5, 5, 'test', 1)",
                    vec![&uuid::Uuid::now_v7().to_string(), &tenant, &sku, &location],
                ),
                (
                    "INSERT INTO movements (id, tenant_id, sku_id, location_id, kind, quantity, d_allocated, actor, created_at) \
                     VALUES ($1, $2, $3, $4, 'allocate', 3, 3, 'test', 1)",
                    vec![&uuid::Uuid::now_v7().to_string(), &tenant, &sku, &location],
                ),
                (
                    "INSERT INTO channels (id, tenant_id, code, name, kind, created_at) \
                     VALUES ($1, $2, 'MALL', 'Mall', 'web', 1)",
                    vec![&channel, &tenant],
                ),
                (
                    "INSERT INTO orders (id, tenant_id, channel_id, external_no, status, collected_at, updated_at) \
                     VALUES ($1, $2, $3, 'A-1', 'allocated', 1, 1)",
                    vec![&order, &tenant, &channel],
                ),
                (
                    "INSERT INTO order_lines (id, tenant_id, order_id, channel_id, line_no, item_code, sku_id, quantity, allocated, created_at) \
                     VALUES ($1, $2, $3, $4, 1, 'S1', $5, 2, 2, 1), ($6, $2, $3, $4, 2, 'S1', $5, 1, 1, 1)",
                    vec![&lines[0], &tenant, &order, &channel, &sku, &lines[1]],
                ),
                (
                    "INSERT INTO order_allocations (line_id, location_id, tenant_id, order_id, sku_id, quantity) \
                     VALUES ($1, $2, $3, $4, $5, 2), ($6, $2, $3, $4, $5, 1)",
                    vec![&lines[0], &location, &tenant, &order, &sku, &lines[1]],
                ),
                (
                    "INSERT INTO allocation_runs (id, tenant_id, dry_run, considered, allocated, partial, skipped, units, actor, started_at, finished_at) \
                     VALUES ($1, $2, 0, 1, 1, 0, 0, 3, 'test', 1, 1)",
                    vec![&run, &tenant],
                ),
                (
                    "INSERT INTO allocation_results (run_id, order_id, tenant_id, outcome, units) \
                     VALUES ($1, $2, $3, 'allocated', 3)",
                    vec![&run, &order, &tenant],
                ),
            ] {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(a.clone());
                }
                q.execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();

            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let tenant: jaego_core::TenantId = tenant.parse().unwrap();
            let order: jaego_core::OrderId = order.parse().unwrap();
            let read = store.get_order(tenant, order).await.unwrap();
            let allocated: Vec<(String, i64)> = read
                .lines
                .iter()
                .flat_map(|l| {
                    l.allocations
                        .iter()
                        .map(move |a| (l.id.to_string(), a.quantity))
                })
                .collect();
            assert_eq!(
                allocated,
                vec![(lines[0].clone(), 2), (lines[1].clone(), 1)],
                "{}",
                db.engine
            );
            let results = store
                .allocation_results(
                    tenant,
                    run.parse().unwrap(),
                    &crate::page::PageRequest::default(),
                )
                .await
                .unwrap();
            let results: Vec<_> = results
                .items
                .iter()
                .map(|r| (r.order_id, r.outcome, r.units))
                .collect();
            assert_eq!(results, [(order, "allocated", 3)], "{}", db.engine);
            assert_eq!(store.verify().await.unwrap(), [], "{}", db.engine);
            assert!(
                sqlx::query("SELECT order_id FROM order_allocations")
                    .fetch_all(store.reader())
                    .await
                    .is_err(),
                "{}: the copied columns are gone",
                db.engine
            );
            store.close().await;
        }
    }

    async fn page_size(url: &str) -> i64 {
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        let size: i64 = sqlx::query("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        conn.close().await.unwrap();
        size
    }

    /// A new SQLite database has 8 KiB pages. One made with 4 KiB keeps
    /// them (WAL fixes the size), and its backup is written in 8 KiB
    /// pages, so restoring it converts the database with its data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_databases_have_8_kib_pages_and_a_backup_converts_an_old_one() {
        let new = fresh_sqlite();
        Store::connect(&new.url, StoreOptions::default())
            .await
            .unwrap()
            .close()
            .await;
        assert_eq!(page_size(&new.url).await, 8192);

        let old = fresh_sqlite();
        let mut conn = sqlx::AnyConnection::connect(&format!("{}?mode=rwc", old.url))
            .await
            .unwrap();
        sqlx::raw_sql("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let store = Store::connect(&old.url, StoreOptions::default())
            .await
            .unwrap();
        let tenant = store.create_tenant("old pages").await.unwrap();
        assert_eq!(page_size(&old.url).await, 4096);
        let dir = crate::backup::sqlite_file(&old.url)
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let backup = dir.join("backup.db");
        store.backup_sqlite(&backup).await.unwrap();
        store.close().await;
        let restored = format!("sqlite://{}", dir.join("restored.db").display());
        crate::backup::restore_sqlite(&backup, &restored, false)
            .await
            .unwrap();
        let store = Store::connect(&restored, StoreOptions::default())
            .await
            .unwrap();
        assert_eq!(page_size(&restored).await, 8192);
        assert_eq!(store.first_tenant().await.unwrap(), Some(tenant));
        store.close().await;
    }
}
