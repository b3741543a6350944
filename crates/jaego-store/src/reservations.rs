//! Reservations: pending transfers of stock, made pessimistically and then
//! committed, released or expired exactly once.
//!
//! Making a reservation is the hot path of a flash sale, so requests that
//! arrive together are applied together: [`execute_batch`] takes a whole
//! batch through the ledger's lock → judge → conditional-apply shape in a
//! handful of statements, whatever the batch size, and answers each request
//! on its own. With group commit off, each request is a batch of one.

use std::collections::{HashMap, HashSet};

use jaego_core::judge::{self, LineRequest, Outcome};
use jaego_core::limits::{EXPIRY_BATCH_MAX, RESERVATION_LINES_MAX, RESERVATION_TTL_SECS_MAX};
use jaego_core::reservation::{Resolution, ResolveError};
use jaego_core::{
    ChannelId, Delta, InvalidInput, LocationId, MovementKind, Qty, ReservationId, ReservationState,
    SkuId, StockPolicy, TenantId,
};
use serde_json::json;
use sqlx::{Any, AnyPool, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::events::{self, NewEvent, kinds};
use crate::ledger::{
    Key, PendingMovement, apply_deltas, ensure_tenant_rows, insert_movements, lock_rows,
};
use crate::rows::{Placeholders, int, opt_int, opt_parsed, padded, parsed, text, tuples};
use crate::{Store, now_us};

/// Where a reservation takes stock from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One location, by id or code.
    Location(String),
    /// A channel's linked locations in priority order, by id or code.
    Channel(String),
}

/// A reservation as a client asks for it, with SKUs and places by id or code.
#[derive(Debug, Clone)]
pub struct ReserveInput {
    pub source: Source,
    /// (SKU id or code, quantity) per line.
    pub lines: Vec<(String, i64)>,
    pub ttl_secs: i64,
    pub reference: String,
    pub actor: String,
}

/// A reservation resolved to ids and policies, ready for the judge.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub id: ReservationId,
    pub tenant: TenantId,
    pub channel_id: Option<ChannelId>,
    pub lines: Vec<LineRequest<SkuId, LocationId>>,
    pub expires_at: i64,
    pub created_at: i64,
    pub reference: String,
    pub actor: String,
}

#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: ReservationId,
    pub channel_id: Option<ChannelId>,
    pub state: ReservationState,
    pub reference: String,
    pub actor: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub lines: Vec<ReservationLine>,
}

#[derive(Debug, Clone)]
pub struct ReservationLine {
    pub line_no: i64,
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub quantity: i64,
    /// How much of the line became allocated stock, once committed.
    pub committed: Option<i64>,
}

/// The event of a reservation reaching `state` (`kind` names it).
fn reservation_event(tenant: TenantId, kind: &'static str, r: &Reservation) -> NewEvent {
    let mut event = NewEvent::new(
        tenant,
        kind,
        json!({
            "id": r.id.to_string(),
            "state": r.state.as_str(),
            "channel_id": r.channel_id.map(|c| c.to_string()),
            "reference": r.reference,
            "expires_at": events::time_text(r.expires_at),
            "resolved_at": r.resolved_at.map(events::time_text),
            "lines": r.lines.iter().map(|l| json!({
                "line": l.line_no,
                "sku_id": l.sku_id.to_string(),
                "location_id": l.location_id.to_string(),
                "quantity": l.quantity,
                "committed": l.committed,
            })).collect::<Vec<_>>(),
        }),
    )
    .subject(r.id);
    if let Some(channel) = r.channel_id {
        event = event.channel(channel);
    }
    // A one-line reservation is filterable by its SKU and location.
    if let [line] = r.lines.as_slice() {
        event = event.sku(line.sku_id).location(line.location_id);
    }
    event
}

