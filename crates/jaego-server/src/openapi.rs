//! The OpenAPI 3.1 document, generated from the handlers' annotations as
//! the routers register them (see `routes`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
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
/// the sign-in routes under `/auth` (which take no bearer token), with the
/// error answers every operation can give (see [`problem_responses`]).
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            routes::api()
                .merge(routes::unreplayed())
                .merge(routes::hooks()),
        )
        .merge(routes::auth::router())
        .split_for_parts();
    problem_responses(&mut doc);
    doc
}

/// The error answers any `/api/v1` operation can give, whatever its
/// handler documents: they come from the layers every request passes
/// (authentication, the CSRF check, body limits and parsing, the overload
/// gate), so they are added here once rather than on every handler.
const COMMON_ERRORS: [(&str, &str); 8] = [
    (
        "400",
        "`malformed_json`: the body is not JSON, or nests too deep",
    ),
    ("401", "`unauthorized`: no valid bearer token or session"),
    (
        "403",
        "`forbidden`: the role may not do this; `csrf_failed`: a session's change without its CSRF token",
    ),
    ("404", "`not_found`: no such thing in this tenant"),
    ("413", "`payload_too_large`"),
    ("415", "`unsupported_media_type`"),
    ("422", "`invalid_input`: the fields that were wrong"),
    (
        "503",
        "`overloaded` or `unavailable`: retry after `Retry-After` seconds",
    ),
];

/// Makes every error answer of the document `application/problem+json`
/// (which is what the server sends) and adds [`COMMON_ERRORS`] to every
/// operation that does not document them itself.
fn problem_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for (status, response) in &mut op.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                if (status.starts_with('4') || status.starts_with('5'))
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response
                        .content
                        .insert("application/problem+json".into(), content);
                }
            }
            for (status, description) in COMMON_ERRORS {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem())
                                .build(),
                        )
                    });
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // Inbound channel webhooks authenticate by an HMAC signature of the
        // body with the channel's secret (`jaego_core::signature`).
        components.add_security_scheme(
            "channel_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
                jaego_core::signature::HEADER,
            ))),
        );
    }
}

#[cfg(test)]
mod tests {
    use jaego_core::role::Permission;

    /// Every operation names exactly one permission as its bearer scope, so
    /// the access-control tests can tell what each route expects; the one
    /// exception is a channel's signed webhook, which names the
    /// `channel_signature` scheme instead.
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
                if path.starts_with("/api/v1/hooks/") {
                    assert!(
                        op["security"][0]["channel_signature"].is_array(),
                        "{method} {path}"
                    );
                    continue;
                }
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

    /// The document keys its schemas by type name, and a second type of
    /// the same name silently replaces the first: the operations of the
    /// first then document the wrong body (Schemathesis caught two such).
    /// So every `ToSchema` type under `src/` has a name of its own, or
    /// says `#[schema(as = ...)]`.
    #[test]
    fn every_schema_name_is_used_once() {
        fn walk(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let mut lines = text.lines();
                while let Some(line) = lines.next() {
                    let line = line.trim();
                    if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
                        continue;
                    }
                    let mut renamed = false;
                    for next in lines.by_ref() {
                        let next = next.trim();
                        renamed |= next.starts_with("#[schema(") && next.contains("as =");
                        let item = next.strip_prefix("pub ").unwrap_or(next);
                        let Some(rest) = item
                            .strip_prefix("struct ")
                            .or_else(|| item.strip_prefix("enum "))
                        else {
                            continue;
                        };
                        if !renamed {
                            let name: String = rest
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            found.push((name, path.display().to_string()));
                        }
                        break;
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.len() > 100, "only {} schema types found", found.len());
        found.sort();
        let twice: Vec<_> = found
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| format!("{} in {} and {}", w[0].0, w[0].1, w[1].1))
            .collect();
        assert!(twice.is_empty(), "schema names used twice: {twice:#?}");
    }
}
