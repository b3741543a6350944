//! People who sign in: users with an Argon2id password hash and a role.
//!
//! Passwords are hashed with Argon2id (the `argon2` crate's defaults, the
//! OWASP-recommended m = 19 MiB, t = 2, p = 1) on the blocking thread pool, so
//! a burst of sign-ins cannot stall the request handlers. The hash is stored
//! in PHC string form, which carries its own parameters and salt: raising
//! the cost later needs no migration.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jaego_core::auth::{check_new_user, check_password, normalise_login};
use jaego_core::error::Validator;
use jaego_core::{Role, TenantId, UserId};
use rand::RngCore;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest};
use crate::rows::{int, opt_int, parsed, text};
use crate::{Store, now_us};

/// A user as listed (never with the password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Normalised (lowercase) login name.
    pub login: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub password_changed_at: i64,
    pub disabled_at: Option<i64>,
}

/// What [`Store::create_user`] needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub name: String,
    pub role: Role,
    pub password: String,
}

const USER_COLUMNS: &str =
    "id, tenant_id, login, name, role, created_at, password_changed_at, disabled_at";

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: parsed(row, "id")?,
        tenant_id: parsed(row, "tenant_id")?,
        login: text(row, "login")?,
        name: text(row, "name")?,
        role: parsed(row, "role")?,
        created_at: int(row, "created_at")?,
        password_changed_at: int(row, "password_changed_at")?,
        disabled_at: opt_int(row, "disabled_at")?,
    })
}

/// Most password hashes computed at once. Each takes 19 MiB and a core for
/// tens of milliseconds; a flood of sign-ins waits here instead of taking
/// every blocking thread and gigabytes of memory.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

async fn hashing_slot() -> StoreResult<tokio::sync::SemaphorePermit<'static>> {
    HASHING
        .acquire()
        .await
        .map_err(|_| StoreError::ShuttingDown)
}

/// Hashes `password` with Argon2id and a fresh 128-bit salt, off the
/// request threads.
pub async fn hash_password(password: String) -> StoreResult<String> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| StoreError::Corrupt(format!("password salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Corrupt(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("password hashing task: {e}")))?
}

/// Checks `password` against a stored PHC hash, off the request threads.
/// A malformed stored hash never matches.
pub async fn verify_password(password: String, stored: String) -> StoreResult<bool> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("password hashing task: {e}")))
}

/// A hash of a random password, checked when a login name is unknown so
/// that an unknown name takes as long to refuse as a wrong password (no
/// account enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let salt = SaltString::encode_b64(&bytes).expect("16 bytes encode as a salt");
        Argon2::default()
            .hash_password(hex::encode(bytes).as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

impl Store {
    /// Creates a user with a hashed password. The login name is normalised;
    /// a name taken in any tenant is `Duplicate`.
    pub async fn create_user(&self, tenant: TenantId, new: &NewUser) -> StoreResult<User> {
        let login = normalise_login(&new.login);
        let name = new.name.trim().to_string();
        check_new_user(&login, &name, &new.password)?;
        let hash = hash_password(new.password.clone()).await?;
        let now = now_us();
        let user = User {
            id: UserId::new(),
            tenant_id: tenant,
            login,
            name,
            role: new.role,
            created_at: now,
            password_changed_at: now,
            disabled_at: None,
        };
        sqlx::query("INSERT INTO users (id, tenant_id, login, name, role, password_hash, created_at, password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(user.id.to_string())
            .bind(tenant.to_string())
            .bind(&user.login)
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(hash)
            .bind(now)
            .bind(now)
            .execute(self.writer())
            .await
            .map_err(|e| StoreError::from_unique(e, "user login", &user.login))?;
        Ok(user)
    }

    pub async fn get_user(&self, tenant: TenantId, id: UserId) -> StoreResult<User> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))?;
        user_from_row(&row)
    }

    /// The tenant's users, oldest first.
    pub async fn list_users(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(page.cursor().to_string())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(user_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |u| u.id.to_string()))
    }

    /// Disables (or enables again) a user. Disabling ends every session of
    /// the user in the same transaction.
    pub async fn set_user_disabled(
        &self,
        tenant: TenantId,
        id: UserId,
        disabled: bool,
    ) -> StoreResult<User> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let done = if disabled {
            sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE tenant_id = $2 AND id = $3")
                .bind(now)
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
        } else {
            sqlx::query("UPDATE users SET disabled_at = NULL WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
        };
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", id));
        }
        if disabled {
            revoke_user_sessions(&mut tx, tenant, id, now).await?;
        }
        tx.commit().await?;
        self.get_user(tenant, id).await
    }

    /// Sets a new password and ends every session of the user, in one
    /// transaction.
    pub async fn set_user_password(
        &self,
        tenant: TenantId,
        id: UserId,
        password: &str,
    ) -> StoreResult<()> {
        let mut v = Validator::new();
        check_password(&mut v, "password", password);
        v.finish()?;
        let hash = hash_password(password.to_string()).await?;
        let now = now_us();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(hash)
            .bind(now)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", id));
        }
        revoke_user_sessions(&mut tx, tenant, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user with `login` if `password` is theirs and they are not
    /// disabled; `None` otherwise. Unknown names cost one hash check too.
    pub async fn check_credentials(
        &self,
        login: &str,
        password: &str,
    ) -> StoreResult<Option<User>> {
        let login = normalise_login(login);
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE login = $1"
        ))
        .bind(&login)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else {
            verify_password(password.to_string(), decoy_hash().to_string()).await?;
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        let stored = text(&row, "password_hash")?;
        let matches = verify_password(password.to_string(), stored).await?;
        Ok((matches && user.disabled_at.is_none()).then_some(user))
    }

    /// The tenant of a login name, if such a user exists (for auditing a
    /// refused sign-in against the tenant it was aimed at).
    pub async fn tenant_of_login(&self, login: &str) -> StoreResult<Option<(TenantId, UserId)>> {
        let row = sqlx::query("SELECT tenant_id, id FROM users WHERE login = $1")
            .bind(normalise_login(login))
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| Ok((parsed(&r, "tenant_id")?, parsed(&r, "id")?)))
            .transpose()
    }
}

/// Ends every live session of a user (inside the caller's transaction).
pub(crate) async fn revoke_user_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    user: UserId,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
