//! A reference ledger in memory: the stock rules run end to end without a
//! database.
//!
//! The store spreads these rules over SQL statements, locks and transactions;
//! here they sit in one place, small enough to read, so the property tests can
//! drive random sequences of commands through it and compare every reply with
//! a model of plain integers. It is an executable specification, not a cache:
//! the server never serves figures from it.
//!
//! Like the rest of this crate it does no I/O and reads no clock: every
//! command that depends on time takes `now_us` (microseconds since the epoch).
//! Reservations are judged by [`judge::judge`], the same function the store's
//! group commit uses, so a batch here is decided exactly as a batch there.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use crate::balance::{Balance, Delta};
use crate::judge::{self, LineRequest, Outcome, Shortage};
use crate::limits::{EXPIRY_BATCH_MAX, QUANTITY_MAX, RESERVATION_LINES_MAX};
use crate::movement::{self, MovementKind, Refusal};
use crate::policy::StockPolicy;
use crate::reservation::{ReservationState, Resolution, ResolveError, hold_delta};

/// What a SKU or location key must be: copied freely, hashed for the judge,
/// ordered so that [`Ledger::recompute`] and [`Ledger::balances`] are
/// deterministic.
pub trait LedgerKey: Copy + Eq + Hash + Ord {}
impl<T: Copy + Eq + Hash + Ord> LedgerKey for T {}

/// A reservation's number: its index in [`Ledger::reservations`], handed out
/// in the order reservations are granted.
pub type ReservationNo = usize;

/// One append-only ledger entry. Balances are the sum of these deltas and of
/// the reservations' holds, which is what [`Ledger::recompute`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement<S, L> {
    /// What happened.
    pub kind: MovementKind,
    /// The SKU whose figures changed.
    pub sku: S,
    /// Where.
    pub location: L,
    /// The signed quantity the command named; `delta` follows from it.
    pub quantity: i64,
    /// The change made to the (sku, location) balance.
    pub delta: Delta,
    /// The reservation this entry commits, releases or expires.
    pub reservation: Option<ReservationNo>,
}

/// One line of a granted reservation: where the judge placed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedLine<S, L> {
    /// The SKU held.
    pub sku: S,
    /// The location chosen among the line's candidates.
    pub location: L,
    /// Units held while the reservation is open.
    pub quantity: i64,
}

/// A pending transfer: held pessimistically, then resolved exactly once.
/// It is a ledger entry of its own: each line adds
/// [`hold_delta`](crate::reservation::hold_delta) to its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation<S, L> {
    /// The lines in request order.
    pub lines: Vec<ReservedLine<S, L>>,
    /// From this instant on the reservation can no longer be committed and
    /// [`Ledger::expire_due`] may expire it.
    pub expires_at_us: i64,
    /// Open until a commit, release or expiry resolves it.
    pub state: ReservationState,
    /// Per line, how much became allocated: all zero unless committed.
    pub committed: Vec<i64>,
}

/// A request to reserve, as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest<S, L> {
    /// Each line's SKU, candidate locations (with their policies) and quantity.
    pub lines: Vec<LineRequest<S, L>>,
    /// How long the hold lasts, in microseconds; must be positive.
    pub ttl_us: i64,
    /// Makes a retry return the first answer instead of holding stock twice.
    pub idempotency_key: Option<String>,
}

/// The answer to one reservation request. A shortage is an answer, not an
/// error: the request was valid, the stock was not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved<S, L> {
    /// Every line is held; `locations` are the chosen places in line order.
    Granted {
        reservation: ReservationNo,
        locations: Vec<L>,
    },
    /// Nothing is held; the short lines and by how much.
    Short(Vec<Shortage<S, L>>),
}

/// Why a command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A quantity outside `1..=QUANTITY_MAX` (or `0` for an adjustment).
    #[error("quantity {0} is out of range")]
    InvalidQuantity(i64),
    /// A reservation with no lines, too many lines, or a time to live ≤ 0.
    #[error("a reservation needs 1 to {RESERVATION_LINES_MAX} lines and a positive time to live")]
    InvalidReservation,
    /// The movement would break a balance rule (strict shortage, overflow).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No reservation has this number.
    #[error("there is no reservation {0}")]
    UnknownReservation(ReservationNo),
    /// The reservation cannot be resolved (already resolved, or expired).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A commit names a number of quantities other than the number of lines.
    #[error("{got} commit quantities for {lines} lines")]
    CommitLineCount { lines: usize, got: usize },
    /// A commit quantity below zero or above what the line holds.
    #[error("line {line}: {requested} to commit, {reserved} reserved")]
    CommitOutOfRange {
        line: usize,
        reserved: i64,
        requested: i64,
    },
    /// The idempotency key was first used for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyMismatch,
}

