//! CSV import and export of SKUs and of stock counts per location, because
//! merchants keep their catalog and their stock counts in spreadsheets.
//!
//! An import reads and checks every row before it changes anything, then
//! applies the whole file in one transaction. A file with bad rows answers
//! 422 `invalid_input` with one violation per bad row, its field `line N`
//! naming the physical line of the file (the header is line 1, a quoted
//! field spanning lines counts each), so the merchant can fix the sheet and
//! upload it again knowing that nothing was half applied.
//!
//! The format, both ways: UTF-8, comma-separated, RFC 4180 quoting, a
//! header row. Columns are found by header name in any order; surrounding
//! spaces are trimmed; rows whose fields are all empty (spreadsheets leave
//! them behind) are skipped; lists are joined with `|`. Exports begin with
//! a UTF-8 byte-order mark and imports ignore one.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jaego_core::error::Validator;
use jaego_core::limits::{CSV_BODY_BYTES_MAX, CSV_ROWS_MAX, PAGE_SIZE_MAX, QUANTITY_MAX};
use jaego_core::role::Permission;
use jaego_core::{InvalidInput, ProductId, SkuId, Violation};
use jaego_store::PageRequest;
use jaego_store::catalog::NewSku;
use jaego_store::ledger::BalanceFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, Auth};
use crate::routes::stock::check_texts;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_skus))
        .routes(routes!(import_skus))
        .routes(routes!(export_stock))
        .routes(routes!(import_stock))
        // Closer to the handlers than the API-wide JSON limit, so it wins
        // for these routes only.
        .layer(DefaultBodyLimit::max(CSV_BODY_BYTES_MAX))
}

/// Most bad rows one answer lists; past this a last entry says how many
/// more there were. A file that wrong needs fixing at its source, and an
/// answer listing 50,000 rows helps no one. (A candidate for `limits.rs`.)
const CSV_VIOLATIONS_MAX: usize = 1_000;

/// Excel reads a CSV file without a byte-order mark in the system's legacy
/// code page (CP949 on Korean Windows), which garbles Korean names; with
/// the UTF-8 mark it reads UTF-8. Other tools skip the mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Separates the entries of a list column (barcodes, option tags).
const LIST_SEPARATOR: char = '|';

const SKU_COLUMNS: [&str; 6] = [
    "code",
    "name",
    "product_id",
    "tracked",
    "barcodes",
    "option_tags",
];
const STOCK_COLUMNS: [&str; 8] = [
    "sku_code",
    "on_hand",
    "reserved",
    "allocated",
    "incoming",
    "in_transit",
    "safety_stock",
    "available",
];
const COUNT_COLUMNS: [&str; 2] = ["sku_code", "counted"];

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuImportBody {
    /// SKUs created: every data row of the file.
    pub created: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountImportBody {
    /// SKUs whose on-hand count was set: every data row of the file.
    pub counted: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CountImportQuery {
    /// Reason recorded on every `count` movement (default `csv import`).
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/skus/export.csv", tag = "csv", security(("bearer" = ["read"])),
    responses((status = 200, content_type = "text/csv",  body = String,
        description = "Every SKU: `code,name,product_id,tracked,barcodes,option_tags`, lists joined by `|`; UTF-8 with a byte-order mark")))]
pub async fn export_skus(State(state): State<AppState>, auth: Auth) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let skus = state.store.all_skus(p.tenant_id).await?;
    let mut out = CsvOut::new(&SKU_COLUMNS)?;
    for sku in skus {
        out.row(&[
            sku.code,
            sku.name,
            sku.product_id.map(|id| id.to_string()).unwrap_or_default(),
            sku.tracked.to_string(),
            join_list(&sku.barcodes),
            join_list(&sku.option_tags),
        ])?;
    }
    out.finish("skus.csv")
}

