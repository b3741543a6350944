//! Low-stock rules (seed 003): when the available stock a rule watches
//! falls to or below its threshold, the rule's actions run once; they run
//! again only after stock has recovered above the threshold and fallen
//! again.
//!
//! A rule watches one of three things:
//! - a SKU: its available stock summed over every location;
//! - a SKU at one location: that balance's available stock;
//! - a channel: for every SKU, the units the channel's linked locations
//!   can give it (each location's available, a negative one counted as 0),
//!   before any buffer, status or low-stock hold, so a rule's own sold-out
//!   mark cannot keep the stock it watches "low".
//!
//! Actions are a trait, [`LowStockAction`]: an action turns a crossing into
//! [`Effect`]s that the store applies in the transaction that records the
//! crossing, so an action runs exactly when its crossing commits. New
//! actions plug in by implementing the trait and adding themselves to
//! [`ACTIONS`].

use crate::error::{InvalidInput, Validator};
use crate::limits::{LOW_STOCK_ACTIONS_MAX, QUANTITY_MAX};

/// What a change of available stock means for a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It was above the threshold and is now at or below it: run the actions.
    Fire,
    /// It was at or below and is now above: undo what the actions hold.
    Recover,
    /// Nothing to do.
    Stay,
}

/// `was_low` is what was recorded; `available` is the figure now.
pub fn transition(was_low: bool, available: i64, threshold: i64) -> Transition {
    match (was_low, available <= threshold) {
        (false, true) => Transition::Fire,
        (true, false) => Transition::Recover,
        _ => Transition::Stay,
    }
}

/// A crossing, as actions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    pub threshold: i64,
    pub available: i64,
    /// `true` when stock fell to the threshold, `false` when it recovered.
    pub low: bool,
}

/// What an action asks the store to do, in the crossing's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Write an event of this kind to the outbox (its body describes the
    /// rule, the SKU and the crossing).
    Event(&'static str),
    /// Hold the SKU at 0 on the rule's channels (`true`), or lift that hold
    /// (`false`).
    SoldOutOnChannels(bool),
}

/// One kind of thing a rule can do when stock runs low.
pub trait LowStockAction: Sync {
    /// The code merchants name it by in a rule (`event`, `webhook`, …).
    fn code(&self) -> &'static str;
    /// What to do when stock falls to the threshold.
    fn on_low(&self, crossing: &Crossing) -> Vec<Effect>;
    /// What to do when stock recovers above it.
    fn on_recovered(&self, crossing: &Crossing) -> Vec<Effect>;
}

/// Event kinds the built-in actions write.
pub mod event_kinds {
    /// Available stock fell to or below a rule's threshold.
    pub const STOCK_LOW: &str = "stock.low";
    /// It recovered above the threshold.
    pub const STOCK_RECOVERED: &str = "stock.recovered";
    /// The same crossings, as kinds meant for webhook endpoints: an
    /// endpoint subscribes to `alert.*` and receives exactly the crossings
    /// of rules that asked for a webhook.
    pub const ALERT_STOCK_LOW: &str = "alert.stock_low";
    pub const ALERT_STOCK_RECOVERED: &str = "alert.stock_recovered";
}

/// `event`: writes `stock.low` / `stock.recovered` for SSE subscribers and
/// anyone following the log.
pub struct EmitEvent;

impl LowStockAction for EmitEvent {
    fn code(&self) -> &'static str {
        "event"
    }
    fn on_low(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::Event(event_kinds::STOCK_LOW)]
    }
    fn on_recovered(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::Event(event_kinds::STOCK_RECOVERED)]
    }
}

/// `webhook`: writes `alert.stock_low` / `alert.stock_recovered`, which the
/// webhook delivery engine sends to every endpoint subscribed to them.
pub struct CallWebhook;

impl LowStockAction for CallWebhook {
    fn code(&self) -> &'static str {
        "webhook"
    }
    fn on_low(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::Event(event_kinds::ALERT_STOCK_LOW)]
    }
    fn on_recovered(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::Event(event_kinds::ALERT_STOCK_RECOVERED)]
    }
}

/// `sold_out`: holds the SKU at 0 on the rule's channels until stock
/// recovers.
pub struct MarkSoldOut;

impl LowStockAction for MarkSoldOut {
    fn code(&self) -> &'static str {
        "sold_out"
    }
    fn on_low(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::SoldOutOnChannels(true)]
    }
    fn on_recovered(&self, _: &Crossing) -> Vec<Effect> {
        vec![Effect::SoldOutOnChannels(false)]
    }
}

/// Every action a rule may name.
pub static ACTIONS: &[&dyn LowStockAction] = &[&EmitEvent, &CallWebhook, &MarkSoldOut];

/// The action named `code`.
pub fn action(code: &str) -> Option<&'static dyn LowStockAction> {
    ACTIONS.iter().copied().find(|a| a.code() == code)
}

