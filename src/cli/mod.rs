//! The `imagelookup` subcommands. Each command is a thin shell: it reads its inputs, calls
//! the pure core, and prints; exit codes: 0 success, 1 rejected by policy, 2 bad input.

mod backup_names;
mod explain;
pub mod image_info;
pub mod krm;
pub mod logging;
pub mod registries;
mod resolve;
pub mod restore;
mod run_resolve;
pub mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::api::ImageStream;
use crate::manifest::{self, ManifestError};
use crate::resolve::{CompactStream, Importer, Index, ResolverConfig};
use crate::strategy;

pub use explain::{explain, Explanation};
pub use resolve::{
    resolve_documents, resource_for_kind, Context, Finding, ObjectRef, Outcome, IGNORE_LABEL,
};

/// OpenShift ImageStream image lookup for any Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(name = "imagelookup", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the ImageStream API and the admission webhook on one TLS listener.
    Serve(Box<serve::ServeArgs>),
    /// Pin the image references of manifests offline, as admission would on CREATE.
    Resolve(ResolveArgs),
    /// Explain how one image reference parses and resolves.
    Explain(ExplainArgs),
    /// Write a CA and a serving certificate for the webhook Service, and the caBundle.
    Certs(CertsArgs),
    /// Look one image up as the importer would import it (mirrors, CAs, credentials).
    ImageInfo(image_info::ImageInfoArgs),
    /// Restore a backup of the embedded store (from `serve --backup-dir`) as the store of a
    /// data directory, while `serve` is stopped.
    RestoreStore(restore::RestoreArgs),
}

/// Arguments of `certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The Service name the kube-apiserver calls.
    #[arg(long, default_value = "imagelookup")]
    pub service: String,
    /// The Service's namespace.
    #[arg(long, default_value = "imagelookup")]
    pub namespace: String,
    /// Extra subject alternative names (DNS names or IPs).
    #[arg(long = "san")]
    pub sans: Vec<String>,
    /// Where to write ca.crt, tls.crt, tls.key and ca-bundle.b64.
    #[arg(long, default_value = "certs")]
    pub out: std::path::PathBuf,
}

/// Output format of `explain`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Labelled lines for people.
    #[default]
    Text,
    /// One JSON object for tools.
    Json,
}

/// Where ImageStreams come from and how the integrated registry is named.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    /// ImageStreams to resolve against: one stream, a List, or several documents (YAML or JSON).
    #[arg(long = "imagestreams", value_name = "FILE")]
    pub imagestreams: Option<String>,
    /// The integrated registry host name, as `serve --registry-hostname`: given, every stream's
    /// status.dockerImageRepository is recomputed from it (Local pins and pull-through follow,
    /// as in the cluster); `none`, recomputed as a server without one serves it (for an
    /// OpenShift export, whose status names that cluster's registry); empty, the file's own
    /// status.dockerImageRepository is used.
    #[arg(long, env = "IMAGELOOKUP_REGISTRY_HOSTNAME", value_parser = registry_hostname_flag)]
    pub registry_hostname: Option<String>,
}

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Manifests to resolve (multi-document YAML, or JSON; a KRM `ResourceList` is answered as
    /// a KRM function); `-`, or no -f, reads standard input.
    #[arg(long = "filename", short = 'f', value_name = "FILE")]
    pub filename: Option<String>,
    /// The namespace of objects and streams that name none (as `kubectl apply -n`) [default: default].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// An ImagePolicyConfig (YAML or JSON); OpenShift's defaults when absent.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// A `ResolveImages` (imagelookup.io/v1alpha1, settings under spec) or ConfigMap (under
    /// data) setting namespace, imagestreams, policy and registryHostname: what a kustomize
    /// transformer's config or a KRM function's functionConfig carries.
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Streams and registry.
    #[command(flatten)]
    pub streams: StreamArgs,
}