#[utoipa::path(post, path = "/skus/import", tag = "csv", security(("bearer" = ["catalog:write"])),
    request_body(content = String, content_type = "text/csv",
        description = "Header `code,name` and optionally `product_id`, `tracked` (true/false/1/0/y/n, default true), `barcodes`, `option_tags` (lists joined by `|`); at most 50,000 rows"),
    responses((status = 201, body = SkuImportBody), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem, description = "Nothing was created; `errors` names each bad row as `line N`")))]
pub async fn import_skus(
    State(state): State<AppState>,
    auth: Auth,
    request: Request,
) -> ApiResult<(StatusCode, Json<SkuImportBody>)> {
    let p = auth.require(Permission::WriteCatalog, "change the catalog")?;
    let tenant = p.tenant_id;
    let body = csv_body(request).await?;
    let mut table = Table::read(&body, &SKU_COLUMNS, &["code", "name"])?;
    let mut bad = std::mem::take(&mut table.bad);
    let mut skus: Vec<(u64, NewSku)> = Vec::with_capacity(table.rows.len());
    let mut code_lines: HashMap<String, u64> = HashMap::new();
    let mut barcode_lines: HashMap<String, u64> = HashMap::new();
    for row in &table.rows {
        let line = row.line;
        let product_id = match table.get(row, "product_id") {
            "" => None,
            raw => match raw.parse::<ProductId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    bad.add(line, format!("product_id: {raw:?} is not a product id"));
                    None
                }
            },
        };
        let tracked = match table.get(row, "tracked") {
            "" => true,
            raw => parse_flag(raw).unwrap_or_else(|| {
                bad.add(
                    line,
                    format!("tracked: {raw:?} is not one of true/false, 1/0, y/n"),
                );
                true
            }),
        };
        let new = NewSku {
            code: table.get(row, "code").to_string(),
            name: table.get(row, "name").to_string(),
            product_id,
            tracked,
            barcodes: split_list(table.get(row, "barcodes")),
            option_tags: split_list(table.get(row, "option_tags")),
        };
        if let Err(e) = new.validate() {
            bad.invalid(line, e);
        }
        if !new.code.is_empty() {
            if let Some(first) = code_lines.get(&new.code) {
                bad.add(line, format!("code {:?} is also on line {first}", new.code));
            } else {
                code_lines.insert(new.code.clone(), line);
            }
        }
        for barcode in &new.barcodes {
            match barcode_lines.get(barcode) {
                // A barcode listed twice on one row is reported by validate.
                Some(&first) if first == line => {}
                Some(first) => {
                    bad.add(line, format!("barcode {barcode:?} is also on line {first}"));
                }
                None => {
                    barcode_lines.insert(barcode.clone(), line);
                }
            }
        }
        skus.push((line, new));
    }

    // What the tenant already has, asked for the whole file at once.
    let codes: Vec<String> = code_lines.keys().cloned().collect();
    let taken_codes = state.store.sku_ids_by_code(tenant, &codes).await?;
    let barcodes: Vec<String> = barcode_lines.keys().cloned().collect();
    let taken_barcodes = state.store.taken_barcodes(tenant, &barcodes).await?;
    let products: Vec<ProductId> = skus
        .iter()
        .filter_map(|(_, s)| s.product_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known_products = state.store.existing_products(tenant, &products).await?;
    for (line, sku) in &skus {
        if taken_codes.contains_key(&sku.code) {
            bad.add(*line, format!("code {:?} already exists", sku.code));
        }
        for barcode in &sku.barcodes {
            if let Some(owner) = taken_barcodes.get(barcode) {
                bad.add(
                    *line,
                    format!("barcode {barcode:?} already belongs to SKU {owner:?}"),
                );
            }
        }
        if let Some(product) = sku.product_id
            && !known_products.contains(&product)
        {
            bad.add(*line, format!("product_id: no product {product}"));
        }
    }
    bad.finish()?;

    let new: Vec<NewSku> = skus.into_iter().map(|(_, s)| s).collect();
    if !new.is_empty() {
        state.store.create_skus(tenant, &new).await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(SkuImportBody { created: new.len() }),
    ))
}

