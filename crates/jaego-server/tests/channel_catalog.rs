//! Products from the channels through the HTTP API on both engines (seed
//! 002): auto vs manual sync, exclusions, code match, renames, bad rows,
//! the CSV upload and the signed webhook.

mod common;

use common::{TestServer, assert_problem, ok};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn mall(s: &TestServer) -> String {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": "WH", "name": "WH", "kind": "warehouse", "time_zone": "Asia/Seoul"})),
    )
    .await;
    let c = ok(
        s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "카페24", "kind": "cafe24", "locations": ["WH"]})),
    )
    .await;
    c["id"].as_str().unwrap().to_string()
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["item_code"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// "Update product information" on the mall: its report.
async fn apply(s: &TestServer) -> Value {
    ok(s, Method::POST, "/api/v1/channels/MALL/catalog/apply", None).await
}

fn counts(report: &Value) -> [i64; 5] {
    ["created", "linked", "changed", "skipped", "bad"].map(|k| report[k].as_i64().unwrap())
}

#[tokio::test]
async fn manual_sync_stages_until_applied_with_exclusions_code_match_and_bad_rows() {
    for s in common::servers("catalog_manual").await {
        mall(&s).await;
        // An existing SKU with the seller code of one product.
        ok(
            &s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": "TEE-M", "name": "티셔츠 M"})),
        )
        .await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/channels/MALL/catalog/exclusions/P-GIFT",
            Some(json!({"note": "사은품"})),
        )
        .await;
        let settings = ok(
            &s,
            Method::GET,
            "/api/v1/channels/MALL/catalog/settings",
            None,
        )
        .await;
        assert_eq!(settings["sync_mode"], "manual");

        let report = ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/catalog",
            Some(json!({"products": [
                {"item_code": "P-TEE", "item_option": "M", "sku_code": "TEE-M", "name": "티셔츠 M"},
                {"item_code": "P-CAP", "name": "모자", "barcode": "8801234567893"},
                {"item_code": "P-GIFT", "name": "사은품 볼펜"},
                {"item_code": "", "name": "no code"},
                {"item_code": "P-BAD", "sku_code": "has space", "name": "x"},
                {"item_code": "P-CAP", "name": "모자 again"},
            ]})),
        )
        .await;
        assert_eq!(report["applied"], false, "{}", s.engine);
        assert_eq!(report["bad"], 3, "{}: {report}", s.engine);
        let bad: Vec<_> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "bad")
            .map(|r| (r["row"].as_str().unwrap(), r["detail"].as_str().unwrap()))
            .collect();
        assert!(
            bad[0].0 == "products[3]" && bad[0].1.contains("item_code"),
            "{bad:?}"
        );
        assert!(
            bad[1].0 == "products[4]" && bad[1].1.contains("sku_code"),
            "{bad:?}"
        );
        assert!(
            bad[2].0 == "products[5]" && bad[2].1.contains("repeats"),
            "{bad:?}"
        );
        // Nothing entered the inventory list yet.
        let skus = ok(&s, Method::GET, "/api/v1/skus?q=P-CAP", None).await;
        assert_eq!(skus["items"].as_array().unwrap().len(), 0, "{}", s.engine);
        let staged = ok(
            &s,
            Method::GET,
            "/api/v1/channels/MALL/catalog/products?staged=true",
            None,
        )
        .await;
        assert_eq!(staged.as_array().unwrap().len(), 3, "{}", s.engine);
        let first = ok(
            &s,
            Method::GET,
            "/api/v1/channels/MALL/catalog/products?staged=true&limit=1",
            None,
        )
        .await;
        assert_eq!(first.as_array().unwrap().len(), 1, "{}", s.engine);
        // A limit out of range is refused, as on every other list.
        for limit in [0, 501] {
            let refused = s
                .get(&format!(
                    "/api/v1/channels/MALL/catalog/products?limit={limit}"
                ))
                .await;
            assert_problem(
                &refused,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                &format!("{}: limit={limit}", s.engine),
            );
        }

        // "Update product information".
        let report = apply(&s).await;
        assert_eq!(counts(&report), [1, 1, 0, 1, 0], "{}: {report}", s.engine);
        assert_eq!(
            outcomes(&report),
            [
                ("P-CAP".to_string(), "created".to_string()),
                ("P-GIFT".to_string(), "skipped".to_string()),
                ("P-TEE".to_string(), "linked".to_string()),
            ],
            "{}",
            s.engine
        );
        // The new SKU is untracked, carries the barcode, and is linked.
        let cap = ok(&s, Method::GET, "/api/v1/skus/P-CAP", None).await;
        assert_eq!(cap["tracked"], false, "{}", s.engine);
        assert_eq!(cap["barcodes"], json!(["8801234567893"]));
        let links = ok(&s, Method::GET, "/api/v1/channels/MALL/sku-links", None).await;
        let linked: Vec<_> = links["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["item_code"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(linked, ["P-CAP", "P-TEE"], "{}", s.engine);
        // The code match made no duplicate.
        let tees = ok(&s, Method::GET, "/api/v1/skus?q=TEE", None).await;
        assert_eq!(tees["items"].as_array().unwrap().len(), 1);
        let gift = s.get("/api/v1/skus/P-GIFT").await;
        assert_eq!(gift.status, StatusCode::NOT_FOUND, "{}", s.engine);

        // A rename on the channel follows into the linked SKU.
        ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/catalog",
            Some(json!({"products": [{"item_code": "P-CAP", "name": "볼캡"}]})),
        )
        .await;
        let report = apply(&s).await;
        assert_eq!(counts(&report), [0, 0, 1, 1, 0], "{}: {report}", s.engine);
        let cap = ok(&s, Method::GET, "/api/v1/skus/P-CAP", None).await;
        assert_eq!(cap["name"], "볼캡", "{}", s.engine);
        let reports = ok(
            &s,
            Method::GET,
            "/api/v1/channels/MALL/catalog/reports",
            None,
        )
        .await;
        assert_eq!(reports.as_array().unwrap().len(), 4, "{}", s.engine);
        s.stop().await;
    }
}

