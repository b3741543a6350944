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
use load::{Figures, Phase, drive};
use server::{Server, ServerSpec};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub scenarios: Vec<Scenario>,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Measured time per phase.
    pub duration: Duration,
    /// Database of the servers the bench starts (`None`: a SQLite file in a
    /// fresh temp directory). With a [`Target`], the database that server
    /// uses, if known: then `jaego verify` runs on it afterwards.
    pub database_url: Option<String>,
    /// Drive this running server instead of starting servers.
    pub target: Option<Target>,
    /// The `jaego` executable to start servers and `jaego verify` with.
    pub jaego_exe: PathBuf,
    /// Units of the hot SKU; attempts beyond this must all be refused.
    pub hot_stock: i64,
    /// SKUs seeded into the catalog before the run (for the memory figure),
    /// in `locations` locations.
    pub catalog_skus: usize,
    pub locations: usize,
}

/// A running server to drive instead of starting one.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// A token allowed to create locations, SKUs and stock in its tenant.
    pub token: String,
}

/// One scenario's figures. Field names are a stable JSON interface; a
/// figure that could not be measured is `null`, and `not_measured` says why.
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
    /// Server CPU time per request, microseconds.
    pub server_cpu_us_per_op: Option<f64>,
    /// This load generator's CPU time per request, microseconds (it shares
    /// the machine with the server).
    pub client_cpu_us_per_op: f64,
    pub ceiling_ops_per_s: f64,
    pub ceiling_server_cpu_us_per_op: Option<f64>,
    pub ceiling_client_cpu_us_per_op: f64,
    pub ratio_to_ceiling: f64,
    pub unbatched_ops_per_s: Option<f64>,
    pub unbatched_p50_ms: Option<f64>,
    pub unbatched_p99_ms: Option<f64>,
    pub ratio_to_unbatched: Option<f64>,
    /// True if any check of the oversell rules failed.
    pub oversold: bool,
    pub oversell_detail: String,
    /// Whether `jaego verify` found every balance equal to its ledger;
    /// `None` if it could not run (a target without `--database-url`).
    pub verified: Option<bool>,
    /// Reservation requests (new, commits, releases) per database
    /// transaction with group commit on, a request applied at once counting
    /// as a transaction of one; `None` if the server does not publish it.
    pub mean_batch: Option<f64>,
    /// The largest peak resident memory of the servers measured, in MB.
    pub peak_rss_mb: Option<f64>,
    /// Figures this run could not measure, each with the reason.
    pub not_measured: Vec<String>,
}

/// Runs every scenario: once with group commit on (with the ceiling), once
/// with it off, then `jaego verify` over the database. Against a running
/// server (`target`), only the first half: a running server's group commit
/// cannot be switched off. Fails if a check fails, after printing what it
/// measured.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Vec<ScenarioResult>> {
    if options.connections == 0 || options.connections > 1024 {
        bail!("--connections must be between 1 and 1024");
    }
    let temp = tempdir()?;
    let database_url = match (&options.database_url, &options.target) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(format!("sqlite://{}", temp.0.join("bench.db").display())),
    };
    let engine = match (&database_url, &options.target) {
        (Some(url), _) if url.starts_with("postgres") => "postgres",
        (Some(_), _) => "sqlite",
        (None, _) => "unknown",
    };
    let run_id = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let mut not_measured = Vec::new();

    // Phase 1: group commit on. Seed, measure the ceiling, run each scenario.
    let batched = match &options.target {
        Some(target) => {
            eprintln!(
                "driving the running server at {}; bench data goes into the token's tenant under codes starting bench-{run_id}",
                target.url
            );
            Server::attach(&target.url, &target.token).await?
        }
        None => {
            let spec = spec(options, database_url.as_deref())?;
            Server::start(&spec, true).await?
        }
    };
    let run_id = format!("bench-{run_id}");
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
    let mut peak_rss_mb = batched.process().await.map(|p| p.peak_rss_mb);
    if peak_rss_mb.is_none() {
        not_measured.push("peak memory: the server publishes no process figures".to_string());
    }
    batched.stop().await?;

    // Phase 2: the same scenarios with one transaction per request.
    let mut off = Vec::new();
    match &options.target {
        Some(_) => not_measured.push(
            "unbatched figures and ratio: a running server's group commit cannot be switched off (run without --target)"
                .to_string(),
        ),
        None => {
            let spec = spec(options, database_url.as_deref())?;
            let unbatched = Server::start(&spec, false).await?;
            for scenario in &options.scenarios {
                let phase = Phase::prepare(
                    &unbatched,
                    *scenario,
                    &format!("{run_id}-off"),
                    options.hot_stock,
                )
                .await?;
                eprintln!("[{engine}] {} without group commit", scenario.name());
                let figures =
                    drive(&unbatched, &phase, options.connections, options.duration).await?;
                let check = phase.check(&unbatched, &figures).await?;
                off.push((figures, check));
            }
            let rss = unbatched.process().await.map(|p| p.peak_rss_mb);
            peak_rss_mb = match (peak_rss_mb, rss) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            unbatched.stop().await?;
        }
    }

    let verified = match &database_url {
        Some(url) => Some(server::verify(&spec(options, Some(url))?).await?),
        None => {
            not_measured.push(
                "jaego verify: the target's database is unknown (pass --database-url)".to_string(),
            );
            None
        }
    };
    let mut off = off.into_iter();
    let mut results = Vec::new();
    for (phase, figures, check) in on {
        let unbatched = off.next();
        let mut problems: Vec<String> = check.into_iter().collect();
        if let Some((_, Some(off_check))) = &unbatched {
            problems.push(off_check.clone());
        }
        if let Some(Some(v)) = &verified {
            problems.push(format!("jaego verify: {v}"));
        }
        let unbatched = unbatched.map(|(f, _)| f);
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
            server_cpu_us_per_op: figures.server_cpu_us_per_op(),
            client_cpu_us_per_op: figures.client_cpu_us_per_op(),
            ceiling_ops_per_s: ceiling.ops_per_s(),
            ceiling_server_cpu_us_per_op: ceiling.server_cpu_us_per_op(),
            ceiling_client_cpu_us_per_op: ceiling.client_cpu_us_per_op(),
            ratio_to_ceiling: figures.ops_per_s() / ceiling.ops_per_s().max(1.0),
            unbatched_ops_per_s: unbatched.as_ref().map(Figures::ops_per_s),
            unbatched_p50_ms: unbatched.as_ref().map(|f| f.percentile_ms(0.50)),
            unbatched_p99_ms: unbatched.as_ref().map(|f| f.percentile_ms(0.99)),
            ratio_to_unbatched: unbatched
                .as_ref()
                .map(|f| figures.ops_per_s() / f.ops_per_s().max(1.0)),
            oversold: !problems.is_empty(),
            oversell_detail: problems.join("; "),
            verified: verified.as_ref().map(Option::is_none),
            mean_batch: figures.mean_batch(),
            peak_rss_mb,
            not_measured: not_measured.clone(),
        });
    }
    Ok(results)
}

