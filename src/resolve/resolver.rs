//! The entry point: dispatch on the reference kind, then classify a `DockerImage` pull spec
//! (openshift-semantics §1.4, §2.3 steps 1–4, §2.4, §2.5).

use super::explain::{sentence, IntegratedRegistry, Quoted};
use super::stream_image::resolve_stream_image;
use super::stream_tag::{lookup_tag, Route, TagQuery};
use super::StreamLookup;
use super::{ObjectRef, Resolution, ResolveError, Resolved, ResolvedVia, ResolverConfig};
use crate::reference::{ImageRef, DEFAULT_TAG};

/// Resolves one reference found on an object in `object_namespace`.
///
/// `force` is true when the object carries `alpha.image.policy.openshift.io/resolve-names: "*"`;
/// it applies to `DockerImage` references only, as in OpenShift. A `DockerImage` reference's
/// own `namespace` is ignored, as in OpenShift.
pub fn resolve(
    reference: &ObjectRef<'_>,
    object_namespace: &str,
    force: bool,
    config: &ResolverConfig,
    streams: &impl StreamLookup,
) -> Resolution {
    match reference.kind {
        "DockerImage" => {
            resolve_pull_spec(reference.name, object_namespace, force, config, streams)
        }
        "ImageStreamTag" => resolve_stream_tag(reference, object_namespace, config, streams),
        "ImageStreamImage" => resolve_stream_image(reference, object_namespace, streams),
        other => {
            let reason = format!(
                "references of kind {other:?} cannot be resolved; use DockerImage, \
                 ImageStreamTag or ImageStreamImage"
            );
            Resolution::failed(
                ResolveError::UnsupportedKind(other.to_string()),
                None,
                reason,
            )
        }
    }
}

/// §2.3: parse, take IDs as written, then look up short, forced or integrated-registry names.
fn resolve_pull_spec(
    pull_spec: &str,
    object_namespace: &str,
    force: bool,
    config: &ResolverConfig,
    streams: &impl StreamLookup,
) -> Resolution {
    let parsed = match ImageRef::parse(pull_spec) {
        Ok(parsed) => parsed,
        Err(error) => {
            let reason = format!("{pull_spec:?} is not a valid image reference: {error}");
            return Resolution::failed(error.into(), None, reason);
        }
    };
    if !parsed.id.is_empty() {
        return as_written(pull_spec, &parsed);
    }
    let Some(route) = route_for(&parsed, force, config) else {
        return not_exact(pull_spec, &parsed, config);
    };
    let namespace = if parsed.namespace.is_empty() || force {
        object_namespace
    } else {
        &parsed.namespace
    };
    let query = TagQuery {
        namespace,
        stream: &parsed.name,
        tag: or_latest(&parsed.tag),
        route,
        written: pull_spec,
    };
    lookup_tag(&query, config, streams)
}

/// `partial` (forced, or a short name) wins over `full` (the integrated registry).
fn route_for(parsed: &ImageRef, force: bool, config: &ResolverConfig) -> Option<Route> {
    if force {
        return Some(Route::Forced);
    }
    if parsed.is_short_name() {
        return Some(Route::ShortName);
    }
    let integrated = &config.registry_hostname;
    (!integrated.is_empty() && parsed.registry == *integrated).then_some(Route::IntegratedRegistry)
}

/// A reference with an ID. See [`ResolvedVia::Digest`] for the deliberate deviation.
fn as_written(pull_spec: &str, parsed: &ImageRef) -> Resolution {
    let exact = parsed.exact();
    // A bare registry with a digest (`localhost:5000@sha256:…`) renders empty: keep the input.
    let pull_spec = if exact.is_empty() {
        pull_spec.to_string()
    } else {
        exact
    };
    let reason = sentence(format_args!(
        "{} already names an image by id, so it is used as written without consulting any \
         imagestream",
        Quoted(&pull_spec)
    ));
    let resolved = Resolved {
        pull_spec,
        local_rewrite: false,
        via: ResolvedVia::Digest,
        after_failed_import: false,
    };
    Resolution::resolved(resolved, None, reason)
}