/// A request as remembered under its idempotency key: the fingerprint a
/// retry must match. The time is not part of it: a retry comes later.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Request<S, L> {
    Receipt(S, L, i64),
    Adjustment(S, L, i64, StockPolicy),
    Reserve(Vec<LineRequest<S, L>>, i64),
    Commit(ReservationNo, Option<Vec<i64>>),
    Release(ReservationNo),
    ExpireDue(usize),
}

/// The first answer to a keyed request, errors included: a retry of a
/// refused request is refused the same way, as the HTTP layer does.
#[derive(Debug, Clone)]
enum Answer<S, L> {
    Moved(Result<usize, LedgerError>),
    Reserved(Result<Reserved<S, L>, LedgerError>),
    Resolved(Result<(), LedgerError>),
    Expired(Vec<ReservationNo>),
}

/// A request under its key, with the answer a matching retry gets.
type Remembered<S, L> = (Request<S, L>, Answer<S, L>);

/// Balances, movements, reservations and idempotency keys of one tenant.
#[derive(Debug, Clone)]
pub struct Ledger<S, L> {
    balances: HashMap<(S, L), Balance>,
    movements: Vec<Movement<S, L>>,
    reservations: Vec<Reservation<S, L>>,
    idempotency: HashMap<String, Remembered<S, L>>,
}

impl<S: LedgerKey, L: LedgerKey> Default for Ledger<S, L> {
    fn default() -> Self {
        Self {
            balances: HashMap::new(),
            movements: Vec::new(),
            reservations: Vec::new(),
            idempotency: HashMap::new(),
        }
    }
}

impl<S: LedgerKey, L: LedgerKey> Ledger<S, L> {
    /// An empty ledger: every balance zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The figures of (sku, location); zeros if nothing ever moved there.
    pub fn balance(&self, sku: S, location: L) -> Balance {
        self.balances
            .get(&(sku, location))
            .copied()
            .unwrap_or_default()
    }

    /// Every balance that some movement touched, in key order.
    pub fn balances(&self) -> BTreeMap<(S, L), Balance> {
        self.balances.iter().map(|(&k, &b)| (k, b)).collect()
    }

    /// The movements in the order they were made (reservations, the other
    /// kind of ledger entry, are in [`Ledger::reservations`]).
    pub fn movements(&self) -> &[Movement<S, L>] {
        &self.movements
    }

    /// Every reservation ever granted, indexed by [`ReservationNo`].
    pub fn reservations(&self) -> &[Reservation<S, L>] {
        &self.reservations
    }

    /// The balances rebuilt from the ledger alone: every reservation's
    /// holds plus every movement's delta. Equal to [`Ledger::balances`] at
    /// all times; a difference is a bug.
    pub fn recompute(&self) -> BTreeMap<(S, L), Balance> {
        let mut sums: BTreeMap<(S, L), Balance> = BTreeMap::new();
        let holds = self
            .reservations
            .iter()
            .flat_map(|r| r.lines.iter())
            .map(|l| (l.sku, l.location, hold_delta(l.quantity)));
        let moves = self.movements.iter().map(|m| (m.sku, m.location, m.delta));
        for (sku, location, delta) in holds.chain(moves) {
            let b = sums.entry((sku, location)).or_default();
            *b = b.apply(&delta).expect("ledger sums fit in i64");
        }
        sums
    }

    /// Goods arrived: `on_hand + quantity`. Returns the movement's index.
    pub fn receipt(
        &mut self,
        sku: S,
        location: L,
        quantity: i64,
        key: Option<&str>,
    ) -> Result<usize, LedgerError> {
        self.post(key, Request::Receipt(sku, location, quantity))
    }

    /// A correction of `on_hand` by a signed, non-zero `quantity`. Under
    /// `strict`, a decrease that would take available below zero is refused.
    pub fn adjustment(
        &mut self,
        sku: S,
        location: L,
        quantity: i64,
        policy: StockPolicy,
        key: Option<&str>,
    ) -> Result<usize, LedgerError> {
        self.post(key, Request::Adjustment(sku, location, quantity, policy))
    }

