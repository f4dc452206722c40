//! The tags a registry's notification says were pushed (pure).
//!
//! These formats are read:
//! - **distribution** (the CNCF registry, `docker-registry`, GitLab's registry): the envelope
//!   `{"events": [...]}` its `notifications.endpoints` POST, one event per manifest; a push of
//!   a tag is `"action": "push"` with `target.repository` and `target.tag` (pushes by digest
//!   alone, blob events and pulls carry no tag and are ignored). The registry's name is the
//!   `Host` the pushing client used (`request.host`).
//! - **Harbor** webhooks (the default payload): `"type": "PUSH_ARTIFACT"` with
//!   `event_data.resources[].resource_url` (`harbor.example.com/project/app:tag`).
//! - **Quay** repository notifications ("Push to Repository", webhook POST): `docker_url`
//!   (`quay.io/org/app`) and `updated_tags`.
//! - **Docker Hub** webhooks: `push_data.tag` of `repository.repo_name`, on `docker.io`.
//! - **GitHub** `package` events (ghcr.io, GitHub Enterprise's container registry): a
//!   `published` or `updated` container package with `package_version.package_url`
//!   (`ghcr.io/owner/app:tag`) and `container_metadata.tag` (its name and digest). GitHub sends
//!   one event per manifest of a multi-architecture push: those without a tag are ignored.
//!
//! The name a registry gives itself is not always the one streams pull it by (a registry
//! behind an ingress sees its internal `Host`); the endpoint's `?registry=` names it instead.

use serde::Deserialize;

use super::source_key;
use crate::reference::{is_valid_digest, ImageRef};

/// A tag a notification says was pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedTag {
    /// The tag's [`source_key`]: `registry/repository:tag`.
    pub source: String,
    /// The manifest pushed, when the notification names it.
    pub digest: Option<String>,
}

/// What one notification says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notification {
    /// The tags pushed, each once, in the order first named.
    pub pushed: Vec<PushedTag>,
    /// Events about something else: pulls, deletes, blobs, pushes by digest alone, or pushes
    /// whose repository and tag do not make an image reference.
    pub ignored: usize,
}

/// Why a notification could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotificationError {
    /// The body is not JSON, or not JSON of any format read here.
    #[error(
        "the body is not a registry notification ({0}); send distribution's event envelope \
         (notifications.endpoints), or a Harbor, Quay, Docker Hub or GitHub package webhook \
         payload"
    )]
    Malformed(String),
    /// `?registry=` does not name a registry.
    #[error(
        "registry {0:?} is not a registry host name: give the host (and port) streams pull \
         from, e.g. ?registry=registry.example.com:5000"
    )]
    BadRegistry(String),
}

/// Reads `body`, naming the registry `registry` when given, else as the notification does.
pub fn parse(body: &[u8], registry: Option<&str>) -> Result<Notification, NotificationError> {
    if let Some(name) = registry {
        check_registry(name)?;
    }
    let payload: Payload = serde_json::from_slice(body)
        .map_err(|error| NotificationError::Malformed(error.to_string()))?;
    let mut notification = Notification::default();
    match payload {
        Payload::Distribution { events } => {
            for event in events {
                let host = registry.unwrap_or(&event.request.host);
                notification.add(distribution_push(&event, host));
            }
        }
        Payload::Harbor { kind, event_data } => {
            for resource in event_data.resources {
                let pushed = (kind == "PUSH_ARTIFACT")
                    .then(|| harbor_push(&resource, registry))
                    .flatten();
                notification.add(pushed);
            }
        }
        Payload::Quay {
            docker_url,
            updated_tags,
        } => {
            for tag in updated_tags {
                notification.add(repository_push(&docker_url, registry, &tag));
            }
        }
        Payload::DockerHub {
            push_data,
            repository,
        } => {
            let repository = format!("docker.io/{}", repository.repo_name);
            notification.add(repository_push(&repository, registry, &push_data.tag));
        }
        Payload::GitHub { action, package } => {
            let package = package.unwrap_or_default();
            let kind = package.package_type.as_deref().unwrap_or_default();
            let published = matches!(action.as_str(), "published" | "updated")
                && kind.eq_ignore_ascii_case("container");
            notification.add(published.then(|| github_push(&package, registry)).flatten());
        }
    }
    Ok(notification)
}

impl Notification {
    fn add(&mut self, pushed: Option<PushedTag>) {
        match pushed {
            Some(pushed) if self.pushed.iter().any(|p| p.source == pushed.source) => {}
            Some(pushed) => self.pushed.push(pushed),
            None => self.ignored += 1,
        }
    }
}

/// A registry host name (and port) as an image reference starts with it.
fn check_registry(name: &str) -> Result<(), NotificationError> {
    let reference = ImageRef::parse(&format!("{name}/probe:latest"));
    match reference {
        Ok(parsed) if parsed.registry == name => Ok(()),
        _ => Err(NotificationError::BadRegistry(name.to_string())),
    }
}

