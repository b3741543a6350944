//! Keyset pagination. Ids are UUID v7 text, so ordering by id is ordering by
//! creation time and the last id of a page is the cursor of the next.

use jaego_core::limits::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};

/// Which page to read: items after `after`, at most `limit` of them.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: Option<usize>,
}

impl PageRequest {
    /// The page size, clamped to `1..=PAGE_SIZE_MAX` (the edge rejects
    /// larger requests; this is the second line of defence).
    pub fn size(&self) -> usize {
        self.limit
            .unwrap_or(PAGE_SIZE_DEFAULT)
            .clamp(1, PAGE_SIZE_MAX)
    }

    /// The cursor, or the empty string (which sorts before every id).
    pub fn cursor(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }
}

/// One page of a list and the cursor for the next, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched in id order.
    pub(crate) fn from_rows(mut items: Vec<T>, size: usize, id: impl Fn(&T) -> String) -> Self {
        let next = if items.len() > size {
            items.truncate(size);
            items.last().map(id)
        } else {
            None
        };
        Page { items, next }
    }
}
