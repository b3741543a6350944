//! The group-commit transaction: a batch of reservation requests, commits
//! and releases that arrived together, applied in one transaction of a
//! fixed handful of statements whatever the batch size, each request
//! judged and answered on its own.
//!
//! The order inside the transaction:
//! 1. **Claim the resolutions.** Each commit or release is judged again by
//!    `jaego_core` on the batch's clock (a commit that arrives at or after
//!    its deadline is refused), then claimed with one conditional
//!    `UPDATE reservations … WHERE state = 'open' … RETURNING id` per target
//!    state. A reservation already committed, released or expired (by
//!    another request, the expiry job, or another instance) is not
//!    returned, and its request is answered with the state it found.
//! 2. **Lock the rows** the resolutions and the new reservations touch
//!    (creating missing ones), in one statement in the usual case.
//! 3. **Settle the resolutions in memory** (`commit` and `release`
//!    movements), and apply their deltas to the locked figures, so the
//!    stock a release frees is there for the reservations of the same batch.
//! 4. **Judge the reservations** with [`jaego_core::judge::judge`] on those
//!    figures, in arrival order, with the policies and SKU tracking read in
//!    the transaction in one statement (`current_settings`).
//! 5. **Write:** every row's total change in one conditional `UPDATE`
//!    ([`apply_deltas_into`], which re-checks `strict` in SQL), the new
//!    reservations and their lines, the resolution movements, the committed
//!    quantities, and every event (`stock.changed` per row,
//!    `reservation.created` / `.committed` / `.released` per request) with
//!    one sequence update, and the audit entries of the requests that
//!    succeeded (when the HTTP edge handed them over); then one commit, one
//!    fsync.
//!
//! Every multi-row statement pads its `VALUES` list to the next power of
//! two with all-NULL rows it ignores, so a handful of SQL texts serve every
//! batch size from the prepared-statement cache (see [`padded`]).

use std::collections::{HashMap, HashSet};

use jaego_core::judge::{self, LineRequest, Outcome};
use jaego_core::reservation::hold_delta;
use jaego_core::{
    ChannelId, Delta, LocationId, MovementKind, ReservationId, ReservationState, SkuId,
    StockPolicy, TenantId,
};
use sqlx::{Any, AnyPool, Transaction};

use crate::audit;
use crate::db::{Engine, begin_write};
use crate::error::{StoreError, StoreResult, retry_write_conflicts};
use crate::events::{self, NewEvent, kinds};
use crate::ledger::{
    Key, PendingMovement, apply_deltas_into, insert_movements, lock_or_create_rows, lock_rows,
};
use crate::now_us;
use crate::reservations::{
    Reservation, ReservationLine, ReserveRequest, ResolveRequest, line_from_row, reservation_event,
    resolve_error,
};
use crate::rows::{
    JsonCol, Placeholders, json_values_sql_at, opt_parsed, padded, parsed, text, tuples,
    tuples_after,
};

/// One request of a batch.
#[derive(Debug)]
pub(crate) enum Job {
    Reserve(ReserveRequest),
    Resolve(ResolveRequest),
}

impl Job {
    /// The lines it touches, for the batch's line limit.
    pub(crate) fn lines(&self) -> usize {
        match self {
            Job::Reserve(r) => r.lines.len(),
            Job::Resolve(r) => r.reservation.lines.len(),
        }
    }
}

/// Applies `jobs` in one transaction and answers each: a reservation made,
/// committed or released, or why not. A database failure fails the whole
/// batch (nothing was applied), answering every request `Unavailable`.
pub(crate) async fn execute_batch(
    pool: &AnyPool,
    engine: Engine,
    jobs: Vec<Job>,
) -> Vec<StoreResult<Reservation>> {
    match retry_write_conflicts(|| try_batch(pool, engine, &jobs)).await {
        Ok(results) => results,
        Err(e) => {
            if !e.is_write_conflict() {
                tracing::error!(error = %e, requests = jobs.len(), "reservation batch failed");
            }
            let last = e.to_string();
            jobs.iter()
                .map(|_| Err(StoreError::Unavailable(last.clone())))
                .collect()
        }
    }
}

