//! Random command sequences through the reference ledger, checked after every
//! step against an independent model of plain integers (the "auditor"). The
//! model does not use the judge: it decides reservations by decrementing
//! figures line by line, so a bug in the judge shows as a disagreement.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jaego_core::judge::LineRequest;
use jaego_core::ledger::{Ledger, LedgerError, ReserveRequest, Reserved};
use jaego_core::movement::Refusal;
use jaego_core::reservation::ResolveError;
use jaego_core::{ReservationState, StockPolicy};
use proptest::collection::vec;
use proptest::prelude::*;

type Key = (u8, u8);

/// Locations 0 and 1 are strict warehouses; location 2 takes backorders.
fn policy(location: u8) -> StockPolicy {
    if location == 2 {
        StockPolicy::Unlimited
    } else {
        StockPolicy::Strict
    }
}

/// What a line may name: one location, or a channel's list in priority order.
const CANDIDATES: [&[u8]; 8] = [
    &[0],
    &[1],
    &[2],
    &[0, 1],
    &[1, 0],
    &[0, 2],
    &[1, 2],
    &[0, 1, 2],
];

#[derive(Debug, Clone)]
struct RequestSpec {
    /// (sku, index into CANDIDATES, quantity); three SKUs, so lines share them.
    lines: Vec<(u8, usize, i64)>,
    ttl: i64,
    keyed: bool,
}

#[derive(Debug, Clone, Copy)]
enum CommitMode {
    Full,
    Partial(u8),
    Over,
    WrongCount,
}

#[derive(Debug, Clone)]
enum Op {
    Receipt(u8, u8, i64, bool),
    Adjust(u8, u8, i64, bool),
    /// A batch; optionally with an earlier keyed reservation replayed first
    /// and the first keyed request repeated at the end.
    Reserve(Vec<RequestSpec>, Option<usize>, bool),
    Commit(usize, CommitMode, bool),
    Release(usize, bool),
    Expire(usize, bool),
    Tick(i64),
    Replay(usize),
    Misuse(usize),
}

/// A command as sent, kept to send again with its key.
#[derive(Debug, Clone)]
enum Sent {
    Receipt(u8, u8, i64),
    Adjust(u8, u8, i64),
    Reserve(ReserveRequest<u8, u8>),
    Commit(usize, Option<Vec<i64>>),
    Release(usize),
    Expire(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Moved(Result<usize, LedgerError>),
    Reserved(Result<Reserved<u8, u8>, LedgerError>),
    Resolved(Result<(), LedgerError>),
    Expired(Result<Vec<usize>, LedgerError>),
}

fn send(ledger: &mut Ledger<u8, u8>, sent: &Sent, key: Option<&str>, now: i64) -> Got {
    match sent {
        Sent::Receipt(s, l, q) => Got::Moved(ledger.receipt(*s, *l, *q, key)),
        Sent::Adjust(s, l, q) => Got::Moved(ledger.adjustment(*s, *l, *q, policy(*l), key)),
        Sent::Reserve(r) => Got::Reserved(ledger.reserve(r, now)),
        Sent::Commit(no, q) => Got::Resolved(ledger.commit(*no, q.as_deref(), now, key)),
        Sent::Release(no) => Got::Resolved(ledger.release(*no, now, key)),
        Sent::Expire(limit) => Got::Expired(ledger.expire_due(now, *limit, key)),
    }
}

/// Errors by the names the model uses.
fn verdict<T>(result: &Result<T, LedgerError>) -> Result<(), &'static str> {
    result.as_ref().map(|_| ()).map_err(|e| match e {
        LedgerError::Refused(Refusal::Short { .. }) => "short",
        LedgerError::UnknownReservation(_) => "unknown",
        LedgerError::Resolve(ResolveError::AlreadyResolved(_)) => "resolved",
        LedgerError::Resolve(ResolveError::Expired) => "expired",
        LedgerError::CommitLineCount { .. } => "count",
        LedgerError::CommitOutOfRange { .. } => "range",
        _ => "other",
    })
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Figures {
    on_hand: i64,
    reserved: i64,
    allocated: i64,
}

#[derive(Debug)]
struct Held {
    lines: Vec<(Key, i64)>,
    expires: i64,
    open: bool,
}

/// The auditor: plain figures per key and a list of holds.
#[derive(Debug, Default)]
struct Model {
    figures: BTreeMap<Key, Figures>,
    held: Vec<Held>,
}

impl Model {
    fn fig(&mut self, key: Key) -> &mut Figures {
        self.figures.entry(key).or_default()
    }

