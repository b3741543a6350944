//! The access-control matrix, generated from the OpenAPI document (which
//! `utoipa_axum` builds from the same list as the router): every operation
//! × every role × own/other tenant, plus one call with no credentials.
//!
//! Each operation names its permission as its bearer scope; `Role::allows`
//! says which roles hold it. Expected:
//!
//! | caller                          | expected |
//! |---------------------------------|----------|
//! | no token                        | 401 |
//! | role without the permission     | 403, own tenant or other |
//! | role with it, own tenant        | 2xx |
//! | role with it, other tenant, the call names the target's resources | 404 (422 where a route validates names in its body as input: `labels.pdf`) |
//! | role with it, other tenant, the call names nothing (a list, a create) | 2xx, and none of the target tenant's ids in the answer |
//!
//! A route added without a fixture in [`prepare`] fails this test with
//! "no fixture for METHOD PATH": add one that builds a call that succeeds
//! for an allowed role of the tenant `t` (creating what it needs with
//! `t.owner`), and say whether the call names `t`'s resources.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use jaego_core::Role;
use jaego_core::role::Permission;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// A tenant with a token per role and a few resources to aim at.
struct Tenant {
    label: &'static str,
    owner: String,
    tokens: BTreeMap<&'static str, String>,
    sku_id: String,
    location_id: String,
    location2_id: String,
    channel_id: String,
    product_id: String,
    spare_token_id: String,
    template_id: String,
    rule_id: String,
    expected_receipt_id: String,
    user_id: String,
    session_id: String,
    webhook_id: String,
    /// Every id above: none may show up in another tenant's answers.
    ids: Vec<String>,
}

/// One request to make.
struct Call {
    path: String,
    body: Option<Body>,
    /// The call names resources of the target tenant (in its path, query or
    /// body), so another tenant must get 404.
    names_target: bool,
    /// What another tenant gets instead of 404, where the route validates
    /// the names in its body as input (labels.pdf answers `422
    /// invalid_input` naming the unknown SKU). Never a 2xx.
    other_status: StatusCode,
}

enum Body {
    Json(Value),
    Csv(String),
}

fn call(path: impl Into<String>, body: Option<Value>, names_target: bool) -> Call {
    Call {
        path: path.into(),
        body: body.map(Body::Json),
        names_target,
        other_status: StatusCode::NOT_FOUND,
    }
}

