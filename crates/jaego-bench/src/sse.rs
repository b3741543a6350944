//! `jaego bench --scenario sse`: how long a stock change takes to reach
//! live event streams.
//!
//! It starts a server, opens N Server-Sent Event streams (each a separate
//! HTTP connection filtered to one SKU), then makes stock changes one at a
//! time at a steady pace and records, for every (stream, event), the time
//! the event's bytes arrived at the client minus the event's `created_at`.
//!
//! Why `created_at`: the server stamps it inside the transaction that
//! commits the change, just before the commit, so `arrival − created_at`
//! covers the commit itself, the wake-up of the dispatcher, the read of
//! the log, the fan-out and the socket, and slightly *over*states the time
//! from commit to arrival (never under). Server and client read the same
//! clock (one machine, loopback). The write's response time would be a
//! worse base: the response leaves after the commit, often after the event
//! was already pushed, which would make the figure look better than it is.
//! The bench also reports the time from sending the write request, an
//! upper bound that includes the request's own handling.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::server::{Server, ServerSpec};

/// What to run.
#[derive(Debug, Clone)]
pub struct SseOptions {
    /// Streams to open.
    pub subscribers: usize,
    /// Stock changes to make, one at a time.
    pub changes: usize,
    /// Pause between changes.
    pub interval: Duration,
    pub database_url: Option<String>,
    pub jaego_exe: std::path::PathBuf,
}

