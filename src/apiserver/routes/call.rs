//! One resource request: its verb, authorisation, options and the handler it goes to.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use jiff::Timestamp;
use serde_json::json;

use super::{isimport, istag};
use crate::apiserver::error::{ApiError, GroupResource, IMAGE_STREAMS};
use crate::apiserver::fields::EVENT_FIELDS;
use crate::apiserver::handlers::delete;
use crate::apiserver::handlers::write::{self, WriteRequest};
use crate::apiserver::handlers::{body, read, subresource, watch, Target};
use crate::apiserver::http::{self, header_text};
use crate::apiserver::negotiate::{self, Endpoint, Output};
use crate::apiserver::options::{
    DeleteOptions, GetOptions, ListRequest, Query, WriteOptions, WriteVerb,
};
use crate::apiserver::patch::{manager_from_user_agent, record_update, Subresource};
use crate::apiserver::path::{self, ApiPath};
use crate::apiserver::resource::Kind;
use crate::apiserver::state::{ApiState, Caller};
use crate::apiserver::watch_quota::{Refused, WatchPermit};
use crate::auth::Attributes;

/// One resource request being served.
pub(super) struct Call<'a> {
    pub(super) state: &'a ApiState,
    pub(super) caller: &'a Caller,
    pub(super) method: &'a Method,
    pub(super) headers: &'a HeaderMap,
    pub(super) query: Query,
}

/// Warned on a Secret written here while pull secrets come from the cluster: nothing reads it.
const UNREAD_SECRET: &str = "this server reads pull secrets from the cluster \
    (--pull-secrets-from=cluster), so this Secret is stored but not used for imports; create it \
    in the cluster instead";

