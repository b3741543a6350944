//! Remembered answers to "which id does this code name?" for the hot path.
//!
//! A reservation names its SKUs and location by code; resolving them costs
//! reads that would otherwise dominate a flash sale. SKU and location codes
//! never change once created, so their code → id answers are kept for good.
//! Whether a SKU is a bundle is fixed at creation too, so it is remembered
//! with the id: a plain SKU's reservation pays no query to learn it is not
//! a bundle (a bundle's recipe, which can change, is read every time).
//! Nothing that can change is cached: policies are read inside each batch's
//! transaction, and the judge always reads locked rows.

use std::collections::HashMap;
use std::sync::Mutex;

use jaego_core::{LocationId, SkuId, TenantId};

/// Most remembered entries per map; the map is emptied when full.
const ENTRIES_MAX: usize = 200_000;

/// Names to ids of one kind per tenant, bounded by [`ENTRIES_MAX`]. Keyed
/// by tenant, then by the name as the caller wrote it (an id or a code), so
/// a lookup borrows the name instead of copying it.
pub(crate) struct Ids<T>(Mutex<Entries<T>>);

struct Entries<T> {
    count: usize,
    by_tenant: HashMap<TenantId, HashMap<String, T>>,
}

impl<T> Default for Ids<T> {
    fn default() -> Self {
        Ids(Mutex::new(Entries {
            count: 0,
            by_tenant: HashMap::new(),
        }))
    }
}

impl<T: Copy> Ids<T> {
    pub(crate) fn get(&self, tenant: TenantId, key: &str) -> Option<T> {
        self.0
            .lock()
            .expect("lookups lock")
            .by_tenant
            .get(&tenant)?
            .get(key)
            .copied()
    }

    pub(crate) fn remember(&self, tenant: TenantId, key: &str, id: T) {
        let mut entries = self.0.lock().expect("lookups lock");
        if entries.count >= ENTRIES_MAX {
            entries.by_tenant.clear();
            entries.count = 0;
        }
        let added = entries
            .by_tenant
            .entry(tenant)
            .or_default()
            .insert(key.to_string(), id)
            .is_none();
        entries.count += usize::from(added);
    }
}

#[derive(Default)]
pub(crate) struct Lookups {
    /// SKU id or code → (id, is a bundle).
    pub(crate) skus: Ids<(SkuId, bool)>,
    pub(crate) locations: Ids<LocationId>,
}
