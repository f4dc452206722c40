//! Discovery documents: `/version`, the legacy `/api`, `/api/v1`, `/apis`,
//! `/apis/image.openshift.io`, `/apis/image.openshift.io/v1`, and aggregated discovery.
//!
//! Pure functions returning JSON values; the HTTP layer picks one and sets the content type.
//! Everything is derived from the resource table in `resources`, which the OpenAPI
//! documents read too (contract §1).

mod aggregated;
mod resources;

use serde_json::{json, Map, Value};

pub use aggregated::{
    aggregated_apis, aggregated_core, negotiate_aggregated, AggregatedVersion,
    AGGREGATED_V2BETA1_CONTENT_TYPE, AGGREGATED_V2_CONTENT_TYPE,
};
pub use resources::{
    names_a_served_group, names_a_served_resource, storage_version_hash, GroupVersion, Resource,
    Scope, Subresource, CORE_V1, GROUP_VERSIONS, IMAGE_V1,
};

/// The Kubernetes major version we claim; `kubectl version` compares it for skew warnings.
pub const KUBE_MAJOR: &str = "1";
/// The Kubernetes minor version we claim (the API surface of k8s-openapi's `v1_33`).
pub const KUBE_MINOR: &str = "33";

/// Build facts reported by `/version`, taken from the environment at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The source commit (`IMAGELOOKUP_GIT_COMMIT`).
    pub git_commit: &'static str,
    /// `clean` or `dirty` (`IMAGELOOKUP_GIT_TREE_STATE`).
    pub git_tree_state: &'static str,
    /// RFC 3339 build time (`IMAGELOOKUP_BUILD_DATE`).
    pub build_date: &'static str,
}

impl BuildInfo {
    /// This binary's build facts; unset variables read as `unknown` and the epoch, since a
    /// plain `cargo build` has no build script to fill them in.
    pub const CURRENT: BuildInfo = BuildInfo {
        git_commit: match option_env!("IMAGELOOKUP_GIT_COMMIT") {
            Some(commit) => commit,
            None => "unknown",
        },
        git_tree_state: match option_env!("IMAGELOOKUP_GIT_TREE_STATE") {
            Some(state) => state,
            None => "unknown",
        },
        build_date: match option_env!("IMAGELOOKUP_BUILD_DATE") {
            Some(date) => date,
            None => "1970-01-01T00:00:00Z",
        },
    };
}

/// `v1.33.0+imagelookup-<crate version>`: a semver kubectl can parse, saying what we are.
pub fn git_version() -> String {
    format!(
        "v{KUBE_MAJOR}.{KUBE_MINOR}.0+imagelookup-{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `GET /version`: a `version.Info`. The Python DynamicClient calls it at construction.
pub fn version_info(build: &BuildInfo) -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": git_version(),
        "gitCommit": build.git_commit,
        "gitTreeState": build.git_tree_state,
        "buildDate": build.build_date,
        "goVersion": "n/a",
        "compiler": "rustc",
        "platform": platform(),
    })
}

/// `os/arch` in Go's spelling (`linux/amd64`), which is what clients print and compare.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// `GET /api`: the legacy `APIVersions`. kube-rs refuses an empty `versions`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": [CORE_V1.version],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `GET /apis`: the legacy `APIGroupList` of every named group.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUP_VERSIONS
        .iter()
        .filter(|gv| !gv.is_core())
        .map(|gv| group_body(gv))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: the `APIGroup`, or `None` for a group we don't serve.
pub fn api_group(name: &str) -> Option<Value> {
    let gv = GROUP_VERSIONS
        .iter()
        .find(|gv| !gv.is_core() && gv.group == name)?;
    let mut doc = Map::new();
    doc.insert("kind".into(), "APIGroup".into());
    doc.insert("apiVersion".into(), "v1".into());
    doc.extend(group_body(gv).as_object().cloned().unwrap_or_default());
    Some(Value::Object(doc))
}

