//! A flash sale over real HTTP on loopback, on both engines, with group
//! commit on and off: many clients reserve the same SKU at once and the
//! server never grants more than there is.

mod common;

use jaego_store::StoreOptions;
use reqwest::StatusCode;
use serde_json::json;

/// Concurrent requests, each reserving one unit.
const REQUESTS: usize = 200;
/// Units on hand before the sale.
const STOCK: i64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_with_group_commit() {
    let servers = common::servers("concurrency::flash_sale_with_group_commit").await;
    for server in servers {
        assert!(server.store.group_commit(), "{}", server.engine);
        flash_sale(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_without_group_commit() {
    let options = StoreOptions {
        group_commit: false,
        ..Default::default()
    };
    let servers =
        common::servers_with("concurrency::flash_sale_without_group_commit", options).await;
    for server in servers {
        assert!(!server.store.group_commit(), "{}", server.engine);
        flash_sale(server).await;
    }
}

/// Fires [`REQUESTS`] reservations of one unit at once against [`STOCK`]
/// units: exactly [`STOCK`] are granted, every other one is told it is short
/// by how much, and the ledger agrees with the balances.
async fn flash_sale(server: common::TestServer) {
    let engine = server.engine;
    let (wh, sku) = server.seed("WH1", "HOT-1", STOCK).await;
    let location_id = server.balance(&sku, &wh).await["location_id"]
        .as_str()
        .expect("location id")
        .to_string();
    let sku_id = server.balance(&sku, &wh).await["sku_id"]
        .as_str()
        .expect("sku id")
        .to_string();

    let seeded = server.all_movements(&server.owner).await.len();

    // One pooled client shared by every task; all requests are in flight
    // together, released by one barrier so none gets a head start.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(REQUESTS)
        .build()
        .expect("client");
    let url = server.url("/api/v1/reservations");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(REQUESTS));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            let token = server.owner.clone();
            let barrier = barrier.clone();
            let body = json!({
                "location": wh,
                "lines": [{"sku": sku, "quantity": 1}],
                "reference": format!("cart-{i}"),
            });
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                common::reply(response).await
            })
        })
        .collect();
    let replies = futures_util::future::join_all(tasks).await;

    let mut granted = Vec::new();
    let mut short = 0;
    for reply in replies {
        let reply = reply.expect("task");
        match reply.status {
            StatusCode::CREATED => {
                assert_eq!(reply.body["state"], "open", "{engine}: {}", reply.text);
                granted.push(reply.body["id"].as_str().expect("id").to_string());
            }
            StatusCode::CONFLICT => {
                common::assert_problem(&reply, StatusCode::CONFLICT, "insufficient_stock", engine);
                let shortages = reply.body["shortages"].as_array().expect("shortages");
                assert_eq!(shortages.len(), 1, "{engine}: {}", reply.text);
                let s = &shortages[0];
                assert_eq!(
                    (
                        s["line"].as_i64(),
                        s["sku_id"].as_str(),
                        s["location_id"].as_str(),
                        s["requested"].as_i64(),
                        s["available"].as_i64(),
                    ),
                    (
                        Some(0),
                        Some(sku_id.as_str()),
                        Some(location_id.as_str()),
                        Some(1),
                        Some(0)
                    ),
                    "{engine}: {}",
                    reply.text
                );
                short += 1;
            }
            other => panic!("{engine}: unexpected {other}: {}", reply.text),
        }
    }
    granted.sort();
    granted.dedup();
    assert_eq!(
        (granted.len(), short),
        (STOCK as usize, REQUESTS - STOCK as usize),
        "{engine}: granted and short"
    );

    let b = server.balance(&sku, &wh).await;
    assert_eq!(
        (
            b["on_hand"].as_i64(),
            b["reserved"].as_i64(),
            b["available"].as_i64()
        ),
        (Some(STOCK), Some(STOCK), Some(0)),
        "{engine}: {b}"
    );
    // Every granted reservation holds its unit (it is the ledger entry of
    // the hold); a short request wrote nothing, not even a movement.
    for id in &granted {
        let r = server
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/reservations/{id}"),
                &server.owner,
                None,
            )
            .await;
        assert_eq!(
            (
                r.status,
                r.body["state"].as_str(),
                r.body["lines"][0]["quantity"].as_i64()
            ),
            (StatusCode::OK, Some("open"), Some(1)),
            "{engine}: {}",
            r.text
        );
    }
    let movements = server.all_movements(&server.owner).await;
    assert_eq!(movements.len(), seeded, "{engine}: {movements:?}");
    server.assert_verified().await;
    server.stop().await;
}
