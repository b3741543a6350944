//! Store pickup (click and collect) through the HTTP API on both engines
//! (seed 001): requests made from online orders with a pickup store (one
//! intake making many orders' requests, their `pickup.requested` events,
//! the order a full batch cuts waiting whole),
//! reception and completion by scans, unavailable, cancelled and expired
//! requests with their stock, the expired-receipts prompt, online
//! cancellations and what prints, the print schedule across a DST change,
//! the history filters, receipts read back by a barcode reader, and every
//! illegal transition refused with its code and nothing changed.

mod common;
mod scan;

use common::{TestServer, assert_problem, ok};
use jaego_core::TenantId;
use jaego_store::events::EventFilter;
use jaego_store::now_us;
use jaego_store::pickups::{PICKUP_INTAKE_BATCH_MAX, Pickup};
use reqwest::{Method, StatusCode};
use rxing::BarcodeFormat;
use serde_json::{Value, json};

const HOUR_US: i64 = 3_600 * 1_000_000;

/// A store GN (Seoul) with TEE ×10 and CAP ×5, a warehouse WH with SOCK,
/// and a web mall sourced from WH.
async fn shop(s: &TestServer) {
    for (code, kind) in [("GN", "store"), ("WH", "warehouse")] {
        ok(
            s,
            Method::POST,
            "/api/v1/locations",
            Some(json!({"code": code, "name": format!("{code} 매장"), "kind": kind, "time_zone": "Asia/Seoul"})),
        )
        .await;
    }
    for (sku, barcode) in [
        ("TEE", "8801234567893"),
        ("CAP", "CAP-0001"),
        ("SOCK", "SOCK-1"),
    ] {
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": sku, "name": format!("{sku} 상품"), "barcodes": [barcode]})),
        )
        .await;
    }
    for (sku, loc, q) in [("TEE", "GN", 10), ("CAP", "GN", 5), ("SOCK", "WH", 5)] {
        ok(
            s,
            Method::POST,
            "/api/v1/movements",
            Some(json!({"sku": sku, "location": loc, "kind": "receipt", "quantity": q})),
        )
        .await;
    }
    ok(
        s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "MALL", "kind": "web", "locations": ["WH"]})),
    )
    .await;
}

/// Opens another store.
async fn store(s: &TestServer, code: &str, name: &str, time_zone: &str) {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": code, "name": name, "kind": "store", "time_zone": time_zone})),
    )
    .await;
}

/// Collects an order to pick up at GN; returns its id.
async fn order(s: &TestServer, no: &str, customer: &str, lines: &[(&str, i64)]) -> String {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
        .collect();
    let body = ok(
        s,
        Method::POST,
        "/api/v1/channels/MALL/orders",
        Some(
            json!({"order_no": no, "customer": {"name": customer, "phone": "010-1234-5678"},
                    "pickup_location": "GN", "lines": lines}),
        ),
    )
    .await;
    body["order"]["id"].as_str().unwrap().to_string()
}

/// Runs the pickup intake now (the job does every 2 s) and returns the
/// request of order `no`.
async fn request_of(s: &TestServer, no: &str) -> Value {
    s.store.pickup_intake(now_us()).await.unwrap();
    let list = ok(
        s,
        Method::GET,
        &format!("/api/v1/pickups?order_no={no}"),
        None,
    )
    .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "{}: {list}",
        s.engine
    );
    list["items"][0].clone()
}

async fn scan(s: &TestServer, pickup: &str, phase: &str, code: &str) -> common::Reply {
    s.post(
        &format!("/api/v1/pickups/{pickup}/{phase}-scans"),
        json!({"code": code}),
    )
    .await
}