fn distribution_push(event: &Event, host: &str) -> Option<PushedTag> {
    let target = &event.target;
    if event.action != "push" || target.tag.is_empty() || host.is_empty() {
        return None;
    }
    let reference = format!("{host}/{}:{}", target.repository, target.tag);
    pushed_tag(&reference, &target.digest)
}

fn harbor_push(resource: &Resource, registry: Option<&str>) -> Option<PushedTag> {
    // An artifact pushed by digest alone carries its digest as the tag.
    if resource.tag.is_empty() || is_valid_digest(&resource.tag) {
        return None;
    }
    let mut reference = ImageRef::parse(&resource.resource_url).ok()?;
    if let Some(registry) = registry {
        reference.registry = registry.to_string();
    }
    // A resource URL may name the digest; the tag is what streams follow.
    reference.id.clear();
    reference.tag = resource.tag.clone();
    pushed_tag(&reference.exact(), &resource.digest)
}

/// A push of `tag` to `repository` (`host/path`), the host replaced by `registry` when given.
fn repository_push(repository: &str, registry: Option<&str>, tag: &str) -> Option<PushedTag> {
    let mut reference = ImageRef::parse(repository).ok()?;
    if !reference.tag.is_empty() || !reference.id.is_empty() || tag.is_empty() {
        return None;
    }
    if let Some(registry) = registry {
        reference.registry = registry.to_string();
    }
    reference.tag = tag.to_string();
    pushed_tag(&reference.exact(), "")
}

fn github_push(package: &GitHubPackage, registry: Option<&str>) -> Option<PushedTag> {
    let version = package.package_version.as_ref()?;
    let tag = version.container_metadata.as_ref()?.tag.as_ref()?;
    let name = tag.name.as_deref().unwrap_or_default();
    // A multi-architecture push also publishes each platform's manifest, untagged.
    if name.is_empty() || is_valid_digest(name) {
        return None;
    }
    // GitHub keeps an owner's capitals in its names; image references are lower case (the tag,
    // which may have capitals, is set afterwards).
    let url = version.package_url.as_deref()?.to_ascii_lowercase();
    let mut reference = ImageRef::parse(&url).ok()?;
    if let Some(registry) = registry {
        reference.registry = registry.to_string();
    }
    reference.id.clear();
    reference.tag = name.to_string();
    pushed_tag(
        &reference.exact(),
        tag.digest.as_deref().unwrap_or_default(),
    )
}

fn pushed_tag(reference: &str, digest: &str) -> Option<PushedTag> {
    let parsed = ImageRef::parse(reference).ok()?;
    // A reference with no registry part would be read as Docker Hub's.
    if parsed.registry.is_empty() {
        return None;
    }
    Some(PushedTag {
        source: source_key(&parsed)?,
        digest: (!digest.is_empty()).then(|| digest.to_string()),
    })
}

/// The payloads read, told apart by their fields (serde tries them in this order).
#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    Distribution {
        events: Vec<Event>,
    },
    Harbor {
        #[serde(rename = "type")]
        kind: String,
        event_data: EventData,
    },
    Quay {
        docker_url: String,
        updated_tags: Vec<String>,
    },
    DockerHub {
        push_data: PushData,
        repository: HubRepository,
    },
    GitHub {
        action: String,
        package: Option<GitHubPackage>,
    },
}

#[derive(Deserialize)]
struct PushData {
    #[serde(default)]
    tag: String,
}

#[derive(Deserialize)]
struct HubRepository {
    repo_name: String,
}

// GitHub's schema lets most of a package event's fields be null: each is optional.
#[derive(Default, Deserialize)]
struct GitHubPackage {
    #[serde(default)]
    package_type: Option<String>,
    #[serde(default)]
    package_version: Option<GitHubVersion>,
}

#[derive(Deserialize)]
struct GitHubVersion {
    #[serde(default)]
    package_url: Option<String>,
    #[serde(default)]
    container_metadata: Option<ContainerMetadata>,
}

#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(default)]
    tag: Option<GitHubTag>,
}

#[derive(Deserialize)]
struct GitHubTag {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Default, Deserialize)]
struct Target {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    digest: String,
}

#[derive(Default, Deserialize)]
struct Request {
    #[serde(default)]
    host: String,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    resource_url: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