#[utoipa::path(get, path = "/locations/{location}/stock.csv", tag = "csv", security(("bearer" = ["read"])),
    params(("location" = String, Path, description = "Location id or code")),
    responses((status = 200, content_type = "text/csv", body = String,
        description = "Every balance at the location: `sku_code,on_hand,reserved,allocated,incoming,in_transit,safety_stock,available`; UTF-8 with a byte-order mark"),
        (status = 404, body = Problem)))]
pub async fn export_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(location): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Permission::Read, "read")?;
    let tenant = p.tenant_id;
    let location = state.store.find_location(tenant, &location).await?;
    let filter = BalanceFilter {
        sku_id: None,
        location_id: Some(location.id),
    };
    let mut page = PageRequest {
        after: None,
        limit: Some(PAGE_SIZE_MAX),
    };
    let mut out = CsvOut::new(&STOCK_COLUMNS)?;
    loop {
        let got = state.store.list_balances(tenant, &filter, &page).await?;
        for row in got.items {
            let b = row.balance;
            out.row(&[
                row.sku_code,
                b.on_hand.to_string(),
                b.reserved.to_string(),
                b.allocated.to_string(),
                b.incoming.to_string(),
                b.in_transit.to_string(),
                b.safety_stock.to_string(),
                b.available().to_string(),
            ])?;
        }
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    out.finish(&format!("stock-{}.csv", file_name_part(&location.code)))
}

#[utoipa::path(post, path = "/locations/{location}/stock/import", tag = "csv", security(("bearer" = ["stock:write"])),
    params(("location" = String, Path, description = "Location id or code"), CountImportQuery),
    request_body(content = String, content_type = "text/csv",
        description = "Header `sku_code,counted`: the counted on-hand figure (0 to 1,000,000,000) of each SKU; at most 50,000 rows"),
    responses((status = 200, body = CountImportBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem, description = "Nothing was counted; `errors` names each bad row as `line N`")))]
pub async fn import_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(location): Path<String>,
    ApiQuery(q): ApiQuery<CountImportQuery>,
    request: Request,
) -> ApiResult<Json<CountImportBody>> {
    let p = auth.require(Permission::WriteStock, "record movements")?;
    let tenant = p.tenant_id;
    let reason = q.reason.unwrap_or_else(|| "csv import".to_string());
    check_texts(&reason, "")?;
    let location = state.store.find_location(tenant, &location).await?;
    let body = csv_body(request).await?;
    let mut table = Table::read(&body, &COUNT_COLUMNS, &COUNT_COLUMNS)?;
    let mut bad = std::mem::take(&mut table.bad);
    let mut counts: Vec<(u64, String, i64)> = Vec::with_capacity(table.rows.len());
    let mut sku_lines: HashMap<String, u64> = HashMap::new();
    for row in &table.rows {
        let line = row.line;
        let code = table.get(row, "sku_code");
        if code.is_empty() {
            bad.add(line, "sku_code: must not be empty");
        } else if let Some(first) = sku_lines.get(code) {
            bad.add(line, format!("sku_code {code:?} is also on line {first}"));
        } else {
            sku_lines.insert(code.to_string(), line);
        }
        let raw = table.get(row, "counted");
        let counted = match raw.parse::<i64>() {
            Ok(n) if (0..=QUANTITY_MAX).contains(&n) => n,
            _ => {
                bad.add(
                    line,
                    format!("counted: {raw:?} is not a whole number from 0 to {QUANTITY_MAX}"),
                );
                0
            }
        };
        counts.push((line, code.to_string(), counted));
    }

    let codes: Vec<String> = sku_lines.keys().cloned().collect();
    let ids = state.store.sku_ids_by_code(tenant, &codes).await?;
    let mut resolved: Vec<(SkuId, i64)> = Vec::with_capacity(counts.len());
    for (line, code, counted) in &counts {
        match ids.get(code) {
            Some(&id) => resolved.push((id, *counted)),
            None if code.is_empty() => {}
            None => bad.add(*line, format!("sku_code: no SKU {code:?}")),
        }
    }
    bad.finish()?;

    let counted = if resolved.is_empty() {
        0
    } else {
        state
            .store
            .record_counts(tenant, location.id, &resolved, &reason, &p.actor())
            .await?
    };
    Ok(Json(CountImportBody { counted }))
}

