//! Tags without an image, and streams that are missing (openshift-semantics §2.3 step 6).
//!
//! A stream that exists but whose tag has no usable image still resolves, unpinned, to
//! `<status.dockerImageRepository>:<tag>` when the stream is local (or the object forces
//! resolution), so the pod pulls through the integrated registry.

use std::fmt;

use super::brief::{Detail, Summary};
use super::explain::{Allowed, Stream, Subject};
use super::missing::{reference_only, Advice, Missing, Why};
use super::stream_tag::{Route, TagQuery};
use super::ResolverConfig;
use super::{Brief, CompactStream, Match, Resolution, ResolveError, Resolved, ResolvedVia};
use crate::api::REFERENCE_POLICY_SOURCE;
use crate::reference::ImageRef;

/// §2.3 step 6: a stream that exists but whose tag has no image still resolves, unpinned,
/// by tag from its `status.dockerImageRepository` when the stream is local (or forced) and has
/// one. The reason says which way the tag lacks an image and what would give it one.
pub(super) fn pull_through(
    query: &TagQuery<'_>,
    stream: &CompactStream,
    missing: Missing,
    matched: Option<Match>,
    config: &ResolverConfig,
) -> Resolution {
    let why = Why(query, stream, missing);
    let advice = Advice(query, stream, missing, config.importer);
    let summary = Summary(query, stream, missing, config.importer).to_string();
    let detail = Detail(query, stream, missing).to_string();
    let mut through = match repository_to_pull_through(query.route, stream) {
        Ok(through) => through,
        Err(refusal) => {
            let (namespace, name) = (
                query.namespace.to_string(),
                format!("{}:{}", query.stream, query.tag),
            );
            let short = nowhere_to_pull_through(query, stream);
            // A short name with nowhere to pull it through would reach another registry's
            // image of that name as written: the tag's own source is pulled by tag instead,
            // as the integrated registry would pull it through; with none, it is refused.
            if let Some(source) = short.then(|| source_by_tag(stream, query.tag)).flatten() {
                let explained = Explained {
                    why: why.to_string(),
                    advice: advice.to_string(),
                    summary,
                    detail,
                };
                return from_source(&source, query.route, matched, explained);
            }
            let error = match short {
                true => ResolveError::NoPullThrough { namespace, name },
                false => ResolveError::TagNotFound { namespace, name },
            };
            let reason = format!("{why}, and {refusal}; {advice}");
            let brief = Brief {
                summary,
                detail: joined(detail, &refusal),
            };
            return Resolution::failed(error, matched, reason).with_brief(brief);
        }
    };
    through.tag = query.tag.to_string();
    let pull_spec = through.exact();
    let integrated =
        !config.registry_hostname.is_empty() && through.registry == config.registry_hostname;
    let pulled = Pulled(&pull_spec, integrated, query.route);
    let reason = format!("{why}, so it is {pulled}; {advice}");
    let brief = Brief {
        summary,
        detail: joined(detail, &pulled),
    };
    let resolved = Resolved {
        pull_spec,
        local_rewrite: true,
        via: ResolvedVia::PullThrough,
        after_failed_import: false,
    };
    Resolution::resolved(resolved, matched, reason).with_brief(brief)
}

/// The sentences that say how a tag lacks an image and what would give it one.
struct Explained {
    why: String,
    advice: String,
    summary: String,
    detail: String,
}

/// The resolution to the tag's own `source`, written in full so that the rewrite is no short
/// name to look up again (a second admission pass, `resolve` run on its own output); pinned
/// when the source names a digest.
fn from_source(
    source: &ImageRef,
    route: Route,
    matched: Option<Match>,
    explained: Explained,
) -> Resolution {
    let Explained {
        why,
        advice,
        summary,
        detail,
    } = explained;
    let pull_spec = source.docker_client_defaults().exact();
    let pinned = !source.id.is_empty();
    let pulled = FromSource(&pull_spec, pinned, route);
    let reason = format!("{why}, so it is {pulled}; {advice}");
    let brief = Brief {
        summary,
        detail: joined(detail, &pulled),
    };
    let via = match pinned {
        true => ResolvedVia::TagEvent,
        false => ResolvedVia::PullThrough,
    };
    let resolved = Resolved {
        pull_spec,
        local_rewrite: true,
        via,
        after_failed_import: false,
    };
    Resolution::resolved(resolved, matched, reason).with_brief(brief)
}

