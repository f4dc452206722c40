//! Imports through containerd's registry host directory (`--containerd-hosts-dir`), the
//! configuration plain Kubernetes nodes pull through: the sources' registries are closed ports
//! on loopback (out of reach, as upstreams are from an air-gapped cluster) and the private-CA
//! registry is their mirror, trusted only through the `ca` a hosts.toml names.

use super::common;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt as _;

use super::challenges::MANIFEST;
use super::common::serving::InProcess;
use super::registry::{mutual_tls_registry, private_ca_registry};
use super::scripted::{path_of, read_head};
use super::served::{create_stream, docker_tag, import_v1, imports_of, reloads};

/// A server reading containerd's host directory `dir`, again every second.
async fn reloading_server(dir: &Path) -> InProcess {
    let hosts_dir = dir.display().to_string();
    let flags = [
        "--store",
        "memory:",
        "--containerd-hosts-dir",
        &hosts_dir,
        "--registries-reload-seconds",
        "1",
    ];
    InProcess::start(&flags).await
}

/// Writes `dir/<host directory>/hosts.toml` and `files` beside it as a running server's reload
/// must see them: a new directory moved into place whole, an existing one's files each
/// replaced by a rename, hosts.toml last.
fn host_directory(dir: &Path, name: &str, hosts_toml: &str, files: &[(&str, &str)]) {
    let host = dir.join(name);
    if !host.exists() {
        let staged = tempfile::tempdir_in(dir.parent().unwrap()).unwrap();
        write_files(staged.path(), hosts_toml, files);
        std::fs::rename(staged.keep(), &host).unwrap();
        return;
    }
    write_files(&host, hosts_toml, files);
}

fn write_files(host: &Path, hosts_toml: &str, files: &[(&str, &str)]) {
    for (file, text) in files.iter().chain([&("hosts.toml", hosts_toml)]) {
        replace(&host.join(file), text);
    }
}

/// Replaces `path`'s content at once: a reader sees the old file or the new, never a part.
fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(staged, path).unwrap();
}

#[tokio::test]
async fn imports_go_through_the_mirrors_of_a_containerd_host_directory_trusting_its_cas() {
    common::setup();
    let mirror = private_ca_registry();
    let mirrored = mirror.push_image("upstream/app", "v1", "amd64").await;
    let prefixed = mirror.push_image("mirrors/other/app", "v2", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.1:1 in containerd's `host_port_` form, the mirror's CA next to its hosts.toml.
    let hosts_toml = format!(
        "server = \"https://127.0.0.1:1\"\n\n[host.\"https://{}\"]\n  \
         capabilities = [\"pull\", \"resolve\"]\n  ca = \"mirror-ca.pem\"\n",
        mirror.host()
    );
    let ca = [("mirror-ca.pem", mirror.ca_pem().unwrap())];
    host_directory(dir.path(), "127.0.0.1_1_", &hosts_toml, &ca);
    // Every other host: the same registry under a path, through containerd's `override_path`
    // (its CA, named for its host by the other table, is trusted for that host).
    let default_toml = format!(
        "[host.\"https://{}/v2/mirrors\"]\n  override_path = true\n",
        mirror.host()
    );
    host_directory(dir.path(), "_default", &default_toml, &[]);
    let hosts_dir = dir.path().display().to_string();
    let server =
        InProcess::start(&["--store", "memory:", "--containerd-hosts-dir", &hosts_dir]).await;

    let tags = vec![
        docker_tag("v1", "127.0.0.1:1/upstream/app:v1", false),
        docker_tag("v2", "127.0.0.2:1/other/app:v2", false),
    ];
    create_stream(&server, "hosts", "app", tags).await;
    // Recorded under the sources' names, as the nodes pull them through the same mirrors.
    assert_eq!(
        imports_of(&server, "hosts", "app", &["v1", "v2"]).await,
        [
            Ok((
                mirrored.digest.clone(),
                format!("127.0.0.1:1/upstream/app@{}", mirrored.digest)
            )),
            Ok((
                prefixed.digest.clone(),
                format!("127.0.0.2:1/other/app@{}", prefixed.digest)
            )),
        ]
    );
}

#[tokio::test]
async fn a_changed_host_directory_applies_to_the_next_import_and_a_broken_one_keeps_the_last() {
    common::setup();
    let mirror = private_ca_registry();
    let pushed = mirror.push_image("reloaded/app", "v1", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let server = reloading_server(dir.path()).await;
    let from = "127.0.0.3:1/reloaded/app:v1";
    let import = |name| import_v1(&server, "reloading", name, from, false);
    // Nothing configured yet: the source is out of reach.
    let refused = import("before").await.unwrap_err();
    assert!(refused.contains("127.0.0.3:1"), "{refused}");

    // The mirror and its CA appear in the directory: the next import goes through them.
    let hosts_toml = format!(
        "[host.\"https://{}\"]\n  ca = \"mirror-ca.pem\"\n",
        mirror.host()
    );
    let ca = [("mirror-ca.pem", mirror.ca_pem().unwrap())];
    host_directory(dir.path(), "127.0.0.3_1_", &hosts_toml, &ca);
    reloads(&server, "applied", 1).await;
    assert_eq!(import("after").await, Ok(pushed.digest.clone()));

    // A file broken while serving is said once and the last good configuration is kept.
    let file = dir.path().join("127.0.0.3_1_/hosts.toml");
    replace(&file, "server = [");
    reloads(&server, "failed", 1).await;
    let metrics = server.metrics().await.unwrap_or_default();
    assert!(
        metrics
            .lines()
            .any(|l| l == "imagelookup_importer_registry_files_stale 1"),
        "{metrics}"
    );
    assert_eq!(import("kept").await, Ok(pushed.digest));
}

#[tokio::test]
async fn a_mirror_that_asks_for_a_client_certificate_gets_the_one_its_hosts_toml_names() {
    common::setup();
    let mirror = mutual_tls_registry();
    let pushed = mirror.push_image("mtls/app", "v1", "amd64").await;
    let (cert, key) = mirror.client_certificate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with_client = |client: &str| {
        format!(
            "[host.\"https://{}\"]\n  ca = \"mirror-ca.pem\"\n{client}",
            mirror.host()
        )
    };
    let files = [
        ("mirror-ca.pem", mirror.ca_pem().unwrap()),
        ("client.cert", cert),
        ("client.key", key),
    ];
    // Without the client certificate the mirror refuses the handshake.
    host_directory(dir.path(), "127.0.0.4_1_", &with_client(""), &files);
    let server = reloading_server(dir.path()).await;
    let from = "127.0.0.4:1/mtls/app:v1";
    let refused = import_v1(&server, "mtls", "before", from, false).await;
    assert!(refused.is_err(), "{refused:?}");

    let client = "  client = [[\"client.cert\", \"client.key\"]]\n";
    host_directory(dir.path(), "127.0.0.4_1_", &with_client(client), &files);
    reloads(&server, "applied", 1).await;
    assert_eq!(
        import_v1(&server, "mtls", "after", from, false).await,
        Ok(pushed.digest)
    );
}

/// A plain-HTTP registry that answers manifests only to requests carrying
/// `x-mirror-token: s3cret` (as a cache behind a token-checking proxy does); each manifest
/// request's token, as sent.
async fn header_checking_registry() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    recording_registry(Some("s3cret")).await
}

/// A plain-HTTP registry answering every manifest with [`MANIFEST`], to callers sending
/// `x-mirror-token: <required>` when it requires one; records each manifest request's path
/// and the tokens it was sent.
async fn recording_registry(
    required: Option<&'static str>,
) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let manifest_requests: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = manifest_requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut socket).await else {
                    return;
                };
                let values: Vec<&str> = head
                    .lines()
                    .filter_map(|line| line.strip_prefix("x-mirror-token: "))
                    .collect();
                let token = values.join(",");
                let path = path_of(&head);
                let (status, body) = if path == "/v2/" {
                    ("200 OK", "{}")
                } else if required.is_some_and(|token| !values.contains(&token)) {
                    (
                        "401 Unauthorized",
                        r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
                    )
                } else {
                    ("200 OK", MANIFEST)
                };
                if path.contains("/manifests/") {
                    seen.lock().unwrap().push((path, token));
                }
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (host, manifest_requests)
}

