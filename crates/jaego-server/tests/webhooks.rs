//! Outbound webhooks against a real HTTP receiver on loopback (an axum
//! server in the test) that fails, delays and recovers: signatures verify,
//! order holds per endpoint, a backlog coalesces, dead letters are parked
//! and redeliver; the management API; one deliverer across two instances.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::{Reply, TestServer, assert_problem, servers_configured};
use jaego_core::signature;
use jaego_server::ServerConfig;
use jaego_server::live::egress::PrivateTargets;
use jaego_server::live::{DeliveryConfig, LiveConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Accept,
    /// Answer 500.
    Fail,
    /// Answer 200, but only after this long (longer than jaego waits).
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Received {
    seq: i64,
    kind: String,
    body: Value,
    raw: String,
    /// The signature verified with the endpoint's secret.
    signed: bool,
    /// Answered 2xx in time: jaego counts it delivered.
    accepted: bool,
}

#[derive(Default)]
struct ReceiverState {
    secret: String,
    /// Consumed one per request; then `default`.
    script: Vec<Behaviour>,
    default: Option<Behaviour>,
    /// Refuse (500) every event about this SKU id.
    refuse_sku: Option<String>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    url: String,
    /// Its port on loopback, for URLs that name loopback another way.
    port: u16,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/hook");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { state, url, port }
    }

    fn set(&self, f: impl FnOnce(&mut ReceiverState)) {
        f(&mut self.state.lock().unwrap());
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// Waits until `done` holds for what was accepted.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        tokio::time::timeout(WAIT, async {
            loop {
                let accepted = self.accepted();
                if done(&accepted) {
                    return accepted;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: not within {WAIT:?}; received {:#?}",
                self.received()
            )
        })
    }
}

