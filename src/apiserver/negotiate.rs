//! Content negotiation: what a response should be (`Accept`, k8s-api-contract §1.1, §2.6, §2.7)
//! and how a request body is encoded (`Content-Type`, §4.3).
//!
//! Accept follows apiserver's `NegotiateMediaTypeOptions`: clauses are tried by `q`, then by
//! specificity; a clause is skipped unless it names JSON (`application/json`, `application/*`
//! or `*/*`) or YAML (`application/yaml`, not for watches) and its `as`/`g`/`v` parameters name
//! a form this endpoint can produce. Nothing left means 406. Protobuf is never produced, so
//! protobuf-first lists fall back to their JSON clause. JSON is indented for `?pretty=true` or
//! a `pretty=1` clause, as apiserver's `isPrettyPrint` and `acceptMediaTypeOptions` decide;
//! watch events are never indented (one event per line).

use serde_json::Value;

use super::error::ApiError;

/// The media types this server produces in responses.
pub const RESPONSE_MEDIA_TYPES: [&str; 2] = ["application/json", "application/yaml"];
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

/// The object to send: the resource itself or one of the `meta.k8s.io` conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The plain object, list or legacy discovery document.
    Plain,
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

/// How the chosen form is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Compact JSON.
    Json,
    /// JSON indented by two spaces (`pretty`), as Go's `json.MarshalIndent`.
    PrettyJson,
    /// YAML (`Accept: application/yaml`).
    Yaml,
}

/// The representation to send: a form and its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// Which object is sent.
    pub form: Form,
    /// How it is written.
    pub encoding: Encoding,
}

impl Output {
    /// The plain object as compact JSON: what a client that states no preference gets.
    pub const JSON: Output = Output::new(Form::Plain, Encoding::Json);

    /// An output of this form and encoding.
    pub const fn new(form: Form, encoding: Encoding) -> Self {
        Self { form, encoding }
    }

