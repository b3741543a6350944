//! Starting (or attaching to), seeding and stopping the jaego servers under
//! test, and reading their CPU time and memory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Rows per CSV import request (the server's CSV_ROWS_MAX is larger). Small
/// enough that one import stays well inside the 30 s request timeout on a
/// slow database (20,000 did not, on PostgreSQL without autovacuum).
const CSV_CHUNK_ROWS: usize = 5_000;
/// How long a started server may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub exe: PathBuf,
    pub database_url: String,
    /// More `jaego serve` flags (e.g. `--max-in-flight 8`).
    pub extra_args: Vec<String>,
}

/// A jaego server under test and a client for it: a `jaego serve` child
/// process the bench started, or a running server it was pointed at.
pub struct Server {
    /// `None` for a server the bench did not start.
    child: Option<Child>,
    pid: Option<u32>,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts `jaego serve` on a free loopback port, with an owner token
    /// made by `jaego token create` (which also bootstraps an empty database).
    pub async fn start(spec: &ServerSpec, group_commit: bool) -> anyhow::Result<Server> {
        let out = Command::new(&spec.exe)
            .args([
                "token",
                "create",
                "--database-url",
                &spec.database_url,
                "--role",
                "owner",
                "--name",
                "bench",
            ])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running jaego token create")?;
        if !out.status.success() {
            bail!(
                "jaego token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let token = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&spec.exe)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &spec.database_url,
            ])
            .args([
                "--group-commit",
                if group_commit { "true" } else { "false" },
            ])
            .args([
                "--log-level",
                &std::env::var("JAEGO_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            ])
            .args(&spec.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting jaego serve")?;
        let pid = child.id().context("server pid")?;
        let server = Server {
            child: Some(child),
            pid: Some(pid),
            base: format!("http://127.0.0.1:{port}"),
            token,
            http: client()?,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// A running server at `base` (e.g. `http://127.0.0.1:8080`), driven
    /// with `token`, which must be allowed to create SKUs, locations and
    /// stock in its tenant (owner or manager).
    pub async fn attach(base: &str, token: &str) -> anyhow::Result<Server> {
        let server = Server {
            child: None,
            pid: None,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: client()?,
        };
        server.wait_ready().await?;
        // Fail now, not after seeding half the catalog, if the token is wrong.
        server
            .get("/api/v1/locations?limit=1")
            .await
            .context("the token cannot read this server's locations")?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("jaego serve did not become ready within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's own CPU time and peak memory, from its `/metrics`
    /// (the same way for a server the bench started and one it did not);
    /// `None` if the server does not publish them (not Linux, or an older
    /// jaego).
    pub async fn process(&self) -> Option<Process> {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?;
        let text = r.text().await.ok()?;
        let value = |name: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))?
                .trim()
                .parse()
                .ok()
        };
        let group_commit = match (
            value(r#"jaego_group_commit_requests_total{path="direct"}"#),
            value(r#"jaego_group_commit_requests_total{path="worker"}"#),
            value("jaego_group_commit_batches_total"),
        ) {
            (Some(direct), Some(worker), Some(batches)) => Some(Commits {
                requests: direct + worker,
                transactions: direct + batches,
            }),
            _ => None,
        };
        Some(Process {
            cpu_seconds: value("jaego_process_cpu_seconds_total")?,
            peak_rss_mb: value("jaego_process_resident_memory_peak_bytes")? / 1e6,
            group_commit,
        })
    }

    /// Current resident memory, in MB (from /proc; 0 where unavailable).
    pub fn rss_mb(&self) -> f64 {
        let Some(pid) = self.pid else { return 0.0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it.
    pub async fn kill(self) -> anyhow::Result<()> {
        let mut child = self.child.context("not a server the bench started")?;
        child.start_kill()?;
        child.wait().await?;
        Ok(())
    }

    /// Sends SIGTERM (a graceful shutdown) without waiting.
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.pid.context("not a server the bench started")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        Ok(())
    }

    /// Waits for the server to exit (after [`Server::terminate`]); its exit
    /// status, or an error after `patience`.
    pub async fn wait_exit(self, patience: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.context("not a server the bench started")?;
        match tokio::time::timeout(patience, child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                child.kill().await?;
                bail!("jaego serve did not exit within {patience:?}");
            }
        }
    }

    /// Stops a server the bench started with SIGTERM (a graceful shutdown);
    /// leaves a server it attached to running.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Some(mut child) = self.child else {
            return Ok(());
        };
        let pid = child.id().context("server pid")?;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("jaego serve exited with {status}");
                }
            }
            Err(_) => {
                child.kill().await?;
                bail!("jaego serve did not stop within 30 s of SIGTERM");
            }
        }
        Ok(())
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("GET {path}: {}", r.status());
        }
        Ok(r.json().await?)
    }

    pub async fn post_csv(&self, path: &str, body: String) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "POST {path}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Creates a location (ignores one that exists).
    pub async fn location(&self, code: &str) -> anyhow::Result<()> {
        let (status, body) =
            self.post("/api/v1/locations", &json!({"code": code, "name": code, "kind": "warehouse", "time_zone": "Asia/Seoul"})).await?;
        if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
            bail!("creating location {code}: {status} {body}");
        }
        Ok(())
    }

