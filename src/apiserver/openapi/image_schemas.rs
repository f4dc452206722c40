//! Schemas of `image.openshift.io/v1`, with OpenShift's field documentation (the API
//! reference in `shared/seed/`, completed from openshift/api where the seed is silent), so
//! `kubectl explain imagestreams.spec.tags` reads like it does on OpenShift.

use serde_json::{json, Value};

use super::schema::{
    array, boolean, field_ref, int64, item_ref, keyed_list, kind, list_kind, map_of, meta, object,
    required, string, string_map, strings, with,
};
use crate::apiserver::discovery::IMAGE_V1;

const GV: (&str, &str) = (IMAGE_V1.group, IMAGE_V1.version);

/// The schema name of an image type, e.g. `com.github.openshift.api.image.v1.TagEvent`.
fn image(name: &str) -> String {
    IMAGE_V1.schema_name(name)
}

/// Every image schema, by name.
pub(super) fn image_schemas() -> Vec<(String, Value)> {
    let schemas = [
        ("ImageStream", image_stream()),
        ("ImageStreamList", list_kind(GV, "ImageStreamList", "ImageStreamList is a list of ImageStream objects.", &image("ImageStream"), "Items is a list of imageStreams")),
        ("ImageStreamSpec", image_stream_spec()),
        ("ImageLookupPolicy", image_lookup_policy()),
        ("TagReference", tag_reference()),
        ("TagImportPolicy", tag_import_policy()),
        ("TagReferencePolicy", tag_reference_policy()),
        ("ImageStreamStatus", image_stream_status()),
        ("NamedTagEventList", named_tag_event_list()),
        ("TagEvent", tag_event()),
        ("TagEventCondition", tag_event_condition()),
        ("ImageStreamTag", image_stream_tag()),
        ("ImageStreamTagList", list_kind(GV, "ImageStreamTagList", "ImageStreamTagList is a list of ImageStreamTag objects.", &image("ImageStreamTag"), "Items is the list of image stream tags")),
        ("ImageStreamImage", image_stream_image()),
        ("ImageStreamLayers", image_stream_layers()),
        ("ImageLayerData", image_layer_data()),
        ("ImageBlobReferences", image_blob_references()),
        ("SecretList", list_kind(GV, "SecretList", "SecretList is a list of Secret.", "io.k8s.api.core.v1.Secret", "Items is a list of secret objects. More info: https://kubernetes.io/docs/concepts/configuration/secret")),
        ("Image", image_kind()),
        ("ImageList", list_kind(GV, "ImageList", "ImageList is a list of Image objects.", &image("Image"), "Items is a list of images")),
        ("ImageLayer", image_layer()),
        ("ImageManifest", image_manifest()),
        ("ImageSignature", image_signature()),
        ("SignatureCondition", signature_condition()),
        ("SignatureIssuer", signature_issuer()),
        ("SignatureSubject", signature_subject()),
    ];
    schemas
        .into_iter()
        .map(|(name, schema)| (image(name), schema))
        .chain(super::import_schemas::import_schemas())
        .collect()
}

fn image_stream() -> Value {
    kind(
        GV,
        "ImageStream",
        "ImageStream stores a mapping of tags to images, metadata overrides that are applied when images are tagged in a stream, and an optional reference to a Docker image repository on a registry.",
        json!({
            "spec": field_ref(&image("ImageStreamSpec"), "Spec describes the desired state of this stream"),
            "status": field_ref(&image("ImageStreamStatus"), "Status describes the current state of this stream"),
        }),
    )
}

fn image_stream_spec() -> Value {
    object(
        "ImageStreamSpec represents options for ImageStreams.",
        json!({
            "dockerImageRepository": string("dockerImageRepository is optional, if specified this stream is backed by a Docker repository on this server Deprecated: This field is deprecated as of v3.7 and will be removed in a future release. Specify the source for the tags to be imported in each tag via the spec.tags.from reference instead."),
            "lookupPolicy": field_ref(&image("ImageLookupPolicy"), "lookupPolicy controls how other resources reference images within this namespace."),
            "tags": keyed_list(array("tags map arbitrary string values to specific image locators", item_ref(&image("TagReference"))), "name"),
        }),
    )
}

