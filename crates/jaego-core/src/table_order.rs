//! Table-order stock (seed 000, H68): per store, menu items with an initial
//! count, reset every day at a set time or by "reset now", remaining counts
//! on customer screens, and orders refused for an item that has run out.

use std::fmt;
use std::str::FromStr;

use crate::error::InvalidInput;
use crate::schedule::Spec;

/// What a reset sets each tracked menu item's count to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetMode {
    /// The item's initial count (초기수량으로 초기화). The default.
    #[default]
    ToInitial,
    /// Zero (0으로 초기화): nothing sells until counts are entered.
    ToZero,
}

impl ResetMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetMode::ToInitial => "to_initial",
            ResetMode::ToZero => "to_zero",
        }
    }

    /// The on-hand count an item with `initial` is reset to.
    pub fn target(self, initial: i64) -> i64 {
        match self {
            ResetMode::ToInitial => initial,
            ResetMode::ToZero => 0,
        }
    }
}

impl fmt::Display for ResetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResetMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "to_initial" => Ok(ResetMode::ToInitial),
            "to_zero" => Ok(ResetMode::ToZero),
            other => Err(format!("{other:?}: expected to_initial or to_zero")),
        }
    }
}

/// Parses a reset schedule: `daily HH:MM` (예약설정), or `None` for manual
/// only (수동설정, "reset now").
pub fn parse_reset_schedule(raw: Option<&str>) -> Result<Option<Spec>, InvalidInput> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<Spec>() {
        Ok(spec @ Spec::DailyAt { .. }) => Ok(Some(spec)),
        Ok(_) => Err(InvalidInput::one(
            "reset_schedule",
            "resets run daily: use `daily HH:MM`, or null for manual only",
        )),
        Err(e) => Err(InvalidInput::one("reset_schedule", e)),
    }
}

/// How a menu item shows on a customer screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// The remaining count, when the store shows counts and the item is
    /// tracked; never below zero.
    pub remaining: Option<i64>,
    /// The item cannot be ordered: it is tracked and nothing is available.
    pub sold_out: bool,
}

/// An item without tracking sells freely and shows no count; a tracked one
/// is sold out at 0 available, and shows its count only when the store has
/// "show remaining count" on (the check is the same either way).
pub fn shown(tracked: bool, available: i64, show_remaining: bool) -> Shown {
    if !tracked {
        return Shown {
            remaining: None,
            sold_out: false,
        };
    }
    Shown {
        remaining: show_remaining.then_some(available.max(0)),
        sold_out: available <= 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_targets() {
        assert_eq!(ResetMode::ToInitial.target(20), 20);
        assert_eq!(ResetMode::ToZero.target(20), 0);
        assert_eq!("to_zero".parse(), Ok(ResetMode::ToZero));
        assert!("zero".parse::<ResetMode>().is_err());
    }

    #[test]
    fn schedules() {
        assert_eq!(parse_reset_schedule(None), Ok(None));
        assert_eq!(
            parse_reset_schedule(Some("daily 04:30")),
            Ok(Some(Spec::DailyAt {
                hour: 4,
                minute: 30
            }))
        );
        for bad in ["minutes 0,30", "every 3600s", "daily 25:00", "4:30"] {
            let err = parse_reset_schedule(Some(bad)).unwrap_err();
            assert_eq!(err.violations[0].field, "reset_schedule", "{bad}");
        }
    }

    #[test]
    fn customer_screens() {
        // (tracked, available, show remaining) → (remaining, sold out)
        let cases = [
            (true, 5, true, Some(5), false),
            (true, 5, false, None, false),
            (true, 0, true, Some(0), true),
            (true, -2, true, Some(0), true),
            (true, 0, false, None, true),
            (false, 0, true, None, false),
            (false, -4, false, None, false),
        ];
        for (tracked, available, show, remaining, sold_out) in cases {
            assert_eq!(
                shown(tracked, available, show),
                Shown {
                    remaining,
                    sold_out
                },
                "{tracked} {available} {show}"
            );
        }
    }
}
