//! A real jaego server on a loopback port for each test, over a fresh
//! database (SQLite always; PostgreSQL too when `JAEGO_TEST_POSTGRES_URL`
//! is set), and a small HTTP client for it.

#![allow(dead_code)]

pub mod sse;

use std::net::SocketAddr;

use jaego_store::testing::{TestDatabase, fresh_databases};
use jaego_store::{Store, StoreOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping it without [`TestServer::stop`] aborts it.
pub struct TestServer {
    pub engine: &'static str,
    pub addr: SocketAddr,
    pub store: Store,
    /// The bootstrap owner token.
    pub owner: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _db: TestDatabase,
}

/// One server per engine under test, each on a fresh database.
pub async fn servers(test: &str) -> Vec<TestServer> {
    servers_with(test, StoreOptions::default()).await
}

pub async fn servers_with(test: &str, options: StoreOptions) -> Vec<TestServer> {
    let mut out = Vec::new();
    for db in fresh_databases(test).await {
        out.push(start(db, options.clone()).await);
    }
    out
}

pub async fn start(db: TestDatabase, options: StoreOptions) -> TestServer {
    start_configured(db, options, config()).await
}

/// What a test server runs with unless its test says otherwise: `jaego
/// serve`'s defaults, except that webhooks may be delivered to loopback,
/// where the tests' receivers listen (`--webhook-private-targets allow`).
pub fn config() -> jaego_server::ServerConfig {
    let mut config = jaego_server::ServerConfig::default();
    config.live.webhooks.private_targets = jaego_server::live::egress::PrivateTargets::Allow;
    config
}

/// One server per engine, each with `config`.
pub async fn servers_configured(test: &str, config: jaego_server::ServerConfig) -> Vec<TestServer> {
    let mut out = Vec::new();
    for db in fresh_databases(test).await {
        out.push(start_configured(db, StoreOptions::default(), config.clone()).await);
    }
    out
}

pub async fn start_configured(
    db: TestDatabase,
    options: StoreOptions,
    config: jaego_server::ServerConfig,
) -> TestServer {
    let store = Store::connect(&db.url, options).await.expect("connect");
    let owner = store
        .bootstrap()
        .await
        .expect("bootstrap")
        .expect("fresh database")
        .secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(jaego_server::serve_with(
        store.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
        config,
    ));
    TestServer {
        engine: db.engine,
        addr,
        store,
        owner,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
        _db: db,
    }
}

/// An answer: status, headers and the JSON body (or `Value::Null`).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The problem+json `code`, if this is an error.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `body` (JSON unless `None`) with `token` as bearer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, &self.owner, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, &self.owner, Some(body)).await
    }

    /// Creates a token of `role` with the owner token; returns its secret.
    pub async fn token(&self, role: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                json!({"role": role, "name": format!("{role} token")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", self.engine, r.text);
        assert_eq!(r.body["role"], role, "{}: {}", self.engine, r.text);
        r.body["token"].as_str().unwrap().to_string()
    }

    /// Creates a location, a SKU and receives `on_hand` units; returns the
    /// (location code, sku code).
    pub async fn seed(&self, location: &str, sku: &str, on_hand: i64) -> (String, String) {
        let r = self.post("/api/v1/locations", json!({"code": location, "name": location, "kind": "warehouse", "time_zone": "Asia/Seoul"})).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
            "{}: {}",
            self.engine,
            r.text
        );
        let r = self
            .post("/api/v1/skus", json!({"code": sku, "name": sku}))
            .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
            "{}: {}",
            self.engine,
            r.text
        );
        if on_hand > 0 {
            let r = self.post("/api/v1/movements", json!({"sku": sku, "location": location, "kind": "receipt", "quantity": on_hand})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}: {}", self.engine, r.text);
        }
        (location.to_string(), sku.to_string())
    }

    /// The balance of (sku, location) as the API reports it.
    pub async fn balance(&self, sku: &str, location: &str) -> Value {
        let r = self
            .get(&format!("/api/v1/balances?sku={sku}&location={location}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body["items"][0].clone()
    }

    /// (on_hand, allocated, available) of (sku, location), read over HTTP
    /// like [`TestServer::balance`]: a missing row or figure fails rather
    /// than reading as zero.
    pub async fn figures(&self, sku: &str, location: &str) -> (i64, i64, i64) {
        let b = self.balance(sku, location).await;
        let figure = |name: &str| {
            b[name].as_i64().unwrap_or_else(|| {
                panic!(
                    "{}: no {name} in the balance of {sku} at {location}: {b}",
                    self.engine
                )
            })
        };
        (figure("on_hand"), figure("allocated"), figure("available"))
    }

    /// Asserts `jaego verify` finds nothing wrong.
    pub async fn assert_verified(&self) {
        let mismatches = self.store.verify().await.expect("verify");
        assert!(mismatches.is_empty(), "{}: {mismatches:?}", self.engine);
    }

    /// Graceful shutdown: in-flight requests finish, then the server stops.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Calls `path` as the owner and answers the body, asserting a 2xx: for
/// the set-up steps of a test, where a failure is the test's own bug.
pub async fn ok(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = server.call(method, path, &server.owner, body).await;
    assert!(
        r.status.is_success(),
        "{}: {path}: {} {}",
        server.engine,
        r.status,
        r.text
    );
    r.body
}

/// Asserts `reply` is an RFC 9457 problem with `status` and `code`: the
/// content type is `application/problem+json` and `type`, `title`,
/// `status` and `code` are all there and agree.
pub fn assert_problem(reply: &Reply, status: StatusCode, code: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: {}", reply.text);
    let content_type = reply
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(
        content_type, "application/problem+json",
        "{context}: content type"
    );
    assert_eq!(reply.code(), code, "{context}: {}", reply.text);
    assert_eq!(
        reply.body["status"].as_u64(),
        Some(u64::from(status.as_u16())),
        "{context}: {}",
        reply.text
    );
    assert_eq!(
        reply.body["type"].as_str(),
        Some(format!("https://jaego.dev/problems/{code}").as_str()),
        "{context}: {}",
        reply.text
    );
    assert!(
        reply.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{context}: {}",
        reply.text
    );
}

impl TestServer {
    /// Asks the server to shut down gracefully, without waiting.
    pub fn trigger_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for the server task to end (after [`TestServer::trigger_stop`]);
    /// the database stays until the `TestServer` drops.
    pub async fn wait_stopped(&mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// The URL of this server's database (to reopen it after a stop).
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// Every movement of the tenant of `token`, oldest first, read through
    /// the API page by page.
    pub async fn all_movements(&self, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = "/api/v1/movements?limit=500".to_string();
        for _ in 0..100 {
            let r = self.call(Method::GET, &path, token, None).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", self.engine, r.text);
            out.extend(r.body["items"].as_array().cloned().unwrap_or_default());
            match r.body["next_cursor"].as_str() {
                Some(next) => path = format!("/api/v1/movements?limit=500&after={next}"),
                None => return out,
            }
        }
        panic!("{}: more than 100 pages of movements", self.engine);
    }
}

/// Sends every `(client, token, barcode)` scan to `url` (a shipment's
/// `/scans`) at once, one task each, as devices at a packing station would;
/// each must answer 200. Answers how many were `accepted` and how many
/// `too_many`; any other result fails the test.
pub async fn scans_at_once(
    engine: &str,
    url: &str,
    scans: Vec<(reqwest::Client, String, &'static str)>,
) -> (usize, usize) {
    let mut tasks = Vec::new();
    for (client, token, barcode) in scans {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"barcode": barcode}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["result"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let (mut accepted, mut too_many) = (0, 0);
    for t in tasks {
        match t.await.unwrap().as_str() {
            "accepted" => accepted += 1,
            "too_many" => too_many += 1,
            other => panic!("{engine}: {other}"),
        }
    }
    (accepted, too_many)
}
