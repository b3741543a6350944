//! The frame every page shares (navigation, the signed-in user, language
//! links, sign-out, the live-connection light, message areas) and the
//! sign-in page.

use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::{Ctx, Lang, Strings};

/// The screens in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Home,
    TableOrder,
    Stock,
    Movements,
    Orders,
    Channels,
    Labels,
    Pickup,
    Scan,
}

impl Nav {
    /// The screens in menu order.
    pub const MENU: [Nav; 8] = [
        Nav::TableOrder,
        Nav::Stock,
        Nav::Movements,
        Nav::Orders,
        Nav::Scan,
        Nav::Pickup,
        Nav::Channels,
        Nav::Labels,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Nav::None | Nav::Home => "/",
            Nav::TableOrder => "/table-order",
            Nav::Stock => "/stock",
            Nav::Movements => "/movements",
            Nav::Orders => "/orders",
            Nav::Channels => "/channels",
            Nav::Labels => "/labels",
            Nav::Pickup => "/pickup",
            Nav::Scan => "/scan",
        }
    }

    pub fn label(self, t: &Strings) -> &'static str {
        match self {
            Nav::None | Nav::Home => t.home_title,
            Nav::TableOrder => t.nav_table_order,
            Nav::Stock => t.nav_stock,
            Nav::Movements => t.nav_movements,
            Nav::Orders => t.nav_orders,
            Nav::Channels => t.nav_channels,
            Nav::Labels => t.nav_labels,
            Nav::Pickup => t.nav_pickup,
            Nav::Scan => t.nav_scan,
        }
    }

    pub fn hint(self, t: &Strings) -> &'static str {
        match self {
            Nav::None | Nav::Home => "",
            Nav::TableOrder => t.hint_table_order,
            Nav::Stock => t.hint_stock,
            Nav::Movements => t.hint_movements,
            Nav::Orders => t.hint_orders,
            Nav::Channels => t.hint_channels,
            Nav::Labels => t.hint_labels,
            Nav::Pickup => t.hint_pickup,
            Nav::Scan => t.hint_scan,
        }
    }
}

/// What a page handler builds: its title, where it sits in the menu, its
/// content, and which events refresh it live.
pub struct Screen {
    pub title: String,
    pub nav: Nav,
    pub content: Markup,
    /// Event kinds (exact names) that make the page refresh its live
    /// regions; empty: the page does not follow the stream.
    pub live_events: Vec<&'static str>,
    /// Only events about this location (id), if set.
    pub live_location: Option<String>,
    /// A page without the navigation bar (the customer screen).
    pub bare: bool,
}

impl Screen {
    pub fn new(title: impl Into<String>, nav: Nav, content: Markup) -> Self {
        Screen {
            title: title.into(),
            nav,
            content,
            live_events: Vec::new(),
            live_location: None,
            bare: false,
        }
    }

