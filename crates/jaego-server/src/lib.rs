//! jaego's HTTP edge: the JSON API under `/api/v1`, authentication,
//! idempotency keys, problem+json errors, OpenAPI, metrics and health.
//!
//! Only this crate knows wire formats: request and response types live
//! beside their handlers and convert from the store's types.

#![forbid(unsafe_code)]

pub mod audit;
pub mod documents;
pub mod error;
pub mod extract;
pub mod live;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod overload;
pub mod routes;
pub mod tokens;
pub mod ui;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use jaego_core::limits::JSON_BODY_BYTES_MAX;
use jaego_store::Store;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;

/// Everything a handler needs; one `Arc`, so cloning it (every layer and
/// extractor of every request does) is one atomic increment, not one per
/// part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppParts {
    pub store: Store,
    pub tokens: Arc<tokens::TokenCache>,
    pub metrics: Arc<metrics::Metrics>,
    pub config: Arc<ServerConfig>,
    pub overload: Arc<overload::Gate>,
    /// The live event streams of this instance.
    pub hub: Arc<live::hub::Hub>,
    /// The HTTP client of webhook deliveries (and redeliveries).
    pub webhooks: Arc<live::webhooks::Sender>,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        Self::with_config(store, ServerConfig::default())
    }

    pub fn with_config(store: Store, config: ServerConfig) -> Self {
        AppState(Arc::new(AppParts {
            hub: live::hub::Hub::new(store.clone(), config.live.clone()),
            metrics: metrics::Metrics::new(&store),
            webhooks: Arc::new(live::webhooks::Sender::new(&config.live.webhooks)),
            store,
            tokens: Arc::default(),
            overload: Arc::new(overload::Gate::new(
                config.max_in_flight,
                config.max_queued,
                Duration::from_millis(config.queue_wait_ms),
            )),
            config: Arc::new(config),
        }))
    }
}

/// How the server runs, beyond the database: sessions, cookies, client
/// addresses and load limits. `Default` is what `jaego serve` uses when no
/// flag says otherwise.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark the session cookie `Secure` (and name it `__Host-jaego_session`):
    /// set this whenever clients reach jaego over HTTPS.
    pub cookie_secure: bool,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_absolute: Duration,
    /// Take the client address from the last `X-Forwarded-For` entry (set
    /// only behind a reverse proxy that writes that header).
    pub trust_forwarded_for: bool,
    /// Requests served at once; more wait in the queue.
    pub max_in_flight: usize,
    /// Requests waiting for a slot; more are refused `503 overloaded`.
    pub max_queued: usize,
    /// Longest a queued request waits before it is refused.
    pub queue_wait_ms: u64,
    /// Live streams, webhook delivery and NATS publishing.
    pub live: live::LiveConfig,
    /// Run the background jobs (expiries, pickup intake, schedules, purges)
    /// in this process. `jaego serve` always does; off only for tests that
    /// run a job by hand and count what that one call did.
    pub jobs: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        use jaego_core::limits::*;
        ServerConfig {
            cookie_secure: false,
            session_idle: Duration::from_secs(SESSION_IDLE_SECS_DEFAULT.unsigned_abs()),
            session_absolute: Duration::from_secs(SESSION_ABSOLUTE_SECS_DEFAULT.unsigned_abs()),
            trust_forwarded_for: false,
            max_in_flight: IN_FLIGHT_REQUESTS_DEFAULT,
            max_queued: QUEUED_REQUESTS_DEFAULT,
            queue_wait_ms: QUEUE_WAIT_MS_MAX,
            live: live::LiveConfig::default(),
            jobs: true,
        }
    }
}

/// How long one request may take before it is answered 503; also bounds
/// how long a graceful shutdown waits for in-flight requests.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Puts `router` behind authentication (bearer token or session cookie),
/// the audit log and the CSRF check, in that order from the outside in.
/// Every `/api/v1` route goes through this; a router of web pages can too.
pub fn protect(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    // One `layer` call for the three (see `app`): outermost first.
    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                middleware::authenticate,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                audit::record,
            ))
            .layer(axum::middleware::from_fn(middleware::csrf)),
    )
}

/// The whole application as a router (tests drive it with `oneshot`).
pub fn app(state: AppState) -> Router {
    let (replayable, _) = OpenApiRouter::new()
        .nest("/api/v1", routes::api())
        .split_for_parts();
    let (unreplayed, _) = OpenApiRouter::new()
        .nest("/api/v1", routes::unreplayed())
        .split_for_parts();
    let (sign_in, _) = routes::auth::router().split_for_parts();
    let (hooks, _) = OpenApiRouter::new()
        .nest("/api/v1", routes::hooks())
        .split_for_parts();
    let api = replayable
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .merge(unreplayed);
    let api = protect(api, &state);
    // Channel order webhooks authenticate by their signature, not a token
    // or session, so they sit beside the sign-in routes; both are audited.
    let sign_in = sign_in
        .merge(hooks)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record,
        ));
    // The web UI's pages: server-rendered, behind a browser session.
    let pages = ui::router(&state);
    Router::new()
        .merge(api)
        .merge(sign_in)
        .merge(pages)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    overload::limit,
                ))
                .layer(DefaultBodyLimit::max(JSON_BODY_BYTES_MAX)),
        )
        .merge(routes::ops::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        // Every `Router::layer` call wraps each route in one more boxed
        // service, and each `from_fn` middleware clones the service inside
        // it on every request, box by box: so layers that always go
        // together are applied in one call, as one stack (outermost first).
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(middleware::MakeRequestIdV7))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(middleware::request_span)
                        // 5xx answers are counted by the metrics and internal
                        // errors are logged where they happen; a line per shed
                        // request under overload would only add load.
                        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
                )
                .layer(CatchPanicLayer::custom(
                    |_: Box<dyn std::any::Any + Send>| {
                        ApiError::Internal("handler panicked".into()).into_response()
                    },
                ))
                .layer(MapResponseLayer::new(middleware::bare_errors))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    REQUEST_TIMEOUT,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    metrics::track,
                )),
        )
        .with_state(state)
}

/// Serves `store` on `listener` until `shutdown` resolves, with the
/// background jobs running beside it. In-flight requests finish before this
/// returns; then the jobs stop and the database is closed.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(store, listener, shutdown, ServerConfig::default()).await
}

/// [`serve`] with a [`ServerConfig`]. On shutdown, live event streams end
/// at once (clients resume with `Last-Event-ID`), webhook workers finish
/// the request in hand and give up their leases.
pub async fn serve_with(
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: ServerConfig,
) -> std::io::Result<()> {
    let jobs = config.jobs.then(|| jaego_jobs::Jobs::start(&store));
    let state = AppState::with_config(store.clone(), config);
    let live = live::Live::start(&store, &state.config.live, Arc::clone(&state.webhooks));
    let hub = Arc::clone(&state.hub);
    let router = app(state);
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Streams never finish by themselves; end them so the graceful
        // shutdown can complete.
        hub.close();
    })
    .await;
    live.stop().await;
    if let Some(jobs) = jobs {
        jobs.stop().await;
    }
    store.close().await;
    result
}