impl ResolveArgs {
    /// The settings given on the command line (or, for the registry, in the environment).
    fn settings(&self) -> krm::Settings {
        let given = |value: &Option<String>, flag: &str| {
            value.as_ref().map(|value| krm::Setting::new(value, flag))
        };
        krm::Settings {
            namespace: given(&self.namespace, "-n"),
            imagestreams: given(&self.streams.imagestreams, "--imagestreams"),
            policy: given(&self.policy, "--policy"),
            registry_hostname: given(
                &self.streams.registry_hostname,
                "--registry-hostname (or IMAGELOOKUP_REGISTRY_HOSTNAME)",
            ),
        }
    }
}

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The image reference, e.g. `mysql:8`.
    pub reference: String,
    /// The namespace the reference is used in, and of streams that name none.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Streams and registry.
    #[command(flatten)]
    pub streams: StreamArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => match serve::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        },
        Command::Resolve(args) => run_resolve::run(args),
        Command::Explain(args) => run_explain(args),
        Command::Certs(args) => run_certs(args),
        Command::ImageInfo(args) => image_info::run(args),
        Command::RestoreStore(args) => restore::run(&args),
    }
}

fn run_certs(args: CertsArgs) -> ExitCode {
    crate::tls::install_crypto_provider();
    match crate::certs::write_webhook_certs(&args.service, &args.namespace, &args.sans, &args.out) {
        Ok(paths) => print_stdout(&format!(
            "wrote {}, {}, {} and {}\n",
            paths.ca_cert.display(),
            paths.cert.display(),
            paths.key.display(),
            paths.ca_bundle.display()
        )),
        Err(error) => fail_input(&error),
    }
}

fn run_explain(args: ExplainArgs) -> ExitCode {
    let streams = &args.streams;
    let registry_hostname = streams.registry_hostname.as_deref().unwrap_or("");
    let loaded = load_streams(
        streams.imagestreams.as_deref(),
        registry_hostname,
        &args.namespace,
    );
    let (config, index) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return fail_input(&error),
    };
    let explanation = explain(&args.reference, &args.namespace, &config, &index);
    let text = match args.output {
        OutputFormat::Text => explanation.to_text(),
        OutputFormat::Json => explanation.to_json().to_string() + "\n",
    };
    print_stdout(&text)
}

/// Loads the resolver configuration and the stream index named by the arguments. A stream
/// that names no namespace is in `namespace`, as `kubectl apply -n` would create it: no
/// published OpenShift stream file names one.
pub(super) fn load_streams(
    imagestreams: Option<&str>,
    registry_hostname: &str,
    namespace: &str,
) -> Result<(ResolverConfig, Index), ManifestError> {
    let registry = Registry::from_flag(registry_hostname);
    let config = ResolverConfig {
        registry_hostname: registry.hostname().to_string(),
        importer: Importer::Offline,
    };
    let mut streams = match imagestreams {
        Some(path) => manifest::read_image_streams(path)?,
        None => Vec::new(),
    };
    for stream in &mut streams {
        let named = stream
            .metadata
            .namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty());
        if !named {
            stream.metadata.namespace = Some(namespace.to_string());
        }
    }
    Ok((config, index_streams(streams, registry)))
}

/// `--registry-hostname`'s value that means "no integrated registry": repositories are
/// recomputed as a server without `--registry-hostname` serves them.
pub const NO_REGISTRY: &str = "none";

/// Why `text` cannot be `--registry-hostname` (or `registryHostname`): it must be empty,
/// [`NO_REGISTRY`], or a host an image reference can begin with (`host[:port]`), else every
/// repository computed from it would be a pull spec no runtime reads, and Local tags would
/// fall through to Docker Hub.
pub(crate) fn check_registry_hostname(text: &str) -> Result<(), String> {
    match Registry::from_flag(text) {
        Registry::Host(host) if !names_a_registry(host) => Err(format!(
            "{text:?} is not a registry host: give host[:port] as an image reference begins \
             (registry.example.com, image-registry.svc:5000), none for no integrated \
             registry, or nothing"
        )),
        _ => Ok(()),
    }
}

/// Whether `host` is read as the registry of a reference it begins (`<host>/a/b`).
fn names_a_registry(host: &str) -> bool {
    crate::reference::ImageRef::parse(&format!("{host}/a/b"))
        .is_ok_and(|reference| reference.registry == host)
}

/// clap's parser of `--registry-hostname` (see [`check_registry_hostname`]).
pub(crate) fn registry_hostname_flag(text: &str) -> Result<String, String> {
    check_registry_hostname(text).map(|()| text.to_string())
}

