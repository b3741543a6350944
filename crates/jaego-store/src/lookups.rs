//! Remembered answers to "which id does this code name?" for the hot path.
//!
//! A reservation names its SKUs and location by code; resolving them costs
//! reads that would otherwise dominate a flash sale. SKU codes never change
//! once created, so a SKU's code → id answer is kept for good. A location's
//! policy can change, so its answer is kept for [`LOCATION_TTL`] only. No
//! stock figure is ever cached: the judge always reads locked rows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jaego_core::{LocationId, SkuId, StockPolicy, TenantId};

/// How long a location's id and policy are trusted without a read.
pub const LOCATION_TTL: Duration = Duration::from_secs(1);
/// Most remembered entries per map; the map is emptied when full.
const ENTRIES_MAX: usize = 200_000;

/// A tenant's name for something: an id or a code, as the caller wrote it.
type Name = (TenantId, String);

#[derive(Default)]
pub(crate) struct Lookups {
    skus: Mutex<HashMap<Name, SkuId>>,
    locations: Mutex<HashMap<Name, (LocationId, StockPolicy, Instant)>>,
}

impl Lookups {
    pub(crate) fn sku(&self, tenant: TenantId, key: &str) -> Option<SkuId> {
        self.skus
            .lock()
            .expect("lookups lock")
            .get(&(tenant, key.to_string()))
            .copied()
    }

    pub(crate) fn remember_sku(&self, tenant: TenantId, key: &str, id: SkuId) {
        let mut map = self.skus.lock().expect("lookups lock");
        if map.len() >= ENTRIES_MAX {
            map.clear();
        }
        map.insert((tenant, key.to_string()), id);
    }

    pub(crate) fn location(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Option<(LocationId, StockPolicy)> {
        let map = self.locations.lock().expect("lookups lock");
        // Only a remembered `strict` is trusted: the batch's SQL guard
        // enforces strict anyway, so a stale answer can only refuse. A stale
        // `unlimited` would switch that guard off and oversell a location
        // just made strict, so it is always read afresh.
        map.get(&(tenant, key.to_string()))
            .filter(|(_, policy, at)| *policy == StockPolicy::Strict && at.elapsed() < LOCATION_TTL)
            .map(|&(id, policy, _)| (id, policy))
    }

    pub(crate) fn remember_location(
        &self,
        tenant: TenantId,
        key: &str,
        id: LocationId,
        policy: StockPolicy,
    ) {
        let mut map = self.locations.lock().expect("lookups lock");
        if map.len() >= ENTRIES_MAX {
            map.clear();
        }
        map.insert((tenant, key.to_string()), (id, policy, Instant::now()));
    }
}