async fn ok(server: &TestServer, token: &str, method: Method, path: &str, body: Value) -> Value {
    let r = server.call(method.clone(), path, token, Some(body)).await;
    assert!(
        r.status.is_success(),
        "{}: setup {method} {path}: {} {}",
        server.engine,
        r.status,
        r.text
    );
    r.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn tenant(server: &TestServer, label: &'static str, owner: String) -> Tenant {
    let post = |path: &'static str, body: Value| {
        let owner = owner.clone();
        async move { ok(server, &owner, Method::POST, path, body).await }
    };
    let location = post(
        "/api/v1/locations",
        json!({"code": "L1", "name": "L1", "kind": "warehouse", "time_zone": "Asia/Seoul"}),
    )
    .await;
    let location2 = post(
        "/api/v1/locations",
        json!({"code": "L2", "name": "L2", "kind": "store", "time_zone": "Asia/Seoul"}),
    )
    .await;
    let product = post("/api/v1/products", json!({"code": "P1", "name": "P1"})).await;
    let sku = post(
        "/api/v1/skus",
        json!({"code": "S1", "name": "S1", "product_id": id(&product)}),
    )
    .await;
    let channel = post(
        "/api/v1/channels",
        json!({"code": "C1", "name": "C1", "kind": "web", "locations": [id(&location)]}),
    )
    .await;
    post(
        "/api/v1/movement-types",
        json!({"code": "gift", "name": "gift", "direction": "out"}),
    )
    .await;
    post("/api/v1/movements", json!({"sku": id(&sku), "location": id(&location), "kind": "receipt", "quantity": 1_000_000})).await;
    let mut tokens = BTreeMap::new();
    for role in Role::ALL {
        let t = post(
            "/api/v1/tokens",
            json!({"role": role.as_str(), "name": role.as_str()}),
        )
        .await;
        tokens.insert(role.as_str(), t["token"].as_str().unwrap().to_string());
    }
    let template = post(
        "/api/v1/label-templates",
        json!({"code": "TPL", "name": "TPL", "size": "roll-50x30"}),
    )
    .await;
    let rule = post(
        "/api/v1/low-stock/rules",
        json!({"sku": id(&sku), "threshold": 5, "actions": ["event"]}),
    )
    .await;
    let expected = post(
        "/api/v1/expected-receipts",
        json!({"sku": id(&sku), "location": id(&location), "quantity": 5, "due_on": "2030-01-01"}),
    )
    .await;
    ok(
        server,
        &owner,
        Method::PUT,
        &format!("/api/v1/table-order/{}/menu/{}", id(&location2), id(&sku)),
        json!({"initial_count": 1_000_000, "current_count": 1_000_000}),
    )
    .await;
    let spare = post(
        "/api/v1/tokens",
        json!({"role": "display", "name": "spare"}),
    )
    .await;
    let login = format!("user-{label}");
    let user = post(
        "/api/v1/users",
        json!({"login": login, "name": label, "role": "staff", "password": "matrix password 1"}),
    )
    .await;
    let session = server
        .http
        .post(server.url("/auth/login"))
        .json(&json!({"login": login, "password": "matrix password 1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // Active, aimed at a closed loopback port, for a kind that never
    // happens: the server's own delivery has nothing to send it.
    let webhook = post(
        "/api/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/matrix", "kinds": ["matrix.none"]}),
    )
    .await;
    let mut t = Tenant {
        label,
        owner: owner.clone(),
        tokens,
        sku_id: id(&sku),
        location_id: id(&location),
        location2_id: id(&location2),
        channel_id: id(&channel),
        product_id: id(&product),
        spare_token_id: id(&spare),
        template_id: id(&template),
        rule_id: id(&rule),
        expected_receipt_id: id(&expected),
        user_id: id(&user),
        session_id: session["session_id"].as_str().unwrap().to_string(),
        webhook_id: id(&webhook),
        ids: Vec::new(),
    };
    t.ids = vec![
        t.sku_id.clone(),
        t.location_id.clone(),
        t.location2_id.clone(),
        t.channel_id.clone(),
        t.product_id.clone(),
        t.spare_token_id.clone(),
        t.template_id.clone(),
        t.rule_id.clone(),
        t.expected_receipt_id.clone(),
        t.user_id.clone(),
        t.session_id.clone(),
        t.webhook_id.clone(),
    ];
    t
}

/// Parks a dead letter on `webhook` through the store, as the delivery
/// worker would after too many failures, and returns its id.
async fn dead_letter(server: &TestServer, owner: &str, webhook: &str) -> String {
    use jaego_store::webhooks::{AfterAttempt, AttemptOutcome, Parked};
    let id: jaego_core::WebhookId = webhook.parse().unwrap();
    let holder = "access-matrix";
    let endpoint = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let now = jaego_store::now_us();
            // The server's own worker may hold the endpoint for a moment.
            if let Some(w) = server
                .store
                .claim_webhook(id, holder, now, now + 60_000_000)
                .await
                .unwrap()
            {
                return w;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the matrix endpoint could be claimed");
    let outcome = AttemptOutcome {
        seq: endpoint.cursor_seq,
        kind: "matrix.test".into(),
        status: Some(500),
        latency_us: 1,
        error: Some("HTTP 500".into()),
    };
    let parked = AfterAttempt::Park(Parked {
        body: "{}".into(),
        sku_id: None,
        location_id: None,
        channel_id: None,
    });
    assert!(
        server
            .store
            .record_attempt(&endpoint, holder, &outcome, &parked)
            .await
            .unwrap()
    );
    server.store.release_webhook(id, holder).await.unwrap();
    let list = ok(
        server,
        owner,
        Method::GET,
        &format!("/api/v1/webhooks/{webhook}/dead-letters?limit=500"),
        Value::Null,
    )
    .await;
    id_of_last(&list)
}

fn id_of_last(page: &Value) -> String {
    let items = page["items"].as_array().expect("items");
    id(items.last().expect("a dead letter"))
}

/// A call of `method template` aimed at tenant `t` that an allowed role of
/// `t` gets a 2xx for. `n` makes codes unique.
async fn prepare(
    server: &TestServer,
    method: &str,
    template: &str,
    t: &Tenant,
    n: usize,
) -> Option<Call> {
    let o = &t.owner;
    let reserve = || async {
        let r = ok(
            server,
            o,
            Method::POST,
            "/api/v1/reservations",
            json!({"location": t.location_id, "lines": [{"sku": t.sku_id, "quantity": 1}]}),
        )
        .await;
        id(&r)
    };
    let transfer = || async {
        let r = ok(server, o, Method::POST, "/api/v1/transfers", json!({"sku": t.sku_id, "from_location": t.location_id, "to_location": t.location2_id, "quantity": 1})).await;
        id(&r)
    };
    // An order of `units` of S1 on C1, collected with the owner token.
    let order_of = |n: usize, tag: &'static str, units: i64| async move {
        let r = ok(
            server,
            o,
            Method::POST,
            &format!("/api/v1/channels/{}/orders", t.channel_id),
            json!({"order_no": format!("{tag}{n}"), "customer": {"name": "k", "address": "a"},
                   "lines": [{"sku": t.sku_id, "quantity": units}]}),
        )
        .await;
        id(&r["order"])
    };
    let order = |n: usize, tag: &'static str| order_of(n, tag, 1);
    // A pickup request at the store L2 for one S1; `stage` 0: requested,
    // 1: received, 2: received with the slip, receipt and unit scanned out.
    let pickup = |n: usize, tag: &'static str, stage: u8| async move {
        let no = format!("{tag}{n}");
        ok(
            server,
            o,
            Method::POST,
            &format!("/api/v1/channels/{}/orders", t.channel_id),
            json!({"order_no": no, "customer": {"name": "k"}, "pickup_location": t.location2_id,
                   "lines": [{"sku": t.sku_id, "quantity": 1}]}),
        )
        .await;
        server
            .store
            .pickup_intake(jaego_store::now_us())
            .await
            .unwrap();
        let list = ok(
            server,
            o,
            Method::GET,
            &format!("/api/v1/pickups?order_no={no}"),
            json!(null),
        )
        .await;
        let p = list["items"][0].clone();
        let pid = p["id"].as_str().expect("a pickup request").to_string();
        let mut scans = Vec::new();
        if stage >= 1 {
            // Other fixtures sell and reset L2's stock: bring the unit in.
            ok(server, o, Method::POST, "/api/v1/movements",
               json!({"sku": t.sku_id, "location": t.location2_id, "kind": "receipt", "quantity": 1})).await;
            scans.push(("reception", "S1".to_string()));
        }
        if stage >= 2 {
            scans.push(("completion", no.clone()));
            scans.push((
                "completion",
                p["receipt_code"].as_str().unwrap().to_string(),
            ));
            scans.push(("completion", "S1".to_string()));
        }
        for (phase, code) in scans {
            ok(
                server,
                o,
                Method::POST,
                &format!("/api/v1/pickups/{pid}/{phase}-scans"),
                json!({"code": code}),
            )
            .await;
        }
        pid
    };
    let allocated = |n: usize, tag: &'static str| async move {
        let o_id = order_of(n, tag, 1).await;
        ok(
            server,
            o,
            Method::POST,
            "/api/v1/allocation-runs",
            json!({"orders": [o_id]}),
        )
        .await;
        o_id
    };
    let shipped = |n: usize, tag: &'static str| async move {
        let o_id = allocated(n, tag).await;
        ok(
            server,
            o,
            Method::POST,
            &format!("/api/v1/orders/{o_id}/ship"),
            json!({"lines": [{"line": 1, "location": t.location_id, "quantity": 1}]}),
        )
        .await;
        o_id
    };
    // A fresh bundle of S1 (codes unique per call: fixtures run per cell).
    let bundle = || async {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = ok(
            server,
            o,
            Method::POST,
            "/api/v1/bundles",
            json!({"code": format!("BX{k}"), "name": "b", "components": [{"sku": t.sku_id, "quantity": 2}]}),
        )
        .await;
        id(&r["sku"])
    };
    let catalog = |suffix: &str| format!("/api/v1/channels/{}/catalog{suffix}", t.channel_id);
    // An open shipment of one unit of S1 (allocated order `tag n`):
    // (id, code).
    let shipment = |n: usize, tag: &'static str| async move {
        let o_id = allocated(n, tag).await;
        let made = ok(
            server,
            o,
            Method::POST,
            &format!("/api/v1/orders/{o_id}/shipments"),
            json!({}),
        )
        .await;
        id(&made[0])
    };
    // A courier of the tenant, made for this call: its code.
    let courier = |n: usize, tag: &'static str| async move {
        let code = format!("{tag}{n}");
        ok(
            server,
            o,
            Method::POST,
            "/api/v1/couriers",
            json!({"code": code, "name": "courier"}),
        )
        .await;
        code
    };
    // A shipment with a tracking number unique to the tenant and call.
    let tracked = |n: usize, tag: &'static str| async move {
        let s = shipment(n, tag).await;
        let tracking = format!("TRK{}{tag}{n}", t.label.to_uppercase());
        ok(
            server,
            o,
            Method::PUT,
            &format!("/api/v1/shipments/{s}/tracking"),
            json!({"courier": courier(n, tag).await, "tracking_no": tracking}),
        )
        .await;
        (s, tracking)
    };
    Some(match (method, template) {
        ("post", "/api/v1/bundles") => Call {
            path: "/api/v1/bundles".into(),
            body: Some(Body::Json(
                json!({"code": format!("BN{n}-{}", bundle().await), "name": "b", "components": [{"sku": t.sku_id, "quantity": 1}]}),
            )),
            names_target: true,
            // Another tenant's SKU is an unknown component: bad input.
            other_status: StatusCode::UNPROCESSABLE_ENTITY,
        },
        ("get", "/api/v1/bundles/{sku}") => {
            call(format!("/api/v1/bundles/{}", bundle().await), None, true)
        }
        ("get", "/api/v1/bundles/{sku}/stock") => call(
            format!("/api/v1/bundles/{}/stock", bundle().await),
            None,
            true,
        ),
        ("put", "/api/v1/bundles/{sku}/components") => call(
            format!("/api/v1/bundles/{}/components", bundle().await),
            Some(json!({"components": [{"sku": t.sku_id, "quantity": 3}]})),
            true,
        ),
        ("get", "/api/v1/channels/{channel}/catalog/settings") => {
            call(catalog("/settings"), None, true)
        }
        ("put", "/api/v1/channels/{channel}/catalog/settings") => call(
            catalog("/settings"),
            Some(json!({"sync_mode": "manual"})),
            true,
        ),
        ("post", "/api/v1/channels/{channel}/catalog") => call(
            catalog(""),
            Some(json!({"products": [{"item_code": format!("I{n}"), "name": "i"}]})),
            true,
        ),
        ("post", "/api/v1/channels/{channel}/catalog/import") => Call {
            path: catalog("/import"),
            body: Some(Body::Csv(
                "item_code,name
I1,i
"
                .into(),
            )),
            names_target: true,
            other_status: StatusCode::NOT_FOUND,
        },
        ("post", "/api/v1/channels/{channel}/catalog/apply") => call(catalog("/apply"), None, true),
        ("get", "/api/v1/channels/{channel}/catalog/products") => {
            call(catalog("/products"), None, true)
        }
        ("get", "/api/v1/channels/{channel}/catalog/exclusions") => {
            call(catalog("/exclusions"), None, true)
        }
        ("get", "/api/v1/channels/{channel}/catalog/reports") => {
            call(catalog("/reports"), None, true)
        }
        ("put", "/api/v1/channels/{channel}/catalog/exclusions/{item_code}") => call(
            catalog(&format!("/exclusions/X{n}")),
            Some(json!({"note": "n"})),
            true,
        ),
        ("delete", "/api/v1/channels/{channel}/catalog/exclusions/{item_code}") => {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ok(
                server,
                o,
                Method::PUT,
                &catalog(&format!("/exclusions/D{k}")),
                json!({}),
            )
            .await;
            call(catalog(&format!("/exclusions/D{k}")), None, true)
        }
        ("get", "/api/v1/audit") => call("/api/v1/audit", None, false),
        ("get", "/api/v1/balances") => call("/api/v1/balances", None, false),
        ("post", "/api/v1/channels") => call(
            "/api/v1/channels",
            Some(json!({"code": format!("c{n}"), "name": "c", "kind": "web"})),
            false,
        ),
        ("get", "/api/v1/channels") => call("/api/v1/channels", None, false),
        ("get", "/api/v1/channels/{channel}") => {
            call(format!("/api/v1/channels/{}", t.channel_id), None, true)
        }
        ("put", "/api/v1/channels/{channel}/locations") => call(
            format!("/api/v1/channels/{}/locations", t.channel_id),
            Some(json!({"locations": [t.location_id]})),
            true,
        ),
        ("post", "/api/v1/locations") => call(
            "/api/v1/locations",
            Some(
                json!({"code": format!("l{n}"), "name": "l", "kind": "store", "time_zone": "Europe/London"}),
            ),
            false,
        ),
        ("get", "/api/v1/locations") => call("/api/v1/locations", None, false),
        ("get", "/api/v1/locations/{location}") => {
            call(format!("/api/v1/locations/{}", t.location_id), None, true)
        }
        ("patch", "/api/v1/locations/{location}") => call(
            format!("/api/v1/locations/{}", t.location2_id),
            Some(json!({"policy": "strict"})),
            true,
        ),
        ("get", "/api/v1/locations/{location}/stock.csv") => call(
            format!("/api/v1/locations/{}/stock.csv", t.location_id),
            None,
            true,
        ),
        ("post", "/api/v1/locations/{location}/stock/import") => Call {
            path: format!("/api/v1/locations/{}/stock/import", t.location2_id),
            body: Some(Body::Csv("sku_code,counted\nS1,5\n".into())),
            names_target: true,
            other_status: StatusCode::NOT_FOUND,
        },
        ("post", "/api/v1/movement-types") => call(
            "/api/v1/movement-types",
            Some(json!({"code": format!("t{n}"), "name": "t", "direction": "in"})),
            false,
        ),
        ("get", "/api/v1/movement-types") => call("/api/v1/movement-types", None, false),
        ("get", "/api/v1/movements") => call("/api/v1/movements", None, false),
        ("post", "/api/v1/movements") => call(
            "/api/v1/movements",
            Some(
                json!({"sku": t.sku_id, "location": t.location_id, "kind": "receipt", "quantity": 1}),
            ),
            true,
        ),
        ("get", "/api/v1/movements/{id}") => {
            let m = ok(server, o, Method::POST, "/api/v1/movements", json!({"sku": t.sku_id, "location": t.location_id, "kind": "receipt", "quantity": 1})).await;
            call(format!("/api/v1/movements/{}", id(&m)), None, true)
        }
        ("post", "/api/v1/products") => call(
            "/api/v1/products",
            Some(json!({"code": format!("p{n}"), "name": "p"})),
            false,
        ),
        ("get", "/api/v1/products") => call("/api/v1/products", None, false),
        ("get", "/api/v1/products/{id}") => {
            call(format!("/api/v1/products/{}", t.product_id), None, true)
        }
        ("post", "/api/v1/reservations") => call(
            "/api/v1/reservations",
            Some(json!({"location": t.location_id, "lines": [{"sku": t.sku_id, "quantity": 1}]})),
            true,
        ),
        ("get", "/api/v1/reservations/{id}") => call(
            format!("/api/v1/reservations/{}", reserve().await),
            None,
            true,
        ),
        ("post", "/api/v1/reservations/{id}/commit") => call(
            format!("/api/v1/reservations/{}/commit", reserve().await),
            None,
            true,
        ),
        ("post", "/api/v1/reservations/{id}/release") => call(
            format!("/api/v1/reservations/{}/release", reserve().await),
            None,
            true,
        ),
        ("post", "/api/v1/skus") => call(
            "/api/v1/skus",
            Some(json!({"code": format!("s{n}"), "name": "s"})),
            false,
        ),
        ("get", "/api/v1/skus") => call("/api/v1/skus", None, false),
        ("get", "/api/v1/skus/export.csv") => call("/api/v1/skus/export.csv", None, false),
        ("post", "/api/v1/skus/import") => Call {
            path: "/api/v1/skus/import".into(),
            body: Some(Body::Csv(format!("code,name\nimp{n},imported\n"))),
            names_target: false,
            other_status: StatusCode::NOT_FOUND,
        },
        ("patch", "/api/v1/skus/{sku}") => call(
            format!("/api/v1/skus/{}", t.sku_id),
            Some(json!({"name": "renamed"})),
            true,
        ),
        ("get", "/api/v1/skus/{sku}") => call(format!("/api/v1/skus/{}", t.sku_id), None, true),
        ("get", "/api/v1/tokens") => call("/api/v1/tokens", None, false),
        ("post", "/api/v1/tokens") => call(
            "/api/v1/tokens",
            Some(json!({"role": "display", "name": "made"})),
            false,
        ),
        ("post", "/api/v1/tokens/{id}/revoke") => call(
            format!("/api/v1/tokens/{}/revoke", t.spare_token_id),
            None,
            true,
        ),
        ("post", "/api/v1/transfers") => call(
            "/api/v1/transfers",
            Some(
                json!({"sku": t.sku_id, "from_location": t.location_id, "to_location": t.location2_id, "quantity": 1}),
            ),
            true,
        ),
        ("get", "/api/v1/transfers/{id}") => call(
            format!("/api/v1/transfers/{}", transfer().await),
            None,
            true,
        ),
        ("post", "/api/v1/transfers/{id}/receive") => call(
            format!("/api/v1/transfers/{}/receive", transfer().await),
            None,
            true,
        ),
        ("get", "/api/v1/users") => call("/api/v1/users", None, false),
        ("post", "/api/v1/users") => call(
            "/api/v1/users",
            Some(
                json!({"login": format!("u{n}-{}", t.label), "name": "u", "role": "display", "password": "matrix password 2"}),
            ),
            false,
        ),
        ("get", "/api/v1/users/{id}") => call(format!("/api/v1/users/{}", t.user_id), None, true),
        ("post", "/api/v1/users/{id}/disable") => {
            call(format!("/api/v1/users/{}/disable", t.user_id), None, true)
        }
        ("post", "/api/v1/users/{id}/enable") => {
            call(format!("/api/v1/users/{}/enable", t.user_id), None, true)
        }
        ("post", "/api/v1/users/{id}/password") => call(
            format!("/api/v1/users/{}/password", t.user_id),
            Some(json!({"password": "matrix password 3"})),
            true,
        ),
        ("get", "/api/v1/sessions") => call("/api/v1/sessions", None, false),
        ("post", "/api/v1/low-stock/rules") => {
            let sku = ok(
                server,
                o,
                Method::POST,
                "/api/v1/skus",
                json!({"code": format!("lr{n}"), "name": "r"}),
            )
            .await;
            call(
                "/api/v1/low-stock/rules",
                Some(json!({"sku": id(&sku), "threshold": 3, "actions": ["event"]})),
                true,
            )
        }
        ("get", "/api/v1/low-stock/rules") => call("/api/v1/low-stock/rules", None, false),
        ("get", "/api/v1/low-stock/rules/{id}") => {
            call(format!("/api/v1/low-stock/rules/{}", t.rule_id), None, true)
        }
        ("delete", "/api/v1/low-stock/rules/{id}") => {
            let sku = ok(
                server,
                o,
                Method::POST,
                "/api/v1/skus",
                json!({"code": format!("ld{n}"), "name": "r"}),
            )
            .await;
            let made = ok(
                server,
                o,
                Method::POST,
                "/api/v1/low-stock/rules",
                json!({"sku": id(&sku), "threshold": 2, "actions": ["event"]}),
            )
            .await;
            call(format!("/api/v1/low-stock/rules/{}", id(&made)), None, true)
        }
        ("get", "/api/v1/low-stock/alerts") => call("/api/v1/low-stock/alerts", None, false),
        ("post", "/api/v1/expected-receipts") => call(
            "/api/v1/expected-receipts",
            Some(
                json!({"sku": t.sku_id, "location": t.location_id, "quantity": 2, "due_on": "2030-01-02"}),
            ),
            true,
        ),
        ("get", "/api/v1/expected-receipts") => call("/api/v1/expected-receipts", None, false),
        ("get", "/api/v1/expected-receipts/{id}") => call(
            format!("/api/v1/expected-receipts/{}", t.expected_receipt_id),
            None,
            true,
        ),
        ("post", "/api/v1/expected-receipts/{id}/receive") => {
            let made = ok(server, o, Method::POST, "/api/v1/expected-receipts", json!({"sku": t.sku_id, "location": t.location_id, "quantity": 2, "due_on": "2030-01-03"})).await;
            call(
                format!("/api/v1/expected-receipts/{}/receive", id(&made)),
                Some(json!({"quantity": 1})),
                true,
            )
        }
        ("post", "/api/v1/expected-receipts/{id}/cancel") => {
            let made = ok(server, o, Method::POST, "/api/v1/expected-receipts", json!({"sku": t.sku_id, "location": t.location_id, "quantity": 2, "due_on": "2030-01-04"})).await;
            call(
                format!("/api/v1/expected-receipts/{}/cancel", id(&made)),
                None,
                true,
            )
        }
        ("get", "/api/v1/skus/{sku}/availability") => call(
            format!("/api/v1/skus/{}/availability", t.sku_id),
            None,
            true,
        ),
        ("put", "/api/v1/skus/{sku}/availability-estimate") => call(
            format!("/api/v1/skus/{}/availability-estimate", t.sku_id),
            Some(json!({"text": "soon", "date": "2030-01-05"})),
            true,
        ),
        ("delete", "/api/v1/skus/{sku}/availability-estimate") => {
            ok(
                server,
                o,
                Method::PUT,
                &format!("/api/v1/skus/{}/availability-estimate", t.sku_id),
                json!({"text": "soon"}),
            )
            .await;
            call(
                format!("/api/v1/skus/{}/availability-estimate", t.sku_id),
                None,
                true,
            )
        }
        ("get", "/api/v1/sharing") => call("/api/v1/sharing", None, false),
        ("put", "/api/v1/sharing") => {
            call("/api/v1/sharing", Some(json!({"enabled": false})), false)
        }
        ("get", "/api/v1/channels/{channel}/sharing") => call(
            format!("/api/v1/channels/{}/sharing", t.channel_id),
            None,
            true,
        ),
        ("put", "/api/v1/channels/{channel}/sharing") => call(
            format!("/api/v1/channels/{}/sharing", t.channel_id),
            Some(json!({"basis": "available"})),
            true,
        ),
        ("get", "/api/v1/channels/{channel}/figures") => call(
            format!("/api/v1/channels/{}/figures", t.channel_id),
            None,
            true,
        ),
        ("get", "/api/v1/channels/{channel}/figures/{sku}") => {
            let path = format!("/api/v1/channels/{}/figures/{}", t.channel_id, t.sku_id);
            ok(server, o, Method::PUT, &path, json!({"figure": 5})).await;
            call(path, None, true)
        }
        ("put", "/api/v1/channels/{channel}/figures/{sku}") => call(
            format!("/api/v1/channels/{}/figures/{}", t.channel_id, t.sku_id),
            Some(json!({"figure": 5})),
            true,
        ),
        ("get", "/api/v1/channels/{channel}/exclusions") => call(
            format!("/api/v1/channels/{}/exclusions", t.channel_id),
            None,
            true,
        ),
        ("put", "/api/v1/channels/{channel}/exclusions/{sku}") => call(
            format!("/api/v1/channels/{}/exclusions/{}", t.channel_id, t.sku_id),
            None,
            true,
        ),
        ("delete", "/api/v1/channels/{channel}/exclusions/{sku}") => {
            let path = format!("/api/v1/channels/{}/exclusions/{}", t.channel_id, t.sku_id);
            let r = server.call(Method::PUT, &path, o, None).await;
            assert!(r.status.is_success(), "setup PUT {path}: {}", r.text);
            call(path, None, true)
        }
        ("get", "/api/v1/skus/{sku}/status") => {
            call(format!("/api/v1/skus/{}/status", t.sku_id), None, true)
        }
        ("put", "/api/v1/skus/{sku}/status") => call(
            format!("/api/v1/skus/{}/status", t.sku_id),
            Some(json!({})),
            true,
        ),
        ("get", "/api/v1/status-push") => call("/api/v1/status-push", None, false),
        ("put", "/api/v1/status-push") => call(
            "/api/v1/status-push",
            Some(json!({"schedule": "minutes 0,30", "time_zone": "Asia/Seoul"})),
            false,
        ),
        ("post", "/api/v1/status-push/run") => call("/api/v1/status-push/run", None, false),
        ("get", "/api/v1/table-order/{location}/settings") => call(
            format!("/api/v1/table-order/{}/settings", t.location2_id),
            None,
            true,
        ),
        ("put", "/api/v1/table-order/{location}/settings") => call(
            format!("/api/v1/table-order/{}/settings", t.location2_id),
            Some(json!({"reset_mode": "to_initial", "show_remaining": true})),
            true,
        ),
        ("get", "/api/v1/table-order/{location}/menu") => call(
            format!("/api/v1/table-order/{}/menu", t.location2_id),
            None,
            true,
        ),
        ("put", "/api/v1/table-order/{location}/menu/{sku}") => call(
            format!("/api/v1/table-order/{}/menu/{}", t.location2_id, t.sku_id),
            Some(json!({"initial_count": 1_000_000, "current_count": 1_000_000})),
            true,
        ),
        ("delete", "/api/v1/table-order/{location}/menu/{sku}") => {
            let sku = ok(
                server,
                o,
                Method::POST,
                "/api/v1/skus",
                json!({"code": format!("menu{n}"), "name": "m"}),
            )
            .await;
            ok(
                server,
                o,
                Method::PUT,
                &format!("/api/v1/table-order/{}/menu/{}", t.location2_id, id(&sku)),
                json!({}),
            )
            .await;
            call(
                format!("/api/v1/table-order/{}/menu/{}", t.location2_id, id(&sku)),
                None,
                true,
            )
        }
        ("post", "/api/v1/table-order/{location}/track-all") => call(
            format!("/api/v1/table-order/{}/track-all", t.location2_id),
            None,
            true,
        ),
        ("post", "/api/v1/table-order/{location}/reset") => call(
            format!("/api/v1/table-order/{}/reset", t.location2_id),
            None,
            true,
        ),
        ("get", "/api/v1/table-order/{location}/display") => call(
            format!("/api/v1/table-order/{}/display", t.location2_id),
            None,
            true,
        ),
        ("post", "/api/v1/table-order/{location}/orders") => call(
            format!("/api/v1/table-order/{}/orders", t.location2_id),
            Some(json!({"lines": [{"sku": t.sku_id, "quantity": 1}], "reference": "table 1"})),
            true,
        ),

        ("post", "/api/v1/label-templates") => call(
            "/api/v1/label-templates",
            Some(json!({"code": format!("tpl{n}"), "name": "t", "size": "roll-40x20"})),
            false,
        ),
        ("get", "/api/v1/label-templates") => call("/api/v1/label-templates", None, false),
        ("get", "/api/v1/label-templates/{template}") => call(
            format!("/api/v1/label-templates/{}", t.template_id),
            None,
            true,
        ),
        ("patch", "/api/v1/label-templates/{template}") => call(
            format!("/api/v1/label-templates/{}", t.template_id),
            Some(json!({"name": "renamed"})),
            true,
        ),
        ("delete", "/api/v1/label-templates/{template}") => {
            let made = ok(
                server,
                o,
                Method::POST,
                "/api/v1/label-templates",
                json!({"code": format!("del{n}"), "name": "d", "size": "roll-40x20"}),
            )
            .await;
            call(format!("/api/v1/label-templates/{}", id(&made)), None, true)
        }
        ("get", "/api/v1/skus/{sku}/label.svg") => call(
            format!("/api/v1/skus/{}/label.svg?template=TPL", t.sku_id),
            None,
            true,
        ),
        ("post", "/api/v1/labels.pdf") => Call {
            other_status: StatusCode::UNPROCESSABLE_ENTITY,
            ..call(
                "/api/v1/labels.pdf",
                Some(json!({"template": "TPL", "items": [{"sku": t.sku_id, "copies": 1}]})),
                true,
            )
        },
        ("get", "/api/v1/barcode.svg") => call(
            "/api/v1/barcode.svg?symbology=code128&code=ABC-123",
            None,
            false,
        ),
        ("get", "/api/v1/barcodes/check") => call(
            "/api/v1/barcodes/check?symbology=code128&code=ABC-123",
            None,
            false,
        ),
        ("get", "/api/v1/events") => call("/api/v1/events", None, false),
        ("get", "/api/v1/events/stream") => call("/api/v1/events/stream", None, false),
        ("post", "/api/v1/webhooks") => call(
            "/api/v1/webhooks",
            Some(
                json!({"url": "http://127.0.0.1:9/made", "kinds": ["stock.changed"], "active": false}),
            ),
            false,
        ),
        ("get", "/api/v1/webhooks") => call("/api/v1/webhooks", None, false),
        ("get", "/api/v1/webhooks/{webhook}") => {
            call(format!("/api/v1/webhooks/{}", t.webhook_id), None, true)
        }
        ("patch", "/api/v1/webhooks/{webhook}") => call(
            format!("/api/v1/webhooks/{}", t.webhook_id),
            Some(json!({"description": format!("matrix {n}")})),
            true,
        ),
        ("delete", "/api/v1/webhooks/{webhook}") => {
            let made = ok(
                server,
                o,
                Method::POST,
                "/api/v1/webhooks",
                json!({"url": "http://127.0.0.1:9/gone", "kinds": ["stock.changed"], "active": false}),
            )
            .await;
            call(format!("/api/v1/webhooks/{}", id(&made)), None, true)
        }
        ("post", "/api/v1/webhooks/{webhook}/rotate-secret") => call(
            format!("/api/v1/webhooks/{}/rotate-secret", t.webhook_id),
            None,
            true,
        ),
        ("get", "/api/v1/webhooks/{webhook}/attempts") => call(
            format!("/api/v1/webhooks/{}/attempts", t.webhook_id),
            None,
            true,
        ),
        ("get", "/api/v1/webhooks/{webhook}/dead-letters") => call(
            format!("/api/v1/webhooks/{}/dead-letters", t.webhook_id),
            None,
            true,
        ),
        ("post", "/api/v1/webhooks/{webhook}/dead-letters/{dead_letter}/redeliver") => {
            let dead = dead_letter(server, o, &t.webhook_id).await;
            call(
                format!(
                    "/api/v1/webhooks/{}/dead-letters/{dead}/redeliver",
                    t.webhook_id
                ),
                None,
                true,
            )
        }
        ("delete", "/api/v1/webhooks/{webhook}/dead-letters/{dead_letter}") => {
            let dead = dead_letter(server, o, &t.webhook_id).await;
            call(
                format!("/api/v1/webhooks/{}/dead-letters/{dead}", t.webhook_id),
                None,
                true,
            )
        }
        ("post", "/api/v1/sessions/{id}/revoke") => call(
            format!("/api/v1/sessions/{}/revoke", t.session_id),
            None,
            true,
        ),
        // Orders (tests/orders.rs covers their behaviour).
        ("get", "/api/v1/order-settings") => call("/api/v1/order-settings", None, false),
        ("put", "/api/v1/order-settings") => call(
            "/api/v1/order-settings",
            Some(
                json!({"delay_days": 3, "split_never_merge": true, "exchange_hold": true, "exchange_fee": 0}),
            ),
            false,
        ),
        ("get", "/api/v1/channels/{channel}/order-settings") => call(
            format!("/api/v1/channels/{}/order-settings", t.channel_id),
            None,
            true,
        ),
        ("put", "/api/v1/channels/{channel}/order-settings") => call(
            format!("/api/v1/channels/{}/order-settings", t.channel_id),
            Some(json!({"name_match": false})),
            true,
        ),
        ("get", "/api/v1/remote-areas") => call("/api/v1/remote-areas", None, false),
        ("post", "/api/v1/remote-areas") => call(
            "/api/v1/remote-areas",
            Some(json!({"range": "40200-40240"})),
            false,
        ),
        ("delete", "/api/v1/remote-areas/{id}") => {
            let r = ok(
                server,
                o,
                Method::POST,
                "/api/v1/remote-areas",
                json!({"range": "50000"}),
            )
            .await;
            call(format!("/api/v1/remote-areas/{}", id(&r)), None, true)
        }
        ("get", "/api/v1/return-reasons") => call("/api/v1/return-reasons", None, false),
        ("put", "/api/v1/return-reasons/{code}") => call(
            format!("/api/v1/return-reasons/r{n}"),
            Some(json!({"name": "r", "restock": "none"})),
            false,
        ),
        ("get", "/api/v1/channels/{channel}/sku-links") => call(
            format!("/api/v1/channels/{}/sku-links", t.channel_id),
            None,
            true,
        ),
        ("post", "/api/v1/channels/{channel}/sku-links") => call(
            format!("/api/v1/channels/{}/sku-links", t.channel_id),
            Some(json!({"item_code": format!("i{n}"), "sku": t.sku_id})),
            true,
        ),
        ("delete", "/api/v1/channels/{channel}/sku-links") => {
            let path = format!("/api/v1/channels/{}/sku-links", t.channel_id);
            ok(
                server,
                o,
                Method::POST,
                &path,
                json!({"item_code": format!("d{n}"), "sku": t.sku_id}),
            )
            .await;
            call(format!("{path}?item_code=d{n}"), None, true)
        }
        ("post", "/api/v1/channels/{channel}/sku-links/auto") => call(
            format!("/api/v1/channels/{}/sku-links/auto", t.channel_id),
            None,
            true,
        ),
        ("get", "/api/v1/unmatched") => call("/api/v1/unmatched", None, false),
        ("post", "/api/v1/channels/{channel}/orders") => call(
            format!("/api/v1/channels/{}/orders", t.channel_id),
            Some(json!({"order_no": format!("p{n}"), "lines": [{"sku": t.sku_id, "quantity": 1}]})),
            true,
        ),
        ("post", "/api/v1/channels/{channel}/orders/batch") => call(
            format!("/api/v1/channels/{}/orders/batch", t.channel_id),
            Some(
                json!({"orders": [{"order_no": format!("b{n}"), "lines": [{"sku": t.sku_id, "quantity": 1}]}]}),
            ),
            true,
        ),
        ("post", "/api/v1/channels/{channel}/orders/import") => Call {
            path: format!("/api/v1/channels/{}/orders/import", t.channel_id),
            body: Some(Body::Csv(format!("order_no,sku,quantity\ncsv{n},S1,1\n"))),
            names_target: true,
            other_status: StatusCode::NOT_FOUND,
        },
        ("get", "/api/v1/orders") => call("/api/v1/orders", None, false),
        ("post", "/api/v1/orders/reset") => call(
            "/api/v1/orders/reset",
            Some(json!({"confirm": "DELETE ALL ORDERS"})),
            false,
        ),
        ("get", "/api/v1/orders/{order}") => call(
            format!("/api/v1/orders/{}", order(n, "get").await),
            None,
            true,
        ),
        ("patch", "/api/v1/orders/{order}") => call(
            format!("/api/v1/orders/{}", order(n, "patch").await),
            Some(json!({"flag": true})),
            true,
        ),
        ("get", "/api/v1/orders/{order}/stock") => call(
            format!("/api/v1/orders/{}/stock", order(n, "stock").await),
            None,
            true,
        ),
        ("get", "/api/v1/products/{product}/stock") => call(
            format!("/api/v1/products/{}/stock", t.product_id),
            None,
            true,
        ),
        ("post", "/api/v1/orders/{order}/deallocate") => call(
            format!(
                "/api/v1/orders/{}/deallocate",
                allocated(n, "dealloc").await
            ),
            None,
            true,
        ),
        ("get", "/api/v1/couriers") => call("/api/v1/couriers", None, false),
        ("post", "/api/v1/couriers") => call(
            "/api/v1/couriers",
            Some(json!({"code": format!("k{n}"), "name": "k"})),
            false,
        ),
        ("get", "/api/v1/couriers/{courier}") => call(
            format!("/api/v1/couriers/{}", courier(n, "crg").await),
            None,
            true,
        ),
        ("patch", "/api/v1/couriers/{courier}") => call(
            format!("/api/v1/couriers/{}", courier(n, "crp").await),
            Some(json!({"name": "renamed"})),
            true,
        ),
        ("delete", "/api/v1/couriers/{courier}") => call(
            format!("/api/v1/couriers/{}", courier(n, "crd").await),
            None,
            true,
        ),
        ("get", "/api/v1/shipping-settings") => call("/api/v1/shipping-settings", None, false),
        ("put", "/api/v1/shipping-settings") => call(
            "/api/v1/shipping-settings",
            Some(json!({"print_order": "sku"})),
            false,
        ),
        ("get", "/api/v1/locations/{location}/bins") => call(
            format!("/api/v1/locations/{}/bins", t.location_id),
            None,
            true,
        ),
        ("put", "/api/v1/locations/{location}/bins/{sku}") => call(
            format!("/api/v1/locations/{}/bins/{}", t.location_id, t.sku_id),
            Some(json!({"bin": "A-01"})),
            true,
        ),
        ("delete", "/api/v1/locations/{location}/bins/{sku}") => call(
            format!("/api/v1/locations/{}/bins/{}", t.location_id, t.sku_id),
            None,
            true,
        ),
        ("get", "/api/v1/shipments") => call("/api/v1/shipments", None, false),
        ("post", "/api/v1/shipments") => call("/api/v1/shipments", Some(json!({})), false),
        ("post", "/api/v1/orders/{order}/shipments") => call(
            format!("/api/v1/orders/{}/shipments", allocated(n, "pack").await),
            None,
            true,
        ),
        ("get", "/api/v1/shipments/{shipment}") => call(
            format!("/api/v1/shipments/{}", shipment(n, "shg").await),
            None,
            true,
        ),
        ("get", "/api/v1/scan-station/{code}") => call(
            format!("/api/v1/scan-station/{}", tracked(n, "sst").await.1),
            None,
            true,
        ),
        ("put", "/api/v1/shipments/{shipment}/tracking") => {
            let s = shipment(n, "trk").await;
            call(
                format!("/api/v1/shipments/{s}/tracking"),
                Some(
                    json!({"courier": courier(n, "crt").await, "tracking_no": format!("TN{}{n}", t.label.to_uppercase())}),
                ),
                true,
            )
        }
        ("post", "/api/v1/tracking-numbers/import") => Call {
            path: "/api/v1/tracking-numbers/import".into(),
            body: Some(Body::Csv(format!(
                "order_no,courier,tracking_no\nnone{n},cr{n},X{n}\n"
            ))),
            names_target: false,
            other_status: StatusCode::NOT_FOUND,
        },
        ("post", "/api/v1/shipments/{shipment}/scans") => call(
            format!("/api/v1/shipments/{}/scans", shipment(n, "scan").await),
            Some(json!({"barcode": "S1"})),
            true,
        ),
        ("post", "/api/v1/shipments/{shipment}/confirm") => {
            let s = shipment(n, "conf").await;
            ok(
                server,
                o,
                Method::POST,
                &format!("/api/v1/shipments/{s}/scans"),
                json!({"barcode": "S1"}),
            )
            .await;
            call(format!("/api/v1/shipments/{s}/confirm"), None, true)
        }
        ("post", "/api/v1/shipments/{shipment}/cancel") => call(
            format!("/api/v1/shipments/{}/cancel", shipment(n, "shc").await),
            None,
            true,
        ),
        ("get", "/api/v1/print/shipments") => call(
            format!(
                "/api/v1/print/shipments?shipments={}",
                shipment(n, "prj").await
            ),
            None,
            true,
        ),
        ("get", "/api/v1/print/shipments.pdf") => call(
            format!(
                "/api/v1/print/shipments.pdf?shipments={}",
                shipment(n, "prp").await
            ),
            None,
            true,
        ),
        ("get", "/api/v1/shipments/{shipment}/packing-slip.svg") => call(
            format!(
                "/api/v1/shipments/{}/packing-slip.svg",
                shipment(n, "slip").await
            ),
            None,
            true,
        ),
        ("get", "/api/v1/shipments/{shipment}/invoice.svg") => call(
            format!(
                "/api/v1/shipments/{}/invoice.svg",
                tracked(n, "inv").await.0
            ),
            None,
            true,
        ),
        ("post", "/api/v1/orders/{order}/ship") => call(
            format!("/api/v1/orders/{}/ship", allocated(n, "ship").await),
            Some(json!({"lines": [{"line": 1, "location": t.location_id, "quantity": 1}]})),
            true,
        ),
        ("post", "/api/v1/orders/{order}/cancel") => call(
            format!("/api/v1/orders/{}/cancel", order(n, "cancel").await),
            None,
            true,
        ),
        ("post", "/api/v1/orders/{order}/exchanges") => call(
            format!("/api/v1/orders/{}/exchanges", order(n, "exch").await),
            Some(json!({"lines": [{"line": 1, "quantity": 1, "sku": t.sku_id}]})),
            true,
        ),
        ("post", "/api/v1/exchanges/{exchange}/resolve") => {
            let o_id = order(n, "resolve").await;
            let r = ok(
                server,
                o,
                Method::POST,
                &format!("/api/v1/orders/{o_id}/exchanges"),
                json!({"lines": [{"line": 1, "quantity": 1, "sku": t.sku_id}]}),
            )
            .await;
            call(
                format!(
                    "/api/v1/exchanges/{}/resolve",
                    r["exchange"]["id"].as_str().unwrap()
                ),
                None,
                true,
            )
        }
        ("post", "/api/v1/orders/{order}/returns") => call(
            format!("/api/v1/orders/{}/returns", shipped(n, "ret").await),
            Some(json!({"line": 1, "quantity": 1, "reason": "sellable"})),
            true,
        ),
        ("get", "/api/v1/orders/{order}/returns") => call(
            format!("/api/v1/orders/{}/returns", order(n, "rets").await),
            None,
            true,
        ),
        ("post", "/api/v1/returns/{return}/collect") => {
            let o_id = shipped(n, "coll").await;
            let r = ok(
                server,
                o,
                Method::POST,
                &format!("/api/v1/orders/{o_id}/returns"),
                json!({"line": 1, "quantity": 1, "reason": "sellable"}),
            )
            .await;
            call(format!("/api/v1/returns/{}/collect", id(&r)), None, true)
        }
        ("post", "/api/v1/orders/{order}/split") => call(
            format!("/api/v1/orders/{}/split", order_of(n, "split", 2).await),
            Some(json!({"lines": [{"line": 1, "quantity": 1}]})),
            true,
        ),
        ("post", "/api/v1/orders/{order}/merge") => {
            let first = order(n, "m1").await;
            let second = order(n, "m2").await;
            call(
                format!("/api/v1/orders/{first}/merge"),
                Some(json!({"orders": [second]})),
                true,
            )
        }
        ("post", "/api/v1/allocation-runs") => call(
            "/api/v1/allocation-runs",
            Some(json!({"dry_run": true})),
            false,
        ),
        ("get", "/api/v1/allocation-runs") => call("/api/v1/allocation-runs", None, false),
        ("get", "/api/v1/allocation-runs/{run}") => {
            let r = ok(
                server,
                o,
                Method::POST,
                "/api/v1/allocation-runs",
                json!({"results": false}),
            )
            .await;
            call(format!("/api/v1/allocation-runs/{}", id(&r)), None, true)
        }
        ("get", "/api/v1/allocation-runs/{run}/results") => {
            let r = ok(
                server,
                o,
                Method::POST,
                "/api/v1/allocation-runs",
                json!({"results": false}),
            )
            .await;
            call(
                format!("/api/v1/allocation-runs/{}/results", id(&r)),
                None,
                true,
            )
        }
        ("get", "/api/v1/pickup-stores/{location}/settings") => call(
            format!("/api/v1/pickup-stores/{}/settings", t.location2_id),
            None,
            true,
        ),
        ("put", "/api/v1/pickup-stores/{location}/settings") => call(
            format!("/api/v1/pickup-stores/{}/settings", t.location2_id),
            Some(json!({"print_minutes": [5, 35], "deadline_hours": 72})),
            true,
        ),
        ("post", "/api/v1/pickup-stores/{location}/print") => call(
            format!("/api/v1/pickup-stores/{}/print", t.location2_id),
            None,
            true,
        ),
        ("get", "/api/v1/pickup-stores/{location}/print-runs") => call(
            format!("/api/v1/pickup-stores/{}/print-runs", t.location2_id),
            None,
            true,
        ),
        ("get", "/api/v1/pickup-stores/{location}/expired-prompt") => call(
            format!("/api/v1/pickup-stores/{}/expired-prompt", t.location2_id),
            None,
            true,
        ),
        ("post", "/api/v1/pickup-stores/{location}/expired-prompt") => call(
            format!("/api/v1/pickup-stores/{}/expired-prompt", t.location2_id),
            Some(json!({"pickup_ids": [], "print": false})),
            true,
        ),
        ("get", "/api/v1/pickups") => call("/api/v1/pickups", None, false),
        ("get", "/api/v1/pickups/{pickup}") => call(
            format!("/api/v1/pickups/{}", pickup(n, "pu-get", 0).await),
            None,
            true,
        ),
        ("get", "/api/v1/pickups/{pickup}/receipt") => call(
            format!(
                "/api/v1/pickups/{}/receipt",
                pickup(n, "pu-receipt", 0).await
            ),
            None,
            true,
        ),
        ("post", "/api/v1/pickups/{pickup}/reception-scans") => call(
            format!(
                "/api/v1/pickups/{}/reception-scans",
                pickup(n, "pu-recv", 0).await
            ),
            Some(json!({"code": "S1"})),
            true,
        ),
        ("post", "/api/v1/pickups/{pickup}/completion-scans") => call(
            format!(
                "/api/v1/pickups/{}/completion-scans",
                pickup(n, "pu-out", 1).await
            ),
            // The customer's slip: the order number.
            Some(json!({"code": format!("pu-out{n}")})),
            true,
        ),
        ("post", "/api/v1/pickups/{pickup}/complete") => call(
            format!("/api/v1/pickups/{}/complete", pickup(n, "pu-done", 2).await),
            None,
            true,
        ),
        ("post", "/api/v1/pickups/{pickup}/unavailable") => call(
            format!(
                "/api/v1/pickups/{}/unavailable",
                pickup(n, "pu-unav", 0).await
            ),
            Some(json!({"reason": "품절"})),
            true,
        ),
        ("post", "/api/v1/pickups/{pickup}/cancel") => call(
            format!("/api/v1/pickups/{}/cancel", pickup(n, "pu-cancel", 1).await),
            Some(json!({"reason": "고객 요청"})),
            true,
        ),
        ("get", "/api/v1/pickup-print-runs/{run}/document") => {
            pickup(n, "pu-print", 0).await;
            let run = ok(
                server,
                o,
                Method::POST,
                &format!("/api/v1/pickup-stores/{}/print", t.location2_id),
                json!(null),
            )
            .await;
            call(
                format!(
                    "/api/v1/pickup-print-runs/{}/document",
                    run["run"]["id"].as_str().expect("a print run")
                ),
                None,
                true,
            )
        }
        _ => return None,
    })
}

