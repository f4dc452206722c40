//! Who is calling: a front proxy's request headers on a connection that presented its
//! certificate, else a bearer token; and the latency of every authenticated request.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rustls::pki_types::UnixTime;

use crate::apiserver::error::ApiError;
use crate::apiserver::error::GroupResource;
use crate::apiserver::http::header_text;
use crate::apiserver::state::{Auth, Caller};
use crate::auth::impersonation::{self, Impersonation};
use crate::auth::requestheader::{self, RequestHeaderAuthenticator, Verdict};
use crate::auth::{bearer_token, UserInfo};
use crate::metrics::{ApiLabels, Metrics};
use crate::server::PeerCertificates;

/// Records the API request latency (until the response head; watch bodies stream on).
pub(super) async fn observe_latency(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = ApiLabels::method(request.method());
    let response = next.run(request).await;
    let labels = ApiLabels {
        method,
        code: response.status().as_u16(),
    };
    let seconds = started.elapsed().as_secs_f64();
    metrics.api.count(&labels, seconds);
    response
}

/// The caller goes into extensions: the front proxy's user when the connection presented a
/// trusted front-proxy certificate (401 if it names none), else the bearer token's (401 if
/// unknown). A request asking for impersonation is then refused (403): see
/// [`crate::auth::impersonation`].
pub(super) async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = match front_proxy_verdict(&mut request) {
        Verdict::User(found) => found.user,
        Verdict::MissingUser => return ApiError::Unauthorized.into_response(),
        Verdict::NotFrontProxy => match bearer_user(&auth, request.headers()) {
            Some(user) => user,
            None => return ApiError::Unauthorized.into_response(),
        },
    };
    if let Some(wanted) = impersonation::requested(request.headers()) {
        let refused = impersonation_refused(&user.name, wanted);
        return match read_raw_by_clients(request.method(), request.uri().path()) {
            true => plain_text(&refused),
            false => refused.into_response(),
        };
    }
    request.extensions_mut().insert(Caller(Arc::new(user)));
    next.run(request).await
}

/// kube-apiserver's 403 for a caller lacking `impersonate`, saying why nobody has it here.
fn impersonation_refused(user: &str, wanted: Impersonation) -> ApiError {
    let target = match wanted.subresource.as_str() {
        "" => wanted.resource.to_string(),
        key => format!("{}/{key}", wanted.resource),
    };
    ApiError::Forbidden {
        resource: Some(GroupResource::new("", wanted.resource)),
        name: wanted.name,
        reason: format!(
            "User {user:?} cannot impersonate resource {target:?} in API group \"\" at the \
             cluster scope: impersonation is not supported by this server"
        ),
    }
}

/// Whether client-go reads `path`'s answer without decoding a failure's Status: the discovery
/// and OpenAPI documents, which it fetches with `Raw()` and reports, for a JSON body, as
/// `Forbidden: unknown` (so `kubectl --as=bob get is` against kube-apiserver says no more).
fn read_raw_by_clients(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    *method == Method::GET
        && matches!(
            segments.as_slice(),
            ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] | ["openapi", ..]
        )
}

/// `error`'s message as `text/plain`, the only body client-go's `Raw()` quotes in its error.
fn plain_text(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::FORBIDDEN);
    let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    (code, content_type, error.message()).into_response()
}

/// The request-header verdict; the request-header headers are removed from the request
/// either way, so nothing downstream sees an assertion nobody vouched for.
fn front_proxy_verdict(request: &mut Request) -> Verdict {
    let Some(authenticator) = request
        .extensions()
        .get::<Arc<RequestHeaderAuthenticator>>()
        .cloned()
    else {
        return Verdict::NotFrontProxy;
    };
    let chain = request.extensions().get::<PeerCertificates>().cloned();
    let verdict = authenticator.authenticate(
        chain.as_ref().map(|chain| &chain.0[..]),
        request.headers(),
        UnixTime::now(),
    );
    requestheader::strip_headers(authenticator.config(), request.headers_mut());
    verdict
}

fn bearer_user(auth: &Auth, headers: &HeaderMap) -> Option<UserInfo> {
    let token = header_text(headers, header::AUTHORIZATION).and_then(bearer_token)?;
    auth.tokens.authenticate(token).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, paths: &[&str], expected: bool) {
        for path in paths {
            assert_eq!(
                read_raw_by_clients(&method, path),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn discovery_and_openapi_documents_are_read_raw() {
        let documents = [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/",
            "/apis/image.openshift.io",
            "/apis/image.openshift.io/v1",
            "/openapi/v2",
            "/openapi/v3/apis/image.openshift.io/v1",
        ];
        check(Method::GET, &documents, true);
        check(Method::POST, &documents, false);
    }

    #[test]
    fn resource_paths_are_decoded_as_a_status() {
        let resources = [
            "/api/v1/namespaces",
            "/apis/image.openshift.io/v1/imagestreams",
            "/apis/image.openshift.io/v1/namespaces/ns/imagestreams/app",
        ];
        check(Method::GET, &resources, false);
    }
}
