use super::*;

fn whitelist(insecure: bool, entries: &[&str]) -> Whitelist {
    let allowed: Vec<AllowedRegistry> = entries
        .iter()
        .map(|d| AllowedRegistry {
            domain_name: d.to_string(),
            insecure,
        })
        .collect();
    Whitelist::new(&allowed, "")
}

fn host(registry: &str) -> ImageRef {
    ImageRef {
        registry: registry.to_string(),
        ..ImageRef::default()
    }
}

fn check(list: &Whitelist, transport: Transport, cases: &[(&str, Option<&str>)]) {
    for (registry, denied_by) in cases {
        let got = list.admit(&host(registry), transport).err();
        let expected = denied_by.map(|rest| format!("registry {registry:?} not allowed by {rest}"));
        assert_eq!(got, expected, "{registry} {transport:?}");
    }
}

#[test]
fn empty_whitelist_denies_everything() {
    let list = whitelist(true, &[]);
    check(
        &list,
        Transport::Secure,
        &[("example.com", Some("empty whitelist"))],
    );
    let bare = ImageRef::parse("busybox").unwrap();
    assert_eq!(
        list.admit(&bare, Transport::Secure).unwrap_err(),
        "registry \"docker.io:443\" not allowed by empty whitelist"
    );
}

#[test]
fn star_host_allows_only_the_default_port_of_its_transport() {
    let secure = whitelist(false, &["*"]);
    let denied = "whitelist: \"*:443\"";
    check(
        &secure,
        Transport::Secure,
        &[
            ("docker.io", None),
            ("example.com", None),
            ("localhost:443", None),
            ("localhost", None),
            ("localhost:5000", Some(denied)),
            ("localhost:80", Some("whitelist: \"*:443\"")),
        ],
    );
    let insecure = whitelist(true, &["*"]);
    check(
        &insecure,
        Transport::Any,
        &[
            ("example.com", None),
            ("localhost:80", None),
            ("localhost:443", Some("whitelist: \"*:80\"")),
        ],
    );
    check(
        &whitelist(false, &["*:*"]),
        Transport::Secure,
        &[("localhost:5000", None)],
    );
}

#[test]
fn named_entries_and_globs_match_hosts_and_ports() {
    let list = whitelist(
        false,
        &[
            "localhost:5000",
            "docker.io",
            "example.com:*",
            "registry.com:80",
        ],
    );
    let denied =
        "whitelist: \"localhost:5000\", \"docker.io:443\", \"example.com:*\", \"registry.com:80\"";
    check(
        &list,
        Transport::Secure,
        &[
            ("example.com:5000", None),
            ("example.com", None),
            ("localhost:5000", None),
            ("registry-1.docker.io:443", None),
            ("index.docker.io", None),
            ("docker.io", None),
            ("registry.com:80", None),
            ("localhost:443", Some(denied)),
            ("registry.com", Some(denied)),
            ("registry.example.com", Some(denied)),
        ],
    );
}

#[test]
fn long_lists_are_abbreviated_and_wildcards_span_dots() {
    let list = whitelist(
        true,
        &[
            "localhost:5000",
            "docker.io",
            "example.com:*",
            "registry.com:80",
            "*.foo.com",
            "*domain.ltd",
        ],
    );
    let denied = "whitelist: \"localhost:5000\", \"docker.io:80\", \"example.com:*\", \"registry.com:80\", and 2 more ...";
    check(
        &list,
        Transport::Insecure,
        &[
            ("a.b.c.d.foo.com:80", None),
            ("domain.ltd", None),
            ("mydomain.ltd", None),
            ("foo.com", Some(denied)),
            ("my.domain.ltd:443", Some(denied)),
        ],
    );
}

#[test]
fn integrated_registry_and_known_repositories_are_always_allowed() {
    let mut list = Whitelist::new(
        &[AllowedRegistry {
            domain_name: "quay.io".into(),
            insecure: false,
        }],
        "int:5000",
    );
    assert!(list
        .admit(
            &ImageRef::parse("int:5000/ns/app").unwrap(),
            Transport::Secure
        )
        .is_ok());
    let old = ImageRef::parse("evil.example.com/ns/app:2").unwrap();
    assert_eq!(
        list.admit(&old, Transport::Secure).unwrap_err(),
        "registry \"evil.example.com\" not allowed by whitelist: \"int:5000\", \"quay.io:443\""
    );
    list.allow_repository("evil.example.com/ns/app:1");
    assert!(list.admit(&old, Transport::Secure).is_ok());
    list.allow_repository("busybox");
    assert!(list
        .admit(
            &ImageRef::parse("docker.io/library/busybox:2").unwrap(),
            Transport::Secure
        )
        .is_ok());
}

#[test]
fn entries_with_two_colons_are_rejected() {
    let bad = [AllowedRegistry {
        domain_name: "0:1:2".into(),
        insecure: false,
    }];
    assert_eq!(
        check_allowed(&bad).unwrap_err().to_string(),
        "failed to parse allowed registry \"0:1:2\": too many colons"
    );
}

#[test]
fn entries_that_could_never_match_are_rejected() {
    for domain in [
        "quay.io/org",
        "ftp://x",
        "",
        "quay.io:",
        ":5000",
        "quay.io:abc",
        "quay.io:99999",
        "quay.io:0",
        "user@quay.io",
        "qu ay.io",
    ] {
        let bad = [AllowedRegistry {
            domain_name: domain.into(),
            insecure: false,
        }];
        let error = check_allowed(&bad).unwrap_err();
        assert_eq!(
            error,
            WhitelistError::NotAHost(domain.to_string()),
            "{domain}"
        );
    }
    for domain in [
        "quay.io",
        "quay.io:443",
        "quay.io:65535",
        "*.example.com",
        "reg.local:*",
        "reg.local:5?00",
    ] {
        let good = [AllowedRegistry {
            domain_name: domain.into(),
            insecure: false,
        }];
        assert_eq!(check_allowed(&good), Ok(()), "{domain}");
    }
}

#[test]
fn glob_matching_handles_stars_and_question_marks() {
    for (pattern, value, expected) in [
        ("*", "", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*.foo.com", "a.b.foo.com", true),
        ("*.foo.com", "foo.com", false),
        ("x", "X", false),
    ] {
        assert_eq!(glob_match(pattern, value), expected, "{pattern} {value}");
    }
}
