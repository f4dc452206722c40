//! OpenAPI `paths` derived from the resource table: collection, item, all-namespaces and
//! subresource endpoints, one operation per verb, each tagged with `x-kubernetes-action` and
//! `x-kubernetes-group-version-kind` as kube-apiserver tags them.

use serde_json::{json, Map, Value};

use super::params;
use super::schema::{meta, reference};
use crate::apiserver::discovery::{GroupVersion, Resource, Subresource};

/// The patch media types we accept and advertise. Listing strategic merge makes kubectl
/// compute strategic merge patches from our schemas, which are complete for that.
pub const PATCH_CONTENT_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

const JSON: &[&str] = &["application/json"];
const JSON_AND_WATCH: &[&str] = &["application/json", "application/json;stream=watch"];

/// The paths of every documented resource of a group-version.
pub(super) fn paths(gv: &GroupVersion) -> Map<String, Value> {
    let mut paths = Map::new();
    for resource in gv.resources.iter().filter(|r| r.in_openapi) {
        Target::new(gv, resource).add_paths(&mut paths);
    }
    paths
}

/// One resource and the names derived from it.
struct Target<'a> {
    gv: &'a GroupVersion,
    resource: &'a Resource,
    /// The operation-id infix, e.g. `ImageOpenshiftIoV1` or `CoreV1`.
    stem: String,
    /// `Namespaced` or empty, as in `readCoreV1NamespacedSecret`.
    scope: &'static str,
}

impl<'a> Target<'a> {
    fn new(gv: &'a GroupVersion, resource: &'a Resource) -> Self {
        let group = if gv.is_core() {
            "core".to_string()
        } else {
            camel(gv.group)
        };
        let stem = format!("{}{}", capitalize(&group), capitalize(gv.version));
        let scope = if resource.namespaced() {
            "Namespaced"
        } else {
            ""
        };
        Self {
            gv,
            resource,
            stem,
            scope,
        }
    }

    fn add_paths(&self, paths: &mut Map<String, Value>) {
        let kind = self.resource.kind;
        let collection = self.collection_path();
        let item = format!("{collection}/{{name}}");
        insert(
            paths,
            &collection,
            self.collection_operations(),
            self.scope_params(None),
        );
        insert(
            paths,
            &item,
            self.item_operations(),
            self.scope_params(Some(kind)),
        );
        if self.resource.namespaced() && self.resource.has_verb("list") {
            let all = format!("{}/{}", self.gv.url_prefix(), self.resource.plural);
            insert(
                paths,
                &all,
                self.all_namespaces_operations(),
                vec![params::pretty()],
            );
        }
        for sub in self.resource.subresources {
            let path = format!("{item}/{}", sub.name);
            insert(
                paths,
                &path,
                self.subresource_operations(sub),
                self.scope_params(Some(kind)),
            );
        }
    }