    /// One reservation request: a batch of one.
    pub fn reserve(
        &mut self,
        request: &ReserveRequest<S, L>,
        now_us: i64,
    ) -> Result<Reserved<S, L>, LedgerError> {
        let mut answers = self.reserve_batch(std::slice::from_ref(request), now_us);
        answers.pop().expect("one answer per request")
    }

    /// Requests that arrived together, judged together as the store's group
    /// commit does: in order, each on its own. Replays answer from their key;
    /// a key repeated within the batch answers as its first use.
    pub fn reserve_batch(
        &mut self,
        requests: &[ReserveRequest<S, L>],
        now_us: i64,
    ) -> Vec<Result<Reserved<S, L>, LedgerError>> {
        let mut answers: Vec<Option<Result<Reserved<S, L>, LedgerError>>> =
            vec![None; requests.len()];
        let mut first_use: HashMap<&str, usize> = HashMap::new();
        let mut copies = Vec::new();
        let mut judged = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            let key = r.idempotency_key.as_deref();
            let fingerprint = Request::Reserve(r.lines.clone(), r.ttl_us);
            match (
                self.replay(key, &fingerprint),
                key.and_then(|k| first_use.get(k)),
            ) {
                (Err(e), _) => answers[i] = Some(Err(e)),
                (Ok(Some(Answer::Reserved(first))), _) => answers[i] = Some(first),
                (Ok(_), Some(&j))
                    if requests[j].lines == r.lines && requests[j].ttl_us == r.ttl_us =>
                {
                    copies.push((i, j));
                }
                (Ok(_), Some(_)) => answers[i] = Some(Err(LedgerError::IdempotencyMismatch)),
                (Ok(_), None) => {
                    if let Some(k) = key {
                        first_use.insert(k, i);
                    }
                    match check_reservation(r) {
                        Ok(()) => judged.push(i),
                        Err(e) => answers[i] = Some(Err(e)),
                    }
                }
            }
        }

        let batch: Vec<_> = judged.iter().map(|&i| requests[i].lines.clone()).collect();
        let judgement = judge::judge(&self.balances, &batch);
        let mut totals: HashMap<(S, L), i64> = HashMap::new();
        let mut unlimited = Vec::new();
        for (&i, outcome) in judged.iter().zip(judgement.outcomes) {
            let answer = match outcome {
                Outcome::Granted(locations) => {
                    for (line, location) in requests[i].lines.iter().zip(&locations) {
                        *totals.entry((line.sku, *location)).or_default() += line.quantity;
                        if line
                            .candidates
                            .contains(&(*location, StockPolicy::Unlimited))
                        {
                            unlimited.push((line.sku, *location));
                        }
                    }
                    let reservation = self.open(&requests[i], &locations, now_us);
                    Reserved::Granted {
                        reservation,
                        locations,
                    }
                }
                Outcome::Short(shortages) => Reserved::Short(shortages),
            };
            answers[i] = Some(Ok(answer));
        }
        // The judge's per-row totals are what the store writes in one
        // conditional statement; they must match the lines it granted, and a
        // row no unlimited grant touched must still have available ≥ 0.
        let expected: HashMap<_, _> = judgement.reserved_totals.into_iter().collect();
        assert!(totals == expected, "judge totals disagree with its grants");
        for key in totals.keys().filter(|k| !unlimited.contains(k)) {
            assert!(self.balances[key].available() >= 0, "strict row oversold");
        }