impl Store {
    /// Resolves codes to ids, the source to candidate locations with their
    /// policies, and checks the limits. Reads only.
    pub async fn prepare_reservation(
        &self,
        tenant: TenantId,
        input: &ReserveInput,
    ) -> StoreResult<ReserveRequest> {
        if input.lines.is_empty() {
            return Err(InvalidInput::one("lines", "must have at least one line").into());
        }
        if input.lines.len() > RESERVATION_LINES_MAX {
            return Err(InvalidInput::one(
                "lines",
                format!(
                    "has {} lines; the limit is {RESERVATION_LINES_MAX}",
                    input.lines.len()
                ),
            )
            .into());
        }
        if !(1..=RESERVATION_TTL_SECS_MAX).contains(&input.ttl_secs) {
            return Err(InvalidInput::one(
                "ttl_secs",
                format!("must be between 1 and {RESERVATION_TTL_SECS_MAX}"),
            )
            .into());
        }
        for (i, (_, q)) in input.lines.iter().enumerate() {
            Qty::parse(&format!("lines[{i}].quantity"), *q)?;
        }
        // Only ids are resolved here; the policies are read inside the
        // batch's transaction (`current_policies`), so a change of policy is
        // never judged on a stale copy. `Strict` below is a placeholder.
        let lookups = &self.inner.lookups;
        let (channel_id, candidates) = match &input.source {
            Source::Location(key) => {
                let id = match lookups.locations.get(tenant, key) {
                    Some(id) => id,
                    None => {
                        let id = self.find_location(tenant, key).await?.id;
                        lookups.locations.remember(tenant, key, id);
                        id
                    }
                };
                (None, vec![(id, StockPolicy::Strict)])
            }
            Source::Channel(key) => {
                let channel = self.find_channel(tenant, key).await?;
                if channel.locations.is_empty() {
                    return Err(InvalidInput::one(
                        "channel",
                        format!("channel {:?} has no linked locations", channel.code),
                    )
                    .into());
                }
                let candidates = channel
                    .locations
                    .iter()
                    .map(|&id| (id, StockPolicy::Strict))
                    .collect();
                (Some(channel.id), candidates)
            }
        };
        let mut lines = Vec::with_capacity(input.lines.len());
        for (i, (sku, quantity)) in input.lines.iter().enumerate() {
            let id = match lookups.skus.get(tenant, sku) {
                Some(id) => id,
                None => {
                    let id = self.sku_id(tenant, sku).await.map_err(|e| match e {
                        StoreError::NotFound { .. } => StoreError::NotFound {
                            entity: "sku",
                            key: format!("{sku} (lines[{i}])"),
                        },
                        other => other,
                    })?;
                    lookups.skus.remember(tenant, sku, id);
                    id
                }
            };
            lines.push(LineRequest {
                sku: id,
                candidates: candidates.clone(),
                quantity: *quantity,
            });
        }
        let now = now_us();
        Ok(ReserveRequest {
            id: ReservationId::new(),
            tenant,
            channel_id,
            lines,
            expires_at: now + input.ttl_secs * 1_000_000,
            created_at: now,
            reference: input.reference.clone(),
            actor: input.actor.clone(),
        })
    }

    /// Makes a reservation: all lines or none. Goes through the group-commit
    /// worker when it runs, so concurrent reservations share a transaction.
    pub async fn reserve(&self, request: ReserveRequest) -> StoreResult<Reservation> {
        match &self.inner.batcher {
            Some(batcher) => batcher.submit(request).await,
            None => {
                let result = execute_batch(self.writer(), vec![request])
                    .await
                    .pop()
                    .unwrap_or(Err(StoreError::ShuttingDown));
                self.events_committed();
                result
            }
        }
    }

