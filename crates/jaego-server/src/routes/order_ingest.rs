//! Parsing orders as channels send them: JSON (one order, a batch, a
//! webhook body) and CSV uploads. Pure functions from bytes to checked
//! [`NewOrder`]s or a problem, so they are easy to fuzz: nothing here
//! touches the store, and the property test below feeds them random and
//! malformed input.
//!
//! The CSV format has one row per order line; rows with the same
//! `order_no` form one order (in the order their first row appears), and
//! the order's fields (customer, address, flags) are read from its first
//! row. A bad row is reported as `line N` with every reason, and a file
//! with any bad row changes nothing.

use std::collections::HashMap;

use jaego_core::limits::{ORDERS_PER_REQUEST_MAX, QUANTITY_MAX};
use jaego_core::{InvalidInput, ReservationId};
use jaego_store::orders::{Customer, NewOrder, NewOrderLine};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::routes::csv::{BadRows, Table, parse_flag};
use crate::wire::parse_time;

/// Who ordered and where it goes.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    /// Marks the order as remote-area (도서산간) when it falls in a range.
    #[serde(default)]
    pub postal_code: String,
}

/// One line of an order.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineInput {
    /// The channel's item code; matched to a SKU by the channel's links.
    #[serde(default)]
    pub item_code: String,
    /// The channel's option code.
    #[serde(default)]
    pub item_option: String,
    #[serde(default)]
    pub product_name: String,
    #[serde(default)]
    pub option_text: String,
    /// A SKU id or code, when the channel knows it (skips matching).
    pub sku: Option<String>,
    pub quantity: i64,
    /// A gift (사은품) line, allocated by the channel's gift rule.
    #[serde(default)]
    pub gift: bool,
    /// A store (id or code) where this line is picked up.
    pub pickup_location: Option<String>,
}

/// An order as a channel sends it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// The channel's order number; with the channel, it identifies the order.
    pub order_no: String,
    /// RFC 3339.
    pub ordered_at: Option<String>,
    #[serde(default)]
    pub customer: CustomerInput,
    /// A store (id or code) where the whole order is picked up.
    pub pickup_location: Option<String>,
    /// A committed reservation whose allocation the order takes over.
    pub reservation: Option<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub priority: bool,
    #[serde(default)]
    pub hold: bool,
    pub lines: Vec<OrderLineInput>,
}

/// A batch of orders (also the inbound webhook's body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBatchInput {
    /// 1 to 1,000 orders.
    pub orders: Vec<OrderInput>,
}

impl OrderInput {
    /// Converts and checks one order; fields are named relative to it.
    pub fn into_new(self) -> Result<NewOrder, InvalidInput> {
        let mut violations = Vec::new();
        let ordered_at = match &self.ordered_at {
            Some(t) => match parse_time("ordered_at", t) {
                Ok(us) => Some(us),
                Err(ApiError::Invalid(e)) => {
                    violations.extend(e.violations);
                    None
                }
                Err(_) => None,
            },
            None => None,
        };
        let reservation = match &self.reservation {
            Some(r) => match r.parse::<ReservationId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    violations.push(jaego_core::Violation::new(
                        "reservation",
                        format!("{r:?} is not a reservation id"),
                    ));
                    None
                }
            },
            None => None,
        };
        let order = NewOrder {
            external_no: self.order_no,
            ordered_at,
            customer: Customer {
                name: self.customer.name,
                phone: self.customer.phone,
                address: self.customer.address,
                postal_code: self.customer.postal_code,
            },
            pickup_location: self.pickup_location,
            reservation,
            note: self.note,
            priority: self.priority,
            hold: self.hold,
            lines: self
                .lines
                .into_iter()
                .map(|l| NewOrderLine {
                    item_code: l.item_code,
                    item_option: l.item_option,
                    product_name: l.product_name,
                    option_text: l.option_text,
                    sku: l.sku,
                    quantity: l.quantity,
                    gift: l.gift,
                    pickup_location: l.pickup_location,
                })
                .collect(),
        };
        if let Err(e) = order.validate() {
            violations.extend(e.violations);
        }
        if violations.is_empty() {
            Ok(order)
        } else {
            Err(InvalidInput { violations })
        }
    }
}

