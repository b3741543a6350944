//! Shipping through the HTTP API, on every engine: couriers, shipments
//! packed from allocated lines, the scan station (wrong item, over-scan,
//! unknown barcode, resuming after a reload and on a second device),
//! concurrent scans from two clients never exceeding a line's quantity,
//! confirmation (refused while incomplete, a manager's override with a
//! reason), tracking numbers from a CSV with bad rows, the print order,
//! and packing slips and invoices that scan back.

mod common;
mod scan;

use common::{TestServer, assert_problem};
use reqwest::{Method, StatusCode};
use rxing::BarcodeFormat;
use serde_json::{Value, json};

const TEE_EAN: &str = "8801234567893";

/// W1 (with `stock` of TEE, CAP and SOCK), channel MALL, courier `cj`.
async fn setup(server: &TestServer, stock: i64) {
    let r = server
        .post(
            "/api/v1/locations",
            json!({"code": "W1", "name": "W1", "kind": "warehouse", "time_zone": "Asia/Seoul"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    for (code, name, barcodes) in [
        ("TEE", "반팔 티셔츠", json!([TEE_EAN])),
        ("CAP", "모자", json!([])),
        ("SOCK", "양말", json!([])),
    ] {
        let r = server
            .post(
                "/api/v1/skus",
                json!({"code": code, "name": name, "barcodes": barcodes}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = server
            .post(
                "/api/v1/movements",
                json!({"sku": code, "location": "W1", "kind": "receipt", "quantity": stock}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = server
        .post(
            "/api/v1/channels",
            json!({"code": "MALL", "name": "Mall", "kind": "web", "locations": ["W1"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = server
        .post(
            "/api/v1/couriers",
            json!({"code": "cj", "name": "CJ대한통운"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// Collects and allocates order `no`; returns its id.
async fn allocated(server: &TestServer, no: &str, lines: &[(&str, i64)]) -> String {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "item_code": sku, "quantity": q}))
        .collect();
    let r = server
        .post(
            "/api/v1/channels/MALL/orders",
            json!({"order_no": no, "customer": {"name": "김하나", "address": "서울시 중구 세종대로 110", "phone": "010-1234-5678", "postal_code": "04524"}, "lines": lines}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    let id = r.body["order"]["id"].as_str().unwrap().to_string();
    let r = server
        .post("/api/v1/allocation-runs", json!({"orders": [id]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    id
}

async fn shipments_of(server: &TestServer, order: &str) -> Vec<Value> {
    let r = server
        .post(&format!("/api/v1/orders/{order}/shipments"), json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body.as_array().unwrap().clone()
}

async fn scan_as(server: &TestServer, token: &str, shipment: &str, barcode: &str) -> Value {
    let r = server
        .call(
            Method::POST,
            &format!("/api/v1/shipments/{shipment}/scans"),
            token,
            Some(json!({"barcode": barcode})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", server.engine, r.text);
    r.body
}

#[tokio::test]
async fn scan_station_answers_and_confirmation() {
    for server in common::servers("shipments::scan_station").await {
        let e = server.engine;
        setup(&server, 10).await;
        let order = allocated(&server, "A-100", &[("TEE", 2), ("CAP", 1)]).await;
        let made = shipments_of(&server, &order).await;
        assert_eq!(made.len(), 1, "{e}: one location, one shipment");
        let s = &made[0];
        let id = s["id"].as_str().unwrap().to_string();
        assert_eq!(s["units"], 3);
        assert_eq!(s["state"], "open");
        // Tracking number, then the scan station opens by it.
        let r = server
            .call(
                Method::PUT,
                &format!("/api/v1/shipments/{id}/tracking"),
                &server.owner,
                Some(json!({"courier": "cj", "tracking_no": "612345678901"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["courier"], "cj");
        let opened = server.get("/api/v1/scan-station/612345678901").await;
        assert_eq!(opened.status, StatusCode::OK, "{e}: {}", opened.text);
        assert_eq!(opened.body["id"], id.as_str());
        // …or by the packing slip's code.
        let by_slip = server
            .get(&format!(
                "/api/v1/scan-station/{}",
                s["code"].as_str().unwrap()
            ))
            .await;
        assert_eq!(by_slip.body["id"], id.as_str());
        let r = server.get("/api/v1/scan-station/nothing-like-it").await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", "unknown code");

        let staff = server.token("staff").await;
        let second_device = server.token("staff").await;
        let check = |answer: &Value, result: &str, remaining: i64| {
            assert_eq!(answer["result"], result, "{e}: {answer}");
            assert_eq!(answer["remaining"], remaining, "{e}: {answer}");
        };
        check(
            &scan_as(&server, &staff, &id, "NOPE-123").await,
            "unknown_barcode",
            3,
        );
        let wrong = scan_as(&server, &staff, &id, "SOCK").await;
        check(&wrong, "wrong_item", 3);
        assert_eq!(wrong["sku_code"], "SOCK");
        let first = scan_as(&server, &staff, &id, TEE_EAN).await;
        check(&first, "accepted", 2);
        assert_eq!(first["line"], 1);
        assert_eq!(first["line_remaining"], 1);
        assert_eq!(first["sku_code"], "TEE");
        // Incomplete: refused with a stable code, nothing changes.
        let r = server
            .call(
                Method::POST,
                &format!("/api/v1/shipments/{id}/confirm"),
                &staff,
                None,
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "scan_incomplete", e);
        assert_eq!(server.balance("TEE", "W1").await["on_hand"], 10);
        // A reload, and a second device, continue the same check.
        let reloaded = server.get("/api/v1/scan-station/612345678901").await;
        assert_eq!(reloaded.body["scanned"], 1, "{e}");
        assert_eq!(reloaded.body["lines"][0]["remaining"], 1, "{e}");
        check(
            &scan_as(&server, &second_device, &id, "TEE").await,
            "accepted",
            1,
        );
        check(&scan_as(&server, &staff, &id, TEE_EAN).await, "too_many", 1);
        let last = scan_as(&server, &second_device, &id, "CAP").await;
        check(&last, "accepted", 0);
        assert_eq!(last["complete"], true);
        let r = server
            .call(
                Method::POST,
                &format!("/api/v1/shipments/{id}/confirm"),
                &staff,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(r.body["shipment"]["state"], "confirmed");
        assert_eq!(r.body["order_status"], "shipped");
        let tee = server.balance("TEE", "W1").await;
        assert_eq!(
            (tee["on_hand"].as_i64(), tee["allocated"].as_i64()),
            (Some(8), Some(0)),
            "{e}"
        );
        // Scans and a second confirmation after it: refused.
        let r = server
            .call(
                Method::POST,
                &format!("/api/v1/shipments/{id}/scans"),
                &staff,
                Some(json!({"barcode": "TEE"})),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "shipment_not_open", e);
        // One shipment movement per line, referencing the tracking number.
        let moves = server.all_movements(&server.owner).await;
        let shipped: Vec<&Value> = moves.iter().filter(|m| m["kind"] == "shipment").collect();
        assert_eq!(shipped.len(), 2, "{e}");
        assert!(
            shipped.iter().all(|m| m["reference"] == "612345678901"),
            "{e}"
        );
        // The events went out with the change.
        let r = server
            .get("/api/v1/events?kinds=shipment.*,order.shipped&limit=500")
            .await;
        let kinds: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ev| ev["kind"].as_str().unwrap())
            .collect();
        for kind in [
            "shipment.created",
            "shipment.tracking_registered",
            "shipment.scanned",
            "order.shipped",
            "shipment.confirmed",
        ] {
            assert!(kinds.contains(&kind), "{e}: {kind} missing from {kinds:?}");
        }

        // The manager's override: staff may not, a manager may with a reason.
        let order = allocated(&server, "A-101", &[("SOCK", 2)]).await;
        let id = shipments_of(&server, &order).await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        scan_as(&server, &staff, &id, "SOCK").await;
        let confirm = |token: String, body: Value| {
            let server = &server;
            let id = id.clone();
            async move {
                server
                    .call(
                        Method::POST,
                        &format!("/api/v1/shipments/{id}/confirm"),
                        &token,
                        Some(body),
                    )
                    .await
            }
        };
        let r = confirm(staff.clone(), json!({"override_reason": "box sealed"})).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", e);
        let manager = server.token("manager").await;
        let r = confirm(manager.clone(), json!({"override_reason": "  "})).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        assert_eq!(r.body["errors"][0]["field"], "override_reason");
        let r = confirm(manager.clone(), json!({})).await;
        assert_problem(&r, StatusCode::CONFLICT, "scan_incomplete", e);
        let r = confirm(
            manager.clone(),
            json!({"override_reason": "scanner broken; counted by hand"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        assert_eq!(
            r.body["shipment"]["override_reason"],
            "scanner broken; counted by hand"
        );
        assert!(
            r.body["shipment"]["override_by"]
                .as_str()
                .is_some_and(|a| a.starts_with("token:")),
            "{e}: {}",
            r.text
        );
        assert_eq!(server.balance("SOCK", "W1").await["on_hand"], 8, "{e}");
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_from_two_clients_never_exceed_the_quantity() {
    for server in common::servers("shipments::concurrent_scans").await {
        let e = server.engine;
        setup(&server, 50).await;
        let order = allocated(&server, "C-1", &[("SOCK", 7), ("CAP", 1)]).await;
        let id = shipments_of(&server, &order).await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let a = server.token("staff").await;
        let b = server.token("staff").await;
        // Two devices, each with its own HTTP client, 12 scans each at once.
        let client_a = reqwest::Client::new();
        let client_b = reqwest::Client::new();
        let url = server.url(&format!("/api/v1/shipments/{id}/scans"));
        let scans = (0..24)
            .map(|i| {
                if i % 2 == 0 {
                    (client_a.clone(), a.clone(), "SOCK")
                } else {
                    (client_b.clone(), b.clone(), "SOCK")
                }
            })
            .collect();
        let (accepted, too_many) = common::scans_at_once(e, &url, scans).await;
        assert_eq!((accepted, too_many), (7, 17), "{e}");
        let s = server.get(&format!("/api/v1/shipments/{id}")).await;
        assert_eq!(s.body["lines"][0]["scanned"], 7, "{e}");
        assert_eq!(s.body["lines"][1]["scanned"], 0, "{e}");
        server.stop().await;
    }
}

async fn import(server: &TestServer, csv: &str) -> common::Reply {
    let r = server
        .http
        .post(server.url("/api/v1/tracking-numbers/import"))
        .bearer_auth(&server.owner)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    common::reply(r).await
}

#[tokio::test]
async fn tracking_numbers_from_a_csv_with_bad_rows() {
    for server in common::servers("shipments::tracking_csv").await {
        let e = server.engine;
        setup(&server, 10).await;
        for no in ["K-1", "K-2"] {
            allocated(&server, no, &[("CAP", 1)]).await;
        }
        allocated(&server, "K-3", &[("TEE", 1)]).await;
        let r = server.post("/api/v1/shipments", json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {}", r.text);
        assert_eq!(r.body["shipments"].as_array().unwrap().len(), 3, "{e}");
        assert_eq!(r.body["more"], false);
        let csv = "order_no,courier,tracking_no\n\
                   K-1,cj,600000000001\n\
                   K-404,cj,600000000002\n\
                   K-2,fedex,600000000003\n\
                   K-2,cj,6000 0000 03\n\
                   K-2,cj,600000000001\n\
                   K-2,cj\n\
                   K-2,cj,600000000004\n";
        let r = import(&server, csv).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
        let errors: Vec<(i64, &str)> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["line"].as_i64().unwrap(), x["field"].as_str().unwrap()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (3, "order_no"),
                (4, "courier"),
                (5, "tracking_no"),
                (6, "tracking_no"),
                (7, "row")
            ],
            "{e}: {}",
            r.text
        );
        assert!(
            r.body["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("K-404"),
            "{}",
            r.text
        );
        let good: Vec<i64> = r.body["registered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["line"].as_i64().unwrap())
            .collect();
        assert_eq!(good, vec![2, 8], "{e}");
        assert_eq!(r.body["rows"], 7);
        // The bad rows changed nothing: K-3 has no tracking number.
        let open = server.get("/api/v1/shipments?state=open").await;
        let k3 = open.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["order_no"] == "K-3")
            .unwrap();
        assert_eq!(k3["tracking_no"], Value::Null);
        let k2 = server.get("/api/v1/scan-station/600000000004").await;
        assert_eq!(k2.body["order_no"], "K-2", "{e}");
        // The same file again: registered rows are unchanged.
        let r = import(
            &server,
            "order_no,courier,tracking_no\nK-1,cj,600000000001\n",
        )
        .await;
        assert_eq!(r.body["unchanged"], 1, "{e}: {}", r.text);
        // A file without the needed columns is refused whole.
        let r = import(&server, "order,courier\nK-3,cj\n").await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);
        // A courier in use cannot be deleted; deactivated, it takes no more.
        let r = server
            .call(Method::DELETE, "/api/v1/couriers/cj", &server.owner, None)
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "courier_in_use", e);
        let r = server
            .call(
                Method::PATCH,
                "/api/v1/couriers/cj",
                &server.owner,
                Some(json!({"active": false})),
            )
            .await;
        assert_eq!(r.body["active"], false, "{}", r.text);
        let r = import(
            &server,
            "order_no,courier,tracking_no\nK-3,cj,600000000009\n",
        )
        .await;
        assert_eq!(r.body["errors"][0]["field"], "courier", "{e}: {}", r.text);
        server.stop().await;
    }
}

fn print_order_of(run: &Value) -> Vec<String> {
    run["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let skus: Vec<&str> = s["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["sku_code"].as_str().unwrap())
                .collect();
            format!("{}:{}", s["order_no"].as_str().unwrap(), skus.join("+"))
        })
        .collect()
}

#[tokio::test]
async fn print_order_and_documents_that_scan_back() {
    for server in common::servers("shipments::print").await {
        let e = server.engine;
        setup(&server, 10).await;
        allocated(&server, "P-1", &[("TEE", 1)]).await;
        allocated(&server, "P-2", &[("SOCK", 1)]).await;
        allocated(&server, "P-3", &[("SOCK", 1), ("CAP", 2)]).await;
        let r = server.post("/api/v1/shipments", json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        for (sku, bin) in [("SOCK", "A-01-1"), ("TEE", "B-02-3")] {
            let r = server
                .call(
                    Method::PUT,
                    &format!("/api/v1/locations/W1/bins/{sku}"),
                    &server.owner,
                    Some(json!({"bin": bin})),
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}: {}", r.text);
        }
        let r = server
            .call(
                Method::PUT,
                "/api/v1/locations/W1/bins/CAP",
                &server.owner,
                Some(json!({"bin": "no spaces"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);

        let cases: [(&str, &[&str]); 4] = [
            ("", &["P-1:TEE", "P-2:SOCK", "P-3:CAP+SOCK"]),
            (
                "?order=collected_at",
                &["P-1:TEE", "P-2:SOCK", "P-3:CAP+SOCK"],
            ),
            ("?order=sku", &["P-3:CAP+SOCK", "P-2:SOCK", "P-1:TEE"]),
            // SOCK at A-01-1 comes first (on P-3's slip too); CAP has no bin.
            ("?order=bin", &["P-3:SOCK+CAP", "P-2:SOCK", "P-1:TEE"]),
        ];
        for (query, expected) in cases {
            let r = server.get(&format!("/api/v1/print/shipments{query}")).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.text);
            assert_eq!(print_order_of(&r.body), expected, "{e}: {query}");
        }
        // The tenant's setting is the default.
        let r = server
            .call(
                Method::PUT,
                "/api/v1/shipping-settings",
                &server.owner,
                Some(json!({"print_order": "bin"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = server.get("/api/v1/print/shipments").await;
        assert_eq!(r.body["print_order"], "bin");
        assert_eq!(
            print_order_of(&r.body),
            ["P-3:SOCK+CAP", "P-2:SOCK", "P-1:TEE"]
        );
        let r = server
            .call(
                Method::PUT,
                "/api/v1/shipping-settings",
                &server.owner,
                Some(json!({"print_order": "random"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e);

        // The packing slip's barcode and the invoice's scan back.
        let first = &r_first(&server).await;
        let id = first["id"].as_str().unwrap();
        let code = first["code"].as_str().unwrap();
        let r = server
            .call(
                Method::PUT,
                &format!("/api/v1/shipments/{id}/tracking"),
                &server.owner,
                Some(json!({"courier": "cj", "tracking_no": "510012345678"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let slip = server
            .http
            .get(server.url(&format!("/api/v1/shipments/{id}/packing-slip.svg")))
            .bearer_auth(&server.owner)
            .send()
            .await
            .unwrap();
        assert_eq!(slip.headers()["content-type"], "image/svg+xml");
        let image = scan::rasterise_svg(&slip.text().await.unwrap(), 300.0);
        let (x, y, w, h) = jaego_server::documents::shipping::SLIP_BARCODE;
        let area = image.crop_mm(300.0, x - 2.0, y - 2.0, w + 4.0, h + 8.0);
        assert_eq!(
            scan::decode(&area, BarcodeFormat::CODE_128).as_deref(),
            Ok(code),
            "{e}: the slip's barcode"
        );
        let inv = server
            .http
            .get(server.url(&format!("/api/v1/shipments/{id}/invoice.svg")))
            .bearer_auth(&server.owner)
            .send()
            .await
            .unwrap();
        let image = scan::rasterise_svg(&inv.text().await.unwrap(), 300.0);
        assert_eq!(
            scan::decode(&image, BarcodeFormat::CODE_128).as_deref(),
            Ok("510012345678"),
            "{e}: the invoice's barcode"
        );
        // The scanned slip opens the shipment at the scan station.
        let r = server.get(&format!("/api/v1/scan-station/{code}")).await;
        assert_eq!(r.body["id"], id, "{e}");

        // The print run as one PDF, in print order: P-3's invoice and slip
        // first (it has the tracking number), then the slips of P-2, P-1.
        let pdf = server
            .http
            .get(server.url("/api/v1/print/shipments.pdf?order=bin"))
            .bearer_auth(&server.owner)
            .send()
            .await
            .unwrap();
        assert_eq!(pdf.status(), StatusCode::OK);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let bytes = pdf.bytes().await.unwrap().to_vec();
        assert!(bytes.starts_with(b"%PDF-"));
        if scan::have_poppler("shipments::print_order_and_documents_that_scan_back") {
            let pages = scan::rasterise_pdf(&bytes, 300);
            assert_eq!(pages.len(), 4, "{e}: an invoice and three slips");
            assert_eq!(
                scan::decode(&pages[0], BarcodeFormat::CODE_128).as_deref(),
                Ok("510012345678"),
                "{e}: page 1 is P-3's invoice"
            );
            let codes: Vec<String> = pages[1..]
                .iter()
                .map(|p| {
                    scan::decode(
                        &p.crop_mm(300.0, x - 2.0, y - 2.0, w + 4.0, h + 8.0),
                        BarcodeFormat::CODE_128,
                    )
                    .unwrap()
                })
                .collect();
            let run = server.get("/api/v1/print/shipments?order=bin").await;
            let expected: Vec<String> = run.body["shipments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["code"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(codes, expected, "{e}: slips in print order");
            let text = scan::pdf_text(&bytes);
            assert!(text.contains("포장 명세서"), "{e}: {text}");
            assert!(text.contains("양말"), "{e}: {text}");
        }
        server.stop().await;
    }
}

/// The first shipment in bin order (P-3).
async fn r_first(server: &TestServer) -> Value {
    let r = server.get("/api/v1/print/shipments?order=bin").await;
    r.body["shipments"][0].clone()
}
