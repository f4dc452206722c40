//! `imagestreamtags` and `imagestreamimages` requests: views over the streams. Tags are read,
//! created, updated and patched (the stream's spec tag: `oc create imagestreamtag`, a
//! manifest's `kind: ImageStreamTag`, `kubectl apply`) and deleted (`oc tag -d`); images only
//! read.

use axum::body::Body;
use axum::http::{header, Method};
use axum::response::Response;

use super::call::Call;
use crate::api::{GROUP, VERSION};
use crate::apiserver::error::ApiError;
use crate::apiserver::error::GroupResource;
use crate::apiserver::handlers::istag::{self, TagPatch, TagWriteRequest};
use crate::apiserver::handlers::validation;
use crate::apiserver::http::{self, header_text};
use crate::apiserver::isimage;
use crate::apiserver::istag::{TagWrite, ISTAG_FIELDS, RESOURCE};
use crate::apiserver::negotiate;
use crate::apiserver::negotiate::Endpoint;
use crate::apiserver::options::{DeleteOptions, ListRequest, WriteOptions, WriteVerb};
use crate::apiserver::patch::PatchKind;
use crate::apiserver::path::ApiPath;
use crate::apiserver::resource;

/// Whether `path` addresses `image.openshift.io/v1` imagestreamtags.
pub(super) fn is_image_stream_tags(path: &ApiPath) -> bool {
    is_image_v1(path, RESOURCE)
}

/// Whether `path` addresses `image.openshift.io/v1` imagestreamimages.
pub(super) fn is_image_stream_images(path: &ApiPath) -> bool {
    is_image_v1(path, isimage::RESOURCE)
}

fn is_image_v1(path: &ApiPath, resource: GroupResource) -> bool {
    path.group == GROUP && path.version == VERSION && path.resource == resource.resource
}

