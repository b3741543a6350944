//! Remembered answers to "which id does this code name?" for the hot path.
//!
//! A reservation names its SKUs and location by code; resolving them costs
//! reads that would otherwise dominate a flash sale. SKU and location codes
//! never change once created, so their code → id answers are kept for good.
//! Nothing that can change is cached: policies are read inside each batch's
//! transaction, and the judge always reads locked rows.

use std::collections::HashMap;
use std::sync::Mutex;

use jaego_core::{LocationId, SkuId, TenantId};

/// Most remembered entries per map; the map is emptied when full.
const ENTRIES_MAX: usize = 200_000;

/// A tenant's name for something: an id or a code, as the caller wrote it.
type Name = (TenantId, String);

/// Names to ids of one kind, bounded by [`ENTRIES_MAX`].
pub(crate) struct Ids<T>(Mutex<HashMap<Name, T>>);

impl<T> Default for Ids<T> {
    fn default() -> Self {
        Ids(Mutex::default())
    }
}

impl<T: Copy> Ids<T> {
    pub(crate) fn get(&self, tenant: TenantId, key: &str) -> Option<T> {
        self.0
            .lock()
            .expect("lookups lock")
            .get(&(tenant, key.to_string()))
            .copied()
    }

    pub(crate) fn remember(&self, tenant: TenantId, key: &str, id: T) {
        let mut map = self.0.lock().expect("lookups lock");
        if map.len() >= ENTRIES_MAX {
            map.clear();
        }
        map.insert((tenant, key.to_string()), id);
    }
}

#[derive(Default)]
pub(crate) struct Lookups {
    pub(crate) skus: Ids<SkuId>,
    pub(crate) locations: Ids<LocationId>,
}
