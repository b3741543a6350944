//! The store conformance suite: one story per area, run on SQLite always and
//! on PostgreSQL when `JAEGO_TEST_POSTGRES_URL` is set, each on a fresh
//! database.

use jaego_core::catalog::LocationKind;
use jaego_core::{Balance, MovementKind, Role, StockPolicy, TenantId};
use jaego_store::catalog::{NewSku, SkuFilter};
use jaego_store::idempotency::Claim;
use jaego_store::ledger::{MovementFilter, NewMovement, NewTransfer};
use jaego_store::places::{Location, NewChannel, NewLocation};
use jaego_store::reservations::{ReserveInput, Source};
use jaego_store::testing::fresh_databases;
use jaego_store::{PageRequest, Store, StoreError, StoreOptions};

async fn stores(test: &str) -> Vec<(Store, jaego_store::testing::TestDatabase)> {
    let mut out = Vec::new();
    for db in fresh_databases(test).await {
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.engine));
        out.push((store, db));
    }
    out
}

async fn location(store: &Store, tenant: TenantId, code: &str, policy: StockPolicy) -> Location {
    let new = NewLocation {
        code: code.into(),
        name: format!("Location {code}"),
        kind: LocationKind::Warehouse,
        time_zone: "Asia/Seoul".into(),
        latitude: Some(37.56),
        longitude: Some(126.97),
        policy,
    };
    store.create_location(tenant, &new).await.unwrap()
}

fn sku(code: &str, barcodes: &[&str]) -> NewSku {
    NewSku {
        code: code.into(),
        name: format!("SKU {code}"),
        product_id: None,
        tracked: true,
        barcodes: barcodes.iter().map(ToString::to_string).collect(),
        option_tags: vec!["color:red".into()],
    }
}

fn movement(
    sku: jaego_core::SkuId,
    location: jaego_core::LocationId,
    kind: MovementKind,
    quantity: i64,
) -> NewMovement {
    NewMovement {
        sku_id: sku,
        location_id: location,
        kind,
        custom_type: None,
        quantity,
        reason: "test".into(),
        reference: String::new(),
        actor: "test".into(),
        idempotency_key: None,
    }
}

fn reserve_at(location: &str, lines: &[(&str, i64)], ttl_secs: i64) -> ReserveInput {
    ReserveInput {
        source: Source::Location(location.into()),
        lines: lines.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
        ttl_secs,
        reference: "cart-1".into(),
        actor: "test".into(),
    }
}

async fn reserve(
    store: &Store,
    tenant: TenantId,
    input: &ReserveInput,
) -> Result<jaego_store::reservations::Reservation, StoreError> {
    let request = store.prepare_reservation(tenant, input).await?;
    store.reserve(request).await
}

