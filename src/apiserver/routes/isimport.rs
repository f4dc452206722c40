//! `imagestreamimports` requests: create (POST to a namespace's collection) is the only verb,
//! as in OpenShift; anything else is 405, and an item path 404.

use axum::body::Body;
use axum::http::{header, Method};
use axum::response::Response;

use super::call::Call;
use crate::api::{GROUP, VERSION};
use crate::apiserver::error::ApiError;
use crate::apiserver::handlers::isimport::{self, ImportRequest};
use crate::apiserver::http::{self, header_text};
use crate::apiserver::isimport::RESOURCE;
use crate::apiserver::negotiate::{self, Endpoint};
use crate::apiserver::options::{WriteOptions, WriteVerb};
use crate::apiserver::path::ApiPath;

/// Whether `path` addresses `image.openshift.io/v1` imagestreamimports.
pub(super) fn is_image_stream_imports(path: &ApiPath) -> bool {
    path.group == GROUP && path.version == VERSION && path.resource == RESOURCE.resource
}

impl Call<'_> {
    /// POST of an ImageStreamImport into a namespace.
    pub(super) async fn image_stream_imports(
        &self,
        path: ApiPath,
        body: Body,
    ) -> Result<Response, ApiError> {
        if path.name.is_some() || path.subresource.is_some() {
            return Err(ApiError::PathNotFound);
        }
        if self.method != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let Some(namespace) = path.namespace.as_deref() else {
            return Err(ApiError::MethodNotAllowed);
        };
        self.authorize_import(namespace)?;
        let options = WriteOptions::parse(&self.query, WriteVerb::Create)?;
        let output = self.output(Endpoint::Object)?;
        let format = negotiate::body_format(header_text(self.headers, header::CONTENT_TYPE))?;
        let bytes = http::read_body(body).await?;
        let body = negotiate::decode_body(&bytes, format)?;
        let request = ImportRequest {
            namespace,
            user: &self.caller.0,
            dry_run: options.dry_run,
            output,
            field_validation: options.field_validation,
            problems: crate::apiserver::isimport::field_problems(&bytes, format),
        };
        isimport::create(self.state, &request, body).await
    }

    fn authorize_import(&self, namespace: &str) -> Result<(), ApiError> {
        let user = &self.caller.0;
        self.state
            .auth
            .require(user, "create", RESOURCE, "", namespace, "")
    }
}
