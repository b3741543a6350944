//! The OpenAPI 3.1 document, generated from the handlers' annotations as
//! the routers register them (see `routes`).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem, ShortageBody};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "jaego", description = "Multichannel inventory and order management. Every error is RFC 9457 problem+json with a stable `code`."),
    components(schemas(Problem, FieldError, ShortageBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The whole document: [`ApiDoc`]'s header, every `/api/v1` route, and
/// the sign-in routes under `/auth` (which take no bearer token).
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", routes::api().merge(routes::unreplayed()))
        .merge(routes::auth::router())
        .split_for_parts();
    doc
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[cfg(test)]
mod tests {
    use jaego_core::role::Permission;

    /// Every operation names exactly one permission as its bearer scope, so
    /// the access-control tests can tell what each route expects.
    #[test]
    fn every_operation_names_its_permission() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 20, "only {} paths", paths.len());
        for (path, item) in paths {
            if path.starts_with("/auth/") {
                // Sign-in routes: public, cookie-based, no bearer scope.
                for (method, op) in item.as_object().unwrap() {
                    assert_eq!(op["security"], serde_json::json!([{}]), "{method} {path}");
                }
                continue;
            }
            assert!(path.starts_with("/api/v1/"), "{path}");
            for (method, op) in item.as_object().unwrap() {
                let scopes = &op["security"][0]["bearer"];
                let scopes = scopes
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} declares no bearer scope: {op}"));
                assert_eq!(scopes.len(), 1, "{method} {path}");
                let scope = scopes[0].as_str().unwrap();
                assert!(
                    Permission::from_scope(scope).is_some(),
                    "{method} {path}: unknown scope {scope}"
                );
            }
        }
    }
}
