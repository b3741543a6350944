//! The audit middleware: one entry per state-changing request that
//! succeeded, and per refused attempt (403, and 401/429 at sign-in), written
//! before the answer leaves.
//!
//! It is generic: it knows routes only by their template and targets only
//! by their path parameters and the `id` of a created resource, so every
//! route mounted behind [`crate::protect`] is audited without writing a
//! line for it. A handler that knows more (the sign-in handler knows whose
//! account was tried) adds an [`AuditNote`] to its response.

use axum::body::{Body, HttpBody as _, to_bytes};
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use jaego_core::TenantId;
use jaego_store::audit::AuditEntry;

use crate::AppState;
use crate::error::ProblemCode;
use crate::extract::Auth;
use crate::middleware::{client_addr, is_state_changing, request_id};

/// Largest answer whose `id` is read for the audit entry.
const CREATED_BODY_BYTES_MAX: u64 = 64 * 1024;

/// What a handler tells the audit log about a request made without a
/// principal (sign-in), as a response extension.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub tenant_id: Option<TenantId>,
    /// E.g. `user:<id>`, or `login:<name>` for a refused sign-in.
    pub actor: String,
    pub role: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub targets: Vec<String>,
}

/// The audit entry of the request being handled, without its answer yet:
/// a handler that applies its change through the group-commit batch hands
/// it to the store, which writes it in the change's own transaction, and
/// answers with [`AuditWritten`].
#[derive(Debug, Clone)]
pub struct AuditDraft(pub AuditEntry);

/// A response extension: the handler had the request's audit entry written
/// with its change, so the middleware writes none.
#[derive(Debug, Clone, Copy)]
pub struct AuditWritten;

impl<S: Send + Sync> FromRequestParts<S> for AuditDraft {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Outside the audit layer (tests driving a bare router) there is no
        // draft; an entry without a tenant is never written.
        Ok(parts
            .extensions
            .get::<AuditDraft>()
            .cloned()
            .unwrap_or(AuditDraft(AuditEntry::default())))
    }
}

impl AuditDraft {
    /// The entry to hand to the store, if this request is audited.
    pub fn entry(self) -> Option<AuditEntry> {
        self.0.tenant_id.is_some().then_some(self.0)
    }
}

/// Whether a refused request is worth an entry: refusals by role or CSRF
/// (403) always; 401 and 429 only where a handler noted whose account it
/// was (sign-in), since anonymous noise belongs to no tenant.
fn is_audited_refusal(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    )
}

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_state_changing(request.method()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let mut targets: Vec<String> = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params.iter().map(|(_, v)| v.to_string()).collect(),
        Err(_) => Vec::new(),
    };
    let principal = parts.extensions.get::<Auth>().map(|a| a.0.clone());
    let mut entry = AuditEntry {
        occurred_at: jaego_store::now_us(),
        method: parts.method.to_string(),
        route,
        client_addr: client_addr(&parts, &state.config),
        request_id: request_id(&parts.headers),
        ..AuditEntry::default()
    };
    if let Some(p) = &principal {
        entry.tenant_id = Some(p.tenant_id);
        entry.actor = p.actor();
        entry.role = p.role.to_string();
        entry.token_id = p.token_id().map(|t| t.to_string());
        entry.user_id = p.user_id().map(|u| u.to_string());
        entry.session_id = p.session_id().map(|s| s.to_string());
    }
    // A handler whose change goes through the group-commit batch takes the
    // draft and has it written in the change's own transaction.
    if principal.is_some() {
        let mut draft = entry.clone();
        draft.target_ids.clone_from(&targets);
        parts.extensions.insert(AuditDraft(draft));
    }

    let response = next.run(Request::from_parts(parts, body)).await;
    if response.extensions().get::<AuditWritten>().is_some() {
        return response;
    }
    let status = response.status();
    let note = response.extensions().get::<AuditNote>().cloned();
    let code = response.extensions().get::<ProblemCode>().copied();
    // A form's sign-in answers with a redirect either way; the problem code
    // tells a refusal from a success.
    let succeeded = (status.is_success() || status.is_redirection()) && code.is_none();
    let refused = code.is_some() && (is_audited_refusal(status) || status.is_redirection());
    if !(succeeded || refused) || (principal.is_none() && note.is_none()) {
        return response;
    }
    let outcome = match code {
        Some(code) => code.0.to_string(),
        None if response.headers().contains_key("idempotent-replayed") => "replayed".to_string(),
        None => String::new(),
    };
    let (response, created) = if status.is_success() {
        created_id(response).await
    } else {
        (response, None)
    };
    targets.extend(created);
    entry.status = status.as_u16();
    entry.outcome = outcome;
    if let Some(note) = note {
        if entry.tenant_id.is_none() {
            entry.tenant_id = note.tenant_id;
            entry.actor = note.actor;
            entry.role = note.role;
            entry.user_id = note.user_id;
            entry.session_id = note.session_id;
        }
        targets.extend(note.targets);
    }
    targets.dedup();
    entry.target_ids = targets;
    if let Err(e) = state.store.record_audit(entry).await {
        // The change is made and cannot be taken back; say so loudly rather
        // than answer an error the client would retry.
        state.metrics.audit_failed();
        tracing::error!(error = %e, "the audit entry of an answered request was not written");
    }
    response
}

/// The `id` of a JSON answer (a created or changed resource), if small
/// enough to read; the answer is passed on unchanged.
async fn created_id(response: Response) -> (Response, Option<String>) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= CREATED_BODY_BYTES_MAX);
    if !is_json || !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, CREATED_BODY_BYTES_MAX as usize).await else {
        return (Response::from_parts(parts, Body::empty()), None);
    };
    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
    (Response::from_parts(parts, Body::from(bytes)), id)
}
