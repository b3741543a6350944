//! Reservations: pending transfers of stock, made pessimistically and then
//! committed, released or expired exactly once.
//!
//! A reservation is itself the ledger entry of the stock it holds (TigerBeetle's
//! pending transfer): its lines raise `reserved`, and no movement is written
//! for it. Its resolution writes the movements: `commit` (`reserved −q`,
//! `allocated +q`) and `release` or `expire` (`reserved −q`) for the rest.
//!
//! Making, committing and releasing reservations are the hot paths of a
//! flash sale, so requests that arrive together are applied together: the
//! group-commit worker ([`crate::batcher`]) hands a whole batch to
//! [`crate::batch::execute_batch`], which takes it through the ledger's lock →
//! judge → conditional-apply shape in a handful of statements, whatever the
//! batch size, and answers each request on its own. With group commit off,
//! each request is a batch of one. Expiry claims up to
//! [`EXPIRY_BATCH_MAX`] reservations per transaction by itself.

use std::collections::{HashMap, HashSet};

use jaego_core::judge::LineRequest;
use jaego_core::limits::{
    EXPIRY_BATCH_MAX, QUANTITY_MAX, RESERVATION_COMPONENT_LINES_MAX, RESERVATION_LINES_MAX,
    RESERVATION_TTL_SECS_MAX,
};
use jaego_core::reservation::{Resolution, ResolveError};
use jaego_core::{
    ChannelId, InvalidInput, LocationId, MovementKind, Qty, ReservationId, ReservationState, SkuId,
    StockPolicy, TenantId,
};

use crate::audit::AuditEntry;
use crate::batch::{self, Job};
use crate::batcher::apply_alone;
use crate::error::{StoreError, StoreResult, retry_write_conflicts};
use crate::events::{self, NewEvent, kinds};
use crate::rows::{int, opt_int, opt_parsed, parsed, text};
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
    /// The lines the judge sees: a bundle line is its component lines,
    /// joined (placed together).
    pub lines: Vec<LineRequest<SkuId, LocationId>>,
    /// Per line of `lines`, where it came from, when the request has a
    /// bundle line; empty when every line is a plain SKU's (the hot path
    /// allocates nothing for it).
    pub origins: Vec<LineOrigin>,
    pub expires_at: i64,
    pub created_at: i64,
    pub reference: String,
    pub actor: String,
    /// The audit entry of the HTTP request that asked for it, written in
    /// the batch's own transaction if the reservation is granted (so the
    /// change and its audit entry commit together, with one fsync).
    pub audit: Option<AuditEntry>,
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

/// A commit or release, read and checked, ready for the batch.
#[derive(Debug, Clone)]
pub struct ResolveRequest {
    pub tenant: TenantId,
    /// `Commit` or `Release` (expiry has its own path).
    pub resolution: Resolution,
    /// The reservation as read before the batch. Its lines never change;
    /// its state is claimed again in the batch.
    pub reservation: Reservation,
    /// Per line, the units that become allocated; the rest is released.
    pub committed: Vec<i64>,
    pub actor: String,
    /// As [`ReserveRequest::audit`]: written with the resolution.
    pub audit: Option<AuditEntry>,
}

#[derive(Debug, Clone)]
pub struct ReservationLine {
    pub line_no: i64,
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub quantity: i64,
    /// How much of the line became allocated stock, once committed.
    pub committed: Option<i64>,
    /// For a component line of a bundle line: the bundle it was made for.
    pub bundle: Option<BundleRef>,
}

/// The bundle line a reservation line was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleRef {
    pub sku_id: SkuId,
    /// The client's line number (1-based) of the bundle line.
    pub line: i64,
    /// Bundle units of that line.
    pub units: i64,
}

/// Where a judged line came from: the client's line index, and the bundle
/// when it is a component line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineOrigin {
    pub line: usize,
    pub bundle: Option<(SkuId, i64)>,
}

impl ReserveRequest {
    /// The client's line index of judged line `i`.
    pub(crate) fn client_line(&self, i: usize) -> usize {
        self.origins.get(i).map_or(i, |o| o.line)
    }

    /// The bundle reference of judged line `i`.
    pub(crate) fn bundle_of(&self, i: usize) -> Option<BundleRef> {
        let o = self.origins.get(i)?;
        let (sku_id, units) = o.bundle?;
        Some(BundleRef {
            sku_id,
            line: o.line as i64 + 1,
            units,
        })
    }
}

