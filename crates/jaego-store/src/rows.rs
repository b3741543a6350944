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

/// Parses a stored id or enum read other than as a column (a JSON answer,
/// a list column).
pub(crate) fn parse_stored<T: FromStr>(raw: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("stored value {raw:?}: {e}")))
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

/// How a multi-row statement writes its placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …` (SQLite). sqlx looks each numbered SQLite parameter up by
    /// name, a linear search per parameter: O(n²) for a batch with
    /// thousands of parameters, measured at a third of the server's CPU.
    /// Anonymous parameters bind by position instead.
    Anonymous,
}

impl Placeholders {
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Placeholders {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Placeholders::Anonymous
        } else {
            Placeholders::Numbered
        }
    }
}

/// `select` wrapped so that the database answers all of its rows as one
/// JSON text, an array with one array of `columns` (the names `select`
/// gives its result columns) per row, in column `rows`. For big reads: the
/// driver's cost is per row and per value (about 8 µs for a 15-column row
/// through `sqlx::Any`), and this pays it once per statement; the caller
/// reads the arrays with [`json_rows`] into tuple structs.
pub(crate) fn json_rows_sql(style: Placeholders, columns: &str, select: &str) -> String {
    match style {
        Placeholders::Anonymous => {
            format!("SELECT json_group_array(json_array({columns})) AS rows FROM ({select}) AS q")
        }
        Placeholders::Numbered => format!(
            "SELECT COALESCE(json_agg(json_build_array({columns})), '[]'::json)::text AS rows FROM ({select}) AS q"
        ),
    }
}

/// The rows of a [`json_rows_sql`] statement's answer.
pub(crate) fn json_rows<T: serde::de::DeserializeOwned>(row: &AnyRow) -> StoreResult<Vec<T>> {
    serde_json::from_str(&text(row, "rows")?)
        .map_err(|e| StoreError::Corrupt(format!("rows read as JSON: {e}")))
}

/// What a column of a JSON-bound row set holds: PostgreSQL reads every
/// JSON value as text and needs the cast; SQLite types each value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonCol {
    Text,
    Int,
}

/// `SELECT … AS column1, … AS columnN FROM …`: the rows of the statement's
/// parameter number `param` (from 1; `?N` on SQLite, `$N` on PostgreSQL,
/// which the driver binds by number), a JSON array of row arrays,
/// one column per entry of `cols`. For big multi-row writes: the driver's
/// cost is per bound value, so binding a whole row set as one text pays
/// it once, and every statement has one text whatever its row count (one
/// prepared statement, and no bind limit). Rows come out in array order.
pub(crate) fn json_values_sql_at(style: Placeholders, cols: &[JsonCol], param: usize) -> String {
    // SQLite: with several columns, each row's text is taken from
    // `json_each` once, into a materialized row set, then read column by
    // column; reading `value` for every column makes `json_each` build the
    // row's text again each time (150,000 six-column rows inserted: about
    // 300 ms against 370-420).
    let materialized = style == Placeholders::Anonymous && cols.len() > 1;
    let mut out = if materialized {
        format!(
            "WITH json_rows AS MATERIALIZED (SELECT value AS r FROM json_each(?{param})) SELECT "
        )
    } else {
        String::from("SELECT ")
    };
    for (i, col) in cols.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let column = i + 1;
        match (style, col) {
            (Placeholders::Anonymous, _) if materialized => {
                out.push_str(&format!("r->>{i} AS column{column}"));
            }
            (Placeholders::Anonymous, _) => out.push_str(&format!("value->>{i} AS column{column}")),
            (Placeholders::Numbered, JsonCol::Text) => {
                out.push_str(&format!("e->>{i} AS column{column}"));
            }
            (Placeholders::Numbered, JsonCol::Int) => {
                out.push_str(&format!("(e->>{i})::bigint AS column{column}"));
            }
        }
    }
    match style {
        Placeholders::Anonymous if materialized => out.push_str(" FROM json_rows"),
        Placeholders::Anonymous => out.push_str(&format!(" FROM json_each(?{param})")),
        // `jsonb`, parsed once: `->>` on a `json` value parses its text
        // again for every column (measured: 81-90 ms against 24-27 ms to
        // read 10,000 rows of six columns).
        Placeholders::Numbered => {
            out.push_str(&format!(" FROM jsonb_array_elements(${param}::jsonb) AS e"));
        }
    }
    out
}

