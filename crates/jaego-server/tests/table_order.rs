//! Table-order stock through the HTTP API on both engines (seed 000, H68):
//! tracking per item and for the whole menu, initial and current counts,
//! "reset now" to the initial count or to zero, remaining counts on the
//! customer display, and orders refused with the item that is short.

mod common;

use common::{TestServer, assert_problem, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A store with a menu: 김치찌개 (initial 5, now 4), 비빔밥 (initial 2, now 2)
/// and water without tracking.
async fn restaurant(s: &TestServer) {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "gangnam", "name": "강남점", "kind": "store", "time_zone": "Asia/Seoul"})),
    )
    .await;
    for (code, name, tracked) in [
        ("KIMCHI", "김치찌개", true),
        ("BIBIM", "비빔밥", true),
        ("WATER", "생수", false),
    ] {
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": code, "name": name, "tracked": tracked})),
        )
        .await;
    }
    for (sku, body) in [
        ("KIMCHI", json!({"initial_count": 5, "current_count": 4})),
        ("BIBIM", json!({"initial_count": 2, "current_count": 2})),
        ("WATER", json!({})),
    ] {
        ok(
            s,
            Method::PUT,
            &format!("/api/v1/table-order/gangnam/menu/{sku}"),
            Some(body),
        )
        .await;
    }
}

