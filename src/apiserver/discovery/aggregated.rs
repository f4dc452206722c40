//! Aggregated discovery (`apidiscovery.k8s.io/v2`, and `v2beta1` which kube-rs still offers):
//! one `APIGroupDiscoveryList` for `/apis` and one for `/api`, so kubectl skips every
//! per-group GET (contract §1.6).

use serde_json::{json, Map, Value};

use super::resources::{GroupVersion, Resource, Scope, Subresource, GROUP_VERSIONS};

/// `Content-Type` of a v2 aggregated discovery response; client-go tells aggregated from
/// legacy by this header alone.
pub const AGGREGATED_V2_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// `Content-Type` of a v2beta1 aggregated discovery response.
pub const AGGREGATED_V2BETA1_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated discovery version a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregatedVersion {
    /// `apidiscovery.k8s.io/v2`, what kubectl 1.37 asks.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`, which kube-rs `run_aggregated()` also offers.
    V2Beta1,
}

impl AggregatedVersion {
    /// The `apiVersion` of the document body.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V2 => "apidiscovery.k8s.io/v2",
            Self::V2Beta1 => "apidiscovery.k8s.io/v2beta1",
        }
    }

    /// The response `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V2 => AGGREGATED_V2_CONTENT_TYPE,
            Self::V2Beta1 => AGGREGATED_V2BETA1_CONTENT_TYPE,
        }
    }
}

/// Picks the aggregated version an `Accept` header prefers for `/api` or `/apis`, or `None`
/// when plain JSON (or anything) comes first and the legacy document should be served.
/// Media ranges are taken in the client's order, as client-go lists them by preference.
pub fn negotiate_aggregated(accept: Option<&str>) -> Option<AggregatedVersion> {
    for range in accept?.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        match media.as_str() {
            "application/json" if is_plain(&params) => return None,
            "application/json" => {
                if let Some(version) = aggregated_params(&params) {
                    return Some(version);
                }
            }
            "*/*" | "application/*" => return None,
            _ => {}
        }
    }
    None
}

fn param<'a>(params: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
}

/// A JSON range without `g`/`v`/`as` asks for the ordinary document.
fn is_plain(params: &[(&str, &str)]) -> bool {
    ["g", "v", "as"].iter().all(|k| param(params, k).is_none())
}

fn aggregated_params(params: &[(&str, &str)]) -> Option<AggregatedVersion> {
    if param(params, "g")? != "apidiscovery.k8s.io"
        || param(params, "as")? != "APIGroupDiscoveryList"
    {
        return None;
    }
    match param(params, "v")? {
        "v2" => Some(AggregatedVersion::V2),
        "v2beta1" => Some(AggregatedVersion::V2Beta1),
        _ => None,
    }
}

/// The `APIGroupDiscoveryList` for `GET /apis`: every named group.
pub fn aggregated_apis(version: AggregatedVersion) -> Value {
    discovery_list(
        version,
        GROUP_VERSIONS.iter().filter(|gv| !gv.is_core()).copied(),
    )
}

/// The `APIGroupDiscoveryList` for `GET /api`: the legacy core group, whose name is empty.
pub fn aggregated_core(version: AggregatedVersion) -> Value {
    discovery_list(
        version,
        GROUP_VERSIONS.iter().filter(|gv| gv.is_core()).copied(),
    )
}

fn discovery_list<'a>(
    version: AggregatedVersion,
    group_versions: impl Iterator<Item = &'a GroupVersion>,
) -> Value {
    let mut groups: Vec<(&str, Vec<Value>)> = Vec::new();
    for gv in group_versions {
        let entry = version_discovery(gv);
        match groups.iter_mut().find(|(name, _)| *name == gv.group) {
            Some((_, versions)) => versions.push(entry),
            None => groups.push((gv.group, vec![entry])),
        }
    }
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| group_discovery(name, versions))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": version.api_version(),
        "metadata": {},
        "items": items,
    })
}

fn group_discovery(name: &str, versions: Vec<Value>) -> Value {
    let mut metadata = Map::new();
    if !name.is_empty() {
        metadata.insert("name".into(), name.into());
    }
    metadata.insert("creationTimestamp".into(), Value::Null);
    json!({"metadata": metadata, "versions": versions})
}

fn version_discovery(gv: &GroupVersion) -> Value {
    let resources: Vec<Value> = gv
        .resources
        .iter()
        .map(|r| resource_discovery(gv, r))
        .collect();
    json!({"version": gv.version, "resources": resources, "freshness": "Current"})
}

fn resource_discovery(gv: &GroupVersion, resource: &Resource) -> Value {
    let scope = match resource.scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    };
    let mut entry = json!({
        "resource": resource.plural,
        "responseKind": response_kind(gv, resource.kind),
        "scope": scope,
        "singularResource": resource.singular,
        "verbs": resource.verbs,
    });
    let fields = entry.as_object_mut().expect("a JSON object");
    // Go's omitempty: absent rather than empty.
    if !resource.short_names.is_empty() {
        fields.insert("shortNames".into(), json!(resource.short_names));
    }
    if !resource.categories.is_empty() {
        fields.insert("categories".into(), json!(resource.categories));
    }
    if !resource.subresources.is_empty() {
        let subresources: Vec<Value> = resource
            .subresources
            .iter()
            .map(|s| subresource_discovery(gv, s))
            .collect();
        fields.insert("subresources".into(), subresources.into());
    }
    entry
}