/// Whether a short name (looked up locally, or forced) matched a stream with no repository to
/// pull through: written as is, the name would make the kubelet pull another registry's image
/// (`app:latest` is `docker.io/library/app:latest`). A full name forced by resolve-names names
/// its registry itself, and a build's `ImageStreamTag` is never pulled by name.
fn nowhere_to_pull_through(query: &TagQuery<'_>, stream: &CompactStream) -> bool {
    let short = match query.route {
        Route::ShortName => stream.lookup_local(),
        Route::Forced => ImageRef::parse(query.written).is_ok_and(|r| r.is_short_name()),
        Route::IntegratedRegistry | Route::StreamTagKind => false,
    };
    short && stream.repository().is_empty()
}

/// Where the tag's image would come from, pulled by tag: a `DockerImage` spec tag's source
/// while it is not imported (or its import failed), or a reference tag's newest event.
fn source_by_tag(stream: &CompactStream, tag: &str) -> Option<ImageRef> {
    let unimported = stream
        .spec_tag(tag)
        .and_then(|spec| spec.unimported_source());
    let source = unimported.or_else(|| reference_only(stream, tag))?;
    ImageRef::parse(source).ok()
}

/// A tag pulled from its own source (by tag, or pinned when the source names a digest), for
/// want of an integrated registry.
struct FromSource<'a>(&'a str, bool, Route);

impl fmt::Display for FromSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.1 {
            true => "pinned to its source",
            false => "pulled by tag from its source",
        };
        write!(
            f,
            "{how} {}, as no integrated registry is configured to pull it through ({})",
            self.0,
            Allowed(self.2)
        )
    }
}

/// `detail; rest`, or `rest` alone when there is no detail.
fn joined(detail: String, rest: &dyn fmt::Display) -> String {
    if detail.is_empty() {
        rest.to_string()
    } else {
        format!("{detail}; {rest}")
    }
}

/// Where a tag without an image is pulled from: through the integrated registry only when the
/// repository is on the configured host; otherwise (no host configured, so the repository is
/// the stream's `spec.dockerImageRepository`, or one kept from elsewhere) straight from it.
struct Pulled<'a>(&'a str, bool, Route);

impl fmt::Display for Pulled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pull_spec, allowed) = (self.0, Allowed(self.2));
        if self.1 {
            write!(
                f,
                "pulled by tag through the integrated registry as {pull_spec} ({allowed})"
            )
        } else {
            write!(
                f,
                "pulled by tag from {pull_spec}, the stream's status.dockerImageRepository \
                 ({allowed})"
            )
        }
    }
}

/// The parsed `status.dockerImageRepository`, or why the fallback does not apply.
fn repository_to_pull_through(route: Route, stream: &CompactStream) -> Result<ImageRef, String> {
    if route != Route::Forced && !stream.lookup_local() {
        return Err(
            "lookupPolicy.local is false so it cannot be pulled through the integrated \
             registry (set spec.lookupPolicy.local=true to allow that)"
                .to_string(),
        );
    }
    let repository = stream.repository();
    if repository.is_empty() {
        return Err(
            "the stream has no status.dockerImageRepository (no integrated registry is \
             configured) to pull through"
                .to_string(),
        );
    }
    ImageRef::parse(repository).map_err(|_| {
        format!(
            "its status.dockerImageRepository {repository:?} is not a valid repository to pull \
             through"
        )
    })
}

/// The stream itself is missing: nothing to pull through.
pub(super) fn stream_not_found(query: &TagQuery<'_>) -> Resolution {
    let error = ResolveError::StreamNotFound {
        namespace: query.namespace.to_string(),
        name: query.stream.to_string(),
    };
    let matched = Match {
        namespace: query.namespace.to_string(),
        stream: query.stream.to_string(),
        tag: query.tag.to_string(),
        stream_found: false,
        lookup_local: false,
        reference_policy: REFERENCE_POLICY_SOURCE.to_string(),
    };
    let hint = match query.route {
        Route::ShortName | Route::Forced => {
            "; lookup only searches the object's own namespace, so create the stream there or use a full pull spec"
        }
        Route::IntegratedRegistry | Route::StreamTagKind => "; check the namespace and stream name",
    };
    let reason = format!(
        "no imagestream {} exists for {} (tag {:?}){hint}",
        Stream(query),
        Subject(query),
        query.tag
    );
    Resolution::failed(error, Some(matched), reason)
}

