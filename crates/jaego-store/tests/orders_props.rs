//! Property test of orders against the ledger: after any sequence of
//! collections, allocation runs, shipments, cancellations, deallocations,
//! returns and receipts, on every engine,
//! - `jaego verify` finds nothing wrong (balances equal the ledger, and
//!   orders never own more than `allocated`),
//! - nothing is over-allocated under `strict` (available never below zero),
//! - each balance's `allocated` equals what the orders' lines hold there
//!   (no reservations in this test), and
//! - every line keeps `allocated + shipped + cancelled <= quantity`.
//!
//! A refused operation (nothing to cancel, nothing allocated) must change
//! nothing, which the same checks catch.
//!
//! Orders also name a bundle (`S3`, 2 × S0 + 1 × S1, its recipe edited at
//! random): a bundle line holds `units × quantity` of each component of the
//! recipe it was first allocated with (the model records it after each
//! run), so the allocated check also proves that shipping, cancelling and
//! deallocating later use the stored expansion, and the strict check that
//! a bundle line and its component's line never over-allocate together.

use std::collections::HashMap;

use jaego_core::allocation::ShipmentMode;
use jaego_core::catalog::LocationKind;
use jaego_core::{LocationId, MovementKind, SkuId, StockPolicy, TenantId};
use jaego_store::ledger::NewMovement;
use jaego_store::orders::runs::RunRequest;
use jaego_store::orders::{NewOrder, NewOrderLine, OrderFilter};
use jaego_store::places::NewLocation;
use jaego_store::testing::{fresh_databases, new_mall, new_sku};
use jaego_store::{PageRequest, Store, StoreOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Collect {
        lines: Vec<(usize, i64)>,
        priority: bool,
        hold: bool,
    },
    Run {
        partial: bool,
    },
    Ship {
        order: usize,
    },
    Cancel {
        order: usize,
        one_unit: bool,
    },
    Deallocate {
        order: usize,
    },
    Return {
        order: usize,
        sellable: bool,
    },
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    /// The bundle's recipe becomes `a` × S0 + `b` × S2.
    EditRecipe {
        a: i64,
        b: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prop::collection::vec((0usize..4, 1i64..4), 1..4), any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(mut lines, priority, hold)| {
                lines.sort_by_key(|l| l.0);
                lines.dedup_by_key(|l| l.0);
                Op::Collect { lines, priority, hold }
            }),
        2 => any::<bool>().prop_map(|partial| Op::Run { partial }),
        2 => (0usize..8).prop_map(|order| Op::Ship { order }),
        1 => (0usize..8, any::<bool>()).prop_map(|(order, one_unit)| Op::Cancel { order, one_unit }),
        1 => (0usize..8).prop_map(|order| Op::Deallocate { order }),
        1 => (0usize..8, any::<bool>()).prop_map(|(order, sellable)| Op::Return { order, sellable }),
        1 => (0usize..3, 0usize..2, 1i64..5).prop_map(|(sku, location, quantity)| Op::Receive { sku, location, quantity }),
        1 => (1i64..3, 1i64..3).prop_map(|(a, b)| Op::EditRecipe { a, b }),
    ]
}

struct World {
    tenant: TenantId,
    channel: jaego_core::ChannelId,
    skus: Vec<SkuId>,
    locations: Vec<LocationId>,
    orders: Vec<jaego_core::OrderId>,
    bundle: SkuId,
    /// The bundle's current recipe (component index, quantity).
    recipe: Vec<(usize, i64)>,
    /// The recipe each bundle line was first allocated with.
    expansions: HashMap<jaego_core::OrderLineId, Vec<(usize, i64)>>,
}

