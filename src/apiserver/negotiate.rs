//! Content negotiation: what a response should be (`Accept`, k8s-api-contract §1.1, §2.6, §2.7)
//! and how a request body is encoded (`Content-Type`, §4.3).
//!
//! Accept follows apiserver's `NegotiateMediaTypeOptions`: clauses are tried by `q`, then by
//! specificity; a clause is skipped unless it names JSON (`application/json`, `application/*`
//! or `*/*`) and its `as`/`g`/`v` parameters name a form this endpoint can produce. Nothing left
//! means 406. Protobuf is never produced, so protobuf-first lists fall back to their JSON clause.

use serde_json::Value;

use super::error::ApiError;

/// The media types this server produces in responses.
pub const RESPONSE_MEDIA_TYPES: [&str; 1] = ["application/json"];
/// The media types accepted for create and update bodies.
pub const BODY_MEDIA_TYPES: [&str; 2] = ["application/json", "application/yaml"];
/// The media types accepted for PATCH, in apiserver's order for built-in types.
pub const PATCH_MEDIA_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// What kind of path is being answered; it limits which `as=` forms make sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api` or `/apis`: legacy JSON or aggregated discovery.
    Discovery,
    /// A single object: GET and the responses of writes.
    Object,
    /// A collection.
    List,
    /// A watch stream; the chosen form applies to each event's object.
    Watch,
}

/// What `rows[].object` holds in a Table (`includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the full `ObjectMeta` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query value; absent or empty means `Metadata`.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(ApiError::BadRequest(format!(
                "unrecognized includeObject value: {other:?}"
            ))),
        }
    }
}

/// The representation to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The plain object, list or legacy discovery document.
    Json,
    /// A `meta.k8s.io/v1` Table.
    Table {
        /// What each row's `object` holds.
        include_object: IncludeObject,
    },
    /// A `meta.k8s.io/v1` PartialObjectMetadata (a single object, or each watch event's object).
    PartialObjectMetadata,
    /// A `meta.k8s.io/v1` PartialObjectMetadataList.
    PartialObjectMetadataList,
    /// An `apidiscovery.k8s.io/v2` APIGroupDiscoveryList.
    AggregatedDiscoveryV2,
    /// An `apidiscovery.k8s.io/v2beta1` APIGroupDiscoveryList.
    AggregatedDiscoveryV2Beta1,
}

impl Output {
    /// The response `Content-Type`. Aggregated discovery names its kind, because client-go
    /// reads that header to tell aggregated from legacy discovery; watches always send plain
    /// `application/json` whatever the form, because client-go picks its stream decoder by it.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::AggregatedDiscoveryV2 => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            Self::AggregatedDiscoveryV2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
            _ => "application/json",
        }
    }
}

/// One `type/subtype;params` clause of an Accept header.
#[derive(Debug)]
struct Clause<'a> {
    kind: String,
    subtype: String,
    quality: f32,
    params: Vec<(&'a str, &'a str)>,
}

impl Clause<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    fn names_json(&self) -> bool {
        matches!(
            (self.kind.as_str(), self.subtype.as_str()),
            ("application", "json") | ("application", "*") | ("*", "*")
        )
    }
}

fn parse_accept(header: &str) -> Vec<Clause<'_>> {
    let mut clauses: Vec<Clause<'_>> = header.split(',').filter_map(parse_clause).collect();
    // Stable, so equally preferred clauses keep the client's order.
    clauses.sort_by(|a, b| {
        b.quality
            .total_cmp(&a.quality)
            .then((a.kind == "*").cmp(&(b.kind == "*")))
            .then((a.subtype == "*").cmp(&(b.subtype == "*")))
    });
    clauses
}

fn parse_clause(part: &str) -> Option<Clause<'_>> {
    let mut pieces = part.split(';');
    let range = pieces.next()?.trim().to_ascii_lowercase();
    let (kind, subtype) = range.split_once('/')?;
    let mut clause = Clause {
        kind: kind.trim().to_string(),
        subtype: subtype.trim().to_string(),
        quality: 1.0,
        params: Vec::new(),
    };
    for param in pieces {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        match name.trim() {
            "q" => clause.quality = value.trim().parse().unwrap_or(0.0),
            name => clause.params.push((name, value.trim())),
        }
    }
    Some(clause)
}