fn not_exact(pull_spec: &str, parsed: &ImageRef, config: &ResolverConfig) -> Resolution {
    let reason = sentence(format_args!(
        "{} has a registry or namespace and {}, so it is not looked up; only single-segment \
         names such as \"mysql:8\" (or any name on an object annotated resolve-names) resolve \
         through an imagestream",
        Quoted(pull_spec),
        IntegratedRegistry(&config.registry_hostname),
    ));
    Resolution::failed(ResolveError::NotExact(parsed.exact()), None, reason)
}

/// §2.4: `stream:tag` (empty tag means `latest`), looked up without a lookupPolicy check.
fn resolve_stream_tag(
    reference: &ObjectRef<'_>,
    object_namespace: &str,
    config: &ResolverConfig,
    streams: &impl StreamLookup,
) -> Resolution {
    let Some((stream, tag)) = split_stream_tag(reference.name) else {
        let reason = format!(
            "imagestreamtag reference {:?} is not of the form NAME:TAG; write it as \"stream:tag\"",
            reference.name
        );
        return Resolution::failed(ResolveError::BadStreamTagName, None, reason);
    };
    let query = TagQuery {
        namespace: or_default(reference.namespace, object_namespace),
        stream,
        tag,
        route: Route::StreamTagKind,
        written: reference.name,
    };
    lookup_tag(&query, config, streams)
}

/// Splits at the first `:`. Names the server's ImageStreamTag GET would reject with a
/// BadRequest (an empty stream, a second `:` or an `@`) are refused here too, so they never
/// reach the NotFound-only pull-through fallback.
fn split_stream_tag(name: &str) -> Option<(&str, &str)> {
    let (stream, tag) = name.split_once(':')?;
    let tag = or_latest(tag);
    let malformed = stream.is_empty() || stream.contains('@') || tag.contains([':', '@']);
    (!malformed).then_some((stream, tag))
}

