//! Rules of outbound event delivery: which events a backlog may coalesce,
//! and how long to wait before retrying a failed delivery.
//!
//! **Coalescing.** Some kinds carry a complete figure, so a later event of
//! the same kind about the same thing makes an earlier one worthless to a
//! receiver: `stock.changed` carries every figure of one (SKU, location)
//! balance after the change, `channel.stock` the whole figure a channel
//! publishes for one SKU, `channel.status` the whole product status pushed
//! to a channel for one SKU. When a backlog builds (a receiver is slow or
//! down), only the latest event per *coalescing key* is sent:
//!
//! | kind | key |
//! |---|---|
//! | `stock.changed` | (kind, SKU, location) |
//! | `channel.stock` | (kind, channel, SKU) |
//! | `channel.status` | (kind, channel, SKU) |
//!
//! Every other kind is sent one by one (an order or a low-stock action is
//! not superseded by the next one). An event of a coalescable kind that
//! lacks a part of its key is never coalesced. Coalescing keeps the order
//! of what it sends: the kept events go out in sequence order.

use crate::{ChannelId, LocationId, SkuId};

/// A part of a coalescing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPart {
    Sku,
    Location,
    Channel,
}

/// A kind whose events a later event with the same key supersedes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceRule {
    pub kind: &'static str,
    /// What, besides the kind, names "the same thing".
    pub key: &'static [KeyPart],
}

/// Every coalescable kind and its key (see the module docs).
pub const COALESCE_RULES: &[CoalesceRule] = &[
    CoalesceRule {
        kind: "stock.changed",
        key: &[KeyPart::Sku, KeyPart::Location],
    },
    CoalesceRule {
        kind: "channel.stock",
        key: &[KeyPart::Channel, KeyPart::Sku],
    },
    CoalesceRule {
        kind: "channel.status",
        key: &[KeyPart::Channel, KeyPart::Sku],
    },
];

/// The rule for `kind`, if its events coalesce.
pub fn rule(kind: &str) -> Option<&'static CoalesceRule> {
    COALESCE_RULES.iter().find(|r| r.kind == kind)
}

/// What coalescing needs to know of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKey<'a> {
    pub kind: &'a str,
    pub sku: Option<SkuId>,
    pub location: Option<LocationId>,
    pub channel: Option<ChannelId>,
}

/// A coalescing key: the kind and the ids of its rule's parts, in the
/// rule's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CoalesceKey {
    pub kind: String,
    pub sku: Option<SkuId>,
    pub location: Option<LocationId>,
    pub channel: Option<ChannelId>,
}

impl EventKey<'_> {
    /// The event's coalescing key, or `None` if it never coalesces (its
    /// kind has no rule, or it lacks a part of the key).
    pub fn coalesce_key(&self) -> Option<CoalesceKey> {
        let rule = rule(self.kind)?;
        let mut key = CoalesceKey {
            kind: self.kind.to_string(),
            sku: None,
            location: None,
            channel: None,
        };
        for part in rule.key {
            match part {
                KeyPart::Sku => key.sku = Some(self.sku?),
                KeyPart::Location => key.location = Some(self.location?),
                KeyPart::Channel => key.channel = Some(self.channel?),
            }
        }
        Some(key)
    }
}

/// Which events of a backlog (in sequence order) to send: the indices of
/// every event that no later event of the backlog supersedes, in order.
pub fn coalesce(backlog: &[EventKey<'_>]) -> Vec<usize> {
    let keys: Vec<Option<CoalesceKey>> = backlog.iter().map(EventKey::coalesce_key).collect();
    let mut last = std::collections::HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some(key) = key {
            last.insert(key, i);
        }
    }
    keys.iter()
        .enumerate()
        .filter(|(i, key)| key.as_ref().is_none_or(|k| last.get(k) == Some(i)))
        .map(|(i, _)| i)
        .collect()
}

/// How long to wait before attempt `failures + 1`, after `failures` failed
/// attempts in a row (at least 1): `base × 2^(failures−1)`, capped at `cap`,
/// then jittered into its upper half by `jitter` in `[0, 1)` (a random
/// number the caller draws), so that endpoints failing together do not
/// retry together. In milliseconds.
pub fn backoff_ms(failures: u32, base_ms: u64, cap_ms: u64, jitter: f64) -> u64 {
    let exponent = failures.saturating_sub(1).min(40);
    let full = base_ms.saturating_mul(1u64 << exponent).min(cap_ms);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = full / 2;
    // `half` is at most `cap_ms / 2`, far below 2^52, so the f64 is exact.
    half + ((full - half) as f64 * jitter) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, sku: Option<SkuId>, location: Option<LocationId>) -> EventKey<'_> {
        EventKey {
            kind,
            sku,
            location,
            channel: None,
        }
    }

    fn check(backlog: &[EventKey<'_>], expected: &[usize]) {
        assert_eq!(coalesce(backlog), expected, "{backlog:?}");
    }

    #[test]
    fn coalescing_keeps_the_latest_per_key_in_order() {
        let (a, b) = (SkuId::new(), SkuId::new());
        let (l1, l2) = (LocationId::new(), LocationId::new());
        let c = ChannelId::new();
        let channel = |sku| EventKey {
            kind: "channel.stock",
            sku: Some(sku),
            location: None,
            channel: Some(c),
        };
        // Nothing to coalesce.
        check(&[], &[]);
        check(&[ev("stock.changed", Some(a), Some(l1))], &[0]);
        // The same balance twice: only the later one.
        check(
            &[
                ev("stock.changed", Some(a), Some(l1)),
                ev("stock.changed", Some(a), Some(l1)),
            ],
            &[1],
        );
        // Different balances and kinds stay, in order.
        check(
            &[
                ev("stock.changed", Some(a), Some(l1)),
                ev("stock.changed", Some(a), Some(l2)),
                ev("stock.changed", Some(b), Some(l1)),
                ev("reservation.created", None, None),
                ev("stock.changed", Some(a), Some(l1)),
                ev("reservation.created", None, None),
            ],
            &[1, 2, 3, 4, 5],
        );
        // Channel figures key on (channel, SKU), not location.
        check(&[channel(a), channel(b), channel(a)], &[1, 2]);
        // A stock change and a channel figure of the same SKU do not merge.
        check(
            &[ev("stock.changed", Some(a), Some(l1)), channel(a)],
            &[0, 1],
        );
        // An event missing a key part never coalesces.
        check(
            &[
                ev("stock.changed", Some(a), None),
                ev("stock.changed", Some(a), None),
            ],
            &[0, 1],
        );
        // Kinds without a rule are never dropped.
        check(
            &[
                ev("stock.low", Some(a), Some(l1)),
                ev("stock.low", Some(a), Some(l1)),
            ],
            &[0, 1],
        );
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_in_the_upper_half() {
        let cases = [
            // (failures, jitter, expected ms) with base 1000, cap 60_000
            (1, 0.0, 500),
            (1, 0.999_999, 999),
            (2, 0.0, 1_000),
            (3, 0.5, 3_000),
            (7, 0.0, 30_000),
            (8, 0.0, 30_000),
            (100, 0.0, 30_000),
            (100, 1.0, 60_000),
            (0, 0.0, 500),
            (3, f64::NAN, 2_000),
        ];
        for (failures, jitter, expected) in cases {
            assert_eq!(
                backoff_ms(failures, 1_000, 60_000, jitter),
                expected,
                "failures {failures}, jitter {jitter}"
            );
        }
    }
}
