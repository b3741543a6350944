//! Tenants and API tokens.

use jaego_core::{Role, SessionId, TenantId, TokenId, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};
use crate::rows::{int, opt_int, parsed, text};
use crate::{Store, now_us};

/// Who is making a request: resolved from a bearer token or from a
/// browser session's cookie. Handlers see the same principal either way.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub role: Role,
    /// The token's name, or the user's display name.
    pub name: String,
    /// How the caller proved who it is.
    pub credential: Credential,
}

/// The credential behind a [`Principal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An API token (`Authorization: Bearer …`).
    Token(TokenId),
    /// A user's browser session (the session cookie).
    Session {
        user_id: UserId,
        session_id: SessionId,
    },
}

impl Principal {
    /// How the ledger and the audit log name this principal as an actor:
    /// `token:<id>` or `user:<id>`.
    pub fn actor(&self) -> String {
        match self.credential {
            Credential::Token(id) => format!("token:{id}"),
            Credential::Session { user_id, .. } => format!("user:{user_id}"),
        }
    }

    pub fn token_id(&self) -> Option<TokenId> {
        match self.credential {
            Credential::Token(id) => Some(id),
            Credential::Session { .. } => None,
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self.credential {
            Credential::Session { user_id, .. } => Some(user_id),
            Credential::Token(_) => None,
        }
    }

    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session { session_id, .. } => Some(session_id),
            Credential::Token(_) => None,
        }
    }
}

/// A token as listed (never with its secret).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A freshly made token: the secret is returned this once and stored only
/// as a hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub secret: String,
}

/// Tokens are 256 random bits, so a plain SHA-256 is a sound way to store
/// them (a slow password hash buys nothing against a brute force of 2^256).
fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn fresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("jg_{}", hex::encode(bytes))
}

impl Store {
    /// On an empty database, creates the first tenant and its owner token and
    /// returns them; otherwise `None`. Safe when several instances start at
    /// once: only the one that claims the `bootstrap` marker creates.
    pub async fn bootstrap(&self) -> StoreResult<Option<NewToken>> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query("INSERT INTO meta (meta_key, meta_value) VALUES ('bootstrap', $1) ON CONFLICT DO NOTHING")
            .bind(now_us().to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let tenant = TenantId::new();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.to_string())
            .bind("default")
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
        let token = insert_token(&mut tx, tenant, Role::Owner, "bootstrap owner").await?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// Creates a tenant (used by operators and tests; the first one comes
    /// from [`Store::bootstrap`]).
    pub async fn create_tenant(&self, name: &str) -> StoreResult<TenantId> {
        let tenant = TenantId::new();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.to_string())
            .bind(name)
            .bind(now_us())
            .execute(self.writer())
            .await?;
        Ok(tenant)
    }

    /// The oldest tenant, which the command line acts on by default.
    pub async fn first_tenant(&self) -> StoreResult<Option<TenantId>> {
        let row = sqlx::query("SELECT id FROM tenants ORDER BY id LIMIT 1")
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| parsed(&r, "id")).transpose()
    }

    pub async fn create_token(
        &self,
        tenant: TenantId,
        role: Role,
        name: &str,
    ) -> StoreResult<NewToken> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::not_found("tenant", tenant));
        }
        let token = insert_token(&mut tx, tenant, role, name).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Resolves a bearer secret to its principal, if the token exists and is
    /// not revoked.
    pub async fn authenticate(&self, secret: &str) -> StoreResult<Option<Principal>> {
        let row = sqlx::query("SELECT id, tenant_id, role, name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(hash_token(secret))
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok(Principal {
                credential: Credential::Token(parsed(&r, "id")?),
                tenant_id: parsed(&r, "tenant_id")?,
                role: parsed(&r, "role")?,
                name: text(&r, "name")?,
            })
        })
        .transpose()
    }

    pub async fn list_tokens(&self, tenant: TenantId) -> StoreResult<Vec<TokenInfo>> {
        let rows = sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: parsed(r, "id")?,
                    name: text(r, "name")?,
                    role: parsed(r, "role")?,
                    created_at: int(r, "created_at")?,
                    revoked_at: opt_int(r, "revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes a token of the tenant; revoking twice is harmless.
    pub async fn revoke_token(&self, tenant: TenantId, token: TokenId) -> StoreResult<()> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND tenant_id = $3")
            .bind(now_us())
            .bind(token.to_string())
            .bind(tenant.to_string())
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("token", token));
        }
        Ok(())
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    role: Role,
    name: &str,
) -> StoreResult<NewToken> {
    let id = TokenId::new();
    let secret = fresh_secret();
    sqlx::query("INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(name)
        .bind(role.as_str())
        .bind(hash_token(&secret))
        .bind(now_us())
        .execute(&mut **tx)
        .await?;
    Ok(NewToken {
        id,
        tenant_id: tenant,
        secret,
    })
}
