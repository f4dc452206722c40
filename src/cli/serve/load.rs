//! Start-up's reading of the flags and files the API and the webhook are built from: tokens,
//! the authorization policy, the ImagePolicy, the importer's settings and the pull secrets,
//! each checked so that a mistake stops start-up with its file or flag named.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use super::app::App;
use super::files::{advertised_address, load_tokens, read};
use super::{PullSecretsFrom, ServeArgs};
use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::state::Draining;
use crate::apiserver::watch_quota::{WatchQuota, WATCHES_IN_ALL};
use crate::apiserver::Auth;
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::auth::Policy;
use crate::cli::registries::{self, RegistryArgs};
use crate::importer::on_request::OnRequest;
use crate::importer::registry_config::RegistryConfig;
use crate::importer::secrets::PullSecrets;
use crate::importer::{self, ImporterConfig};
use crate::metrics::Metrics;
use crate::resolve::{Importer, ResolverConfig};
use crate::server::Readiness;
use crate::store::lead::{self, Candidate};
use crate::strategy;
use crate::tls::TlsFiles;

/// Where pull secrets are read, by the importer and by the `secrets` subresource (also with
/// --no-importer); a cluster that cannot be found stops start-up (a misconfiguration, not a
/// transient failure).
pub(super) async fn pull_secrets(args: &ServeArgs) -> anyhow::Result<PullSecrets> {
    match (args.pull_secrets_from, &args.pull_secrets_kubeconfig) {
        (PullSecretsFrom::Store, None) => Ok(PullSecrets::Store),
        (PullSecretsFrom::Store, Some(_)) => {
            anyhow::bail!("--pull-secrets-kubeconfig needs --pull-secrets-from=cluster")
        }
        (PullSecretsFrom::Cluster, kubeconfig) => {
            Ok(PullSecrets::cluster(kubeconfig.as_deref()).await?)
        }
    }
}

/// What start-up reads from files and flags before it touches the data directory: a mistake
/// in any of them stops `serve` before a store, a CA or a token is made for nothing.
pub(super) struct Settings {
    /// `--authz-file`.
    policy: Option<Policy>,
    /// The registry files (CAs, mirrors), to read again while serving.
    registry_files: RegistryArgs,
    /// Their configuration as read at start-up; replaced while serving when they change.
    registries: watch::Sender<Arc<RegistryConfig>>,
    /// The stream rules' settings, checked.
    strategy: strategy::Config,
    /// `--policy`, the admission policy.
    admission_policy: ImagePolicyConfig,
    /// `--requestheader-*`: the front proxy's CA and headers.
    pub(super) requestheader: Option<(
        Arc<dyn rustls::server::danger::ClientCertVerifier>,
        RequestHeaderAuthenticator,
    )>,
}

impl Settings {
    /// Reads and checks every file and flag that does not depend on the data directory.
    pub(super) fn read(args: &ServeArgs) -> anyhow::Result<Self> {
        let policy = match &args.authz_file {
            Some(path) => {
                let policy =
                    Policy::parse(&read(path)?).with_context(|| path.display().to_string())?;
                check_rules(&policy).with_context(|| path.display().to_string())?;
                Some(policy)
            }
            None => None,
        };
        let strategy = strategy::Config {
            internal_registry_hostname: args.integrated_registry().to_string(),
            external_registry_hostname: args.public_registry_hostname.clone(),
            allowed_registries: args.allowed_registries(),
            default_import_mode: args.default_import_mode.as_str().to_string(),
        };
        strategy
            .check()
            .context("--allowed-registries-for-import")?;
        let registry_files = args.registries.clone();
        let reading = registry_files.read()?;
        registries::warn_about(&reading.notes);
        Ok(Self {
            policy,
            registry_files,
            registries: watch::Sender::new(Arc::new(reading.config)),
            strategy,
            admission_policy: load_policy(args.policy.as_deref())?,
            requestheader: args.requestheader.load()?,
        })
    }
}

/// Builds the API and the webhook from `settings` and the files of the data directory.
pub(super) fn load_app(
    args: &ServeArgs,
    settings: Settings,
    tls_files: &TlsFiles,
    metrics: &Arc<Metrics>,
    readiness: &Readiness,
    draining: &Draining,
    pull_secrets: PullSecrets,
) -> anyhow::Result<App> {
    let tokens = load_tokens(args, tls_files)?;
    let Settings {
        policy,
        registry_files,
        registries,
        strategy,
        admission_policy,
        requestheader,
    } = settings;
    // Built whether or not the importer runs: imports asked through the API use it.
    let defaults = ImporterConfig::default();
    let imports = OnRequest::new(
        defaults.registry_timeout,
        registries.subscribe(),
        metrics.importer.clone(),
    );
    let imports = imports
        .with_keep_tag_revisions(args.keep_tag_revisions)
        .with_silence(defaults.silent_registries.clone());
    let imports = Arc::new(imports);
    let importer = (!args.no_importer).then(|| {
        let config = ImporterConfig {
            interval: Duration::from_secs(args.import_interval),
            workers: args.import_workers,
            scheduled_per_minute: args.scheduled_imports_per_minute,
            strategy: Arc::new(strategy.clone()),
            pull_secrets: pull_secrets.clone(),
            registries: registries.subscribe(),
            keep_tag_revisions: args.keep_tag_revisions,
            prune_images: (args.prune_images_interval > 0).then(|| importer::prune::PruneImages {
                every: Duration::from_secs(args.prune_images_interval),
                keep_younger_than: importer::prune::KEEP_YOUNGER_THAN,
            }),
            metrics: metrics.importer.clone(),
            ..defaults
        };
        let candidate = Candidate {
            role: importer::ROLE.to_string(),
            identity: lead::local_identity(),
            lease: args.leader_lease,
        };
        (config, candidate)
    });
    let registry_events = registry_events_token_file(args)?;
    if args.registries_reload_seconds > 0 && registry_files.any() {
        // Ends once the imports that read the configuration are gone.
        tokio::spawn(registries::reload(
            registry_files,
            registries,
            Duration::from_secs(args.registries_reload_seconds),
            metrics.importer.clone(),
        ));
    }
    Ok(App {
        strategy,
        auth: Arc::new(Auth { tokens, policy }),
        admission_policy: Arc::new(admission_policy),
        pin: args.pin.into(),
        resolver: Arc::new(ResolverConfig {
            registry_hostname: args.integrated_registry().to_string(),
            importer: if args.no_importer {
                Importer::Disabled
            } else {
                Importer::Runs
            },
        }),
        requestheader: requestheader.map(|(_, authenticator)| authenticator),
        // Set by the caller, which shares them with the routes served before the store.
        callers: None,
        importer,
        registry_events,
        pull_secrets,
        imports,
        watches: WatchQuota::new(args.max_watches_per_user.max(1), WATCHES_IN_ALL),
        server_address: advertised_address(args.listen),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        draining: draining.clone(),
    })
}

