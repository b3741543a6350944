//! `jaego verify`: recompute every balance from the ledger and compare,
//! and find the rows that name a row that is not there.

use std::collections::HashMap;
use std::fmt;

use jaego_core::{Balance, LocationId, SkuId, TenantId};

use crate::Store;
use crate::error::StoreResult;
use crate::ledger::figures;
use crate::rows::{int, parsed, text};

/// What `jaego verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A figure that disagrees with what the ledger says it should be.
    Figure {
        tenant_id: Option<TenantId>,
        sku_id: SkuId,
        location_id: LocationId,
        figure: &'static str,
        stored: i64,
        expected: i64,
    },
    /// A row that names a row that does not exist. The allocation rows
    /// and run results have no foreign keys (migration 0020): their
    /// writers keep them whole, and this is where a break would show.
    Dangling {
        table: &'static str,
        /// The row's key, as `column=value` pairs.
        row: String,
        /// What it names that is missing.
        missing: &'static str,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Figure {
                sku_id,
                location_id,
                figure,
                stored,
                expected,
                ..
            } => write!(
                f,
                "sku={sku_id} location={location_id} {figure}: stored {stored} but ledger says {expected}"
            ),
            Self::Dangling {
                table,
                row,
                missing,
            } => write!(f, "{table} {row}: its {missing} does not exist"),
        }
    }
}

/// A reference its writers keep instead of a foreign key (migration
/// 0020): `table`'s `column` names a row of `names` by its `id`.
struct Reference {
    table: &'static str,
    /// The columns that identify a row of `table`, listed for a dangling one.
    key: [&'static str; 2],
    column: &'static str,
    names: &'static str,
    /// What `names` holds, for the report.
    what: &'static str,
}

/// The references `jaego verify` checks.
const REFERENCES: [Reference; 3] = [
    Reference {
        table: "order_allocations",
        key: ["line_id", "location_id"],
        column: "line_id",
        names: "order_lines",
        what: "order line",
    },
    Reference {
        table: "order_allocations",
        key: ["line_id", "location_id"],
        column: "location_id",
        names: "locations",
        what: "location",
    },
    Reference {
        table: "allocation_results",
        key: ["run_id", "order_id"],
        column: "run_id",
        names: "allocation_runs",
        what: "allocation run",
    },
];

/// At most this many dangling rows are listed per check.
const DANGLING_LISTED: i64 = 100;

type Key = (SkuId, LocationId);

impl Store {
    /// Recomputes every balance from the ledger (its movements, plus the
    /// holds of every reservation ever made on it: a reservation is the
    /// ledger entry that raises `reserved`), checks `reserved` against the
    /// open reservations' lines and `in_transit` against the transfers on
    /// their way, checks that orders' allocations never exceed `allocated`,
    /// finds allocation rows and run results that name a missing row, and
    /// lists every disagreement. Empty means the ledger and balances agree
    /// and nothing dangles.
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
                    out.push(Mismatch::Figure {
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
                out.push(Mismatch::Figure {
                    tenant_id: tenant,
                    sku_id: key.0,
                    location_id: key.1,
                    figure: "allocated (at least the orders' allocations)",
                    stored: have.allocated,
                    expected: by_orders,
                });
            }
        }
        out.extend(dangling(self).await?);
        Ok(out)
    }
}

async fn dangling(store: &Store) -> StoreResult<Vec<Mismatch>> {
    let mut out = Vec::new();
    for r in &REFERENCES {
        let key = r.key.join(", ");
        let sql = format!(
            "SELECT {key} FROM {} t WHERE NOT EXISTS (SELECT 1 FROM {} x WHERE x.id = t.{}) \
             ORDER BY {key} LIMIT $1",
            r.table, r.names, r.column
        );
        for row in sqlx::query(&sql)
            .bind(DANGLING_LISTED)
            .fetch_all(store.reader())
            .await?
        {
            let named = r
                .key
                .iter()
                .map(|c| Ok(format!("{c}={}", text(&row, c)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            out.push(Mismatch::Dangling {
                table: r.table,
                row: named.join(" "),
                missing: r.what,
            });
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use jaego_core::catalog::LocationKind;

    use super::Mismatch;
    use crate::{Store, StoreOptions};

    /// Allocation rows and run results have no foreign keys; `verify`
    /// names each one whose line, location or run is missing, by its key,
    /// and nothing on a whole database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verify_names_rows_that_name_a_missing_row() {
        for db in crate::testing::fresh_databases("verify::dangling").await {
            let e = db.engine;
            let store = Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap();
            assert_eq!(store.verify().await.unwrap(), [], "{e}: empty is whole");
            let tenant = store.create_tenant("dangling").await.unwrap();
            let location = store
                .create_location(
                    tenant,
                    &crate::testing::new_location("W1", LocationKind::Warehouse),
                )
                .await
                .unwrap()
                .id;
            let (line, gone) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
            for (sql, args) in [
                (
                    "INSERT INTO order_allocations (line_id, location_id, quantity) VALUES ($1, $2, 1)",
                    [line.to_string(), location.to_string()],
                ),
                (
                    "INSERT INTO order_allocations (line_id, location_id, quantity) VALUES ($1, $2, 1)",
                    [line.to_string(), gone.to_string()],
                ),
                (
                    "INSERT INTO allocation_results (run_id, order_id, tenant_id, outcome, units) VALUES ($1, $2, 't', 'skipped', 0)",
                    [gone.to_string(), line.to_string()],
                ),
            ] {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(a);
                }
                q.execute(store.writer()).await.unwrap();
            }
            let dangling = |table, row: String, missing| Mismatch::Dangling {
                table,
                row,
                missing,
            };
            let mut want = vec![
                dangling(
                    "order_allocations",
                    format!("line_id={line} location_id={location}"),
                    "order line",
                ),
                dangling(
                    "order_allocations",
                    format!("line_id={line} location_id={gone}"),
                    "order line",
                ),
                dangling(
                    "order_allocations",
                    format!("line_id={line} location_id={gone}"),
                    "location",
                ),
                dangling(
                    "allocation_results",
                    format!("run_id={gone} order_id={line}"),
                    "allocation run",
                ),
            ];
            // The first two are in key order: by location id.
            if gone.to_string() < location.to_string() {
                want.swap(0, 1);
            }
            assert_eq!(store.verify().await.unwrap(), want, "{e}");
            assert_eq!(
                want[3].to_string(),
                format!(
                    "allocation_results run_id={gone} order_id={line}: its allocation run does not exist"
                ),
                "{e}"
            );
            store.close().await;
        }
    }
}
