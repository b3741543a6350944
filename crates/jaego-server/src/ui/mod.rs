//! The web UI: server-rendered pages for the admin tablet, the customer
//! table-order screen, integrated stock, movements, orders, the scan
//! station, the pickup counter, channels and print views, served by the same binary as the API.
//!
//! Pages are HTML drawn with `maud` from the same response bodies the JSON
//! API answers: a page calls the API handler (`routes::…`) with the
//! signed-in user's [`Auth`], so a page shows exactly what the API would
//! and is refused exactly where the API refuses. Changes go the other way
//! through the API itself: the page's script (`assets/app.js`, no build
//! step) sends JSON to `/api/v1` with the session cookie and the
//! `X-CSRF-Token` header, so every change passes the API's permission
//! check, CSRF check, idempotency and audit log. Live updates: the script
//! follows `/api/v1/events/stream` and, on an event the page cares about,
//! fetches the page again and swaps its live regions in place, so nothing
//! is drawn twice (once in Rust and once in JavaScript).
//!
//! Pages need a browser session (`/auth/login`); without one they redirect
//! to `/login`. Strings come from one catalogue per language
//! ([`i18n`]); the language is a cookie set by `/lang`.

mod channels;
pub mod i18n;
mod labels;
mod layout;
mod movements;
mod orders;
mod pickup;
mod scan;
mod stock;
mod table_order;

use axum::Router;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Auth, CsrfToken};
use crate::middleware::attach_session;
pub use i18n::{Lang, Strings};
pub use layout::{Nav, Screen};

/// The UI's routes, at the root beside `/api/v1` and `/auth`.
pub fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(home))
        .route("/table-order", get(table_order::stores))
        .route("/table-order/{store}", get(table_order::admin))
        .route("/table-order/{store}/customer", get(table_order::customer))
        .route("/stock", get(stock::grid))
        .route("/movements", get(movements::ledger))
        .route("/movements.csv", get(movements::csv))
        .route("/channels", get(channels::list))
        .route("/channels/{code}", get(channels::detail))
        .route("/webhooks", get(channels::webhooks))
        .route("/labels", get(labels::labels))
        .route("/labels.pdf", get(labels::pdf))
        .route("/scan", get(scan::station))
        .route("/pickup", get(pickup::stores))
        .route("/pickup/{store}", get(pickup::counter))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::detail))
        .layer(from_fn_with_state(state.clone(), session));
    Router::new()
        .route("/login", get(layout::login))
        .route("/lang", get(set_lang))
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(style))
        .merge(pages)
        .layer(from_fn(page_headers))
}

/// The name of the language cookie (a display preference, not a secret).
pub const LANG_COOKIE: &str = "jaego_lang";

/// Puts the signed-in user into the request, or redirects to the sign-in
/// page (with `next` set to where the user was going). Only a browser
/// session opens pages; bearer tokens are for the API. Sessions are checked
/// on every request, like the API does, and never cached.
async fn session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let to_login = |request: &Request| {
        let next = request
            .uri()
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str)
            .to_string();
        let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
        Redirect::to(&format!("/login?{query}")).into_response()
    };
    match attach_session(&state, &mut request).await {
        Ok(true) => next.run(request).await,
        Ok(false) => to_login(&request),
        Err(e) => e.into_response(),
    }
}

/// Headers on every page and asset: no framing, no sniffing, scripts and
/// styles only from this site (the pages have no inline script), and no
/// caching of pages that show stock figures.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

async fn script() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidate each time: the binary may have been upgraded.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    next: Option<String>,
}

/// Switches the language: sets the cookie and goes back to `next`.
async fn set_lang(Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or_default();
    let next = q
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&next).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// What every signed-in page knows: who, their CSRF token, the language,
/// and the page's own address (for the language links).
pub struct Ctx {
    pub auth: Auth,
    pub csrf: String,
    pub lang: Lang,
    pub t: &'static Strings,
    /// Path and query of this page.
    pub here: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or_else(|| Redirect::to("/login").into_response())?;
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let lang = Lang::from_headers(&parts.headers);
        Ok(Ctx {
            auth,
            csrf,
            lang,
            t: lang.strings(),
            here: parts
                .uri
                .path_and_query()
                .map_or("/", axum::http::uri::PathAndQuery::as_str)
                .to_string(),
        })
    }
}

impl Ctx {
    /// Draws a screen in the layout, or the error page if building it failed.
    pub fn render(&self, screen: Result<Screen, ApiError>) -> Response {
        match screen {
            Ok(screen) => layout::page(self, &screen).into_response(),
            Err(error) => self.error(&error),
        }
    }

