//! `jaego bench`: starts jaego servers (or targets a running one), seeds the
//! data each scenario needs through the public API, drives the server over
//! real HTTP on loopback with keep-alive connections for a fixed time, and
//! reports throughput, latency percentiles, server memory and an oversell
//! check. Every figure comes with ratios measured in the same run: against
//! the HTTP ceiling (a trivial route on the same server) and against the
//! same scenario with group commit switched off.

#![forbid(unsafe_code)]

pub mod allocation;
mod load;
mod server;
pub mod sse;
pub mod torture;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

pub use load::Scenario;
use load::{Phase, drive};
use server::{Server, ServerSpec};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scenarios: Vec<Scenario>,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Measured time per phase.
    pub duration: Duration,
    /// Database for the servers the bench starts; `None` means a SQLite
    /// file in a fresh temp directory.
    pub database_url: Option<String>,
    /// The `jaego` executable to start servers with.
    pub jaego_exe: PathBuf,
    /// Units of the hot SKU; attempts beyond this must all be refused.
    pub hot_stock: i64,
    /// SKUs seeded into the catalog before the run (for the memory figure),
    /// in `locations` locations.
    pub catalog_skus: usize,
    pub locations: usize,
}

/// One scenario's figures. Field names are a stable JSON interface.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub engine: String,
    pub connections: usize,
    pub duration_s: f64,
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub errors: u64,
    pub granted: u64,
    pub refused_short: u64,
    pub ceiling_ops_per_s: f64,
    pub ratio_to_ceiling: f64,
    pub unbatched_ops_per_s: f64,
    pub unbatched_p50_ms: f64,
    pub unbatched_p99_ms: f64,
    pub ratio_to_unbatched: f64,
    /// True if any check of the oversell rules failed.
    pub oversold: bool,
    pub oversell_detail: String,
    /// The larger of the two servers' peak resident memory.
    pub peak_rss_mb: f64,
}

/// Runs every scenario: once with group commit on (with the ceiling), once
/// with it off, then `jaego verify` over the database. Fails if any check
/// fails, after printing what it measured.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Vec<ScenarioResult>> {
    if options.connections == 0 || options.connections > 1024 {
        bail!("--connections must be between 1 and 1024");
    }
    let temp = tempdir()?;
    let database_url = match &options.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", temp.0.join("bench.db").display()),
    };
    let engine = if database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let run_id = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let spec = ServerSpec {
        exe: options.jaego_exe.clone(),
        database_url: database_url.clone(),
        extra_args: Vec::new(),
    };

    // Phase 1: group commit on. Seed, measure the ceiling, run each scenario.
    let batched = Server::start(&spec, true).await?;
    batched
        .seed_catalog(&run_id, options.catalog_skus, options.locations)
        .await?;
    eprintln!(
        "[{engine}] measuring the HTTP ceiling (GET /healthz) for {:?}",
        options.duration
    );
    let ceiling = drive(
        &batched,
        &Phase::ceiling(),
        options.connections,
        options.duration,
    )
    .await?;
    let mut on = Vec::new();
    for scenario in &options.scenarios {
        let phase = Phase::prepare(
            &batched,
            *scenario,
            &format!("{run_id}-on"),
            options.hot_stock,
        )
        .await?;
        eprintln!("[{engine}] {} with group commit", scenario.name());
        let figures = drive(&batched, &phase, options.connections, options.duration).await?;
        let check = phase.check(&batched, &figures).await?;
        on.push((phase, figures, check));
    }
    let batched_rss = batched.stop().await?;

    // Phase 2: the same scenarios with one transaction per request.
    let unbatched = Server::start(&spec, false).await?;
    let mut off = Vec::new();
    for scenario in &options.scenarios {
        let phase = Phase::prepare(
            &unbatched,
            *scenario,
            &format!("{run_id}-off"),
            options.hot_stock,
        )
        .await?;
        eprintln!("[{engine}] {} without group commit", scenario.name());
        let figures = drive(&unbatched, &phase, options.connections, options.duration).await?;
        let check = phase.check(&unbatched, &figures).await?;
        off.push((figures, check));
    }
    let unbatched_rss = unbatched.stop().await?;

    let verified = server::verify(&spec).await?;
    let peak_rss_mb = batched_rss.max(unbatched_rss);
    let mut results = Vec::new();
    for ((phase, figures, check), (off_figures, off_check)) in on.into_iter().zip(off) {
        let mut problems: Vec<String> = [check, off_check].into_iter().flatten().collect();
        if let Some(v) = &verified {
            problems.push(format!("jaego verify: {v}"));
        }
        results.push(ScenarioResult {
            scenario: phase.scenario.name().to_string(),
            engine: engine.to_string(),
            connections: options.connections,
            duration_s: figures.elapsed.as_secs_f64(),
            ops_per_s: figures.ops_per_s(),
            p50_ms: figures.percentile_ms(0.50),
            p99_ms: figures.percentile_ms(0.99),
            p999_ms: figures.percentile_ms(0.999),
            errors: figures.errors,
            granted: figures.granted,
            refused_short: figures.short,
            ceiling_ops_per_s: ceiling.ops_per_s(),
            ratio_to_ceiling: figures.ops_per_s() / ceiling.ops_per_s().max(1.0),
            unbatched_ops_per_s: off_figures.ops_per_s(),
            unbatched_p50_ms: off_figures.percentile_ms(0.50),
            unbatched_p99_ms: off_figures.percentile_ms(0.99),
            ratio_to_unbatched: figures.ops_per_s() / off_figures.ops_per_s().max(1.0),
            oversold: !problems.is_empty(),
            oversell_detail: problems.join("; "),
            peak_rss_mb,
        });
    }
    Ok(results)
}

/// A table for people; the JSON file is for machines.
pub fn render(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    out.push_str(
        "engine    scenario     conns   ops/s  p50ms  p99ms p99.9ms  ceiling  x ceil  unbatched  x unb  unb p50  oversold  rss MB\n",
    );
    for r in results {
        out.push_str(&format!(
            "{:<9} {:<11} {:>6} {:>7.0} {:>6.2} {:>6.2} {:>7.2} {:>8.0} {:>7.2} {:>10.0} {:>6.1} {:>8.2} {:>9} {:>7.1}\n",
            r.engine,
            r.scenario,
            r.connections,
            r.ops_per_s,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.ceiling_ops_per_s,
            r.ratio_to_ceiling,
            r.unbatched_ops_per_s,
            r.ratio_to_unbatched,
            r.unbatched_p50_ms,
            if r.oversold { "YES" } else { "no" },
            r.peak_rss_mb
        ));
        if r.oversold {
            out.push_str(&format!("  oversell check failed: {}\n", r.oversell_detail));
        }
    }
    out
}

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("jaego-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).context("creating a temp directory")?;
    Ok(TempDir(dir))
}
