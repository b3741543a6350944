//! Graceful shutdown over real HTTP, on both engines: a request in flight
//! when the stop comes is finished and its change is in the ledger; new
//! connections are refused; `serve` returns.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jaego_store::{Store, StoreOptions};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Longest wait for anything in this test.
const PATIENCE: Duration = Duration::from_secs(10);

/// Writes all of `bytes` (tokio's `AsyncWriteExt` needs a feature this
/// crate does not ask for; readiness plus `try_write` does not).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.expect("writable");
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// Reads until the server closes the connection.
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream.readable().await.expect("readable");
        match stream.try_read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Splits a raw HTTP/1.1 response into its status code and JSON body
/// (the server answers with `Content-Length`, never chunked, here).
fn parse_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("content-length");
    assert_eq!(body.len(), length, "whole body: {text}");
    (status, serde_json::from_str(body).expect("JSON body"))
}

/// Waits until connecting to `addr` is refused (the listener is closed).
async fn wait_refused(addr: SocketAddr) {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return,
            // Accepted into the backlog just before the close, or reset by
            // it: not refused yet, so try again.
            Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{addr} still accepts connections after {PATIENCE:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    for mut server in common::servers("shutdown::graceful_shutdown").await {
        let engine = server.engine;
        let (wh, sku) = server.seed("WH1", "TS-M", 0).await;

        // A receipt whose headers and half its body are sent before the
        // stop; the rest comes after.
        let body = serde_json::to_vec(&json!({
            "sku": sku, "location": wh, "kind": "receipt", "quantity": 7, "reference": "in-flight",
        }))
        .expect("body");
        let head = format!(
            "POST /api/v1/movements HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            server.addr,
            server.owner,
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        let stream = TcpStream::connect(server.addr).await.expect("connect");
        write_all(&stream, head.as_bytes()).await;
        write_all(&stream, first).await;
        // Time for the server to read the head, authenticate and start
        // waiting for the body.
        tokio::time::sleep(Duration::from_millis(300)).await;

        server.trigger_stop();
        // The listener closes at once, while the request is still open.
        wait_refused(server.addr).await;
        write_all(&stream, rest).await;
        let raw = tokio::time::timeout(PATIENCE, read_to_end(&stream))
            .await
            .unwrap_or_else(|_| panic!("{engine}: no answer to the in-flight request"));
        let (status, movement) = parse_response(&raw);
        assert_eq!(status, 201, "{engine}: {}", String::from_utf8_lossy(&raw));
        assert_eq!(movement["reference"], "in-flight", "{engine}");

        let stopped = tokio::time::timeout(PATIENCE, server.wait_stopped()).await;
        assert!(
            matches!(stopped, Ok(Ok(()))),
            "{engine}: serve did not return cleanly: {stopped:?}"
        );
        let refused = TcpStream::connect(server.addr).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
            "{engine}: connection after shutdown: {refused:?}"
        );

        // The change is in the ledger, and the ledger agrees with the balance.
        let store = Store::connect(server.database_url(), StoreOptions::default())
            .await
            .expect("reopen");
        let tenant = store.first_tenant().await.expect("tenant").expect("tenant");
        let id = movement["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("movement id");
        let recorded = store.get_movement(tenant, id).await.expect("movement");
        assert_eq!(
            (recorded.quantity, recorded.delta.on_hand),
            (7, 7),
            "{engine}"
        );
        let sku_id = movement["sku_id"].as_str().unwrap().parse().unwrap();
        let location_id = movement["location_id"].as_str().unwrap().parse().unwrap();
        let balance = store
            .balance(tenant, sku_id, location_id)
            .await
            .expect("balance");
        assert_eq!(balance.on_hand, 7, "{engine}");
        assert!(store.verify().await.expect("verify").is_empty(), "{engine}");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_with_idle_keep_alive_connections_returns() {
    for server in common::servers("shutdown::idle_keep_alive").await {
        let engine = server.engine;
        let addr = server.addr;
        // The pooled client keeps its connection open after this answer.
        server.seed("WH1", "TS-M", 3).await;
        assert_eq!(
            server.balance("TS-M", "WH1").await["on_hand"],
            3,
            "{engine}"
        );
        tokio::time::timeout(PATIENCE, server.stop())
            .await
            .unwrap_or_else(|_| panic!("{engine}: stop hung on an idle connection"));
        let refused = TcpStream::connect(addr).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused),
            "{engine}: connection after shutdown: {refused:?}"
        );
    }
}
