//! The OpenAPI 3.1 document, assembled from the handlers' annotations.
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::api;
use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Orrery control plane",
        description = "Accounts, users, namespaces, certificates and API keys. Errors are application/problem+json (RFC 9457)."
    ),
    modifiers(&Security),
    // The signed snapshot's `snapshot` claim: documented though the route
    // answers the JWS as text.
    components(schemas(orrery_tenant_auth::Snapshot)),
    tags(
        (name = "accounts"), (name = "sessions"), (name = "users"),
        (name = "service-accounts"), (name = "namespaces"), (name = "mtls"),
        (name = "api-keys"), (name = "audit"),
        (name = "metrics", description = "Tenant metrics in Temporal Cloud's OpenMetrics format (owner, admin, metrics_read)"),
        (name = "usage", description = "Usage, invoices and the usage CSV (owner, admin, finance_admin)"),
        (name = "admin", description = "Operator routes (bootstrap admin token)"),
        (name = "internal", description = "Routes cells call (a cell's credential)")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Set by POST /api/v1/login; mutating requests also need the x-csrf-token header",
            ))),
        );
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer("An API key"));
        components.add_security_scheme("bootstrap_admin", bearer("The bootstrap admin token"));
        components.add_security_scheme("cell_token", bearer("A cell's credential (`orrery-cell.<cell id>.<secret>`), issued when the cell is registered"));
    }
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::accounts::routes())
        .merge(api::sessions::routes())
        .merge(api::users::routes())
        .merge(api::service_accounts::routes())
        .merge(api::namespaces::routes())
        .merge(api::search_attributes::routes())
        .merge(api::archival::routes())
        .merge(api::console_tokens::routes())
        .merge(api::codec::routes())
        .merge(api::permissions::routes())
        .merge(api::mtls::routes())
        .merge(api::api_keys::routes())
        .merge(api::audit::routes())
        .merge(api::metrics::routes())
        .merge(api::usage::routes())
        .merge(api::invoices::routes())
        .merge(api::cells::routes())
        .merge(api::signing_keys::routes())
        .merge(api::internal::routes())
}

/// The document alone, e.g. to write it to a file.
pub fn document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}
