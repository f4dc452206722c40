use super::*;
use crate::reference::ImageRef;

const ROOT: &str = "/etc/containerd/certs.d";

const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

fn directory(name: &str, hosts_toml: &str) -> HostDirectory {
    HostDirectory {
        name: name.to_string(),
        hosts_toml: Some(hosts_toml.to_string()),
        files: vec!["hosts.toml".to_string()],
    }
}

fn read_all(directories: Vec<HostDirectory>) -> HostsConfig {
    read(Path::new(ROOT), directories).unwrap()
}

/// The places `spec` is pulled from, as `[mirror ]reference[ (insecure)]`.
fn places(config: &HostsConfig, spec: &str) -> Vec<String> {
    let source = ImageRef::parse(spec).unwrap();
    let listed = config.mirrors.pull_sources(&source, false).unwrap();
    listed
        .iter()
        .map(|pull| {
            let mirror = if pull.mirror { "mirror " } else { "" };
            let insecure = if pull.insecure { " (insecure)" } else { "" };
            format!("{mirror}{}{insecure}", pull.reference.exact())
        })
        .collect()
}

const HUB: &str = r#"
server = "https://registry-1.docker.io"

[host."https://zeta.local:5000"]
  capabilities = ["pull", "resolve"]

[host."http://alpha.local"]
  capabilities = ["pull"]

[host."https://cache.local/v2/hub"]
  capabilities = ["resolve", "pull"]
  override_path = true
  skip_verify = true

[host."https://push.local"]
  capabilities = ["push"]
"#;

#[test]
fn hosts_are_tried_in_the_order_written_by_what_they_serve_then_the_server() {
    let config = read_all(vec![directory("docker.io", HUB)]);
    let by_digest = format!("docker.io/org/app@{DIGEST}");
    let cases: [(&str, Vec<String>); 3] = [
        (
            "nginx:1.27",
            vec![
                "mirror zeta.local:5000/library/nginx:1.27".into(),
                "mirror cache.local/hub/library/nginx:1.27 (insecure)".into(),
                "nginx:1.27".into(),
            ],
        ),
        (
            &by_digest,
            vec![
                format!("mirror zeta.local:5000/org/app@{DIGEST}"),
                format!("mirror alpha.local/org/app@{DIGEST} (insecure)"),
                format!("mirror cache.local/hub/org/app@{DIGEST} (insecure)"),
                by_digest.clone(),
            ],
        ),
        // Another host has no directory and no `_default`: pulled from where it names.
        ("quay.io/org/app:v1", vec!["quay.io/org/app:v1".into()]),
    ];
    for (spec, expected) in cases {
        assert_eq!(places(&config, spec), expected, "{spec}");
    }
    assert!(config.ca_files.is_empty() && config.ignored.is_empty());
}

#[test]
fn a_port_in_the_directory_name_is_read_in_both_forms_and_the_underscore_form_wins() {
    let first = r#"[host."https://first.local"]"#;
    let second = r#"[host."https://second.local"]"#;
    let config = read_all(vec![
        directory("registry.local:5000", second),
        directory("registry.local_5000_", first),
        directory("other.local_8443_", second),
    ]);
    assert_eq!(
        places(&config, "registry.local:5000/app:v1"),
        ["mirror first.local/app:v1", "registry.local:5000/app:v1"]
    );
    assert_eq!(
        places(&config, "other.local:8443/app:v1"),
        ["mirror second.local/app:v1", "other.local:8443/app:v1"]
    );
    assert_eq!(config.ignored.len(), 1, "{:?}", config.ignored);
    assert!(config.ignored[0].contains("\"registry.local:5000\" is shadowed"));
}

