//! The load: scenarios, the connection loops that drive them, and the
//! checks that nothing was oversold.

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::server::Server;

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

/// Drives `phase` with `connections` concurrent request loops for `duration`.
pub async fn drive(
    server: &Server,
    phase: &Phase,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let http = server.http.clone();
        let base = server.base.clone();
        let token = server.token.clone();
        let scenario = phase.scenario;
        let ceiling = phase.ceiling;
        let location = phase.location.clone();
        let skus = phase.skus.clone();
        tasks.push(tokio::spawn(async move {
            let connection = Connection {
                http,
                base,
                token,
                location,
                skus,
                rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0001)),
            };
            connection.run(scenario, ceiling, deadline).await
        }));
    }
    let mut total = Figures::default();
    for task in tasks {
        total.merge(task.await??);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    if total.ops == 0 {
        bail!("no request completed");
    }
    Ok(total)
}

struct Connection {
    http: reqwest::Client,
    base: String,
    token: String,
    location: String,
    skus: Vec<String>,
    rng: Rng,
}

enum Answer {
    Granted(Value),
    Short,
    Error,
}

impl Connection {
    async fn run(
        mut self,
        scenario: Scenario,
        ceiling: bool,
        deadline: Instant,
    ) -> anyhow::Result<Figures> {
        let mut f = Figures::default();
        let reserve_url = format!("{}/api/v1/reservations", self.base);
        let mut op: u64 = 0;
        while Instant::now() < deadline {
            op += 1;
            if ceiling {
                let t = Instant::now();
                // Read the body: a response dropped unread closes its
                // connection, and the ceiling would measure reconnects.
                let ok = match self.http.get(format!("{}/healthz", self.base)).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                f.record(t, if ok { Outcome::Other } else { Outcome::Error });
                continue;
            }
            if scenario == Scenario::Mixed && op.is_multiple_of(20) {
                let sku = self.skus[self.rng.below(self.skus.len())].clone();
                let body = json!({"sku": sku, "location": self.location, "kind": "receipt", "quantity": 20});
                let t = Instant::now();
                let answer = self
                    .send(&format!("{}/api/v1/movements", self.base), &body)
                    .await;
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
            let lines: Vec<Value> = match scenario {
                Scenario::HotSku => vec![json!({"sku": self.skus[0], "quantity": 1})],
                Scenario::Spread | Scenario::Mixed => {
                    vec![json!({"sku": self.skus[self.rng.below(self.skus.len())], "quantity": 1})]
                }
                Scenario::MultiLine => {
                    let mut picked: Vec<usize> = Vec::with_capacity(3);
                    while picked.len() < 3 {
                        let i = self.rng.below(self.skus.len());
                        if !picked.contains(&i) {
                            picked.push(i);
                        }
                    }
                    picked
                        .into_iter()
                        .map(|i| json!({"sku": self.skus[i], "quantity": 1}))
                        .collect()
                }
            };
            let units = lines.len() as u64;
            let body = json!({"location": self.location, "lines": lines, "ttl_secs": 3600});
            let t = Instant::now();
            match self.send(&reserve_url, &body).await {
                Answer::Granted(reservation) => {
                    f.record(t, Outcome::Granted(units));
                    if scenario == Scenario::Mixed {
                        let id = reservation["id"].as_str().unwrap_or_default().to_string();
                        let commit = self.rng.below(2) == 0;
                        let action = if commit { "commit" } else { "release" };
                        let t = Instant::now();
                        let answer = self
                            .send(&format!("{reserve_url}/{id}/{action}"), &json!({}))
                            .await;
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

    async fn send(&self, url: &str, body: &Value) -> Answer {
        let Ok(response) = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
        else {
            return Answer::Error;
        };
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            StatusCode::OK | StatusCode::CREATED => Answer::Granted(value),
            StatusCode::CONFLICT if value["code"] == "insufficient_stock" => Answer::Short,
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