async fn hook(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let now = jiff::Timestamp::now().as_second();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let behaviour = {
        let mut s = state.lock().unwrap();
        let header = headers
            .get(signature::HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let signed = signature::verify(s.secret.as_bytes(), header, &body, now).is_ok();
        let refused = s
            .refuse_sku
            .as_deref()
            .is_some_and(|sku| parsed["sku_id"].as_str() == Some(sku));
        let behaviour = if s.script.is_empty() {
            s.default.unwrap_or(Behaviour::Accept)
        } else {
            s.script.remove(0)
        };
        let behaviour = if refused { Behaviour::Fail } else { behaviour };
        s.received.push(Received {
            seq: parsed["seq"].as_i64().unwrap_or(-1),
            kind: parsed["kind"].as_str().unwrap_or("").to_string(),
            body: parsed.clone(),
            raw: String::from_utf8_lossy(&body).into_owned(),
            signed,
            accepted: behaviour == Behaviour::Accept,
        });
        behaviour
    };
    match behaviour {
        Behaviour::Accept => AxumStatus::OK,
        Behaviour::Fail => AxumStatus::INTERNAL_SERVER_ERROR,
        Behaviour::Delay(d) => {
            tokio::time::sleep(d).await;
            AxumStatus::OK
        }
    }
}

fn config(attempts_max: u32, backoff_ms: u64) -> ServerConfig {
    ServerConfig {
        live: LiveConfig {
            webhooks: DeliveryConfig {
                timeout: Duration::from_millis(300),
                attempts_max,
                backoff_base: Duration::from_millis(backoff_ms),
                backoff_cap: Duration::from_millis(backoff_ms * 2),
                lease: Duration::from_secs(5),
                workers_max: 8,
                scan_interval: Duration::from_millis(50),
                // The receivers listen on loopback.
                private_targets: PrivateTargets::Allow,
            },
            ..LiveConfig::default()
        },
        ..ServerConfig::default()
    }
}

async fn receipt(server: &TestServer, sku: &str, location: &str, quantity: i64) {
    let r = server
        .post(
            "/api/v1/movements",
            json!({"sku": sku, "location": location, "kind": "receipt", "quantity": quantity}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
}

async fn sku_id(server: &TestServer, code: &str) -> String {
    let r = server.get(&format!("/api/v1/skus/{code}")).await;
    r.body["id"].as_str().unwrap().to_string()
}

async fn endpoint(server: &TestServer, body: Value) -> Value {
    let r = server.post("/api/v1/webhooks", body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body
}

/// The stock.changed events at `location` in the log, in order.
async fn logged(server: &TestServer, location: &str) -> Vec<Value> {
    let r = server
        .get(&format!(
            "/api/v1/events?kinds=stock.changed&location={location}&limit=500"
        ))
        .await;
    r.body["items"].as_array().unwrap().clone()
}

async fn dead_letters(server: &TestServer, webhook: &str) -> Vec<Value> {
    let r = server
        .get(&format!("/api/v1/webhooks/{webhook}/dead-letters"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

async fn attempts(server: &TestServer, webhook: &str) -> Vec<Value> {
    let r = server
        .get(&format!("/api/v1/webhooks/{webhook}/attempts?limit=500"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_in_order_and_survive_failures_and_delays() {
    for server in servers_configured("deliveries_are_signed_in_order", config(10, 20)).await {
        let engine = server.engine;
        let receiver = Receiver::start().await;
        // Two failures, one answer too late, then everything is accepted.
        receiver.set(|s| {
            s.script = vec![
                Behaviour::Fail,
                Behaviour::Fail,
                Behaviour::Delay(Duration::from_millis(800)),
            ];
        });
        for i in 1..=5 {
            server.seed("wh", &format!("S{i}"), 0).await;
        }
        server.seed("elsewhere", "S1", 0).await;
        let created = endpoint(
            &server,
            json!({"url": receiver.url, "kinds": ["stock.changed"], "location": "wh"}),
        )
        .await;
        let secret = created["secret"].as_str().unwrap().to_string();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 6 + 64,
            "{engine}: {secret}"
        );
        receiver.set(|s| s.secret = secret.clone());
        let id = created["id"].as_str().unwrap().to_string();
        // Distinct balances: nothing to coalesce, so every event must
        // arrive, in sequence order.
        for i in 1..=5 {
            receipt(&server, &format!("S{i}"), "wh", i).await;
            receipt(&server, "S1", "elsewhere", 1).await;
        }
        let expected: Vec<i64> = logged(&server, "wh")
            .await
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(expected.len(), 5, "{engine}");
        let accepted = receiver.until("all five delivered", |a| a.len() >= 5).await;
        assert_eq!(
            accepted.iter().map(|r| r.seq).collect::<Vec<_>>(),
            expected,
            "{engine}: in order, each once, nothing from elsewhere"
        );
        let all = receiver.received();
        assert!(
            all.iter().all(|r| r.signed),
            "{engine}: every signature verifies"
        );
        // Order holds through the failures: no later event was attempted
        // before the head was accepted.
        let attempted: Vec<i64> = all.iter().map(|r| r.seq).collect();
        assert!(
            attempted.windows(2).all(|w| w[0] <= w[1]),
            "{engine}: attempts in order {attempted:?}"
        );
        assert_eq!(
            &attempted[..4],
            &[expected[0]; 4],
            "{engine}: the head was retried"
        );
        assert_eq!(accepted[0].body["data"]["on_hand"], 1, "{engine}");
        assert_eq!(
            accepted[0].body["tenant_id"].as_str().map(str::len),
            Some(36),
            "{engine}"
        );
        assert_eq!(accepted[4].kind, "stock.changed", "{engine}");
        // The delivery log: every attempt, with its status and error.
        let log = tokio::time::timeout(WAIT, async {
            loop {
                let log = attempts(&server, &id).await;
                if log.len() >= 8 {
                    return log;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(log[0]["status"], 500, "{engine}: {log:?}");
        assert_eq!(log[0]["attempt"], 1, "{engine}");
        assert!(
            log[0]["error"].as_str().unwrap().contains("HTTP 500"),
            "{engine}"
        );
        assert_eq!(log[1]["attempt"], 2, "{engine}");
        assert_eq!(log[2]["status"], Value::Null, "{engine}: no answer in time");
        assert!(
            log[2]["error"]
                .as_str()
                .unwrap()
                .contains("no answer within"),
            "{engine}: {log:?}"
        );
        assert_eq!(log[3]["status"], 200, "{engine}");
        assert_eq!(log[3]["attempt"], 4, "{engine}");
        assert_eq!(log[3]["error"], Value::Null, "{engine}");
        assert!(log[3]["latency_ms"].as_f64().unwrap() >= 0.0, "{engine}");
        // The endpoint's cursor reaches the end of the log.
        let latest = server.get("/api/v1/events?limit=1").await.body["latest_seq"]
            .as_i64()
            .unwrap();
        tokio::time::timeout(WAIT, async {
            loop {
                let w = server.get(&format!("/api/v1/webhooks/{id}")).await.body;
                if w["delivery"]["cursor_seq"].as_i64() == Some(latest) {
                    assert_eq!(w["delivery"]["failures"], 0);
                    assert!(w["delivery"]["last_success_at"].as_str().is_some());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{engine}: the cursor never reached {latest}"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_coalesces_to_the_latest_figure_per_key() {
    for server in servers_configured("a_backlog_coalesces", config(1_000, 40)).await {
        let engine = server.engine;
        let receiver = Receiver::start().await;
        receiver.set(|s| {
            s.secret = "a-receiver-chosen-secret".into();
            s.default = Some(Behaviour::Fail);
        });
        server.seed("wh", "A", 0).await;
        server.seed("wh", "B", 0).await;
        endpoint(
            &server,
            json!({"url": receiver.url, "kinds": ["stock.changed", "reservation.*"], "secret": "a-receiver-chosen-secret"}),
        )
        .await;
        for _ in 0..5 {
            receipt(&server, "A", "wh", 1).await;
        }
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": "wh", "lines": [{"sku": "A", "quantity": 1}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        for _ in 0..3 {
            receipt(&server, "B", "wh", 1).await;
        }
        // Let the head fail a few more times, then recover.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(receiver.received().len() >= 2, "{engine}: it kept retrying");
        receiver.set(|s| s.default = Some(Behaviour::Accept));
        let b = sku_id(&server, "B").await;
        receiver
            .until("B's last figure", |a| {
                a.iter()
                    .any(|r| r.body["sku_id"] == b.as_str() && r.body["data"]["on_hand"] == 3)
            })
            .await;
        // Anything else would have come before it; give stragglers a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let accepted = receiver.accepted();
        let summary: Vec<(String, i64, i64)> = accepted
            .iter()
            .map(|r| {
                (
                    r.kind.clone(),
                    r.body["data"]["on_hand"].as_i64().unwrap_or(-1),
                    r.body["data"]["reserved"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        // A: only its last figure (written with the reservation: on hand
        // 5, reserved 1); the reservation itself, which never coalesces;
        // B: only its last figure.
        assert_eq!(
            summary,
            [
                ("stock.changed".to_string(), 5, 1),
                ("reservation.created".to_string(), -1, -1),
                ("stock.changed".to_string(), 3, 0),
            ],
            "{engine}: {accepted:#?}"
        );
        let seqs: Vec<i64> = accepted.iter().map(|r| r.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{engine}: {seqs:?}");
        assert!(receiver.received().iter().all(|r| r.signed), "{engine}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_events_are_parked_delivery_moves_on_and_dead_letters_redeliver() {
    for server in servers_configured("failing_events_are_parked", config(3, 20)).await {
        let engine = server.engine;
        let receiver = Receiver::start().await;
        server.seed("wh", "X", 0).await;
        server.seed("wh", "Y", 0).await;
        let x = sku_id(&server, "X").await;
        receiver.set(|s| {
            s.secret = "0123456789abcdef-secret".into();
            s.refuse_sku = Some(x.clone());
        });
        let created = endpoint(
            &server,
            json!({"url": receiver.url, "kinds": ["stock.changed"], "secret": "0123456789abcdef-secret"}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        receipt(&server, "X", "wh", 1).await;
        receipt(&server, "Y", "wh", 1).await;
        let accepted = receiver
            .until("Y after X was parked", |a| !a.is_empty())
            .await;
        assert_eq!(
            accepted[0].body["sku_id"],
            Value::String(sku_id(&server, "Y").await),
            "{engine}"
        );
        let x_tries = receiver
            .received()
            .iter()
            .filter(|r| r.body["sku_id"] == x.as_str())
            .count();
        assert_eq!(x_tries, 3, "{engine}: three attempts, then parked");
        let parked = dead_letters(&server, &id).await;
        assert_eq!(parked.len(), 1, "{engine}: {parked:?}");
        let first = &parked[0];
        assert_eq!(first["state"], "parked", "{engine}");
        assert_eq!(first["attempts"], 3, "{engine}");
        assert!(
            first["last_error"].as_str().unwrap().contains("HTTP 500"),
            "{engine}"
        );
        assert_eq!(first["body"]["sku_id"], x.as_str(), "{engine}");
        let first_id = first["id"].as_str().unwrap().to_string();
        let redeliver = format!("/api/v1/webhooks/{id}/dead-letters/{first_id}/redeliver");

        // Redelivery while the receiver still refuses: a logged failure.
        let r = server.post(&redeliver, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["attempt"]["status"], 500, "{engine}");
        assert_eq!(r.body["dead_letter"]["state"], "parked", "{engine}");
        assert_eq!(r.body["dead_letter"]["attempts"], 4, "{engine}");
        // The receiver recovers: redelivered, signed afresh, same body.
        receiver.set(|s| s.refuse_sku = None);
        let r = server.post(&redeliver, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["attempt"]["status"], 200, "{engine}");
        assert_eq!(r.body["dead_letter"]["state"], "redelivered", "{engine}");
        assert!(
            r.body["dead_letter"]["redelivered_at"].as_str().is_some(),
            "{engine}"
        );
        let last = receiver.received().last().cloned().unwrap();
        assert!(last.accepted && last.signed, "{engine}");
        assert_eq!(last.body, first["body"], "{engine}");
        assert!(!last.raw.is_empty(), "{engine}");

        // A parked figure that a newer one of the same key replaced is not
        // redelivered: it would overwrite the newer one at the receiver.
        receiver.set(|s| s.refuse_sku = Some(x.clone()));
        receipt(&server, "X", "wh", 1).await;
        tokio::time::timeout(WAIT, async {
            while dead_letters(&server, &id).await.len() < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        receipt(&server, "X", "wh", 1).await;
        tokio::time::timeout(WAIT, async {
            while dead_letters(&server, &id).await.len() < 3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        let parked = dead_letters(&server, &id).await;
        assert_eq!(parked[1]["body"]["data"]["on_hand"], 2, "{engine}");
        assert_eq!(parked[2]["body"]["data"]["on_hand"], 3, "{engine}");
        let stale = format!(
            "/api/v1/webhooks/{id}/dead-letters/{}/redeliver",
            parked[1]["id"].as_str().unwrap()
        );
        let r = server.post(&stale, json!({})).await;
        assert_problem(&r, StatusCode::CONFLICT, "dead_letter_superseded", engine);
        receiver.set(|s| s.refuse_sku = None);
        let current = format!(
            "/api/v1/webhooks/{id}/dead-letters/{}/redeliver",
            parked[2]["id"].as_str().unwrap()
        );
        let r = server.post(&current, json!({})).await;
        assert_eq!(
            r.body["dead_letter"]["state"], "redelivered",
            "{engine}: {}",
            r.text
        );
        // Delivery went on all along: a new event is delivered live.
        receipt(&server, "Y", "wh", 1).await;
        receiver
            .until("the next live event", |a| {
                a.iter()
                    .any(|r| r.body["data"]["on_hand"] == 2 && r.body["sku_id"] != x.as_str())
            })
            .await;
        // The log marks redeliveries; a dead letter can be deleted.
        let log = attempts(&server, &id).await;
        assert_eq!(
            log.iter().filter(|a| a["redelivery"] == true).count(),
            3,
            "{engine}: {log:?}"
        );
        let r = server
            .call(
                Method::DELETE,
                &format!(
                    "/api/v1/webhooks/{id}/dead-letters/{}",
                    parked[1]["id"].as_str().unwrap()
                ),
                &server.owner,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        assert_eq!(dead_letters(&server, &id).await.len(), 2, "{engine}");
        let r = server.post(&stale, json!({})).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_over_the_api_and_never_show_their_secret_again() {
    for server in servers_configured("endpoints_are_managed_over_the_api", config(3, 20)).await {
        let engine = server.engine;
        let receiver = Receiver::start().await;
        server.seed("wh", "A", 0).await;
        let r = server
            .post(
                "/api/v1/channels",
                json!({"code": "mall", "name": "Mall", "kind": "web", "locations": ["wh"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        // Bad input is refused, naming the field.
        for (body, field) in [
            (json!({"url": "ftp://x", "kinds": ["stock.changed"]}), "url"),
            (
                json!({"url": "not a url", "kinds": ["stock.changed"]}),
                "url",
            ),
            (json!({"url": receiver.url, "kinds": []}), "kinds"),
            (json!({"url": receiver.url, "kinds": ["Stock"]}), "kinds[0]"),
            (
                json!({"url": receiver.url, "kinds": ["stock.changed"], "channel": "nope"}),
                "channel",
            ),
            (
                json!({"url": receiver.url, "kinds": ["stock.changed"], "secret": "short"}),
                "secret",
            ),
            (
                json!({"url": receiver.url, "kinds": ["stock.changed"], "extra": 1}),
                "extra",
            ),
        ] {
            let r = server.post("/api/v1/webhooks", body.clone()).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                engine,
            );
            assert!(r.text.contains(field), "{engine}: {body} -> {}", r.text);
        }
        // Only managers and owners.
        for role in [
            jaego_core::Role::Staff,
            jaego_core::Role::Display,
            jaego_core::Role::Integration,
        ] {
            let tenant = server.store.first_tenant().await.unwrap().unwrap();
            let token = server
                .store
                .create_token(tenant, role, "t")
                .await
                .unwrap()
                .secret;
            let r = server
                .call(Method::GET, "/api/v1/webhooks", &token, None)
                .await;
            assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", engine);
        }
        // Created paused, for a channel: the secret comes once.
        let created = endpoint(
            &server,
            json!({"url": receiver.url, "kinds": ["stock.changed"], "channel": "mall", "active": false, "description": "mall stock"}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["active"], false, "{engine}");
        assert!(created["channel_id"].as_str().is_some(), "{engine}");
        let secret = created["secret"].as_str().unwrap().to_string();
        let got = server.get(&format!("/api/v1/webhooks/{id}")).await;
        assert!(
            got.body.get("secret").is_none() && !got.text.contains(&secret),
            "{engine}: {}",
            got.text
        );
        let list = server.get("/api/v1/webhooks").await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{engine}");
        assert!(!list.text.contains(&secret), "{engine}");
        let events = server.get("/api/v1/events?kinds=webhook.*").await;
        assert_eq!(
            events.body["items"][0]["kind"], "webhook.created",
            "{engine}"
        );
        assert!(
            !events.text.contains(&receiver.url) && !events.text.contains(&secret),
            "{engine}: {}",
            events.text
        );

        // Paused: nothing goes out. Clearing the channel filter and
        // resuming delivers the backlog that matches.
        receiver.set(|s| s.secret = secret.clone());
        receipt(&server, "A", "wh", 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            receiver.received().is_empty(),
            "{engine}: a paused endpoint sent"
        );
        let r = server
            .call(
                Method::PATCH,
                &format!("/api/v1/webhooks/{id}"),
                &server.owner,
                Some(json!({"active": true, "channel": null})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["active"], true, "{engine}");
        assert_eq!(r.body["channel_id"], Value::Null, "{engine}");
        let accepted = receiver
            .until("the backlog after resuming", |a| !a.is_empty())
            .await;
        assert!(accepted[0].signed, "{engine}");
        assert_eq!(accepted[0].body["data"]["on_hand"], 1, "{engine}");

        // Rotating gives a new secret once; deliveries sign with it.
        let r = server
            .post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        let rotated = r.body["secret"].as_str().unwrap().to_string();
        assert_ne!(rotated, secret, "{engine}");
        receiver.set(|s| s.secret = rotated.clone());
        receipt(&server, "A", "wh", 1).await;
        let accepted = receiver
            .until("a delivery after rotation", |a| a.len() >= 2)
            .await;
        assert!(accepted[1].signed, "{engine}: signed with the new secret");

        let r = server
            .call(
                Method::DELETE,
                &format!("/api/v1/webhooks/{id}"),
                &server.owner,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        let r = server.get(&format!("/api/v1/webhooks/{id}")).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        let r = server.get("/api/v1/webhooks/not-an-id").await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once_in_order() {
    let Ok(base) = std::env::var(jaego_store::testing::POSTGRES_URL_VAR) else {
        eprintln!(
            "SKIPPED: two_instances_deliver_each_event_once_in_order needs PostgreSQL (JAEGO_TEST_POSTGRES_URL is not set)"
        );
        return;
    };
    let db = jaego_store::testing::fresh_postgres(&base).await;
    let url = db.url.clone();
    let server =
        common::start_configured(db, jaego_store::StoreOptions::default(), config(5, 20)).await;
    let second_store = jaego_store::Store::connect(&url, jaego_store::StoreOptions::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(jaego_server::serve_with(
        second_store,
        listener,
        async move {
            let _ = stopped.await;
        },
        config(5, 20),
    ));
    let receiver = Receiver::start().await;
    receiver.set(|s| s.secret = "two-instances-secret".into());
    for i in 0..10 {
        server.seed("wh", &format!("S{i}"), 0).await;
    }
    endpoint(
        &server,
        json!({"url": receiver.url, "kinds": ["stock.changed"], "secret": "two-instances-secret"}),
    )
    .await;
    for i in 0..10 {
        receipt(&server, &format!("S{i}"), "wh", 1).await;
    }
    let expected: Vec<i64> = logged(&server, "wh")
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let accepted = receiver.until("ten events", |a| a.len() >= 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: Vec<i64> = receiver.received().iter().map(|r| r.seq).collect();
    assert_eq!(all, expected, "each event once, in order, by one instance");
    assert!(accepted.iter().all(|r| r.signed));
    let _ = stop.send(());
    tokio::time::timeout(WAIT, second)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    server.stop().await;
}

/// `config` under `jaego serve`'s default: deliveries to the server's own
/// network refused.
fn denying(attempts_max: u32, backoff_ms: u64) -> ServerConfig {
    let mut config = config(attempts_max, backoff_ms);
    config.live.webhooks.private_targets = PrivateTargets::Deny;
    config
}

/// Sends one event to `url` with a client of `config`.
async fn send_once(config: &ServerConfig, url: &str) -> jaego_store::webhooks::AttemptOutcome {
    jaego_server::live::webhooks::Sender::new(&config.live.webhooks)
        .send(&jaego_server::live::webhooks::Request {
            url,
            secret: "guard-test-secret",
            endpoint: jaego_core::WebhookId::new(),
            seq: 1,
            kind: "stock.changed",
            body: "{}",
            attempt: 1,
        })
        .await
}

const REFUSED_BY: &str = "refused by --webhook-private-targets deny";

/// The guard in the client itself: `localhost` goes through the resolver,
/// which finds only loopback and refuses; an address literal is refused
/// before any request. The same receiver answers the same URLs under
/// `allow`, so the refusals are the guard's, not a dead receiver's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_deny_the_client_never_connects_to_loopback() {
    let receiver = Receiver::start().await;
    let port = receiver.port;
    let by_name = format!("http://localhost:{port}/hook");
    let by_address = format!("http://127.0.0.1:{port}/hook");
    let mapped = format!("http://[::ffff:127.0.0.1]:{port}/hook");
    for url in [&by_name, &by_address] {
        let outcome = send_once(&config(1, 20), url).await;
        assert!(outcome.succeeded(), "allow: {url}: {:?}", outcome.error);
    }
    assert_eq!(receiver.received().len(), 2);

    for (url, error) in [
        (
            &by_name,
            format!("localhost resolves only to private or loopback addresses, {REFUSED_BY}"),
        ),
        (
            &by_address,
            format!("127.0.0.1 is a private or loopback address, {REFUSED_BY}"),
        ),
        (
            &mapped,
            format!("::ffff:127.0.0.1 is a private or loopback address, {REFUSED_BY}"),
        ),
    ] {
        let outcome = send_once(&denying(1, 20), url).await;
        assert_eq!(outcome.status, None, "deny: {url}");
        assert_eq!(
            outcome.error.as_deref(),
            Some(error.as_str()),
            "deny: {url}"
        );
    }
    assert_eq!(
        receiver.received().len(),
        2,
        "deny: the receiver was reached"
    );
}

/// An endpoint that points at the server's own network (made before the
/// setting, or under `allow`, so here straight in the store) is never
/// delivered to under `deny`: its attempts fail in the delivery log with
/// the refusal, by name (through the resolver) and by address alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_deny_deliveries_to_loopback_fail_in_the_log() {
    for server in servers_configured("under_deny_deliveries_fail", denying(3, 20)).await {
        let engine = server.engine;
        let receiver = Receiver::start().await;
        let port = receiver.port;
        server.seed("wh", "A", 0).await;
        let tenant = server.store.first_tenant().await.unwrap().unwrap();
        let mut endpoints = Vec::new();
        for (url, error) in [
            (
                format!("http://localhost:{port}/hook"),
                format!("localhost resolves only to private or loopback addresses, {REFUSED_BY}"),
            ),
            (
                format!("http://127.0.0.1:{port}/hook"),
                format!("127.0.0.1 is a private or loopback address, {REFUSED_BY}"),
            ),
        ] {
            let made = server
                .store
                .create_webhook(
                    tenant,
                    &jaego_store::webhooks::NewWebhook {
                        url,
                        secret: None,
                        kinds: vec!["stock.changed".into()],
                        channel_id: None,
                        location_id: None,
                        sku_id: None,
                        description: String::new(),
                        active: true,
                    },
                )
                .await
                .unwrap();
            endpoints.push((made.id.to_string(), error));
        }
        receipt(&server, "A", "wh", 1).await;
        for (id, error) in &endpoints {
            let logged = tokio::time::timeout(WAIT, async {
                loop {
                    let logged = attempts(&server, id).await;
                    if !logged.is_empty() {
                        return logged;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{engine}: no attempt within {WAIT:?}"));
            assert_eq!(logged[0]["status"], Value::Null, "{engine}: {logged:?}");
            assert_eq!(logged[0]["error"], error.as_str(), "{engine}: {logged:?}");
            let got = server.get(&format!("/api/v1/webhooks/{id}")).await;
            assert_eq!(
                got.body["delivery"]["last_error"],
                error.as_str(),
                "{engine}: {}",
                got.text
            );
        }
        assert!(
            receiver.received().is_empty(),
            "{engine}: the receiver was reached: {:?}",
            receiver.received()
        );
        server.stop().await;
    }
}

/// `r` refused `url` as the server's own network: 422 on `url`, naming
/// the setting.
fn assert_url_refused(r: &Reply, engine: &str, url: &str) {
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", engine);
    assert_eq!(r.body["errors"][0]["field"], "url", "{engine}: {url}");
    let reason = r.body["errors"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.contains(REFUSED_BY), "{engine}: {url}: {}", r.text);
}

/// Under `deny`, registration refuses an address on the server's own
/// network, or `localhost`, naming `url`, and changes nothing; a name is
/// not resolved at registration (delivery checks it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_deny_registration_refuses_the_servers_own_network() {
    for server in servers_configured("under_deny_registration_refuses", denying(3, 20)).await {
        let engine = server.engine;
        let refused = [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:8080/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "https://10.0.0.5/hook",
            "http://2130706433/hook",
            "http://0.0.0.0:8080/hook",
        ];
        for url in refused {
            let r = server
                .post(
                    "/api/v1/webhooks",
                    json!({"url": url, "kinds": ["stock.changed"]}),
                )
                .await;
            assert_url_refused(&r, engine, url);
        }
        let list = server.get("/api/v1/webhooks").await;
        assert_eq!(list.body["items"], json!([]), "{engine}: {}", list.text);
        let events = server.get("/api/v1/events?kinds=webhook.*").await;
        assert_eq!(events.body["items"], json!([]), "{engine}: {}", events.text);

        // A name is taken as it is (paused: nothing to resolve in a test).
        let made = endpoint(
            &server,
            json!({"url": "https://hooks.example/in", "kinds": ["stock.changed"], "active": false}),
        )
        .await;
        let id = made["id"].as_str().unwrap();
        for url in refused {
            let r = server
                .call(
                    Method::PATCH,
                    &format!("/api/v1/webhooks/{id}"),
                    &server.owner,
                    Some(json!({"url": url, "description": "moved"})),
                )
                .await;
            assert_url_refused(&r, engine, url);
        }
        let got = server.get(&format!("/api/v1/webhooks/{id}")).await;
        assert_eq!(got.body["url"], "https://hooks.example/in", "{engine}");
        assert_eq!(got.body["description"], "", "{engine}");
        assert_eq!(got.body["updated_at"], made["updated_at"], "{engine}");
        server.stop().await;
    }
}