    fn available(&self, key: Key) -> i64 {
        let f = self.figures.get(&key).copied().unwrap_or_default();
        f.on_hand - f.reserved - f.allocated
    }

    fn adjust(&mut self, key: Key, q: i64) -> Result<(), &'static str> {
        if policy(key.1) == StockPolicy::Strict && q < 0 && self.available(key) + q < 0 {
            return Err("short");
        }
        self.fig(key).on_hand += q;
        Ok(())
    }

    /// Places each line at the first candidate with enough left after this
    /// request's earlier lines; all lines or none. Err lists the short lines.
    fn reserve(&mut self, spec: &RequestSpec, now: i64) -> Result<(usize, Vec<u8>), Vec<usize>> {
        let mut mine: HashMap<Key, i64> = HashMap::new();
        let (mut placed, mut short) = (Vec::new(), Vec::new());
        for (i, &(sku, c, q)) in spec.lines.iter().enumerate() {
            let left = |l: u8| self.available((sku, l)) - mine.get(&(sku, l)).copied().unwrap_or(0);
            let spot = CANDIDATES[c]
                .iter()
                .copied()
                .find(|&l| policy(l) == StockPolicy::Unlimited || left(l) >= q);
            match spot {
                Some(l) => {
                    *mine.entry((sku, l)).or_default() += q;
                    placed.push(l);
                }
                None => short.push(i),
            }
        }
        if !short.is_empty() {
            return Err(short);
        }
        let lines: Vec<_> = (spec.lines.iter().zip(&placed))
            .map(|(&(sku, _, q), &l)| ((sku, l), q))
            .collect();
        for &(key, q) in &lines {
            self.fig(key).reserved += q;
        }
        self.held.push(Held {
            lines,
            expires: now + spec.ttl,
            open: true,
        });
        Ok((self.held.len() - 1, placed))
    }

    /// Commit (`Some(quantities)`, each line's figure if `None`) or release.
    fn resolve(
        &mut self,
        no: usize,
        commit: Option<Option<&[i64]>>,
        now: i64,
    ) -> Result<(), &'static str> {
        let h = self.held.get(no).ok_or("unknown")?;
        if !h.open {
            return Err("resolved");
        }
        let full: Vec<i64> = h.lines.iter().map(|&(_, q)| q).collect();
        let committed = match commit {
            None => vec![0; full.len()],
            Some(_) if now >= h.expires => return Err("expired"),
            Some(None) => full.clone(),
            Some(Some(q)) if q.len() != full.len() => return Err("count"),
            Some(Some(q)) if q.iter().zip(&full).any(|(&c, &f)| c < 0 || c > f) => {
                return Err("range");
            }
            Some(Some(q)) => q.to_vec(),
        };
        self.held[no].open = false;
        for (&(key, q), c) in self.held[no].lines.clone().iter().zip(committed) {
            let f = self.fig(key);
            f.reserved -= q;
            f.allocated += c;
        }
        Ok(())
    }

    fn expire(&mut self, now: i64, limit: usize) -> Vec<usize> {
        let mut due: Vec<(i64, usize)> = (self.held.iter().enumerate())
            .filter(|(_, h)| h.open && h.expires <= now)
            .map(|(no, h)| (h.expires, no))
            .collect();
        due.sort_unstable();
        due.truncate(limit.clamp(1, 500));
        let nos: Vec<usize> = due.into_iter().map(|(_, no)| no).collect();
        for &no in &nos {
            self.resolve(no, None, now).unwrap();
        }
        nos
    }
}

#[derive(Default)]
struct Run {
    ledger: Ledger<u8, u8>,
    model: Model,
    now: i64,
    keys: usize,
    /// Keyed commands with their first answer, for replays.
    history: Vec<(String, Sent, Got)>,
}