        for (i, j) in copies {
            answers[i] = answers[j].clone();
        }
        for &i in first_use.values() {
            let r = &requests[i];
            let answer = answers[i].clone().expect("answered above");
            let request = Request::Reserve(r.lines.clone(), r.ttl_us);
            self.remember(
                r.idempotency_key.as_deref(),
                request,
                Answer::Reserved(answer),
            );
        }
        answers
            .into_iter()
            .map(|a| a.expect("every request answered"))
            .collect()
    }

    /// Turns an open, unexpired reservation into allocations: `quantities`
    /// names per line how much to commit (at most what the line holds); the
    /// rest is released. `None` commits every line in full.
    pub fn commit(
        &mut self,
        reservation: ReservationNo,
        quantities: Option<&[i64]>,
        now_us: i64,
        key: Option<&str>,
    ) -> Result<(), LedgerError> {
        let quantities = quantities.map(<[i64]>::to_vec);
        self.resolve_once(key, Request::Commit(reservation, quantities), now_us)
    }

    /// Gives an open reservation's stock back, even after its deadline: the
    /// client wanted it gone and the stock is freed either way.
    pub fn release(
        &mut self,
        reservation: ReservationNo,
        now_us: i64,
        key: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.resolve_once(key, Request::Release(reservation), now_us)
    }

    /// Expires up to `limit` (clamped to `1..=EXPIRY_BATCH_MAX`, as the store
    /// does) open reservations whose deadline is at or before `now_us`,
    /// earliest deadline first. Returns the ones expired.
    pub fn expire_due(
        &mut self,
        now_us: i64,
        limit: usize,
        key: Option<&str>,
    ) -> Result<Vec<ReservationNo>, LedgerError> {
        let request = Request::ExpireDue(limit);
        if let Some(Answer::Expired(first)) = self.replay(key, &request)? {
            return Ok(first);
        }
        let mut due: Vec<(i64, ReservationNo)> = (self.reservations.iter().enumerate())
            .filter(|(_, r)| r.state == ReservationState::Open && r.expires_at_us <= now_us)
            .map(|(no, r)| (r.expires_at_us, no))
            .collect();
        due.sort_unstable();
        due.truncate(limit.clamp(1, EXPIRY_BATCH_MAX));
        let expired: Vec<_> = due.into_iter().map(|(_, no)| no).collect();
        for &no in &expired {
            self.resolve(no, Resolution::Expire, None, now_us)
                .expect("a due open reservation expires");
        }
        self.remember(key, request, Answer::Expired(expired.clone()));
        Ok(expired)
    }

    /// The first answer under `key` if `request` matches it; an error if the
    /// key belongs to another request; `None` if the key is new or absent.
    fn replay(
        &self,
        key: Option<&str>,
        request: &Request<S, L>,
    ) -> Result<Option<Answer<S, L>>, LedgerError> {
        match key.and_then(|k| self.idempotency.get(k)) {
            None => Ok(None),
            Some((first, answer)) if first == request => Ok(Some(answer.clone())),
            Some(_) => Err(LedgerError::IdempotencyMismatch),
        }
    }

    fn remember(&mut self, key: Option<&str>, request: Request<S, L>, answer: Answer<S, L>) {
        if let Some(key) = key {
            self.idempotency.insert(key.to_owned(), (request, answer));
        }
    }

    /// A receipt or adjustment, once per key.
    fn post(&mut self, key: Option<&str>, request: Request<S, L>) -> Result<usize, LedgerError> {
        if let Some(Answer::Moved(first)) = self.replay(key, &request)? {
            return first;
        }
        let result = self.direct(&request);
        self.remember(key, request, Answer::Moved(result.clone()));
        result
    }

    /// Applies a receipt or adjustment, judged by [`movement::check`] as the
    /// store judges it.
    fn direct(&mut self, request: &Request<S, L>) -> Result<usize, LedgerError> {
        let (kind, policy, sku, location, quantity) = match *request {
            Request::Receipt(s, l, q) => (MovementKind::Receipt, StockPolicy::Strict, s, l, q),
            Request::Adjustment(s, l, q, p) => (MovementKind::Adjustment, p, s, l, q),
            _ => unreachable!("only receipts and adjustments are posted"),
        };
        check_quantity(quantity, kind == MovementKind::Adjustment)?;
        let delta = kind.delta(quantity);
        let after = movement::check(kind, policy, &self.balance(sku, location), &delta)?;
        self.balances.insert((sku, location), after);
        self.movements.push(Movement {
            kind,
            sku,
            location,
            quantity,
            delta,
            reservation: None,
        });
        Ok(self.movements.len() - 1)
    }

    /// A commit or release, once per key.
    fn resolve_once(
        &mut self,
        key: Option<&str>,
        request: Request<S, L>,
        now_us: i64,
    ) -> Result<(), LedgerError> {
        if let Some(Answer::Resolved(first)) = self.replay(key, &request)? {
            return first;
        }
        let result = match &request {
            Request::Commit(no, q) => self.resolve(*no, Resolution::Commit, q.as_deref(), now_us),
            Request::Release(no) => self.resolve(*no, Resolution::Release, None, now_us),
            _ => unreachable!("only commits and releases resolve"),
        };
        self.remember(key, request, Answer::Resolved(result.clone()));
        result
    }

    /// A movement resolving a reservation; already judged, so it must fit.
    fn record(&mut self, kind: MovementKind, line: ReservedLine<S, L>, no: ReservationNo) {
        if line.quantity == 0 {
            return;
        }
        let delta = kind.delta(line.quantity);
        let b = self.balances.entry((line.sku, line.location)).or_default();
        *b = b.apply(&delta).expect("reservation figures fit in i64");
        assert!(b.holds_invariants(), "{kind} broke a balance: {b:?}");
        self.movements.push(Movement {
            kind,
            sku: line.sku,
            location: line.location,
            quantity: line.quantity,
            delta,
            reservation: Some(no),
        });
    }

    fn open(&mut self, request: &ReserveRequest<S, L>, locations: &[L], now_us: i64) -> usize {
        let no = self.reservations.len();
        let lines: Vec<_> = (request.lines.iter().zip(locations))
            .map(|(l, &location)| ReservedLine {
                sku: l.sku,
                location,
                quantity: l.quantity,
            })
            .collect();
        // The reservation is the ledger entry; no movement.
        for line in &lines {
            let b = self.balances.entry((line.sku, line.location)).or_default();
            *b = b
                .apply(&hold_delta(line.quantity))
                .expect("reservation figures fit in i64");
            assert!(b.holds_invariants(), "a hold broke a balance: {b:?}");
        }
        self.reservations.push(Reservation {
            committed: vec![0; lines.len()],
            lines,
            expires_at_us: now_us.saturating_add(request.ttl_us),
            state: ReservationState::Open,
        });
        no
    }

    /// Resolves a reservation exactly once. The state rule comes first, so a
    /// second commit is told "already committed", not "bad quantities".
    fn resolve(
        &mut self,
        no: ReservationNo,
        resolution: Resolution,
        quantities: Option<&[i64]>,
        now_us: i64,
    ) -> Result<(), LedgerError> {
        let r = self
            .reservations
            .get(no)
            .ok_or(LedgerError::UnknownReservation(no))?;
        let state = r.state.resolve(resolution, now_us, r.expires_at_us)?;
        let committed = match (resolution, quantities) {
            (Resolution::Commit, None) => r.lines.iter().map(|l| l.quantity).collect(),
            (Resolution::Commit, Some(q)) => check_commit(&r.lines, q)?,
            _ => vec![0; r.lines.len()],
        };
        let rest = match resolution {
            Resolution::Expire => MovementKind::Expire,
            Resolution::Commit | Resolution::Release => MovementKind::Release,
        };
        let lines = r.lines.clone();
        for (&line, &c) in lines.iter().zip(&committed) {
            let left = line.quantity - c;
            self.record(
                MovementKind::Commit,
                ReservedLine {
                    quantity: c,
                    ..line
                },
                no,
            );
            self.record(
                rest,
                ReservedLine {
                    quantity: left,
                    ..line
                },
                no,
            );
        }
        let r = &mut self.reservations[no];
        r.state = state;
        r.committed = committed;
        Ok(())
    }
}