async fn assert_verified(store: &Store, engine: &str) {
    let mismatches = store.verify().await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{engine}: ledger and balances disagree: {mismatches:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_and_tokens() {
    for (store, db) in stores("bootstrap_and_tokens").await {
        let first = store
            .bootstrap()
            .await
            .unwrap()
            .expect("first start creates a tenant");
        assert!(
            store.bootstrap().await.unwrap().is_none(),
            "{}: second start creates nothing",
            db.engine
        );
        let owner = store.authenticate(&first.secret).await.unwrap().unwrap();
        assert_eq!(owner.role, Role::Owner);
        let staff = store
            .create_token(first.tenant_id, Role::Staff, "till 1")
            .await
            .unwrap();
        assert_eq!(
            store
                .authenticate(&staff.secret)
                .await
                .unwrap()
                .unwrap()
                .role,
            Role::Staff
        );
        store.revoke_token(first.tenant_id, staff.id).await.unwrap();
        assert!(store.authenticate(&staff.secret).await.unwrap().is_none());
        assert!(store.authenticate("jg_wrong").await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_uniqueness_and_paging() {
    for (store, db) in stores("catalog_uniqueness_and_paging").await {
        let tenant = store.create_tenant("a").await.unwrap();
        let other = store.create_tenant("b").await.unwrap();
        let a = store
            .create_sku(tenant, &sku("A-1", &["8801"]))
            .await
            .unwrap();
        let dup = store
            .create_sku(tenant, &sku("A-1", &[]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                dup,
                StoreError::Duplicate {
                    what: "sku code",
                    ..
                }
            ),
            "{}: {dup:?}",
            db.engine
        );
        let dup = store
            .create_sku(tenant, &sku("A-2", &["8801"]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                dup,
                StoreError::Duplicate {
                    what: "barcode",
                    ..
                }
            ),
            "{}: {dup:?}",
            db.engine
        );
        // The failed insert left nothing behind.
        assert!(matches!(
            store.find_sku(tenant, "A-2").await,
            Err(StoreError::NotFound { .. })
        ));
        // Codes and barcodes are per tenant.
        store
            .create_sku(other, &sku("A-1", &["8801"]))
            .await
            .unwrap();
        assert!(matches!(
            store.get_sku(other, a.id).await,
            Err(StoreError::NotFound { .. })
        ));

        for i in 0..7 {
            store
                .create_sku(tenant, &sku(&format!("P-{i}"), &[]))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: Some(3),
        };
        loop {
            let got = store
                .list_skus(tenant, &SkuFilter::default(), &page)
                .await
                .unwrap();
            assert!(got.items.len() <= 3);
            seen.extend(got.items.into_iter().map(|s| s.code));
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 8, "{}: {seen:?}", db.engine);
        let found = store
            .list_skus(
                tenant,
                &SkuFilter {
                    barcode: Some("8801".into()),
                    ..SkuFilter::default()
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            found
                .items
                .iter()
                .map(|s| s.code.as_str())
                .collect::<Vec<_>>(),
            ["A-1"]
        );
        let found = store
            .list_skus(
                tenant,
                &SkuFilter {
                    q: Some("p-".into()),
                    ..SkuFilter::default()
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            found.items.len(),
            7,
            "{}: search is case-insensitive",
            db.engine
        );
        let found = store
            .list_skus(
                tenant,
                &SkuFilter {
                    tag: Some("color:red".into()),
                    ..SkuFilter::default()
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(found.items.len(), 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_movements_and_transfers() {
    for (store, db) in stores("ledger_movements_and_transfers").await {
        let e = db.engine;
        let tenant = store.create_tenant("a").await.unwrap();
        let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
        let shop = location(&store, tenant, "SHOP", StockPolicy::Strict).await;
        let s = store.create_sku(tenant, &sku("S", &[])).await.unwrap();
        store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Receipt, 10))
            .await
            .unwrap();
        store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Adjustment, -2))
            .await
            .unwrap();
        let short = store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Adjustment, -9))
            .await
            .unwrap_err();
        assert!(matches!(short, StoreError::Shortage(_)), "{e}: {short:?}");
        let count = store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Count, 5))
            .await
            .unwrap();
        assert_eq!(count.quantity, -3, "{e}: a count records the difference");
        store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::SafetyStock, 1))
            .await
            .unwrap();
        store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Expect, 4))
            .await
            .unwrap();
        let b = store.balance(tenant, s.id, wh.id).await.unwrap();
        assert_eq!(
            b,
            Balance {
                on_hand: 5,
                incoming: 4,
                safety_stock: 1,
                ..Balance::default()
            },
            "{e}"
        );
        assert_eq!(b.available(), 4);

        let t = store
            .create_transfer(
                tenant,
                &NewTransfer {
                    sku_id: s.id,
                    from_location_id: wh.id,
                    to_location_id: shop.id,
                    quantity: 3,
                    reference: "T1".into(),
                    actor: "t".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .balance(tenant, s.id, shop.id)
                .await
                .unwrap()
                .in_transit,
            3
        );
        assert_eq!(store.balance(tenant, s.id, wh.id).await.unwrap().on_hand, 2);
        assert_verified(&store, e).await;
        store.receive_transfer(tenant, t.id, "t").await.unwrap();
        assert!(matches!(
            store.receive_transfer(tenant, t.id, "t").await,
            Err(StoreError::TransferReceived)
        ));
        let b = store.balance(tenant, s.id, shop.id).await.unwrap();
        assert_eq!((b.on_hand, b.in_transit), (3, 0), "{e}");
        let shortage = store
            .create_transfer(
                tenant,
                &NewTransfer {
                    sku_id: s.id,
                    from_location_id: wh.id,
                    to_location_id: shop.id,
                    quantity: 9,
                    reference: String::new(),
                    actor: "t".into(),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(shortage, StoreError::Shortage(_)));

        let movements = store
            .list_movements(
                tenant,
                &MovementFilter {
                    location_id: Some(wh.id),
                    ..MovementFilter::default()
                },
                &PageRequest::default(),
            )
            .await
            .unwrap();
        let kinds: Vec<_> = movements.items.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "receipt",
                "adjustment",
                "count",
                "safety_stock",
                "expect",
                "transfer_out"
            ],
            "{e}"
        );
        assert_verified(&store, e).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_commit_release_expire() {
    for (store, db) in stores("reservations_commit_release_expire").await {
        let e = db.engine;
        let tenant = store.create_tenant("a").await.unwrap();
        let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
        let a = store.create_sku(tenant, &sku("A", &[])).await.unwrap();
        let b = store.create_sku(tenant, &sku("B", &[])).await.unwrap();
        store
            .record_movement(tenant, &movement(a.id, wh.id, MovementKind::Receipt, 10))
            .await
            .unwrap();
        store
            .record_movement(tenant, &movement(b.id, wh.id, MovementKind::Receipt, 2))
            .await
            .unwrap();

        // All lines or none, and lines sharing a SKU are judged together.
        let err = reserve(&store, tenant, &reserve_at("WH", &[("A", 1), ("B", 3)], 60))
            .await
            .unwrap_err();
        let StoreError::Shortage(lines) = err else {
            panic!("{e}: expected a shortage")
        };
        assert_eq!(
            (
                lines.len(),
                lines[0].line,
                lines[0].requested,
                lines[0].available
            ),
            (1, 1, 3, 2),
            "{e}"
        );
        let err = reserve(&store, tenant, &reserve_at("WH", &[("B", 1), ("B", 2)], 60))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Shortage(_)), "{e}");
        assert_eq!(
            store.balance(tenant, a.id, wh.id).await.unwrap().reserved,
            0,
            "{e}: a short request takes nothing"
        );

        let r = reserve(&store, tenant, &reserve_at("WH", &[("A", 4), ("B", 2)], 60))
            .await
            .unwrap();
        assert_eq!(
            store
                .balance(tenant, a.id, wh.id)
                .await
                .unwrap()
                .available(),
            6
        );
        let committed = store
            .commit_reservation(tenant, r.id, Some(&[(1, 3)]), "t")
            .await
            .unwrap();
        assert_eq!(committed.lines[0].committed, Some(3));
        assert_eq!(committed.lines[1].committed, Some(0));
        let ba = store.balance(tenant, a.id, wh.id).await.unwrap();
        assert_eq!(
            (ba.reserved, ba.allocated, ba.available()),
            (0, 3, 7),
            "{e}"
        );
        assert_eq!(
            store
                .balance(tenant, b.id, wh.id)
                .await
                .unwrap()
                .available(),
            2,
            "{e}: uncommitted rest released"
        );
        let again = store
            .release_reservation(tenant, r.id, "t")
            .await
            .unwrap_err();
        assert!(
            matches!(
                again,
                StoreError::AlreadyResolved(jaego_core::ReservationState::Committed)
            ),
            "{e}: {again:?}"
        );
        store
            .record_movement(tenant, &movement(a.id, wh.id, MovementKind::Shipment, 3))
            .await
            .unwrap();
        let ba = store.balance(tenant, a.id, wh.id).await.unwrap();
        assert_eq!((ba.on_hand, ba.allocated), (7, 0));

        let r = reserve(&store, tenant, &reserve_at("WH", &[("A", 2)], 60))
            .await
            .unwrap();
        store.release_reservation(tenant, r.id, "t").await.unwrap();
        assert_eq!(
            store.balance(tenant, a.id, wh.id).await.unwrap().reserved,
            0
        );

        let r = reserve(&store, tenant, &reserve_at("WH", &[("A", 5)], 1))
            .await
            .unwrap();
        assert_eq!(
            store.expire_due(jaego_store::now_us(), 100).await.unwrap(),
            0,
            "{e}: not due yet"
        );
        let later = r.expires_at;
        assert_eq!(store.expire_due(later, 100).await.unwrap(), 1);
        assert_eq!(
            store.expire_due(later, 100).await.unwrap(),
            0,
            "{e}: expired exactly once"
        );
        assert_eq!(
            store.get_reservation(tenant, r.id).await.unwrap().state,
            jaego_core::ReservationState::Expired
        );
        assert_eq!(
            store.balance(tenant, a.id, wh.id).await.unwrap().reserved,
            0
        );
        assert_verified(&store, e).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_reservations_and_unlimited() {
    for (store, db) in stores("channel_reservations_and_unlimited").await {
        let e = db.engine;
        let tenant = store.create_tenant("a").await.unwrap();
        let first = location(&store, tenant, "L1", StockPolicy::Strict).await;
        let second = location(&store, tenant, "L2", StockPolicy::Strict).await;
        let s = store.create_sku(tenant, &sku("S", &[])).await.unwrap();
        store
            .record_movement(tenant, &movement(s.id, first.id, MovementKind::Receipt, 2))
            .await
            .unwrap();
        store
            .record_movement(tenant, &movement(s.id, second.id, MovementKind::Receipt, 5))
            .await
            .unwrap();
        let channel = NewChannel {
            code: "mall".into(),
            name: "Mall".into(),
            kind: "web".into(),
            policy: None,
            locations: vec![first.id, second.id],
        };
        store.create_channel(tenant, &channel).await.unwrap();
        let via = |q| ReserveInput {
            source: Source::Channel("mall".into()),
            lines: vec![("S".into(), q)],
            ttl_secs: 60,
            reference: String::new(),
            actor: "t".into(),
        };
        let r = reserve(&store, tenant, &via(2)).await.unwrap();
        assert_eq!(
            r.lines[0].location_id, first.id,
            "{e}: highest priority first"
        );
        let r = reserve(&store, tenant, &via(2)).await.unwrap();
        assert_eq!(r.lines[0].location_id, second.id, "{e}: then the next");
        assert!(matches!(
            reserve(&store, tenant, &via(4)).await,
            Err(StoreError::Shortage(_))
        ));

        let backorder = location(&store, tenant, "BO", StockPolicy::Unlimited).await;
        reserve(&store, tenant, &reserve_at("BO", &[("S", 3)], 60))
            .await
            .unwrap();
        assert_eq!(
            store
                .balance(tenant, s.id, backorder.id)
                .await
                .unwrap()
                .available(),
            -3,
            "{e}: backorders show as negative"
        );
        assert_verified(&store, e).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_oversell() {
    for group_commit in [true, false] {
        for db in fresh_databases("concurrent_reservations_never_oversell").await {
            let store = Store::connect(
                &db.url,
                StoreOptions {
                    group_commit,
                    ..StoreOptions::default()
                },
            )
            .await
            .unwrap();
            let tenant = store.create_tenant("a").await.unwrap();
            let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
            let s = store.create_sku(tenant, &sku("HOT", &[])).await.unwrap();
            store
                .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Receipt, 50))
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for _ in 0..200 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    reserve(&store, tenant, &reserve_at("WH", &[("HOT", 1)], 60)).await
                }));
            }
            let mut ok = 0;
            let mut short = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => ok += 1,
                    Err(StoreError::Shortage(_)) => short += 1,
                    Err(other) => panic!("{}: unexpected {other:?}", db.engine),
                }
            }
            assert_eq!(
                (ok, short),
                (50, 150),
                "{} group_commit={group_commit}",
                db.engine
            );
            let b = store.balance(tenant, s.id, wh.id).await.unwrap();
            assert_eq!((b.reserved, b.available()), (50, 0));
            assert_verified(&store, db.engine).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys() {
    for (store, db) in stores("idempotency_keys").await {
        let tenant = store.create_tenant("a").await.unwrap();
        assert_eq!(
            store.claim_idempotency(tenant, "k1", "h1").await.unwrap(),
            Claim::Fresh
        );
        assert_eq!(
            store.claim_idempotency(tenant, "k1", "h1").await.unwrap(),
            Claim::InProgress,
            "{}",
            db.engine
        );
        assert_eq!(
            store.claim_idempotency(tenant, "k1", "h2").await.unwrap(),
            Claim::Mismatch
        );
        store
            .complete_idempotency(tenant, "k1", 201, "{}")
            .await
            .unwrap();
        assert_eq!(
            store.claim_idempotency(tenant, "k1", "h1").await.unwrap(),
            Claim::Replay {
                status: 201,
                body: "{}".into()
            }
        );
        assert_eq!(
            store.claim_idempotency(tenant, "k2", "h1").await.unwrap(),
            Claim::Fresh
        );
        store.abandon_idempotency(tenant, "k2").await.unwrap();
        assert_eq!(
            store.claim_idempotency(tenant, "k2", "h1").await.unwrap(),
            Claim::Fresh,
            "abandoned keys can be retried"
        );
        let other = store.create_tenant("b").await.unwrap();
        assert_eq!(
            store.claim_idempotency(other, "k1", "h9").await.unwrap(),
            Claim::Fresh,
            "keys are per tenant"
        );
    }
}
