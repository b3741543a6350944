//! Browser sessions of users, and the sign-in attempt counters.
//!
//! A session is a 256-bit random secret in a cookie; only its SHA-256 is
//! stored (like API tokens, a slow hash buys nothing against 2^256). A
//! session is live while it is not revoked, its absolute end is in the
//! future, it was used within its idle time, and its user is not disabled.
//! Every check is made in the one query that authenticates it, so a revoked
//! session or a disabled user stops working on the next request, on every
//! instance.

use jaego_core::auth::{AttemptWindow, judge_attempt};
use jaego_core::limits::USER_AGENT_LEN_MAX;
use jaego_core::{Role, SessionId, TenantId, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest};
use crate::rows::{Arg, int, opt_int, parsed, text};
use crate::tenants::{Credential, Principal};
use crate::users::User;
use crate::{Store, now_us};

/// How often a session's `last_seen_at` is written, at most: often enough
/// for the idle timeout, rarely enough not to cost a write per request.
const TOUCH_INTERVAL_US: i64 = 60 * 1_000_000;

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetime {
    /// A session unused this long ends (µs).
    pub idle_us: i64,
    /// A session ends this long after sign-in, however busy (µs).
    pub absolute_us: i64,
}

/// A session as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// When the session ends if unused from now on.
    pub idle_expires_at: i64,
    /// When the session ends however busy.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub client_addr: String,
    pub user_agent: String,
}

/// A new session: the secret goes into the cookie once and is stored only
/// as a hash.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub info: SessionInfo,
    pub secret: String,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub user_id: Option<UserId>,
    /// Include ended sessions (revoked or expired).
    pub include_ended: bool,
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn fresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("js_{}", hex::encode(bytes))
}

const SESSION_COLUMNS: &str = "s.id, s.tenant_id, s.user_id, s.created_at, s.last_seen_at, s.idle_us, s.expires_at, s.revoked_at, s.client_addr, s.user_agent";

fn session_from_row(row: &AnyRow) -> StoreResult<SessionInfo> {
    let last_seen_at = int(row, "last_seen_at")?;
    let expires_at = int(row, "expires_at")?;
    Ok(SessionInfo {
        id: parsed(row, "id")?,
        tenant_id: parsed(row, "tenant_id")?,
        user_id: parsed(row, "user_id")?,
        created_at: int(row, "created_at")?,
        last_seen_at,
        idle_expires_at: last_seen_at
            .saturating_add(int(row, "idle_us")?)
            .min(expires_at),
        expires_at,
        revoked_at: opt_int(row, "revoked_at")?,
        client_addr: text(row, "client_addr")?,
        user_agent: text(row, "user_agent")?,
    })
}

impl Store {
    /// Starts a session for `user`, who has just proved their password.
    pub async fn create_session(
        &self,
        user: &User,
        lifetime: SessionLifetime,
        client_addr: &str,
        user_agent: &str,
    ) -> StoreResult<NewSession> {
        let now = now_us();
        let secret = fresh_secret();
        let user_agent: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_LEN_MAX)
            .collect();
        let info = SessionInfo {
            id: SessionId::new(),
            tenant_id: user.tenant_id,
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now.saturating_add(lifetime.idle_us.max(1)),
            expires_at: now.saturating_add(lifetime.absolute_us.max(1)),
            revoked_at: None,
            client_addr: client_addr.to_string(),
            user_agent,
        };
        sqlx::query("INSERT INTO sessions (id, tenant_id, user_id, secret_hash, created_at, last_seen_at, idle_us, expires_at, client_addr, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(info.id.to_string())
            .bind(info.tenant_id.to_string())
            .bind(info.user_id.to_string())
            .bind(hash_secret(&secret))
            .bind(now)
            .bind(now)
            .bind(lifetime.idle_us.max(1))
            .bind(info.expires_at)
            .bind(&info.client_addr)
            .bind(&info.user_agent)
            .execute(self.writer())
            .await?;
        Ok(NewSession { info, secret })
    }

