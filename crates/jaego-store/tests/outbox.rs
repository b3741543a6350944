//! The transactional outbox on both engines: no event without its change,
//! no change without its event, gap-free ordered sequences per tenant,
//! filters, and wake-ups across instances on PostgreSQL.

use std::time::Duration;

use jaego_core::catalog::LocationKind;
use jaego_core::{MovementKind, StockPolicy, TenantId};
use jaego_store::catalog::NewSku;
use jaego_store::events::{Event, EventFilter};
use jaego_store::ledger::NewMovement;
use jaego_store::places::NewLocation;
use jaego_store::reservations::{ReserveInput, Source};
use jaego_store::testing::{fresh_databases, receipt};
use jaego_store::{Store, StoreError, StoreOptions};
use serde_json::Value;

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

fn sku(code: &str) -> NewSku {
    NewSku {
        code: code.into(),
        name: format!("SKU {code}"),
        product_id: None,
        tracked: true,
        barcodes: Vec::new(),
        option_tags: Vec::new(),
    }
}

async fn warehouse(store: &Store, tenant: TenantId, code: &str) -> jaego_core::LocationId {
    let new = NewLocation {
        code: code.into(),
        name: code.into(),
        kind: LocationKind::Warehouse,
        time_zone: "Asia/Seoul".into(),
        latitude: None,
        longitude: None,
        policy: StockPolicy::Strict,
    };
    store.create_location(tenant, &new).await.unwrap().id
}