async fn try_batch(
    pool: &AnyPool,
    engine: Engine,
    jobs: &[Job],
) -> StoreResult<Vec<StoreResult<Reservation>>> {
    let now = now_us();
    let mut answers: Vec<Option<StoreResult<Reservation>>> = jobs.iter().map(|_| None).collect();
    let mut tx = begin_write(pool, engine).await?;

    // 1. Claim the resolutions.
    let claimed = claim_resolutions(&mut tx, jobs, now, &mut answers).await?;
    let reserves: Vec<(usize, &ReserveRequest)> = jobs
        .iter()
        .enumerate()
        .filter_map(|(i, job)| match job {
            Job::Reserve(r) => Some((i, r)),
            Job::Resolve(_) => None,
        })
        .collect();

    // 2. Lock every row the batch touches.
    let mut keys: Vec<(TenantId, Key)> = Vec::new();
    let mut seen = HashSet::new();
    for (_, r, _) in &claimed {
        for line in &r.reservation.lines {
            if seen.insert((line.sku_id, line.location_id)) {
                keys.push((r.tenant, (line.sku_id, line.location_id)));
            }
        }
    }
    for (_, r) in &reserves {
        for line in &r.lines {
            for &(location, _) in &line.candidates {
                if seen.insert((line.sku, location)) {
                    keys.push((r.tenant, (line.sku, location)));
                }
            }
        }
    }
    if keys.is_empty() {
        // Every request was answered by the claim; nothing else to write.
        tx.commit().await?;
        return Ok(answers.into_iter().map(unanswered).collect());
    }
    let mut rows = lock_or_create_rows(&mut tx, &keys).await?;

    // 3. Settle the resolutions in memory.
    let mut changes = RowChanges::default();
    let mut movements = Vec::new();
    let mut events = Vec::new();
    let settlements: Vec<Settlement<'_>> = claimed
        .iter()
        .map(|(_, r, _)| Settlement {
            tenant: r.tenant,
            reservation: &r.reservation,
            committed: Some(&r.committed),
            rest: MovementKind::Release,
            actor: &r.actor,
        })
        .collect();
    settlement_changes(&settlements, &mut changes, &mut movements)?;
    for (key, delta, _) in &changes.rows {
        let row = rows.entry(*key).or_default();
        *row = row
            .apply(delta)
            .ok_or_else(|| StoreError::Conflict("a balance figure would overflow".into()))?;
    }
    let mut resolved = Vec::with_capacity(claimed.len());
    for &(i, r, next) in &claimed {
        let done = Reservation {
            state: next,
            resolved_at: Some(now),
            lines: (r.reservation.lines.iter().zip(&r.committed))
                .map(|(line, &c)| ReservationLine {
                    committed: Some(c),
                    ..line.clone()
                })
                .collect(),
            ..r.reservation.clone()
        };
        let kind = match next {
            ReservationState::Committed => kinds::RESERVATION_COMMITTED,
            _ => kinds::RESERVATION_RELEASED,
        };
        events.push(reservation_event(r.tenant, kind, &done));
        resolved.push((i, done));
    }

    // 4. Judge the reservations on the rows as they are now.
    let settings = current_settings(&mut tx, &reserves).await?;
    let batch: Vec<Vec<LineRequest<SkuId, LocationId>>> = reserves
        .iter()
        .map(|(_, r)| {
            let channel_policy = r
                .channel_id
                .and_then(|c| settings.channels.get(&c).copied().flatten());
            r.lines
                .iter()
                .map(|line| LineRequest {
                    sku: line.sku,
                    candidates: line
                        .candidates
                        .iter()
                        .map(|&(l, _)| {
                            // A SKU without stock tracking sells freely.
                            let policy = if settings.untracked.contains(&line.sku) {
                                StockPolicy::Unlimited
                            } else {
                                channel_policy
                                    .or(settings.locations.get(&l).copied())
                                    .unwrap_or_default()
                            };
                            (l, policy)
                        })
                        .collect(),
                    quantity: line.quantity,
                    joined: line.joined,
                })
                .collect()
        })
        .collect();
    let judgement = judge::judge(&rows, &batch);
    // A row is guarded in SQL as strict unless some grant on it was unlimited.
    let mut unlimited: HashSet<Key> = HashSet::new();
    let mut granted: Vec<(&ReserveRequest, &[LocationId])> = Vec::new();
    for (((i, request), lines), outcome) in reserves.iter().zip(&batch).zip(&judgement.outcomes) {
        match outcome {
            Outcome::Granted(placements) => {
                for (line, location) in lines.iter().zip(placements) {
                    let policy = line
                        .candidates
                        .iter()
                        .find(|(l, _)| l == location)
                        .map_or(StockPolicy::Strict, |&(_, p)| p);
                    if policy == StockPolicy::Unlimited {
                        unlimited.insert((line.sku, *location));
                    }
                }
                let reservation = new_reservation(request, placements);
                events.push(reservation_event(
                    request.tenant,
                    kinds::RESERVATION_CREATED,
                    &reservation,
                ));
                answers[*i] = Some(Ok(reservation));
                granted.push((request, placements));
            }
            Outcome::Short(shortages) => {
                // Named by the client's line (a bundle's components share it).
                let shortages = shortages
                    .iter()
                    .map(|s| judge::Shortage {
                        line: request.client_line(s.line),
                        ..s.clone()
                    })
                    .collect();
                answers[*i] = Some(Err(StoreError::Shortage(shortages)));
            }
        }
    }
    for &(key, total) in &judgement.reserved_totals {
        changes.add(key, hold_delta(total), !unlimited.contains(&key))?;
    }

    // The audit entries of the requests that succeed, written with them.
    let mut audit = Vec::new();
    for (request, _) in &granted {
        if let Some(entry) = &request.audit {
            audit.push(entry.answered(201, Some(request.id.to_string())));
        }
    }
    for (_, r, _) in &claimed {
        if let Some(entry) = &r.audit {
            audit.push(entry.answered(200, None));
        }
    }

    // 5. Write it all, then commit once.
    let mut stock_events = Vec::with_capacity(changes.rows.len());
    apply_deltas_into(&mut tx, &changes.rows, &mut stock_events).await?;
    insert_reservations(&mut tx, &granted).await?;
    insert_movements(&mut tx, &movements).await?;
    record_committed(&mut tx, &claimed).await?;
    stock_events.append(&mut events);
    events::append(&mut tx, &stock_events).await?;
    audit::insert_entries(&mut tx, &audit).await?;
    tx.commit().await?;
    for (i, done) in resolved {
        answers[i] = Some(Ok(done));
    }
    Ok(answers.into_iter().map(unanswered).collect())
}

