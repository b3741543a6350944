//! Tenant isolation over real HTTP, on both engines: nothing of one tenant
//! can be read, changed or even confirmed to exist by another.

mod common;

use common::TestServer;
use jaego_core::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Everything tenant B made, by id and code.
struct TenantB {
    token: String,
    product: String,
    sku_id: String,
    sku_code: String,
    location_id: String,
    location_code: String,
    channel_id: String,
    channel_code: String,
    movement: String,
    transfer: String,
    reservation: String,
    staff_token_id: String,
    staff_token: String,
}

/// Sends `body` as B and expects `status`; returns the body.
async fn as_b(server: &TestServer, token: &str, method: Method, path: &str, body: Value) -> Value {
    let expected = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let r = server.call(method, path, token, Some(body)).await;
    assert_eq!(r.status, expected, "{}: {path}: {}", server.engine, r.text);
    r.body
}

async fn make_tenant_b(server: &TestServer) -> TenantB {
    let tenant = server.store.create_tenant("b").await.expect("tenant");
    let token = server
        .store
        .create_token(tenant, Role::Owner, "b")
        .await
        .expect("token")
        .secret;
    let t = token.as_str();
    let product = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/products",
        json!({"code": "B-STYLE", "name": "B style"}),
    )
    .await;
    let sku = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/skus",
        json!({"code": "B-SKU", "name": "B sku", "product_id": product["id"],
               "barcodes": ["880000000001"], "option_tags": ["size:M"]}),
    )
    .await;
    let location = as_b(server, t, Method::POST, "/api/v1/locations",
        json!({"code": "B-WH", "name": "B warehouse", "kind": "warehouse", "time_zone": "Asia/Seoul"})).await;
    as_b(
        server,
        t,
        Method::POST,
        "/api/v1/locations",
        json!({"code": "B-ST", "name": "B store", "kind": "store", "time_zone": "Asia/Seoul"}),
    )
    .await;
    let channel = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/channels",
        json!({"code": "B-MALL", "name": "B mall", "kind": "web", "locations": ["B-WH"]}),
    )
    .await;
    as_b(
        server,
        t,
        Method::POST,
        "/api/v1/movement-types",
        json!({"code": "b_sample", "name": "B samples", "direction": "out"}),
    )
    .await;
    let movement = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/movements",
        json!({"sku": "B-SKU", "location": "B-WH", "kind": "receipt", "quantity": 20}),
    )
    .await;
    as_b(server, t, Method::POST, "/api/v1/movements",
        json!({"sku": "B-SKU", "location": "B-WH", "kind": "custom", "type": "b_sample", "quantity": 1})).await;
    let transfer = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/transfers",
        json!({"sku": "B-SKU", "from_location": "B-WH", "to_location": "B-ST", "quantity": 4}),
    )
    .await;
    let reservation = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/reservations",
        json!({"channel": "B-MALL", "lines": [{"sku": "B-SKU", "quantity": 3}]}),
    )
    .await;
    let staff = as_b(
        server,
        t,
        Method::POST,
        "/api/v1/tokens",
        json!({"role": "staff", "name": "B till"}),
    )
    .await;
    let s = |v: &Value, f: &str| v[f].as_str().expect(f).to_string();
    TenantB {
        token,
        product: s(&product, "id"),
        sku_id: s(&sku, "id"),
        sku_code: s(&sku, "code"),
        location_id: s(&location, "id"),
        location_code: s(&location, "code"),
        channel_id: s(&channel, "id"),
        channel_code: s(&channel, "code"),
        movement: s(&movement, "id"),
        transfer: s(&transfer, "id"),
        reservation: s(&reservation, "id"),
        staff_token_id: s(&staff, "id"),
        staff_token: s(&staff, "token"),
    }
}

