//! The deprecated `spec.dockerImageRepository`: when a stream's whole repository is imported,
//! and what the import records (pure; the registry I/O is in `pass/repository.rs`).
//!
//! OpenShift's image stream controller (openshift-controller-manager
//! `pkg/image/controller/imagestream_controller.go`, `needsImport` and `handleImageStream`)
//! imports the repository while the stream lacks the `openshift.io/image.dockerRepositoryCheck`
//! annotation, with `importPolicy.insecure` from the `openshift.io/image.insecureRepository`
//! annotation. The ImageStreamImport REST (openshift-apiserver
//! `pkg/image/apiserver/registry/imagestreamimport/rest.go`, `importSuccessful`) then, for
//! each of the first 50 tags in `PrioritizeTags` order ([`super::tag_order`]), sets the spec
//! tag to `DockerImage <repository>:<tag>` (generation reset, so it takes the stream's next
//! generation) and records the tag event; a tag that failed gets an `ImportSuccess=False`
//! condition on its status tag and no spec tag. The stream is written as a whole (spec, status
//! and the annotation set to the time, RFC 3339) even when the import failed: the annotation
//! means "attempted". Neither the scheduled-import controller nor a later pass re-imports the
//! repository (the spec tags it created are not `scheduled`); removing the annotation does.
//!
//! Where this differs, deliberately:
//! - A spec tag that already exists and points elsewhere (another source, another kind) keeps
//!   its own source: OpenShift's controller documents that specified tags override the
//!   repository's, which its REST achieves for `DockerImage` tags only.
//! - A failed repository import (not found, unauthorized, no tags, some tags failing) is
//!   recorded in [`FAILURE_ANNOTATION`] and retried every import interval and once after a
//!   restart, as failed tags are; OpenShift records nothing on the stream for a repository
//!   it could not list, and never retries.

mod apply;

use std::time::Duration;

use jiff::Timestamp;

pub use self::apply::{apply_repository, Listing};
use super::outcome::{Failure, ImportReason};
use super::plan::ImportMode;
use super::registry::{ImportError, Subject};
use super::tag_order::{prioritized, MAX_TAGS_PER_REPOSITORY};
use crate::api::{ImageStream, IMPORT_MODE_PRESERVE_ORIGINAL};
use crate::reference::ImageRef;

/// Set (to the time, RFC 3339) once the repository import was attempted; OpenShift's name.
pub const CHECK_ANNOTATION: &str = "openshift.io/image.dockerRepositoryCheck";
/// `"true"` lets the repository be imported over plain HTTP or unverified TLS.
pub const INSECURE_ANNOTATION: &str = "openshift.io/image.insecureRepository";
/// Why the last repository import failed and what to do; absent after a success.
pub const FAILURE_ANNOTATION: &str = "imagelookup.io/repository-import-failure";

/// One repository import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryImport {
    /// `spec.dockerImageRepository` as written, without a tag or digest.
    pub repository: ImageRef,
    /// From [`INSECURE_ANNOTATION`].
    pub insecure: bool,
    /// The server's default import mode, which the spec tags it creates take.
    pub mode: ImportMode,
}

/// Whether a stream's repository is to be imported now, and when otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryPlan {
    /// The import to make now.
    pub import: Option<RepositoryImport>,
    /// When a failed import is due again, if it is not now.
    pub next_due: Option<Timestamp>,
}

/// What this process did with a stream's repository import (none of it survives a restart).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryAttempts {
    /// When it was last imported, what the registry answered recorded or not.
    pub last: Option<Timestamp>,
    /// Not tried again before this: its last writes all lost to another writer's.
    pub held_until: Option<Timestamp>,
    /// The repository the hold is for (its pull spec): a stream pointed at another one since
    /// is imported at once.
    pub held_repository: Option<String>,
}

