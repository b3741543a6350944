//! The store's one error type.

use jaego_core::InvalidInput;
use jaego_core::judge::Shortage;
use jaego_core::{LocationId, ReservationState, SkuId};

pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input broke a domain rule.
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    /// No such thing in this tenant (`entity` names what was looked for).
    #[error("{entity} not found")]
    NotFound { entity: &'static str, key: String },
    /// A unique key is taken: `what` names it (e.g. `sku code`).
    #[error("{what} {value:?} already exists")]
    Duplicate { what: &'static str, value: String },
    /// Not enough available stock for one or more lines.
    #[error("insufficient stock")]
    Shortage(Vec<Shortage<SkuId, LocationId>>),
    /// The reservation was already committed, released or expired.
    #[error("reservation already {0}")]
    AlreadyResolved(ReservationState),
    /// The reservation's time to live ran out before it was committed.
    #[error("reservation expired")]
    Expired,
    /// The transfer was already received.
    #[error("transfer already received")]
    TransferReceived,
    /// A figure that may never go negative would have.
    #[error("{0}")]
    Conflict(String),
    /// The request is valid but the thing it acts on is in a state that
    /// refuses it (an order already shipped, a pickup not yet received, a
    /// channel figure locked while sharing is on). `code` is the stable
    /// problem code the edge answers with (409); list every code in
    /// `docs/errors.md`.
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    /// The database failed for a whole batch; nothing was applied and the
    /// request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The group-commit worker is gone (the server is shutting down).
    #[error("the store is shutting down")]
    ShuttingDown,
    /// The database failed; details are logged, not shown to callers.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a programmer error or a
    /// hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Tries of a write transaction that hit a PostgreSQL deadlock or
/// serialization failure with another writer (see
/// [`StoreError::is_write_conflict`]) before it gives up.
const CONFLICT_ATTEMPTS: usize = 3;

/// Runs the write transaction `attempt` makes again while it fails with a
/// write conflict, up to [`CONFLICT_ATTEMPTS`] tries in all; answers the
/// last outcome.
pub(crate) async fn retry_write_conflicts<T, F, Fut>(mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_write_conflict() && tries < CONFLICT_ATTEMPTS => tries += 1,
            done => return done,
        }
    }
}

impl StoreError {
    /// A PostgreSQL deadlock (`40P01`) or serialization failure (`40001`)
    /// with another writer: the database rolled the transaction back, so
    /// running it again is safe.
    pub(crate) fn is_write_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::Database(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("40P01" | "40001"))
        )
    }

    #[expect(
        clippy::needless_pass_by_value,
        reason = "callers hand over ids and codes by value; only their text is kept"
    )]
    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// A [`StoreError::Refused`] with its stable code and a sentence saying why.
    pub fn refused(code: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Refused {
            code,
            detail: detail.into(),
        }
    }

    /// Maps a unique-constraint violation to [`StoreError::Duplicate`] by
    /// constraint name; other errors pass through.
    pub(crate) fn from_unique(err: sqlx::Error, what: &'static str, value: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate {
                what,
                value: value.to_string(),
            },
            _ => StoreError::Database(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::cell::Cell;

    use super::{CONFLICT_ATTEMPTS, StoreError, retry_write_conflicts};

    /// A database error with a given SQLSTATE, as PostgreSQL answers.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "sqlstate {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn failed(code: &'static str) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(Sqlstate(code))))
    }

    /// How many tries `retry_write_conflicts` makes when every try fails
    /// with `error`, and what it answers.
    async fn tries(error: impl Fn() -> StoreError) -> (usize, StoreError) {
        let calls = Cell::new(0);
        let outcome: Result<(), StoreError> = retry_write_conflicts(|| {
            calls.set(calls.get() + 1);
            let failure = error();
            async move { Err(failure) }
        })
        .await;
        (calls.get(), outcome.unwrap_err())
    }

    #[tokio::test]
    async fn write_conflicts_are_tried_again_and_nothing_else_is() {
        for code in ["40P01", "40001"] {
            let (n, last) = tries(|| failed(code)).await;
            assert_eq!(n, CONFLICT_ATTEMPTS, "{code}");
            assert!(last.is_write_conflict(), "{code}: {last}");
        }
        // A unique violation, or a refusal of ours: answered at once.
        let (n, _) = tries(|| failed("23505")).await;
        assert_eq!(n, 1);
        let (n, _) = tries(|| StoreError::Conflict("short".into())).await;
        assert_eq!(n, 1);
        // A conflict that clears: the second try's answer.
        let calls = Cell::new(0);
        let outcome = retry_write_conflicts(|| {
            calls.set(calls.get() + 1);
            let first = calls.get() == 1;
            async move { if first { Err(failed("40P01")) } else { Ok(7) } }
        })
        .await;
        assert_eq!((calls.get(), outcome.unwrap()), (2, 7));
    }
}
