//! A short-lived cache of authenticated tokens, so a busy till does not
//! cost a database read per request. A revoked token stops working within
//! [`TOKEN_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jaego_store::tenants::Principal;
use jaego_store::{Store, StoreResult};
use sha2::{Digest, Sha256};

/// How long an authenticated token is trusted without asking the database.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Most tokens cached at once; the cache is emptied when full.
const TOKEN_CACHE_ENTRIES_MAX: usize = 10_000;

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl TokenCache {
    pub async fn authenticate(
        &self,
        store: &Store,
        secret: &str,
    ) -> StoreResult<Option<Principal>> {
        let key: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some((principal, at)) = self.entries.lock().expect("token cache lock").get(&key)
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(Some(principal.clone()));
        }
        let found = store.authenticate(secret).await?;
        let mut entries = self.entries.lock().expect("token cache lock");
        match &found {
            Some(principal) => {
                if entries.len() >= TOKEN_CACHE_ENTRIES_MAX {
                    entries.clear();
                }
                entries.insert(key, (principal.clone(), Instant::now()));
            }
            None => {
                entries.remove(&key);
            }
        }
        Ok(found)
    }
}
