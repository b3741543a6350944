//! Property test of bundles against the ledger, on every engine: random
//! recipes, receipts, recipe edits, and rounds of multi-line reservations
//! mixing bundles and their components, sent concurrently (so they meet in
//! group-commit batches), some then committed or released. After every
//! round:
//! - no component is below zero available under `strict`;
//! - `jaego verify` finds nothing wrong (balances equal the ledger, and
//!   `reserved` equals the open reservations' lines, whatever recipe each
//!   was made with);
//! - every bundle's figure at every location equals the formula
//!   `min(floor(component available / quantity))` over the balances;
//! - every granted bundle line holds all its components at one location,
//!   in the quantities of the recipe it was made with.

use std::collections::HashMap;

use jaego_core::catalog::LocationKind;
use jaego_core::{LocationId, MovementKind, ReservationState, SkuId, StockPolicy, TenantId};
use jaego_store::ledger::{BalanceFilter, NewMovement};
use jaego_store::places::NewLocation;
use jaego_store::reservations::{Reservation, ReserveInput, Source};
use jaego_store::testing::{fresh_databases, new_mall, new_sku};
use jaego_store::{PageRequest, Store, StoreError, StoreOptions};
use proptest::prelude::*;

const COMPONENTS: usize = 4;
const BUNDLES: usize = 2;

/// A recipe: (component index, quantity), distinct components.
type RecipeSpec = Vec<(usize, i64)>;

fn recipe() -> impl Strategy<Value = RecipeSpec> {
    prop::collection::vec((0..COMPONENTS, 1i64..4), 1..4).prop_map(|mut parts| {
        parts.sort_by_key(|p| p.0);
        parts.dedup_by_key(|p| p.0);
        parts
    })
}

/// A line: a bundle (`true`, index) or a component, and a quantity.
type LineSpec = (bool, usize, i64);

#[derive(Debug, Clone)]
struct Request {
    /// `None`: through the channel (both locations); else one location.
    location: Option<usize>,
    lines: Vec<LineSpec>,
    /// What to do with it afterwards if granted: 0 keep, 1 commit, 2 release.
    then: u8,
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop::option::of(0usize..2),
        prop::collection::vec(
            (any::<bool>(), 0usize..COMPONENTS, 1i64..3).prop_map(|(b, i, q)| {
                if b {
                    (true, i % BUNDLES, q)
                } else {
                    (false, i, q)
                }
            }),
            1..5,
        ),
        0u8..3,
    )
        .prop_map(|(location, lines, then)| Request {
            location,
            lines,
            then,
        })
}

#[derive(Debug, Clone)]
enum Step {
    /// Requests sent at once.
    Round(Vec<Request>),
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    Edit {
        bundle: usize,
        recipe: RecipeSpec,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(request(), 1..12).prop_map(Step::Round),
        2 => (0..COMPONENTS, 0usize..2, 1i64..8).prop_map(|(sku, location, quantity)| Step::Receive { sku, location, quantity }),
        1 => (0..BUNDLES, recipe()).prop_map(|(bundle, recipe)| Step::Edit { bundle, recipe }),
    ]
}

struct World {
    tenant: TenantId,
    components: Vec<SkuId>,
    bundles: Vec<SkuId>,
    locations: Vec<LocationId>,
}

fn parts(recipe: &RecipeSpec) -> Vec<(String, i64)> {
    recipe.iter().map(|&(c, q)| (format!("C{c}"), q)).collect()
}