fn image_lookup_policy() -> Value {
    let local = boolean("local will change the docker short image references (like \"mysql\" or \"php:latest\") on objects in this namespace to the image ID whenever they match this image stream, instead of reaching out to a remote registry. The name will be fully qualified to an image ID if found. The tag's referencePolicy is taken into account on the replaced value. Only works within the current namespace.");
    required(
        object("ImageLookupPolicy describes how an image stream can be used to override the image references used by pods, builds, and other resources in a namespace.", json!({"local": local})),
        &["local"],
    )
}

fn tag_reference() -> Value {
    let schema = object(
        "TagReference specifies optional annotations for images using this tag and an optional reference to an ImageStreamTag, ImageStreamImage, or DockerImage this tag should track.",
        json!({
            "annotations": string_map("Optional; if specified, annotations that are applied to images retrieved via ImageStreamTags."),
            "from": field_ref("io.k8s.api.core.v1.ObjectReference", "Optional; if specified, a reference to another image that this tag should point to. Valid values are ImageStreamTag, ImageStreamImage, and DockerImage. ImageStreamTag references can only reference a tag within this same ImageStream."),
            "generation": int64("Generation is a counter that tracks mutations to the spec tag (user intent). When a tag reference is changed the generation is set to match the current stream generation (which is incremented every time spec is changed). Other processes in the system like the image importer observe that the generation of spec tag is newer than the generation recorded in the status and use that as a trigger to import the newest remote tag. To trigger a new import, clients may set this value to zero which will reset the generation to the latest stream generation. Legacy clients will send this value as nil which will be merged with the current tag generation."),
            "importPolicy": field_ref(&image("TagImportPolicy"), "ImportPolicy is information that controls how images may be imported by the server."),
            "name": string("Name of the tag"),
            "reference": boolean("Reference states if the tag will be imported. Default value is false, which means the tag will be imported."),
            "referencePolicy": field_ref(&image("TagReferencePolicy"), "ReferencePolicy defines how other components should consume the image."),
        }),
    );
    required(schema, &["name"])
}

fn tag_import_policy() -> Value {
    object(
        "TagImportPolicy controls how images related to this tag will be imported.",
        json!({
            "importMode": string("ImportMode describes how to import an image manifest. `Legacy` (the default) imports a single manifest of a manifest list; `PreserveOriginal` keeps the manifest list and all its sub-manifests."),
            "insecure": boolean("Insecure is true if the server may bypass certificate verification or connect directly over HTTP during image import."),
            "scheduled": boolean("Scheduled indicates to the server that this tag should be periodically checked to ensure it is up to date, and imported"),
        }),
    )
}

fn tag_reference_policy() -> Value {
    let type_ = string("Type determines how the image pull spec should be transformed when the image stream tag is used in deployment config triggers or new builds. The default value is `Source`, indicating the original location of the image should be used (if imported). The user may also specify `Local`, indicating that the pull spec should point to the integrated container image registry and leverage the registry's ability to proxy the pull to an upstream registry. `Local` allows the credentials used to pull this image to be managed from the image stream's namespace, so others on the platform can access a remote image but have no access to the remote secret. It also allows the image layers to be mirrored into the local registry which the images can still be pulled even if the upstream registry is unavailable.");
    required(
        object("TagReferencePolicy describes how pull-specs for images in this image stream tag are generated when image change triggers in deployment configs or builds are resolved. This allows the image stream author to control how images are accessed.", json!({"type": type_})),
        &["type"],
    )
}

fn image_stream_status() -> Value {
    let schema = object(
        "ImageStreamStatus contains information about the state of this image stream.",
        json!({
            "dockerImageRepository": string("DockerImageRepository represents the effective location this stream may be accessed at. May be empty until the server determines where the repository is located"),
            "publicDockerImageRepository": string("PublicDockerImageRepository represents the public location from where the image can be pulled outside the cluster. This field may be empty if the administrator has not exposed the integrated registry externally."),
            "tags": keyed_list(array("Tags are a historical record of images associated with each tag. The first entry in the TagEvent array is the currently tagged image.", item_ref(&image("NamedTagEventList"))), "tag"),
        }),
    );
    required(schema, &["dockerImageRepository"])
}

