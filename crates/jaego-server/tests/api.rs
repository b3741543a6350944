//! Full-server tests of the JSON API over real HTTP on loopback, on both
//! engines.

mod common;

use reqwest::StatusCode;
use serde_json::json;

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