/// The display's items by code: (remaining, sold out).
async fn display(s: &TestServer) -> Vec<(String, Option<i64>, bool)> {
    let body = ok(s, Method::GET, "/api/v1/table-order/gangnam/display", None).await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku_code"].as_str().unwrap().to_string(),
                i["remaining"].as_i64(),
                i["sold_out"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(code: &str, remaining: Option<i64>, sold_out: bool) -> (String, Option<i64>, bool) {
    (code.to_string(), remaining, sold_out)
}

async fn order(s: &TestServer, lines: Value) -> common::Reply {
    s.post(
        "/api/v1/table-order/gangnam/orders",
        json!({"lines": lines, "reference": "table 7"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_orders_and_resets() {
    for server in common::servers("table_order::counts").await {
        let s = &server;
        restaurant(s).await;
        let settings = ok(
            s,
            Method::PUT,
            "/api/v1/table-order/gangnam/settings",
            Some(json!({"reset_mode": "to_initial", "show_remaining": true, "reset_schedule": "daily 04:00"})),
        )
        .await;
        assert_eq!(settings["reset_schedule"], "daily 04:00");
        assert_eq!(settings["time_zone"], "Asia/Seoul");
        // The next 04:00 in Seoul is 19:00 UTC.
        let next = settings["next_reset_at"].as_str().unwrap();
        assert!(next.contains("T19:00:00"), "{}: {next}", s.engine);

        assert_eq!(
            display(s).await,
            [
                row("BIBIM", Some(2), false),
                row("KIMCHI", Some(4), false),
                row("WATER", None, false)
            ]
        );

        // An order takes on-hand at once; untracked water sells freely.
        let r = order(
            s,
            json!([{"sku": "KIMCHI", "quantity": 1}, {"sku": "WATER", "quantity": 30}]),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", s.engine, r.text);
        assert_eq!(r.body["lines"][0]["remaining"], 3);
        assert_eq!(r.body["lines"][1]["remaining"], Value::Null);
        assert_eq!(s.balance("KIMCHI", "gangnam").await["on_hand"], 3);
        let sales: Vec<Value> = s
            .all_movements(&s.owner)
            .await
            .into_iter()
            .filter(|m| m["kind"] == "sale")
            .collect();
        assert_eq!(sales.len(), 1, "{}: no movement for water", s.engine);
        assert_eq!(sales[0]["reference"], "table 7");

        // More than is left: refused, naming the item and what is left,
        // and nothing changes.
        let before = s.all_movements(&s.owner).await.len();
        let r = order(
            s,
            json!([{"sku": "KIMCHI", "quantity": 1}, {"sku": "BIBIM", "quantity": 3}]),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        let short = &r.body["shortages"];
        assert_eq!(short.as_array().unwrap().len(), 1, "{}", r.text);
        assert_eq!(
            (
                short[0]["line"].as_i64(),
                short[0]["sku_code"].as_str(),
                short[0]["sku_name"].as_str()
            ),
            (Some(1), Some("BIBIM"), Some("비빔밥"))
        );
        assert_eq!(
            (
                short[0]["requested"].as_i64(),
                short[0]["available"].as_i64()
            ),
            (Some(3), Some(2))
        );
        assert_eq!(r.body["detail"], "BIBIM (비빔밥): 2 left, 3 requested");
        assert_eq!(
            s.all_movements(&s.owner).await.len(),
            before,
            "{}",
            s.engine
        );
        assert_eq!(s.balance("KIMCHI", "gangnam").await["on_hand"], 3);

        // Lines of one item are judged together.
        let r = order(
            s,
            json!([{"sku": "BIBIM", "quantity": 1}, {"sku": "BIBIM", "quantity": 2}]),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        assert_eq!(r.body["shortages"][0]["requested"], 3);

        // The last two: sold out on the display.
        let r = order(s, json!([{"sku": "BIBIM", "quantity": 2}])).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", Some(0), true),
                row("KIMCHI", Some(3), false),
                row("WATER", None, false)
            ]
        );

        // "Reset now" sets every tracked item back to its initial count,
        // one `reset` movement per item.
        let reset = ok(s, Method::POST, "/api/v1/table-order/gangnam/reset", None).await;
        assert_eq!(
            (reset["mode"].as_str(), reset["trigger"].as_str()),
            (Some("to_initial"), Some("manual"))
        );
        assert_eq!(reset["items"].as_array().unwrap().len(), 2, "{reset}");
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", Some(2), false),
                row("KIMCHI", Some(5), false),
                row("WATER", None, false)
            ]
        );
        let resets = s
            .all_movements(&s.owner)
            .await
            .into_iter()
            .filter(|m| m["kind"] == "reset")
            .count();
        assert_eq!(resets, 2, "{}", s.engine);

        // Counts hidden: the check is the same, only the number goes.
        ok(
            s,
            Method::PUT,
            "/api/v1/table-order/gangnam/settings",
            Some(json!({"reset_mode": "to_zero", "show_remaining": false})),
        )
        .await;
        let settings = ok(s, Method::GET, "/api/v1/table-order/gangnam/settings", None).await;
        assert_eq!(
            (
                settings["reset_schedule"].as_str(),
                settings["next_reset_at"].as_str()
            ),
            (None, None)
        );
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", None, false),
                row("KIMCHI", None, false),
                row("WATER", None, false)
            ]
        );
        ok(s, Method::POST, "/api/v1/table-order/gangnam/reset", None).await;
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", None, true),
                row("KIMCHI", None, true),
                row("WATER", None, false)
            ]
        );

        // Tracking for the whole menu: water now counts, and at 0 it is refused.
        let all = ok(
            s,
            Method::POST,
            "/api/v1/table-order/gangnam/track-all",
            None,
        )
        .await;
        assert_eq!(all["turned_on"], 1);
        assert_eq!(s.get("/api/v1/skus/WATER").await.body["tracked"], true);
        let r = order(s, json!([{"sku": "WATER", "quantity": 1}])).await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        assert_eq!(r.body["shortages"][0]["sku_name"], "생수");
        // Tracking off for one item: it sells freely again.
        let item = ok(
            s,
            Method::PUT,
            "/api/v1/table-order/gangnam/menu/WATER",
            Some(json!({"tracked": false})),
        )
        .await;
        assert_eq!(
            (item["tracked"].as_bool(), item["sold_out"].as_bool()),
            (Some(false), Some(false))
        );
        let r = order(s, json!([{"sku": "WATER", "quantity": 1}])).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

        // The admin menu shows counts; removing an item leaves its stock.
        let menu = ok(s, Method::GET, "/api/v1/table-order/gangnam/menu", None).await;
        assert_eq!(menu["items"][1]["initial_count"], 5);
        ok(
            s,
            Method::DELETE,
            "/api/v1/table-order/gangnam/menu/WATER",
            None,
        )
        .await;
        assert_eq!(display(s).await.len(), 2);
        s.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_replays_and_bad_input() {
    for server in common::servers("table_order::roles").await {
        let s = &server;
        restaurant(s).await;
        ok(
            s,
            Method::POST,
            "/api/v1/locations",
            Some(
                json!({"code": "wh", "name": "wh", "kind": "warehouse", "time_zone": "Asia/Seoul"}),
            ),
        )
        .await;
        let token = |role: &'static str| async move {
            let r = s
                .post("/api/v1/tokens", json!({"role": role, "name": role}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.body["token"].as_str().unwrap().to_string()
        };
        let screen = token("display").await;
        let tablet = token("integration").await;
        // A customer screen reads the display but cannot order.
        let r = s
            .call(
                Method::GET,
                "/api/v1/table-order/gangnam/display",
                &screen,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let lines = json!({"lines": [{"sku": "KIMCHI", "quantity": 1}]});
        let r = s
            .call(
                Method::POST,
                "/api/v1/table-order/gangnam/orders",
                &screen,
                Some(lines.clone()),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", s.engine);
        // A tablet orders; a retry with the same key is answered once.
        let send = || async {
            let response = s
                .http
                .post(s.url("/api/v1/table-order/gangnam/orders"))
                .bearer_auth(&tablet)
                .header("idempotency-key", "table-7-order-1")
                .json(&lines)
                .send()
                .await
                .unwrap();
            common::reply(response).await
        };
        let first = send().await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let again = send().await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true")
        );
        assert_eq!(
            s.balance("KIMCHI", "gangnam").await["on_hand"],
            3,
            "{}: sold once",
            s.engine
        );
        // Only managers and owners change settings.
        let r = s
            .call(
                Method::PUT,
                "/api/v1/table-order/gangnam/settings",
                &tablet,
                Some(json!({"show_remaining": true})),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", s.engine);

        // Bad input names its field and changes nothing.
        for (method, path, body, field) in [
            (
                Method::PUT,
                "/api/v1/table-order/wh/settings",
                json!({}),
                "location",
            ),
            (
                Method::PUT,
                "/api/v1/table-order/gangnam/settings",
                json!({"reset_schedule": "minutes 0"}),
                "reset_schedule",
            ),
            (
                Method::PUT,
                "/api/v1/table-order/gangnam/settings",
                json!({"reset_schedule": "daily 4:00"}),
                "reset_schedule",
            ),
            (
                Method::PUT,
                "/api/v1/table-order/gangnam/settings",
                json!({"reset_mode": "to_one"}),
                "reset_mode",
            ),
            (
                Method::PUT,
                "/api/v1/table-order/gangnam/menu/KIMCHI",
                json!({"initial_count": -1}),
                "initial_count",
            ),
            (
                Method::POST,
                "/api/v1/table-order/gangnam/orders",
                json!({"lines": []}),
                "lines",
            ),
            (
                Method::POST,
                "/api/v1/table-order/gangnam/orders",
                json!({"lines": [{"sku": "KIMCHI", "quantity": 0}]}),
                "lines[0].quantity",
            ),
        ] {
            let r = s.call(method, path, &s.owner, Some(body)).await;
            assert_problem(
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                s.engine,
            );
            assert_eq!(r.body["errors"][0]["field"], field, "{path}: {}", r.text);
        }
        let r = s
            .post(
                "/api/v1/table-order/gangnam/orders",
                json!({"lines": [{"sku": "NOPE", "quantity": 1}]}),
            )
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", s.engine);
        assert!(
            r.body["detail"].as_str().unwrap().contains("lines[0]"),
            "{}",
            r.text
        );
        assert_eq!(s.balance("KIMCHI", "gangnam").await["on_hand"], 3);
        s.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untracked_skus_are_never_refused_by_reservations() {
    for server in common::servers("table_order::untracked_reservations").await {
        let s = &server;
        let (wh, _) = s.seed("WH", "TRACKED", 0).await;
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": "FREE", "name": "free", "tracked": false})),
        )
        .await;
        let r = s
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": "TRACKED", "quantity": 1}]}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        assert_eq!(r.body["shortages"][0]["sku_code"], "TRACKED");
        assert_eq!(r.body["detail"], "TRACKED (TRACKED): 0 left, 1 requested");
        let r = s
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": "FREE", "quantity": 5}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", s.engine, r.text);
        // Turning tracking on is read by the next batch, not a cached flag.
        let r = s
            .call(
                Method::PATCH,
                "/api/v1/skus/FREE",
                &s.owner,
                Some(json!({"tracked": true})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = s
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": "FREE", "quantity": 1}]}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        s.assert_verified().await;
        server.stop().await;
    }
}

/// 한상세트 SET = 2 × KIMCHI + 1 × BIBIM, on the menu of [`restaurant`]
/// with counts shown; returns the bundle's id.
async fn set_menu(s: &TestServer) -> String {
    let made = ok(
        s,
        Method::POST,
        "/api/v1/bundles",
        Some(json!({"code": "SET", "name": "한상세트", "components": [
            {"sku": "KIMCHI", "quantity": 2}, {"sku": "BIBIM", "quantity": 1}
        ]})),
    )
    .await;
    ok(
        s,
        Method::PUT,
        "/api/v1/table-order/gangnam/menu/SET",
        Some(json!({})),
    )
    .await;
    ok(
        s,
        Method::PUT,
        "/api/v1/table-order/gangnam/settings",
        Some(json!({"show_remaining": true})),
    )
    .await;
    made["sku"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_on_the_menu_follow_their_components() {
    for server in common::servers("table_order::bundles").await {
        let s = &server;
        restaurant(s).await;
        let set = set_menu(s).await;

        // KIMCHI 4 and BIBIM 2: min(4 / 2, 2 / 1) = 2 sets.
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", Some(2), false),
                row("KIMCHI", Some(4), false),
                row("SET", Some(2), false),
                row("WATER", None, false)
            ]
        );
        let menu = ok(s, Method::GET, "/api/v1/table-order/gangnam/menu", None).await;
        let item = &menu["items"][2];
        assert_eq!(
            (
                item["bundle"].as_bool(),
                item["on_hand"].as_i64(),
                item["available"].as_i64()
            ),
            (Some(true), Some(2), Some(2)),
            "{}: {item}",
            s.engine
        );

        // A bundle has no counts of its own: refused, nothing written.
        let before = s.all_movements(&s.owner).await.len();
        for body in [json!({"current_count": 5}), json!({"initial_count": 3})] {
            let r = s
                .call(
                    Method::PUT,
                    "/api/v1/table-order/gangnam/menu/SET",
                    &s.owner,
                    Some(body),
                )
                .await;
            assert_problem(&r, StatusCode::CONFLICT, "bundle_holds_no_stock", s.engine);
        }
        assert_eq!(s.all_movements(&s.owner).await.len(), before);
        assert_eq!(s.balance("SET", "gangnam").await, Value::Null);
        let menu = ok(s, Method::GET, "/api/v1/table-order/gangnam/menu", None).await;
        assert_eq!(menu["items"][2]["initial_count"], 0, "{}", s.engine);

        // KIMCHI × 3 and a set need 3 + 2 of KIMCHI against 4: refused as a
        // whole, naming the set's line, and nothing changes.
        let r = order(
            s,
            json!([
                {"sku": "WATER", "quantity": 1},
                {"sku": "KIMCHI", "quantity": 3},
                {"sku": "SET", "quantity": 1}
            ]),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
        let short = &r.body["shortages"];
        assert_eq!(short.as_array().unwrap().len(), 1, "{}", r.text);
        assert_eq!(
            (
                short[0]["line"].as_i64(),
                short[0]["sku_code"].as_str(),
                short[0]["requested"].as_i64(),
                short[0]["available"].as_i64()
            ),
            (Some(2), Some("KIMCHI"), Some(5), Some(4)),
            "{}: {}",
            s.engine,
            r.text
        );
        assert_eq!(s.all_movements(&s.owner).await.len(), before);
        assert_eq!(s.balance("KIMCHI", "gangnam").await["on_hand"], 4);
        assert_eq!(s.balance("BIBIM", "gangnam").await["on_hand"], 2);

        // A set and one KIMCHI: the components are sold, naming the set.
        let r = order(
            s,
            json!([{"sku": "SET", "quantity": 1}, {"sku": "KIMCHI", "quantity": 1}]),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", s.engine, r.text);
        // KIMCHI 1 and BIBIM 1 left: no set.
        assert_eq!(
            (
                r.body["lines"][0]["remaining"].as_i64(),
                r.body["lines"][1]["remaining"].as_i64()
            ),
            (Some(0), Some(1)),
            "{}: {}",
            s.engine,
            r.text
        );
        let mut codes = std::collections::HashMap::new();
        for code in ["KIMCHI", "BIBIM"] {
            let id = s.get(&format!("/api/v1/skus/{code}")).await.body["id"].clone();
            codes.insert(id.as_str().unwrap().to_string(), code.to_string());
        }
        let mut sales: Vec<(String, i64, Value)> = s
            .all_movements(&s.owner)
            .await
            .into_iter()
            .filter(|m| m["kind"] == "sale")
            .map(|m| {
                (
                    codes[m["sku_id"].as_str().unwrap()].clone(),
                    m["quantity"].as_i64().unwrap(),
                    m["bundle_sku_id"].clone(),
                )
            })
            .collect();
        sales.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        assert_eq!(
            sales,
            [
                ("BIBIM".to_string(), 1, json!(set)),
                ("KIMCHI".to_string(), 1, Value::Null),
                ("KIMCHI".to_string(), 2, json!(set))
            ],
            "{}",
            s.engine
        );
        assert_eq!(s.balance("SET", "gangnam").await, Value::Null);
        assert_eq!(
            display(s).await,
            [
                row("BIBIM", Some(1), false),
                row("KIMCHI", Some(1), false),
                row("SET", Some(0), true),
                row("WATER", None, false)
            ]
        );

        // A reset sets the components and leaves the bundle alone.
        let reset = ok(s, Method::POST, "/api/v1/table-order/gangnam/reset", None).await;
        let reset_codes: Vec<&str> = reset["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku_code"].as_str().unwrap())
            .collect();
        assert_eq!(reset_codes.len(), 2, "{}: {reset}", s.engine);
        assert!(!reset_codes.contains(&"SET"), "{}: {reset}", s.engine);
        assert_eq!(s.balance("SET", "gangnam").await, Value::Null);
        assert!(
            s.all_movements(&s.owner)
                .await
                .iter()
                .all(|m| m["sku_id"] != json!(set)),
            "{}: no movement names the bundle as its SKU",
            s.engine
        );
        // KIMCHI 5, BIBIM 2: min(5 / 2, 2 / 1) = 2 sets.
        assert_eq!(display(s).await[2], row("SET", Some(2), false));
        s.assert_verified().await;
        server.stop().await;
    }
}