    fn event(action: &str, repository: &str, tag: &str, host: &str) -> serde_json::Value {
        json!({
            "id": "320678d8-ca14-430f-8bb6-4ca139cd83f7",
            "timestamp": "2026-11-30T12:00:00Z",
            "action": action,
            "target": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 708, "digest": DIGEST, "length": 708,
                "repository": repository,
                "url": format!("http://{host}/v2/{repository}/manifests/{DIGEST}"),
                "tag": tag
            },
            "request": {"id": "r", "addr": "10.0.0.7:51234", "host": host, "method": "PUT",
                        "useragent": "containerd/2.0"},
            "actor": {},
            "source": {"addr": "registry-0:5000", "instanceID": "i"}
        })
    }

    fn envelope(events: Vec<serde_json::Value>) -> Vec<u8> {
        json!({ "events": events }).to_string().into_bytes()
    }

    fn sources(notification: &Notification) -> Vec<&str> {
        notification
            .pushed
            .iter()
            .map(|p| p.source.as_str())
            .collect()
    }

    #[test]
    fn distribution_pushes_of_tags_are_read_and_everything_else_is_counted_as_ignored() {
        let body = envelope(vec![
            event("push", "team/app", "v2", "registry.example.com:5000"),
            event("push", "team/app", "", "registry.example.com:5000"),
            event("pull", "team/app", "v2", "registry.example.com:5000"),
            event("delete", "team/app", "", "registry.example.com:5000"),
            event("push", "team/app", "v2", "registry.example.com:5000"),
            event("push", "library/redis", "7", "docker.io"),
        ]);
        let notification = parse(&body, None).unwrap();
        assert_eq!(
            sources(&notification),
            [
                "registry.example.com:5000/team/app:v2",
                "docker.io/library/redis:7"
            ]
        );
        assert_eq!(notification.pushed[0].digest.as_deref(), Some(DIGEST));
        assert_eq!(notification.ignored, 3, "the repeated push is not ignored");
    }

    #[test]
    fn the_registry_named_by_the_endpoint_replaces_the_host_the_pusher_used() {
        let body = envelope(vec![event("push", "team/app", "v2", "registry:5000")]);
        let named = parse(&body, Some("registry.example.com")).unwrap();
        assert_eq!(sources(&named), ["registry.example.com/team/app:v2"]);
    }

    #[test]
    fn pushes_that_make_no_image_reference_are_ignored() {
        let body = envelope(vec![
            event("push", "Team/App", "v2", "registry.example.com"),
            event("push", "team/app", "v2", ""),
            event("push", "team/app", "-bad", "registry.example.com"),
        ]);
        let notification = parse(&body, None).unwrap();
        assert!(notification.pushed.is_empty());
        assert_eq!(notification.ignored, 3);
    }

    #[test]
    fn harbor_artifact_pushes_are_read_by_their_resource_url() {
        let harbor = |kind: &str| {
            json!({
                "type": kind, "occur_at": 1_680_502_052, "operator": "admin",
                "event_data": {
                    "resources": [
                        {"digest": DIGEST, "tag": "v2",
                         "resource_url": "harbor.example.com/team/app:v2"},
                        {"digest": DIGEST, "tag": DIGEST,
                         "resource_url": format!("harbor.example.com/team/app@{DIGEST}")},
                        {"digest": DIGEST, "tag": "",
                         "resource_url": format!("harbor.example.com/team/app@{DIGEST}")}
                    ],
                    "repository": {"name": "app", "namespace": "team",
                                   "repo_full_name": "team/app", "repo_type": "private"}
                }
            })
            .to_string()
        };
        let pushed = parse(harbor("PUSH_ARTIFACT").as_bytes(), None).unwrap();
        assert_eq!(sources(&pushed), ["harbor.example.com/team/app:v2"]);
        assert_eq!(
            pushed.ignored, 2,
            "pushed by digest alone (Harbor names it as the tag)"
        );
        let renamed = parse(harbor("PUSH_ARTIFACT").as_bytes(), Some("harbor.internal")).unwrap();
        assert_eq!(sources(&renamed), ["harbor.internal/team/app:v2"]);
        let pulled = parse(harbor("PULL_ARTIFACT").as_bytes(), None).unwrap();
        assert!(pulled.pushed.is_empty());
        assert_eq!(pulled.ignored, 3);
    }

    #[test]
    fn quay_and_docker_hub_pushes_are_read_by_their_repository_and_tags() {
        let quay = json!({
            "repository": "org/app", "namespace": "org", "name": "app",
            "docker_url": "quay.example.com/org/app",
            "homepage": "https://quay.example.com/repository/org/app",
            "updated_tags": ["v2", "latest", "-bad"]
        })
        .to_string();
        let pushed = parse(quay.as_bytes(), None).unwrap();
        assert_eq!(
            sources(&pushed),
            [
                "quay.example.com/org/app:v2",
                "quay.example.com/org/app:latest"
            ]
        );
        assert_eq!(pushed.ignored, 1, "a tag that makes no reference");
        let renamed = parse(quay.as_bytes(), Some("quay.internal:8443")).unwrap();
        assert_eq!(sources(&renamed)[0], "quay.internal:8443/org/app:v2");

        let hub = |repo_name: &str| {
            json!({
                "callback_url": "https://registry.hub.docker.com/u/org/app/hook/x/",
                "push_data": {"pushed_at": 1_417_566_161, "pusher": "ci", "tag": "v3"},
                "repository": {"repo_name": repo_name, "namespace": "org", "name": "app",
                               "is_private": true, "status": "Active"}
            })
            .to_string()
        };
        let pushed = parse(hub("org/app").as_bytes(), None).unwrap();
        assert_eq!(sources(&pushed), ["docker.io/org/app:v3"]);
        let official = parse(hub("nginx").as_bytes(), None).unwrap();
        assert_eq!(sources(&official), ["docker.io/library/nginx:v3"]);
    }

    /// A `package` event as GitHub sends it (abridged: owner, author and repository left out).
    fn github(action: &str, package_type: &str, url: &str, tag: &str) -> String {
        json!({
            "action": action,
            "package": {
                "id": 9_056_324, "name": "app", "namespace": "Org", "ecosystem": "CONTAINER",
                "package_type": package_type,
                "html_url": "https://github.com/Org/packages/9056324",
                "package_version": {
                    "id": 564_296_960, "version": DIGEST, "name": DIGEST,
                    "container_metadata": {
                        "tag": {"name": tag, "digest": DIGEST},
                        "labels": {"description": ""},
                        "manifest": {"digest": DIGEST, "size": 685,
                                     "media_type": "application/vnd.oci.image.index.v1+json"}
                    },
                    "installation_command": format!("docker pull {url}"),
                    "package_url": url
                },
                "registry": {"name": "GitHub CONTAINER registry", "type": "CONTAINER",
                             "url": "https://CONTAINER.pkg.github.com/Org", "vendor": "GitHub Inc"}
            },
            "repository": {"name": "app", "full_name": "Org/app"}
        })
        .to_string()
    }

    #[test]
    fn github_container_packages_published_with_a_tag_are_read_by_their_package_url() {
        let published = github("published", "CONTAINER", "ghcr.io/Org/app:V2", "V2");
        let pushed = parse(published.as_bytes(), None).unwrap();
        assert_eq!(sources(&pushed), ["ghcr.io/org/app:V2"]);
        assert_eq!(pushed.pushed[0].digest.as_deref(), Some(DIGEST));
        let updated = github("updated", "container", "ghcr.io/org/app:v2", "v2");
        assert_eq!(
            sources(&parse(updated.as_bytes(), None).unwrap()),
            ["ghcr.io/org/app:v2"]
        );
        let enterprise = github(
            "published",
            "CONTAINER",
            "containers.ghe.example/org/app:v2",
            "v2",
        );
        let renamed = parse(enterprise.as_bytes(), Some("ghe-registry.internal")).unwrap();
        assert_eq!(sources(&renamed), ["ghe-registry.internal/org/app:v2"]);

        let nulls = [
            r#"{"action": "published", "package": {"package_type": "npm", "package_version": null}}"#,
            r#"{"action": "published", "package": {"package_type": null, "package_version": {"package_url": null, "container_metadata": null}}}"#,
            r#"{"action": "published", "package": null}"#,
        ];
        for ignored in nulls.map(String::from).into_iter().chain([
            github(
                "published",
                "CONTAINER",
                &format!("ghcr.io/org/app@{DIGEST}"),
                "",
            ),
            github("published", "CONTAINER", "ghcr.io/org/app:v2", DIGEST),
            github("published", "npm", "npm.pkg.github.com/org/app", "v2"),
            github("deleted", "CONTAINER", "ghcr.io/org/app:v2", "v2"),
        ]) {
            let notification = parse(ignored.as_bytes(), None).unwrap();
            assert!(notification.pushed.is_empty(), "{ignored}");
            assert_eq!(notification.ignored, 1);
        }
    }

    #[test]
    fn bodies_of_no_known_format_are_refused_with_what_to_send() {
        for body in ["", "{", "[]", r#"{"kind":"Status"}"#, r#"{"events":{}}"#] {
            let error = parse(body.as_bytes(), None).unwrap_err();
            assert!(
                matches!(&error, NotificationError::Malformed(_)),
                "{body}: {error}"
            );
            assert!(error
                .to_string()
                .contains("send distribution's event envelope"));
        }
    }

    #[test]
    fn a_registry_name_that_is_not_a_host_is_refused() {
        let body = envelope(vec![]);
        for name in [
            "",
            "https://registry.example.com",
            "reg/path",
            "UPPER_",
            "a b",
        ] {
            assert_eq!(
                parse(&body, Some(name)),
                Err(NotificationError::BadRegistry(name.to_string())),
                "{name:?}"
            );
        }
        assert!(parse(&body, Some("registry.example.com:5000")).is_ok());
        assert!(parse(&body, Some("localhost")).is_ok());
    }
}