fn named_tag_event_list() -> Value {
    let schema = object(
        "NamedTagEventList relates a tag to its image history.",
        json!({
            "conditions": array("Conditions is an array of conditions that apply to the tag event list.", item_ref(&image("TagEventCondition"))),
            "items": array("Items is the history of images of this tag, newest first: the first entry is the currently tagged image.", item_ref(&image("TagEvent"))),
            "tag": string("Tag is the tag for which the history is recorded"),
        }),
    );
    required(schema, &["tag", "items"])
}

fn tag_event() -> Value {
    let schema = object(
        "TagEvent is used by ImageStreamStatus to keep a historical record of images associated with a tag.",
        json!({
            "created": field_ref(&meta("Time"), "Created holds the time the TagEvent was created"),
            "dockerImageReference": string("DockerImageReference is the string that can be used to pull this image"),
            "generation": int64("Generation is the spec tag generation that resulted in this tag being updated"),
            "image": string("Image is the image"),
        }),
    );
    required(
        schema,
        &["created", "dockerImageReference", "image", "generation"],
    )
}

fn tag_event_condition() -> Value {
    let schema = object(
        "TagEventCondition contains condition information for a tag event.",
        json!({
            "generation": int64("Generation is the spec tag generation that this status corresponds to"),
            "lastTransitionTime": field_ref(&meta("Time"), "LastTransitionTime is the time the condition transitioned from one status to another."),
            "message": string("Message is a human readable description of the details about last transition, complementing reason."),
            "reason": string("Reason is a brief machine readable explanation for the condition's last transition."),
            "status": string("Status of the condition, one of True, False, Unknown."),
            "type": string("Type of tag event condition, currently only ImportSuccess"),
        }),
    );
    required(schema, &["type", "status", "generation"])
}

fn image_stream_tag() -> Value {
    let schema = kind(
        GV,
        "ImageStreamTag",
        "ImageStreamTag represents an Image that is retrieved by image stream tag name. User interfaces and regular users can use this resource to access the metadata details of a tagged image in the image stream history for viewing, since Image resources are not directly accessible to end users. A missing image here means the tag did not resolve.",
        json!({
            "tag": image_stream_tag_reference(),
            "generation": int64("generation is the current generation of the tagged image - if tag is provided and this value is not equal to the tag generation, a user has requested an import that has not completed, or conditions will be filled out indicating any error."),
            "lookupPolicy": field_ref(&image("ImageLookupPolicy"), "lookupPolicy indicates whether this tag will handle image references in this namespace."),
            "conditions": array("conditions is an array of conditions that apply to the image stream tag.", item_ref(&image("TagEventCondition"))),
            "image": field_ref(&image("Image"), "image associated with the ImageStream and tag."),
        }),
    );
    // OpenShift marks tag, generation, lookupPolicy and image required, so kubectl refuses
    // every ImageStreamTag a user writes (they carry only `tag`); none is required here.
    schema
}

/// An ImageStreamTag's `tag`: a TagReference whose `name` the server takes from the URL, so
/// kubectl does not refuse a manifest that leaves it out (inline, as `TagReference` requires
/// it for a stream's spec tags).
fn image_stream_tag_reference() -> Value {
    let mut tag = tag_reference();
    if let Some(fields) = tag.as_object_mut() {
        fields.remove("required");
        fields.insert("description".into(), Value::from("tag is the spec tag associated with this image stream tag, and it may be null if only pushes have occurred to this image stream."));
    }
    tag
}

fn image_stream_image() -> Value {
    let schema = kind(
        GV,
        "ImageStreamImage",
        "ImageStreamImage represents an Image that is retrieved by image stream name and image ID (the `<name>@<id>` form). Images are only accessible through the image streams whose history names them.",
        json!({
            "image": field_ref(&image("Image"), "image associated with the ImageStream and image name."),
        }),
    );
    required(schema, &["image"])
}

