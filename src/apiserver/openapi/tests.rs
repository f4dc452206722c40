//! Checks of the served documents, several re-implementing what kubectl does with them.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;

const IMAGE_DOC: &str = "apis/image.openshift.io/v1";
const CORE_DOC: &str = "api/v1";
const STREAM_ITEM: &str = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}";

fn doc(path: &str) -> &'static Value {
    v3_group_version(path, Audience::Direct)
        .unwrap_or_else(|| panic!("no document {path}"))
        .value()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["components"]["schemas"]
        .get(name)
        .unwrap_or_else(|| panic!("no schema {name}"))
}

fn gvk(group: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": "v1"})
}

/// kubectl's `supportsQueryParamV3`: a PATCH operation tagged with the kind must list the
/// parameter inline or as a `#/parameters/` ref. kubectl stops at the first tagged PATCH it
/// meets in Go's random map order, so every tagged PATCH must pass.
fn supports_query_param(doc: &Value, kind: &Value, param: &str) -> bool {
    let mut tagged = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        let Some(patch) = item.get("patch") else {
            continue;
        };
        if &patch["x-kubernetes-group-version-kind"] != kind {
            continue;
        }
        tagged += 1;
        let params = patch["parameters"].as_array().cloned().unwrap_or_default();
        let found = params.iter().any(|p| {
            let inline = p["name"] == param && p["in"] == "query";
            let global = p["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/parameters/"))
                .is_some_and(|key| {
                    let global = &doc["components"]["parameters"][key];
                    global["name"] == param && global["in"] == "query"
                });
            inline || global
        });
        if !found {
            return false;
        }
    }
    tagged > 0
}

#[test]
fn kubectl_finds_field_validation_for_every_patchable_kind() {
    assert!(supports_query_param(
        doc(IMAGE_DOC),
        &gvk("image.openshift.io", "ImageStream"),
        "fieldValidation"
    ));
    assert!(supports_query_param(
        doc(IMAGE_DOC),
        &gvk("image.openshift.io", "Image"),
        "fieldValidation"
    ));
    assert!(supports_query_param(
        doc(CORE_DOC),
        &gvk("", "Secret"),
        "fieldValidation"
    ));
    assert!(!supports_query_param(
        doc(IMAGE_DOC),
        &gvk("image.openshift.io", "ImageStreamLayers"),
        "fieldValidation"
    ));
    assert!(!supports_query_param(
        doc(IMAGE_DOC),
        &gvk("image.openshift.io", "ImageStream"),
        "noSuchParam"
    ));
}

#[test]
fn image_stream_patch_operation_has_what_kubectl_reads() {
    let patch = &doc(IMAGE_DOC)["paths"][STREAM_ITEM]["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        gvk("image.openshift.io", "ImageStream")
    );
    let names: Vec<_> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["dryRun", "fieldManager", "fieldValidation", "force"]
    );
    let content: Vec<_> = patch["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(content, PATCH_CONTENT_TYPES);
    for method in ["get", "put", "delete"] {
        assert_eq!(
            doc(IMAGE_DOC)["paths"][STREAM_ITEM][method]["x-kubernetes-action"],
            method
        );
    }
}

#[test]
fn every_operation_carries_an_action_and_a_gvk() {
    for path in [IMAGE_DOC, CORE_DOC] {
        for (url, item) in doc(path)["paths"].as_object().unwrap() {
            for (method, op) in item
                .as_object()
                .unwrap()
                .iter()
                .filter(|(m, _)| *m != "parameters")
            {
                assert!(op["x-kubernetes-action"].is_string(), "{method} {url}");
                assert!(
                    op["x-kubernetes-group-version-kind"]["kind"].is_string(),
                    "{method} {url}"
                );
                assert!(op["operationId"].is_string(), "{method} {url}");
            }
        }
    }
}

/// Walks a whole document and checks each `$ref` against its schemas.
fn check_refs_resolve(document: &Value, prefix: &str, schemas: &Value) {
    let mut count = 0;
    visit_refs(document, &mut |target| {
        count += 1;
        let name = target
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("foreign ref {target}"));
        assert!(schemas.get(name).is_some(), "dangling ref {target}");
    });
    assert!(count > 20, "only {count} refs");
}

#[test]
fn every_ref_resolves_to_a_defined_schema() {
    for path in [IMAGE_DOC, CORE_DOC] {
        let document = doc(path);
        check_refs_resolve(
            document,
            "#/components/schemas/",
            &document["components"]["schemas"],
        );
    }
    let swagger = v2(Audience::Direct).value();
    check_refs_resolve(swagger, "#/definitions/", &swagger["definitions"]);
}