struct Answer {
    status: StatusCode,
    text: String,
}

async fn send(server: &TestServer, method: &Method, call: &Call, token: Option<&str>) -> Answer {
    let mut request = server.http.request(method.clone(), server.url(&call.path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match &call.body {
        Some(Body::Json(v)) => request.json(v),
        Some(Body::Csv(text)) => request
            .header(header::CONTENT_TYPE, "text/csv")
            .body(text.clone()),
        None => request,
    };
    let response = request.send().await.expect("request");
    let status = response.status();
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        // A live event stream never ends: its status is the answer.
        return Answer {
            status,
            text: String::new(),
        };
    }
    Answer {
        status,
        text: response.text().await.unwrap_or_default(),
    }
}

/// Every operation of the document with its permission, sorted.
fn operations() -> Vec<(String, String, Permission)> {
    let doc = serde_json::to_value(jaego_server::openapi::document()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(scope) = op["security"][0]["bearer"][0].as_str() else {
                // The sign-in routes take no token (tests/auth.rs covers
                // them), nor do the channels' signed order webhooks
                // (tests/orders.rs).
                assert!(
                    path.starts_with("/auth/") || path.starts_with("/api/v1/hooks/"),
                    "{method} {path} has no bearer scope"
                );
                continue;
            };
            let permission = Permission::from_scope(scope)
                .unwrap_or_else(|| panic!("{method} {path}: unknown scope {scope}"));
            out.push((method.clone(), path.clone(), permission));
        }
    }
    out.sort_by(|x, y| (&x.1, &x.0).cmp(&(&y.1, &y.0)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_every_role_and_tenant_it_should() {
    let operations = operations();
    assert!(
        operations.len() >= 40,
        "only {} operations",
        operations.len()
    );
    let mut cells = 0usize;
    for server in common::servers("access_matrix").await {
        let engine = server.engine;
        let a = tenant(&server, "a", server.owner.clone()).await;
        let b_id = server.store.create_tenant("b").await.unwrap();
        let b_owner = server
            .store
            .create_token(b_id, Role::Owner, "b owner")
            .await
            .unwrap()
            .secret;
        let b = tenant(&server, "b", b_owner).await;
        let mut failures = Vec::new();
        let mut n = 0;
        for (method_name, template, permission) in &operations {
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            let Some(probe) = prepare(&server, method_name, template, &a, n).await else {
                panic!(
                    "no fixture for {} {template}: add one to prepare() in tests/access_matrix.rs",
                    method_name.to_uppercase()
                );
            };
            n += 1;
            let answer = send(&server, &method, &probe, None).await;
            cells += 1;
            if answer.status != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{method} {template} with no token: {} {}",
                    answer.status, answer.text
                ));
            }
            for role in Role::ALL {
                for (side, caller) in [("own", &a), ("other", &b)] {
                    n += 1;
                    let call = prepare(&server, method_name, template, &a, n)
                        .await
                        .unwrap();
                    let token = &caller.tokens[role.as_str()];
                    let answer = send(&server, &method, &call, Some(token)).await;
                    cells += 1;
                    let allowed = role.allows(*permission);
                    let verdict = match (allowed, side, call.names_target) {
                        (false, _, _) => (answer.status == StatusCode::FORBIDDEN)
                            .then_some(())
                            .ok_or("403"),
                        (true, "own", _) => answer.status.is_success().then_some(()).ok_or("2xx"),
                        (true, _, true) => (answer.status == call.other_status)
                            .then_some(())
                            .ok_or(if call.other_status == StatusCode::NOT_FOUND {
                                "404"
                            } else {
                                "the route's refusal of unknown names"
                            }),
                        (true, _, false) => {
                            if !answer.status.is_success() {
                                Err("2xx")
                            } else if a.ids.iter().any(|id| answer.text.contains(id.as_str())) {
                                Err("2xx without the other tenant's ids")
                            } else {
                                Ok(())
                            }
                        }
                    };
                    if let Err(expected) = verdict {
                        failures.push(format!(
                            "{method} {template} as {role} of the {side} tenant: expected {expected}, got {} {}",
                            answer.status,
                            answer.text.chars().take(300).collect::<String>()
                        ));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{engine}: {} failing cells:\n{}",
            failures.len(),
            failures.join("\n")
        );
        server.assert_verified().await;
        eprintln!(
            "access matrix on {engine}: {} operations, every cell as expected",
            operations.len()
        );
        server.stop().await;
    }
    // The figure docs/RELIABILITY.md reports.
    eprintln!("access matrix: {cells} cells checked");
}