/// An answer slot left empty is a bug in this module; answer it as one
/// rather than panic in the worker.
fn unanswered(answer: Option<StoreResult<Reservation>>) -> StoreResult<Reservation> {
    answer.unwrap_or_else(|| Err(StoreError::Corrupt("a batch request got no answer".into())))
}

/// The reservation a granted request makes.
fn new_reservation(request: &ReserveRequest, placements: &[LocationId]) -> Reservation {
    Reservation {
        id: request.id,
        channel_id: request.channel_id,
        state: ReservationState::Open,
        reference: request.reference.clone(),
        actor: request.actor.clone(),
        expires_at: request.expires_at,
        created_at: request.created_at,
        resolved_at: None,
        lines: request
            .lines
            .iter()
            .zip(placements)
            .enumerate()
            .map(|(i, (line, &location))| ReservationLine {
                line_no: i as i64 + 1,
                sku_id: line.sku,
                location_id: location,
                quantity: line.quantity,
                committed: None,
                bundle: request.bundle_of(i),
            })
            .collect(),
    }
}

/// A claimed resolution: (index in the batch, request, state it moves to).
type Claimed<'a> = (usize, &'a ResolveRequest, ReservationState);

/// Judges each resolution on the batch's clock and claims the ones that
/// pass with a conditional update; answers the rest in `answers`. A second
/// request for a reservation already in the batch is answered after the
/// first (as if it came right after it).
async fn claim_resolutions<'a>(
    tx: &mut Transaction<'_, Any>,
    jobs: &'a [Job],
    now: i64,
    answers: &mut [Option<StoreResult<Reservation>>],
) -> StoreResult<Vec<Claimed<'a>>> {
    let mut first: HashMap<ReservationId, usize> = HashMap::new();
    let mut candidates: Vec<Claimed<'a>> = Vec::new();
    let mut repeats = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Job::Resolve(r) = job else { continue };
        if let Some(&j) = first.get(&r.reservation.id) {
            repeats.push((i, j));
            continue;
        }
        first.insert(r.reservation.id, i);
        // The claim below checks that it is still open; this checks the
        // time rule on this batch's clock.
        match ReservationState::Open.resolve(r.resolution, now, r.reservation.expires_at) {
            Ok(next) => candidates.push((i, r, next)),
            Err(e) => answers[i] = Some(Err(resolve_error(e))),
        }
    }
    if candidates.is_empty() && repeats.is_empty() {
        return Ok(Vec::new());
    }
    let mut won = HashSet::new();
    for state in [ReservationState::Committed, ReservationState::Released] {
        let ids: Vec<ReservationId> = candidates
            .iter()
            .filter(|(_, _, next)| *next == state)
            .map(|(_, r, _)| r.reservation.id)
            .collect();
        won.extend(claim(tx, state, &ids, now).await?);
    }
    let lost: Vec<ReservationId> = candidates
        .iter()
        .filter(|(_, r, _)| !won.contains(&r.reservation.id))
        .map(|(_, r, _)| r.reservation.id)
        .collect();
    let states = if lost.is_empty() {
        HashMap::new()
    } else {
        states_of(tx, &lost).await?
    };
    let mut claimed = Vec::with_capacity(candidates.len());
    let mut next_of: HashMap<usize, ReservationState> = HashMap::new();
    for (i, r, next) in candidates {
        if won.contains(&r.reservation.id) {
            next_of.insert(i, next);
            claimed.push((i, r, next));
        } else {
            // Resolved by someone else since it was read (another request,
            // the expiry job, another instance).
            let state = states
                .get(&r.reservation.id)
                .copied()
                .unwrap_or(ReservationState::Expired);
            answers[i] = Some(Err(StoreError::AlreadyResolved(state)));
        }
    }
    for (i, j) in repeats {
        answers[i] = Some(Err(match (next_of.get(&j), &answers[j]) {
            (Some(&state), _) => StoreError::AlreadyResolved(state),
            (None, Some(Err(StoreError::AlreadyResolved(state)))) => {
                StoreError::AlreadyResolved(*state)
            }
            (None, _) => StoreError::Expired,
        }));
    }
    Ok(claimed)
}