#[test]
fn the_default_directory_serves_only_hosts_without_a_directory_of_their_own() {
    let config = read_all(vec![
        directory("_default", r#"[host."https://cache.local"]"#),
        directory("quay.io", r#"[host."https://quay-cache.local"]"#),
    ]);
    assert_eq!(
        places(&config, "ghcr.io/org/app:v1"),
        ["mirror cache.local/org/app:v1", "ghcr.io/org/app:v1"]
    );
    assert_eq!(
        places(&config, "quay.io/org/app:v1"),
        ["mirror quay-cache.local/org/app:v1", "quay.io/org/app:v1"]
    );
}

#[test]
fn a_server_elsewhere_replaces_the_host_and_its_scheme_says_whether_it_is_secure() {
    let config = read_all(vec![
        directory("registry.local", r#"server = "http://internal.local:5000""#),
        directory("plain.local:5000", r#"server = "http://plain.local:5000""#),
        directory(
            "unverified.local",
            "server = \"unverified.local\"\nskip_verify = true",
        ),
    ]);
    let cases = [
        (
            "registry.local/org/app:v1",
            "internal.local:5000/org/app:v1 (insecure)",
        ),
        (
            "plain.local:5000/app:v1",
            "plain.local:5000/app:v1 (insecure)",
        ),
        (
            "unverified.local/app:v1",
            "unverified.local/app:v1 (insecure)",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(places(&config, spec), [expected], "{spec}");
    }
}

#[test]
fn urls_whose_api_is_not_at_v2_are_refused_saying_what_to_write() {
    let cases = [
        // (URL, override_path, the location, or a part of the error)
        ("https://mirror.local", false, Ok("mirror.local")),
        ("mirror.local:5000", false, Ok("mirror.local:5000")),
        ("https://mirror.local/v2", false, Ok("mirror.local")),
        ("https://mirror.local/v2/", false, Ok("mirror.local")),
        ("https://Mirror.Local/v2/hub", true, Ok("mirror.local/hub")),
        ("https://mirror.local/v2", true, Ok("mirror.local")),
        ("https://mirror.local/proxy", false, Err("at \"/proxy/v2\"")),
        ("https://mirror.local/api/v2/hub", true, Err("/v2/ only")),
        ("https://mirror.local", true, Err("/v2/ only")),
        ("https://mirror.local/v2hub", true, Err("/v2/ only")),
        ("ftp://mirror.local", false, Err("neither https nor http")),
        ("https://user@mirror.local", false, Err("without user")),
        ("https://", false, Err("https://host")),
        ("https://mirror.local/v2/../x", true, Err("`..`")),
    ];
    for (url, override_path, expected) in cases {
        let got = Endpoint::parse(url, override_path).map(|e| e.location());
        match expected {
            Ok(location) => assert_eq!(got.as_deref(), Ok(location), "{url}"),
            Err(part) => {
                let error = got.unwrap_err();
                assert!(error.contains(part), "{url}: {error}");
            }
        }
    }
}

#[test]
fn capabilities_say_which_pulls_a_host_serves() {
    let cases = [
        ("", Some(Serves::All)),
        ("capabilities = []", Some(Serves::All)),
        (
            "capabilities = [\"pull\", \"resolve\", \"push\"]",
            Some(Serves::All),
        ),
        ("capabilities = [\"Pull\"]", Some(Serves::DigestOnly)),
        ("capabilities = [\"resolve\"]", Some(Serves::TagOnly)),
        ("capabilities = [\"push\"]", None),
    ];
    for (line, expected) in cases {
        let table: HostTable = toml::from_str(line).unwrap();
        assert_eq!(table.serves(), Ok(expected), "{line}");
    }
    let unknown: HostTable = toml::from_str("capabilities = [\"fetch\"]").unwrap();
    assert!(unknown
        .serves()
        .unwrap_err()
        .contains("unknown capability \"fetch\""));
}

#[test]
fn ca_files_are_trusted_client_certificates_go_to_their_place_and_headers_are_said() {
    let text = r#"
server = "https://registry.local"
ca = "/etc/pki/server.pem"

[host."https://mirror.local"]
  ca = ["mirror.pem", "/abs/other.pem"]
  client = [["client.cert", "client.key"]]
  [host."https://mirror.local".header]
    x-custom = "1"
"#;
    let config = read_all(vec![directory("registry.local", text)]);
    let ca = |host: &str, file: &str| CaFile {
        host: host.to_string(),
        file: PathBuf::from(file),
    };
    assert_eq!(
        config.ca_files,
        [
            ca(
                "mirror.local",
                "/etc/containerd/certs.d/registry.local/mirror.pem"
            ),
            ca("mirror.local", "/abs/other.pem"),
            ca("registry.local", "/etc/pki/server.pem"),
        ]
    );
    let base = Path::new("/etc/containerd/certs.d/registry.local");
    assert_eq!(
        config.client_certificates,
        [ClientFiles {
            host: "mirror.local".to_string(),
            certificate: base.join("client.cert"),
            key: Some(base.join("client.key")),
        }]
    );
    assert_eq!(config.headers.len(), 1);
    assert_eq!(config.headers["mirror.local"]["x-custom"], "1");
    let directories: Vec<&str> = config.directory_hosts.iter().map(String::as_str).collect();
    assert_eq!(
        directories,
        ["registry.local"],
        "mirror.local has no directory"
    );
    assert!(config.ignored.is_empty(), "{:?}", config.ignored);
}

#[test]
fn headers_take_a_string_or_strings_and_must_be_http_headers() {
    let text = "[host.\"https://m.local\".header]\nx-token = \"t\"\nx-list = [\"a\", \"b\"]\n";
    let config = read_all(vec![directory("quay.io", text)]);
    let sent = &config.headers["m.local"];
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent["x-token"], "t");
    assert_eq!(
        sent.get_all("x-list").iter().collect::<Vec<_>>(),
        ["a", "b"]
    );
    for (broken, part) in [
        ("x-token = 3", "write a string or a list of strings"),
        ("\"bad name\" = \"v\"", "is not an HTTP header name"),
        ("x-token = \"line\\nbreak\"", "not a valid header value"),
    ] {
        let text = format!("[host.\"https://m.local\".header]\n{broken}\n");
        let error = read(Path::new(ROOT), vec![directory("quay.io", &text)]).unwrap_err();
        assert!(error.to_string().contains(part), "{broken}: {error}");
    }
}

#[test]
fn client_values_are_read_in_each_form_containerd_takes() {
    let base = Path::new("/etc/containerd/certs.d/_default");
    let files = |cert: &str, key: Option<&str>| ClientFiles {
        host: "*".to_string(),
        certificate: base.join(cert),
        key: key.map(|key| base.join(key)),
    };
    let cases = [
        ("client = \"both.pem\"", vec![files("both.pem", None)]),
        (
            "client = [\"one.pem\", \"two.pem\"]",
            vec![files("one.pem", None), files("two.pem", None)],
        ),
        (
            "client = [[\"c.cert\", \"c.key\"], \"/abs/both.pem\"]",
            vec![files("c.cert", Some("c.key")), files("/abs/both.pem", None)],
        ),
    ];
    for (text, expected) in cases {
        let config = read_all(vec![directory("_default", text)]);
        assert_eq!(config.client_certificates, expected, "{text}");
    }
    for broken in [
        "client = 3",
        "client = [[\"only-one\"]]",
        "client = [[1, 2]]",
    ] {
        let error = read(Path::new(ROOT), vec![directory("_default", broken)]).unwrap_err();
        assert!(
            error.to_string().contains("client: write a file"),
            "{broken}: {error}"
        );
    }
}

#[test]
fn a_directory_in_docker_layout_gives_its_cas_and_client_certificates_and_no_mirror() {
    let docker = HostDirectory {
        name: "registry.local_5000_".to_string(),
        hosts_toml: None,
        files: vec!["ca.crt".into(), "client.cert".into(), "client.key".into()],
    };
    let config = read_all(vec![docker]);
    assert_eq!(
        config.ca_files,
        [CaFile {
            host: "registry.local:5000".to_string(),
            file: PathBuf::from("/etc/containerd/certs.d/registry.local_5000_/ca.crt"),
        }]
    );
    assert_eq!(
        places(&config, "registry.local:5000/app:v1"),
        ["registry.local:5000/app:v1"]
    );
    let base = Path::new("/etc/containerd/certs.d/registry.local_5000_");
    assert_eq!(
        config.client_certificates,
        [ClientFiles {
            host: "registry.local:5000".to_string(),
            certificate: base.join("client.cert"),
            key: Some(base.join("client.key")),
        }]
    );
    assert!(config.ignored.is_empty());
}

#[test]
fn a_hosts_toml_that_cannot_be_used_is_refused_naming_the_file_and_the_place() {
    let cases = [
        (
            "server = [",
            "/etc/containerd/certs.d/bad.local/hosts.toml: cannot read it",
        ),
        (
            "[host.\"https://m.local\"]\ncapabilities = [\"fetch\"]",
            "hosts.toml: \"https://m.local\": unknown capability",
        ),
        (
            "[host.\"https://m.local\"]\nskip_verify = \"yes\"",
            "[host.\"https://m.local\"]",
        ),
        (
            "server = \"https://m.local/api\"",
            "\"https://m.local/api\": the importer reads",
        ),
    ];
    for (text, part) in cases {
        let error = read(Path::new(ROOT), vec![directory("bad.local", text)]).unwrap_err();
        assert!(error.to_string().contains(part), "{text}: {error}");
    }
}

#[test]
fn a_hosts_own_directory_hides_default_even_when_it_holds_only_certificates() {
    let docker = HostDirectory {
        name: "quay.io".to_string(),
        hosts_toml: None,
        files: vec!["ca.crt".into()],
    };
    let config = read_all(vec![
        directory("_default", r#"[host."https://cache.local"]"#),
        docker,
    ]);
    assert_eq!(
        places(&config, "quay.io/org/app:v1"),
        ["quay.io/org/app:v1"]
    );
    assert_eq!(
        places(&config, "ghcr.io/org/app:v1"),
        ["mirror cache.local/org/app:v1", "ghcr.io/org/app:v1"]
    );
}

#[test]
fn a_server_that_may_neither_pull_nor_resolve_is_never_asked() {
    let text = "server = \"https://upstream.local\"\ncapabilities = [\"push\"]\n\
                [host.\"https://cache.local\"]\n";
    let config = read_all(vec![directory("upstream.local", text)]);
    assert_eq!(
        places(&config, "upstream.local/app:v1"),
        ["mirror cache.local/app:v1"]
    );
    let only_tags = "capabilities = [\"resolve\"]\n";
    let config = read_all(vec![directory("upstream.local", only_tags)]);
    assert_eq!(config.ignored.len(), 1, "{:?}", config.ignored);
    assert!(config.ignored[0].contains("the server's capabilities"));
}

#[test]
fn places_an_image_reference_cannot_name_are_refused_when_read() {
    for (name, text) in [
        ("quay.io", "[host.\"https://[fd00::1]:5000\"]"),
        ("quay.io", "server = \"https://mirror.local:\""),
        ("quay.io", "[host.\"https://registry-cache\"]"),
    ] {
        let error = read(Path::new(ROOT), vec![directory(name, text)]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("cannot be written in an image reference"),
            "{text}: {error}"
        );
    }
}

#[test]
fn any_hosts_toml_read_gives_places_an_import_can_pull_or_a_reason() {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;
    let url = (
        select(vec!["", "http://", "https://", "ftp://"]),
        select(vec![
            "m.local",
            "m.local:5000",
            "[fd00::1]:5000",
            "M.Local",
            "m.local:",
            "",
        ]),
        select(vec![
            "", "/", "/v2", "/v2/", "/v2/hub", "/v2/a/b", "/proxy", "/v2/../x",
        ]),
    )
        .prop_map(|(scheme, host, path)| format!("{scheme}{host}{path}"));
    let table = (
        url,
        select(vec![
            "",
            "capabilities = [\"pull\"]\n",
            "capabilities = [\"resolve\"]\n",
            "capabilities = [\"push\"]\n",
            "capabilities = [\"pull\", \"resolve\"]\n",
            "capabilities = [\"fetch\"]\n",
        ]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(url, capabilities, override_path, skip_verify)| {
            format!(
                "[host.\"{url}\"]\n{capabilities}override_path = {override_path}\n\
                 skip_verify = {skip_verify}\n"
            )
        });
    let file = (
        select(vec![
            "",
            "server = \"https://upstream.local\"\n",
            "server = \"http://[::1]\"\n",
        ]),
        vec(table, 0..4),
    )
        .prop_map(|(server, tables)| format!("{server}{}", tables.concat()));
    let directories = (
        select(vec!["quay.io", "_default", "upstream.local_5000_"]),
        file,
    );
    let read_ok = std::sync::atomic::AtomicU32::new(0);
    let ran = crate::property::run_cases(directories, 2_000, |(name, text)| {
        let Ok(config) = read(Path::new(ROOT), vec![directory(name, &text)]) else {
            return Ok(());
        };
        read_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for spec in [
            "quay.io/org/app:v1",
            &format!("upstream.local:5000/app@{DIGEST}"),
        ] {
            let source = ImageRef::parse(spec).unwrap();
            let Ok(places) = config.mirrors.pull_sources(&source, false) else {
                continue;
            };
            // Every configured place is one an import can pull: none was dropped on the way.
            let table = config
                .mirrors
                .registries
                .iter()
                .find(|r| r.matched(&source.repository()).is_some());
            let mirrors = table.map_or(0, |t| {
                let by_digest = !source.id.is_empty();
                t.mirrors
                    .iter()
                    .filter(|m| t.mirrors_serve(m, by_digest))
                    .count()
            });
            let own = usize::from(table.is_none_or(|t| !t.blocked));
            if places.len() != mirrors + own {
                return Err(format!("{text}: {spec} gave {places:?}"));
            }
        }
        Ok(())
    });
    // The property says something only about files that read: about a fifth of those made.
    let read_ok = read_ok.into_inner();
    assert!(read_ok * 10 >= ran, "only {read_ok} of {ran} files read");
}
