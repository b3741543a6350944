//! `jaego bench --scenario allocation`: one allocation run over many open
//! orders, the way a merchant runs it after a day's collection.
//!
//! It starts a server, seeds `skus` SKUs stocked in `locations` locations
//! and a channel linked to all of them, collects `orders` orders of 1–5
//! lines each through the CSV order import (timed as collection), starts
//! one allocation run through the API (timed), then checks the result:
//! every order was considered, nothing is over-allocated (no balance has
//! negative available), the balances' `allocated` equals the units the run
//! reports, and `jaego verify` is clean.

use std::time::Instant;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::server::{Server, ServerSpec};

/// How long the bench waits for its allocation run before giving up, so a
/// stuck run never holds the machine.
const RUN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// What to run.
#[derive(Debug, Clone)]
pub struct AllocationOptions {
    pub orders: usize,
    pub skus: usize,
    pub locations: usize,
    /// Units of every SKU at every location.
    pub stock: i64,
    pub database_url: String,
    pub jaego_exe: std::path::PathBuf,
}

/// The figures. Field names are a stable JSON interface.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationResult {
    pub scenario: String,
    pub engine: String,
    pub orders: usize,
    pub lines: usize,
    pub skus: usize,
    pub locations: usize,
    pub collect_s: f64,
    pub collect_orders_per_s: f64,
    /// Wall time of the run request, as the client saw it.
    pub run_s: f64,
    /// The run's own duration, as the server recorded it.
    pub run_server_s: f64,
    pub orders_per_s: f64,
    pub allocated_orders: i64,
    pub skipped_orders: i64,
    pub allocated_units: i64,
    pub peak_rss_mb: f64,
    /// True if any check failed.
    pub failed: bool,
    pub detail: String,
}

