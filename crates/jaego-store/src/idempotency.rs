//! Idempotency keys: a retried request with the same key and body gets the
//! first answer, never a second application.
//!
//! The key is claimed before the request runs and the answer stored after,
//! so two concurrent requests with one key cannot both run: the second sees
//! the claim and is told the first is in progress.

use jaego_core::TenantId;

use crate::error::StoreResult;
use crate::rows::{opt_int, opt_text, text};
use crate::{Store, now_us};

/// What a key's earlier use says about this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use: run the request, then [`Store::complete_idempotency`].
    Fresh,
    /// Done before with the same body: answer this.
    Replay { status: u16, body: String },
    /// Used before with a different body.
    Mismatch,
    /// Claimed by a request that has not finished (or whose server stopped
    /// mid-request; the change may or may not have been applied).
    InProgress,
}

impl Store {
    pub async fn claim_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
    ) -> StoreResult<Claim> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(key)
        .bind(request_hash)
        .bind(now_us())
        .execute(self.writer())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Fresh);
        }
        let row = sqlx::query("SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2")
            .bind(tenant.to_string())
            .bind(key)
            .fetch_optional(self.writer())
            .await?;
        let Some(row) = row else {
            // Abandoned between our insert and read: the caller may retry.
            return Ok(Claim::InProgress);
        };
        if text(&row, "request_hash")? != request_hash {
            return Ok(Claim::Mismatch);
        }
        match (
            opt_int(&row, "status_code")?,
            opt_text(&row, "response_body")?,
        ) {
            (Some(status), Some(body)) => Ok(Claim::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body,
            }),
            _ => Ok(Claim::InProgress),
        }
    }

    /// Stores the answer to replay for later uses of the key.
    pub async fn complete_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE idempotency_keys SET status_code = $1, response_body = $2 WHERE tenant_id = $3 AND idem_key = $4")
            .bind(i64::from(status))
            .bind(body)
            .bind(tenant.to_string())
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Frees a key whose request failed before changing anything (a server
    /// error), so a retry can run.
    pub async fn abandon_idempotency(&self, tenant: TenantId, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND status_code IS NULL")
            .bind(tenant.to_string())
            .bind(key)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