async fn setup(store: &Store, recipes: &[RecipeSpec]) -> World {
    let tenant = store.create_tenant("bundles").await.unwrap();
    let mut locations = Vec::new();
    for code in ["L0", "L1"] {
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
    let mut components = Vec::new();
    for c in 0..COMPONENTS {
        let s = store
            .create_sku(tenant, &new_sku(&format!("C{c}")))
            .await
            .unwrap();
        components.push(s.id);
    }
    let mut bundles = Vec::new();
    for (b, r) in recipes.iter().enumerate() {
        let made = store
            .create_bundle(tenant, &new_sku(&format!("B{b}")), &parts(r))
            .await
            .unwrap();
        bundles.push(made.sku.id);
    }
    store
        .create_channel(tenant, &new_mall(locations.clone()))
        .await
        .unwrap();
    World {
        tenant,
        components,
        bundles,
        locations,
    }
}

async fn receive(store: &Store, w: &World, sku: usize, location: usize, quantity: i64) {
    store
        .record_movement(
            w.tenant,
            &NewMovement {
                sku_id: w.components[sku],
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

async fn reserve(store: &Store, w: &World, r: &Request) -> Option<Reservation> {
    let input = ReserveInput {
        source: match r.location {
            Some(l) => Source::Location(format!("L{l}")),
            None => Source::Channel("MALL".into()),
        },
        lines: r
            .lines
            .iter()
            .map(|&(bundle, i, q)| {
                (
                    if bundle {
                        format!("B{i}")
                    } else {
                        format!("C{i}")
                    },
                    q,
                )
            })
            .collect(),
        ttl_secs: 600,
        reference: String::new(),
        actor: "t".into(),
    };
    let request = store.prepare_reservation(w.tenant, &input).await.unwrap();
    match store.reserve(request).await {
        Ok(made) => Some(made),
        Err(StoreError::Shortage(_)) => None,
        Err(e) => panic!("reserve: {e}"),
    }
}

/// Every bundle line of `made` holds its components at one location, in
/// the quantities `recipes` (as they were when it was made) give.
fn check_lines(made: &Reservation, r: &Request, recipes: &[RecipeSpec], w: &World, e: &str) {
    for (i, &(bundle, index, units)) in r.lines.iter().enumerate() {
        if !bundle {
            continue;
        }
        let lines: Vec<_> = made
            .lines
            .iter()
            .filter(|l| l.bundle.is_some_and(|b| b.line == i as i64 + 1))
            .collect();
        let expected: Vec<(SkuId, i64)> = recipes[index]
            .iter()
            .map(|&(c, q)| (w.components[c], q * units))
            .collect();
        let got: Vec<(SkuId, i64)> = lines.iter().map(|l| (l.sku_id, l.quantity)).collect();
        assert_eq!(got, expected, "{e}: bundle line {i}");
        assert!(
            lines
                .windows(2)
                .all(|p| p[0].location_id == p[1].location_id),
            "{e}: a bundle line split across locations"
        );
        assert!(
            lines
                .iter()
                .all(|l| l.bundle.unwrap().sku_id == w.bundles[index])
        );
    }
}

async fn check(store: &Store, w: &World, recipes: &[RecipeSpec], e: &str) {
    let mismatches = store.verify().await.unwrap();
    assert!(mismatches.is_empty(), "{e}: {mismatches:?}");
    let balances = store
        .list_balances(
            w.tenant,
            &BalanceFilter::default(),
            &PageRequest {
                after: None,
                limit: Some(500),
            },
        )
        .await
        .unwrap();
    let mut available: HashMap<(SkuId, LocationId), i64> = HashMap::new();
    for b in &balances.items {
        assert!(
            b.balance.available() >= 0,
            "{e}: below zero under strict: {b:?}"
        );
        assert!(
            !w.bundles.contains(&b.sku_id),
            "{e}: a bundle has a balance row"
        );
        available.insert((b.sku_id, b.location_id), b.balance.available());
    }
    for (i, bundle) in w.bundles.iter().enumerate() {
        let stock = store
            .bundle_stock(w.tenant, &bundle.to_string())
            .await
            .unwrap();
        for &location in &w.locations {
            let formula = recipes[i]
                .iter()
                .map(|&(c, q)| {
                    available
                        .get(&(w.components[c], location))
                        .copied()
                        .unwrap_or(0)
                        .div_euclid(q)
                })
                .min()
                .unwrap();
            let shown = stock
                .iter()
                .find(|s| s.location_id == location)
                .map_or(0, |s| s.balance.available());
            assert_eq!(shown, formula, "{e}: bundle B{i} at {location}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]
    #[test]
    fn bundles_never_oversell_components(
        recipes in prop::collection::vec(recipe(), BUNDLES),
        stock in prop::collection::vec(0i64..8, COMPONENTS * 2),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            for db in fresh_databases("bundles_props").await {
                let store = Store::connect(&db.url, StoreOptions::default()).await.unwrap();
                let mut recipes = recipes.clone();
                let w = setup(&store, &recipes).await;
                for (i, q) in stock.iter().enumerate() {
                    if *q > 0 {
                        receive(&store, &w, i % COMPONENTS, i / COMPONENTS, *q).await;
                    }
                }
                for (n, step) in steps.iter().enumerate() {
                    let e = format!("{} after step {n}: {step:?}", db.engine);
                    match step {
                        Step::Round(requests) => {
                            let made = futures_util::future::join_all(
                                requests.iter().map(|r| reserve(&store, &w, r)),
                            )
                            .await;
                            for (r, made) in requests.iter().zip(made) {
                                let Some(made) = made else { continue };
                                check_lines(&made, r, &recipes, &w, &e);
                                let done = match r.then {
                                    1 => store.commit_reservation(w.tenant, made.id, None, "t").await.unwrap(),
                                    2 => store.release_reservation(w.tenant, made.id, "t").await.unwrap(),
                                    _ => continue,
                                };
                                assert_ne!(done.state, ReservationState::Open, "{e}");
                            }
                        }
                        Step::Receive { sku, location, quantity } => {
                            receive(&store, &w, *sku, *location, *quantity).await;
                        }
                        Step::Edit { bundle, recipe } => {
                            store
                                .set_bundle_components(w.tenant, &format!("B{bundle}"), &parts(recipe))
                                .await
                                .unwrap();
                            recipes[*bundle] = recipe.clone();
                        }
                    }
                    check(&store, &w, &recipes, &e).await;
                }
                store.close().await;
            }
        });
    }
}
