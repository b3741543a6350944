//! Shared inventory, product status, low-stock actions, expected receipts
//! and estimates through the HTTP API, on both engines. Channel figures and
//! low-stock actions are written by the server's background follower, so
//! the tests wait for them (up to a generous deadline) rather than assume
//! a delay.

mod common;

use std::time::Duration;

use common::{TestServer, assert_problem, ok};
use jaego_core::TenantId;
use jaego_store::events::EventFilter;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Polls `path` until `ready` holds for its answer (status 200) or 20 s
/// pass, and returns the answer's body.
async fn wait_for(
    server: &TestServer,
    path: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get(path).await;
        if r.status == StatusCode::OK && ready(&r.body) {
            return r.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: {what}: last answer {} {}",
            server.engine,
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `channel`'s figure for `sku` is `figure` with `reason`.
async fn wait_figure(
    server: &TestServer,
    channel: &str,
    sku: &str,
    figure: Option<i64>,
    reason: &str,
) {
    let path = format!("/api/v1/channels/{channel}/figures/{sku}");
    wait_for(
        server,
        &path,
        &format!("{channel}/{sku} = {figure:?} ({reason})"),
        |b| b["figure"].as_i64() == figure && b["reason"] == reason,
    )
    .await;
}

async fn tenant(server: &TestServer) -> TenantId {
    server.store.first_tenant().await.unwrap().unwrap()
}

/// Every event of `kind` so far, oldest first, with its body.
async fn events(server: &TestServer, kind: &str) -> Vec<Value> {
    let filter = EventFilter {
        kinds: vec![kind.to_string()],
        ..EventFilter::default()
    };
    server
        .store
        .events_after(tenant(server).await, 0, &filter, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

async fn location(server: &TestServer, code: &str, kind: &str) {
    ok(
        server,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": code, "name": code, "kind": kind, "time_zone": "Asia/Seoul"})),
    )
    .await;
}

async fn movement(server: &TestServer, sku: &str, location: &str, kind: &str, q: i64) {
    ok(
        server,
        Method::POST,
        "/api/v1/movements",
        Some(json!({"sku": sku, "location": location, "kind": kind, "quantity": q})),
    )
    .await;
}

/// Two warehouses and a store; a web mall on both warehouses, a marketplace
/// shop on the first, a POS on the store; SKU TEE with 10 (3 reserved) in
/// WH1, 5 in WH2 and 3 in the store.
async fn seed(server: &TestServer) {
    location(server, "WH1", "warehouse").await;
    location(server, "WH2", "warehouse").await;
    location(server, "ST", "store").await;
    for (code, kind, locations) in [
        ("mall", "web", json!(["WH1", "WH2"])),
        ("shopee", "marketplace", json!(["WH1"])),
        ("pos", "pos", json!(["ST"])),
    ] {
        ok(
            server,
            Method::POST,
            "/api/v1/channels",
            Some(json!({"code": code, "name": code, "kind": kind, "locations": locations})),
        )
        .await;
    }
    ok(
        server,
        Method::POST,
        "/api/v1/skus",
        Some(json!({"code": "TEE", "name": "T-shirt"})),
    )
    .await;
    movement(server, "TEE", "WH1", "receipt", 10).await;
    movement(server, "TEE", "WH2", "receipt", 5).await;
    movement(server, "TEE", "ST", "receipt", 3).await;
    ok(
        server,
        Method::POST,
        "/api/v1/reservations",
        Some(
            json!({"location": "WH1", "lines": [{"sku": "TEE", "quantity": 3}], "ttl_secs": 3600}),
        ),
    )
    .await;
}

async fn put(server: &TestServer, path: &str, body: Value) -> Value {
    ok(server, Method::PUT, path, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_inventory_by_basis_scope_buffer_exclusion_and_status() {
    for server in common::servers("channels::shared_inventory").await {
        let s = &server;
        seed(s).await;
        // Off by default: nothing is published, and figures are editable.
        let sharing = s.get("/api/v1/sharing").await.body;
        assert_eq!(sharing["enabled"], false, "{}", s.engine);
        put(
            s,
            "/api/v1/channels/mall/figures/TEE",
            json!({"figure": 42}),
        )
        .await;

        // On for every channel: each gets the sum of available over its
        // linked locations (the manual 42 is overwritten).
        let on = put(
            s,
            "/api/v1/sharing",
            json!({"enabled": true, "scope": "all_stores"}),
        )
        .await;
        assert_eq!(on["scope"], "all_stores");
        wait_figure(s, "mall", "TEE", Some(12), "available").await;
        wait_figure(s, "shopee", "TEE", Some(7), "available").await;
        wait_figure(s, "pos", "TEE", Some(3), "available").await;
        let channel = s.get("/api/v1/channels/mall/sharing").await.body;
        assert_eq!(
            (channel["sharing"].as_bool(), channel["basis"].as_str()),
            (Some(true), Some("available"))
        );

        // While sharing publishes a figure, a manual edit is refused.
        let r = s
            .call(
                Method::PUT,
                "/api/v1/channels/mall/figures/TEE",
                &s.owner,
                Some(json!({"figure": 1})),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "channel_figure_locked", s.engine);
        assert!(
            r.body["detail"].as_str().unwrap().contains("mall"),
            "{}",
            r.text
        );

        // A stock change reaches only the channels linked to its location.
        movement(s, "TEE", "WH2", "receipt", 4).await;
        wait_figure(s, "mall", "TEE", Some(16), "available").await;

        // Basis and buffer per channel.
        put(
            s,
            "/api/v1/channels/shopee/sharing",
            json!({"basis": "on_hand", "buffer": 2}),
        )
        .await;
        wait_figure(s, "shopee", "TEE", Some(8), "on_hand").await;
        put(
            s,
            "/api/v1/channels/mall/sharing",
            json!({"basis": "fixed", "fixed_figure": 9999}),
        )
        .await;
        wait_figure(s, "mall", "TEE", Some(9999), "fixed").await;
        put(
            s,
            "/api/v1/channels/pos/sharing",
            json!({"basis": "untracked"}),
        )
        .await;
        wait_figure(s, "pos", "TEE", None, "basis_untracked").await;
        put(s, "/api/v1/channels/pos/figures/TEE", json!({"figure": 5})).await;

        // Product status: a cap, then forced sold-out, then clear.
        put(s, "/api/v1/skus/TEE/status", json!({"limited_stock": 4})).await;
        wait_figure(s, "mall", "TEE", Some(4), "limited").await;
        wait_figure(s, "shopee", "TEE", Some(4), "limited").await;
        let status = put(
            s,
            "/api/v1/skus/TEE/status",
            json!({"forced_sold_out": true, "discontinued": true, "discontinued_on": "2026-12-31"}),
        )
        .await;
        assert_eq!(status["status"], "sold_out");
        wait_figure(s, "mall", "TEE", Some(0), "forced_sold_out").await;
        wait_figure(s, "shopee", "TEE", Some(0), "forced_sold_out").await;
        assert_eq!(s.get("/api/v1/skus/TEE").await.body["status"], "sold_out");
        put(s, "/api/v1/skus/TEE/status", json!({})).await;
        wait_figure(s, "shopee", "TEE", Some(8), "on_hand").await;

        // Excluded from one channel: jaego stops publishing there (once),
        // and the merchant may set it by hand; included again, sharing
        // takes over.
        ok(
            s,
            Method::PUT,
            "/api/v1/channels/shopee/exclusions/TEE",
            None,
        )
        .await;
        wait_figure(s, "shopee", "TEE", None, "excluded").await;
        let listed = s.get("/api/v1/channels/shopee/exclusions").await.body;
        assert_eq!(listed["items"][0]["sku_code"], "TEE");
        let manual = put(
            s,
            "/api/v1/channels/shopee/figures/TEE",
            json!({"figure": 3}),
        )
        .await;
        assert_eq!(
            (manual["figure"].as_i64(), manual["source"].as_str()),
            (Some(3), Some("manual"))
        );
        ok(
            s,
            Method::DELETE,
            "/api/v1/channels/shopee/exclusions/TEE",
            None,
        )
        .await;
        wait_figure(s, "shopee", "TEE", Some(8), "on_hand").await;

        // Scope: only marketplace channels. The mall leaves sharing (its
        // last figure stays, and may now be edited); the shop stays.
        put(
            s,
            "/api/v1/sharing",
            json!({"enabled": true, "scope": "some_channels", "channel_kinds": ["marketplace"]}),
        )
        .await;
        let mall = s.get("/api/v1/channels/mall/sharing").await.body;
        assert_eq!(mall["sharing"], false, "{}", s.engine);
        put(
            s,
            "/api/v1/channels/mall/figures/TEE",
            json!({"figure": 50}),
        )
        .await;
        movement(s, "TEE", "WH1", "receipt", 1).await;
        wait_figure(s, "shopee", "TEE", Some(9), "on_hand").await;
        let mall = s.get("/api/v1/channels/mall/figures/TEE").await.body;
        assert_eq!(
            (mall["figure"].as_i64(), mall["source"].as_str()),
            (Some(50), Some("manual"))
        );

        // Scope: only some stores (channels), by code; and a channel's own
        // switch takes it out whatever the scope.
        put(
            s,
            "/api/v1/sharing",
            json!({"enabled": true, "scope": "some_stores", "channels": ["mall"]}),
        )
        .await;
        wait_figure(s, "mall", "TEE", Some(9999), "fixed").await;
        assert_eq!(
            s.get("/api/v1/channels/shopee/sharing").await.body["sharing"],
            false
        );
        put(
            s,
            "/api/v1/channels/mall/sharing",
            json!({"enabled": false}),
        )
        .await;
        assert_eq!(
            s.get("/api/v1/channels/mall/sharing").await.body["sharing"],
            false
        );
        put(s, "/api/v1/channels/mall/figures/TEE", json!({"figure": 7})).await;

        // Bad settings change nothing and name the field.
        for (path, body, field) in [
            (
                "/api/v1/sharing",
                json!({"enabled": true, "scope": "some_channels"}),
                "channel_kinds",
            ),
            (
                "/api/v1/sharing",
                json!({"enabled": true, "scope": "some_stores", "channels": ["nope"]}),
                "channels[0]",
            ),
            (
                "/api/v1/channels/mall/sharing",
                json!({"basis": "fixed"}),
                "fixed_figure",
            ),
            (
                "/api/v1/channels/mall/sharing",
                json!({"buffer": -1}),
                "buffer",
            ),
            (
                "/api/v1/skus/TEE/status",
                json!({"reorder_on": "2026-01-05"}),
                "reorder_on",
            ),
            (
                "/api/v1/skus/TEE/status",
                json!({"reorder": true, "reorder_on": "5 Jan"}),
                "reorder_on",
            ),
        ] {
            let r = s.call(Method::PUT, path, &s.owner, Some(body)).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                s.engine,
            );
            assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
        }

        // `channel.stock` is written only when a figure changes: no two
        // consecutive events of a channel and SKU carry the same figure.
        let stock = events(s, "channel.stock").await;
        for channel in ["mall", "shopee", "pos"] {
            let figures: Vec<&Value> = stock
                .iter()
                .filter(|e| e["channel_code"] == channel)
                .map(|e| &e["figure"])
                .collect();
            assert!(figures.len() >= 2, "{}: {channel}: {figures:?}", s.engine);
            for pair in figures.windows(2) {
                assert_ne!(pair[0], pair[1], "{}: {channel}: {figures:?}", s.engine);
            }
        }
        let first = stock
            .iter()
            .find(|e| e["channel_code"] == "mall" && e["source"] == "shared")
            .unwrap();
        assert_eq!(
            (first["figure"].as_i64(), first["previous"].as_i64()),
            (Some(12), Some(42))
        );
        assert_eq!(first["sku_code"], "TEE");
        s.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_are_pushed_now_or_on_a_schedule() {
    for server in common::servers("channels::status_push").await {
        let s = &server;
        seed(s).await;
        put(s, "/api/v1/sharing", json!({"enabled": true})).await;
        let pushed = ok(s, Method::POST, "/api/v1/status-push/run", None).await;
        assert_eq!(pushed["skus"], 0, "{}: nothing changed yet", s.engine);
        put(
            s,
            "/api/v1/skus/TEE/status",
            json!({"reorder": true, "reorder_on": "2027-01-10"}),
        )
        .await;
        let status = s.get("/api/v1/skus/TEE/status").await.body;
        assert_eq!(
            (
                status["push_pending"].as_bool(),
                status["reorder_on"].as_str()
            ),
            (Some(true), Some("2027-01-10"))
        );
        assert_eq!(s.get("/api/v1/status-push").await.body["pending"], 1);
        let pushed = ok(s, Method::POST, "/api/v1/status-push/run", None).await;
        assert_eq!(
            (pushed["skus"].as_i64(), pushed["events"].as_i64()),
            (Some(1), Some(3)),
            "{}",
            s.engine
        );
        let sent = events(s, "channel.status").await;
        assert_eq!(sent.len(), 3);
        assert!(
            sent.iter()
                .all(|e| e["reorder_on"] == "2027-01-10" && e["sku_code"] == "TEE")
        );
        assert_eq!(
            s.get("/api/v1/skus/TEE/status").await.body["push_pending"],
            false
        );
        // Pushed once: a second push sends nothing.
        let pushed = ok(s, Method::POST, "/api/v1/status-push/run", None).await;
        assert_eq!(pushed["skus"], 0, "{}", s.engine);
        // A schedule in the tenant's zone.
        let schedule = put(
            s,
            "/api/v1/status-push",
            json!({"schedule": "minutes 0,30", "time_zone": "Asia/Seoul"}),
        )
        .await;
        assert_eq!(schedule["schedule"], "minutes 0,30");
        assert!(schedule["next_run_at"].is_string(), "{}", schedule);
        let r = s
            .call(
                Method::PUT,
                "/api/v1/status-push",
                &s.owner,
                Some(json!({"schedule": "hourly", "time_zone": "Asia/Seoul"})),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            s.engine,
        );
        let r = s
            .call(
                Method::PUT,
                "/api/v1/status-push",
                &s.owner,
                Some(json!({"schedule": null, "time_zone": "Mars/Base"})),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            s.engine,
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_stock_actions_run_once_until_stock_recovers() {
    for server in common::servers("channels::low_stock").await {
        let s = &server;
        seed(s).await;
        put(s, "/api/v1/sharing", json!({"enabled": true})).await;
        wait_figure(s, "shopee", "TEE", Some(7), "available").await;
        // TEE over every location: 7 + 5 + 3 = 15 available.
        let rule = ok(
            s,
            Method::POST,
            "/api/v1/low-stock/rules",
            Some(
                json!({"sku": "TEE", "threshold": 12, "actions": ["event", "webhook", "sold_out"]}),
            ),
        )
        .await;
        assert_eq!(rule["scope"], "sku");
        let rule_id = rule["id"].as_str().unwrap().to_string();
        movement(s, "TEE", "WH2", "adjustment", -2).await; // 13: above
        movement(s, "TEE", "WH2", "adjustment", -1).await; // 12: low
        wait_figure(s, "shopee", "TEE", Some(0), "low_stock").await;
        wait_figure(s, "mall", "TEE", Some(0), "low_stock").await;
        movement(s, "TEE", "WH2", "adjustment", -1).await; // 11: still low
        let alerts = wait_for(s, "/api/v1/low-stock/alerts", "an alert", |b| {
            b["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
        assert_eq!(
            (
                alerts["items"][0]["sku_code"].as_str(),
                alerts["items"][0]["available"].as_i64()
            ),
            (Some("TEE"), Some(12))
        );
        movement(s, "TEE", "WH1", "receipt", 3).await; // 14: recovered
        wait_figure(s, "shopee", "TEE", Some(10), "available").await;
        movement(s, "TEE", "WH1", "adjustment", -3).await; // 11: low again
        wait_figure(s, "shopee", "TEE", Some(0), "low_stock").await;
        let low = events(s, "stock.low").await;
        let recovered = events(s, "stock.recovered").await;
        assert_eq!(low.len(), 2, "{}: fired once per fall: {low:?}", s.engine);
        assert_eq!(recovered.len(), 1, "{}", s.engine);
        assert_eq!(
            (low[0]["available"].as_i64(), low[0]["threshold"].as_i64()),
            (Some(12), Some(12))
        );
        assert_eq!(events(s, "alert.stock_low").await.len(), 2, "{}", s.engine);
        assert_eq!(
            events(s, "alert.stock_recovered").await.len(),
            1,
            "{}",
            s.engine
        );

        // Deleting the rule lifts its hold.
        ok(
            s,
            Method::DELETE,
            &format!("/api/v1/low-stock/rules/{rule_id}"),
            None,
        )
        .await;
        wait_figure(s, "shopee", "TEE", Some(7), "available").await;

        // A rule on a SKU at one location, and one on a channel (every SKU,
        // over the channel's linked locations).
        ok(
            s,
            Method::POST,
            "/api/v1/low-stock/rules",
            Some(json!({"sku": "TEE", "location": "ST", "threshold": 3, "actions": ["event"]})),
        )
        .await;
        let channel_rule = ok(
            s,
            Method::POST,
            "/api/v1/low-stock/rules",
            Some(json!({"channel": "shopee", "threshold": 5, "actions": ["webhook"]})),
        )
        .await;
        assert_eq!(channel_rule["scope"], "channel");
        // ST has 3: the location rule fires at once on creation.
        wait_for(s, "/api/v1/low-stock/alerts", "the location rule", |b| {
            b["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
        movement(s, "TEE", "WH1", "adjustment", -2).await; // shopee pool 5: low
        wait_for(s, "/api/v1/low-stock/alerts", "the channel rule", |b| {
            b["items"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
        let alerts = events(s, "alert.stock_low").await;
        let last = alerts.last().unwrap();
        assert_eq!(
            (last["scope"].as_str(), last["available"].as_i64()),
            (Some("channel"), Some(5))
        );

        // A second rule for the same thing is a duplicate; bad rules say why.
        let r = s
            .post(
                "/api/v1/low-stock/rules",
                json!({"channel": "shopee", "threshold": 1, "actions": ["event"]}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "duplicate", s.engine);
        for (body, field) in [
            (
                json!({"sku": "TEE", "threshold": 1, "actions": ["email"]}),
                "actions[0]",
            ),
            (
                json!({"sku": "TEE", "threshold": -1, "actions": ["event"]}),
                "threshold",
            ),
            (
                json!({"channel": "shopee", "location": "WH1", "threshold": 1, "actions": ["event"]}),
                "sku",
            ),
        ] {
            let r = s.post("/api/v1/low-stock/rules", body).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                s.engine,
            );
            assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
        }
        s.assert_verified().await;
        server.stop().await;
    }
}

/// Today's date in Seoul, shifted by `days`.
fn seoul_date(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_receipts_and_availability_estimates() {
    for server in common::servers("channels::receipts").await {
        let s = &server;
        location(s, "WH1", "warehouse").await;
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": "COAT", "name": "Coat"})),
        )
        .await;
        // Out of stock and nothing known.
        let a = s.get("/api/v1/skus/COAT/availability").await.body;
        assert_eq!(
            (a["in_stock"].as_bool(), a["estimate"].is_null()),
            (Some(false), true),
            "{a}"
        );

        // Two expected receipts; the earlier was due three days ago.
        let late_due = seoul_date(-3);
        let late = ok(
            s,
            Method::POST,
            "/api/v1/expected-receipts",
            Some(json!({"sku": "COAT", "location": "WH1", "quantity": 10, "due_on": late_due, "reference": "PO-7"})),
        )
        .await;
        assert_eq!(late["overdue_days"], 3, "{}: {late}", s.engine);
        assert_eq!(late["due_label"], format!("{late_due} (D+3)"));
        ok(
            s,
            Method::POST,
            "/api/v1/expected-receipts",
            Some(json!({"sku": "COAT", "location": "WH1", "quantity": 5, "due_on": seoul_date(7)})),
        )
        .await;
        assert_eq!(s.balance("COAT", "WH1").await["incoming"], 15);
        let a = s.get("/api/v1/skus/COAT/availability").await.body;
        assert_eq!(a["estimate"]["source"], "expected_receipt", "{a}");
        assert_eq!(a["estimate"]["label"], format!("{late_due} (D+3)"));
        let overdue = s.get("/api/v1/expected-receipts?overdue=true").await.body;
        assert_eq!(overdue["items"].as_array().unwrap().len(), 1, "{overdue}");
        // Filtered by SKU, paged: only that SKU's receipts, in order.
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": "HAT", "name": "Hat"})),
        )
        .await;
        ok(
            s,
            Method::POST,
            "/api/v1/expected-receipts",
            Some(json!({"sku": "HAT", "location": "WH1", "quantity": 2, "due_on": seoul_date(1)})),
        )
        .await;
        let first = s
            .get("/api/v1/expected-receipts?sku=COAT&limit=1")
            .await
            .body;
        assert_eq!(first["items"][0]["quantity"], 10, "{}: {first}", s.engine);
        let after = first["next_cursor"].as_str().expect("a second page");
        let second = s
            .get(&format!(
                "/api/v1/expected-receipts?sku=COAT&limit=1&after={after}"
            ))
            .await
            .body;
        assert_eq!(second["items"][0]["quantity"], 5, "{}: {second}", s.engine);
        assert!(second["next_cursor"].is_null(), "{second}");
        let hats = s.get("/api/v1/expected-receipts?sku=HAT").await.body;
        assert_eq!(
            hats["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["sku_code"].clone())
                .collect::<Vec<_>>(),
            [json!("HAT")],
            "{hats}"
        );

        // The merchant's words win while out of stock.
        put(
            s,
            "/api/v1/skus/COAT/availability-estimate",
            json!({"text": "Back in early December", "date": "2026-12-05"}),
        )
        .await;
        let a = s.get("/api/v1/skus/COAT/availability").await.body;
        assert_eq!(
            (
                a["estimate"]["source"].as_str(),
                a["estimate"]["text"].as_str()
            ),
            (Some("merchant"), Some("Back in early December"))
        );

        // Receiving moves incoming to on hand through the ledger.
        let id = late["id"].as_str().unwrap();
        let got = ok(
            s,
            Method::POST,
            &format!("/api/v1/expected-receipts/{id}/receive"),
            Some(json!({"quantity": 4})),
        )
        .await;
        assert_eq!(
            (
                got["received"].as_i64(),
                got["open_quantity"].as_i64(),
                got["state"].as_str()
            ),
            (Some(4), Some(6), Some("open"))
        );
        let b = s.balance("COAT", "WH1").await;
        assert_eq!(
            (b["on_hand"].as_i64(), b["incoming"].as_i64()),
            (Some(4), Some(11))
        );
        let a = s.get("/api/v1/skus/COAT/availability").await.body;
        assert_eq!(
            (a["in_stock"].as_bool(), a["estimate"].is_null()),
            (Some(true), true),
            "{a}"
        );
        let r = s
            .post(
                &format!("/api/v1/expected-receipts/{id}/receive"),
                json!({"quantity": 7}),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::CONFLICT,
            "expected_receipt_exceeded",
            s.engine,
        );
        // No body: the rest.
        let got = ok(
            s,
            Method::POST,
            &format!("/api/v1/expected-receipts/{id}/receive"),
            None,
        )
        .await;
        assert_eq!(
            (got["state"].as_str(), got["overdue_days"].is_null()),
            (Some("received"), true)
        );
        let r = s
            .post(
                &format!("/api/v1/expected-receipts/{id}/receive"),
                json!({}),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::CONFLICT,
            "expected_receipt_closed",
            s.engine,
        );

        // Cancelling the other takes its units off incoming.
        let open = s.get("/api/v1/expected-receipts?state=open").await.body;
        let other = open["items"][0]["id"].as_str().unwrap().to_string();
        let cancelled = ok(
            s,
            Method::POST,
            &format!("/api/v1/expected-receipts/{other}/cancel"),
            None,
        )
        .await;
        assert_eq!(cancelled["state"], "cancelled");
        let b = s.balance("COAT", "WH1").await;
        assert_eq!(
            (b["on_hand"].as_i64(), b["incoming"].as_i64()),
            (Some(10), Some(0))
        );
        let r = s
            .post(
                &format!("/api/v1/expected-receipts/{other}/cancel"),
                json!({}),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::CONFLICT,
            "expected_receipt_closed",
            s.engine,
        );
        let kinds: Vec<String> = s
            .all_movements(&s.owner)
            .await
            .iter()
            .map(|m| m["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "expect",
                "expect",
                "expect", // HAT's
                "expected_receipt",
                "expected_receipt",
                "expect_cancel"
            ]
        );

        // Bad input names its field.
        for (body, field) in [
            (
                json!({"sku": "COAT", "location": "WH1", "quantity": 1, "due_on": "2026-02-30"}),
                "due_on",
            ),
            (
                json!({"sku": "COAT", "location": "WH1", "quantity": 0, "due_on": "2026-02-03"}),
                "quantity",
            ),
        ] {
            let r = s.post("/api/v1/expected-receipts", body).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                s.engine,
            );
            assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
        }
        let r = s
            .call(
                Method::PUT,
                "/api/v1/skus/COAT/availability-estimate",
                &s.owner,
                Some(json!({"text": ""})),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            s.engine,
        );
        s.assert_verified().await;
        server.stop().await;
    }
}