impl Run {
    fn key(&mut self, keyed: bool) -> Option<String> {
        self.keys += 1;
        keyed.then(|| format!("key-{}", self.keys))
    }

    /// Sends a fresh command and remembers it if keyed.
    fn fresh(&mut self, keyed: bool, sent: Sent) -> Got {
        let key = self.key(keyed);
        let got = send(&mut self.ledger, &sent, key.as_deref(), self.now);
        if let Some(key) = key {
            self.history.push((key, sent, got.clone()));
        }
        got
    }

    fn commit_quantities(&self, no: usize, mode: CommitMode) -> Option<Vec<i64>> {
        let full: Vec<i64> = self
            .model
            .held
            .get(no)?
            .lines
            .iter()
            .map(|&(_, q)| q)
            .collect();
        match mode {
            CommitMode::Full => None,
            CommitMode::Partial(seed) => Some(
                (full.iter().enumerate())
                    .map(|(i, &q)| (i64::from(seed) + i as i64) % (q + 1))
                    .collect(),
            ),
            CommitMode::Over => Some(
                full.iter()
                    .enumerate()
                    .map(|(i, &q)| q + i64::from(i == 0))
                    .collect(),
            ),
            CommitMode::WrongCount => Some([full, vec![0]].concat()),
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Receipt(sku, location, q, keyed) => {
                let got = self.fresh(keyed, Sent::Receipt(sku, location, q));
                assert!(matches!(got, Got::Moved(Ok(_))), "{got:?}");
                self.model.fig((sku, location)).on_hand += q;
            }
            Op::Adjust(sku, location, q, keyed) => {
                let Got::Moved(got) = self.fresh(keyed, Sent::Adjust(sku, location, q)) else {
                    unreachable!()
                };
                assert_eq!(verdict(&got), self.model.adjust((sku, location), q));
            }
            Op::Reserve(ref specs, replay, duplicate) => self.reserve(specs, replay, duplicate),
            Op::Commit(pick, mode, keyed) => {
                let no = pick % (self.model.held.len() + 1);
                let q = self.commit_quantities(no, mode);
                let expected = self.model.resolve(no, Some(q.as_deref()), self.now);
                let Got::Resolved(got) = self.fresh(keyed, Sent::Commit(no, q)) else {
                    unreachable!()
                };
                assert_eq!(verdict(&got), expected, "commit {no} at {}", self.now);
            }
            Op::Release(pick, keyed) => {
                let no = pick % (self.model.held.len() + 1);
                let expected = self.model.resolve(no, None, self.now);
                let Got::Resolved(got) = self.fresh(keyed, Sent::Release(no)) else {
                    unreachable!()
                };
                assert_eq!(verdict(&got), expected, "release {no}");
            }
            Op::Expire(limit, keyed) => {
                let expected = self.model.expire(self.now, limit);
                assert_eq!(
                    self.fresh(keyed, Sent::Expire(limit)),
                    Got::Expired(Ok(expected))
                );
            }
            Op::Tick(by) => self.now += by,
            Op::Replay(pick) | Op::Misuse(pick) if !self.history.is_empty() => {
                let (key, sent, first) = self.history[pick % self.history.len()].clone();
                let (again, expected) = match (op, sent) {
                    (Op::Replay(_), sent) => (sent, first),
                    (_, Sent::Reserve(r)) => (
                        Sent::Reserve(ReserveRequest {
                            ttl_us: r.ttl_us + 1,
                            ..r
                        }),
                        Got::Reserved(Err(LedgerError::IdempotencyMismatch)),
                    ),
                    (_, Sent::Receipt(s, l, q)) => (
                        Sent::Receipt(s, l, q + 1),
                        Got::Moved(Err(LedgerError::IdempotencyMismatch)),
                    ),
                    _ => (
                        Sent::Receipt(0, 0, 1),
                        Got::Moved(Err(LedgerError::IdempotencyMismatch)),
                    ),
                };
                let entries = |l: &Ledger<u8, u8>| {
                    (l.balances(), l.movements().len(), l.reservations().len())
                };
                let before = entries(&self.ledger);
                assert_eq!(
                    send(&mut self.ledger, &again, Some(&key), self.now),
                    expected
                );
                assert_eq!(entries(&self.ledger), before);
            }
            Op::Replay(_) | Op::Misuse(_) => {}
        }
    }

