//! Imports through the mirrors of a registries.conf (`--registries-conf`): the source's
//! registry is a closed port on loopback, as an upstream is out of reach in an air-gapped
//! cluster, and the test registries serve as its mirrors.

use std::time::Duration;

use imagelookup::importer::registry_config::RegistryConfig;
use imagelookup::importer::{self, mirrors::Mirrors, ImporterConfig};
use imagelookup::metrics::{ImportLabels, ImporterMetrics};

use super::registry::{open_registry, protected_registry, Registry};
use super::{fixture_with, newest, tag, Fixture, QUICK};

/// Nothing listens here: connections are refused at once.
const UNREACHABLE: &str = "127.0.0.1:1";

/// A source repository prefix on the unreachable host.
pub const UPSTREAM: &str = "127.0.0.1:1/upstream";

/// A registries.conf mirroring [`UPSTREAM`] at `mirror`'s `mirrored` repositories.
pub fn upstream_mirrored_at(mirror: &Registry) -> String {
    mirrored_at(UPSTREAM, mirror)
}

/// A registries.conf mirroring `upstream` at `mirror`'s `mirrored` repositories.
fn mirrored_at(upstream: &str, mirror: &Registry) -> String {
    format!(
        "[[registry]]\nlocation = \"{upstream}\"\n\
         [[registry.mirror]]\nlocation = \"{}/mirrored\"\n",
        mirror.host()
    )
}

fn fixture_with_mirrors(registries_conf: &str) -> Fixture {
    fixture_counting_with_mirrors(registries_conf, ImporterMetrics::default())
}

fn fixture_counting_with_mirrors(registries_conf: &str, metrics: ImporterMetrics) -> Fixture {
    fixture_with(ImporterConfig {
        interval: importer::DEFAULT_INTERVAL,
        registry_timeout: QUICK,
        registries: RegistryConfig {
            mirrors: Mirrors::parse(registries_conf).unwrap(),
            ..RegistryConfig::default()
        }
        .fixed(),
        metrics,
        ..ImporterConfig::default()
    })
}

#[tokio::test]
async fn a_tag_is_imported_from_a_mirror_with_its_credentials_and_recorded_under_the_source() {
    let mirror = protected_registry();
    let pushed = mirror.push_image("mirrored/app", "v1", "amd64").await;
    let metrics = ImporterMetrics::default();
    let f = fixture_counting_with_mirrors(&upstream_mirrored_at(mirror), metrics.clone());
    // The namespace's pull secret names the mirror's host only, not the source's.
    f.store_pull_secret("mirrored", &mirror.host()).await;
    let from = format!("{UPSTREAM}/app:v1");
    f.create_stream("mirrored", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the import through the mirror", "mirrored", "app", |s| {
            newest(s, "v1")
        })
        .await;
    let pinned = format!("{UPSTREAM}/app@{}", pushed.digest);
    assert_eq!(event, (pinned.clone(), pushed.digest.clone(), 1));
    let image = f.image(&pushed.digest).await;
    assert_eq!(image["dockerImageReference"], pinned);
    let count = |labels| metrics.imports.get_or_create(&labels).get();
    assert_eq!(
        count(ImportLabels::answered(true)),
        1,
        "counted as a mirror's answer"
    );
    assert_eq!(count(ImportLabels::answered(false)), 0);
}

#[tokio::test]
async fn when_no_place_has_the_image_the_condition_names_each_place_and_its_answer() {
    let mirror = open_registry();
    let f = fixture_with_mirrors(&upstream_mirrored_at(mirror));
    let from = format!("{UPSTREAM}/absent:v1");
    let condition = f
        .first_condition("the failed import", "mirror-miss", "app", &from)
        .await;

    assert_eq!(condition.status, "False");
    let message = &condition.message;
    let at_mirror = format!("from {}/mirrored/absent:v1: not found", mirror.host());
    assert!(message.contains(&at_mirror), "{message}");
    assert!(
        message.contains(&format!("; from {from}: ")),
        "the source is tried last: {message}"
    );
}

#[tokio::test]
async fn a_blocked_registry_without_a_mirror_for_tags_refuses_the_import() {
    let f = fixture_with_mirrors(&format!(
        "[[registry]]\nlocation = \"{UNREACHABLE}/blocked\"\nblocked = true\n\
         [[registry.mirror]]\nlocation = \"{}/mirrored\"\npull-from-mirror = \"digest-only\"\n",
        open_registry().host()
    ));
    let from = format!("{UNREACHABLE}/blocked/app:v1");
    let condition = f
        .first_condition("the refusal", "mirror-blocked", "app", &from)
        .await;

    assert_eq!(condition.reason, "Forbidden");
    assert!(
        condition
            .message
            .contains(&format!("blocks \"{UNREACHABLE}/blocked\"")),
        "{}",
        condition.message
    );
}

/// A source repository that did not answer is not asked again for a while, but its mirrors
/// still are: the one tag the mirror lacks does not hold back the repository's other tags
/// (the pause is per place, not per source).
#[tokio::test]
async fn a_source_that_did_not_answer_still_imports_what_its_mirror_serves() {
    let mirror = open_registry();
    let pushed = mirror
        .push_image("mirrored/quiet", "present", "amd64")
        .await;
    let (silent, _held) = super::silent_registry().await;
    let upstream = format!("{silent}/upstream");
    let f = fixture_with(ImporterConfig {
        registry_timeout: Duration::from_secs(1),
        workers: 1,
        registries: RegistryConfig {
            mirrors: Mirrors::parse(&mirrored_at(&upstream, mirror)).unwrap(),
            ..RegistryConfig::default()
        }
        .fixed(),
        ..ImporterConfig::default()
    });
    let from = format!("{upstream}/quiet:missing");
    let missing = f
        .first_condition("the source timing out", "quiet", "missing", &from)
        .await;
    let at_mirror = format!("from {}/mirrored/quiet:missing: not found", mirror.host());
    assert!(missing.message.contains(&at_mirror), "{}", missing.message);

    let from = format!("{upstream}/quiet:present");
    f.create_stream("quiet", "present", vec![tag("v1", &from)])
        .await;
    let event = f
        .until("the import from the mirror", "quiet", "present", |s| {
            newest(s, "v1")
        })
        .await;
    assert_eq!(event.1, pushed.digest);
}
