//! Shipments: what a scan at the scan station means, when a shipment may
//! be confirmed, what a tracking number may be, and the order invoices and
//! packing slips print in. Pure; the store applies these decisions with
//! conditional updates (`scanned < quantity`) so concurrent scans can
//! never count more units than a line holds.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::SkuId;
pub use crate::bundle::whole_bundles;
use crate::error::Validator;
use crate::limits::{OVERRIDE_REASON_LEN_MAX, TRACKING_NO_LEN_MAX};

/// Where a shipment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShipmentState {
    /// Packed from allocated units; being scanned.
    Open,
    /// Shipped: its units left stock with `shipment` movements.
    Confirmed,
    /// Given up before shipping; its units may be packed again.
    Cancelled,
}

impl ShipmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Open => "open",
            ShipmentState::Confirmed => "confirmed",
            ShipmentState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ShipmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShipmentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(ShipmentState::Open),
            "confirmed" => Ok(ShipmentState::Confirmed),
            "cancelled" => Ok(ShipmentState::Cancelled),
            _ => Err(format!(
                "unknown shipment state {s:?}; expected open, confirmed or cancelled"
            )),
        }
    }
}

/// The order invoices (courier labels) and packing slips print in
/// (seed 002, 송장출력).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PrintOrder {
    /// Oldest order first (by collection time).
    #[default]
    CollectedAt,
    /// By SKU code, so parcels of the same goods come together.
    Sku,
    /// By storage bin at the shipping location, so a picker walks the
    /// shelves once; parcels with no bin come last.
    Bin,
}

impl PrintOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintOrder::CollectedAt => "collected_at",
            PrintOrder::Sku => "sku",
            PrintOrder::Bin => "bin",
        }
    }
}

impl FromStr for PrintOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "collected_at" => Ok(PrintOrder::CollectedAt),
            "sku" => Ok(PrintOrder::Sku),
            "bin" => Ok(PrintOrder::Bin),
            _ => Err(format!(
                "unknown print order {s:?}; expected collected_at, sku or bin"
            )),
        }
    }
}

/// A shipment line as the scan judge sees it.
///
/// A bundle line's units are its components (`parts`, non-empty): each
/// component counts its own units, and the line's own `scanned` is the
/// whole bundles those make (see [`whole_bundles`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLine {
    pub sku: SkuId,
    pub quantity: i64,
    pub scanned: i64,
    pub parts: Vec<ScanPart>,
}

/// One component of a bundle line: `quantity` is the line's bundle units
/// times `per_bundle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPart {
    pub sku: SkuId,
    pub per_bundle: i64,
    pub quantity: i64,
    pub scanned: i64,
}

impl ScanPart {
    pub fn remaining(&self) -> i64 {
        self.quantity - self.scanned
    }
}

impl ScanLine {
    /// Units to scan: the line's, or its components'.
    pub fn units(&self) -> i64 {
        if self.parts.is_empty() {
            self.quantity
        } else {
            self.parts.iter().map(|p| p.quantity).sum()
        }
    }

    /// Units scanned: the line's, or its components'.
    pub fn scanned_units(&self) -> i64 {
        if self.parts.is_empty() {
            self.scanned
        } else {
            self.parts.iter().map(|p| p.scanned).sum()
        }
    }

    /// Units still to scan.
    pub fn remaining(&self) -> i64 {
        self.units() - self.scanned_units()
    }

    /// A whole bundle (`per_bundle` of every component) still fits.
    fn bundle_fits(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(|p| p.remaining() >= p.per_bundle)
    }
}

/// What one scanned barcode means for a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanVerdict {
    /// Count one unit on the line at this index (the first of the SKU's
    /// lines with units left): the line's own unit (`part: None`), or one
    /// unit of its component `part` (a bundle line).
    Accept { index: usize, part: Option<usize> },
    /// The bundle's own barcode: count one whole bundle on the bundle line
    /// at this index, `per_bundle` units of every component.
    AcceptBundle { index: usize },
    /// A known SKU that this shipment does not carry.
    WrongItem,
    /// The shipment carries the SKU, but every unit of it is scanned (or,
    /// for a bundle's barcode, a whole bundle no longer fits).
    TooMany,
    /// No SKU has this barcode or code.
    UnknownBarcode,
}

