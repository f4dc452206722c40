//! The flags of `imagelookup serve` (each also read from an `IMAGELOOKUP_*` variable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::admission::Pin;
use crate::cli::registries::RegistryArgs;
use crate::importer;
use crate::store::lead;
use crate::strategy::AllowedRegistry;

use crate::cli::logging::LogFormat;

mod client_auth;

pub use client_auth::{AdmissionCallerArgs, RequestHeaderArgs};

/// Arguments of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, env = "IMAGELOOKUP_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Directory for the embedded store, generated certificates, token and kubeconfig.
    #[arg(long, env = "IMAGELOOKUP_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Storage: `embedded:<path>` (default `embedded:<data-dir>/store`), `memory:` or
    /// `etcd:<endpoint>[,<endpoint>…][?prefix=<root>&ca=<file>&cert=<file>&key=<file>]`.
    #[arg(long, env = "IMAGELOOKUP_STORE")]
    pub store: Option<String>,
    /// PEM serving certificate; generated into the data directory when absent.
    #[arg(long, env = "IMAGELOOKUP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "IMAGELOOKUP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are checked for rotation, in seconds (0 is read as 1:
    /// a rotated certificate is always picked up).
    #[arg(long, env = "IMAGELOOKUP_TLS_RELOAD_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(..=MAX_PERIOD_SECONDS))]
    pub tls_reload_seconds: u64,
    /// Static token CSV (`token,user,uid,"group1,group2"`); an admin token is generated when absent.
    #[arg(long, env = "IMAGELOOKUP_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Authorization policy (YAML); every authenticated user may do everything when absent.
    /// Read at start-up: a changed policy takes a restart.
    #[arg(long, env = "IMAGELOOKUP_AUTHZ_FILE")]
    pub authz_file: Option<PathBuf>,
    /// ImagePolicyConfig for admission (YAML or JSON); OpenShift's defaults when absent.
    #[arg(long, env = "IMAGELOOKUP_POLICY")]
    pub policy: Option<PathBuf>,
    /// The integrated registry host, used for Local reference policies and
    /// `status.dockerImageRepository`; `none` (as `resolve` reads it) is none.
    #[arg(long, env = "IMAGELOOKUP_REGISTRY_HOSTNAME", default_value = "",
          value_parser = crate::cli::registry_hostname_flag)]
    pub registry_hostname: String,
    /// The registry host seen from outside the cluster (`status.publicDockerImageRepository`).
    #[arg(long, env = "IMAGELOOKUP_PUBLIC_REGISTRY_HOSTNAME", default_value = "",
          value_parser = crate::cli::public_registry_hostname_flag)]
    pub public_registry_hostname: String,
    /// Registries streams may import from and tags may point at (OpenShift's
    /// `allowedRegistriesForImport`), comma-separated: `host`, `host:port` or globs of either
    /// (`*.example.com`, `registry.local:*`); `http://host` allows plain HTTP (port 80 for a
    /// bare host). The integrated registry is always allowed. Empty allows every registry.
    #[arg(
        long,
        env = "IMAGELOOKUP_ALLOWED_REGISTRIES_FOR_IMPORT",
        value_delimiter = ',',
        value_name = "HOSTS"
    )]
    pub allowed_registries_for_import: Vec<String>,
    /// The `importPolicy.importMode` given to tags that name none (OpenShift's cluster-wide
    /// `imageStreamImportMode`): `Legacy` imports one image of a multi-arch index
    /// (linux/amd64), `PreserveOriginal` keeps the index, so Pods pinned to it run on every
    /// architecture it lists.
    #[arg(
        long,
        env = "IMAGELOOKUP_DEFAULT_IMPORT_MODE",
        value_enum,
        default_value = "Legacy"
    )]
    pub default_import_mode: DefaultImportMode,
    /// The watches one user may hold open at once (a 429 beyond): a watch holds a connection
    /// for up to half an hour, and connections are bounded, so one user could otherwise hold
    /// them all.
    #[arg(
        long,
        env = "IMAGELOOKUP_MAX_WATCHES_PER_USER",
        default_value_t = crate::apiserver::watch_quota::WATCHES_PER_USER,
        value_parser = clap::value_parser!(usize)
    )]
    pub max_watches_per_user: usize,
    /// Log format.
    #[arg(long, env = "IMAGELOOKUP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where admission pins pod specs: `templates` (OpenShift's: workload templates, skipping
    /// controller-owned Pods) or `pods` (every Pod, owned or not; pod templates are left as
    /// written, so GitOps tools see workloads as git has them).
    #[arg(long, env = "IMAGELOOKUP_PIN", value_enum, default_value = "templates")]
    pub pin: PinAt,
    /// Seconds between re-imports of `importPolicy.scheduled` tags, and between retries of
    /// failed imports (at least 60).
    #[arg(long, env = "IMAGELOOKUP_IMPORT_INTERVAL", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(60..=MAX_PERIOD_SECONDS))]
    pub import_interval: u64,
    /// How many streams are imported at once (at least 1). A stream's sources are asked
    /// concurrently, but a registry that never answers holds its stream's worker until the
    /// registry timeout.
    #[arg(long, env = "IMAGELOOKUP_IMPORT_WORKERS", default_value_t = 4,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=u64::from(u32::MAX)))]
    pub import_workers: usize,
    /// How many scheduled stream imports may start a minute (at least 1; OpenShift's
    /// `maxScheduledImageImportsPerMinute`, 60 by default). Streams due beyond it wait their
    /// turn, most overdue first: with N scheduled streams, an interval shorter than N divided
    /// by this rate is not kept (`imagelookup_importer_schedule_behind_seconds` shows by how much).
    #[arg(long, env = "IMAGELOOKUP_SCHEDULED_IMPORTS_PER_MINUTE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduled_imports_per_minute: u32,
    /// How many images each tag's history (`status.tags[].items`) keeps when the importer or
    /// an `imagestreamimports` create records a new one, the newest first: a scheduled tag
    /// gains an item per new image. 3, as OpenShift 4's image pruner keeps daily (OpenShift's
    /// own imports keep all until it runs). 0 keeps all that fit: a stream that would outgrow
    /// the store drops its oldest items.
    #[arg(long, env = "IMAGELOOKUP_KEEP_TAG_REVISIONS",
          default_value_t = importer::DEFAULT_KEEP_TAG_REVISIONS)]
    pub keep_tag_revisions: usize,
    /// Seconds between passes that delete the Image objects no stream's status references any
    /// more and that are older than an hour, as OpenShift's image pruner does (0: never).
    #[arg(long, env = "IMAGELOOKUP_PRUNE_IMAGES_INTERVAL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(..=MAX_PERIOD_SECONDS))]
    pub prune_images_interval: u64,
    /// Do not import tags from registries (`status.tags` of DockerImage tags stays empty).
    #[arg(long, env = "IMAGELOOKUP_NO_IMPORTER")]
    pub no_importer: bool,
    /// How long the importer role outlives a replica that stops renewing it (`15s`, `1m`;
    /// whole seconds, at least 2 s). Only replicas sharing an etcd store take turns.
    #[arg(long, env = "IMAGELOOKUP_LEADER_LEASE", default_value = "15s",
          value_parser = parse_lease)]
    pub leader_lease: Duration,
    /// The importer's registry CAs, mirrors and global pull secret.
    #[command(flatten)]
    pub registries: RegistryArgs,
    /// Serve POST /registry-events, where registries notify pushes (distribution's
    /// notifications, Harbor's, Quay's, Docker Hub's and GitHub's webhooks), so the scheduled tags (and
    /// those whose last import failed) following a pushed tag are imported at once; callers
    /// show one of this file's tokens (one a line, `#` comments, read on each notification) as
    /// `Authorization: Bearer <token>`, or as the path's last segment,
    /// `/registry-events/<token>`; GitHub signs its deliveries with one as the webhook's
    /// secret. Not with --no-importer.
    #[arg(
        long,
        env = "IMAGELOOKUP_REGISTRY_EVENTS_TOKEN_FILE",
        value_name = "FILE"
    )]
    pub registry_events_token_file: Option<PathBuf>,
    /// How often the registry files (--registry-ca-file, --registries-conf,
    /// --containerd-hosts-dir, --mirror-sets, --global-pull-secret) are read again while
    /// serving, in seconds; a change applies to the next import (0: read at start-up only).
    #[arg(long, env = "IMAGELOOKUP_REGISTRIES_RELOAD_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(..=MAX_PERIOD_SECONDS))]
    pub registries_reload_seconds: u64,
    /// Where the importer reads a namespace's pull secrets: `store` (Secrets written to this
    /// server's /api/v1) or `cluster` (the cluster's Secrets, through the pod's service account
    /// or --pull-secrets-kubeconfig; needs list on secrets).
    #[arg(
        long,
        env = "IMAGELOOKUP_PULL_SECRETS_FROM",
        value_enum,
        default_value = "store"
    )]
    pub pull_secrets_from: PullSecretsFrom,
    /// The kubeconfig of the cluster to read pull secrets from (with --pull-secrets-from
    /// cluster); without it, the pod's service account, then KUBECONFIG and ~/.kube/config.
    #[arg(long, env = "IMAGELOOKUP_PULL_SECRETS_KUBECONFIG", value_name = "FILE")]
    pub pull_secrets_kubeconfig: Option<PathBuf>,
    /// A directory to write backups of the embedded store into, while serving: each a store
    /// file as of one commit (restore one with `imagelookup restore-store` while `serve` is
    /// stopped). Not for etcd, which `etcdctl snapshot save` backs up.
    #[arg(long, env = "IMAGELOOKUP_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// How often a backup is written to --backup-dir (`1h`, `15m`): one is due an interval
    /// after the newest there, so restarts do not put it off.
    #[arg(long, env = "IMAGELOOKUP_BACKUP_INTERVAL", default_value = "1h",
          value_parser = parse_backup_interval)]
    pub backup_interval: Duration,
    /// How many backups --backup-dir keeps: older ones are removed once a new one is written.
    #[arg(long, env = "IMAGELOOKUP_BACKUP_KEEP", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,
    /// How often etcd's history is compacted (`5m`, `1h`), as kube-apiserver's flag of the same
    /// name: replicas on one etcd take turns, compacting once per interval to etcd's revision of
    /// the interval before. `0` disables it, for an etcd that compacts itself
    /// (`--auto-compaction-*`). Only `etcd:` stores are compacted.
    #[arg(long, env = "IMAGELOOKUP_ETCD_COMPACTION_INTERVAL", default_value = "5m",
          value_parser = parse_interval)]
    pub etcd_compaction_interval: Duration,
    /// After SIGTERM, how long `/readyz` answers 503 while the server keeps accepting and
    /// serving, before it closes the listener and drains (`5s`, `500ms`): Kubernetes takes the
    /// pod out of its Services' endpoints while it is already terminating.
    #[arg(long, env = "IMAGELOOKUP_SHUTDOWN_DELAY", default_value = "0s",
          value_parser = parse_delay)]
    pub shutdown_delay: Duration,
    /// Request-header (front-proxy) authentication, for API aggregation; boxed so `ServeArgs`
    /// stays close in size to the other subcommands' arguments.
    #[command(flatten)]
    pub requestheader: Box<RequestHeaderArgs>,
    /// Who may call the admission webhook; boxed like `requestheader`.
    #[command(flatten)]
    pub admission_callers: Box<AdmissionCallerArgs>,
}