#[test]
fn group_version_documents_hold_only_reachable_schemas() {
    let core = doc(CORE_DOC)["components"]["schemas"].as_object().unwrap();
    assert!(core
        .keys()
        .all(|name| !name.starts_with("com.github.openshift")));
    assert!(core.contains_key("io.k8s.api.core.v1.Secret"));
    let image = doc(IMAGE_DOC)["components"]["schemas"].as_object().unwrap();
    for name in [
        "ImageStream",
        "ImageStreamList",
        "ImageStreamLayers",
        "Image",
        "ImageList",
        "SecretList",
        "TagEventCondition",
    ] {
        assert!(
            image.contains_key(&format!("com.github.openshift.api.image.v1.{name}")),
            "{name}"
        );
    }
    for name in [
        "ObjectMeta",
        "ListMeta",
        "ManagedFieldsEntry",
        "OwnerReference",
        "Time",
        "FieldsV1",
        "Status",
        "StatusDetails",
        "StatusCause",
        "DeleteOptions",
        "Preconditions",
        "Patch",
    ] {
        assert!(
            image.contains_key(&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{name}")),
            "{name}"
        );
    }
    assert!(image.contains_key("io.k8s.api.core.v1.ObjectReference"));
    assert!(image.contains_key("io.k8s.api.core.v1.Secret"));
}

#[test]
fn index_hashes_match_the_served_documents() {
    let paths = v3_index(Audience::Direct).value()["paths"]
        .as_object()
        .unwrap();
    let keys: Vec<_> = paths.keys().map(String::as_str).collect();
    assert_eq!(keys, [CORE_DOC, IMAGE_DOC]);
    for (path, entry) in paths {
        let url = entry["serverRelativeURL"].as_str().unwrap();
        let (served_path, hash) = url.split_once("?hash=").unwrap();
        assert_eq!(served_path, format!("/openapi/v3/{path}"));
        let document = v3_group_version(
            served_path.trim_start_matches("/openapi/v3"),
            Audience::Direct,
        )
        .unwrap();
        let expected: String = Sha256::digest(document.bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(hash, expected);
        assert_eq!(document.hash(), expected);
        assert_eq!(
            serde_json::from_slice::<Value>(&document.bytes()).unwrap(),
            *document.value()
        );
    }
}

#[test]
fn documents_are_stable_across_rebuilds() {
    let rebuilt = Document::new(group_version_document(
        &crate::apiserver::discovery::IMAGE_V1,
    ));
    assert_eq!(
        rebuilt.hash(),
        v3_group_version(IMAGE_DOC, Audience::Direct)
            .unwrap()
            .hash()
    );
    assert!(std::ptr::eq(
        v3_group_version("/apis/image.openshift.io/v1/", Audience::Direct).unwrap(),
        v3_group_version(IMAGE_DOC, Audience::Direct).unwrap()
    ));
    assert!(v3_group_version("apis/apps/v1", Audience::Direct).is_none());
}

/// kubectl's `PatchMetaFromOpenAPIV3`: a property's patch extensions sit on the property;
/// its type is `allOf[0]` / `items`, then `$ref` into the document's schemas.
struct PatchMeta<'a> {
    doc: &'a Value,
    schema: &'a Value,
}

impl<'a> PatchMeta<'a> {
    /// The schema kubectl's patcher picks: the first whose GVK array lists the kind.
    fn for_kind(doc: &'a Value, kind: &Value) -> Self {
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let schema = schemas.values().find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|a| a.contains(kind))
        });
        Self {
            doc,
            schema: schema.expect("a schema tagged with the kind"),
        }
    }

    /// Looks up a field, returning its merge key and strategy, and steps into its type.
    fn field(&self, key: &str, slice: bool) -> (PatchMeta<'a>, Option<&'a str>, Option<&'a str>) {
        let property = self.schema["properties"]
            .get(key)
            .unwrap_or_else(|| panic!("unable to find api field \"{key}\""));
        let merge_key = property["x-kubernetes-patch-merge-key"].as_str();
        let strategy = property["x-kubernetes-patch-strategy"].as_str();
        let mut next = if slice { &property["items"] } else { property };
        if let Some(first) = next["allOf"].get(0) {
            next = first;
        }
        if let Some(target) = next["$ref"].as_str() {
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            next = &self.doc["components"]["schemas"][name];
        }
        (
            PatchMeta {
                doc: self.doc,
                schema: next,
            },
            merge_key,
            strategy,
        )
    }
}