    /// Resolves a session cookie's secret to its principal, if the session
    /// is live; records that it was used (at most once a minute).
    pub async fn authenticate_session(
        &self,
        secret: &str,
    ) -> StoreResult<Option<(Principal, SessionInfo)>> {
        let now = now_us();
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, u.role, u.name FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND u.disabled_at IS NULL \
             AND s.expires_at > $2 AND s.last_seen_at + s.idle_us > $3"
        ))
        .bind(hash_secret(secret))
        .bind(now)
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let info = session_from_row(&row)?;
        let role: Role = parsed(&row, "role")?;
        let principal = Principal {
            tenant_id: info.tenant_id,
            role,
            name: text(&row, "name")?,
            credential: Credential::Session {
                user_id: info.user_id,
                session_id: info.id,
            },
        };
        if now - info.last_seen_at >= TOUCH_INTERVAL_US {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $3",
            )
            .bind(now)
            .bind(info.id.to_string())
            .bind(now)
            .execute(self.writer())
            .await?;
        }
        Ok(Some((principal, info)))
    }

    /// Ends the session whose cookie carries `secret` (sign-out). Harmless
    /// if it already ended.
    pub async fn end_session(&self, secret: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE secret_hash = $2",
        )
        .bind(now_us())
        .bind(hash_secret(secret))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Revokes a session of the tenant; revoking twice is harmless.
    pub async fn revoke_session(&self, tenant: TenantId, id: SessionId) -> StoreResult<()> {
        let done = sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND tenant_id = $3")
            .bind(now_us())
            .bind(id.to_string())
            .bind(tenant.to_string())
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("session", id));
        }
        Ok(())
    }

    /// The tenant's sessions, oldest first; live ones only unless the
    /// filter asks for ended ones too.
    pub async fn list_sessions(
        &self,
        tenant: TenantId,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<SessionInfo>> {
        let now = now_us();
        let mut sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.tenant_id = $1 AND s.id > $2"
        );
        let mut args = vec![
            Arg::Text(tenant.to_string()),
            Arg::Text(page.cursor().to_string()),
        ];
        let mut push = |sql: &mut String, cond: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if !filter.include_ended {
            sql.push_str(" AND s.revoked_at IS NULL AND u.disabled_at IS NULL");
            push(&mut sql, " AND s.expires_at > ?", Arg::Int(now));
            push(
                &mut sql,
                " AND s.last_seen_at + s.idle_us > ?",
                Arg::Int(now),
            );
        }
        if let Some(user) = filter.user_id {
            push(&mut sql, " AND s.user_id = ?", Arg::Text(user.to_string()));
        }
        push(
            &mut sql,
            " ORDER BY s.id LIMIT ?",
            Arg::Int((page.size() + 1) as i64),
        );
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = arg.bind(query);
        }
        let rows = query.fetch_all(self.reader()).await?;
        let items = rows
            .iter()
            .map(session_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |s| s.id.to_string()))
    }

    /// Counts one sign-in attempt against every key (e.g. the account and
    /// the client address), each with its limit, in fixed windows of
    /// `window_us`. Counting comes first, so parallel attempts cannot slip
    /// past the limit. `Err(seconds)` says how long to wait.
    pub async fn count_login_attempt(
        &self,
        keys: &[(&str, i64)],
        window_us: i64,
    ) -> StoreResult<Result<(), i64>> {
        let now = now_us();
        let mut wait: Option<i64> = None;
        for (key, max) in keys {
            let row = sqlx::query(
                "INSERT INTO login_attempts (scope_key, window_started_at, attempts) VALUES ($1, $2, 1) \
                 ON CONFLICT (scope_key) DO UPDATE SET \
                 attempts = CASE WHEN login_attempts.window_started_at <= $3 THEN 1 ELSE login_attempts.attempts + 1 END, \
                 window_started_at = CASE WHEN login_attempts.window_started_at <= $4 THEN $5 ELSE login_attempts.window_started_at END \
                 RETURNING window_started_at, attempts",
            )
            .bind(*key)
            .bind(now)
            .bind(now - window_us)
            .bind(now - window_us)
            .bind(now)
            .fetch_one(self.writer())
            .await?;
            let window = AttemptWindow {
                started_at_us: int(&row, "window_started_at")?,
                attempts: int(&row, "attempts")?,
            };
            if let Err(secs) = judge_attempt(window, *max, window_us, now) {
                wait = Some(wait.map_or(secs, |w| w.max(secs)));
            }
        }
        Ok(wait.map_or(Ok(()), Err))
    }

    /// Forgets the attempts counted against `key` (after a successful
    /// sign-in to that account).
    pub async fn clear_login_attempts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_attempts WHERE scope_key = $1")
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Deletes what no longer counts: attempt windows that ended and
    /// sessions that ended more than `keep_us` ago. Returns rows deleted.
    pub async fn purge_auth(&self, window_us: i64, keep_us: i64) -> StoreResult<u64> {
        let now = now_us();
        let attempts = sqlx::query("DELETE FROM login_attempts WHERE window_started_at <= $1")
            .bind(now - window_us)
            .execute(self.writer())
            .await?
            .rows_affected();
        let cutoff = now - keep_us;
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $2 OR last_seen_at + idle_us < $3",
        )
        .bind(cutoff)
        .bind(cutoff)
        .bind(cutoff)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(attempts + sessions)
    }
}
