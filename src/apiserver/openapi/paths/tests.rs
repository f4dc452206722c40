use super::*;
use crate::apiserver::discovery::{CORE_V1, IMAGE_V1};

fn operation<'a>(paths: &'a Map<String, Value>, path: &str, method: &str) -> &'a Value {
    paths
        .get(path)
        .and_then(|item| item.get(method))
        .unwrap_or_else(|| panic!("{method} {path}"))
}

#[test]
fn image_paths_cover_every_endpoint_and_verb() {
    let paths = paths(&IMAGE_V1);
    let mut found: Vec<String> = Vec::new();
    for (path, item) in &paths {
        for method in ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
        {
            found.push(format!(
                "{method} {}",
                path.trim_start_matches("/apis/image.openshift.io/v1")
            ));
        }
    }
    let expected = [
        "get /namespaces/{namespace}/imagestreams",
        "post /namespaces/{namespace}/imagestreams",
        "delete /namespaces/{namespace}/imagestreams",
        "get /namespaces/{namespace}/imagestreams/{name}",
        "put /namespaces/{namespace}/imagestreams/{name}",
        "patch /namespaces/{namespace}/imagestreams/{name}",
        "delete /namespaces/{namespace}/imagestreams/{name}",
        "get /imagestreams",
        "get /namespaces/{namespace}/imagestreams/{name}/layers",
        "get /namespaces/{namespace}/imagestreams/{name}/secrets",
        "get /namespaces/{namespace}/imagestreams/{name}/status",
        "put /namespaces/{namespace}/imagestreams/{name}/status",
        "patch /namespaces/{namespace}/imagestreams/{name}/status",
        "get /namespaces/{namespace}/imagestreamtags",
        "post /namespaces/{namespace}/imagestreamtags",
        "get /namespaces/{namespace}/imagestreamtags/{name}",
        "put /namespaces/{namespace}/imagestreamtags/{name}",
        "patch /namespaces/{namespace}/imagestreamtags/{name}",
        "delete /namespaces/{namespace}/imagestreamtags/{name}",
        "get /imagestreamtags",
        "get /namespaces/{namespace}/imagestreamimages/{name}",
        "post /namespaces/{namespace}/imagestreamimports",
        "get /images",
        "post /images",
        "delete /images",
        "get /images/{name}",
        "put /images/{name}",
        "patch /images/{name}",
        "delete /images/{name}",
    ];
    assert_eq!(found, expected);
}

#[test]
fn operations_are_named_and_tagged_like_kube_apiserver() {
    let paths = paths(&IMAGE_V1);
    let item = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}";
    let patch = operation(&paths, item, "patch");
    assert_eq!(
        patch["operationId"],
        "patchImageOpenshiftIoV1NamespacedImageStream"
    );
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["tags"], json!(["imageOpenshiftIo_v1"]));
    let layers = operation(&paths, &format!("{item}/layers"), "get");
    assert_eq!(
        layers["operationId"],
        "readImageOpenshiftIoV1NamespacedImageStreamLayers"
    );
    assert_eq!(
        layers["x-kubernetes-group-version-kind"]["kind"],
        "ImageStreamLayers"
    );
    let secrets = operation(&paths, &format!("{item}/secrets"), "get");
    assert_eq!(
        secrets["x-kubernetes-group-version-kind"]["kind"],
        "SecretList"
    );
    assert!(secrets["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "labelSelector"));
    let all = operation(&paths, "/apis/image.openshift.io/v1/imagestreams", "get");
    assert_eq!(
        all["operationId"],
        "listImageOpenshiftIoV1ImageStreamForAllNamespaces"
    );
    let collection = "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams";
    assert_eq!(
        operation(&paths, collection, "delete")["x-kubernetes-action"],
        "deletecollection"
    );
    assert_eq!(
        operation(&paths, collection, "post")["description"],
        "create an ImageStream"
    );
    let image = operation(&paths, "/apis/image.openshift.io/v1/images/{name}", "get");
    assert_eq!(image["operationId"], "readImageOpenshiftIoV1Image");
}

#[test]
fn patch_bodies_list_every_patch_type() {
    let paths = paths(&CORE_V1);
    let patch = operation(
        &paths,
        "/api/v1/namespaces/{namespace}/secrets/{name}",
        "patch",
    );
    let content = patch["requestBody"]["content"].as_object().unwrap();
    let types: Vec<_> = content.keys().map(String::as_str).collect();
    assert_eq!(types, PATCH_CONTENT_TYPES);
    assert_eq!(patch["operationId"], "patchCoreV1NamespacedSecret");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "Secret", "version": "v1"})
    );
}

#[test]
fn image_stream_tags_take_every_patch_type_but_apply_and_say_how_to_validate() {
    let paths = paths(&IMAGE_V1);
    let patch = operation(
        &paths,
        "/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags/{name}",
        "patch",
    );
    let content = patch["requestBody"]["content"].as_object().unwrap();
    let types: Vec<_> = content.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json"
        ]
    );
    assert_eq!(
        patch["operationId"],
        "patchImageOpenshiftIoV1NamespacedImageStreamTag"
    );
    // kubectl sends fieldValidation only where the operation lists it.
    let parameters = patch["parameters"].as_array().unwrap();
    assert!(parameters.iter().any(|p| p["name"] == "fieldValidation"));
}

#[test]
fn path_items_carry_their_scope_parameters() {
    let paths = paths(&IMAGE_V1);
    let names = |path: &str| -> Vec<String> {
        let params = paths[path]["parameters"].as_array().unwrap();
        params
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}/status"),
        ["name", "namespace", "pretty"]
    );
    assert_eq!(
        names("/apis/image.openshift.io/v1/images/{name}"),
        ["name", "pretty"]
    );
    assert_eq!(names("/apis/image.openshift.io/v1/images"), ["pretty"]);
}

#[test]
fn undocumented_resources_have_no_paths() {
    let paths = paths(&CORE_V1);
    assert!(paths.keys().all(|p| !p.contains("events")));
    assert!(paths.contains_key("/api/v1/secrets"));
}

#[test]
fn names_are_camel_cased() {
    assert_eq!(camel("image.openshift.io"), "imageOpenshiftIo");
    assert_eq!(capitalize("status"), "Status");
    assert_eq!(article("Image"), "an Image");
    assert_eq!(article("Secret"), "a Secret");
}
