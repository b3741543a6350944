//! Full-server tests of the JSON API over real HTTP on loopback, on both
//! engines.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_through() {
    for server in common::servers("api::walk_through").await {
        let (wh, sku) = server.seed("WH1", "TS-M", 10).await;
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": sku, "quantity": 3}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let r = server
            .post(&format!("/api/v1/reservations/{id}/commit"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let b = server.balance(&sku, &wh).await;
        assert_eq!(
            (
                b["on_hand"].as_i64(),
                b["allocated"].as_i64(),
                b["available"].as_i64()
            ),
            (Some(10), Some(3), Some(7)),
            "{}",
            server.engine
        );
        server.assert_verified().await;
        server.stop().await;
    }
}

/// A request body for [`check_bad_input`]: JSON, or raw bytes with a
/// content type.
enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// One bad request and what the answer must say: the status, the problem
/// code, and the field named (for `invalid_input`) or a fragment of the
/// detail (for the rest).
struct Bad {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Body>,
    status: StatusCode,
    code: &'static str,
    names: &'static str,
}

async fn send(
    server: &common::TestServer,
    method: Method,
    path: &str,
    body: Option<Body>,
) -> common::Reply {
    let mut request = server
        .http
        .request(method, server.url(path))
        .bearer_auth(&server.owner);
    match body {
        Some(Body::Json(v)) => request = request.json(&v),
        Some(Body::Raw(content_type, bytes)) => {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        None => {}
    }
    common::reply(request.send().await.expect("request")).await
}

/// Sends `case` and checks the problem document it gets back.
async fn check_bad_input(server: &common::TestServer, case: Bad) {
    let context = format!("{}: {}", server.engine, case.name);
    let r = send(server, case.method, &case.path, case.body).await;
    common::assert_problem(&r, case.status, case.code, &context);
    if case.code == "invalid_input" {
        let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors.iter().any(|e| e["field"] == case.names),
            "{context}: no error names {:?}: {}",
            case.names,
            r.text
        );
        assert!(
            errors
                .iter()
                .all(|e| e["reason"].as_str().is_some_and(|s| !s.is_empty())),
            "{context}: every error says why: {}",
            r.text
        );
    } else {
        let detail = r.body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains(case.names),
            "{context}: detail does not mention {:?}: {}",
            case.names,
            r.text
        );
    }
}

/// What must not change when a request is refused: every movement, every
/// balance and every SKU.
async fn state(server: &common::TestServer) -> (Vec<Value>, Value, Value) {
    let balances = server.get("/api/v1/balances?limit=500").await.body;
    let skus = server.get("/api/v1/skus?limit=500").await.body;
    (server.all_movements(&server.owner).await, balances, skus)
}