/// Reads an uploaded CSV body after the caller is known to be allowed:
/// 415 unless it is `text/csv` (in UTF-8, if a charset is named), 413 past
/// [`CSV_BODY_BYTES_MAX`].
pub(crate) async fn csv_body(request: Request) -> ApiResult<Bytes> {
    check_content_type(request.headers())?;
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(format!(
                    "a CSV file may have at most {CSV_BODY_BYTES_MAX} bytes; split the file"
                ))
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })
}

fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/csv") {
        return Err(ApiError::UnsupportedMediaType(
            "send Content-Type: text/csv".into(),
        ));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
        {
            let charset = charset.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "CSV must be UTF-8, not {charset}; in Excel save as \"CSV UTF-8\""
                )));
            }
        }
    }
    Ok(())
}

/// One data row of an uploaded file.
#[derive(Debug)]
pub(crate) struct Row {
    /// The physical line it starts on (the header is line 1).
    pub(crate) line: u64,
    record: csv::StringRecord,
}

/// The data rows of an uploaded file and where each known column is.
#[derive(Debug)]
pub(crate) struct Table {
    columns: HashMap<&'static str, usize>,
    /// The rows with as many fields as the header.
    pub(crate) rows: Vec<Row>,
    /// The rows without: the first bad rows of the file.
    pub(crate) bad: BadRows,
}

impl Table {
    /// Parses `body`: UTF-8, a header naming only columns of `known` and
    /// every column of `required`, then at most [`CSV_ROWS_MAX`] data rows.
    /// A file that fails these is refused at once; a row whose field count
    /// differs from the header's goes to `bad` for the caller to report
    /// with the other bad rows.
    pub(crate) fn read(body: &[u8], known: &[&'static str], required: &[&str]) -> ApiResult<Table> {
        if let Err(e) = std::str::from_utf8(body) {
            let line = 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(ApiError::invalid(
                format!("line {line}"),
                "is not UTF-8 text; in Excel save the file as \"CSV UTF-8\"",
            ));
        }
        let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
        let lines = Lines::new(body);
        let csv_error = |e: csv::Error| {
            let line = e.position().map_or(1, |p| lines.of(p.byte()));
            ApiError::invalid(format!("line {line}"), e.to_string())
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(body);
        let mut records = reader.records();
        let expected = || format!("expected the columns {}", known.join(","));
        let header = match records.next() {
            Some(Ok(header)) => header,
            Some(Err(e)) => return Err(csv_error(e)),
            None => {
                return Err(ApiError::invalid(
                    "line 1",
                    format!("the file is empty; {}", expected()),
                ));
            }
        };
        let header_line = header.position().map_or(1, |p| lines.of(p.byte()));
        let header_field = format!("line {header_line}");
        let mut v = Validator::new();
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.to_ascii_lowercase();
            match known.iter().find(|k| **k == name) {
                Some(k) if columns.contains_key(k) => {
                    v.push(&header_field, format!("column {name:?} is named twice"));
                }
                Some(k) => {
                    columns.insert(*k, i);
                }
                None => v.push(
                    &header_field,
                    format!("unknown column {name:?}; {}", expected()),
                ),
            }
        }
        for name in required {
            if !columns.contains_key(name) {
                v.push(
                    &header_field,
                    format!("the column {name:?} is missing; {}", expected()),
                );
            }
        }
        v.finish()?;
        let width = header.len();
        let mut rows = Vec::new();
        let mut misshapen = 0;
        let mut bad = BadRows::default();
        for record in records {
            let record = record.map_err(csv_error)?;
            if record.iter().all(str::is_empty) {
                continue;
            }
            let line = record.position().map_or(0, |p| lines.of(p.byte()));
            if rows.len() + misshapen == CSV_ROWS_MAX {
                return Err(ApiError::invalid(
                    format!("line {line}"),
                    format!("a file may have at most {CSV_ROWS_MAX} rows; split the file"),
                ));
            }
            if record.len() == width {
                rows.push(Row { line, record });
            } else {
                // Such a row cannot be read by column: report it alone
                // rather than guess at its fields.
                bad.add(
                    line,
                    format!(
                        "has {} fields where the header has {width}; quote a value that holds a comma",
                        record.len()
                    ),
                );
                misshapen += 1;
            }
        }
        Ok(Table { columns, rows, bad })
    }

    /// The row's value in `column`, or `""` if the file has no such column.
    pub(crate) fn get<'r>(&self, row: &'r Row, column: &str) -> &'r str {
        self.columns
            .get(column)
            .and_then(|&i| row.record.get(i))
            .unwrap_or("")
    }
}