/// `--pull-secrets-from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PullSecretsFrom {
    /// Secrets written to this server's own `/api/v1`.
    Store,
    /// The cluster's Secrets.
    Cluster,
}

/// `--default-import-mode`, spelt as OpenShift spells the modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DefaultImportMode {
    /// One image of an index: linux/amd64.
    #[value(name = "Legacy")]
    Legacy,
    /// The index itself, every platform it lists.
    #[value(name = "PreserveOriginal")]
    PreserveOriginal,
}

impl DefaultImportMode {
    /// The mode's name, as `importPolicy.importMode` holds it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => crate::api::IMPORT_MODE_LEGACY,
            Self::PreserveOriginal => crate::api::IMPORT_MODE_PRESERVE_ORIGINAL,
        }
    }
}

/// `--pin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PinAt {
    /// Workload templates, as OpenShift does; controller-owned Pods are skipped.
    Templates,
    /// Every Pod, owned or not; pod templates are left as written.
    Pods,
}

impl From<PinAt> for Pin {
    fn from(pin: PinAt) -> Self {
        match pin {
            PinAt::Templates => Self::Templates,
            PinAt::Pods => Self::Pods,
        }
    }
}

impl ServeArgs {
    /// Every flag at its default, with `--data-dir data_dir`, ignoring `IMAGELOOKUP_*` variables:
    /// for tests and benchmarks that start `serve` in-process, so that a new flag needs no edit
    /// there and the caller's environment changes nothing.
    pub fn defaults(data_dir: &std::path::Path) -> Self {
        use clap::FromArgMatches as _;
        let argv = [
            std::ffi::OsStr::new("serve"),
            std::ffi::OsStr::new("--data-dir"),
            data_dir.as_os_str(),
        ];
        let matches = command_without_env()
            .try_get_matches_from(argv)
            .expect("serve's flags all have defaults");
        Self::from_arg_matches(&matches).expect("defaults decode")
    }
}

