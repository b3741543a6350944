//! Reservations are pending transfers: made pessimistically, then resolved
//! exactly once by commit, release or expiry.
//!
//! A reservation is itself a ledger entry: each of its lines adds
//! [`hold_delta`] (`reserved +q`) to its balance, and there is no movement
//! for it. Its resolution is: a `commit` movement (`reserved −q`,
//! `allocated +q`) and a `release` or `expire` movement (`reserved −q`) for
//! what was not committed. So a balance is the sum of its movements' deltas
//! plus the holds of every reservation ever granted on it, and `reserved`
//! equals the lines of the reservations still open.

use std::fmt;
use std::str::FromStr;

use crate::balance::Delta;

/// What a reservation line of `quantity` units adds to its balance while
/// the reservation exists: `reserved +quantity`.
pub fn hold_delta(quantity: i64) -> Delta {
    Delta {
        reserved: quantity,
        ..Delta::default()
    }
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationState {
    Open,
    Committed,
    Released,
    Expired,
}

/// How a reservation is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Commit,
    Release,
    Expire,
}

/// Why a reservation cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("the reservation was already {0}")]
    AlreadyResolved(ReservationState),
    #[error("the reservation expired")]
    Expired,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Open => "open",
            ReservationState::Committed => "committed",
            ReservationState::Released => "released",
            ReservationState::Expired => "expired",
        }
    }

    /// The state after `resolution`, judged at `now_us` against `expires_at_us`.
    /// A commit that arrives at or after the deadline is refused as expired
    /// even if the expiry job has not run yet. A late release is accepted: the
    /// client is giving the stock back, which expiry would do anyway. Expiry
    /// itself needs the deadline to have passed; before it, the reservation is
    /// reported as still `open` (`AlreadyResolved(Open)`).
    pub fn resolve(
        self,
        resolution: Resolution,
        now_us: i64,
        expires_at_us: i64,
    ) -> Result<ReservationState, ResolveError> {
        if self != ReservationState::Open {
            return Err(ResolveError::AlreadyResolved(self));
        }
        match resolution {
            Resolution::Commit if now_us >= expires_at_us => Err(ResolveError::Expired),
            Resolution::Commit => Ok(ReservationState::Committed),
            Resolution::Release => Ok(ReservationState::Released),
            Resolution::Expire if now_us >= expires_at_us => Ok(ReservationState::Expired),
            Resolution::Expire => Err(ResolveError::AlreadyResolved(self)),
        }
    }
}

impl fmt::Display for ReservationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReservationState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(ReservationState::Open),
            "committed" => Ok(ReservationState::Committed),
            "released" => Ok(ReservationState::Released),
            "expired" => Ok(ReservationState::Expired),
            other => Err(format!("unknown reservation state {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReservationState::*;
    use Resolution::*;

    fn check(
        state: ReservationState,
        resolution: Resolution,
        now: i64,
        expected: Result<ReservationState, ResolveError>,
    ) {
        assert_eq!(
            state.resolve(resolution, now, 100),
            expected,
            "{state:?} {resolution:?} at {now}"
        );
    }

    #[test]
    fn resolution_table() {
        check(Open, Commit, 99, Ok(Committed));
        check(Open, Commit, 100, Err(ResolveError::Expired));
        check(Open, Release, 150, Ok(Released));
        check(Open, Expire, 100, Ok(Expired));
        check(Open, Expire, 99, Err(ResolveError::AlreadyResolved(Open)));
        for done in [Committed, Released, Expired] {
            for r in [Commit, Release, Expire] {
                check(done, r, 0, Err(ResolveError::AlreadyResolved(done)));
            }
        }
    }
}
