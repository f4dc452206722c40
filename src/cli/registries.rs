//! What the importer reads about registries from files: the CAs it trusts besides the
//! system's (`--registry-ca-file`), the mirrors it pulls through (one of `--registries-conf`
//! for CRI-O's nodes, `--containerd-hosts-dir` for containerd's, `--mirror-sets` for
//! OpenShift's mirror set objects) and the credentials it falls back on
//! (`--global-pull-secret`). At start-up a file that cannot be read or used stops `serve`,
//! saying why, rather than every import failing later; while serving, the files are read
//! again every `--registries-reload-seconds` and a change applies to the next import, while a
//! file that cannot be used keeps the last good configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use crate::importer::credentials::{DockerConfigError, Keyring};
use crate::importer::mirrors::containerd::{self, ClientFiles, HostDirectory, HostsError};
use crate::importer::mirrors::mirror_sets::{self, MirrorSetsError};
use crate::importer::mirrors::{Mirrors, MirrorsError};
use crate::importer::registry_config::RegistryConfig;
use crate::metrics::{ImporterMetrics, RELOAD_APPLIED, RELOAD_FAILED};

/// The registry flags of `serve` and `image-info` (each also read from an `IMAGELOOKUP_*`
/// variable): the CAs, mirrors and global pull secret registry calls use.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// A PEM file of CA certificates the importer trusts besides the system's, for registries
    /// with a private CA (repeat the flag for several files).
    #[arg(long, env = "IMAGELOOKUP_REGISTRY_CA_FILE", value_name = "FILE")]
    pub registry_ca_file: Vec<PathBuf>,
    /// A containers-registries.conf(5) file (version 2) whose `[[registry.mirror]]`s imports
    /// try before the source's own registry, as OpenShift's importer does with the mirrors an
    /// ImageDigestMirrorSet or ImageTagMirrorSet configures; the image is recorded under the
    /// source's name.
    #[arg(long, env = "IMAGELOOKUP_REGISTRIES_CONF", value_name = "FILE")]
    pub registries_conf: Option<PathBuf>,
    /// containerd's registry host directory (its `config_path`, usually
    /// /etc/containerd/certs.d): each host's `hosts.toml` mirrors, tried before the host as
    /// containerd tries them, and its CA files, each trusted for its own host only (not for
    /// every registry as --registry-ca-file's are); a mirror on another host than the image's
    /// registry is sent `?ns=<registry>` with each manifest and blob request, as containerd
    /// sends it.
    #[arg(
        long,
        env = "IMAGELOOKUP_CONTAINERD_HOSTS_DIR",
        value_name = "DIR",
        conflicts_with = "registries_conf"
    )]
    pub containerd_hosts_dir: Option<PathBuf>,
    /// A YAML or JSON file of OpenShift mirror sets (ImageDigestMirrorSet, ImageTagMirrorSet,
    /// ImageContentSourcePolicy), as `oc get idms,itms,icsp -o yaml` writes them: their mirrors,
    /// as OpenShift's nodes get them.
    #[arg(
        long,
        env = "IMAGELOOKUP_MIRROR_SETS",
        value_name = "FILE",
        conflicts_with_all = ["registries_conf", "containerd_hosts_dir"]
    )]
    pub mirror_sets: Option<PathBuf>,
    /// A docker config.json whose credentials imports use for registries the namespace's pull
    /// secrets do not name, as OpenShift's importer uses the nodes' (global) pull secret, and
    /// after a registry refused the namespace's (as the kubelet tries them; OpenShift does
    /// not): the nodes' /var/lib/kubelet/config.json, or a dockerconfigjson
    /// Secret's key mounted as a file.
    #[arg(long, env = "IMAGELOOKUP_GLOBAL_PULL_SECRET", value_name = "FILE")]
    pub global_pull_secret: Option<PathBuf>,
}

