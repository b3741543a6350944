//! Prometheus metrics: request counts and latencies per route and status,
//! the group commit's transactions, and the process's CPU time and memory
//! (read from `/proc` on each scrape, on Linux; absent elsewhere).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jaego_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    shed: Counter,
    audit_failures: Counter,
}

impl Metrics {
    pub fn new(store: &Store) -> Arc<Self> {
        let mut registry = Registry::with_prefix("jaego");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "http_requests_shed",
            "Requests refused 503 overloaded because the queue was full",
            shed.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Answered mutations whose audit entry could not be written",
            audit_failures.clone(),
        );
        registry.register_collector(Box::new(ProcessCollector));
        registry.register_collector(Box::new(GroupCommitCollector(store.clone())));
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            shed,
            audit_failures,
        })
    }

    /// Counts a request refused by the overload gate.
    pub fn shed(&self) {
        self.shed.inc();
    }

    /// Counts an audit entry that could not be written.
    pub fn audit_failed(&self) {
        self.audit_failures.inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process's own figures, read from `/proc/self` on every scrape:
/// `jaego_process_cpu_seconds` (user + system), `jaego_process_resident_memory_bytes`
/// and `jaego_process_resident_memory_peak_bytes` (the high-water mark). `jaego
/// bench` reads them to report the server's CPU per request and its peak
/// memory, also for a server it did not start.
#[derive(Debug)]
struct ProcessCollector;

/// Clock ticks per second of `/proc/self/stat`'s CPU times (`USER_HZ`, 100
/// on every Linux architecture jaego runs on).
const USER_HZ: f64 = 100.0;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(figures) = process_figures() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(figures.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "CPU time used by the process (user and system)",
            None,
            cpu.metric_type(),
        )?)?;
        for (name, help, bytes) in [
            (
                "process_resident_memory_bytes",
                "Resident memory of the process",
                figures.rss_bytes,
            ),
            (
                "process_resident_memory_peak_bytes",
                "Highest resident memory of the process since it started",
                figures.peak_rss_bytes,
            ),
        ] {
            let gauge = ConstGauge::new(bytes);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The group commit's counters, read from the store on every scrape:
/// `jaego_group_commit_requests_total{path}` (`direct`: applied at once
/// because nothing else was waiting; `worker`: shared a worker's
/// transaction) and `jaego_group_commit_batches_total` (the worker's
/// transactions; requests ÷ batches is the mean batch). Absent with group
/// commit off.
struct GroupCommitCollector(Store);

impl std::fmt::Debug for GroupCommitCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommitCollector")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: &'static str,
}

impl Collector for GroupCommitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = self.0.group_commit_stats() else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "group_commit_requests",
            "Reservation requests, commits and releases by how they were applied",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (path, n) in [
            ("direct", stats.direct_requests),
            ("worker", stats.worker_requests),
        ] {
            ConstCounter::new(n).encode(family.encode_family(&PathLabel { path })?)?;
        }
        let batches = ConstCounter::new(stats.worker_batches);
        batches.encode(encoder.encode_descriptor(
            "group_commit_batches",
            "Transactions of the group-commit worker",
            None,
            batches.metric_type(),
        )?)?;
        Ok(())
    }
}

struct ProcessFigures {
    cpu_seconds: f64,
    rss_bytes: i64,
    peak_rss_bytes: i64,
}

fn process_figures() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold
    // spaces): utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |name: &str| -> Option<i64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(ProcessFigures {
        cpu_seconds: ticks as f64 / USER_HZ,
        rss_bytes: kib("VmRSS:")? * 1024,
        peak_rss_bytes: kib("VmHWM:")? * 1024,
    })
}

/// Counts and times every request by its route template (never its raw
/// path, which would make one series per id).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}
