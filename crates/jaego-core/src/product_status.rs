//! Product status per SKU (seed 001, 통합재고현황 2): whether it is
//! discontinued and since when, whether and when to reorder, forced
//! sold-out, and limited stock (a cap on what channels are shown).
//!
//! Forced sold-out and limited stock change channel figures at once (see
//! [`crate::channel_stock`]); the status record itself is pushed to
//! channels in batches on the tenant's schedule or on demand.

use jiff::civil::Date;

use crate::channel_stock::Holds;
use crate::error::{InvalidInput, Validator};
use crate::limits::QUANTITY_MAX;

/// The status of one SKU. The default is "active": nothing set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkuStatus {
    /// The SKU is discontinued (종결): no more will be made or bought.
    pub discontinued: bool,
    /// When it was (or will be) discontinued.
    pub discontinued_on: Option<Date>,
    /// The merchant decided to reorder (리오더 판단).
    pub reorder: bool,
    /// When the reorder is due (리오더 일자).
    pub reorder_on: Option<Date>,
    /// Shown as sold out on every sharing channel whatever the stock (강제품절).
    pub forced_sold_out: bool,
    /// At most this many units are shown on channels (재고한정).
    pub limited_stock: Option<i64>,
}

impl SkuStatus {
    /// A date needs its flag: a discontinued date on a SKU that is not
    /// discontinued would be read as a status nobody set.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut v = Validator::new();
        if self.discontinued_on.is_some() && !self.discontinued {
            v.push("discontinued_on", "needs discontinued: true");
        }
        if self.reorder_on.is_some() && !self.reorder {
            v.push("reorder_on", "needs reorder: true");
        }
        if let Some(cap) = self.limited_stock
            && !(0..=QUANTITY_MAX).contains(&cap)
        {
            v.push(
                "limited_stock",
                format!("must be between 0 and {QUANTITY_MAX}"),
            );
        }
        v.finish()
    }

    /// One word for lists and the SKU's `status` field, by precedence:
    /// `sold_out`, `discontinued`, `limited`, `active`.
    pub fn summary(&self) -> &'static str {
        if self.forced_sold_out {
            "sold_out"
        } else if self.discontinued {
            "discontinued"
        } else if self.limited_stock.is_some() {
            "limited"
        } else {
            "active"
        }
    }

    /// What the status holds back on channels (low-stock holds come from
    /// elsewhere).
    pub fn holds(&self) -> Holds {
        Holds {
            forced_sold_out: self.forced_sold_out,
            low_stock_sold_out: false,
            limited_stock: self.limited_stock,
        }
    }
}

/// Parses a calendar date `YYYY-MM-DD`, naming `field` in the error.
pub fn parse_date(field: &str, raw: &str) -> Result<Date, InvalidInput> {
    let date: Date = raw
        .parse()
        .map_err(|_| InvalidInput::one(field, format!("{raw:?} is not a date like 2026-11-22")))?;
    // `Date` also parses e.g. "+002026-11-22"; keep one spelling.
    if date.to_string() != raw {
        return Err(InvalidInput::one(
            field,
            format!("{raw:?} is not a date like 2026-11-22"),
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Option<Date> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn validation_and_summary() {
        let active = SkuStatus::default();
        let cases = [
            (active, Ok("active")),
            (
                SkuStatus {
                    discontinued: true,
                    discontinued_on: date("2026-12-31"),
                    ..active
                },
                Ok("discontinued"),
            ),
            (
                SkuStatus {
                    discontinued: true,
                    forced_sold_out: true,
                    ..active
                },
                Ok("sold_out"),
            ),
            (
                SkuStatus {
                    limited_stock: Some(5),
                    reorder: true,
                    reorder_on: date("2027-01-10"),
                    ..active
                },
                Ok("limited"),
            ),
            (
                SkuStatus {
                    discontinued_on: date("2026-12-31"),
                    ..active
                },
                Err("discontinued_on"),
            ),
            (
                SkuStatus {
                    reorder_on: date("2026-12-31"),
                    ..active
                },
                Err("reorder_on"),
            ),
            (
                SkuStatus {
                    limited_stock: Some(-1),
                    ..active
                },
                Err("limited_stock"),
            ),
        ];
        for (status, expected) in cases {
            let got = status
                .validate()
                .map(|()| status.summary())
                .map_err(|e| e.violations[0].field.clone());
            assert_eq!(got, expected.map_err(str::to_string), "{status:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("d", "2026-11-22").unwrap().to_string(),
            "2026-11-22"
        );
        for bad in [
            "2026-13-01",
            "2026-11-22T00:00",
            "22.11.2026",
            "",
            "2026-2-3",
        ] {
            assert!(parse_date("d", bad).is_err(), "{bad}");
        }
    }
}