/// The figures. Field names are a stable JSON interface.
#[derive(Debug, Clone, Serialize)]
pub struct SseResult {
    pub scenario: String,
    pub engine: String,
    pub subscribers: usize,
    pub changes: usize,
    /// (stream, event) arrivals measured.
    pub samples: usize,
    /// Arrivals expected but not seen within the grace period.
    pub missing: usize,
    /// From the event's `created_at` (in the commit's transaction) to arrival.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// From sending the write request to arrival (an upper bound).
    pub from_request_p50_ms: f64,
    pub from_request_p99_ms: f64,
    /// The write requests' own latency.
    pub write_p50_ms: f64,
    pub write_p99_ms: f64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn percentile_ms(sorted_us: &[i64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((sorted_us.len() as f64 - 1.0) * q).round() as usize;
    sorted_us[index] as f64 / 1000.0
}

/// One arrival: (seq, arrival µs, created_at µs).
type Arrival = (i64, i64, i64);

/// Reads one stream until `expected` stock changes came or `deadline`.
async fn subscribe(
    mut response: reqwest::Response,
    expected: usize,
    ready: tokio::sync::mpsc::Sender<()>,
    deadline: tokio::time::Instant,
) -> Vec<Arrival> {
    let mut buffer = String::new();
    let mut out = Vec::with_capacity(expected);
    let mut announced = false;
    while out.len() < expected {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await else {
            break;
        };
        let arrived = now_us();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.contains("event: ready") && !announced {
                announced = true;
                let _ = ready.send(()).await;
                continue;
            }
            if !frame.contains("event: stock.changed") {
                continue;
            }
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(body) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            let created = body["created_at"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, jiff::Timestamp::as_microsecond);
            out.push((body["seq"].as_i64().unwrap_or(-1), arrived, created));
        }
    }
    out
}

/// Runs the SSE fan-out measurement.
pub async fn run(options: &SseOptions) -> anyhow::Result<SseResult> {
    if options.subscribers == 0 || options.subscribers > 1000 {
        bail!("--subscribers must be between 1 and 1000");
    }
    if options.changes == 0 || options.changes > 100_000 {
        bail!("--changes must be between 1 and 100000");
    }
    let temp = crate::tempdir()?;
    let database_url = match &options.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", temp.0.join("bench.db").display()),
    };
    let engine = if database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let spec = ServerSpec {
        exe: options.jaego_exe.clone(),
        database_url,
        extra_args: Vec::new(),
    };
    let server = Server::start(&spec, true).await?;
    let run = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    let location = format!("sse-{run}");
    let sku = format!("sse-{run}-sku");
    server.location(&location).await?;
    let (status, body) = server
        .post("/api/v1/skus", &json!({"code": sku, "name": sku}))
        .await?;
    if !status.is_success() {
        bail!("creating the SKU: {status} {body}");
    }
    eprintln!(
        "[{engine}] sse: opening {} streams, then {} stock changes {:?} apart",
        options.subscribers, options.changes, options.interval
    );
    // One client per stream: each stream is its own connection, as each
    // tablet or browser would be.
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(options.subscribers);
    let budget = options.interval * u32::try_from(options.changes).unwrap_or(u32::MAX)
        + Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + budget;
    let mut readers = Vec::with_capacity(options.subscribers);
    for _ in 0..options.subscribers {
        let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let response = client
            .get(format!(
                "{}/api/v1/events/stream?kinds=stock.changed&sku={sku}",
                server.base
            ))
            .bearer_auth(&server.token)
            .send()
            .await
            .context("opening a stream")?;
        if !response.status().is_success() {
            bail!(
                "opening a stream: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        readers.push(tokio::spawn(subscribe(
            response,
            options.changes,
            ready_tx.clone(),
            deadline,
        )));
    }
    drop(ready_tx);
    for _ in 0..options.subscribers {
        tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
            .await
            .context("a stream did not become ready within 30 s")?;
    }
    let mut request_times = Vec::with_capacity(options.changes);
    let mut writes = Vec::with_capacity(options.changes);
    let mut next = tokio::time::Instant::now();
    for _ in 0..options.changes {
        tokio::time::sleep_until(next).await;
        next += options.interval;
        let sent = now_us();
        let started = Instant::now();
        let (status, body) = server
            .post(
                "/api/v1/movements",
                &json!({"sku": sku, "location": location, "kind": "receipt", "quantity": 1}),
            )
            .await?;
        writes.push(i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX));
        if status.as_u16() != 201 {
            bail!("a stock change failed: {status} {body}");
        }
        request_times.push(sent);
    }
    let mut latencies = Vec::new();
    let mut from_request = Vec::new();
    let mut received = 0;
    for reader in readers {
        let arrivals = reader.await.context("a stream reader failed")?;
        received += arrivals.len();
        // The n-th stock change of the SKU is the n-th event each stream sees.
        for (i, (_, arrived, created)) in arrivals.iter().enumerate() {
            latencies.push(arrived - created);
            if let Some(sent) = request_times.get(i) {
                from_request.push(arrived - sent);
            }
        }
    }
    server.stop().await?;
    latencies.sort_unstable();
    from_request.sort_unstable();
    writes.sort_unstable();
    Ok(SseResult {
        scenario: "sse".into(),
        engine: engine.into(),
        subscribers: options.subscribers,
        changes: options.changes,
        samples: latencies.len(),
        missing: options.subscribers * options.changes - received,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |v| *v as f64 / 1000.0),
        from_request_p50_ms: percentile_ms(&from_request, 0.50),
        from_request_p99_ms: percentile_ms(&from_request, 0.99),
        write_p50_ms: percentile_ms(&writes, 0.50),
        write_p99_ms: percentile_ms(&writes, 0.99),
    })
}

/// A table for people.
pub fn render(r: &SseResult) -> String {
    format!(
        "engine    scenario  streams  changes  samples  missing  p50ms  p99ms  maxms  req p50  req p99  write p50  write p99\n\
         {:<9} {:<9} {:>7} {:>8} {:>8} {:>8} {:>6.2} {:>6.2} {:>6.2} {:>8.2} {:>8.2} {:>10.2} {:>10.2}\n",
        r.engine,
        r.scenario,
        r.subscribers,
        r.changes,
        r.samples,
        r.missing,
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.from_request_p50_ms,
        r.from_request_p99_ms,
        r.write_p50_ms,
        r.write_p99_ms,
    )
}