/// Plans the repository import of `stream` at `now`: due when the stream has a repository and
/// no [`CHECK_ANNOTATION`], or when its last import failed and the last attempt is at least
/// `interval` old; either way not before `attempts.held_until`.
pub fn plan_repository(
    stream: &ImageStream,
    default_import_mode: &str,
    attempts: RepositoryAttempts,
    now: Timestamp,
    interval: Duration,
) -> RepositoryPlan {
    let plan = plan_unheld(stream, default_import_mode, attempts.last, now, interval);
    let held_for = |import: &RepositoryImport| {
        attempts.held_repository.as_deref() == Some(import.repository.exact().as_str())
    };
    match attempts.held_until {
        Some(until) if plan.import.as_ref().is_some_and(held_for) && until > now => {
            RepositoryPlan {
                import: None,
                next_due: Some(until),
            }
        }
        _ => plan,
    }
}

/// [`plan_repository`] without a hold.
fn plan_unheld(
    stream: &ImageStream,
    default_import_mode: &str,
    last_attempt: Option<Timestamp>,
    now: Timestamp,
    interval: Duration,
) -> RepositoryPlan {
    let Some(repository) = repository_of(stream) else {
        return RepositoryPlan::default();
    };
    let import = RepositoryImport {
        repository,
        insecure: annotation(stream, INSECURE_ANNOTATION) == Some("true"),
        mode: match default_import_mode {
            IMPORT_MODE_PRESERVE_ORIGINAL => ImportMode::PreserveOriginal,
            _ => ImportMode::legacy(),
        },
    };
    let checked = annotation(stream, CHECK_ANNOTATION).is_some_and(|at| !at.is_empty());
    if !checked {
        return RepositoryPlan {
            import: Some(import),
            next_due: None,
        };
    }
    if annotation(stream, FAILURE_ANNOTATION).is_none() {
        return RepositoryPlan::default();
    }
    let due = last_attempt.map_or(Timestamp::UNIX_EPOCH, |last| {
        last.saturating_add(interval).unwrap_or(Timestamp::MAX)
    });
    match due <= now {
        true => RepositoryPlan {
            import: Some(import),
            next_due: None,
        },
        false => RepositoryPlan {
            import: None,
            next_due: Some(due),
        },
    }
}

/// Whether `stream` still asks for `import`'s repository whatever this process did last:
/// after a write conflict, another writer may have changed the repository or imported it.
pub fn still_wanted(stream: &ImageStream, import: &RepositoryImport) -> bool {
    // No last attempt: a failed import counts as due at any time, so the clock is not read.
    let plan = plan_unheld(stream, "", None, Timestamp::UNIX_EPOCH, Duration::ZERO);
    plan.import
        .is_some_and(|wanted| wanted.repository == import.repository)
}

/// The stream's repository without tag or digest (stored legacy values may carry one), or
/// `None` when it has none or it does not parse.
fn repository_of(stream: &ImageStream) -> Option<ImageRef> {
    let written = stream.spec.docker_image_repository.as_str();
    if written.is_empty() {
        return None;
    }
    let mut repository = ImageRef::parse(written).ok()?;
    repository.tag.clear();
    repository.id.clear();
    Some(repository)
}

fn annotation<'s>(stream: &'s ImageStream, key: &str) -> Option<&'s str> {
    let annotations = stream.metadata.annotations.as_ref()?;
    annotations.get(key).map(String::as_str)
}

/// The tags of `listed` to import: the first [`MAX_TAGS_PER_REPOSITORY`] in OpenShift's order,
/// less those whose spec tag points elsewhere (which keep their own source, and still count
/// towards the maximum, as in OpenShift).
pub fn tags_to_import(
    listed: Vec<String>,
    stream: &ImageStream,
    import: &RepositoryImport,
) -> Vec<String> {
    let mut chosen = prioritized(listed);
    chosen.truncate(MAX_TAGS_PER_REPOSITORY);
    chosen.retain(|tag| sets_tag(stream, import, tag));
    chosen
}