/// Why the registry files cannot be used. [`RegistryArgs::read`] runs at start-up and again in
/// the reload loop while serving, where the error is logged and the last good files are kept:
/// so each message names the file and says what to fix, and carries its cause in its own text
/// (no `source()`, which a chain printer would print a second time).
#[derive(Debug, thiserror::Error)]
pub enum RegistryFilesError {
    /// A file named by a flag, or found in `--containerd-hosts-dir`, cannot be read.
    #[error("cannot read {what} {}: {error}; check that it is mounted and readable", .path.display())]
    Read {
        /// Where it was given: the flag, or what it is in `--containerd-hosts-dir`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A CA file that is not PEM.
    #[error("{what} {} is not PEM: {error}; write PEM certificates", .path.display())]
    NotPem {
        /// Where it was given.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        error: rustls::pki_types::pem::Error,
    },
    /// A CA file without a certificate: a wrong file, which would fail every import later.
    #[error(
        "{what} {} holds no certificate; write the CA's certificates in PEM",
        .path.display()
    )]
    NoCertificate {
        /// Where it was given.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A host's client certificate that a TLS client cannot present.
    #[error(
        "{what} {}: {}; write the PEM certificate and its private key (in the file, or as a \
         [certificate, key] pair)",
        .path.display(),
        crate::store::message_chain(.error)
    )]
    ClientCertificate {
        /// Where it was given.
        what: &'static str,
        /// The certificate file.
        path: PathBuf,
        /// What the TLS client said (its cause is in its `source()`, so the message walks
        /// the chain).
        error: reqwest::Error,
    },
    /// The `--registries-conf` file cannot be used (its error says what to write).
    #[error("--registries-conf {}: {error}", .path.display())]
    RegistriesConf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: MirrorsError,
    },
    /// The `--mirror-sets` file cannot be used (its error says what to write).
    #[error("--mirror-sets {}: {error}", .path.display())]
    MirrorSets {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: MirrorSetsError,
    },
    /// The `--global-pull-secret` file cannot be used (its error says what to write).
    #[error("--global-pull-secret {}: {error}", .path.display())]
    GlobalPullSecret {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: DockerConfigError,
    },
    /// A `hosts.toml` of `--containerd-hosts-dir` cannot be used (its error names the file and
    /// says what to write).
    #[error("--containerd-hosts-dir {}: {error}", .dir.display())]
    ContainerdHosts {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        error: HostsError,
    },
    /// The `--containerd-hosts-dir` directory cannot be listed.
    #[error(
        "cannot read --containerd-hosts-dir {}: {error}; check that it is mounted and readable",
        .dir.display()
    )]
    HostsDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Something under `--containerd-hosts-dir` cannot be read.
    #[error(
        "cannot read --containerd-hosts-dir {}: {}: {error}; check that it is mounted and \
         readable",
        .dir.display(),
        .path.display()
    )]
    HostsDirEntry {
        /// The directory.
        dir: PathBuf,
        /// The host directory or file under it.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The reading panicked: a bug, which the panic hook has logged with its location.
    #[error("reading the registry files failed: {0}; this is a bug, report it")]
    Panicked(tokio::task::JoinError),
}

/// A configuration read, and what in the files it does not use (said when it is applied).
pub struct Reading {
    /// The configuration.
    pub config: RegistryConfig,
    /// What the files configure that registry calls do not do, one sentence each.
    pub notes: Vec<String>,
}

impl RegistryArgs {
    /// Whether any file is named, so that reading again can change anything.
    pub fn any(&self) -> bool {
        !self.registry_ca_file.is_empty()
            || self.registries_conf.is_some()
            || self.containerd_hosts_dir.is_some()
            || self.mirror_sets.is_some()
            || self.global_pull_secret.is_some()
    }

