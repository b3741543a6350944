//! Orders from every channel: settings, channel SKU links and the
//! unmatched queue, collection, the integrated order view, allocation runs
//! ([`runs`]), the stock moves orders make ([`stock`]) and customer service
//! ([`service`]).
//!
//! An order is identified by (channel, external number, copy number): the
//! copy number is 0 unless the channel's duplicate policy `new` kept a
//! second order under the same number. Its lines carry their quantities
//! (`quantity`, `allocated`, `shipped`, `cancelled`, `returned`) and where
//! the allocated and shipped units are (`order_allocations`). Every change
//! of `allocated` is a ledger movement (`allocate`, `deallocate`,
//! `shipment`) written with the ledger's write shape in the same
//! transaction, so the balances stay a projection of the ledger.

pub(crate) mod bundle_lines;
pub mod runs;
pub mod service;
pub mod stock;

use std::collections::{HashMap, HashSet};

use jaego_core::allocation::{GiftRule, ShipmentMode};
use jaego_core::error::Validator;
use jaego_core::limits::{
    EXCLUSIONS_PER_CHANNEL_MAX, ORDER_LINES_MAX, ORDER_NO_LEN_MAX, ORDER_TEXT_LEN_MAX,
    QUANTITY_MAX, REMOTE_AREA_RANGES_MAX, WEBHOOK_SECRET_LEN_MAX, WEBHOOK_SECRET_LEN_MIN,
};
use jaego_core::order::{
    DuplicatePolicy, LineQty, OrderStatus, PostalRange, Restock, is_remote, name_matches, status_of,
};
use jaego_core::schedule::Spec;
use jaego_core::{
    ChannelId, InvalidInput, LocationId, OrderId, OrderLineId, ReservationId, SkuId, StockPolicy,
    TenantId,
};
use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::page::{Page, PageRequest};
use crate::rows::{
    JsonCol, Placeholders, filter_value, flag, int, join_list, json_values_sql_at, opt_int,
    opt_parsed, opt_text, parsed, split_list, text,
};
use crate::{Store, now_us};

/// The stored-schedule job that links waiting lines by identical code.
pub const AUTO_LINK_JOB: &str = "auto_link_skus";
/// The auto-link schedule a channel gets when its settings are first saved
/// or its first order arrives: hourly.
pub const AUTO_LINK_DEFAULT: Spec = Spec::Every { secs: 3600 };

/// A tenant's order (CS) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSettings {
    /// An order not shipped this many days after collection is delayed.
    pub delay_days: i64,
    /// Mark both halves of an unallocated split "never merge" by default.
    pub split_never_merge: bool,
    /// Hold an order while one of its exchanges is open.
    pub exchange_hold: bool,
    /// Fee recorded on an exchange that names none, in minor units.
    pub exchange_fee: i64,
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            delay_days: 3,
            split_never_merge: true,
            exchange_hold: true,
            exchange_fee: 0,
        }
    }
}

/// How one channel's orders are collected and allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOrderSettings {
    pub duplicate_policy: DuplicatePolicy,
    pub shipment_mode: ShipmentMode,
    pub basis: StockPolicy,
    pub gift_rule: GiftRule,
    /// Match unlinked lines by product name and option text.
    pub name_match: bool,
    /// Product-name patterns whose lines are not collected.
    pub exclusions: Vec<String>,
    /// The inbound webhook's secret; `None`: the webhook is off.
    pub webhook_secret: Option<String>,
    /// When unmatched lines are linked by identical code; `None`: on demand only.
    pub auto_link: Option<Spec>,
}

impl Default for ChannelOrderSettings {
    fn default() -> Self {
        ChannelOrderSettings {
            duplicate_policy: DuplicatePolicy::Ignore,
            shipment_mode: ShipmentMode::Complete,
            basis: StockPolicy::Strict,
            gift_rule: GiftRule::Complete,
            name_match: false,
            exclusions: Vec::new(),
            webhook_secret: None,
            auto_link: Some(AUTO_LINK_DEFAULT),
        }
    }
}

impl ChannelOrderSettings {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut v = Validator::new();
        if self.exclusions.len() > EXCLUSIONS_PER_CHANNEL_MAX {
            v.push(
                "exclusions",
                format!(
                    "has {} patterns; the limit is {EXCLUSIONS_PER_CHANNEL_MAX}",
                    self.exclusions.len()
                ),
            );
        }
        for (i, p) in self.exclusions.iter().enumerate() {
            v.text(&format!("exclusions[{i}]"), p, ORDER_TEXT_LEN_MAX);
        }
        if let Some(secret) = &self.webhook_secret
            && !(WEBHOOK_SECRET_LEN_MIN..=WEBHOOK_SECRET_LEN_MAX).contains(&secret.len())
        {
            v.push(
                "webhook_secret",
                format!("must be {WEBHOOK_SECRET_LEN_MIN} to {WEBHOOK_SECRET_LEN_MAX} bytes"),
            );
        }
        v.finish()
    }
}

/// Who ordered and where it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub postal_code: String,
}

impl Customer {
    /// The batch key: the identity normalised (case, spaces and hyphens
    /// ignored), or empty when nothing identifies the customer.
    pub fn batch_key(&self) -> String {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .flat_map(char::to_lowercase)
                .collect()
        };
        let parts = [
            norm(&self.name),
            norm(&self.phone),
            norm(&self.address),
            norm(&self.postal_code),
        ];
        if parts.iter().all(String::is_empty) {
            String::new()
        } else {
            parts.join("|")
        }
    }
}

/// A line as a channel sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewOrderLine {
    /// The channel's item code (상품코드/품목코드).
    pub item_code: String,
    /// The channel's option code, if any.
    pub item_option: String,
    pub product_name: String,
    pub option_text: String,
    /// A SKU id or code, when the channel already knows it.
    pub sku: Option<String>,
    pub quantity: i64,
    pub gift: bool,
    /// A store (id or code) where the customer picks this line up.
    pub pickup_location: Option<String>,
}

impl NewOrderLine {
    /// What identifies the line within its order.
    pub fn key(&self) -> String {
        if self.item_code.is_empty() {
            format!("sku\u{1f}{}", self.sku.as_deref().unwrap_or(""))
        } else {
            format!("{}\u{1f}{}", self.item_code, self.item_option)
        }
    }
}

/// An order as a channel sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewOrder {
    pub external_no: String,
    /// When the customer ordered (microseconds), if the channel says.
    pub ordered_at: Option<i64>,
    pub customer: Customer,
    /// A store (id or code) where the customer picks the whole order up.
    pub pickup_location: Option<String>,
    /// A committed reservation whose allocation the order takes over.
    pub reservation: Option<ReservationId>,
    pub note: String,
    pub priority: bool,
    pub hold: bool,
    pub lines: Vec<NewOrderLine>,
}

impl NewOrder {
    /// Checks limits and shapes; field names are relative to the order.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        let mut v = Validator::new();
        v.text("external_no", &self.external_no, ORDER_NO_LEN_MAX);
        for (field, value) in [
            ("customer.name", &self.customer.name),
            ("customer.phone", &self.customer.phone),
            ("customer.address", &self.customer.address),
            ("customer.postal_code", &self.customer.postal_code),
            ("note", &self.note),
        ] {
            v.optional_text(field, value, ORDER_TEXT_LEN_MAX);
        }
        if self.lines.is_empty() {
            v.push("lines", "an order needs at least one line");
        }
        if self.lines.len() > ORDER_LINES_MAX {
            v.push(
                "lines",
                format!(
                    "has {} lines; the limit is {ORDER_LINES_MAX}",
                    self.lines.len()
                ),
            );
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, l) in self.lines.iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            if l.item_code.is_empty() && l.sku.as_deref().unwrap_or("").is_empty() {
                v.push(f("item_code"), "give the channel's item code or a sku");
            }
            v.optional_text(&f("item_code"), &l.item_code, ORDER_NO_LEN_MAX);
            v.optional_text(&f("item_option"), &l.item_option, ORDER_NO_LEN_MAX);
            v.optional_text(&f("product_name"), &l.product_name, ORDER_TEXT_LEN_MAX);
            v.optional_text(&f("option_text"), &l.option_text, ORDER_TEXT_LEN_MAX);
            if l.quantity <= 0 || l.quantity > QUANTITY_MAX {
                v.push(
                    f("quantity"),
                    format!("must be between 1 and {QUANTITY_MAX}"),
                );
            }
            match seen.get(&l.key()) {
                Some(first) => v.push(
                    f("item_code"),
                    format!(
                        "the same item as lines[{first}]; send one line with the total quantity"
                    ),
                ),
                None => {
                    seen.insert(l.key(), i);
                }
            }
        }
        v.finish()
    }
}

/// A line left out by an exclusion rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedLine {
    pub item_code: String,
    pub product_name: String,
    pub quantity: i64,
    /// The pattern that matched.
    pub pattern: String,
}

/// Where some of a line's units are allocated or were shipped from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAllocation {
    pub location_id: LocationId,
    /// Allocated, not yet shipped.
    pub quantity: i64,
    pub shipped: i64,
    pub returned: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub id: OrderLineId,
    pub line_no: i64,
    pub item_code: String,
    pub item_option: String,
    pub product_name: String,
    pub option_text: String,
    pub sku_id: Option<SkuId>,
    pub qty: LineQty,
    pub gift: bool,
    pub pickup_location_id: Option<LocationId>,
    pub allocations: Vec<LineAllocation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub channel_id: ChannelId,
    pub external_no: String,
    pub copy_no: i64,
    pub status: OrderStatus,
    pub hold: bool,
    pub flag: bool,
    pub priority: bool,
    pub never_merge: bool,
    pub note: String,
    pub customer: Customer,
    pub remote_area: bool,
    pub batch_key: String,
    pub pickup_location_id: Option<LocationId>,
    pub reservation_id: Option<ReservationId>,
    pub excluded: Vec<ExcludedLine>,
    pub exchange_fee: i64,
    pub split_from: Option<OrderId>,
    pub merged_into: Option<OrderId>,
    pub ordered_at: Option<i64>,
    pub collected_at: i64,
    pub updated_at: i64,
    pub lines: Vec<OrderLine>,
}

