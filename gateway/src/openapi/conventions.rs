//! What the edge does for every operation, written into the document once
//! instead of on every handler: who may call it (security), the errors
//! the edge itself can answer before a handler runs (bad key, scope, rate,
//! body), and the headers every answer carries. Paths say which class an
//! operation is in, the same way the edge decides (`/v1/` is keyed,
//! `/admin/v1/` takes the admin token).

use turnout_core::openapi::ProblemSchema;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required};

const PROBLEM: &str = "application/problem+json";

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// An API key; a user token when the route acts for a person.
    Keyed { user: UserToken },
    /// The admin token.
    Admin,
    /// Nothing: operations, webhooks (signed by their provider),
    /// unsubscribe links, documentation.
    Open,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UserToken {
    Never,
    Optional,
    Required,
}

fn class(path: &str) -> Class {
    if path.starts_with("/admin/") {
        return Class::Admin;
    }
    if !path.starts_with("/v1/") {
        return Class::Open;
    }
    let user = if path == "/v1/me" || path.starts_with("/v1/me/") || path == "/v1/auth/logout" {
        UserToken::Required
    } else if path == "/v1/auth/otp" || path == "/v1/auth/token" {
        UserToken::Never
    } else {
        UserToken::Optional
    };
    Class::Keyed { user }
}

pub fn apply(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    // The problem schema, with what it refers to: every error response
    // below points at it, whether or not a handler named it.
    let mut problem_schemas = vec![(
        <ProblemSchema as utoipa::ToSchema>::name().into_owned(),
        <ProblemSchema as utoipa::PartialSchema>::schema(),
    )];
    <ProblemSchema as utoipa::ToSchema>::schemas(&mut problem_schemas);
    components.schemas.extend(problem_schemas);
    components.security_schemes.insert(
        "api_key".into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(
            ApiKeyValue::with_description(
                "X-Api-Key",
                "`tk_<public id>_<secret>`, from `POST /admin/v1/keys` or `turnout keys create`.",
            ),
        ))),
    );
    components.security_schemes.insert(
        "api_key_query".into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "api_key",
            "The same key as a query parameter (Mashery's convention); stripped before a request is proxied.",
        )))),
    );
    components.security_schemes.insert(
        "user_token".into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An app user's access token from `POST /v1/auth/token`, sent beside the API key.",
                ))
                .build(),
        )),
    );
    components.security_schemes.insert(
        "admin_token".into(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The operators' token: from config, or printed once on first start; `turnout admin-token rotate` replaces it.",
                ))
                .build(),
        )),
    );
    for (name, description) in HEADERS {
        components.headers.insert(
            name.to_string(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(description))
                    .build(),
            ),
        );
    }

    // Errors the edge answers alike everywhere are shared responses,
    // referenced by each operation.
    let mut shared = std::collections::BTreeMap::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let class = class(path);
        let keyed = matches!(class, Class::Keyed { .. });
        let has_id = path.contains('{');
        for (method, op) in operations(item) {
            let writes = matches!(method, "post" | "put" | "patch" | "delete");
            let has_body = op.request_body.is_some();
            op.security = Some(security(class));
            let mut errors: Vec<(u16, &str, &str)> = Vec::new();
            match class {
                Class::Keyed { user } => {
                    errors.push((
                        400,
                        "BadRequest",
                        "`malformed_body`, `invalid_path` or `invalid_idempotency_key`.",
                    ));
                    errors.push(match user {
                        UserToken::Never => (401, "InvalidKey", "`invalid_api_key`: missing or unknown key."),
                        _ => (401, "InvalidKeyOrToken", "`invalid_api_key`: missing or unknown key; `invalid_token`: a user token that is missing where needed, or wrong, or expired."),
                    });
                    errors.push((403, "Forbidden", "`key_disabled`, or `forbidden`: outside the key's scopes or the token's role."));
                    if has_id {
                        errors.push((404, "NotFound", "`not_found`."));
                    }
                    if has_body {
                        errors.push((
                            408,
                            "RequestTimeout",
                            "`request_timeout`: the body did not arrive in time.",
                        ));
                        errors.push((413, "PayloadTooLarge", "`payload_too_large`."));
                        errors.push((415, "UnsupportedMediaType", "`unsupported_media_type`: the body is not in a type the operation reads."));
                    }
                    errors.push((
                        422,
                        "ValidationFailed",
                        "`validation_failed`, with field-level `errors`.",
                    ));
                    if writes {
                        errors.push((
                            409,
                            "IdempotencyConflict",
                            "`conflict`: a request with this Idempotency-Key is still in progress.",
                        ));
                    }
                    errors.push((
                        429,
                        "TooManyRequests",
                        "`rate_limited` or `quota_exceeded`, with Retry-After.",
                    ));
                    errors.push((503, "Unavailable", "`rate_limiter_unavailable` (a `deny` plan while the shared limiter is down) or `search_unavailable`, with Retry-After."));
                    if writes {
                        add_idempotency_key(op);
                    }
                }
                Class::Admin => {
                    errors.push((400, "AdminBadRequest", "`malformed_body`."));
                    errors.push((401, "InvalidAdminToken", "`invalid_admin_token`."));
                    if has_id {
                        errors.push((404, "NotFound", "`not_found`."));
                    }
                    if has_body {
                        errors.push((413, "PayloadTooLarge", "`payload_too_large`."));
                        errors.push((415, "UnsupportedMediaType", "`unsupported_media_type`: the body is not in a type the operation reads."));
                    }
                    errors.push((
                        422,
                        "ValidationFailed",
                        "`validation_failed`, with field-level `errors`.",
                    ));
                }
                Class::Open => {}
            }
            for (status, name, description) in errors {
                shared.entry(name.to_string()).or_insert_with(|| {
                    let mut r = problem(description);
                    add_headers(&mut r, &status.to_string(), keyed);
                    RefOr::T(r)
                });
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                    });
            }
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                // Every error is problem+json: a handler names the status
                // and why, and the body is written here once.
                if status.starts_with(['4', '5']) && response.content.is_empty() {
                    response
                        .content
                        .insert(PROBLEM.to_string(), RefOr::T(problem_content()));
                }
                add_headers(response, status, keyed);
            }
        }
    }
    doc.components
        .get_or_insert_with(Default::default)
        .responses
        .extend(shared);
}