    /// Reads every file.
    pub fn read(&self) -> Result<Reading, RegistryFilesError> {
        let mut notes = Vec::new();
        let mut config = RegistryConfig {
            ca: registry_ca(&self.registry_ca_file)?,
            ..RegistryConfig::default()
        };
        config.mirrors = match (&self.containerd_hosts_dir, &self.mirror_sets) {
            (Some(dir), _) => from_containerd(dir, &mut config, &mut notes)?,
            (None, Some(path)) => mirror_sets(path, &mut notes)?,
            (None, None) => registries_conf(self.registries_conf.as_deref(), &mut notes)?,
        };
        if let Some(path) = &self.global_pull_secret {
            config.global_pull_secret = global_pull_secret(path, &mut notes)?;
        }
        Ok(Reading { config, notes })
    }
}

/// The mirrors of containerd's host directory `dir`; its CA files, client certificates,
/// headers and the hosts it names go into `config`.
fn from_containerd(
    dir: &Path,
    config: &mut RegistryConfig,
    notes: &mut Vec<String>,
) -> Result<Mirrors, RegistryFilesError> {
    let hosts = containerd_hosts(dir, notes)?;
    for ca in &hosts.ca_files {
        let what = "a CA file of --containerd-hosts-dir";
        let bundle = pem_certificates(&ca.file, what)?;
        config
            .host_ca
            .entry(ca.host.clone())
            .or_default()
            .push(bundle);
    }
    config.client_certificates = client_identities(&hosts.client_certificates, notes)?;
    config.headers = hosts.headers;
    config.named_hosts = hosts.named_hosts;
    config.directory_hosts = hosts.directory_hosts;
    config.namespace_query = true;
    Ok(hosts.mirrors)
}

/// Each host's client certificate as one PEM (chain, then key), checked to be one a TLS client
/// can present; the first written for a host is used, as Go picks the first that fits.
fn client_identities(
    files: &[ClientFiles],
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<u8>>, RegistryFilesError> {
    let mut identities = BTreeMap::new();
    for client in files {
        if identities.contains_key(&client.host) {
            notes.push(format!(
                "--containerd-hosts-dir: {} is not presented to {}: the first client \
                 certificate written for a host is",
                client.certificate.display(),
                client.host
            ));
            continue;
        }
        let what = "a client certificate of --containerd-hosts-dir";
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| RegistryFilesError::Read {
                what,
                path: path.to_path_buf(),
                error,
            })
        };
        let mut pem = read(&client.certificate)?;
        if let Some(key) = &client.key {
            pem.push(b'\n');
            pem.extend(read(key)?);
        }
        reqwest::Identity::from_pem(&pem).map_err(|error| {
            RegistryFilesError::ClientCertificate {
                what,
                path: client.certificate.clone(),
                error,
            }
        })?;
        identities.insert(client.host.clone(), pem);
    }
    Ok(identities)
}

/// Says what a configuration about to be used leaves aside.
pub fn warn_about(notes: &[String]) {
    for note in notes {
        tracing::warn!("{note}");
    }
}

/// Reads `files` again every `period` until every receiver of `sender` is gone, and sends the
/// configuration when it changed; a reading that fails keeps the one in use, said once per
/// distinct failure. `metrics` counts both and says whether the files are stale.
pub async fn reload(
    files: RegistryArgs,
    sender: watch::Sender<Arc<RegistryConfig>>,
    period: Duration,
    metrics: ImporterMetrics,
) {
    let reloads = &metrics.registry_files_reloads;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut failing: Option<String> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = sender.closed() => return,
        }
        let again = files.clone();
        let reading = match tokio::task::spawn_blocking(move || again.read()).await {
            Ok(reading) => reading,
            Err(panicked) => Err(RegistryFilesError::Panicked(panicked)),
        };
        match reading {
            Ok(Reading { config, notes }) => {
                failing = None;
                metrics.registry_files_stale.set(0);
                if **sender.borrow() == config {
                    continue;
                }
                tracing::info!(
                    mirror_tables = config.mirrors.len(),
                    ca_bundles =
                        config.ca.len() + config.host_ca.values().map(Vec::len).sum::<usize>(),
                    "the registry files changed: imports use them from now on"
                );
                warn_about(&notes);
                sender.send_replace(Arc::new(config));
                reloads.get_or_create(&RELOAD_APPLIED).inc();
            }
            Err(error) => {
                metrics.registry_files_stale.set(1);
                let why = error.to_string();
                if failing.as_ref() != Some(&why) {
                    tracing::warn!(error = %why, "the registry files changed but cannot be used: imports keep the last good ones; fix the files");
                    reloads.get_or_create(&RELOAD_FAILED).inc();
                }
                failing = Some(why);
            }
        }
    }
}