/// What B sees of its own data: every list and every item by id.
async fn snapshot(server: &TestServer, b: &TenantB) -> Vec<(String, Value)> {
    let paths = [
        "/api/v1/products".to_string(),
        "/api/v1/skus".to_string(),
        "/api/v1/locations".to_string(),
        "/api/v1/channels".to_string(),
        "/api/v1/movement-types".to_string(),
        "/api/v1/movements".to_string(),
        "/api/v1/balances".to_string(),
        "/api/v1/tokens".to_string(),
        format!("/api/v1/products/{}", b.product),
        format!("/api/v1/skus/{}", b.sku_id),
        format!("/api/v1/locations/{}", b.location_id),
        format!("/api/v1/channels/{}", b.channel_id),
        format!("/api/v1/movements/{}", b.movement),
        format!("/api/v1/transfers/{}", b.transfer),
        format!("/api/v1/reservations/{}", b.reservation),
    ];
    let mut out = Vec::new();
    for path in paths {
        let r = server.call(Method::GET, &path, &b.token, None).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}: {path}: {}",
            server.engine,
            r.text
        );
        out.push((path, r.body));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_data_is_not_found() {
    for server in common::servers("tenancy::another_tenants_data_is_not_found").await {
        let engine = server.engine;
        let b = make_tenant_b(&server).await;
        let before = snapshot(&server, &b).await;

        // A's lists are empty: nothing of B's shows.
        for path in [
            "/api/v1/products",
            "/api/v1/skus",
            "/api/v1/skus?barcode=880000000001",
            "/api/v1/skus?tag=size:M",
            "/api/v1/skus?q=b-sku",
            "/api/v1/locations",
            "/api/v1/channels",
            "/api/v1/movements",
            "/api/v1/balances",
        ] {
            let r = server.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{engine}: {path}: {}", r.text);
            assert_eq!(r.body["items"], json!([]), "{engine}: {path}: {}", r.text);
            assert!(r.body["next_cursor"].is_null(), "{engine}: {path}");
        }
        let r = server.get("/api/v1/movement-types").await;
        assert_eq!(r.body, json!([]), "{engine}: {}", r.text);
        let r = server.get("/api/v1/tokens").await;
        let tokens = r.body.as_array().expect("tokens");
        assert_eq!(tokens.len(), 1, "{engine}: {}", r.text);
        assert_eq!(tokens[0]["name"], "bootstrap owner", "{engine}: {}", r.text);

        // A needs a SKU and a location of its own for the body cases.
        server.seed("A-WH", "A-SKU", 5).await;

        let patch_sku = json!({"name": "hijacked"});
        let patch_location = json!({"policy": "unlimited"});
        let links = json!({"locations": []});
        let empty = json!({});
        // (method, path, body): every one must be 404 not_found for A.
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/products/{}", b.product), None),
            (Method::GET, format!("/api/v1/skus/{}", b.sku_id), None),
            (Method::GET, format!("/api/v1/skus/{}", b.sku_code), None),
            (
                Method::PATCH,
                format!("/api/v1/skus/{}", b.sku_id),
                Some(patch_sku.clone()),
            ),
            (
                Method::PATCH,
                format!("/api/v1/skus/{}", b.sku_code),
                Some(patch_sku),
            ),
            (
                Method::GET,
                format!("/api/v1/locations/{}", b.location_id),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/locations/{}", b.location_code),
                None,
            ),
            (
                Method::PATCH,
                format!("/api/v1/locations/{}", b.location_id),
                Some(patch_location.clone()),
            ),
            (
                Method::PATCH,
                format!("/api/v1/locations/{}", b.location_code),
                Some(patch_location),
            ),
            (
                Method::GET,
                format!("/api/v1/channels/{}", b.channel_id),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/channels/{}", b.channel_code),
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/channels/{}/locations", b.channel_id),
                Some(links.clone()),
            ),
            (
                Method::PUT,
                format!("/api/v1/channels/{}/locations", b.channel_code),
                Some(links),
            ),
            (
                Method::GET,
                format!("/api/v1/movements/{}", b.movement),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/transfers/{}", b.transfer),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/transfers/{}/receive", b.transfer),
                Some(empty.clone()),
            ),
            (
                Method::GET,
                format!("/api/v1/reservations/{}", b.reservation),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/reservations/{}/commit", b.reservation),
                Some(empty.clone()),
            ),
            (
                Method::POST,
                format!("/api/v1/reservations/{}/release", b.reservation),
                Some(empty.clone()),
            ),
            (
                Method::POST,
                format!("/api/v1/tokens/{}/revoke", b.staff_token_id),
                Some(empty),
            ),
            (
                Method::GET,
                format!("/api/v1/balances?sku={}", b.sku_id),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/balances?sku={}", b.sku_code),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/balances?location={}", b.location_id),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/movements?sku={}", b.sku_code),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/movements?location={}", b.location_code),
                None,
            ),
            // B's codes and ids named in A's request bodies.
            (
                Method::POST,
                "/api/v1/movements".into(),
                Some(
                    json!({"sku": b.sku_id, "location": "A-WH", "kind": "receipt", "quantity": 1}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/movements".into(),
                Some(
                    json!({"sku": "A-SKU", "location": b.location_code, "kind": "receipt", "quantity": 1}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/movements".into(),
                Some(
                    json!({"sku": "A-SKU", "location": "A-WH", "kind": "custom", "type": "b_sample", "quantity": 1}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/transfers".into(),
                Some(
                    json!({"sku": b.sku_code, "from_location": "A-WH", "to_location": b.location_id, "quantity": 1}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/reservations".into(),
                Some(
                    json!({"location": b.location_id, "lines": [{"sku": "A-SKU", "quantity": 1}]}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/reservations".into(),
                Some(
                    json!({"channel": b.channel_code, "lines": [{"sku": "A-SKU", "quantity": 1}]}),
                ),
            ),
            (
                Method::POST,
                "/api/v1/reservations".into(),
                Some(json!({"location": "A-WH", "lines": [{"sku": b.sku_id, "quantity": 1}]})),
            ),
        ];
        for (method, path, body) in cases {
            let context = format!("{engine}: {method} {path}");
            let r = server.call(method, &path, &server.owner, body).await;
            common::assert_problem(&r, StatusCode::NOT_FOUND, "not_found", &context);
        }

        // A's channel cannot link B's location either.
        let r = server
            .post(
                "/api/v1/channels",
                json!({"code": "A-MALL", "name": "A mall", "kind": "web", "locations": [b.location_id]}),
            )
            .await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        assert_eq!(
            r.body["errors"][0]["field"], "locations[0]",
            "{engine}: {}",
            r.text
        );

        // With data of its own, A still sees only its own.
        for (path, expected) in [
            ("/api/v1/skus", 1),
            ("/api/v1/locations", 1),
            ("/api/v1/movements", 1),
            ("/api/v1/balances", 1),
        ] {
            let r = server.get(path).await;
            let items = r.body["items"].as_array().expect("items");
            assert_eq!(items.len(), expected, "{engine}: {path}: {}", r.text);
            assert!(
                !r.text.contains("B-"),
                "{engine}: {path} shows B: {}",
                r.text
            );
        }

        // Codes and barcodes are unique per tenant, not across tenants.
        let r = server
            .post(
                "/api/v1/skus",
                json!({"code": b.sku_code, "name": "A's own", "barcodes": ["880000000001"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let r = server
            .post(
                "/api/v1/locations",
                json!({"code": b.location_code, "name": "A's own", "kind": "store", "time_zone": "Asia/Seoul"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);

        // B's data is exactly as it was, and B's staff token still works.
        let after = snapshot(&server, &b).await;
        for ((path, was), (_, now)) in before.iter().zip(&after) {
            assert_eq!(was, now, "{engine}: {path} changed");
        }
        let r = server
            .call(Method::GET, "/api/v1/balances", &b.staff_token, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        let mine = &r.body["items"];
        assert_eq!(
            mine.as_array().map(Vec::len),
            Some(2),
            "{engine}: {}",
            r.text
        );
        server.assert_verified().await;
        server.stop().await;
    }
}
