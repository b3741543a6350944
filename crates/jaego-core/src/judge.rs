//! The group-commit judge: decides, for a batch of reservation requests that
//! arrived together, which are granted and where, and which are short.
//!
//! The store locks the balance rows the batch touches, hands their current
//! figures here, applies the per-row totals this returns in one conditional
//! statement, and answers each request with its own outcome. Requests are
//! judged in arrival order, each on its own (all lines or none), and a request
//! whose lines share a SKU is judged on the sum of what they need.
//!
//! A bundle line reaches the judge as its component lines, the first with
//! `joined: false` and the others `joined: true`: a group of joined lines is
//! placed whole at one location (the first candidate where every component
//! fits), and its components count towards the request's sum like any
//! other line, so two lines sharing a component are judged together.

use std::collections::HashMap;
use std::hash::Hash;

use crate::balance::Balance;
use crate::policy::StockPolicy;

/// One line of a request: a SKU, the locations it may come from in priority
/// order (one for a location reservation, the channel's links for a channel
/// reservation), and how many units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest<S, L> {
    pub sku: S,
    pub candidates: Vec<(L, StockPolicy)>,
    /// Positive (checked as a [`crate::Qty`] at the edge): a negative line
    /// would hand units back to later requests of the batch and oversell.
    pub quantity: i64,
    /// Placed at the same location as the line before it: the second and
    /// later components of one bundle line. Joined lines have the same
    /// candidate locations, in the same order, as the line they join.
    pub joined: bool,
}

/// A line that cannot be served: what the request needs from the row in
/// total and what the row had available for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage<S, L> {
    pub line: usize,
    pub sku: S,
    pub location: Option<L>,
    pub requested: i64,
    pub available: i64,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<S, L> {
    /// Every line granted; the location chosen for each line, in line order.
    Granted(Vec<L>),
    /// Nothing granted; every short line.
    Short(Vec<Shortage<S, L>>),
}

/// The decisions on a batch and what they add to `reserved` per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement<S, L> {
    pub outcomes: Vec<Outcome<S, L>>,
    pub reserved_totals: Vec<((S, L), i64)>,
}

