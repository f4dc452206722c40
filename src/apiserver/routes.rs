//! The router: discovery and OpenAPI documents, and one dispatcher for every resource path,
//! behind authentication: request headers from a trusted front proxy, else a bearer token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use jiff::Timestamp;
use rustls::pki_types::UnixTime;
use serde_json::json;

use super::discovery::{self, AggregatedVersion};
use super::error::ApiError;
use super::handlers::delete;
use super::handlers::write::{self, WriteRequest};
use super::handlers::{body, read, subresource, watch, Target};
use super::http::{self, header_text};
use super::negotiate::{self, Endpoint, Output};
use super::openapi;
use super::options::{DeleteOptions, ListRequest, Query, WriteOptions, WriteVerb};
use super::patch::{manager_from_user_agent, update_managed_fields, Subresource};
use super::path::{self, ApiPath};
use super::resource::Kind;
use super::state::{ApiState, Caller};
use crate::auth::requestheader::{self, RequestHeaderAuthenticator, Verdict};
use crate::auth::{bearer_token, Attributes, UserInfo};
use crate::server::PeerCertificates;

/// The API routes. `/version` needs no token; everything else here does.
pub fn router(state: ApiState) -> Router {
    let authenticated = Router::new()
        .route("/api", get(core_versions))
        .route("/apis", get(group_list))
        .route("/api/{*rest}", any(dispatch))
        .route("/apis/{*rest}", any(dispatch))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_group_version))
        .route("/openapi/v2", get(openapi_v2))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe_latency,
        ));
    Router::new()
        .route("/version", get(version))
        .merge(authenticated)
        .fallback(not_found)
        .with_state(state)
}

/// Every other path: the path-not-found Status, so clients always get JSON.
async fn not_found() -> Response {
    ApiError::PathNotFound.into_response()
}

/// Enables request-header authentication on `router` (from [`router`]): requests whose
/// connection presented a front-proxy certificate are authenticated by their headers.
pub fn with_request_header(router: Router, authenticator: RequestHeaderAuthenticator) -> Router {
    // An extension rather than a field of `ApiState`, so the state stays as it is; the
    // middleware below finds it in every request.
    router.layer(Extension(Arc::new(authenticator)))
}

/// Records the API request latency (until the response head; watch bodies stream on).
async fn observe_latency(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .api_duration
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The caller goes into extensions: the front proxy's user when the connection presented a
/// trusted front-proxy certificate (401 if it names none), else the bearer token's (401 if
/// unknown).
async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let user = match front_proxy_verdict(&mut request) {
        Verdict::User(found) => found.user,
        Verdict::MissingUser => return ApiError::Unauthorized.into_response(),
        Verdict::NotFrontProxy => match bearer_user(&state, request.headers()) {
            Some(user) => user,
            None => return ApiError::Unauthorized.into_response(),
        },
    };
    request.extensions_mut().insert(Caller(Arc::new(user)));
    next.run(request).await
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

fn bearer_user(state: &ApiState, headers: &HeaderMap) -> Option<UserInfo> {
    let token = header_text(headers, header::AUTHORIZATION).and_then(bearer_token)?;
    state.auth.tokens.authenticate(token).cloned()
}

async fn version() -> Response {
    let info = discovery::version_info(&discovery::BuildInfo::CURRENT);
    http::json(StatusCode::OK, "application/json", &info)
}

async fn core_versions(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    match discovery::negotiate_aggregated(header_text(&headers, header::ACCEPT)) {
        Some(version) => aggregated(version, discovery::aggregated_core(version)),
        None => http::json(
            StatusCode::OK,
            "application/json",
            &discovery::api_versions(&state.server_address),
        ),
    }
}

async fn group_list(headers: HeaderMap) -> Response {
    match discovery::negotiate_aggregated(header_text(&headers, header::ACCEPT)) {
        Some(version) => aggregated(version, discovery::aggregated_apis(version)),
        None => http::json(
            StatusCode::OK,
            "application/json",
            &discovery::api_group_list(),
        ),
    }
}

fn aggregated(version: AggregatedVersion, body: serde_json::Value) -> Response {
    http::json(StatusCode::OK, version.content_type(), &body)
}

async fn openapi_index() -> Response {
    let document = openapi::v3_index();
    http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
}

async fn openapi_group_version(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches("/openapi/v3/");
    match openapi::v3_group_version(path) {
        Some(document) => {
            http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
        }
        None => ApiError::PathNotFound.into_response(),
    }
}

/// Swagger 2.0 in JSON only; kubectl asks for protobuf and tolerates the 404.
async fn openapi_v2(headers: HeaderMap) -> Response {
    let accept = header_text(&headers, header::ACCEPT).unwrap_or("");
    if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
        return ApiError::PathNotFound.into_response();
    }
    http::bytes_response(
        StatusCode::OK,
        openapi::JSON_CONTENT_TYPE,
        openapi::v2().bytes(),
    )
}

