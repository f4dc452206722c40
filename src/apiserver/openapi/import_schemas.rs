//! Schemas of `ImageStreamImport` and its parts, with openshift/api's field documentation
//! (`image/v1/types.go`), so `kubectl explain imagestreamimports.spec` reads as on OpenShift.

use serde_json::{json, Value};

use super::schema::{
    array, boolean, field_ref, item_ref, kind, meta, object, required, string, strings,
};
use crate::apiserver::discovery::IMAGE_V1;

const GV: (&str, &str) = (IMAGE_V1.group, IMAGE_V1.version);

fn image(name: &str) -> String {
    IMAGE_V1.schema_name(name)
}

const OBJECT_REFERENCE: &str = "io.k8s.api.core.v1.ObjectReference";
const LOCAL_OBJECT_REFERENCE: &str = "io.k8s.api.core.v1.LocalObjectReference";

/// The import schemas, by full name.
pub(super) fn import_schemas() -> Vec<(String, Value)> {
    let image_v1 = [
        ("ImageStreamImport", image_stream_import()),
        ("ImageStreamImportSpec", import_spec()),
        ("ImageStreamImportStatus", import_status()),
        ("RepositoryImportSpec", repository_import_spec()),
        ("RepositoryImportStatus", repository_import_status()),
        ("ImageImportSpec", image_import_spec()),
        ("ImageImportStatus", image_import_status()),
    ];
    let local = object(
        "LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.",
        json!({"name": string("Name of the referent. This field is effectively required, but due to backwards compatibility is allowed to be empty.")}),
    );
    image_v1
        .into_iter()
        .map(|(name, schema)| (image(name), schema))
        .chain([(LOCAL_OBJECT_REFERENCE.to_string(), local)])
        .collect()
}

fn image_stream_import() -> Value {
    let schema = kind(
        GV,
        "ImageStreamImport",
        "The image stream import resource provides an easy way for a user to find and import container images from other container image registries into the server. Individual images or an entire image repository may be imported, and users may choose to see the results of the import prior to tagging the resulting images into the specified image stream.\n\nThis API is intended for end-user tools that need to see the metadata of the image prior to import (for instance, to generate an application from it). Clients that know the desired image can continue to create spec.tags directly into their image streams.",
        json!({
            "spec": field_ref(&image("ImageStreamImportSpec"), "Spec is a description of the images that the user wishes to import"),
            "status": field_ref(&image("ImageStreamImportStatus"), "Status is the result of importing the image"),
        }),
    );
    // OpenShift also requires `status` (its Go field is not `omitempty`), which makes kubectl
    // refuse a file without one; the server ignores a status sent to it anyway.
    required(schema, &["spec"])
}

fn import_spec() -> Value {
    let schema = object(
        "ImageStreamImportSpec defines what images should be imported.",
        json!({
            "import": boolean("Import indicates whether to perform an import - if so, the specified tags are set on the spec and status of the image stream defined by the type meta."),
            "repository": field_ref(&image("RepositoryImportSpec"), "repository is an optional import of an entire container image repository. A maximum limit on the number of tags imported this way is imposed by the server."),
            "images": array("Images are a list of individual images to import.", item_ref(&image("ImageImportSpec"))),
        }),
    );
    required(schema, &["import"])
}

fn import_status() -> Value {
    object(
        "ImageStreamImportStatus contains information about the status of an image stream import.",
        json!({
            "import": field_ref(&image("ImageStream"), "import is the image stream that was successfully updated or created when 'to' was set."),
            "repository": field_ref(&image("RepositoryImportStatus"), "repository is set if spec.repository was set to the outcome of the import"),
            "images": array("images is set with the result of importing spec.images", item_ref(&image("ImageImportStatus"))),
        }),
    )
}

fn repository_import_spec() -> Value {
    let schema = object(
        "RepositoryImportSpec describes a request to import images from a container image repository.",
        json!({
            "from": field_ref(OBJECT_REFERENCE, "From is the source for the image repository to import; only kind DockerImage and a name of a container image repository is allowed"),
            "importPolicy": field_ref(&image("TagImportPolicy"), "ImportPolicy is the policy controlling how the image is imported"),
            "referencePolicy": field_ref(&image("TagReferencePolicy"), "ReferencePolicy defines how other components should consume the image"),
            "includeManifest": boolean("IncludeManifest determines if the manifest for each image is returned in the response"),
        }),
    );
    required(schema, &["from"])
}

fn repository_import_status() -> Value {
    object(
        "RepositoryImportStatus describes the result of an image repository import",
        json!({
            "status": field_ref(&meta("Status"), "Status reflects whether any failure occurred during import"),
            "images": array("Images is a list of images successfully retrieved by the import of the repository.", item_ref(&image("ImageImportStatus"))),
            "additionalTags": strings("AdditionalTags are tags that exist in the repository but were not imported because a maximum limit of automatic imports was applied."),
        }),
    )
}

fn image_import_spec() -> Value {
    let schema = object(
        "ImageImportSpec describes a request to import a specific image.",
        json!({
            "from": field_ref(OBJECT_REFERENCE, "From is the source of an image to import; only kind DockerImage is allowed"),
            "to": field_ref(LOCAL_OBJECT_REFERENCE, "To is a tag in the current image stream to assign the imported image to, if name is not specified the default tag from from.name will be used"),
            "importPolicy": field_ref(&image("TagImportPolicy"), "ImportPolicy is the policy controlling how the image is imported"),
            "referencePolicy": field_ref(&image("TagReferencePolicy"), "ReferencePolicy defines how other components should consume the image"),
            "includeManifest": boolean("IncludeManifest determines if the manifest for each image is returned in the response"),
        }),
    );
    required(schema, &["from"])
}

fn image_import_status() -> Value {
    let schema = object(
        "ImageImportStatus describes the result of an image import.",
        json!({
            "status": field_ref(&meta("Status"), "Status is the status of the image import, including errors encountered while retrieving the image"),
            "image": field_ref(&image("Image"), "Image is the metadata of that image, if the image was located"),
            "tag": string("Tag is the tag this image was located under, if any"),
            "manifests": array("Manifests holds sub-manifests metadata when importing a manifest list", item_ref(&image("Image"))),
        }),
    );
    required(schema, &["status"])
}