/// Converts a batch, naming each bad field `orders[i].…`.
pub fn batch_into_new(orders: Vec<OrderInput>) -> ApiResult<Vec<NewOrder>> {
    if orders.is_empty() || orders.len() > ORDERS_PER_REQUEST_MAX {
        return Err(ApiError::invalid(
            "orders",
            format!("send 1 to {ORDERS_PER_REQUEST_MAX} orders"),
        ));
    }
    let mut violations = Vec::new();
    let mut out = Vec::with_capacity(orders.len());
    for (i, o) in orders.into_iter().enumerate() {
        match o.into_new() {
            Ok(n) => out.push(n),
            Err(e) => violations.extend(e.within(&format!("orders[{i}]")).violations),
        }
    }
    if violations.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Invalid(InvalidInput { violations }))
    }
}

/// Parses a JSON batch body (`{"orders": […]}`), as the batch route and
/// the webhook receive it.
pub fn parse_orders_json(body: &[u8]) -> ApiResult<Vec<NewOrder>> {
    let batch: OrderBatchInput = crate::extract::json_body(body)?;
    batch_into_new(batch.orders)
}

const ORDER_COLUMNS: [&str; 18] = [
    "order_no",
    "item_code",
    "item_option",
    "product_name",
    "option_text",
    "sku",
    "quantity",
    "gift",
    "pickup_location",
    "customer_name",
    "customer_phone",
    "address",
    "postal_code",
    "ordered_at",
    "note",
    "priority",
    "hold",
    "reservation",
];