fn movement(sku: &str, location: &str, kind: &str, quantity: i64) -> Value {
    json!({"sku": sku, "location": location, "kind": kind, "quantity": quantity})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing_and_says_what_was_wrong() {
    for server in common::servers("api::bad_input_changes_nothing").await {
        let (wh, sku) = server.seed("WH1", "TS-M", 10).await;
        let before = state(&server).await;
        let json = |v: Value| Some(Body::Json(v));
        let reserve = |lines: Value, ttl: Option<i64>| {
            let mut body = json!({"location": "WH1", "lines": lines});
            if let Some(ttl) = ttl {
                body["ttl_secs"] = json!(ttl);
            }
            Some(Body::Json(body))
        };
        let line = json!({"sku": "TS-M", "quantity": 1});
        let post = Method::POST;
        let m = "/api/v1/movements".to_string();
        let r = "/api/v1/reservations".to_string();
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let cases = vec![
            Bad {
                name: "quantity 0",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "receipt", 0)),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "negative quantity",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "shipment", -3)),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "quantity over the limit",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "receipt", 1_000_000_001)),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "adjustment of 0",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "adjustment", 0)),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "negative count",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "count", -1)),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "unknown kind",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "teleport", 1)),
                status: unprocessable,
                code: "invalid_input",
                names: "kind",
            },
            Bad {
                // A hold is a reservation, not a movement; there is no such kind.
                name: "reserve posted as a movement",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "reserve", 1)),
                status: unprocessable,
                code: "invalid_input",
                names: "kind",
            },
            Bad {
                name: "over-long reason",
                method: post.clone(),
                path: m.clone(),
                body: json(
                    json!({"sku": sku, "location": wh, "kind": "receipt", "quantity": 1, "reason": "r".repeat(501)}),
                ),
                status: unprocessable,
                code: "invalid_input",
                names: "reason",
            },
            Bad {
                name: "unknown sku",
                method: post.clone(),
                path: m.clone(),
                body: json(movement("NO-SUCH-SKU", &wh, "receipt", 1)),
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                names: "NO-SUCH-SKU",
            },
            Bad {
                name: "unknown location",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, "NO-SUCH-WH", "receipt", 1)),
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                names: "NO-SUCH-WH",
            },
            Bad {
                name: "shipment of unallocated stock",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "shipment", 1)),
                status: StatusCode::CONFLICT,
                code: "conflict",
                names: "allocated",
            },
            Bad {
                name: "adjustment beyond stock",
                method: post.clone(),
                path: m.clone(),
                body: json(movement(&sku, &wh, "adjustment", -11)),
                status: StatusCode::CONFLICT,
                code: "insufficient_stock",
                names: "",
            },
            Bad {
                name: "over-long name",
                method: post.clone(),
                path: "/api/v1/skus".into(),
                body: json(json!({"code": "LONG-1", "name": "n".repeat(201)})),
                status: unprocessable,
                code: "invalid_input",
                names: "name",
            },
            Bad {
                name: "over-long code",
                method: post.clone(),
                path: "/api/v1/skus".into(),
                body: json(json!({"code": "C".repeat(65), "name": "x"})),
                status: unprocessable,
                code: "invalid_input",
                names: "code",
            },
            Bad {
                name: "duplicate sku code",
                method: post.clone(),
                path: "/api/v1/skus".into(),
                body: json(json!({"code": "TS-M", "name": "again"})),
                status: StatusCode::CONFLICT,
                code: "duplicate",
                names: "TS-M",
            },
            Bad {
                name: "malformed JSON",
                method: post.clone(),
                path: m.clone(),
                body: Some(Body::Raw(
                    "application/json",
                    br#"{"sku": "TS-M", "#.to_vec(),
                )),
                status: StatusCode::BAD_REQUEST,
                code: "malformed_json",
                names: "",
            },
            Bad {
                name: "unknown field",
                method: post.clone(),
                path: m.clone(),
                body: json(
                    json!({"sku": sku, "location": wh, "kind": "receipt", "quantity": 1, "colour": "red"}),
                ),
                status: unprocessable,
                code: "invalid_input",
                names: "colour",
            },
            Bad {
                name: "wrong type",
                method: post.clone(),
                path: m.clone(),
                body: json(
                    json!({"sku": sku, "location": wh, "kind": "receipt", "quantity": "three"}),
                ),
                status: unprocessable,
                code: "invalid_input",
                names: "quantity",
            },
            Bad {
                name: "wrong content type",
                method: post.clone(),
                path: m.clone(),
                body: Some(Body::Raw(
                    "text/plain",
                    serde_json::to_vec(&movement(&sku, &wh, "receipt", 1)).unwrap(),
                )),
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                names: "application/json",
            },
            Bad {
                name: "body too large",
                method: post.clone(),
                path: m.clone(),
                body: Some(Body::Raw(
                    "application/json",
                    format!(r#"{{"reason": "{}"}}"#, "x".repeat(1024 * 1024 + 1)).into_bytes(),
                )),
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                names: "",
            },
            Bad {
                name: "limit 501",
                method: Method::GET,
                path: "/api/v1/skus?limit=501".into(),
                body: None,
                status: unprocessable,
                code: "invalid_input",
                names: "limit",
            },
            Bad {
                name: "limit 0",
                method: Method::GET,
                path: "/api/v1/movements?limit=0".into(),
                body: None,
                status: unprocessable,
                code: "invalid_input",
                names: "limit",
            },
            Bad {
                name: "bad time",
                method: Method::GET,
                path: "/api/v1/movements?from=yesterday".into(),
                body: None,
                status: unprocessable,
                code: "invalid_input",
                names: "from",
            },
            Bad {
                name: "101 reservation lines",
                method: post.clone(),
                path: r.clone(),
                body: reserve(Value::Array(vec![line.clone(); 101]), None),
                status: unprocessable,
                code: "invalid_input",
                names: "lines",
            },
            Bad {
                name: "no reservation lines",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([]), None),
                status: unprocessable,
                code: "invalid_input",
                names: "lines",
            },
            Bad {
                name: "ttl_secs 0",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([line]), Some(0)),
                status: unprocessable,
                code: "invalid_input",
                names: "ttl_secs",
            },
            Bad {
                name: "ttl_secs over 7 days",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([line]), Some(604_801)),
                status: unprocessable,
                code: "invalid_input",
                names: "ttl_secs",
            },
            Bad {
                name: "reservation quantity 0",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([line, {"sku": "TS-M", "quantity": 0}]), None),
                status: unprocessable,
                code: "invalid_input",
                names: "lines[1].quantity",
            },
            Bad {
                name: "reservation of an unknown sku",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([line, {"sku": "NO-SUCH-SKU", "quantity": 1}]), None),
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                names: "lines[1]",
            },
            Bad {
                name: "reservation beyond stock",
                method: post.clone(),
                path: r.clone(),
                body: reserve(json!([{"sku": "TS-M", "quantity": 11}]), None),
                status: StatusCode::CONFLICT,
                code: "insufficient_stock",
                names: "",
            },
            Bad {
                name: "location and channel",
                method: post.clone(),
                path: r.clone(),
                body: json(json!({"location": "WH1", "channel": "WEB", "lines": [line]})),
                status: unprocessable,
                code: "invalid_input",
                names: "location",
            },
            Bad {
                name: "no such route",
                method: Method::GET,
                path: "/api/v1/nothing-here".into(),
                body: None,
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                names: "",
            },
        ];
        for case in cases {
            check_bad_input(&server, case).await;
        }
        let after = state(&server).await;
        assert_eq!(before.0, after.0, "{}: movements changed", server.engine);
        assert_eq!(before.1, after.1, "{}: balances changed", server.engine);
        assert_eq!(before.2, after.2, "{}: SKUs changed", server.engine);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles() {
    for server in common::servers("api::tokens_and_roles").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 10).await;
        let display = server.token("display").await;
        let staff = server.token("staff").await;
        let manager = server.token("manager").await;
        let receipt = movement(&sku, &wh, "receipt", 1);
        let new_sku = json!({"code": "NEW-1", "name": "new"});
        let new_token = json!({"role": "staff", "name": "till"});

        // Without a valid bearer token nothing is answered but 401.
        let url = server.url("/api/v1/balances");
        for (name, request) in [
            ("no token", server.http.get(&url)),
            ("wrong token", server.http.get(&url).bearer_auth("jg_0000")),
            ("empty token", server.http.get(&url).bearer_auth("")),
            (
                "basic auth",
                server
                    .http
                    .get(&url)
                    .basic_auth("owner", Some(&server.owner)),
            ),
            (
                "no token on a write",
                server
                    .http
                    .post(server.url("/api/v1/movements"))
                    .json(&receipt),
            ),
        ] {
            let r = common::reply(request.send().await.expect("request")).await;
            common::assert_problem(
                &r,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                &format!("{engine}: {name}"),
            );
        }

        // (who, method, path, body, expected status)
        let post = Method::POST;
        let get = Method::GET;
        let cases = [
            (
                "display",
                &display,
                get.clone(),
                "/api/v1/balances",
                None,
                StatusCode::OK,
            ),
            (
                "display",
                &display,
                get.clone(),
                "/api/v1/skus",
                None,
                StatusCode::OK,
            ),
            (
                "display",
                &display,
                post.clone(),
                "/api/v1/movements",
                Some(&receipt),
                StatusCode::FORBIDDEN,
            ),
            (
                "display",
                &display,
                post.clone(),
                "/api/v1/skus",
                Some(&new_sku),
                StatusCode::FORBIDDEN,
            ),
            (
                "display",
                &display,
                get.clone(),
                "/api/v1/tokens",
                None,
                StatusCode::FORBIDDEN,
            ),
            (
                "staff",
                &staff,
                post.clone(),
                "/api/v1/movements",
                Some(&receipt),
                StatusCode::CREATED,
            ),
            (
                "staff",
                &staff,
                post.clone(),
                "/api/v1/skus",
                Some(&new_sku),
                StatusCode::FORBIDDEN,
            ),
            (
                "staff",
                &staff,
                post.clone(),
                "/api/v1/tokens",
                Some(&new_token),
                StatusCode::FORBIDDEN,
            ),
            (
                "manager",
                &manager,
                post.clone(),
                "/api/v1/tokens",
                Some(&new_token),
                StatusCode::FORBIDDEN,
            ),
            (
                "manager",
                &manager,
                post.clone(),
                "/api/v1/skus",
                Some(&new_sku),
                StatusCode::CREATED,
            ),
            (
                "owner",
                &server.owner,
                post.clone(),
                "/api/v1/tokens",
                Some(&new_token),
                StatusCode::CREATED,
            ),
        ];
        for (who, secret, method, path, body, status) in cases {
            let context = format!("{engine}: {who} {method} {path}");
            let r = server.call(method, path, secret, body.cloned()).await;
            if status == StatusCode::FORBIDDEN {
                common::assert_problem(&r, status, "forbidden", &context);
            } else {
                assert_eq!(r.status, status, "{context}: {}", r.text);
            }
        }
        // Only the staff receipt went through: 10 + 1.
        assert_eq!(server.balance(&sku, &wh).await["on_hand"], 11, "{engine}");
        let movements = server.all_movements(&server.owner).await;
        assert!(
            movements.last().expect("movement")["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("token:")),
            "{engine}: the actor is recorded"
        );

        // A revoked token stops working. (This one was never used, so no
        // cache can remember it; a used one is trusted for at most 5 s.)
        let integration = server.token("integration").await;
        let tokens = server.get("/api/v1/tokens").await;
        let id = tokens
            .body
            .as_array()
            .expect("tokens")
            .iter()
            .find(|t| t["role"] == "integration")
            .expect("integration token")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let r = server
            .post(&format!("/api/v1/tokens/{id}/revoke"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        let r = server
            .call(Method::GET, "/api/v1/balances", &integration, None)
            .await;
        common::assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", engine);
        let tokens = server.get("/api/v1/tokens").await;
        assert!(
            tokens
                .body
                .as_array()
                .expect("tokens")
                .iter()
                .any(|t| t["id"] == id.as_str() && t["revoked_at"].is_string()),
            "{engine}: {}",
            tokens.text
        );
        server.stop().await;
    }
}

/// Posts `body` to `path` as the owner with an `Idempotency-Key`.
async fn post_with_key(
    server: &common::TestServer,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> common::Reply {
    let response = server
        .http
        .post(server.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request");
    common::reply(response).await
}

fn replayed(reply: &common::Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys() {
    for server in common::servers("api::idempotency_keys").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 0).await;
        let body = movement(&sku, &wh, "receipt", 5);
        let path = "/api/v1/movements";

        let first = post_with_key(&server, &server.owner, path, "receipt-0001", &body).await;
        assert_eq!(
            first.status,
            StatusCode::CREATED,
            "{engine}: {}",
            first.text
        );
        assert!(
            !replayed(&first),
            "{engine}: the first answer is not a replay"
        );
        assert_eq!(first.body["idempotency_key"], "receipt-0001", "{engine}");
        for _ in 0..2 {
            let again = post_with_key(&server, &server.owner, path, "receipt-0001", &body).await;
            assert_eq!(
                again.status,
                StatusCode::CREATED,
                "{engine}: {}",
                again.text
            );
            assert!(replayed(&again), "{engine}: no Idempotent-Replayed header");
            assert_eq!(again.text, first.text, "{engine}: replayed body");
        }
        let other = movement(&sku, &wh, "receipt", 6);
        let r = post_with_key(&server, &server.owner, path, "receipt-0001", &other).await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_mismatch",
            engine,
        );
        let r = post_with_key(
            &server,
            &server.owner,
            "/api/v1/transfers",
            "receipt-0001",
            &body,
        )
        .await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_mismatch",
            engine,
        );
        let long = "k".repeat(256);
        let r = post_with_key(&server, &server.owner, path, &long, &body).await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        assert_eq!(
            r.body["errors"][0]["field"], "Idempotency-Key",
            "{engine}: {}",
            r.text
        );

        let movements = server.all_movements(&server.owner).await;
        assert_eq!(movements.len(), 1, "{engine}: one movement for one key");
        assert_eq!(movements[0]["id"], first.body["id"], "{engine}");
        assert_eq!(server.balance(&sku, &wh).await["on_hand"], 5, "{engine}");

        // Token creation is never replayed: its secret is shown once and
        // never stored, so the same key makes a second, different token.
        let new_token = json!({"role": "display", "name": "screen"});
        let t1 = post_with_key(
            &server,
            &server.owner,
            "/api/v1/tokens",
            "tok-1",
            &new_token,
        )
        .await;
        let t2 = post_with_key(
            &server,
            &server.owner,
            "/api/v1/tokens",
            "tok-1",
            &new_token,
        )
        .await;
        assert_eq!(
            (t1.status, t2.status),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{engine}: {}",
            t2.text
        );
        assert!(!replayed(&t2), "{engine}: a token answer was replayed");
        assert_ne!(t1.body["token"], t2.body["token"], "{engine}");

        // A refused request is replayed as refused and still changes nothing.
        let short = movement(&sku, &wh, "adjustment", -50);
        let r1 = post_with_key(&server, &server.owner, path, "short-1", &short).await;
        let r2 = post_with_key(&server, &server.owner, path, "short-1", &short).await;
        common::assert_problem(&r1, StatusCode::CONFLICT, "insufficient_stock", engine);
        common::assert_problem(&r2, StatusCode::CONFLICT, "insufficient_stock", engine);
        assert!(replayed(&r2) && r1.text == r2.text, "{engine}: {}", r2.text);

        // Reservations: the retry gets the same reservation, held once.
        let hold = json!({"location": wh, "lines": [{"sku": sku, "quantity": 2}]});
        let r1 = post_with_key(
            &server,
            &server.owner,
            "/api/v1/reservations",
            "cart-7",
            &hold,
        )
        .await;
        let r2 = post_with_key(
            &server,
            &server.owner,
            "/api/v1/reservations",
            "cart-7",
            &hold,
        )
        .await;
        assert_eq!(r1.status, StatusCode::CREATED, "{engine}: {}", r1.text);
        assert_eq!(
            (r2.status, &r2.body["id"]),
            (StatusCode::CREATED, &r1.body["id"]),
            "{engine}: {}",
            r2.text
        );
        assert_eq!(server.balance(&sku, &wh).await["reserved"], 2, "{engine}");

        // Keys belong to a tenant: another tenant's use of the same key
        // with the same body is a new request.
        let tenant = server.store.create_tenant("b").await.expect("tenant");
        let b = server
            .store
            .create_token(tenant, jaego_core::Role::Owner, "b")
            .await
            .expect("token")
            .secret;
        for (path, body) in [
            (
                "/api/v1/locations",
                json!({"code": wh, "name": "b", "kind": "warehouse", "time_zone": "Asia/Seoul"}),
            ),
            ("/api/v1/skus", json!({"code": sku, "name": "b"})),
        ] {
            let r = server.call(Method::POST, path, &b, Some(body)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        }
        let theirs = post_with_key(&server, &b, path, "receipt-0001", &body).await;
        assert_eq!(
            theirs.status,
            StatusCode::CREATED,
            "{engine}: {}",
            theirs.text
        );
        assert!(
            !replayed(&theirs),
            "{engine}: another tenant's key replayed"
        );
        assert_ne!(theirs.body["id"], first.body["id"], "{engine}");
        assert_eq!(server.all_movements(&b).await.len(), 1, "{engine}");
        // The receipt; the reservation is a ledger entry of its own, not a
        // movement.
        assert_eq!(
            server.all_movements(&server.owner).await.len(),
            1,
            "{engine}: the receipt"
        );
        server.assert_verified().await;
        server.stop().await;
    }
}

/// Reads every page of `path` (which has a query already) with `limit`,
/// following `next_cursor`; returns the items and the number of pages.
async fn read_pages(server: &common::TestServer, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    for page in 1..=20 {
        let url = match &after {
            Some(cursor) => format!("{path}&limit={limit}&after={cursor}"),
            None => format!("{path}&limit={limit}"),
        };
        let r = server.get(&url).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}: {url}: {}",
            server.engine,
            r.text
        );
        let got = r.body["items"].as_array().expect("items");
        assert!(
            got.len() <= limit,
            "{}: page longer than limit",
            server.engine
        );
        items.extend(got.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_string()),
            None => return (items, page),
        }
    }
    panic!("{}: {path}: more than 20 pages", server.engine);
}