/// Physical line numbers of byte offsets. The reader's own line count
/// lags by one after a CRLF (it ends a record at the `\r` and counts the
/// `\n` into the next), so lines are counted here.
struct Lines<'a> {
    body: &'a [u8],
    /// Offset of every `\n`.
    newlines: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(body: &'a [u8]) -> Self {
        let newlines = body
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Lines { body, newlines }
    }

    /// The line (from 1) of the first byte at or after `start` that is not
    /// a line break: a record's position is where the previous one's
    /// terminator, and any blank lines the reader skipped, begin.
    fn of(&self, start: u64) -> u64 {
        let mut at = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.body.len());
        while at < self.body.len() && matches!(self.body[at], b'\r' | b'\n') {
            at += 1;
        }
        self.newlines.partition_point(|&n| n < at) as u64 + 1
    }
}

/// The problems of an uploaded file, by line.
#[derive(Debug, Default)]
pub(crate) struct BadRows {
    by_line: BTreeMap<u64, Vec<String>>,
}

impl BadRows {
    pub(crate) fn add(&mut self, line: u64, reason: impl Into<String>) {
        self.by_line.entry(line).or_default().push(reason.into());
    }

    /// Every bad row's line and reasons, in line order.
    pub(crate) fn into_lines(self) -> Vec<(u64, Vec<String>)> {
        self.by_line.into_iter().collect()
    }

    pub(crate) fn invalid(&mut self, line: u64, err: InvalidInput) {
        for v in err.violations {
            self.add(line, format!("{}: {}", v.field, v.reason));
        }
    }

    /// One violation per bad row, in line order, each row's reasons joined;
    /// at most [`CSV_VIOLATIONS_MAX`] of them.
    pub(crate) fn finish(self) -> ApiResult<()> {
        if self.by_line.is_empty() {
            return Ok(());
        }
        let total = self.by_line.len();
        let mut violations: Vec<Violation> = self
            .by_line
            .into_iter()
            .take(CSV_VIOLATIONS_MAX)
            .map(|(line, reasons)| Violation::new(format!("line {line}"), reasons.join("; ")))
            .collect();
        if total > CSV_VIOLATIONS_MAX {
            violations.push(Violation::new(
                "rows",
                format!(
                    "{} more bad rows are not listed; nothing was changed",
                    total - CSV_VIOLATIONS_MAX
                ),
            ));
        }
        Err(ApiError::Invalid(InvalidInput { violations }))
    }
}

/// `true/false`, `1/0`, `y/n` (and `yes/no`), in any case.
pub(crate) fn parse_flag(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "y" | "yes" => Some(true),
        "false" | "0" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn join_list(values: &[String]) -> String {
    values.join(&LIST_SEPARATOR.to_string())
}

/// A location code made safe for a `Content-Disposition` file name.
fn file_name_part(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A CSV file being written for download.
struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvOut {
    fn new(header: &[&str]) -> ApiResult<CsvOut> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(UTF8_BOM.to_vec());
        writer.write_record(header).map_err(|e| write_error(&e))?;
        Ok(CsvOut { writer })
    }

    fn row<const N: usize>(&mut self, fields: &[String; N]) -> ApiResult<()> {
        self.writer
            .write_record(fields)
            .map_err(|e| write_error(&e))
    }

    fn finish(self, file_name: &str) -> ApiResult<Response> {
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
        let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
            .map_err(|e| ApiError::Internal(format!("file name header: {e}")))?;
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response())
    }
}