    /// Creates SKUs `codes` and sets `stock` of each at `location`, through
    /// the CSV imports (far faster than one request per SKU).
    pub async fn skus_with_stock(
        &self,
        codes: &[String],
        location: &str,
        stock: i64,
    ) -> anyhow::Result<()> {
        for chunk in codes.chunks(CSV_CHUNK_ROWS) {
            let mut csv = String::from("code,name\n");
            for code in chunk {
                csv.push_str(&format!("{code},{code}\n"));
            }
            self.post_csv("/api/v1/skus/import", csv).await?;
            if stock > 0 {
                let mut csv = String::from("sku_code,counted\n");
                for code in chunk {
                    csv.push_str(&format!("{code},{stock}\n"));
                }
                self.post_csv(&format!("/api/v1/locations/{location}/stock/import"), csv)
                    .await?;
            }
        }
        Ok(())
    }

    /// Sets the counted stock of existing SKUs `codes` at `location`.
    pub async fn stock(&self, codes: &[String], location: &str, stock: i64) -> anyhow::Result<()> {
        for chunk in codes.chunks(CSV_CHUNK_ROWS) {
            let mut csv = String::from("sku_code,counted\n");
            for code in chunk {
                csv.push_str(&format!("{code},{stock}\n"));
            }
            self.post_csv(&format!("/api/v1/locations/{location}/stock/import"), csv)
                .await?;
        }
        Ok(())
    }

    /// Seeds `skus` SKUs stocked in each of `locations` locations: the
    /// catalog the memory figure is measured with.
    pub async fn seed_catalog(
        &self,
        run_id: &str,
        skus: usize,
        locations: usize,
    ) -> anyhow::Result<()> {
        if skus == 0 || locations == 0 {
            return Ok(());
        }
        eprintln!("seeding {skus} SKUs in {locations} locations");
        let codes: Vec<String> = (0..skus).map(|i| format!("{run_id}-c{i}")).collect();
        for l in 0..locations {
            let location = format!("{run_id}-L{l}");
            self.location(&location).await?;
            if l == 0 {
                self.skus_with_stock(&codes, &location, 100).await?;
            } else {
                for chunk in codes.chunks(CSV_CHUNK_ROWS) {
                    let mut csv = String::from("sku_code,counted\n");
                    for code in chunk {
                        csv.push_str(&format!("{code},100\n"));
                    }
                    self.post_csv(&format!("/api/v1/locations/{location}/stock/import"), csv)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// A server's CPU time so far and its peak memory.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    pub cpu_seconds: f64,
    /// Megabytes of 10^6 bytes.
    pub peak_rss_mb: f64,
    /// The group commit's counters so far; `None` with group commit off.
    pub group_commit: Option<Commits>,
}

/// Reservation requests (new, commits, releases) and the transactions that
/// applied them: a request applied at once is a transaction of one.
#[derive(Debug, Clone, Copy)]
pub struct Commits {
    pub requests: f64,
    pub transactions: f64,
}

/// This process's (the load generator's) CPU time so far, in seconds; 0 if
/// unknown (not Linux).
pub fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // utime and stime are the 12th and 13th fields after the command name,
    // in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => 0.0,
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(2048)
        .build()?)
}

/// Runs `jaego verify`; `None` if clean, else what it printed.
pub async fn verify(spec: &ServerSpec) -> anyhow::Result<Option<String>> {
    let out = Command::new(&spec.exe)
        .args(["verify", "--database-url", &spec.database_url])
        .stdin(Stdio::null())
        .output()
        .await
        .context("running jaego verify")?;
    if out.status.success() {
        Ok(None)
    } else {
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(Some(
            text.lines().rev().take(5).collect::<Vec<_>>().join(" | "),
        ))
    }
}
