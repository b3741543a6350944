//! The load: scenarios, the connection loops that drive them, and the
//! checks that nothing was oversold.

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use crate::server::{Commits, Server, own_cpu_seconds};

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every request reserves 1 unit of the same SKU at one location.
    HotSku,
    /// Each request reserves 1 unit of one of 10,000 SKUs, uniformly.
    Spread,
    /// Each request reserves 3 lines over 1,000 SKUs.
    MultiLine,
    /// Reserve, then commit or release; receipts refill the stock.
    Mixed,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::HotSku,
        Scenario::Spread,
        Scenario::MultiLine,
        Scenario::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::HotSku => "hot-sku",
            Scenario::Spread => "spread",
            Scenario::MultiLine => "multi-line",
            Scenario::Mixed => "mixed",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// One measured phase: a scenario with the data seeded for it.
pub struct Phase {
    pub scenario: Scenario,
    ceiling: bool,
    location: String,
    skus: Vec<String>,
    stock: i64,
}

impl Phase {
    pub fn ceiling() -> Phase {
        Phase {
            scenario: Scenario::HotSku,
            ceiling: true,
            location: String::new(),
            skus: Vec::new(),
            stock: 0,
        }
    }

    /// Seeds this phase's own location and SKUs, so phases never share stock.
    pub async fn prepare(
        server: &Server,
        scenario: Scenario,
        prefix: &str,
        hot_stock: i64,
    ) -> anyhow::Result<Phase> {
        let tag = scenario.name();
        let location = format!("{prefix}-{tag}");
        server.location(&location).await?;
        let (count, stock) = match scenario {
            Scenario::HotSku => (1, hot_stock),
            Scenario::Spread => (10_000, 1_000),
            Scenario::MultiLine => (1_000, 100_000),
            Scenario::Mixed => (100, 50),
        };
        let skus: Vec<String> = (0..count).map(|i| format!("{prefix}-{tag}-{i}")).collect();
        server.skus_with_stock(&skus, &location, stock).await?;
        Ok(Phase {
            scenario,
            ceiling: false,
            location,
            skus,
            stock,
        })
    }

    /// The oversell checks; `None` if all hold.
    pub async fn check(
        &self,
        server: &Server,
        figures: &Figures,
    ) -> anyhow::Result<Option<String>> {
        let mut problems = Vec::new();
        if figures.errors > 0 {
            problems.push(format!(
                "{} requests failed (neither granted nor short)",
                figures.errors
            ));
        }
        let balances = balances(server, &self.location).await?;
        if let Some(b) = balances
            .iter()
            .find(|b| b["available"].as_i64().unwrap_or(0) < 0)
        {
            problems.push(format!("negative available under strict: {b}"));
        }
        let reserved: i64 = balances
            .iter()
            .map(|b| b["reserved"].as_i64().unwrap_or(0))
            .sum();
        let allocated: i64 = balances
            .iter()
            .map(|b| b["allocated"].as_i64().unwrap_or(0))
            .sum();
        match self.scenario {
            Scenario::HotSku => {
                let attempts = figures.granted + figures.short;
                let expected = (self.stock as u64).min(attempts);
                if figures.granted != expected {
                    problems.push(format!(
                        "{} granted but min(stock {}, attempts {attempts}) = {expected}",
                        figures.granted, self.stock
                    ));
                }
                if reserved != figures.granted_units as i64 {
                    problems.push(format!(
                        "reserved {reserved} but {} units granted",
                        figures.granted_units
                    ));
                }
            }
            Scenario::Spread | Scenario::MultiLine => {
                if reserved != figures.granted_units as i64 {
                    problems.push(format!(
                        "reserved {reserved} but {} units granted",
                        figures.granted_units
                    ));
                }
            }
            Scenario::Mixed => {
                // Open reservations are at most what was granted and not yet
                // resolved; allocated at most what was committed.
                if allocated > figures.committed_units as i64 {
                    problems.push(format!(
                        "allocated {allocated} but only {} units committed",
                        figures.committed_units
                    ));
                }
            }
        }
        Ok(if problems.is_empty() {
            None
        } else {
            Some(format!("{}: {}", self.scenario.name(), problems.join(", ")))
        })
    }
}

async fn balances(server: &Server, location: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = server
            .get(&format!(
                "/api/v1/balances?location={location}&limit=500&after={after}"
            ))
            .await?;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => after = next.to_string(),
            None => return Ok(out),
        }
    }
}