async fn all_events(store: &Store, tenant: TenantId) -> Vec<Event> {
    store
        .events_after(tenant, 0, &EventFilter::default(), 10_000)
        .await
        .unwrap()
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn data(event: &Event) -> Value {
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_writes_its_event_and_a_refusal_writes_none() {
    for (store, db) in stores("every_change_writes_its_event_and_a_refusal_writes_none").await {
        let engine = db.engine;
        let tenant = store.create_tenant("a").await.unwrap();
        let location = warehouse(&store, tenant, "wh").await;
        let shirt = store.create_sku(tenant, &sku("TS")).await.unwrap();
        store
            .record_movement(tenant, &receipt(shirt.id, location, 5))
            .await
            .unwrap();
        let before = all_events(&store, tenant).await;
        assert_eq!(
            kinds(&before),
            ["location.created", "sku.created", "stock.changed"],
            "{engine}"
        );
        let stock = data(&before[2]);
        assert_eq!(stock["on_hand"], 5, "{engine}");
        assert_eq!(stock["available"], 5, "{engine}");
        assert_eq!(before[2].sku_id, Some(shirt.id), "{engine}");
        assert_eq!(before[2].location_id, Some(location), "{engine}");

        // A transaction that fails midway (the second SKU's code is taken)
        // leaves neither its changes nor its events.
        let failed = store
            .create_skus(tenant, &[sku("NEW-1"), sku("TS")])
            .await
            .unwrap_err();
        assert!(
            matches!(failed, StoreError::Duplicate { .. }),
            "{engine}: {failed:?}"
        );
        assert!(store.find_sku(tenant, "NEW-1").await.is_err(), "{engine}");
        // A refused reservation and a refused shipment change nothing and say nothing.
        let short = ReserveInput {
            source: Source::Location("wh".into()),
            lines: vec![("TS".into(), 6)],
            ttl_secs: 60,
            reference: String::new(),
            actor: "test".into(),
        };
        let request = store.prepare_reservation(tenant, &short).await.unwrap();
        assert!(matches!(
            store.reserve(request).await,
            Err(StoreError::Shortage(_))
        ));
        let ship = NewMovement {
            kind: MovementKind::Shipment,
            ..receipt(shirt.id, location, 1)
        };
        assert!(store.record_movement(tenant, &ship).await.is_err());
        assert_eq!(
            all_events(&store, tenant).await.len(),
            before.len(),
            "{engine}"
        );

        // A granted reservation: its balance and the reservation, together.
        let ok = ReserveInput {
            lines: vec![("TS".into(), 2)],
            ..short
        };
        let request = store.prepare_reservation(tenant, &ok).await.unwrap();
        let reservation = store.reserve(request).await.unwrap();
        let after = all_events(&store, tenant).await;
        assert_eq!(
            kinds(&after[before.len()..]),
            ["stock.changed", "reservation.created"],
            "{engine}"
        );
        assert_eq!(data(&after[before.len()])["reserved"], 2, "{engine}");
        assert_eq!(
            after[before.len() + 1].subject_id,
            Some(reservation.id.to_string())
        );
        store
            .commit_reservation(tenant, reservation.id, None, "test")
            .await
            .unwrap();
        let last = all_events(&store, tenant).await;
        assert_eq!(
            kinds(&last[after.len()..]),
            ["stock.changed", "reservation.committed"],
            "{engine}"
        );
        assert_eq!(data(&last[after.len()])["allocated"], 2, "{engine}");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_are_per_tenant_gap_free_and_ordered_under_concurrency() {
    for (store, db) in stores("sequences_are_per_tenant_gap_free_and_ordered").await {
        let engine = db.engine;
        let a = store.create_tenant("a").await.unwrap();
        let b = store.create_tenant("b").await.unwrap();
        let mut tasks = Vec::new();
        for tenant in [a, b] {
            let location = warehouse(&store, tenant, "wh").await;
            for i in 0..4 {
                let shirt = store
                    .create_sku(tenant, &sku(&format!("S{i}")))
                    .await
                    .unwrap();
                for _ in 0..10 {
                    let store = store.clone();
                    tasks.push(tokio::spawn(async move {
                        store
                            .record_movement(tenant, &receipt(shirt.id, location, 1))
                            .await
                            .unwrap();
                    }));
                }
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        for tenant in [a, b] {
            let events = all_events(&store, tenant).await;
            // 1 location + 4 SKUs + 40 receipts.
            assert_eq!(events.len(), 45, "{engine}");
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, (1..=45).collect::<Vec<_>>(), "{engine}");
            let window = store.event_window(tenant).await.unwrap();
            assert_eq!((window.oldest, window.latest), (Some(1), 45), "{engine}");
            // Each SKU's on-hand figure rises by one per event, in order.
            for i in 0..4 {
                let code = format!("S{i}");
                let id = store.find_sku(tenant, &code).await.unwrap().id;
                let filter = EventFilter {
                    sku_id: Some(id),
                    kinds: vec!["stock.*".into()],
                    ..EventFilter::default()
                };
                let figures: Vec<i64> = store
                    .events_after(tenant, 0, &filter, 100)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| data(e)["on_hand"].as_i64().unwrap())
                    .collect();
                assert_eq!(figures, (1..=10).collect::<Vec<_>>(), "{engine}");
            }
        }
        // Resuming after a sequence gives exactly what came after it.
        let tail = store
            .events_after(a, 40, &EventFilter::default(), 100)
            .await
            .unwrap();
        assert_eq!(
            tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [41, 42, 43, 44, 45]
        );
        // Purging keeps the window honest.
        let purged = store.purge_events(i64::MAX, 10).await.unwrap();
        assert_eq!(purged, 10, "{engine}");
        let total: usize = all_events(&store, a).await.len() + all_events(&store, b).await.len();
        assert_eq!(total, 80, "{engine}");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_subscribers_of_every_instance() {
    for (store, db) in stores("a_commit_wakes_subscribers_of_every_instance").await {
        let engine = db.engine;
        // A second instance on the same database (on SQLite, the same
        // process's store stands in: one file has one writer process).
        let other = match engine {
            "postgres" => Store::connect(&db.url, StoreOptions::default())
                .await
                .unwrap(),
            _ => store.clone(),
        };
        let tenant = store.create_tenant("a").await.unwrap();
        let mut signal = other.event_signal();
        signal.borrow_and_update();
        warehouse(&store, tenant, "wh").await;
        tokio::time::timeout(Duration::from_secs(5), signal.changed())
            .await
            .unwrap_or_else(|_| panic!("{engine}: no wake-up within 5 s"))
            .unwrap();
        let seen = all_events(&other, tenant).await;
        assert_eq!(kinds(&seen), ["location.created"], "{engine}");
        other.close().await;
        store.close().await;
    }
}