/// The effects of `actions` for a crossing, in the order the rule lists them.
pub fn effects(actions: &[&'static dyn LowStockAction], crossing: &Crossing) -> Vec<Effect> {
    actions
        .iter()
        .flat_map(|a| {
            if crossing.low {
                a.on_low(crossing)
            } else {
                a.on_recovered(crossing)
            }
        })
        .collect()
}

/// Checks a rule's threshold and action codes; returns the actions.
pub fn parse_rule(
    threshold: i64,
    codes: &[String],
) -> Result<Vec<&'static dyn LowStockAction>, InvalidInput> {
    let mut v = Validator::new();
    if !(0..=QUANTITY_MAX).contains(&threshold) {
        v.push("threshold", format!("must be between 0 and {QUANTITY_MAX}"));
    }
    if codes.is_empty() || codes.len() > LOW_STOCK_ACTIONS_MAX {
        v.push(
            "actions",
            format!("must list 1 to {LOW_STOCK_ACTIONS_MAX} actions"),
        );
    }
    let mut out = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        match action(code) {
            Some(_) if codes[..i].contains(code) => {
                v.push(format!("actions[{i}]"), "is listed twice");
            }
            Some(a) => out.push(a),
            None => v.push(
                format!("actions[{i}]"),
                format!(
                    "{code:?}: expected one of {}",
                    ACTIONS
                        .iter()
                        .map(|a| a.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    v.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use Transition::*;
        // (was low, available, threshold, expected)
        let cases = [
            (false, 6, 5, Stay),
            (false, 5, 5, Fire),
            (false, 0, 5, Fire),
            (false, -3, 0, Fire),
            (true, 4, 5, Stay),
            (true, 5, 5, Stay),
            (true, 6, 5, Recover),
            (false, 1, 0, Stay),
        ];
        for (was_low, available, threshold, expected) in cases {
            assert_eq!(
                transition(was_low, available, threshold),
                expected,
                "{was_low} {available} {threshold}"
            );
        }
    }

    #[test]
    fn a_rule_fires_once_until_stock_recovers() {
        // Stock moves 10 → 5 → 3 → 0 → 6 → 2 against a threshold of 5.
        let mut low = false;
        let mut fired = Vec::new();
        for available in [10, 5, 3, 0, 6, 2] {
            match transition(low, available, 5) {
                Transition::Fire => {
                    low = true;
                    fired.push(("low", available));
                }
                Transition::Recover => {
                    low = false;
                    fired.push(("recovered", available));
                }
                Transition::Stay => {}
            }
        }
        assert_eq!(fired, [("low", 5), ("recovered", 6), ("low", 2)]);
    }

    #[test]
    fn actions_turn_crossings_into_effects() {
        let actions =
            parse_rule(5, &["event".into(), "webhook".into(), "sold_out".into()]).unwrap();
        let low = Crossing {
            threshold: 5,
            available: 4,
            low: true,
        };
        assert_eq!(
            effects(&actions, &low),
            [
                Effect::Event(event_kinds::STOCK_LOW),
                Effect::Event(event_kinds::ALERT_STOCK_LOW),
                Effect::SoldOutOnChannels(true),
            ]
        );
        let recovered = Crossing {
            available: 9,
            low: false,
            ..low
        };
        assert_eq!(
            effects(&actions, &recovered),
            [
                Effect::Event(event_kinds::STOCK_RECOVERED),
                Effect::Event(event_kinds::ALERT_STOCK_RECOVERED),
                Effect::SoldOutOnChannels(false),
            ]
        );
    }

    /// A plug-in action, defined outside the built-in list, works through
    /// the same trait.
    struct Reorder;
    impl LowStockAction for Reorder {
        fn code(&self) -> &'static str {
            "reorder"
        }
        fn on_low(&self, c: &Crossing) -> Vec<Effect> {
            if c.available <= 0 {
                vec![Effect::Event("reorder.urgent")]
            } else {
                vec![Effect::Event("reorder.suggested")]
            }
        }
        fn on_recovered(&self, _: &Crossing) -> Vec<Effect> {
            Vec::new()
        }
    }

    #[test]
    fn new_actions_plug_in() {
        let actions: Vec<&'static dyn LowStockAction> = vec![&Reorder];
        let c = Crossing {
            threshold: 3,
            available: 0,
            low: true,
        };
        assert_eq!(effects(&actions, &c), [Effect::Event("reorder.urgent")]);
    }

    #[test]
    fn rule_checks() {
        let fields = |threshold, codes: &[&str]| {
            let codes: Vec<String> = codes.iter().map(|s| (*s).to_string()).collect();
            parse_rule(threshold, &codes).err().map(|e| {
                e.violations
                    .into_iter()
                    .map(|v| v.field)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(fields(0, &["event"]), None);
        assert_eq!(fields(-1, &["event"]), Some(vec!["threshold".into()]));
        assert_eq!(fields(3, &[]), Some(vec!["actions".into()]));
        assert_eq!(fields(3, &["email"]), Some(vec!["actions[0]".into()]));
        assert_eq!(
            fields(3, &["event", "event"]),
            Some(vec!["actions[1]".into()])
        );
    }
}
