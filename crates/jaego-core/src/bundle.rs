//! Bundles (combination SKUs, 조합 SKU, SKU kombinasi): a SKU defined by
//! components, each a SKU and a quantity per bundle unit.
//!
//! A bundle holds no stock of its own. Everything about its stock follows
//! from its components:
//! - its figure at a location is the minimum over the components of
//!   `floor(component figure / component quantity)` ([`available`],
//!   [`balance`]), the one rule behind the stock view, channel figures and
//!   customer screens;
//! - a line of `n` bundle units needs `n × quantity` of every component
//!   ([`expand`]); a request is judged on what all its lines together need
//!   from each component ([`crate::judge::judge`] sums them per row), so two
//!   lines sharing a component cannot both be promised the same units.
//!
//! A recipe is checked by [`Recipe::new`]: at least one and at most
//! [`BUNDLE_COMPONENTS_MAX`] components, each named once, none the bundle
//! itself, quantities from 1 to [`BUNDLE_COMPONENT_QUANTITY_MAX`]. Whether
//! a component is itself a bundle is the store's question (bundles do not
//! nest: a component must hold stock).

use std::collections::HashMap;
use std::hash::Hash;

use crate::balance::Balance;
use crate::channel_stock::Holds;
use crate::error::{InvalidInput, Validator};
use crate::limits::{BUNDLE_COMPONENT_QUANTITY_MAX, BUNDLE_COMPONENTS_MAX, QUANTITY_MAX};

/// A checked recipe: components in the order given, each named once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe<S> {
    components: Vec<(S, i64)>,
}

impl<S: Copy + Eq + Hash> Recipe<S> {
    /// Checks `components` (SKU, quantity per bundle unit) for `bundle`.
    /// Field names are `components[i]…`.
    pub fn new(bundle: S, components: Vec<(S, i64)>) -> Result<Recipe<S>, InvalidInput> {
        let mut v = Validator::new();
        if components.is_empty() {
            v.push("components", "must name at least one component");
        }
        if components.len() > BUNDLE_COMPONENTS_MAX {
            v.push(
                "components",
                format!(
                    "has {} components; the limit is {BUNDLE_COMPONENTS_MAX}",
                    components.len()
                ),
            );
        }
        let mut seen = HashMap::new();
        for (i, &(sku, quantity)) in components.iter().enumerate() {
            if sku == bundle {
                v.push(
                    format!("components[{i}].sku"),
                    "a bundle cannot contain itself",
                );
            }
            if let Some(first) = seen.insert(sku, i) {
                v.push(
                    format!("components[{i}].sku"),
                    format!("names the same SKU as components[{first}]; give it once with the total quantity"),
                );
            }
            if !(1..=BUNDLE_COMPONENT_QUANTITY_MAX).contains(&quantity) {
                v.push(
                    format!("components[{i}].quantity"),
                    format!("must be between 1 and {BUNDLE_COMPONENT_QUANTITY_MAX}"),
                );
            }
        }
        v.finish()?;
        Ok(Recipe { components })
    }
}

impl<S: Copy> Recipe<S> {
    pub fn components(&self) -> &[(S, i64)] {
        &self.components
    }
}

/// The bundle units a location can give: the minimum over the components
/// of `floor(available / quantity)` (rounded towards minus infinity, so a
/// component backordered under `unlimited` gives a negative figure). A
/// component missing from `available_of` counts as 0.
pub fn available<S: Copy>(recipe: &Recipe<S>, available_of: impl Fn(S) -> i64) -> i64 {
    recipe
        .components
        .iter()
        .map(|&(sku, q)| available_of(sku).div_euclid(q))
        .min()
        .unwrap_or(0)
}

/// The figures a bundle shows at one location, computed from its
/// components' balances there: `on_hand` and `available` each by the
/// bundle rule, and `reserved` the difference, so that
/// `Balance::available()` of the result equals [`available`]. `allocated`,
/// `incoming`, `in_transit` and `safety_stock` are 0: units of a bundle are
/// held, allocated and expected only as its components.
pub fn balance<S: Copy>(recipe: &Recipe<S>, balance_of: impl Fn(S) -> Balance) -> Balance {
    let on_hand = recipe
        .components
        .iter()
        .map(|&(sku, q)| balance_of(sku).on_hand.div_euclid(q))
        .min()
        .unwrap_or(0);
    let available = available(recipe, |s| balance_of(s).available());
    Balance {
        on_hand,
        reserved: on_hand - available,
        ..Balance::default()
    }
}

/// A bundle's sold-out holds on a channel: its own, and any component's.
/// A bundle cannot be sold without every component, so a component the
/// merchant forced sold out, or one a low-stock rule holds on the channel,
/// holds the bundle there too. A limited-stock cap stays the bundle's own:
/// a component's cap limits what that SKU publishes, not its stock.
pub fn holds(own: Holds, components: impl IntoIterator<Item = Holds>) -> Holds {
    components.into_iter().fold(own, |held, c| Holds {
        forced_sold_out: held.forced_sold_out || c.forced_sold_out,
        low_stock_sold_out: held.low_stock_sold_out || c.low_stock_sold_out,
        limited_stock: held.limited_stock,
    })
}

