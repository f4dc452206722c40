//! The `imagelookup` subcommands. Each command is a thin shell: it reads its inputs, calls
//! the pure core, and prints; exit codes: 0 success, 1 rejected by policy, 2 bad input.

mod explain;
pub mod logging;
mod resolve;
pub mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::api::policy::ImagePolicyConfig;
use crate::manifest::{self, ManifestError};
use crate::resolve::{Index, ResolverConfig};

pub use explain::{explain, Explanation};
pub use resolve::{resolve_documents, resource_for_kind, Context, Outcome};

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
    Serve(serve::ServeArgs),
    /// Pin the image references of manifests offline, as admission would on CREATE.
    Resolve(ResolveArgs),
    /// Explain how one image reference parses and resolves.
    Explain(ExplainArgs),
    /// Write a CA and a serving certificate for the webhook Service, and the caBundle.
    Certs(CertsArgs),
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
    /// The integrated registry host name used for Local reference policies.
    #[arg(long, env = "IMAGELOOKUP_REGISTRY_HOSTNAME", default_value = "")]
    pub registry_hostname: String,
}

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// Manifests to resolve (multi-document YAML, or JSON); `-` reads standard input.
    #[arg(long = "filename", short = 'f', value_name = "FILE")]
    pub filename: String,
    /// The namespace of objects that name none.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// An ImagePolicyConfig (YAML or JSON); OpenShift's defaults when absent.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<String>,
    /// Streams and registry.
    #[command(flatten)]
    pub streams: StreamArgs,
}

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The image reference, e.g. `mysql:8`.
    pub reference: String,
    /// The namespace the reference is used in.
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
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        },
        Command::Resolve(args) => run_resolve(args),
        Command::Explain(args) => run_explain(args),
        Command::Certs(args) => run_certs(args),
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

fn run_resolve(args: ResolveArgs) -> ExitCode {
    let loaded = load_streams(&args.streams)
        .map_err(|e| e.to_string())
        .and_then(|streams| Ok((streams, load_policy(args.policy.as_deref())?)))
        .and_then(|loaded| {
            Ok((
                loaded,
                manifest::read(&args.filename).map_err(|e| e.to_string())?,
            ))
        });
    let (((config, index), policy), documents) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return fail_input(&error),
    };
    let context = Context {
        policy: &policy,
        config: &config,
        index: &index,
        default_namespace: &args.namespace,
    };
    let outcome = resolve_documents(&documents, &context);
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    if !outcome.rejections.is_empty() {
        for rejection in &outcome.rejections {
            eprintln!("error: {rejection}");
        }
        return ExitCode::from(1);
    }
    match manifest::render(&documents, &outcome.patches) {
        Ok(rendered) => {
            for notice in &rendered.reformatted {
                eprintln!("warning: {notice}");
            }
            print_stdout(&rendered.text)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

/// Reads an ImagePolicyConfig file, or OpenShift's defaults without one.
fn load_policy(path: Option<&str>) -> Result<ImagePolicyConfig, String> {
    let Some(path) = path else {
        return Ok(ImagePolicyConfig::default());
    };
    let text = manifest::read_text(path).map_err(|e| e.to_string())?;
    ImagePolicyConfig::from_yaml(&text).map_err(|e| format!("{path}: {e}"))
}

fn run_explain(args: ExplainArgs) -> ExitCode {
    let (config, index) = match load_streams(&args.streams) {
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

/// Loads the resolver configuration and the stream index named by the arguments.
fn load_streams(args: &StreamArgs) -> Result<(ResolverConfig, Index), ManifestError> {
    let config = ResolverConfig {
        registry_hostname: args.registry_hostname.clone(),
    };
    let index = match &args.imagestreams {
        Some(path) => manifest::read_image_streams(path)?.into_iter().collect(),
        None => Index::new(),
    };
    Ok((config, index))
}

/// Reports a bad input file and returns exit code 2.
fn fail_input(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
fn print_stdout(text: &str) -> ExitCode {
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
