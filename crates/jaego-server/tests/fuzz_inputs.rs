//! Property-based fuzzing of the parsers that take files and bodies from
//! outside: the CSV importers (SKUs, stock counts) and JSON bodies, driven
//! through the whole application (`jaego_server::app`, in process) on a real
//! SQLite database.
//!
//! Every input, however hostile, must be answered without a 5xx, errors as
//! problem+json, and a refused import must change nothing (all or nothing).
//!
//! Order ingest: `order_bodies_survive_any_shape` fuzzes the table-order
//! tablets' orders; the channel order ingest joins it when it lands.
//!
//! To fuzz a new parser (order ingest, channel webhooks, …), add a test
//! that calls [`fuzz_endpoint`] with its route, content type and a body
//! strategy: `tricky_csv(columns)` for a CSV file, `any_json()` for JSON,
//! or `bytes()` for raw bytes, plus an invariant closure if it has one.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jaego_server::{AppState, app};
use jaego_store::testing::{TestDatabase, fresh_sqlite};
use jaego_store::{Store, StoreOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt;

/// One application over one SQLite database, shared by the cases of a
/// test binary (a fresh database per case would cost more than the case).
struct World {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    store: Store,
    token: String,
    _db: TestDatabase,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = fresh_sqlite();
        let (store, token) = runtime.block_on(async {
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            let token = store.bootstrap().await.unwrap().unwrap().secret;
            (store, token)
        });
        let router = runtime.block_on(async { app(AppState::new(store.clone())) });
        let w = World {
            runtime,
            router,
            store,
            token,
            _db: db,
        };
        w.runtime.block_on(async {
            for (path, body) in [
                (
                    "/api/v1/locations",
                    r#"{"code":"WH","name":"WH","kind":"warehouse","time_zone":"Asia/Seoul"}"#,
                ),
                ("/api/v1/skus", r#"{"code":"A-1","name":"A"}"#),
                (
                    "/api/v1/channels",
                    r#"{"code":"MALL","name":"MALL","kind":"web","locations":["WH"]}"#,
                ),
                (
                    "/api/v1/locations",
                    r#"{"code":"ST","name":"ST","kind":"store","time_zone":"Asia/Seoul"}"#,
                ),
            ] {
                let (status, _, text) = w
                    .send("POST", path, "application/json", body.as_bytes().to_vec())
                    .await;
                assert!(status.is_success(), "{path}: {text}");
            }
            let (status, _, text) = w
                .send(
                    "PUT",
                    "/api/v1/table-order/ST/menu/A-1",
                    "application/json",
                    br#"{"initial_count": 1000, "current_count": 1000}"#.to_vec(),
                )
                .await;
            assert!(status.is_success(), "menu: {text}");
        });
        w
    })
}

impl World {
    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).to_string(),
        )
    }

    /// How many SKUs and movements the tenant has: what an import changes.
    async fn footprint(&self) -> (usize, usize) {
        let tenant = self.store.first_tenant().await.unwrap().unwrap();
        let (mut skus, mut movements) = (0, 0);
        let mut page = jaego_store::PageRequest {
            after: None,
            limit: Some(500),
        };
        loop {
            let p = self
                .store
                .list_skus(tenant, &Default::default(), &page)
                .await
                .unwrap();
            skus += p.items.len();
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        page.after = None;
        loop {
            let p = self
                .store
                .list_movements(tenant, &Default::default(), &page)
                .await
                .unwrap();
            movements += p.items.len();
            match p.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        (skus, movements)
    }
}

/// Fuzzes one route: every body from `bodies` is sent; the answer must not
/// be a 5xx, an error must be problem+json, and a refused request must
/// leave the tenant's SKUs and movements as they were.
fn fuzz_endpoint(
    cases: u32,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    bodies: impl Strategy<Value = Vec<u8>>,
) {
    // The tests of this file share one tenant and run on parallel threads:
    // one fuzzing a route whose accepted requests create SKUs (an import)
    // would change the footprint another checks around a refused request.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let w = world();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&bodies, |body| {
            let (status, answer_type, text) = w.runtime.block_on(async {
                let before = w.footprint().await;
                let answer = w.send(method, path, content_type, body.clone()).await;
                if !answer.0.is_success() {
                    assert_eq!(
                        w.footprint().await,
                        before,
                        "a refused request changed something: {}",
                        answer.2
                    );
                }
                answer
            });
            prop_assert!(
                !status.is_server_error(),
                "{status} for {:?}: {text}",
                String::from_utf8_lossy(&body)
            );
            if !status.is_success() {
                prop_assert_eq!(answer_type.as_str(), "application/problem+json", "{}", text);
                let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
                prop_assert!(problem["code"].is_string(), "{}", text);
            }
            Ok(())
        })
        .unwrap();
}