/// What one phase measured.
#[derive(Debug, Default)]
pub struct Figures {
    pub elapsed: Duration,
    /// CPU time the server spent during the phase (`None` if it does not
    /// publish its CPU time).
    pub server_cpu_s: Option<f64>,
    /// CPU time this load generator spent during the phase.
    pub client_cpu_s: f64,
    /// The server's group-commit requests and transactions during the
    /// phase (`None` with group commit off).
    pub commits: Option<Commits>,
    pub latencies_us: Vec<u32>,
    pub ops: u64,
    pub granted: u64,
    pub granted_units: u64,
    pub committed_units: u64,
    pub short: u64,
    pub errors: u64,
}

impl Figures {
    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Reservation requests per transaction during the phase.
    pub fn mean_batch(&self) -> Option<f64> {
        self.commits
            .filter(|c| c.transactions > 0.0)
            .map(|c| c.requests / c.transactions)
    }

    /// Server CPU time per request, in microseconds.
    pub fn server_cpu_us_per_op(&self) -> Option<f64> {
        self.server_cpu_s
            .map(|s| s * 1e6 / (self.ops.max(1) as f64))
    }

    /// Load-generator CPU time per request, in microseconds.
    pub fn client_cpu_us_per_op(&self) -> f64 {
        self.client_cpu_s * 1e6 / (self.ops.max(1) as f64)
    }

    /// Latency at `q` (0..1) in milliseconds; `latencies_us` is sorted.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.latencies_us[index]) / 1000.0
    }

    fn merge(&mut self, other: Figures) {
        self.latencies_us.extend(other.latencies_us);
        self.ops += other.ops;
        self.granted += other.granted;
        self.granted_units += other.granted_units;
        self.committed_units += other.committed_units;
        self.short += other.short;
        self.errors += other.errors;
    }
}

/// A small xorshift generator: each connection gets its own, seeded by its
/// index, so runs are repeatable and cost nothing to share.
/// A small xorshift generator: the load needs speed and repeatability, not
/// statistical quality.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Drives `phase` with `connections` concurrent request loops for `duration`,
/// and measures the CPU time the server and this load generator spent.
pub async fn drive(
    server: &Server,
    phase: &Phase,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let server_before = server.process().await;
    let client_before = own_cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let connection = Connection {
            http: server.http.clone(),
            base: server.base.clone(),
            auth: HeaderValue::from_str(&format!("Bearer {}", server.token))?,
            location: phase.location.clone(),
            skus: phase.skus.clone(),
            rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0001)),
        };
        let scenario = phase.scenario;
        let ceiling = phase.ceiling;
        tasks.push(tokio::spawn(async move {
            connection.run(scenario, ceiling, deadline).await
        }));
    }
    let mut total = Figures::default();
    for task in tasks {
        total.merge(task.await??);
    }
    total.elapsed = started.elapsed();
    total.client_cpu_s = own_cpu_seconds() - client_before;
    let server_after = server.process().await;
    total.server_cpu_s = match (&server_before, &server_after) {
        (Some(before), Some(after)) => Some(after.cpu_seconds - before.cpu_seconds),
        _ => None,
    };
    total.commits = match (
        server_before.and_then(|p| p.group_commit),
        server_after.and_then(|p| p.group_commit),
    ) {
        (Some(before), Some(after)) => Some(Commits {
            requests: after.requests - before.requests,
            transactions: after.transactions - before.transactions,
        }),
        _ => None,
    };
    total.latencies_us.sort_unstable();
    if total.ops == 0 {
        bail!("no request completed");
    }
    Ok(total)
}

/// One keep-alive request loop. It does what a real client must and no
/// more, the same way for the ceiling and for the scenarios: build the
/// request, send it, read the whole answer, and look at the status (and,
/// where it needs them, one or two fields of the body).
struct Connection {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
    location: String,
    skus: Vec<String>,
    rng: Rng,
}

enum Answer {
    /// Done; with the created reservation's id when asked for it.
    Granted(Option<String>),
    Short,
    Error,
}

/// The fields of a reservation answer the load needs.
#[derive(Deserialize)]
struct Created {
    id: String,
}

/// The field of a problem answer the load needs.
#[derive(Deserialize)]
struct ProblemCode {
    code: String,
}