    /// An error as a page: 403 says what is not allowed, 404 what was not
    /// found, anything else the problem's title.
    pub fn error(&self, error: &ApiError) -> Response {
        let problem = error.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let t = self.t;
        let heading = match status {
            StatusCode::FORBIDDEN => t.error_forbidden,
            StatusCode::NOT_FOUND => t.error_not_found,
            _ => t.error_generic,
        };
        let content = html! {
            section.panel.error-page {
                h1 { (heading) }
                @if status.is_client_error() {
                    @if let Some(detail) = &problem.detail { p.detail { (detail) } }
                }
                p { a.button href="/" { (t.back_home) } }
            }
        };
        let screen = Screen::new(heading, Nav::None, content);
        (status, layout::page(self, &screen)).into_response()
    }

    /// Whether the user's role allows `permission` (to hide controls the
    /// API would refuse anyway).
    pub fn may(&self, permission: jaego_core::role::Permission) -> bool {
        self.auth.0.role.allows(permission)
    }
}

/// The home page: a tile per screen.
async fn home(ctx: Ctx) -> Response {
    let t = ctx.t;
    let content = html! {
        h1 { (t.home_title) }
        div.tiles {
            @for nav in Nav::MENU {
                a.tile href=(nav.href()) { span.tile-title { (nav.label(t)) } span.tile-hint { (nav.hint(t)) } }
            }
        }
    };
    ctx.render(Ok(Screen::new(t.home_title, Nav::Home, content)))
}

/// The store picker of a per-store screen (table order, the pickup
/// counter): a card per store the user may see ([`locations`]), each with
/// `actions`, the links into that store's screen; `title` heads the page.
pub async fn store_picker(
    state: &AppState,
    ctx: &Ctx,
    title: &'static str,
    nav: Nav,
    actions: impl Fn(&crate::routes::places::LocationBody) -> Markup,
) -> Response {
    let screen = async {
        let stores = locations(state, ctx, true).await?;
        let content = html! {
            h1 { (title) }
            @if stores.is_empty() {
                p.empty { (ctx.t.no_stores) }
            } @else {
                ul.cards {
                    @for l in &stores {
                        li.card {
                            h2 { (l.name) " " span.code { (l.code) } }
                            p.actions { (actions(l)) }
                        }
                    }
                }
            }
        };
        Ok(Screen::new(title, nav, content))
    }
    .await;
    ctx.render(screen)
}

/// The tenant's locations (only stores, with `stores_only`), as the API
/// lists them to this user: the first 500, which is more than a picker
/// shows.
pub async fn locations(
    state: &AppState,
    ctx: &Ctx,
    stores_only: bool,
) -> Result<Vec<crate::routes::places::LocationBody>, ApiError> {
    let axum::Json(page) = crate::routes::places::list_locations(
        State(state.clone()),
        ctx.auth.clone(),
        crate::extract::ApiQuery(crate::routes::places::LocationQuery {
            kind: stores_only.then(|| "store".into()),
            after: None,
            limit: Some(500),
        }),
    )
    .await?;
    Ok(page.items)
}

/// Location id → code (the first 500 locations; others show their id,
/// see `movements::code`).
pub async fn location_codes(
    state: &AppState,
    ctx: &Ctx,
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    Ok(locations(state, ctx, false)
        .await?
        .into_iter()
        .map(|l| (l.id, l.code))
        .collect())
}

/// The code a scanner typed into a page's `code` field (sent by the
/// page's GET form in the query string), trimmed; `None` when blank.
pub fn scanned_code(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Looks a scanned code up with `find`: `(Some(found), None)`, or
/// `(None, Some(code))` when the API answers not found or `find` finds
/// nothing that belongs on this page (`Ok(None)`), so the page can say
/// which code it did not know; `(None, None)` without a code. Any other
/// error is the page's.
pub async fn look_up_scanned<T>(
    code: Option<&str>,
    find: impl AsyncFnOnce(String) -> Result<Option<T>, ApiError>,
) -> Result<(Option<T>, Option<String>), ApiError> {
    let Some(code) = code else {
        return Ok((None, None));
    };
    match find(code.to_string()).await {
        Ok(Some(found)) => Ok((Some(found), None)),
        Ok(None) | Err(ApiError::NotFound(_)) => Ok((None, Some(code.to_string()))),
        Err(e) => Err(e),
    }
}

/// Markup for a small "label: value" figure.
pub fn figure(label: &str, value: impl std::fmt::Display) -> Markup {
    html! { span.figure { span.figure-label { (label) } " " strong { (value) } } }
}

/// A path segment or query value, percent-encoded.
pub fn enc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A string usable in an element id (codes may hold characters ids and
/// CSS selectors dislike).
pub fn dom_id(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An RFC 3339 time as local wall-clock time in `zone` (`2026-05-01 04:00`);
/// the input as it is if either does not parse.
pub fn local_time(rfc3339: &str, zone: &str) -> String {
    let Ok(ts) = rfc3339.parse::<jiff::Timestamp>() else {
        return rfc3339.to_string();
    };
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// An RFC 3339 time shortened to `2026-05-01 04:00` (UTC, as stored).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}
