//! Users, sessions, CSRF, sign-in throttling and the audit log, over real
//! HTTP on both engines.

mod common;

use std::time::Duration;

use common::{Reply, TestServer, assert_problem, reply};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A browser: the session cookie and the CSRF token it was given.
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
}

impl Browser {
    async fn call(
        &self,
        server: &TestServer,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> Reply {
        let mut request = server
            .http
            .request(method, server.url(path))
            .header(header::COOKIE, &self.cookie);
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request")).await
    }
}

async fn create_user(server: &TestServer, login: &str, role: &str) -> Value {
    let r = server
        .post(
            "/api/v1/users",
            json!({"login": login, "name": login, "role": role, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body
}

async fn login_raw(server: &TestServer, login: &str, password: &str) -> Reply {
    let response = server
        .http
        .post(server.url("/auth/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("login");
    reply(response).await
}

async fn login(server: &TestServer, login: &str, password: &str) -> Browser {
    let r = login_raw(server, login, password).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", server.engine, r.text);
    let set_cookie = r
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("Set-Cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert_eq!(
        r.headers
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    Browser {
        cookie: set_cookie.split(';').next().unwrap().to_string(),
        csrf: r.body["csrf_token"]
            .as_str()
            .expect("csrf_token")
            .to_string(),
        user_id: r.body["user"]["id"].as_str().expect("user id").to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sign_in_and_act_through_the_same_api_as_tokens() {
    for server in common::servers("auth::users_sign_in").await {
        let engine = server.engine;
        server.seed("WH1", "TS-M", 10).await;
        let staff = create_user(&server, "Kim@Shop.kr", "staff").await;
        assert_eq!(
            staff["login"], "kim@shop.kr",
            "{engine}: logins are lowercase"
        );
        assert!(staff.get("password").is_none() && staff.get("password_hash").is_none());
        let dup = server
            .post(
                "/api/v1/users",
                json!({"login": "KIM@shop.kr", "name": "x", "role": "staff", "password": PASSWORD}),
            )
            .await;
        assert_problem(&dup, StatusCode::CONFLICT, "duplicate", engine);
        let weak = server
            .post(
                "/api/v1/users",
                json!({"login": "lee", "name": "Lee", "role": "staff", "password": "short"}),
            )
            .await;
        assert_problem(
            &weak,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            engine,
        );
        assert_eq!(weak.body["errors"][0]["field"], "password", "{engine}");

        let kim = login(&server, "KIM@shop.kr", PASSWORD).await;
        let me = kim
            .call(&server, Method::GET, "/auth/session", None, None)
            .await;
        assert_eq!(me.status, StatusCode::OK, "{engine}: {}", me.text);
        assert_eq!(me.body["user"]["role"], "staff");
        assert_eq!(me.body["csrf_token"], kim.csrf.as_str());

        // Reads need no CSRF token.
        let r = kim
            .call(
                &server,
                Method::GET,
                "/api/v1/balances?sku=TS-M",
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        // A change without the token is refused and changes nothing.
        let receipt = json!({"sku": "TS-M", "location": "WH1", "kind": "receipt", "quantity": 5});
        let r = kim
            .call(
                &server,
                Method::POST,
                "/api/v1/movements",
                Some(receipt.clone()),
                None,
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "csrf_failed", engine);
        let r = kim
            .call(
                &server,
                Method::POST,
                "/api/v1/movements",
                Some(receipt.clone()),
                Some("0".repeat(64).as_str()),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "csrf_failed", engine);
        assert_eq!(
            server.balance("TS-M", "WH1").await["on_hand"],
            10,
            "{engine}"
        );
        // With the token it works, and the ledger names the user.
        let r = kim
            .call(
                &server,
                Method::POST,
                "/api/v1/movements",
                Some(receipt.clone()),
                Some(&kim.csrf),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert_eq!(r.body["actor"], format!("user:{}", kim.user_id));
        assert_eq!(
            server.balance("TS-M", "WH1").await["on_hand"],
            15,
            "{engine}"
        );
        // The role still rules: staff may not manage users or read the audit log.
        let r = kim
            .call(
                &server,
                Method::POST,
                "/api/v1/users",
                Some(json!({"login": "x", "name": "x", "role": "owner", "password": PASSWORD})),
                Some(&kim.csrf),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", engine);
        let r = kim
            .call(&server, Method::GET, "/api/v1/audit", None, None)
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", engine);

        // A bearer token wins over a cookie and needs no CSRF token.
        let r = server
            .http
            .post(server.url("/api/v1/movements"))
            .bearer_auth(&server.owner)
            .header(header::COOKIE, &kim.cookie)
            .json(&receipt)
            .send()
            .await
            .unwrap();
        let r = reply(r).await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        assert!(r.body["actor"].as_str().unwrap().starts_with("token:"));

        // Sign-out ends the session and clears the cookie; it needs the token too.
        let r = kim
            .call(&server, Method::POST, "/auth/logout", None, None)
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "csrf_failed", engine);
        let r = kim
            .call(&server, Method::POST, "/auth/logout", None, Some(&kim.csrf))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        assert!(
            r.headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let r = kim
            .call(&server, Method::GET, "/api/v1/balances", None, None)
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", engine);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_carry_the_csrf_token_as_a_field() {
    for server in common::servers("auth::forms").await {
        let engine = server.engine;
        create_user(&server, "park", "manager").await;
        // A form sign-in answers with redirects.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_redirects
            .post(server.url("/auth/login"))
            .form(&[
                ("login", "park"),
                ("password", "wrong password"),
                ("next", "/x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine}");
        assert_eq!(
            r.headers()[header::LOCATION],
            "/login?error=invalid_credentials"
        );
        let r = no_redirects
            .post(server.url("/auth/login"))
            .form(&[
                ("login", "park"),
                ("password", PASSWORD),
                ("next", "//evil.example"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine}");
        assert_eq!(
            r.headers()[header::LOCATION],
            "/",
            "{engine}: no open redirect"
        );
        let cookie = r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let me = reply(
            server
                .http
                .get(server.url("/auth/session"))
                .header(header::COOKIE, &cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let csrf = me.body["csrf_token"].as_str().unwrap().to_string();
        let wrong = no_redirects
            .post(server.url("/auth/logout"))
            .header(header::COOKIE, &cookie)
            .form(&[("csrf_token", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{engine}");
        let right = no_redirects
            .post(server.url("/auth/logout"))
            .header(header::COOKIE, &cookie)
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), StatusCode::SEE_OTHER, "{engine}");
        assert_eq!(right.headers()[header::LOCATION], "/login");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_disable_users_reset_passwords_and_revoke_sessions() {
    for server in common::servers("auth::owner_controls").await {
        let engine = server.engine;
        let user = create_user(&server, "choi", "manager").await;
        let id = user["id"].as_str().unwrap().to_string();
        let first = login(&server, "choi", PASSWORD).await;
        let second = login(&server, "choi", PASSWORD).await;

        let sessions = server.get(&format!("/api/v1/sessions?user={id}")).await;
        assert_eq!(
            sessions.status,
            StatusCode::OK,
            "{engine}: {}",
            sessions.text
        );
        let listed = sessions.body["items"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{engine}: {}", sessions.text);
        assert!(
            !sessions.text.contains(&first.cookie[14..]),
            "no secrets listed"
        );

        // Revoking one session ends it alone.
        let first_id = listed[0]["id"].as_str().unwrap();
        let r = server
            .post(&format!("/api/v1/sessions/{first_id}/revoke"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        let r = first
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{engine}");
        let r = second
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}");

        // A password reset ends every session; the old password stops working.
        let r = server
            .post(
                &format!("/api/v1/users/{id}/password"),
                json!({"password": "a brand new passphrase"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        let r = second
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{engine}");
        let r = login_raw(&server, "choi", PASSWORD).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", engine);
        let third = login(&server, "choi", "a brand new passphrase").await;

        // Disabling ends the session and refuses sign-in; enabling restores sign-in.
        let r = server
            .post(&format!("/api/v1/users/{id}/disable"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert!(r.body["disabled_at"].is_string());
        let r = third
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{engine}");
        let r = login_raw(&server, "choi", "a brand new passphrase").await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", engine);
        let r = server
            .post(&format!("/api/v1/users/{id}/enable"), json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        login(&server, "choi", "a brand new passphrase").await;

        // Other tenants see none of it.
        let other = server.store.create_tenant("other").await.unwrap();
        let other_owner = server
            .store
            .create_token(other, jaego_core::Role::Owner, "o")
            .await
            .unwrap()
            .secret;
        for path in [
            format!("/api/v1/users/{id}"),
            format!("/api/v1/users/{id}/disable"),
            format!("/api/v1/sessions/{first_id}/revoke"),
        ] {
            let method = if path.ends_with("disable") || path.ends_with("revoke") {
                Method::POST
            } else {
                Method::GET
            };
            let r = server.call(method, &path, &other_owner, None).await;
            assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        }
        let r = server
            .call(Method::GET, "/api/v1/users", &other_owner, None)
            .await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 0, "{engine}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_account() {
    for server in common::servers("auth::rate_limit").await {
        let engine = server.engine;
        create_user(&server, "jung", "staff").await;
        let max = jaego_core::limits::LOGIN_ATTEMPTS_PER_ACCOUNT_MAX;
        for _ in 0..max {
            let r = login_raw(&server, "jung", "not the password").await;
            assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", engine);
        }
        // Beyond the limit even the right password waits, with Retry-After.
        for password in ["not the password", PASSWORD] {
            let r = login_raw(&server, "JUNG", password).await;
            assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited", engine);
            let retry: i64 = r.headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (1..=jaego_core::limits::LOGIN_WINDOW_SECS).contains(&retry),
                "{retry}"
            );
        }
        // Another account from the same address is not locked out by it.
        create_user(&server, "seo", "staff").await;
        login(&server, "seo", PASSWORD).await;
        // An unknown account is refused like a wrong password.
        let r = login_raw(&server, "nobody", PASSWORD).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials", engine);

        // The owner sees the guesses in the audit log.
        let r = server
            .get("/api/v1/audit?route=/auth/login&refused=true&limit=500")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        let entries = r.body["items"].as_array().unwrap();
        let limited = entries
            .iter()
            .filter(|e| e["outcome"] == "rate_limited")
            .count();
        let wrong = entries
            .iter()
            .filter(|e| e["outcome"] == "invalid_credentials")
            .count();
        assert_eq!((wrong, limited), (max as usize, 2), "{engine}: {}", r.text);
        assert!(entries.iter().all(|e| e["actor"] == "login:jung"));
        assert!(!r.text.contains(PASSWORD) && !r.text.contains("not the password"));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_and_at_their_absolute_end() {
    let idle = jaego_server::ServerConfig {
        session_idle: Duration::from_millis(600),
        ..Default::default()
    };
    for server in common::servers_configured("auth::idle", idle).await {
        create_user(&server, "han", "staff").await;
        let b = login(&server, "han", PASSWORD).await;
        let r = b
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", server.engine);
        tokio::time::sleep(Duration::from_millis(900)).await;
        let r = b
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{}: idle",
            server.engine
        );
        server.stop().await;
    }
    let absolute = jaego_server::ServerConfig {
        session_absolute: Duration::from_millis(600),
        ..Default::default()
    };
    for server in common::servers_configured("auth::absolute", absolute).await {
        create_user(&server, "han", "staff").await;
        let b = login(&server, "han", PASSWORD).await;
        for _ in 0..3 {
            let r = b
                .call(&server, Method::GET, "/api/v1/skus", None, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", server.engine);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let r = b
            .call(&server, Method::GET, "/api/v1/skus", None, None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{}: absolute",
            server.engine
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_every_change_and_every_refusal() {
    for server in common::servers("auth::audit").await {
        let engine = server.engine;
        server.seed("WH1", "TS-M", 10).await;
        let staff_token = server
            .post("/api/v1/tokens", json!({"role": "staff", "name": "till"}))
            .await;
        let staff_secret = staff_token.body["token"].as_str().unwrap().to_string();
        let staff_id = staff_token.body["id"].as_str().unwrap().to_string();
        let manager = create_user(&server, "mgr", "manager").await;
        let mgr = login(&server, "mgr", PASSWORD).await;

        // A success by the staff token, with a request id of ours.
        let r = server
            .http
            .post(server.url("/api/v1/reservations"))
            .bearer_auth(&staff_secret)
            .header("x-request-id", "till-7-req-1")
            .json(&json!({"location": "WH1", "lines": [{"sku": "TS-M", "quantity": 2}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "till-7-req-1");
        let r = reply(r).await;
        assert_eq!(r.status, StatusCode::CREATED, "{engine}: {}", r.text);
        let reservation = r.body["id"].as_str().unwrap().to_string();
        let r = server
            .call(
                Method::POST,
                &format!("/api/v1/reservations/{reservation}/commit"),
                &staff_secret,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        // A refused owner-only attempt by the staff token.
        let r = server
            .call(
                Method::POST,
                "/api/v1/tokens",
                &staff_secret,
                Some(json!({"role": "owner", "name": "escalate"})),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", engine);
        // A failed request that is not a refusal (409) is not an audit event.
        let r = server
            .call(
                Method::POST,
                &format!("/api/v1/reservations/{reservation}/commit"),
                &staff_secret,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{engine}");
        // Reads are not audited.
        server.get("/api/v1/skus").await;

        let log = mgr
            .call(
                &server,
                Method::GET,
                &format!("/api/v1/audit?actor=token:{staff_id}"),
                None,
                None,
            )
            .await;
        assert_eq!(log.status, StatusCode::OK, "{engine}: {}", log.text);
        let entries = log.body["items"].as_array().unwrap();
        let summary: Vec<(String, String, u64, String)> = entries
            .iter()
            .map(|e| {
                (
                    e["method"].as_str().unwrap().to_string(),
                    e["route"].as_str().unwrap().to_string(),
                    e["status"].as_u64().unwrap(),
                    e["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String, u64, String)> = [
            ("POST", "/api/v1/tokens", 403, "forbidden"),
            ("POST", "/api/v1/reservations/{id}/commit", 200, ""),
            ("POST", "/api/v1/reservations", 201, ""),
        ]
        .into_iter()
        .map(|(m, r, s, o)| (m.to_string(), r.to_string(), s, o.to_string()))
        .collect();
        assert_eq!(summary, expected, "{engine}: newest first: {}", log.text);
        let created = &entries[2];
        assert_eq!(created["target_ids"], json!([reservation]), "{engine}");
        assert_eq!(created["request_id"], "till-7-req-1");
        assert_eq!(created["role"], "staff");
        assert_eq!(created["token_id"], staff_id.as_str());
        assert_eq!(created["client_addr"], "127.0.0.1");
        assert_eq!(entries[1]["target_ids"], json!([reservation]), "{engine}");

        // Filters: by target, by route, refused only; paging newest first.
        let by_target = server
            .get(&format!("/api/v1/audit?target={reservation}"))
            .await;
        assert_eq!(
            by_target.body["items"].as_array().unwrap().len(),
            2,
            "{engine}"
        );
        let refused = server.get("/api/v1/audit?refused=true").await;
        assert_eq!(
            refused.body["items"].as_array().unwrap().len(),
            1,
            "{engine}"
        );
        let page1 = server.get("/api/v1/audit?limit=2").await;
        let cursor = page1.body["next_cursor"].as_str().unwrap().to_string();
        let page2 = server
            .get(&format!("/api/v1/audit?limit=2&after={cursor}"))
            .await;
        let first_ids: Vec<&str> = page1.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let second_ids: Vec<&str> = page2.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert!(first_ids[1] > second_ids[0], "{engine}: newest first");

        // User creation and sign-in are audited, without passwords or secrets.
        let all = server.get("/api/v1/audit?limit=500").await;
        let login_entry = all.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["route"] == "/auth/login" && e["outcome"] == "")
            .expect("sign-in entry");
        assert_eq!(
            login_entry["actor"],
            format!("user:{}", manager["id"].as_str().unwrap())
        );
        assert!(login_entry["session_id"].is_string());
        assert!(
            !all.text.contains(PASSWORD),
            "{engine}: password in the audit log"
        );
        assert!(
            !all.text.contains(&staff_secret),
            "{engine}: token in the audit log"
        );
        assert!(
            !all.text.contains(&server.owner),
            "{engine}: token in the audit log"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_is_refused_before_parsing() {
    for server in common::servers("auth::json_depth").await {
        let engine = server.engine;
        let depth = jaego_core::limits::JSON_DEPTH_MAX + 1;
        let body = format!(
            "{{\"sku\": \"x\", \"location\": \"y\", \"kind\": \"receipt\", \"quantity\": 1, \"reason\": {}1{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = reply(
            server
                .http
                .post(server.url("/api/v1/movements"))
                .bearer_auth(&server.owner)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "malformed_json", engine);
        assert!(r.text.contains("deep"), "{engine}: {}", r.text);
        // A huge depth is refused just the same, quickly and without a crash.
        let body = "[".repeat(1_000_000);
        let r = reply(
            server
                .http
                .post(server.url("/api/v1/skus"))
                .bearer_auth(&server.owner)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "malformed_json", engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookies_and_per_address_limits() {
    let secure = jaego_server::ServerConfig {
        cookie_secure: true,
        ..Default::default()
    };
    for server in common::servers_configured("auth::secure_cookie", secure).await {
        create_user(&server, "yoon", "display").await;
        let r = login_raw(&server, "yoon", PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let set_cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(
            set_cookie.starts_with("__Host-jaego_session=js_"),
            "{set_cookie}"
        );
        assert!(
            set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap();
        let me = reply(
            server
                .http
                .get(server.url("/auth/session"))
                .header(header::COOKIE, cookie)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);

        // The address counter is shared by every account tried from it;
        // counted in the database, so every instance sees the same count.
        let window_us = 60_000_000;
        for _ in 0..3 {
            let counted = server
                .store
                .count_login_attempt(&[("addr:192.0.2.7", 3)], window_us)
                .await
                .unwrap();
            assert_eq!(counted, Ok(()), "{}", server.engine);
        }
        let counted = server
            .store
            .count_login_attempt(&[("login:a", 10), ("addr:192.0.2.7", 3)], window_us)
            .await
            .unwrap();
        assert!(
            matches!(counted, Err(secs) if (1..=60).contains(&secs)),
            "{counted:?}"
        );
        // Another address is not affected.
        let counted = server
            .store
            .count_login_attempt(&[("addr:192.0.2.8", 3)], window_us)
            .await
            .unwrap();
        assert_eq!(counted, Ok(()));
        server.stop().await;
    }
}