impl ServeArgs {
    /// `--registry-hostname`, empty when it is empty or `none`: one value of
    /// `IMAGELOOKUP_REGISTRY_HOSTNAME` means the same to `serve` and to `resolve`.
    pub fn integrated_registry(&self) -> &str {
        crate::cli::Registry::from_flag(&self.registry_hostname).hostname()
    }

    /// `--allowed-registries-for-import` as stream rules read it; `None` when empty (every
    /// registry allowed).
    pub fn allowed_registries(&self) -> Option<Vec<AllowedRegistry>> {
        let entries = &self.allowed_registries_for_import;
        let entries = entries
            .iter()
            .map(|entry| entry.trim())
            .filter(|e| !e.is_empty());
        let allowed: Vec<AllowedRegistry> = entries.map(allowed_registry).collect();
        (!allowed.is_empty()).then_some(allowed)
    }
}

/// One entry: `http://` marks a registry reached over plain HTTP.
fn allowed_registry(entry: &str) -> AllowedRegistry {
    let (domain_name, insecure) = match entry.strip_prefix("http://") {
        Some(host) => (host, true),
        None => (entry.strip_prefix("https://").unwrap_or(entry), false),
    };
    AllowedRegistry {
        domain_name: domain_name.trim_end_matches('/').to_string(),
        insecure,
    }
}