fn write_error(e: &csv::Error) -> ApiError {
    ApiError::Internal(format!("writing CSV: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(err: ApiError) -> Vec<(String, String)> {
        match err {
            ApiError::Invalid(e) => e
                .violations
                .into_iter()
                .map(|v| (v.field, v.reason))
                .collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn rows_know_their_physical_lines() {
        // Blank lines, a row of empty fields, a quoted line break, a
        // missing final line break: with either line ending.
        for newline in ["\r\n", "\n"] {
            let body =
                "\u{feff}code,name\nA,\"two\nlines\"\n\n , \nB,b\n\nC,c".replace('\n', newline);
            let table = Table::read(body.as_bytes(), &SKU_COLUMNS, &["code", "name"]).unwrap();
            let got: Vec<(u64, &str, &str)> = table
                .rows
                .iter()
                .map(|r| (r.line, table.get(r, "code"), table.get(r, "name")))
                .collect();
            let two_lines = format!("two{newline}lines");
            assert_eq!(
                got,
                [(2, "A", two_lines.as_str()), (6, "B", "b"), (8, "C", "c")],
                "{newline:?}"
            );
        }
        let table = Table::read(b"\n\ncode,name\nA,a\n", &SKU_COLUMNS, &["code"]).unwrap();
        assert_eq!(table.rows[0].line, 4);
    }

    #[test]
    fn headers_are_checked() {
        let err = Table::read(b"Code,nmae,code\n", &SKU_COLUMNS, &["code", "name"]).unwrap_err();
        let fields: Vec<String> = lines(err).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["line 1", "line 1", "line 1"]);
        let err = Table::read(b"", &SKU_COLUMNS, &["code"]).unwrap_err();
        assert_eq!(lines(err)[0].0, "line 1");
    }

    #[test]
    fn wrong_widths_and_encodings_name_their_line() {
        let table = Table::read(b"code,name\nA,a\nB,b,c\nC\n", &SKU_COLUMNS, &["code"]).unwrap();
        assert_eq!(table.rows.len(), 1);
        let fields: Vec<String> = lines(table.bad.finish().unwrap_err())
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(fields, ["line 3", "line 4"]);
        let err =
            Table::read(b"code,name\nA,a\nB,\xb0\xa1\n", &SKU_COLUMNS, &["code"]).unwrap_err();
        assert_eq!(lines(err)[0].0, "line 3");
    }

    #[test]
    fn content_types() {
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            check_content_type(&headers).is_ok()
        };
        assert!(check("text/csv"));
        assert!(check("Text/CSV; charset=UTF-8"));
        assert!(!check("text/csv; charset=euc-kr"));
        assert!(!check("application/json"));
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn handlers_are_documented() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let paths = &doc["paths"];
        assert!(
            paths["/api/v1/skus/export.csv"]["get"]["responses"]["200"]["content"]["text/csv"]
                .is_object()
        );
        assert!(
            paths["/api/v1/skus/import"]["post"]["requestBody"]["content"]["text/csv"].is_object()
        );
        assert!(paths["/api/v1/locations/{location}/stock.csv"]["get"].is_object());
        let params = &paths["/api/v1/locations/{location}/stock/import"]["post"]["parameters"];
        let names: Vec<&str> = params
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["location", "reason"]);
    }

    #[test]
    fn flags_and_lists() {
        assert_eq!(parse_flag("Y"), Some(true));
        assert_eq!(parse_flag("0"), Some(false));
        assert_eq!(parse_flag("maybe"), None);
        assert_eq!(split_list(" a | b ||"), ["a", "b"]);
        assert_eq!(file_name_part("서울/1"), "___1");
    }
}
