//! Orders through the HTTP API, on every engine: collection (API, batch,
//! CSV, signed webhook), duplicate policies, exclusions, remote areas,
//! matching and the unmatched queue, the order view, allocation runs
//! (tables of cases for modes, gift rule, priority, hold, basis and
//! multi-location sourcing), deallocation, cancellations, exchanges,
//! returns, split, merge, the reset, and bad input changing nothing.

mod common;

use common::{TestServer, assert_problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const JEJU: &str = "63010";

/// Locations W1, W2 (warehouses) and S1 (store), SKUs with stock, and a
/// channel `code` linked to `locations` in that priority order.
async fn channel(server: &TestServer, code: &str, locations: &[&str]) -> String {
    let r = server
        .post(
            "/api/v1/channels",
            json!({"code": code, "name": code, "kind": "web", "locations": locations}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body["id"].as_str().unwrap().to_string()
}

async fn place(server: &TestServer, code: &str, kind: &str) {
    let r = server
        .post(
            "/api/v1/locations",
            json!({"code": code, "name": code, "kind": kind, "time_zone": "Asia/Seoul"}),
        )
        .await;
    assert!(
        r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
        "{}",
        r.text
    );
}

async fn sku(server: &TestServer, code: &str, stock: &[(&str, i64)]) {
    let r = server
        .post("/api/v1/skus", json!({"code": code, "name": code}))
        .await;
    assert!(
        r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
        "{}",
        r.text
    );
    for (loc, q) in stock {
        if *q > 0 {
            receive(server, code, loc, *q).await;
        }
    }
}

async fn receive(server: &TestServer, sku: &str, loc: &str, q: i64) {
    let r = server
        .post(
            "/api/v1/movements",
            json!({"sku": sku, "location": loc, "kind": "receipt", "quantity": q}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn settings(server: &TestServer, channel: &str, body: Value) {
    let r = server
        .call(
            Method::PUT,
            &format!("/api/v1/channels/{channel}/order-settings"),
            &server.owner,
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", server.engine, r.text);
}

/// Collects one order; returns its body.
async fn order(server: &TestServer, channel: &str, body: Value) -> Value {
    let r = server
        .post(&format!("/api/v1/channels/{channel}/orders"), body)
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body["order"].clone()
}

fn line(code: &str, q: i64) -> Value {
    json!({"item_code": code, "quantity": q})
}

async fn get_order(server: &TestServer, id: &str) -> Value {
    let r = server.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn run(server: &TestServer, body: Value) -> Value {
    let r = server.post("/api/v1/allocation-runs", body.clone()).await;
    let expected = if body["dry_run"] == json!(true) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    assert_eq!(r.status, expected, "{}: {}", server.engine, r.text);
    r.body
}

/// Everything a test can see change: orders, movements, runs.
async fn snapshot(server: &TestServer) -> (Value, usize, Value) {
    let orders = server.get("/api/v1/orders?limit=500").await.body["items"].clone();
    let movements = server.all_movements(&server.owner).await.len();
    let runs = server.get("/api/v1/allocation-runs").await.body["items"].clone();
    (orders, movements, runs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_duplicates_exclusions_and_remote_areas() {
    for server in common::servers("orders::collection").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "TEE", &[("W1", 5)]).await;
        channel(&server, "MALL", &["W1"]).await;
        // One order; the item code is a SKU code, so it links by itself.
        let o = order(
            &server,
            "MALL",
            json!({"order_no": "A-1", "customer": {"name": "Kim", "postal_code": JEJU},
            "lines": [line("TEE", 2)]}),
        )
        .await;
        assert_eq!(o["status"], "open", "{e}");
        assert_eq!(o["remote_area"], true, "{e}: Jeju is remote by default");
        assert!(
            o["lines"][0]["sku_id"].is_string(),
            "{e}: linked by identical code"
        );
        let links = server.get("/api/v1/channels/MALL/sku-links").await;
        assert_eq!(
            links.body["items"][0]["source"], "code",
            "{e}: {}",
            links.text
        );

        // Duplicates: ignore (default), update, new.
        let again = server
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "A-1", "lines": [line("TEE", 9)]}),
            )
            .await;
        assert_eq!(again.body["outcome"], "ignored", "{e}: {}", again.text);
        assert_eq!(again.body["order"]["lines"][0]["quantity"], 2, "{e}");
        settings(&server, "MALL", json!({"duplicate_policy": "update"})).await;
        let updated = server
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "A-1", "customer": {"name": "Kim"},
            "lines": [line("TEE", 3), line("CAP", 1)]}),
            )
            .await;
        assert_eq!(updated.body["outcome"], "updated", "{e}: {}", updated.text);
        assert_eq!(updated.body["order"]["lines"][0]["quantity"], 3, "{e}");
        assert_eq!(updated.body["order"]["lines"][1]["item_code"], "CAP", "{e}");
        assert_eq!(
            updated.body["order"]["remote_area"], false,
            "{e}: the new address is not remote"
        );
        settings(&server, "MALL", json!({"duplicate_policy": "new"})).await;
        let copy = server
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "A-1", "lines": [line("TEE", 1)]}),
            )
            .await;
        assert_eq!(copy.body["outcome"], "copied", "{e}: {}", copy.text);
        assert_eq!(copy.body["order"]["copy_no"], 1, "{e}");

        // Exclusion by product name: the order shows what was left out.
        settings(
            &server,
            "MALL",
            json!({"exclusions": ["사은품", "*sample"]}),
        )
        .await;
        let o = order(
            &server,
            "MALL",
            json!({"order_no": "B-1", "lines": [
            {"item_code": "TEE", "product_name": "Tee", "quantity": 1},
            {"item_code": "G1", "product_name": "여름 사은품", "quantity": 1},
            {"item_code": "G2", "product_name": "Free sample", "quantity": 1}]}),
        )
        .await;
        assert_eq!(o["lines"].as_array().unwrap().len(), 1, "{e}");
        let excluded: Vec<&str> = o["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["pattern"].as_str().unwrap())
            .collect();
        assert_eq!(excluded, ["사은품", "*sample"], "{e}");

        // More remote ranges per tenant.
        let r = server
            .post(
                "/api/v1/remote-areas",
                json!({"range": "40200-40240", "label": "울릉"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        let o = order(&server, "MALL", json!({"order_no": "C-1", "customer": {"postal_code": "40210"}, "lines": [line("TEE", 1)]})).await;
        assert_eq!(o["remote_area"], true, "{e}");
        let areas = server.get("/api/v1/remote-areas").await;
        assert_eq!(
            areas.body.as_array().unwrap().len(),
            2,
            "{e}: {}",
            areas.text
        );
        assert!(
            areas.body[0]["id"].is_null(),
            "{e}: the built-in range first"
        );
        let remote = server.get("/api/v1/orders?remote_area=true").await;
        assert_eq!(
            remote.body["items"].as_array().unwrap().len(),
            1,
            "{e}: only C-1 now (A-1 moved): {}",
            remote.text
        );

        // A batch, all or nothing.
        let r = server
            .post(
                "/api/v1/channels/MALL/orders/batch",
                json!({"orders": [
            {"order_no": "D-1", "lines": [line("TEE", 1)]},
            {"order_no": "D-2", "lines": [line("TEE", 1)]}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["results"].as_array().unwrap().len(), 2, "{e}");
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_upload_and_signed_webhook() {
    for server in common::servers("orders::csv_webhook").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "TEE", &[("W1", 5)]).await;
        let id = channel(&server, "MALL", &["W1"]).await;
        let csv = "\u{feff}order_no,item_code,quantity,gift,customer_name,postal_code\r\n\
                   K-1,TEE,2,,김철수,63001\r\nK-2,TEE,1,,이영희,04524\r\nK-1,STICKER,1,y,,\r\n";
        let r = server
            .http
            .post(server.url("/api/v1/channels/MALL/orders/import"))
            .bearer_auth(&server.owner)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let r = common::reply(r).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["created"], 2, "{e}");
        let k1 = server.get("/api/v1/orders?order_no=K-1").await.body["items"][0].clone();
        assert_eq!(k1["lines"].as_array().unwrap().len(), 2, "{e}");
        assert_eq!(k1["lines"][1]["gift"], true, "{e}");
        assert_eq!(k1["customer"]["name"], "김철수", "{e}");

        // The webhook is off until a secret is set: 401 either way.
        let body = json!({"orders": [{"order_no": "W-1", "lines": [line("TEE", 1)]}]}).to_string();
        let hook = |sig: String, body: String| {
            let request = server
                .http
                .post(server.url(&format!("/api/v1/hooks/channels/{id}/orders")))
                .header("content-type", "application/json")
                .header("x-jaego-signature", sig)
                .body(body);
            async move { common::reply(request.send().await.unwrap()).await }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let secret = "a-channel-secret-of-length";
        let signed = jaego_core::signature::sign(secret.as_bytes(), now, body.as_bytes());
        assert_problem(
            &hook(signed.clone(), body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            e,
        );
        settings(&server, "MALL", json!({"webhook_secret": secret})).await;
        let shown = server.get("/api/v1/channels/MALL/order-settings").await;
        assert_eq!(shown.body["webhook"], true, "{e}");
        assert!(
            !shown.text.contains(secret),
            "{e}: the secret is never shown"
        );
        let wrong = jaego_core::signature::sign(b"another-secret-entirely", now, body.as_bytes());
        assert_problem(
            &hook(wrong, body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            e,
        );
        let stale = jaego_core::signature::sign(secret.as_bytes(), now - 3600, body.as_bytes());
        assert_problem(
            &hook(stale, body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            e,
        );
        let r = hook(signed, body).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {}", r.text);
        assert_eq!(r.body["created"], 1, "{e}");
        let w = server.get("/api/v1/orders?order_no=W-1").await;
        assert_eq!(w.body["items"].as_array().unwrap().len(), 1, "{e}");
        // A signed but malformed body is a problem and collects nothing.
        let bad = json!({"orders": [{"order_no": "W-2", "lines": [line("TEE", -1)]}]}).to_string();
        let r = hook(
            jaego_core::signature::sign(secret.as_bytes(), now, bad.as_bytes()),
            bad,
        )
        .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_and_the_unmatched_queue() {
    for server in common::servers("orders::matching").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "TEE-RED", &[("W1", 10)]).await;
        sku(&server, "HOODIE-GREY-L", &[("W1", 10)]).await;
        let r = server
            .call(
                Method::PATCH,
                "/api/v1/skus/HOODIE-GREY-L",
                &server.owner,
                Some(json!({"name": "Hoodie Grey L"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        channel(&server, "MKT", &["W1"]).await;
        // Item code + option joined by '-' is a SKU code: linked at once.
        let o = order(&server, "MKT", json!({"order_no": "1", "lines": [{"item_code": "TEE", "item_option": "RED", "quantity": 1}]})).await;
        assert!(o["lines"][0]["sku_id"].is_string(), "{e}");
        // Unknown items wait in the queue.
        for n in ["2", "3"] {
            order(&server, "MKT", json!({"order_no": n, "lines": [{"item_code": "P-77", "product_name": "Tee", "option_text": "Red", "quantity": 2}]})).await;
        }
        let q = server.get("/api/v1/unmatched?channel=MKT").await;
        assert_eq!(q.body[0]["item_code"], "P-77", "{e}: {}", q.text);
        assert_eq!(
            (q.body[0]["lines"].as_i64(), q.body[0]["units"].as_i64()),
            (Some(2), Some(4)),
            "{e}"
        );
        // A manual link re-matches every waiting line with that code.
        let r = server
            .post(
                "/api/v1/channels/MKT/sku-links",
                json!({"item_code": "P-77", "sku": "TEE-RED"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["matched_lines"], 2, "{e}");
        assert_eq!(server.get("/api/v1/unmatched").await.body, json!([]), "{e}");
        // Name matching, when enabled, on demand.
        order(&server, "MKT", json!({"order_no": "4", "lines": [{"item_code": "Z-1", "product_name": "Hoodie", "option_text": "Grey  L", "quantity": 1}]})).await;
        let r = server
            .post("/api/v1/channels/MKT/sku-links/auto", json!({}))
            .await;
        assert_eq!(
            r.body["matched_lines"], 0,
            "{e}: name matching is off: {}",
            r.text
        );
        settings(&server, "MKT", json!({"name_match": true})).await;
        let r = server
            .post("/api/v1/channels/MKT/sku-links/auto", json!({}))
            .await;
        assert_eq!(r.body["matched_lines"], 1, "{e}: {}", r.text);
        // Auto-link by code on the schedule (hourly by default).
        order(
            &server,
            "MKT",
            json!({"order_no": "5", "lines": [{"item_code": "NEW-1", "quantity": 1}]}),
        )
        .await;
        sku(&server, "NEW-1", &[]).await;
        let shown = server.get("/api/v1/channels/MKT/order-settings").await;
        assert_eq!(
            shown.body["auto_link"], "every 3600s",
            "{e}: {}",
            shown.text
        );
        let later = jaego_store::now_us() + 3_601_000_000;
        let ran = server.store.run_due_auto_links(later, 10).await.unwrap();
        assert_eq!(ran, 1, "{e}");
        assert_eq!(
            server.store.run_due_auto_links(later, 10).await.unwrap(),
            0,
            "{e}: once per occurrence"
        );
        let five = server.get("/api/v1/orders?order_no=5").await;
        assert!(
            five.body["items"][0]["lines"][0]["sku_id"].is_string(),
            "{e}: {}",
            five.text
        );
        // Unknown SKU in a manual link: invalid, nothing linked.
        let before = server.get("/api/v1/channels/MKT/sku-links").await.body;
        let r = server
            .post(
                "/api/v1/channels/MKT/sku-links",
                json!({"item_code": "Q", "sku": "NOPE"}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        assert_eq!(r.body["errors"][0]["field"], "sku", "{e}");
        assert_eq!(
            server.get("/api/v1/channels/MKT/sku-links").await.body,
            before,
            "{e}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_view() {
    for server in common::servers("orders::view").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        place(&server, "S1", "store").await;
        let r = server
            .post("/api/v1/products", json!({"code": "TEE", "name": "Tee"}))
            .await;
        let product = r.body["id"].as_str().unwrap().to_string();
        let r = server
            .post(
                "/api/v1/skus",
                json!({"code": "TEE-S", "name": "Tee S", "product_id": product}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        receive(&server, "TEE-S", "W1", 4).await;
        receive(&server, "TEE-S", "S1", 1).await;
        sku(&server, "CAP", &[("W1", 1)]).await;
        channel(&server, "MALL", &["W1"]).await;
        channel(&server, "MKT", &["W1"]).await;
        let a = order(
            &server,
            "MALL",
            json!({"order_no": "A", "lines": [line("TEE-S", 1)]}),
        )
        .await;
        let b = order(
            &server,
            "MKT",
            json!({"order_no": "B", "lines": [line("CAP", 1)], "pickup_location": "S1"}),
        )
        .await;
        assert_eq!(
            b["pickup_location_id"], b["lines"][0]["pickup_location_id"],
            "{e}: a pickup request per line"
        );
        // Flags and a note.
        let r = server
            .call(Method::PATCH, &format!("/api/v1/orders/{}", a["id"].as_str().unwrap()), &server.owner,
                Some(json!({"hold": true, "flag": true, "priority": true, "note": "고객 요청: 주말 배송"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(
            (
                r.body["hold"].clone(),
                r.body["flag"].clone(),
                r.body["priority"].clone()
            ),
            (json!(true), json!(true), json!(true)),
            "{e}"
        );
        assert_eq!(r.body["note"], "고객 요청: 주말 배송", "{e}");
        let count = |q: &'static str| {
            let server = &server;
            async move {
                server.get(&format!("/api/v1/orders?{q}")).await.body["items"]
                    .as_array()
                    .map_or(0, Vec::len)
            }
        };
        let cases = [
            ("channel=MALL", 1),
            ("channel=MKT", 1),
            ("status=open", 2),
            ("status=allocated", 0),
            ("hold=true", 1),
            ("flag=false", 1),
            ("priority=true", 1),
            ("sku=CAP", 1),
            ("remote_area=false", 2),
            ("delayed=true", 0),
            ("from=2000-01-01T00:00:00Z", 2),
            ("to=2000-01-01T00:00:00Z", 0),
        ];
        for (q, n) in cases {
            assert_eq!(count(q).await, n, "{e}: {q}");
        }
        // Delay: 0 days means every unshipped order is delayed now.
        let r = server.call(Method::PUT, "/api/v1/order-settings", &server.owner,
            Some(json!({"delay_days": 0, "split_never_merge": true, "exchange_hold": true, "exchange_fee": 3000}))).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(count("delayed=true").await, 2, "{e}");
        assert_eq!(
            get_order(&server, a["id"].as_str().unwrap()).await["delayed"],
            true,
            "{e}"
        );
        // Paging.
        let first = server.get("/api/v1/orders?limit=1").await;
        let next = first.body["next_cursor"].as_str().unwrap().to_string();
        let second = server
            .get(&format!("/api/v1/orders?limit=1&after={next}"))
            .await;
        assert_ne!(
            first.body["items"][0]["id"], second.body["items"][0]["id"],
            "{e}"
        );
        // Stock of an order's SKUs, and of a style, at every location.
        let s = server
            .get(&format!(
                "/api/v1/orders/{}/stock",
                a["id"].as_str().unwrap()
            ))
            .await;
        let at: Vec<(&str, i64)> = s
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["location_code"].as_str().unwrap(),
                    b["available"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(at, [("S1", 1), ("W1", 4)], "{e}: {}", s.text);
        let s = server
            .get(&format!("/api/v1/products/{product}/stock"))
            .await;
        assert_eq!(s.body.as_array().unwrap().len(), 2, "{e}: {}", s.text);
        server.stop().await;
    }
}

/// One allocation case: stock per (sku, location), the channel's settings,
/// the orders (lines, priority, hold, customer), the run's mode, and what
/// each order should end with: status and (sku, location, allocated).
/// (SKU, location, units) allocated.
type Placed = (&'static str, &'static str, i64);

struct Case {
    name: &'static str,
    locations: &'static [&'static str],
    stock: &'static [(&'static str, &'static str, i64)],
    settings: Value,
    orders: Vec<Value>,
    mode: Option<&'static str>,
    expected: Vec<(&'static str, Vec<Placed>)>,
}

fn o(lines: &[(&str, i64)]) -> Value {
    json!({"lines": lines.iter().map(|(s, q)| line(s, *q)).collect::<Vec<_>>()})
}

fn with(mut order: Value, key: &str, value: Value) -> Value {
    order[key] = value;
    order
}

fn allocation_cases() -> Vec<Case> {
    let kim = json!({"name": "Kim", "address": "Seoul 1", "postal_code": "04524"});
    vec![
        // Modes.
        Case {
            name: "complete: all lines",
            locations: &["W1"],
            stock: &[("A", "W1", 2), ("B", "W1", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 2), ("B", 1)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W1", 2), ("B", "W1", 1)])],
        },
        Case {
            name: "complete: one short, nothing",
            locations: &["W1"],
            stock: &[("A", "W1", 2)],
            settings: json!({}),
            orders: vec![o(&[("A", 2), ("B", 1)])],
            mode: None,
            expected: vec![("open", vec![])],
        },
        Case {
            name: "partial: what is there",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({"shipment_mode": "partial"}),
            orders: vec![o(&[("A", 2), ("B", 1)])],
            mode: None,
            expected: vec![("partially_allocated", vec![("A", "W1", 1)])],
        },
        Case {
            name: "run mode overrides",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 2), ("B", 1)])],
            mode: Some("partial"),
            expected: vec![("partially_allocated", vec![("A", "W1", 1)])],
        },
        Case {
            name: "consolidated: the batch waits for its short order",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({"shipment_mode": "consolidated"}),
            orders: vec![
                with(o(&[("A", 1)]), "customer", kim.clone()),
                with(o(&[("B", 1)]), "customer", kim.clone()),
            ],
            mode: None,
            expected: vec![("open", vec![]), ("open", vec![])],
        },
        Case {
            name: "consolidated: the batch ships together",
            locations: &["W1"],
            stock: &[("A", "W1", 1), ("B", "W1", 1)],
            settings: json!({"shipment_mode": "consolidated"}),
            orders: vec![
                with(o(&[("A", 1)]), "customer", kim.clone()),
                with(o(&[("B", 1)]), "customer", kim),
            ],
            mode: None,
            expected: vec![
                ("allocated", vec![("A", "W1", 1)]),
                ("allocated", vec![("B", "W1", 1)]),
            ],
        },
        // Gift rule.
        Case {
            name: "gift on a complete shipment",
            locations: &["W1"],
            stock: &[("A", "W1", 1), ("G", "W1", 1)],
            settings: json!({}),
            orders: vec![
                json!({"lines": [line("A", 1), {"item_code": "G", "quantity": 1, "gift": true}]}),
            ],
            mode: None,
            expected: vec![("allocated", vec![("A", "W1", 1), ("G", "W1", 1)])],
        },
        Case {
            name: "no gift on a partial shipment under rule complete",
            locations: &["W1"],
            stock: &[("A", "W1", 1), ("G", "W1", 1)],
            settings: json!({"shipment_mode": "partial"}),
            orders: vec![
                json!({"lines": [line("A", 1), line("B", 1), {"item_code": "G", "quantity": 1, "gift": true}]}),
            ],
            mode: None,
            expected: vec![("partially_allocated", vec![("A", "W1", 1)])],
        },
        Case {
            name: "gift on a partial shipment under rule partial",
            locations: &["W1"],
            stock: &[("A", "W1", 1), ("G", "W1", 1)],
            settings: json!({"shipment_mode": "partial", "gift_rule": "partial"}),
            orders: vec![
                json!({"lines": [line("A", 1), line("B", 1), {"item_code": "G", "quantity": 1, "gift": true}]}),
            ],
            mode: None,
            expected: vec![("partially_allocated", vec![("A", "W1", 1), ("G", "W1", 1)])],
        },
        Case {
            name: "a missing gift never holds an order back",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![
                json!({"lines": [line("A", 1), {"item_code": "G", "quantity": 1, "gift": true}]}),
            ],
            mode: None,
            expected: vec![("partially_allocated", vec![("A", "W1", 1)])],
        },
        // Priority and hold.
        Case {
            name: "earliest collected first",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 1)]), o(&[("A", 1)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W1", 1)]), ("open", vec![])],
        },
        Case {
            name: "priority first",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![
                o(&[("A", 1)]),
                with(o(&[("A", 1)]), "priority", json!(true)),
            ],
            mode: None,
            expected: vec![("open", vec![]), ("allocated", vec![("A", "W1", 1)])],
        },
        Case {
            name: "held orders are skipped",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![with(o(&[("A", 1)]), "hold", json!(true)), o(&[("A", 1)])],
            mode: None,
            expected: vec![("open", vec![]), ("allocated", vec![("A", "W1", 1)])],
        },
        // Basis.
        Case {
            name: "strict allocates only what is available",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 3)])],
            mode: None,
            expected: vec![("open", vec![])],
        },
        Case {
            name: "unlimited allocates regardless",
            locations: &["W1"],
            stock: &[("A", "W1", 1)],
            settings: json!({"basis": "unlimited"}),
            orders: vec![o(&[("A", 3)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W1", 3)])],
        },
        // Multi-location sourcing.
        Case {
            name: "the higher-priority location first",
            locations: &["W2", "W1"],
            stock: &[("A", "W1", 1), ("A", "W2", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 1)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W2", 1)])],
        },
        Case {
            name: "one location that has all beats two",
            locations: &["W1", "W2"],
            stock: &[("A", "W1", 1), ("A", "W2", 1), ("B", "W2", 1)],
            settings: json!({}),
            orders: vec![o(&[("A", 1), ("B", 1)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W2", 1), ("B", "W2", 1)])],
        },
        Case {
            name: "a line split across locations",
            locations: &["W1", "W2"],
            stock: &[("A", "W1", 1), ("A", "W2", 2)],
            settings: json!({}),
            orders: vec![o(&[("A", 3)])],
            mode: None,
            expected: vec![("allocated", vec![("A", "W1", 1), ("A", "W2", 2)])],
        },
        Case {
            name: "unlinked locations are not used",
            locations: &["W1"],
            stock: &[("A", "W2", 5)],
            settings: json!({}),
            orders: vec![o(&[("A", 1)])],
            mode: None,
            expected: vec![("open", vec![])],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_runs_by_table() {
    for server in common::servers("orders::allocation_table").await {
        let e = server.engine;
        for (n, case) in allocation_cases().into_iter().enumerate() {
            // Every case gets its own SKUs, locations and channel.
            let p = format!("C{n}");
            let loc = |l: &str| format!("{p}{l}");
            for l in ["W1", "W2"] {
                place(&server, &loc(l), "warehouse").await;
            }
            for s in ["A", "B", "G"] {
                sku(&server, &format!("{p}{s}"), &[]).await;
            }
            for (s, l, q) in case.stock {
                receive(&server, &format!("{p}{s}"), &loc(l), *q).await;
            }
            let locations: Vec<String> = case.locations.iter().map(|l| loc(l)).collect();
            let refs: Vec<&str> = locations.iter().map(String::as_str).collect();
            channel(&server, &p, &refs).await;
            settings(&server, &p, case.settings.clone()).await;
            let mut ids = Vec::new();
            for (k, mut body) in case.orders.into_iter().enumerate() {
                body["order_no"] = json!(format!("{p}-{k}"));
                for l in body["lines"].as_array_mut().unwrap() {
                    l["item_code"] = json!(format!("{p}{}", l["item_code"].as_str().unwrap()));
                }
                ids.push(
                    order(&server, &p, body).await["id"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            let mut request = json!({"orders": ids});
            if let Some(m) = case.mode {
                request["mode"] = json!(m);
            }
            // A preview first: it must say exactly what the run then does, and change nothing.
            let mut preview_request = request.clone();
            preview_request["dry_run"] = json!(true);
            let before = snapshot(&server).await;
            let preview = run(&server, preview_request).await;
            assert_eq!(
                snapshot(&server).await,
                before,
                "{e}: {}: the preview changed something",
                case.name
            );
            let done = run(&server, request).await;
            let strip = |r: &Value| {
                (
                    r["considered"].clone(),
                    r["allocated"].clone(),
                    r["partial"].clone(),
                    r["units"].clone(),
                    r["results"].clone(),
                )
            };
            assert_eq!(strip(&preview), strip(&done), "{e}: {}", case.name);
            for (k, (status, placements)) in case.expected.iter().enumerate() {
                let got = get_order(&server, &ids[k]).await;
                assert_eq!(
                    got["status"], *status,
                    "{e}: {}: order {k}: {got}",
                    case.name
                );
                let mut have: Vec<(String, String, i64)> = Vec::new();
                for l in got["lines"].as_array().unwrap() {
                    for a in l["allocations"].as_array().unwrap() {
                        let sku_code = l["item_code"]
                            .as_str()
                            .unwrap()
                            .trim_start_matches(&p)
                            .to_string();
                        let location = locations_by_id(&server, a["location_id"].as_str().unwrap())
                            .await
                            .trim_start_matches(&p)
                            .to_string();
                        have.push((sku_code, location, a["quantity"].as_i64().unwrap()));
                    }
                }
                have.sort();
                let mut want: Vec<(String, String, i64)> = placements
                    .iter()
                    .map(|(s, l, q)| (s.to_string(), l.to_string(), *q))
                    .collect();
                want.sort();
                assert_eq!(have, want, "{e}: {}: order {k}", case.name);
            }
        }
        server.assert_verified().await;
        server.stop().await;
    }
}

async fn locations_by_id(server: &TestServer, id: &str) -> String {
    server.get(&format!("/api/v1/locations/{id}")).await.body["code"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_record_results_and_deallocate() {
    for server in common::servers("orders::runs").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "A", &[("W1", 3)]).await;
        channel(&server, "MALL", &["W1"]).await;
        let first = order(
            &server,
            "MALL",
            json!({"order_no": "1", "lines": [line("A", 2)]}),
        )
        .await;
        let held = order(
            &server,
            "MALL",
            json!({"order_no": "2", "hold": true, "lines": [line("A", 1)]}),
        )
        .await;
        let short = order(
            &server,
            "MALL",
            json!({"order_no": "3", "lines": [line("A", 2)]}),
        )
        .await;
        let unmatched = order(
            &server,
            "MALL",
            json!({"order_no": "4", "lines": [line("NOPE", 1)]}),
        )
        .await;
        let done = run(&server, json!({})).await;
        assert_eq!(
            (
                done["considered"].as_i64(),
                done["allocated"].as_i64(),
                done["skipped"].as_i64()
            ),
            (Some(4), Some(1), Some(3)),
            "{e}: {done}"
        );
        let results = server
            .get(&format!(
                "/api/v1/allocation-runs/{}/results",
                done["id"].as_str().unwrap()
            ))
            .await;
        let reason_of = |id: &Value| {
            results.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["order_id"] == *id)
                .map(|r| (r["outcome"].clone(), r["reason"].clone()))
        };
        assert_eq!(
            reason_of(&first["id"]),
            Some((json!("allocated"), Value::Null)),
            "{e}"
        );
        assert_eq!(
            reason_of(&held["id"]),
            Some((json!("skipped"), json!("held"))),
            "{e}"
        );
        assert_eq!(
            reason_of(&short["id"]),
            Some((json!("skipped"), json!("short"))),
            "{e}"
        );
        assert_eq!(
            reason_of(&unmatched["id"]),
            Some((json!("skipped"), json!("unmatched"))),
            "{e}"
        );
        assert_eq!(server.figures("A", "W1").await, (3, 2, 1), "{e}");
        // The run's `stock.changed` carries the figures the row now holds.
        let changed = server
            .store
            .events_after(first_tenant(&server).await, 0, &Default::default(), 1000)
            .await
            .unwrap()
            .into_iter()
            .rfind(|ev| ev.kind == "stock.changed")
            .map(|ev| serde_json::from_str::<Value>(&ev.data).unwrap())
            .unwrap();
        assert_eq!(
            (
                &changed["on_hand"],
                &changed["allocated"],
                &changed["available"]
            ),
            (&json!(3), &json!(2), &json!(1)),
            "{e}: {changed}"
        );
        let runs = server.get("/api/v1/allocation-runs").await;
        assert_eq!(runs.body["items"].as_array().unwrap().len(), 1, "{e}");
        // Deallocate one line, then the order: stock returns to available.
        let id = first["id"].as_str().unwrap();
        let r = server
            .post(
                &format!("/api/v1/orders/{id}/deallocate"),
                json!({"line": 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["status"], "open", "{e}");
        assert_eq!(server.figures("A", "W1").await, (3, 0, 3), "{e}");
        let r = server
            .post(&format!("/api/v1/orders/{id}/deallocate"), json!({}))
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "not_allocated", e);
        // Events: collected, allocated, deallocated, and the run.
        let events = server
            .store
            .events_after(first_tenant(&server).await, 0, &Default::default(), 1000)
            .await
            .unwrap();
        // The run's `order.allocated` says which order, run and status.
        let allocated: Vec<Value> = events
            .iter()
            .filter(|ev| ev.kind == "order.allocated")
            .map(|ev| serde_json::from_str(&ev.data).unwrap())
            .filter(|data: &Value| data["run_id"] == done["id"])
            .collect();
        assert_eq!(allocated.len(), 1, "{e}: {allocated:?}");
        let body = &allocated[0];
        assert_eq!(body["id"], first["id"], "{e}: {body}");
        assert_eq!(body["external_no"], "1", "{e}: {body}");
        assert_eq!(body["channel_id"], first["channel_id"], "{e}: {body}");
        assert_eq!(
            (&body["status"], &body["complete"], &body["units"]),
            (&json!("allocated"), &json!(true), &json!(2)),
            "{e}: {body}"
        );
        let kinds: Vec<String> = events.into_iter().map(|ev| ev.kind).collect();
        for k in [
            "order.collected",
            "order.allocated",
            "order.deallocated",
            "allocation_run.completed",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{e}: no {k} in {kinds:?}");
        }
        server.assert_verified().await;
        server.stop().await;
    }
}

async fn first_tenant(server: &TestServer) -> jaego_core::TenantId {
    server.store.first_tenant().await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellations_exchanges_and_returns() {
    for server in common::servers("orders::cs").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        place(&server, "DEFECTS", "warehouse").await;
        sku(&server, "A", &[("W1", 10)]).await;
        sku(&server, "B", &[("W1", 10)]).await;
        channel(&server, "MALL", &["W1"]).await;
        // Cancel before shipment releases the allocation.
        let x = order(
            &server,
            "MALL",
            json!({"order_no": "X", "lines": [line("A", 2)]}),
        )
        .await;
        let xid = x["id"].as_str().unwrap();
        run(&server, json!({"orders": [xid]})).await;
        assert_eq!(server.figures("A", "W1").await, (10, 2, 8), "{e}");
        let r = server
            .post(&format!("/api/v1/orders/{xid}/cancel"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["order"]["status"], "cancelled", "{e}");
        assert_eq!(r.body["returns"], json!([]), "{e}");
        assert_eq!(server.figures("A", "W1").await, (10, 0, 10), "{e}");

        // Ship, then cancel after shipment: it becomes a return.
        let y = order(
            &server,
            "MALL",
            json!({"order_no": "Y", "lines": [line("A", 3), line("B", 1)]}),
        )
        .await;
        let yid = y["id"].as_str().unwrap();
        run(&server, json!({"orders": [yid]})).await;
        let r = server.post(&format!("/api/v1/orders/{yid}/ship"), json!({"lines": [{"line": 1, "location": "W1", "quantity": 3}], "reference": "CJ-1234"})).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["status"], "partially_shipped", "{e}");
        assert_eq!(server.figures("A", "W1").await, (7, 0, 7), "{e}");
        let r = server
            .post(
                &format!("/api/v1/orders/{yid}/cancel"),
                json!({"lines": [{"line": 1, "quantity": 1}], "reason": "defective"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        let ret = r.body["returns"][0].clone();
        assert_eq!(
            (
                ret["quantity"].as_i64(),
                ret["reason"].as_str(),
                ret["state"].as_str()
            ),
            (Some(1), Some("defective"), Some("requested")),
            "{e}"
        );
        // Collected: defective is not restocked.
        let r = server
            .post(
                &format!("/api/v1/returns/{}/collect", ret["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert!(r.body["restocked_at"].is_null(), "{e}");
        assert_eq!(server.figures("A", "W1").await, (7, 0, 7), "{e}");
        let again = server
            .post(
                &format!("/api/v1/returns/{}/collect", ret["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "return_already_collected", e);
        // Sellable goes back where it shipped from.
        let r = server
            .post(
                &format!("/api/v1/orders/{yid}/returns"),
                json!({"line": 1, "quantity": 1, "reason": "sellable"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        server
            .post(
                &format!("/api/v1/returns/{}/collect", r.body["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(server.figures("A", "W1").await, (8, 0, 8), "{e}");
        // A reason of the merchant's restocks at its location.
        let r = server
            .call(
                Method::PUT,
                "/api/v1/return-reasons/damaged-box",
                &server.owner,
                Some(json!({"name": "포장 파손", "restock": "location", "location": "DEFECTS"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        let r = server
            .post(
                &format!("/api/v1/orders/{yid}/returns"),
                json!({"line": 1, "quantity": 1, "reason": "damaged-box"}),
            )
            .await;
        server
            .post(
                &format!("/api/v1/returns/{}/collect", r.body["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(server.figures("A", "DEFECTS").await.0, 1, "{e}");
        // Nothing left to return.
        let r = server
            .post(
                &format!("/api/v1/orders/{yid}/returns"),
                json!({"line": 1, "quantity": 1, "reason": "sellable"}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "quantity_exceeds_order", e);
        let r = server
            .post(
                &format!("/api/v1/orders/{yid}/returns"),
                json!({"line": 2, "quantity": 1, "reason": "nonsense"}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);

        // Exchange before shipment: the line's units are cancelled, a
        // replacement line waits for the next run, the order is held and
        // the fee (from the settings) recorded.
        let z = order(
            &server,
            "MALL",
            json!({"order_no": "Z", "lines": [line("A", 1)]}),
        )
        .await;
        let zid = z["id"].as_str().unwrap();
        run(&server, json!({"orders": [zid]})).await;
        let r = server.post(&format!("/api/v1/orders/{zid}/exchanges"), json!({"lines": [{"line": 1, "quantity": 1, "sku": "B"}], "fee": 2500, "reason": "size"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["exchange"]["after_shipment"], false, "{e}");
        assert_eq!(
            (
                r.body["order"]["hold"].clone(),
                r.body["order"]["exchange_fee"].clone()
            ),
            (json!(true), json!(2500)),
            "{e}"
        );
        assert!(r.body["order"]["lines"][1]["sku_id"].is_string(), "{e}");
        let exchange = r.body["exchange"]["id"].as_str().unwrap().to_string();
        let held = run(&server, json!({"orders": [zid]})).await;
        assert_eq!(
            held["results"][0]["reason"], "held",
            "{e}: held until resolved"
        );
        let r = server
            .post(&format!("/api/v1/exchanges/{exchange}/resolve"), json!({}))
            .await;
        assert_eq!(r.body["order"]["hold"], false, "{e}: {}", r.text);
        run(&server, json!({"orders": [zid]})).await;
        let z = get_order(&server, zid).await;
        assert_eq!(z["status"], "allocated", "{e}: {z}");
        assert_eq!(z["lines"][1]["allocated"], 1, "{e}");
        // Exchange after shipment: a return request plus a replacement.
        server
            .post(
                &format!("/api/v1/orders/{zid}/ship"),
                json!({"lines": [{"line": 2, "location": "W1", "quantity": 1}]}),
            )
            .await;
        let r = server
            .post(
                &format!("/api/v1/orders/{zid}/exchanges"),
                json!({"lines": [{"line": 2, "quantity": 1, "sku": "A"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["exchange"]["after_shipment"], true, "{e}");
        assert_eq!(r.body["exchange"]["fee"], 0, "{e}: the default fee");
        let returns = server.get(&format!("/api/v1/orders/{zid}/returns")).await;
        assert_eq!(
            returns.body[0]["exchange_id"], r.body["exchange"]["id"],
            "{e}: {}",
            returns.text
        );
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge() {
    for server in common::servers("orders::split_merge").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "A", &[("W1", 10)]).await;
        sku(&server, "B", &[("W1", 10)]).await;
        channel(&server, "MALL", &["W1"]).await;
        let kim = json!({"name": "Kim", "phone": "010-1234-5678", "address": "Seoul 1", "postal_code": "04524"});
        let a = order(
            &server,
            "MALL",
            json!({"order_no": "A", "customer": kim, "lines": [line("A", 3), line("B", 1)]}),
        )
        .await;
        let aid = a["id"].as_str().unwrap();
        // An unallocated split: never merge on both halves (the default setting).
        let r = server
            .post(
                &format!("/api/v1/orders/{aid}/split"),
                json!({"lines": [{"line": 1, "quantity": 1}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["original"]["lines"][0]["quantity"], 2, "{e}");
        assert_eq!(r.body["split"]["lines"][0]["quantity"], 1, "{e}");
        assert_eq!(
            (
                r.body["original"]["never_merge"].clone(),
                r.body["split"]["never_merge"].clone()
            ),
            (json!(true), json!(true)),
            "{e}"
        );
        let split_id = r.body["split"]["id"].as_str().unwrap().to_string();
        let r = server
            .post(
                &format!("/api/v1/orders/{aid}/merge"),
                json!({"orders": [split_id]}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "order_never_merge", e);
        // Two orders of the same customer (spelled differently) merge.
        let c1 = order(&server, "MALL", json!({"order_no": "C1", "customer": {"name": "LEE", "phone": "01099998888", "address": "Busan 2"}, "lines": [line("A", 1)]})).await;
        let c2 = order(&server, "MALL", json!({"order_no": "C2", "customer": {"name": "lee", "phone": "010-9999-8888", "address": "Busan  2"}, "lines": [line("B", 2)]})).await;
        let other = order(
            &server,
            "MALL",
            json!({"order_no": "C3", "customer": {"name": "Park"}, "lines": [line("B", 1)]}),
        )
        .await;
        run(&server, json!({"orders": [c2["id"]]})).await;
        let c1id = c1["id"].as_str().unwrap();
        let r = server
            .post(
                &format!("/api/v1/orders/{c1id}/merge"),
                json!({"orders": [other["id"]]}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "order_not_mergeable", e);
        let r = server
            .post(
                &format!("/api/v1/orders/{c1id}/merge"),
                json!({"orders": [c2["id"]]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["lines"].as_array().unwrap().len(), 2, "{e}");
        assert_eq!(
            r.body["lines"][1]["allocated"], 2,
            "{e}: the allocation moves with its line"
        );
        assert_eq!(r.body["status"], "partially_allocated", "{e}");
        let c2 = get_order(&server, c2["id"].as_str().unwrap()).await;
        assert_eq!(
            (c2["status"].as_str(), c2["merged_into"].as_str()),
            (Some("merged"), Some(c1id)),
            "{e}"
        );
        // An allocated split may not be marked never merge.
        let r = server
            .post(
                &format!("/api/v1/orders/{c1id}/split"),
                json!({"lines": [{"line": 2}], "never_merge": true}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        let r = server
            .post(
                &format!("/api/v1/orders/{c1id}/split"),
                json!({"lines": [{"line": 2}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["split"]["lines"][0]["allocated"], 2, "{e}");
        assert_eq!(r.body["split"]["never_merge"], false, "{e}");
        assert_eq!(server.figures("B", "W1").await, (10, 2, 8), "{e}");
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_takes_over_a_committed_reservation() {
    for server in common::servers("orders::reservation").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "A", &[("W1", 5)]).await;
        channel(&server, "MALL", &["W1"]).await;
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"channel": "MALL", "lines": [{"sku": "A", "quantity": 3}]}),
            )
            .await;
        let res = r.body["id"].as_str().unwrap().to_string();
        let open = server
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "R0", "reservation": res, "lines": [line("A", 2)]}),
            )
            .await;
        assert_problem(&open, StatusCode::CONFLICT, "reservation_not_committed", e);
        server
            .post(&format!("/api/v1/reservations/{res}/commit"), json!({}))
            .await;
        assert_eq!(server.figures("A", "W1").await, (5, 3, 2), "{e}");
        // The order needs 2 of the 3 committed units: it owns 2, the third goes back.
        let o = order(
            &server,
            "MALL",
            json!({"order_no": "R1", "reservation": res, "lines": [line("A", 2)]}),
        )
        .await;
        assert_eq!(o["status"], "allocated", "{e}: {o}");
        assert_eq!(server.figures("A", "W1").await, (5, 2, 3), "{e}");
        // A run does not allocate it again, and no second order takes it.
        run(&server, json!({})).await;
        assert_eq!(server.figures("A", "W1").await, (5, 2, 3), "{e}");
        let twice = server
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "R2", "reservation": res, "lines": [line("A", 1)]}),
            )
            .await;
        assert_problem(&twice, StatusCode::CONFLICT, "duplicate", e);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_is_owner_only_and_confirmed() {
    for server in common::servers("orders::reset").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "A", &[("W1", 5)]).await;
        channel(&server, "MALL", &["W1"]).await;
        let mut ids = Vec::new();
        for (no, units) in [("1", 2), ("2", 1)] {
            let o = order(
                &server,
                "MALL",
                json!({"order_no": no, "lines": [line("A", units)]}),
            )
            .await;
            ids.push(o["id"].as_str().unwrap().to_string());
        }
        run(&server, json!({})).await;
        // Order 1 waits in an open shipment; order 2 has shipped (its
        // shipment scanned and confirmed): the reset takes their shipments
        // along.
        let mut slips = Vec::new();
        for id in &ids {
            let r = server
                .post(&format!("/api/v1/orders/{id}/shipments"), json!({}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
            slips.push(r.body[0]["id"].as_str().unwrap().to_string());
        }
        let slip = &slips[1];
        let r = server
            .post(
                &format!("/api/v1/shipments/{slip}/scans"),
                json!({"barcode": "A"}),
            )
            .await;
        assert_eq!(r.body["complete"], true, "{e}: {}", r.text);
        let r = server
            .post(&format!("/api/v1/shipments/{slip}/confirm"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        for role in ["manager", "staff", "integration", "display"] {
            let t = server.token(role).await;
            let r = server
                .call(
                    Method::POST,
                    "/api/v1/orders/reset",
                    &t,
                    Some(json!({"confirm": "DELETE ALL ORDERS"})),
                )
                .await;
            assert_problem(
                &r,
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{e} {role}"),
            );
        }
        let r = server
            .post("/api/v1/orders/reset", json!({"confirm": "yes"}))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        assert_eq!(
            server.get("/api/v1/orders").await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2,
            "{e}"
        );
        let r = server
            .post(
                "/api/v1/orders/reset",
                json!({"confirm": "DELETE ALL ORDERS"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(
            (
                r.body["orders"].as_i64(),
                r.body["deallocated_units"].as_i64()
            ),
            (Some(2), Some(2)),
            "{e}"
        );
        assert_eq!(
            server.get("/api/v1/shipments").await.body["items"],
            json!([]),
            "{e}"
        );
        assert_eq!(
            server.get("/api/v1/orders").await.body["items"],
            json!([]),
            "{e}"
        );
        assert_eq!(
            server.get("/api/v1/allocation-runs").await.body["items"],
            json!([]),
            "{e}"
        );
        assert_eq!(
            server.figures("A", "W1").await,
            (4, 0, 4),
            "{e}: the allocation is given back; the shipped unit stays shipped"
        );
        // Staff cannot change settings either; they can collect.
        let staff = server.token("staff").await;
        let r = server
            .call(
                Method::PUT,
                "/api/v1/channels/MALL/order-settings",
                &staff,
                Some(json!({"basis": "unlimited"})),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", e);
        let r = server
            .call(
                Method::POST,
                "/api/v1/channels/MALL/orders",
                &staff,
                Some(json!({"order_no": "2", "lines": [line("A", 1)]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        let display = server.token("display").await;
        let r = server
            .call(
                Method::POST,
                "/api/v1/channels/MALL/orders",
                &display,
                Some(json!({"order_no": "3", "lines": [line("A", 1)]})),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", e);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing() {
    for server in common::servers("orders::bad_input").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "A", &[("W1", 5)]).await;
        channel(&server, "MALL", &["W1"]).await;
        order(
            &server,
            "MALL",
            json!({"order_no": "OK", "lines": [line("A", 1)]}),
        )
        .await;
        let before = snapshot(&server).await;
        let cases: Vec<(&str, &str, Value, StatusCode, &str, &str)> = vec![
            (
                "unknown channel",
                "/api/v1/channels/NOPE/orders",
                json!({"order_no": "1", "lines": [line("A", 1)]}),
                StatusCode::NOT_FOUND,
                "not_found",
                "",
            ),
            (
                "negative quantity",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "lines": [line("A", -1)]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0].lines[0].quantity",
            ),
            (
                "duplicate lines",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "lines": [line("A", 1), line("A", 2)]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0].lines[1].item_code",
            ),
            (
                "no lines",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "lines": []}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0].lines",
            ),
            (
                "unknown field",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "lines": [line("A", 1)], "x": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "",
            ),
            (
                "unknown SKU named",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "lines": [{"sku": "NOPE", "quantity": 1}]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0].lines[0].sku",
            ),
            (
                "unknown pickup store",
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "1", "pickup_location": "NOPE", "lines": [line("A", 1)]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0].pickup_location",
            ),
            (
                "one bad order spoils the batch",
                "/api/v1/channels/MALL/orders/batch",
                json!({"orders": [{"order_no": "2", "lines": [line("A", 1)]}, {"order_no": "3", "lines": [line("A", 0)]}]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[1].lines[0].quantity",
            ),
            (
                "a number twice in a batch",
                "/api/v1/channels/MALL/orders/batch",
                json!({"orders": [{"order_no": "2", "lines": [line("A", 1)]}, {"order_no": "2", "lines": [line("A", 1)]}]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[1].external_no",
            ),
            (
                "bad run mode",
                "/api/v1/allocation-runs",
                json!({"mode": "fast"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "mode",
            ),
            (
                "bad order id in a run",
                "/api/v1/allocation-runs",
                json!({"orders": ["x"]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "orders[0]",
            ),
            (
                "bad remote range",
                "/api/v1/remote-areas",
                json!({"range": "9-1"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "range",
            ),
            (
                "unknown SKU in a link",
                "/api/v1/channels/MALL/sku-links",
                json!({"item_code": "X", "sku": "NOPE"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "sku",
            ),
        ];
        for (name, path, body, status, code, field) in cases {
            let r = server.post(path, body).await;
            assert_problem(&r, status, code, &format!("{e}: {name}"));
            if !field.is_empty() {
                let fields: Vec<&str> = r.body["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["field"].as_str().unwrap())
                    .collect();
                assert!(fields.contains(&field), "{e}: {name}: {fields:?}");
            }
        }
        let r = server
            .call(
                Method::PUT,
                "/api/v1/channels/MALL/order-settings",
                &server.owner,
                Some(json!({"basis": "sometimes"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        // Malformed CSV rows: every bad row named, nothing collected.
        let csv = "order_no,item_code,quantity\nN1,A,1\nN2,A,-4\nN3,A,x\n,A,1\nN4,A,1,extra\n";
        let r = server
            .http
            .post(server.url("/api/v1/channels/MALL/orders/import"))
            .bearer_auth(&server.owner)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let r = common::reply(r).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        let fields: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["line 3", "line 4", "line 5", "line 6"],
            "{e}: {}",
            r.text
        );
        assert_eq!(
            snapshot(&server).await,
            before,
            "{e}: bad input changed something"
        );
        server.stop().await;
    }
}

/// The run at `path` (`/api/v1/allocation-runs/{id}`) once it is no longer
/// running, polled for at most 30 s.
async fn ended(server: &TestServer, path: &str) -> Value {
    let e = server.engine;
    for _ in 0..1_500 {
        let got = server.get(path).await;
        assert_eq!(got.status, StatusCode::OK, "{e}: {}", got.text);
        if got.body["state"] != "running" {
            return got.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{e}: the run is still running after 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_run_answers_at_once_and_is_polled_to_its_end() {
    for server in common::servers("orders::background_run").await {
        let e = server.engine;
        place(&server, "W1", "warehouse").await;
        sku(&server, "TEE", &[("W1", 3)]).await;
        sku(&server, "CAP", &[("W1", 10)]).await;
        channel(&server, "MALL", &["W1"]).await;
        for n in 0..4 {
            order(
                &server,
                "MALL",
                json!({"order_no": format!("B-{n}"), "lines": [line("TEE", 1), line("CAP", 2)]}),
            )
            .await;
        }
        // A preview cannot go to the background.
        let r = server
            .post(
                "/api/v1/allocation-runs",
                json!({"dry_run": true, "background": true}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{e}: {}",
            r.text
        );

        let r = server
            .post("/api/v1/allocation-runs", json!({"background": true}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/allocation-runs/{id}");
        assert_eq!(r.headers["location"], path.as_str(), "{e}");
        assert_eq!(r.body["state"], "running", "{e}");
        let run = ended(&server, &path).await;
        assert_eq!(run["state"], "completed", "{e}: {run}");
        assert_eq!(run["error"], Value::Null, "{e}");
        assert_eq!(run["considered"], 4, "{e}: {run}");
        // Complete mode: three orders get their TEE, the fourth waits.
        assert_eq!(run["allocated"], 3, "{e}: {run}");
        assert_eq!(run["skipped"], 1, "{e}: {run}");
        assert_eq!(run["units"], 9, "{e}: {run}");
        assert_eq!(server.figures("TEE", "W1").await, (3, 3, 0), "{e}");
        assert_eq!(server.figures("CAP", "W1").await, (10, 6, 4), "{e}");
        let results = server.get(&format!("{path}/results")).await;
        assert_eq!(
            results.body["items"].as_array().unwrap().len(),
            4,
            "{e}: {}",
            results.text
        );
        server.stop().await;
    }
}

/// On PostgreSQL an order changed while a run waits for it is left for the
/// next run, and the run completes: the run reads its candidates without
/// locks, then each chunk locks its orders before anything else, so a
/// change committed in between is seen under the lock. Here the change is
/// held uncommitted (its row lock taken) from before the run starts until
/// the run's chunk waits for it. (SQLite's one writer cannot interleave
/// like this.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_leaves_an_order_changed_while_it_waited_for_it() {
    use sqlx::Connection;

    if let Some(db) = jaego_store::testing::fresh_postgres_if_set("orders::changed_mid_run").await {
        let server = common::start(db, jaego_store::StoreOptions::default()).await;
        place(&server, "W1", "warehouse").await;
        sku(&server, "TEE", &[("W1", 5)]).await;
        channel(&server, "MALL", &["W1"]).await;
        let mut ids = Vec::new();
        for n in 0..3 {
            let o = order(
                &server,
                "MALL",
                json!({"order_no": format!("C-{n}"), "lines": [line("TEE", 1)]}),
            )
            .await;
            ids.push(o["id"].as_str().unwrap().to_string());
        }
        let mut other = sqlx::PgConnection::connect(server.database_url())
            .await
            .unwrap();
        let mut change = other.begin().await.unwrap();
        sqlx::query("UPDATE orders SET hold = 1, updated_at = updated_at + 1 WHERE id = $1")
            .bind(&ids[1])
            .execute(&mut *change)
            .await
            .unwrap();

        let r = server
            .post("/api/v1/allocation-runs", json!({"background": true}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let path = format!("/api/v1/allocation-runs/{}", r.body["id"].as_str().unwrap());
        // Until the run's chunk waits for the changed order.
        jaego_store::testing::until_a_session_waits_for_a_lock(server.database_url()).await;
        change.commit().await.unwrap();

        let done = ended(&server, &path).await;
        assert_eq!(done["state"], "completed", "{done}");
        assert_eq!(
            (&done["considered"], &done["allocated"], &done["skipped"]),
            (&json!(3), &json!(2), &json!(1)),
            "{done}"
        );
        let results = server.get(&format!("{path}/results")).await;
        let outcome = |id: &str| {
            results.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["order_id"] == id)
                .map(|r| (r["outcome"].clone(), r["reason"].clone()))
        };
        assert_eq!(
            outcome(&ids[1]),
            Some((json!("skipped"), json!("changed"))),
            "{}",
            results.text
        );
        let changed = get_order(&server, &ids[1]).await;
        assert_eq!(
            (&changed["status"], &changed["hold"]),
            (&json!("open"), &json!(true))
        );
        assert_eq!(server.figures("TEE", "W1").await, (5, 2, 3));
        // The next run takes it as it now is: held.
        let next = run(&server, json!({})).await;
        assert_eq!(
            (&next["allocated"], &next["skipped"]),
            (&json!(0), &json!(1)),
            "{next}"
        );
        server.assert_verified().await;
        server.stop().await;
    }
}
