//! Property test of the pickup state machine: after any sequence of
//! actions on several requests of one store, the units the stock effects
//! hold in the hanger (Hold adds, Ship and Release take away) always equal
//! the units of the requests that are `received`; refused actions change
//! nothing; and no request ever leaves a final state.

use jaego_core::pickup::{Action, Effect, PickupState, PickupStatus, apply};
use proptest::prelude::*;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0usize..3).prop_map(Action::ReceptionScan),
        1 => Just(Action::SlipScan),
        1 => Just(Action::ReceiptScan),
        3 => (0usize..3).prop_map(Action::CompletionScan),
        1 => Just(Action::Complete),
        1 => Just(Action::MarkUnavailable),
        1 => Just(Action::Cancel),
        1 => Just(Action::Expire),
        1 => ((0usize..3), (0i64..3)).prop_map(|(item, units)| Action::CancelUnits { item, units }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn held_units_equal_the_units_of_received_requests(
        quantities in prop::collection::vec(prop::collection::vec(1i64..4, 1..3), 1..4),
        steps in prop::collection::vec(((0usize..4), action()), 0..80),
    ) {
        let mut requests: Vec<PickupState> =
            quantities.iter().map(|q| PickupState::requested(q)).collect();
        // Held units per (request, item), as the stock effects left them.
        let mut held: Vec<Vec<i64>> = quantities.iter().map(|q| vec![0; q.len()]).collect();
        let mut shipped = 0i64;
        for (r, action) in steps {
            let r = r % requests.len();
            let before = requests[r].clone();
            match apply(&before, action) {
                Ok(outcome) => {
                    prop_assert!(!before.status.is_final(), "{action:?} moved a final request");
                    prop_assert!(outcome.state.holds_invariants());
                    match outcome.effect {
                        Some(Effect::Hold(units)) => {
                            prop_assert_eq!(outcome.state.status, PickupStatus::Received);
                            for (h, u) in held[r].iter_mut().zip(units) {
                                *h += u;
                            }
                        }
                        Some(Effect::Ship(units)) => {
                            for (h, u) in held[r].iter_mut().zip(units) {
                                prop_assert!(*h >= u, "shipped more than held");
                                *h -= u;
                                shipped += u;
                            }
                        }
                        Some(Effect::Release(units)) => {
                            for (h, u) in held[r].iter_mut().zip(units) {
                                prop_assert!(*h >= u, "released more than held");
                                *h -= u;
                            }
                        }
                        None => {}
                    }
                    requests[r] = outcome.state;
                }
                Err(_) => prop_assert_eq!(&requests[r], &before, "a refusal changed nothing"),
            }
            // The invariant, for every request after every step.
            for (state, h) in requests.iter().zip(&held) {
                prop_assert_eq!(&state.held(), h, "held units of a {} request", state.status);
            }
        }
        let completed: i64 = requests
            .iter()
            .filter(|s| s.status == PickupStatus::Completed)
            .flat_map(|s| s.items.iter().map(jaego_core::pickup::ItemState::units))
            .sum();
        prop_assert_eq!(shipped, completed, "shipped units are those of completed requests");
    }
}