impl Call<'_> {
    pub(super) async fn serve(&self, path: &str, body: Body) -> Result<Response, ApiError> {
        let api_path = path::parse(path)?;
        if is_events_list(&api_path) && self.method == Method::GET {
            return self.events(&api_path);
        }
        if is_namespaces(&api_path) {
            return self.namespace(&api_path);
        }
        if istag::is_image_stream_tags(&api_path) {
            return self.image_stream_tags(api_path, body).await;
        }
        if istag::is_image_stream_images(&api_path) {
            return self.image_stream_images(api_path).await;
        }
        if isimport::is_image_stream_imports(&api_path) {
            return self.image_stream_imports(api_path, body).await;
        }
        let target = target_of(api_path)?;
        let verb = self.verb(&target)?;
        self.authorize(verb, &target)?;
        match (verb, target.subresource.as_deref()) {
            ("list" | "watch", _) => self.list(&target).await,
            ("get", Some("layers")) => {
                let output = self.output(Endpoint::Object)?;
                subresource::layers(self.state, &target, output).await
            }
            ("get", Some("secrets")) => self.secrets(&target).await,
            ("get", _) => {
                let options = GetOptions::parse(&self.query)?;
                let output = self.output(Endpoint::Object)?;
                read::get(self.state, &target, &options, output).await
            }
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
            (Method::GET, false) if self.query.watch() => "watch",
            (Method::GET, false) => "list",
            (Method::POST, false) => "create",
            (Method::DELETE, false) => "deletecollection",
            (method, true) => item_verb(&method).ok_or(ApiError::MethodNotAllowed)?,
            _ => return Err(ApiError::MethodNotAllowed),
        };
        // kube-apiserver registers only list and watch on the cluster-wide path of a
        // namespaced resource (installer.go): a POST or DELETE there is a 405, never a write
        // into, or a delete across, every namespace.
        let cluster_wide = target.kind.namespaced() && target.namespace.is_none();
        if cluster_wide && matches!(verb, "create" | "deletecollection") {
            return Err(ApiError::MethodNotAllowed);
        }
        Ok(verb)
    }

    fn authorize(&self, verb: &str, target: &Target) -> Result<(), ApiError> {
        self.state.auth.require(
            &self.caller.0,
            verb,
            target.kind.group_resource(),
            target.subresource.as_deref().unwrap_or(""),
            target.namespace.as_deref().unwrap_or(""),
            target.name(),
        )
    }

    pub(super) fn output(&self, endpoint: Endpoint) -> Result<Output, ApiError> {
        negotiate::negotiate_output(
            header_text(self.headers, header::ACCEPT),
            endpoint,
            self.query.get("includeObject"),
            self.query.get("pretty"),
        )
    }

    /// `GET …/events`, for `kubectl describe`: always empty, as nothing here records events.
    /// The only events it could ever list are about the namespace's streams, so it is allowed
    /// to whoever may list those, and refused in kube-apiserver's words for events otherwise.
    /// A watch (`kubectl get events -w`) is answered as one: a stream with no event, ended as
    /// an image stream watch is (its timeout, the client leaving, or the server draining).
    fn events(&self, path: &ApiPath) -> Result<Response, ApiError> {
        let namespace = path.namespace.as_deref().unwrap_or("");
        let streams = Attributes {
            verb: "list",
            resource: IMAGE_STREAMS.resource,
            group: IMAGE_STREAMS.group,
            namespace,
            name: "",
        };
        let user = &self.caller.0;
        let verb = if self.query.watch() { "watch" } else { "list" };
        if !self.state.auth.allows(user, &streams) {
            let events = GroupResource::new("", "events");
            let refused = ApiError::access_denied(&user.name, verb, events, "", namespace, "");
            return Err(refused);
        }
        // The query is checked as kube-apiserver checks an event list's: a selector on a field
        // events do not have is refused, on a list as on a watch; a streaming list
        // (`sendInitialEvents`) is served, its initial events ending at once.
        match ListRequest::parse(&self.query, &EVENT_FIELDS, true)? {
            ListRequest::Watch(options) => {
                let permit = self.watch_permit()?;
                Ok(watch::empty(self.state, &options, permit))
            }
            ListRequest::List(_) => {
                // Every list carries a resourceVersion: reflectors (kube-rs's watcher among
                // them) refuse a list without one, having nowhere to start their watch.
                let revision = self.state.store.current_revision().to_string();
                let empty = json!({"kind": "EventList", "apiVersion": "v1",
                                   "metadata": {"resourceVersion": revision}, "items": []});
                Ok(http::json(StatusCode::OK, "application/json", &empty))
            }
        }
    }

    /// `/api/v1/namespaces[/<name>]`: only GET of one namespace is served.
    fn namespace(&self, path: &ApiPath) -> Result<Response, ApiError> {
        let Some(name) = path.name.as_deref().filter(|_| self.method == Method::GET) else {
            return Err(ApiError::MethodNotAllowed);
        };
        let namespaces = GroupResource::new("", "namespaces");
        let user = &self.caller.0;
        self.state
            .auth
            .require(user, "get", namespaces, "", name, name)?;
        read::namespace(name, self.output(Endpoint::Object)?)
    }

    /// A place among the caller's open watches, and the server's; a 429 when either holds its
    /// limit (other watches must end first, so the wait is a guess).
    fn watch_permit(&self) -> Result<WatchPermit, ApiError> {
        let refused = |message: String| ApiError::TooManyRequests {
            message,
            retry_after_seconds: 10,
        };
        let acquired = self.state.watches.acquire(&self.caller.0.name);
        acquired.map_err(|limit| match limit {
            Refused::User(limit) => refused(format!(
                "too many watches open for this user (at most {limit}): end some, or share one \
                 watch (an informer) between callers"
            )),
            Refused::Server(limit) => refused(format!(
                "too many watches open on this server (at most {limit}): retry later"
            )),
        })
    }

    async fn list(&self, target: &Target) -> Result<Response, ApiError> {
        match ListRequest::parse(&self.query, target.kind.fields(), true)? {
            ListRequest::List(options) => {
                let output = self.output(Endpoint::List)?;
                read::list(self.state, &self.caller.0.name, target, &options, output).await
            }
            ListRequest::Watch(options) => {
                let output = self.output(Endpoint::Watch)?;
                let permit = self.watch_permit()?;
                let state = self.state.clone();
                watch::watch(state, target.clone(), options, output, permit).await
            }
        }
    }

    async fn secrets(&self, target: &Target) -> Result<Response, ApiError> {
        match ListRequest::parse(&self.query, Kind::Secret.fields(), false)? {
            ListRequest::List(options) => {
                let output = self.output(Endpoint::Object)?;
                let user = &self.caller.0.name;
                subresource::secrets(self.state, user, target, &options, output).await
            }
            ListRequest::Watch(_) => Err(ApiError::MethodNotAllowed),
        }
    }

    /// POST: the body's fields checked per `fieldValidation`, the creator recorded in
    /// managedFields before the kind's rules run.
    async fn create(&self, target: &Target, body: Body) -> Result<Response, ApiError> {
        let options = WriteOptions::parse(&self.query, WriteVerb::Create)?;
        let (mut object, mut warnings) = self.decode(target, body, &options).await?;
        if target.kind == Kind::Secret && self.state.pull_secrets.is_cluster() {
            warnings.push(UNREAD_SECRET.to_string());
        }
        let manager = self.manager(&options);
        if let Some(object_type) = target.kind.object_type() {
            let now = Timestamp::now();
            record_update(
                object_type,
                None,
                &mut object,
                &manager,
                Subresource::Main,
                now,
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
        crate::apiserver::handlers::patch::patch(
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

fn is_namespaces(path: &ApiPath) -> bool {
    let core = path.group.is_empty() && path.version == "v1";
    core && path.namespace.is_none() && path.resource == "namespaces"
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use serde_json::Value;
    use tower::ServiceExt as _;

    use super::*;
    use crate::apiserver::state::Auth;
    use crate::auth::{Policy, TokenAuthenticator};

    /// One request to the router over `state`, as the caller with `token`: the status and
    /// the JSON body (`Null` when the body is not JSON).
    async fn send(
        state: &ApiState,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
        let router = crate::apiserver::routes::router(state.clone());
        let response = router
            .oneshot(request.body(body).expect("a request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("a body");
        let json = serde_json::from_slice(&bytes.to_bytes()).unwrap_or(Value::Null);
        (status, json)
    }

    async fn admin(state: &ApiState, method: Method, path: &str) -> (StatusCode, Value) {
        send(state, ApiState::TEST_TOKEN, method, path, None).await
    }

    async fn create(state: &ApiState, path: &str, object: Value) {
        let (status, body) = send(
            state,
            ApiState::TEST_TOKEN,
            Method::POST,
            path,
            Some(object),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    }

    #[tokio::test]
    async fn a_delete_or_create_on_the_cluster_wide_path_of_a_namespaced_resource_is_405() {
        let state = ApiState::for_tests();
        for namespace in ["team-a", "team-b"] {
            let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                "metadata": {"name": "kept"}});
            let streams =
                format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
            create(&state, &streams, stream).await;
            let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kept"},
                "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
            create(
                &state,
                &format!("/api/v1/namespaces/{namespace}/secrets"),
                secret,
            )
            .await;
        }
        let collections = [
            "/apis/image.openshift.io/v1/imagestreams",
            "/api/v1/secrets",
        ];
        for collection in collections {
            for method in [Method::DELETE, Method::POST] {
                let (status, refused) = admin(&state, method.clone(), collection).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {collection}"
                );
                assert_eq!(refused["kind"], "Status", "{refused}");
                assert_eq!(refused["reason"], "MethodNotAllowed", "{refused}");
            }
            let (status, listed) = admin(&state, Method::GET, collection).await;
            assert_eq!(status, StatusCode::OK, "{listed}");
            let namespaces: Vec<&str> = listed["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|item| item["metadata"]["namespace"].as_str())
                .collect();
            assert_eq!(namespaces, ["team-a", "team-b"], "{collection}");
        }
    }

    #[tokio::test]
    async fn a_collection_get_served_as_a_watch_is_authorized_as_a_watch() {
        let mut state = ApiState::for_tests();
        let tokens = TokenAuthenticator::parse("alice-token,alice,2,dev").expect("a token line");
        let rules = "rules:\n- users: [alice]\n  namespaces: [team-a]\n  verbs: [list]\n";
        let policy = Policy::parse(rules).expect("a policy");
        state.auth = Arc::new(Auth {
            tokens,
            policy: Some(policy),
        });
        let streams = "/apis/image.openshift.io/v1/namespaces/team-a/imagestreams";
        for watch in [
            "watch=yes",
            "watch",
            "watch=True",
            "watch=true",
            "watch=f",
            "watch=",
        ] {
            let path = format!("{streams}?{watch}&timeoutSeconds=1");
            let (status, refused) = send(&state, "alice-token", Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {refused}");
            let message = refused["message"].as_str().unwrap_or("");
            assert!(message.contains("cannot watch resource"), "{message}");
        }
        for list in ["watch=false", "watch=FALSE", "watch=0"] {
            let path = format!("{streams}?{list}");
            let (status, listed) = send(&state, "alice-token", Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {listed}");
            assert_eq!(listed["kind"], "ImageStreamList", "{path}");
        }
    }
}
