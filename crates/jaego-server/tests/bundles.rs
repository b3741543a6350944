//! Bundles through the HTTP API on both engines (seed 004, combination
//! SKUs): the shared-component case, the bundle figure, recipe edits that
//! keep open reservations as they were made, whole-bundle commits, and a
//! bundle refusing stock of its own.

mod common;

use common::{TestServer, assert_problem, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// WH with A × 3 and B × 5, and GIFT = 2 × A + 1 × B.
async fn gift_box(s: &TestServer) {
    s.seed("WH", "A", 3).await;
    s.seed("WH", "B", 5).await;
    let made = ok(
        s,
        Method::POST,
        "/api/v1/bundles",
        Some(json!({"code": "GIFT", "name": "선물세트", "components": [
            {"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}
        ]})),
    )
    .await;
    assert_eq!(made["version"], 1);
    assert_eq!(made["sku"]["bundle"], true);
}

async fn reserved(s: &TestServer, sku: &str) -> i64 {
    s.balance(sku, "WH").await["reserved"].as_i64().unwrap_or(0)
}

async fn bundle_available(s: &TestServer) -> i64 {
    let stock = ok(s, Method::GET, "/api/v1/bundles/GIFT/stock", None).await;
    stock[0]["available"].as_i64().unwrap()
}

/// A web mall channel sourced from WH.
async fn mall(s: &TestServer) {
    ok(
        s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "MALL", "kind": "web", "locations": ["WH"]})),
    )
    .await;
}

#[tokio::test]
async fn lines_sharing_a_component_are_judged_on_their_sum() {
    for s in common::servers("bundles_shared").await {
        gift_box(&s).await;
        assert_eq!(bundle_available(&s).await, 1, "{}", s.engine);

        // A bundle and its component: 2 + 2 of A against 3.
        for lines in [
            json!([{"sku": "GIFT", "quantity": 1}, {"sku": "A", "quantity": 2}]),
            json!([{"sku": "GIFT", "quantity": 1}, {"sku": "GIFT", "quantity": 1}]),
        ] {
            let r = s
                .post(
                    "/api/v1/reservations",
                    json!({"location": "WH", "lines": lines}),
                )
                .await;
            assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", s.engine);
            let short = &r.body["shortages"][0];
            assert_eq!(short["line"], 1, "{}: {}", s.engine, r.text);
            assert_eq!(short["sku_code"], "A", "{}", s.engine);
            assert_eq!(short["requested"], 4, "{}", s.engine);
            assert_eq!(short["available"], 3, "{}", s.engine);
            assert_eq!(
                reserved(&s, "A").await,
                0,
                "{}: a refusal holds nothing",
                s.engine
            );
        }

        // 2 + 1 of A fits: held as component lines naming the bundle.
        let made = ok(
            &s,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"location": "WH", "lines": [
                {"sku": "GIFT", "quantity": 1}, {"sku": "A", "quantity": 1}
            ]})),
        )
        .await;
        let lines = made["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 3, "{}: {made}", s.engine);
        assert_eq!(lines[0]["bundle"]["line"], 1);
        assert_eq!(lines[0]["quantity"], 2);
        assert_eq!(lines[1]["bundle"]["units"], 1);
        assert!(lines[2].get("bundle").is_none());
        assert_eq!(reserved(&s, "A").await, 3, "{}", s.engine);
        assert_eq!(reserved(&s, "B").await, 1, "{}", s.engine);
        assert_eq!(bundle_available(&s).await, 0, "{}", s.engine);
        s.assert_verified().await;
        s.stop().await;
    }
}

#[tokio::test]
async fn a_recipe_edit_keeps_open_reservations_as_made() {
    for s in common::servers("bundles_recipe_edit").await {
        gift_box(&s).await;
        let made = ok(
            &s,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"location": "WH", "lines": [{"sku": "GIFT", "quantity": 1}]})),
        )
        .await;
        let id = made["id"].as_str().unwrap().to_string();
        let edited = ok(
            &s,
            Method::PUT,
            "/api/v1/bundles/GIFT/components",
            Some(json!({"components": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 3}]})),
        )
        .await;
        assert_eq!(edited["version"], 2);
        // The open reservation still holds 2 × A + 1 × B.
        assert_eq!(reserved(&s, "A").await, 2, "{}", s.engine);
        assert_eq!(reserved(&s, "B").await, 1, "{}", s.engine);
        // The new recipe: min(1 / 1, 4 / 3) = 1.
        assert_eq!(bundle_available(&s).await, 1, "{}", s.engine);

        // Committing part of a bundle's components is refused.
        let r = s
            .post(
                &format!("/api/v1/reservations/{id}/commit"),
                json!({"lines": [{"line": 1, "quantity": 2}, {"line": 2, "quantity": 0}]}),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            s.engine,
        );
        // Releasing gives back what it held, not what the recipe says now.
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/reservations/{id}/release"),
            None,
        )
        .await;
        assert_eq!(reserved(&s, "A").await, 0, "{}", s.engine);
        assert_eq!(reserved(&s, "B").await, 0, "{}", s.engine);
        let movements = ok(
            &s,
            Method::GET,
            &format!("/api/v1/movements?reservation={id}"),
            None,
        )
        .await;
        let items = movements["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{}: {movements}", s.engine);
        for m in items {
            assert_eq!(m["kind"], "release");
            assert!(m["bundle_sku_id"].is_string(), "{}: {m}", s.engine);
        }
        s.assert_verified().await;
        s.stop().await;
    }
}