impl Connection {
    async fn run(
        mut self,
        scenario: Scenario,
        ceiling: bool,
        deadline: Instant,
    ) -> anyhow::Result<Figures> {
        let mut f = Figures::default();
        let healthz = Url::parse(&format!("{}/healthz", self.base))?;
        let reserve_url = Url::parse(&format!("{}/api/v1/reservations", self.base))?;
        let movements_url = Url::parse(&format!("{}/api/v1/movements", self.base))?;
        let location = serde_json::to_string(&self.location)?;
        let mut op: u64 = 0;
        while Instant::now() < deadline {
            op += 1;
            if ceiling {
                let t = Instant::now();
                // Read the body: a response dropped unread closes its
                // connection, and the ceiling would measure reconnects.
                let ok = match self.http.get(healthz.clone()).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                f.record(t, if ok { Outcome::Other } else { Outcome::Error });
                continue;
            }
            if scenario == Scenario::Mixed && op.is_multiple_of(20) {
                let sku = &self.skus[self.rng.below(self.skus.len())];
                let body = format!(
                    r#"{{"sku":{},"location":{location},"kind":"receipt","quantity":20}}"#,
                    serde_json::to_string(sku)?
                );
                let t = Instant::now();
                let answer = self.send(movements_url.clone(), body, false).await;
                f.record(
                    t,
                    if matches!(answer, Answer::Granted(_)) {
                        Outcome::Other
                    } else {
                        Outcome::Error
                    },
                );
                continue;
            }
            let picked: Vec<usize> = match scenario {
                Scenario::HotSku => vec![0],
                Scenario::Spread | Scenario::Mixed => vec![self.rng.below(self.skus.len())],
                Scenario::MultiLine => {
                    let mut picked: Vec<usize> = Vec::with_capacity(3);
                    while picked.len() < 3 {
                        let i = self.rng.below(self.skus.len());
                        if !picked.contains(&i) {
                            picked.push(i);
                        }
                    }
                    picked
                }
            };
            let mut lines = String::new();
            for i in &picked {
                if !lines.is_empty() {
                    lines.push(',');
                }
                lines.push_str(&format!(
                    r#"{{"sku":{},"quantity":1}}"#,
                    serde_json::to_string(&self.skus[*i])?
                ));
            }
            let units = picked.len() as u64;
            let body = format!(r#"{{"location":{location},"lines":[{lines}],"ttl_secs":3600}}"#);
            let t = Instant::now();
            let mixed = scenario == Scenario::Mixed;
            match self.send(reserve_url.clone(), body, mixed).await {
                Answer::Granted(id) => {
                    f.record(t, Outcome::Granted(units));
                    if mixed {
                        let id = id.unwrap_or_default();
                        let commit = self.rng.below(2) == 0;
                        let action = if commit { "commit" } else { "release" };
                        let url = Url::parse(&format!("{reserve_url}/{id}/{action}"))?;
                        let t = Instant::now();
                        let answer = self.send(url, "{}".to_string(), false).await;
                        if matches!(answer, Answer::Granted(_)) && commit {
                            f.committed_units += units;
                        }
                        f.record(
                            t,
                            if matches!(answer, Answer::Granted(_)) {
                                Outcome::Other
                            } else {
                                Outcome::Error
                            },
                        );
                    }
                }
                Answer::Short => f.record(t, Outcome::Short),
                Answer::Error => f.record(t, Outcome::Error),
            }
        }
        Ok(f)
    }

    async fn send(&self, url: Url, body: String, want_id: bool) -> Answer {
        let Ok(response) = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
        else {
            return Answer::Error;
        };
        let status = response.status();
        let Ok(bytes) = response.bytes().await else {
            return Answer::Error;
        };
        match status {
            StatusCode::OK | StatusCode::CREATED => Answer::Granted(
                want_id
                    .then(|| serde_json::from_slice::<Created>(&bytes).ok())
                    .flatten()
                    .map(|c| c.id),
            ),
            StatusCode::CONFLICT
                if serde_json::from_slice::<ProblemCode>(&bytes)
                    .is_ok_and(|p| p.code == "insufficient_stock") =>
            {
                Answer::Short
            }
            _ => Answer::Error,
        }
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Granted(u64),
    Short,
    Other,
    Error,
}

impl Figures {
    fn record(&mut self, started: Instant, outcome: Outcome) {
        self.latencies_us
            .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        self.ops += 1;
        match outcome {
            Outcome::Granted(units) => {
                self.granted += 1;
                self.granted_units += units;
            }
            Outcome::Short => self.short += 1,
            Outcome::Other => {}
            Outcome::Error => self.errors += 1,
        }
    }
}