/// `--registry-events-token-file`, checked now: it only feeds the importer, and a file with no
/// token would refuse every registry.
fn registry_events_token_file(args: &ServeArgs) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = &args.registry_events_token_file else {
        return Ok(None);
    };
    if args.no_importer {
        anyhow::bail!(
            "--registry-events-token-file: registry pushes only bring imports forward; drop it \
             or --no-importer"
        );
    }
    let text = read(path)?;
    if crate::registry_events::accepted_tokens(&text)
        .next()
        .is_none()
    {
        anyhow::bail!(
            "--registry-events-token-file {}: no token in it; write one token a line",
            path.display()
        );
    }
    Ok(Some(path.clone()))
}

/// Refuses a policy rule naming an API group or a resource this server does not serve: a typo
/// (`imagestream`, `image.openshift.com`) would grant nothing and look like a grant.
fn check_rules(policy: &Policy) -> anyhow::Result<()> {
    for (index, rule) in policy.rules.iter().enumerate() {
        let group = rule
            .api_groups
            .iter()
            .find(|entry| !crate::apiserver::discovery::names_a_served_group(entry));
        if let Some(group) = group {
            anyhow::bail!(
                "rule {} names API group {group:?}, which this server does not serve: name \
                 image.openshift.io, \"\" (the core group: secrets, events, namespaces) or *",
                index + 1
            );
        }
        let unknown = rule
            .resources
            .iter()
            .find(|entry| !crate::apiserver::discovery::names_a_served_resource(entry));
        if let Some(entry) = unknown {
            anyhow::bail!(
                "rule {} names resource {entry:?}, which this server does not serve: name a \
                 resource (imagestreams, imagestreamtags, imagestreamimages, imagestreamimports, \
                 images, secrets, events, namespaces), resource/subresource \
                 (imagestreams/status, …), */subresource or *",
                index + 1
            );
        }
    }
    Ok(())
}

fn load_policy(path: Option<&Path>) -> anyhow::Result<ImagePolicyConfig> {
    match path {
        Some(path) => {
            let config = ImagePolicyConfig::from_yaml(&read(path)?)
                .with_context(|| path.display().to_string())?;
            for warning in crate::api::policy::warnings(&config) {
                tracing::warn!(policy = %path.display(), "{warning}");
            }
            Ok(config)
        }
        None => Ok(ImagePolicyConfig::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_events_need_the_importer_and_a_token_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        let path = file.display().to_string();
        let args = |extra: &[&str]| {
            let command = <ServeArgs as clap::Args>::augment_args(clap::Command::new("serve"));
            let argv = ["serve", "--registry-events-token-file", &path];
            let matches = command
                .try_get_matches_from(argv.iter().chain(extra))
                .unwrap();
            <ServeArgs as clap::FromArgMatches>::from_arg_matches(&matches).unwrap()
        };
        std::fs::write(&file, "# none yet\n\n").unwrap();
        let error = registry_events_token_file(&args(&[])).unwrap_err();
        assert!(error.to_string().contains("no token in it"), "{error}");
        std::fs::write(&file, "token\n").unwrap();
        assert_eq!(registry_events_token_file(&args(&[])).unwrap(), Some(file));
        let error = registry_events_token_file(&args(&["--no-importer"])).unwrap_err();
        assert!(
            error.to_string().contains("drop it or --no-importer"),
            "{error}"
        );
    }

    #[test]
    fn a_policy_rule_naming_a_group_or_resource_not_served_fails_start_up_by_name() {
        let policy = |resources: &str| {
            Policy::parse(&format!(
                "rules:\n- users: [alice]\n  verbs: [get]\n  namespaces: [a]\n  resources: {resources}\n"
            ))
            .unwrap()
        };
        let served = "[imagestreams, imagestreams/status, '*/layers', secrets]";
        assert!(check_rules(&policy(served)).is_ok());
        let grouped = Policy::parse(
            "rules:\n- users: [alice]\n  verbs: [get]\n  namespaces: [a]\n  apiGroups: [apps]\n",
        )
        .unwrap();
        let error = check_rules(&grouped).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("rule 1 names API group \"apps\""),
            "{error}"
        );
        let error = check_rules(&policy("[imagestreams, imagestream]")).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "rule 1 names resource \"imagestream\", which this server does not serve"
            ),
            "{error}"
        );
    }
}
