//! The audit log: who did what, when, from which token or user.
//!
//! The HTTP edge records one entry per mutation (and per refused attempt)
//! after the handler answered and before the answer leaves, and waits for
//! the entry to be committed. Entries that arrive together are written by
//! one worker in one transaction (the same group-commit idea as
//! reservations), so auditing costs a shared commit, not one per request.
//! An acknowledged mutation therefore always has its entry; a crash between
//! a change's commit and its entry's commit can lose the entry of a request
//! that was never answered.
//!
//! Entries never hold request bodies: only the method, the route template,
//! the ids the request named or created, the status and who sent it.

use jaego_core::{AuditId, TenantId};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest};
use crate::rows::{Arg, Placeholders, int, padded, parsed, text, tuples};

/// Most entries waiting for the audit worker; beyond this, callers wait.
const AUDIT_QUEUE_DEPTH_MAX: usize = 8_192;
/// Most entries written in one transaction.
const AUDIT_BATCH_MAX: usize = 256;
/// Longest text kept in any one field of an entry, in bytes; longer text
/// (a hostile header, a huge id list) is cut.
const AUDIT_FIELD_BYTES_MAX: usize = 512;

/// One thing that happened, as the edge reports it.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub tenant_id: Option<TenantId>,
    /// µs since the epoch.
    pub occurred_at: i64,
    /// `token:<id>`, `user:<id>` or `login:<name>`.
    pub actor: String,
    pub role: String,
    pub token_id: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub method: String,
    /// The route template, never the raw path.
    pub route: String,
    pub target_ids: Vec<String>,
    pub status: u16,
    /// The problem `code` of a refused request; empty on success.
    pub outcome: String,
    pub client_addr: String,
    pub request_id: String,
}

impl AuditEntry {
    /// This entry as answered with `status`, naming `created` (the id of
    /// what the request made) among its targets.
    pub fn answered(&self, status: u16, created: Option<String>) -> AuditEntry {
        let mut entry = self.clone();
        entry.status = status;
        if let Some(id) = created
            && !entry.target_ids.contains(&id)
        {
            entry.target_ids.push(id);
        }
        entry
    }
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: AuditId,
    pub entry: AuditEntry,
}

/// Which entries to list. Every filter is exact except the time range.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub method: Option<String>,
    pub route: Option<String>,
    /// Entries that name this id among their targets.
    pub target_id: Option<String>,
    pub status: Option<u16>,
    /// Only refused attempts (`true`) or only successes (`false`).
    pub refused: Option<bool>,
    /// From this time (µs, inclusive) …
    pub from: Option<i64>,
    /// … to this time (µs, exclusive).
    pub to: Option<i64>,
}

struct Job {
    entry: AuditEntry,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// The handle to the audit worker; the worker stops when the last handle
/// drops, after writing what it holds.
pub(crate) struct AuditWriter {
    queue: mpsc::Sender<Job>,
}

impl AuditWriter {
    pub(crate) fn spawn(pool: AnyPool) -> AuditWriter {
        let (queue, jobs) = mpsc::channel(AUDIT_QUEUE_DEPTH_MAX);
        tokio::spawn(run(pool, jobs));
        AuditWriter { queue }
    }
}

fn cut(mut s: String) -> String {
    if s.len() > AUDIT_FIELD_BYTES_MAX {
        let mut end = AUDIT_FIELD_BYTES_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

async fn run(pool: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < AUDIT_BATCH_MAX {
            let Ok(job) = jobs.try_recv() else { break };
            batch.push(job);
        }
        let (entries, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|j| (j.entry, j.reply)).unzip();
        let result = write_batch(&pool, &entries).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, entries = entries.len(), "writing audit entries failed");
        }
        for reply in replies {
            let _ = reply.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string())),
            });
        }
    }
}

const WIDTH: usize = 15;