/// The event of a reservation reaching `state` (`kind` names it).
pub(crate) fn reservation_event(tenant: TenantId, kind: &'static str, r: &Reservation) -> NewEvent {
    // Fields in alphabetical order, as a `json!` object writes them.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        channel_id: Option<String>,
        expires_at: String,
        id: String,
        lines: Vec<Line>,
        reference: &'a str,
        resolved_at: Option<String>,
        state: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Line {
        #[serde(skip_serializing_if = "Option::is_none")]
        bundle: Option<BundleBody>,
        committed: Option<i64>,
        line: i64,
        location_id: String,
        quantity: i64,
        sku_id: String,
    }
    #[derive(serde::Serialize)]
    struct BundleBody {
        line: i64,
        sku_id: String,
        units: i64,
    }
    let body = Body {
        channel_id: r.channel_id.map(|c| c.to_string()),
        expires_at: events::time_text(r.expires_at),
        id: r.id.to_string(),
        lines: r
            .lines
            .iter()
            .map(|l| Line {
                bundle: l.bundle.map(|b| BundleBody {
                    line: b.line,
                    sku_id: b.sku_id.to_string(),
                    units: b.units,
                }),
                committed: l.committed,
                line: l.line_no,
                location_id: l.location_id.to_string(),
                quantity: l.quantity,
                sku_id: l.sku_id.to_string(),
            })
            .collect(),
        reference: &r.reference,
        resolved_at: r.resolved_at.map(events::time_text),
        state: r.state.as_str(),
    };
    let mut event = NewEvent::serialized(tenant, kind, &body).subject(r.id);
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
            // The field name is built only for a bad quantity (hot path).
            if Qty::parse("", *q).is_err() {
                Qty::parse(&format!("lines[{i}].quantity"), *q)?;
            }
        }
        // Only ids are resolved here; the policies are read inside the
        // batch's transaction (`current_settings`), so a change of policy is
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
        let mut refs = Vec::with_capacity(input.lines.len());
        for (i, (sku, _)) in input.lines.iter().enumerate() {
            // Remembered after the first read: no query for a known SKU.
            refs.push(self.sku_ref(tenant, sku).await.map_err(|e| match e {
                StoreError::NotFound { .. } => StoreError::NotFound {
                    entity: "sku",
                    key: format!("{sku} (lines[{i}])"),
                },
                other => other,
            })?);
        }
        // The bundles' recipes as they are now, in one read (none without
        // a bundle line: the hot path pays nothing).
        let bundle_ids: Vec<SkuId> = refs.iter().filter(|r| r.1).map(|r| r.0).collect();
        let recipes = if bundle_ids.is_empty() {
            HashMap::new()
        } else {
            self.recipes(tenant, &bundle_ids).await?
        };
        let mut lines = Vec::with_capacity(input.lines.len());
        let mut origins: Vec<LineOrigin> = Vec::new();
        for (i, ((_, quantity), &(id, is_bundle))) in input.lines.iter().zip(&refs).enumerate() {
            if !is_bundle {
                if !origins.is_empty() {
                    origins.push(LineOrigin {
                        line: i,
                        bundle: None,
                    });
                }
                lines.push(LineRequest {
                    sku: id,
                    candidates: candidates.clone(),
                    quantity: *quantity,
                    joined: false,
                });
                continue;
            }
            // A bundle line: its components, with the recipe as it is now.
            if origins.is_empty() {
                origins.extend((0..lines.len()).map(|line| LineOrigin { line, bundle: None }));
            }
            let recipe = recipes
                .get(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("bundle {id} has no recipe")))?;
            let parts = jaego_core::bundle::expand(recipe, *quantity).ok_or_else(|| {
                InvalidInput::one(
                    format!("lines[{i}].quantity"),
                    format!("{quantity} bundles need more than {QUANTITY_MAX} of a component"),
                )
            })?;
            for (k, (component, units)) in parts.into_iter().enumerate() {
                origins.push(LineOrigin {
                    line: i,
                    bundle: Some((id, *quantity)),
                });
                lines.push(LineRequest {
                    sku: component,
                    candidates: candidates.clone(),
                    quantity: units,
                    joined: k > 0,
                });
            }
        }
        if lines.len() > RESERVATION_COMPONENT_LINES_MAX {
            return Err(InvalidInput::one(
                "lines",
                format!(
                    "needs {} component lines once bundles are expanded; the limit is {RESERVATION_COMPONENT_LINES_MAX}",
                    lines.len()
                ),
            )
            .into());
        }
        let now = now_us();
        Ok(ReserveRequest {
            id: ReservationId::new(),
            tenant,
            channel_id,
            lines,
            origins,
            expires_at: now + input.ttl_secs * 1_000_000,
            created_at: now,
            reference: input.reference.clone(),
            actor: input.actor.clone(),
            audit: None,
        })
    }

    /// Makes a reservation: all lines or none. Goes through the group-commit
    /// worker when it runs, so concurrent reservations share a transaction.
    pub async fn reserve(&self, request: ReserveRequest) -> StoreResult<Reservation> {
        self.submit(Job::Reserve(request)).await
    }

    /// Hands `job` to the group-commit worker, or, with group commit off,
    /// runs it as a batch of one.
    async fn submit(&self, job: Job) -> StoreResult<Reservation> {
        match &self.inner.batcher {
            Some(batcher) => batcher.submit(job).await,
            None => apply_alone(self.writer(), self.engine(), &self.inner.events, job).await,
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
            "SELECT line_no, sku_id, location_id, quantity, committed, bundle_sku_id, bundle_line, bundle_quantity \
             FROM reservation_lines WHERE reservation_id = $1 AND tenant_id = $2 ORDER BY line_no",
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
                .map(line_from_row)
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
        self.resolve_reservation(tenant, id, Resolution::Commit, commit, actor, None)
            .await
    }

    /// Releases an open reservation: all its stock is available again.
    pub async fn release_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
        actor: &str,
    ) -> StoreResult<Reservation> {
        self.resolve_reservation(tenant, id, Resolution::Release, None, actor, None)
            .await
    }

    /// Commits (`commit` as for [`Store::commit_reservation`]) or releases
    /// a reservation. Reads the reservation, answers at once what is
    /// already decided (unknown, resolved, expired, a bad commit plan), and
    /// hands the rest to the group-commit worker, which judges it again on
    /// its own clock and claims it with a conditional update in its batch's
    /// transaction. `audit`, if given, is written in that transaction when
    /// the resolution succeeds.
    pub async fn resolve_reservation(
        &self,
        tenant: TenantId,
        id: ReservationId,
        resolution: Resolution,
        commit: Option<&[(i64, i64)]>,
        actor: &str,
        audit: Option<AuditEntry>,
    ) -> StoreResult<Reservation> {
        let reservation = self.get_reservation(tenant, id).await?;
        reservation
            .state
            .resolve(resolution, now_us(), reservation.expires_at)
            .map_err(resolve_error)?;
        // Only a commit allocates; a release gives every unit back.
        let committed = match resolution {
            Resolution::Commit => plan_commit(&reservation.lines, commit)?,
            Resolution::Release | Resolution::Expire => vec![0; reservation.lines.len()],
        };
        self.submit(Job::Resolve(ResolveRequest {
            tenant,
            resolution,
            reservation,
            committed,
            actor: actor.to_string(),
            audit,
        }))
        .await
    }

    /// Expires up to `limit` (at most [`EXPIRY_BATCH_MAX`]) open reservations
    /// whose time ran out by `now`, in one transaction. Returns how many.
    /// Safe to run on several instances at once: each reservation is claimed
    /// by exactly one conditional update.
    pub async fn expire_due(&self, now: i64, limit: usize) -> StoreResult<usize> {
        // Its claim and a commit batch's (on another instance, say) update
        // the same reservation rows in their own orders, so on PostgreSQL
        // either may be chosen as a deadlock's victim; the batch tries
        // again, and so does this.
        retry_write_conflicts(|| self.expire_due_once(now, limit)).await
    }

    async fn expire_due_once(&self, now: i64, limit: usize) -> StoreResult<usize> {
        let limit = limit.clamp(1, EXPIRY_BATCH_MAX) as i64;
        let mut tx = self.begin_write().await?;
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
            expired.push((
                parsed::<TenantId>(row, "tenant_id")?,
                Reservation {
                    id: parsed(row, "id")?,
                    channel_id: opt_parsed(row, "channel_id")?,
                    state: ReservationState::Expired,
                    reference: text(row, "reference")?,
                    actor: text(row, "actor")?,
                    expires_at: int(row, "expires_at")?,
                    created_at: int(row, "created_at")?,
                    resolved_at: Some(now),
                    lines: Vec::new(),
                },
            ));
        }
        let ids: Vec<ReservationId> = expired.iter().map(|(_, r)| r.id).collect();
        let mut lines = batch::lines_of(&mut tx, &ids).await?;
        for (_, reservation) in &mut expired {
            reservation.lines = lines.remove(&reservation.id).unwrap_or_default();
        }
        let settlements: Vec<batch::Settlement<'_>> = expired
            .iter()
            .map(|(tenant, r)| batch::Settlement {
                tenant: *tenant,
                reservation: r,
                committed: None,
                rest: MovementKind::Expire,
                actor: "system:expiry",
            })
            .collect();
        let mut events = Vec::new();
        batch::settle(&mut tx, &settlements, &mut events).await?;
        events.extend(
            expired
                .iter()
                .map(|(tenant, r)| reservation_event(*tenant, kinds::RESERVATION_EXPIRED, r)),
        );
        events::append(&mut tx, &events).await?;
        tx.commit().await?;
        self.events_committed();
        Ok(claimed.len())
    }
}