#[cfg(test)]
mod tests {
    use crate::api::ImageStream;
    use crate::resolve::fixtures::*;
    use crate::resolve::ResolvedVia::PullThrough;
    use crate::resolve::ResolverConfig;
    use crate::resolve::{resolve, Importer, Index, ObjectRef, Resolution, ResolveError};

    /// Resolves `written` in namespace `ns` of `stream` under a config with this host and
    /// importer.
    fn run_with(host: &str, importer: Importer, stream: ImageStream, written: &str) -> Resolution {
        let config = ResolverConfig {
            registry_hostname: host.to_string(),
            importer,
        };
        let index: Index = std::iter::once(stream).collect();
        resolve(
            &ObjectRef::docker_image(written),
            "ns",
            false,
            &config,
            &index,
        )
    }

    #[test]
    fn only_a_repository_on_the_configured_host_is_said_to_be_the_integrated_registry() {
        let allowed = "(allowed by lookupPolicy.local=true)";
        let from_quay = format!(
            "pulled by tag from quay.io/org/ext:v2, the stream's status.dockerImageRepository \
             {allowed}"
        );
        let through =
            format!("pulled by tag through the integrated registry as {H}/ns/mysql:9 {allowed}");
        let external = || mk_stream("ns", "ext").local().repo("quay.io/org/ext");
        let cases = [
            ("", external(), "ext:v2", from_quay.clone()),
            (H, external(), "ext:v2", from_quay),
            (H, local_mysql(), "mysql:9", through),
        ];
        for (host, stream, written, pulled) in cases {
            let resolution = run_with(host, Importer::Runs, stream, written);
            assert!(
                resolution
                    .reason
                    .contains(&format!(", so it is {pulled}; ")),
                "{}",
                resolution.reason
            );
            assert!(resolution.brief.unwrap().detail.ends_with(&pulled));
        }
    }

    #[test]
    fn a_tag_not_imported_yet_is_advised_by_whether_anything_imports_it() {
        let cases = [
            (Importer::Runs, "wait for the import, or check that the importer runs and can pull the spec tag's from.name", "wait for the import, or check that the importer can pull the spec tag's from.name"),
            (Importer::Disabled, "this server runs no importer (--no-importer): import the tag elsewhere, or set its status.tags through the API", "this server runs no importer (--no-importer): import the tag elsewhere, or set its status.tags through the API"),
            (Importer::Offline, "nothing imports offline: import the tag on the server and export the stream again", "nothing imports offline: import the tag on the server and export the stream again"),
        ];
        for (importer, advice, short) in cases {
            let stream = local_mysql().importing("9", "quay.io/o/m:9");
            let resolution = run_with(H, importer, stream, "mysql:9");
            assert!(
                resolution.reason.ends_with(&format!("; {advice}")),
                "{}",
                resolution.reason
            );
            let summary = format!("tag \"9\" of imagestream ns/mysql is not imported yet; {short}");
            assert_eq!(resolution.brief.unwrap().summary, summary);
        }
    }

    #[test]
    fn a_refused_pull_through_gives_the_refusal_as_detail() {
        let no_repo = mk_stream("ns", "mysql").local().spec_tag("9", "");
        let brief = run(&[no_repo], ObjectRef::docker_image("mysql:9"), true)
            .brief
            .unwrap();
        assert_eq!(brief.detail, "the stream has no status.dockerImageRepository (no integrated registry is configured) to pull through");
        assert!(brief.summary.ends_with(
            "; give the spec tag a from: a DockerImage to import, or an ImageStreamTag to follow"
        ));
    }

    #[test]
    fn missing_tags_pull_through_the_integrated_registry_when_local_or_forced() {
        let through = format!("{}:9", repo_of("ns", "mysql"));
        let spec_only = local_mysql().spec_tag("9", LOCAL);
        let empty = local_mysql().empty_history("9");
        let reference_only = local_mysql().event("9", "quay.io/o/m:9", "");
        for stream in [local_mysql(), spec_only, empty, reference_only] {
            check(&[stream], "mysql:9", false, ok(&through, true, PullThrough));
        }
        let not_local = mk_stream("ns", "mysql").repo(&repo_of("ns", "mysql"));
        check(
            std::slice::from_ref(&not_local),
            "mysql:9",
            true,
            ok(&through, true, PullThrough),
        );
        check(
            std::slice::from_ref(&not_local),
            "mysql:9",
            false,
            tag_not_found("9"),
        );
        // The fallback needs local (or force) for every route, integrated-registry included.
        check(
            &[not_local],
            &format!("{H}/ns/mysql:9"),
            false,
            tag_not_found("9"),
        );
        let full = format!("{H}/ns/mysql:9");
        check(
            &[local_mysql()],
            &full,
            false,
            ok(&through, true, PullThrough),
        );
    }

