//! `jaego torture`: tries hard to break the guarantees a merchant's ledger
//! rests on, against real `jaego serve` processes over real HTTP.
//!
//! - `crash`: concurrent reservations, commits, releases and receipts; the
//!   server is killed with SIGKILL at a random moment, `jaego verify` runs on
//!   what the crash left, the server restarts, and every request is checked
//!   against the ledger: every acknowledged request is there, whole, and in
//!   the audit log; every unanswered one is there whole or not at all;
//!   nothing is oversold.
//! - `shutdown`: the same load, but SIGTERM instead of SIGKILL: the server
//!   must exit cleanly, every accepted request must be answered, and a
//!   request that got no answer must not have been applied.
//! - `instances` (PostgreSQL): two servers on one database under load on
//!   the same hot SKU: zero oversell, and each background job's work done
//!   exactly once (see [`JOB_CHECKS`], which later jobs extend).
//! - `overload`: far more concurrent clients than the server admits: the
//!   excess is answered `503` with `Retry-After` and memory stays bounded.
//!
//! Every mode prints one summary line with its figures and fails on any
//! broken guarantee.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::load::Rng;
use crate::server::{Server, ServerSpec, verify};

/// What to run.
#[derive(Debug, Clone)]
pub struct TortureOptions {
    pub jaego_exe: std::path::PathBuf,
    /// `None`: SQLite in a fresh temp directory. A PostgreSQL URL must name
    /// a database of its own (the run fills it).
    pub database_url: Option<String>,
    /// Kills (`crash`), stops (`shutdown`) or load waves (`overload`).
    pub rounds: usize,
    /// Concurrent clients.
    pub workers: usize,
    /// Seeds the random timing and operations, so a run can be repeated.
    pub seed: u64,
    /// Longest load before each kill or stop, in milliseconds.
    pub max_load_ms: u64,
}

/// The figures of a run. Field names are a stable JSON interface.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub mode: String,
    pub engine: String,
    pub rounds: usize,
    pub rounds_survived: usize,
    pub requests: usize,
    pub acknowledged: usize,
    pub refused: usize,
    pub unanswered: usize,
    pub checked: usize,
    pub verify_clean: usize,
    pub oversold: usize,
    pub shed_503: usize,
    pub peak_rss_mb: f64,
    pub problems: Vec<String>,
}

impl Summary {
    /// The one line a run prints.
    pub fn line(&self) -> String {
        let mut out = format!(
            "torture {} [{}]: {}/{} rounds survived; {} requests ({} acknowledged, {} refused, {} unanswered); {} checked; verify clean {}/{}; oversold {}",
            self.mode,
            self.engine,
            self.rounds_survived,
            self.rounds,
            self.requests,
            self.acknowledged,
            self.refused,
            self.unanswered,
            self.checked,
            self.verify_clean,
            self.rounds,
            self.oversold
        );
        if self.mode == "overload" {
            out.push_str(&format!(
                "; {} shed with 503; peak RSS {:.1} MB",
                self.shed_503, self.peak_rss_mb
            ));
        }
        out.push_str(&format!("; problems {}", self.problems.len()));
        out
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.rounds_survived == self.rounds
    }
}

/// What one request tried.
#[derive(Debug, Clone)]
enum Op {
    /// `units`: the quantities of its lines, summed.
    Reserve {
        reference: String,
        lines: usize,
        units: i64,
    },
    Commit {
        reservation: String,
        lines: usize,
    },
    Release {
        reservation: String,
        lines: usize,
    },
    Receipt {
        reference: String,
    },
}

#[derive(Debug, Clone)]
enum Outcome {
    Acked(Value),
    Refused(u16),
    /// Sent, but no answer came (the connection broke).
    Unanswered,
}

#[derive(Debug, Clone)]
struct Record {
    op: Op,
    outcome: Outcome,
    /// The `X-Request-Id` it was sent with, to find its audit entry.
    request_id: String,
}