#[test]
fn strategic_merge_lookups_reach_every_field_kubectl_patches() {
    let document = doc(IMAGE_DOC);
    let stream = PatchMeta::for_kind(document, &gvk("image.openshift.io", "ImageStream"));
    let (metadata, _, _) = stream.field("metadata", false);
    for field in [
        "annotations",
        "labels",
        "name",
        "namespace",
        "resourceVersion",
        "generation",
    ] {
        metadata.field(field, false);
    }
    let (_, owner_key, owner_strategy) = metadata.field("ownerReferences", true);
    assert_eq!((owner_key, owner_strategy), (Some("uid"), Some("merge")));
    let (_, _, finalizer_strategy) = metadata.field("finalizers", true);
    assert_eq!(finalizer_strategy, Some("merge"));

    let (spec, _, _) = stream.field("spec", false);
    let (tag, key, strategy) = spec.field("tags", true);
    assert_eq!((key, strategy), (Some("name"), Some("merge")));
    let (from, _, _) = tag.field("from", false);
    from.field("kind", false);
    tag.field("importPolicy", false)
        .0
        .field("importMode", false);
    spec.field("lookupPolicy", false).0.field("local", false);

    let (status, _, _) = stream.field("status", false);
    let (history, key, strategy) = status.field("tags", true);
    assert_eq!((key, strategy), (Some("tag"), Some("merge")));
    let (event, _, _) = history.field("items", true);
    assert_eq!(
        event.field("created", false).0.schema["format"],
        "date-time"
    );
}

#[test]
fn keyed_lists_declare_list_map_keys_for_server_side_apply() {
    let spec = component("com.github.openshift.api.image.v1.ImageStreamSpec").unwrap();
    assert_eq!(spec["properties"]["tags"]["x-kubernetes-list-type"], "map");
    assert_eq!(
        spec["properties"]["tags"]["x-kubernetes-list-map-keys"],
        json!(["name"])
    );
    let status = component("com.github.openshift.api.image.v1.ImageStreamStatus").unwrap();
    assert_eq!(
        status["properties"]["tags"]["x-kubernetes-list-map-keys"],
        json!(["tag"])
    );
    let meta = component("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap();
    assert_eq!(
        meta["properties"]["ownerReferences"]["x-kubernetes-list-map-keys"],
        json!(["uid"])
    );
    assert_eq!(
        meta["properties"]["finalizers"]["x-kubernetes-list-type"],
        "set"
    );
    assert!(component("nope").is_none());
}

fn check_required(name: &str, expected: &[&str]) {
    let schema = component(&format!("com.github.openshift.api.image.v1.{name}")).unwrap();
    let required = schema.get("required").cloned().unwrap_or(json!([]));
    assert_eq!(required, json!(expected), "{name}");
}

#[test]
fn required_fields_follow_openshift_api() {
    check_required("ImageStream", &[]);
    check_required("ImageStreamSpec", &[]);
    check_required("ImageLookupPolicy", &["local"]);
    check_required("TagReference", &["name"]);
    check_required("TagReferencePolicy", &["type"]);
    check_required("ImageStreamStatus", &["dockerImageRepository"]);
    check_required("NamedTagEventList", &["tag", "items"]);
    check_required(
        "TagEvent",
        &["created", "dockerImageReference", "image", "generation"],
    );
    check_required("TagEventCondition", &["type", "status", "generation"]);
    check_required("ImageStreamLayers", &["blobs", "images"]);
    check_required("ImageStreamList", &["items"]);
}

#[test]
fn each_served_kind_is_described_by_exactly_one_schema() {
    let cases = [
        (
            IMAGE_DOC,
            "image.openshift.io",
            [
                "ImageStream",
                "ImageStreamList",
                "ImageStreamLayers",
                "SecretList",
                "Image",
                "ImageList",
            ]
            .as_slice(),
        ),
        (CORE_DOC, "", ["Secret", "SecretList"].as_slice()),
    ];
    for (path, group, kinds) in cases {
        let schemas = doc(path)["components"]["schemas"].as_object().unwrap();
        for kind in kinds {
            let tagged = schemas.values().filter(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|a| a.contains(&gvk(group, kind)))
            });
            assert_eq!(tagged.count(), 1, "{group}/{kind}");
        }
    }
}

