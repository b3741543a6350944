//! Fresh databases for tests on both engines (feature `testing`).
//!
//! Every test gets its own database: a new SQLite file in a temp directory,
//! and, when `JAEGO_TEST_POSTGRES_URL` is set, a new PostgreSQL database
//! created on that server. Without the variable the PostgreSQL half is
//! skipped and says so on stderr (written directly, so the test harness's
//! output capture does not hide it).

use std::io::Write;
use std::path::PathBuf;

use sqlx::{Connection, Executor};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "JAEGO_TEST_POSTGRES_URL";

/// A database URL for one test run, and the directory to clean up after.
pub struct TestDatabase {
    pub engine: &'static str,
    pub url: String,
    _dir: Option<TempDir>,
    _postgres: Option<DropDatabase>,
}

/// Drops a test's PostgreSQL database when the test is done, so runs do not
/// pile databases up on the server. Runs on a thread of its own because
/// `Drop` cannot await.
struct DropDatabase {
    base: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let base = self.base.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let done = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&base).await {
                    let _ = conn.execute(sql.as_str()).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = done.join();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite database, and a fresh PostgreSQL one if configured.
/// `test` names the caller in the skip notice.
pub async fn fresh_databases(test: &str) -> Vec<TestDatabase> {
    let mut out = vec![fresh_sqlite()];
    out.extend(fresh_postgres_if_set(test).await);
    out
}

/// A fresh PostgreSQL database if configured, for a test that means
/// something only there (row locks); else `None`, and the skip notice.
pub async fn fresh_postgres_if_set(test: &str) -> Option<TestDatabase> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(base) if !base.is_empty() => Some(fresh_postgres(&base).await),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED on PostgreSQL: {test} ({POSTGRES_URL_VAR} is not set)"
            );
            None
        }
    }
}

/// Returns once some session of the PostgreSQL database at `url` waits
/// for a lock (polled for at most 10 s, else panics): a test's cue that
/// the request it started has reached a row another transaction holds.
pub async fn until_a_session_waits_for_a_lock(url: &str) {
    until_sessions_wait_for_locks(url, 1, || false).await;
}

/// Returns once `count` sessions of the PostgreSQL database at `url` wait
/// for a lock (a row's, or an advisory lock), or sooner once `done()` (a
/// request the test expects to wait may instead finish); polled on one
/// connection for at most 10 s, else panics.
pub async fn until_sessions_wait_for_locks(url: &str, count: i64, done: impl Fn() -> bool) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the test database");
    for _ in 0..1_000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("read pg_stat_activity");
        if waiting >= count || done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{count} sessions did not wait for a lock within 10 s");
}

pub fn fresh_sqlite() -> TestDatabase {
    let dir = std::env::temp_dir().join(format!("jaego-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let url = format!("sqlite://{}", dir.join("jaego.db").display());
    TestDatabase {
        engine: "sqlite",
        url,
        _dir: Some(TempDir(dir)),
        _postgres: None,
    }
}

/// Creates `jaego_test_<uuid>` on the server of `base` and returns its URL.
pub async fn fresh_postgres(base: &str) -> TestDatabase {
    sqlx::any::install_default_drivers();
    let name = format!("jaego_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::AnyConnection::connect(base)
        .await
        .expect("connect to JAEGO_TEST_POSTGRES_URL");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (server, _) = base
        .rsplit_once('/')
        .expect("postgres URL with a database path");
    let query = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    TestDatabase {
        engine: "postgres",
        url: format!("{server}/{name}{query}"),
        _dir: None,
        _postgres: Some(DropDatabase {
            base: base.to_string(),
            name,
        }),
    }
}

/// A tracked SKU named by its code, with no product, barcode or tag: the
/// world of most store tests.
pub fn new_sku(code: &str) -> crate::catalog::NewSku {
    crate::catalog::NewSku {
        code: code.into(),
        name: code.into(),
        product_id: None,
        tracked: true,
        barcodes: vec![],
        option_tags: vec![],
    }
}

/// A strict location named by its code, in Seoul, with no coordinates.
pub fn new_location(
    code: &str,
    kind: jaego_core::catalog::LocationKind,
) -> crate::places::NewLocation {
    crate::places::NewLocation {
        code: code.into(),
        name: code.into(),
        kind,
        time_zone: "Asia/Seoul".into(),
        latitude: None,
        longitude: None,
        policy: jaego_core::StockPolicy::Strict,
    }
}

/// The web mall "MALL" sourced from `locations`, in their priority order.
pub fn new_mall(locations: Vec<jaego_core::LocationId>) -> crate::places::NewChannel {
    crate::places::NewChannel {
        code: "MALL".into(),
        name: "Mall".into(),
        kind: "web".into(),
        policy: None,
        locations,
    }
}

/// A receipt of `quantity` units of `sku` at `location`, by "test", with
/// no reason, reference or idempotency key.
pub fn receipt(
    sku: jaego_core::SkuId,
    location: jaego_core::LocationId,
    quantity: i64,
) -> crate::ledger::NewMovement {
    crate::ledger::NewMovement {
        sku_id: sku,
        location_id: location,
        kind: jaego_core::MovementKind::Receipt,
        custom_type: None,
        quantity,
        reason: String::new(),
        reference: String::new(),
        actor: "test".into(),
        idempotency_key: None,
    }
}

/// What [`one_order_world`] made.
pub struct OneOrder {
    pub tenant: jaego_core::TenantId,
    pub channel: jaego_core::ChannelId,
    pub sku: jaego_core::SkuId,
    pub location: jaego_core::LocationId,
    pub order: jaego_core::OrderId,
}

/// A tenant `name` with warehouse L1, SKU S1 with `stock` units received
/// there, the mall of [`new_mall`] on L1, and one open order "A" of one S1.
pub async fn one_order_world(store: &crate::Store, name: &str, stock: i64) -> OneOrder {
    use jaego_core::catalog::LocationKind;

    let tenant = store.create_tenant(name).await.unwrap();
    let location = store
        .create_location(tenant, &new_location("L1", LocationKind::Warehouse))
        .await
        .unwrap()
        .id;
    let sku = store.create_sku(tenant, &new_sku("S1")).await.unwrap().id;
    if stock > 0 {
        store
            .record_movement(tenant, &receipt(sku, location, stock))
            .await
            .unwrap();
    }
    let channel = store
        .create_channel(tenant, &new_mall(vec![location]))
        .await
        .unwrap()
        .id;
    let order = crate::orders::NewOrder {
        external_no: "A".into(),
        lines: vec![crate::orders::NewOrderLine {
            item_code: "S1".into(),
            quantity: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    let order = store
        .collect_orders(tenant, channel, &[order], "test")
        .await
        .unwrap()[0]
        .1
        .id;
    OneOrder {
        tenant,
        channel,
        sku,
        location,
        order,
    }
}
