//! Reading typed values out of `AnyRow`s, and building placeholder lists.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};

pub(crate) fn text(row: &AnyRow, col: &str) -> StoreResult<String> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> StoreResult<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> StoreResult<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> StoreResult<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn opt_float(row: &AnyRow, col: &str) -> StoreResult<Option<f64>> {
    Ok(row.try_get::<Option<f64>, _>(col)?)
}

/// Flags are stored as 0/1 integers on both engines (sqlx's `Any` driver
/// cannot read SQLite booleans).
pub(crate) fn flag(row: &AnyRow, col: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Parses a stored text column into an id or enum.
pub(crate) fn parsed<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let raw = text(row, col)?;
    raw.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("{col} = {raw:?}: {e}")))
}

pub(crate) fn opt_parsed<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match opt_text(row, col)? {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|e: T::Err| StoreError::Corrupt(format!("{col} = {raw:?}: {e}"))),
    }
}

/// `($1, $2), ($3, $4), …`: `rows` tuples of `width` numbered placeholders,
/// starting after `offset` placeholders already used.
pub(crate) fn tuples(rows: usize, width: usize, offset: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(offset + r * width + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// The separator of list values kept in one text column (option tags). A
/// control character, which validation keeps out of the values themselves.
pub(crate) const LIST_SEPARATOR: char = '\u{1f}';

pub(crate) fn join_list(values: &[String]) -> String {
    values.join(&LIST_SEPARATOR.to_string())
}

pub(crate) fn split_list(stored: &str) -> Vec<String> {
    if stored.is_empty() {
        Vec::new()
    } else {
        stored.split(LIST_SEPARATOR).map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tuples_number_placeholders() {
        assert_eq!(super::tuples(2, 2, 1), "($2, $3), ($4, $5)");
    }
}
