//! Publishing events to NATS JetStream, against the NATS server on
//! 127.0.0.1:4222 (or `JAEGO_TEST_NATS_URL`): every event once, in
//! sequence order, with its message id, across a restart with events
//! written while no publisher ran, and with two instances claiming the
//! publisher role. Without a reachable NATS server the test says that it
//! skipped.

mod common;

use std::time::Duration;

use async_nats::jetstream;
use common::TestServer;
use jaego_server::ServerConfig;
use jaego_server::live::LiveConfig;
use jaego_store::testing::fresh_databases;
use jaego_store::{Store, StoreOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn nats_url() -> String {
    std::env::var("JAEGO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn config(prefix: &str) -> ServerConfig {
    ServerConfig {
        live: LiveConfig {
            nats_url: Some(nats_url()),
            nats_subject_prefix: prefix.to_string(),
            ..LiveConfig::default()
        },
        ..ServerConfig::default()
    }
}

async fn receipt(server: &TestServer, sku: &str) {
    let r = server
        .post(
            "/api/v1/movements",
            json!({"sku": sku, "location": "wh", "kind": "receipt", "quantity": 1}),
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

/// Every message in the stream, oldest first, once it holds `count`.
async fn messages(
    js: &jetstream::Context,
    name: &str,
    count: u64,
) -> Vec<jetstream::message::StreamMessage> {
    let mut stream = js.get_stream(name).await.unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let held = stream.info().await.unwrap().state.messages;
            if held >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream never held {count} messages"));
    // Anything published twice would show up now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    for seq in info.first_sequence..=info.last_sequence {
        out.push(stream.get_raw_message(seq).await.unwrap());
    }
    out
}

/// Checks the messages are exactly the tenant's events 1..=latest, in
/// order, each with its subject and message id.
fn check(messages: &[jetstream::message::StreamMessage], prefix: &str, latest: i64, engine: &str) {
    let bodies: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect();
    let seqs: Vec<i64> = bodies.iter().map(|b| b["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=latest).collect::<Vec<_>>(),
        "{engine}: once each, in order"
    );
    for (m, body) in messages.iter().zip(&bodies) {
        let tenant = body["tenant_id"].as_str().unwrap();
        let kind = body["kind"].as_str().unwrap();
        assert_eq!(
            m.subject.as_str(),
            format!("{prefix}.{tenant}.{kind}"),
            "{engine}"
        );
        assert_eq!(
            m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string()),
            Some(format!("{tenant}:{}", body["seq"])),
            "{engine}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_published_to_jetstream_once_in_order_across_restarts() {
    let url = nats_url();
    let Ok(Ok(client)) =
        tokio::time::timeout(Duration::from_secs(3), async_nats::connect(&url)).await
    else {
        eprintln!(
            "SKIPPED: events_are_published_to_jetstream_once_in_order_across_restarts: no NATS server at {url} (set JAEGO_TEST_NATS_URL)"
        );
        return;
    };
    let js = jetstream::new(client);
    for db in fresh_databases("events_are_published_to_jetstream").await {
        let engine = db.engine;
        let run = uuid::Uuid::now_v7().simple().to_string();
        let prefix = format!("jaegotest{}", &run[20..]);
        let name = format!("JAEGO_TEST_{}", &run[20..]);
        js.create_stream(jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.>")],
            // A short window, so a message published twice would be
            // stored twice and counted, not silently dropped.
            duplicate_window: Duration::from_millis(100),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut server =
            common::start_configured(db, StoreOptions::default(), config(&prefix)).await;
        server.seed("wh", "A", 0).await;
        for _ in 0..3 {
            receipt(&server, "A").await;
        }
        let tenant = server.store.first_tenant().await.unwrap().unwrap();
        let latest = server.store.event_window(tenant).await.unwrap().latest;
        check(
            &messages(&js, &name, latest as u64).await,
            &prefix,
            latest,
            engine,
        );

        // Stop; write events while nothing publishes; start again.
        server.trigger_stop();
        tokio::time::timeout(WAIT, server.wait_stopped())
            .await
            .unwrap()
            .unwrap();
        let url = server.database_url().to_string();
        let offline = Store::connect(&url, StoreOptions::default()).await.unwrap();
        let sku = offline.sku_id(tenant, "A").await.unwrap();
        let location = offline.find_location(tenant, "wh").await.unwrap().id;
        for _ in 0..2 {
            offline
                .record_movement(
                    tenant,
                    &jaego_store::ledger::NewMovement {
                        sku_id: sku,
                        location_id: location,
                        kind: jaego_core::MovementKind::Receipt,
                        custom_type: None,
                        quantity: 1,
                        reason: String::new(),
                        reference: String::new(),
                        actor: "offline".into(),
                        idempotency_key: None,
                    },
                )
                .await
                .unwrap();
        }
        offline.close().await;
        // On PostgreSQL two instances start and contend for the role.
        let mut instances = Vec::new();
        let copies = if engine == "postgres" { 2 } else { 1 };
        for _ in 0..copies {
            let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(jaego_server::serve_with(
                store.clone(),
                listener,
                async move {
                    let _ = stopped.await;
                },
                config(&prefix),
            ));
            instances.push((addr, stop, task, store));
        }
        for (addr, ..) in &instances {
            let r = server
                .http
                .post(format!("http://{addr}/api/v1/movements"))
                .bearer_auth(&server.owner)
                .json(&json!({"sku": "A", "location": "wh", "kind": "receipt", "quantity": 1}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "{engine}");
        }
        let latest = instances[0].3.event_window(tenant).await.unwrap().latest;
        check(
            &messages(&js, &name, latest as u64).await,
            &prefix,
            latest,
            engine,
        );
        assert_eq!(
            instances[0].3.nats_progress(tenant).await.unwrap(),
            latest,
            "{engine}: progress saved"
        );
        for (_, stop, task, _) in instances {
            let _ = stop.send(());
            tokio::time::timeout(WAIT, task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        js.delete_stream(&name).await.unwrap();
    }
}