const HEADERS: [(&str, &str); 5] = [
    (
        "X-Request-Id",
        "Echoes the client's (up to 128 visible characters) or a new one.",
    ),
    (
        "RateLimit-Policy",
        "The key's limits, e.g. `\"rate\";q=20;w=2, \"day\";q=100000;w=86400` (draft-ietf-httpapi-ratelimit-headers).",
    ),
    (
        "RateLimit",
        "What is left, e.g. `\"rate\";r=19;t=1`, and the same for the quota closest to running out.",
    ),
    ("Retry-After", "Seconds to wait before trying again."),
    ("Cache-Control", "`no-store` on token responses."),
];

fn header_ref(name: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

fn add_headers(response: &mut Response, status: &str, keyed: bool) {
    let mut add = |name: &str| {
        response
            .headers
            .entry(name.to_string())
            .or_insert_with(|| header_ref(name));
    };
    add("X-Request-Id");
    if keyed && (status.starts_with('2') || status == "429") {
        add("RateLimit-Policy");
        add("RateLimit");
    }
    if status == "429" || status == "503" {
        add("Retry-After");
    }
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM, problem_content())
        .build()
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

fn security(class: Class) -> Vec<SecurityRequirement> {
    let key = |with_user: bool| {
        ["api_key", "api_key_query"].map(|k| {
            let r = SecurityRequirement::new(k, Vec::<String>::new());
            if with_user {
                r.add("user_token", Vec::<String>::new())
            } else {
                r
            }
        })
    };
    match class {
        Class::Keyed {
            user: UserToken::Never,
        } => key(false).to_vec(),
        Class::Keyed {
            user: UserToken::Required,
        } => key(true).to_vec(),
        Class::Keyed {
            user: UserToken::Optional,
        } => key(false).into_iter().chain(key(true)).collect(),
        Class::Admin => vec![SecurityRequirement::new(
            "admin_token",
            Vec::<String>::new(),
        )],
        // An empty requirement: explicitly no authentication.
        Class::Open => vec![SecurityRequirement::default()],
    }
}

fn add_idempotency_key(op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    let present = params
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.name == "Idempotency-Key"));
    if !present {
        params.push(RefOr::T(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "1 to 255 visible ASCII characters. The same key and body within 24 h answer the first response again and do nothing; the same key with another body is 422. Scoped to the API key.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(255))
                        .pattern(Some("^[!-~]+$")),
                ))
                .build(),
        ));
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}