/// `serve`'s flags with their environment variables unset.
fn command_without_env() -> clap::Command {
    use clap::Args as _;
    ServeArgs::augment_args(clap::Command::new("serve"))
        .mut_args(|arg| arg.env(clap::builder::Resettable::Reset))
}

/// A `--leader-lease`: a friendly (`15s`, `1m30s`) or ISO 8601 duration of whole seconds, at
/// least [`lead::MIN_LEASE`] (etcd counts leases in seconds).
fn parse_lease(text: &str) -> Result<Duration, String> {
    let signed = parse_duration(text, "15s")?;
    let lease = Duration::try_from(signed).map_err(|_| format!("{text:?} is negative"))?;
    if lease > Duration::from_secs(MAX_PERIOD_SECONDS) {
        return Err(format!("{text:?} is longer than a year"));
    }
    if lease.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not a whole number of seconds"));
    }
    if lease < lead::MIN_LEASE {
        return Err(format!("{text:?} is shorter than {:?}", lead::MIN_LEASE));
    }
    Ok(lease)
}

/// A friendly (`5s`, `1h30m`) or ISO 8601 duration; the refusal says how to write one.
fn parse_duration(text: &str, example: &str) -> Result<jiff::SignedDuration, String> {
    text.parse::<jiff::SignedDuration>().map_err(|error| {
        // jiff refuses days and weeks here (a day is not always 24 hours) with advice meant
        // for programmers; a span takes them, so that is what the user wrote.
        if text.parse::<jiff::Span>().is_ok() {
            format!(
                "{text:?} is in days or weeks, which a duration here does not take: write \
                 hours (24h for a day), as Go's durations do"
            )
        } else {
            format!("{text:?} is not a duration like {example} (h, m, s, ms): {error}")
        }
    })
}

/// The longest period or delay a flag takes, a year: beyond it a timer's deadline could overflow
/// the clock (a panic where the flag is read, or in the task it paces).
const MAX_PERIOD_SECONDS: u64 = 366 * 24 * 60 * 60;