    pub async fn get_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
    ) -> StoreResult<Reservation> {
        let row = sqlx::query(
            "SELECT id, channel_id, state, reference, actor, expires_at, created_at, resolved_at FROM reservations \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await?
        .ok_or_else(|| StoreError::not_found("reservation", id))?;
        let lines = sqlx::query(
            "SELECT line_no, sku_id, location_id, quantity, committed FROM reservation_lines \
             WHERE reservation_id = $1 AND tenant_id = $2 ORDER BY line_no",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_all(self.reader())
        .await?;
        Ok(Reservation {
            id: parsed(&row, "id")?,
            channel_id: opt_parsed(&row, "channel_id")?,
            state: parsed(&row, "state")?,
            reference: text(&row, "reference")?,
            actor: text(&row, "actor")?,
            expires_at: int(&row, "expires_at")?,
            created_at: int(&row, "created_at")?,
            resolved_at: opt_int(&row, "resolved_at")?,
            lines: lines
                .iter()
                .map(|r| {
                    Ok(ReservationLine {
                        line_no: int(r, "line_no")?,
                        sku_id: parsed(r, "sku_id")?,
                        location_id: parsed(r, "location_id")?,
                        quantity: int(r, "quantity")?,
                        committed: opt_int(r, "committed")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?,
        })
    }

    /// Commits an open reservation: `commit` names, per line number, how
    /// much becomes allocated (lines not named, and the rest of named lines,
    /// are released); `None` commits everything.
    pub async fn commit_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
        commit: Option<&[(i64, i64)]>,
        actor: &str,
    ) -> StoreResult<Reservation> {
        self.resolve(tenant, id, Resolution::Commit, commit, actor)
            .await
    }

    /// Releases an open reservation: all its stock is available again.
    pub async fn release_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
        actor: &str,
    ) -> StoreResult<Reservation> {
        self.resolve(tenant, id, Resolution::Release, None, actor)
            .await
    }

    async fn resolve(
        &self,
        tenant: TenantId,
        id: ReservationId,
        resolution: Resolution,
        commit: Option<&[(i64, i64)]>,
        actor: &str,
    ) -> StoreResult<Reservation> {
        let current = self.get_reservation(tenant, id).await?;
        let now = now_us();
        let next = current
            .state
            .resolve(resolution, now, current.expires_at)
            .map_err(|e| match e {
                ResolveError::AlreadyResolved(state) => StoreError::AlreadyResolved(state),
                ResolveError::Expired => StoreError::Expired,
            })?;
        // Only a commit allocates; a release gives every unit back.
        let committed = match resolution {
            Resolution::Commit => plan_commit(&current.lines, commit)?,
            Resolution::Release | Resolution::Expire => vec![0; current.lines.len()],
        };
        let mut tx = self.writer().begin().await?;
        // The exactly-once guard: only one resolution can move it off `open`.
        let claimed = sqlx::query("UPDATE reservations SET state = $1, resolved_at = $2 WHERE tenant_id = $3 AND id = $4 AND state = 'open'")
            .bind(next.as_str())
            .bind(now)
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            drop(tx);
            let state = self.get_reservation(tenant, id).await?.state;
            return Err(StoreError::AlreadyResolved(state));
        }
        // What is not committed goes back as a release (expiry has its own
        // path, `expire_due`).
        let plan: Vec<(ReservationLine, i64)> = current.lines.into_iter().zip(committed).collect();
        settle_lines(
            &mut tx,
            tenant,
            id,
            &plan,
            MovementKind::Release,
            actor,
            &current.reference,
        )
        .await?;
        // The answer is what was just written; no need to read it back.
        let resolved = Reservation {
            state: next,
            resolved_at: Some(now),
            lines: plan
                .into_iter()
                .map(|(line, c)| ReservationLine {
                    committed: Some(c),
                    ..line
                })
                .collect(),
            ..current
        };
        let kind = match next {
            ReservationState::Committed => kinds::RESERVATION_COMMITTED,
            _ => kinds::RESERVATION_RELEASED,
        };
        events::append(&mut tx, &[reservation_event(tenant, kind, &resolved)]).await?;
        tx.commit().await?;
        self.events_committed();
        Ok(resolved)
    }

    /// Expires up to `limit` (at most [`EXPIRY_BATCH_MAX`]) open reservations
    /// whose time ran out by `now`, in one transaction. Returns how many.
    /// Safe to run on several instances at once: each reservation is claimed
    /// by exactly one conditional update.
    pub async fn expire_due(&self, now: i64, limit: usize) -> StoreResult<usize> {
        let limit = limit.clamp(1, EXPIRY_BATCH_MAX) as i64;
        let mut tx = self.writer().begin().await?;
        let claimed = sqlx::query(
            "UPDATE reservations SET state = 'expired', resolved_at = $1 \
             WHERE state = 'open' AND expires_at <= $1 AND id IN \
               (SELECT id FROM reservations WHERE state = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2) \
             RETURNING id, tenant_id, channel_id, reference, actor, expires_at, created_at",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut expired = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let id: ReservationId = parsed(row, "id")?;
            let tenant: TenantId = parsed(row, "tenant_id")?;
            let reference = text(row, "reference")?;
            let lines = sqlx::query("SELECT line_no, sku_id, location_id, quantity FROM reservation_lines WHERE reservation_id = $1 ORDER BY line_no")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
            let plan = lines
                .iter()
                .map(|r| {
                    Ok((
                        ReservationLine {
                            line_no: int(r, "line_no")?,
                            sku_id: parsed(r, "sku_id")?,
                            location_id: parsed(r, "location_id")?,
                            quantity: int(r, "quantity")?,
                            committed: None,
                        },
                        0,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            settle_lines(
                &mut tx,
                tenant,
                id,
                &plan,
                MovementKind::Expire,
                "system:expiry",
                &reference,
            )
            .await?;
            let reservation = Reservation {
                id,
                channel_id: opt_parsed(row, "channel_id")?,
                state: ReservationState::Expired,
                reference,
                actor: text(row, "actor")?,
                expires_at: int(row, "expires_at")?,
                created_at: int(row, "created_at")?,
                resolved_at: Some(now),
                lines: plan.into_iter().map(|(line, _)| line).collect(),
            };
            expired.push(reservation_event(
                tenant,
                kinds::RESERVATION_EXPIRED,
                &reservation,
            ));
        }
        events::append(&mut tx, &expired).await?;
        tx.commit().await?;
        self.events_committed();
        Ok(claimed.len())
    }
}

/// How much of each line to commit, from the client's `(line_no, quantity)`
/// list; checks every named line exists and is not over-committed.
fn plan_commit(lines: &[ReservationLine], commit: Option<&[(i64, i64)]>) -> StoreResult<Vec<i64>> {
    let Some(commit) = commit else {
        return Ok(lines.iter().map(|l| l.quantity).collect());
    };
    if commit.is_empty() {
        // Committing nothing would mark the reservation committed with no
        // stock allocated; that is a release, and should say so.
        return Err(InvalidInput::one(
            "lines",
            "name at least one line, or omit lines to commit everything; release to commit nothing",
        )
        .into());
    }
    let mut planned = vec![0; lines.len()];
    let mut seen = HashSet::new();
    for (i, &(line_no, quantity)) in commit.iter().enumerate() {
        let field = format!("lines[{i}]");
        let Some(index) = lines.iter().position(|l| l.line_no == line_no) else {
            return Err(
                InvalidInput::one(field, format!("reservation has no line {line_no}")).into(),
            );
        };
        if !seen.insert(line_no) {
            return Err(InvalidInput::one(field, format!("line {line_no} is named twice")).into());
        }
        if quantity < 0 || quantity > lines[index].quantity {
            return Err(InvalidInput::one(
                format!("{field}.quantity"),
                format!("must be between 0 and {}", lines[index].quantity),
            )
            .into());
        }
        planned[index] = quantity;
    }
    Ok(planned)
}

/// Takes resolved lines off `reserved`: `committed` units become allocated
/// (a `commit` movement), the rest is released with `release_kind`.
async fn settle_lines(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    id: ReservationId,
    plan: &[(ReservationLine, i64)],
    release_kind: MovementKind,
    actor: &str,
    reference: &str,
) -> StoreResult<()> {
    let keys: Vec<Key> = plan
        .iter()
        .map(|(l, _)| (l.sku_id, l.location_id))
        .collect();
    lock_rows(tx, &keys).await?;
    let mut deltas: Vec<(Key, Delta, bool)> = Vec::new();
    let mut movements = Vec::new();
    for (line, committed) in plan {
        let key = (line.sku_id, line.location_id);
        let mut parts = Vec::new();
        if *committed > 0 {
            parts.push((MovementKind::Commit, *committed));
        }
        if line.quantity - committed > 0 {
            parts.push((release_kind, line.quantity - committed));
        }
        for (kind, quantity) in parts {
            let delta = kind.delta(quantity);
            match deltas.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, total, _)) => {
                    *total = total
                        .checked_add(&delta)
                        .ok_or_else(|| StoreError::Conflict("overflow".into()))?;
                }
                None => deltas.push((key, delta, false)),
            }
            movements.push(PendingMovement {
                tenant,
                key,
                kind,
                custom_type: None,
                quantity,
                delta,
                reason: "",
                reference,
                actor,
                idempotency_key: None,
                reservation_id: Some(id),
                transfer_id: None,
            });
        }
    }
    apply_deltas(tx, &deltas).await?;
    insert_movements(tx, &movements).await?;
    if release_kind != MovementKind::Expire {
        for (line, committed) in plan {
            sqlx::query("UPDATE reservation_lines SET committed = $1 WHERE reservation_id = $2 AND line_no = $3")
                .bind(*committed)
                .bind(id.to_string())
                .bind(line.line_no)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Applies a batch of reservation requests in one transaction and answers
/// each: granted requests get their reservation, short ones a shortage.
/// A database failure fails the whole batch (nothing was applied).
pub(crate) async fn execute_batch(
    pool: &AnyPool,
    requests: Vec<ReserveRequest>,
) -> Vec<StoreResult<Reservation>> {
    const ATTEMPTS: usize = 3;
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match try_batch(pool, &requests).await {
            Ok(results) => return results,
            // A PostgreSQL deadlock or serialization failure with another
            // writer: the transaction was rolled back, so try again.
            Err(StoreError::Database(sqlx::Error::Database(db)))
                if matches!(db.code().as_deref(), Some("40P01" | "40001")) =>
            {
                last = db.to_string();
            }
            Err(e) => {
                tracing::error!(error = %e, requests = requests.len(), "reservation batch failed");
                last = e.to_string();
                break;
            }
        }
    }
    requests
        .iter()
        .map(|_| Err(StoreError::Unavailable(last.clone())))
        .collect()
}

async fn try_batch(
    pool: &AnyPool,
    requests: &[ReserveRequest],
) -> StoreResult<Vec<StoreResult<Reservation>>> {
    let mut tenant_keys: Vec<(TenantId, Key)> = Vec::new();
    let mut seen = HashSet::new();
    for request in requests {
        for line in &request.lines {
            for &(location, _) in &line.candidates {
                if seen.insert((line.sku, location)) {
                    tenant_keys.push((request.tenant, (line.sku, location)));
                }
            }
        }
    }
    let keys: Vec<Key> = tenant_keys.iter().map(|&(_, k)| k).collect();
    let mut tx = pool.begin().await?;
    ensure_tenant_rows(&mut tx, &tenant_keys).await?;
    let rows = lock_rows(&mut tx, &keys).await?;
    let (location_policies, channel_policies) = current_policies(&mut tx, requests).await?;
    let untracked = untracked_skus(&mut tx, requests).await?;
    let batch: Vec<Vec<LineRequest<SkuId, LocationId>>> = requests
        .iter()
        .map(|r| {
            let channel_policy = r
                .channel_id
                .and_then(|c| channel_policies.get(&c).copied().flatten());
            r.lines
                .iter()
                .map(|line| LineRequest {
                    candidates: line
                        .candidates
                        .iter()
                        .map(|&(l, _)| {
                            // A SKU without stock tracking sells freely.
                            let policy = if untracked.contains(&line.sku) {
                                StockPolicy::Unlimited
                            } else {
                                channel_policy
                                    .or(location_policies.get(&l).copied())
                                    .unwrap_or_default()
                            };
                            (l, policy)
                        })
                        .collect(),
                    ..line.clone()
                })
                .collect()
        })
        .collect();
    let judgement = judge::judge(&rows, &batch);

    // A row is guarded in SQL as strict unless some grant on it was unlimited.
    let mut unlimited: HashSet<Key> = HashSet::new();
    let mut granted = Vec::new();
    let mut movements = Vec::new();
    let mut line_rows = 0;
    for ((request, lines), outcome) in requests.iter().zip(&batch).zip(&judgement.outcomes) {
        if let Outcome::Granted(placements) = outcome {
            for (line, location) in lines.iter().zip(placements) {
                let policy = line
                    .candidates
                    .iter()
                    .find(|(l, _)| l == location)
                    .map_or(StockPolicy::Strict, |&(_, p)| p);
                if policy == StockPolicy::Unlimited {
                    unlimited.insert((line.sku, *location));
                }
                movements.push(PendingMovement {
                    tenant: request.tenant,
                    key: (line.sku, *location),
                    kind: MovementKind::Reserve,
                    custom_type: None,
                    quantity: line.quantity,
                    delta: MovementKind::Reserve.delta(line.quantity),
                    reason: "",
                    reference: &request.reference,
                    actor: &request.actor,
                    idempotency_key: None,
                    reservation_id: Some(request.id),
                    transfer_id: None,
                });
            }
            line_rows += request.lines.len();
            granted.push((request, placements));
        }
    }
    let deltas: Vec<(Key, Delta, bool)> = judgement
        .reserved_totals
        .iter()
        .map(|&(key, total)| {
            (
                key,
                MovementKind::Reserve.delta(total),
                !unlimited.contains(&key),
            )
        })
        .collect();
    let mut placed: HashMap<ReservationId, &Vec<LocationId>> =
        granted.iter().map(|(r, p)| (r.id, *p)).collect();
    let results: Vec<StoreResult<Reservation>> = requests
        .iter()
        .zip(judgement.outcomes.iter())
        .map(|(request, outcome)| match outcome {
            Outcome::Granted(_) => {
                let placements = placed.remove(&request.id).cloned().unwrap_or_default();
                Ok(Reservation {
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
                        .map(|(i, (line, location))| ReservationLine {
                            line_no: i as i64 + 1,
                            sku_id: line.sku,
                            location_id: location,
                            quantity: line.quantity,
                            committed: None,
                        })
                        .collect(),
                })
            }
            Outcome::Short(shortages) => Err(StoreError::Shortage(shortages.clone())),
        })
        .collect();
    if !granted.is_empty() {
        apply_deltas(&mut tx, &deltas).await?;
        insert_reservations(&mut tx, &granted, line_rows).await?;
        insert_movements(&mut tx, &movements).await?;
        let created: Vec<NewEvent> = requests
            .iter()
            .zip(&results)
            .filter_map(|(request, result)| {
                let reservation = result.as_ref().ok()?;
                Some(reservation_event(
                    request.tenant,
                    kinds::RESERVATION_CREATED,
                    reservation,
                ))
            })
            .collect();
        events::append(&mut tx, &created).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// The policies of every location and channel the batch names, read in the
/// batch's transaction: a location's own policy, and a channel's override
/// (`None` when the channel has none).
async fn current_policies(
    tx: &mut Transaction<'_, Any>,
    requests: &[ReserveRequest],
) -> StoreResult<(
    HashMap<LocationId, StockPolicy>,
    HashMap<ChannelId, Option<StockPolicy>>,
)> {
    let locations: Vec<String> = requests
        .iter()
        .flat_map(|r| {
            r.lines
                .iter()
                .flat_map(|l| l.candidates.iter().map(|&(id, _)| id))
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let channels: Vec<String> = requests
        .iter()
        .filter_map(|r| r.channel_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut location_policies = HashMap::new();
    for row in select_policies(tx, "locations", &locations).await? {
        location_policies.insert(parsed(&row, "id")?, parsed(&row, "policy")?);
    }
    let mut channel_policies = HashMap::new();
    for row in select_policies(tx, "channels", &channels).await? {
        channel_policies.insert(parsed(&row, "id")?, opt_parsed(&row, "policy")?);
    }
    Ok((location_policies, channel_policies))
}

/// The batch's SKUs whose stock is not tracked (`tracked = 0`), read in
/// the batch's transaction like the policies: such a SKU is never refused
/// for stock (it is judged as `unlimited`).
async fn untracked_skus(
    tx: &mut Transaction<'_, Any>,
    requests: &[ReserveRequest],
) -> StoreResult<HashSet<SkuId>> {
    let skus: Vec<String> = requests
        .iter()
        .flat_map(|r| r.lines.iter().map(|l| l.sku))
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut out = HashSet::new();
    for chunk in skus.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "SELECT id FROM skus WHERE tracked = 0 AND id IN (SELECT column1 FROM (VALUES {}) AS v)",
            tuples(Placeholders::of(tx), rows, 1)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.insert(parsed(&row, "id")?);
        }
    }
    Ok(out)
}

/// `SELECT id, policy FROM {table}` for `ids`, the id list padded like every
/// batch statement so its SQL text is reused.
async fn select_policies(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    ids: &[String],
) -> StoreResult<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "SELECT id, policy FROM {table} WHERE id IN (SELECT column1 FROM (VALUES {}) AS v)",
            tuples(Placeholders::of(tx), rows, 1)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query.bind(None::<String>);
        }
        for id in chunk {
            query = query.bind(id.as_str());
        }
        out.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

async fn insert_reservations(
    tx: &mut Transaction<'_, Any>,
    granted: &[(&ReserveRequest, &Vec<LocationId>)],
    line_rows: usize,
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
    let mut lines = Vec::with_capacity(line_rows);
    for (request, placements) in granted {
        for (i, (line, location)) in request.lines.iter().zip(placements.iter()).enumerate() {
            lines.push((
                request.id,
                i as i64 + 1,
                request.tenant,
                line.sku,
                *location,
                line.quantity,
            ));
        }
    }
    for chunk in lines.chunks(1_024) {
        let rows = padded(chunk.len());
        let sql = format!(
            "INSERT INTO reservation_lines (reservation_id, line_no, tenant_id, sku_id, location_id, quantity) \
             SELECT column1, column2, column3, column4, column5, column6 FROM (VALUES {}) AS v WHERE column1 IS NOT NULL",
            tuples(Placeholders::of(tx), rows, 6)
        );
        let mut query = sqlx::query(&sql);
        for _ in chunk.len()..rows {
            query = query
                .bind(None::<String>)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<i64>);
        }
        for (id, line_no, tenant, sku, location, quantity) in chunk {
            query = query
                .bind(id.to_string())
                .bind(*line_no)
                .bind(tenant.to_string())
                .bind(sku.to_string())
                .bind(location.to_string())
                .bind(*quantity);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
