//! A short run of `jaego bench` (about ten seconds, tiny data), so the
//! command cannot rot: it must start its servers, seed, drive every scenario
//! over HTTP, pass its own oversell checks and `jaego verify`, and write the
//! JSON fields the issue names. The full run is in docs/PERFORMANCE.md.

mod support;

use std::process::Command;
use support::Running;

#[test]
fn bench_runs_every_scenario_and_reports() {
    let dir = std::env::temp_dir().join(format!("jaego-bench-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_jaego"))
        .args([
            "bench",
            "--duration-secs",
            "0.5",
            "--connections",
            "4",
            "--catalog-skus",
            "50",
            "--locations",
            "2",
        ])
        .args(["--hot-stock", "200", "--json"])
        .arg(&json)
        .output()
        .expect("run jaego bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jaego bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = results.as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hot-sku", "spread", "multi-line", "mixed"]);
    for r in results {
        for field in [
            "engine",
            "connections",
            "duration_s",
            "ops_per_s",
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "ceiling_ops_per_s",
            "unbatched_ops_per_s",
            "oversold",
            "peak_rss_mb",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        assert_eq!(r["oversold"], false, "{r}");
        assert_eq!(r["verified"], true, "{r}");
        assert!(r["ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["ceiling_ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["server_cpu_us_per_op"].as_f64().is_some(), "{r}");
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 0.0, "{r}");
        // Requests per transaction: at least one, whatever the load.
        assert!(r["mean_batch"].as_f64().unwrap() >= 1.0, "{r}");
    }
    // The hot SKU held 200 units: the bench's own check asserted that
    // exactly min(200, attempts) reservations were granted.
    assert!(results[0]["granted"].as_u64().unwrap() <= 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `jaego bench --target`: drives a server it did not start, measures what
/// it can (throughput, latency, the server's CPU and memory from its
/// `/metrics`, `jaego verify` on the database it was told), and says which
/// figures it cannot measure that way instead of inventing them.
#[test]
fn bench_targets_a_running_server() {
    let exe = env!("CARGO_BIN_EXE_jaego");
    let dir = std::env::temp_dir().join(format!("jaego-bench-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("target.db").display());
    let out = Command::new(exe)
        .args(["token", "create", "--database-url", &url, "--role", "owner"])
        .output()
        .expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let server = Running(
        Command::new(exe)
            .args(["serve", "--database-url", &url, "--listen", &listen])
            .args(["--log-level", "warn"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let json = dir.join("bench.json");
    let out = Command::new(exe)
        .args([
            "bench",
            "--target",
            &format!("http://{listen}"),
            "--token",
            &token,
        ])
        .args(["--database-url", &url, "--scenario", "hot-sku,mixed"])
        .args([
            "--duration-secs",
            "0.5",
            "--connections",
            "4",
            "--catalog-skus",
            "0",
        ])
        .args(["--hot-stock", "100", "--json"])
        .arg(&json)
        .output()
        .expect("run jaego bench");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "jaego bench --target failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("not measured: unbatched"), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for r in results.as_array().unwrap() {
        assert_eq!(r["oversold"], false, "{r}");
        assert_eq!(r["verified"], true, "{r}");
        assert!(r["unbatched_ops_per_s"].is_null(), "{r}");
        assert!(r["ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["server_cpu_us_per_op"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 0.0, "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