/// A `--shutdown-delay`: a friendly (`5s`, `1m`, `500ms`) or ISO 8601 duration, zero (a bare
/// `0` too, as Go's durations take it) or more, at most a year.
fn parse_delay(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let signed = parse_duration(text, "5s")?;
    let delay = Duration::try_from(signed).map_err(|_| format!("{text:?} is negative"))?;
    if delay > Duration::from_secs(MAX_PERIOD_SECONDS) {
        return Err(format!("{text:?} is longer than a year"));
    }
    Ok(delay)
}

/// An `--etcd-compaction-interval`: a duration as `--shutdown-delay` takes it, or a bare `0`
/// (kube-apiserver's way of turning its compactor off). Below a second it is refused: `1ms`
/// is a typo for `1m` that would compact hundreds of times a second and expire every list
/// page and watch resume.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = match text {
        "0" => Duration::ZERO,
        _ => parse_delay(text)?,
    };
    if !interval.is_zero() && interval < Duration::from_secs(1) {
        let guess = text
            .strip_suffix("ms")
            .map(|minutes| format!(" (did you mean {minutes}m?)"))
            .unwrap_or_default();
        return Err(format!(
            "{text:?} is under a second: compacting that often expires every list page and \
             watch resume{guess}; use 0 to disable"
        ));
    }
    Ok(interval)
}