fn spec(options: &BenchOptions, database_url: Option<&str>) -> anyhow::Result<ServerSpec> {
    Ok(ServerSpec {
        exe: options.jaego_exe.clone(),
        database_url: database_url
            .context("a started server needs a database")?
            .to_string(),
        extra_args: Vec::new(),
    })
}

/// A table for people; the JSON file is for machines. `-` marks a figure
/// that was not measured; the lines after the table say why.
pub fn render(results: &[ScenarioResult]) -> String {
    fn opt(v: Option<f64>, width: usize, decimals: usize) -> String {
        match v {
            Some(v) => format!("{v:>width$.decimals$}"),
            None => format!("{:>width$}", "-"),
        }
    }
    let mut out = String::new();
    out.push_str(
        "engine    scenario     conns   ops/s  p50ms  p99ms p99.9ms  ceiling  x ceil  unbatched  x unb  unb p50  srv us/op  cli us/op  batch  oversold  rss MB\n",
    );
    for r in results {
        out.push_str(&format!(
            "{:<9} {:<11} {:>6} {:>7.0} {:>6.2} {:>6.2} {:>7.2} {:>8.0} {:>7.2} {} {} {} {} {:>10.1} {} {:>9} {}\n",
            r.engine,
            r.scenario,
            r.connections,
            r.ops_per_s,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.ceiling_ops_per_s,
            r.ratio_to_ceiling,
            opt(r.unbatched_ops_per_s, 10, 0),
            opt(r.ratio_to_unbatched, 6, 1),
            opt(r.unbatched_p50_ms, 8, 2),
            opt(r.server_cpu_us_per_op, 10, 1),
            r.client_cpu_us_per_op,
            opt(r.mean_batch, 6, 1),
            if r.oversold { "YES" } else { "no" },
            opt(r.peak_rss_mb, 7, 1),
        ));
        if r.oversold {
            out.push_str(&format!("  oversell check failed: {}\n", r.oversell_detail));
        }
    }
    if let Some(r) = results.first() {
        out.push_str(&format!(
            "ceiling (GET /healthz): server {} us/op, client {:.1} us/op\n",
            opt(r.ceiling_server_cpu_us_per_op, 1, 1),
            r.ceiling_client_cpu_us_per_op
        ));
        match r.verified {
            Some(true) => out.push_str("jaego verify: clean\n"),
            Some(false) => out.push_str("jaego verify: MISMATCHES (see oversold)\n"),
            None => {}
        }
        for line in &r.not_measured {
            out.push_str(&format!("not measured: {line}\n"));
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