/// Moves the open reservations among `ids` to `state`; returns the ones it
/// moved. The exactly-once guard: only one resolution can move a
/// reservation off `open`. The ids were resolved within their tenants when
/// the requests were read.
async fn claim(
    tx: &mut Transaction<'_, Any>,
    state: ReservationState,
    ids: &[ReservationId],
    now: i64,
) -> StoreResult<Vec<ReservationId>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "UPDATE reservations SET state = '{}', resolved_at = {} \
             WHERE state = 'open' AND id IN (SELECT column1 FROM (VALUES {}) AS v) RETURNING id",
            state.as_str(),
            match Placeholders::of(tx) {
                Placeholders::Numbered => "$1",
                Placeholders::Anonymous => "?",
            },
            tuples_after(Placeholders::of(tx), 1, rows, 1)
        );
        let mut query = sqlx::query(&sql).bind(now);
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.push(parsed(&row, "id")?);
        }
    }
    Ok(out)
}

/// The states of reservations `ids`.
async fn states_of(
    tx: &mut Transaction<'_, Any>,
    ids: &[ReservationId],
) -> StoreResult<HashMap<ReservationId, ReservationState>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "SELECT id, state FROM reservations WHERE id IN (SELECT column1 FROM (VALUES {}) AS v)",
            tuples(Placeholders::of(tx), rows, 1)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.insert(parsed(&row, "id")?, parsed(&row, "state")?);
        }
    }
    Ok(out)
}