#[tokio::test]
async fn auto_sync_applies_webhook_and_csv_products_at_once() {
    for s in common::servers("catalog_auto").await {
        let channel = mall(&s).await;
        ok(
            &s,
            Method::PUT,
            "/api/v1/channels/MALL/catalog/settings",
            Some(json!({"sync_mode": "auto"})),
        )
        .await;
        let r = s
            .call(
                Method::PUT,
                "/api/v1/channels/MALL/catalog/settings",
                &s.owner,
                Some(json!({"sync_mode": "sometimes"})),
            )
            .await;
        assert_problem(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            s.engine,
        );
        let secret = "catalog-secret-0123456789";
        ok(
            &s,
            Method::PUT,
            "/api/v1/channels/MALL/order-settings",
            Some(json!({"webhook_secret": secret})),
        )
        .await;

        // The signed webhook: applied at once under `auto`.
        let body =
            serde_json::to_vec(&json!({"products": [{"item_code": "W-1", "name": "웹훅 상품"}]}))
                .unwrap();
        let now = jaego_store::now_us() / 1_000_000;
        let send = |signature: String| {
            s.http
                .post(s.url(&format!("/api/v1/hooks/channels/{channel}/catalog")))
                .header(jaego_core::signature::HEADER, signature)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        };
        let bad = common::reply(
            send(jaego_core::signature::sign(b"wrong", now, &body))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            bad.status,
            StatusCode::UNAUTHORIZED,
            "{}: {}",
            s.engine,
            bad.text
        );
        let r = common::reply(
            send(jaego_core::signature::sign(secret.as_bytes(), now, &body))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}: {}", s.engine, r.text);
        assert_eq!(r.body["applied"], true);
        assert_eq!(counts(&r.body), [1, 0, 0, 0, 0], "{}: {}", s.engine, r.text);
        ok(&s, Method::GET, "/api/v1/skus/W-1", None).await;

        // The CSV upload, with a bad row reported by line.
        let csv = "item_code,name,sku_code\nC-1,CSV 상품,\nC-2,,\n";
        let r = common::reply(
            s.http
                .post(s.url("/api/v1/channels/MALL/catalog/import"))
                .bearer_auth(&s.owner)
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", s.engine, r.text);
        assert_eq!(counts(&r.body), [1, 0, 0, 0, 1], "{}: {}", s.engine, r.text);
        let bad = r.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["outcome"] == "bad")
            .unwrap()
            .clone();
        assert_eq!(bad["row"], "line 3", "{}", s.engine);
        assert!(bad["detail"].as_str().unwrap().contains("name"), "{bad}");
        // Received again unchanged: skipped, nothing duplicated.
        let r = ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/catalog",
            Some(json!({"products": [{"item_code": "C-1", "name": "CSV 상품"}]})),
        )
        .await;
        assert_eq!(counts(&r), [0, 0, 0, 1, 0], "{}: {r}", s.engine);
        s.stop().await;
    }
}