impl ScanVerdict {
    /// The answer's name on the wire and in the scan log.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanVerdict::Accept { .. } | ScanVerdict::AcceptBundle { .. } => "accepted",
            ScanVerdict::WrongItem => "wrong_item",
            ScanVerdict::TooMany => "too_many",
            ScanVerdict::UnknownBarcode => "unknown_barcode",
        }
    }
}

/// Judges one scan: `sku` is the SKU the barcode names (`None`: none).
/// Lines are tried in order; on each, a plain line takes its SKU, a bundle
/// line takes one of its components (the first with units left) or its
/// bundle's own barcode (a whole bundle, if all of it fits). The store
/// then counts with `… WHERE scanned < quantity` (a whole bundle: only if
/// every component has room), so a verdict made on figures another scan
/// has just changed cannot overcount.
pub fn judge_scan(lines: &[ScanLine], sku: Option<SkuId>) -> ScanVerdict {
    let Some(sku) = sku else {
        return ScanVerdict::UnknownBarcode;
    };
    let mut carried = false;
    for (index, line) in lines.iter().enumerate() {
        if line.parts.is_empty() {
            if line.sku == sku {
                carried = true;
                if line.remaining() > 0 {
                    return ScanVerdict::Accept { index, part: None };
                }
            }
            continue;
        }
        if line.sku == sku {
            carried = true;
            if line.bundle_fits() {
                return ScanVerdict::AcceptBundle { index };
            }
        }
        for (part, p) in line.parts.iter().enumerate() {
            if p.sku == sku {
                carried = true;
                if p.remaining() > 0 {
                    return ScanVerdict::Accept {
                        index,
                        part: Some(part),
                    };
                }
            }
        }
    }
    if carried {
        ScanVerdict::TooMany
    } else {
        ScanVerdict::WrongItem
    }
}

/// Why a shipment may not be confirmed as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmRefusal {
    /// Units are left to scan and no override was given.
    Incomplete { scanned: i64, total: i64 },
}

/// Whether a shipment whose lines are `lines` may be confirmed; an
/// override (already checked for its permission and reason) ships an
/// incomplete scan too.
pub fn may_confirm(lines: &[ScanLine], overridden: bool) -> Result<(), ConfirmRefusal> {
    let total: i64 = lines.iter().map(ScanLine::units).sum();
    let scanned: i64 = lines.iter().map(ScanLine::scanned_units).sum();
    if scanned < total && !overridden {
        return Err(ConfirmRefusal::Incomplete { scanned, total });
    }
    Ok(())
}

/// Checks a tracking number: 1 to [`TRACKING_NO_LEN_MAX`] letters, digits
/// and hyphens (what couriers print; spaces a scanner would not send).
pub fn check_tracking_no(v: &mut Validator, field: &str, value: &str) {
    if value.is_empty() {
        v.push(field, "must not be empty");
        return;
    }
    let len = value.chars().count();
    if len > TRACKING_NO_LEN_MAX {
        v.push(
            field,
            format!("is {len} characters long; the limit is {TRACKING_NO_LEN_MAX}"),
        );
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        v.push(field, "may hold only ASCII letters, digits and -");
    }
}

/// Checks the reason of a supervisor's override.
pub fn check_override_reason(v: &mut Validator, field: &str, value: &str) {
    v.text(field, value, OVERRIDE_REASON_LEN_MAX);
}

/// What a shipment is sorted by in a print run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrintKey {
    /// The order's collection time (µs).
    pub collected_at: i64,
    /// The order's number, then the packing slip's code: stable ties.
    pub order_no: String,
    pub code: String,
    /// The SKU codes the shipment carries.
    pub skus: Vec<String>,
    /// The bin of each carried SKU at the shipping location, if it has one.
    pub bins: Vec<Option<String>>,
}

impl PrintKey {
    fn first_sku(&self) -> Option<&str> {
        self.skus.iter().map(String::as_str).min()
    }

    fn first_bin(&self) -> Option<&str> {
        self.bins.iter().flatten().map(String::as_str).min()
    }

    fn tie(&self, other: &PrintKey) -> Ordering {
        self.collected_at
            .cmp(&other.collected_at)
            .then_with(|| self.order_no.cmp(&other.order_no))
            .then_with(|| self.code.cmp(&other.code))
    }
}

