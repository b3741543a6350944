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
use sqlx::Connection;

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
            let (store, tenant, hot, wh) = hot_sku_store(&db.url, group_commit, 50).await;
            // One at a time, nothing shares a commit: each request is applied
            // at once on its own task, never handed to the worker.
            for _ in 0..5 {
                reserve(&store, tenant, &reserve_at("WH", &[("HOT", 1)], 60))
                    .await
                    .unwrap();
            }
            if group_commit {
                let stats = store.group_commit_stats().expect("group commit is on");
                assert_eq!(
                    (stats.direct_requests, stats.worker_requests),
                    (5, 0),
                    "{}",
                    db.engine
                );
            } else {
                assert_eq!(store.group_commit_stats(), None);
            }
            let mut ok = 0;
            let mut short = 0;
            for answer in burst(&store, tenant, 195).await {
                match answer {
                    Ok(()) => ok += 1,
                    Err(StoreError::Shortage(_)) => short += 1,
                    Err(other) => panic!("{}: unexpected {other:?}", db.engine),
                }
            }
            assert_eq!(
                (ok, short),
                (45, 150),
                "{} group_commit={group_commit}",
                db.engine
            );
            // Together, they queue while the first is applied and the worker
            // takes them in shared transactions.
            if let Some(stats) = store.group_commit_stats() {
                assert_eq!(
                    stats.direct_requests + stats.worker_requests,
                    200,
                    "{}: {stats:?}",
                    db.engine
                );
                assert!(
                    stats.worker_requests > 0 && stats.worker_batches < stats.worker_requests,
                    "{}: no request shared a transaction: {stats:?}",
                    db.engine
                );
            }
            let b = store.balance(tenant, hot, wh).await.unwrap();
            assert_eq!((b.reserved, b.available()), (50, 0));
            assert_verified(&store, db.engine).await;
        }
    }
}

/// A store on `url` with `stock` units of SKU `HOT` at the strict location
/// `WH`: (store, tenant, the SKU, the location).
async fn hot_sku_store(
    url: &str,
    group_commit: bool,
    stock: i64,
) -> (Store, TenantId, jaego_core::SkuId, jaego_core::LocationId) {
    let store = Store::connect(
        url,
        StoreOptions {
            group_commit,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let tenant = store.create_tenant("a").await.unwrap();
    let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
    let hot = store.create_sku(tenant, &sku("HOT", &[])).await.unwrap();
    store
        .record_movement(
            tenant,
            &movement(hot.id, wh.id, MovementKind::Receipt, stock),
        )
        .await
        .unwrap();
    (store, tenant, hot.id, wh.id)
}

/// `count` reservations of one unit of `HOT` at `WH`, all at once.
async fn burst(store: &Store, tenant: TenantId, count: usize) -> Vec<Result<(), StoreError>> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                reserve(&store, tenant, &reserve_at("WH", &[("HOT", 1)], 60))
                    .await
                    .map(drop)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// On PostgreSQL the group-commit worker holds a connection of its own.
/// When PostgreSQL ends it (a restart, a failover, an administrator) while
/// it is unused, the worker's next batch connects again: no request is
/// refused for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_commit_worker_connects_again_after_postgres_ends_its_session() {
    let test = "the_group_commit_worker_connects_again_after_postgres_ends_its_session";
    let Some(db) = jaego_store::testing::fresh_postgres_if_set(test).await else {
        return;
    };
    let (store, tenant, hot, wh) = hot_sku_store(&db.url, true, 1_000).await;
    assert!(burst(&store, tenant, 100).await.iter().all(Result::is_ok));
    let before = store.group_commit_stats().expect("group commit is on");
    assert!(before.worker_batches > 0, "{before:?}");

    // Unused for more than a second, a connection is tested before its next
    // batch (under load it is not: the test would cost each batch a round
    // trip), so nothing is refused.
    end_other_sessions(&db.url).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let answers = burst(&store, tenant, 100).await;
    let failed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "refused after the sessions ended: {failed:?}"
    );
    let after = store.group_commit_stats().unwrap();
    assert!(
        after.worker_batches > before.worker_batches,
        "the worker ran no batch after its session ended: {after:?}"
    );

    // Ended and used at once: a batch on the lost connection may be refused
    // as unavailable (nothing of it applied), and the connection is replaced
    // for the next.
    end_other_sessions(&db.url).await;
    let answers = burst(&store, tenant, 100).await;
    let refused = answers.iter().filter(|a| a.is_err()).count();
    for a in &answers {
        assert!(
            matches!(a, Ok(()) | Err(StoreError::Unavailable(_))),
            "{a:?}"
        );
    }
    assert!(burst(&store, tenant, 100).await.iter().all(Result::is_ok));
    let b = store.balance(tenant, hot, wh).await.unwrap();
    assert_eq!(b.reserved, 400 - refused as i64);
    assert_verified(&store, db.engine).await;
}