/// Within one apply, a product sees what earlier products of the same
/// apply did, as applying them one by one would: a second product with
/// the seller code of a SKU the first created links to it, and a barcode
/// already on a SKU (old, or created earlier in the apply) is left off.
#[tokio::test]
async fn one_apply_links_later_products_to_skus_it_created_and_keeps_barcodes_unique() {
    for s in common::servers("catalog_one_apply").await {
        mall(&s).await;
        ok(
            &s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": "OLD", "name": "old", "barcodes": ["BC-OLD"]})),
        )
        .await;
        ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/catalog",
            Some(json!({"products": [
                {"item_code": "A1", "sku_code": "NEW-1", "name": "one", "barcode": "BC-NEW"},
                {"item_code": "A2", "sku_code": "NEW-1", "name": "one again", "barcode": "BC-OTHER"},
                {"item_code": "A3", "sku_code": "NEW-3", "name": "three", "barcode": "BC-NEW"},
                {"item_code": "A4", "sku_code": "NEW-4", "name": "four", "barcode": "BC-OLD"},
            ]})),
        )
        .await;
        let report = apply(&s).await;
        assert_eq!(counts(&report), [3, 1, 0, 0, 0], "{}: {report}", s.engine);
        assert_eq!(
            outcomes(&report),
            [
                ("A1".to_string(), "created".to_string()),
                ("A2".to_string(), "linked".to_string()),
                ("A3".to_string(), "created".to_string()),
                ("A4".to_string(), "created".to_string()),
            ],
            "{}",
            s.engine
        );
        let details: Vec<&str> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["detail"].as_str().unwrap())
            .collect();
        assert!(details[2].contains("BC-NEW"), "{}: {details:?}", s.engine);
        assert!(details[3].contains("BC-OLD"), "{}: {details:?}", s.engine);
        let barcodes = |code: &'static str| {
            let s = &s;
            async move {
                ok(s, Method::GET, &format!("/api/v1/skus/{code}"), None).await["barcodes"].clone()
            }
        };
        assert_eq!(barcodes("NEW-1").await, json!(["BC-NEW"]), "{}", s.engine);
        assert_eq!(barcodes("NEW-3").await, json!([]), "{}", s.engine);
        assert_eq!(barcodes("NEW-4").await, json!([]), "{}", s.engine);
        assert_eq!(barcodes("OLD").await, json!(["BC-OLD"]), "{}", s.engine);
        // Both item codes point at the one SKU NEW-1.
        let links = ok(&s, Method::GET, "/api/v1/channels/MALL/sku-links", None).await;
        let skus: Vec<&str> = links["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["item_code"] == "A1" || l["item_code"] == "A2")
            .map(|l| l["sku_id"].as_str().unwrap())
            .collect();
        assert_eq!(skus.len(), 2, "{}: {links}", s.engine);
        assert_eq!(skus[0], skus[1], "{}", s.engine);
        s.stop().await;
    }
}