impl Call<'_> {
    /// GET, PUT, PATCH or DELETE of one tag in a namespace, POST into a namespace, or LIST in
    /// one namespace or all; 405 for anything else (watch), as OpenShift answers.
    pub(super) async fn image_stream_tags(
        &self,
        path: ApiPath,
        body: Body,
    ) -> Result<Response, ApiError> {
        if path.subresource.is_some() || (path.name.is_some() && path.namespace.is_none()) {
            return Err(ApiError::PathNotFound);
        }
        if let (Some(namespace), Some(name), &Method::DELETE) =
            (&path.namespace, &path.name, self.method)
        {
            self.authorize_view(RESOURCE, "delete", namespace, name)?;
            let body = http::read_body(body).await?;
            let content_type = header_text(self.headers, header::CONTENT_TYPE);
            let options = DeleteOptions::parse(&body, content_type, &self.query)?;
            return istag::delete(self.state, namespace, name, &options).await;
        }
        if let (Some(namespace), Some(name), &Method::PATCH) =
            (&path.namespace, &path.name, self.method)
        {
            return self.patch_tag(namespace, name, body).await;
        }
        let write = match (&path.namespace, &path.name, self.method) {
            (Some(namespace), None, &Method::POST) => Some((namespace, true)),
            (Some(namespace), Some(_), &Method::PUT) => Some((namespace, false)),
            _ => None,
        };
        if let Some((namespace, create)) = write {
            return self
                .write_tag(namespace, path.name.as_deref(), create, body)
                .await;
        }
        if self.method != Method::GET || (path.name.is_none() && self.query.watch()) {
            return Err(ApiError::MethodNotAllowed);
        }
        let namespace = path.namespace.as_deref().unwrap_or("");
        let (verb, endpoint) = match &path.name {
            Some(_) => ("get", Endpoint::Object),
            None => ("list", Endpoint::List),
        };
        self.authorize_view(
            RESOURCE,
            verb,
            namespace,
            path.name.as_deref().unwrap_or(""),
        )?;
        let output = self.output(endpoint)?;
        match &path.name {
            Some(name) => istag::get(self.state, namespace, name, output).await,
            None => match ListRequest::parse(&self.query, &ISTAG_FIELDS, false)? {
                ListRequest::List(options) => {
                    let user = &self.caller.0.name;
                    istag::list(self.state, user, path.namespace, &options, output).await
                }
                ListRequest::Watch(_) => Err(ApiError::MethodNotAllowed),
            },
        }
    }

    /// GET of one image in a namespace; 405 for every other method, and for a list.
    pub(super) async fn image_stream_images(&self, path: ApiPath) -> Result<Response, ApiError> {
        let (Some(namespace), Some(name), None) = (&path.namespace, &path.name, &path.subresource)
        else {
            return match path.subresource.is_some() || path.namespace.is_none() {
                true if path.name.is_some() => Err(ApiError::PathNotFound),
                _ => Err(ApiError::MethodNotAllowed),
            };
        };
        if self.method != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        self.authorize_view(isimage::RESOURCE, "get", namespace, name)?;
        let output = self.output(Endpoint::Object)?;
        istag::get_image(self.state, namespace, name, output).await
    }

    /// `POST` of an ImageStreamTag into a namespace (`create`), or `PUT` of one (`update`).
    async fn write_tag(
        &self,
        namespace: &str,
        url_name: Option<&str>,
        create: bool,
        body: Body,
    ) -> Result<Response, ApiError> {
        // Authorized from the URL before the body is read, as kube-apiserver does: a caller
        // with no grant gets 403 and cannot make the server parse anything. A POST names no
        // object yet, so `create` is asked for the collection.
        let verb = if create { "create" } else { "update" };
        self.authorize_view(RESOURCE, verb, namespace, url_name.unwrap_or(""))?;
        let options = WriteOptions::parse(
            &self.query,
            if create {
                WriteVerb::Create
            } else {
                WriteVerb::Update
            },
        )?;
        let format = negotiate::body_format(header_text(self.headers, header::CONTENT_TYPE))?;
        let bytes = http::read_body(body).await?;
        let value = negotiate::decode_body(&bytes, format)?;
        let problems = crate::apiserver::istag::check_body(&value, &bytes, format, namespace)?;
        let warnings = validation::enforce(options.field_validation, &problems)
            .map_err(|strict| ApiError::undecodable(crate::apiserver::istag::KIND, strict))?;
        let written: TagWrite = resource::decode(&value)?;
        let sent = written.metadata.name.as_deref().unwrap_or("");
        let name = match url_name {
            Some(url) if !sent.is_empty() && sent != url => {
                return Err(ApiError::name_mismatch(sent, url));
            }
            Some(url) => url,
            None if crate::apiserver::istag::split_name(sent).is_err() => {
                return Err(ApiError::bad_request(format!(
                    "{sent:?} must be of the form <stream_name>:<tag>"
                )));
            }
            None => sent,
        };
        let request = TagWriteRequest {
            namespace,
            name,
            create,
            dry_run: options.dry_run,
            output: self.output(Endpoint::Object)?,
            user: &self.caller.0,
        };
        let mut response = istag::write_tag(self.state, &request, &written).await?;
        http::add_warnings(&mut response, &warnings);
        Ok(response)
    }

    /// `PATCH` of one tag: JSON, merge or strategic merge patch; server-side apply is a 415
    /// that says what to use instead.
    async fn patch_tag(
        &self,
        namespace: &str,
        name: &str,
        body: Body,
    ) -> Result<Response, ApiError> {
        self.authorize_view(RESOURCE, "patch", namespace, name)?;
        let content_type = header_text(self.headers, header::CONTENT_TYPE);
        let kind = negotiate::patch_kind(content_type)
            .map_err(|_| crate::apiserver::istag::patch::unsupported_media_type(None))?;
        if kind == PatchKind::Apply {
            return Err(crate::apiserver::istag::patch::unsupported_media_type(
                Some(kind),
            ));
        }
        let options = WriteOptions::parse(&self.query, WriteVerb::Patch(kind))?;
        let body = http::read_body(body).await?;
        let request = TagWriteRequest {
            namespace,
            name,
            create: false,
            dry_run: options.dry_run,
            output: self.output(Endpoint::Object)?,
            user: &self.caller.0,
        };
        let patch = TagPatch {
            kind,
            body: &body,
            field_validation: options.field_validation,
        };
        istag::patch_tag(self.state, &request, &patch).await
    }

    fn authorize_view(
        &self,
        resource: GroupResource,
        verb: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let user = &self.caller.0;
        self.state
            .auth
            .require(user, verb, resource, "", namespace, name)
    }
}