impl Order {
    /// Not shipped `delay_days` after collection, as of `now`.
    pub fn delayed(&self, delay_days: i64, now: i64) -> bool {
        !matches!(
            self.status,
            OrderStatus::Shipped | OrderStatus::Cancelled | OrderStatus::Merged
        ) && self.collected_at + delay_days * 86_400_000_000 <= now
    }
}

/// What collection did with one order of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    Created,
    /// The number was known and the policy is `ignore`: nothing changed.
    Ignored,
    /// The number was known and the policy is `update`.
    Updated,
    /// The number was known and the policy is `new`: a copy was kept.
    Copied,
}

impl Collected {
    pub fn as_str(self) -> &'static str {
        match self {
            Collected::Created => "created",
            Collected::Ignored => "ignored",
            Collected::Updated => "updated",
            Collected::Copied => "copied",
        }
    }
}

/// Filters of the order view; all given ones must match.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub channel_id: Option<ChannelId>,
    pub status: Option<OrderStatus>,
    pub hold: Option<bool>,
    pub flag: Option<bool>,
    pub priority: Option<bool>,
    pub remote_area: Option<bool>,
    /// Orders with a line of this SKU.
    pub sku_id: Option<SkuId>,
    /// Collected at or after (microseconds).
    pub from: Option<i64>,
    /// Collected before (microseconds).
    pub to: Option<i64>,
    /// Only orders delayed (or, false, not delayed) as of now.
    pub delayed: Option<bool>,
    pub external_no: Option<String>,
}

/// A channel item (+ option) linked to a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuLink {
    pub channel_id: ChannelId,
    pub item_code: String,
    pub item_option: String,
    pub sku_id: SkuId,
    /// `manual`, `code` (identical SKU code) or `name`.
    pub source: String,
    pub created_at: i64,
}

/// Lines waiting for a link, grouped by channel item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedItem {
    pub channel_id: ChannelId,
    pub item_code: String,
    pub item_option: String,
    pub product_name: String,
    pub option_text: String,
    pub lines: i64,
    pub units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRange {
    pub id: String,
    pub range: PostalRange,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnReason {
    pub code: String,
    pub name: String,
    pub restock: Restock,
    pub location_id: Option<LocationId>,
}

/// A value bound in a multi-row statement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Val {
    T(String),
    OT(Option<String>),
    I(i64),
    OI(Option<i64>),
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

impl Val {
    fn bind(self, q: Query<'_>) -> Query<'_> {
        match self {
            Val::T(s) => q.bind(s),
            Val::OT(s) => q.bind(s),
            Val::I(i) => q.bind(i),
            Val::OI(i) => q.bind(i),
        }
    }

    fn column(&self) -> JsonCol {
        match self {
            Val::T(_) | Val::OT(_) => JsonCol::Text,
            Val::I(_) | Val::OI(_) => JsonCol::Int,
        }
    }
}

impl serde::Serialize for Val {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::T(t) => s.serialize_str(t),
            Val::OT(t) => t.serialize(s),
            Val::I(i) => s.serialize_i64(*i),
            Val::OI(i) => i.serialize(s),
        }
    }
}

/// Most rows a multi-row statement binds (as one JSON text).
const JSON_ROWS_MAX: usize = 10_000;

/// `rows` as few statements' worth of JSON arrays (see
/// [`json_values_sql_at`]): the `SELECT` that reads one, with the column types
/// of the first row, and the texts, each serialized only when it is taken,
/// so a large write never holds all its rows at once.
fn json_chunks<I: IntoIterator<Item = Vec<Val>>>(
    style: Placeholders,
    width: usize,
    rows: I,
) -> (String, JsonChunks<I::IntoIter>) {
    json_chunks_at(style, 1, width, rows)
}

/// [`json_chunks`] read from parameter number `param`, after `param - 1`
/// values bound before it.
fn json_chunks_at<I: IntoIterator<Item = Vec<Val>>>(
    style: Placeholders,
    param: usize,
    width: usize,
    rows: I,
) -> (String, JsonChunks<I::IntoIter>) {
    let mut rows = rows.into_iter().peekable();
    let cols: Vec<JsonCol> = rows
        .peek()
        .map(|r| r.iter().map(Val::column).collect())
        .unwrap_or_default();
    let source = json_values_sql_at(style, &cols, param);
    (source, JsonChunks { rows, width, cols })
}

/// The JSON texts of [`json_chunks`], up to [`JSON_ROWS_MAX`] rows each.
struct JsonChunks<I: Iterator<Item = Vec<Val>>> {
    rows: std::iter::Peekable<I>,
    width: usize,
    cols: Vec<JsonCol>,
}

impl<I: Iterator<Item = Vec<Val>>> Iterator for JsonChunks<I> {
    type Item = StoreResult<String>;

    fn next(&mut self) -> Option<StoreResult<String>> {
        self.rows.peek()?;
        let mut out = b"[".to_vec();
        for (n, row) in self.rows.by_ref().take(JSON_ROWS_MAX).enumerate() {
            // PostgreSQL casts each column by the first row's kinds: a
            // column of mixed kinds would be read wrong, so it is refused.
            if row.len() != self.width || !row.iter().map(Val::column).eq(self.cols.iter().copied())
            {
                return Some(Err(StoreError::Corrupt(format!(
                    "rows to write are not all {} values of the same kinds",
                    self.width
                ))));
            }
            if n > 0 {
                out.push(b',');
            }
            if let Err(e) = serde_json::to_writer(&mut out, &row) {
                return Some(Err(StoreError::Corrupt(format!(
                    "rows written as JSON: {e}"
                ))));
            }
        }
        out.push(b']');
        Some(
            String::from_utf8(out)
                .map_err(|e| StoreError::Corrupt(format!("rows written as JSON: {e}"))),
        )
    }
}

/// `INSERT INTO {head}` the `rows`, bound as JSON (one statement per
/// [`JSON_ROWS_MAX`] rows). `head` is `table (col, …)`; every row has `width` values.
pub(crate) async fn insert_many(
    tx: &mut Transaction<'_, Any>,
    head: &str,
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
    tail: &str,
) -> StoreResult<()> {
    insert_many_same(tx, head, "*", &[], width, rows, tail).await
}

/// [`insert_many`] with values the same for every row bound once instead
/// of repeated in each row: `select` lists the values of `head`'s columns,
/// `v.column1` … for the rows' values and `$1` … `$n` for `same` (which
/// `tail` may name too). Each repeated value costs SQLite a read out of
/// every row's JSON.
pub(crate) async fn insert_many_same(
    tx: &mut Transaction<'_, Any>,
    head: &str,
    select: &str,
    same: &[Val],
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
    tail: &str,
) -> StoreResult<()> {
    same_named(&format!("{select} {tail}"), same.len())?;
    let (source, chunks) = json_chunks_at(Placeholders::of(tx), same.len() + 1, width, rows);
    // `WHERE true` tells SQLite's parser that an `ON CONFLICT` tail is the
    // insert's, not a join's.
    let sql = format!("INSERT INTO {head} SELECT {select} FROM ({source}) AS v WHERE true {tail}");
    execute_chunks(tx, &sql, same, chunks).await?;
    Ok(())
}

/// [`update_many`] with values the same for every row bound once, named
/// `$1` … `$n` in `set` or `cond`.
pub(crate) async fn update_many_same(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    set: &str,
    cond: &str,
    same: &[Val],
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
) -> StoreResult<u64> {
    same_named(&format!("{set} {cond}"), same.len())?;
    let (source, chunks) = json_chunks_at(Placeholders::of(tx), same.len() + 1, width, rows);
    let sql = format!("UPDATE {table} SET {set} FROM ({source}) AS v WHERE {cond}");
    execute_chunks(tx, &sql, same, chunks).await
}

/// Refuses SQL whose parameters are not exactly `$1` … `$n`: the values
/// bound once are numbered, and the rows' JSON text is bound after them.
fn same_named(sql: &str, n: usize) -> StoreResult<()> {
    let mut named = vec![false; n];
    for (at, _) in sql.match_indices('$') {
        let digits: String = sql[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<usize>() {
            Ok(i) if (1..=n).contains(&i) => named[i - 1] = true,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "${digits} is not one of the {n} values given: {sql}"
                )));
            }
        }
    }
    match named.iter().position(|n| !n) {
        Some(i) => Err(StoreError::Corrupt(format!(
            "${} is given but not used: {sql}",
            i + 1
        ))),
        None => Ok(()),
    }
}

/// Runs `sql` once per JSON text of `chunks`, each after the values
/// `same`; answers the rows changed.
/// The next text is serialized while the database runs the current one
/// (on SQLite, the driver's own thread), so a large write keeps both
/// cores busy instead of taking turns.
async fn execute_chunks(
    tx: &mut Transaction<'_, Any>,
    sql: &str,
    same: &[Val],
    mut chunks: impl Iterator<Item = StoreResult<String>>,
) -> StoreResult<u64> {
    let mut changed = 0;
    let mut current = chunks.next();
    while let Some(text) = current {
        let mut query = sqlx::query(sql);
        for v in same {
            query = v.clone().bind(query);
        }
        let (done, next) = tokio::join!(query.bind(text?).execute(&mut **tx), async {
            chunks.next()
        });
        changed += done?.rows_affected();
        current = next;
    }
    Ok(changed)
}

/// [`insert_many`] with a `RETURNING id` tail: the ids of the rows inserted.
pub(crate) async fn insert_returning_ids<T: std::str::FromStr + std::hash::Hash + Eq>(
    tx: &mut Transaction<'_, Any>,
    head: &str,
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
    tail: &str,
) -> StoreResult<HashSet<T>>
where
    T::Err: std::fmt::Display,
{
    let (source, chunks) = json_chunks(Placeholders::of(tx), width, rows);
    let sql = format!("INSERT INTO {head} {source} WHERE true {tail}");
    ids_of(tx, &sql, chunks).await
}

/// The `id`s a `… RETURNING id` statement answers, run once per chunk of
/// JSON rows.
async fn ids_of<T: std::str::FromStr + std::hash::Hash + Eq>(
    tx: &mut Transaction<'_, Any>,
    sql: &str,
    chunks: impl Iterator<Item = StoreResult<String>>,
) -> StoreResult<HashSet<T>>
where
    T::Err: std::fmt::Display,
{
    let mut out = HashSet::new();
    for chunk in chunks {
        for row in sqlx::query(sql).bind(chunk?).fetch_all(&mut **tx).await? {
            out.insert(parsed(&row, "id")?);
        }
    }
    Ok(out)
}