/// Every `/api/...` and `/apis/...` path: group documents, then resources.
async fn dispatch(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(document) = group_document(uri.path()) {
        return match method {
            Method::GET => http::json(StatusCode::OK, "application/json", &document),
            _ => ApiError::MethodNotAllowed.into_response(),
        };
    }
    let call = Call {
        state: &state,
        caller: &caller,
        method: &method,
        headers: &headers,
        query: Query::parse(uri.query()),
    };
    match call.serve(uri.path(), body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// `/apis/<group>`, `/apis/<group>/<version>` and `/api/v1`.
fn group_document(path: &str) -> Option<serde_json::Value> {
    let trimmed = path.trim_end_matches('/');
    match trimmed
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["apis", group] => discovery::api_group(group),
        ["apis", _, _] | ["api", _] => discovery::api_resource_list_for(trimmed),
        _ => None,
    }
}

/// One resource request being served.
struct Call<'a> {
    state: &'a ApiState,
    caller: &'a Caller,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: Query,
}

impl Call<'_> {
    async fn serve(&self, path: &str, body: Body) -> Result<Response, ApiError> {
        let api_path = path::parse(path)?;
        if is_events_list(&api_path) && self.method == Method::GET {
            let empty =
                json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": []});
            return Ok(http::json(StatusCode::OK, "application/json", &empty));
        }
        let target = target_of(api_path)?;
        let verb = self.verb(&target)?;
        self.authorize(verb, &target)?;
        match (verb, target.subresource.as_deref()) {
            ("list" | "watch", _) => self.list(&target).await,
            ("get", Some("layers")) => subresource::layers(self.state, &target).await,
            ("get", Some("secrets")) => self.secrets(&target).await,
            ("get", _) => read::get(self.state, &target, self.output(Endpoint::Object)?).await,
            ("create", _) => self.create(&target, body).await,
            ("update", _) => self.update(&target, body).await,
            ("patch", _) => self.patch(&target, body).await,
            ("delete", _) => self.delete(&target, body).await,
            ("deletecollection", _) => self.delete_collection(&target, body).await,
            _ => Err(ApiError::MethodNotAllowed),
        }
    }

    /// The Kubernetes verb of this method on this target; 405 where it does not apply.
    fn verb(&self, target: &Target) -> Result<&'static str, ApiError> {
        let item = target.name.is_some();
        if let Some(subresource) = &target.subresource {
            let allowed = target
                .kind
                .subresource_verbs(subresource)
                .ok_or(ApiError::PathNotFound)?;
            let verb = item_verb(self.method).ok_or(ApiError::MethodNotAllowed)?;
            return allowed
                .contains(&verb)
                .then_some(verb)
                .ok_or(ApiError::MethodNotAllowed);
        }
        let verb = match (self.method.clone(), item) {
            (Method::GET, true) => "get",
            (Method::GET, false) if is_watch(&self.query) => "watch",
            (Method::GET, false) => "list",
            (Method::POST, false) => "create",
            (Method::DELETE, false) => "deletecollection",
            (method, true) => item_verb(&method).ok_or(ApiError::MethodNotAllowed)?,
            _ => return Err(ApiError::MethodNotAllowed),
        };
        if verb == "create" && target.kind.namespaced() && target.namespace.is_none() {
            return Err(ApiError::MethodNotAllowed);
        }
        Ok(verb)
    }

    fn authorize(&self, verb: &str, target: &Target) -> Result<(), ApiError> {
        let resource = match &target.subresource {
            Some(subresource) => format!("{}/{subresource}", target.kind.plural()),
            None => target.kind.plural().to_string(),
        };
        let attributes = Attributes {
            verb,
            resource: &resource,
            group: target.kind.group_resource().group,
            namespace: target.namespace.as_deref().unwrap_or(""),
            name: target.name(),
        };
        if self.state.auth.allows(&self.caller.0, &attributes) {
            return Ok(());
        }
        Err(ApiError::access_denied(
            &self.caller.0.name,
            verb,
            target.kind.group_resource(),
            target.subresource.as_deref().unwrap_or(""),
            attributes.namespace,
            target.name(),
        ))
    }

    fn output(&self, endpoint: Endpoint) -> Result<Output, ApiError> {
        negotiate::negotiate_output(
            header_text(self.headers, header::ACCEPT),
            endpoint,
            self.query.get("includeObject"),
        )
    }

    async fn list(&self, target: &Target) -> Result<Response, ApiError> {
        match ListRequest::parse(&self.query, target.kind.fields(), true)? {
            ListRequest::List(options) => {
                read::list(self.state, target, &options, self.output(Endpoint::List)?).await
            }
            ListRequest::Watch(options) => {
                let output = self.output(Endpoint::Watch)?;
                watch::watch(self.state.clone(), target.clone(), options, output).await
            }
        }
    }

    async fn secrets(&self, target: &Target) -> Result<Response, ApiError> {
        match ListRequest::parse(&self.query, Kind::Secret.fields(), false)? {
            ListRequest::List(options) => subresource::secrets(self.state, target, &options).await,
            ListRequest::Watch(_) => Err(ApiError::MethodNotAllowed),
        }
    }

    /// POST: the body's fields checked per `fieldValidation`, the creator recorded in
    /// managedFields before the kind's rules run.
    async fn create(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let options = WriteOptions::parse(&self.query, WriteVerb::Create)?;
        let (mut object, warnings) = self.decode(target, body, &options).await?;
        let manager = self.manager(&options);
        if target.kind == Kind::ImageStream {
            update_managed_fields(
                None,
                &mut object,
                &manager,
                Subresource::Main,
                Timestamp::now(),
            );
        }
        let request = self.write_request(target, options.dry_run, &manager);
        let mut response = write::create(self.state, &request, object).await?;
        http::add_warnings(&mut response, &warnings);
        Ok(response)
    }

    async fn update(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let options = WriteOptions::parse(&self.query, WriteVerb::Update)?;
        let (object, warnings) = self.decode(target, body, &options).await?;
        let manager = self.manager(&options);
        let request = self.write_request(target, options.dry_run, &manager);
        let mut response = write::update(self.state, &request, object).await?;
        http::add_warnings(&mut response, &warnings);
        Ok(response)
    }

    async fn patch(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let kind = negotiate::patch_kind(header_text(self.headers, header::CONTENT_TYPE))?;
        let options = WriteOptions::parse(&self.query, WriteVerb::Patch(kind))?;
        let body = http::read_body(body).await?;
        let manager = self.manager(&options);
        let request = self.write_request(target, options.dry_run, &manager);
        super::handlers::patch::patch(
            self.state,
            &request,
            kind,
            &options,
            &body,
            self.user_agent(),
        )
        .await
    }

    /// `DeleteOptions` from the body, or from the query when the body is empty.
    async fn delete_options(&self, body: Body) -> Result<DeleteOptions, ApiError> {
        let body = http::read_body(body).await?;
        let content_type = header_text(self.headers, header::CONTENT_TYPE);
        DeleteOptions::parse(&body, content_type, &self.query)
    }

    async fn delete(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let options = self.delete_options(body).await?;
        delete::delete(
            self.state,
            &self.write_request(target, options.dry_run, ""),
            &options,
        )
        .await
    }

    async fn delete_collection(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let options = self.delete_options(body).await?;
        let ListRequest::List(list_options) =
            ListRequest::parse(&self.query, target.kind.fields(), false)?
        else {
            return Err(ApiError::MethodNotAllowed);
        };
        delete::delete_collection(
            self.state,
            &self.write_request(target, options.dry_run, ""),
            &list_options,
            &options,
        )
        .await
    }

    /// Decodes a create or update body and checks its fields per `fieldValidation`.
    async fn decode(
        &self,
        target: &Target,
        body: Body,
        options: &WriteOptions,
    ) -> Result<(serde_json::Value, Vec<String>), ApiError> {
        let content_type = header_text(self.headers, header::CONTENT_TYPE);
        let bytes = http::read_body(body).await?;
        let decoded = body::decode(target.kind, content_type, &bytes, options.field_validation)?;
        Ok((decoded.object, decoded.warnings))
    }

    /// The manager of a write: `fieldManager`, else the User-Agent's product name.
    fn manager(&self, options: &WriteOptions) -> String {
        match options.field_manager.as_str() {
            "" => manager_from_user_agent(self.user_agent()),
            manager => manager.to_string(),
        }
    }

    fn write_request<'a>(
        &'a self,
        target: &'a Target,
        dry_run: bool,
        manager: &'a str,
    ) -> WriteRequest<'a> {
        WriteRequest {
            target,
            user: &self.caller.0,
            dry_run,
            manager,
        }
    }

    fn user_agent(&self) -> &str {
        header_text(self.headers, header::USER_AGENT).unwrap_or("")
    }
}

fn item_verb(method: &Method) -> Option<&'static str> {
    match *method {
        Method::GET => Some("get"),
        Method::PUT => Some("update"),
        Method::PATCH => Some("patch"),
        Method::DELETE => Some("delete"),
        _ => None,
    }
}

fn is_watch(query: &Query) -> bool {
    matches!(query.get("watch"), Some("true" | "1"))
}

fn is_events_list(path: &ApiPath) -> bool {
    path.group.is_empty() && path.resource == "events" && path.name.is_none()
}

/// The kind and object a path addresses; namespaced kinds need a namespace for items, and
/// cluster-scoped kinds must not have one.
fn target_of(path: ApiPath) -> Result<Target, ApiError> {
    let kind = Kind::from_path(&path.group, &path.version, &path.resource)
        .ok_or(ApiError::PathNotFound)?;
    let scoped_right = match kind.namespaced() {
        true => path.namespace.is_some() || path.name.is_none(),
        false => path.namespace.is_none(),
    };
    if !scoped_right {
        return Err(ApiError::PathNotFound);
    }
    Ok(Target {
        kind,
        namespace: path.namespace,
        name: path.name,
        subresource: path.subresource,
    })
}