/// Ends every session of the PostgreSQL database at `url` but its own: the
/// store's pool, group-commit worker and (once connected) event listener.
async fn end_other_sessions(url: &str) {
    let mut admin = sqlx::AnyConnection::connect(url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    // At least the worker's and the pool's.
    assert!(ended >= 2, "only {ended} sessions to end");
    admin.close().await.unwrap();
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

/// Opens `url` with group commit on or off.
async fn open(url: &str, group_commit: bool) -> Store {
    Store::connect(
        url,
        StoreOptions {
            group_commit,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Commits and releases that arrive together share a batch with new
/// reservations, and each is still answered on its own: two resolutions of
/// one reservation racing (exactly one wins, the other is told what
/// happened), full and partial commits, releases whose units new
/// reservations in the same flood may take, and a commit after the
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_resolutions_answer_each_on_its_own() {
    use jaego_core::ReservationState::{Committed, Expired, Open, Released};
    for group_commit in [true, false] {
        for db in fresh_databases("batched_resolutions_answer_each_on_its_own").await {
            let e = format!("{} group_commit={group_commit}", db.engine);
            let store = open(&db.url, group_commit).await;
            let tenant = store.create_tenant("a").await.unwrap();
            let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
            let a = store.create_sku(tenant, &sku("A", &[])).await.unwrap();
            let b = store.create_sku(tenant, &sku("B", &[])).await.unwrap();
            for s in [&a, &b] {
                store
                    .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Receipt, 40))
                    .await
                    .unwrap();
            }
            // 20 reservations of 2 A + 1 B: every unit of A is held.
            let mut held = Vec::new();
            for _ in 0..20 {
                held.push(
                    reserve(
                        &store,
                        tenant,
                        &reserve_at("WH", &[("A", 2), ("B", 1)], 600),
                    )
                    .await
                    .unwrap(),
                );
            }
            let late = reserve(&store, tenant, &reserve_at("WH", &[("B", 1)], 1))
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

            // Everything at once: per held reservation i, i % 4 picks
            // 0 commit all, 1 commit line 1 partly, 2 release, 3 commit and
            // release racing; plus a commit of the late one and 20 new
            // reservations of 2 A, which only released units can serve.
            let mut tasks = Vec::new();
            for (i, r) in held.iter().enumerate() {
                // Some(lines): a commit (None: of every line); None: a release.
                type Plan = Option<Option<Vec<(i64, i64)>>>;
                let plans: Vec<Plan> = match i % 4 {
                    0 => vec![Some(None)],
                    1 => vec![Some(Some(vec![(1, 1)]))],
                    2 => vec![None],
                    _ => vec![Some(None), None],
                };
                for plan in plans {
                    let store = store.clone();
                    let id = r.id;
                    tasks.push(tokio::spawn(async move {
                        let answer = match &plan {
                            Some(lines) => {
                                store
                                    .commit_reservation(tenant, id, lines.as_deref(), "t")
                                    .await
                            }
                            None => store.release_reservation(tenant, id, "t").await,
                        };
                        (Some((i, plan.is_some())), answer)
                    }));
                }
            }
            {
                let store = store.clone();
                let id = late.id;
                tasks.push(tokio::spawn(async move {
                    (None, store.commit_reservation(tenant, id, None, "t").await)
                }));
            }
            for _ in 0..20 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    (
                        None,
                        reserve(&store, tenant, &reserve_at("WH", &[("A", 2)], 600)).await,
                    )
                }));
            }

            let mut winners: std::collections::HashMap<usize, jaego_core::ReservationState> =
                Default::default();
            let mut losers = Vec::new();
            let (mut new_granted, mut new_short) = (0, 0);
            for task in tasks {
                match task.await.unwrap() {
                    (Some((i, _)), Ok(r)) => {
                        assert!(
                            winners.insert(i, r.state).is_none(),
                            "{e}: two resolutions of reservation {i} succeeded"
                        );
                        let expected: Vec<Option<i64>> = match (i % 4, r.state) {
                            (0 | 3, Committed) => vec![Some(2), Some(1)],
                            (1, Committed) => vec![Some(1), Some(0)],
                            (2 | 3, Released) => vec![Some(0), Some(0)],
                            other => panic!("{e}: reservation {i} ended {other:?}"),
                        };
                        let got: Vec<Option<i64>> = r.lines.iter().map(|l| l.committed).collect();
                        assert_eq!(got, expected, "{e}: reservation {i}");
                    }
                    (Some((i, _)), Err(StoreError::AlreadyResolved(state))) => {
                        losers.push((i, state));
                    }
                    (None, Err(StoreError::Expired)) => {}
                    (None, Ok(r)) if r.state == Open => new_granted += 1,
                    (None, Err(StoreError::Shortage(_))) => new_short += 1,
                    other => panic!("{e}: unexpected {other:?}"),
                }
            }
            assert_eq!(winners.len(), 20, "{e}: every reservation resolved once");
            assert_eq!(losers.len(), 5, "{e}: one loser per race");
            for (i, state) in losers {
                assert_eq!(
                    Some(&state),
                    winners.get(&i),
                    "{e}: the loser is told the winner's state"
                );
            }
            assert_eq!(new_granted + new_short, 20, "{e}");

            // Each reservation's stored lines say what its answer said.
            for (i, r) in held.iter().enumerate() {
                let stored = store.get_reservation(tenant, r.id).await.unwrap();
                assert_eq!(Some(&stored.state), winners.get(&i), "{e}: reservation {i}");
            }
            assert_eq!(
                store.get_reservation(tenant, late.id).await.unwrap().state,
                Open,
                "{e}: a refused late commit leaves it for the expiry job"
            );
            assert_eq!(
                store.expire_due(jaego_store::now_us(), 100).await.unwrap(),
                1,
                "{e}"
            );
            assert_eq!(
                store.get_reservation(tenant, late.id).await.unwrap().state,
                Expired,
                "{e}"
            );

            // Units of A: 40 on hand; allocated is what the commits took,
            // reserved what the new reservations hold; never more than 40.
            let committed_a: i64 = winners
                .iter()
                .map(|(i, s)| match (i % 4, s) {
                    (0 | 3, Committed) => 2,
                    (1, Committed) => 1,
                    _ => 0,
                })
                .sum();
            let ba = store.balance(tenant, a.id, wh.id).await.unwrap();
            assert_eq!(
                (ba.allocated, ba.reserved),
                (committed_a, 2 * new_granted),
                "{e}: {ba:?}"
            );
            assert!(ba.available() >= 0, "{e}: oversold {ba:?}");
            assert!(
                new_granted * 2 <= 40 - committed_a,
                "{e}: granted more than the released units"
            );
            let bb = store.balance(tenant, b.id, wh.id).await.unwrap();
            assert_eq!(bb.reserved, 0, "{e}: {bb:?}");
            assert_verified(&store, &e).await;
        }
    }
}