/// The versions entry and `preferredVersion` are built by one function: the Python client
/// finds the preferred version by comparing the two dicts for equality (contract §1.4).
fn group_body(gv: &GroupVersion) -> Value {
    let version = json!({"groupVersion": gv.api_version(), "version": gv.version});
    json!({"name": gv.group, "versions": [version.clone()], "preferredVersion": version})
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`: the legacy `APIResourceList`.
pub fn api_resource_list(gv: &GroupVersion) -> Value {
    let resources: Vec<Value> = gv
        .resources
        .iter()
        .flat_map(|r| legacy_entries(gv, r))
        .collect();
    let mut doc = Map::new();
    doc.insert("kind".into(), "APIResourceList".into());
    // The real apiserver omits apiVersion on /api/v1 only; mirror it byte for byte.
    if !gv.is_core() {
        doc.insert("apiVersion".into(), "v1".into());
    }
    doc.insert("groupVersion".into(), gv.api_version().into());
    doc.insert("resources".into(), resources.into());
    Value::Object(doc)
}

/// `GET <path>` for a group-version root, e.g. `/apis/image.openshift.io/v1`.
pub fn api_resource_list_for(url_prefix: &str) -> Option<Value> {
    let gv = GROUP_VERSIONS
        .iter()
        .find(|gv| gv.url_prefix() == url_prefix.trim_end_matches('/'))?;
    Some(api_resource_list(gv))
}

fn legacy_entries(gv: &GroupVersion, resource: &Resource) -> Vec<Value> {
    let mut main = json!({
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced(),
        "kind": resource.kind,
        "verbs": resource.verbs,
    });
    let fields = main.as_object_mut().expect("a JSON object");
    if !resource.short_names.is_empty() {
        fields.insert("shortNames".into(), json!(resource.short_names));
    }
    if !resource.categories.is_empty() {
        fields.insert("categories".into(), json!(resource.categories));
    }
    let hash = storage_version_hash(gv.group, gv.version, resource.kind);
    fields.insert("storageVersionHash".into(), hash.into());
    let subresources = resource.subresources.iter().map(|sub| {
        json!({
            "name": format!("{}/{}", resource.plural, sub.name),
            "singularName": "",
            "namespaced": resource.namespaced(),
            "kind": sub.kind,
            "verbs": sub.verbs,
        })
    });
    std::iter::once(main).chain(subresources).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_resource_list_is_the_contract_document_plus_tags_and_images() {
        let expected = json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"image.openshift.io/v1","resources":[
         {"name":"imagestreams","singularName":"imagestream","namespaced":true,"kind":"ImageStream",
          "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
          "shortNames":["is"],"categories":["all"],"storageVersionHash":"mwmf9lCqOiA="},
         {"name":"imagestreams/layers","singularName":"","namespaced":true,"kind":"ImageStreamLayers","verbs":["get"]},
         {"name":"imagestreams/secrets","singularName":"","namespaced":true,"kind":"SecretList","verbs":["get"]},
         {"name":"imagestreams/status","singularName":"","namespaced":true,"kind":"ImageStream","verbs":["get","patch","update"]},
         {"name":"imagestreamtags","singularName":"imagestreamtag","namespaced":true,"kind":"ImageStreamTag",
          "verbs":["create","delete","get","list","patch","update"],"shortNames":["istag"],"storageVersionHash":"vNeOAWriwzM="},
         {"name":"imagestreamimages","singularName":"imagestreamimage","namespaced":true,"kind":"ImageStreamImage",
          "verbs":["get"],"shortNames":["isimage"],"storageVersionHash":"Yd4CrRTY7Pw="},
         {"name":"imagestreamimports","singularName":"imagestreamimport","namespaced":true,"kind":"ImageStreamImport",
          "verbs":["create"],"storageVersionHash":"tdfUi/sRftA="},
         {"name":"images","singularName":"image","namespaced":false,"kind":"Image",
          "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"storageVersionHash":"FX/i8Tt+3Fc="}]});
        assert_eq!(api_resource_list(&IMAGE_V1), expected);
        assert_eq!(
            api_resource_list_for("/apis/image.openshift.io/v1/"),
            Some(expected)
        );
    }

    #[test]
    fn core_resource_list_serves_secrets_listable_events_and_gettable_namespaces() {
        let doc = api_resource_list_for("/api/v1").unwrap();
        assert_eq!(doc["kind"], "APIResourceList");
        assert_eq!(doc["groupVersion"], "v1");
        assert!(doc.get("apiVersion").is_none());
        let secrets = json!({"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret",
            "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
            "storageVersionHash":"S6u1pOWzb84="});
        assert_eq!(doc["resources"][0], secrets);
        assert_eq!(doc["resources"][1]["name"], "events");
        assert_eq!(doc["resources"][1]["kind"], "Event");
        assert_eq!(doc["resources"][1]["verbs"], json!(["list"]));
        let namespaces = json!({"name":"namespaces","singularName":"namespace","namespaced":false,
            "kind":"Namespace","verbs":["get"],"shortNames":["ns"],"storageVersionHash":"Q3oi5N2YM8M="});
        assert_eq!(doc["resources"][2], namespaces);
        assert_eq!(doc["resources"].as_array().unwrap().len(), 3);
        assert_eq!(api_resource_list_for("/apis/apps/v1"), None);
    }

    #[test]
    fn api_versions_names_v1_and_the_server_address() {
        let expected = json!({"kind":"APIVersions","versions":["v1"],
            "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.0.1:8443"}]});
        assert_eq!(api_versions("10.0.0.1:8443"), expected);
    }

    #[test]
    fn group_list_matches_the_contract_and_preferred_equals_first_version() {
        let expected = json!({"kind":"APIGroupList","apiVersion":"v1","groups":[
          {"name":"image.openshift.io",
           "versions":[{"groupVersion":"image.openshift.io/v1","version":"v1"}],
           "preferredVersion":{"groupVersion":"image.openshift.io/v1","version":"v1"}}]});
        let doc = api_group_list();
        assert_eq!(doc, expected);
        // The Python DynamicClient compares these as dicts: same keys, same values.
        assert_eq!(
            doc["groups"][0]["versions"][0],
            doc["groups"][0]["preferredVersion"]
        );
    }

    #[test]
    fn api_group_adds_kind_and_api_version_to_the_list_entry() {
        let doc = api_group("image.openshift.io").unwrap();
        assert_eq!(doc["kind"], "APIGroup");
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(doc["name"], "image.openshift.io");
        assert_eq!(doc["versions"][0], doc["preferredVersion"]);
        assert_eq!(doc.as_object().unwrap().len(), 5);
        assert_eq!(api_group(""), None);
        assert_eq!(api_group("apps"), None);
    }

    #[test]
    fn version_info_reports_a_parsable_kubernetes_version() {
        let build = BuildInfo {
            git_commit: "abc123",
            git_tree_state: "clean",
            build_date: "2026-01-01T00:00:00Z",
        };
        let doc = version_info(&build);
        assert_eq!(doc["major"], "1");
        assert_eq!(doc["minor"], "33");
        let git_version = doc["gitVersion"].as_str().unwrap();
        assert_eq!(
            git_version,
            format!("v1.33.0+imagelookup-{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(doc["gitCommit"], "abc123");
        assert_eq!(doc["gitTreeState"], "clean");
        assert_eq!(doc["buildDate"], "2026-01-01T00:00:00Z");
        assert_eq!(doc["goVersion"], "n/a");
        assert_eq!(doc["compiler"], "rustc");
        let platform = doc["platform"].as_str().unwrap();
        assert!(
            platform.starts_with(&format!("{}/", std::env::consts::OS)),
            "{platform}"
        );
        assert!(!platform.contains("x86_64"), "{platform}");
    }

    #[test]
    fn current_build_info_falls_back_to_placeholders() {
        let doc = version_info(&BuildInfo::CURRENT);
        assert!(!doc["gitCommit"].as_str().unwrap().is_empty());
        assert!(doc["buildDate"].as_str().unwrap().ends_with('Z'));
    }
}