/// `UPDATE {table} SET {set} FROM (the rows) AS v WHERE {cond}`, the rows
/// bound as JSON (one statement per [`JSON_ROWS_MAX`] rows); `set` and `cond` name the values
/// `v.column1` … Answers the rows changed. `set` and `cond` are fixed text:
/// a value that is the same for every row (a time, a tenant) goes in each
/// row or is bound once ([`update_many_same`]), never into the text, since
/// every distinct SQL text is another prepared statement in the
/// connection's cache.
pub(crate) async fn update_many(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    set: &str,
    cond: &str,
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
) -> StoreResult<u64> {
    update_many_same(tx, table, set, cond, &[], width, rows).await
}

/// [`update_many`] answering the ids of the rows it changed (`{table}.id`),
/// so a caller can tell which rows a condition turned away.
pub(crate) async fn update_returning_ids<T: std::str::FromStr + std::hash::Hash + Eq>(
    tx: &mut Transaction<'_, Any>,
    table: &str,
    set: &str,
    cond: &str,
    width: usize,
    rows: impl IntoIterator<Item = Vec<Val>>,
) -> StoreResult<HashSet<T>>
where
    T::Err: std::fmt::Display,
{
    let (source, chunks) = json_chunks(Placeholders::of(tx), width, rows);
    let sql =
        format!("UPDATE {table} SET {set} FROM ({source}) AS v WHERE {cond} RETURNING {table}.id");
    ids_of(tx, &sql, chunks).await
}