    /// The response `Content-Type`. Aggregated discovery names its kind, because client-go
    /// reads that header to tell aggregated from legacy discovery; watches always send plain
    /// `application/json` whatever the form, because client-go picks its stream decoder by it.
    pub fn content_type(&self) -> &'static str {
        match (self.form, self.encoding) {
            (Form::AggregatedDiscoveryV2, _) => {
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            }
            (Form::AggregatedDiscoveryV2Beta1, _) => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
            (_, Encoding::Yaml) => "application/yaml",
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

    /// The encoding this clause asks for, if it names one this server writes.
    fn encoding(&self) -> Option<Encoding> {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("application", "json") | ("application", "*") | ("*", "*") => Some(Encoding::Json),
            ("application", "yaml") => Some(Encoding::Yaml),
            _ => None,
        }
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

/// Chooses the response form and encoding for `Accept` (absent or empty means JSON).
/// `include_object` is the raw `includeObject` query value, checked only when a Table is
/// chosen; `pretty` is the raw `pretty` query value.
pub fn negotiate_output(
    accept: Option<&str>,
    endpoint: Endpoint,
    include_object: Option<&str>,
    pretty: Option<&str>,
) -> Result<Output, ApiError> {
    let header = accept.unwrap_or("").trim();
    let indent = |clause_pretty: bool| match endpoint {
        Endpoint::Watch => Encoding::Json,
        _ if clause_pretty || parse_bool(pretty) => Encoding::PrettyJson,
        _ => Encoding::Json,
    };
    if header.is_empty() {
        return Ok(Output::new(Form::Plain, indent(false)));
    }
    for clause in parse_accept(header) {
        let Some(encoding) = clause.encoding().filter(|_| clause.quality > 0.0) else {
            continue;
        };
        // YAML has no watch framing, and discovery documents are JSON only.
        if encoding == Encoding::Yaml && matches!(endpoint, Endpoint::Watch | Endpoint::Discovery) {
            continue;
        }
        // Only the watch framing may be asked for as a stream schema.
        if clause
            .param("stream")
            .is_some_and(|s| !s.is_empty() && s != "watch")
        {
            continue;
        }
        let Some(form) = conversion(&clause, endpoint) else {
            continue;
        };
        let form = match form {
            Form::Table { .. } => Form::Table {
                include_object: IncludeObject::parse(include_object)?,
            },
            other => other,
        };
        let encoding = match encoding {
            Encoding::Json => indent(clause.param("pretty") == Some("1")),
            other => other,
        };
        return Ok(Output::new(form, encoding));
    }
    Err(ApiError::NotAcceptable {
        accepted: RESPONSE_MEDIA_TYPES.to_vec(),
    })
}

/// Go's `strconv.ParseBool`, with anything it rejects read as `false` (as `isPrettyPrint` does).
fn parse_bool(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// The form a clause's `as`/`g`/`v` asks for, if this endpoint can produce it.
fn conversion(clause: &Clause<'_>, endpoint: Endpoint) -> Option<Form> {
    let (kind, group, version) = (clause.param("as"), clause.param("g"), clause.param("v"));
    if kind.is_none() && group.is_none() && version.is_none() {
        return Some(Form::Plain);
    }
    let target = (
        group.unwrap_or(""),
        version.unwrap_or(""),
        kind.unwrap_or(""),
    );
    match (endpoint, target) {
        (Endpoint::Discovery, ("apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList")) => {
            Some(Form::AggregatedDiscoveryV2)
        }
        (Endpoint::Discovery, ("apidiscovery.k8s.io", "v2beta1", "APIGroupDiscoveryList")) => {
            Some(Form::AggregatedDiscoveryV2Beta1)
        }
        (Endpoint::Discovery, _) => None,
        (_, ("meta.k8s.io", "v1", "Table")) => Some(Form::Table {
            include_object: IncludeObject::Metadata,
        }),
        (Endpoint::Object | Endpoint::Watch, ("meta.k8s.io", "v1", "PartialObjectMetadata")) => {
            Some(Form::PartialObjectMetadata)
        }
        // A metadata informer watches with the list form; each event is still one object.
        (Endpoint::Watch, ("meta.k8s.io", "v1", "PartialObjectMetadataList")) => {
            Some(Form::PartialObjectMetadata)
        }
        (Endpoint::List, ("meta.k8s.io", "v1", "PartialObjectMetadataList")) => {
            Some(Form::PartialObjectMetadataList)
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
        Some(other) => Err(ApiError::UnsupportedMediaType {
            accepted: BODY_MEDIA_TYPES.to_vec(),
            // openshift-apiserver takes image.openshift.io objects in protobuf too; a Go
            // client configured for it (openshift/client-go) must be told what to change.
            hint: (other == "application/vnd.kubernetes.protobuf").then_some(
                "this server reads request bodies in JSON or YAML (protobuf only for a Secret's \
                 create or update): set the client's ContentType to application/json",
            ),
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
            hint: None,
        })
}

/// Decodes a body into JSON; malformed input is a 400. YAML 1.2 is a superset of JSON, so
/// apply bodies (which kubectl, kube-rs and Python all send as JSON) decode as `Yaml`. A YAML
/// body's nesting ([`nesting`]) and what its aliases expand to ([`crate::yaml_aliases`]) are
/// measured before it is decoded; a byte order mark opening it is skipped ([`without_bom`]).
pub fn decode_body(body: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    match format {
        BodyFormat::Json => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding JSON: {e}"))),
        BodyFormat::Yaml => {
            let body = without_bom(body);
            nesting::check(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
            crate::yaml_aliases::json_from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))
        }
    }
}

/// A YAML body without the UTF-8 byte order mark that may open it: YAML allows one at the start
/// of a stream and go-yaml (kube-apiserver) skips it, but libyaml under serde_norway reads
/// what follows it as a second document. JSON bodies keep theirs, which Go refuses too.
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body)
}

pub mod nesting;

#[cfg(test)]
mod tests;