/// Checks a quantity's size; `signed` allows negative ones (adjustments).
fn check_quantity(quantity: i64, signed: bool) -> Result<(), LedgerError> {
    let size = if signed {
        quantity.saturating_abs()
    } else {
        quantity
    };
    if (1..=QUANTITY_MAX).contains(&size) {
        Ok(())
    } else {
        Err(LedgerError::InvalidQuantity(quantity))
    }
}

fn check_reservation<S, L>(r: &ReserveRequest<S, L>) -> Result<(), LedgerError> {
    if r.lines.is_empty() || r.lines.len() > RESERVATION_LINES_MAX || r.ttl_us <= 0 {
        return Err(LedgerError::InvalidReservation);
    }
    r.lines
        .iter()
        .try_for_each(|l| check_quantity(l.quantity, false))
}

fn check_commit<S, L>(lines: &[ReservedLine<S, L>], q: &[i64]) -> Result<Vec<i64>, LedgerError> {
    if q.len() != lines.len() {
        return Err(LedgerError::CommitLineCount {
            lines: lines.len(),
            got: q.len(),
        });
    }
    for (line, (l, &requested)) in lines.iter().zip(q).enumerate() {
        if !(0..=l.quantity).contains(&requested) {
            return Err(LedgerError::CommitOutOfRange {
                line,
                reserved: l.quantity,
                requested,
            });
        }
    }
    Ok(q.to_vec())
}