/// The location every run works in, and its SKUs.
const LOCATION: &str = "TORTURE";
const SKUS: [&str; 4] = ["T-H0", "T-H1", "T-H2", "T-H3"];
const SKU_STOCK: i64 = 40;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spec(
    options: &TortureOptions,
    extra_args: Vec<String>,
) -> anyhow::Result<(ServerSpec, Option<TempDir>)> {
    let (url, dir) = match &options.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let dir = std::env::temp_dir()
                .join(format!("jaego-torture-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&dir).context("creating a temp directory")?;
            (
                format!("sqlite://{}", dir.join("torture.db").display()),
                Some(TempDir(dir)),
            )
        }
    };
    Ok((
        ServerSpec {
            exe: options.jaego_exe.clone(),
            database_url: url,
            extra_args,
        },
        dir,
    ))
}

fn engine_of(spec: &ServerSpec) -> &'static str {
    if spec.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

async fn seed(server: &Server) -> anyhow::Result<()> {
    server.location(LOCATION).await?;
    for sku in SKUS {
        let (status, body) = server
            .post("/api/v1/skus", &json!({"code": sku, "name": sku}))
            .await?;
        if status != StatusCode::CREATED {
            bail!("creating {sku}: {status} {body}");
        }
        let (status, body) = server
            .post(
                "/api/v1/movements",
                &json!({"sku": sku, "location": LOCATION, "kind": "receipt", "quantity": SKU_STOCK, "reference": "seed"}),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("stocking {sku}: {status} {body}");
        }
    }
    Ok(())
}

/// A client loop: random operations until `stop`, or until the server can
/// no longer be reached.
async fn worker(
    http: reqwest::Client,
    base: String,
    token: String,
    tag: String,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Record> {
    let mut rng = Rng(seed | 1);
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut records = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let reference = format!("{tag}-{n}");
        let pick = rng.below(100);
        let (op, path, body) = if pick < 45 || (pick < 80 && open.is_empty()) {
            let lines = 1 + rng.below(2);
            let mut chosen: Vec<&str> = Vec::new();
            while chosen.len() < lines {
                let sku = SKUS[rng.below(SKUS.len())];
                if !chosen.contains(&sku) {
                    chosen.push(sku);
                }
            }
            let quantities: Vec<i64> = chosen.iter().map(|_| 1 + rng.below(3) as i64).collect();
            let body = json!({
                "location": LOCATION,
                "reference": reference,
                "ttl_secs": 3600,
                "lines": chosen.iter().zip(&quantities).map(|(s, q)| json!({"sku": s, "quantity": q})).collect::<Vec<_>>(),
            });
            (
                Op::Reserve {
                    reference,
                    lines,
                    units: quantities.iter().sum(),
                },
                "/api/v1/reservations".to_string(),
                Some(body),
            )
        } else if pick < 80 {
            let (reservation, lines) = open.swap_remove(rng.below(open.len()));
            if pick < 65 {
                let path = format!("/api/v1/reservations/{reservation}/commit");
                (Op::Commit { reservation, lines }, path, None)
            } else {
                let path = format!("/api/v1/reservations/{reservation}/release");
                (Op::Release { reservation, lines }, path, None)
            }
        } else {
            let sku = SKUS[rng.below(SKUS.len())];
            let body = json!({"sku": sku, "location": LOCATION, "kind": "receipt", "quantity": 1 + rng.below(5), "reference": reference});
            (
                Op::Receipt { reference },
                "/api/v1/movements".to_string(),
                Some(body),
            )
        };
        let request_id = format!("{tag}-req-{n}");
        let mut request = http
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("x-request-id", &request_id);
        request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let outcome = match request.send().await {
            Err(e) if e.is_connect() => break,
            Err(_) => Outcome::Unanswered,
            Ok(r) => {
                let status = r.status();
                match r.bytes().await {
                    Err(_) => Outcome::Unanswered,
                    Ok(bytes) if status.is_success() => {
                        Outcome::Acked(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
                    }
                    Ok(_) => Outcome::Refused(status.as_u16()),
                }
            }
        };
        if let (Op::Reserve { lines, .. }, Outcome::Acked(body)) = (&op, &outcome)
            && let Some(id) = body["id"].as_str()
        {
            open.push((id.to_string(), *lines));
        }
        let broken = matches!(outcome, Outcome::Unanswered);
        records.push(Record {
            op,
            outcome,
            request_id,
        });
        if broken {
            // The server is going away; stop rather than pile on.
            break;
        }
    }
    records
}

/// Runs `workers` client loops against `server` until `stop` is set.
fn start_load(
    server: &Server,
    workers: usize,
    round: usize,
    seed: u64,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Record>>> {
    (0..workers)
        .map(|w| {
            tokio::spawn(worker(
                server.http.clone(),
                server.base.clone(),
                server.token.clone(),
                format!("r{round}w{w}"),
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((round * 1000 + w) as u64 + 1),
                stop.clone(),
            ))
        })
        .collect()
}

/// Every movement of the tenant, oldest first.
async fn all_movements(server: &Server) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut path = "/api/v1/movements?limit=500".to_string();
    loop {
        let page = server.get(&path).await?;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/api/v1/movements?limit=500&after={next}"),
            None => return Ok(out),
        }
    }
}