/// Chooses the response form for `Accept` (absent or empty means JSON). `include_object` is
/// the raw `includeObject` query value, checked only when a Table is chosen.
pub fn negotiate_output(
    accept: Option<&str>,
    endpoint: Endpoint,
    include_object: Option<&str>,
) -> Result<Output, ApiError> {
    let header = accept.unwrap_or("").trim();
    if header.is_empty() {
        return Ok(Output::Json);
    }
    for clause in parse_accept(header) {
        if clause.quality <= 0.0 || !clause.names_json() {
            continue;
        }
        // Only the watch framing may be asked for as a stream schema.
        if clause
            .param("stream")
            .is_some_and(|s| !s.is_empty() && s != "watch")
        {
            continue;
        }
        if let Some(output) = conversion(&clause, endpoint) {
            return match output {
                Output::Table { .. } => Ok(Output::Table {
                    include_object: IncludeObject::parse(include_object)?,
                }),
                other => Ok(other),
            };
        }
    }
    Err(ApiError::NotAcceptable {
        accepted: RESPONSE_MEDIA_TYPES.to_vec(),
    })
}

/// The form a clause's `as`/`g`/`v` asks for, if this endpoint can produce it.
fn conversion(clause: &Clause<'_>, endpoint: Endpoint) -> Option<Output> {
    let (kind, group, version) = (clause.param("as"), clause.param("g"), clause.param("v"));
    if kind.is_none() && group.is_none() && version.is_none() {
        return Some(Output::Json);
    }
    let target = (
        group.unwrap_or(""),
        version.unwrap_or(""),
        kind.unwrap_or(""),
    );
    match (endpoint, target) {
        (Endpoint::Discovery, ("apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList")) => {
            Some(Output::AggregatedDiscoveryV2)
        }
        (Endpoint::Discovery, ("apidiscovery.k8s.io", "v2beta1", "APIGroupDiscoveryList")) => {
            Some(Output::AggregatedDiscoveryV2Beta1)
        }
        (Endpoint::Discovery, _) => None,
        (_, ("meta.k8s.io", "v1", "Table")) => Some(Output::Table {
            include_object: IncludeObject::Metadata,
        }),
        (Endpoint::Object | Endpoint::Watch, ("meta.k8s.io", "v1", "PartialObjectMetadata")) => {
            Some(Output::PartialObjectMetadata)
        }
        // A metadata informer watches with the list form; each event is still one object.
        (Endpoint::Watch, ("meta.k8s.io", "v1", "PartialObjectMetadataList")) => {
            Some(Output::PartialObjectMetadata)
        }
        (Endpoint::List, ("meta.k8s.io", "v1", "PartialObjectMetadataList")) => {
            Some(Output::PartialObjectMetadataList)
        }
        _ => None,
    }
}

/// The body encoding of a create or update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (also assumed when no Content-Type is sent).
    Json,
    /// `application/yaml`.
    Yaml,
}

/// The patch types are the patch module's; negotiation only picks one from `Content-Type`.
pub use super::patch::PatchKind;

/// `type/subtype` of a Content-Type, lower-cased, parameters such as `charset` dropped.
fn essence(content_type: &str) -> String {
    let media = content_type.split(';').next().unwrap_or("");
    media.trim().to_ascii_lowercase()
}

/// The body format of a create or update; anything but JSON or YAML is a 415.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    match content_type.map(essence).as_deref() {
        None | Some("") | Some("application/json") => Ok(BodyFormat::Json),
        Some("application/yaml") => Ok(BodyFormat::Yaml),
        Some(_) => Err(ApiError::UnsupportedMediaType {
            accepted: BODY_MEDIA_TYPES.to_vec(),
        }),
    }
}

/// The patch kind of a PATCH; a missing or unknown Content-Type is a 415.
pub fn patch_kind(content_type: Option<&str>) -> Result<PatchKind, ApiError> {
    let media = content_type.map(essence).unwrap_or_default();
    let kinds = [
        PatchKind::Json,
        PatchKind::Merge,
        PatchKind::Strategic,
        PatchKind::Apply,
    ];
    kinds
        .into_iter()
        .find(|kind| kind.media_type() == media)
        .ok_or_else(|| ApiError::UnsupportedMediaType {
            accepted: PATCH_MEDIA_TYPES.to_vec(),
        })
}