#[tokio::test]
async fn a_mirror_is_sent_the_headers_its_hosts_toml_names_and_the_images_registry() {
    common::setup();
    let (mirror, requests) = header_checking_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let hosts_toml = format!(
        "[host.\"http://{mirror}\"]\n  [host.\"http://{mirror}\".header]\n    \
         x-mirror-token = [\"s3cret\", \"second\"]\n"
    );
    host_directory(dir.path(), "127.0.0.5_1_", &hosts_toml, &[]);
    let server = reloading_server(dir.path()).await;
    let imported = import_v1(&server, "headers", "app", "127.0.0.5:1/demo/app:v1", false).await;
    assert!(imported.is_ok(), "{imported:?}");
    // Every value of a list is sent; the mirror is told which registry the image is from.
    let requests = requests.lock().unwrap().clone();
    let sent = [(
        "/v2/demo/app/manifests/v1?ns=127.0.0.5:1".to_string(),
        "s3cret,second".to_string(),
    )];
    assert_eq!(requests, sent);
}

#[tokio::test]
async fn a_registries_conf_mirror_is_not_told_the_images_registry_as_crio_does_not_tell_it() {
    common::setup();
    let (mirror, requests) = recording_registry(None).await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("registries.conf");
    let text = format!(
        "[[registry]]\nlocation = \"127.0.0.6:1\"\n\
         [[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
    );
    std::fs::write(&conf, text).unwrap();
    let conf = conf.display().to_string();
    let server = InProcess::start(&["--store", "memory:", "--registries-conf", &conf]).await;
    let imported = import_v1(&server, "crio", "app", "127.0.0.6:1/demo/app:v1", false).await;
    assert!(imported.is_ok(), "{imported:?}");
    let paths: Vec<String> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|(path, _)| path.clone())
        .collect();
    assert_eq!(paths, ["/v2/demo/app/manifests/v1"]);
}

#[tokio::test]
async fn a_ca_a_hosts_toml_names_for_one_host_is_not_trusted_for_another() {
    common::setup();
    let private = private_ca_registry();
    let pushed = private.push_image("scoped/app", "v1", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let ca = [("ca.pem", private.ca_pem().unwrap())];
    // The private CA, given for another host only.
    host_directory(
        dir.path(),
        "registry.other.example",
        "server = \"https://registry.other.example\"\nca = \"ca.pem\"\n",
        &ca,
    );
    let server = reloading_server(dir.path()).await;
    let from = format!("{}/scoped/app:v1", private.host());
    let refused = import_v1(&server, "scoped", "before", &from, false).await;
    let refused = refused.unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");

    // The same CA for the registry's own host: trusted for it.
    let own = private.host().replace(':', "_") + "_";
    host_directory(dir.path(), &own, "ca = \"ca.pem\"\n", &ca);
    reloads(&server, "applied", 1).await;
    assert_eq!(
        import_v1(&server, "scoped", "after", &from, false).await,
        Ok(pushed.digest)
    );
}