/// Commits race the expiry job, from two store instances on one database:
/// each reservation is resolved exactly once, a commit that loses is told
/// the reservation expired, and the ledger agrees with the balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_racing_expiry_resolve_once() {
    for db in fresh_databases("commits_racing_expiry_resolve_once").await {
        let e = db.engine;
        let store = open(&db.url, true).await;
        let other = open(&db.url, true).await;
        let tenant = store.create_tenant("a").await.unwrap();
        let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
        let s = store.create_sku(tenant, &sku("S", &[])).await.unwrap();
        store
            .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Receipt, 300))
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..300 {
            held.push(
                reserve(&store, tenant, &reserve_at("WH", &[("S", 1)], 600))
                    .await
                    .unwrap(),
            );
        }
        // The expiry job of the other instance runs with a clock past every
        // deadline while this instance commits them (its own clock is
        // before the deadlines, so core lets every commit through to the
        // claim).
        let deadline = held.iter().map(|r| r.expires_at).max().unwrap();
        let expiry = {
            let other = other.clone();
            tokio::spawn(async move {
                let mut expired = 0;
                loop {
                    let n = other.expire_due(deadline, 7).await.unwrap();
                    expired += n;
                    if n == 0 {
                        return expired;
                    }
                }
            })
        };
        let mut commits = Vec::new();
        for r in &held {
            let store = store.clone();
            let id = r.id;
            commits.push(tokio::spawn(async move {
                store.commit_reservation(tenant, id, None, "t").await
            }));
        }
        let mut committed = 0;
        for c in commits {
            match c.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.state, jaego_core::ReservationState::Committed, "{e}");
                    committed += 1;
                }
                Err(StoreError::AlreadyResolved(jaego_core::ReservationState::Expired)) => {}
                Err(other) => panic!("{e}: unexpected {other:?}"),
            }
        }
        let expired = expiry.await.unwrap();
        // The expiry loop may stop while commits are still queued; what
        // neither took is still open and expires now.
        let rest = other.expire_due(deadline, 500).await.unwrap();
        assert_eq!(
            committed + expired + rest,
            300,
            "{e}: each resolved exactly once"
        );
        let b = store.balance(tenant, s.id, wh.id).await.unwrap();
        assert_eq!(
            (b.on_hand, b.reserved, b.allocated),
            (300, 0, committed as i64),
            "{e}"
        );
        let committed_movements = store
            .list_movements(
                tenant,
                &MovementFilter {
                    kind: Some(MovementKind::Commit),
                    ..MovementFilter::default()
                },
                &PageRequest {
                    after: None,
                    limit: Some(500),
                },
            )
            .await
            .unwrap();
        assert_eq!(committed_movements.items.len(), committed, "{e}");
        assert_verified(&store, e).await;
    }
}