/// `($1, $2), ($3, $4), …` or `(?, ?), (?, ?), …`: `rows` tuples of `width`
/// placeholders. The statement must have no other placeholders.
pub(crate) fn tuples(style: Placeholders, rows: usize, width: usize) -> String {
    tuples_after(style, 0, rows, width)
}

/// [`tuples`] for a statement whose first `before` placeholders come before
/// the list (numbered ones then start at `$before+1`; anonymous ones bind
/// in text order, so those must also come first in the text).
pub(crate) fn tuples_after(
    style: Placeholders,
    before: usize,
    rows: usize,
    width: usize,
) -> String {
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
            match style {
                Placeholders::Numbered => {
                    out.push('$');
                    out.push_str(&(before + r * width + c + 1).to_string());
                }
                Placeholders::Anonymous => out.push('?'),
            }
        }
        out.push(')');
    }
    out
}

/// How many rows a multi-row statement of `rows` rows is padded to: the
/// next power of two. Batches vary in size; padding (with all-NULL rows the
/// statement ignores) keeps the set of distinct SQL texts small, so each is
/// prepared once and then served from the statement cache. Unpadded, every
/// new batch size cost a fresh prepare, most of a batch's time.
pub(crate) fn padded(rows: usize) -> usize {
    rows.max(1).next_power_of_two()
}

/// The separator of list values kept in one text column (option tags). A
/// control character, which validation keeps out of the values themselves.
pub(crate) const LIST_SEPARATOR: char = '\u{1f}';

/// An optional filter as the list queries bind it: its text, or `''` for
/// "not filtered" (`$n = '' OR column = $n`).
pub(crate) fn filter_value(value: Option<impl std::fmt::Display>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The condition of an optional equality filter on `column`, whose value is
/// bound at `param` with [`filter_value`]: when the filter is `given`, a
/// plain equality, which an index on `column` serves (SQLite cannot use one
/// for `param = '' OR column = param`); otherwise true for every row.
pub(crate) fn filter_eq(column: &str, param: &str, given: bool) -> String {
    if given {
        format!("{column} = {param}")
    } else {
        format!("{param} = ''")
    }
}

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

/// A dynamically built query's argument.
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    pub(crate) fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Arg::Text(s) => query.bind(s),
            Arg::Int(i) => query.bind(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JsonCol, Placeholders, json_values_sql_at, tuples, tuples_after};

    #[test]
    fn json_values_name_their_columns_and_type_them_for_postgres() {
        let cols = [JsonCol::Text, JsonCol::Int];
        assert_eq!(
            json_values_sql_at(Placeholders::Anonymous, &cols, 1),
            "WITH json_rows AS MATERIALIZED (SELECT value AS r FROM json_each(?1)) \
             SELECT r->>0 AS column1, r->>1 AS column2 FROM json_rows"
        );
        assert_eq!(
            json_values_sql_at(Placeholders::Numbered, &cols, 1),
            "SELECT e->>0 AS column1, (e->>1)::bigint AS column2 FROM jsonb_array_elements($1::jsonb) AS e"
        );
        assert_eq!(
            json_values_sql_at(Placeholders::Numbered, &[JsonCol::Text], 3),
            "SELECT e->>0 AS column1 FROM jsonb_array_elements($3::jsonb) AS e"
        );
        assert_eq!(
            json_values_sql_at(Placeholders::Anonymous, &[JsonCol::Text], 3),
            "SELECT value->>0 AS column1 FROM json_each(?3)"
        );
    }

    #[test]
    fn tuples_write_placeholders() {
        assert_eq!(tuples(Placeholders::Numbered, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(tuples(Placeholders::Anonymous, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(tuples_after(Placeholders::Numbered, 1, 2, 1), "($2), ($3)");
    }
}