/// Parses an order CSV upload (see the module docs).
pub fn parse_orders_csv(body: &[u8]) -> ApiResult<Vec<NewOrder>> {
    let mut table = Table::read(body, &ORDER_COLUMNS, &["order_no", "quantity"])?;
    let mut bad: BadRows = std::mem::take(&mut table.bad);
    // Orders in first-appearance order, each with its rows' lines.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut orders: Vec<(Vec<u64>, OrderInput)> = Vec::new();
    for row in &table.rows {
        let line = row.line;
        let get = |c: &str| table.get(row, c).to_string();
        let flag = |c: &str, bad: &mut BadRows| match table.get(row, c) {
            "" => false,
            raw => parse_flag(raw).unwrap_or_else(|| {
                bad.add(
                    line,
                    format!("{c}: {raw:?} is not one of true/false, 1/0, y/n"),
                );
                false
            }),
        };
        let quantity = match table.get(row, "quantity").parse::<i64>() {
            Ok(q) if (1..=QUANTITY_MAX).contains(&q) => q,
            _ => {
                bad.add(
                    line,
                    format!(
                        "quantity: {:?} is not a whole number from 1 to {QUANTITY_MAX}",
                        table.get(row, "quantity")
                    ),
                );
                1
            }
        };
        let gift = flag("gift", &mut bad);
        let priority = flag("priority", &mut bad);
        let hold = flag("hold", &mut bad);
        let sku = get("sku");
        let pickup = get("pickup_location");
        let item = OrderLineInput {
            item_code: get("item_code"),
            item_option: get("item_option"),
            product_name: get("product_name"),
            option_text: get("option_text"),
            sku: (!sku.is_empty()).then_some(sku),
            quantity,
            gift,
            pickup_location: (!pickup.is_empty()).then_some(pickup),
        };
        let no = get("order_no");
        if no.is_empty() {
            bad.add(line, "order_no: must not be empty");
            continue;
        }
        match index.get(&no) {
            Some(&i) => {
                orders[i].0.push(line);
                orders[i].1.lines.push(item);
            }
            None => {
                index.insert(no.clone(), orders.len());
                let ordered_at = get("ordered_at");
                let reservation = get("reservation");
                orders.push((
                    vec![line],
                    OrderInput {
                        order_no: no,
                        ordered_at: (!ordered_at.is_empty()).then_some(ordered_at),
                        customer: CustomerInput {
                            name: get("customer_name"),
                            phone: get("customer_phone"),
                            address: get("address"),
                            postal_code: get("postal_code"),
                        },
                        pickup_location: None,
                        reservation: (!reservation.is_empty()).then_some(reservation),
                        note: get("note"),
                        priority,
                        hold,
                        lines: vec![item],
                    },
                ));
            }
        }
    }
    let mut out = Vec::with_capacity(orders.len());
    for (lines, order) in orders {
        match order.into_new() {
            Ok(n) => out.push(n),
            Err(e) => {
                for v in e.violations {
                    // `lines[k].field` belongs to the k-th row of the order;
                    // anything else to its first row.
                    let (line, field) = match v
                        .field
                        .strip_prefix("lines[")
                        .and_then(|r| r.split_once("]."))
                    {
                        Some((k, field)) => (
                            k.parse::<usize>()
                                .ok()
                                .and_then(|k| lines.get(k))
                                .copied()
                                .unwrap_or(lines[0]),
                            field.to_string(),
                        ),
                        None => (lines[0], v.field.clone()),
                    };
                    bad.add(line, format!("{field}: {}", v.reason));
                }
            }
        }
    }
    bad.finish()?;
    if out.is_empty() {
        return Err(ApiError::invalid("line 2", "the file has no order rows"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Invalid(e) => e.violations.into_iter().map(|v| v.field).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn csv_rows_group_into_orders() {
        let body = "order_no,item_code,quantity,gift,customer_name,postal_code\n\
                    A1,TEE,2,,Kim,63001\n\
                    B1,CAP,1,,Lee,04524\n\
                    A1,STICKER,1,y,,\n";
        let orders = parse_orders_csv(body.as_bytes()).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].external_no, "A1");
        assert_eq!(orders[0].lines.len(), 2);
        assert!(orders[0].lines[1].gift);
        assert_eq!(orders[0].customer.postal_code, "63001");
        assert_eq!(orders[1].lines[0].item_code, "CAP");
    }

    #[test]
    fn csv_errors_name_their_rows() {
        let body = "order_no,item_code,quantity\n\
                    A1,TEE,2\n\
                    A1,TEE,1\n\
                    B1,CAP,-3\n\
                    ,CAP,1\n\
                    C1,,1\n";
        assert_eq!(
            fields(parse_orders_csv(body.as_bytes()).unwrap_err()),
            ["line 3", "line 4", "line 5", "line 6"]
        );
    }

    #[test]
    fn json_errors_name_their_fields() {
        let body =
            br#"{"orders": [{"order_no": "", "lines": [{"item_code": "A", "quantity": 0}]}]}"#;
        assert_eq!(
            fields(parse_orders_json(body).unwrap_err()),
            ["orders[0].external_no", "orders[0].lines[0].quantity"]
        );
        assert!(matches!(
            parse_orders_json(b"{"),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_orders_json(br#"{"orders": [], "x": 1}"#),
            Err(ApiError::Invalid(_))
        ));
    }

    fn csv_like() -> impl Strategy<Value = Vec<u8>> {
        let cell = prop_oneof![
            Just(String::new()),
            Just("A1".to_string()),
            Just("-1".to_string()),
            Just("3".to_string()),
            Just("y".to_string()),
            Just("\"quoted,\nvalue\"".to_string()),
            "[ -~]{0,8}",
            "\\PC{0,4}",
        ];
        let header = prop::sample::subsequence(ORDER_COLUMNS.to_vec(), 0..ORDER_COLUMNS.len());
        (
            header,
            prop::collection::vec(prop::collection::vec(cell, 0..6), 0..8),
            any::<bool>(),
        )
            .prop_map(|(h, rows, crlf)| {
                let nl = if crlf { "\r\n" } else { "\n" };
                let mut out = h.join(",");
                for r in rows {
                    out.push_str(nl);
                    out.push_str(&r.join(","));
                }
                out.into_bytes()
            })
    }

    proptest! {
        /// Whatever arrives, the parsers answer Ok or a problem; never panic.
        #[test]
        fn csv_never_panics(body in prop_oneof![csv_like(), prop::collection::vec(any::<u8>(), 0..200)]) {
            if let Ok(orders) = parse_orders_csv(&body) {
                for o in &orders {
                    prop_assert!(o.validate().is_ok());
                }
            }
        }

        #[test]
        fn json_never_panics(body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "\\{\"orders\": \\[\\{\"order_no\": \"[a-z]{0,3}\", \"lines\": \\[\\{\"item_code\": \"[A-Z]{0,2}\", \"quantity\": -?[0-9]{1,3}\\}\\]\\}\\]\\}".prop_map(String::into_bytes),
        ]) {
            if let Ok(orders) = parse_orders_json(&body) {
                for o in &orders {
                    prop_assert!(o.validate().is_ok());
                }
            }
        }
    }
}
