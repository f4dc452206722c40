use super::*;

fn mirrors(text: &str) -> Mirrors {
    Mirrors::parse(text).unwrap()
}

/// The pull sources of `spec`, as `[mirror ]reference[ (insecure)]`.
fn sources(mirrors: &Mirrors, spec: &str) -> Result<Vec<String>, Blocked> {
    let source = ImageRef::parse(spec).unwrap();
    let listed = mirrors.pull_sources(&source, false)?;
    Ok(listed
        .iter()
        .map(|pull| {
            let mut line = String::new();
            if pull.mirror {
                line.push_str("mirror ");
            }
            line.push_str(&pull.reference.exact());
            if pull.insecure {
                line.push_str(" (insecure)");
            }
            line
        })
        .collect())
}

const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

const AIR_GAP: &str = r#"
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true

[[registry]]
prefix = "quay.io/team"
location = "quay.io/team"
blocked = true
[[registry.mirror]]
location = "mirror.local:5000/team"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "backup.local/team"
pull-from-mirror = "digest-only"

[[registry]]
location = "registry.redhat.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.local:5000/redhat"

[[registry]]
prefix = "*.corp.example"
[[registry.mirror]]
location = "cache.corp.example"

[[registry]]
prefix = "old.example/apps"
location = "new.example/apps"

[aliases]
"mysql" = "docker.io/library/mysql"
"#;

#[test]
fn mirrors_are_tried_before_the_source_and_rewrite_the_matched_prefix() {
    let conf = mirrors(AIR_GAP);
    assert_eq!(
        sources(&conf, "mysql:8").unwrap(),
        [
            "mirror mirror.local:5000/hub/library/mysql:8 (insecure)",
            "mysql:8"
        ]
    );
    assert_eq!(
        sources(&conf, "docker.io/org/app").unwrap(),
        [
            "mirror mirror.local:5000/hub/org/app:latest (insecure)",
            "docker.io/org/app"
        ]
    );
    assert_eq!(
        sources(&conf, "cache.example/app:1").unwrap(),
        ["cache.example/app:1"],
        "no table matches"
    );
}

#[test]
fn a_mirror_serves_only_the_pulls_its_pull_from_mirror_names() {
    let conf = mirrors(AIR_GAP);
    assert_eq!(
        sources(&conf, "quay.io/team/app:v1").unwrap(),
        ["mirror mirror.local:5000/team/app:v1"],
        "a tag: the tag-only mirror; the blocked source is never asked"
    );
    assert_eq!(
        sources(&conf, &format!("quay.io/team/app:v1@{DIGEST}")).unwrap(),
        [format!("mirror backup.local/team/app@{DIGEST}")],
        "a digest: the digest-only mirror"
    );
    assert_eq!(
        sources(&conf, "registry.redhat.io/ubi9/ubi:9.4").unwrap(),
        ["registry.redhat.io/ubi9/ubi:9.4"],
        "mirror-by-digest-only: no mirror for a tag"
    );
    assert_eq!(
        sources(&conf, &format!("registry.redhat.io/ubi9/ubi@{DIGEST}")).unwrap(),
        [
            format!("mirror mirror.local:5000/redhat/ubi9/ubi@{DIGEST}"),
            format!("registry.redhat.io/ubi9/ubi@{DIGEST}"),
        ]
    );
}

#[test]
fn a_prefix_matches_at_a_path_boundary_and_the_longest_wins() {
    let conf = mirrors(AIR_GAP);
    assert_eq!(
        sources(&conf, "quay.io/teamwork/app:1").unwrap(),
        ["quay.io/teamwork/app:1"],
        "quay.io/team is not a prefix of quay.io/teamwork"
    );
    let nested = mirrors(
        "[[registry]]\nlocation = \"quay.io\"\n[[registry.mirror]]\nlocation = \"m.local/all\"\n\
         [[registry]]\nlocation = \"quay.io/org\"\n[[registry.mirror]]\nlocation = \"m.local/org\"\n",
    );
    assert_eq!(
        sources(&nested, "quay.io/org/app:1").unwrap(),
        ["mirror m.local/org/app:1", "quay.io/org/app:1"]
    );
    assert_eq!(
        sources(&nested, "quay.io/other/app:1").unwrap(),
        ["mirror m.local/all/other/app:1", "quay.io/other/app:1"]
    );
}

