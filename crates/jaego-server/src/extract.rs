//! Extractors whose rejections are our problem+json, and the caller's
//! identity.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use jaego_core::role::Permission;
use jaego_store::tenants::Principal;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` that answers bad bodies with problem+json: 400 for malformed
/// JSON, 422 for unknown fields or wrong types (naming them), 413, 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
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
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid("body", e.to_string()),
        _ => ApiError::Malformed(e.to_string()),
    })
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
#[derive(Clone)]
pub struct Auth(pub Principal);

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