async fn setup(store: &Store) -> World {
    let tenant = store.create_tenant("props").await.unwrap();
    let mut locations = Vec::new();
    for code in ["L1", "L2"] {
        let l = store
            .create_location(
                tenant,
                &NewLocation {
                    code: code.into(),
                    name: code.into(),
                    kind: LocationKind::Warehouse,
                    time_zone: "Asia/Seoul".into(),
                    latitude: None,
                    longitude: None,
                    policy: StockPolicy::Strict,
                },
            )
            .await
            .unwrap();
        locations.push(l.id);
    }
    let mut skus = Vec::new();
    for code in ["S0", "S1", "S2"] {
        let s = store.create_sku(tenant, &new_sku(code)).await.unwrap();
        skus.push(s.id);
    }
    let channel = store
        .create_channel(tenant, &new_mall(locations.clone()))
        .await
        .unwrap()
        .id;
    let recipe = vec![(0, 2), (1, 1)];
    let bundle = store
        .create_bundle(tenant, &new_sku("S3"), &components(&recipe))
        .await
        .unwrap()
        .sku
        .id;
    World {
        tenant,
        channel,
        skus,
        locations,
        orders: Vec::new(),
        bundle,
        recipe,
        expansions: HashMap::new(),
    }
}

fn components(recipe: &[(usize, i64)]) -> Vec<(String, i64)> {
    recipe.iter().map(|&(c, q)| (format!("S{c}"), q)).collect()
}