#[test]
fn a_wildcard_prefix_matches_hosts_under_its_domain() {
    let conf = mirrors(AIR_GAP);
    assert_eq!(
        sources(&conf, "git.corp.example/team/app:2").unwrap(),
        [
            "mirror cache.corp.example/team/app:2",
            "git.corp.example/team/app:2"
        ]
    );
    assert_eq!(
        sources(&conf, "corp.example/team/app:2").unwrap(),
        ["corp.example/team/app:2"],
        "the domain itself is not under it"
    );
}

#[test]
fn a_location_other_than_the_prefix_redirects_the_source() {
    let conf = mirrors(AIR_GAP);
    assert_eq!(
        sources(&conf, "old.example/apps/web:3").unwrap(),
        ["new.example/apps/web:3"]
    );
}

#[test]
fn a_blocked_registry_without_a_mirror_for_the_pull_is_refused() {
    let conf = mirrors(AIR_GAP);
    let blocked = mirrors("[[registry]]\nlocation = \"ghcr.io\"\nblocked = true\n");
    assert_eq!(
        sources(&blocked, "ghcr.io/o/app:1"),
        Err(Blocked {
            prefix: "ghcr.io".into()
        })
    );
    let digest_only = mirrors(
        "[[registry]]\nlocation = \"ghcr.io\"\nblocked = true\n\
         [[registry.mirror]]\nlocation = \"m.local/ghcr\"\npull-from-mirror = \"digest-only\"\n",
    );
    assert!(sources(&digest_only, "ghcr.io/o/app:1").is_err());
    assert!(sources(&conf, "quay.io/team/app:1").is_ok());
}

#[test]
fn the_insecure_flags_of_the_tag_and_of_the_tables_add_up() {
    let conf = mirrors(
        "[[registry]]\nlocation = \"reg.local\"\ninsecure = true\n\
         [[registry.mirror]]\nlocation = \"m.local/reg\"\n",
    );
    let source = ImageRef::parse("reg.local/app:1").unwrap();
    let insecure = |tag_insecure: bool| {
        conf.pull_sources(&source, tag_insecure)
            .unwrap()
            .iter()
            .map(|pull| pull.insecure)
            .collect::<Vec<_>>()
    };
    assert_eq!(insecure(false), [false, true]);
    assert_eq!(insecure(true), [true, true]);
}

#[test]
fn an_empty_configuration_leaves_every_source_as_it_is() {
    let conf = Mirrors::default();
    assert!(conf.is_empty());
    assert_eq!(sources(&conf, "mysql").unwrap(), ["mysql"]);
    assert!(mirrors("unqualified-search-registries = [\"docker.io\"]\n").is_empty());
}

#[test]
fn unusable_files_are_refused_saying_what_to_write() {
    let refused = |text: &str| Mirrors::parse(text).unwrap_err().to_string();
    assert!(refused("[[registry]\n").contains("cannot read it as registries.conf"));
    assert!(refused("[registries.search]\nregistries = [\"docker.io\"]\n").contains("version 1"));
    assert!(refused("[[registry]]\ninsecure = true\n").contains("set prefix or location"));
    assert!(
        refused("[[registry]]\nprefix = \"*.corp\"\nlocation = \"x\"\n")
            .contains("a wildcard prefix takes no location")
    );
    assert!(refused(
        "[[registry]]\nlocation = \"q.io\"\nmirror-by-digest-only = true\n\
         [[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"all\"\n"
    )
    .contains("cannot be set together"));
    assert!(
        refused("[[registry]]\nlocation = \"q.io\"\n[[registry.mirror]]\ninsecure = true\n")
            .contains("needs a location")
    );
    assert!(refused(
        "[[registry]]\nlocation = \"q.io\"\n[[registry.mirror]]\nlocation = \"m\"\n\
         pull-from-mirror = \"sometimes\"\n"
    )
    .contains("sometimes"));
    for place in ["[fd00::1]:5000/q", "registry-cache/q", "https://m.local/q"] {
        let text = format!(
            "[[registry]]\nlocation = \"q.io\"\n[[registry.mirror]]\nlocation = \"{place}\"\n"
        );
        assert!(
            refused(&text).contains("cannot be written in an image reference"),
            "{place}"
        );
    }
}
