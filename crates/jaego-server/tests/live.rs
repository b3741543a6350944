//! Live event streams and the event list over real HTTP: resumption with
//! `Last-Event-ID` (header and query), resync after a purge or ahead of
//! the log, filters, limits, shutdown, and two instances on one PostgreSQL.

mod common;

use std::time::Duration;

use common::sse::{Sse, SseEvent};
use common::{TestServer, assert_problem, servers, servers_configured};
use jaego_server::ServerConfig;
use jaego_server::live::LiveConfig;
use jaego_store::testing::{POSTGRES_URL_VAR, fresh_postgres};
use jaego_store::{Store, StoreOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

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

async fn stream(server: &TestServer, query: &str, last_event_id: Option<&str>) -> Sse {
    Sse::open(
        &server.http,
        &server.url(&format!("/api/v1/events/stream{query}")),
        &server.owner,
        last_event_id,
    )
    .await
    .unwrap_or_else(|(status, text)| panic!("{}: {status} {text}", server.engine))
}

fn on_hand(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.json()["data"]["on_hand"].as_i64().unwrap())
        .collect()
}

async fn first(sse: &mut Sse, engine: &str) -> SseEvent {
    sse.next_within(WAIT)
        .await
        .unwrap_or_else(|| panic!("{engine}: the stream ended"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_resume_with_last_event_id_and_resync_when_the_log_cannot() {
    for server in servers("streams_resume_with_last_event_id_and_resync_when_the_log_cannot").await
    {
        let engine = server.engine;
        server.seed("wh", "A", 0).await;
        let mut live = stream(&server, "?kinds=stock.changed", None).await;
        let ready = first(&mut live, engine).await;
        assert_eq!(ready.event, "ready", "{engine}");
        for _ in 0..3 {
            receipt(&server, "A", "wh", 1).await;
        }
        let seen = live.collect("stock.changed", 3, WAIT).await;
        assert_eq!(on_hand(&seen), [1, 2, 3], "{engine}");
        let body = seen[0].json();
        assert_eq!(body["kind"], "stock.changed", "{engine}");
        assert_eq!(body["seq"].as_i64(), Some(seen[0].seq()), "{engine}");
        assert!(body["created_at"].as_str().is_some(), "{engine}");
        drop(live);

        // Two changes while disconnected; resuming after the first event
        // replays everything after it, in order, then goes on live.
        for _ in 0..2 {
            receipt(&server, "A", "wh", 1).await;
        }
        let resume = seen[0].id.clone().unwrap();
        let mut again = stream(&server, "?kinds=stock.changed", Some(&resume)).await;
        let ready = first(&mut again, engine).await;
        assert_eq!(ready.event, "ready", "{engine}");
        assert_eq!(
            ready.json()["resume_after"].as_i64(),
            Some(seen[0].seq()),
            "{engine}"
        );
        let replayed = again.collect("stock.changed", 4, WAIT).await;
        assert_eq!(on_hand(&replayed), [2, 3, 4, 5], "{engine}");
        let seqs: Vec<i64> = replayed.iter().map(SseEvent::seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{engine}: {seqs:?}");
        receipt(&server, "A", "wh", 1).await;
        let live_one = again.collect("stock.changed", 1, WAIT).await;
        assert_eq!(on_hand(&live_one), [6], "{engine}");
        drop(again);

        // The query fallback, and the header winning over it.
        let third = seen[2].id.clone().unwrap();
        let mut by_query = stream(
            &server,
            &format!("?kinds=stock.changed&last_event_id={third}"),
            None,
        )
        .await;
        assert_eq!(
            on_hand(&by_query.collect("stock.changed", 3, WAIT).await),
            [4, 5, 6],
            "{engine}"
        );
        drop(by_query);
        let mut both = stream(
            &server,
            "?kinds=stock.changed&last_event_id=0",
            Some(&third),
        )
        .await;
        assert_eq!(
            on_hand(&both.collect("stock.changed", 1, WAIT).await),
            [4],
            "{engine}: the header wins"
        );
        drop(both);

        // Ahead of the log: told to resync, and the stream goes on.
        let mut ahead = stream(&server, "?kinds=stock.changed", Some("999999")).await;
        let resync = first(&mut ahead, engine).await;
        assert_eq!(resync.event, "resync", "{engine}");
        assert_eq!(resync.json()["reason"], "ahead_of_log", "{engine}");
        assert!(resync.json()["action"].as_str().is_some(), "{engine}");
        drop(ahead);

        // After a purge the missed events are gone: resync, then live.
        let purged = server.store.purge_events(i64::MAX, 100_000).await.unwrap();
        assert!(purged > 0, "{engine}");
        let mut late = stream(&server, "?kinds=stock.changed", Some(&resume)).await;
        let resync = first(&mut late, engine).await;
        assert_eq!(resync.event, "resync", "{engine}");
        assert_eq!(resync.json()["reason"], "beyond_retention", "{engine}");
        let position = resync.seq();
        assert_eq!(
            resync.json()["resume_after"].as_i64(),
            Some(position),
            "{engine}"
        );
        receipt(&server, "A", "wh", 1).await;
        let after = late.collect("stock.changed", 1, WAIT).await;
        assert_eq!(on_hand(&after), [7], "{engine}");
        assert!(after[0].seq() > position, "{engine}");
        drop(late);

        // The paged list says the same with 410.
        let r = server.get(&format!("/api/v1/events?after={resume}")).await;
        assert_problem(&r, StatusCode::GONE, "resync_required", engine);
        let r = server.get("/api/v1/events?after=999999").await;
        assert_problem(&r, StatusCode::GONE, "resync_required", engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_the_list_filter_by_kind_sku_location_and_channel() {
    let config = ServerConfig {
        live: LiveConfig {
            keepalive: Duration::from_millis(200),
            ..LiveConfig::default()
        },
        ..ServerConfig::default()
    };
    for server in servers_configured("streams_and_the_list_filter", config).await {
        let engine = server.engine;
        server.seed("wh", "A", 0).await;
        server.seed("wh", "B", 0).await;
        server.seed("st", "A", 0).await;
        let r = server
            .post(
                "/api/v1/channels",
                json!({"code": "mall", "name": "Mall", "kind": "web", "locations": ["wh"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);

        let mut a_at_wh = stream(&server, "?sku=A&location=wh", None).await;
        let mut stock = stream(&server, "?kinds=stock.*", None).await;
        let mut catalog = stream(&server, "?kinds=sku.created,channel.*", None).await;
        let mut mall = stream(&server, "?channel=mall", None).await;
        let mut quiet = stream(&server, "?sku=B&kinds=stock.changed", None).await;
        for s in [
            &mut a_at_wh,
            &mut stock,
            &mut catalog,
            &mut mall,
            &mut quiet,
        ] {
            assert_eq!(first(s, engine).await.event, "ready", "{engine}");
        }
        receipt(&server, "A", "wh", 1).await;
        receipt(&server, "A", "st", 2).await;
        let r = server
            .post("/api/v1/skus", json!({"code": "C", "name": "C"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let r = server
            .call(
                Method::PUT,
                "/api/v1/channels/mall/locations",
                &server.owner,
                Some(json!({"locations": ["wh", "st"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        receipt(&server, "A", "wh", 1).await;

        let got = a_at_wh.collect("stock.changed", 2, WAIT).await;
        assert_eq!(on_hand(&got), [1, 2], "{engine}: only A at wh");
        let got = stock.collect("stock.changed", 3, WAIT).await;
        assert_eq!(on_hand(&got), [1, 2, 2], "{engine}: every stock change");
        let sku = catalog.next_within(WAIT).await.unwrap();
        assert_eq!(sku.event, "sku.created", "{engine}");
        assert_eq!(sku.json()["data"]["code"], "C", "{engine}");
        let channel = catalog.next_within(WAIT).await.unwrap();
        assert_eq!(channel.event, "channel.updated", "{engine}");
        let channel = mall.next_within(WAIT).await.unwrap();
        assert_eq!(
            channel.event, "channel.updated",
            "{engine}: only the channel's events"
        );
        // A filtered stream that matched nothing still moves its id, on a
        // keep-alive, so a reconnect does not ask for a purged position.
        let latest = server.get("/api/v1/events?limit=1").await.body["latest_seq"]
            .as_i64()
            .unwrap();
        tokio::time::timeout(WAIT, async {
            while quiet.last_id.as_deref().and_then(|i| i.parse::<i64>().ok()) < Some(latest) {
                let _ = tokio::time::timeout(Duration::from_millis(300), quiet.next()).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{engine}: the quiet stream's id never moved to {latest}"));
        assert!(quiet.keepalives > 0, "{engine}");

        // Bad filters change nothing and say which field was wrong.
        for (query, field) in [
            ("?sku=NOPE", "sku"),
            ("?location=NOPE", "location"),
            ("?channel=NOPE", "channel"),
            ("?kinds=Stock.Changed", "kinds"),
            ("?kinds=*", "kinds"),
            ("?last_event_id=-1", "last_event_id"),
            ("?bogus=1", "query"),
        ] {
            let r = server.get(&format!("/api/v1/events/stream{query}")).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                engine,
            );
            assert_eq!(
                r.body["errors"][0]["field"], field,
                "{engine}: {query}: {}",
                r.text
            );
        }
        let r = server
            .http
            .get(server.url("/api/v1/events/stream"))
            .bearer_auth(&server.owner)
            .header("last-event-id", "abc")
            .send()
            .await
            .unwrap();
        let r = common::reply(r).await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = server
            .http
            .get(server.url("/api/v1/events/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{engine}");

        // The list: same filters, pages that move past skipped events.
        let r = server
            .get("/api/v1/events?kinds=stock.changed&sku=A&limit=2")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{engine}");
        assert_eq!(r.body["more"], true, "{engine}");
        let next = r.body["next_after"].as_i64().unwrap();
        assert_eq!(Some(next), items[1]["seq"].as_i64(), "{engine}");
        let r = server
            .get(&format!(
                "/api/v1/events?kinds=stock.changed&sku=A&limit=2&after={next}"
            ))
            .await;
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{engine}: {}", r.text);
        assert_eq!(items[0]["data"]["on_hand"], 2, "{engine}");
        assert_eq!(r.body["more"], false, "{engine}");
        assert_eq!(
            r.body["next_after"].as_i64(),
            Some(latest),
            "{engine}: past what the filter skipped"
        );
        let r = server
            .get(&format!(
                "/api/v1/events?kinds=stock.changed&sku=A&after={latest}"
            ))
            .await;
        assert_eq!(r.body["items"], json!([]), "{engine}");
        assert_eq!(r.body["next_after"].as_i64(), Some(latest), "{engine}");
        // Without `after`: from the oldest kept.
        let r = server.get("/api/v1/events?limit=1").await;
        assert_eq!(
            r.body["items"][0]["seq"].as_i64(),
            r.body["oldest_seq"].as_i64(),
            "{engine}"
        );
        for query in ["?limit=0", "?limit=501", "?after=-1", "?kinds=a..b"] {
            let r = server.get(&format!("/api/v1/events{query}")).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                engine,
            );
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limits_refuse_with_a_clear_error_and_free_on_disconnect() {
    let config = ServerConfig {
        live: LiveConfig {
            streams_max: 3,
            streams_per_tenant_max: 2,
            keepalive: Duration::from_millis(100),
            ..LiveConfig::default()
        },
        ..ServerConfig::default()
    };
    for server in servers_configured("stream_limits_refuse_with_a_clear_error", config).await {
        let engine = server.engine;
        let other_tenant = server.store.create_tenant("other").await.unwrap();
        let other = server
            .store
            .create_token(other_tenant, jaego_core::Role::Display, "tablet")
            .await
            .unwrap()
            .secret;
        let url = server.url("/api/v1/events/stream");
        let one = stream(&server, "", None).await;
        let _two = stream(&server, "", None).await;
        let (status, text) = Sse::open(&server.http, &url, &server.owner, None)
            .await
            .err()
            .unwrap_or_else(|| panic!("{engine}: a third stream of the tenant was opened"));
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{engine}: {text}");
        assert!(text.contains("too_many_subscribers"), "{engine}: {text}");
        // A display token may read the stream.
        let _three = Sse::open(&server.http, &url, &other, None).await.unwrap();
        let (status, text) = Sse::open(&server.http, &url, &other, None)
            .await
            .err()
            .unwrap_or_else(|| panic!("{engine}: a fourth stream was opened"));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{engine}: {text}");
        assert!(text.contains("subscribers_full"), "{engine}: {text}");
        // Closing a stream frees its place.
        drop(one);
        tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(s) = Sse::open(&server.http, &url, &server.owner, None).await {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{engine}: the closed stream's place was never freed"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams() {
    for mut server in servers("shutdown_ends_open_streams").await {
        let engine = server.engine;
        let mut open = stream(&server, "", None).await;
        assert_eq!(first(&mut open, engine).await.event, "ready", "{engine}");
        server.trigger_stop();
        tokio::time::timeout(WAIT, server.wait_stopped())
            .await
            .unwrap_or_else(|_| panic!("{engine}: shutdown waited on an open stream"))
            .unwrap();
        assert!(
            tokio::time::timeout(WAIT, open.next())
                .await
                .unwrap()
                .is_none(),
            "{engine}: the stream ended"
        );
    }
}

/// A second jaego server on the database of `server`.
struct Instance {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn second_instance(url: &str) -> Instance {
    let store = Store::connect(url, StoreOptions::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(jaego_server::serve(store, listener, async move {
        let _ = stopped.await;
    }));
    Instance { addr, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_reaches_a_subscriber_of_another() {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!(
            "SKIPPED: a_change_through_one_instance_reaches_a_subscriber_of_another needs PostgreSQL ({POSTGRES_URL_VAR} is not set)"
        );
        return;
    };
    let db = fresh_postgres(&base).await;
    let url = db.url.clone();
    let server = common::start(db, StoreOptions::default()).await;
    server.seed("wh", "A", 0).await;
    let other = second_instance(&url).await;
    let other_url = format!(
        "http://{}/api/v1/events/stream?kinds=stock.changed",
        other.addr
    );
    let mut subscriber = Sse::open(&server.http, &other_url, &server.owner, None)
        .await
        .unwrap();
    assert_eq!(first(&mut subscriber, "postgres").await.event, "ready");
    // And one on the first instance, to see both get the same events.
    let mut local = stream(&server, "?kinds=stock.changed", None).await;
    assert_eq!(first(&mut local, "postgres").await.event, "ready");
    for q in 1..=3 {
        receipt(&server, "A", "wh", q).await;
    }
    let there = subscriber.collect("stock.changed", 3, WAIT).await;
    let here = local.collect("stock.changed", 3, WAIT).await;
    assert_eq!(on_hand(&there), [1, 3, 6]);
    assert_eq!(
        there.iter().map(SseEvent::seq).collect::<Vec<_>>(),
        here.iter().map(SseEvent::seq).collect::<Vec<_>>()
    );
    // A change through the second instance reaches the first's subscriber.
    let r = server
        .http
        .post(format!("http://{}/api/v1/movements", other.addr))
        .bearer_auth(&server.owner)
        .json(&json!({"sku": "A", "location": "wh", "kind": "receipt", "quantity": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        on_hand(&local.collect("stock.changed", 1, WAIT).await),
        [10]
    );
    drop(subscriber);
    let _ = other.stop.send(());
    tokio::time::timeout(WAIT, other.task)
        .await
        .expect("the second instance stopped")
        .unwrap()
        .unwrap();
    let body: Value = server.get("/api/v1/events?kinds=stock.changed").await.body;
    assert_eq!(body["items"].as_array().unwrap().len(), 4);
    server.stop().await;
}