/// `None` sorts after every value.
fn none_last(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The print sequence of `keys` under `order`: indexes into `keys`.
///
/// - `collected_at`: oldest order first.
/// - `sku`: by the smallest SKU code a shipment carries, then oldest first.
/// - `bin`: by the smallest bin among its SKUs at its location (shipments
///   with no bin last), then by SKU code, then oldest first.
///
/// Ties always fall back to the order number and the slip code, so the
/// same shipments print in the same order every time.
pub fn print_sequence(keys: &[PrintKey], order: PrintOrder) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| {
        let (a, b) = (&keys[a], &keys[b]);
        match order {
            PrintOrder::CollectedAt => a.tie(b),
            PrintOrder::Sku => none_last(a.first_sku(), b.first_sku()).then_with(|| a.tie(b)),
            PrintOrder::Bin => none_last(a.first_bin(), b.first_bin())
                .then_with(|| none_last(a.first_sku(), b.first_sku()))
                .then_with(|| a.tie(b)),
        }
    });
    idx
}

/// The order of a shipment's lines on its packing slip: by bin (none
/// last) under `bin`, by SKU code otherwise. `lines` are (SKU code, bin).
pub fn slip_line_order(lines: &[(String, Option<String>)], order: PrintOrder) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..lines.len()).collect();
    idx.sort_by(|&a, &b| {
        let (a, b) = (&lines[a], &lines[b]);
        let by_sku = a.0.cmp(&b.0);
        match order {
            PrintOrder::Bin => none_last(a.1.as_deref(), b.1.as_deref()).then(by_sku),
            PrintOrder::CollectedAt | PrintOrder::Sku => by_sku,
        }
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(n: u128) -> SkuId {
        SkuId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn line(s: u128, quantity: i64, scanned: i64) -> ScanLine {
        ScanLine {
            sku: sku(s),
            quantity,
            scanned,
            parts: Vec::new(),
        }
    }

    /// A bundle line of `quantity` bundles of `parts` (sku, per bundle,
    /// scanned).
    fn bundle(s: u128, quantity: i64, parts: &[(u128, i64, i64)]) -> ScanLine {
        ScanLine {
            sku: sku(s),
            quantity,
            scanned: whole_bundles(parts.iter().map(|&(_, per, sc)| (per, sc))),
            parts: parts
                .iter()
                .map(|&(c, per_bundle, scanned)| ScanPart {
                    sku: sku(c),
                    per_bundle,
                    quantity: quantity * per_bundle,
                    scanned,
                })
                .collect(),
        }
    }

    #[test]
    fn scans_are_judged() {
        let lines = [line(1, 2, 1), line(2, 1, 1), line(1, 1, 0)];
        let check = |scanned: Option<u128>, expected: ScanVerdict| {
            assert_eq!(
                judge_scan(&lines, scanned.map(sku)),
                expected,
                "{scanned:?}"
            );
        };
        check(
            Some(1),
            ScanVerdict::Accept {
                index: 0,
                part: None,
            },
        );
        check(Some(2), ScanVerdict::TooMany);
        check(Some(3), ScanVerdict::WrongItem);
        check(None, ScanVerdict::UnknownBarcode);
        // The first line of a SKU full, the second takes the unit.
        let lines = [line(1, 1, 1), line(1, 2, 1)];
        assert_eq!(
            judge_scan(&lines, Some(sku(1))),
            ScanVerdict::Accept {
                index: 1,
                part: None
            }
        );
        assert_eq!(lines.iter().map(ScanLine::remaining).sum::<i64>(), 1);
    }

    #[test]
    fn bundle_lines_are_scanned_as_components() {
        // GIFT (9) = 2 × A (1) + 1 × B (2), one bundle; and a plain A line.
        let fresh = [bundle(9, 1, &[(1, 2, 0), (2, 1, 0)]), line(1, 1, 0)];
        assert_eq!(
            judge_scan(&fresh, Some(sku(1))),
            ScanVerdict::Accept {
                index: 0,
                part: Some(0)
            }
        );
        assert_eq!(
            judge_scan(&fresh, Some(sku(9))),
            ScanVerdict::AcceptBundle { index: 0 }
        );
        assert_eq!(fresh.iter().map(ScanLine::remaining).sum::<i64>(), 4);
        // Both A of the bundle scanned: the next A goes to the plain line,
        // and the bundle's barcode no longer fits.
        let lines = [bundle(9, 1, &[(1, 2, 2), (2, 1, 0)]), line(1, 1, 0)];
        assert_eq!(
            judge_scan(&lines, Some(sku(1))),
            ScanVerdict::Accept {
                index: 1,
                part: None
            }
        );
        assert_eq!(judge_scan(&lines, Some(sku(9))), ScanVerdict::TooMany);
        assert_eq!(
            judge_scan(&lines, Some(sku(2))),
            ScanVerdict::Accept {
                index: 0,
                part: Some(1)
            }
        );
        let full = [bundle(9, 1, &[(1, 2, 2), (2, 1, 1)]), line(1, 1, 1)];
        assert_eq!(judge_scan(&full, Some(sku(1))), ScanVerdict::TooMany);
        assert_eq!(judge_scan(&full, Some(sku(3))), ScanVerdict::WrongItem);
        assert_eq!(may_confirm(&full, false), Ok(()));
        assert_eq!(
            may_confirm(&lines, false),
            Err(ConfirmRefusal::Incomplete {
                scanned: 2,
                total: 4
            })
        );
        assert_eq!(whole_bundles([(2, 3), (1, 1)]), 1);
        assert_eq!(whole_bundles([(2, 4), (1, 1)]), 1);
        assert_eq!(whole_bundles([(2, 4), (1, 2)]), 2);
    }

    #[test]
    fn confirmation_needs_every_unit_or_an_override() {
        let done = [line(1, 2, 2), line(2, 1, 1)];
        let short = [line(1, 2, 1), line(2, 1, 1)];
        assert_eq!(may_confirm(&done, false), Ok(()));
        assert_eq!(
            may_confirm(&short, false),
            Err(ConfirmRefusal::Incomplete {
                scanned: 2,
                total: 3
            })
        );
        assert_eq!(may_confirm(&short, true), Ok(()));
    }

    #[test]
    fn tracking_numbers() {
        let check = |value: &str, ok: bool| {
            let mut v = Validator::new();
            check_tracking_no(&mut v, "tracking_no", value);
            assert_eq!(v.finish().is_ok(), ok, "{value:?}");
        };
        check("612345678901", true);
        check("CJ-1234-ab", true);
        check("", false);
        check("1234 5678", false);
        check("송장123", false);
        check(&"9".repeat(TRACKING_NO_LEN_MAX), true);
        check(&"9".repeat(TRACKING_NO_LEN_MAX + 1), false);
    }

    fn key(collected_at: i64, no: &str, skus: &[&str], bins: &[Option<&str>]) -> PrintKey {
        PrintKey {
            collected_at,
            order_no: no.into(),
            code: format!("SH-{no}"),
            skus: skus.iter().map(|s| (*s).to_string()).collect(),
            bins: bins.iter().map(|b| b.map(str::to_string)).collect(),
        }
    }

    #[test]
    fn print_orders() {
        let keys = [
            key(30, "A", &["TEE-M"], &[Some("B-02")]),
            key(10, "B", &["SOCK", "TEE-L"], &[None, Some("C-01")]),
            key(20, "C", &["HAT"], &[None]),
            key(20, "D", &["CAP", "SOCK"], &[Some("A-09"), None]),
        ];
        let check = |order: PrintOrder, expected: &[&str]| {
            let got: Vec<&str> = print_sequence(&keys, order)
                .into_iter()
                .map(|i| keys[i].order_no.as_str())
                .collect();
            assert_eq!(got, expected, "{order:?}");
        };
        check(PrintOrder::CollectedAt, &["B", "C", "D", "A"]);
        check(PrintOrder::Sku, &["D", "C", "B", "A"]);
        // A-09 < B-02 < C-01 < no bin.
        check(PrintOrder::Bin, &["D", "A", "B", "C"]);
    }

    #[test]
    fn slip_lines_follow_the_print_order() {
        let lines = vec![
            ("TEE".to_string(), None),
            ("CAP".to_string(), Some("B-1".to_string())),
            ("SOCK".to_string(), Some("A-1".to_string())),
        ];
        assert_eq!(slip_line_order(&lines, PrintOrder::Sku), vec![1, 2, 0]);
        assert_eq!(slip_line_order(&lines, PrintOrder::Bin), vec![2, 1, 0]);
        assert_eq!(
            slip_line_order(&lines, PrintOrder::CollectedAt),
            vec![1, 2, 0]
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            ShipmentState::Open,
            ShipmentState::Confirmed,
            ShipmentState::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<ShipmentState>(), Ok(s));
        }
        for o in [PrintOrder::CollectedAt, PrintOrder::Sku, PrintOrder::Bin] {
            assert_eq!(o.as_str().parse::<PrintOrder>(), Ok(o));
        }
        assert!("later".parse::<PrintOrder>().is_err());
    }
}
