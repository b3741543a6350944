//! Shipments through the store, on every engine: packing allocated
//! lines (one shipment per order and location), scans and their answers,
//! concurrent scans never counting more than a line holds, confirmation
//! through the ledger (refused while incomplete, overridable), tracking
//! numbers from a CSV with bad rows, and the print order.

use jaego_core::catalog::LocationKind;
use jaego_core::order::OrderStatus;
use jaego_core::shipment::{PrintOrder, ScanVerdict, ShipmentState};
use jaego_core::{ChannelId, LocationId, MovementKind, OrderId, StockPolicy, TenantId};
use jaego_store::catalog::NewSku;
use jaego_store::ledger::NewMovement;
use jaego_store::orders::runs::RunRequest;
use jaego_store::orders::{NewOrder, NewOrderLine};
use jaego_store::places::NewLocation;
use jaego_store::shipments::{PrintSelection, ShippingSettings, TrackingRow};
use jaego_store::testing::{fresh_databases, new_mall};
use jaego_store::{Store, StoreError, StoreOptions};

struct World {
    tenant: TenantId,
    channel: ChannelId,
    w1: LocationId,
    w2: LocationId,
}

/// W1 and W2 (linked to the channel in that order), SKUs TEE (barcode
/// 8801234567893), CAP and SOCK, with `stock` units of each at W1 and
/// one TEE at W2.
async fn setup(store: &Store, stock: i64) -> World {
    let tenant = store.create_tenant("ship").await.unwrap();
    let mut locations = Vec::new();
    for code in ["W1", "W2"] {
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
    for (code, barcodes) in [
        ("TEE", vec!["8801234567893".to_string()]),
        ("CAP", vec![]),
        ("SOCK", vec![]),
    ] {
        let s = store
            .create_sku(
                tenant,
                &NewSku {
                    code: code.into(),
                    name: code.into(),
                    product_id: None,
                    tracked: true,
                    barcodes,
                    option_tags: vec![],
                },
            )
            .await
            .unwrap();
        receive(store, tenant, s.id, locations[0], stock).await;
        if code == "TEE" {
            receive(store, tenant, s.id, locations[1], 1).await;
        }
    }
    let channel = store
        .create_channel(tenant, &new_mall(locations.clone()))
        .await
        .unwrap()
        .id;
    World {
        tenant,
        channel,
        w1: locations[0],
        w2: locations[1],
    }
}

async fn receive(
    store: &Store,
    tenant: TenantId,
    sku: jaego_core::SkuId,
    location: LocationId,
    quantity: i64,
) {
    store
        .record_movement(
            tenant,
            &NewMovement {
                sku_id: sku,
                location_id: location,
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

/// Collects and allocates an order of `lines` (SKU code, units).
async fn allocated(store: &Store, w: &World, no: &str, lines: &[(&str, i64)]) -> OrderId {
    let order = NewOrder {
        external_no: no.into(),
        lines: lines
            .iter()
            .map(|&(sku, q)| NewOrderLine {
                item_code: sku.into(),
                sku: Some(sku.into()),
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
    let id = got[0].1.id;
    store
        .allocation_run(
            w.tenant,
            &RunRequest {
                orders: Some(vec![id]),
                mode: Some(jaego_core::allocation::ShipmentMode::Partial),
                dry_run: false,
            },
            "t",
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn pack_scan_confirm() {
    for db in fresh_databases("shipments::pack_scan_confirm").await {
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let w = setup(&store, 2).await;
        // 3 TEE: 2 from W1, 1 from W2; and one CAP from W1.
        let order = allocated(&store, &w, "A-1", &[("TEE", 3), ("CAP", 1)]).await;
        let (made, more) = store.create_shipments(w.tenant, None, "t").await.unwrap();
        assert!(!more);
        assert_eq!(made.len(), 2, "{}: one per location", db.engine);
        let at_w1 = made.iter().find(|s| s.location_id == w.w1).unwrap();
        let at_w2 = made.iter().find(|s| s.location_id == w.w2).unwrap();
        assert_eq!(at_w1.units(), 3);
        assert_eq!(at_w2.units(), 1);
        assert!(at_w1.code.starts_with("SH"));
        // Everything is packed: a second call makes nothing, one for the
        // order is refused.
        let (again, _) = store.create_shipments(w.tenant, None, "t").await.unwrap();
        assert!(again.is_empty(), "{}", db.engine);
        match store
            .create_order_shipments(w.tenant, order, None, "t")
            .await
        {
            Err(StoreError::Refused { code, .. }) => assert_eq!(code, "nothing_to_ship"),
            other => panic!("{}: {other:?}", db.engine),
        }

        let scan = |code: &'static str| {
            let store = store.clone();
            let id = at_w1.id;
            let tenant = w.tenant;
            async move {
                let out = store.scan_shipment(tenant, id, code, "t").await.unwrap();
                // The answer is built from the counts, not read back: it
                // must be what a read gives.
                let read = store.get_shipment(tenant, id).await.unwrap();
                assert_eq!(out.shipment, read, "scan {code}");
                out
            }
        };
        assert_eq!(scan("nope").await.verdict, ScanVerdict::UnknownBarcode);
        assert_eq!(scan("SOCK").await.verdict, ScanVerdict::WrongItem);
        let first = scan("8801234567893").await;
        assert!(matches!(first.verdict, ScanVerdict::Accept { .. }));
        assert_eq!(first.shipment.scanned(), 1);
        // Incomplete: refused without an override.
        match store.confirm_shipment(w.tenant, at_w1.id, None, "t").await {
            Err(StoreError::Refused { code, .. }) => assert_eq!(code, "scan_incomplete"),
            other => panic!("{}: {other:?}", db.engine),
        }
        assert!(matches!(
            scan("TEE").await.verdict,
            ScanVerdict::Accept { .. }
        ));
        assert_eq!(scan("TEE").await.verdict, ScanVerdict::TooMany);
        let last = scan("CAP").await;
        assert_eq!(last.shipment.scanned(), 3);
        // The reload sees the same count.
        let reloaded = store.get_shipment(w.tenant, at_w1.id).await.unwrap();
        assert_eq!(reloaded.scanned(), 3);
        let (done, o) = store
            .confirm_shipment(w.tenant, at_w1.id, None, "t")
            .await
            .unwrap();
        assert_eq!(done.state, ShipmentState::Confirmed);
        assert_eq!(done.override_reason, None);
        assert_eq!(o.status, OrderStatus::PartiallyShipped);
        // Confirmed twice: refused; scans after confirmation too.
        match store.confirm_shipment(w.tenant, at_w1.id, None, "t").await {
            Err(StoreError::Refused { code, .. }) => assert_eq!(code, "shipment_not_open"),
            other => panic!("{}: {other:?}", db.engine),
        }
        // W2's parcel is confirmed unscanned with a supervisor's reason.
        let (forced, o) = store
            .confirm_shipment(w.tenant, at_w2.id, Some("scanner broken"), "boss")
            .await
            .unwrap();
        assert_eq!(forced.override_reason.as_deref(), Some("scanner broken"));
        assert_eq!(forced.override_by.as_deref(), Some("boss"));
        assert_eq!(o.status, OrderStatus::Shipped);
        let mismatches = store.verify().await.unwrap();
        assert!(mismatches.is_empty(), "{}: {mismatches:?}", db.engine);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scans_never_exceed_the_quantity() {
    for db in fresh_databases("shipments::concurrent_scans").await {
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let w = setup(&store, 10).await;
        let order = allocated(&store, &w, "C-1", &[("SOCK", 5)]).await;
        let made = store
            .create_order_shipments(w.tenant, order, None, "t")
            .await
            .unwrap();
        let id = made[0].id;
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let store = store.clone();
                let tenant = w.tenant;
                tokio::spawn(async move { store.scan_shipment(tenant, id, "SOCK", "t").await })
            })
            .collect();
        let mut accepted = 0;
        let mut too_many = 0;
        for t in tasks {
            match t.await.unwrap().unwrap().verdict {
                ScanVerdict::Accept { .. } => accepted += 1,
                ScanVerdict::TooMany => too_many += 1,
                other => panic!("{}: {other:?}", db.engine),
            }
        }
        assert_eq!((accepted, too_many), (5, 19), "{}", db.engine);
        let s = store.get_shipment(w.tenant, id).await.unwrap();
        assert_eq!(s.scanned(), 5);
        store.close().await;
    }
}

#[tokio::test]
async fn tracking_csv_reports_bad_rows_and_keeps_good_ones() {
    for db in fresh_databases("shipments::tracking_csv").await {
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let w = setup(&store, 10).await;
        store
            .create_courier(w.tenant, "cj", "CJ대한통운")
            .await
            .unwrap();
        let off = store.create_courier(w.tenant, "old", "Old").await.unwrap();
        store
            .update_courier(
                w.tenant,
                &off.code,
                &jaego_store::shipments::CourierPatch {
                    name: None,
                    active: Some(false),
                },
            )
            .await
            .unwrap();
        for no in ["T-1", "T-2", "T-3"] {
            allocated(&store, &w, no, &[("CAP", 1)]).await;
        }
        // T-3 has no shipment yet.
        let (made, _) = store.create_shipments(w.tenant, None, "t").await.unwrap();
        assert_eq!(made.len(), 3);
        let t3 = made.iter().find(|s| s.order_no == "T-3").unwrap().id;
        store.cancel_shipment(w.tenant, t3, "t").await.unwrap();
        let row = |line: usize, order: &str, courier: &str, tracking: &str| TrackingRow {
            line,
            order_no: order.into(),
            channel: None,
            courier: courier.into(),
            tracking_no: tracking.into(),
        };
        let rows = vec![
            row(2, "T-1", "cj", "600000000001"),
            row(3, "T-9", "cj", "600000000002"),
            row(4, "T-2", "dhl", "600000000003"),
            row(5, "T-2", "cj", "6000 0000"),
            row(6, "T-2", "old", "600000000004"),
            row(7, "T-2", "cj", "600000000001"),
            row(8, "T-3", "cj", "600000000005"),
            row(9, "T-2", "cj", "600000000006"),
        ];
        let report = store.import_tracking(w.tenant, &rows, "t").await.unwrap();
        let bad: Vec<(usize, &str)> = report
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            bad,
            vec![
                (3, "order_no"),
                (4, "courier"),
                (5, "tracking_no"),
                (6, "courier"),
                (7, "tracking_no"),
                (8, "order_no"),
            ],
            "{}: {:?}",
            db.engine,
            report.errors
        );
        let good: Vec<usize> = report.registered.iter().map(|r| r.0).collect();
        assert_eq!(good, vec![2, 9]);
        // Imported again: the good rows are unchanged, nothing new.
        let again = store
            .import_tracking(w.tenant, &[rows[0].clone(), rows[7].clone()], "t")
            .await
            .unwrap();
        assert_eq!((again.unchanged, again.registered.len()), (2, 0));
        let by_tracking = store
            .find_shipment_by_code(w.tenant, "600000000006")
            .await
            .unwrap();
        assert_eq!(by_tracking.order_no, "T-2");
        assert_eq!(by_tracking.courier.unwrap().code, "cj");
        store.close().await;
    }
}

#[tokio::test]
async fn print_order_by_time_sku_and_bin() {
    for db in fresh_databases("shipments::print_order").await {
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let w = setup(&store, 10).await;
        allocated(&store, &w, "P-1", &[("TEE", 1)]).await;
        allocated(&store, &w, "P-2", &[("SOCK", 1)]).await;
        allocated(&store, &w, "P-3", &[("CAP", 1), ("SOCK", 1)]).await;
        store.create_shipments(w.tenant, None, "t").await.unwrap();
        let sku = |code: &'static str| {
            let store = store.clone();
            let tenant = w.tenant;
            async move { store.find_sku(tenant, code).await.unwrap().id }
        };
        store
            .set_bin(w.tenant, w.w1, sku("SOCK").await, Some("A-01"))
            .await
            .unwrap();
        store
            .set_bin(w.tenant, w.w1, sku("TEE").await, Some("B-01"))
            .await
            .unwrap();
        let order_of = |order: Option<PrintOrder>| {
            let store = store.clone();
            let tenant = w.tenant;
            async move {
                let (_, run) = store
                    .print_run(
                        tenant,
                        &PrintSelection {
                            order,
                            ..PrintSelection::default()
                        },
                    )
                    .await
                    .unwrap();
                run.iter()
                    .map(|s| {
                        format!(
                            "{}:{}",
                            s.order_no,
                            s.lines
                                .iter()
                                .map(|l| l.sku_code.as_str())
                                .collect::<Vec<_>>()
                                .join("+")
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        // The tenant's default is collection time.
        assert_eq!(
            order_of(None).await,
            ["P-1:TEE", "P-2:SOCK", "P-3:CAP+SOCK"],
            "{}",
            db.engine
        );
        assert_eq!(
            order_of(Some(PrintOrder::Sku)).await,
            ["P-3:CAP+SOCK", "P-2:SOCK", "P-1:TEE"]
        );
        // Bins: P-2 and P-3 carry SOCK at A-01 (P-3's slip lists it first),
        // TEE is at B-01.
        store
            .set_shipping_settings(
                w.tenant,
                ShippingSettings {
                    print_order: PrintOrder::Bin,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            order_of(None).await,
            ["P-3:SOCK+CAP", "P-2:SOCK", "P-1:TEE"]
        );
        store.close().await;
    }
}

/// The code of a refusal, or what else came back.
fn answer<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Refused { code, .. }) => code.to_string(),
        Err(StoreError::NotFound { entity, .. }) => format!("{entity} not found"),
        Err(StoreError::Duplicate { what, .. }) => format!("{what} taken"),
        Err(e) => format!("error: {e}"),
        Ok(_) => "ok".to_string(),
    }
}

#[tokio::test]
async fn tracking_and_cancelling_answer_missing_then_not_open_then_taken() {
    for db in fresh_databases("shipments::tracking_cancel_answers").await {
        let e = db.engine;
        let store = Store::connect(&db.url, StoreOptions::default())
            .await
            .unwrap();
        let w = setup(&store, 10).await;
        store.create_courier(w.tenant, "cj", "CJ").await.unwrap();
        for no in ["K-1", "K-2", "K-3"] {
            allocated(&store, &w, no, &[("CAP", 1)]).await;
        }
        let (made, _) = store.create_shipments(w.tenant, None, "t").await.unwrap();
        let of = |no: &str| made.iter().find(|s| s.order_no == no).unwrap().id;
        let (k1, k2, k3) = (of("K-1"), of("K-2"), of("K-3"));
        let missing = jaego_core::ShipmentId::new();
        let other = store.create_tenant("other").await.unwrap();
        store.create_courier(other, "cj", "CJ").await.unwrap();

        let t = store
            .set_tracking(w.tenant, k1, "cj", "700000000001", "t")
            .await
            .unwrap();
        assert_eq!(t.tracking_no.as_deref(), Some("700000000001"), "{e}");
        assert_eq!(t, store.get_shipment(w.tenant, k1).await.unwrap(), "{e}");
        // Replacing it on an open shipment is fine.
        let t = store
            .set_tracking(w.tenant, k1, "cj", "700000000002", "t")
            .await
            .unwrap();
        assert_eq!(t.tracking_no.as_deref(), Some("700000000002"), "{e}");
        for (id, tenant, no, expected) in [
            (missing, w.tenant, "700000000009", "shipment not found"),
            (k2, other, "700000000009", "shipment not found"),
            (k2, w.tenant, "700000000002", "tracking number taken"),
        ] {
            let r = store.set_tracking(tenant, id, "cj", no, "t").await;
            assert_eq!(answer(r), expected, "{e}: {id} {no}");
        }
        assert_eq!(
            answer(store.cancel_shipment(w.tenant, missing, "t").await),
            "shipment not found",
            "{e}"
        );
        assert_eq!(
            answer(store.cancel_shipment(other, k2, "t").await),
            "shipment not found",
            "{e}"
        );
        let cancelled = store.cancel_shipment(w.tenant, k2, "t").await.unwrap();
        assert_eq!(cancelled.state, ShipmentState::Cancelled, "{e}");
        assert_eq!(
            cancelled,
            store.get_shipment(w.tenant, k2).await.unwrap(),
            "{e}"
        );
        assert_eq!(
            answer(store.cancel_shipment(w.tenant, k2, "t").await),
            "shipment_not_open",
            "{e}"
        );
        // Not open wins over a tracking number already taken.
        for no in ["700000000002", "700000000003"] {
            let r = store.set_tracking(w.tenant, k2, "cj", no, "t").await;
            assert_eq!(answer(r), "shipment_not_open", "{e}: {no}");
        }
        let k2_now = store.get_shipment(w.tenant, k2).await.unwrap();
        assert_eq!(k2_now, cancelled, "{e}: the refusals changed nothing");
        store
            .confirm_shipment(w.tenant, k3, Some("no scanner"), "boss")
            .await
            .unwrap();
        for no in ["700000000002", "700000000004"] {
            let r = store.set_tracking(w.tenant, k3, "cj", no, "t").await;
            assert_eq!(answer(r), "shipment_not_open", "{e}: {no}");
        }
        assert_eq!(
            answer(store.cancel_shipment(w.tenant, k3, "t").await),
            "shipment_not_open",
            "{e}"
        );
        store.close().await;
    }
}