/// Decodes a body into JSON; malformed input is a 400. YAML 1.2 is a superset of JSON, so
/// apply bodies (which kubectl, kube-rs and Python all send as JSON) decode as `Yaml`.
pub fn decode_body(body: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    match format {
        BodyFormat::Json => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding JSON: {e}"))),
        BodyFormat::Yaml => serde_norway::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// kubectl 1.37 for human output (`get`, `get -w`).
    const KUBECTL_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    /// kubectl 1.37 on `/api` and `/apis`.
    const KUBECTL_AGGREGATED: &str =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    /// kube-rs `Discovery::run_aggregated()`.
    const KUBE_RS_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    /// kube-rs `list_metadata`.
    const KUBE_RS_METADATA_LIST: &str =
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    /// kubectl describe's event lookup: protobuf first.
    const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf,application/json";

    fn check(accept: Option<&str>, endpoint: Endpoint, expected: Output) {
        assert_eq!(
            negotiate_output(accept, endpoint, None).unwrap(),
            expected,
            "{accept:?} on {endpoint:?}"
        );
    }

    fn check_not_acceptable(accept: &str, endpoint: Endpoint) {
        let error = negotiate_output(Some(accept), endpoint, None).unwrap_err();
        assert_eq!(
            (error.code(), error.to_string().as_str()),
            (
                406,
                "only the following media types are accepted: application/json"
            ),
            "{accept}"
        );
    }

    const TABLE: Output = Output::Table {
        include_object: IncludeObject::Metadata,
    };

    #[test]
    fn clients_without_preferences_get_json() {
        check(None, Endpoint::List, Output::Json);
        check(Some(""), Endpoint::Object, Output::Json);
        check(Some("*/*"), Endpoint::Object, Output::Json);
        check(
            Some("application/json, */*"),
            Endpoint::Discovery,
            Output::Json,
        );
        check(Some("application/json"), Endpoint::Watch, Output::Json);
        check(Some(PROTOBUF_FIRST), Endpoint::List, Output::Json);
        check(
            Some("text/html;q=0.9,application/*"),
            Endpoint::Object,
            Output::Json,
        );
    }

    #[test]
    fn kubectl_human_output_gets_tables_everywhere() {
        for endpoint in [Endpoint::List, Endpoint::Object, Endpoint::Watch] {
            check(Some(KUBECTL_TABLE), endpoint, TABLE);
        }
    }

    #[test]
    fn tables_fall_back_to_json_on_discovery() {
        check(Some(KUBECTL_TABLE), Endpoint::Discovery, Output::Json);
    }

    #[test]
    fn include_object_comes_from_the_query() {
        let table = |value| negotiate_output(Some(KUBECTL_TABLE), Endpoint::List, value);
        assert_eq!(
            table(Some("Object")).unwrap(),
            Output::Table {
                include_object: IncludeObject::Object
            }
        );
        assert_eq!(
            table(Some("None")).unwrap(),
            Output::Table {
                include_object: IncludeObject::None
            }
        );
        let error = table(Some("Everything")).unwrap_err();
        assert_eq!(
            (error.code(), error.to_string().as_str()),
            (400, "unrecognized includeObject value: \"Everything\"")
        );
        let ignored = negotiate_output(None, Endpoint::List, Some("Everything"));
        assert_eq!(ignored.unwrap(), Output::Json);
    }

    #[test]
    fn aggregated_discovery_is_offered_only_on_discovery() {
        check(
            Some(KUBECTL_AGGREGATED),
            Endpoint::Discovery,
            Output::AggregatedDiscoveryV2,
        );
        check(
            Some(KUBE_RS_AGGREGATED),
            Endpoint::Discovery,
            Output::AggregatedDiscoveryV2,
        );
        check(
            Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
            Endpoint::Discovery,
            Output::AggregatedDiscoveryV2Beta1,
        );
        check(Some(KUBECTL_AGGREGATED), Endpoint::List, Output::Json);
    }

    #[test]
    fn metadata_forms_follow_the_endpoint() {
        check(
            Some(KUBE_RS_METADATA_LIST),
            Endpoint::List,
            Output::PartialObjectMetadataList,
        );
        check(
            Some(KUBE_RS_METADATA_LIST),
            Endpoint::Watch,
            Output::PartialObjectMetadata,
        );
        let single = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        check(
            Some(single),
            Endpoint::Object,
            Output::PartialObjectMetadata,
        );
        check(Some(single), Endpoint::Watch, Output::PartialObjectMetadata);
        check_not_acceptable(single, Endpoint::List);
        check_not_acceptable(KUBE_RS_METADATA_LIST, Endpoint::Object);
    }

    #[test]
    fn quality_orders_the_clauses() {
        let prefer_json = "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json";
        check(Some(prefer_json), Endpoint::List, Output::Json);
        let refuse_json = "application/json;q=0,application/json;as=Table;v=v1;g=meta.k8s.io";
        check(Some(refuse_json), Endpoint::List, TABLE);
    }

    #[test]
    fn unknown_forms_without_fallback_are_not_acceptable() {
        check_not_acceptable("application/vnd.kubernetes.protobuf", Endpoint::List);
        check_not_acceptable("application/yaml", Endpoint::Object);
        check_not_acceptable(
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            Endpoint::List,
        );
        check_not_acceptable("application/json;as=Table", Endpoint::List);
        check_not_acceptable(
            "application/json;as=Widget;v=v1;g=meta.k8s.io",
            Endpoint::Object,
        );
        check_not_acceptable("application/json;stream=chunks", Endpoint::Watch);
        check_not_acceptable(
            KUBECTL_AGGREGATED.split(',').next().unwrap(),
            Endpoint::List,
        );
    }

    #[test]
    fn discovery_content_types_name_the_kind() {
        assert_eq!(
            Output::AggregatedDiscoveryV2.content_type(),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
        assert_eq!(TABLE.content_type(), "application/json");
    }

    #[test]
    fn write_bodies_are_json_or_yaml() {
        let cases = [
            (None, BodyFormat::Json),
            (Some("application/json"), BodyFormat::Json),
            (Some("application/json; charset=utf-8"), BodyFormat::Json),
            (Some("Application/YAML"), BodyFormat::Yaml),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                body_format(content_type).unwrap(),
                expected,
                "{content_type:?}"
            );
        }
        let error = body_format(Some("application/vnd.kubernetes.protobuf")).unwrap_err();
        assert_eq!(error.code(), 415);
        assert_eq!(error.to_string(), "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
    }

    #[test]
    fn patch_content_types_select_the_patch_kind() {
        let cases = [
            ("application/json-patch+json", PatchKind::Json),
            ("application/merge-patch+json", PatchKind::Merge),
            (
                "application/merge-patch+json; charset=utf-8",
                PatchKind::Merge,
            ),
            (
                "application/strategic-merge-patch+json",
                PatchKind::Strategic,
            ),
            ("application/apply-patch+yaml", PatchKind::Apply),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                patch_kind(Some(content_type)).unwrap(),
                expected,
                "{content_type}"
            );
        }
    }

    #[test]
    fn other_patch_types_are_unsupported_media() {
        for content_type in [
            Some("application/json"),
            Some("application/apply-patch+cbor"),
            None,
        ] {
            let error = patch_kind(content_type).unwrap_err();
            assert_eq!(error.code(), 415, "{content_type:?}");
            assert_eq!(error.to_string(), "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml");
        }
    }

    #[test]
    fn bodies_decode_from_json_and_yaml() {
        let expected = json!({"kind": "ImageStream", "metadata": {"name": "demo"}});
        let yaml = b"kind: ImageStream\nmetadata:\n  name: demo\n";
        assert_eq!(decode_body(yaml, BodyFormat::Yaml).unwrap(), expected);
        let json = expected.to_string();
        assert_eq!(
            decode_body(json.as_bytes(), BodyFormat::Json).unwrap(),
            expected
        );
        assert_eq!(
            decode_body(json.as_bytes(), BodyFormat::Yaml).unwrap(),
            expected
        );
        let error = decode_body(b"{", BodyFormat::Json).unwrap_err();
        assert!(
            error.to_string().starts_with("error decoding JSON: "),
            "{error}"
        );
        let error = decode_body(b"a: [", BodyFormat::Yaml).unwrap_err();
        assert_eq!(error.code(), 400);
        assert!(
            error.to_string().starts_with("error decoding YAML: "),
            "{error}"
        );
    }
}