fn codes(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["code"].as_str().expect("code").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_and_sku_filters() {
    for server in common::servers("api::pagination_and_sku_filters").await {
        let engine = server.engine;
        let mut expected = Vec::new();
        for i in 1..=7 {
            let code = format!("P-{i}");
            let r = server
                .post(
                    "/api/v1/skus",
                    json!({"code": code, "name": format!("plain {i}")}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
            expected.push(code);
        }
        let (items, pages) = read_pages(&server, "/api/v1/skus?", 3).await;
        let mut got = codes(&items);
        assert_eq!(pages, 3, "{engine}: 3 + 3 + 1");
        got.sort();
        assert_eq!(got, expected, "{engine}: every SKU exactly once");
        let (items, _) = read_pages(&server, "/api/v1/skus?", 7).await;
        assert_eq!(items.len(), 7, "{engine}");

        for (code, name, tracked, barcodes, tags) in [
            (
                "TS-M",
                "T-shirt M",
                true,
                vec!["8801000000017"],
                vec!["size:M", "color:red"],
            ),
            (
                "TS_L",
                "T-shirt L",
                true,
                vec!["8801000000024"],
                vec!["size:L", "color:red"],
            ),
            ("MUG-1", "Coffee Mug", false, vec![], vec!["color:blue"]),
        ] {
            let r = server
                .post(
                    "/api/v1/skus",
                    json!({"code": code, "name": name, "tracked": tracked,
                "barcodes": barcodes, "option_tags": tags}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        }
        let check = [
            ("q=t-shirt", vec!["TS-M", "TS_L"]),
            ("q=MUG", vec!["MUG-1"]),
            ("q=coffee%20mug", vec!["MUG-1"]),
            ("q=plain%207", vec!["P-7"]),
            // LIKE wildcards in the text are taken literally.
            ("q=ts_", vec!["TS_L"]),
            ("q=%25", vec![]),
            ("tracked=false", vec!["MUG-1"]),
            ("barcode=8801000000017", vec!["TS-M"]),
            ("barcode=880100000001", vec![]),
            ("tag=size:M", vec!["TS-M"]),
            ("tag=color:red", vec!["TS-M", "TS_L"]),
            ("tag=size", vec![]),
            ("tag=size:_", vec![]),
            ("q=ts&tag=size:L", vec!["TS_L"]),
            ("tracked=false&tag=color:red", vec![]),
        ];
        for (query, want) in check {
            let (items, _) = read_pages(&server, &format!("/api/v1/skus?{query}"), 2).await;
            assert_eq!(codes(&items), want, "{engine}: {query}");
        }
        let (tracked, _) = read_pages(&server, "/api/v1/skus?tracked=true", 500).await;
        assert_eq!(tracked.len(), 9, "{engine}: tracked=true");
        server.stop().await;
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

async fn location(server: &common::TestServer, code: &str, policy: &str) -> String {
    let r = server
        .post(
            "/api/v1/locations",
            json!({"code": code, "name": code, "kind": "store",
            "time_zone": "Asia/Seoul", "policy": policy}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    assert_eq!(r.body["policy"], policy, "{}", server.engine);
    r.body["id"].as_str().expect("id").to_string()
}

/// The (on_hand, reserved, allocated, in_transit, available) of a balance.
async fn figures(server: &common::TestServer, sku: &str, location: &str) -> [i64; 5] {
    let b = server.balance(sku, location).await;
    [
        "on_hand",
        "reserved",
        "allocated",
        "in_transit",
        "available",
    ]
    .map(|f| {
        b[f].as_i64()
            .unwrap_or_else(|| panic!("{}: {f} of {b}", server.engine))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movement_filters() {
    for server in common::servers("api::movement_filters").await {
        let engine = server.engine;
        server.seed("WH1", "A-1", 0).await;
        server.seed("WH2", "B-1", 0).await;
        let mut posted = Vec::new();
        for body in [
            movement("A-1", "WH1", "receipt", 5),
            movement("A-1", "WH2", "receipt", 6),
            movement("B-1", "WH1", "receipt", 7),
            movement("A-1", "WH1", "adjustment", -2),
            movement("B-1", "WH2", "expect", 3),
        ] {
            let r = server.post("/api/v1/movements", body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
            posted.push(r.body);
            // Distinct microsecond timestamps for the time-range cases.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let id = |i: usize| posted[i]["id"].as_str().expect("id").to_string();
        let at = |i: usize| {
            posted[i]["created_at"]
                .as_str()
                .expect("created_at")
                .to_string()
        };
        let wh1 = posted[0]["location_id"]
            .as_str()
            .expect("location")
            .to_string();
        let cases = [
            ("".to_string(), vec![0, 1, 2, 3, 4]),
            ("sku=A-1".to_string(), vec![0, 1, 3]),
            (
                format!("sku={}", posted[2]["sku_id"].as_str().unwrap()),
                vec![2, 4],
            ),
            ("location=WH2".to_string(), vec![1, 4]),
            (format!("location={wh1}"), vec![0, 2, 3]),
            ("sku=A-1&location=WH1".to_string(), vec![0, 3]),
            ("kind=receipt".to_string(), vec![0, 1, 2]),
            ("kind=adjustment".to_string(), vec![3]),
            ("kind=receipt&location=WH1".to_string(), vec![0, 2]),
            ("kind=shipment".to_string(), vec![]),
            (format!("from={}", at(2)), vec![2, 3, 4]),
            (format!("to={}", at(2)), vec![0, 1]),
            (format!("from={}&to={}", at(1), at(3)), vec![1, 2]),
            (format!("from={}&to={}&sku=A-1", at(1), at(4)), vec![1, 3]),
            (
                "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z".to_string(),
                vec![],
            ),
        ];
        for (query, want) in cases {
            let (items, _) = read_pages(&server, &format!("/api/v1/movements?{query}"), 2).await;
            let want: Vec<String> = want.into_iter().map(id).collect();
            assert_eq!(ids(&items), want, "{engine}: {query}");
        }
        let r = server.get(&format!("/api/v1/movements/{}", id(3))).await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(
            (
                r.body["kind"].as_str(),
                r.body["quantity"].as_i64(),
                r.body["delta"]["on_hand"].as_i64()
            ),
            (Some("adjustment"), Some(-2), Some(-2)),
            "{engine}: {}",
            r.text
        );
        let r = server.get("/api/v1/movements?kind=teleport").await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = server.get("/api/v1/movements?sku=NOPE").await;
        common::assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_reservations_fall_back_in_priority_order() {
    for server in common::servers("api::channel_fallback").await {
        let engine = server.engine;
        let (first, sku) = server.seed("ST1", "TS-M", 2).await;
        let (second, _) = server.seed("ST2", "TS-M", 5).await;
        let (third, _) = server.seed("ST3", "TS-M", 100).await;
        let id_of = |code: &str| {
            let code = code.to_string();
            let server = &server;
            async move {
                server.balance("TS-M", &code).await["location_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        };
        let (st1, st2, st3) = (
            id_of(&first).await,
            id_of(&second).await,
            id_of(&third).await,
        );
        let r = server
            .post(
                "/api/v1/channels",
                json!({"code": "MALL", "name": "Mall", "kind": "web",
                "locations": [first, second]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(r.body["locations"], json!([st1, st2]), "{engine}");
        let reserve = |quantity: i64| {
            server.post(
                "/api/v1/reservations",
                json!({"channel": "MALL", "lines": [{"sku": sku, "quantity": quantity}]}),
            )
        };
        // (quantity, where it is held, or None for a shortage)
        for (quantity, at) in [(2, Some(&st1)), (3, Some(&st2)), (1, Some(&st2)), (2, None)] {
            let r = reserve(quantity).await;
            match at {
                Some(location) => {
                    assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
                    assert_eq!(
                        &r.body["lines"][0]["location_id"],
                        location.as_str(),
                        "{engine}: {quantity}: {}",
                        r.text
                    );
                    assert!(r.body["channel_id"].is_string(), "{engine}: {}", r.text);
                }
                None => {
                    // ST2 has the most left (1) of the linked locations; ST3 is not linked.
                    common::assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", engine);
                    let s = &r.body["shortages"][0];
                    assert_eq!(
                        (
                            s["location_id"].as_str(),
                            s["requested"].as_i64(),
                            s["available"].as_i64()
                        ),
                        (Some(st2.as_str()), Some(2), Some(1)),
                        "{engine}: {}",
                        r.text
                    );
                }
            }
        }
        // Relinking changes the order: ST3 first now.
        let r = server
            .call(
                Method::PUT,
                "/api/v1/channels/MALL/locations",
                &server.owner,
                Some(json!({"locations": [third, first]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["locations"], json!([st3, st1]), "{engine}");
        let r = reserve(10).await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(r.body["lines"][0]["location_id"], st3.as_str(), "{engine}");
        assert_eq!(
            figures(&server, &sku, &first).await,
            [2, 2, 0, 0, 0],
            "{engine}: ST1"
        );
        assert_eq!(
            figures(&server, &sku, &second).await,
            [5, 4, 0, 0, 1],
            "{engine}: ST2"
        );
        assert_eq!(
            figures(&server, &sku, &third).await,
            [100, 10, 0, 0, 90],
            "{engine}: ST3"
        );
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_policy_allows_backorders() {
    for server in common::servers("api::unlimited_policy").await {
        let engine = server.engine;
        location(&server, "POPUP", "unlimited").await;
        location(&server, "SHOP", "strict").await;
        let (_, sku) = server.seed("POPUP", "TS-M", 0).await;
        let hold = |at: &str, quantity: i64| json!({"location": at, "lines": [{"sku": sku, "quantity": quantity}]});
        let r = server.post("/api/v1/reservations", hold("POPUP", 5)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(
            figures(&server, &sku, "POPUP").await,
            [0, 5, 0, 0, -5],
            "{engine}"
        );
        let r = server.post("/api/v1/reservations", hold("SHOP", 1)).await;
        common::assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", engine);

        // Back to strict: no more backorders there, and none elsewhere.
        let r = server
            .call(
                Method::PATCH,
                "/api/v1/locations/POPUP",
                &server.owner,
                Some(json!({"policy": "strict"})),
            )
            .await;
        assert_eq!(
            (r.status, r.body["policy"].as_str()),
            (StatusCode::OK, Some("strict")),
            "{engine}: {}",
            r.text
        );
        let r = server.post("/api/v1/reservations", hold("POPUP", 1)).await;
        common::assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", engine);
        assert_eq!(
            r.body["shortages"][0]["available"], -5,
            "{engine}: {}",
            r.text
        );
        // A channel can override its locations' policy.
        let r = server
            .post(
                "/api/v1/channels",
                json!({"code": "PRE", "name": "Pre-order", "kind": "web",
                "policy": "unlimited", "locations": ["SHOP"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"channel": "PRE", "lines": [{"sku": sku, "quantity": 3}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(
            figures(&server, &sku, "SHOP").await,
            [0, 3, 0, 0, -3],
            "{engine}"
        );
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_resolve_exactly_once() {
    for server in common::servers("api::reservations_resolve_exactly_once").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 10).await;
        server.seed("WH1", "TS-L", 10).await;
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "reference": "order-1",
                "lines": [{"sku": sku, "quantity": 5}, {"sku": "TS-L", "quantity": 4}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [10, 5, 0, 0, 5],
            "{engine}"
        );

        // Partial commit: 2 of line 1 become allocated; the rest and line 2 are released.
        let commit = format!("/api/v1/reservations/{id}/commit");
        let r = server
            .post(&commit, json!({"lines": [{"line": 1, "quantity": 9}]}))
            .await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        // Committing an empty list would be a release in disguise.
        let r = server.post(&commit, json!({"lines": []})).await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = server
            .post(&commit, json!({"lines": [{"line": 3, "quantity": 1}]}))
            .await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = server
            .post(&commit, json!({"lines": [{"line": 1, "quantity": 2}]}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["state"], "committed", "{engine}: {}", r.text);
        assert_eq!(
            (
                r.body["lines"][0]["committed"].as_i64(),
                r.body["lines"][1]["committed"].as_i64()
            ),
            (Some(2), Some(0)),
            "{engine}: {}",
            r.text
        );
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [10, 0, 2, 0, 8],
            "{engine}: TS-M"
        );
        assert_eq!(
            figures(&server, "TS-L", &wh).await,
            [10, 0, 0, 0, 10],
            "{engine}: TS-L"
        );
        let (movements, _) =
            read_pages(&server, &format!("/api/v1/movements?reservation={id}"), 50).await;
        let mut kinds: Vec<(String, i64)> = movements
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap().to_string(),
                    m["quantity"].as_i64().unwrap(),
                )
            })
            .collect();
        kinds.sort();
        // The hold itself is the reservation; its movements are its
        // resolution.
        let want = [("commit", 2), ("release", 3), ("release", 4)].map(|(k, q)| (k.to_string(), q));
        assert_eq!(kinds, want, "{engine}: the reservation's movements");

        // Every later resolution is refused and changes nothing.
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": sku, "quantity": 3}]}),
            )
            .await;
        let other = r.body["id"].as_str().unwrap().to_string();
        let release = format!("/api/v1/reservations/{other}/release");
        let r = server.post(&release, json!({})).await;
        assert_eq!(
            (r.status, r.body["state"].as_str()),
            (StatusCode::OK, Some("released")),
            "{engine}: {}",
            r.text
        );
        assert_eq!(r.body["lines"][0]["committed"], 0, "{engine}: {}", r.text);
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [10, 0, 2, 0, 8],
            "{engine}: a release gives the stock back"
        );
        for path in [
            release.clone(),
            format!("/api/v1/reservations/{other}/commit"),
            commit.clone(),
            format!("/api/v1/reservations/{id}/release"),
        ] {
            let r = server.post(&path, json!({})).await;
            common::assert_problem(
                &r,
                StatusCode::CONFLICT,
                "reservation_already_resolved",
                &format!("{engine}: {path}"),
            );
        }
        // An empty body commits everything.
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": sku, "quantity": 1}]}),
            )
            .await;
        let whole = r.body["id"].as_str().unwrap().to_string();
        let response = server
            .http
            .post(server.url(&format!("/api/v1/reservations/{whole}/commit")))
            .bearer_auth(&server.owner)
            .send()
            .await
            .expect("request");
        let r = common::reply(response).await;
        assert_eq!(
            (r.status, r.body["lines"][0]["committed"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{engine}: {}",
            r.text
        );
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [10, 0, 3, 0, 7],
            "{engine}"
        );
        let r = server
            .get(&format!("/api/v1/reservations/{}", uuid::Uuid::now_v7()))
            .await;
        common::assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        let r = server
            .post("/api/v1/reservations/not-an-id/release", json!({}))
            .await;
        common::assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_expire_by_themselves() {
    for server in common::servers("api::reservations_expire").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 4).await;
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "ttl_secs": 1, "lines": [{"sku": sku, "quantity": 3}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [4, 3, 0, 0, 1],
            "{engine}"
        );
        let started = std::time::Instant::now();
        let mut state = String::new();
        // The job runs every 0.5 s, so 1 s of life ends within about 1.5 s.
        while started.elapsed() < std::time::Duration::from_secs(3) {
            let r = server.get(&format!("/api/v1/reservations/{id}")).await;
            state = r.body["state"].as_str().unwrap_or("").to_string();
            if state == "expired" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(state, "expired", "{engine}: after {:?}", started.elapsed());
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [4, 0, 0, 0, 4],
            "{engine}"
        );
        let r = server
            .post(&format!("/api/v1/reservations/{id}/commit"), json!({}))
            .await;
        common::assert_problem(
            &r,
            StatusCode::CONFLICT,
            "reservation_already_resolved",
            engine,
        );
        let (expired, _) = read_pages(
            &server,
            &format!("/api/v1/movements?kind=expire&reservation={id}"),
            10,
        )
        .await;
        assert_eq!(expired.len(), 1, "{engine}");
        assert_eq!(expired[0]["delta"]["reserved"], -3, "{engine}");
        // The stock is there for the next customer.
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": sku, "quantity": 4}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_movements_transfers_and_counts() {
    for server in common::servers("api::custom_transfers_counts").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 10).await;
        location(&server, "ST1", "strict").await;

        // A merchant-defined outbound type.
        let r = server
            .post(
                "/api/v1/movement-types",
                json!({"code": "sample_out", "name": "Samples", "direction": "out"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let r = server
            .post(
                "/api/v1/movement-types",
                json!({"code": "sample_out", "name": "Again", "direction": "in"}),
            )
            .await;
        common::assert_problem(&r, StatusCode::CONFLICT, "duplicate", engine);
        let r = server
            .post(
                "/api/v1/movement-types",
                json!({"code": "gift", "name": "Gift", "direction": "sideways"}),
            )
            .await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = server.get("/api/v1/movement-types").await;
        assert_eq!(
            r.body.as_array().map(Vec::len),
            Some(1),
            "{engine}: {}",
            r.text
        );
        assert_eq!(r.body[0]["direction"], "out", "{engine}: {}", r.text);
        let custom = |ty: Option<&str>, quantity: i64| {
            let mut body = json!({"sku": sku, "location": wh, "kind": "custom", "quantity": quantity, "reason": "photo shoot"});
            if let Some(ty) = ty {
                body["type"] = json!(ty);
            }
            server.post("/api/v1/movements", body)
        };
        let r = custom(Some("sample_out"), 2).await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(
            (
                r.body["kind"].as_str(),
                r.body["type"].as_str(),
                r.body["delta"]["on_hand"].as_i64()
            ),
            (Some("custom_out"), Some("sample_out"), Some(-2)),
            "{engine}: {}",
            r.text
        );
        let r = custom(Some("sample_out"), 9).await;
        common::assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", engine);
        let r = custom(Some("no_such_type"), 1).await;
        common::assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        let r = custom(None, 1).await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [8, 0, 0, 0, 8],
            "{engine}"
        );

        // Transfer out, then receive, exactly once.
        let transfer = |quantity: i64, to: &str| {
            server.post(
                "/api/v1/transfers",
                json!({"sku": sku, "from_location": wh, "to_location": to, "quantity": quantity}),
            )
        };
        let r = transfer(9, "ST1").await;
        common::assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock", engine);
        let r = transfer(1, &wh).await;
        common::assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        let r = transfer(3, "ST1").await;
        assert_eq!(
            (r.status, r.body["state"].as_str()),
            (StatusCode::CREATED, Some("in_transit")),
            "{engine}: {}",
            r.text
        );
        let id = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [5, 0, 0, 0, 5],
            "{engine}: source"
        );
        assert_eq!(
            figures(&server, &sku, "ST1").await,
            [0, 0, 0, 3, 0],
            "{engine}: destination"
        );
        let r = server.get(&format!("/api/v1/transfers/{id}")).await;
        assert_eq!(
            (r.body["state"].as_str(), r.body["received_at"].is_null()),
            (Some("in_transit"), true),
            "{engine}"
        );
        let receive = format!("/api/v1/transfers/{id}/receive");
        let r = server.post(&receive, json!({})).await;
        assert_eq!(
            (r.status, r.body["state"].as_str()),
            (StatusCode::OK, Some("received")),
            "{engine}: {}",
            r.text
        );
        assert!(r.body["received_at"].is_string(), "{engine}: {}", r.text);
        let r = server.post(&receive, json!({})).await;
        common::assert_problem(
            &r,
            StatusCode::CONFLICT,
            "transfer_already_received",
            engine,
        );
        assert_eq!(
            figures(&server, &sku, "ST1").await,
            [3, 0, 0, 0, 3],
            "{engine}: received"
        );
        assert_eq!(
            figures(&server, &sku, &wh).await,
            [5, 0, 0, 0, 5],
            "{engine}: source"
        );

        // A count sets on hand and records the difference.
        for (counted, difference) in [(9, 4), (9, 0), (1, -8)] {
            let r = server
                .post("/api/v1/movements", movement(&sku, &wh, "count", counted))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
            assert_eq!(
                (
                    r.body["quantity"].as_i64(),
                    r.body["delta"]["on_hand"].as_i64()
                ),
                (Some(difference), Some(difference)),
                "{engine}: count {counted}: {}",
                r.text
            );
            assert_eq!(
                figures(&server, &sku, &wh).await[0],
                counted,
                "{engine}: count {counted}"
            );
        }
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi() {
    for server in common::servers("api::health_metrics_and_openapi").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 1).await;
        // A reservation on an idle server is applied without the worker.
        let r = server
            .call(
                reqwest::Method::POST,
                "/api/v1/reservations",
                &server.owner,
                Some(json!({"location": wh, "lines": [{"sku": sku, "quantity": 1}], "reference": "m-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let get = |path: &str| {
            let request = server.http.get(server.url(path));
            async move { common::reply(request.send().await.expect("request")).await }
        };
        let r = get("/healthz").await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        // A wrong method is problem+json too, with the methods allowed.
        let r = server
            .call(reqwest::Method::DELETE, "/api/v1/skus", &server.owner, None)
            .await;
        common::assert_problem(
            &r,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            engine,
        );
        assert!(r.headers.contains_key("allow"), "{engine}: {:?}", r.headers);
        let r = get("/readyz").await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        let r = get("/metrics").await;
        assert_eq!(r.status, StatusCode::OK, "{engine}");
        assert!(
            r.text.contains("jaego_http_requests_total"),
            "{engine}: {}",
            r.text
        );
        assert!(
            r.text.contains(r#"route="/api/v1/movements""#),
            "{engine}: routes are templates: {}",
            r.text
        );
        assert!(
            !r.text.contains("/api/v1/skus/TS-M"),
            "{engine}: raw paths leak into labels"
        );
        for line in [
            r#"jaego_group_commit_requests_total{path="direct"} 1"#,
            r#"jaego_group_commit_requests_total{path="worker"} 0"#,
            "jaego_group_commit_batches_total 0",
        ] {
            assert!(
                r.text.lines().any(|l| l == line),
                "{engine}: no `{line}` in {}",
                r.text
            );
        }
        // The process's own figures, which `jaego bench` reads (Linux only).
        if cfg!(target_os = "linux") {
            for name in [
                "jaego_process_cpu_seconds_total ",
                "jaego_process_resident_memory_bytes ",
                "jaego_process_resident_memory_peak_bytes ",
            ] {
                let value: f64 = r
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("{engine}: no {name} in {}", r.text))
                    .trim()
                    .parse()
                    .expect("a number");
                assert!(value > 0.0, "{engine}: {name} {value}");
            }
        }
        let r = get("/api/openapi.json").await;
        assert_eq!(r.status, StatusCode::OK, "{engine}");
        assert!(
            r.body["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{engine}: {}",
            r.body["openapi"]
        );
        for path in [
            "/api/v1/reservations",
            "/api/v1/reservations/{id}/commit",
            "/api/v1/movements",
            "/api/v1/skus",
        ] {
            assert!(
                r.body["paths"][path].is_object(),
                "{engine}: {path} missing from OpenAPI"
            );
        }
        assert!(
            r.body["components"]["schemas"]["Problem"].is_object(),
            "{engine}"
        );
        server.stop().await;
    }
}