/// The PEM files of `--registry-ca-file`, each checked to hold at least one certificate, so a
/// wrong path or file stops start-up instead of failing every import later.
fn registry_ca(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, RegistryFilesError> {
    paths
        .iter()
        .map(|path| pem_certificates(path, "--registry-ca-file"))
        .collect()
}

/// A PEM file that holds at least one certificate; `what` names where it was given.
fn pem_certificates(path: &Path, what: &'static str) -> Result<Vec<u8>, RegistryFilesError> {
    let path_buf = || path.to_path_buf();
    let pem = std::fs::read(path).map_err(|error| RegistryFilesError::Read {
        what,
        path: path_buf(),
        error,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| RegistryFilesError::NotPem {
            what,
            path: path_buf(),
            error,
        })?;
    if certificates.is_empty() {
        return Err(RegistryFilesError::NoCertificate {
            what,
            path: path_buf(),
        });
    }
    Ok(pem)
}

/// The text of `path`, given as `flag`.
fn read_text(path: &Path, flag: &'static str) -> Result<String, RegistryFilesError> {
    std::fs::read_to_string(path).map_err(|error| RegistryFilesError::Read {
        what: flag,
        path: path.to_path_buf(),
        error,
    })
}

/// The `--registries-conf` file's mirrors (none without the flag).
fn registries_conf(
    path: Option<&Path>,
    notes: &mut Vec<String>,
) -> Result<Mirrors, RegistryFilesError> {
    let Some(path) = path else {
        return Ok(Mirrors::default());
    };
    let text = read_text(path, "--registries-conf")?;
    let mirrors = Mirrors::parse(&text).map_err(|error| RegistryFilesError::RegistriesConf {
        path: path.to_path_buf(),
        error,
    })?;
    if mirrors.is_empty() {
        notes.push(format!(
            "--registries-conf {} lists no [[registry]] table: imports pull every source from \
             its own registry",
            path.display()
        ));
    }
    Ok(mirrors)
}

/// The credentials of the `--global-pull-secret` file.
fn global_pull_secret(path: &Path, notes: &mut Vec<String>) -> Result<Keyring, RegistryFilesError> {
    let text = read_text(path, "--global-pull-secret")?;
    let keyring = Keyring::from_docker_config(&text).map_err(|error| {
        RegistryFilesError::GlobalPullSecret {
            path: path.to_path_buf(),
            error,
        }
    })?;
    if keyring.is_empty() {
        notes.push(format!(
            "--global-pull-secret {} holds no credential: registries the namespaces' pull \
             secrets do not name are asked anonymously",
            path.display()
        ));
    }
    Ok(keyring)
}

/// The mirrors of the `--mirror-sets` file.
fn mirror_sets(path: &Path, notes: &mut Vec<String>) -> Result<Mirrors, RegistryFilesError> {
    let text = read_text(path, "--mirror-sets")?;
    let mirrors = mirror_sets::parse(&text).map_err(|error| RegistryFilesError::MirrorSets {
        path: path.to_path_buf(),
        error,
    })?;
    if mirrors.is_empty() {
        notes.push(format!(
            "--mirror-sets {} lists no mirror: imports pull every source from its own registry",
            path.display()
        ));
    }
    Ok(mirrors)
}

/// The mirrors and CA files of containerd's host directory `dir`, with a note for each thing
/// configured there that the importer does not do.
fn containerd_hosts(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<containerd::HostsConfig, RegistryFilesError> {
    let directories = host_directories(dir)?;
    let config = containerd::read(dir, directories).map_err(|error| {
        RegistryFilesError::ContainerdHosts {
            dir: dir.to_path_buf(),
            error,
        }
    })?;
    let said = |note: &String| format!("--containerd-hosts-dir {}: {note}", dir.display());
    notes.extend(config.ignored.iter().map(said));
    if config.mirrors.is_empty() {
        notes.push(format!(
            "--containerd-hosts-dir {} has no hosts.toml: imports pull every source from its \
             own registry",
            dir.display()
        ));
    }
    Ok(config)
}

/// The directories under `dir` (symbolic links followed, as a ConfigMap volume's are; its
/// `..data` entries skipped), each with its `hosts.toml` and the names of its files.
fn host_directories(dir: &Path) -> Result<Vec<HostDirectory>, RegistryFilesError> {
    let unlisted = |error| RegistryFilesError::HostsDir {
        dir: dir.to_path_buf(),
        error,
    };
    let unread = |path: &Path, error| RegistryFilesError::HostsDirEntry {
        dir: dir.to_path_buf(),
        path: path.to_path_buf(),
        error,
    };
    let mut directories = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unlisted)? {
        let entry = entry.map_err(unlisted)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.is_dir(),
            // A link whose target is gone (the kubelet swapping a ConfigMap's files).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(unread(&path, e)),
        };
        if name.starts_with("..") || !is_dir {
            continue;
        }
        let toml_path = path.join("hosts.toml");
        let hosts_toml = match std::fs::read_to_string(&toml_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(unread(&toml_path, e)),
        };
        let files = std::fs::read_dir(&path)
            .and_then(|files| {
                files
                    .map(|file| Ok(file?.file_name().to_string_lossy().into_owned()))
                    .collect::<std::io::Result<_>>()
            })
            .map_err(|e| unread(&path, e))?;
        directories.push(HostDirectory {
            name,
            hosts_toml,
            files,
        });
    }
    Ok(directories)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs;

    #[test]
    fn registry_ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let bundle =
            certs::generate(&["registry.local".into()], std::time::SystemTime::now()).unwrap();
        let good = write("ca.crt", &bundle.ca_cert_pem);
        assert_eq!(
            registry_ca(&[good]).unwrap(),
            [bundle.ca_cert_pem.into_bytes()]
        );
        let empty = write("empty.crt", "not a certificate\n");
        let error = registry_ca(&[empty]).unwrap_err();
        assert!(
            error.to_string().contains("holds no certificate"),
            "{error:#}"
        );
        let missing = dir.path().join("missing.crt");
        let error = registry_ca(&[missing]).unwrap_err();
        assert!(
            error.to_string().contains("cannot read --registry-ca-file"),
            "{error:#}"
        );
    }

    #[test]
    fn a_client_certificate_without_its_key_is_refused_with_the_tls_clients_cause() {
        let bundle =
            certs::generate(&["registry.local".into()], std::time::SystemTime::now()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certificate = dir.path().join("client.cert");
        std::fs::write(&certificate, &bundle.cert_pem).unwrap();
        let files = [ClientFiles {
            host: "registry.local".into(),
            certificate,
            key: None,
        }];
        let error = client_identities(&files, &mut Vec::new()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("client.cert"), "{message}");
        assert!(
            message.contains("write the PEM certificate and its private key"),
            "{message}"
        );
        // reqwest's own words are only "builder error": why is in its source.
        let cause = std::error::Error::source(&match error {
            RegistryFilesError::ClientCertificate { error, .. } => error,
            other => panic!("{other:?}"),
        })
        .map(ToString::to_string)
        .unwrap_or_default();
        assert!(message.contains(&cause), "{cause:?} missing from {message}");
    }

    #[test]
    fn a_registries_conf_that_cannot_be_used_stops_start_up_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(registries_conf(None, &mut Vec::new()).unwrap().is_empty());
        let good = dir.path().join("good.conf");
        std::fs::write(&good, "[[registry]]\nlocation = \"q.io\"\n").unwrap();
        assert!(!registries_conf(Some(&good), &mut Vec::new())
            .unwrap()
            .is_empty());
        let old = dir.path().join("v1.conf");
        std::fs::write(&old, "[registries.search]\nregistries = []\n").unwrap();
        let error = format!(
            "{:#}",
            registries_conf(Some(&old), &mut Vec::new()).unwrap_err()
        );
        assert!(
            error.contains("--registries-conf") && error.contains("v1.conf"),
            "{error}"
        );
        assert!(error.contains("version 1"), "{error}");
        let missing = dir.path().join("missing.conf");
        let error = format!(
            "{:#}",
            registries_conf(Some(&missing), &mut Vec::new()).unwrap_err()
        );
        assert!(error.contains("cannot read --registries-conf"), "{error}");
    }

    #[test]
    fn a_mirror_sets_file_that_cannot_be_used_stops_start_up_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("idms.yaml");
        let idms = "kind: ImageDigestMirrorSet\nmetadata: {name: m}\nspec:\n  \
                    imageDigestMirrors: [{source: q.io, mirrors: [m.local]}]\n";
        std::fs::write(&good, idms).unwrap();
        assert!(!mirror_sets(&good, &mut Vec::new()).unwrap().is_empty());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "kind: Secret\nmetadata: {name: s}\n").unwrap();
        let error = format!("{:#}", mirror_sets(&bad, &mut Vec::new()).unwrap_err());
        assert!(
            error.contains("--mirror-sets") && error.contains("bad.yaml"),
            "{error}"
        );
        assert!(error.contains("not a mirror set"), "{error}");
        let error = format!(
            "{:#}",
            mirror_sets(&dir.path().join("none"), &mut Vec::new()).unwrap_err()
        );
        assert!(error.contains("cannot read --mirror-sets"), "{error}");
    }

    #[test]
    fn a_containerd_hosts_dir_is_read_through_a_config_maps_links_with_its_cas() {
        let bundle =
            certs::generate(&["mirror.local".into()], std::time::SystemTime::now()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A ConfigMap volume: each key a link into `..data`, which links to a dated directory.
        let dated = dir.path().join("..2026_11_30");
        std::fs::create_dir_all(dated.join("quay.io")).unwrap();
        std::fs::write(
            dated.join("quay.io/hosts.toml"),
            "[host.\"https://mirror.local\"]\nca = \"mirror.pem\"\n",
        )
        .unwrap();
        std::fs::write(dated.join("quay.io/mirror.pem"), &bundle.ca_cert_pem).unwrap();
        std::os::unix::fs::symlink("..2026_11_30", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/quay.io", dir.path().join("quay.io")).unwrap();
        // A key the kubelet is removing: its link's target is already gone.
        std::os::unix::fs::symlink("..data/gone.io", dir.path().join("gone.io")).unwrap();

        let hosts = containerd_hosts(dir.path(), &mut Vec::new()).unwrap();
        assert!(!hosts.mirrors.is_empty());
        let files: Vec<_> = hosts.ca_files.iter().map(|ca| ca.file.clone()).collect();
        assert_eq!(files, [dir.path().join("quay.io/mirror.pem")]);
        assert_eq!(
            pem_certificates(&hosts.ca_files[0].file, "a CA").unwrap(),
            bundle.ca_cert_pem.as_bytes()
        );

        std::fs::write(dated.join("quay.io/hosts.toml"), "server = [").unwrap();
        let error = format!(
            "{:#}",
            containerd_hosts(dir.path(), &mut Vec::new()).unwrap_err()
        );
        assert!(
            error.contains("--containerd-hosts-dir") && error.contains("quay.io/hosts.toml"),
            "{error}"
        );
        let missing = dir.path().join("missing");
        let error = format!(
            "{:#}",
            containerd_hosts(&missing, &mut Vec::new()).unwrap_err()
        );
        assert!(
            error.contains("cannot read --containerd-hosts-dir"),
            "{error}"
        );
    }
}