fn image_stream_layers() -> Value {
    let schema = kind(
        GV,
        "ImageStreamLayers",
        "ImageStreamLayers describes information about the layers referenced by images in this image stream.",
        json!({
            "blobs": map_of("blobs is a map of blob name to metadata about the blob.", item_ref(&image("ImageLayerData"))),
            "images": map_of("images is a map between an image name and the names of the blobs and config that comprise the image.", item_ref(&image("ImageBlobReferences"))),
        }),
    );
    required(schema, &["blobs", "images"])
}

fn image_layer_data() -> Value {
    let schema = object(
        "ImageLayerData contains metadata about an image layer.",
        json!({
            "mediaType": string("MediaType of the referenced object."),
            "size": int64("Size of the layer in bytes as defined by the underlying store. This field is optional if the necessary information about size is not available."),
        }),
    );
    required(schema, &["size", "mediaType"])
}

fn image_blob_references() -> Value {
    object(
        "ImageBlobReferences describes the blob references within an image.",
        json!({
            "config": string("config, if set, is the blob that contains the image config. Some images do not have separate config blobs and this field will be set to nil if so."),
            "imageMissing": boolean("imageMissing is true if the image is referenced by the image stream but the image object has been deleted from the API by an administrator. When this field is set, layers and config fields may be empty and callers that depend on the image metadata should consider the image to be unavailable for download or viewing."),
            "layers": strings("layers is the list of blobs that compose this image, from base layer to top layer. All layers referenced by this array will be defined in the blobs map. Some images may have zero layers."),
            "manifests": strings("manifests is the list of other image names that this image points to. For a single architecture image, it is empty. For a multi-arch image, it consists of the digests of single architecture images, such images shouldn't have layers nor config."),
        }),
    )
}

