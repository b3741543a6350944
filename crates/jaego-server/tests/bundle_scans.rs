//! Barcode checks of bundles through the HTTP API on both engines: a
//! shipment line of a bundle is scanned as its components (or whole by
//! the bundle's own barcode), confirmation waits for every component
//! unit, two devices scanning the last unit count it once, and a pickup
//! request's bundle item is received and completed by component scans.

mod common;

use common::{TestServer, assert_problem, ok};
use jaego_store::now_us;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `location` (of `kind`) with A × 10 and B × 10 (barcodes `A-EAN`,
/// `B-EAN`), GIFT = 2 × A + 1 × B (barcode `GIFT-EAN`), and channel MALL
/// shipping from it.
async fn setup(s: &TestServer, location: &str, kind: &str) {
    ok(
        s,
        Method::POST,
        "/api/v1/locations",
        Some(json!({"code": location, "name": location, "kind": kind, "time_zone": "Asia/Seoul"})),
    )
    .await;
    for sku in ["A", "B"] {
        ok(
            s,
            Method::POST,
            "/api/v1/skus",
            Some(json!({"code": sku, "name": format!("{sku} 상품"), "barcodes": [format!("{sku}-EAN")]})),
        )
        .await;
        ok(
            s,
            Method::POST,
            "/api/v1/movements",
            Some(json!({"sku": sku, "location": location, "kind": "receipt", "quantity": 10})),
        )
        .await;
    }
    ok(
        s,
        Method::POST,
        "/api/v1/bundles",
        Some(
            json!({"code": "GIFT", "name": "선물세트", "barcodes": ["GIFT-EAN"], "components": [
                {"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}
            ]}),
        ),
    )
    .await;
    ok(
        s,
        Method::POST,
        "/api/v1/channels",
        Some(json!({"code": "MALL", "name": "MALL", "kind": "web", "locations": [location]})),
    )
    .await;
}

/// Collects order `no` (GIFT × `gifts`, A × 1), allocates it and packs
/// its shipment; returns the shipment.
async fn packed(s: &TestServer, no: &str, gifts: i64) -> Value {
    let body = ok(
        s,
        Method::POST,
        "/api/v1/channels/MALL/orders",
        Some(json!({"order_no": no, "lines": [
            {"sku": "GIFT", "item_code": "GIFT", "quantity": gifts},
            {"sku": "A", "item_code": "A", "quantity": 1}]})),
    )
    .await;
    let order = body["order"]["id"].as_str().unwrap().to_string();
    ok(
        s,
        Method::POST,
        "/api/v1/allocation-runs",
        Some(json!({"orders": [order]})),
    )
    .await;
    let shipments = ok(
        s,
        Method::POST,
        &format!("/api/v1/orders/{order}/shipments"),
        Some(json!({})),
    )
    .await;
    assert_eq!(shipments.as_array().unwrap().len(), 1, "{}", s.engine);
    shipments[0].clone()
}

/// A scan's answer; its shipment (built from the counts, not read back)
/// must be what a read gives.
async fn scan(s: &TestServer, shipment: &str, barcode: &str) -> Value {
    let r = ok(
        s,
        Method::POST,
        &format!("/api/v1/shipments/{shipment}/scans"),
        Some(json!({"barcode": barcode})),
    )
    .await;
    let read = ok(
        s,
        Method::GET,
        &format!("/api/v1/shipments/{shipment}"),
        None,
    )
    .await;
    assert_eq!(r["shipment"], read, "{}: scan {barcode}", s.engine);
    r
}

/// (quantity, scanned) of each component of the shipment's first line.
fn parts(shipment: &Value) -> Vec<(i64, i64)> {
    shipment["lines"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["quantity"].as_i64().unwrap(),
                c["scanned"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bundle_line_is_scanned_as_its_components() {
    for s in common::servers("bundle_scans::shipment").await {
        let e = s.engine;
        setup(&s, "WH", "warehouse").await;
        let sh = packed(&s, "B-1", 1).await;
        let id = sh["id"].as_str().unwrap().to_string();
        // GIFT × 1 is 2 × A + 1 × B to scan; the plain line 1 × A.
        assert_eq!(sh["units"], 4, "{e}: {sh}");
        assert_eq!(sh["lines"][0]["sku_code"], "GIFT", "{e}");
        assert_eq!(parts(&sh), vec![(2, 0), (1, 0)], "{e}: {sh}");
        assert_eq!(sh["lines"][0]["components"][0]["sku_code"], "A", "{e}");
        assert_eq!(sh["lines"][0]["components"][0]["per_bundle"], 2, "{e}");
        assert!(sh["lines"][1].get("components").is_none(), "{e}: {sh}");
        // The packing slip lists the components the packer picks under the
        // bundle line, with their units.
        let slip = s
            .http
            .get(s.url(&format!("/api/v1/shipments/{id}/packing-slip.svg")))
            .bearer_auth(&s.owner)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rows: Vec<&str> = ["GIFT", "- A", "- B"]
            .into_iter()
            .filter(|code| slip.contains(&format!(">{code}</text>")))
            .collect();
        assert_eq!(rows, ["GIFT", "- A", "- B"], "{e}: {slip}");

        // Component barcodes count components, bundle line first.
        let r = scan(&s, &id, "A-EAN").await;
        assert_eq!(r["result"], "accepted", "{e}: {r}");
        assert_eq!(r["line"], 1, "{e}");
        assert_eq!(r["sku_code"], "A", "{e}");
        assert_eq!(r["line_remaining"], 2, "{e}");
        assert_eq!(r["remaining"], 3, "{e}");
        // A whole bundle no longer fits: too many, nothing counted.
        let r = scan(&s, &id, "GIFT-EAN").await;
        assert_eq!(r["result"], "too_many", "{e}: {r}");
        assert_eq!(r["remaining"], 3, "{e}");
        let r = scan(&s, &id, "A-EAN").await;
        assert_eq!(
            (r["line"].clone(), r["line_remaining"].clone()),
            (json!(1), json!(1)),
            "{e}: {r}"
        );
        // The bundle's A are all in: the next A goes to the plain line.
        let r = scan(&s, &id, "A").await;
        assert_eq!(
            (r["line"].clone(), r["remaining"].clone()),
            (json!(2), json!(1)),
            "{e}: {r}"
        );
        // A third A for the bundle (a fourth in all) is one too many.
        let r = scan(&s, &id, "A-EAN").await;
        assert_eq!(r["result"], "too_many", "{e}: {r}");
        assert_eq!(r["remaining"], 1, "{e}");

        // Confirmation waits for every component unit.
        let r = s
            .call(
                Method::POST,
                &format!("/api/v1/shipments/{id}/confirm"),
                &s.owner,
                Some(json!({})),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "scan_incomplete", e);
        assert!(r.text.contains("3 of 4"), "{e}: {}", r.text);

        let r = scan(&s, &id, "B-EAN").await;
        assert_eq!(r["result"], "accepted", "{e}: {r}");
        assert_eq!(r["complete"], true, "{e}: {r}");
        assert_eq!(r["shipment"]["lines"][0]["scanned"], 1, "{e}: {r}");
        assert_eq!(parts(&r["shipment"]), vec![(2, 2), (1, 1)], "{e}");

        // Reloaded, the counts are still there.
        let again = ok(&s, Method::GET, &format!("/api/v1/shipments/{id}"), None).await;
        assert_eq!(parts(&again), vec![(2, 2), (1, 1)], "{e}");
        let done = ok(
            &s,
            Method::POST,
            &format!("/api/v1/shipments/{id}/confirm"),
            Some(json!({})),
        )
        .await;
        assert_eq!(done["order_status"], "shipped", "{e}: {done}");
        // The components left stock: 2 + 1 of A, 1 of B.
        for (sku, on_hand) in [("A", 7), ("B", 9)] {
            let b = s.balance(sku, "WH").await;
            assert_eq!(b["on_hand"], on_hand, "{e}: {sku} {b}");
            assert_eq!(b["allocated"], 0, "{e}: {sku} {b}");
        }

        // The bundle's own barcode counts a whole bundle while it fits.
        let sh = packed(&s, "B-2", 2).await;
        let id = sh["id"].as_str().unwrap().to_string();
        assert_eq!(parts(&sh), vec![(4, 0), (2, 0)], "{e}");
        let r = scan(&s, &id, "GIFT-EAN").await;
        assert_eq!(r["result"], "accepted", "{e}: {r}");
        assert!(r["component_sku_id"].is_null(), "{e}: {r}");
        assert_eq!(r["remaining"], 4, "{e}: {r}");
        let r = scan(&s, &id, "B-EAN").await;
        assert_eq!(r["result"], "accepted", "{e}: {r}");
        // B is all in: the second bundle no longer fits.
        let r = scan(&s, &id, "GIFT").await;
        assert_eq!(r["result"], "too_many", "{e}: {r}");
        let r = scan(&s, &id, "C-404").await;
        assert_eq!(r["result"], "unknown_barcode", "{e}: {r}");
        let shipment = ok(&s, Method::GET, &format!("/api/v1/shipments/{id}"), None).await;
        assert_eq!(parts(&shipment), vec![(4, 2), (2, 2)], "{e}");
        assert_eq!(shipment["lines"][0]["scanned"], 1, "{e}");
        assert_eq!(shipment["scanned"], 4, "{e}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_scanning_the_last_component_count_it_once() {
    for s in common::servers("bundle_scans::concurrent").await {
        let e = s.engine;
        setup(&s, "WH", "warehouse").await;
        let sh = packed(&s, "C-1", 1).await;
        let id = sh["id"].as_str().unwrap().to_string();
        for code in ["A-EAN", "A-EAN", "A-EAN"] {
            assert_eq!(scan(&s, &id, code).await["result"], "accepted", "{e}");
        }
        // One B left; two clients scan B, and the bundle, at once.
        let url = s.url(&format!("/api/v1/shipments/{id}/scans"));
        let scans = ["B-EAN", "B-EAN", "B-EAN", "GIFT-EAN"]
            .map(|barcode| (reqwest::Client::new(), s.owner.clone(), barcode));
        let (accepted, _) = common::scans_at_once(e, &url, scans.into()).await;
        assert_eq!(accepted, 1, "{e}");
        let shipment = ok(&s, Method::GET, &format!("/api/v1/shipments/{id}"), None).await;
        assert_eq!(parts(&shipment), vec![(2, 2), (1, 1)], "{e}");
        assert_eq!(shipment["complete"], true, "{e}");
        s.stop().await;
    }
}

#[tokio::test]
async fn a_pickup_of_a_bundle_is_received_and_completed_by_its_components() {
    for s in common::servers("bundle_scans::pickup").await {
        let e = s.engine;
        setup(&s, "GN", "store").await;
        let body = ok(
            &s,
            Method::POST,
            "/api/v1/channels/MALL/orders",
            Some(json!({"order_no": "P-1", "customer": {"name": "김하나", "phone": "010-1234-5678"},
                "pickup_location": "GN", "lines": [{"sku": "GIFT", "quantity": 1}, {"sku": "B", "quantity": 1}]})),
        )
        .await;
        assert!(body["order"]["id"].is_string(), "{e}: {body}");
        let external_no = "P-1".to_string();
        s.store.pickup_intake(now_us()).await.unwrap();
        let list = ok(&s, Method::GET, "/api/v1/pickups?order_no=P-1", None).await;
        let p = list["items"][0].clone();
        let id = p["id"].as_str().unwrap().to_string();
        let gift = &p["items"][0];
        assert_eq!(gift["sku_code"], "GIFT", "{e}: {p}");
        let comps: Vec<(String, i64)> = gift["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["sku_code"].as_str().unwrap().to_string(),
                    c["units"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(comps, vec![("A".into(), 2), ("B".into(), 1)], "{e}: {p}");

        let scan = |phase: &'static str, code: &'static str| {
            let s = &s;
            let id = id.clone();
            async move {
                s.call(
                    Method::POST,
                    &format!("/api/v1/pickups/{id}/{phase}-scans"),
                    &s.owner,
                    Some(json!({"code": code})),
                )
                .await
            }
        };
        // Reception: component barcodes; B goes to the bundle first, then
        // to the plain item.
        let r = scan("reception", "A-EAN").await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["sku_code"], "A", "{e}");
        assert_eq!(r.body["remaining"], 3, "{e}: {}", r.text);
        // A whole bundle no longer fits.
        let r = scan("reception", "GIFT-EAN").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_over_scan", e);
        for code in ["A-EAN", "B-EAN"] {
            let r = scan("reception", code).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        }
        assert_eq!(r_status(&s, &id).await, "requested", "{e}");
        let r = scan("reception", "A-EAN").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_over_scan", e);
        let r = scan("reception", "B-EAN").await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["pickup"]["status"], "received", "{e}: {}", r.text);
        assert_eq!(r.body["pickup"]["items"][0]["received_scans"], 1, "{e}");
        // Held: the components are allocated at the store.
        for (sku, allocated) in [("A", 2), ("B", 2)] {
            let b = s.balance(sku, "GN").await;
            assert_eq!(b["allocated"], allocated, "{e}: {sku} {b}");
        }

        // Completion: slip, receipt, then the bundle whole and the B.
        let receipt = r.body["pickup"]["receipt_code"]
            .as_str()
            .unwrap()
            .to_string();
        for code in [external_no.as_str(), receipt.as_str()] {
            let r = s
                .call(
                    Method::POST,
                    &format!("/api/v1/pickups/{id}/completion-scans"),
                    &s.owner,
                    Some(json!({"code": code})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        }
        let r = scan("completion", "GIFT-EAN").await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["remaining"], 1, "{e}: {}", r.text);
        let r = scan("completion", "A-EAN").await;
        assert_problem(&r, StatusCode::CONFLICT, "pickup_over_scan", e);
        let r = scan("completion", "B-EAN").await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        ok(
            &s,
            Method::POST,
            &format!("/api/v1/pickups/{id}/complete"),
            None,
        )
        .await;
        for (sku, on_hand) in [("A", 8), ("B", 8)] {
            let b = s.balance(sku, "GN").await;
            assert_eq!(b["on_hand"], on_hand, "{e}: {sku} {b}");
            assert_eq!(b["allocated"], 0, "{e}: {sku} {b}");
        }
        s.stop().await;
    }
}

async fn r_status(s: &TestServer, id: &str) -> String {
    ok(s, Method::GET, &format!("/api/v1/pickups/{id}"), None).await["status"]
        .as_str()
        .unwrap()
        .to_string()
}