/// `kubectl explain` prints each field's description; an empty one reads as a bug.
fn check_descriptions(name: &str, schema: &Value) {
    assert!(
        schema["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{name}"
    );
    for (field, property) in schema["properties"].as_object().into_iter().flatten() {
        assert!(
            property["description"]
                .as_str()
                .is_some_and(|d| d.len() > 8),
            "{name}.{field}"
        );
    }
}

#[test]
fn every_schema_and_field_is_documented_for_explain() {
    for path in [IMAGE_DOC, CORE_DOC] {
        for (name, schema) in doc(path)["components"]["schemas"].as_object().unwrap() {
            check_descriptions(name, schema);
        }
    }
    let local = &component("com.github.openshift.api.image.v1.ImageLookupPolicy").unwrap()
        ["properties"]["local"];
    assert!(local["description"]
        .as_str()
        .unwrap()
        .starts_with("local will change the docker short image references"));
}

#[test]
fn secret_document_lets_kubectl_create_docker_registry_secrets() {
    let document = doc(CORE_DOC);
    let collection = &document["paths"]["/api/v1/namespaces/{namespace}/secrets"];
    let post = &collection["post"];
    assert_eq!(post["x-kubernetes-group-version-kind"], gvk("", "Secret"));
    assert!(post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
    assert_eq!(
        post["requestBody"]["content"]["*/*"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Secret"
    );
    let secret = schema(document, "io.k8s.api.core.v1.Secret");
    for field in ["data", "stringData", "type", "immutable", "metadata"] {
        assert!(secret["properties"].get(field).is_some(), "{field}");
    }
    assert_eq!(
        secret["properties"]["data"]["additionalProperties"]["format"],
        "byte"
    );
    assert_eq!(
        schema(document, "io.k8s.api.core.v1.SecretList")["required"],
        json!(["items"])
    );
}

#[test]
fn v2_document_is_swagger_with_inline_parameter_types() {
    let swagger = v2(Audience::Direct).value();
    assert_eq!(swagger["swagger"], "2.0");
    let patch = &swagger["paths"][STREAM_ITEM]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        gvk("image.openshift.io", "ImageStream")
    );
    let params = patch["parameters"].as_array().unwrap();
    assert_eq!(params[0]["in"], "body");
    let validation = params
        .iter()
        .find(|p| p["name"] == "fieldValidation")
        .unwrap();
    assert_eq!(validation["type"], "string");
    assert!(validation.get("schema").is_none());
    assert_eq!(patch["consumes"], json!(PATCH_CONTENT_TYPES));
    assert!(swagger["paths"]
        .get("/api/v1/namespaces/{namespace}/secrets/{name}")
        .is_some());
    let stream = &swagger["definitions"]["com.github.openshift.api.image.v1.ImageStream"];
    assert_eq!(
        stream["properties"]["spec"]["$ref"],
        "#/definitions/com.github.openshift.api.image.v1.ImageStreamSpec"
    );
    assert_eq!(
        stream["x-kubernetes-group-version-kind"],
        json!([gvk("image.openshift.io", "ImageStream")])
    );
}

#[test]
fn the_aggregator_is_offered_only_the_groups_an_apiservice_routes_here() {
    let listed = |audience| -> Vec<String> {
        let index = v3_index(audience).value()["paths"].as_object().unwrap();
        index.keys().cloned().collect()
    };
    assert_eq!(listed(Audience::Direct), ["api/v1", IMAGE_DOC]);
    assert_eq!(listed(Audience::Aggregator), [IMAGE_DOC]);
    assert!(v3_group_version("api/v1", Audience::Direct).is_some());
    assert!(v3_group_version("api/v1", Audience::Aggregator).is_none());
    assert_eq!(
        v3_group_version(IMAGE_DOC, Audience::Aggregator)
            .unwrap()
            .hash(),
        v3_group_version(IMAGE_DOC, Audience::Direct)
            .unwrap()
            .hash(),
        "the same document for the group both see"
    );
    let v2_paths = |audience| -> Vec<String> {
        let paths = v2(audience).value()["paths"].as_object().unwrap();
        paths.keys().cloned().collect()
    };
    let core = |path: &String| path.starts_with("/api/");
    assert!(v2_paths(Audience::Direct).iter().any(core));
    let aggregated = v2_paths(Audience::Aggregator);
    assert!(
        !aggregated.is_empty() && !aggregated.iter().any(core),
        "{aggregated:?}"
    );
    assert_ne!(
        v2_protobuf(Audience::Aggregator),
        v2_protobuf(Audience::Direct)
    );
}
