//! Extractors whose rejections are our problem+json, and the caller's
//! identity.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use jaego_core::limits::JSON_DEPTH_MAX;
use jaego_core::role::Permission;
use jaego_core::{ChannelId, TenantId};
use jaego_store::tenants::Principal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` that answers bad bodies with problem+json: 400 for malformed
/// JSON or nesting deeper than [`JSON_DEPTH_MAX`] (refused before any
/// deserialising), 422 for unknown fields or wrong types (naming them), 413,
/// 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::TooLarge(e.body_text()))?;
        check_depth(&bytes)?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// `application/json` or any `application/…+json` type.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Refuses JSON nested deeper than [`JSON_DEPTH_MAX`] arrays and objects,
/// by a scan of the bytes before any parser recurses into them.
pub fn check_depth(bytes: &[u8]) -> Result<(), ApiError> {
    match json_depth_exceeds(bytes, JSON_DEPTH_MAX) {
        false => Ok(()),
        true => Err(ApiError::Malformed(format!(
            "the body nests arrays and objects more than {JSON_DEPTH_MAX} deep"
        ))),
    }
}

/// Whether `bytes` opens more than `max` arrays or objects inside each
/// other (strings and their escapes are skipped; validity is the parser's
/// business).
pub fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // axum reports `path.to.field: what is wrong at line L column C`.
            let text =
                std::error::Error::source(e).map_or_else(|| e.body_text(), ToString::to_string);
            match text.split_once(": ") {
                Some((field, reason)) if !field.contains(' ') => ApiError::invalid(field, reason),
                _ => ApiError::invalid("body", text),
            }
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::Malformed(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send Content-Type: application/json".into())
        }
        JsonRejection::BytesRejection(e) => ApiError::TooLarge(e.body_text()),
        other => ApiError::Malformed(other.body_text()),
    }
}

/// Parses an optional JSON body: empty means `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json_body(bytes)
}

/// Parses a JSON body read as bytes (a signed webhook's, whose signature
/// is checked on the bytes first) with [`ApiJson`]'s answers: 400 for
/// malformed or too deep, 422 for the wrong shape.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_depth(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid("body", e.to_string()),
        _ => ApiError::Malformed(e.to_string()),
    })
}

/// The tenant and channel of a channel's signed webhook call: `body` must
/// carry the channel's webhook secret's signature in the
/// [`jaego_core::signature::HEADER`] header. An unknown channel, a channel
/// without a webhook and a bad or stale signature all answer 401, so the
/// endpoint tells a stranger nothing.
pub async fn signed_channel(
    state: &crate::AppState,
    channel: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(TenantId, ChannelId), ApiError> {
    let c: ChannelId = channel.parse().map_err(|_| ApiError::Unauthorized)?;
    let Some((tenant, secret)) = state.store.webhook_target(c).await? else {
        return Err(ApiError::Unauthorized);
    };
    let header = headers
        .get(jaego_core::signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let now = jaego_store::now_us() / 1_000_000;
    jaego_core::signature::verify(secret.as_bytes(), header, body, now)
        .map_err(|_| ApiError::Unauthorized)?;
    Ok((tenant, c))
}

/// `Query<T>` with problem+json rejections.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::invalid("query", e.body_text()))
            }
            Err(other) => Err(ApiError::invalid("query", other.body_text())),
        }
    }
}

/// The authenticated caller, put in the request by the auth middleware.
/// The same for a bearer token and for a browser session.
#[derive(Clone)]
pub struct Auth(pub Principal);

/// The CSRF token of the caller's session, for pages to put in their forms
/// (`<input type="hidden" name="csrf_token" value="…">`) and scripts to
/// send as `X-CSRF-Token`. Only session-authenticated requests have one;
/// extracting it elsewhere answers 401.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

impl Auth {
    /// Refuses with 403 unless the caller's role allows `permission`;
    /// `action` says what was refused.
    pub fn require(
        &self,
        permission: Permission,
        action: &'static str,
    ) -> Result<&Principal, ApiError> {
        if self.0.role.allows(permission) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(action))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// Parses an id from a path segment; a malformed id is simply not found, so
/// ids of other tenants and garbage look the same.
pub fn path_id<T: std::str::FromStr>(raw: &str, entity: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("{entity} {raw} not found")))
}

/// Every id of a list field: an entry that is not an id is bad input
/// named `field[i]`. `what` completes "is not a …".
pub fn field_ids<'a, T: std::str::FromStr>(
    raws: impl IntoIterator<Item = &'a str>,
    field: &str,
    what: &str,
) -> Result<Vec<T>, ApiError> {
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            raw.parse().map_err(|_| {
                ApiError::invalid(format!("{field}[{i}]"), format!("{raw:?} is not {what}"))
            })
        })
        .collect()
}

/// A field's named value (a mode, a kind, a policy): what the type's
/// `FromStr` refuses is bad input in `field`, with its message.
pub fn parse_enum<T: std::str::FromStr<Err = String>>(
    field: &str,
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse().map_err(|e: String| ApiError::invalid(field, e))
}

/// For a look-up by a field's id or code: a key that names nothing is bad
/// input in `field` (`422`); any other store error passes through.
pub fn unknown(
    field: impl Into<String>,
    what: &'static str,
    raw: &str,
) -> impl FnOnce(jaego_store::StoreError) -> ApiError {
    let field = field.into();
    let raw = raw.to_string();
    move |e| match e {
        jaego_store::StoreError::NotFound { .. } => {
            ApiError::invalid(field, format!("no {what} has the id or code {raw:?}"))
        }
        other => other.into(),
    }
}

/// An optional id in a body or query field: `None` when absent; a value
/// that is not an id is bad input (`422` naming `field`), unlike
/// [`path_id`]'s `404`. `what` completes "is not a …".
pub fn field_id<T: std::str::FromStr>(
    raw: Option<&str>,
    field: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|r| {
        r.parse()
            .map_err(|_| ApiError::invalid(field, format!("is not {what}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::json_depth_exceeds;

    #[test]
    fn depth_counts_arrays_and_objects_outside_strings() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!json_depth_exceeds(deep(32).as_bytes(), 32));
        assert!(json_depth_exceeds(deep(33).as_bytes(), 32));
        assert!(!json_depth_exceeds(
            br#"{"a": "[[[[[[", "b": {"c": [1]}}"#,
            3
        ));
        assert!(json_depth_exceeds(br#"{"a": {"b": {"c": 1}}}"#, 2));
        // An escaped quote does not end the string.
        assert!(!json_depth_exceeds(br#"["\"[[[["]"#, 1));
    }
}
