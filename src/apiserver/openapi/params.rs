//! Operation parameters, inline as kube-apiserver's v3 documents write them. kubectl's
//! query-param verifier finds `fieldValidation` only inline or under `#/parameters/`, so
//! inline it is (contract §1.7).

use serde_json::{json, Value};

fn parameter(location: &str, name: &str, schema_type: &str, description: &str) -> Value {
    json!({"name": name, "in": location, "description": description, "schema": {"type": schema_type, "uniqueItems": true}})
}

fn query(name: &str, schema_type: &str, description: &str) -> Value {
    parameter("query", name, schema_type, description)
}

/// `{name}` of an object of this kind.
pub(super) fn name(kind: &str) -> Value {
    let mut param = parameter("path", "name", "string", &format!("name of the {kind}"));
    param["required"] = true.into();
    param
}

/// `{namespace}`.
pub(super) fn namespace() -> Value {
    let mut param = parameter(
        "path",
        "namespace",
        "string",
        "object name and auth scope, such as for teams and projects",
    );
    param["required"] = true.into();
    param
}

/// `pretty`, accepted everywhere.
pub(super) fn pretty() -> Value {
    query("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).")
}

fn dry_run() -> Value {
    query("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
}

fn field_manager(extra: &str) -> Value {
    let description = format!("fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.{extra}");
    query("fieldManager", "string", &description)
}

fn field_validation() -> Value {
    query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.")
}

/// Parameters of POST and PUT.
pub(super) fn write() -> Vec<Value> {
    vec![dry_run(), field_manager(""), field_validation()]
}

/// Parameters of PATCH, including server-side apply's `force`.
pub(super) fn patch() -> Vec<Value> {
    vec![
        dry_run(),
        field_manager(" This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."),
        field_validation(),
        query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."),
    ]
}

/// Parameters of DELETE on one object.
pub(super) fn delete() -> Vec<Value> {
    vec![
        dry_run(),
        query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
        query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. The default value is false, and the user must opt in to enable it"),
        query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
        query("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
    ]
}

/// Selection and paging parameters of every list.
pub(super) fn list() -> Vec<Value> {
    vec![
        query("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token. This field is not supported when watch is true."),
        query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
        query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
        query("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. Setting a limit may return fewer than the requested amount of items (up to zero items) in the event all requested objects are filtered out and clients should only use the presence of the continue field to determine whether more results are available. If limit is specified and the continue field is empty, clients may assume that no more results are available. This field is not supported if watch is true."),
        query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details. Defaults to unset"),
        query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details. Defaults to unset"),
        query("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    ]
}

/// List parameters plus the watch ones.
pub(super) fn list_and_watch() -> Vec<Value> {
    let mut params = list();
    params.insert(0, query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."));
    params.push(query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation. When `sendInitialEvents` option is set, we require `resourceVersionMatch` option to also be set."));
    params.push(query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."));
    params
}

/// DELETE on a collection: list selection plus delete options.
pub(super) fn delete_collection() -> Vec<Value> {
    let mut params = list();
    params.extend(delete());
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(params: &[Value]) -> Vec<&str> {
        params.iter().map(|p| p["name"].as_str().unwrap()).collect()
    }

    #[test]
    fn patch_lists_the_query_parameters_kubectl_checks() {
        assert_eq!(
            names(&patch()),
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        assert!(patch().iter().all(|p| p["in"] == "query"));
        assert_eq!(
            names(&write()),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
    }

    #[test]
    fn path_parameters_are_required() {
        assert_eq!(name("ImageStream")["required"], true);
        assert_eq!(
            name("ImageStream")["description"],
            "name of the ImageStream"
        );
        assert_eq!(namespace()["in"], "path");
        assert_eq!(namespace()["required"], true);
    }

    #[test]
    fn collection_parameters_have_no_duplicates() {
        for params in [list_and_watch(), delete_collection()] {
            let mut seen = names(&params);
            seen.sort();
            let count = seen.len();
            seen.dedup();
            assert_eq!(seen.len(), count);
        }
        assert!(names(&list_and_watch()).contains(&"sendInitialEvents"));
    }
}
