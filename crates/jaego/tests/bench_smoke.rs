//! A short run of `jaego bench` (about ten seconds, tiny data), so the
//! command cannot rot: it must start its servers, seed, drive every scenario
//! over HTTP, pass its own oversell checks and `jaego verify`, and write the
//! JSON fields the issue names. The full run is in docs/PERFORMANCE.md.

use std::process::Command;

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
        assert!(r["ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["ceiling_ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The hot SKU held 200 units: the bench's own check asserted that
    // exactly min(200, attempts) reservations were granted.
    assert!(results[0]["granted"].as_u64().unwrap() <= 200);
    let _ = std::fs::remove_dir_all(&dir);
}