/// Order rows per CSV upload (under the server's 50,000-row limit).
const CSV_ROWS_PER_FILE: usize = 40_000;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub async fn run(options: &AllocationOptions) -> anyhow::Result<AllocationResult> {
    if options.orders == 0 || options.skus == 0 || options.locations == 0 {
        bail!("--orders, --catalog-skus and --locations must be positive");
    }
    let engine = if options.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let spec = ServerSpec {
        exe: options.jaego_exe.clone(),
        database_url: options.database_url.clone(),
        extra_args: Vec::new(),
    };
    let server = Server::start(&spec, true).await?;
    let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    eprintln!(
        "[{engine}] seeding {} SKUs in {} locations",
        options.skus, options.locations
    );
    let codes: Vec<String> = (0..options.skus).map(|i| format!("{tag}-s{i}")).collect();
    let mut locations = Vec::new();
    for l in 0..options.locations {
        let code = format!("{tag}-L{l}");
        server.location(&code).await?;
        if l == 0 {
            server.skus_with_stock(&codes, &code, options.stock).await?;
        } else {
            server.stock(&codes, &code, options.stock).await?;
        }
        locations.push(code);
    }
    let channel = format!("{tag}-MALL");
    let (status, body) = server
        .post(
            "/api/v1/channels",
            &json!({"code": channel, "name": "Bench mall", "kind": "web", "locations": locations}),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating the channel: {status} {body}");
    }

    // Orders: 1-5 lines of distinct SKUs, 1-2 units each.
    eprintln!(
        "[{engine}] collecting {} orders through the CSV order import",
        options.orders
    );
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut files = Vec::new();
    let mut csv = String::from("order_no,item_code,quantity,customer_name,postal_code\n");
    let mut rows = 0;
    let mut lines = 0;
    for n in 0..options.orders {
        let count = 1 + rng.below(5);
        if rows + count > CSV_ROWS_PER_FILE {
            files.push(std::mem::replace(
                &mut csv,
                String::from("order_no,item_code,quantity,customer_name,postal_code\n"),
            ));
            rows = 0;
        }
        let mut used = Vec::with_capacity(count);
        while used.len() < count.min(options.skus) {
            let s = rng.below(options.skus);
            if !used.contains(&s) {
                used.push(s);
            }
        }
        for s in used {
            let postal = if n % 50 == 0 { "63001" } else { "04524" };
            csv.push_str(&format!(
                "{tag}-o{n},{},{},customer {n},{postal}\n",
                codes[s],
                1 + rng.below(2)
            ));
            rows += 1;
            lines += 1;
        }
    }
    files.push(csv);
    let started = Instant::now();
    for file in files {
        server
            .post_csv(&format!("/api/v1/channels/{channel}/orders/import"), file)
            .await?;
    }
    let collect = started.elapsed();

    eprintln!("[{engine}] running the allocation");
    let started = Instant::now();
    // In the background, as a merchant's run over this many orders goes:
    // answered 202 at once, then polled until it has finished.
    let (status, run) = server
        .post("/api/v1/allocation-runs", &json!({"background": true}))
        .await?;
    if status != StatusCode::ACCEPTED {
        bail!("starting the allocation run: {status} {run}");
    }
    let path = format!(
        "/api/v1/allocation-runs/{}",
        run["id"].as_str().unwrap_or_default()
    );
    let run = loop {
        let run: Value = server.get(&path).await.context("polling the run")?;
        if run["state"] != "running" {
            break run;
        }
        if started.elapsed() > RUN_PATIENCE {
            bail!("the allocation run was still running after {RUN_PATIENCE:?}: {run}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let run_time = started.elapsed();
    if run["state"] != "completed" {
        bail!("the allocation run did not complete: {run}");
    }
    // From the server's own /metrics, as every other bench phase reads it.
    let peak_rss_mb = server.process().await.map_or(0.0, |p| p.peak_rss_mb);
    let mut problems = Vec::new();
    let considered = run["considered"].as_u64().unwrap_or(0) as usize;
    if considered != options.orders {
        problems.push(format!(
            "the run considered {considered} of {} orders",
            options.orders
        ));
    }
    let units = run["units"].as_i64().unwrap_or(0);
    let (allocated, negative) = allocated_total(&server, &locations).await?;
    if allocated != units {
        problems.push(format!(
            "balances hold {allocated} allocated units, the run reports {units}"
        ));
    }
    if negative > 0 {
        problems.push(format!(
            "{negative} balances have negative available (over-allocated)"
        ));
    }
    server.stop().await?;
    if let Some(v) = crate::server::verify(&spec).await? {
        problems.push(format!("jaego verify: {v}"));
    }
    let run_server_s = run["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    Ok(AllocationResult {
        scenario: "allocation".into(),
        engine: engine.into(),
        orders: options.orders,
        lines,
        skus: options.skus,
        locations: options.locations,
        collect_s: collect.as_secs_f64(),
        collect_orders_per_s: options.orders as f64 / collect.as_secs_f64().max(1e-9),
        run_s: run_time.as_secs_f64(),
        run_server_s,
        orders_per_s: options.orders as f64 / run_time.as_secs_f64().max(1e-9),
        allocated_orders: run["allocated"].as_i64().unwrap_or(0)
            + run["partial"].as_i64().unwrap_or(0),
        skipped_orders: run["skipped"].as_i64().unwrap_or(0),
        allocated_units: units,
        peak_rss_mb,
        failed: !problems.is_empty(),
        detail: problems.join("; "),
    })
}

/// The allocated units over the bench's locations, and how many balances
/// have negative available.
async fn allocated_total(server: &Server, locations: &[String]) -> anyhow::Result<(i64, usize)> {
    let mut total = 0;
    let mut negative = 0;
    for location in locations {
        let mut path = format!("/api/v1/balances?location={location}&limit=500");
        loop {
            let page: Value = server.get(&path).await.context("reading balances")?;
            for b in page["items"].as_array().into_iter().flatten() {
                total += b["allocated"].as_i64().unwrap_or(0);
                if b["available"].as_i64().unwrap_or(0) < 0 {
                    negative += 1;
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => {
                    path = format!("/api/v1/balances?location={location}&limit=500&after={next}");
                }
                None => break,
            }
        }
    }
    Ok((total, negative))
}

/// A table for people.
pub fn render(r: &AllocationResult) -> String {
    format!(
        "engine    orders   lines  skus  locs  collect s  collect o/s   run s  server s  orders/s  allocated  skipped    units  rss MB  failed\n\
         {:<9} {:>6} {:>7} {:>5} {:>5} {:>10.2} {:>12.0} {:>7.2} {:>9.2} {:>9.0} {:>10} {:>8} {:>8} {:>7.1}  {}\n{}",
        r.engine,
        r.orders,
        r.lines,
        r.skus,
        r.locations,
        r.collect_s,
        r.collect_orders_per_s,
        r.run_s,
        r.run_server_s,
        r.orders_per_s,
        r.allocated_orders,
        r.skipped_orders,
        r.allocated_units,
        r.peak_rss_mb,
        if r.failed { "YES" } else { "no" },
        if r.failed {
            format!("  check failed: {}\n", r.detail)
        } else {
            String::new()
        },
    )
}