async fn write_batch(pool: &AnyPool, entries: &[AuditEntry]) -> StoreResult<()> {
    if entries.iter().all(|e| e.tenant_id.is_none()) {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    insert_entries(&mut tx, entries).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes `entries` (those with a tenant) in the caller's transaction, in
/// one statement: the audit worker's batches, and the entries that commit
/// with the change they record (the reservation batch).
pub(crate) async fn insert_entries(
    tx: &mut Transaction<'_, Any>,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    let entries: Vec<(TenantId, &AuditEntry)> = entries
        .iter()
        .filter_map(|e| e.tenant_id.map(|t| (t, e)))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let style = Placeholders::of(tx);
    let rows = padded(entries.len());
    let sql = format!(
        "INSERT INTO audit_log (id, tenant_id, occurred_at, actor, role, token_id, user_id, session_id, method, route, \
         target_ids, status, outcome, client_addr, request_id) \
         SELECT {} FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
        (1..=WIDTH)
            .map(|c| format!("column{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        tuples(style, rows, WIDTH)
    );
    let mut query = sqlx::query(&sql);
    for _ in entries.len()..rows {
        // Types as in the real rows: 2 text, 1 integer, 8 text, 1 integer, 3 text.
        query = query
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<i64>);
        for _ in 0..8 {
            query = query.bind(None::<String>);
        }
        query = query.bind(None::<i64>);
        for _ in 0..3 {
            query = query.bind(None::<String>);
        }
    }
    for (tenant, e) in entries {
        query = query
            .bind(AuditId::new().to_string())
            .bind(tenant.to_string())
            .bind(e.occurred_at)
            .bind(cut(e.actor.clone()))
            .bind(cut(e.role.clone()))
            .bind(e.token_id.clone())
            .bind(e.user_id.clone())
            .bind(e.session_id.clone())
            .bind(cut(e.method.clone()))
            .bind(cut(e.route.clone()))
            .bind(cut(e.target_ids.join(" ")))
            .bind(i64::from(e.status))
            .bind(cut(e.outcome.clone()))
            .bind(cut(e.client_addr.clone()))
            .bind(cut(e.request_id.clone()));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

const AUDIT_COLUMNS: &str = "id, tenant_id, occurred_at, actor, role, token_id, user_id, session_id, method, route, target_ids, status, outcome, client_addr, request_id";

fn record_from_row(row: &AnyRow) -> StoreResult<AuditRecord> {
    let targets = text(row, "target_ids")?;
    Ok(AuditRecord {
        id: parsed(row, "id")?,
        entry: AuditEntry {
            tenant_id: Some(parsed(row, "tenant_id")?),
            occurred_at: int(row, "occurred_at")?,
            actor: text(row, "actor")?,
            role: text(row, "role")?,
            token_id: crate::rows::opt_text(row, "token_id")?,
            user_id: crate::rows::opt_text(row, "user_id")?,
            session_id: crate::rows::opt_text(row, "session_id")?,
            method: text(row, "method")?,
            route: text(row, "route")?,
            target_ids: targets.split_whitespace().map(str::to_string).collect(),
            status: u16::try_from(int(row, "status")?).unwrap_or(0),
            outcome: text(row, "outcome")?,
            client_addr: text(row, "client_addr")?,
            request_id: text(row, "request_id")?,
        },
    })
}

impl Store {
    /// Records `entry` and waits until it is committed. Entries without a
    /// tenant are dropped (there is no one to show them to).
    pub async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        if entry.tenant_id.is_none() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .audit
            .queue
            .send(Job { entry, reply })
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// The tenant's audit log, newest first: the next page holds older
    /// entries (its cursor is the last id of this one).
    pub async fn list_audit(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE tenant_id = $1");
        let mut args = vec![Arg::Text(tenant.to_string())];
        let mut push = |sql: &mut String, cond: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if let Some(after) = &page.after {
            push(&mut sql, " AND id < ?", Arg::Text(after.clone()));
        }
        if let Some(actor) = &filter.actor {
            push(&mut sql, " AND actor = ?", Arg::Text(actor.clone()));
        }
        if let Some(method) = &filter.method {
            push(
                &mut sql,
                " AND method = ?",
                Arg::Text(method.to_uppercase()),
            );
        }
        if let Some(route) = &filter.route {
            push(&mut sql, " AND route = ?", Arg::Text(route.clone()));
        }
        if let Some(target) = &filter.target_id {
            // Ids are whole words of the space-separated list.
            push(
                &mut sql,
                " AND (' ' || target_ids || ' ') LIKE ? ESCAPE '\\'",
                Arg::Text(format!("% {} %", crate::catalog::like_literal(target))),
            );
        }
        if let Some(status) = filter.status {
            push(&mut sql, " AND status = ?", Arg::Int(i64::from(status)));
        }
        match filter.refused {
            Some(true) => sql.push_str(" AND outcome <> ''"),
            Some(false) => sql.push_str(" AND outcome = ''"),
            None => {}
        }
        if let Some(from) = filter.from {
            push(&mut sql, " AND occurred_at >= ?", Arg::Int(from));
        }
        if let Some(to) = filter.to {
            push(&mut sql, " AND occurred_at < ?", Arg::Int(to));
        }
        push(
            &mut sql,
            " ORDER BY id DESC LIMIT ?",
            Arg::Int((page.size() + 1) as i64),
        );
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = arg.bind(query);
        }
        let rows = query.fetch_all(self.reader()).await?;
        let items = rows
            .iter()
            .map(record_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |r| r.id.to_string()))
    }
}
