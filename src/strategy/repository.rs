//! `status.dockerImageRepository` and `status.publicDockerImageRepository` (§4.3).
//!
//! Both are recomputed on create, on every update and on every read, so a change of the
//! registry host names shows on all streams at once.

use super::{apply_defaults, clean_output_repositories, Config};
use crate::api::{ImageStream, ImageStreamStatus};
use crate::reference::ImageRef;

/// The namespace OpenShift substitutes for an empty one on update and read.
const DEFAULT_NAMESPACE: &str = "default";

/// `H/<ns>/<name>` when the integrated registry `H` is configured, else
/// `spec.dockerImageRepository`.
///
/// With `default_namespace` (update and read), an empty namespace is first set to `default` on
/// the stream itself, as OpenShift does; the public repository computed afterwards sees it too.
pub fn docker_image_repository(
    stream: &mut ImageStream,
    config: &Config,
    default_namespace: bool,
) -> String {
    let host = &config.internal_registry_hostname;
    if host.is_empty() {
        return stream.spec.docker_image_repository.clone();
    }
    if default_namespace && stream.namespace().is_empty() {
        stream.metadata.namespace = Some(DEFAULT_NAMESPACE.to_string());
    }
    repository_at(host, stream)
}

/// The `status.dockerImageRepository` a read of `stream` shows ([`decorate`]), without
/// decorating it: what admission must pin `Local` tags onto and pull through, so that it
/// follows a change of the registry host name as the API does.
pub fn served_repository(stream: &ImageStream, config: &Config) -> String {
    let host = &config.internal_registry_hostname;
    if host.is_empty() {
        return stream.spec.docker_image_repository.clone();
    }
    let namespace = match stream.namespace() {
        "" => DEFAULT_NAMESPACE,
        namespace => namespace,
    };
    ImageRef {
        registry: host.to_string(),
        namespace: namespace.to_string(),
        name: stream.name().to_string(),
        ..ImageRef::default()
    }
    .string()
}

/// `X/<ns>/<name>` when the external registry host `X` is configured, else `""`.
pub fn public_docker_image_repository(stream: &ImageStream, config: &Config) -> String {
    let host = &config.external_registry_hostname;
    if host.is_empty() {
        return String::new();
    }
    repository_at(host, stream)
}

/// Prepares a stored stream for output: defaults, recomputed repositories, legacy clean-up.
/// Apply it to every stream the API returns (get, list, watch, and write responses).
pub fn decorate(stream: &mut ImageStream, config: &Config) {
    apply_defaults(stream, &config.default_import_mode);
    set_repositories(stream, config, true);
    clean_output_repositories(stream);
}

/// Recomputes both repositories into the status.
pub(crate) fn set_repositories(stream: &mut ImageStream, config: &Config, default_namespace: bool) {
    let internal = docker_image_repository(stream, config, default_namespace);
    let public = public_docker_image_repository(stream, config);
    let status = stream.status.get_or_insert_with(ImageStreamStatus::default);
    status.docker_image_repository = internal;
    status.public_docker_image_repository = public;
}

fn repository_at(host: &str, stream: &ImageStream) -> String {
    ImageRef {
        registry: host.to_string(),
        namespace: stream.namespace().to_string(),
        name: stream.name().to_string(),
        ..ImageRef::default()
    }
    .string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::stream;

    fn config(internal: &str, external: &str) -> Config {
        Config {
            internal_registry_hostname: internal.to_string(),
            external_registry_hostname: external.to_string(),
            ..Config::default()
        }
    }

    fn check(internal: &str, namespace: &str, spec_repository: &str, expected: &str) {
        let mut s = stream(namespace, "somerepo");
        s.spec.docker_image_repository = spec_repository.to_string();
        let got = docker_image_repository(&mut s, &config(internal, ""), true);
        assert_eq!(got, expected, "{internal} {namespace:?} {spec_repository}");
    }

    #[test]
    fn internal_repository_follows_the_registry_host() {
        check("registry:5000", "foo", "a/b", "registry:5000/foo/somerepo");
        check("registry:5000", "", "", "registry:5000/default/somerepo");
        check(
            "registry:5000",
            "somens",
            "",
            "registry:5000/somens/somerepo",
        );
        check("", "somens", "", "");
        check("", "", "a/b", "a/b");
    }

    #[test]
    fn the_served_repository_is_the_one_a_read_shows() {
        let cases = [
            ("int:5000", "ns", "", "stale/value"),
            ("int:5000", "", "a/b", ""),
            ("", "ns", "a/b", "int:5000/ns/app"),
            ("", "ns", "", "int:5000/ns/app"),
        ];
        for (host, namespace, spec_repository, stored) in cases {
            let mut s = stream(namespace, "app");
            s.spec.docker_image_repository = spec_repository.to_string();
            s.status = Some(ImageStreamStatus {
                docker_image_repository: stored.to_string(),
                ..Default::default()
            });
            let served = served_repository(&s, &config(host, ""));
            decorate(&mut s, &config(host, ""));
            assert_eq!(served, s.status_repository(), "{host} {namespace:?}");
        }
    }

    #[test]
    fn create_does_not_default_the_namespace() {
        let mut s = stream("", "somerepo");
        let got = docker_image_repository(&mut s, &config("registry:5000", ""), false);
        assert_eq!(got, "registry:5000/somerepo");
        assert_eq!(s.namespace(), "");
    }

    #[test]
    fn public_repository_needs_an_external_host() {
        let mut s = stream("", "somerepo");
        s.spec.docker_image_repository = "a/b".to_string();
        let external = config("", "registry-default.external.url");
        assert_eq!(
            public_docker_image_repository(&s, &external),
            "registry-default.external.url/somerepo"
        );
        assert_eq!(public_docker_image_repository(&s, &config("", "")), "");
    }

    #[test]
    fn decorate_recomputes_both_repositories_and_defaults_tags() {
        let mut s = stream("ns", "app");
        s.spec
            .tags
            .push(crate::strategy::testing::docker_tag("t", "quay.io/o/x:1"));
        s.status = Some(ImageStreamStatus {
            docker_image_repository: "stale/value".into(),
            ..Default::default()
        });
        decorate(&mut s, &config("int:5000", "ext.example.com"));
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.docker_image_repository, "int:5000/ns/app");
        assert_eq!(
            status.public_docker_image_repository,
            "ext.example.com/ns/app"
        );
        assert_eq!(s.spec.tags[0].reference_policy.type_, "Source");
        assert_eq!(s.spec.tags[0].import_policy.import_mode, "Legacy");
    }

    #[test]
    fn decorate_sees_the_defaulted_namespace_in_the_public_repository() {
        let mut s = stream("", "app");
        decorate(&mut s, &config("int:5000", "ext.example.com"));
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.docker_image_repository, "int:5000/default/app");
        assert_eq!(
            status.public_docker_image_repository,
            "ext.example.com/default/app"
        );
    }

    #[test]
    fn docker_hub_hosts_get_the_library_namespace_only_when_empty() {
        let mut s = stream("ns", "app");
        assert_eq!(
            docker_image_repository(&mut s, &config("docker.io", ""), true),
            "docker.io/ns/app"
        );
    }
}