/// Judges `requests` in order against `rows` (the locked current balances; a
/// missing row counts as all zeros).
pub fn judge<S, L>(
    rows: &HashMap<(S, L), Balance>,
    requests: &[Vec<LineRequest<S, L>>],
) -> Judgement<S, L>
where
    S: Copy + Eq + Hash,
    L: Copy + Eq + Hash,
{
    // Units already granted to earlier requests of this batch, per row.
    let mut taken: HashMap<(S, L), i64> = HashMap::new();
    let mut order: Vec<(S, L)> = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    // What a group adds to each row at one candidate, on top of `mine`;
    // reused (cleared per candidate) so the hot path allocates once.
    let mut adds: Vec<((S, L), i64)> = Vec::new();

    for lines in requests {
        // Tentative takes of this request, undone if any line is short.
        let mut mine: HashMap<(S, L), i64> = HashMap::new();
        let mut placements = Vec::with_capacity(lines.len());
        let mut shortages = Vec::new();

        let mut index = 0;
        while index < lines.len() {
            // The group: this line and the lines joined to it.
            let end = index + 1 + lines[index + 1..].iter().take_while(|l| l.joined).count();
            let group = &lines[index..end];
            let mut placed = None;
            let mut best: Option<Shortage<S, L>> = None;
            for (k, &(location, _)) in group[0].candidates.iter().enumerate() {
                adds.clear();
                let mut short: Option<Shortage<S, L>> = None;
                for (offset, line) in group.iter().enumerate() {
                    debug_assert!(line.quantity > 0, "line quantities are positive");
                    let policy = line.candidates.get(k).map_or(StockPolicy::Strict, |c| c.1);
                    debug_assert!(
                        line.candidates.get(k).is_some_and(|c| c.0 == location),
                        "joined lines share their candidates"
                    );
                    let key = (line.sku, location);
                    let added = adds.iter_mut().find(|(k2, _)| *k2 == key).map(|(_, q)| {
                        *q += line.quantity;
                        *q
                    });
                    let added = match added {
                        Some(q) => q,
                        None => {
                            adds.push((key, line.quantity));
                            line.quantity
                        }
                    };
                    let start = rows.get(&key).map_or(0, Balance::available)
                        - taken.get(&key).copied().unwrap_or(0);
                    let need = mine.get(&key).copied().unwrap_or(0) + added;
                    if policy != StockPolicy::Unlimited && need > start && short.is_none() {
                        short = Some(Shortage {
                            line: index + offset,
                            sku: line.sku,
                            location: Some(location),
                            requested: need,
                            available: start,
                        });
                    }
                }
                match short {
                    None => {
                        placed = Some(location);
                        break;
                    }
                    Some(s) => {
                        if best.as_ref().is_none_or(|b| s.available > b.available) {
                            best = Some(s);
                        }
                    }
                }
            }
            match placed {
                Some(location) => {
                    for line in group {
                        *mine.entry((line.sku, location)).or_insert(0) += line.quantity;
                        placements.push(location);
                    }
                }
                None => shortages.push(best.unwrap_or(Shortage {
                    line: index,
                    sku: group[0].sku,
                    location: None,
                    requested: group[0].quantity,
                    available: 0,
                })),
            }
            index = end;
        }

        if shortages.is_empty() {
            for (key, qty) in mine {
                let entry = taken.entry(key).or_insert_with(|| {
                    order.push(key);
                    0
                });
                *entry += qty;
            }
            outcomes.push(Outcome::Granted(placements));
        } else {
            outcomes.push(Outcome::Short(shortages));
        }
    }

    let reserved_totals = order.into_iter().map(|key| (key, taken[&key])).collect();
    Judgement {
        outcomes,
        reserved_totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StockPolicy::*;

    fn row(on_hand: i64) -> Balance {
        Balance {
            on_hand,
            ..Balance::default()
        }
    }

    fn line(sku: u8, locs: &[(u8, StockPolicy)], quantity: i64) -> LineRequest<u8, u8> {
        LineRequest {
            sku,
            candidates: locs.to_vec(),
            quantity,
            joined: false,
        }
    }

    fn joined(sku: u8, locs: &[(u8, StockPolicy)], quantity: i64) -> LineRequest<u8, u8> {
        LineRequest {
            joined: true,
            ..line(sku, locs, quantity)
        }
    }

    /// Granted locations, or the short lines as (line, requested, available).
    type Expected = Result<Vec<u8>, Vec<(usize, i64, i64)>>;

    fn check(
        rows: &[((u8, u8), i64)],
        requests: &[Vec<LineRequest<u8, u8>>],
        expected: &[Expected],
    ) {
        let rows: HashMap<_, _> = rows.iter().map(|&(k, q)| (k, row(q))).collect();
        let got = judge(&rows, requests);
        let simplified: Vec<_> = got
            .outcomes
            .iter()
            .map(|o| match o {
                Outcome::Granted(p) => Ok(p.clone()),
                Outcome::Short(s) => Err(s
                    .iter()
                    .map(|s| (s.line, s.requested, s.available))
                    .collect()),
            })
            .collect();
        assert_eq!(simplified, expected);
    }

    #[test]
    fn hot_sku_grants_longest_prefix() {
        let reqs: Vec<_> = (0..5).map(|_| vec![line(1, &[(9, Strict)], 1)]).collect();
        check(
            &[((1, 9), 3)],
            &reqs,
            &[
                Ok(vec![9]),
                Ok(vec![9]),
                Ok(vec![9]),
                Err(vec![(0, 1, 0)]),
                Err(vec![(0, 1, 0)]),
            ],
        );
    }

    #[test]
    fn lines_sharing_a_sku_are_summed() {
        let reqs = vec![vec![line(1, &[(9, Strict)], 2), line(1, &[(9, Strict)], 2)]];
        check(&[((1, 9), 3)], &reqs, &[Err(vec![(1, 4, 3)])]);
    }

    #[test]
    fn short_request_takes_nothing() {
        let reqs = vec![
            vec![line(1, &[(9, Strict)], 2), line(2, &[(9, Strict)], 5)],
            vec![line(1, &[(9, Strict)], 3)],
        ];
        check(
            &[((1, 9), 3), ((2, 9), 1)],
            &reqs,
            &[Err(vec![(1, 5, 1)]), Ok(vec![9])],
        );
    }

    #[test]
    fn channel_falls_back_in_priority_order() {
        let reqs = vec![
            vec![line(1, &[(8, Strict), (9, Strict)], 2)],
            vec![line(1, &[(8, Strict), (9, Strict)], 2)],
        ];
        check(
            &[((1, 8), 2), ((1, 9), 3)],
            &reqs,
            &[Ok(vec![8]), Ok(vec![9])],
        );
    }

    #[test]
    fn a_bundle_line_is_placed_whole_where_every_component_fits() {
        // Bundle = 2 × SKU 1 + 1 × SKU 2; location 8 lacks SKU 2.
        let locs = [(8, Strict), (9, Strict)];
        let reqs = vec![vec![line(1, &locs, 2), joined(2, &locs, 1)]];
        check(
            &[((1, 8), 5), ((2, 8), 0), ((1, 9), 2), ((2, 9), 1)],
            &reqs,
            &[Ok(vec![9, 9])],
        );
    }

    #[test]
    fn a_bundle_and_its_component_share_the_component() {
        // Bundle (2 × SKU 1 + 1 × SKU 2) × 1 and SKU 1 × 2 against 3 of SKU 1.
        let locs = [(9, Strict)];
        let reqs = vec![vec![
            line(1, &locs, 2),
            joined(2, &locs, 1),
            line(1, &locs, 2),
        ]];
        check(&[((1, 9), 3), ((2, 9), 5)], &reqs, &[Err(vec![(2, 4, 3)])]);
        // Two bundle lines sharing SKU 1 need 4 of it.
        let reqs = vec![vec![
            line(1, &locs, 2),
            joined(2, &locs, 1),
            line(1, &locs, 2),
            joined(2, &locs, 1),
        ]];
        check(&[((1, 9), 3), ((2, 9), 5)], &reqs, &[Err(vec![(2, 4, 3)])]);
        check(&[((1, 9), 4), ((2, 9), 2)], &reqs, &[Ok(vec![9, 9, 9, 9])]);
    }

    #[test]
    fn unlimited_goes_below_zero() {
        let reqs = vec![vec![line(1, &[(9, Unlimited)], 5)]];
        check(&[], &reqs, &[Ok(vec![9])]);
    }
}