    pub fn live(mut self, events: &[&'static str], location: Option<String>) -> Self {
        // The event stream takes at most this many kinds (`shipment.*`
        // patterns count one).
        debug_assert!(events.len() <= jaego_core::limits::EVENT_FILTER_KINDS_MAX);
        self.live_events = events.to_vec();
        self.live_location = location;
        self
    }

    pub fn bare(mut self) -> Self {
        self.bare = true;
        self
    }
}

fn lang_links(lang: Lang, here: &str) -> Markup {
    let next = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
    html! {
        span.langs {
            @for l in Lang::ALL {
                @if l == lang {
                    span.lang.current aria-current="true" lang=(l.code()) { (l.name()) }
                } @else {
                    a.lang href={ "/lang?to=" (l.code()) "&" (next) } lang=(l.code()) hreflang=(l.code()) { (l.name()) }
                }
            }
        }
    }
}

/// A whole page: the frame around `screen`.
pub fn page(ctx: &Ctx, screen: &Screen) -> Html<String> {
    let t = ctx.t;
    let live = screen.live_events.join(",");
    let markup = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon file: keeps browsers from asking for /favicon.ico.
                link rel="icon" href="data:,";
                meta name="csrf-token" content=(ctx.csrf);
                title { (screen.title) " · jaego" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body.bare[screen.bare]
                data-live-events=(live)
                data-live-location=[screen.live_location.as_deref()] {
                // Strings the script needs (the pages carry no inline
                // script, so the CSP can forbid it).
                div #strings hidden data-lang=(ctx.lang.code())
                    data-t-saved=(t.js_saved)
                    data-t-failed=(t.js_failed)
                    data-t-network=(t.js_network)
                    data-t-short=(t.js_short)
                    data-t-short-part=(t.js_short_part)
                    data-t-ordered=(t.js_ordered)
                    data-t-live-open=(t.live_open)
                    data-t-live-closed=(t.live_closed)
                    data-t-cart-empty=(t.cart_empty)
                    data-t-confirm=(t.js_confirm) {}
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    @if !screen.bare {
                        nav.menu aria-label=(t.menu) {
                            a.brand href="/" { "jaego" span.brand-ko { " 재고" } }
                            @for nav in Nav::MENU {
                                a.nav href=(nav.href()) aria-current=[(nav == screen.nav).then_some("page")] { (nav.label(t)) }
                            }
                        }
                    }
                    div.who {
                        @if !live.is_empty() {
                            span #live.live data-state="connecting" title=(t.live_closed) { span.dot {} span.live-text { (t.live_connecting) } }
                        }
                        span.user { (ctx.auth.0.name) " · " (role_label(t, ctx.auth.0.role)) }
                        (lang_links(ctx.lang, &ctx.here))
                        form.signout method="post" action="/auth/logout" {
                            input type="hidden" name="csrf_token" value=(ctx.csrf);
                            button.button.quiet type="submit" { (t.sign_out) }
                        }
                    }
                }
                div #alert.alert role="alert" hidden {}
                div #toast.toast role="status" aria-live="polite" {}
                main #main tabindex="-1" { (screen.content) }
            }
        }
    };
    Html(markup.into_string())
}

pub fn role_label(t: &Strings, role: jaego_core::role::Role) -> &'static str {
    use jaego_core::role::Role;
    match role {
        Role::Owner => t.role_owner,
        Role::Manager => t.role_manager,
        Role::Staff => t.role_staff,
        Role::Integration => t.role_integration,
        Role::Display => t.role_display,
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    error: Option<String>,
    next: Option<String>,
}

/// The sign-in page. The form posts to `/auth/login`, which answers with a
/// redirect to `next` or back here with `?error=<code>`.
pub async fn login(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let lang = Lang::from_headers(&headers);
    let t = lang.strings();
    let message = q.error.as_deref().map(|code| match code {
        "rate_limited" => t.login_rate_limited,
        "invalid_input" => t.login_missing,
        _ => t.login_failed,
    });
    let here = match &q.next {
        Some(n) => format!(
            "/login?{}",
            serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
        ),
        None => "/login".to_string(),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon file: keeps browsers from asking for /favicon.ico.
                link rel="icon" href="data:,";
                title { (t.sign_in) " · jaego" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.login-page {
                main #main.login {
                    div.login-top { span.brand { "jaego" span.brand-ko { " 재고" } } (lang_links(lang, &here)) }
                    h1 { (t.sign_in) }
                    @if let Some(message) = message {
                        p.alert role="alert" { (message) }
                    }
                    form method="post" action="/auth/login" {
                        label for="login" { (t.login_name) }
                        input #login type="text" name="login" autocomplete="username" autocapitalize="none" required autofocus;
                        label for="password" { (t.password) }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        @if let Some(next) = &q.next {
                            input type="hidden" name="next" value=(next);
                        }
                        button.button.primary.wide type="submit" { (t.sign_in) }
                    }
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}