/// A `--backup-interval`: a duration as `--shutdown-delay` takes it, at least a second (each
/// backup copies the whole store).
fn parse_backup_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_delay(text)?;
    if interval < Duration::from_secs(1) {
        return Err(format!(
            "{text:?} is under a second: each backup copies the whole store"
        ));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_registries_read_hosts_globs_and_plain_http_entries() {
        let args = |flag: &str| {
            let matches = command_without_env()
                .try_get_matches_from(["serve", "--allowed-registries-for-import", flag])
                .unwrap();
            <ServeArgs as clap::FromArgMatches>::from_arg_matches(&matches).unwrap()
        };
        let entry = |domain_name: &str, insecure: bool| AllowedRegistry {
            domain_name: domain_name.into(),
            insecure,
        };
        assert_eq!(
            args("quay.io, *.example.com,http://registry.local:5000,https://ghcr.io/")
                .allowed_registries(),
            Some(vec![
                entry("quay.io", false),
                entry("*.example.com", false),
                entry("registry.local:5000", true),
                entry("ghcr.io", false),
            ])
        );
        assert_eq!(args("").allowed_registries(), None);
    }

    #[test]
    fn mirrors_come_from_one_of_registries_conf_containerd_hosts_or_mirror_sets() {
        let parse = |flags: &[&str]| {
            command_without_env()
                .try_get_matches_from(std::iter::once("serve").chain(flags.iter().copied()))
        };
        let flags = [
            ["--registries-conf", "r.conf"],
            ["--containerd-hosts-dir", "/d"],
            ["--mirror-sets", "idms.yaml"],
        ];
        for (at, one) in flags.iter().enumerate() {
            assert!(parse(one).is_ok(), "{one:?}");
            for other in &flags[at + 1..] {
                let error = parse(&[one[0], one[1], other[0], other[1]]).unwrap_err();
                assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
            }
        }
    }

    #[test]
    fn periods_in_seconds_stop_at_a_year_where_a_timer_could_overflow() {
        let parse = |flag: &str, value: &str| {
            command_without_env().try_get_matches_from(["serve", flag, value])
        };
        for flag in [
            "--tls-reload-seconds",
            "--import-interval",
            "--prune-images-interval",
            "--registries-reload-seconds",
        ] {
            assert!(parse(flag, "31622400").is_ok(), "{flag}: a year");
            let error = parse(flag, "18446744073709551615").unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{flag}"
            );
        }
    }

    #[test]
    fn defaults_read_no_environment_variable_and_match_the_flags() {
        use clap::Args as _;
        let with_env = ServeArgs::augment_args(clap::Command::new("serve"));
        assert!(with_env.get_arguments().any(|arg| arg.get_env().is_some()));
        assert!(command_without_env()
            .get_arguments()
            .all(|arg| arg.get_env().is_none()));
        let args = ServeArgs::defaults(std::path::Path::new("/var/lib/x"));
        assert_eq!(args.data_dir, std::path::PathBuf::from("/var/lib/x"));
        assert_eq!(args.import_interval, 900);
        assert_eq!(args.import_workers, 4);
        assert_eq!(args.leader_lease, lead::DEFAULT_LEASE);
        assert_eq!(args.tls_reload_seconds, 10);
        assert_eq!(
            args.keep_tag_revisions, 3,
            "as OpenShift 4's image pruner keeps"
        );
        assert_eq!(args.integrated_registry(), "");
        let none = ServeArgs {
            registry_hostname: "none".into(),
            ..args.clone()
        };
        assert_eq!(none.integrated_registry(), "", "none, as resolve reads it");
        assert_eq!(args.registries_reload_seconds, 10);
        assert_eq!(args.shutdown_delay, Duration::ZERO);
        assert_eq!(args.etcd_compaction_interval, Duration::from_secs(300));
        assert_eq!(
            (
                args.backup_dir.as_deref(),
                args.backup_interval,
                args.backup_keep
            ),
            (None, Duration::from_secs(3600), 24)
        );
        assert_eq!(Pin::from(args.pin), Pin::Templates);
        assert!(!args.no_importer && args.token_file.is_none());
        assert_eq!(
            args.requestheader.requestheader_username_headers,
            RequestHeaderArgs::default().requestheader_username_headers
        );
    }

    #[test]
    fn leader_leases_are_whole_seconds_of_at_least_two() {
        let check = |text: &str, expected: Result<u64, &str>| match expected {
            Ok(secs) => assert_eq!(parse_lease(text), Ok(Duration::from_secs(secs)), "{text}"),
            Err(part) => {
                let error = parse_lease(text).unwrap_err();
                assert!(error.contains(part), "{text}: {error}");
            }
        };
        check("15s", Ok(15));
        check("1m30s", Ok(90));
        check("PT2S", Ok(2));
        check("1s", Err("shorter than"));
        check("2.5s", Err("whole number"));
        check("-5s", Err("negative"));
        check("soon", Err("not a duration"));
        check("9000h", Err("longer than a year"));
    }

    #[test]
    fn shutdown_delays_are_durations_of_zero_or_more() {
        let check = |text: &str, expected: Result<Duration, &str>| match expected {
            Ok(delay) => assert_eq!(parse_delay(text), Ok(delay), "{text}"),
            Err(part) => {
                let error = parse_delay(text).unwrap_err();
                assert!(error.contains(part), "{text}: {error}");
            }
        };
        check("0s", Ok(Duration::ZERO));
        check("5s", Ok(Duration::from_secs(5)));
        check("500ms", Ok(Duration::from_millis(500)));
        check("1m30s", Ok(Duration::from_secs(90)));
        check("PT2S", Ok(Duration::from_secs(2)));
        check("-1s", Err("negative"));
        check("5", Err("not a duration like 5s (h, m, s, ms)"));
        check(
            "1d",
            Err("in days or weeks, which a duration here does not take: write hours"),
        );
        check("2w", Err("(24h for a day)"));
        check("0", Ok(Duration::ZERO));
        check("8800h", Err("longer than a year"));
    }

    #[test]
    fn backup_intervals_are_durations_of_at_least_a_second() {
        assert_eq!(parse_backup_interval("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_backup_interval("1s"), Ok(Duration::from_secs(1)));
        for refused in ["500ms", "0s", "0", "soon"] {
            assert!(parse_backup_interval(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn etcd_compaction_intervals_are_durations_or_a_bare_zero_that_disables() {
        let check = |text: &str, expected: Result<Duration, &str>| match expected {
            Ok(interval) => assert_eq!(parse_interval(text), Ok(interval), "{text}"),
            Err(part) => {
                let error = parse_interval(text).unwrap_err();
                assert!(error.contains(part), "{text}: {error}");
            }
        };
        check("5m", Ok(Duration::from_secs(300)));
        check("1h", Ok(Duration::from_secs(3600)));
        check("90s", Ok(Duration::from_secs(90)));
        check("0", Ok(Duration::ZERO));
        check("0s", Ok(Duration::ZERO));
        check("-5m", Err("negative"));
        check("300", Err("not a duration"));
        check("1s", Ok(Duration::from_secs(1)));
        check(
            "1ms",
            Err("\"1ms\" is under a second: compacting that often"),
        );
        check("1ms", Err("(did you mean 1m?)"));
        check("0.5s", Err("\"0.5s\" is under a second"));
        check("0ms", Ok(Duration::ZERO));
        check("9000h", Err("longer than a year"));
    }
}
