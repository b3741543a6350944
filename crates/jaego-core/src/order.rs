//! Order rules that need no stock figures: an order's status from its
//! lines' quantities, the duplicate-number policy, exclusion patterns,
//! remote-area postal ranges and the restock rule of a return reason.

use std::str::FromStr;

use crate::allocation::text_enum;

/// What happens when an order number arrives again on the same channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DuplicatePolicy {
    /// Keep the first; answer with it and change nothing.
    #[default]
    Ignore,
    /// Apply changed lines and quantities, adjusting any allocation.
    Update,
    /// Keep both, as separate orders.
    New,
}

text_enum!(DuplicatePolicy, "duplicate policy", Ignore => "ignore", Update => "update", New => "new");

/// Where an order stands, derived from its lines ([`status_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Nothing allocated yet.
    Open,
    PartiallyAllocated,
    /// Every unit not cancelled or shipped is allocated.
    Allocated,
    PartiallyShipped,
    Shipped,
    Cancelled,
    /// Its lines moved into another order of the same customer; never
    /// derived by [`status_of`], set by the merge itself.
    Merged,
}

text_enum!(OrderStatus, "order status", Open => "open", PartiallyAllocated => "partially_allocated",
    Allocated => "allocated", PartiallyShipped => "partially_shipped", Shipped => "shipped", Cancelled => "cancelled",
    Merged => "merged");

impl OrderStatus {
    /// Statuses whose orders an allocation run considers.
    pub const ALLOCATABLE: [OrderStatus; 3] = [
        OrderStatus::Open,
        OrderStatus::PartiallyAllocated,
        OrderStatus::PartiallyShipped,
    ];
}

/// A line's quantities. Invariant (checked by [`LineQty::holds`]):
/// `allocated + shipped + cancelled <= quantity`, `returned <= shipped`,
/// all non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineQty {
    pub quantity: i64,
    /// Allocated and not yet shipped.
    pub allocated: i64,
    pub shipped: i64,
    pub cancelled: i64,
    pub returned: i64,
}

impl LineQty {
    /// Units still to allocate.
    pub fn open(&self) -> i64 {
        self.quantity - self.allocated - self.shipped - self.cancelled
    }

    pub fn holds(&self) -> bool {
        self.quantity > 0
            && self.allocated >= 0
            && self.shipped >= 0
            && self.cancelled >= 0
            && self.returned >= 0
            && self.allocated + self.shipped + self.cancelled <= self.quantity
            && self.returned <= self.shipped
    }
}

/// An order's status from its lines.
pub fn status_of(lines: &[LineQty]) -> OrderStatus {
    let live: i64 = lines.iter().map(|l| l.quantity - l.cancelled).sum();
    if live <= 0 {
        return OrderStatus::Cancelled;
    }
    let shipped: i64 = lines.iter().map(|l| l.shipped).sum();
    let allocated: i64 = lines.iter().map(|l| l.allocated).sum();
    if shipped >= live {
        OrderStatus::Shipped
    } else if shipped > 0 {
        OrderStatus::PartiallyShipped
    } else if allocated >= live {
        OrderStatus::Allocated
    } else if allocated > 0 {
        OrderStatus::PartiallyAllocated
    } else {
        OrderStatus::Open
    }
}

/// Whether a product name matches an exclusion pattern: case-insensitive,
/// `*` matches any run of characters; a pattern without `*` matches
/// anywhere in the name ("사은품" excludes "여름 사은품 세트").
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.trim().to_lowercase();
    if pattern.is_empty() {
        return false;
    }
    let name = name.to_lowercase();
    if !pattern.contains('*') {
        return name.contains(&pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A range of postal codes, both ends included, compared as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostalRange {
    pub from: u32,
    pub to: u32,
}

/// The remote-area ranges every tenant has: Jeju (제주), 63000–63644.
pub const DEFAULT_REMOTE_AREAS: [PostalRange; 1] = [PostalRange {
    from: 63000,
    to: 63644,
}];

/// A postal code as a number: its digits, ignoring a hyphen or spaces
/// (`"63-000"`); `None` if it has anything else or no digits.
pub fn postal_number(code: &str) -> Option<u32> {
    let digits: String = code.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether `postal_code` falls in any of `ranges` or the defaults.
pub fn is_remote(postal_code: &str, ranges: &[PostalRange]) -> bool {
    postal_number(postal_code).is_some_and(|n| {
        DEFAULT_REMOTE_AREAS
            .iter()
            .chain(ranges)
            .any(|r| r.from <= n && n <= r.to)
    })
}

/// What a collected return does with its goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restock {
    /// Back on hand where the line shipped from (sellable).
    Origin,
    /// On hand at the reason's location (e.g. a defects area).
    Location,
    /// Not restocked at all.
    None,
}

text_enum!(Restock, "restock rule", Origin => "origin", Location => "location", None => "none");

/// The built-in return reasons, used when a tenant has not set one of
/// that code: `sellable` goes back where it came from, `defective` is not
/// restocked.
pub fn builtin_reason(code: &str) -> Option<Restock> {
    match code {
        "sellable" => Some(Restock::Origin),
        "defective" => Some(Restock::None),
        _ => None,
    }
}

impl FromStr for PostalRange {
    type Err = String;
    /// `63000-63644` or a single code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        match (postal_number(a), postal_number(b)) {
            (Some(from), Some(to)) if from <= to => Ok(PostalRange { from, to }),
            _ => Err(format!("{s:?} is not a postal range like 63000-63644")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(quantity: i64, allocated: i64, shipped: i64, cancelled: i64) -> LineQty {
        LineQty {
            quantity,
            allocated,
            shipped,
            cancelled,
            returned: 0,
        }
    }

    #[test]
    fn statuses() {
        use OrderStatus::*;
        let cases = [
            (vec![q(2, 0, 0, 0)], Open),
            (vec![q(2, 1, 0, 0)], PartiallyAllocated),
            (vec![q(2, 2, 0, 0), q(1, 0, 0, 1)], Allocated),
            (vec![q(2, 1, 1, 0)], PartiallyShipped),
            (vec![q(2, 0, 1, 1)], Shipped),
            (vec![q(2, 0, 0, 2)], Cancelled),
        ];
        for (lines, expected) in cases {
            assert_eq!(status_of(&lines), expected, "{lines:?}");
        }
    }

    #[test]
    fn exclusion_patterns() {
        let cases = [
            ("사은품", "여름 사은품 세트", true),
            ("GIFT", "free gift box", true),
            ("gift*", "free gift box", false),
            ("*box", "free gift box", true),
            ("free*box", "free gift box", true),
            ("free*bag", "free gift box", false),
            ("", "anything", false),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(name_matches(pattern, name), expected, "{pattern} {name}");
        }
    }

    #[test]
    fn remote_areas() {
        let extra = [PostalRange {
            from: 40200,
            to: 40240,
        }];
        let cases = [
            ("63000", true),
            ("63644", true),
            ("63645", false),
            ("62999", false),
            ("63-100", true),
            ("40210", true),
            ("jeju", false),
            ("", false),
        ];
        for (code, expected) in cases {
            assert_eq!(is_remote(code, &extra), expected, "{code}");
        }
        assert!(!is_remote("40210", &[]));
        assert_eq!("100-200".parse(), Ok(PostalRange { from: 100, to: 200 }));
        assert!("200-100".parse::<PostalRange>().is_err());
    }
}