/// Cells that have broken CSV parsers elsewhere: quotes, separators,
/// line ends, a byte-order mark, control characters, huge and odd numbers,
/// non-ASCII text, and the importers' own list separator.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_string()),
        Just("\"\"".to_string()),
        Just("a,b".to_string()),
        Just("\"a\nb\"".to_string()),
        Just("\r\n".to_string()),
        Just("\u{feff}code".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{1f}".to_string()),
        Just("-1".to_string()),
        Just("1e9".to_string()),
        Just("1000000001".to_string()),
        Just("99999999999999999999".to_string()),
        Just("x|y||z".to_string()),
        Just("true".to_string()),
        Just("재고-티셔츠".to_string()),
        Just("A-1".to_string()),
        "[a-zA-Z0-9_./-]{1,12}",
        "\\PC{0,80}",
        "[0-9]{1,4}",
        (0usize..300).prop_map(|n| "x".repeat(n)),
    ]
}

/// A CSV file: a header from `columns` (shuffled, sometimes with an extra
/// or missing column, any case), then rows of tricky cells with a random
/// field count, joined by `\n` or `\r\n`, sometimes with a BOM.
fn tricky_csv(columns: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let header = proptest::sample::subsequence(columns.to_vec(), 0..=columns.len())
        .prop_shuffle()
        .prop_flat_map(|cols| {
            (
                Just(cols),
                prop_oneof![Just(None), Just(Some("extra")), Just(Some("CODE"))],
            )
        })
        .prop_map(|(mut cols, extra)| {
            if let Some(extra) = extra {
                cols.push(extra);
            }
            cols.join(",")
        });
    let rows = proptest::collection::vec(proptest::collection::vec(cell(), 0..6), 0..12);
    (header, rows, any::<bool>(), any::<bool>()).prop_map(|(header, rows, crlf, bom)| {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        out.push_str(&header);
        for row in rows {
            out.push_str(end);
            out.push_str(&row.join(","));
        }
        out.into_bytes()
    })
}

/// Any bytes, mostly short.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

/// JSON values of any shape (nested a little), as bytes.
fn any_json() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        cell().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("sku".to_string()),
                    Just("location".to_string()),
                    Just("lines".to_string()),
                    Just("quantity".to_string()),
                    Just("kind".to_string()),
                    Just("ttl_secs".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    value.prop_map(|v| serde_json::to_vec(&v).unwrap())
}

#[test]
fn sku_import_survives_hostile_files() {
    fuzz_endpoint(
        300,
        "POST",
        "/api/v1/skus/import",
        "text/csv",
        tricky_csv(&[
            "code",
            "name",
            "product_id",
            "tracked",
            "barcodes",
            "option_tags",
        ]),
    );
    fuzz_endpoint(100, "POST", "/api/v1/skus/import", "text/csv", bytes());
}

#[test]
fn stock_import_survives_hostile_files() {
    fuzz_endpoint(
        300,
        "POST",
        "/api/v1/locations/WH/stock/import",
        "text/csv",
        tricky_csv(&["sku_code", "counted"]),
    );
    fuzz_endpoint(
        100,
        "POST",
        "/api/v1/locations/WH/stock/import",
        "text/csv",
        bytes(),
    );
}

#[test]
fn json_bodies_survive_any_shape() {
    for path in ["/api/v1/reservations", "/api/v1/movements", "/api/v1/skus"] {
        fuzz_endpoint(150, "POST", path, "application/json", any_json());
    }
    fuzz_endpoint(
        100,
        "POST",
        "/api/v1/transfers",
        "application/json",
        bytes(),
    );
}

/// Orders from outside: table-order tablets and channel order ingest (one
/// order, a batch, a CSV file; the signed webhook shares the batch parser,
/// which `routes::order_ingest` also property-tests on its own).
#[test]
fn order_bodies_survive_any_shape() {
    fuzz_endpoint(
        200,
        "POST",
        "/api/v1/table-order/ST/orders",
        "application/json",
        any_json(),
    );
    fuzz_endpoint(
        50,
        "POST",
        "/api/v1/table-order/ST/orders",
        "application/json",
        bytes(),
    );
    for path in [
        "/api/v1/channels/MALL/orders",
        "/api/v1/channels/MALL/orders/batch",
    ] {
        fuzz_endpoint(100, "POST", path, "application/json", any_json());
    }
    fuzz_endpoint(
        150,
        "POST",
        "/api/v1/channels/MALL/orders/import",
        "text/csv",
        tricky_csv(&[
            "order_no",
            "item_code",
            "sku",
            "quantity",
            "gift",
            "postal_code",
        ]),
    );
    fuzz_endpoint(
        50,
        "POST",
        "/api/v1/channels/MALL/orders/import",
        "text/csv",
        bytes(),
    );
}