/// Random reservations, commits, releases and receipts from many tasks at
/// once, with group commit on and off: no row ever holds more reserved and
/// allocated units than it has, every granted unit is accounted for by the
/// answers the clients got, and the ledger agrees with the balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_concurrent_load_never_grants_more_than_stock() {
    const TASKS: u64 = 24;
    const STEPS: usize = 25;
    const SKUS: usize = 4;
    for group_commit in [true, false] {
        for db in fresh_databases("random_concurrent_load_never_grants_more_than_stock").await {
            let e = format!("{} group_commit={group_commit}", db.engine);
            let store = open(&db.url, group_commit).await;
            let tenant = store.create_tenant("a").await.unwrap();
            let wh = location(&store, tenant, "WH", StockPolicy::Strict).await;
            let mut skus = Vec::new();
            for i in 0..SKUS {
                let s = store
                    .create_sku(tenant, &sku(&format!("S{i}"), &[]))
                    .await
                    .unwrap();
                store
                    .record_movement(tenant, &movement(s.id, wh.id, MovementKind::Receipt, 10))
                    .await
                    .unwrap();
                skus.push(s.id);
            }
            let mut tasks = Vec::new();
            for t in 0..TASKS {
                let store = store.clone();
                let skus = skus.clone();
                tasks.push(tokio::spawn(async move {
                    // xorshift, seeded per task: repeatable.
                    let mut x = 0x2545_F491_4F6C_DD1D ^ (t + 1).wrapping_mul(0x9E37_79B9);
                    let mut next = move |n: u64| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x % n
                    };
                    // Per SKU index: units this task got granted, committed,
                    // and received.
                    let mut granted = [0i64; SKUS];
                    let mut committed = [0i64; SKUS];
                    let mut received = [0i64; SKUS];
                    let mut open = Vec::new();
                    for _ in 0..STEPS {
                        match next(10) {
                            0..=4 => {
                                let lines: Vec<(String, i64)> = (0..1 + next(3))
                                    .map(|_| {
                                        (format!("S{}", next(SKUS as u64)), 1 + next(3) as i64)
                                    })
                                    .collect();
                                let input = ReserveInput {
                                    source: Source::Location("WH".into()),
                                    lines,
                                    ttl_secs: 600,
                                    reference: String::new(),
                                    actor: "t".into(),
                                };
                                match reserve(&store, tenant, &input).await {
                                    Ok(r) => {
                                        for l in &r.lines {
                                            let i =
                                                skus.iter().position(|s| *s == l.sku_id).unwrap();
                                            granted[i] += l.quantity;
                                        }
                                        open.push(r);
                                    }
                                    Err(StoreError::Shortage(_)) => {}
                                    Err(other) => panic!("reserve: {other:?}"),
                                }
                            }
                            5..=6 if !open.is_empty() => {
                                let r = open.swap_remove(next(open.len() as u64) as usize);
                                let done = store
                                    .commit_reservation(tenant, r.id, None, "t")
                                    .await
                                    .unwrap();
                                for l in &done.lines {
                                    let i = skus.iter().position(|s| *s == l.sku_id).unwrap();
                                    committed[i] += l.committed.unwrap();
                                }
                            }
                            7..=8 if !open.is_empty() => {
                                let r = open.swap_remove(next(open.len() as u64) as usize);
                                store.release_reservation(tenant, r.id, "t").await.unwrap();
                            }
                            _ => {
                                let i = next(SKUS as u64) as usize;
                                store
                                    .record_movement(
                                        tenant,
                                        &movement(skus[i], wh.id, MovementKind::Receipt, 2),
                                    )
                                    .await
                                    .unwrap();
                                received[i] += 2;
                            }
                        }
                    }
                    let mut still = [0i64; SKUS];
                    for r in &open {
                        for l in &r.lines {
                            let i = skus.iter().position(|s| *s == l.sku_id).unwrap();
                            still[i] += l.quantity;
                        }
                    }
                    (granted, committed, received, still)
                }));
            }
            let mut committed = [0i64; SKUS];
            let mut received = [10i64; SKUS];
            let mut still = [0i64; SKUS];
            let mut granted = [0i64; SKUS];
            for task in tasks {
                let (g, c, r, s) = task.await.unwrap();
                for i in 0..SKUS {
                    granted[i] += g[i];
                    committed[i] += c[i];
                    received[i] += r[i];
                    still[i] += s[i];
                }
            }
            for (i, s) in skus.iter().enumerate() {
                let b = store.balance(tenant, *s, wh.id).await.unwrap();
                assert_eq!(
                    (b.on_hand, b.reserved, b.allocated),
                    (received[i], still[i], committed[i]),
                    "{e}: S{i}"
                );
                assert!(
                    b.reserved + b.allocated <= b.on_hand,
                    "{e}: S{i} oversold: {b:?}"
                );
                assert!(
                    granted[i] > 0,
                    "{e}: S{i} never granted; the load is too small"
                );
            }
            assert_verified(&store, &e).await;
        }
    }
}