    fn collection_path(&self) -> String {
        let namespace = if self.resource.namespaced() {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        format!(
            "{}{namespace}/{}",
            self.gv.url_prefix(),
            self.resource.plural
        )
    }

    /// Path-level parameters: `name` (items), `namespace` (namespaced), `pretty`.
    fn scope_params(&self, item_kind: Option<&str>) -> Vec<Value> {
        let name = item_kind.map(params::name);
        let namespace = self.resource.namespaced().then(params::namespace);
        name.into_iter()
            .chain(namespace)
            .chain([params::pretty()])
            .collect()
    }

    fn collection_operations(&self) -> Vec<(&'static str, Value)> {
        let (kind, list_kind) = (self.resource.kind, self.resource.list_kind());
        let mut ops = Vec::new();
        if self.resource.has_verb("list") {
            let id = format!("list{}{}{kind}", self.stem, self.scope);
            let description = format!("list or watch objects of kind {kind}");
            let op = self.operation("list", kind, &id, &description, params::list_and_watch());
            ops.push((
                "get",
                with_responses(op, &self.schema(&list_kind), &["200"], JSON_AND_WATCH),
            ));
        }
        if self.resource.has_verb("create") {
            let id = format!("create{}{}{kind}", self.stem, self.scope);
            let op = self.operation(
                "post",
                kind,
                &id,
                &format!("create {}", article(kind)),
                params::write(),
            );
            let op = with_body(op, &self.schema(kind), &["*/*"], true);
            ops.push((
                "post",
                with_responses(op, &self.schema(kind), &["200", "201", "202"], JSON),
            ));
        }
        if self.resource.has_verb("deletecollection") {
            let id = format!("delete{}Collection{}{kind}", self.stem, self.scope);
            let description = format!("delete collection of {kind}");
            let op = self.operation(
                "deletecollection",
                kind,
                &id,
                &description,
                params::delete_collection(),
            );
            let op = with_body(op, &meta("DeleteOptions"), &["*/*"], false);
            ops.push((
                "delete",
                with_responses(op, &meta("Status"), &["200"], JSON),
            ));
        }
        ops
    }

    fn item_operations(&self) -> Vec<(&'static str, Value)> {
        let kind = self.resource.kind;
        let mut ops = self.read_write_operations(
            kind,
            "",
            &format!("the specified {kind}"),
            self.resource.verbs,
        );
        if self.resource.has_verb("delete") {
            let id = format!("delete{}{}{kind}", self.stem, self.scope);
            let op = self.operation(
                "delete",
                kind,
                &id,
                &format!("delete {}", article(kind)),
                params::delete(),
            );
            let op = with_body(op, &meta("DeleteOptions"), &["*/*"], false);
            ops.push((
                "delete",
                with_responses(op, &meta("Status"), &["200", "202"], JSON),
            ));
        }
        ops
    }

    fn all_namespaces_operations(&self) -> Vec<(&'static str, Value)> {
        let kind = self.resource.kind;
        let id = format!("list{}{kind}ForAllNamespaces", self.stem);
        let description = format!("list or watch objects of kind {kind}");
        let op = self.operation("list", kind, &id, &description, params::list_and_watch());
        vec![(
            "get",
            with_responses(
                op,
                &self.schema(&self.resource.list_kind()),
                &["200"],
                JSON_AND_WATCH,
            ),
        )]
    }

    fn subresource_operations(&self, sub: &Subresource) -> Vec<(&'static str, Value)> {
        let target = format!("{} of the specified {}", sub.name, self.resource.kind);
        let mut ops =
            self.read_write_operations(sub.kind, &capitalize(sub.name), &target, sub.verbs);
        // A subresource answering a list (imagestreams/secrets) takes list options.
        if sub.kind.ends_with("List") {
            for (_, op) in ops.iter_mut().filter(|(method, _)| *method == "get") {
                op["parameters"] = params::list().into();
            }
        }
        ops
    }

    /// GET, PUT and PATCH of one object or of one object's subresource returning `kind`.
    fn read_write_operations(
        &self,
        kind: &str,
        suffix: &str,
        target: &str,
        verbs: &[&str],
    ) -> Vec<(&'static str, Value)> {
        let schema = self.schema(kind);
        let id = |verb: &str| {
            format!(
                "{verb}{}{}{}{suffix}",
                self.stem, self.scope, self.resource.kind
            )
        };
        let mut ops = Vec::new();
        if verbs.contains(&"get") {
            let op = self.operation(
                "get",
                kind,
                &id("read"),
                &format!("read {target}"),
                Vec::new(),
            );
            ops.push(("get", with_responses(op, &schema, &["200"], JSON)));
        }
        if verbs.contains(&"update") {
            let op = self.operation(
                "put",
                kind,
                &id("replace"),
                &format!("replace {target}"),
                params::write(),
            );
            let op = with_body(op, &schema, &["*/*"], true);
            ops.push(("put", with_responses(op, &schema, &["200", "201"], JSON)));
        }
        if verbs.contains(&"patch") {
            let description = format!("partially update {target}");
            let op = self.operation("patch", kind, &id("patch"), &description, params::patch());
            let op = with_body(op, &meta("Patch"), self.patch_content_types(), true);
            ops.push(("patch", with_responses(op, &schema, &["200", "201"], JSON)));
        }
        ops
    }

    /// The patch media types of this resource: ImageStreamTags keep no managedFields, so
    /// server-side apply is not served on them (`istag::patch`).
    fn patch_content_types(&self) -> &'static [&'static str] {
        match self.resource.plural {
            "imagestreamtags" => &crate::apiserver::istag::patch::PATCH_MEDIA_TYPES,
            _ => &PATCH_CONTENT_TYPES,
        }
    }

    fn operation(
        &self,
        action: &str,
        kind: &str,
        id: &str,
        description: &str,
        parameters: Vec<Value>,
    ) -> Value {
        let tag = format!(
            "{}_{}",
            if self.gv.is_core() {
                "core".into()
            } else {
                camel(self.gv.group)
            },
            self.gv.version
        );
        let mut op = json!({"tags": [tag], "description": description, "operationId": id});
        if !parameters.is_empty() {
            op["parameters"] = parameters.into();
        }
        op["x-kubernetes-action"] = action.into();
        op["x-kubernetes-group-version-kind"] =
            json!({"group": self.gv.group, "kind": kind, "version": self.gv.version});
        op
    }

    fn schema(&self, kind: &str) -> String {
        self.gv.schema_name(kind)
    }
}

fn insert(
    paths: &mut Map<String, Value>,
    path: &str,
    operations: Vec<(&'static str, Value)>,
    parameters: Vec<Value>,
) {
    if operations.is_empty() {
        return;
    }
    let mut item: Map<String, Value> = operations
        .into_iter()
        .map(|(m, op)| (m.to_string(), op))
        .collect();
    item.insert("parameters".into(), parameters.into());
    paths.insert(path.to_string(), item.into());
}

fn with_body(mut op: Value, schema: &str, media_types: &[&str], required: bool) -> Value {
    let content: Map<String, Value> = media_types
        .iter()
        .map(|m| (m.to_string(), json!({"schema": reference(schema)})))
        .collect();
    op["requestBody"] = json!({"content": content, "required": required});
    op
}

fn with_responses(mut op: Value, schema: &str, codes: &[&str], media_types: &[&str]) -> Value {
    let content: Map<String, Value> = media_types
        .iter()
        .map(|m| (m.to_string(), json!({"schema": reference(schema)})))
        .collect();
    let mut responses = Map::new();
    for code in codes {
        responses.insert(
            code.to_string(),
            json!({"description": reason(code), "content": content}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    op["responses"] = responses.into();
    op
}

fn reason(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "Unauthorized",
    }
}

/// `image.openshift.io` → `imageOpenshiftIo`.
fn camel(group: &str) -> String {
    let mut parts = group.split('.');
    let first = parts.next().unwrap_or("").to_string();
    parts.fold(first, |acc, part| acc + &capitalize(part))
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn article(kind: &str) -> String {
    let vowel = kind.starts_with(['A', 'E', 'I', 'O', 'U']);
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests;
