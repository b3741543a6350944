//! The web UI: pages over real HTTP on both engines (sessions, roles,
//! tenants, CSRF, languages, headers), and flows in a real browser
//! (headless Chromium from Debian's packages, driven by playwright-core
//! from `tests/browser/`, on SQLite).
//!
//! Without `/usr/bin/chromium` or `tests/browser/node_modules` the browser
//! tests print `SKIPPED` and pass, except under `CI`, where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{TestServer, ok};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode, redirect};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// 강남점 with a menu of three items, none tracked yet and all at 0, as a
/// restaurant has it before it turns H68 on.
async fn restaurant(s: &TestServer) {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "gangnam", "name": "강남점", "kind": "store", "time_zone": "Asia/Seoul"})),
    )
    .await;
    for (code, name) in [
        ("KIMCHI", "김치찌개"),
        ("BIBIM", "비빔밥"),
        ("WATER", "생수"),
    ] {
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": code, "name": name, "tracked": false})),
        )
        .await;
        ok(
            s,
            Method::PUT,
            &format!("/api/v1/table-order/gangnam/menu/{code}"),
            Some(json!({})),
        )
        .await;
    }
}

/// A user of the server's tenant with `role`.
async fn user(s: &TestServer, login: &str, role: &str) {
    let r = s
        .call(
            Method::POST,
            "/api/v1/users",
            &s.owner,
            Some(json!({"login": login, "name": login, "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// A signed-in browser without a browser: the session cookie.
async fn sign_in(s: &TestServer, login: &str) -> String {
    let r = s
        .http
        .post(s.url("/auth/login"))
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs a page with `cookie`; answers the status and the body.
async fn page(s: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = no_redirects()
        .get(s.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf-token" content=""#)
        .expect("csrf meta")
        + 27;
    html[at..at + 64].to_string()
}

#[tokio::test]
async fn pages_need_a_session_and_carry_safe_headers() {
    for s in common::servers("ui_pages_need_a_session").await {
        let http = no_redirects();
        let r = http
            .get(s.url("/table-order/gangnam"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", s.engine);
        assert_eq!(
            r.headers()[LOCATION],
            "/login?next=%2Ftable-order%2Fgangnam"
        );
        // A bearer token opens the API, not pages.
        let r = http
            .get(s.url("/stock"))
            .bearer_auth(&s.owner)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        // A forged or ended session is the same as none.
        let r = http
            .get(s.url("/"))
            .header(COOKIE, "jaego_session=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);

        let r = http.get(s.url("/login?next=/stock")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let headers = r.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        let body = r.text().await.unwrap();
        assert!(
            body.contains(r#"action="/auth/login""#)
                && body.contains(r#"name="next" value="/stock""#)
        );

        for (path, kind) in [
            ("/assets/app.js", "text/javascript"),
            ("/assets/app.css", "text/css"),
        ] {
            let r = http.get(s.url(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert!(
                r.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with(kind)
            );
        }

        // Signing in with the form lands on `next` with a session cookie.
        restaurant(&s).await;
        user(&s, "owner@gangnam", "owner").await;
        let r = http
            .post(s.url("/auth/login"))
            .form(&[
                ("login", "owner@gangnam"),
                ("password", PASSWORD),
                ("next", "/stock"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/stock");
        let set = r.headers()[SET_COOKIE].to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        let (status, html) = page(&s, &cookie, "/stock").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("KIMCHI") && html.contains("김치찌개"),
            "{html}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn pages_follow_roles_tenants_and_languages() {
    for s in common::servers("ui_pages_follow_roles").await {
        restaurant(&s).await;
        for (login, role) in [("disp", "display"), ("kim", "staff"), ("park", "manager")] {
            user(&s, login, role).await;
        }
        let display = sign_in(&s, "disp").await;
        let staff = sign_in(&s, "kim").await;
        let manager = sign_in(&s, "park").await;

        // What each role may change is what the page offers.
        let (status, html) = page(&s, &display, "/table-order/gangnam").await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        assert!(!html.contains(r#"id="track-all""#) && !html.contains(r#"id="settings-form""#));
        assert!(
            html.contains("disabled"),
            "a display user's switches are disabled"
        );
        let (_, html) = page(&s, &staff, "/table-order/gangnam").await;
        assert!(html.contains(r#"id="track-all""#) && !html.contains(r#"id="settings-form""#));
        let (_, html) = page(&s, &manager, "/table-order/gangnam").await;
        assert!(html.contains(r#"id="track-all""#) && html.contains(r#"id="settings-form""#));
        let (_, html) = page(&s, &display, "/table-order/gangnam/customer").await;
        assert!(html.contains("view only") || html.contains("보기 전용"));

        // Search and filters.
        let (_, html) = page(&s, &staff, "/table-order/gangnam?q=%EB%B9%84%EB%B9%94").await;
        assert!(html.contains("BIBIM") && !html.contains(r#"data-sku="KIMCHI""#));
        let (status, html) = page(&s, &staff, "/stock?location=gangnam").await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        assert!(html.contains("KIMCHI"), "{}", s.engine);
        let (status, _) = page(&s, &staff, "/stock?location=NOWHERE").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", s.engine);

        // Another tenant's user sees nothing of this one.
        let other = s.store.create_tenant("other").await.unwrap();
        s.store
            .create_user(
                other,
                &jaego_store::users::NewUser {
                    login: "stranger".into(),
                    name: "stranger".into(),
                    role: jaego_core::Role::Owner,
                    password: PASSWORD.into(),
                },
            )
            .await
            .unwrap();
        let stranger = sign_in(&s, "stranger").await;
        let (status, html) = page(&s, &stranger, "/table-order/gangnam").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains("강남점") && !html.contains("KIMCHI"));
        let (status, html) = page(&s, &stranger, "/stock").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("KIMCHI"));

        // Languages: the cookie, else the browser's.
        let (_, ko) = page(&s, &staff, "/table-order/gangnam").await;
        assert!(ko.contains("전체사용") && ko.contains(r#"<html lang="ko">"#));
        let (_, en) = page(
            &s,
            &format!("{staff}; jaego_lang=en"),
            "/table-order/gangnam",
        )
        .await;
        assert!(en.contains("Turn on for all") && en.contains(r#"<html lang="en">"#));
        let r = no_redirects()
            .get(s.url("/lang?to=en&next=/stock"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()[LOCATION], "/stock");
        assert!(
            r.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .starts_with("jaego_lang=en")
        );
        let r = no_redirects()
            .get(s.url("/lang?to=en&next=//evil.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()[LOCATION], "/");
        s.stop().await;
    }
}

/// The integrated stock grid: each location's row, the SKU's total, its
/// status badge, the location filter and the low-stock filter.
#[tokio::test]
async fn the_stock_grid_shows_each_locations_figures() {
    for s in common::servers("ui_stock_grid").await {
        for (location, sku, on_hand) in [
            ("seoul", "TEE", 9),
            ("busan", "TEE", 2),
            ("seoul", "CAP", 8),
            ("seoul", "HAT", 0),
        ] {
            s.seed(location, sku, on_hand).await;
        }
        // HAT has nothing: the grid shows the merchant's estimate.
        ok(
            &s,
            Method::PUT,
            "/api/v1/skus/HAT/availability-estimate",
            Some(json!({"text": "12월 초 입고"})),
        )
        .await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/skus/TEE/status",
            Some(json!({"limited_stock": 4})),
        )
        .await;
        user(&s, "kim", "staff").await;
        let staff = sign_in(&s, "kim").await;
        // The location codes of a SKU's rows, in the order shown.
        let rows = |html: &str, sku: &str| -> Vec<String> {
            sku_group(html, sku)
                .split(r#"<td class="loc">"#)
                .skip(1)
                .map(|r| r.split('<').next().unwrap_or_default().to_string())
                .collect()
        };

        let (status, html) = page(&s, &staff, "/stock").await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        assert_eq!(rows(&html, "TEE"), ["busan", "seoul"], "{}", s.engine);
        assert_eq!(rows(&html, "CAP"), ["seoul"], "{}", s.engine);
        let tee = sku_group(&html, "TEE");
        assert!(
            tee.contains(r#"<td class="num">11</td>"#),
            "{}: TEE's total: {tee}",
            s.engine
        );
        assert!(
            tee.contains("badge warn"),
            "{}: TEE is limited: {tee}",
            s.engine
        );
        let cap = sku_group(&html, "CAP");
        assert!(
            !cap.contains("badge warn"),
            "{}: CAP is neither limited nor low: {cap}",
            s.engine
        );
        let hat = sku_group(&html, "HAT");
        assert!(
            hat.contains("12월 초 입고"),
            "{}: HAT's estimate: {hat}",
            s.engine
        );
        assert!(
            !tee.contains(r#"class="estimate""#),
            "{}: TEE is in stock",
            s.engine
        );

        let (_, html) = page(&s, &staff, "/stock?location=busan").await;
        assert_eq!(rows(&html, "TEE"), ["busan"], "{}", s.engine);
        assert!(rows(&html, "CAP").is_empty(), "{}", s.engine);

        // Low at 3: only TEE (2 at busan) is listed.
        let (_, html) = page(&s, &staff, "/stock?low=3&only_low=1").await;
        assert_eq!(rows(&html, "TEE"), ["busan", "seoul"], "{}", s.engine);
        assert!(!html.contains(r#"id="sku-CAP""#), "{}", s.engine);
        s.stop().await;
    }
}

/// The stock grid's rows of one SKU (its `<tbody>`), empty if not shown.
fn sku_group<'a>(html: &'a str, sku: &str) -> &'a str {
    html.split(&format!(r#"id="sku-{sku}""#))
        .nth(1)
        .and_then(|rest| rest.split("</tbody>").next())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_change_from_a_page_needs_its_csrf_token() {
    for s in common::servers("ui_csrf").await {
        restaurant(&s).await;
        user(&s, "kim", "staff").await;
        let cookie = sign_in(&s, "kim").await;
        let (_, html) = page(&s, &cookie, "/table-order/gangnam").await;
        let token = csrf_of(&html);
        let put = |csrf: Option<String>| {
            let mut r = s
                .http
                .put(s.url("/api/v1/table-order/gangnam/menu/KIMCHI"))
                .header(COOKIE, &cookie)
                .json(&json!({"tracked": true}));
            if let Some(csrf) = csrf {
                r = r.header("X-CSRF-Token", csrf);
            }
            r.send()
        };
        let r = put(None).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", s.engine);
        let r = put(Some("0".repeat(64))).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = put(Some(token)).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let menu = ok(&s, Method::GET, "/api/v1/table-order/gangnam/menu", None).await;
        assert_eq!(menu["items"][1]["sku_code"], "KIMCHI");
        assert_eq!(menu["items"][1]["tracked"], true);
        s.stop().await;
    }
}

/// The `<button>` of `code` on a customer screen.
/// The labels page links the same choice as the API's PDF: the link
/// answers exactly what `POST /api/v1/labels.pdf` does for it, and a
/// refusal is an error page naming the field, with the API's checks.
#[tokio::test]
async fn the_labels_page_offers_the_api_pdf() {
    for s in common::servers("ui_the_labels_page_offers_the_api_pdf").await {
        s.seed("wh1", "TEE-M", 5).await;
        ok(
            &s,
            Method::POST,
            "/api/v1/label-templates",
            Some(json!({"code": "sheet", "name": "A4 라벨지", "size": "a4-3x8"})),
        )
        .await;
        user(&s, "kim", "staff").await;
        let cookie = sign_in(&s, "kim").await;

        let (status, html) = page(
            &s,
            &cookie,
            "/labels?template=sheet&skus=TEE-M&copies=2&skip=5",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {html}", s.engine);
        let at = html.find(r#"id="labels-pdf" href=""#).expect("a PDF link") + 22;
        let href = html[at..at + html[at..].find('"').unwrap()].replace("&amp;", "&");
        assert_eq!(
            href,
            "/labels.pdf?template=sheet&skus=TEE-M&copies=2&skip=5"
        );

        let r = no_redirects()
            .get(s.url(&href))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", s.engine);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/pdf");
        let from_page = r.bytes().await.unwrap();
        let from_api = s
            .http
            .post(s.url("/api/v1/labels.pdf"))
            .bearer_auth(&s.owner)
            .json(
                &json!({"template": "sheet", "items": [{"sku": "TEE-M", "copies": 2}], "skip": 5}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(from_api.status(), StatusCode::OK);
        assert!(from_page.starts_with(b"%PDF"), "{}", s.engine);
        assert_eq!(
            from_page,
            from_api.bytes().await.unwrap(),
            "{}: the page's PDF is the API's",
            s.engine
        );

        // The API's checks: an unknown SKU and a cell past the sheet.
        for (path, field) in [
            ("/labels.pdf?template=sheet&skus=TEE-M,NOPE", "items[1].sku"),
            ("/labels.pdf?template=sheet&skus=TEE-M&skip=24", "skip"),
        ] {
            let (status, html) = page(&s, &cookie, path).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {path}",
                s.engine
            );
            assert!(
                html.contains(field),
                "{}: {path} names {field}: {html}",
                s.engine
            );
        }
        let (status, _) = page(&s, "", "/labels.pdf?template=sheet&skus=TEE-M").await;
        assert_ne!(
            status,
            StatusCode::OK,
            "{}: no PDF without a session",
            s.engine
        );
        s.stop().await;
    }
}

fn menu_button<'a>(html: &'a str, code: &str) -> &'a str {
    let id = html
        .find(&format!(r#"id="menu-{code}""#))
        .unwrap_or_else(|| panic!("no menu button for {code}: {html}"));
    let start = html[..id].rfind("<button").unwrap();
    let end = id + html[id..].find("</button>").unwrap();
    &html[start..end]
}

/// A bundle on the screens: its count is its components' at the store, the
/// admin tablet offers no count of its own, and the customer screen follows
/// every `stock.changed` of the tenant (no location filter), so a change of
/// a component's stock refreshes it.
#[tokio::test]
async fn a_bundle_on_the_screens_follows_its_components() {
    for s in common::servers("ui_table_order_bundle").await {
        restaurant(&s).await;
        for (code, count) in [("KIMCHI", 4), ("BIBIM", 1)] {
            ok(
                &s,
                Method::PUT,
                &format!("/api/v1/table-order/gangnam/menu/{code}"),
                Some(json!({"tracked": true, "current_count": count})),
            )
            .await;
        }
        ok(
            &s,
            Method::POST,
            "/api/v1/bundles",
            Some(json!({"code": "SET", "name": "한상세트", "components": [
                {"sku": "KIMCHI", "quantity": 2}, {"sku": "BIBIM", "quantity": 1}
            ]})),
        )
        .await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/table-order/gangnam/menu/SET",
            Some(json!({})),
        )
        .await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/table-order/gangnam/settings",
            Some(json!({"show_remaining": true})),
        )
        .await;
        user(&s, "kim", "staff").await;
        let cookie = sign_in(&s, "kim").await;

        // min(4 / 2, 1 / 1) = 1 set.
        let (status, html) = page(&s, &cookie, "/table-order/gangnam/customer").await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        let set = menu_button(&html, "SET");
        assert!(
            set.contains(r#"data-remaining="1""#) && !set.contains("sold-out"),
            "{}: {set}",
            s.engine
        );
        assert!(
            html.contains("stock.changed") && !html.contains("data-live-location"),
            "{html}"
        );

        // A component's count drops: the set is sold out.
        ok(
            &s,
            Method::PUT,
            "/api/v1/table-order/gangnam/menu/KIMCHI",
            Some(json!({"current_count": 1})),
        )
        .await;
        let (_, html) = page(&s, &cookie, "/table-order/gangnam/customer").await;
        let set = menu_button(&html, "SET");
        assert!(
            set.contains("sold-out") && set.contains("disabled"),
            "{}: {set}",
            s.engine
        );

        // The admin tablet shows the set's count, with no field to set it.
        let (_, html) = page(&s, &cookie, "/table-order/gangnam").await;
        assert!(html.contains(r#"id="item-KIMCHI-current""#), "{html}");
        assert!(
            html.contains(r#"id="item-SET""#) && !html.contains(r#"id="item-SET-current""#),
            "{html}"
        );
        s.stop().await;
    }
}

// ---- in a real browser ----------------------------------------------------

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether Chromium, node and playwright-core are here. If not, says the
/// test was skipped, or fails it under CI.
fn browser_ready(test: &str) -> bool {
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (apt-get install chromium)");
    }
    if !std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("node (apt-get install nodejs npm)");
    }
    if !support_dir().join("node_modules/playwright-core").exists() {
        missing.push("playwright-core (npm ci in crates/jaego-server/tests/browser)");
    }
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{test}: the browser test cannot run under CI: missing {missing}");
    }
    eprintln!("SKIPPED: {test}: browser test needs {missing}");
    false
}

/// Where screenshots go: `docs/screenshots/` when
/// `JAEGO_UPDATE_SCREENSHOTS` is set (to refresh the README's pictures),
/// else under the target directory, so tests leave the tree alone.
fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = if std::env::var_os("JAEGO_UPDATE_SCREENSHOTS").is_some() {
        root.join("docs/screenshots")
    } else {
        root.join("target/ui-screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server on a fresh SQLite file for a browser flow, or `None` (the test
/// is skipped, and says so) without a browser. The flows drive pages, not
/// storage: the API tests cover both engines.
async fn browser_server(test: &str) -> Option<TestServer> {
    if !browser_ready(test) {
        return None;
    }
    Some(
        common::start(
            jaego_store::testing::fresh_sqlite(),
            jaego_store::StoreOptions::default(),
        )
        .await,
    )
}

/// Runs `tests/browser/<script>` against `server`; fails with the script's
/// output if it fails.
async fn run_script(server: &TestServer, script: &str, env: &[(&str, &str)]) {
    let mut command = std::process::Command::new("node");
    command
        .arg(support_dir().join(script))
        .current_dir(support_dir())
        .env("BASE_URL", server.url(""))
        .env("PASSWORD", PASSWORD)
        .env("SCREENSHOTS", screenshot_dir());
    for (k, v) in env {
        command.env(k, v);
    }
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "{script} ({:.1} s):\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// Seed 000 end to end on two admin tablets and a customer screen.
#[tokio::test]
async fn browser_table_order_flow() {
    let Some(s) = browser_server("browser_table_order_flow").await else {
        return;
    };
    restaurant(&s).await;
    // A set on the menu: its count is its parts' (2 × 김치찌개 + 1 × 비빔밥).
    ok(
        &s,
        Method::POST,
        "/api/v1/bundles",
        Some(
            json!({"code": "SET", "name": "점심 세트", "tracked": false, "components": [
                {"sku": "KIMCHI", "quantity": 2}, {"sku": "BIBIM", "quantity": 1}
            ]}),
        ),
    )
    .await;
    ok(
        &s,
        Method::PUT,
        "/api/v1/table-order/gangnam/menu/SET",
        Some(json!({})),
    )
    .await;
    user(&s, "owner@gangnam", "owner").await;
    user(&s, "table7", "staff").await;
    run_script(&s, "table_order.js", &[]).await;
    // What the browser did is in the ledger: counts after the reset are the
    // initial counts, and every balance is its movements.
    let menu = ok(&s, Method::GET, "/api/v1/table-order/gangnam/menu", None).await;
    let counts: Vec<(String, i64, bool)> = menu["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku_code"].as_str().unwrap().to_string(),
                i["on_hand"].as_i64().unwrap(),
                i["tracked"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("BIBIM".to_string(), 3, true),
            ("KIMCHI".to_string(), 5, true),
            ("SET".to_string(), 2, true),
            ("WATER".to_string(), 4, true)
        ]
    );
    s.assert_verified().await;
    s.stop().await;
}

/// Orders: linking an unmatched line, an allocation run previewed then
/// run, flags and notes, a cancellation.
#[tokio::test]
async fn browser_orders_flow() {
    let Some(s) = browser_server("browser_orders_flow").await else {
        return;
    };
    s.seed("wh1", "TEE-M", 5).await;
    ok(
        &s,
        Method::POST,
        "/api/v1/skus",
        Some(json!({"code": "CAP", "name": "모자"})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/movements",
        Some(json!({"kind": "receipt", "sku": "CAP", "location": "wh1", "quantity": 3})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "자사몰", "kind": "web", "locations": ["wh1"]})),
    )
    .await;
    for (no, item, q) in [
        ("A-1", "TEE-M", 2),
        ("A-2", "MYSTERY", 1),
        ("A-3", "TEE-M", 9),
    ] {
        ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/orders",
            Some(json!({"order_no": no, "customer": {"name": "김민지"},
                "lines": [{"item_code": item, "quantity": q, "product_name": item}]})),
        )
        .await;
    }
    user(&s, "ops", "manager").await;
    run_script(&s, "orders.js", &[]).await;
    let orders = ok(&s, Method::GET, "/api/v1/orders", None).await;
    let by_no = |no: &str| {
        orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order_no"] == no)
            .unwrap()
            .clone()
    };
    assert_eq!(by_no("A-1")["status"], "allocated");
    assert_eq!(by_no("A-1")["flag"], true);
    assert_eq!(by_no("A-1")["note"], "선물 포장");
    assert_eq!(by_no("A-2")["status"], "allocated");
    assert_eq!(by_no("A-3")["status"], "cancelled");
    assert_eq!(s.balance("TEE-M", "wh1").await["allocated"], 2);
    s.assert_verified().await;
    s.stop().await;
}

/// Movements: forms for a receipt, a custom type, a count and a transfer;
/// the ledger filtered; the CSV export.
#[tokio::test]
async fn browser_movements_flow() {
    let Some(s) = browser_server("browser_movements_flow").await else {
        return;
    };
    s.seed("wh1", "TEE-M", 5).await;
    ok(
        &s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "st1", "name": "명동점", "kind": "store", "time_zone": "Asia/Seoul"})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/movement-types",
        Some(json!({"code": "SAMPLE", "name": "샘플 출고", "direction": "out"})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/label-templates",
        Some(json!({"code": "shelf", "name": "선반 라벨", "size": "roll-50x30"})),
    )
    .await;
    user(&s, "kim", "staff").await;
    user(&s, "park", "manager").await;
    run_script(&s, "movements.js", &[]).await;
    let wh1 = s.balance("TEE-M", "wh1").await;
    let st1 = s.balance("TEE-M", "st1").await;
    // 5 + 7 received, 2 out as samples, counted 9, 4 on their way to st1.
    assert_eq!(wh1["on_hand"], 5, "{wh1}");
    assert_eq!(
        wh1["in_transit"].as_i64().unwrap() + st1["in_transit"].as_i64().unwrap(),
        4,
        "{wh1} {st1}"
    );
    s.assert_verified().await;
    s.stop().await;
}

/// The pickup counter: reception to completion by scanning.
#[tokio::test]
async fn browser_pickup_flow() {
    let Some(s) = browser_server("browser_pickup_flow").await else {
        return;
    };
    ok(
        &s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "st1", "name": "명동점", "kind": "store", "time_zone": "Asia/Seoul"})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/skus",
        Some(json!({"code": "TEE-M", "name": "티셔츠 M"})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/movements",
        Some(json!({"kind": "receipt", "sku": "TEE-M", "location": "st1", "quantity": 3})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "자사몰", "kind": "web", "locations": ["st1"]})),
    )
    .await;
    ok(
        &s,
        Method::POST,
        "/api/v1/channels/MALL/orders",
        Some(
            json!({"order_no": "P-1", "customer": {"name": "이서준"}, "pickup_location": "st1",
            "lines": [{"item_code": "TEE-M", "quantity": 2}]}),
        ),
    )
    .await;
    // The pickup intake job turns the order into a request within seconds.
    let mut receipt = String::new();
    for _ in 0..100 {
        let page = ok(&s, Method::GET, "/api/v1/pickups?location=st1", None).await;
        if let Some(code) = page["items"][0]["receipt_code"].as_str() {
            receipt = code.to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!receipt.is_empty(), "no pickup request appeared");
    user(&s, "clerk", "manager").await;
    run_script(&s, "pickup.js", &[("RECEIPT", receipt.as_str())]).await;
    let page = ok(&s, Method::GET, "/api/v1/pickups?location=st1", None).await;
    assert_eq!(page["items"][0]["status"], "completed");
    assert_eq!(s.balance("TEE-M", "st1").await["on_hand"], 1);
    // The print schedule the script saved (minutes 5 and 35) is stored.
    let settings = ok(&s, Method::GET, "/api/v1/pickup-stores/st1/settings", None).await;
    assert_eq!(settings["print_minutes"], json!([5, 35]), "{settings}");
    s.assert_verified().await;
    s.stop().await;
}

/// Two packed parcels at wh1: order A-1 (TEE-M 2 with EAN 8801234567893
/// and bin A-01-3, CAP 1) with CJ tracking number 612345678901, and order
/// A-2 (SOCK 2) without one; 5 of each SKU on hand. Answers the two
/// shipments.
async fn parcels(s: &TestServer) -> (Value, Value) {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "wh1", "name": "물류센터", "kind": "warehouse", "time_zone": "Asia/Seoul"})),
    )
    .await;
    for (code, name, barcodes) in [
        ("TEE-M", "반팔 티셔츠 M", json!(["8801234567893"])),
        ("CAP", "모자", json!([])),
        ("SOCK", "양말", json!([])),
    ] {
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": code, "name": name, "barcodes": barcodes})),
        )
        .await;
        ok(
            s,
            Method::POST,
            "/api/v1/movements",
            Some(json!({"kind": "receipt", "sku": code, "location": "wh1", "quantity": 5})),
        )
        .await;
    }
    ok(
        s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "자사몰", "kind": "web", "locations": ["wh1"]})),
    )
    .await;
    for (no, lines) in [
        (
            "A-1",
            json!([{"item_code": "TEE-M", "quantity": 2}, {"item_code": "CAP", "quantity": 1}]),
        ),
        ("A-2", json!([{"item_code": "SOCK", "quantity": 2}])),
    ] {
        ok(
            s,
            Method::POST,
            "/api/v1/channels/MALL/orders",
            Some(json!({"order_no": no, "customer": {"name": "김민지"}, "lines": lines})),
        )
        .await;
    }
    ok(s, Method::POST, "/api/v1/allocation-runs", Some(json!({}))).await;
    let packed = ok(s, Method::POST, "/api/v1/shipments", Some(json!({}))).await;
    let of = |no: &str| {
        packed["shipments"]
            .as_array()
            .expect("shipments")
            .iter()
            .find(|x| x["order_no"] == no)
            .unwrap_or_else(|| panic!("no shipment for {no}: {packed}"))
            .clone()
    };
    let (first, second) = (of("A-1"), of("A-2"));
    let first_id = first["id"].as_str().unwrap();
    ok(
        s,
        Method::POST,
        "/api/v1/couriers",
        Some(json!({"code": "cj", "name": "CJ대한통운"})),
    )
    .await;
    ok(
        s,
        Method::PUT,
        &format!("/api/v1/shipments/{first_id}/tracking"),
        Some(json!({"courier": "cj", "tracking_no": "612345678901"})),
    )
    .await;
    ok(
        s,
        Method::PUT,
        "/api/v1/locations/wh1/bins/TEE-M",
        Some(json!({"bin": "A-01-3"})),
    )
    .await;
    (first, second)
}

/// The scan station (seed 001 송장스캐닝) with typed scanner input: a
/// parcel opened by its tracking number, a wrong item, an unknown code, too
/// many, every unit, confirmation; a second parcel opened by its slip code,
/// refused to staff while incomplete, confirmed by a manager's override.
#[tokio::test]
async fn browser_scan_flow() {
    let Some(s) = browser_server("browser_scan_flow").await else {
        return;
    };
    let (first, second) = parcels(&s).await;
    let first_id = first["id"].as_str().unwrap().to_string();
    let second_id = second["id"].as_str().unwrap().to_string();
    let slip = second["code"].as_str().unwrap().to_string();
    user(&s, "packer", "staff").await;
    user(&s, "boss", "manager").await;
    run_script(&s, "scan.js", &[("SLIP", slip.as_str())]).await;
    let one = ok(
        &s,
        Method::GET,
        &format!("/api/v1/shipments/{first_id}"),
        None,
    )
    .await;
    assert_eq!(one["state"], "confirmed", "{one}");
    assert_eq!(one["override_reason"], Value::Null);
    let order = ok(
        &s,
        Method::GET,
        &format!("/api/v1/orders/{}", one["order_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(order["status"], "shipped", "{order}");
    assert_eq!(s.balance("TEE-M", "wh1").await["on_hand"], 3);
    assert_eq!(s.balance("CAP", "wh1").await["on_hand"], 4);
    let two = ok(
        &s,
        Method::GET,
        &format!("/api/v1/shipments/{second_id}"),
        None,
    )
    .await;
    assert_eq!(two["state"], "confirmed", "{two}");
    assert_eq!(two["scanned"], 1);
    assert_eq!(two["override_reason"], "스캐너 고장, 수량 직접 확인");
    assert_eq!(s.balance("SOCK", "wh1").await["on_hand"], 3);
    s.assert_verified().await;
    s.stop().await;
}

/// The scan station over HTTP on both engines: a parcel opens by tracking
/// number or slip code; staff get the scanner and confirm, managers also
/// the override, display users only the parcel; an unknown code and another
/// tenant's parcel are "not found"; English.
#[tokio::test]
async fn scan_station_pages_follow_roles_and_tenants() {
    for s in common::servers("ui_scan_station_pages").await {
        let (first, second) = parcels(&s).await;
        for (login, role) in [("disp", "display"), ("kim", "staff"), ("park", "manager")] {
            user(&s, login, role).await;
        }
        let display = sign_in(&s, "disp").await;
        let staff = sign_in(&s, "kim").await;
        let manager = sign_in(&s, "park").await;

        let (status, html) = page(&s, &staff, "/scan").await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        assert!(html.contains(r#"id="scan-code""#) && !html.contains(r#"id="shipment""#));
        let (_, html) = page(&s, &staff, "/scan?code=612345678901").await;
        assert!(html.contains("A-1") && html.contains("A-01-3") && html.contains("0 / 3"));
        assert!(html.contains(r#"id="scan-item""#) && html.contains(r#"id="confirm""#));
        assert!(!html.contains(r#"id="override""#), "staff get no override");
        let slip = second["code"].as_str().unwrap();
        let (_, html) = page(&s, &manager, &format!("/scan?code={slip}")).await;
        assert!(html.contains("A-2") && html.contains(r#"id="override""#));
        assert!(html.contains(&format!(
            "/api/v1/print/shipments.pdf?shipments={}",
            second["id"].as_str().unwrap()
        )));
        let (_, html) = page(&s, &display, "/scan?code=612345678901").await;
        assert!(
            html.contains("A-1")
                && !html.contains(r#"id="scan-item""#)
                && !html.contains(r#"id="confirm""#)
        );
        let (status, html) = page(&s, &staff, "/scan?code=%3Cb%3ENOPE").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("찾을 수 없습니다: &lt;b&gt;NOPE"), "escaped");
        let (_, en) = page(
            &s,
            &format!("{staff}; jaego_lang=en"),
            "/scan?code=612345678901",
        )
        .await;
        assert!(en.contains("Scan each unit") && en.contains("Confirm shipment"));

        // The order's page lists its parcels, each opening the scan
        // station, with the print view.
        let order = first["order_id"].as_str().unwrap();
        let (status, html) = page(&s, &staff, &format!("/orders/{order}")).await;
        assert_eq!(status, StatusCode::OK, "{}", s.engine);
        let code = first["code"].as_str().unwrap();
        assert!(
            html.contains(&format!(r#"href="/scan?code={code}""#)),
            "{html}"
        );
        assert!(html.contains(&format!(
            "/api/v1/print/shipments.pdf?shipments={}",
            first["id"].as_str().unwrap()
        )));
        assert!(html.contains("612345678901") && html.contains("0 / 3"));

        // Another tenant's user does not find this tenant's parcel.
        let other = s.store.create_tenant("other").await.unwrap();
        s.store
            .create_user(
                other,
                &jaego_store::users::NewUser {
                    login: "stranger".into(),
                    name: "stranger".into(),
                    role: jaego_core::Role::Owner,
                    password: PASSWORD.into(),
                },
            )
            .await
            .unwrap();
        let stranger = sign_in(&s, "stranger").await;
        let (status, html) = page(&s, &stranger, "/scan?code=612345678901").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("찾을 수 없습니다: 612345678901") && !html.contains("A-1"));
        assert!(!html.contains(first["id"].as_str().unwrap()));
        s.stop().await;
    }
}
