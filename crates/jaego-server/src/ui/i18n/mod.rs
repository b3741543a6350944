//! Every string the UI shows, one catalogue per language (`ko.rs`,
//! `en.rs`). A catalogue is a [`Strings`] value, so a string missing from
//! one language does not compile. Placeholders in braces (`{n}`, `{item}`)
//! are filled in by the page or the script.

mod en;
mod ko;

use axum::http::{HeaderMap, header};

/// A UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ko,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ko, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ko => "한국어",
            Lang::En => "English",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Ko => &ko::STRINGS,
            Lang::En => &en::STRINGS,
        }
    }

    /// The language cookie if set, else the first of the browser's
    /// languages we have, else Korean.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == super::LANG_COOKIE)
            .and_then(|(_, value)| Lang::parse(value.trim()));
        if let Some(lang) = cookie {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .filter_map(|part| part.split(';').next())
                    .filter_map(|tag| tag.trim().get(..2))
                    .find_map(|primary| Lang::parse(&primary.to_ascii_lowercase()))
            })
            .unwrap_or_default()
    }
}

/// The UI's strings.
pub struct Strings {
    pub home_title: &'static str,
    pub menu: &'static str,
    pub skip_to_content: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub login_name: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub login_missing: &'static str,
    pub login_rate_limited: &'static str,
    pub role_owner: &'static str,
    pub role_manager: &'static str,
    pub role_staff: &'static str,
    pub role_integration: &'static str,
    pub role_display: &'static str,
    pub error_forbidden: &'static str,
    pub error_not_found: &'static str,
    pub error_generic: &'static str,
    pub back_home: &'static str,
    pub live_connecting: &'static str,
    pub live_open: &'static str,
    pub live_closed: &'static str,
    pub js_saved: &'static str,
    pub js_failed: &'static str,
    pub js_network: &'static str,
    pub js_short: &'static str,
    /// A set (bundle) short of one of its parts: `{item}` the set, `{part}`
    /// the component.
    pub js_short_part: &'static str,
    pub js_ordered: &'static str,
    pub js_confirm: &'static str,
    pub nav_table_order: &'static str,
    pub hint_table_order: &'static str,
    pub nav_stock: &'static str,
    pub hint_stock: &'static str,
    pub no_stores: &'static str,
    pub admin_tablet: &'static str,
    pub customer_screen: &'static str,
    pub stock_menu: &'static str,
    pub actions: &'static str,
    pub track_all: &'static str,
    pub reset_now: &'static str,
    pub reset_confirm: &'static str,
    pub reset_mode: &'static str,
    pub reset_to_initial: &'static str,
    pub reset_to_zero: &'static str,
    pub reset_when: &'static str,
    pub daily: &'static str,
    pub daily_at: &'static str,
    pub manual: &'static str,
    pub reset_time: &'static str,
    pub time_zone: &'static str,
    pub show_remaining: &'static str,
    pub show_remaining_hint: &'static str,
    pub next_reset: &'static str,
    pub last_reset: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub filter: &'static str,
    pub all: &'static str,
    pub tracked: &'static str,
    pub untracked: &'static str,
    pub sold_out: &'static str,
    pub on_sale: &'static str,
    pub apply: &'static str,
    pub items_shown: &'static str,
    pub code: &'static str,
    pub name: &'static str,
    pub tracking: &'static str,
    pub initial_count: &'static str,
    pub current_count: &'static str,
    pub available: &'static str,
    pub state: &'static str,
    pub add_to_menu: &'static str,
    pub sku_code: &'static str,
    pub add: &'static str,
    pub options: &'static str,
    pub save: &'static str,
    pub table: &'static str,
    pub remaining: &'static str,
    pub cart: &'static str,
    pub cart_empty: &'static str,
    pub place_order: &'static str,
    pub view_only: &'static str,
    pub location: &'static str,
    pub all_locations: &'static str,
    pub low_at: &'static str,
    pub only_low: &'static str,
    pub sku: &'static str,
    pub on_hand: &'static str,
    pub reserved: &'static str,
    pub allocated: &'static str,
    pub incoming: &'static str,
    pub in_transit: &'static str,
    pub total: &'static str,
    pub discontinued: &'static str,
    pub reorder: &'static str,
    pub forced_sold_out: &'static str,
    pub limited: &'static str,
    pub low_stock: &'static str,
    pub estimate: &'static str,
    pub overdue_receipts: &'static str,
    pub open_quantity: &'static str,
    pub due: &'static str,
    pub nothing_found: &'static str,
    pub next_page: &'static str,
    pub address: &'static str,
    pub allocation_run: &'static str,
    pub cancel_confirm: &'static str,
    pub cancel_lines: &'static str,
    pub cancel_order: &'static str,
    pub channel: &'static str,
    pub collected: &'static str,
    pub customer: &'static str,
    pub customer_service: &'static str,
    pub deallocate: &'static str,
    pub delayed: &'static str,
    pub exchange: &'static str,
    pub fee: &'static str,
    pub flag: &'static str,
    pub flags_and_note: &'static str,
    pub gift: &'static str,
    pub hint_orders: &'static str,
    pub hold: &'static str,
    pub item: &'static str,
    pub line_no: &'static str,
    pub lines: &'static str,
    pub link: &'static str,
    pub link_to_sku: &'static str,
    pub merge: &'static str,
    pub merge_ids: &'static str,
    pub merged_into: &'static str,
    pub mode_channel_default: &'static str,
    pub mode_complete: &'static str,
    pub mode_consolidated: &'static str,
    pub mode_partial: &'static str,
    pub nav_orders: &'static str,
    pub never_merge: &'static str,
    pub new_sku: &'static str,
    pub note: &'static str,
    pub open_units: &'static str,
    pub order: &'static str,
    pub order_no: &'static str,
    pub outcome_allocated: &'static str,
    pub outcome_partial: &'static str,
    pub outcome_skipped: &'static str,
    pub phone: &'static str,
    pub pickup: &'static str,
    pub preview: &'static str,
    pub preview_title: &'static str,
    pub priority: &'static str,
    pub reason: &'static str,
    pub remote_area: &'static str,
    pub return_goods: &'static str,
    pub returned: &'static str,
    pub run_allocation: &'static str,
    pub run_confirm: &'static str,
    pub run_done: &'static str,
    pub run_summary: &'static str,
    pub shipment_mode: &'static str,
    pub split: &'static str,
    pub split_from: &'static str,
    pub split_lines: &'static str,
    pub st_allocated: &'static str,
    pub st_cancelled: &'static str,
    pub st_merged: &'static str,
    pub st_open: &'static str,
    pub st_partially_allocated: &'static str,
    pub st_partially_shipped: &'static str,
    pub st_shipped: &'static str,
    pub stock_by_location: &'static str,
    pub units: &'static str,
    pub unmatched: &'static str,
    pub unmatched_none: &'static str,
    pub unmatched_queue: &'static str,
    pub where_allocated: &'static str,
    pub nav_movements: &'static str,
    pub hint_movements: &'static str,
    pub record_movement: &'static str,
    pub kind: &'static str,
    pub kind_receipt: &'static str,
    pub kind_adjustment: &'static str,
    pub kind_count: &'static str,
    pub kind_safety_stock: &'static str,
    pub kind_shipment: &'static str,
    pub kind_return: &'static str,
    pub quantity_hint: &'static str,
    pub reference: &'static str,
    pub record: &'static str,
    pub transfer: &'static str,
    pub from_location: &'static str,
    pub to_location: &'static str,
    pub date_from: &'static str,
    pub date_to: &'static str,
    pub export_csv: &'static str,
    pub time: &'static str,
    pub actor: &'static str,
    pub nav_channels: &'static str,
    pub hint_channels: &'static str,
    pub webhooks: &'static str,
    pub shared_inventory: &'static str,
    pub sharing_on: &'static str,
    pub sharing_scope: &'static str,
    pub linked_locations: &'static str,
    pub publish: &'static str,
    pub publish_basis: &'static str,
    pub fixed_figure: &'static str,
    pub buffer: &'static str,
    pub locations_in_order: &'static str,
    pub sku_links: &'static str,
    pub auto_link: &'static str,
    pub option: &'static str,
    pub source: &'static str,
    pub unlink: &'static str,
    pub exclusions: &'static str,
    pub exclude: &'static str,
    pub include_again: &'static str,
    pub published_figures: &'static str,
    pub figure: &'static str,
    pub new_webhook: &'static str,
    pub event_kinds: &'static str,
    pub description: &'static str,
    pub create: &'static str,
    pub secret_once: &'static str,
    pub active: &'static str,
    pub rotate_secret: &'static str,
    pub delete: &'static str,
    pub delivered_up_to: &'static str,
    pub failures: &'static str,
    pub delivery_log: &'static str,
    pub error: &'static str,
    pub dead_letters: &'static str,
    pub redeliver: &'static str,
    pub nav_labels: &'static str,
    pub hint_labels: &'static str,
    pub template: &'static str,
    pub sku_codes: &'static str,
    pub copies: &'static str,
    pub show_labels: &'static str,
    pub skip_cells: &'static str,
    pub labels_pdf: &'static str,
    pub print: &'static str,
    pub no_templates: &'static str,
    pub label: &'static str,
    pub change_status: &'static str,
    pub nav_scan: &'static str,
    pub hint_scan: &'static str,
    pub scan_parcel: &'static str,
    pub open: &'static str,
    pub scan_not_found: &'static str,
    pub tracking_no: &'static str,
    pub courier: &'static str,
    pub scanned: &'static str,
    pub bin: &'static str,
    pub remaining_units: &'static str,
    pub scan_items: &'static str,
    pub scan: &'static str,
    pub scan_accepted: &'static str,
    pub scan_wrong_item: &'static str,
    pub scan_too_many: &'static str,
    pub scan_unknown: &'static str,
    pub scan_complete: &'static str,
    /// The badge of a bundle line at the scan station and pickup counter.
    pub bundle_set: &'static str,
    /// Under a bundle line: a component's units per bundle (`{n}`).
    pub per_bundle: &'static str,
    pub confirm_shipment: &'static str,
    pub shipment_confirmed: &'static str,
    pub override_confirm: &'static str,
    pub confirm_anyway: &'static str,
    pub sh_open: &'static str,
    pub sh_confirmed: &'static str,
    pub scan_confirmed: &'static str,
    pub print_invoice_slip: &'static str,
    pub print_open_shipments: &'static str,
    pub shipments: &'static str,
    pub nav_pickup: &'static str,
    pub hint_pickup: &'static str,
    pub pk_requested: &'static str,
    pub pk_received: &'static str,
    pub pk_completed: &'static str,
    pub pk_unavailable: &'static str,
    pub pk_cancelled: &'static str,
    pub pk_expired: &'static str,
    pub pk_tab_reception: &'static str,
    pub pk_tab_completion: &'static str,
    pub pk_tab_history: &'static str,
    pub pk_tab_settings: &'static str,
    pub pk_scan_receipt: &'static str,
    pub pk_scan_units: &'static str,
    pub pk_scan_completion: &'static str,
    pub pk_scanned_item: &'static str,
    pub pk_scanned_slip: &'static str,
    pub pk_scanned_receipt: &'static str,
    pub pk_all_received: &'static str,
    pub pk_ready_to_complete: &'static str,
    pub pk_complete: &'static str,
    pub pk_completed_ok: &'static str,
    pub pk_cancel: &'static str,
    pub pk_unavailable_action: &'static str,
    pub confirm: &'static str,
    pub pk_deadline: &'static str,
    pub pk_slip: &'static str,
    pub pk_receipt: &'static str,
    pub pk_expired_title: &'static str,
    pub pk_expired_ack: &'static str,
    pub pk_colours: &'static str,
    pub pk_last_print: &'static str,
    pub pk_next_print: &'static str,
    pub pk_pending: &'static str,
    pub pk_held: &'static str,
    pub pk_print_now: &'static str,
    pub pk_print_minutes: &'static str,
    pub pk_whole_on_cancel: &'static str,
    pub pk_deadline_hours: &'static str,
    pub pk_print_runs: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_from_cookie_then_browser() {
        let check = |cookie: Option<&str>, accept: Option<&str>, expected: Lang| {
            let mut h = HeaderMap::new();
            if let Some(c) = cookie {
                h.insert(header::COOKIE, c.parse().unwrap());
            }
            if let Some(a) = accept {
                h.insert(header::ACCEPT_LANGUAGE, a.parse().unwrap());
            }
            assert_eq!(Lang::from_headers(&h), expected, "{cookie:?} {accept:?}");
        };
        check(None, None, Lang::Ko);
        check(None, Some("en-US,en;q=0.9"), Lang::En);
        check(None, Some("fr-FR, en;q=0.5"), Lang::En);
        check(None, Some("fr"), Lang::Ko);
        check(Some("a=b; jaego_lang=en"), Some("ko"), Lang::En);
        check(Some("jaego_lang=ko"), Some("en"), Lang::Ko);
        check(Some("jaego_lang=xx"), Some("en"), Lang::En);
    }
}
