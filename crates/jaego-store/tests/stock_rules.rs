//! Stock rules on both engines with a controlled clock: daily resets in a
//! store's time zone, across DST, after downtime and with two instances on
//! one database; status pushes on a schedule; and the channel-figure
//! follower run by two instances at once.

use jaego_core::catalog::LocationKind;
use jaego_core::channel_stock::{SharingScope, TenantSharing};
use jaego_core::estimate::MerchantEstimate;
use jaego_core::product_status::SkuStatus;
use jaego_core::table_order::ResetMode;
use jaego_core::{LocationId, MovementKind, SkuId, StockPolicy, TenantId};
use jaego_store::catalog::NewSku;
use jaego_store::events::{Event, EventFilter};
use jaego_store::ledger::{MovementFilter, NewMovement};
use jaego_store::places::{NewChannel, NewLocation};
use jaego_store::stock_rules::low_stock::{NewLowStockRule, RuleScope};
use jaego_store::stock_rules::receipts::NewExpectedReceipt;
use jaego_store::stock_rules::table_order::MenuItemChange;
use jaego_store::testing::{fresh_databases, receipt};
use jaego_store::{PageRequest, Store, StoreOptions};

fn us(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

async fn connect(url: &str) -> Store {
    Store::connect(url, StoreOptions::default()).await.unwrap()
}

async fn store_location(store: &Store, tenant: TenantId, code: &str, tz: &str) -> LocationId {
    let new = NewLocation {
        code: code.into(),
        name: code.into(),
        kind: LocationKind::Store,
        time_zone: tz.into(),
        latitude: None,
        longitude: None,
        policy: StockPolicy::Strict,
    };
    store.create_location(tenant, &new).await.unwrap().id
}

async fn sku(store: &Store, tenant: TenantId, code: &str) -> SkuId {
    let new = NewSku {
        code: code.into(),
        name: format!("menu {code}"),
        product_id: None,
        tracked: true,
        barcodes: Vec::new(),
        option_tags: Vec::new(),
    };
    store.create_sku(tenant, &new).await.unwrap().id
}

async fn on_hand(store: &Store, tenant: TenantId, sku: SkuId, location: LocationId) -> i64 {
    store.balance(tenant, sku, location).await.unwrap().on_hand
}

async fn events(store: &Store, tenant: TenantId, kind: &str) -> Vec<Event> {
    let filter = EventFilter {
        kinds: vec![kind.to_string()],
        ..EventFilter::default()
    };
    store
        .events_after(tenant, 0, &filter, 10_000)
        .await
        .unwrap()
}

async fn resets(store: &Store, tenant: TenantId) -> usize {
    let filter = MovementFilter {
        kind: Some(MovementKind::Reset),
        ..MovementFilter::default()
    };
    let page = PageRequest {
        after: None,
        limit: Some(500),
    };
    store
        .list_movements(tenant, &filter, &page)
        .await
        .unwrap()
        .items
        .len()
}

/// A store in `tz` with two menu items (initial 10 and 4, both sold down),
/// reset daily at `at`, set up at `now`.
async fn restaurant(
    store: &Store,
    tz: &str,
    at: &str,
    mode: ResetMode,
    now: i64,
) -> (TenantId, LocationId, [SkuId; 2]) {
    let tenant = store.create_tenant("restaurant").await.unwrap();
    let shop = store_location(store, tenant, "gangnam", tz).await;
    let a = sku(store, tenant, "KIMCHI").await;
    let b = sku(store, tenant, "BIBIM").await;
    for (s, initial, current) in [(a, 10, 3), (b, 4, 0)] {
        let change = MenuItemChange {
            initial_count: Some(initial),
            current_count: Some(current),
            tracked: None,
        };
        store
            .set_menu_item(tenant, shop, s, &change, "test")
            .await
            .unwrap();
    }
    store
        .set_table_order_settings(tenant, shop, mode, true, Some(at.parse().unwrap()), now)
        .await
        .unwrap();
    (tenant, shop, [a, b])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_resets_run_at_local_time_once_and_catch_up_once() {
    for db in fresh_databases("stock_rules::daily_resets").await {
        let engine = db.engine;
        let store = connect(&db.url).await;
        // Set up at 03:00 Seoul time; the reset is due at 04:00 Seoul (19:00 UTC).
        let set_at = us("2026-11-21T18:00:00Z");
        let (tenant, shop, [a, b]) = restaurant(
            &store,
            "Asia/Seoul",
            "daily 04:00",
            ResetMode::ToInitial,
            set_at,
        )
        .await;
        let settings = store.table_order_settings(tenant, shop).await.unwrap();
        assert_eq!(
            settings.next_reset_at,
            Some(us("2026-11-21T19:00:00Z")),
            "{engine}"
        );

        assert_eq!(
            store
                .run_daily_resets(us("2026-11-21T18:59:59Z"))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            on_hand(&store, tenant, a, shop).await,
            3,
            "{engine}: not yet"
        );
        assert_eq!(
            store
                .run_daily_resets(us("2026-11-21T19:00:01Z"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(on_hand(&store, tenant, a, shop).await, 10, "{engine}");
        assert_eq!(on_hand(&store, tenant, b, shop).await, 4, "{engine}");
        // Run again in the same minute: the occurrence is spent.
        assert_eq!(
            store
                .run_daily_resets(us("2026-11-21T19:00:30Z"))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            resets(&store, tenant).await,
            2,
            "{engine}: one movement per item"
        );

        // Down from the 22nd to the 25th: one reset, late, then back on time.
        let late = us("2026-11-25T08:00:00Z");
        assert_eq!(store.run_daily_resets(late).await.unwrap(), 1, "{engine}");
        assert_eq!(store.run_daily_resets(late).await.unwrap(), 0, "{engine}");
        let settings = store.table_order_settings(tenant, shop).await.unwrap();
        assert_eq!(
            settings.next_reset_at,
            Some(us("2026-11-25T19:00:00Z")),
            "{engine}"
        );
        assert_eq!(events(&store, tenant, "table_order.reset").await.len(), 2);

        // Manual only: never due by itself; "reset now" still works.
        store
            .set_table_order_settings(tenant, shop, ResetMode::ToZero, true, None, late)
            .await
            .unwrap();
        assert_eq!(
            store.run_daily_resets(i64::MAX / 2).await.unwrap(),
            0,
            "{engine}"
        );
        let report = store.reset_now(tenant, shop, "test", late).await.unwrap();
        assert_eq!(report.items.len(), 2);
        assert_eq!(
            on_hand(&store, tenant, a, shop).await,
            0,
            "{engine}: to zero"
        );
        assert!(store.verify().await.unwrap().is_empty(), "{engine}");
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_resets_follow_daylight_saving_time() {
    for db in fresh_databases("stock_rules::dst").await {
        let engine = db.engine;
        let store = connect(&db.url).await;
        // 02:30 does not exist in New York on 8 March 2026 (clocks jump
        // from 02:00 to 03:00): that day the reset runs at 03:30 EDT.
        let set_at = us("2026-03-07T12:00:00Z");
        let (tenant, shop, [a, _]) = restaurant(
            &store,
            "America/New_York",
            "daily 02:30",
            ResetMode::ToInitial,
            set_at,
        )
        .await;
        let settings = store.table_order_settings(tenant, shop).await.unwrap();
        // 7 March, 02:30 EST is past; next is 8 March at 03:30 EDT = 07:30 UTC.
        assert_eq!(
            settings.next_reset_at,
            Some(us("2026-03-08T07:30:00Z")),
            "{engine}"
        );
        assert_eq!(
            store
                .run_daily_resets(us("2026-03-08T07:29:00Z"))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .run_daily_resets(us("2026-03-08T07:30:00Z"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(on_hand(&store, tenant, a, shop).await, 10, "{engine}");
        // The next day it is 02:30 EDT again = 06:30 UTC.
        let settings = store.table_order_settings(tenant, shop).await.unwrap();
        assert_eq!(
            settings.next_reset_at,
            Some(us("2026-03-09T06:30:00Z")),
            "{engine}"
        );
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_run_a_due_reset_once() {
    for db in fresh_databases("stock_rules::two_instances_reset").await {
        let engine = db.engine;
        let one = connect(&db.url).await;
        let two = connect(&db.url).await;
        let set_at = us("2026-11-21T18:00:00Z");
        let (tenant, shop, [a, _]) = restaurant(
            &one,
            "Asia/Seoul",
            "daily 04:00",
            ResetMode::ToInitial,
            set_at,
        )
        .await;
        let due = us("2026-11-21T19:00:05Z");
        for round in 0..5 {
            let (x, y) = tokio::join!(one.run_daily_resets(due), two.run_daily_resets(due));
            let ran = x.unwrap() + y.unwrap();
            assert_eq!(ran, usize::from(round == 0), "{engine}: round {round}");
        }
        assert_eq!(
            events(&one, tenant, "table_order.reset").await.len(),
            1,
            "{engine}"
        );
        assert_eq!(
            resets(&one, tenant).await,
            2,
            "{engine}: one movement per item"
        );
        assert_eq!(on_hand(&two, tenant, a, shop).await, 10, "{engine}");
        let schedule = one
            .schedule(tenant, "daily_reset", &shop.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(schedule.runs, 1, "{engine}");
        one.close().await;
        two.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_pushes_run_on_schedule_once_and_push_each_change_once() {
    for db in fresh_databases("stock_rules::status_push").await {
        let engine = db.engine;
        let one = connect(&db.url).await;
        let two = connect(&db.url).await;
        let tenant = one.create_tenant("mall").await.unwrap();
        let shop = store_location(&one, tenant, "wh", "Asia/Seoul").await;
        let new = NewChannel {
            code: "mall".into(),
            name: "mall".into(),
            kind: "web".into(),
            policy: None,
            locations: vec![shop],
        };
        one.create_channel(tenant, &new).await.unwrap();
        one.set_sharing(
            tenant,
            &TenantSharing {
                enabled: true,
                scope: SharingScope::AllStores,
            },
        )
        .await
        .unwrap();
        let coat = sku(&one, tenant, "COAT").await;
        let status = SkuStatus {
            forced_sold_out: true,
            ..SkuStatus::default()
        };
        one.set_sku_status(tenant, coat, &status).await.unwrap();
        let set_at = us("2026-11-21T00:10:00Z");
        one.set_status_push_schedule(
            tenant,
            Some("minutes 0,30".parse().unwrap()),
            "Asia/Seoul",
            set_at,
        )
        .await
        .unwrap();
        assert_eq!(
            one.run_status_pushes(us("2026-11-21T00:29:00Z"))
                .await
                .unwrap(),
            0
        );
        let due = us("2026-11-21T00:30:01Z");
        let (x, y) = tokio::join!(one.run_status_pushes(due), two.run_status_pushes(due));
        assert_eq!(x.unwrap() + y.unwrap(), 1, "{engine}");
        assert_eq!(
            events(&one, tenant, "channel.status").await.len(),
            1,
            "{engine}"
        );
        // Nothing pending: the next occurrence pushes nothing new.
        assert_eq!(
            one.run_status_pushes(us("2026-11-21T01:00:01Z"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            events(&one, tenant, "channel.status").await.len(),
            1,
            "{engine}"
        );
        assert_eq!(
            events(&one, tenant, "status.pushed").await.len(),
            2,
            "{engine}"
        );
        // Push now, from both instances at once: the change goes out once.
        one.set_sku_status(tenant, coat, &SkuStatus::default())
            .await
            .unwrap();
        let (x, y) = tokio::join!(one.push_statuses(tenant), two.push_statuses(tenant));
        assert_eq!(x.unwrap().skus + y.unwrap().skus, 1, "{engine}");
        assert_eq!(
            events(&one, tenant, "channel.status").await.len(),
            2,
            "{engine}"
        );
        one.close().await;
        two.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_followers_write_each_figure_change_once() {
    for db in fresh_databases("stock_rules::two_followers").await {
        let engine = db.engine;
        let one = connect(&db.url).await;
        let two = connect(&db.url).await;
        let tenant = one.create_tenant("seller").await.unwrap();
        let wh = store_location(&one, tenant, "wh", "Asia/Seoul").await;
        let new = NewChannel {
            code: "shopee".into(),
            name: "shopee".into(),
            kind: "marketplace".into(),
            policy: None,
            locations: vec![wh],
        };
        let channel = one.create_channel(tenant, &new).await.unwrap().id;
        let tee = sku(&one, tenant, "TEE").await;
        one.set_sharing(
            tenant,
            &TenantSharing {
                enabled: true,
                scope: SharingScope::AllStores,
            },
        )
        .await
        .unwrap();
        // A low-stock rule at 9 with the `event` action: low at 5 and 8,
        // recovered at 10.
        let rule = NewLowStockRule {
            scope: RuleScope::Sku(tee),
            threshold: 9,
            actions: vec!["event".into()],
        };
        one.create_low_stock_rule(tenant, &rule).await.unwrap();
        let mut now = us("2026-11-21T00:00:00Z");
        for q in [5, 3, 2, 7] {
            let m = receipt(tee, wh, q);
            one.record_movement(tenant, &m).await.unwrap();
            // Both instances follow the log at the same moment, repeatedly.
            for _ in 0..3 {
                now += 1_000;
                let (x, y) = tokio::join!(one.follow_stock_rules(now), two.follow_stock_rules(now));
                x.unwrap();
                y.unwrap();
            }
        }
        let figures: Vec<i64> = events(&one, tenant, "channel.stock")
            .await
            .iter()
            .map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                data["figure"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(figures, [5, 8, 10, 17], "{engine}: one event per change");
        assert_eq!(events(&one, tenant, "stock.low").await.len(), 1, "{engine}");
        assert_eq!(
            events(&one, tenant, "stock.recovered").await.len(),
            1,
            "{engine}"
        );
        let page = one
            .channel_figures(tenant, channel, Some(tee), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items[0].figure, Some(17), "{engine}");

        // Downtime: no follower runs while stock changes; a new instance
        // resumes from the stored cursor and publishes the latest figure once.
        two.close().await;
        let m = NewMovement {
            kind: MovementKind::Adjustment,
            quantity: -15,
            ..receipt(tee, wh, 0)
        };
        one.record_movement(tenant, &m).await.unwrap();
        one.close().await;
        let three = connect(&db.url).await;
        for _ in 0..3 {
            now += 1_000;
            three.follow_stock_rules(now).await.unwrap();
        }
        let stock = events(&three, tenant, "channel.stock").await;
        let last: serde_json::Value = serde_json::from_str(&stock.last().unwrap().data).unwrap();
        assert_eq!(
            (stock.len(), last["figure"].as_i64()),
            (5, Some(2)),
            "{engine}"
        );
        assert_eq!(
            events(&three, tenant, "stock.low").await.len(),
            2,
            "{engine}"
        );
        three.close().await;
    }
}

/// The stock grid's reads of a page of SKUs: every balance row of those
/// SKUs, every status (all clear where never set) and every availability;
/// a SKU of another tenant named in the list is left out.
#[tokio::test]
async fn a_page_of_skus_reads_its_balances_and_statuses_at_once() {
    for db in fresh_databases("stock_rules::page_reads").await {
        let engine = db.engine;
        let store = connect(&db.url).await;
        let tenant = store.create_tenant("mall").await.unwrap();
        let other = store.create_tenant("other").await.unwrap();
        let seoul = store_location(&store, tenant, "seoul", "Asia/Seoul").await;
        let busan = store_location(&store, tenant, "busan", "Asia/Seoul").await;
        let far = store_location(&store, other, "far", "Asia/Seoul").await;
        let tee = sku(&store, tenant, "TEE").await;
        let cap = sku(&store, tenant, "CAP").await;
        let bag = sku(&store, tenant, "BAG").await;
        let theirs = sku(&store, other, "TEE").await;
        for (t, s, l, q) in [
            (tenant, tee, seoul, 5),
            (tenant, tee, busan, 2),
            (tenant, cap, busan, 7),
            (tenant, bag, seoul, 1),
            (other, theirs, far, 9),
        ] {
            let m = receipt(s, l, q);
            store.record_movement(t, &m).await.unwrap();
        }
        let status = SkuStatus {
            reorder: true,
            ..SkuStatus::default()
        };
        store.set_sku_status(tenant, cap, &status).await.unwrap();
        let page = [tee, cap, theirs];

        // By SKU code, then location code.
        let rows = store.stock_of(tenant, &page).await.unwrap();
        let got: Vec<(SkuId, &str, i64)> = rows
            .iter()
            .map(|r| (r.sku_id, r.location_code.as_str(), r.balance.on_hand))
            .collect();
        assert_eq!(
            got,
            [(cap, "busan", 7), (tee, "busan", 2), (tee, "seoul", 5)],
            "{engine}"
        );

        let statuses = store.sku_statuses(tenant, &page).await.unwrap();
        let mut got: Vec<(SkuId, bool, bool)> = statuses
            .iter()
            .map(|s| (s.sku_id, s.status.reorder, s.push_pending))
            .collect();
        got.sort();
        let mut want = vec![(tee, false, false), (cap, true, true)];
        want.sort();
        assert_eq!(got, want, "{engine}");
        assert!(
            store.sku_statuses(tenant, &[]).await.unwrap().is_empty(),
            "{engine}"
        );

        // Availability: CAP has two open receipts (the earlier is next) and
        // a merchant's estimate; TEE neither; the other tenant's SKU none.
        for (due, q) in [("2026-12-20", 3), ("2026-12-10", 4)] {
            let new = NewExpectedReceipt {
                sku_id: cap,
                location_id: seoul,
                quantity: q,
                due_on: due.parse().unwrap(),
                reference: String::new(),
                actor: "test".into(),
            };
            store.create_expected_receipt(tenant, &new).await.unwrap();
        }
        let merchant = MerchantEstimate {
            text: "next week".into(),
            date: None,
        };
        store
            .set_availability_estimate(tenant, cap, Some(&merchant))
            .await
            .unwrap();
        let now = us("2026-12-01T00:00:00Z");
        let all = store.availabilities(tenant, &page, now).await.unwrap();
        let mut got: Vec<_> = all
            .iter()
            .map(|a| {
                (
                    a.sku_id,
                    a.on_hand,
                    a.incoming,
                    a.next_receipt.as_ref().map(|r| r.due_on.to_string()),
                    a.merchant.as_ref().map(|m| m.text.clone()),
                )
            })
            .collect();
        got.sort();
        let mut want = vec![
            (tee, 7, 0, None, None),
            (
                cap,
                7,
                7,
                Some("2026-12-10".to_string()),
                Some("next week".to_string()),
            ),
        ];
        want.sort();
        assert_eq!(got, want, "{engine}");
        // One SKU at a time reads the same.
        for a in &all {
            let one = store.availability(tenant, a.sku_id, now).await.unwrap();
            assert_eq!(
                (
                    one.available,
                    one.estimate.is_some(),
                    one.next_receipt.map(|r| r.id)
                ),
                (
                    a.available,
                    a.estimate.is_some(),
                    a.next_receipt.as_ref().map(|r| r.id)
                ),
                "{engine}"
            );
        }
        store.close().await;
    }
}