    #[test]
    fn missing_tags_stay_unresolved_without_a_repository() {
        // Lookup allowed, but nowhere to pull through: told apart, as admission refuses it.
        let no_pull_through = Err(ResolveError::NoPullThrough {
            namespace: "ns".into(),
            name: "mysql:9".into(),
        });
        let no_repo = mk_stream("ns", "mysql").local().spec_tag("9", "");
        check(
            std::slice::from_ref(&no_repo),
            "mysql:9",
            false,
            no_pull_through.clone(),
        );
        check(&[no_repo], "mysql:9", true, no_pull_through.clone());
        let not_local = mk_stream("ns", "mysql").spec_tag("9", "");
        check(
            std::slice::from_ref(&not_local),
            "mysql:9",
            false,
            tag_not_found("9"),
        );
        check(&[not_local], "mysql:9", true, no_pull_through);
        let bad_repo = local_mysql().repo("Bad Repo");
        check(&[bad_repo], "mysql:9", false, tag_not_found("9"));
        // A full name forced by resolve-names names its registry itself: a warning, no refusal.
        let forced_full = mk_stream("ns", "mysql").local().spec_tag("9", "");
        check(
            &[forced_full],
            "quay.io/other/mysql:9",
            true,
            tag_not_found("9"),
        );
    }

    #[test]
    fn without_a_repository_a_tag_not_imported_is_pulled_by_tag_from_its_source() {
        let sourced = || mk_stream("ns", "mysql").local();
        let pending = sourced().importing("9", "quay.io/o/m:9");
        let failed = sourced().importing("9", "quay.io/o/m:9").import_failed("9");
        let reference =
            sourced()
                .reference_tag("9", "quay.io/o/m:9")
                .event("9", "quay.io/o/m:9", "");
        for stream in [pending, failed, reference] {
            check(
                &[stream],
                "mysql:9",
                false,
                ok("quay.io/o/m:9", true, PullThrough),
            );
        }
        // Qualified: the rewrite is no short name that a second pass would look up again.
        let hub = sourced().importing("9", "mysql:9.1");
        let qualified = "docker.io/library/mysql:9.1";
        check(&[hub], "mysql:9", false, ok(qualified, true, PullThrough));
        // A source naming a digest is pinned.
        let digest = format!("sha256:{}", "2".repeat(64));
        let by_digest = sourced().importing("9", &format!("quay.io/o/m@{digest}"));
        let pinned = format!("quay.io/o/m@{digest}");
        let tag_event = crate::resolve::ResolvedVia::TagEvent;
        check(&[by_digest], "mysql:9", false, ok(&pinned, true, tag_event));
        let resolution = run_with(
            "",
            Importer::Runs,
            sourced().importing("9", "quay.io/o/m:9"),
            "mysql:9",
        );
        assert!(
            resolution.reason.contains(
                "so it is pulled by tag from its source quay.io/o/m:9, as no integrated registry"
            ),
            "{}",
            resolution.reason
        );
        // Once imported, the source is no longer kept: the tag pins as usual.
        let digest = format!("sha256:{}", "1".repeat(64));
        let imported = sourced().importing("9", "quay.io/o/m:9").event(
            "9",
            &format!("quay.io/o/m@{digest}"),
            &digest,
        );
        let pinned = format!("quay.io/o/m@{digest}");
        check(
            &[imported],
            "mysql:9",
            false,
            ok(&pinned, true, crate::resolve::ResolvedVia::TagEvent),
        );
    }

    #[test]
    fn missing_streams_are_not_found() {
        let expected = Err(ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "mysql".into(),
        });
        check(&[], "mysql:8", false, expected.clone());
        check(&[], "mysql:8", true, expected.clone());
        check(&[], &format!("{H}/ns/mysql:8"), false, expected);
    }
}
