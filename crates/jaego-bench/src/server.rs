//! Starting, seeding and stopping the jaego servers under test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Rows per CSV import request (the server's CSV_ROWS_MAX is larger).
const CSV_CHUNK_ROWS: usize = 20_000;
/// How long a started server may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub exe: PathBuf,
    pub database_url: String,
    /// More `jaego serve` flags (e.g. `--max-in-flight 8`).
    pub extra_args: Vec<String>,
}

/// A `jaego serve` child process and a client for it.
pub struct Server {
    child: Child,
    pid: u32,
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
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(2048)
            .build()?;
        let server = Server {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            token,
            http,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = server
                .http
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("jaego serve did not become ready within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Peak resident memory so far, in MB (from /proc; 0 where unavailable).
    pub fn peak_rss_mb(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Current resident memory, in MB (from /proc; 0 where unavailable).
    pub fn rss_mb(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Sends SIGTERM (a graceful shutdown) without waiting.
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        Ok(())
    }

    /// Waits for the server to exit (after [`Server::terminate`]); its exit
    /// status, or an error after `patience`.
    pub async fn wait_exit(
        mut self,
        patience: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        match tokio::time::timeout(patience, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child.kill().await?;
                bail!("jaego serve did not exit within {patience:?}");
            }
        }
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and returns its
    /// peak memory in MB.
    pub async fn stop(mut self) -> anyhow::Result<f64> {
        let rss = self.peak_rss_mb();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("jaego serve exited with {status}");
                }
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("jaego serve did not stop within 30 s of SIGTERM");
            }
        }
        Ok(rss)
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