fn image_kind() -> Value {
    let metadata = with(
        json!({"description": "DockerImageMetadata contains metadata about this image", "type": "object"}),
        json!({"x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-patch-strategy": "replace"}),
    );
    kind(
        GV,
        "Image",
        "Image is an immutable representation of a container image and metadata at a point in time. Images are named by taking a hash of their contents (metadata and content) and any change in format, content, or metadata results in a new name. The images resource is primarily for use by cluster administrators and integrations like the cluster image registry - end users instead access images via the imagestreamtags or imagestreamimages resources. While image metadata is stored in the API, any integration that implements the container image registry API must provide its own storage for the raw manifest data, image config, and layer contents.",
        json!({
            "dockerImageConfig": string("DockerImageConfig is a JSON blob that the runtime uses to set up the container. This is a part of manifest schema v2. Will not be set when the image represents a manifest list."),
            "dockerImageLayers": array("DockerImageLayers represents the layers in the image. May not be set if the image does not define that data or if the image represents a manifest list.", item_ref(&image("ImageLayer"))),
            "dockerImageManifest": string("DockerImageManifest is the raw JSON of the manifest"),
            "dockerImageManifestMediaType": string("DockerImageManifestMediaType specifies the mediaType of manifest. This is a part of manifest schema v2."),
            "dockerImageManifests": array("DockerImageManifests holds information about sub-manifests when the image represents a manifest list. When this field is present, no DockerImageLayers should be specified.", item_ref(&image("ImageManifest"))),
            "dockerImageMetadata": metadata,
            "dockerImageMetadataVersion": string("DockerImageMetadataVersion conveys the version of the object, which if empty defaults to \"1.0\""),
            "dockerImageReference": string("DockerImageReference is the string that can be used to pull this image."),
            "dockerImageSignatures": array("DockerImageSignatures provides the signatures as opaque blobs. This is a part of manifest schema v1.", json!({"type": "string", "format": "byte"})),
            "signatures": with(
                array("Signatures holds all signatures of the image.", item_ref(&image("ImageSignature"))),
                json!({"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}),
            ),
        }),
    )
}

fn image_layer() -> Value {
    let schema = object(
        "ImageLayer represents a single layer of the image. Some images may have multiple layers. Some may have none.",
        json!({
            "mediaType": string("MediaType of the referenced object."),
            "name": string("Name of the layer as defined by the underlying store."),
            "size": int64("Size of the layer in bytes as defined by the underlying store."),
        }),
    );
    required(schema, &["name", "size", "mediaType"])
}

fn image_manifest() -> Value {
    let schema = object(
        "ImageManifest represents sub-manifests of a manifest list. The Digest field points to a regular Image object.",
        json!({
            "architecture": string("Architecture specifies the supported CPU architecture, for example `amd64` or `ppc64le`."),
            "digest": string("Digest is the unique identifier for the manifest. It refers to an Image object."),
            "manifestSize": int64("ManifestSize represents the size of the raw object contents, in bytes."),
            "mediaType": string("MediaType defines the type of the manifest, possible values are application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json or application/vnd.docker.distribution.manifest.v1+json."),
            "os": string("OS specifies the operating system, for example `linux`."),
            "variant": string("Variant is an optional field representing a variant of the CPU, for example v6 to specify a particular CPU variant of the ARM CPU."),
        }),
    );
    required(
        schema,
        &["digest", "mediaType", "manifestSize", "architecture", "os"],
    )
}

fn image_signature() -> Value {
    let schema = kind(
        GV,
        "ImageSignature",
        "ImageSignature holds a signature of an image. It allows to verify image identity and possibly other claims as long as the signature is trusted. Based on this information it is possible to restrict runnable images to those matching cluster-wide policy. Mandatory fields should be parsed by clients doing image verification. The others are parsed from signature's content by the server. They serve just an informative purpose.",
        json!({
            "conditions": with(
                array("Conditions represent the latest available observations of a signature's current state.", item_ref(&image("SignatureCondition"))),
                json!({"x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge"}),
            ),
            "content": json!({"description": "Required: An opaque binary string which is an image's signature.", "type": "string", "format": "byte"}),
            "created": field_ref(&meta("Time"), "If specified, it is the time of signature's creation."),
            "imageIdentity": string("A human readable string representing image's identity. It could be a product name and version, or an image pull spec (e.g. \"registry.access.redhat.com/rhel7/rhel:7.2\")."),
            "issuedBy": field_ref(&image("SignatureIssuer"), "If specified, it holds information about an issuer of signing certificate or key (a person or entity who signed the signing certificate or key)."),
            "issuedTo": field_ref(&image("SignatureSubject"), "If specified, it holds information about a subject of signing certificate or key (a person or entity who signed the image)."),
            "signedClaims": string_map("Contains claims from the signature."),
            "type": string("Required: Describes a type of stored blob."),
        }),
    );
    required(schema, &["type", "content"])
}

fn signature_condition() -> Value {
    let schema = object(
        "SignatureCondition describes an image signature condition of particular kind at particular probe time.",
        json!({
            "lastProbeTime": field_ref(&meta("Time"), "Last time the condition was checked."),
            "lastTransitionTime": field_ref(&meta("Time"), "Last time the condition transit from one status to another."),
            "message": string("Human readable message indicating details about last transition."),
            "reason": string("(brief) reason for the condition's last transition."),
            "status": string("Status of the condition, one of True, False, Unknown."),
            "type": string("Type of signature condition, Complete or Failed."),
        }),
    );
    required(schema, &["type", "status"])
}

fn signature_issuer() -> Value {
    object(
        "SignatureIssuer holds information about an issuer of signing certificate or key.",
        json!({
            "commonName": string("Common name (e.g. openshift-signing-service)."),
            "organization": string("Organization name."),
        }),
    )
}

fn signature_subject() -> Value {
    let schema = object(
        "SignatureSubject holds information about a person or entity who created the signature.",
        json!({
            "commonName": string("Common name (e.g. openshift-signing-service)."),
            "organization": string("Organization name."),
            "publicKeyID": string("If present, it is a human readable key id of public key belonging to the subject used to verify image signature. It should contain at least 64 lowest bits of public key's fingerprint (e.g. 0x685ebe62bf278440)."),
        }),
    );
    required(schema, &["publicKeyID"])
}