/// Checks every record against the ledger, and the balances against the
/// strict rule. `strict_unanswered`: an unanswered request must not have
/// been applied at all (graceful shutdown); otherwise whole or not at all
/// (a crash). Returns how many records were checked.
async fn check(
    server: &Server,
    records: &[Record],
    strict_unanswered: bool,
    problems: &mut Vec<String>,
) -> anyhow::Result<(usize, usize)> {
    let movements = all_movements(server).await?;
    let mut ids = HashSet::new();
    let mut by_reference: HashMap<(String, String), usize> = HashMap::new();
    let mut by_reservation: HashMap<(String, String), usize> = HashMap::new();
    for m in &movements {
        let kind = m["kind"].as_str().unwrap_or("").to_string();
        ids.insert(m["id"].as_str().unwrap_or("").to_string());
        *by_reference
            .entry((
                m["reference"].as_str().unwrap_or("").to_string(),
                kind.clone(),
            ))
            .or_default() += 1;
        if let Some(r) = m["reservation_id"].as_str() {
            *by_reservation.entry((r.to_string(), kind)).or_default() += 1;
        }
    }
    let count_ref = |r: &str, k: &str| {
        by_reference
            .get(&(r.to_string(), k.to_string()))
            .copied()
            .unwrap_or(0)
    };
    let count_res = |r: &str, k: &str| {
        by_reservation
            .get(&(r.to_string(), k.to_string()))
            .copied()
            .unwrap_or(0)
    };
    // A reservation is the ledger entry of its hold (there is no movement
    // for it): read every acknowledged one back by its id.
    let mut held: HashMap<String, Value> = HashMap::new();
    for record in records {
        if let (Op::Reserve { .. }, Outcome::Acked(body)) = (&record.op, &record.outcome)
            && let Some(id) = body["id"].as_str()
        {
            let r = server
                .get(&format!("/api/v1/reservations/{id}"))
                .await
                .with_context(|| format!("reading back acknowledged reservation {id}"))?;
            held.insert(id.to_string(), r);
        }
    }
    let lines_of = |id: &str| {
        held.get(id)
            .and_then(|r| r["lines"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let mut checked = 0;
    // Units held by reservations whose request got no answer (or an error),
    // at most: they may have been applied whole.
    let mut unanswered_units = 0;
    for record in records {
        checked += 1;
        if let (Op::Reserve { units, .. }, Outcome::Unanswered | Outcome::Refused(500..)) =
            (&record.op, &record.outcome)
        {
            unanswered_units += units;
        }
        let (what, found, whole) = match &record.op {
            Op::Reserve {
                reference, lines, ..
            } => {
                // Found only through its answer's id; requests without one
                // are covered by the check of `reserved` below.
                let found = match &record.outcome {
                    Outcome::Acked(body) => body["id"]
                        .as_str()
                        .and_then(|id| held.get(id))
                        .filter(|r| r["reference"] == reference.as_str())
                        .and_then(|r| r["lines"].as_array().map(Vec::len))
                        .unwrap_or(0),
                    _ => 0,
                };
                (format!("reserve {reference}"), found, *lines)
            }
            Op::Commit { reservation, lines } => (
                format!("commit {reservation}"),
                count_res(reservation, "commit"),
                *lines,
            ),
            Op::Release { reservation, lines } => (
                format!("release {reservation}"),
                count_res(reservation, "release"),
                *lines,
            ),
            Op::Receipt { reference } => (
                format!("receipt {reference}"),
                count_ref(reference, "receipt"),
                1,
            ),
        };
        let fine = match &record.outcome {
            Outcome::Acked(body) => {
                let id_ok = match &record.op {
                    Op::Receipt { .. } => body["id"].as_str().is_some_and(|id| ids.contains(id)),
                    _ => true,
                };
                found == whole && id_ok
            }
            Outcome::Refused(409 | 422 | 404) => {
                matches!(record.op, Op::Commit { .. } | Op::Release { .. }) || found == 0
            }
            Outcome::Refused(_) => found == 0,
            Outcome::Unanswered if strict_unanswered => found == 0,
            Outcome::Unanswered => found == 0 || found == whole,
        };
        if !fine {
            problems.push(format!(
                "{what}: {:?} but the ledger has {found} of {whole} entries",
                record.outcome
            ));
        }
    }
    // A reservation is resolved at most once, and never half: one kind of
    // resolution movement, one per line.
    let mut resolutions: HashMap<&str, Vec<(&str, usize)>> = HashMap::new();
    for ((reservation, kind), n) in &by_reservation {
        resolutions
            .entry(reservation.as_str())
            .or_default()
            .push((kind.as_str(), *n));
    }
    for (reservation, kinds) in &resolutions {
        let lines = lines_of(reservation);
        if kinds.len() > 1 || kinds.iter().any(|(_, n)| *n != lines) {
            problems.push(format!(
                "reservation {reservation}: {lines} lines but resolutions {kinds:?}"
            ));
        }
    }
    // `reserved` at the location is exactly the open reservations' units:
    // the acknowledged ones still open, plus (after a crash) any whose
    // answer was lost; after a graceful stop, none of those.
    let open_units: i64 = held
        .values()
        .filter(|r| r["state"] == "open")
        .flat_map(|r| r["lines"].as_array().cloned().unwrap_or_default())
        .map(|l| l["quantity"].as_i64().unwrap_or(0))
        .sum();
    let page = server
        .get(&format!("/api/v1/balances?location={LOCATION}&limit=500"))
        .await?;
    let reserved: i64 = page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|b| b["reserved"].as_i64().unwrap_or(0))
        .sum();
    let extra = reserved - open_units;
    let allowed = if strict_unanswered {
        0
    } else {
        unanswered_units
    };
    if !(0..=allowed).contains(&extra) {
        problems.push(format!(
            "reserved {reserved} at {LOCATION}, but the acknowledged open reservations hold {open_units} \
             (and unanswered ones at most {allowed})"
        ));
    }
    // Every acknowledged change has its audit entry (the answer waited for it).
    let audited = audited_request_ids(server).await?;
    for record in records {
        if matches!(record.outcome, Outcome::Acked(_)) && !audited.contains(&record.request_id) {
            problems.push(format!(
                "acknowledged request {} has no audit entry",
                record.request_id
            ));
        }
    }
    let oversold = check_balances(server, problems).await?;
    Ok((checked, oversold))
}

/// The request ids of every audit entry of the tenant.
async fn audited_request_ids(server: &Server) -> anyhow::Result<HashSet<String>> {
    let mut out = HashSet::new();
    let mut path = "/api/v1/audit?limit=500".to_string();
    loop {
        let page = server.get(&path).await?;
        for e in page["items"].as_array().cloned().unwrap_or_default() {
            out.insert(e["request_id"].as_str().unwrap_or("").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/api/v1/audit?limit=500&after={next}"),
            None => return Ok(out),
        }
    }
}

/// The strict rule on every balance of the location; returns how many
/// balances broke it.
async fn check_balances(server: &Server, problems: &mut Vec<String>) -> anyhow::Result<usize> {
    let page = server
        .get(&format!("/api/v1/balances?location={LOCATION}&limit=500"))
        .await?;
    let mut oversold = 0;
    for b in page["items"].as_array().cloned().unwrap_or_default() {
        let fig = |k: &str| b[k].as_i64().unwrap_or(0);
        if fig("available") < 0 || fig("reserved") < 0 || fig("allocated") < 0 || fig("on_hand") < 0
        {
            oversold += 1;
            problems.push(format!("oversold: {b}"));
        }
    }
    Ok(oversold)
}

fn tally(summary: &mut Summary, records: &[Record]) {
    for r in records {
        summary.requests += 1;
        match r.outcome {
            Outcome::Acked(_) => summary.acknowledged += 1,
            Outcome::Refused(_) => summary.refused += 1,
            Outcome::Unanswered => summary.unanswered += 1,
        }
    }
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<Record>>>) -> anyhow::Result<Vec<Record>> {
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await?);
    }
    Ok(out)
}

/// `rounds` times: load, SIGKILL at a random moment, `jaego verify` on the
/// remains, restart, check everything so far.
pub async fn crash(options: &TortureOptions) -> anyhow::Result<Summary> {
    let (spec, _dir) = spec(options, Vec::new())?;
    let mut summary = Summary {
        mode: "crash".into(),
        engine: engine_of(&spec).into(),
        rounds: options.rounds,
        ..Summary::default()
    };
    let mut rng = Rng(options.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let server = Server::start(&spec, true).await?;
    seed(&server).await?;
    let mut server = Some(server);
    let mut records = Vec::new();
    for round in 0..options.rounds {
        let live = match server.take() {
            Some(s) => s,
            None => Server::start(&spec, true).await?,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = start_load(&live, options.workers, round, options.seed, &stop);
        let wait = 50 + rng.below(options.max_load_ms.max(51) as usize - 50);
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        live.kill().await?;
        stop.store(true, Ordering::Relaxed);
        let round_records = collect(tasks).await?;
        tally(&mut summary, &round_records);
        records.extend(round_records);
        match verify(&spec).await? {
            None => summary.verify_clean += 1,
            Some(v) => summary
                .problems
                .push(format!("round {round}: jaego verify: {v}")),
        }
        let restarted = Server::start(&spec, true).await?;
        let before = summary.problems.len();
        let (checked, oversold) = check(&restarted, &records, false, &mut summary.problems).await?;
        summary.checked = checked;
        summary.oversold += oversold;
        if summary.problems.len() == before {
            summary.rounds_survived += 1;
        }
        eprintln!(
            "round {}: killed after {wait} ms; {} requests so far, {} checked, {} problems",
            round + 1,
            summary.requests,
            checked,
            summary.problems.len()
        );
        server = Some(restarted);
    }
    if let Some(s) = server {
        s.stop().await?;
    }
    Ok(summary)
}

/// `rounds` times: load, SIGTERM at a random moment; the server must exit
/// 0, and after a restart every acknowledged request is there and no
/// unanswered one was applied.
pub async fn shutdown(options: &TortureOptions) -> anyhow::Result<Summary> {
    let (spec, _dir) = spec(options, Vec::new())?;
    let mut summary = Summary {
        mode: "shutdown".into(),
        engine: engine_of(&spec).into(),
        rounds: options.rounds,
        ..Summary::default()
    };
    let mut rng = Rng(options.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let first = Server::start(&spec, true).await?;
    seed(&first).await?;
    let mut server = Some(first);
    let mut records = Vec::new();
    for round in 0..options.rounds {
        let live = match server.take() {
            Some(s) => s,
            None => Server::start(&spec, true).await?,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = start_load(&live, options.workers, round, options.seed, &stop);
        let wait = 50 + rng.below(options.max_load_ms.max(51) as usize - 50);
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        live.terminate().await?;
        let status = live.wait_exit(Duration::from_secs(40)).await;
        stop.store(true, Ordering::Relaxed);
        let round_records = collect(tasks).await?;
        tally(&mut summary, &round_records);
        records.extend(round_records);
        let before = summary.problems.len();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => summary
                .problems
                .push(format!("round {round}: jaego serve exited with {s}")),
            Err(e) => summary.problems.push(format!("round {round}: {e}")),
        }
        match verify(&spec).await? {
            None => summary.verify_clean += 1,
            Some(v) => summary
                .problems
                .push(format!("round {round}: jaego verify: {v}")),
        }
        let restarted = Server::start(&spec, true).await?;
        let (checked, oversold) = check(&restarted, &records, true, &mut summary.problems).await?;
        summary.checked = checked;
        summary.oversold += oversold;
        if summary.problems.len() == before {
            summary.rounds_survived += 1;
        }
        eprintln!(
            "round {}: SIGTERM after {wait} ms; {} requests so far, {} checked, {} problems",
            round + 1,
            summary.requests,
            checked,
            summary.problems.len()
        );
        server = Some(restarted);
    }
    if let Some(s) = server {
        s.stop().await?;
    }
    Ok(summary)
}

type CheckRun<'a> = Pin<Box<dyn Future<Output = anyhow::Result<(usize, Vec<String>)>> + Send + 'a>>;

/// A background job whose work must be done exactly once while two
/// instances run it. `run` prepares work through both servers, waits for
/// it to be done, and returns (items checked, problems).
pub struct JobCheck {
    pub name: &'static str,
    pub run: for<'a> fn(&'a [Server; 2]) -> CheckRun<'a>,
}

/// Every job checked by `jaego torture instances`. A new scheduled job
/// (daily resets, channel pushes, …) adds its check here.
pub const JOB_CHECKS: &[JobCheck] = &[
    JobCheck {
        name: "reservation expiry",
        run: |servers| Box::pin(expiry_exactly_once(servers)),
    },
    JobCheck {
        name: "pickup intake",
        run: |servers| Box::pin(pickup_intake_once(servers)),
    },
];

/// Orders to pick up at a store, collected through both servers while both
/// run the pickup intake: each order must become exactly one request with
/// each of its lines once, announced by exactly one `pickup.requested`.
async fn pickup_intake_once(servers: &[Server; 2]) -> anyhow::Result<(usize, Vec<String>)> {
    const ORDERS: usize = 60;
    const SKUS: [&str; 2] = ["T-PK1", "T-PK2"];
    let (status, body) = servers[0]
        .post(
            "/api/v1/locations",
            &json!({"code": "T-GN", "name": "pickup store", "kind": "store", "time_zone": "Asia/Seoul"}),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating store T-GN: {status} {body}");
    }
    for sku in SKUS {
        let (status, body) = servers[0]
            .post("/api/v1/skus", &json!({"code": sku, "name": sku}))
            .await?;
        if status != StatusCode::CREATED {
            bail!("creating {sku}: {status} {body}");
        }
    }
    let (status, body) = servers[0]
        .post(
            "/api/v1/channels",
            &json!({"code": "T-MALL", "name": "mall", "kind": "web", "locations": [LOCATION]}),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating channel T-MALL: {status} {body}");
    }
    let numbers: Vec<String> = (0..ORDERS).map(|n| format!("T-PK-{n}")).collect();
    for (n, no) in numbers.iter().enumerate() {
        let (status, body) = servers[n % 2]
            .post(
                "/api/v1/channels/T-MALL/orders",
                &json!({"order_no": no, "customer": {"name": "pickup"}, "pickup_location": "T-GN",
                        "lines": [{"sku": SKUS[0], "quantity": 1}, {"sku": SKUS[1], "quantity": 2}]}),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("collecting {no}: {status} {body}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut problems = Vec::new();
    let mut requests = HashSet::new();
    for no in &numbers {
        loop {
            let list = servers[1]
                .get(&format!("/api/v1/pickups?order_no={no}"))
                .await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.len() == 1 {
                let lines = items[0]["items"].as_array().map_or(0, Vec::len);
                if lines != SKUS.len() {
                    problems.push(format!("order {no}: a request of {lines} items"));
                }
                requests.insert(items[0]["id"].as_str().unwrap_or_default().to_string());
                break;
            }
            if items.len() > 1 {
                problems.push(format!("order {no}: {} requests", items.len()));
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!("order {no}: no request after 30 s"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let events = servers[0]
        .get("/api/v1/events?kinds=pickup.requested&limit=500")
        .await?;
    let mut announced: HashMap<String, usize> = HashMap::new();
    for e in events["items"].as_array().cloned().unwrap_or_default() {
        *announced
            .entry(e["data"]["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    for id in &requests {
        match announced.get(id) {
            Some(1) => {}
            n => problems.push(format!(
                "request {id}: {} pickup.requested events",
                n.copied().unwrap_or(0)
            )),
        }
    }
    if announced.len() != requests.len() {
        problems.push(format!(
            "{} pickup.requested events for {} requests",
            announced.len(),
            requests.len()
        ));
    }
    Ok((numbers.len(), problems))
}

/// Reservations with a one-second life made through both servers; both
/// run the expiry job; each must be expired exactly once.
async fn expiry_exactly_once(servers: &[Server; 2]) -> anyhow::Result<(usize, Vec<String>)> {
    const COUNT: usize = 200;
    let (status, body) = servers[0]
        .post("/api/v1/skus", &json!({"code": "T-EXP", "name": "expiry"}))
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating T-EXP: {status} {body}");
    }
    servers[0]
        .post(
            "/api/v1/movements",
            &json!({"sku": "T-EXP", "location": LOCATION, "kind": "receipt", "quantity": 1_000_000}),
        )
        .await?;
    let mut ids = Vec::new();
    for i in 0..COUNT {
        let (status, body) = servers[i % 2]
            .post(
                "/api/v1/reservations",
                &json!({"location": LOCATION, "ttl_secs": 1, "lines": [{"sku": "T-EXP", "quantity": 1}]}),
            )
            .await?;
        if status != StatusCode::CREATED {
            bail!("reserving: {status} {body}");
        }
        ids.push(body["id"].as_str().unwrap_or_default().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut problems = Vec::new();
    for id in &ids {
        loop {
            let r = servers[0]
                .get(&format!("/api/v1/reservations/{id}"))
                .await?;
            if r["state"] == "expired" {
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!("reservation {id} still {} after 30 s", r["state"]));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let moves = servers[1]
            .get(&format!("/api/v1/movements?reservation={id}&kind=expire"))
            .await?;
        let n = moves["items"].as_array().map_or(0, Vec::len);
        if n != 1 {
            problems.push(format!("reservation {id} expired {n} times"));
        }
    }
    Ok((ids.len(), problems))
}

/// Two servers on one PostgreSQL database: the hot SKU under load from
/// both is never oversold, and every job check holds.
pub async fn instances(options: &TortureOptions) -> anyhow::Result<Summary> {
    let (spec, _dir) = spec(options, Vec::new())?;
    if engine_of(&spec) != "postgres" {
        bail!(
            "torture instances needs --database-url postgres://… (several instances share only PostgreSQL)"
        );
    }
    let mut summary = Summary {
        mode: "instances".into(),
        engine: "postgres".into(),
        rounds: 1,
        ..Summary::default()
    };
    let a = Server::start(&spec, true).await?;
    let b = Server::start(&spec, true).await?;
    seed(&a).await?;
    let (status, body) = a
        .post("/api/v1/skus", &json!({"code": "T-HOT", "name": "hot"}))
        .await?;
    if status != StatusCode::CREATED {
        bail!("creating T-HOT: {status} {body}");
    }
    let stock = 300u64;
    a.post(
        "/api/v1/movements",
        &json!({"sku": "T-HOT", "location": LOCATION, "kind": "receipt", "quantity": stock}),
    )
    .await?;
    // Twice as many attempts as units, spread over both servers at once.
    let attempts = Arc::new(AtomicU64::new(0));
    let granted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..options.workers.max(2) {
        let server = if w % 2 == 0 { &a } else { &b };
        let (http, base, token) = (
            server.http.clone(),
            server.base.clone(),
            server.token.clone(),
        );
        let (attempts, granted, refused) = (attempts.clone(), granted.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            while attempts.fetch_add(1, Ordering::Relaxed) < stock * 2 {
                let r = http
                    .post(format!("{base}/api/v1/reservations"))
                    .bearer_auth(&token)
                    .json(&json!({"location": LOCATION, "ttl_secs": 3600, "lines": [{"sku": "T-HOT", "quantity": 1}]}))
                    .send()
                    .await;
                match r.map(|r| r.status()) {
                    Ok(StatusCode::CREATED) => {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(StatusCode::CONFLICT) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    other => errors.push(format!("{other:?}")),
                }
            }
            errors
        }));
    }
    for t in tasks {
        summary.problems.extend(t.await?);
    }
    let granted = granted.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    summary.requests += (granted + refused) as usize;
    summary.acknowledged += granted as usize;
    summary.refused += refused as usize;
    if granted != stock {
        summary.problems.push(format!(
            "{granted} of {stock} units granted from {} attempts",
            stock * 2
        ));
    }
    let hot = a
        .get(&format!("/api/v1/balances?sku=T-HOT&location={LOCATION}"))
        .await?;
    let hot = &hot["items"][0];
    if hot["reserved"].as_u64() != Some(stock) || hot["available"].as_i64() != Some(0) {
        summary.oversold += 1;
        summary
            .problems
            .push(format!("hot SKU after the run: {hot}"));
    }
    summary.checked += (granted + refused) as usize;
    let servers = [a, b];
    for job in JOB_CHECKS {
        let (checked, problems) = (job.run)(&servers).await?;
        summary.checked += checked;
        summary
            .problems
            .extend(problems.into_iter().map(|p| format!("{}: {p}", job.name)));
        eprintln!("job check {}: {checked} items checked", job.name);
    }
    summary.oversold += check_balances(&servers[0], &mut summary.problems).await?;
    let [a, b] = servers;
    a.stop().await?;
    b.stop().await?;
    match verify(&spec).await? {
        None => summary.verify_clean += 1,
        Some(v) => summary.problems.push(format!("jaego verify: {v}")),
    }
    if summary.problems.is_empty() {
        summary.rounds_survived = 1;
    }
    Ok(summary)
}

/// Waves of far more concurrent clients than the server admits (it runs
/// with `--max-in-flight 4 --max-queued 64`): the excess must be answered
/// 503 with `Retry-After`, nothing else may fail, and resident memory
/// must not grow with the number of clients.
pub async fn overload(options: &TortureOptions) -> anyhow::Result<Summary> {
    let args = [
        "--max-in-flight",
        "4",
        "--max-queued",
        "64",
        "--queue-wait-ms",
        "500",
    ]
    .map(String::from)
    .to_vec();
    let (spec, _dir) = spec(options, args)?;
    let mut summary = Summary {
        mode: "overload".into(),
        engine: engine_of(&spec).into(),
        rounds: options.rounds,
        ..Summary::default()
    };
    let server = Server::start(&spec, true).await?;
    seed(&server).await?;
    let mut peaks = Vec::new();
    for round in 0..options.rounds {
        // Each wave has more clients than the last.
        let clients = options.workers * (round + 1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let http = reqwest::Client::new();
            let (base, token, stop) = (server.base.clone(), server.token.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut counts = (0usize, 0usize, 0usize, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let sku = SKUS[c % SKUS.len()];
                    let r = http
                        .post(format!("{base}/api/v1/reservations"))
                        .bearer_auth(&token)
                        .json(&json!({"location": LOCATION, "ttl_secs": 1, "lines": [{"sku": sku, "quantity": 1}]}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                            let has_retry = r.headers().contains_key("retry-after");
                            counts.0 += 1;
                            if !has_retry {
                                counts.3.push("503 without Retry-After".to_string());
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Ok(r) if r.status() == StatusCode::CREATED || r.status() == StatusCode::CONFLICT => {
                            counts.1 += 1;
                        }
                        Ok(r) => counts.3.push(format!("status {}", r.status())),
                        Err(e) => {
                            counts.2 += 1;
                            counts.3.push(format!("transport: {e}"));
                        }
                    }
                }
                counts
            }));
        }
        let mut peak: f64 = 0.0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(options.max_load_ms.max(500)) {
            peak = peak.max(server.rss_mb());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let (shed, served, failed, problems) = t.await?;
            summary.shed_503 += shed;
            summary.acknowledged += served;
            summary.unanswered += failed;
            summary.requests += shed + served + failed;
            summary.problems.extend(problems.into_iter().take(3));
        }
        peak = peak.max(server.rss_mb());
        peaks.push((clients, peak));
        eprintln!(
            "wave {}: {clients} clients, peak RSS {peak:.1} MB",
            round + 1
        );
        summary.rounds_survived += 1;
    }
    summary.peak_rss_mb = peaks.iter().map(|p| p.1).fold(0.0, f64::max);
    if summary.shed_503 == 0 {
        summary
            .problems
            .push("no request was shed: the load did not exceed the limit".into());
    }
    // Bounded: the biggest wave may not need much more memory than the
    // first, however many more clients it has.
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last())
        && last.1 > first.1 * 1.5 + 32.0
    {
        summary.problems.push(format!(
            "memory grew with the load: {:.1} MB at {} clients, {:.1} MB at {}",
            first.1, first.0, last.1, last.0
        ));
    }
    summary.oversold += check_balances(&server, &mut summary.problems).await?;
    server.stop().await?;
    match verify(&spec).await? {
        None => summary.verify_clean = summary.rounds,
        Some(v) => summary.problems.push(format!("jaego verify: {v}")),
    }
    Ok(summary)
}
