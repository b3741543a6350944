//! Availability estimates (seed 003) and overdue expected receipts (seed
//! 002, 지난 입고예정일 표시).
//!
//! When a SKU is out of stock, customers are told when it is expected back:
//! the merchant's own words and date if they gave them, otherwise the due
//! date of the earliest open expected receipt. An expected receipt whose
//! due date has passed is shown with the days since, `2023-01-23 (D+3)`.
//! Dates are calendar dates in the receiving location's time zone.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::error::{InvalidInput, Validator};
use crate::limits::ESTIMATE_TEXT_LEN_MAX;

/// Today's date in `zone` at `now_us` (microseconds since the epoch).
pub fn today(zone: &TimeZone, now_us: i64) -> Date {
    Timestamp::from_microsecond(now_us)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(zone.clone())
        .date()
}

/// Days past `due` on `today`: `Some(n)` with n ≥ 1 once the due date has
/// passed, `None` on or before it.
pub fn overdue_days(due: Date, today: Date) -> Option<i64> {
    if today <= due {
        return None;
    }
    let days = (today - due).get_days();
    // `Date - Date` spans days (and never weeks or months) when both are
    // civil dates, so this is the whole difference.
    Some(i64::from(days))
}

/// A due date as merchants read it: `2026-11-22`, or `2026-11-22 (D+3)`
/// once it is three days overdue.
pub fn due_label(due: Date, today: Date) -> String {
    match overdue_days(due, today) {
        Some(n) => format!("{due} (D+{n})"),
        None => due.to_string(),
    }
}

/// Where an estimate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateSource {
    /// The merchant's own text and date.
    Merchant,
    /// The due date of the earliest open expected receipt.
    ExpectedReceipt,
}

impl EstimateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EstimateSource::Merchant => "merchant",
            EstimateSource::ExpectedReceipt => "expected_receipt",
        }
    }
}

/// The merchant's estimate for a SKU: words for customers ("Back in early
/// December"), a date, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerchantEstimate {
    pub text: String,
    pub date: Option<Date>,
}

impl MerchantEstimate {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut v = Validator::new();
        v.optional_text("text", &self.text, ESTIMATE_TEXT_LEN_MAX);
        if self.text.trim().is_empty() && self.date.is_none() {
            v.push("text", "give a text, a date, or both");
        }
        v.finish()
    }
}

/// When an out-of-stock SKU is expected back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub source: EstimateSource,
    /// The merchant's words; empty for a derived estimate.
    pub text: String,
    pub date: Option<Date>,
    /// For a derived estimate whose receipt is late: days past due.
    pub overdue_days: Option<i64>,
}

/// The estimate to show for a SKU with `available` units: none while it is
/// in stock; else the merchant's, if set; else the earliest open expected
/// receipt's due date (`earliest_due`, with `today` in its location's
/// zone); else none.
pub fn estimate(
    available: i64,
    merchant: Option<&MerchantEstimate>,
    earliest_due: Option<(Date, Date)>,
) -> Option<Estimate> {
    if available > 0 {
        return None;
    }
    if let Some(m) = merchant {
        return Some(Estimate {
            source: EstimateSource::Merchant,
            text: m.text.clone(),
            date: m.date,
            overdue_days: None,
        });
    }
    earliest_due.map(|(due, today)| Estimate {
        source: EstimateSource::ExpectedReceipt,
        text: String::new(),
        date: Some(due),
        overdue_days: overdue_days(due, today),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn overdue_labels() {
        let cases = [
            ("2023-01-23", "2023-01-22", None, "2023-01-23"),
            ("2023-01-23", "2023-01-23", None, "2023-01-23"),
            ("2023-01-23", "2023-01-26", Some(3), "2023-01-23 (D+3)"),
            ("2023-12-30", "2024-01-02", Some(3), "2023-12-30 (D+3)"),
            ("2024-02-28", "2024-03-01", Some(2), "2024-02-28 (D+2)"),
            ("2023-01-01", "2024-01-01", Some(365), "2023-01-01 (D+365)"),
        ];
        for (due, today, days, label) in cases {
            assert_eq!(overdue_days(d(due), d(today)), days, "{due} {today}");
            assert_eq!(due_label(d(due), d(today)), label);
        }
    }

    #[test]
    fn today_follows_the_zone() {
        // 2026-11-22 16:00 UTC is already the 23rd in Seoul.
        let now = "2026-11-22T16:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_microsecond();
        assert_eq!(
            today(&TimeZone::get("Asia/Seoul").unwrap(), now),
            d("2026-11-23")
        );
        assert_eq!(today(&TimeZone::UTC, now), d("2026-11-22"));
    }

    #[test]
    fn estimates() {
        let merchant = MerchantEstimate {
            text: "Back in early December".into(),
            date: Some(d("2026-12-05")),
        };
        let receipt = Some((d("2026-11-20"), d("2026-11-22")));
        let cases = [
            (
                "in stock: nothing to estimate",
                3,
                Some(&merchant),
                receipt,
                None,
            ),
            (
                "the merchant's words win",
                0,
                Some(&merchant),
                receipt,
                Some((EstimateSource::Merchant, Some(d("2026-12-05")), None)),
            ),
            (
                "else the earliest receipt, late by two days",
                0,
                None,
                receipt,
                Some((
                    EstimateSource::ExpectedReceipt,
                    Some(d("2026-11-20")),
                    Some(2),
                )),
            ),
            (
                "a backorder is out of stock too",
                -2,
                None,
                Some((d("2026-11-25"), d("2026-11-22"))),
                Some((EstimateSource::ExpectedReceipt, Some(d("2026-11-25")), None)),
            ),
            ("nothing known", 0, None, None, None),
        ];
        for (name, available, m, due, expected) in cases {
            let got = estimate(available, m, due).map(|e| (e.source, e.date, e.overdue_days));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn merchant_estimates_need_something() {
        assert!(MerchantEstimate::default().validate().is_err());
        assert!(
            MerchantEstimate {
                text: String::new(),
                date: Some(d("2026-12-01"))
            }
            .validate()
            .is_ok()
        );
        let long = MerchantEstimate {
            text: "x".repeat(ESTIMATE_TEXT_LEN_MAX + 1),
            date: None,
        };
        assert_eq!(long.validate().unwrap_err().violations[0].field, "text");
    }
}
