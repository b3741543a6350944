//! Property test of the pickup state machine: after any sequence of
//! actions on several requests of one store (some with a bundle item
//! scanned as its components), the units the stock effects hold in the
//! hanger (Hold adds, Ship and Release take away) always equal the units of
//! the requests that are `received`; every refusal is justified by the
//! state it refused (a final request refuses everything as `Closed` with
//! its own status, an open one never does); and no request ever leaves a
//! final state.

use jaego_core::pickup::{Action, Effect, PartState, PickupState, PickupStatus, Refusal, apply};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0usize..3).prop_map(Action::ReceptionScan),
        3 => (0usize..3).prop_map(Action::ReceptionPartScan),
        1 => Just(Action::SlipScan),
        1 => Just(Action::ReceiptScan),
        3 => (0usize..3).prop_map(Action::CompletionScan),
        3 => (0usize..3).prop_map(Action::CompletionPartScan),
        1 => Just(Action::Complete),
        1 => Just(Action::MarkUnavailable),
        1 => Just(Action::Cancel),
        1 => Just(Action::Expire),
        1 => ((0usize..3), (0i64..3)).prop_map(|(item, units)| Action::CancelUnits { item, units }),
    ]
}

/// A request's items (units each) and, for some, the components of its
/// item 0 (units of each per bundle): item 0 is then a bundle item.
fn request() -> impl Strategy<Value = (Vec<i64>, Option<Vec<i64>>)> {
    (
        prop::collection::vec(1i64..4, 1..3),
        prop::option::weighted(0.4, prop::collection::vec(1i64..3, 1..3)),
    )
}

fn requested((quantities, parts): &(Vec<i64>, Option<Vec<i64>>)) -> PickupState {
    let mut state = PickupState::requested(quantities);
    state.parts = parts
        .iter()
        .flatten()
        .map(|&per_unit| PartState {
            item: 0,
            per_unit,
            received_scans: 0,
            completion_scans: 0,
        })
        .collect();
    state
}

/// Scans of the phase (`completion` or reception) so far, and the units
/// there are to scan: of part `n`, or of item `n` when `part` is false.
fn scans_and_room(state: &PickupState, n: usize, part: bool, completion: bool) -> (i64, i64) {
    let pick = |received, completed| if completion { completed } else { received };
    if part {
        let p = &state.parts[n];
        (
            pick(p.received_scans, p.completion_scans),
            state.items[p.item].units() * p.per_unit,
        )
    } else {
        let i = &state.items[n];
        (pick(i.received_scans, i.completion_scans), i.units())
    }
}

/// Checks that `refusal` of `action` is justified by `before`.
fn justified(before: &PickupState, action: Action, refusal: &Refusal) -> Result<(), TestCaseError> {
    use PickupStatus::{Received, Requested};
    let status = before.status;
    let slip_and_receipt = before.slip_scanned && before.receipt_scanned;
    if status.is_final() {
        prop_assert_eq!(
            refusal,
            &Refusal::Closed(status),
            "{:?} on a {} request",
            action,
            status
        );
        return Ok(());
    }
    match *refusal {
        Refusal::Closed(s) => prop_assert!(
            false,
            "{action:?} on a {status} request refused as closed ({s})"
        ),
        Refusal::NotReceived => prop_assert!(
            status == Requested
                && matches!(
                    action,
                    Action::SlipScan
                        | Action::ReceiptScan
                        | Action::CompletionScan(_)
                        | Action::CompletionPartScan(_)
                        | Action::Complete
                        | Action::Cancel
                        | Action::Expire
                ),
            "{action:?} on a {status} request refused as not received"
        ),
        Refusal::AlreadyReceived => prop_assert!(
            status == Received
                && matches!(
                    action,
                    Action::ReceptionScan(_)
                        | Action::ReceptionPartScan(_)
                        | Action::MarkUnavailable
                ),
            "{action:?} on a {status} request refused as already received"
        ),
        Refusal::SlipFirst => prop_assert!(
            status == Received
                && !slip_and_receipt
                && matches!(
                    action,
                    Action::CompletionScan(_) | Action::CompletionPartScan(_) | Action::Complete
                ),
            "{action:?} refused as slip first (slip and receipt scanned: {slip_and_receipt})"
        ),
        Refusal::ScanIncomplete(missing) => {
            prop_assert!(action == Action::Complete && status == Received && slip_and_receipt);
            prop_assert!(missing > 0);
            prop_assert_eq!(missing, before.remaining_scans());
        }
        Refusal::NoSuchItem(n) => match action {
            Action::ReceptionPartScan(m) | Action::CompletionPartScan(m) => {
                prop_assert!(
                    n == m && m >= before.parts.len(),
                    "{action:?} refused as no part {n}"
                );
            }
            Action::ReceptionScan(m)
            | Action::CompletionScan(m)
            | Action::CancelUnits { item: m, .. } => {
                prop_assert!(
                    n == m && m >= before.items.len(),
                    "{action:?} refused as no item {n}"
                );
            }
            _ => prop_assert!(false, "{action:?} refused as no item {n}"),
        },
        Refusal::OverScan => {
            let (n, part, completion) = match action {
                Action::ReceptionScan(n) => (n, false, false),
                Action::ReceptionPartScan(n) => (n, true, false),
                Action::CompletionScan(n) => (n, false, true),
                Action::CompletionPartScan(n) => (n, true, true),
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "{action:?} refused as over-scan"
                    )));
                }
            };
            prop_assert_eq!(
                status == Received,
                completion,
                "{:?} on a {} request",
                action,
                status
            );
            let bundle: Vec<usize> = (0..before.parts.len())
                .filter(|&p| !part && before.parts[p].item == n)
                .collect();
            if bundle.is_empty() {
                // A unit (of a plain item or a part): none left to scan.
                let (scans, room) = scans_and_room(before, n, part, completion);
                prop_assert_eq!(scans, room, "{:?} refused as over-scan", action);
            } else {
                // A whole bundle by its own barcode: some part lacks room
                // for a bundle's worth.
                prop_assert!(
                    bundle.iter().any(|&p| {
                        let (scans, room) = scans_and_room(before, p, true, completion);
                        scans + before.parts[p].per_unit > room
                    }),
                    "{action:?} refused as over-scan with room for a whole bundle"
                );
            }
        }
        Refusal::CancelTooMany { left, asked } => {
            let Action::CancelUnits { item, units } = action else {
                return Err(TestCaseError::fail(format!(
                    "{action:?} refused as cancel too many"
                )));
            };
            prop_assert_eq!(left, before.items[item].units());
            prop_assert_eq!(asked, units);
            prop_assert!(units <= 0 || units > left);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn held_units_equal_the_units_of_received_requests(
        made in prop::collection::vec(request(), 1..4),
        steps in prop::collection::vec(((0usize..4), action()), 0..80),
    ) {
        let mut requests: Vec<PickupState> = made.iter().map(requested).collect();
        for state in &requests {
            prop_assert!(state.holds_invariants());
        }
        // Held units per (request, item), as the stock effects left them.
        let mut held: Vec<Vec<i64>> = requests.iter().map(|s| vec![0; s.items.len()]).collect();
        let mut shipped = 0i64;
        for (r, action) in steps {
            let r = r % requests.len();
            let before = &requests[r];
            match apply(before, action) {
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
                Err(refusal) => justified(before, action, &refusal)?,
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