    fn reserve(&mut self, specs: &[RequestSpec], replay: Option<usize>, duplicate: bool) {
        let mut batch = Vec::new();
        let mut expected: Vec<Option<Got>> = Vec::new();
        let earlier: Vec<_> = (self.history.iter())
            .filter_map(|(_, s, g)| match s {
                Sent::Reserve(r) => Some((r.clone(), g.clone())),
                _ => None,
            })
            .collect();
        if let Some(pick) = replay.filter(|_| !earlier.is_empty()) {
            let (r, g) = earlier[pick % earlier.len()].clone();
            batch.push(r);
            expected.push(Some(g));
        }
        let fresh_from = batch.len();
        for spec in specs {
            let lines = (spec.lines.iter())
                .map(|&(sku, c, quantity)| LineRequest {
                    sku,
                    candidates: CANDIDATES[c].iter().map(|&l| (l, policy(l))).collect(),
                    quantity,
                    joined: false,
                })
                .collect();
            let idempotency_key = self.key(spec.keyed);
            batch.push(ReserveRequest {
                lines,
                ttl_us: spec.ttl,
                idempotency_key,
            });
            expected.push(None);
        }
        let first_keyed = (fresh_from..batch.len()).find(|&i| batch[i].idempotency_key.is_some());
        if let Some(i) = first_keyed.filter(|_| duplicate) {
            batch.push(batch[i].clone());
            expected.push(None);
        }

        let answers = self.ledger.reserve_batch(&batch, self.now);
        assert_eq!(answers.len(), batch.len());
        for (i, answer) in answers.iter().enumerate() {
            let got = Got::Reserved(answer.clone());
            if let Some(first) = &expected[i] {
                assert_eq!(&got, first, "replay in a batch");
            } else if i >= fresh_from + specs.len() {
                assert_eq!(
                    answer,
                    &answers[first_keyed.unwrap()],
                    "key repeated in a batch"
                );
            } else {
                match (answer, self.model.reserve(&specs[i - fresh_from], self.now)) {
                    (
                        Ok(Reserved::Granted {
                            reservation,
                            locations,
                        }),
                        Ok(placed),
                    ) => {
                        assert_eq!((*reservation, locations.clone()), placed);
                    }
                    (Ok(Reserved::Short(shortages)), Err(lines)) => {
                        assert_eq!(shortages.iter().map(|s| s.line).collect::<Vec<_>>(), lines);
                        assert!(
                            shortages.iter().all(|s| s.requested > s.available),
                            "{shortages:?}"
                        );
                    }
                    (got, model) => panic!("ledger {got:?}, model {model:?}"),
                }
                if let Some(key) = &batch[i].idempotency_key {
                    self.history
                        .push((key.clone(), Sent::Reserve(batch[i].clone()), got));
                }
            }
        }
    }

    /// What must hold after every step.
    fn audit(&self) {
        let balances = self.ledger.balances();
        assert_eq!(
            balances,
            self.ledger.recompute(),
            "balances are not the ledger sums"
        );
        let (mut open, mut committed) = (BTreeMap::<Key, i64>::new(), BTreeMap::<Key, i64>::new());
        for r in self.ledger.reservations() {
            for (line, &c) in r.lines.iter().zip(&r.committed) {
                if r.state == ReservationState::Open {
                    *open.entry((line.sku, line.location)).or_default() += line.quantity;
                }
                *committed.entry((line.sku, line.location)).or_default() += c;
            }
        }
        let keys: BTreeSet<Key> = balances
            .keys()
            .chain(self.model.figures.keys())
            .copied()
            .collect();
        for key in keys {
            let b = self.ledger.balance(key.0, key.1);
            let m = self.model.figures.get(&key).copied().unwrap_or_default();
            let ledger = Figures {
                on_hand: b.on_hand,
                reserved: b.reserved,
                allocated: b.allocated,
            };
            assert_eq!(ledger, m, "{key:?} ledger vs model");
            assert!(b.holds_invariants(), "{key:?} {b:?}");
            assert!(
                policy(key.1) == StockPolicy::Unlimited || b.available() >= 0,
                "{key:?} oversold: {b:?}"
            );
            assert_eq!(
                b.reserved,
                open.get(&key).copied().unwrap_or(0),
                "{key:?} reserved vs open lines"
            );
            assert_eq!(
                b.allocated,
                committed.get(&key).copied().unwrap_or(0),
                "{key:?} allocated vs commits"
            );
        }
    }
}