fn or_latest(tag: &str) -> &str {
    or_default(tag, DEFAULT_TAG)
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ParseError;
    use crate::resolve::fixtures::*;
    use crate::resolve::Index;
    use ResolvedVia::{Digest, TagEvent};

    /// A local stream `ns/mysql` with tags `latest`, `5.7` and `8`, each pinned at `D`.
    fn mysql() -> crate::api::ImageStream {
        mk_stream("ns", "mysql")
            .local()
            .repo(&repo_of("ns", "mysql"))
            .event("latest", "docker.io/library/mysql:latest", D)
            .event("5.7", "docker.io/library/mysql:5.7", D)
            .event("8", "docker.io/library/mysql:8", D)
    }

    fn pinned() -> String {
        format!("docker.io/library/mysql@{D}")
    }

    #[test]
    fn short_names_resolve_through_the_object_namespace() {
        let streams = [mysql()];
        for short in ["mysql", "mysql:5.7", "mysql:8", "mysql:latest"] {
            check(&streams, short, false, ok(&pinned(), true, TagEvent));
        }
        let php = mk_stream("ns", "php")
            .local()
            .event("latest", "php:8.3", D2);
        check(
            &[php],
            "php:latest",
            false,
            ok(&format!("php@{D2}"), true, TagEvent),
        );
    }

    #[test]
    fn bare_name_looks_up_the_latest_tag() {
        let stream = mk_stream("ns", "mysql")
            .local()
            .event("latest", "mysql:latest", D)
            .event("5.7", "mysql:5.7", D2);
        let resolution = run(&[stream], ObjectRef::docker_image("mysql"), false);
        assert_eq!(
            resolution.outcome,
            ok(&format!("mysql@{D}"), true, TagEvent)
        );
        assert_eq!(resolution.matched.unwrap().tag, "latest");
    }

    #[test]
    fn references_with_an_id_are_returned_as_written_without_a_stream() {
        let streams = [mysql()];
        let cases = [
            (format!("mysql@{D2}"), format!("mysql@{D2}")),
            (format!("mysql:5.7@{D2}"), format!("mysql@{D2}")),
            (format!("quay.io/o/m@{D2}"), format!("quay.io/o/m@{D2}")),
            (
                format!("localhost:5000@{D2}"),
                format!("localhost:5000@{D2}"),
            ),
        ];
        for (written, expected) in &cases {
            check(&streams, written, false, ok(expected, false, Digest));
            check(&streams, written, true, ok(expected, false, Digest));
            assert_eq!(
                run(&streams, ObjectRef::docker_image(written), false).matched,
                None
            );
        }
    }

    #[test]
    fn names_with_a_registry_or_namespace_are_not_looked_up() {
        let streams = [
            mysql(),
            mk_stream("myns", "mysql").local().event("latest", "x:1", D),
        ];
        let cases = [
            ("library/mysql", "library/mysql"),
            ("myns/mysql", "myns/mysql"),
            ("ns/mysql", "ns/mysql"),
            ("docker.io/mysql", "docker.io/mysql"),
            ("docker.io/library/mysql:8", "docker.io/library/mysql:8"),
            ("localhost/mysql", "localhost/mysql"),
            ("quay.io", ""),
            ("quay.io/o/mysql:8", "quay.io/o/mysql:8"),
        ];
        for (written, exact) in cases {
            let expected = Err(ResolveError::NotExact(exact.to_string()));
            check(&streams, written, false, expected);
        }
        let resolution = run(
            &streams,
            ObjectRef::docker_image("image-registry/ns/mysql"),
            false,
        );
        let hint = format!("the integrated registry is {H:?}");
        assert!(resolution.reason.contains(&hint), "{}", resolution.reason);
        let error = ResolveError::NotExact("docker.io/mysql".into()).to_string();
        assert_eq!(
            error,
            "(docker.io/mysql) could not be resolved to an exact image reference"
        );
    }

    #[test]
    fn unparseable_references_fail_with_library_go_messages() {
        let streams = [mysql()];
        check(
            &streams,
            "MySQL",
            false,
            Err(ParseError::NameContainsUppercase.into()),
        );
        check(&streams, "a_", false, Err(ParseError::InvalidFormat.into()));
        check(&streams, "", true, Err(ParseError::NameEmpty.into()));
        let resolution = run(&streams, ObjectRef::docker_image("MySQL"), false);
        assert_eq!(
            resolution.reason,
            "\"MySQL\" is not a valid image reference: repository name must be lowercase"
        );
    }

    #[test]
    fn integrated_registry_references_skip_the_lookup_policy() {
        let not_local = mk_stream("ns", "mysql").event("8", "quay.io/o/m:8", D);
        let other = mk_stream("other", "mysql").event("8", "quay.io/o/m:8", D2);
        let streams = [not_local, other];
        let full = format!("{H}/ns/mysql:8");
        check(
            &streams,
            &full,
            false,
            ok(&format!("quay.io/o/m@{D}"), false, TagEvent),
        );
        let cross = format!("{H}/other/mysql:8");
        check(
            &streams,
            &cross,
            false,
            ok(&format!("quay.io/o/m@{D2}"), false, TagEvent),
        );
        let no_namespace = format!("{H}/mysql:8");
        check(
            &streams,
            &no_namespace,
            false,
            ok(&format!("quay.io/o/m@{D}"), false, TagEvent),
        );
    }

    #[test]
    fn integrated_registry_needs_a_configured_hostname() {
        let streams: Index = [mk_stream("ns", "mysql").event("8", "quay.io/o/m:8", D)]
            .into_iter()
            .collect();
        let spec = format!("{H}/ns/mysql:8");
        let unconfigured = ResolverConfig::default();
        let resolution = resolve(
            &ObjectRef::docker_image(&spec),
            "ns",
            false,
            &unconfigured,
            &streams,
        );
        assert_eq!(resolution.outcome, Err(ResolveError::NotExact(spec)));
    }

    #[test]
    fn force_looks_up_the_bare_name_in_the_object_namespace() {
        let not_local = mk_stream("ns", "mysql").event("5.7", "docker.io/library/mysql:5.7", D);
        let streams = [
            not_local,
            mk_stream("x", "mysql").local().event("5.7", "y:1", D2),
        ];
        for written in [
            "quay.io/x/mysql:5.7",
            "x/mysql:5.7",
            "mysql:5.7",
            &format!("{H}/x/mysql:5.7"),
        ] {
            check(&streams, written, true, ok(&pinned(), true, TagEvent));
        }
        let resolution = run(
            &streams,
            ObjectRef::docker_image("quay.io/x/mysql:5.7"),
            true,
        );
        let matched = resolution.matched.unwrap();
        assert_eq!(
            (matched.namespace.as_str(), matched.stream.as_str()),
            ("ns", "mysql")
        );
        assert!(
            resolution.reason.contains("resolve-names"),
            "{}",
            resolution.reason
        );
    }

    #[test]
    fn short_names_never_consult_other_namespaces() {
        let elsewhere = mk_stream("other", "mysql")
            .local()
            .event("latest", "mysql", D);
        let expected = ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "mysql".into(),
        };
        check(&[elsewhere], "mysql", false, Err(expected));
    }

    #[test]
    fn stream_tag_kind_skips_the_lookup_policy_and_is_not_a_local_rewrite() {
        let not_local = mk_stream("ns", "mysql")
            .event("8", "quay.io/o/m:8", D)
            .event("latest", "quay.io/o/m:latest", D2);
        let in_other = mk_stream("b", "mysql").event("8", "quay.io/o/m:8", D2);
        let streams = [not_local, in_other];
        let ist = |name, namespace| ObjectRef {
            kind: "ImageStreamTag",
            name,
            namespace,
        };
        let cases = [
            (
                ist("mysql:8", ""),
                ok(&format!("quay.io/o/m@{D}"), false, TagEvent),
            ),
            (
                ist("mysql:", ""),
                ok(&format!("quay.io/o/m@{D2}"), false, TagEvent),
            ),
            (
                ist("mysql:8", "b"),
                ok(&format!("quay.io/o/m@{D2}"), false, TagEvent),
            ),
            (ist("mysql", ""), Err(ResolveError::BadStreamTagName)),
            (ist(":8", ""), Err(ResolveError::BadStreamTagName)),
            (ist("mysql:8:9", ""), Err(ResolveError::BadStreamTagName)),
            (ist("mysql:8@x", ""), Err(ResolveError::BadStreamTagName)),
        ];
        for (reference, expected) in cases {
            // resolve-names does not apply to ImageStreamTag references.
            for force in [false, true] {
                assert_eq!(
                    run(&streams, reference, force).outcome,
                    expected,
                    "{reference:?}"
                );
            }
        }
    }

    #[test]
    fn unknown_kinds_are_refused_with_openshift_wording() {
        let reference = ObjectRef {
            kind: "DockerImageX",
            name: "mysql",
            namespace: "",
        };
        let resolution = run(&[mysql()], reference, false);
        let error = resolution.outcome.unwrap_err();
        assert_eq!(error, ResolveError::UnsupportedKind("DockerImageX".into()));
        assert_eq!(
            error.to_string(),
            "image policy does not allow image references of kind \"DockerImageX\""
        );
    }

    #[test]
    fn docker_image_references_ignore_their_own_namespace() {
        let reference = ObjectRef {
            kind: "DockerImage",
            name: "mysql:8",
            namespace: "elsewhere",
        };
        assert_eq!(
            run(&[mysql()], reference, false).outcome,
            ok(&pinned(), true, TagEvent)
        );
    }
}
