//! Shapes shared by every area of the JSON API: times, pages, paging queries.

use jaego_core::limits::PAGE_SIZE_MAX;
use jaego_store::{Page, PageRequest};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// RFC 3339 text of a stored time (microseconds since the epoch).
pub fn time(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).map_or_else(|_| us.to_string(), |t| t.to_string())
}

/// Parses an RFC 3339 time from a query parameter.
pub fn parse_time(field: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<jiff::Timestamp>()
        .map(jiff::Timestamp::as_microsecond)
        .map_err(|_| {
            ApiError::invalid(
                field,
                format!("{raw:?} is not an RFC 3339 time such as 2026-11-22T09:00:00Z"),
            )
        })
}

/// One page of a list: `next_cursor` goes in `after` to get the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageBody<T> {
    pub fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        PageBody {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next,
        }
    }
}

/// Checks `limit` against [`PAGE_SIZE_MAX`] and builds the page request.
pub fn page(after: Option<String>, limit: Option<usize>) -> Result<PageRequest, ApiError> {
    let limit = limit.map(page_limit).transpose()?;
    Ok(PageRequest { after, limit })
}

/// A list's `limit` query parameter: 1 to [`PAGE_SIZE_MAX`], anything else
/// refused (422), never clamped.
pub fn page_limit(limit: usize) -> Result<usize, ApiError> {
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {PAGE_SIZE_MAX}"),
        ));
    }
    Ok(limit)
}