/// The invariant: units held at GN (its settings' `held_units`) equal the
/// units of its `received` requests, and the store's `allocated` of each
/// SKU (only pickups allocate at GN here).
async fn check_held(s: &TestServer) {
    let settings = ok(s, Method::GET, "/api/v1/pickup-stores/GN/settings", None).await;
    let received = ok(
        s,
        Method::GET,
        "/api/v1/pickups?status=received&location=GN",
        None,
    )
    .await;
    let units: i64 = received["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter())
        .map(|i| i["units"].as_i64().unwrap())
        .sum();
    let allocated = s.figures("TEE", "GN").await.1 + s.figures("CAP", "GN").await.1;
    assert_eq!(settings["held_units"].as_i64(), Some(units), "{}", s.engine);
    assert_eq!(allocated, units, "{}: allocated at GN", s.engine);
}

async fn tenant(s: &TestServer) -> TenantId {
    s.store
        .authenticate(&s.owner)
        .await
        .unwrap()
        .unwrap()
        .tenant_id
}

async fn event_kinds(s: &TestServer) -> Vec<String> {
    s.store
        .events_after(tenant(s).await, 0, &EventFilter::default(), 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("pickup."))
        .collect()
}

fn receipt_code_in_svg(svg: &str) -> String {
    let image = scan::rasterise_svg(svg, 300.0);
    scan::decode(&image, BarcodeFormat::CODE_128).expect("the receipt barcode scans")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_then_completion() {
    for s in common::servers("pickup_reception_completion").await {
        let e = s.engine;
        shop(&s).await;
        let order_id = order(&s, "A1", "김민지", &[("TEE", 2), ("CAP", 1)]).await;
        let p = request_of(&s, "A1").await;
        assert_eq!(p["status"], "requested", "{e}");
        assert_eq!(p["order_id"], order_id.as_str());
        let id = p["id"].as_str().unwrap().to_string();
        let receipt = p["receipt_code"].as_str().unwrap().to_string();
        // A second intake makes nothing new.
        request_of(&s, "A1").await;
        // The receipt's barcode scans back to its code; the code finds it.
        let svg = s
            .http
            .get(s.url(&format!("/api/v1/pickups/{id}/receipt?format=svg")))
            .bearer_auth(&s.owner)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(receipt_code_in_svg(&svg), receipt, "{e}");
        let found = ok(&s, Method::GET, &format!("/api/v1/pickups/{receipt}"), None).await;
        assert_eq!(found["id"], id.as_str());

        // Illegal before reception: nothing changes.
        let before = s.figures("TEE", "GN").await;
        for (path, body, code) in [
            ("complete", json!(null), "pickup_not_received"),
            (
                "cancel",
                json!({"reason": "고객 요청"}),
                "pickup_not_received",
            ),
        ] {
            let r = s
                .call(
                    Method::POST,
                    &format!("/api/v1/pickups/{id}/{path}"),
                    &s.owner,
                    (!body.is_null()).then_some(body),
                )
                .await;
            assert_problem(&r, StatusCode::CONFLICT, code, &format!("{e}: {path}"));
        }
        let r = scan(&s, &id, "completion", "A1").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_not_received", e);

        // Reception: the receipt, then every unit (by barcode or code).
        let r = scan(&s, &id, "reception", &receipt).await;
        assert_eq!(r.body["scanned"], "receipt", "{e}: {}", r.text);
        let r = scan(&s, &id, "reception", "CAP-0001").await;
        assert_eq!(
            (r.status, r.body["remaining"].as_i64()),
            (StatusCode::OK, Some(2)),
            "{e}: {}",
            r.text
        );
        let r = scan(&s, &id, "reception", "CAP").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_over_scan", e);
        let r = scan(&s, &id, "reception", "SOCK-1").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_wrong_item", e);
        let r = scan(&s, &id, "reception", "NO-SUCH-CODE").await;
        assert_problem(&r, StatusCode::CONFLICT, "unknown_barcode", e);
        let r = scan(&s, &id, "reception", "").await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        assert_eq!(
            s.figures("TEE", "GN").await,
            before,
            "{e}: nothing held yet"
        );
        scan(&s, &id, "reception", "8801234567893").await;
        let r = scan(&s, &id, "reception", "TEE").await;
        assert_eq!(r.body["pickup"]["status"], "received", "{e}: {}", r.text);
        assert_eq!(
            r.body["remaining"].as_i64(),
            Some(3),
            "{e}: now to scan out"
        );
        // Held: allocated at the store, not available, still on hand.
        assert_eq!(s.figures("TEE", "GN").await, (10, 2, 8), "{e}");
        assert_eq!(s.figures("CAP", "GN").await, (5, 1, 4), "{e}");
        check_held(&s).await;
        let r = scan(&s, &id, "reception", "TEE").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_already_received", e);
        let r = s
            .post(
                &format!("/api/v1/pickups/{id}/unavailable"),
                json!({"reason": "품절"}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_already_received", e);

        // Completion: the slip, the receipt, every held unit, confirm.
        let r = scan(&s, &id, "completion", "TEE").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_slip_first", e);
        assert_eq!(
            scan(&s, &id, "completion", "A1").await.body["scanned"],
            "slip"
        );
        assert_eq!(
            scan(&s, &id, "completion", &receipt).await.body["scanned"],
            "receipt"
        );
        scan(&s, &id, "completion", "TEE").await;
        let r = s
            .call(
                Method::POST,
                &format!("/api/v1/pickups/{id}/complete"),
                &s.owner,
                None,
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_scan_incomplete", e);
        scan(&s, &id, "completion", "TEE").await;
        let r = scan(&s, &id, "completion", "TEE").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_over_scan", e);
        let r = scan(&s, &id, "completion", "CAP").await;
        assert_eq!(r.body["remaining"].as_i64(), Some(0), "{e}: {}", r.text);
        let done = ok(
            &s,
            Method::POST,
            &format!("/api/v1/pickups/{id}/complete"),
            None,
        )
        .await;
        assert_eq!(done["status"], "completed", "{e}");
        assert_eq!(
            s.figures("TEE", "GN").await,
            (8, 0, 8),
            "{e}: on hand dropped"
        );
        assert_eq!(s.figures("CAP", "GN").await, (4, 0, 4), "{e}");
        let o = ok(&s, Method::GET, &format!("/api/v1/orders/{order_id}"), None).await;
        assert_eq!(o["status"], "shipped", "{e}");
        let r = s
            .call(
                Method::POST,
                &format!("/api/v1/pickups/{id}/complete"),
                &s.owner,
                None,
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_closed", e);
        check_held(&s).await;
        let kinds = event_kinds(&s).await;
        let statuses: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|k| *k != "pickup.scanned")
            .collect();
        assert_eq!(
            statuses,
            ["pickup.requested", "pickup.received", "pickup.completed"],
            "{e}"
        );
        // Every accepted scan is an event (3 at reception; slip, receipt
        // and 3 units at completion), so a second device follows the count.
        let scans = kinds.iter().filter(|k| *k == "pickup.scanned").count();
        assert_eq!(scans, 8, "{e}: {kinds:?}");
        s.assert_verified().await;
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_cancel_expiry_prompt_history_reprint() {
    for s in common::servers("pickup_unavailable_cancel_expiry").await {
        let e = s.engine;
        shop(&s).await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/pickup-stores/GN/settings",
            Some(json!({"deadline_hours": 48})),
        )
        .await;
        order(&s, "B1", "이서준", &[("TEE", 1)]).await;
        order(&s, "B2", "박지우", &[("TEE", 1)]).await;
        order(&s, "B3", "Kim Minji", &[("CAP", 2)]).await;
        let b1 = request_of(&s, "B1").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b2 = request_of(&s, "B2").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b3 = request_of(&s, "B3").await["id"]
            .as_str()
            .unwrap()
            .to_string();

        // Unavailable: a reason is required; then nothing was held.
        let r = s
            .post(
                &format!("/api/v1/pickups/{b1}/unavailable"),
                json!({"reason": " "}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        let p = ok(
            &s,
            Method::POST,
            &format!("/api/v1/pickups/{b1}/unavailable"),
            Some(json!({"reason": "재고 없음"})),
        )
        .await;
        assert_eq!(
            (p["status"].as_str(), p["reason"].as_str()),
            (Some("unavailable"), Some("재고 없음")),
            "{e}"
        );
        let r = scan(&s, &b1, "reception", "TEE").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_closed", e);
        assert_eq!(s.figures("TEE", "GN").await, (10, 0, 10), "{e}");

        // Cancelled after reception: the held unit is sellable again.
        scan(&s, &b2, "reception", "TEE").await;
        assert_eq!(s.figures("TEE", "GN").await, (10, 1, 9), "{e}");
        let r = s
            .post(
                &format!("/api/v1/pickups/{b2}/cancel"),
                json!({"reason": ""}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        assert_eq!(
            s.figures("TEE", "GN").await,
            (10, 1, 9),
            "{e}: refused, nothing changed"
        );
        let p = ok(
            &s,
            Method::POST,
            &format!("/api/v1/pickups/{b2}/cancel"),
            Some(json!({"reason": "고객 변심"})),
        )
        .await;
        assert_eq!(p["status"], "cancelled", "{e}");
        assert_eq!(s.figures("TEE", "GN").await, (10, 0, 10), "{e}");
        check_held(&s).await;

        // Expired past the store's deadline: released, then asked once.
        scan(&s, &b3, "reception", "CAP").await;
        scan(&s, &b3, "reception", "CAP").await;
        assert_eq!(s.figures("CAP", "GN").await, (5, 2, 3), "{e}");
        let prompt = ok(
            &s,
            Method::GET,
            "/api/v1/pickup-stores/GN/expired-prompt",
            None,
        )
        .await;
        assert_eq!(prompt["ask"], false, "{e}");
        let now = now_us();
        assert_eq!(
            s.store
                .expire_pickups(now + 47 * HOUR_US, 100)
                .await
                .unwrap(),
            0,
            "{e}: not yet"
        );
        assert_eq!(
            s.store
                .expire_pickups(now + 49 * HOUR_US, 100)
                .await
                .unwrap(),
            1,
            "{e}"
        );
        assert_eq!(
            s.store
                .expire_pickups(now + 50 * HOUR_US, 100)
                .await
                .unwrap(),
            0,
            "{e}: once"
        );
        assert_eq!(
            s.figures("CAP", "GN").await,
            (5, 0, 5),
            "{e}: sellable again"
        );
        check_held(&s).await;
        let prompt = ok(
            &s,
            Method::GET,
            "/api/v1/pickup-stores/GN/expired-prompt",
            None,
        )
        .await;
        assert_eq!(prompt["ask"], true, "{e}");
        assert_eq!(prompt["pickups"][0]["id"], b3.as_str(), "{e}");
        let answer = ok(
            &s,
            Method::POST,
            "/api/v1/pickup-stores/GN/expired-prompt",
            Some(json!({"pickup_ids": [b3], "print": true})),
        )
        .await;
        assert_eq!(
            answer["run"]["receipts"][0]["kind"], "expired",
            "{e}: {answer}"
        );
        assert_eq!(answer["run"]["receipts"][0]["items"][0]["units"], 2, "{e}");
        let prompt = ok(
            &s,
            Method::GET,
            "/api/v1/pickup-stores/GN/expired-prompt",
            None,
        )
        .await;
        assert_eq!(prompt["ask"], false, "{e}: asked once");
        let document = s
            .http
            .get(s.url(answer["run"]["document"].as_str().unwrap()))
            .bearer_auth(&s.owner)
            .send()
            .await
            .unwrap();
        assert_eq!(document.status(), StatusCode::OK);
        assert!(document.bytes().await.unwrap().starts_with(b"%PDF-"), "{e}");

        // History by status, customer, order number and date range.
        let ids = |v: Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect()
        };
        for (query, expected) in [
            ("status=unavailable", vec![b1.clone()]),
            ("status=cancelled", vec![b2.clone()]),
            ("status=expired", vec![b3.clone()]),
            ("status=received", vec![]),
            ("customer=kim%20min", vec![b3.clone()]),
            (
                "customer=1234-5678",
                vec![b1.clone(), b2.clone(), b3.clone()],
            ),
            ("order_no=B2", vec![b2.clone()]),
            (
                "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&location=GN",
                vec![b1.clone(), b2.clone(), b3.clone()],
            ),
            ("from=2100-01-01T00:00:00Z", vec![]),
            ("limit=2", vec![b1.clone(), b2.clone()]),
        ] {
            let got = ok(&s, Method::GET, &format!("/api/v1/pickups?{query}"), None).await;
            assert_eq!(ids(got), expected, "{e}: {query}");
        }
        for (query, field) in [
            ("status=lost", "status"),
            ("from=yesterday", "from"),
            ("location=NOWHERE", "location"),
        ] {
            let r = s.get(&format!("/api/v1/pickups?{query}")).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                &format!("{e}: {query}"),
            );
            assert_eq!(r.body["errors"][0]["field"], field, "{e}: {}", r.text);
        }
        // Reprint any receipt, whatever its status.
        for id in [&b1, &b2, &b3] {
            let svg = s
                .http
                .get(s.url(&format!("/api/v1/pickups/{id}/receipt?format=svg")))
                .bearer_auth(&s.owner)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let p = ok(&s, Method::GET, &format!("/api/v1/pickups/{id}"), None).await;
            assert_eq!(
                receipt_code_in_svg(&svg),
                p["receipt_code"].as_str().unwrap(),
                "{e}"
            );
        }
        let kinds = event_kinds(&s).await;
        for kind in [
            "pickup.unavailable",
            "pickup.cancelled",
            "pickup.expired",
            "pickup.printed",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{e}: {kind} in {kinds:?}");
        }
        s.assert_verified().await;
        s.stop().await;
    }
}

/// What a print run's receipts list: (kind, order number, [(sku, units)]).
/// A printed receipt: (kind, order number, [(sku, units)]).
type Printed = (String, String, Vec<(String, i64)>);

fn printed(run: &Value) -> Vec<Printed> {
    run["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["order_no"].as_str().unwrap().to_string(),
                r["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        (
                            i["sku_code"].as_str().unwrap().to_string(),
                            i["units"].as_i64().unwrap(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

fn receipt(kind: &str, no: &str, items: &[(&str, i64)]) -> Printed {
    (
        kind.to_string(),
        no.to_string(),
        items.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_cancellations_print_the_cancelled_items() {
    for s in common::servers("pickup_online_cancellations").await {
        let e = s.engine;
        shop(&s).await;
        let c1 = order(&s, "C1", "최유나", &[("TEE", 3), ("CAP", 1)]).await;
        let p = request_of(&s, "C1").await;
        let id = p["id"].as_str().unwrap().to_string();
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert_eq!(
            printed(&run["run"]),
            [receipt("new", "C1", &[("TEE", 3), ("CAP", 1)])],
            "{e}"
        );
        let settings = ok(&s, Method::GET, "/api/v1/pickup-stores/GN/settings", None).await;
        assert_eq!(settings["pending_prints"], 0, "{e}");
        assert!(settings["last_print_at"].is_string(), "{e}: {settings}");
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert!(run["run"].is_null(), "{e}: nothing pending");

        // Received, then one TEE cancelled online: only it prints.
        for code in ["TEE", "TEE", "TEE", "CAP"] {
            scan(&s, &id, "reception", code).await;
        }
        assert_eq!(s.figures("TEE", "GN").await, (10, 3, 7), "{e}");
        let line = |n: i64, q: i64| json!({"lines": [{"line": n, "quantity": q}]});
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/orders/{c1}/cancel"),
            Some(line(1, 1)),
        )
        .await;
        let p = request_of(&s, "C1").await;
        assert_eq!(p["items"][0]["cancelled"], 1, "{e}: {p}");
        assert_eq!(p["status"], "received", "{e}");
        assert_eq!(
            s.figures("TEE", "GN").await,
            (10, 2, 8),
            "{e}: the cancelled unit is sellable"
        );
        check_held(&s).await;
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert_eq!(
            printed(&run["run"]),
            [receipt("cancellation", "C1", &[("TEE", 1)])],
            "{e}"
        );

        // With whole-receipt printing, every cancelled unit prints.
        ok(
            &s,
            Method::PUT,
            "/api/v1/pickup-stores/GN/settings",
            Some(json!({"print_whole_on_cancel": true})),
        )
        .await;
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/orders/{c1}/cancel"),
            Some(line(2, 1)),
        )
        .await;
        request_of(&s, "C1").await;
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert_eq!(
            printed(&run["run"]),
            [receipt("cancellation", "C1", &[("TEE", 1), ("CAP", 1)])],
            "{e}"
        );

        // Everything cancelled: the request is cancelled, its receipt void.
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/orders/{c1}/cancel"),
            None,
        )
        .await;
        let p = request_of(&s, "C1").await;
        assert_eq!(
            (p["status"].as_str(), p["reason"].as_str()),
            (Some("cancelled"), Some("order cancelled")),
            "{e}"
        );
        assert_eq!(s.figures("TEE", "GN").await, (10, 0, 10), "{e}");
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert_eq!(
            printed(&run["run"]),
            [receipt("cancellation", "C1", &[("TEE", 3), ("CAP", 1)])],
            "{e}"
        );
        // A request cancelled whole before it ever printed never prints.
        let c2 = order(&s, "C2", "최유나", &[("CAP", 1)]).await;
        request_of(&s, "C2").await;
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/orders/{c2}/cancel"),
            None,
        )
        .await;
        request_of(&s, "C2").await;
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert!(run["run"].is_null(), "{e}: {run}");
        check_held(&s).await;
        assert!(
            event_kinds(&s)
                .await
                .contains(&"pickup.items_cancelled".to_string()),
            "{e}"
        );
        s.assert_verified().await;
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_print_schedule_across_midnight_and_dst() {
    for s in common::servers("pickup_print_schedule").await {
        let e = s.engine;
        shop(&s).await;
        store(&s, "NY", "New York", "America/New_York").await;
        let tenant = tenant(&s).await;
        // In the future, so the server's own print job (on the real
        // clock) never finds this schedule due.
        let us = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_microsecond();
        // 23:20 EST on Saturday 9 March 2030; prints at :00 and :30.
        let minutes = jaego_core::pickup::print_minutes("m", &[0, 30]).unwrap();
        let set = s
            .store
            .set_pickup_settings(
                tenant,
                "NY",
                Some(minutes),
                false,
                72,
                us("2030-03-10T04:20:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(set.next_print_at, Some(us("2030-03-10T04:30:00Z")), "{e}");
        // Requests arrive at these instants; the job runs every minute.
        let arrivals = [
            ("N1", "2030-03-10T04:25:00Z"), // 23:25 EST → 23:30
            ("N2", "2030-03-10T04:50:00Z"), // 23:50 EST → 00:00 (the next day)
            ("N3", "2030-03-10T06:40:00Z"), // 01:40 EST → 03:00 EDT (02:00 never happens)
            ("N4", "2030-03-10T07:10:00Z"), // 03:10 EDT → 03:30 EDT
        ];
        let mut printed_at: Vec<(String, i64)> = Vec::new();
        let mut clock = us("2030-03-10T04:20:00Z");
        let end = us("2030-03-10T08:00:00Z");
        let mut next = 0;
        while clock <= end {
            while next < arrivals.len() && us(arrivals[next].1) <= clock {
                let (no, _) = arrivals[next];
                let body = json!({"order_no": no, "customer": {"name": "Alex"}, "pickup_location": "NY",
                                  "lines": [{"sku": "TEE", "quantity": 1}]});
                ok(&s, Method::POST, "/api/v1/channels/MALL/orders", Some(body)).await;
                s.store.pickup_intake(clock).await.unwrap();
                next += 1;
            }
            if s.store.run_pickup_prints(clock).await.unwrap() > 0 {
                for run in s.store.pickup_print_runs(tenant, "NY", 50).await.unwrap() {
                    for entry in run.entries {
                        if !printed_at
                            .iter()
                            .any(|(n, _)| *n == entry.pickup.external_no)
                        {
                            printed_at.push((entry.pickup.external_no.clone(), run.created_at));
                        }
                    }
                }
            }
            clock += 60 * 1_000_000;
        }
        let expected: Vec<(String, i64)> = [
            ("N1", "2030-03-10T04:30:00Z"),
            ("N2", "2030-03-10T05:00:00Z"),
            ("N3", "2030-03-10T07:00:00Z"),
            ("N4", "2030-03-10T07:30:00Z"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), us(t)))
        .collect();
        assert_eq!(printed_at, expected, "{e}");
        // Every print matches the core's rule for the same zone and minutes.
        let zone = jaego_core::schedule::zone("America/New_York").unwrap();
        for ((_, arrived), (_, at)) in arrivals.iter().zip(&expected) {
            assert_eq!(
                jaego_core::pickup::print_time(minutes, &zone, us(arrived)),
                *at
            );
        }
        let settings = ok(&s, Method::GET, "/api/v1/pickup-stores/NY/settings", None).await;
        assert_eq!(settings["print_minutes"], json!([0, 30]), "{e}");
        assert_eq!(settings["last_print_at"], "2030-03-10T07:30:00Z", "{e}");
        // Bad settings change nothing.
        for (body, field) in [
            (json!({"print_minutes": [7]}), "print_minutes[0]"),
            (json!({"print_minutes": []}), "print_minutes"),
            (json!({"deadline_hours": 0}), "deadline_hours"),
        ] {
            let r = s
                .call(
                    Method::PUT,
                    "/api/v1/pickup-stores/NY/settings",
                    &s.owner,
                    Some(body),
                )
                .await;
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
            assert_eq!(r.body["errors"][0]["field"], field, "{e}: {}", r.text);
        }
        let r = s.get("/api/v1/pickup-stores/WH/settings").await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            &format!("{e}: a warehouse"),
        );
        let again = ok(&s, Method::GET, "/api/v1/pickup-stores/NY/settings", None).await;
        assert_eq!(again["print_minutes"], json!([0, 30]), "{e}");
        s.stop().await;
    }
}

/// The request as the store reads it now, for the fields its answer body
/// does not show (stamps).
async fn read(s: &TestServer, tenant: TenantId, id: &str) -> Pickup {
    s.store.pickup(tenant, id).await.unwrap()
}

/// Checks that the last `kind` event of request `id` carries what a read
/// of the request gives now.
async fn assert_event_reads(s: &TestServer, tenant: TenantId, id: &str, kind: &str) {
    let p = read(s, tenant, id).await;
    let data: Value = s
        .store
        .events_after(tenant, 0, &EventFilter::default(), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind && e.subject_id.as_deref() == Some(id))
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .next_back()
        .unwrap_or_else(|| panic!("{}: no {kind} event of {id}", s.engine));
    let items: Vec<Value> = p
        .items
        .iter()
        .map(|i| {
            json!({"line_id": i.line_id.to_string(), "sku_id": i.sku_id.to_string(),
                   "quantity": i.quantity, "cancelled": i.cancelled})
        })
        .collect();
    let read = json!({
        "id": p.id.to_string(), "order_id": p.order_id.to_string(), "external_no": p.external_no,
        "location_id": p.location_id.to_string(), "receipt_code": p.receipt_code,
        "status": p.status.as_str(), "reason": p.reason, "items": items,
    });
    for (key, value) in read.as_object().unwrap() {
        assert_eq!(&data[key], value, "{}: {kind} {key}: {data}", s.engine);
    }
}

/// `GET /api/v1/pickups/{id}`.
async fn get(s: &TestServer, id: &str) -> Value {
    ok(s, Method::GET, &format!("/api/v1/pickups/{id}"), None).await
}

/// `POST /api/v1/pickups/{id}/{action}` (`complete`, `unavailable`,
/// `cancel`), with a reason where it takes one: the answer.
async fn act(s: &TestServer, id: &str, action: &str, reason: Option<&str>) -> Value {
    ok(
        s,
        Method::POST,
        &format!("/api/v1/pickups/{id}/{action}"),
        reason.map(|r| json!({ "reason": r })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_answers_and_tells_what_a_read_gives() {
    for s in common::servers("pickup_answers_match_reads").await {
        let e = s.engine;
        shop(&s).await;
        ok(
            &s,
            Method::POST,
            "/api/v1/bundles",
            Some(json!({"code": "SET", "name": "세트", "barcodes": ["SET-EAN"],
                        "components": [{"sku": "TEE", "quantity": 1}, {"sku": "CAP", "quantity": 1}]})),
        )
        .await;
        let t = tenant(&s).await;
        let id_of = |p: Value| p["id"].as_str().unwrap().to_string();

        // Reception and completion of a plain item and a bundle item, by
        // the item, by components, and whole.
        order(&s, "R1", "김민지", &[("TEE", 1), ("SET", 1)]).await;
        let r1 = id_of(request_of(&s, "R1").await);
        for code in ["TEE", "CAP-0001", "8801234567893"] {
            let out = scan(&s, &r1, "reception", code).await;
            assert_eq!(out.status, StatusCode::OK, "{e}: {}", out.text);
            assert_eq!(
                out.body["pickup"],
                get(&s, &r1).await,
                "{e}: reception {code}"
            );
        }
        let p = read(&s, t, &r1).await;
        assert_eq!(p.status.as_str(), "received", "{e}");
        let received = p.received_at.expect("received_at");
        assert_eq!(p.deadline_at, Some(received + 72 * HOUR_US), "{e}");
        assert_event_reads(&s, t, &r1, "pickup.received").await;
        let receipt = p.receipt_code.clone();
        for code in ["R1", receipt.as_str(), "TEE", "SET-EAN"] {
            let out = scan(&s, &r1, "completion", code).await;
            assert_eq!(out.status, StatusCode::OK, "{e}: {}", out.text);
            assert_eq!(
                out.body["pickup"],
                get(&s, &r1).await,
                "{e}: completion {code}"
            );
        }
        assert_event_reads(&s, t, &r1, "pickup.scanned").await;
        let done = act(&s, &r1, "complete", None).await;
        assert_eq!(done, get(&s, &r1).await, "{e}: complete");
        assert!(read(&s, t, &r1).await.closed_at.is_some(), "{e}");
        assert_event_reads(&s, t, &r1, "pickup.completed").await;

        // Unavailable and cancelled, with their reasons trimmed.
        order(&s, "U1", "이서준", &[("TEE", 1)]).await;
        let u1 = id_of(request_of(&s, "U1").await);
        let answer = act(&s, &u1, "unavailable", Some("  재고 없음 ")).await;
        assert_eq!(answer, get(&s, &u1).await, "{e}: unavailable");
        let p = read(&s, t, &u1).await;
        assert_eq!(
            (p.reason.as_str(), p.closed_at.is_some()),
            ("재고 없음", true),
            "{e}"
        );
        assert_event_reads(&s, t, &u1, "pickup.unavailable").await;
        order(&s, "X1", "박지우", &[("CAP", 1)]).await;
        let x1 = id_of(request_of(&s, "X1").await);
        assert_eq!(
            scan(&s, &x1, "reception", "CAP").await.status,
            StatusCode::OK,
            "{e}"
        );
        let answer = act(&s, &x1, "cancel", Some(" 고객 변심 ")).await;
        assert_eq!(answer, get(&s, &x1).await, "{e}: cancel");
        let p = read(&s, t, &x1).await;
        assert_eq!(p.reason, "고객 변심", "{e}");
        assert_event_reads(&s, t, &x1, "pickup.cancelled").await;

        // Expired past the deadline: closed, and waiting for the prompt.
        order(&s, "E1", "Kim Minji", &[("TEE", 1)]).await;
        let e1 = id_of(request_of(&s, "E1").await);
        assert_eq!(
            scan(&s, &e1, "reception", "TEE").await.status,
            StatusCode::OK,
            "{e}"
        );
        let expired = s
            .store
            .expire_pickups(now_us() + 100 * HOUR_US, 10)
            .await
            .unwrap();
        assert_eq!(expired, 1, "{e}");
        let p = read(&s, t, &e1).await;
        assert_eq!(
            (p.status.as_str(), p.closed_at.is_some()),
            ("expired", true),
            "{e}"
        );
        assert_event_reads(&s, t, &e1, "pickup.expired").await;
        let prompt = s.store.expired_prompt(t, "GN").await.unwrap();
        assert_eq!(prompt, vec![p], "{e}");

        // Online cancellations: units, the last unit not yet received
        // (the request is received and held), then the rest.
        let c1 = order(&s, "C1", "최유나", &[("TEE", 2), ("CAP", 1)]).await;
        let c1p = id_of(request_of(&s, "C1").await);
        let cancel = |lines: Option<Value>| {
            let s = &s;
            let c1 = c1.clone();
            async move {
                ok(
                    s,
                    Method::POST,
                    &format!("/api/v1/orders/{c1}/cancel"),
                    lines,
                )
                .await;
                request_of(s, "C1").await
            }
        };
        cancel(Some(json!({"lines": [{"line": 1, "quantity": 1}]}))).await;
        assert_event_reads(&s, t, &c1p, "pickup.items_cancelled").await;
        assert_eq!(
            scan(&s, &c1p, "reception", "TEE").await.status,
            StatusCode::OK,
            "{e}"
        );
        cancel(Some(json!({"lines": [{"line": 2, "quantity": 1}]}))).await;
        let p = read(&s, t, &c1p).await;
        assert_eq!(p.status.as_str(), "received", "{e}");
        assert!(p.received_at.is_some() && p.deadline_at.is_some(), "{e}");
        assert_event_reads(&s, t, &c1p, "pickup.received").await;
        assert_eq!(s.figures("TEE", "GN").await.1, 1, "{e}: the TEE is held");
        cancel(None).await;
        let p = read(&s, t, &c1p).await;
        assert_eq!(
            (p.status.as_str(), p.reason.as_str(), p.closed_at.is_some()),
            ("cancelled", "order cancelled", true),
            "{e}"
        );
        assert_event_reads(&s, t, &c1p, "pickup.cancelled").await;
        // A later intake finds nothing more to take in.
        let events = event_kinds(&s).await.len();
        request_of(&s, "C1").await;
        assert_eq!(event_kinds(&s).await.len(), events, "{e}");
        check_held(&s).await;
        s.assert_verified().await;
        s.stop().await;
    }
}

/// Collects order `no` whose lines name their own pickup stores: (SKU,
/// units, store code).
async fn order_at(s: &TestServer, no: &str, lines: &[(&str, i64, &str)]) -> String {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q, store)| json!({"sku": sku, "quantity": q, "pickup_location": store}))
        .collect();
    let body = ok(
        s,
        Method::POST,
        "/api/v1/channels/MALL/orders",
        Some(
            json!({"order_no": no, "customer": {"name": "정하늘", "phone": "010-1234-5678"},
                    "lines": lines}),
        ),
    )
    .await;
    body["order"]["id"].as_str().unwrap().to_string()
}

/// The requests of order `no` as the API lists them, by store code.
async fn requests_of(s: &TestServer, no: &str) -> Vec<Value> {
    let list = ok(
        s,
        Method::GET,
        &format!("/api/v1/pickups?order_no={no}"),
        None,
    )
    .await;
    let mut items = list["items"].as_array().unwrap().clone();
    items.sort_by_key(|p| p["location_code"].as_str().unwrap().to_string());
    items
}

/// (SKU code, quantity) of every item of request `p`, in item order.
fn item_units(p: &Value) -> Vec<(String, i64)> {
    p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku_code"].as_str().unwrap().to_string(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Checks that request `id` has exactly one `pickup.requested` event and
/// that its body is the request as a read gives it right after the
/// intake: every field, byte for byte (key order included), the items in
/// item order, on the request's store, channel and id.
async fn assert_requested_event(s: &TestServer, id: &str) {
    let e = s.engine;
    let p = get(s, id).await;
    assert_eq!(
        (p["status"].as_str(), p["reason"].as_str()),
        (Some("requested"), Some("")),
        "{e}: {p}"
    );
    let events: Vec<_> = s
        .store
        .events_after(tenant(s).await, 0, &EventFilter::default(), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|ev| ev.kind == "pickup.requested" && ev.subject_id.as_deref() == Some(id))
        .collect();
    assert_eq!(events.len(), 1, "{e}: pickup.requested events of {id}");
    let event = &events[0];
    let items: Vec<Value> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            json!({"line_id": i["line_id"], "sku_id": i["sku_id"],
                   "quantity": i["quantity"], "cancelled": i["cancelled"]})
        })
        .collect();
    let expected = json!({
        "id": p["id"], "order_id": p["order_id"], "external_no": p["order_no"],
        "location_id": p["location_id"], "receipt_code": p["receipt_code"],
        "status": p["status"], "reason": p["reason"], "items": items,
    });
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data, expected, "{e}: pickup.requested of {id}");
    assert_eq!(event.data, expected.to_string(), "{e}: as written");
    assert_eq!(
        event.location_id.map(|l| l.to_string()).as_deref(),
        p["location_id"].as_str(),
        "{e}: the event's store"
    );
    assert_eq!(
        event.channel_id.map(|c| c.to_string()).as_deref(),
        p["channel_id"].as_str(),
        "{e}: the event's channel"
    );
}

/// Creates bundle SET = TEE + CAP.
async fn set_bundle(s: &TestServer) {
    ok(
        s,
        Method::POST,
        "/api/v1/bundles",
        Some(
            json!({"code": "SET", "name": "세트", "barcodes": ["SET-EAN"],
                    "components": [{"sku": "TEE", "quantity": 1}, {"sku": "CAP", "quantity": 2}]}),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requested_event_is_the_request_as_made() {
    for s in common::servers("pickup_requested_event").await {
        let e = s.engine;
        shop(&s).await;
        set_bundle(&s).await;
        // Several lines, a bundle among them, and a unit cancelled before
        // the intake: the item asks for the units left.
        let r1 = order(
            &s,
            "Q1",
            "김민지",
            &[("TEE", 3), ("SET", 2), ("CAP", 1), ("SOCK", 1)],
        )
        .await;
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/orders/{r1}/cancel"),
            Some(json!({"lines": [{"line": 1, "quantity": 1}]})),
        )
        .await;
        let p = request_of(&s, "Q1").await;
        assert_eq!(
            item_units(&p),
            [
                ("TEE".to_string(), 2),
                ("SET".to_string(), 2),
                ("CAP".to_string(), 1),
                ("SOCK".to_string(), 1)
            ],
            "{e}: {p}"
        );
        assert_eq!(
            p["items"][1]["components"]
                .as_array()
                .map(|c| c.iter().map(|c| c["per_unit"].clone()).collect::<Vec<_>>()),
            Some(vec![json!(1), json!(2)]),
            "{e}: the bundle item's components: {p}"
        );
        assert_requested_event(&s, p["id"].as_str().unwrap()).await;
        s.stop().await;
    }
}

/// A server whose own intake job does not run: the tests that count what
/// one intake call made would otherwise race the job (every 2 s).
fn without_jobs() -> jaego_server::ServerConfig {
    let mut config = common::config();
    config.jobs = false;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_intake_makes_every_orders_request() {
    for s in common::servers_configured("pickup_one_intake_many_orders", without_jobs()).await {
        let e = s.engine;
        shop(&s).await;
        set_bundle(&s).await;
        store(&s, "GS", "GS 매장", "Asia/Seoul").await;
        order(&s, "M1", "김민지", &[("TEE", 1)]).await;
        order(&s, "M2", "이서준", &[("TEE", 2), ("SET", 1), ("CAP", 1)]).await;
        // One order, two stores: a request at each.
        order_at(
            &s,
            "M3",
            &[("TEE", 1, "GN"), ("CAP", 2, "GS"), ("SET", 1, "GN")],
        )
        .await;
        order_at(&s, "M4", &[("SET", 3, "GS")]).await;
        let made = s.store.pickup_intake(now_us()).await.unwrap();
        assert_eq!(made, 5, "{e}: one intake makes every request");
        // (store code, (SKU code, quantity) of each item) of a request.
        let at = |store: &str, items: &[(&str, i64)]| -> (String, Vec<(String, i64)>) {
            let items = items.iter().map(|(s, q)| (s.to_string(), *q)).collect();
            (store.to_string(), items)
        };
        let expected = [
            ("M1", vec![at("GN", &[("TEE", 1)])]),
            ("M2", vec![at("GN", &[("TEE", 2), ("SET", 1), ("CAP", 1)])]),
            (
                "M3",
                vec![at("GN", &[("TEE", 1), ("SET", 1)]), at("GS", &[("CAP", 2)])],
            ),
            ("M4", vec![at("GS", &[("SET", 3)])]),
        ];
        for (no, stores) in expected {
            let requests = requests_of(&s, no).await;
            let got: Vec<_> = requests
                .iter()
                .map(|p| {
                    let store = p["location_code"].as_str().unwrap().to_string();
                    (store, item_units(p))
                })
                .collect();
            assert_eq!(got, stores, "{e}: {no}");
            for p in &requests {
                assert_requested_event(&s, p["id"].as_str().unwrap()).await;
            }
        }
        // Nothing is left for a later intake.
        let events = event_kinds(&s).await;
        assert_eq!(s.store.pickup_intake(now_us()).await.unwrap(), 0, "{e}");
        assert_eq!(event_kinds(&s).await, events, "{e}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_order_of_a_full_batch_waits_at_every_store() {
    for s in common::servers_configured("pickup_full_batch", without_jobs()).await {
        let e = s.engine;
        shop(&s).await;
        store(&s, "GS", "GS 매장", "Asia/Seoul").await;
        // 600 lines: the batch of 500 ends in the middle of F3, whose
        // lines alternate between GN and GS.
        let lines_max = jaego_core::limits::ORDER_LINES_MAX;
        assert_eq!(PICKUP_INTAKE_BATCH_MAX, 500, "{e}: the scenario's sizes");
        assert_eq!(lines_max, 200, "{e}: the scenario's sizes");
        for (no, stores) in [
            ("F1", ["GN", "GN"]),
            ("F2", ["GN", "GN"]),
            ("F3", ["GN", "GS"]),
        ] {
            let lines: Vec<Value> = (0..lines_max)
                .map(|n| {
                    json!({"item_code": format!("I{n}"), "sku": "TEE", "quantity": 1,
                           "pickup_location": stores[n % 2]})
                })
                .collect();
            ok(
                &s,
                Method::POST,
                "/api/v1/channels/MALL/orders",
                Some(json!({"order_no": no, "customer": {"name": "정하늘"}, "lines": lines})),
            )
            .await;
        }
        let first = s.store.pickup_intake(now_us()).await.unwrap();
        assert_eq!(first, PICKUP_INTAKE_BATCH_MAX, "{e}: a full batch");
        assert!(requests_of(&s, "F3").await.is_empty(), "{e}: F3 waits");
        s.store.pickup_intake(now_us()).await.unwrap();
        for (no, stores) in [
            ("F1", vec![("GN", 200)]),
            ("F2", vec![("GN", 200)]),
            ("F3", vec![("GN", 100), ("GS", 100)]),
        ] {
            let got: Vec<(String, usize)> = requests_of(&s, no)
                .await
                .iter()
                .map(|p| {
                    let store = p["location_code"].as_str().unwrap().to_string();
                    (store, p["items"].as_array().unwrap().len())
                })
                .collect();
            let stores: Vec<(String, usize)> = stores
                .into_iter()
                .map(|(l, n)| (l.to_string(), n))
                .collect();
            assert_eq!(got, stores, "{e}: {no}: one request per store, every line");
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_intakes_at_once_make_one_request_per_order() {
    for s in common::servers_configured("pickup_two_intakes", without_jobs()).await {
        let e = s.engine;
        shop(&s).await;
        for n in 0..4 {
            order(&s, &format!("D{n}"), "정하늘", &[("TEE", 1), ("CAP", 1)]).await;
        }
        let now = now_us();
        let (a, b) = tokio::join!(s.store.pickup_intake(now), s.store.pickup_intake(now));
        a.unwrap();
        b.unwrap();
        // Listed without another intake: what the two made between them.
        for n in 0..4 {
            let list = ok(
                &s,
                Method::GET,
                &format!("/api/v1/pickups?order_no=D{n}"),
                None,
            )
            .await;
            let items = list["items"].as_array().unwrap();
            assert_eq!(items.len(), 1, "{e}: {list}");
            assert_eq!(
                items[0]["items"].as_array().map(Vec::len),
                Some(2),
                "{e}: {list}"
            );
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_of_no_request_is_not_found_whatever_it_scans() {
    for s in common::servers("pickup_scan_not_found").await {
        let e = s.engine;
        shop(&s).await;
        order(&s, "N1", "한지민", &[("TEE", 1)]).await;
        let receipt = request_of(&s, "N1").await["receipt_code"]
            .as_str()
            .unwrap()
            .to_string();
        for phase in ["reception", "completion"] {
            // A receipt-shaped key and an id that names no request.
            for key in [
                "P000000000000".to_string(),
                uuid::Uuid::now_v7().to_string(),
            ] {
                for code in ["TEE", "8801234567893", "N1", receipt.as_str()] {
                    let r = scan(&s, &key, phase, code).await;
                    assert_problem(
                        &r,
                        StatusCode::NOT_FOUND,
                        "not_found",
                        &format!("{e}: {phase} {key} {code}"),
                    );
                }
            }
        }
        s.stop().await;
    }
}

/// The owner's order reset takes store pickups along: a received request
/// (its units held at the store) and its printed receipt go with the order,
/// and the held units are given back to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_reset_takes_pickups_along() {
    for s in common::servers("pickup_order_reset").await {
        let e = s.engine;
        shop(&s).await;
        order(&s, "A1", "김민지", &[("TEE", 2)]).await;
        let p = request_of(&s, "A1").await;
        let id = p["id"].as_str().unwrap().to_string();
        let run = ok(&s, Method::POST, "/api/v1/pickup-stores/GN/print", None).await;
        assert_eq!(printed(&run["run"]).len(), 1, "{e}: {run}");
        let receipt = p["receipt_code"].as_str().unwrap();
        for code in [receipt, "TEE", "TEE"] {
            let r = scan(&s, &id, "reception", code).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        }
        assert_eq!(s.figures("TEE", "GN").await, (10, 2, 8), "{e}: held");
        let r = s
            .post(
                "/api/v1/orders/reset",
                json!({"confirm": "DELETE ALL ORDERS"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["deallocated_units"], 2, "{e}");
        let list = ok(&s, Method::GET, "/api/v1/pickups", None).await;
        assert_eq!(list["items"], json!([]), "{e}");
        assert_eq!(s.figures("TEE", "GN").await, (10, 0, 10), "{e}: given back");
        s.assert_verified().await;
    }
}