/// `($2, $3, …)` style list of `n` placeholders starting after `skip`
/// fixed ones, for `IN` lists.
pub(crate) fn in_list(style: Placeholders, skip: usize, n: usize) -> String {
    let mut out = String::from("(");
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        match style {
            Placeholders::Numbered => out.push_str(&format!("${}", skip + i + 1)),
            Placeholders::Anonymous => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Ids per `IN` list.
pub(crate) const IN_CHUNK: usize = 1_000;

/// Every row of a look-up by a list of keys: `select` is given the
/// placeholders of `scope` (the tenant or channel the rows belong to) and
/// of an `IN` list, and runs once per [`IN_CHUNK`] keys.
pub(crate) async fn rows_in<K: std::fmt::Display>(
    conn: &mut sqlx::AnyConnection,
    scope: impl std::fmt::Display,
    keys: &[K],
    select: impl Fn(&str, &str) -> String,
) -> StoreResult<Vec<AnyRow>> {
    let style = Placeholders::of(conn);
    let scope = scope.to_string();
    let mut out = Vec::new();
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = select(first(style), &in_list(style, 1, chunk.len()));
        out.extend(keyed(&sql, &scope, chunk).fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// [`rows_in`] for a statement that changes the rows it names
/// (`UPDATE … WHERE … IN (…)`); answers how many rows changed.
pub(crate) async fn execute_in<K: std::fmt::Display>(
    conn: &mut sqlx::AnyConnection,
    scope: impl std::fmt::Display,
    keys: &[K],
    statement: impl Fn(&str, &str) -> String,
) -> StoreResult<u64> {
    let style = Placeholders::of(conn);
    let scope = scope.to_string();
    let mut changed = 0;
    for chunk in keys.chunks(IN_CHUNK) {
        let sql = statement(first(style), &in_list(style, 1, chunk.len()));
        changed += keyed(&sql, &scope, chunk)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(changed)
}

/// `sql` with `scope` and then `keys` bound.
fn keyed<'q, K: std::fmt::Display>(sql: &'q str, scope: &'q str, keys: &[K]) -> Query<'q> {
    let mut q = sqlx::query(sql).bind(scope);
    for k in keys {
        q = q.bind(k.to_string());
    }
    q
}

/// The tenant column in a statement that looks rows up by a list of ids
/// (`… AND id IN (…)`), written so that no index is chosen for it. Without
/// statistics SQLite takes an equality on the first column of an index as
/// selective and reads every row of the tenant through a tenant-first
/// index instead of looking the ids up (1.6 s per 1,000 ids on 300,000
/// order lines, against milliseconds). The concatenation keeps the tenant
/// check, on both engines, and leaves the ids to their unique index.
pub(crate) const TENANT_NO_INDEX: &str = "tenant_id || ''";

const ORDER_COLUMNS: &str = "id, channel_id, external_no, copy_no, status, hold, flag, priority, never_merge, note, \
     customer_name, customer_phone, address, postal_code, remote_area, batch_key, pickup_location_id, reservation_id, \
     excluded, exchange_fee, split_from, merged_into, ordered_at, collected_at, updated_at";

fn order_from_row(row: &AnyRow) -> StoreResult<Order> {
    let excluded: Value = serde_json::from_str(&text(row, "excluded")?)
        .map_err(|e| StoreError::Corrupt(format!("orders.excluded: {e}")))?;
    let excluded = excluded
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|x| ExcludedLine {
                    item_code: x["item_code"].as_str().unwrap_or("").to_string(),
                    product_name: x["product_name"].as_str().unwrap_or("").to_string(),
                    quantity: x["quantity"].as_i64().unwrap_or(0),
                    pattern: x["pattern"].as_str().unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Order {
        id: parsed(row, "id")?,
        channel_id: parsed(row, "channel_id")?,
        external_no: text(row, "external_no")?,
        copy_no: int(row, "copy_no")?,
        status: parsed(row, "status")?,
        hold: flag(row, "hold")?,
        flag: flag(row, "flag")?,
        priority: flag(row, "priority")?,
        never_merge: flag(row, "never_merge")?,
        note: text(row, "note")?,
        customer: Customer {
            name: text(row, "customer_name")?,
            phone: text(row, "customer_phone")?,
            address: text(row, "address")?,
            postal_code: text(row, "postal_code")?,
        },
        remote_area: flag(row, "remote_area")?,
        batch_key: text(row, "batch_key")?,
        pickup_location_id: opt_parsed(row, "pickup_location_id")?,
        reservation_id: opt_parsed(row, "reservation_id")?,
        excluded,
        exchange_fee: int(row, "exchange_fee")?,
        split_from: opt_parsed(row, "split_from")?,
        merged_into: opt_parsed(row, "merged_into")?,
        ordered_at: opt_int(row, "ordered_at")?,
        collected_at: int(row, "collected_at")?,
        updated_at: int(row, "updated_at")?,
        lines: Vec::new(),
    })
}

const LINE_COLUMNS: &str = "id, order_id, line_no, item_code, item_option, product_name, option_text, sku_id, \
     quantity, allocated, shipped, cancelled, returned, gift, pickup_location_id";

fn line_from_row(row: &AnyRow) -> StoreResult<OrderLine> {
    let qty = LineQty {
        quantity: int(row, "quantity")?,
        allocated: int(row, "allocated")?,
        shipped: int(row, "shipped")?,
        cancelled: int(row, "cancelled")?,
        returned: int(row, "returned")?,
    };
    if !qty.holds() {
        return Err(StoreError::Corrupt(format!(
            "order line quantities {qty:?}"
        )));
    }
    Ok(OrderLine {
        id: parsed(row, "id")?,
        line_no: int(row, "line_no")?,
        item_code: text(row, "item_code")?,
        item_option: text(row, "item_option")?,
        product_name: text(row, "product_name")?,
        option_text: text(row, "option_text")?,
        sku_id: opt_parsed(row, "sku_id")?,
        qty,
        gift: flag(row, "gift")?,
        pickup_location_id: opt_parsed(row, "pickup_location_id")?,
        allocations: Vec::new(),
    })
}

/// Locks the orders `ids` until the transaction ends, the first thing a
/// transaction that changes an order does, before it reads the order and
/// before it locks any balance row: orders, then balances, each in id or
/// key order, is the one lock order every writer keeps (after the tenant's
/// order gate, [`crate::db::order_gate`]; a request on a shipment, pickup,
/// return or exchange locks that row before the order).
/// On PostgreSQL a
/// `SELECT … ORDER BY id FOR UPDATE`, so what the transaction then reads
/// is what it writes over: two changes to one order (a flag set while a
/// note is written, a cancellation while the order is split, an
/// allocation run's chunk while the order is merged) take turns instead of
/// one writing back what the other changed. On SQLite nothing: the
/// transaction holds the database's one write lock from its start
/// ([`crate::db::begin_write`]). Orders not found are left out; the read
/// that follows says so.
pub(crate) async fn lock_orders(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    ids: &[OrderId],
) -> StoreResult<()> {
    if Placeholders::of(tx) == Placeholders::Anonymous {
        return Ok(());
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    rows_in(tx, tenant, &sorted, |t, list| {
        format!(
            "SELECT id FROM orders WHERE {TENANT_NO_INDEX} = {t} AND id IN {list} ORDER BY id FOR UPDATE"
        )
    })
    .await?;
    Ok(())
}

/// [`lock_orders`], then [`load_orders`]: the orders a transaction is about
/// to change, as they stand under its lock.
pub(crate) async fn load_locked(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    ids: &[OrderId],
) -> StoreResult<Vec<Order>> {
    lock_orders(tx, tenant, ids).await?;
    load_orders(tx, tenant, ids).await
}

/// Reads whole orders (lines and allocations) by id, on `conn`, in the
/// order of `ids`; ids not found are left out.
pub(crate) async fn load_orders(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    ids: &[OrderId],
) -> StoreResult<Vec<Order>> {
    let style = Placeholders::of(conn);
    let mut orders: HashMap<OrderId, Order> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let list = in_list(style, 1, chunk.len());
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {TENANT_NO_INDEX} = {} AND id IN {list}",
            first(style)
        );
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let o = order_from_row(&row)?;
            orders.insert(o.id, o);
        }
        let sql = format!(
            "SELECT {LINE_COLUMNS} FROM order_lines WHERE {TENANT_NO_INDEX} = {} AND order_id IN {list} ORDER BY order_id, line_no",
            first(style)
        );
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        let mut line_order: HashMap<OrderLineId, OrderId> = HashMap::new();
        for row in q.fetch_all(&mut *conn).await? {
            let order_id: OrderId = parsed(&row, "order_id")?;
            let line = line_from_row(&row)?;
            line_order.insert(line.id, order_id);
            if let Some(o) = orders.get_mut(&order_id) {
                o.lines.push(line);
            }
        }
        let sql = format!(
            "SELECT a.line_id, l.order_id, a.location_id, a.quantity, a.shipped, a.returned \
             FROM order_lines l JOIN order_allocations a ON a.line_id = l.id \
             WHERE l.{TENANT_NO_INDEX} = {} AND l.order_id IN {list} ORDER BY a.line_id, a.location_id",
            first(style)
        );
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let order_id: OrderId = parsed(&row, "order_id")?;
            let line_id: OrderLineId = parsed(&row, "line_id")?;
            let a = LineAllocation {
                location_id: parsed(&row, "location_id")?,
                quantity: int(&row, "quantity")?,
                shipped: int(&row, "shipped")?,
                returned: int(&row, "returned")?,
            };
            if a.quantity == 0 && a.shipped == 0 {
                continue;
            }
            if let Some(line) = orders
                .get_mut(&order_id)
                .and_then(|o| o.lines.iter_mut().find(|l| l.id == line_id))
            {
                line.allocations.push(a);
            }
        }
    }
    Ok(ids.iter().filter_map(|id| orders.remove(id)).collect())
}

/// The first placeholder of a statement in `style`.
pub(crate) fn first(style: Placeholders) -> &'static str {
    match style {
        Placeholders::Numbered => "$1",
        Placeholders::Anonymous => "?",
    }
}

/// The event body of an order.
pub(crate) fn order_event(
    tenant: TenantId,
    kind: &'static str,
    o: &Order,
    extra: Value,
) -> NewEvent {
    let mut data = json!({
        "id": o.id.to_string(),
        "channel_id": o.channel_id.to_string(),
        "external_no": o.external_no,
        "status": o.status.as_str(),
        "hold": o.hold,
        "flag": o.flag,
        "priority": o.priority,
    });
    if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    NewEvent::new(tenant, kind, data)
        .channel(o.channel_id)
        .subject(o.id)
}

/// Recomputes and stores the status of `orders` from their lines, in the
/// caller's transaction; returns the new status of each (merged orders
/// stay merged).
pub(crate) async fn refresh_status(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    orders: &[OrderId],
    now: i64,
) -> StoreResult<HashMap<OrderId, OrderStatus>> {
    let style = Placeholders::of(tx);
    let mut out = HashMap::with_capacity(orders.len());
    for chunk in orders.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT order_id, quantity, allocated, shipped, cancelled, returned FROM order_lines \
             WHERE {TENANT_NO_INDEX} = {} AND order_id IN {}",
            first(style),
            in_list(style, 1, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(tenant.to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        let mut lines: HashMap<OrderId, Vec<LineQty>> =
            chunk.iter().map(|&id| (id, Vec::new())).collect();
        for row in q.fetch_all(&mut **tx).await? {
            let id: OrderId = parsed(&row, "order_id")?;
            lines.entry(id).or_default().push(LineQty {
                quantity: int(&row, "quantity")?,
                allocated: int(&row, "allocated")?,
                shipped: int(&row, "shipped")?,
                cancelled: int(&row, "cancelled")?,
                returned: int(&row, "returned")?,
            });
        }
        let rows: Vec<Vec<Val>> = lines
            .iter()
            .map(|(id, l)| {
                let status = status_of(l);
                out.insert(*id, status);
                vec![Val::T(id.to_string()), Val::T(status.as_str().to_string())]
            })
            .collect();
        update_many_same(
            tx,
            "orders",
            "status = v.column2, updated_at = $1",
            "orders.id = v.column1 AND orders.status <> 'merged'",
            &[Val::I(now)],
            2,
            rows,
        )
        .await?;
    }
    Ok(out)
}

/// The channel's settings and linked locations, read in `conn`.
pub(crate) async fn channel_settings_in(
    conn: &mut sqlx::AnyConnection,
    tenant: TenantId,
    channel: ChannelId,
) -> StoreResult<ChannelOrderSettings> {
    let row = sqlx::query(
        "SELECT duplicate_policy, shipment_mode, basis, gift_rule, name_match, exclusions, webhook_secret \
         FROM channel_order_settings WHERE tenant_id = $1 AND channel_id = $2",
    )
    .bind(tenant.to_string())
    .bind(channel.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let schedule =
        sqlx::query("SELECT spec FROM schedules WHERE tenant_id = $1 AND job = $2 AND scope = $3")
            .bind(tenant.to_string())
            .bind(AUTO_LINK_JOB)
            .bind(channel.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    let auto_link = match schedule {
        None => Some(AUTO_LINK_DEFAULT),
        Some(r) => {
            let spec = text(&r, "spec")?;
            if spec.is_empty() {
                None
            } else {
                Some(spec.parse().map_err(StoreError::Corrupt)?)
            }
        }
    };
    let Some(row) = row else {
        return Ok(ChannelOrderSettings {
            auto_link,
            ..ChannelOrderSettings::default()
        });
    };
    let corrupt = |e: String| StoreError::Corrupt(e);
    Ok(ChannelOrderSettings {
        duplicate_policy: text(&row, "duplicate_policy")?.parse().map_err(corrupt)?,
        shipment_mode: text(&row, "shipment_mode")?.parse().map_err(corrupt)?,
        basis: parsed(&row, "basis")?,
        gift_rule: text(&row, "gift_rule")?.parse().map_err(corrupt)?,
        name_match: flag(&row, "name_match")?,
        exclusions: split_list(&text(&row, "exclusions")?),
        webhook_secret: opt_text(&row, "webhook_secret")?,
        auto_link,
    })
}

/// Makes sure the channel has an auto-link schedule (hourly unless set).
async fn ensure_auto_link_schedule(
    store: &Store,
    tenant: TenantId,
    channel: ChannelId,
    now: i64,
) -> StoreResult<()> {
    if store
        .schedule(tenant, AUTO_LINK_JOB, &channel.to_string())
        .await?
        .is_none()
    {
        store
            .set_schedule(
                tenant,
                AUTO_LINK_JOB,
                &channel.to_string(),
                Some(AUTO_LINK_DEFAULT),
                "UTC",
                now,
            )
            .await?;
    }
    Ok(())
}

/// An order's lines resolved again for an update: (line, SKU, pickup
/// store), the excluded lines, and the order's pickup store.
type Resolved = (
    Vec<(NewOrderLine, Option<SkuId>, Option<LocationId>)>,
    Vec<ExcludedLine>,
    Option<LocationId>,
);

/// A resolved line before it is written.
struct Prepared {
    line: NewOrderLine,
    sku: Option<SkuId>,
    pickup: Option<LocationId>,
}

/// Everything collection looked up for a request, before its transaction.
struct Lookups {
    links: HashMap<(String, String), SkuId>,
    /// Links to create: identical code or name.
    new_links: Vec<(String, String, SkuId, &'static str)>,
    skus: HashMap<String, SkuId>,
    locations: HashMap<String, LocationId>,
}

impl Store {
    pub async fn order_settings(&self, tenant: TenantId) -> StoreResult<OrderSettings> {
        let row = sqlx::query(
            "SELECT delay_days, split_never_merge, exchange_hold, exchange_fee FROM order_settings WHERE tenant_id = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else {
            return Ok(OrderSettings::default());
        };
        Ok(OrderSettings {
            delay_days: int(&row, "delay_days")?,
            split_never_merge: flag(&row, "split_never_merge")?,
            exchange_hold: flag(&row, "exchange_hold")?,
            exchange_fee: int(&row, "exchange_fee")?,
        })
    }

    pub async fn set_order_settings(
        &self,
        tenant: TenantId,
        s: &OrderSettings,
    ) -> StoreResult<OrderSettings> {
        let mut v = Validator::new();
        if !(0..=jaego_core::limits::DELAY_DAYS_MAX).contains(&s.delay_days) {
            v.push(
                "delay_days",
                format!(
                    "must be between 0 and {}",
                    jaego_core::limits::DELAY_DAYS_MAX
                ),
            );
        }
        if !(0..=jaego_core::limits::EXCHANGE_FEE_MAX).contains(&s.exchange_fee) {
            v.push(
                "exchange_fee",
                format!(
                    "must be between 0 and {}",
                    jaego_core::limits::EXCHANGE_FEE_MAX
                ),
            );
        }
        v.finish()?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO order_settings (tenant_id, delay_days, split_never_merge, exchange_hold, exchange_fee, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET delay_days = excluded.delay_days, \
             split_never_merge = excluded.split_never_merge, exchange_hold = excluded.exchange_hold, \
             exchange_fee = excluded.exchange_fee, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(s.delay_days)
        .bind(i64::from(s.split_never_merge))
        .bind(i64::from(s.exchange_hold))
        .bind(s.exchange_fee)
        .bind(now_us())
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::ORDER_SETTINGS_UPDATED,
            json!({"delay_days": s.delay_days, "split_never_merge": s.split_never_merge,
                   "exchange_hold": s.exchange_hold, "exchange_fee": s.exchange_fee}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(s.clone())
    }

    pub async fn channel_order_settings(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> StoreResult<ChannelOrderSettings> {
        let mut conn = self.reader().acquire().await?;
        channel_settings_in(&mut conn, tenant, channel).await
    }

    /// Saves a channel's order settings and its auto-link schedule.
    pub async fn set_channel_order_settings(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        s: &ChannelOrderSettings,
        now: i64,
    ) -> StoreResult<ChannelOrderSettings> {
        s.validate()?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO channel_order_settings (channel_id, tenant_id, duplicate_policy, shipment_mode, basis, gift_rule, \
               name_match, exclusions, webhook_secret, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (channel_id) DO UPDATE SET duplicate_policy = excluded.duplicate_policy, \
               shipment_mode = excluded.shipment_mode, basis = excluded.basis, gift_rule = excluded.gift_rule, \
               name_match = excluded.name_match, exclusions = excluded.exclusions, \
               webhook_secret = excluded.webhook_secret, updated_at = excluded.updated_at",
        )
        .bind(channel.to_string())
        .bind(tenant.to_string())
        .bind(s.duplicate_policy.as_str())
        .bind(s.shipment_mode.as_str())
        .bind(s.basis.as_str())
        .bind(s.gift_rule.as_str())
        .bind(i64::from(s.name_match))
        .bind(join_list(&s.exclusions))
        .bind(s.webhook_secret.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::CHANNEL_ORDER_SETTINGS_UPDATED,
            json!({
                "channel_id": channel.to_string(),
                "duplicate_policy": s.duplicate_policy.as_str(),
                "shipment_mode": s.shipment_mode.as_str(),
                "basis": s.basis.as_str(),
                "gift_rule": s.gift_rule.as_str(),
                "name_match": s.name_match,
                "exclusions": s.exclusions,
                "webhook": s.webhook_secret.is_some(),
                "auto_link": s.auto_link.map(|a| a.to_string()),
            }),
        )
        .channel(channel);
        self.commit_with(tx, &[event]).await?;
        self.set_schedule(
            tenant,
            AUTO_LINK_JOB,
            &channel.to_string(),
            s.auto_link,
            "UTC",
            now,
        )
        .await?;
        self.channel_order_settings(tenant, channel).await
    }

    /// The channel whose webhook secret signs a request to `channel` (any
    /// tenant: the channel id is the address), with that secret.
    pub async fn webhook_target(
        &self,
        channel: ChannelId,
    ) -> StoreResult<Option<(TenantId, String)>> {
        let row = sqlx::query(
            "SELECT tenant_id, webhook_secret FROM channel_order_settings WHERE channel_id = $1",
        )
        .bind(channel.to_string())
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(r) => match opt_text(&r, "webhook_secret")? {
                Some(secret) => Ok(Some((parsed(&r, "tenant_id")?, secret))),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    pub async fn remote_ranges(&self, tenant: TenantId) -> StoreResult<Vec<RemoteRange>> {
        let rows = sqlx::query(
            "SELECT id, postal_from, postal_to, label FROM remote_area_ranges WHERE tenant_id = $1 ORDER BY postal_from, id",
        )
        .bind(tenant.to_string())
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RemoteRange {
                    id: text(r, "id")?,
                    range: PostalRange {
                        from: u32::try_from(int(r, "postal_from")?)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        to: u32::try_from(int(r, "postal_to")?)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    },
                    label: text(r, "label")?,
                })
            })
            .collect()
    }

    pub async fn add_remote_range(
        &self,
        tenant: TenantId,
        range: PostalRange,
        label: &str,
    ) -> StoreResult<RemoteRange> {
        let mut v = Validator::new();
        v.optional_text("label", label, jaego_core::limits::NAME_LEN_MAX);
        v.finish()?;
        if self.remote_ranges(tenant).await?.len() >= REMOTE_AREA_RANGES_MAX {
            return Err(InvalidInput::one(
                "range",
                format!("a tenant may add at most {REMOTE_AREA_RANGES_MAX} ranges"),
            )
            .into());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO remote_area_ranges (id, tenant_id, postal_from, postal_to, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(tenant.to_string())
            .bind(i64::from(range.from))
            .bind(i64::from(range.to))
            .bind(label)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
        let event = NewEvent::new(
            tenant,
            kinds::REMOTE_AREA_ADDED,
            json!({"id": id, "from": range.from, "to": range.to, "label": label}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(RemoteRange {
            id,
            range,
            label: label.to_string(),
        })
    }

    pub async fn delete_remote_range(&self, tenant: TenantId, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM remote_area_ranges WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("remote area range", id));
        }
        let event = NewEvent::new(tenant, kinds::REMOTE_AREA_REMOVED, json!({"id": id}));
        self.commit_with(tx, &[event]).await
    }

    pub async fn return_reasons(&self, tenant: TenantId) -> StoreResult<Vec<ReturnReason>> {
        let rows = sqlx::query("SELECT code, name, restock, location_id FROM return_reasons WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        let mut out: Vec<ReturnReason> = rows
            .iter()
            .map(|r| {
                Ok(ReturnReason {
                    code: text(r, "code")?,
                    name: text(r, "name")?,
                    restock: text(r, "restock")?.parse().map_err(StoreError::Corrupt)?,
                    location_id: opt_parsed(r, "location_id")?,
                })
            })
            .collect::<StoreResult<_>>()?;
        for (code, name) in [
            ("defective", "Defective (불량)"),
            ("sellable", "Sellable (재판매 가능)"),
        ] {
            if !out.iter().any(|r| r.code == code) {
                out.push(ReturnReason {
                    code: code.into(),
                    name: name.into(),
                    restock: jaego_core::order::builtin_reason(code).unwrap_or(Restock::None),
                    location_id: None,
                });
            }
        }
        out.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(out)
    }

    pub async fn set_return_reason(
        &self,
        tenant: TenantId,
        reason: &ReturnReason,
    ) -> StoreResult<ReturnReason> {
        let mut v = Validator::new();
        v.code("code", &reason.code, jaego_core::limits::CODE_LEN_MAX);
        v.text("name", &reason.name, jaego_core::limits::NAME_LEN_MAX);
        match (reason.restock, reason.location_id) {
            (Restock::Location, None) => {
                v.push("location", "a restock to a location names the location");
            }
            (Restock::Origin | Restock::None, Some(_)) => {
                v.push("location", "only a restock to a location names one");
            }
            _ => {}
        }
        v.finish()?;
        if let Some(l) = reason.location_id {
            self.find_location(tenant, &l.to_string()).await?;
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO return_reasons (tenant_id, code, name, restock, location_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, code) DO UPDATE SET name = excluded.name, restock = excluded.restock, location_id = excluded.location_id",
        )
        .bind(tenant.to_string())
        .bind(&reason.code)
        .bind(&reason.name)
        .bind(reason.restock.as_str())
        .bind(reason.location_id.map(|l| l.to_string()))
        .execute(&mut *tx)
        .await?;
        let event = NewEvent::new(
            tenant,
            kinds::RETURN_REASON_UPDATED,
            json!({"code": reason.code, "name": reason.name, "restock": reason.restock.as_str(),
                   "location_id": reason.location_id.map(|l| l.to_string())}),
        );
        self.commit_with(tx, &[event]).await?;
        Ok(reason.clone())
    }

    // ---- links and the unmatched queue ----

    /// Links a channel item (+ option) to a SKU and matches every waiting
    /// line of that item. Returns the link and how many lines it matched.
    pub async fn set_sku_link(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        item_code: &str,
        item_option: &str,
        sku: SkuId,
        actor: &str,
    ) -> StoreResult<(SkuLink, u64)> {
        let mut v = Validator::new();
        v.text("item_code", item_code, ORDER_NO_LEN_MAX);
        v.optional_text("item_option", item_option, ORDER_NO_LEN_MAX);
        v.finish()?;
        let now = now_us();
        let mut tx = self.begin_order_write(&[tenant]).await?;
        sqlx::query(
            "INSERT INTO channel_sku_links (channel_id, item_code, item_option, tenant_id, sku_id, source, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'manual', $6) ON CONFLICT (channel_id, item_code, item_option) \
             DO UPDATE SET sku_id = excluded.sku_id, source = 'manual', created_at = excluded.created_at",
        )
        .bind(channel.to_string())
        .bind(item_code)
        .bind(item_option)
        .bind(tenant.to_string())
        .bind(sku.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let matched = match_waiting(
            &mut tx,
            tenant,
            channel,
            &[(item_code.to_string(), item_option.to_string(), sku)],
        )
        .await?;
        let link = SkuLink {
            channel_id: channel,
            item_code: item_code.to_string(),
            item_option: item_option.to_string(),
            sku_id: sku,
            source: "manual".into(),
            created_at: now,
        };
        let event = link_event(tenant, &link, matched, actor);
        self.commit_with(tx, &[event]).await?;
        Ok((link, matched))
    }

    pub async fn delete_sku_link(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        item_code: &str,
        item_option: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let done = sqlx::query("DELETE FROM channel_sku_links WHERE tenant_id = $1 AND channel_id = $2 AND item_code = $3 AND item_option = $4")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(item_code)
            .bind(item_option)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("sku link", item_code));
        }
        let event = NewEvent::new(tenant, kinds::SKU_LINK_REMOVED, json!({"channel_id": channel.to_string(), "item_code": item_code, "item_option": item_option}))
            .channel(channel);
        self.commit_with(tx, &[event]).await
    }

    pub async fn list_sku_links(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        page: &PageRequest,
    ) -> StoreResult<Page<SkuLink>> {
        let (after_code, after_option) = page
            .cursor()
            .split_once('\u{1f}')
            .unwrap_or((page.cursor(), ""));
        let rows = sqlx::query(
            "SELECT channel_id, item_code, item_option, sku_id, source, created_at FROM channel_sku_links \
             WHERE tenant_id = $1 AND channel_id = $2 AND (item_code > $3 OR (item_code = $3 AND item_option > $4)) \
             ORDER BY item_code, item_option LIMIT $5",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(after_code)
        .bind(if page.after.is_some() { after_option } else { "" })
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        // The first page starts before ("", ""), which the condition above
        // would skip: an empty code with an empty option never exists.
        let items = rows
            .iter()
            .map(|r| {
                Ok(SkuLink {
                    channel_id: parsed(r, "channel_id")?,
                    item_code: text(r, "item_code")?,
                    item_option: text(r, "item_option")?,
                    sku_id: parsed(r, "sku_id")?,
                    source: text(r, "source")?,
                    created_at: int(r, "created_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |l| {
            format!("{}\u{1f}{}", l.item_code, l.item_option)
        }))
    }

    /// Lines waiting for a link, by channel item, most lines first.
    pub async fn unmatched(
        &self,
        tenant: TenantId,
        channel: Option<ChannelId>,
        limit: usize,
    ) -> StoreResult<Vec<UnmatchedItem>> {
        let rows = sqlx::query(
            "SELECT channel_id, item_code, item_option, MIN(product_name) AS product_name, MIN(option_text) AS option_text, \
                    CAST(COUNT(*) AS BIGINT) AS lines, CAST(SUM(quantity - cancelled) AS BIGINT) AS units \
             FROM order_lines WHERE tenant_id = $1 AND sku_id IS NULL AND quantity > cancelled AND ($2 = '' OR channel_id = $2) \
             GROUP BY channel_id, item_code, item_option ORDER BY lines DESC, item_code LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(filter_value(channel))
        .bind(limit as i64)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UnmatchedItem {
                    channel_id: parsed(r, "channel_id")?,
                    item_code: text(r, "item_code")?,
                    item_option: text(r, "item_option")?,
                    product_name: text(r, "product_name")?,
                    option_text: text(r, "option_text")?,
                    lines: int(r, "lines")?,
                    units: int(r, "units")?,
                })
            })
            .collect()
    }

    /// Links every waiting line of `channel` whose item code is a SKU code
    /// (and, when the channel matches by name, whose product name and option
    /// text name exactly one SKU). Returns how many lines were matched.
    pub async fn auto_link(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        actor: &str,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_order_write(&[tenant]).await?;
        let (matched, events) = auto_link_in(self, &mut tx, tenant, channel, actor).await?;
        self.commit_with(tx, &events).await?;
        Ok(matched)
    }

    /// Runs the auto-link occurrences due at `now` (the scheduled job).
    pub async fn run_due_auto_links(&self, now: i64, limit: usize) -> StoreResult<usize> {
        let due = self.due_schedules(AUTO_LINK_JOB, now, limit).await?;
        let mut ran = 0;
        for schedule in &due {
            let Ok(channel) = schedule.scope.parse::<ChannelId>() else {
                continue;
            };
            let mut tx = self.begin_order_write(&[schedule.tenant]).await?;
            if !crate::schedules::advance(&mut tx, schedule, now).await? {
                continue;
            }
            let (_, events) =
                auto_link_in(self, &mut tx, schedule.tenant, channel, "schedule").await?;
            self.commit_with(tx, &events).await?;
            ran += 1;
        }
        Ok(ran)
    }

    // ---- collection ----

    /// Collects `orders` of `channel` in one transaction: all of them, or
    /// (on any error) none. Returns each order with what happened to it.
    pub async fn collect_orders(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        orders: &[NewOrder],
        actor: &str,
    ) -> StoreResult<Vec<(Collected, Order)>> {
        let mut v = Validator::new();
        let mut numbers: HashMap<&str, usize> = HashMap::new();
        for (i, o) in orders.iter().enumerate() {
            if let Err(e) = o.validate() {
                v.merge(&format!("orders[{i}]"), e);
            }
            if let Some(first) = numbers.insert(&o.external_no, i) {
                v.push(
                    format!("orders[{i}].external_no"),
                    format!("is also orders[{first}]; send an order once per request"),
                );
            }
        }
        v.finish()?;
        let now = now_us();
        let mut conn = self.reader().acquire().await?;
        // The channel must be the tenant's.
        sqlx::query("SELECT id FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        let settings = channel_settings_in(&mut conn, tenant, channel).await?;
        drop(conn);
        let ranges: Vec<PostalRange> = self
            .remote_ranges(tenant)
            .await?
            .into_iter()
            .map(|r| r.range)
            .collect();
        let lookups = self
            .collection_lookups(tenant, channel, orders, &settings)
            .await?;

        // Resolve every line; bad references are bad input.
        let mut v = Validator::new();
        let mut prepared: Vec<(Vec<Prepared>, Vec<ExcludedLine>, Option<LocationId>)> =
            Vec::with_capacity(orders.len());
        for (i, o) in orders.iter().enumerate() {
            let pickup = match &o.pickup_location {
                Some(code) => match lookups.locations.get(code) {
                    Some(&l) => Some(l),
                    None => {
                        v.push(
                            format!("orders[{i}].pickup_location"),
                            format!("no location {code:?}"),
                        );
                        None
                    }
                },
                None => None,
            };
            let mut lines = Vec::new();
            let mut excluded = Vec::new();
            for (k, l) in o.lines.iter().enumerate() {
                if let Some(p) = settings
                    .exclusions
                    .iter()
                    .find(|p| name_matches(p, &l.product_name))
                {
                    excluded.push(ExcludedLine {
                        item_code: l.item_code.clone(),
                        product_name: l.product_name.clone(),
                        quantity: l.quantity,
                        pattern: p.clone(),
                    });
                    continue;
                }
                let sku = match &l.sku {
                    Some(code) if !code.is_empty() => match lookups.skus.get(code) {
                        Some(&s) => Some(s),
                        None => {
                            v.push(
                                format!("orders[{i}].lines[{k}].sku"),
                                format!("no SKU {code:?}"),
                            );
                            None
                        }
                    },
                    _ => lookups
                        .links
                        .get(&(l.item_code.clone(), l.item_option.clone()))
                        .copied(),
                };
                let line_pickup = match &l.pickup_location {
                    Some(code) => match lookups.locations.get(code) {
                        Some(&loc) => Some(loc),
                        None => {
                            v.push(
                                format!("orders[{i}].lines[{k}].pickup_location"),
                                format!("no location {code:?}"),
                            );
                            None
                        }
                    },
                    None => pickup,
                };
                lines.push(Prepared {
                    line: l.clone(),
                    sku,
                    pickup: line_pickup,
                });
            }
            if lines.is_empty() {
                v.push(
                    format!("orders[{i}].lines"),
                    "every line matched an exclusion rule; nothing to collect",
                );
            }
            prepared.push((lines, excluded, pickup));
        }
        v.finish()?;

        let mut tx = self.begin_order_write(&[tenant]).await?;
        if !lookups.new_links.is_empty() {
            let rows: Vec<Vec<Val>> = lookups
                .new_links
                .iter()
                .map(|(code, option, sku, source)| {
                    vec![
                        Val::T(channel.to_string()),
                        Val::T(code.clone()),
                        Val::T(option.clone()),
                        Val::T(tenant.to_string()),
                        Val::T(sku.to_string()),
                        Val::T((*source).to_string()),
                        Val::I(now),
                    ]
                })
                .collect();
            insert_many(
                &mut tx,
                "channel_sku_links (channel_id, item_code, item_option, tenant_id, sku_id, source, created_at)",
                7,
                rows,
                "ON CONFLICT DO NOTHING",
            )
            .await?;
        }
        // Known numbers, with their highest copy.
        // Every order is first inserted as copy 0 of its number; the unique
        // key says which numbers were known (their rows are not inserted).
        // New orders, the usual case, so cost one multi-row statement and
        // no look-up: a look-up of many numbers by `IN (…)` ran on
        // PostgreSQL as a filter over every order of the channel.
        let ids: Vec<OrderId> = orders.iter().map(|_| OrderId::new()).collect();
        let order_row = |i: usize, copy_no: i64| {
            let o = &orders[i];
            let (_, excluded, pickup) = &prepared[i];
            let excluded_json = Value::Array(
                excluded
                    .iter()
                    .map(|x| json!({"item_code": x.item_code, "product_name": x.product_name, "quantity": x.quantity, "pattern": x.pattern}))
                    .collect(),
            );
            vec![
                Val::T(ids[i].to_string()),
                Val::T(tenant.to_string()),
                Val::T(channel.to_string()),
                Val::T(o.external_no.clone()),
                Val::I(copy_no),
                Val::T("open".into()),
                Val::I(i64::from(o.hold)),
                Val::I(i64::from(o.priority)),
                Val::T(o.note.clone()),
                Val::T(o.customer.name.clone()),
                Val::T(o.customer.phone.clone()),
                Val::T(o.customer.address.clone()),
                Val::T(o.customer.postal_code.clone()),
                Val::I(i64::from(is_remote(&o.customer.postal_code, &ranges))),
                Val::T(o.customer.batch_key()),
                Val::OT(pickup.map(|l| l.to_string())),
                Val::OT(o.reservation.map(|r| r.to_string())),
                Val::T(excluded_json.to_string()),
                Val::OI(o.ordered_at),
                Val::I(now),
                Val::I(now),
            ]
        };
        const ORDER_HEAD: &str = "orders (id, tenant_id, channel_id, external_no, copy_no, status, hold, priority, note, customer_name, \
             customer_phone, address, postal_code, remote_area, batch_key, pickup_location_id, reservation_id, excluded, \
             ordered_at, collected_at, updated_at)";
        let as_duplicate = |e: StoreError| match e {
            StoreError::Database(db) => {
                StoreError::from_unique(db, "order number or reservation", "in this request")
            }
            other => other,
        };
        let inserted: HashSet<OrderId> = insert_returning_ids(
            &mut tx,
            ORDER_HEAD,
            21,
            (0..orders.len()).map(|i| order_row(i, 0)),
            "ON CONFLICT (tenant_id, channel_id, external_no, copy_no) DO NOTHING RETURNING id",
        )
        .await
        .map_err(as_duplicate)?;
        let mut line_rows = Vec::new();
        let mut results: Vec<(Collected, OrderId)> = Vec::with_capacity(orders.len());
        let mut updates: Vec<(usize, OrderId)> = Vec::new();
        let mut with_reservation: Vec<(OrderId, ReservationId)> = Vec::new();
        for (i, o) in orders.iter().enumerate() {
            let id = ids[i];
            let outcome = if inserted.contains(&id) {
                Collected::Created
            } else {
                let (first, max) =
                    existing_number(&mut tx, tenant, channel, &o.external_no).await?;
                match settings.duplicate_policy {
                    DuplicatePolicy::Ignore => {
                        results.push((Collected::Ignored, first));
                        continue;
                    }
                    DuplicatePolicy::Update => {
                        results.push((Collected::Updated, first));
                        updates.push((i, first));
                        continue;
                    }
                    DuplicatePolicy::New => {
                        insert_many(&mut tx, ORDER_HEAD, 21, vec![order_row(i, max + 1)], "")
                            .await
                            .map_err(as_duplicate)?;
                        Collected::Copied
                    }
                }
            };
            results.push((outcome, id));
            if let Some(r) = o.reservation {
                with_reservation.push((id, r));
            }
            for (n, p) in prepared[i].0.iter().enumerate() {
                line_rows.push(line_row(tenant, id, channel, n as i64 + 1, p, now));
            }
        }
        insert_many(
            &mut tx,
            "order_lines (id, tenant_id, order_id, channel_id, line_no, item_code, item_option, product_name, option_text, \
             sku_id, quantity, gift, pickup_location_id, created_at)",
            14,
            line_rows,
            "",
        )
        .await?;
        // The orders to update, before any balance row is locked (the
        // take-overs below lock some): orders first, then balances.
        let updated: Vec<OrderId> = updates.iter().map(|(_, id)| *id).collect();
        lock_orders(&mut tx, tenant, &updated).await?;
        for (order, reservation) in &with_reservation {
            stock::take_over_reservation(&mut tx, tenant, *order, *reservation, actor).await?;
        }
        for (i, id) in &updates {
            let (lines, excluded, pickup) =
                self.prepare_again(tenant, &orders[*i], &lookups, &settings)?;
            service::apply_update(
                &mut tx,
                tenant,
                *id,
                &orders[*i],
                lines,
                excluded,
                pickup,
                &ranges,
                actor,
                now,
            )
            .await?;
        }
        let touched: Vec<OrderId> = results
            .iter()
            .filter(|(c, _)| *c != Collected::Ignored)
            .map(|(_, id)| *id)
            .collect();
        refresh_status(&mut tx, tenant, &touched, now).await?;
        let ids: Vec<OrderId> = results.iter().map(|(_, id)| *id).collect();
        let loaded = load_orders(&mut tx, tenant, &ids).await?;
        let by_id: HashMap<OrderId, Order> = loaded.into_iter().map(|o| (o.id, o)).collect();
        let mut events = Vec::new();
        let mut out = Vec::with_capacity(results.len());
        for (c, id) in results {
            let order = by_id
                .get(&id)
                .cloned()
                .ok_or_else(|| StoreError::not_found("order", id))?;
            match c {
                Collected::Created | Collected::Copied => events.push(order_event(
                    tenant,
                    kinds::ORDER_COLLECTED,
                    &order,
                    json!({"lines": order.lines.len(), "unmatched": order.lines.iter().filter(|l| l.sku_id.is_none()).count(),
                           "excluded": order.excluded.len(), "remote_area": order.remote_area, "actor": actor}),
                )),
                Collected::Updated => events.push(order_event(tenant, kinds::ORDER_UPDATED, &order, json!({"actor": actor}))),
                Collected::Ignored => {}
            }
            out.push((c, order));
        }
        self.commit_with(tx, &events).await?;
        ensure_auto_link_schedule(self, tenant, channel, now).await?;
        Ok(out)
    }

    /// Resolves an order's lines again for an update (the lookups are
    /// already made; this cannot fail on references).
    fn prepare_again(
        &self,
        _tenant: TenantId,
        o: &NewOrder,
        lookups: &Lookups,
        settings: &ChannelOrderSettings,
    ) -> StoreResult<Resolved> {
        let pickup = o
            .pickup_location
            .as_ref()
            .and_then(|c| lookups.locations.get(c).copied());
        let mut lines = Vec::new();
        let mut excluded = Vec::new();
        for l in &o.lines {
            if let Some(p) = settings
                .exclusions
                .iter()
                .find(|p| name_matches(p, &l.product_name))
            {
                excluded.push(ExcludedLine {
                    item_code: l.item_code.clone(),
                    product_name: l.product_name.clone(),
                    quantity: l.quantity,
                    pattern: p.clone(),
                });
                continue;
            }
            let sku = match &l.sku {
                Some(code) if !code.is_empty() => lookups.skus.get(code).copied(),
                _ => lookups
                    .links
                    .get(&(l.item_code.clone(), l.item_option.clone()))
                    .copied(),
            };
            let line_pickup = l
                .pickup_location
                .as_ref()
                .and_then(|c| lookups.locations.get(c).copied())
                .or(pickup);
            lines.push((l.clone(), sku, line_pickup));
        }
        Ok((lines, excluded, pickup))
    }

    /// Every look-up collection needs, for the whole request at once.
    async fn collection_lookups(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        orders: &[NewOrder],
        settings: &ChannelOrderSettings,
    ) -> StoreResult<Lookups> {
        let mut items: HashSet<(String, String)> = HashSet::new();
        let mut sku_refs: HashSet<String> = HashSet::new();
        let mut location_refs: HashSet<String> = HashSet::new();
        for o in orders {
            if let Some(l) = &o.pickup_location {
                location_refs.insert(l.clone());
            }
            for l in &o.lines {
                match &l.sku {
                    Some(s) if !s.is_empty() => {
                        sku_refs.insert(s.clone());
                    }
                    _ => {
                        items.insert((l.item_code.clone(), l.item_option.clone()));
                    }
                }
                if let Some(p) = &l.pickup_location {
                    location_refs.insert(p.clone());
                }
            }
        }
        let mut links = HashMap::new();
        let codes: Vec<String> = items
            .iter()
            .map(|(c, _)| c.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut conn = self.reader().acquire().await?;
        let style = Placeholders::of(&conn);
        for chunk in codes.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT item_code, item_option, sku_id FROM channel_sku_links WHERE channel_id = {} AND item_code IN {}",
                first(style),
                in_list(style, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(channel.to_string());
            for c in chunk {
                q = q.bind(c.as_str());
            }
            for row in q.fetch_all(&mut *conn).await? {
                links.insert(
                    (text(&row, "item_code")?, text(&row, "item_option")?),
                    parsed(&row, "sku_id")?,
                );
            }
        }
        drop(conn);
        // Auto-link by identical code: the item code, or code + option
        // joined with '-', is a SKU code.
        let mut new_links = Vec::new();
        let unlinked: Vec<&(String, String)> =
            items.iter().filter(|k| !links.contains_key(*k)).collect();
        let mut candidates: Vec<String> = Vec::new();
        for (code, option) in &unlinked {
            candidates.push(code.clone());
            if !option.is_empty() {
                candidates.push(format!("{code}-{option}"));
            }
        }
        candidates.extend(sku_refs.iter().cloned());
        candidates.sort();
        candidates.dedup();
        let by_code = self.sku_ids_by_code(tenant, &candidates).await?;
        for (code, option) in unlinked {
            let hit = if option.is_empty() {
                by_code.get(code)
            } else {
                by_code.get(&format!("{code}-{option}"))
            };
            if let Some(&sku) = hit {
                links.insert((code.clone(), option.clone()), sku);
                new_links.push((code.clone(), option.clone(), sku, "code"));
            }
        }
        if settings.name_match {
            for o in orders {
                for l in &o.lines {
                    let key = (l.item_code.clone(), l.item_option.clone());
                    if l.sku.as_deref().unwrap_or("").is_empty()
                        && !links.contains_key(&key)
                        && !l.product_name.is_empty()
                        && let Some(sku) = self
                            .sku_by_name(tenant, &l.product_name, &l.option_text)
                            .await?
                    {
                        links.insert(key.clone(), sku);
                        new_links.push((key.0, key.1, sku, "name"));
                    }
                }
            }
        }
        let mut skus = HashMap::new();
        for r in &sku_refs {
            if let Some(&id) = by_code.get(r) {
                skus.insert(r.clone(), id);
            } else if let Ok(id) = r.parse::<SkuId>()
                && let Ok(found) = self.sku_id(tenant, &id.to_string()).await
            {
                skus.insert(r.clone(), found);
            }
        }
        let mut locations = HashMap::new();
        for r in &location_refs {
            if let Ok(l) = self.find_location(tenant, r).await {
                locations.insert(r.clone(), l.id);
            }
        }
        Ok(Lookups {
            links,
            new_links,
            skus,
            locations,
        })
    }

    /// The one SKU whose name is the product name followed by the option
    /// text (case and repeated spaces ignored), if exactly one is.
    async fn sku_by_name(
        &self,
        tenant: TenantId,
        product: &str,
        option: &str,
    ) -> StoreResult<Option<SkuId>> {
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        let wanted = norm(&format!("{product} {option}"));
        let rows =
            sqlx::query("SELECT id, name FROM skus WHERE tenant_id = $1 AND LOWER(name) LIKE $2")
                .bind(tenant.to_string())
                .bind(format!(
                    "{}%",
                    wanted
                        .chars()
                        .take(8)
                        .filter(|c| !matches!(c, '%' | '_' | '\\'))
                        .collect::<String>()
                ))
                .fetch_all(self.reader())
                .await?;
        let hits: Vec<SkuId> = rows
            .iter()
            .filter(|r| text(r, "name").map(|n| norm(&n) == wanted).unwrap_or(false))
            .map(|r| parsed(r, "id"))
            .collect::<StoreResult<_>>()?;
        Ok(if hits.len() == 1 { Some(hits[0]) } else { None })
    }

    // ---- the view ----

    pub async fn get_order(&self, tenant: TenantId, id: OrderId) -> StoreResult<Order> {
        let mut conn = self.reader().acquire().await?;
        load_orders(&mut conn, tenant, &[id])
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("order", id))
    }

    /// Orders, newest first is not what merchants page through; oldest
    /// first, like every list, filtered and paged by id.
    pub async fn list_orders(
        &self,
        tenant: TenantId,
        filter: &OrderFilter,
        page: &PageRequest,
        now: i64,
    ) -> StoreResult<Page<Order>> {
        let settings = self.order_settings(tenant).await?;
        let delay_cut = now - settings.delay_days * 86_400_000_000;
        let mut sql = String::from("SELECT id FROM orders WHERE tenant_id = $1 AND id > $2");
        let mut args: Vec<Val> = vec![
            Val::T(tenant.to_string()),
            Val::T(page.cursor().to_string()),
        ];
        let mut push = |sql: &mut String, cond: &str, v: Val| {
            args.push(v);
            sql.push_str(&cond.replace('?', &format!("${}", args.len())));
        };
        if let Some(c) = filter.channel_id {
            push(&mut sql, " AND channel_id = ?", Val::T(c.to_string()));
        }
        if let Some(s) = filter.status {
            push(&mut sql, " AND status = ?", Val::T(s.as_str().into()));
        }
        for (col, value) in [
            ("hold", filter.hold),
            ("flag", filter.flag),
            ("priority", filter.priority),
            ("remote_area", filter.remote_area),
        ] {
            if let Some(b) = value {
                push(&mut sql, &format!(" AND {col} = ?"), Val::I(i64::from(b)));
            }
        }
        if let Some(s) = filter.sku_id {
            push(
                &mut sql,
                " AND id IN (SELECT order_id FROM order_lines WHERE tenant_id = $1 AND sku_id = ?)",
                Val::T(s.to_string()),
            );
        }
        if let Some(from) = filter.from {
            push(&mut sql, " AND collected_at >= ?", Val::I(from));
        }
        if let Some(to) = filter.to {
            push(&mut sql, " AND collected_at < ?", Val::I(to));
        }
        if let Some(no) = &filter.external_no {
            push(&mut sql, " AND external_no = ?", Val::T(no.clone()));
        }
        match filter.delayed {
            Some(true) => push(
                &mut sql,
                " AND status NOT IN ('shipped','cancelled','merged') AND collected_at <= ?",
                Val::I(delay_cut),
            ),
            Some(false) => push(
                &mut sql,
                " AND (status IN ('shipped','cancelled','merged') OR collected_at > ?)",
                Val::I(delay_cut),
            ),
            None => {}
        }
        push(
            &mut sql,
            " ORDER BY id LIMIT ?",
            Val::I((page.size() + 1) as i64),
        );
        let mut q = sqlx::query(&sql);
        for a in args {
            q = a.bind(q);
        }
        let mut conn = self.reader().acquire().await?;
        let ids: Vec<OrderId> = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| parsed(r, "id"))
            .collect::<StoreResult<_>>()?;
        let orders = load_orders(&mut conn, tenant, &ids).await?;
        Ok(Page::from_rows(orders, page.size(), |o| o.id.to_string()))
    }
}

fn line_row(
    tenant: TenantId,
    order: OrderId,
    channel: ChannelId,
    line_no: i64,
    p: &Prepared,
    now: i64,
) -> Vec<Val> {
    vec![
        Val::T(OrderLineId::new().to_string()),
        Val::T(tenant.to_string()),
        Val::T(order.to_string()),
        Val::T(channel.to_string()),
        Val::I(line_no),
        Val::T(p.line.item_code.clone()),
        Val::T(p.line.item_option.clone()),
        Val::T(p.line.product_name.clone()),
        Val::T(p.line.option_text.clone()),
        Val::OT(p.sku.map(|s| s.to_string())),
        Val::I(p.line.quantity),
        Val::I(i64::from(p.line.gift)),
        Val::OT(p.pickup.map(|l| l.to_string())),
        Val::I(now),
    ]
}

/// The first order (copy 0) of a known number on `channel` and its highest
/// copy number.
async fn existing_number(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channel: ChannelId,
    number: &str,
) -> StoreResult<(OrderId, i64)> {
    let row = sqlx::query(
        "SELECT id, (SELECT CAST(MAX(copy_no) AS BIGINT) FROM orders WHERE tenant_id = $1 AND channel_id = $2 AND external_no = $3) AS max_copy \
         FROM orders WHERE tenant_id = $1 AND channel_id = $2 AND external_no = $3 AND copy_no = 0",
    )
    .bind(tenant.to_string())
    .bind(channel.to_string())
    .bind(number)
    .fetch_one(&mut **tx)
    .await?;
    Ok((parsed(&row, "id")?, int(&row, "max_copy")?))
}

/// Sets the SKU of every waiting (unmatched, not cancelled) line of each
/// (item code, option) on `channel`; returns how many lines it matched.
pub(crate) async fn match_waiting(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channel: ChannelId,
    links: &[(String, String, SkuId)],
) -> StoreResult<u64> {
    let rows: Vec<Vec<Val>> = links
        .iter()
        .map(|(c, o, s)| {
            vec![
                Val::T(c.clone()),
                Val::T(o.clone()),
                Val::T(s.to_string()),
                Val::T(tenant.to_string()),
                Val::T(channel.to_string()),
            ]
        })
        .collect();
    update_many(
        tx,
        "order_lines",
        "sku_id = v.column3",
        "order_lines.item_code = v.column1 AND order_lines.item_option = v.column2 AND order_lines.sku_id IS NULL \
         AND order_lines.tenant_id = v.column4 AND order_lines.channel_id = v.column5",
        5,
        rows,
    )
    .await
}

/// The work of [`Store::auto_link`], in the caller's transaction.
async fn auto_link_in(
    store: &Store,
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    channel: ChannelId,
    actor: &str,
) -> StoreResult<(u64, Vec<NewEvent>)> {
    let waiting = sqlx::query(
        "SELECT DISTINCT item_code, item_option, product_name, option_text FROM order_lines \
         WHERE tenant_id = $1 AND channel_id = $2 AND sku_id IS NULL AND item_code <> ''",
    )
    .bind(tenant.to_string())
    .bind(channel.to_string())
    .fetch_all(&mut **tx)
    .await?;
    if waiting.is_empty() {
        return Ok((0, Vec::new()));
    }
    let settings = channel_settings_in(tx, tenant, channel).await?;
    let mut items: Vec<(String, String, String, String)> = Vec::new();
    for r in &waiting {
        items.push((
            text(r, "item_code")?,
            text(r, "item_option")?,
            text(r, "product_name")?,
            text(r, "option_text")?,
        ));
    }
    let mut candidates: Vec<String> = Vec::new();
    for (c, o, _, _) in &items {
        candidates.push(if o.is_empty() {
            c.clone()
        } else {
            format!("{c}-{o}")
        });
    }
    candidates.sort();
    candidates.dedup();
    let by_code = store.sku_ids_by_code(tenant, &candidates).await?;
    let mut links: Vec<(String, String, SkuId, &'static str)> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (c, o, name, option_text) in &items {
        if !seen.insert((c.clone(), o.clone())) {
            continue;
        }
        let code = if o.is_empty() {
            c.clone()
        } else {
            format!("{c}-{o}")
        };
        if let Some(&sku) = by_code.get(&code) {
            links.push((c.clone(), o.clone(), sku, "code"));
        } else if settings.name_match
            && !name.is_empty()
            && let Some(sku) = store.sku_by_name(tenant, name, option_text).await?
        {
            links.push((c.clone(), o.clone(), sku, "name"));
        }
    }
    if links.is_empty() {
        return Ok((0, Vec::new()));
    }
    let now = now_us();
    let rows: Vec<Vec<Val>> = links
        .iter()
        .map(|(c, o, s, src)| {
            vec![
                Val::T(channel.to_string()),
                Val::T(c.clone()),
                Val::T(o.clone()),
                Val::T(tenant.to_string()),
                Val::T(s.to_string()),
                Val::T((*src).to_string()),
                Val::I(now),
            ]
        })
        .collect();
    insert_many(
        tx,
        "channel_sku_links (channel_id, item_code, item_option, tenant_id, sku_id, source, created_at)",
        7,
        rows,
        "ON CONFLICT DO NOTHING",
    )
    .await?;
    let triples: Vec<(String, String, SkuId)> = links
        .iter()
        .map(|(c, o, s, _)| (c.clone(), o.clone(), *s))
        .collect();
    let matched = match_waiting(tx, tenant, channel, &triples).await?;
    let events = links
        .iter()
        .map(|(c, o, s, src)| {
            link_event(
                tenant,
                &SkuLink {
                    channel_id: channel,
                    item_code: c.clone(),
                    item_option: o.clone(),
                    sku_id: *s,
                    source: (*src).to_string(),
                    created_at: now,
                },
                0,
                actor,
            )
        })
        .collect();
    Ok((matched, events))
}

fn link_event(tenant: TenantId, link: &SkuLink, matched: u64, actor: &str) -> NewEvent {
    NewEvent::new(
        tenant,
        kinds::SKU_LINKED,
        json!({
            "channel_id": link.channel_id.to_string(),
            "item_code": link.item_code,
            "item_option": link.item_option,
            "sku_id": link.sku_id.to_string(),
            "source": link.source,
            "matched_lines": matched,
            "actor": actor,
        }),
    )
    .sku(link.sku_id)
    .channel(link.channel_id)
}

#[cfg(test)]
mod tests {
    use super::{JSON_ROWS_MAX, Val, json_chunks, same_named};
    use crate::error::StoreError;
    use crate::rows::Placeholders;

    fn row(i: usize) -> Vec<Val> {
        vec![Val::T(format!("line-{i}")), Val::OT(None), Val::I(i as i64)]
    }

    /// Rows become one JSON text per `JSON_ROWS_MAX` rows, in order, each
    /// built only when it is taken; together they hold every row once.
    #[test]
    fn rows_are_cut_into_json_texts_of_at_most_the_limit() {
        let n = JSON_ROWS_MAX + 3;
        let (source, chunks) = json_chunks(Placeholders::Anonymous, 3, (0..n).map(row));
        assert!(source.contains("json_each(?1)"), "{source}");
        let texts: Vec<String> = chunks.map(Result::unwrap).collect();
        assert_eq!(texts.len(), 2);
        let parsed: Vec<Vec<serde_json::Value>> = texts
            .iter()
            .flat_map(|t| serde_json::from_str::<Vec<Vec<serde_json::Value>>>(t).unwrap())
            .collect();
        assert_eq!(parsed.len(), n);
        assert_eq!(
            parsed[0],
            vec!["line-0".into(), serde_json::Value::Null, 0.into()]
        );
        assert_eq!(parsed[n - 1][0], format!("line-{}", n - 1));
        let (_, mut none) = json_chunks(Placeholders::Anonymous, 3, Vec::new());
        assert!(none.next().is_none(), "no rows, no statement");
    }

    /// A row of another width or other kinds than the first is refused:
    /// PostgreSQL would read its column with the first row's cast.
    #[test]
    fn rows_of_mixed_kinds_are_refused() {
        let rows = vec![row(0), vec![Val::I(1), Val::OT(None), Val::I(1)]];
        let (_, mut chunks) = json_chunks(Placeholders::Numbered, 3, rows);
        assert!(matches!(chunks.next(), Some(Err(StoreError::Corrupt(_)))));
        let (_, mut chunks) = json_chunks(Placeholders::Numbered, 3, vec![row(0), vec![Val::I(1)]]);
        assert!(matches!(chunks.next(), Some(Err(StoreError::Corrupt(_)))));
    }

    /// Values bound once are named `$1` … `$n`, every one of them and no
    /// other parameter: the rows' JSON text is bound as parameter `n + 1`.
    #[test]
    fn values_bound_once_are_all_named_and_nothing_else() {
        assert!(same_named("$1, v.column1, $2, v.column2", 2).is_ok());
        assert!(same_named("status = v.column2, updated_at = $1", 1).is_ok());
        assert!(same_named("v.column1, v.column2", 0).is_ok());
        assert!(same_named("$2, v.column1, $1", 2).is_ok(), "any order");
        assert!(same_named("$1, v.column1", 2).is_err(), "one missing");
        assert!(same_named("$1, $2", 1).is_err(), "one more than given");
        assert!(same_named("$10, v.column1", 1).is_err(), "$10 is not $1");
        assert!(same_named("v.column1, $1", 0).is_err(), "none given");
    }
}