/// Runs `ops`, auditing after each, and returns the final (on_hand,
/// reserved, allocated) of every key some movement touched.
fn check(ops: &[Op]) -> BTreeMap<Key, (i64, i64, i64)> {
    let mut run = Run::default();
    for op in ops {
        run.step(op);
        run.audit();
    }
    (run.ledger.balances().into_iter())
        .map(|(k, b)| (k, (b.on_hand, b.reserved, b.allocated)))
        .collect()
}

fn request(lines: &[(u8, usize, i64)], ttl: i64) -> RequestSpec {
    RequestSpec {
        lines: lines.to_vec(),
        ttl,
        keyed: true,
    }
}

#[test]
fn flash_sale_grants_what_fits_then_commits_and_expires() {
    let one = request(&[(0, 0, 1)], 10);
    let got = check(&[
        Op::Receipt(0, 0, 3, false),
        Op::Reserve(
            vec![one.clone(), one.clone(), one.clone(), one.clone(), one],
            None,
            true,
        ),
        Op::Commit(0, CommitMode::Full, true),
        Op::Commit(1, CommitMode::Partial(0), false),
        Op::Replay(1),
        Op::Tick(10),
        Op::Expire(5, false),
    ]);
    assert_eq!(got, BTreeMap::from([((0, 0), (3, 0, 1))]));
}

#[test]
fn channel_lines_sharing_a_sku_fall_back_and_backorder() {
    let got = check(&[
        Op::Receipt(1, 0, 2, false),
        Op::Receipt(1, 1, 1, false),
        Op::Reserve(
            vec![request(&[(1, 3, 2), (1, 3, 1), (1, 7, 4)], 5)],
            None,
            false,
        ),
        Op::Commit(0, CommitMode::Over, false),
        Op::Misuse(0),
        Op::Commit(0, CommitMode::Full, false),
        Op::Release(0, false),
    ]);
    assert_eq!(
        got,
        BTreeMap::from([
            ((1, 0), (2, 0, 2)),
            ((1, 1), (1, 0, 1)),
            ((1, 2), (0, 0, 4))
        ])
    );
}

fn op() -> impl Strategy<Value = Op> {
    let line = (0u8..3, 0..CANDIDATES.len(), 1i64..=6);
    let spec = (vec(line, 1..=4), 1i64..=40, any::<bool>())
        .prop_map(|(lines, ttl, keyed)| RequestSpec { lines, ttl, keyed });
    let mode = prop_oneof![
        3 => Just(CommitMode::Full),
        3 => any::<u8>().prop_map(CommitMode::Partial),
        1 => Just(CommitMode::Over),
        1 => Just(CommitMode::WrongCount),
    ];
    prop_oneof![
        3 => (0u8..3, 0u8..3, 1i64..=10, any::<bool>()).prop_map(|(s, l, q, k)| Op::Receipt(s, l, q, k)),
        2 => (0u8..3, 0u8..3, prop_oneof![-8i64..=-1, 1i64..=8], any::<bool>())
            .prop_map(|(s, l, q, k)| Op::Adjust(s, l, q, k)),
        4 => (vec(spec, 1..=3), proptest::option::of(any::<usize>()), any::<bool>())
            .prop_map(|(b, r, d)| Op::Reserve(b, r, d)),
        3 => (any::<usize>(), mode, any::<bool>()).prop_map(|(p, m, k)| Op::Commit(p, m, k)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(p, k)| Op::Release(p, k)),
        1 => (0usize..4, any::<bool>()).prop_map(|(n, k)| Op::Expire(n, k)),
        2 => (0i64..=15).prop_map(Op::Tick),
        2 => any::<usize>().prop_map(Op::Replay),
        1 => any::<usize>().prop_map(Op::Misuse),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_agree_with_the_model(ops in vec(op(), 1..60)) {
        check(&ops);
    }
}