async fn receive(store: &Store, w: &World, sku: usize, location: usize, quantity: i64) {
    store
        .record_movement(
            w.tenant,
            &NewMovement {
                sku_id: w.skus[sku],
                location_id: w.locations[location],
                kind: MovementKind::Receipt,
                custom_type: None,
                quantity,
                reason: String::new(),
                reference: String::new(),
                actor: "t".into(),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
}

async fn apply(store: &Store, w: &mut World, op: &Op, n: usize) {
    let pick = |w: &World, i: usize| w.orders.get(i % w.orders.len().max(1)).copied();
    match op {
        Op::Collect {
            lines,
            priority,
            hold,
        } => {
            let order = NewOrder {
                external_no: format!("N{n}"),
                priority: *priority,
                hold: *hold,
                lines: lines
                    .iter()
                    .map(|&(s, q)| NewOrderLine {
                        item_code: format!("S{s}"),
                        quantity: q,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let got = store
                .collect_orders(w.tenant, w.channel, &[order], "t")
                .await
                .unwrap();
            w.orders.push(got[0].1.id);
        }
        Op::Run { partial } => {
            let mode = if *partial {
                ShipmentMode::Partial
            } else {
                ShipmentMode::Complete
            };
            store
                .allocation_run(
                    w.tenant,
                    &RunRequest {
                        orders: None,
                        mode: Some(mode),
                        dry_run: false,
                    },
                    "t",
                )
                .await
                .unwrap();
        }
        Op::Ship { order } => {
            let Some(id) = pick(w, *order) else { return };
            let o = store.get_order(w.tenant, id).await.unwrap();
            let items: Vec<_> = o
                .lines
                .iter()
                .flat_map(|l| {
                    l.allocations
                        .iter()
                        .filter(|a| a.quantity > 0)
                        .map(move |a| (l.id, a.location_id, a.quantity))
                })
                .collect();
            if !items.is_empty() {
                store
                    .ship_order_lines(w.tenant, id, &items, "", "t")
                    .await
                    .unwrap();
            }
        }
        Op::Cancel { order, one_unit } => {
            let Some(id) = pick(w, *order) else { return };
            let o = store.get_order(w.tenant, id).await.unwrap();
            let lines = [(o.lines[0].id, Some(1))];
            let _ = store
                .cancel_order(
                    w.tenant,
                    id,
                    one_unit.then_some(&lines[..]),
                    "sellable",
                    "t",
                )
                .await;
        }
        Op::Deallocate { order } => {
            let Some(id) = pick(w, *order) else { return };
            let _ = store.deallocate_order(w.tenant, id, None, "t").await;
        }
        Op::Return { order, sellable } => {
            let Some(id) = pick(w, *order) else { return };
            let o = store.get_order(w.tenant, id).await.unwrap();
            let reason = if *sellable { "sellable" } else { "defective" };
            for l in &o.lines {
                if l.qty.shipped > l.qty.returned
                    && let Ok(r) = store
                        .request_return(w.tenant, id, l.id, 1, reason, "t")
                        .await
                {
                    store.collect_return(w.tenant, r.id, "t").await.unwrap();
                }
            }
        }
        Op::Receive {
            sku,
            location,
            quantity,
        } => receive(store, w, *sku, *location, *quantity).await,
        Op::EditRecipe { a, b } => {
            w.recipe = vec![(0, *a), (2, *b)];
            store
                .set_bundle_components(w.tenant, "S3", &components(&w.recipe))
                .await
                .unwrap();
        }
    }
    // A bundle line first allocated by this op took the current recipe.
    if matches!(op, Op::Run { .. }) {
        for &id in &w.orders {
            let o = store.get_order(w.tenant, id).await.unwrap();
            for l in &o.lines {
                if l.sku_id == Some(w.bundle) && l.qty.allocated + l.qty.shipped > 0 {
                    w.expansions.entry(l.id).or_insert_with(|| w.recipe.clone());
                }
            }
        }
    }
}

async fn check(store: &Store, w: &World, e: &str) {
    let mismatches = store.verify().await.unwrap();
    assert!(mismatches.is_empty(), "{e}: {mismatches:?}");
    let balances = store.stock_of(w.tenant, &w.skus).await.unwrap();
    let mut by_orders: HashMap<(SkuId, LocationId), i64> = HashMap::new();
    let orders = store
        .list_orders(
            w.tenant,
            &OrderFilter::default(),
            &PageRequest {
                after: None,
                limit: Some(500),
            },
            0,
        )
        .await
        .unwrap();
    for o in &orders.items {
        for l in &o.lines {
            assert!(l.qty.holds(), "{e}: {:?}", l.qty);
            let held: i64 = l.allocations.iter().map(|a| a.quantity).sum();
            assert_eq!(held, l.qty.allocated, "{e}: line rows");
            for a in &l.allocations {
                if l.sku_id == Some(w.bundle) {
                    // A bundle line holds its stored expansion's components.
                    let parts = w.expansions.get(&l.id);
                    assert!(
                        parts.is_some() || a.quantity == 0,
                        "{e}: a bundle line allocated outside a run"
                    );
                    for &(c, per) in parts.into_iter().flatten() {
                        *by_orders.entry((w.skus[c], a.location_id)).or_default() +=
                            a.quantity * per;
                    }
                } else {
                    *by_orders
                        .entry((l.sku_id.unwrap(), a.location_id))
                        .or_default() += a.quantity;
                }
            }
        }
    }
    for b in balances {
        assert!(
            b.balance.available() >= 0,
            "{e}: over-allocated under strict: {b:?}"
        );
        assert_eq!(
            b.balance.allocated,
            by_orders
                .get(&(b.sku_id, b.location_id))
                .copied()
                .unwrap_or(0),
            "{e}: allocated of {} at {}",
            b.sku_code,
            b.location_code
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn orders_keep_the_ledger_whole(
        stock in prop::collection::vec(0i64..5, 6),
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            for db in fresh_databases("orders_props").await {
                // Runs of a few orders in chunks of two: every run with
                // more than two orders plans its later chunks ahead.
                let options = StoreOptions {
                    run_chunk_orders: 2,
                    ..StoreOptions::default()
                };
                let store = Store::connect(&db.url, options).await.unwrap();
                let mut w = setup(&store).await;
                for (i, q) in stock.iter().enumerate() {
                    if *q > 0 {
                        receive(&store, &w, i % 3, i / 3, *q).await;
                    }
                }
                for (n, op) in ops.iter().enumerate() {
                    apply(&store, &mut w, op, n).await;
                    check(&store, &w, &format!("{} after {n}: {op:?}", db.engine)).await;
                }
                store.close().await;
            }
        });
    }
}