/// A reservation line from a row with the `reservation_lines` columns.
pub(crate) fn line_from_row(r: &sqlx::any::AnyRow) -> StoreResult<ReservationLine> {
    let bundle = match opt_parsed::<SkuId>(r, "bundle_sku_id")? {
        Some(sku_id) => Some(BundleRef {
            sku_id,
            line: opt_int(r, "bundle_line")?.unwrap_or(0),
            units: opt_int(r, "bundle_quantity")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(ReservationLine {
        line_no: int(r, "line_no")?,
        sku_id: parsed(r, "sku_id")?,
        location_id: parsed(r, "location_id")?,
        quantity: int(r, "quantity")?,
        committed: opt_int(r, "committed")?,
        bundle,
    })
}

/// A core resolution refusal as a store error.
pub(crate) fn resolve_error(e: ResolveError) -> StoreError {
    match e {
        ResolveError::AlreadyResolved(state) => StoreError::AlreadyResolved(state),
        ResolveError::Expired => StoreError::Expired,
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
    // A bundle line is committed in whole bundle units: its component
    // lines commit the same number of bundles.
    // (bundle line, bundle units, its component lines' (quantity, committed)).
    type BundleParts = (i64, i64, Vec<(i64, i64)>);
    let mut by_bundle: Vec<BundleParts> = Vec::new();
    for (line, &c) in lines.iter().zip(&planned) {
        let Some(b) = line.bundle else { continue };
        match by_bundle.iter_mut().find(|(l, _, _)| *l == b.line) {
            Some((_, _, parts)) => parts.push((line.quantity, c)),
            None => by_bundle.push((b.line, b.units, vec![(line.quantity, c)])),
        }
    }
    for (line, units, parts) in by_bundle {
        if jaego_core::bundle::whole_units(&parts, units).is_none() {
            return Err(InvalidInput::one(
                "lines",
                format!(
                    "the component lines of bundle line {line} must commit whole bundles: \
                     the same number of bundles from every component"
                ),
            )
            .into());
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use jaego_core::Balance;
    use serde_json::{Value, json};

    use super::*;

    fn body(event: &NewEvent) -> Value {
        serde_json::from_str(&event.body()).unwrap()
    }

    /// The hot paths write event bodies from typed structs; they must be the
    /// documented shapes (docs/events.md), field for field.
    #[test]
    fn typed_event_bodies_have_the_documented_shape() {
        let tenant = TenantId::new();
        let (sku, location, channel) = (SkuId::new(), LocationId::new(), ChannelId::new());
        let r = Reservation {
            id: ReservationId::new(),
            channel_id: Some(channel),
            state: ReservationState::Committed,
            reference: "cart \"7\"".into(),
            actor: "t".into(),
            expires_at: 1_700_000_000_000_000,
            created_at: 1_699_999_000_000_000,
            resolved_at: Some(1_699_999_500_000_000),
            lines: vec![ReservationLine {
                line_no: 1,
                sku_id: sku,
                location_id: location,
                quantity: 3,
                committed: Some(2),
                bundle: None,
            }],
        };
        let event = reservation_event(tenant, kinds::RESERVATION_COMMITTED, &r);
        assert_eq!(
            body(&event),
            json!({
                "id": r.id.to_string(),
                "state": "committed",
                "channel_id": channel.to_string(),
                "reference": "cart \"7\"",
                "expires_at": events::time_text(r.expires_at),
                "resolved_at": events::time_text(1_699_999_500_000_000),
                "lines": [{
                    "line": 1,
                    "sku_id": sku.to_string(),
                    "location_id": location.to_string(),
                    "quantity": 3,
                    "committed": 2,
                }],
            })
        );
        assert_eq!(
            (event.sku_id, event.location_id, event.channel_id),
            (Some(sku), Some(location), Some(channel))
        );
        let balance = Balance {
            on_hand: 10,
            reserved: 3,
            allocated: 2,
            incoming: 1,
            in_transit: 4,
            safety_stock: 1,
        };
        let changed = events::stock_changed(tenant, sku, location, &balance);
        assert_eq!(
            body(&changed),
            json!({
                "sku_id": sku.to_string(),
                "location_id": location.to_string(),
                "on_hand": 10,
                "reserved": 3,
                "allocated": 2,
                "incoming": 1,
                "in_transit": 4,
                "safety_stock": 1,
                "available": 4,
            })
        );
    }
}
