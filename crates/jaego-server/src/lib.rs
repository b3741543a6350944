//! jaego's HTTP edge: the JSON API under `/api/v1`, authentication,
//! idempotency keys, problem+json errors, OpenAPI, metrics and health.
//!
//! Only this crate knows wire formats: request and response types live
//! beside their handlers and convert from the store's types.

#![forbid(unsafe_code)]

pub mod documents;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod tokens;
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
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tokens: Arc<tokens::TokenCache>,
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            tokens: Arc::default(),
            metrics: metrics::Metrics::new(),
        }
    }
}

/// How long one request may take before it is answered 503; also bounds
/// how long a graceful shutdown waits for in-flight requests.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application as a router (tests drive it with `oneshot`).
pub fn app(state: AppState) -> Router {
    let (replayable, _) = OpenApiRouter::new()
        .nest("/api/v1", routes::api())
        .split_for_parts();
    let (unreplayed, _) = OpenApiRouter::new()
        .nest("/api/v1", routes::unreplayed())
        .split_for_parts();
    let api = replayable
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .merge(unreplayed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .layer(DefaultBodyLimit::max(JSON_BODY_BYTES_MAX));
    Router::new()
        .merge(api)
        .merge(routes::ops::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(middleware::bare_errors))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("handler panicked".into()).into_response()
            },
        ))
        .layer(TraceLayer::new_for_http())
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
    let jobs = jaego_jobs::Jobs::start(&store);
    let router = app(AppState::new(store.clone()));
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    jobs.stop().await;
    store.close().await;
    result
}