/// Whether the repository import sets tag `tag` of `stream`: the tag has no spec tag, or its
/// spec tag is `DockerImage <repository>:<tag>`. A spec tag that points elsewhere (another
/// source, another kind) keeps its own source, so it is asked of the stream about to be
/// written, which a user may have changed since the repository was listed.
pub fn sets_tag(stream: &ImageStream, import: &RepositoryImport, tag: &str) -> bool {
    stream.spec_tag(tag).is_none_or(|spec| {
        let from = spec.from.as_ref();
        let kind = from.and_then(|f| f.kind.as_deref());
        let name = from.and_then(|f| f.name.as_deref());
        kind == Some("DockerImage") && name == Some(tag_source(import, tag).exact().as_str())
    })
}

/// Where tag `tag` of the repository is imported from: `<repository as written>:<tag>`.
pub fn tag_source(import: &RepositoryImport, tag: &str) -> ImageRef {
    let mut source = import.repository.clone();
    source.tag = tag.to_string();
    source
}

/// The failure OpenShift reports for a repository that could not be listed, naming the
/// repository as written; a flag that only the stream's annotation sets is named as such.
pub fn listing_failure(error: &ImportError, repository: &ImageRef) -> Failure {
    let written = repository.exact();
    let (reason, message) = match error {
        ImportError::NotFound => (
            ImportReason::NotFound,
            format!("dockerimage.image.openshift.io {written:?} not found"),
        ),
        ImportError::Unauthorized => (
            ImportReason::Unauthorized,
            format!("you may not have access to the container image {written:?}"),
        ),
        ImportError::NoRepository(_) => (ImportReason::Invalid, error.to_string()),
        other => {
            let message = other.message_for(Subject::Repository);
            (
                ImportReason::InternalError,
                format!("Internal error occurred: {written}: {message}"),
            )
        }
    };
    Failure { reason, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::registry::TransportHint;
    use crate::strategy::testing::{docker_tag, isimage, istag, now, stream};
    use jiff::SignedDuration;

    const INTERVAL: Duration = Duration::from_secs(15 * 60);

    fn with(repository: &str, annotations: &[(&str, &str)]) -> ImageStream {
        let mut s = stream("ns", "app");
        s.spec.docker_image_repository = repository.to_string();
        let pairs = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()));
        s.metadata.annotations = Some(pairs.collect());
        s
    }

    /// Whether the plan imports now, and when it is due otherwise (minutes after now).
    fn check(
        s: &ImageStream,
        last_attempt_minutes_ago: Option<i64>,
        expected: (bool, Option<i64>),
    ) {
        let last = last_attempt_minutes_ago.map(|m| now() - SignedDuration::from_mins(m));
        let attempts = RepositoryAttempts {
            last,
            ..RepositoryAttempts::default()
        };
        let plan = plan_repository(s, "Legacy", attempts, now(), INTERVAL);
        let due = plan.next_due.map(|due| due.duration_since(now()).as_mins());
        assert_eq!((plan.import.is_some(), due), expected);
    }

    #[test]
    fn a_repository_is_imported_until_the_check_annotation_is_set() {
        let at = "2024-01-01T00:00:00Z";
        check(&with("quay.io/o/app", &[]), None, (true, None));
        check(
            &with("quay.io/o/app", &[(CHECK_ANNOTATION, "")]),
            None,
            (true, None),
        );
        check(
            &with("quay.io/o/app", &[(CHECK_ANNOTATION, at)]),
            None,
            (false, None),
        );
        check(&with("", &[]), None, (false, None));
        check(&with("quay.io/o/Bad Name", &[]), None, (false, None));
    }

    #[test]
    fn a_failed_import_is_retried_each_interval_and_at_once_after_a_restart() {
        let failed = with(
            "quay.io/o/app",
            &[
                (CHECK_ANNOTATION, "2024-01-01T00:00:00Z"),
                (FAILURE_ANNOTATION, "NotFound: x"),
            ],
        );
        check(&failed, None, (true, None));
        check(&failed, Some(5), (false, Some(10)));
        check(&failed, Some(15), (true, None));
    }

    #[test]
    fn a_repository_whose_writes_lost_waits_for_its_hold_whatever_else_is_due() {
        let failed = with(
            "quay.io/o/app",
            &[
                (CHECK_ANNOTATION, "2024-01-01T00:00:00Z"),
                (FAILURE_ANNOTATION, "NotFound: x"),
            ],
        );
        let never_checked = with("quay.io/o/app", &[]);
        let imported = with(
            "quay.io/o/app",
            &[(CHECK_ANNOTATION, "2024-01-01T00:00:00Z")],
        );
        let minutes = |m: i64| now() + SignedDuration::from_mins(m);
        // (stream, held until, imports now, due in minutes)
        let cases = [
            (&never_checked, Some(2), false, Some(2)),
            (&failed, Some(2), false, Some(2)),
            (&never_checked, Some(0), true, None),
            (&never_checked, Some(-1), true, None),
            (&failed, None, true, None),
            // A hold changes nothing where nothing is due.
            (&imported, Some(2), false, None),
        ];
        for (stream, held, imports, due) in cases {
            let attempts = RepositoryAttempts {
                last: None,
                held_until: held.map(minutes),
                held_repository: Some("quay.io/o/app".to_string()),
            };
            let plan = plan_repository(stream, "Legacy", attempts.clone(), now(), INTERVAL);
            let due_in = plan.next_due.map(|at| at.duration_since(now()).as_mins());
            assert_eq!((plan.import.is_some(), due_in), (imports, due), "{held:?}");
        }
        // A stream pointed at another repository since is not held by the old one's hold.
        let moved = with("quay.io/o/other", &[]);
        let attempts = RepositoryAttempts {
            last: None,
            held_until: Some(minutes(2)),
            held_repository: Some("quay.io/o/app".to_string()),
        };
        let plan = plan_repository(&moved, "Legacy", attempts, now(), INTERVAL);
        assert!(plan.import.is_some());
    }

    #[test]
    fn the_import_takes_the_insecure_annotation_and_drops_a_stored_tag() {
        let s = with("quay.io/o/app:1", &[(INSECURE_ANNOTATION, "true")]);
        let plan = plan_repository(
            &s,
            "PreserveOriginal",
            RepositoryAttempts::default(),
            now(),
            INTERVAL,
        );
        let import = plan.import.unwrap();
        assert_eq!(import.repository.exact(), "quay.io/o/app");
        assert!(import.insecure);
        assert_eq!(import.mode, ImportMode::PreserveOriginal);
        assert_eq!(tag_source(&import, "v2").exact(), "quay.io/o/app:v2");
    }

    #[test]
    fn spec_tags_pointing_elsewhere_keep_their_source_and_their_place_in_the_fifty() {
        let mut s = with("quay.io/o/app", &[]);
        s.spec.tags = vec![
            istag("latest", "other:1"),
            docker_tag("9.0", "quay.io/o/app:9.0"),
            docker_tag("8.0", "quay.io/o/elsewhere:8.0"),
        ];
        let import = plan_repository(&s, "Legacy", RepositoryAttempts::default(), now(), INTERVAL)
            .import
            .unwrap();
        let mut listed: Vec<String> = (0..60).map(|i| format!("t{i:02}")).collect();
        listed.extend(["latest", "9.0", "8.0"].map(String::from));
        let chosen = tags_to_import(listed, &s, &import);
        assert_eq!(chosen[..2], ["9.0".to_string(), "t00".to_string()]);
        assert_eq!(chosen.len(), 48, "50 less latest and 8.0");
        assert_eq!(chosen.last().unwrap(), "t46");
    }

    #[test]
    fn the_repository_sets_only_tags_without_a_spec_tag_or_pointing_at_its_own_tag() {
        let import = plan_repository(
            &with("quay.io/o/app", &[]),
            "Legacy",
            RepositoryAttempts::default(),
            now(),
            INTERVAL,
        )
        .import
        .unwrap();
        // (the stream's spec tag "1.0", if any; whether the repository sets "1.0")
        let cases = [
            (None, true),
            (Some(docker_tag("1.0", "quay.io/o/app:1.0")), true),
            (
                Some(docker_tag("1.0", "127.0.0.1:24001/demo/app:v1")),
                false,
            ),
            (Some(docker_tag("1.0", "quay.io/o/app:2.0")), false),
            (Some(docker_tag("1.0", "quay.io/o/app@sha256:0123")), false),
            (Some(istag("1.0", "other:1")), false),
            (Some(isimage("1.0", "other@sha256:0123")), false),
        ];
        for (spec, sets) in cases {
            let mut s = with("quay.io/o/app", &[]);
            s.spec.tags = spec.iter().cloned().collect();
            // Another tag pointing elsewhere changes nothing for "1.0".
            s.spec.tags.push(docker_tag("2.0", "elsewhere.io/x:2.0"));
            assert_eq!(sets_tag(&s, &import, "1.0"), sets, "{spec:?}");
        }
    }

    #[test]
    fn listing_failures_name_the_repository_as_written_and_say_what_to_do() {
        let repository = ImageRef::parse("127.0.0.1:5000/demo/app").unwrap();
        let check = |error: ImportError, reason: &str, message: &str| {
            let failure = listing_failure(&error, &repository);
            assert_eq!(
                (failure.reason.as_str(), failure.message.as_str()),
                (reason, message)
            );
        };
        check(
            ImportError::NotFound,
            "NotFound",
            "dockerimage.image.openshift.io \"127.0.0.1:5000/demo/app\" not found",
        );
        check(
            ImportError::Unauthorized,
            "Unauthorized",
            "you may not have access to the container image \"127.0.0.1:5000/demo/app\"",
        );
        check(
            ImportError::Transport {
                message: "received corrupt message of type InvalidContentType".into(),
                hint: Some(TransportHint::PlainHttp),
            },
            "InternalError",
            "Internal error occurred: 127.0.0.1:5000/demo/app: received corrupt message of type \
             InvalidContentType: the registry answered in plain HTTP (server gave HTTP response \
             to HTTPS client); annotate the stream openshift.io/image.insecureRepository=true to \
             import over HTTP",
        );
        // Within the places tried, the last one's advice is the repository's too.
        let untrusted = ImportError::Transport {
            message: "invalid peer certificate: UnknownIssuer".into(),
            hint: Some(TransportHint::UntrustedCa),
        };
        check(
            ImportError::EverySource(vec![("127.0.0.1:5000/demo/app".into(), untrusted)]),
            "InternalError",
            "Internal error occurred: 127.0.0.1:5000/demo/app: neither a mirror nor the source \
             served the image: from 127.0.0.1:5000/demo/app: invalid peer certificate: \
             UnknownIssuer: the registry's certificate is not signed by a trusted CA; give its \
             CA to serve with --registry-ca-file (or a ca in its hosts.toml with \
             --containerd-hosts-dir), or annotate the stream \
             openshift.io/image.insecureRepository=true to skip verification",
        );
        check(
            ImportError::Silent {
                what: "127.0.0.1:5000".into(),
                ago: Duration::from_secs(20),
                retry_in: Duration::from_secs(40),
                why: crate::importer::silent::Why::NoAnswer,
            },
            "InternalError",
            "Internal error occurred: 127.0.0.1:5000/demo/app: not asked: 127.0.0.1:5000 did \
             not answer an import 20s ago; the repository is tried again 40s from now, when a \
             minute has passed since then",
        );
    }
}