/// Puts `components` as GIFT's recipe, asserts the 422, and answers the
/// field its first error names.
async fn recipe_refused_at(s: &TestServer, components: Value) -> Value {
    let r = s
        .call(
            Method::PUT,
            "/api/v1/bundles/GIFT/components",
            &s.owner,
            Some(json!({ "components": components })),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        s.engine,
    );
    r.body["errors"][0]["field"].clone()
}

#[tokio::test]
async fn a_bundle_holds_no_stock_and_recipes_are_checked() {
    for s in common::servers("bundles_refusals").await {
        gift_box(&s).await;
        let r = s
            .post(
                "/api/v1/movements",
                json!({"sku": "GIFT", "location": "WH", "kind": "receipt", "quantity": 1}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "bundle_holds_no_stock", s.engine);
        for (components, field) in [
            (json!([]), "components"),
            (
                json!([{"sku": "A", "quantity": 0}]),
                "components[0].quantity",
            ),
            (
                json!([{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]),
                "components[1].sku",
            ),
            (json!([{"sku": "GIFT", "quantity": 1}]), "components[0].sku"),
            (json!([{"sku": "NOPE", "quantity": 1}]), "components[0].sku"),
        ] {
            assert_eq!(
                recipe_refused_at(&s, components).await,
                field,
                "{}",
                s.engine
            );
        }
        let r = s.get("/api/v1/bundles/A").await;
        assert_problem(&r, StatusCode::CONFLICT, "not_a_bundle", s.engine);
        s.stop().await;
    }
}

/// Collects one order on MALL; returns its id.
async fn collect(s: &TestServer, no: &str, lines: Value) -> String {
    let r = s
        .post(
            "/api/v1/channels/MALL/orders",
            json!({"order_no": no, "lines": lines}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", s.engine, r.text);
    r.body["order"]["id"].as_str().unwrap().to_string()
}

async fn allocate(s: &TestServer, id: &str) -> Value {
    ok(
        s,
        Method::POST,
        "/api/v1/allocation-runs",
        Some(json!({"orders": [id]})),
    )
    .await
}

/// The movements naming GIFT, as (kind, sku code, quantity), oldest first.
async fn bundle_movements(
    s: &TestServer,
    gift: &str,
    codes: &[(String, &str)],
) -> Vec<(String, String, i64)> {
    s.all_movements(&s.owner)
        .await
        .iter()
        .filter(|m| m["bundle_sku_id"] == gift)
        .filter(|m| m["reservation_id"].is_null())
        .map(|m| {
            let id = m["sku_id"].as_str().unwrap();
            let code = codes
                .iter()
                .find(|(i, _)| i == id)
                .map_or(id.to_string(), |(_, c)| (*c).to_string());
            (
                m["kind"].as_str().unwrap().to_string(),
                code,
                m["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn orders_of_bundles_move_their_components() {
    for s in common::servers("bundles_orders").await {
        let e = s.engine;
        gift_box(&s).await;
        mall(&s).await;
        let r = s
            .call(
                Method::PUT,
                "/api/v1/channels/MALL/order-settings",
                &s.owner,
                Some(json!({"shipment_mode": "complete", "basis": "strict"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        // A channel item linked to the bundle, like to any SKU.
        let r = s
            .post(
                "/api/v1/channels/MALL/sku-links",
                json!({"item_code": "BOX-1", "sku": "GIFT"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        let gift = ok(&s, Method::GET, "/api/v1/bundles/GIFT", None).await;
        let gift_id = gift["sku"]["id"].as_str().unwrap().to_string();
        let codes: Vec<(String, &str)> = gift["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let code = if c["quantity"] == 2 { "A" } else { "B" };
                (c["sku_id"].as_str().unwrap().to_string(), code)
            })
            .collect();

        // A bundle line and a line of its component are judged on their
        // sum: 2 + 2 of A against 3 is short, and nothing moves.
        let short = collect(
            &s,
            "SHORT",
            json!([{"item_code": "BOX-1", "quantity": 1}, {"item_code": "A", "quantity": 2}]),
        )
        .await;
        let run = allocate(&s, &short).await;
        assert_eq!(run["results"][0]["outcome"], "skipped", "{e}: {run}");
        assert_eq!(run["results"][0]["reason"], "short", "{e}: {run}");
        assert_eq!(s.figures("A", "WH").await, (3, 0, 3), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 0, 5), "{e}");
        let r = s
            .post(&format!("/api/v1/orders/{short}/cancel"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);

        // 2 + 1 of A fits: the components are allocated, never the bundle.
        let id = collect(
            &s,
            "O-1",
            json!([{"item_code": "BOX-1", "quantity": 1}, {"item_code": "A", "quantity": 1}]),
        )
        .await;
        let run = allocate(&s, &id).await;
        assert_eq!(run["results"][0]["outcome"], "allocated", "{e}: {run}");
        assert_eq!(s.figures("A", "WH").await, (3, 3, 0), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 1, 4), "{e}");
        assert_eq!(bundle_available(&s).await, 0, "{e}");
        let o = ok(&s, Method::GET, &format!("/api/v1/orders/{id}"), None).await;
        assert_eq!(o["lines"][0]["allocated"], 1, "{e}: {o}");
        assert_eq!(o["status"], "allocated", "{e}: {o}");

        // A recipe edit after allocation changes nothing already allocated.
        ok(
            &s,
            Method::PUT,
            "/api/v1/bundles/GIFT/components",
            Some(json!({"components": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 3}]})),
        )
        .await;
        let r = s
            .post(
                &format!("/api/v1/orders/{id}/ship"),
                json!({"lines": [{"line": 1, "location": "WH", "quantity": 1}, {"line": 2, "location": "WH", "quantity": 1}], "reference": "CJ-1"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["status"], "shipped", "{e}: {}", r.text);
        assert_eq!(
            s.figures("A", "WH").await,
            (0, 0, 0),
            "{e}: 2 + 1 of A shipped"
        );
        assert_eq!(
            s.figures("B", "WH").await,
            (4, 0, 4),
            "{e}: 1 of B, as allocated"
        );

        // A return gives back the components it shipped as.
        let r = s
            .post(
                &format!("/api/v1/orders/{id}/returns"),
                json!({"line": 1, "quantity": 1, "reason": "sellable"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        let r = s
            .post(
                &format!("/api/v1/returns/{}/collect", r.body["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(s.figures("A", "WH").await, (2, 0, 2), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 0, 5), "{e}");

        // A new order is allocated with the new recipe (1 × A + 3 × B),
        // and a cancel gives those components back.
        let id2 = collect(&s, "O-2", json!([{"item_code": "GIFT", "quantity": 1}])).await;
        let run = allocate(&s, &id2).await;
        assert_eq!(run["results"][0]["outcome"], "allocated", "{e}: {run}");
        assert_eq!(s.figures("A", "WH").await, (2, 1, 1), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 3, 2), "{e}");
        let r = s
            .post(&format!("/api/v1/orders/{id2}/cancel"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(s.figures("A", "WH").await, (2, 0, 2), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 0, 5), "{e}");

        let named = bundle_movements(&s, &gift_id, &codes).await;
        let expected: Vec<(String, String, i64)> = [
            ("allocate", "A", 2),
            ("allocate", "B", 1),
            ("shipment", "A", 2),
            ("shipment", "B", 1),
            ("return", "A", 2),
            ("return", "B", 1),
            ("allocate", "A", 1),
            ("allocate", "B", 3),
            ("deallocate", "A", 1),
            ("deallocate", "B", 3),
        ]
        .iter()
        .map(|(k, c, q)| ((*k).to_string(), (*c).to_string(), *q))
        .collect();
        let mut got_sorted = named.clone();
        let mut expected_sorted = expected.clone();
        got_sorted.sort();
        expected_sorted.sort();
        assert_eq!(got_sorted, expected_sorted, "{e}: {named:?}");
        s.assert_verified().await;
        s.stop().await;
    }
}

/// Waits until MALL's published figure of `sku` is `figure`.
async fn wait_figure(s: &TestServer, sku: &str, figure: i64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = s.get(&format!("/api/v1/channels/MALL/figures/{sku}")).await;
        if r.status == StatusCode::OK && r.body["figure"].as_i64() == Some(figure) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: MALL/{sku} = {figure}: last answer {} {}",
            s.engine,
            r.status,
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundles_channel_figure_follows_its_components() {
    for s in common::servers("bundles_channel_figure").await {
        let e = s.engine;
        gift_box(&s).await;
        mall(&s).await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/sharing",
            Some(json!({"enabled": true, "scope": "all_stores"})),
        )
        .await;
        // min(floor(3 / 2), floor(5 / 1)) = 1, and the components their own.
        wait_figure(&s, "GIFT", 1).await;
        wait_figure(&s, "A", 3).await;
        assert_eq!(bundle_available(&s).await, 1, "{e}");

        // A component's change re-publishes the bundle: A 3 → 8 gives 4.
        ok(
            &s,
            Method::POST,
            "/api/v1/movements",
            Some(json!({"sku": "A", "location": "WH", "kind": "receipt", "quantity": 5})),
        )
        .await;
        wait_figure(&s, "GIFT", 4).await;
        // Now B is the scarcest: a reservation of 3 B leaves 2 bundles.
        ok(
            &s,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"location": "WH", "lines": [{"sku": "B", "quantity": 3}]})),
        )
        .await;
        wait_figure(&s, "GIFT", 2).await;
        assert_eq!(bundle_available(&s).await, 2, "{e}");
        // A recipe edit re-publishes it too: 1 × A + 1 × B → min(8, 2) = 2;
        // 3 × A → floor(8 / 3) = 2; 4 × A → 2; 5 × A → 1.
        ok(
            &s,
            Method::PUT,
            "/api/v1/bundles/GIFT/components",
            Some(json!({"components": [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 1}]})),
        )
        .await;
        wait_figure(&s, "GIFT", 1).await;
        assert_eq!(bundle_available(&s).await, 1, "{e}");

        // A component's holds hold the bundle: B forced sold out gives the
        // bundle 0 for that reason, and lifting it gives the figure back.
        ok(
            &s,
            Method::PUT,
            "/api/v1/skus/B/status",
            Some(json!({"forced_sold_out": true})),
        )
        .await;
        wait_figure(&s, "GIFT", 0).await;
        let held = s.get("/api/v1/channels/MALL/figures/GIFT").await.body;
        assert_eq!(held["reason"], "forced_sold_out", "{e}: {held}");
        ok(&s, Method::PUT, "/api/v1/skus/B/status", Some(json!({}))).await;
        wait_figure(&s, "GIFT", 1).await;
        // A low-stock rule's sold-out action on A (8 available, at most 8)
        // holds the bundle on the channel until A recovers.
        let rule = ok(
            &s,
            Method::POST,
            "/api/v1/low-stock/rules",
            Some(json!({"sku": "A", "threshold": 8, "actions": ["sold_out"]})),
        )
        .await;
        wait_figure(&s, "GIFT", 0).await;
        let held = s.get("/api/v1/channels/MALL/figures/GIFT").await.body;
        assert_eq!(held["reason"], "low_stock", "{e}: {held}");
        ok(
            &s,
            Method::POST,
            "/api/v1/movements",
            Some(json!({"sku": "A", "location": "WH", "kind": "receipt", "quantity": 2})),
        )
        .await;
        // A 10 available (recovered): floor(10 / 5) = 2, B 2 → 2.
        wait_figure(&s, "GIFT", 2).await;
        let id = rule["id"].as_str().unwrap();
        ok(
            &s,
            Method::DELETE,
            &format!("/api/v1/low-stock/rules/{id}"),
            None,
        )
        .await;
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_takes_over_a_reserved_bundle_in_whole_bundles() {
    for s in common::servers("bundles_take_over").await {
        let e = s.engine;
        gift_box(&s).await;
        s.seed("WH", "A", 5).await; // A 8, B 5
        mall(&s).await;
        // A checkout holds 2 gift boxes and a B: 4 A and 3 B, committed.
        let res = ok(
            &s,
            Method::POST,
            "/api/v1/reservations",
            Some(json!({"location": "WH", "lines": [
                {"sku": "GIFT", "quantity": 2}, {"sku": "B", "quantity": 1}
            ]})),
        )
        .await;
        let res = res["id"].as_str().unwrap().to_string();
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/reservations/{res}/commit"),
            Some(json!({})),
        )
        .await;
        assert_eq!(s.figures("A", "WH").await, (8, 4, 4), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 3, 2), "{e}");

        // The order wants one box and the B: it owns one box's components
        // (2 A + 1 B) and the B; the other box's go back, naming GIFT.
        let r = s
            .post(
                "/api/v1/channels/MALL/orders",
                json!({"order_no": "T1", "reservation": res, "lines": [
                    {"item_code": "GIFT", "quantity": 1}, {"item_code": "B", "quantity": 1}
                ]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        let order = &r.body["order"];
        assert_eq!(order["status"], "allocated", "{e}: {order}");
        assert_eq!(order["lines"][0]["allocated"], 1, "{e}: {order}");
        assert_eq!(order["lines"][1]["allocated"], 1, "{e}: {order}");
        assert_eq!(s.figures("A", "WH").await, (8, 2, 6), "{e}");
        assert_eq!(s.figures("B", "WH").await, (5, 2, 3), "{e}");
        let gift = ok(&s, Method::GET, "/api/v1/bundles/GIFT", None).await;
        let gift_id = gift["sku"]["id"].as_str().unwrap().to_string();
        let a = s.get("/api/v1/skus/A").await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b = s.get("/api/v1/skus/B").await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut back = bundle_movements(&s, &gift_id, &[(a, "A"), (b, "B")]).await;
        back.sort();
        assert_eq!(
            back,
            [
                ("deallocate".to_string(), "A".to_string(), 2),
                ("deallocate".to_string(), "B".to_string(), 1)
            ],
            "{e}"
        );
        // A run leaves it as it is; shipping the box ships its components.
        let id = order["id"].as_str().unwrap().to_string();
        allocate(&s, &id).await;
        assert_eq!(s.figures("A", "WH").await, (8, 2, 6), "{e}");
        let r = s
            .post(
                &format!("/api/v1/orders/{id}/ship"),
                json!({"lines": [{"line": 1, "location": "WH", "quantity": 1}, {"line": 2, "location": "WH", "quantity": 1}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(s.figures("A", "WH").await, (6, 0, 6), "{e}");
        assert_eq!(s.figures("B", "WH").await, (3, 0, 3), "{e}");
        s.assert_verified().await;
        s.stop().await;
    }
}

#[tokio::test]
async fn creating_and_editing_a_bundle_answer_what_a_read_gives() {
    for s in common::servers("bundles_answers").await {
        let e = s.engine;
        for sku in ["A", "B", "C"] {
            s.seed("WH", sku, 1).await;
        }
        let b_id = ok(&s, Method::GET, "/api/v1/skus/B", None).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let made = ok(
            &s,
            Method::POST,
            "/api/v1/bundles",
            Some(
                json!({"code": "GIFT", "name": "선물세트", "barcodes": ["Z-2", "A-1", "M-3"],
                        "option_tags": ["red", "big"],
                        "components": [{"sku": b_id, "quantity": 1}, {"sku": "A", "quantity": 2}]}),
            ),
        )
        .await;
        let read = ok(&s, Method::GET, "/api/v1/bundles/GIFT", None).await;
        assert_eq!(made, read, "{e}: created");
        assert_eq!(read["components"][0]["code"], "B", "{e}: {read}");
        let edited = ok(
            &s,
            Method::PUT,
            "/api/v1/bundles/GIFT/components",
            Some(json!({"components": [
                {"sku": "C", "quantity": 3}, {"sku": "A", "quantity": 1}, {"sku": b_id, "quantity": 2}
            ]})),
        )
        .await;
        let read = ok(&s, Method::GET, "/api/v1/bundles/GIFT", None).await;
        assert_eq!(edited, read, "{e}: edited");
        assert_eq!(read["version"], 2, "{e}");
        // The first component that names no SKU, or a bundle, answers
        // before the recipe's own checks (here, too many components).
        let mut many: Vec<Value> = (0..25)
            .map(|_| json!({"sku": "A", "quantity": 1}))
            .collect();
        many[3] = json!({"sku": "NOPE", "quantity": 1});
        many[2] = json!({"sku": "GIFT", "quantity": 1});
        assert_eq!(
            recipe_refused_at(&s, json!(many.clone())).await,
            "components[2].sku",
            "{e}"
        );
        many[2] = json!({"sku": "A", "quantity": 1});
        assert_eq!(
            recipe_refused_at(&s, json!(many)).await,
            "components[3].sku",
            "{e}"
        );
        assert_eq!(
            ok(&s, Method::GET, "/api/v1/bundles/GIFT", None).await,
            read,
            "{e}: refusals change nothing"
        );
        s.stop().await;
    }
}