/// clap's parser of `--public-registry-hostname`: empty, or a registry host (no `none`).
pub(crate) fn public_registry_hostname_flag(text: &str) -> Result<String, String> {
    match text {
        "" => Ok(String::new()),
        host if names_a_registry(host) => Ok(host.to_string()),
        _ => Err(format!(
            "{text:?} is not a registry host: give host[:port] as an image reference begins \
             (registry.example.com), or nothing"
        )),
    }
}

/// What `--registry-hostname` says about the streams' repositories (`serve` reads it alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Registry<'a> {
    /// Unset or empty: the file's own status repositories are trusted.
    AsExported,
    /// `none`: recomputed without an integrated registry.
    Without,
    /// A host: recomputed with it.
    Host(&'a str),
}

impl<'a> Registry<'a> {
    pub(crate) fn from_flag(flag: &'a str) -> Self {
        match flag {
            "" => Self::AsExported,
            NO_REGISTRY => Self::Without,
            host => Self::Host(host),
        }
    }

    /// The integrated registry's host name, empty when there is none.
    pub(crate) fn hostname(self) -> &'a str {
        match self {
            Self::Host(host) => host,
            Self::AsExported | Self::Without => "",
        }
    }
}

/// The index of streams read from a file. With a registry host name each stream gets the
/// repository the API would serve it with, so that resolving offline matches admission in
/// a cluster configured with that name. Without one, the file's own status is trusted (an
/// export of a cluster's streams carries that cluster's repositories), and a stream with no
/// status repository gets what a server without a host name serves: its
/// `spec.dockerImageRepository`.
fn index_streams(streams: Vec<ImageStream>, registry: Registry<'_>) -> Index {
    let config = strategy::Config {
        internal_registry_hostname: registry.hostname().to_string(),
        ..strategy::Config::default()
    };
    streams
        .iter()
        .map(|stream| {
            let repository = match stream.status_repository() {
                stored if registry == Registry::AsExported && !stored.is_empty() => {
                    stored.to_string()
                }
                _ => strategy::served_repository(stream, &config),
            };
            CompactStream::with_repository(stream, &repository)
        })
        .collect()
}

/// Reports a bad input file and returns exit code 2.
pub(super) fn fail_input(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
pub(super) fn print_stdout(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write output: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::StreamLookup;

    fn exported(name: &str, repository: &str) -> ImageStream {
        let mut stream = ImageStream::new("demo", name);
        stream.status = Some(crate::api::ImageStreamStatus {
            docker_image_repository: repository.to_string(),
            ..Default::default()
        });
        stream
    }

    #[test]
    fn a_registry_host_name_recomputes_each_file_streams_repository() {
        let mut spec_only = exported("c", "");
        spec_only.spec.docker_image_repository = "mirror.local/demo/c".into();
        let as_served = index_streams(vec![spec_only], Registry::AsExported);
        let served = as_served.stream("demo", "c").unwrap().repository();
        assert_eq!(
            served, "mirror.local/demo/c",
            "what a server without a host serves"
        );
        let streams = vec![
            exported("a", "other.cluster:5000/demo/a"),
            exported("b", ""),
        ];
        let index = index_streams(streams.clone(), Registry::Host("image-registry.svc:5000"));
        let repository = |index: &Index, name: &str| {
            index.stream("demo", name).unwrap().repository().to_string()
        };
        assert_eq!(repository(&index, "a"), "image-registry.svc:5000/demo/a");
        assert_eq!(repository(&index, "b"), "image-registry.svc:5000/demo/b");
        let as_exported = index_streams(streams.clone(), Registry::AsExported);
        assert_eq!(repository(&as_exported, "a"), "other.cluster:5000/demo/a");
        assert_eq!(repository(&as_exported, "b"), "");
        // `none`: an OpenShift export's registry dropped, as a server without one serves.
        let without = index_streams(streams, Registry::from_flag(NO_REGISTRY));
        assert_eq!(repository(&without, "a"), "");
        assert_eq!(Registry::from_flag(NO_REGISTRY).hostname(), "");
    }
}