/// The lines of reservations `ids`, by reservation, in line order.
pub(crate) async fn lines_of(
    tx: &mut Transaction<'_, Any>,
    ids: &[ReservationId],
) -> StoreResult<HashMap<ReservationId, Vec<ReservationLine>>> {
    let mut out: HashMap<ReservationId, Vec<ReservationLine>> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "SELECT reservation_id, line_no, sku_id, location_id, quantity, committed, bundle_sku_id, bundle_line, \
             bundle_quantity FROM reservation_lines \
             WHERE reservation_id IN (SELECT column1 FROM (VALUES {}) AS v) ORDER BY reservation_id, line_no",
            tuples(Placeholders::of(tx), rows, 1)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.entry(parsed(&row, "reservation_id")?)
                .or_default()
                .push(line_from_row(&row)?);
        }
    }
    Ok(out)
}

/// Per balance row, the total change of a batch and whether SQL must guard
/// it as `strict`; rows in the order first touched.
#[derive(Default)]
pub(crate) struct RowChanges {
    index: HashMap<Key, usize>,
    rows: Vec<(Key, Delta, bool)>,
}

impl RowChanges {
    fn add(&mut self, key: Key, delta: Delta, strict: bool) -> StoreResult<()> {
        match self.index.get(&key) {
            Some(&i) => {
                let (_, total, guard) = &mut self.rows[i];
                *total = total.checked_add(&delta).ok_or_else(|| {
                    StoreError::Conflict("a balance figure would overflow".into())
                })?;
                *guard |= strict;
            }
            None => {
                self.index.insert(key, self.rows.len());
                self.rows.push((key, delta, strict));
            }
        }
        Ok(())
    }
}

/// A claimed reservation to take off `reserved`.
pub(crate) struct Settlement<'a> {
    pub tenant: TenantId,
    pub reservation: &'a Reservation,
    /// Per line, the units that become allocated (`None`: none).
    pub committed: Option<&'a [i64]>,
    /// The kind of movement for what is not committed: `release` or `expire`.
    pub rest: MovementKind,
    pub actor: &'a str,
}

/// The movements and row changes that settle `settlements`: `commit` for
/// the committed units, `rest` for the others.
fn settlement_changes<'a>(
    settlements: &[Settlement<'a>],
    changes: &mut RowChanges,
    movements: &mut Vec<PendingMovement<'a>>,
) -> StoreResult<()> {
    for s in settlements {
        for (i, line) in s.reservation.lines.iter().enumerate() {
            let key = (line.sku_id, line.location_id);
            let committed = s.committed.map_or(0, |c| c[i]);
            let parts = [
                (MovementKind::Commit, committed),
                (s.rest, line.quantity - committed),
            ];
            for (kind, quantity) in parts {
                if quantity <= 0 {
                    continue;
                }
                let delta = kind.delta(quantity);
                changes.add(key, delta, false)?;
                movements.push(PendingMovement {
                    tenant: s.tenant,
                    key,
                    kind,
                    custom_type: None,
                    quantity,
                    delta,
                    reason: "",
                    reference: &s.reservation.reference,
                    actor: s.actor,
                    idempotency_key: None,
                    reservation_id: Some(s.reservation.id),
                    transfer_id: None,
                    bundle_sku_id: line.bundle.map(|b| b.sku_id),
                });
            }
        }
    }
    Ok(())
}