/// A bundle line of `units` as component lines: (component, units ×
/// quantity). `None` if a component line would exceed [`QUANTITY_MAX`].
pub fn expand<S: Copy>(recipe: &Recipe<S>, units: i64) -> Option<Vec<(S, i64)>> {
    recipe
        .components
        .iter()
        .map(|&(sku, q)| {
            let n = units.checked_mul(q)?;
            (n <= QUANTITY_MAX).then_some((sku, n))
        })
        .collect()
}

/// The whole bundles that component counts make (units scanned at a scan
/// station or pickup counter): the scarcest component, in bundles
/// (`(per_bundle, counted)` per component).
pub fn whole_bundles(parts: impl IntoIterator<Item = (i64, i64)>) -> i64 {
    parts
        .into_iter()
        .map(|(per_bundle, counted)| counted / per_bundle.max(1))
        .min()
        .unwrap_or(0)
}

/// Whether committed component units keep a bundle line whole: every
/// component line of one bundle line (`quantity` units of which `committed`
/// are committed, per component) commits the same number of bundle units.
/// Returns that number, or `None` when the parts disagree.
pub fn whole_units(parts: &[(i64, i64)], bundle_units: i64) -> Option<i64> {
    let mut units = None;
    for &(quantity, committed) in parts {
        if bundle_units <= 0 || quantity % bundle_units != 0 {
            return None;
        }
        let per_unit = quantity / bundle_units;
        if per_unit == 0 || committed % per_unit != 0 {
            return None;
        }
        let u = committed / per_unit;
        if units.is_some_and(|x| x != u) {
            return None;
        }
        units = Some(u);
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(parts: &[(u8, i64)]) -> Recipe<u8> {
        Recipe::new(0, parts.to_vec()).unwrap()
    }

    fn fields(err: &InvalidInput) -> Vec<String> {
        err.violations.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn recipes_are_checked() {
        type Case<'a> = (&'a [(u8, i64)], &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (&[], &["components"]),
            (&[(0, 1)], &["components[0].sku"]),
            (&[(1, 1), (1, 2)], &["components[1].sku"]),
            (&[(1, 0)], &["components[0].quantity"]),
            (
                &[(1, BUNDLE_COMPONENT_QUANTITY_MAX + 1)],
                &["components[0].quantity"],
            ),
        ];
        for (parts, expected) in cases {
            let got = fields(&Recipe::new(0u8, parts.to_vec()).unwrap_err());
            assert_eq!(&got, expected, "{parts:?}");
        }
        let too_many: Vec<(u8, i64)> = (1..=BUNDLE_COMPONENTS_MAX as u8 + 1)
            .map(|s| (s, 1))
            .collect();
        assert_eq!(
            fields(&Recipe::new(0, too_many).unwrap_err()),
            ["components"]
        );
        assert!(Recipe::new(0u8, vec![(1, 2), (2, 1)]).is_ok());
    }

    #[test]
    fn a_component_hold_holds_the_bundle_and_its_cap_does_not() {
        let own = Holds {
            limited_stock: Some(5),
            ..Holds::default()
        };
        let free = Holds::default();
        assert_eq!(holds(own, [free, free]), own);
        let forced = Holds {
            forced_sold_out: true,
            ..free
        };
        let low = Holds {
            low_stock_sold_out: true,
            limited_stock: Some(1),
            ..free
        };
        let got = holds(own, [free, forced]);
        assert!(got.forced_sold_out && !got.low_stock_sold_out);
        let got = holds(own, [low, free]);
        assert!(got.low_stock_sold_out && !got.forced_sold_out);
        assert_eq!(got.limited_stock, Some(5));
    }

    #[test]
    fn available_is_the_scarcest_component() {
        let r = recipe(&[(1, 2), (2, 1)]);
        let check = |a: i64, b: i64, expected: i64| {
            let got = available(&r, |s| if s == 1 { a } else { b });
            assert_eq!(got, expected, "A={a} B={b}");
        };
        check(10, 3, 3);
        check(5, 9, 2);
        check(1, 9, 0);
        check(0, 0, 0);
        // A backorder under `unlimited` rounds down, not towards zero.
        check(-1, 9, -1);
    }

    #[test]
    fn balance_agrees_with_available() {
        let r = recipe(&[(1, 2), (2, 3)]);
        let rows = |s: u8| match s {
            1 => Balance {
                on_hand: 11,
                reserved: 2,
                allocated: 1,
                ..Balance::default()
            },
            _ => Balance {
                on_hand: 20,
                safety_stock: 2,
                ..Balance::default()
            },
        };
        let b = balance(&r, rows);
        assert_eq!(b.on_hand, 5);
        assert_eq!(b.available(), 4);
        assert_eq!(b.available(), available(&r, |s| rows(s).available()));
    }

    #[test]
    fn a_line_expands_to_its_components() {
        let r = recipe(&[(1, 2), (2, 1)]);
        assert_eq!(expand(&r, 3).unwrap(), [(1, 6), (2, 3)]);
        assert_eq!(expand(&r, QUANTITY_MAX), None);
    }

    #[test]
    fn whole_units_of_a_bundle_line() {
        // 3 bundles of 2 × A + 1 × B: lines of 6 and 3.
        assert_eq!(whole_units(&[(6, 4), (3, 2)], 3), Some(2));
        assert_eq!(whole_units(&[(6, 6), (3, 3)], 3), Some(3));
        assert_eq!(whole_units(&[(6, 4), (3, 1)], 3), None);
        assert_eq!(whole_units(&[(6, 3), (3, 1)], 3), None);
    }
}
