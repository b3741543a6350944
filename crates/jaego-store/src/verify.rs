//! `jaego verify`: recompute every balance from the ledger and compare.

use std::collections::HashMap;

use jaego_core::{Balance, LocationId, SkuId, TenantId};

use crate::Store;
use crate::error::StoreResult;
use crate::ledger::figures;
use crate::rows::{int, parsed};

/// One figure that disagrees with what the ledger says it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub tenant_id: Option<TenantId>,
    pub sku_id: SkuId,
    pub location_id: LocationId,
    pub figure: &'static str,
    pub stored: i64,
    pub expected: i64,
}

type Key = (SkuId, LocationId);

impl Store {
    /// Recomputes every balance from the ledger (its movements, plus the
    /// holds of every reservation ever made on it: a reservation is the
    /// ledger entry that raises `reserved`), checks `reserved` against the
    /// open reservations' lines and `in_transit` against the transfers on
    /// their way, checks that orders' allocations never exceed `allocated`,
    /// and lists every disagreement. Empty means the ledger and balances
    /// agree.
    pub async fn verify(&self) -> StoreResult<Vec<Mismatch>> {
        let mut stored: HashMap<Key, (TenantId, Balance)> = HashMap::new();
        for row in sqlx::query("SELECT tenant_id, sku_id, location_id, on_hand, reserved, allocated, incoming, in_transit, safety_stock FROM balances")
            .fetch_all(self.reader())
            .await?
        {
            let balance = figures(&row)?;
            stored.insert((parsed(&row, "sku_id")?, parsed(&row, "location_id")?), (parsed(&row, "tenant_id")?, balance));
        }
        let mut ledger: HashMap<Key, Balance> = HashMap::new();
        for row in sqlx::query(
            "SELECT sku_id, location_id, CAST(SUM(d_on_hand) AS BIGINT) AS on_hand, CAST(SUM(d_reserved) AS BIGINT) AS reserved, \
                    CAST(SUM(d_allocated) AS BIGINT) AS allocated, CAST(SUM(d_incoming) AS BIGINT) AS incoming, \
                    CAST(SUM(d_in_transit) AS BIGINT) AS in_transit, CAST(SUM(d_safety_stock) AS BIGINT) AS safety_stock \
             FROM movements GROUP BY sku_id, location_id",
        )
        .fetch_all(self.reader())
        .await?
        {
            let balance = figures(&row)?;
            ledger.insert((parsed(&row, "sku_id")?, parsed(&row, "location_id")?), balance);
        }
        // Reservations are the other kind of ledger entry: each line holds
        // `reserved +quantity`, and its resolution movements take it off.
        let held = sums(
            self,
            "SELECT sku_id, location_id, CAST(SUM(quantity) AS BIGINT) AS total \
             FROM reservation_lines GROUP BY sku_id, location_id",
        )
        .await?;
        for (key, total) in &held {
            ledger.entry(*key).or_default().reserved += total;
        }
        let open = sums(
            self,
            "SELECT l.sku_id AS sku_id, l.location_id AS location_id, CAST(SUM(l.quantity) AS BIGINT) AS total \
             FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id WHERE r.state = 'open' \
             GROUP BY l.sku_id, l.location_id",
        )
        .await?;
        let travelling = sums(
            self,
            "SELECT sku_id, to_location_id AS location_id, CAST(SUM(quantity) AS BIGINT) AS total \
             FROM transfers WHERE state = 'in_transit' GROUP BY sku_id, to_location_id",
        )
        .await?;

        // Orders own part of `allocated` (committed reservations not taken
        // over by an order own the rest), so theirs may never exceed it.
        // A bundle line's rows count bundle units: it owns its stored
        // expansion's components (`order_line_components`).
        let mut ordered = sums(
            self,
            "SELECT l.sku_id, a.location_id, CAST(SUM(a.quantity) AS BIGINT) AS total \
             FROM order_allocations a JOIN order_lines l ON l.id = a.line_id WHERE NOT EXISTS \
               (SELECT 1 FROM order_line_components c WHERE c.line_id = a.line_id) \
             GROUP BY l.sku_id, a.location_id",
        )
        .await?;
        let bundled = sums(
            self,
            "SELECT c.component_sku_id AS sku_id, a.location_id, CAST(SUM(a.quantity * c.quantity) AS BIGINT) AS total \
             FROM order_allocations a JOIN order_line_components c ON c.line_id = a.line_id \
             GROUP BY c.component_sku_id, a.location_id",
        )
        .await?;
        for (key, q) in bundled {
            *ordered.entry(key).or_default() += q;
        }

        let mut keys: Vec<Key> = stored
            .keys()
            .chain(ledger.keys())
            .chain(open.keys())
            .chain(travelling.keys())
            .chain(ordered.keys())
            .copied()
            .collect();
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for key in keys {
            let (tenant, have) = stored
                .get(&key)
                .map_or((None, Balance::default()), |(t, b)| (Some(*t), *b));
            let want = ledger.get(&key).copied().unwrap_or_default();
            let mut check = |figure, stored: i64, expected: i64| {
                if stored != expected {
                    out.push(Mismatch {
                        tenant_id: tenant,
                        sku_id: key.0,
                        location_id: key.1,
                        figure,
                        stored,
                        expected,
                    });
                }
            };
            check("on_hand", have.on_hand, want.on_hand);
            check("reserved", have.reserved, want.reserved);
            check("allocated", have.allocated, want.allocated);
            check("incoming", have.incoming, want.incoming);
            check("in_transit", have.in_transit, want.in_transit);
            check("safety_stock", have.safety_stock, want.safety_stock);
            check(
                "reserved (open reservations)",
                have.reserved,
                open.get(&key).copied().unwrap_or(0),
            );
            check(
                "in_transit (open transfers)",
                have.in_transit,
                travelling.get(&key).copied().unwrap_or(0),
            );
            let by_orders = ordered.get(&key).copied().unwrap_or(0);
            if by_orders > have.allocated {
                out.push(Mismatch {
                    tenant_id: tenant,
                    sku_id: key.0,
                    location_id: key.1,
                    figure: "allocated (at least the orders' allocations)",
                    stored: have.allocated,
                    expected: by_orders,
                });
            }
        }
        Ok(out)
    }
}

async fn sums(store: &Store, sql: &str) -> StoreResult<HashMap<Key, i64>> {
    let mut out = HashMap::new();
    for row in sqlx::query(sql).fetch_all(store.reader()).await? {
        out.insert(
            (parsed(&row, "sku_id")?, parsed(&row, "location_id")?),
            int(&row, "total")?,
        );
    }
    Ok(out)
}