/// Settles claimed reservations on their own (the expiry job): locks their
/// rows, applies the changes and appends the movements; leaves the
/// `stock.changed` events in `events` for the caller to append.
pub(crate) async fn settle(
    tx: &mut Transaction<'_, Any>,
    settlements: &[Settlement<'_>],
    events: &mut Vec<NewEvent>,
) -> StoreResult<()> {
    let mut changes = RowChanges::default();
    let mut movements = Vec::new();
    settlement_changes(settlements, &mut changes, &mut movements)?;
    let keys: Vec<Key> = changes.rows.iter().map(|&(k, _, _)| k).collect();
    lock_rows(tx, &keys).await?;
    apply_deltas_into(tx, &changes.rows, events).await?;
    insert_movements(tx, &movements).await?;
    Ok(())
}

/// Records how much of each line of the claimed resolutions was committed:
/// one statement for full commits, one for releases, and one per line only
/// for partial commits.
async fn record_committed(
    tx: &mut Transaction<'_, Any>,
    claimed: &[Claimed<'_>],
) -> StoreResult<()> {
    let mut full = Vec::new();
    let mut none = Vec::new();
    let mut partial = Vec::new();
    for (_, r, _) in claimed {
        let lines = &r.reservation.lines;
        if lines
            .iter()
            .zip(&r.committed)
            .all(|(l, &c)| c == l.quantity)
        {
            full.push(r.reservation.id);
        } else if r.committed.iter().all(|&c| c == 0) {
            none.push(r.reservation.id);
        } else {
            partial.extend(
                lines
                    .iter()
                    .zip(&r.committed)
                    .map(|(l, &c)| (r.reservation.id, l.line_no, c)),
            );
        }
    }
    for (set, ids) in [("quantity", &full), ("0", &none)] {
        for chunk in ids.chunks(1_024) {
            let rows = padded(chunk.len());
            let sql = format!(
                "UPDATE reservation_lines SET committed = {set} \
                 WHERE reservation_id IN (SELECT column1 FROM (VALUES {}) AS v)",
                tuples(Placeholders::of(tx), rows, 1)
            );
            let mut query = sqlx::query(&sql);
            for _ in chunk.len()..rows {
                query = query.bind(None::<String>);
            }
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&mut **tx).await?;
        }
    }
    for (id, line_no, committed) in partial {
        sqlx::query(
            "UPDATE reservation_lines SET committed = $1 WHERE reservation_id = $2 AND line_no = $3",
        )
        .bind(committed)
        .bind(id.to_string())
        .bind(line_no)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// What the reservations are judged with, read in the batch's
/// transaction so that a change is never judged on a stale copy: each named
/// location's own policy, each channel's override (`None` when it has none),
/// and the SKUs whose stock is not tracked (`tracked = 0`: never refused for
/// stock, judged as `unlimited`).
#[derive(Debug, Default)]
struct Settings {
    locations: HashMap<LocationId, StockPolicy>,
    channels: HashMap<ChannelId, Option<StockPolicy>>,
    untracked: HashSet<SkuId>,
}

/// [`Settings`] in one statement: each of the three id lists is bound as
/// one JSON text ([`json_values_sql_at`]), so the SQL text is the same for
/// every batch, and the batch pays one round trip to the driver's thread
/// instead of three.
async fn current_settings(
    tx: &mut Transaction<'_, Any>,
    reserves: &[(usize, &ReserveRequest)],
) -> StoreResult<Settings> {
    /// The distinct ids as JSON rows of one text column.
    fn ids<T: std::fmt::Display + std::hash::Hash + Eq>(
        items: impl Iterator<Item = T>,
    ) -> StoreResult<String> {
        let set: HashSet<T> = items.collect();
        let rows: Vec<[String; 1]> = set.iter().map(|id| [id.to_string()]).collect();
        serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    let locations = ids(reserves.iter().flat_map(|(_, r)| {
        r.lines
            .iter()
            .flat_map(|l| l.candidates.iter().map(|&(id, _)| id))
    }))?;
    let channels = ids(reserves.iter().filter_map(|(_, r)| r.channel_id))?;
    let skus = ids(reserves
        .iter()
        .flat_map(|(_, r)| r.lines.iter().map(|l| l.sku)))?;
    let style = Placeholders::of(tx);
    let list = |param| json_values_sql_at(style, &[JsonCol::Text], param);
    let sql = format!(
        "SELECT 'location' AS what, id, policy FROM locations WHERE id IN ({}) \
         UNION ALL SELECT 'channel', id, policy FROM channels WHERE id IN ({}) \
         UNION ALL SELECT 'sku', id, NULL FROM skus WHERE tracked = 0 AND id IN ({})",
        list(1),
        list(2),
        list(3)
    );
    let rows = sqlx::query(&sql)
        .bind(locations)
        .bind(channels)
        .bind(skus)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = Settings::default();
    for row in rows {
        match text(&row, "what")?.as_str() {
            "location" => {
                out.locations
                    .insert(parsed(&row, "id")?, parsed(&row, "policy")?);
            }
            "channel" => {
                out.channels
                    .insert(parsed(&row, "id")?, opt_parsed(&row, "policy")?);
            }
            _ => {
                out.untracked.insert(parsed(&row, "id")?);
            }
        }
    }
    Ok(out)
}

/// Inserts the granted reservations and their lines: the ledger entries of
/// the stock they hold.
async fn insert_reservations(
    tx: &mut Transaction<'_, Any>,
    granted: &[(&ReserveRequest, &[LocationId])],
) -> StoreResult<()> {
    for chunk in granted.chunks(512) {
        let rows = padded(chunk.len());
        // Every new reservation is open; the state is a literal in SELECT.
        let sql = format!(
            "INSERT INTO reservations (id, tenant_id, channel_id, state, reference, actor, expires_at, created_at) \
             SELECT column1, column2, column3, 'open', column4, column5, column6, column7 \
             FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            tuples(Placeholders::of(tx), rows, 7)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            for _ in 0..5 {
                query = query.bind(None::<String>);
            }
            query = query.bind(None::<i64>).bind(None::<i64>);
        }
        for (request, _) in chunk {
            query = query
                .bind(request.id.to_string())
                .bind(request.tenant.to_string())
                .bind(request.channel_id.map(|c| c.to_string()))
                .bind(request.reference.clone())
                .bind(request.actor.clone())
                .bind(request.expires_at)
                .bind(request.created_at);
        }
        query.execute(&mut **tx).await?;
    }
    let mut lines = Vec::new();
    for (request, placements) in granted {
        for (i, (line, location)) in request.lines.iter().zip(placements.iter()).enumerate() {
            lines.push((
                request.id,
                i as i64 + 1,
                request.tenant,
                line.sku,
                *location,
                line.quantity,
                request.bundle_of(i),
            ));
        }
    }
    for chunk in lines.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "INSERT INTO reservation_lines (reservation_id, line_no, tenant_id, sku_id, location_id, quantity, \
             bundle_sku_id, bundle_line, bundle_quantity) \
             SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9 \
             FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            tuples(Placeholders::of(tx), rows, 9)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query
                .bind(None::<String>)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(None::<i64>)
                .bind(None::<i64>);
        }
        for (id, line_no, tenant, sku, location, quantity, bundle) in chunk {
            query = query
                .bind(id.to_string())
                .bind(*line_no)
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .bind(location.to_string())
                .bind(*quantity)
                .bind(bundle.map(|b| b.sku_id.to_string()))
                .bind(bundle.map(|b| b.line))
                .bind(bundle.map(|b| b.units));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_changes_sum_per_row_and_guard_if_any_grant_was_strict() {
        let key = (SkuId::new(), LocationId::new());
        let other = (SkuId::new(), LocationId::new());
        let mut changes = RowChanges::default();
        changes
            .add(key, MovementKind::Release.delta(2), false)
            .unwrap();
        changes.add(other, hold_delta(1), false).unwrap();
        changes.add(key, hold_delta(5), true).unwrap();
        assert_eq!(changes.rows.len(), 2);
        assert_eq!(changes.rows[0].0, key);
        assert_eq!(changes.rows[0].1.reserved, 3);
        assert!(changes.rows[0].2, "a strict grant guards the row");
        assert!(!changes.rows[1].2);
    }
}