fn subresource_discovery(gv: &GroupVersion, sub: &Subresource) -> Value {
    json!({"subresource": sub.name, "responseKind": response_kind(gv, sub.kind), "verbs": sub.verbs})
}

fn response_kind(gv: &GroupVersion, kind: &str) -> Value {
    json!({"group": gv.group, "version": gv.version, "kind": kind})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_negotiation(accept: Option<&str>, expected: Option<AggregatedVersion>) {
        assert_eq!(negotiate_aggregated(accept), expected, "{accept:?}");
    }

    #[test]
    fn accept_header_picks_the_first_acceptable_document() {
        use AggregatedVersion::*;
        let kubectl =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let kube_rs = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                       application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        check_negotiation(Some(kubectl), Some(V2));
        check_negotiation(Some(kube_rs), Some(V2));
        check_negotiation(
            Some("application/json; as=APIGroupDiscoveryList; v=v2beta1; g=apidiscovery.k8s.io"),
            Some(V2Beta1),
        );
        check_negotiation(Some("application/json, */*"), None);
        check_negotiation(
            Some("*/*;q=0.8,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
            None,
        );
        check_negotiation(
            Some("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"),
            None,
        );
        check_negotiation(
            Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
            None,
        );
        check_negotiation(None, None);
    }

    #[test]
    fn apis_document_matches_the_contract_for_image_streams() {
        let doc = aggregated_apis(AggregatedVersion::V2);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        assert_eq!(doc["metadata"], json!({}));
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]["metadata"],
            json!({"name": "image.openshift.io", "creationTimestamp": null})
        );
        let versions = items[0]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["version"], "v1");
        assert_eq!(versions[0]["freshness"], "Current");
        let expected = json!(
            {"resource":"imagestreams","singularResource":"imagestream","scope":"Namespaced",
             "responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStream"},
             "verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
             "shortNames":["is"],"categories":["all"],
             "subresources":[
              {"subresource":"layers","responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStreamLayers"},"verbs":["get"]},
              {"subresource":"secrets","responseKind":{"group":"image.openshift.io","version":"v1","kind":"SecretList"},"verbs":["get"]},
              {"subresource":"status","responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStream"},"verbs":["get","patch","update"]}]}
        );
        assert_eq!(versions[0]["resources"][0], expected);
        let images = json!(
            {"resource":"images","singularResource":"image","scope":"Cluster",
             "responseKind":{"group":"image.openshift.io","version":"v1","kind":"Image"},
             "verbs":["create","delete","deletecollection","get","list","patch","update","watch"]}
        );
        let tags = json!(
            {"resource":"imagestreamtags","singularResource":"imagestreamtag","scope":"Namespaced",
             "responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStreamTag"},
             "verbs":["create","delete","get","list","patch","update"],"shortNames":["istag"]}
        );
        let stream_images = json!(
            {"resource":"imagestreamimages","singularResource":"imagestreamimage","scope":"Namespaced",
             "responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStreamImage"},
             "verbs":["get"],"shortNames":["isimage"]}
        );
        let imports = json!(
            {"resource":"imagestreamimports","singularResource":"imagestreamimport","scope":"Namespaced",
             "responseKind":{"group":"image.openshift.io","version":"v1","kind":"ImageStreamImport"},
             "verbs":["create"]}
        );
        assert_eq!(versions[0]["resources"][1], tags);
        assert_eq!(versions[0]["resources"][2], stream_images);
        assert_eq!(versions[0]["resources"][3], imports);
        assert_eq!(versions[0]["resources"][4], images);
        assert_eq!(versions[0]["resources"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn core_document_has_one_nameless_group_with_secrets_events_and_namespaces() {
        let doc = aggregated_core(AggregatedVersion::V2);
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"], json!({"creationTimestamp": null}));
        let resources = &items[0]["versions"][0]["resources"];
        assert_eq!(resources[0]["resource"], "secrets");
        assert_eq!(
            resources[0]["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Secret"})
        );
        assert_eq!(resources[1]["resource"], "events");
        assert_eq!(resources[1]["verbs"], json!(["list"]));
        assert_eq!(resources[2]["resource"], "namespaces");
        assert_eq!(resources[2]["scope"], "Cluster");
        assert_eq!(resources[2]["verbs"], json!(["get"]));
        assert_eq!(items[0]["versions"][0]["freshness"], "Current");
    }

    #[test]
    fn v2beta1_differs_only_in_api_version_and_content_type() {
        let mut beta = aggregated_apis(AggregatedVersion::V2Beta1);
        assert_eq!(beta["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        beta["apiVersion"] = "apidiscovery.k8s.io/v2".into();
        assert_eq!(beta, aggregated_apis(AggregatedVersion::V2));
        assert_eq!(
            AggregatedVersion::V2Beta1.content_type(),
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        );
        assert_eq!(
            AggregatedVersion::V2.content_type(),
            AGGREGATED_V2_CONTENT_TYPE
        );
    }
}
