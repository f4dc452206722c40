//! Opening `--store`: a file fails fast, etcd is waited for.
//!
//! An embedded store that is locked by another process or corrupt will not fix itself, so
//! `serve` exits at once. etcd that does not answer yet usually will (a rollout, a blip): `serve`
//! keeps retrying with capped backoff while its listener answers `/healthz` 200 and `/readyz` 503,
//! as kube-apiserver waits for its storage, rather than exiting into CrashLoopBackOff, whose
//! growing back-off would keep a fail-closed webhook down for minutes after etcd is back.
//! Once connected, etcd is compacted every `--etcd-compaction-interval`, as kube-apiserver
//! compacts it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::store::{
    self, Compactions, EmbeddedOptions, EmbeddedStore, EtcdConfig, EtcdStore, OpenError, Store,
    StoreSpec,
};

use super::ServeArgs;

/// The first wait before connecting again; it doubles after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// The longest wait between two attempts, so a returning etcd is found within seconds.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// A store to serve from: open already, or etcd to wait for once the listener is up.
pub(super) enum Opening {
    /// Ready to use.
    Open(Arc<dyn Store>),
    /// The embedded store's file, open and ready to use (and to back up).
    File(Arc<EmbeddedStore>),
    /// etcd, connected by [`connect`].
    Etcd(EtcdTarget),
}

/// The etcd to connect to, and how often to compact it once connected.
pub(super) struct EtcdTarget {
    config: EtcdConfig,
    compaction_interval: Duration,
}

/// Opens `--store` (or the embedded default in the data directory) unless it is etcd.
pub(super) async fn open_unless_etcd(args: &ServeArgs) -> anyhow::Result<Opening> {
    let spec: StoreSpec = match &args.store {
        Some(spec) => spec.parse().context("--store")?,
        None => StoreSpec::default_for(&args.data_dir),
    };
    match (&spec, &args.backup_dir) {
        (StoreSpec::Etcd(_), Some(_)) => anyhow::bail!(
            "--backup-dir backs up the embedded store: back up etcd with `etcdctl snapshot \
             save` (see README, Backup and restore), and leave --backup-dir out"
        ),
        (StoreSpec::Memory, Some(_)) => anyhow::bail!(
            "--backup-dir backs up a store file: a memory store keeps nothing to restore, so \
             leave --backup-dir out or use an embedded: store"
        ),
        _ => {}
    }
    if let StoreSpec::Etcd(config) = &spec {
        // A missing CA or key file will not appear by waiting: fail now, naming it.
        config
            .check_tls_files()
            .map_err(|error| anyhow::anyhow!("--store: {error}"))?;
        return Ok(Opening::Etcd(EtcdTarget {
            config: config.clone(),
            compaction_interval: args.etcd_compaction_interval,
        }));
    }
    if let StoreSpec::Embedded(path) = &spec {
        return match EmbeddedStore::open(path, EmbeddedOptions::default()) {
            Ok(store) => Ok(Opening::File(Arc::new(store))),
            Err(source) => Err(explained(OpenError::Embedded {
                path: path.clone(),
                source,
            })),
        };
    }
    match spec.open(EmbeddedOptions::default()).await {
        Ok(store) => Ok(Opening::Open(store)),
        Err(error) => Err(explained(error)),
    }
}

/// Connects to `target`, retrying with capped backoff and logging each failure, until it
/// answers, or `stopping` completes first (`None`); then starts compacting it.
pub(super) async fn connect(
    target: &EtcdTarget,
    compactions: Compactions,
    stopping: impl Future<Output = ()>,
) -> Option<Arc<dyn Store>> {
    tokio::pin!(stopping);
    let EtcdTarget {
        config,
        compaction_interval,
    } = target;
    for failures in 0u32.. {
        let connecting =
            EtcdStore::connect_compacting(config, *compaction_interval, compactions.clone());
        let error = match connecting.await {
            Ok(store) => {
                // Always: the line an operator looks for first when a replica stays unready.
                tracing::info!(store = %format_args!("etcd:{config}"), failures, "connected to the store");
                return Some(Arc::new(store));
            }
            Err(error) => error,
        };
        let retry_in = retry_delay(failures);
        let error = format!("{:#}", anyhow::Error::new(error));
        tracing::warn!(%error, ?retry_in, "store unreachable; not ready, retrying");
        tokio::select! {
            () = tokio::time::sleep(retry_in) => {}
            () = &mut stopping => return None,
        }
    }
    None
}

/// How long to wait after `failures + 1` failed attempts: [`FIRST_RETRY`], doubling up to
/// [`MAX_RETRY`].
fn retry_delay(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(failures))
        .min(MAX_RETRY)
}

/// `error` as an operator should read it: a store another process holds says so, and a
/// corrupt file, or one a newer version wrote, says only that and what to do (the path once,
/// no "internal error").
fn explained(error: OpenError) -> anyhow::Error {
    match &error {
        OpenError::Embedded {
            path,
            source: store::Error::Internal(cause),
        } if is_locked(cause.as_ref()) => anyhow::anyhow!(
            "cannot open the embedded store: the store file {} is open in another process (is \
             another imagelookup serving it?): stop that one, or give this one another store \
             (--store embedded:<path>, or --data-dir)",
            path.display()
        ),
        OpenError::Embedded { source, .. } if source.file_refusal().is_some() => {
            anyhow::anyhow!("{}", source.file_refusal().expect("matched"))
        }
        // The operator's own setting (a read-only volume, a permission): no "internal".
        OpenError::Embedded {
            path,
            source: store::Error::Internal(cause),
        } => anyhow::anyhow!(
            "cannot open the embedded store at {}: {}",
            path.display(),
            store::message_chain(cause.as_ref())
        ),
        _ => error.into(),
    }
}

/// Whether redb refused the file because another process holds its lock.
fn is_locked(cause: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    matches!(
        cause.downcast_ref::<redb::DatabaseError>(),
        Some(redb::DatabaseError::DatabaseAlreadyOpen)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_half_a_second_to_ten() {
        let check = |failures: u32, millis: u64| {
            assert_eq!(
                retry_delay(failures),
                Duration::from_millis(millis),
                "after {} failures",
                failures + 1
            );
        };
        check(0, 500);
        check(1, 1_000);
        check(2, 2_000);
        check(4, 8_000);
        check(5, 10_000);
        check(40, 10_000);
        check(u32::MAX, 10_000);
    }

    #[tokio::test]
    async fn backups_are_refused_for_a_store_that_is_not_an_embedded_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = ServeArgs::defaults(dir.path());
        args.backup_dir = Some(dir.path().join("backups"));
        let cases = [
            ("etcd:http://127.0.0.1:1", "etcdctl snapshot save"),
            ("memory:", "a memory store keeps nothing to restore"),
        ];
        for (store, says) in cases {
            args.store = Some(store.to_string());
            let error = match open_unless_etcd(&args).await {
                Ok(_) => panic!("{store}: --backup-dir must be refused"),
                Err(error) => format!("{error:#}"),
            };
            assert!(error.contains(says), "{store}: {error}");
        }
        args.store = None;
        let opened = open_unless_etcd(&args).await.expect("the embedded default");
        assert!(matches!(opened, Opening::File(_)), "backed up by the loop");
    }

    #[tokio::test]
    async fn an_etcd_tls_file_that_cannot_be_read_fails_start_up_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = ServeArgs::defaults(dir.path());
        let missing = dir.path().join("missing-ca.crt");
        args.store = Some(format!("etcd:https://127.0.0.1:1?ca={}", missing.display()));
        let error = match open_unless_etcd(&args).await {
            Ok(_) => panic!("a missing CA file must not be waited for"),
            Err(error) => format!("{error:#}"),
        };
        let expected = format!("--store: cannot read {}: ", missing.display());
        assert!(error.starts_with(&expected), "{error}");

        std::fs::write(&missing, "not a certificate").unwrap();
        let garbage = match open_unless_etcd(&args).await {
            Ok(_) => panic!("a CA file without certificates must not be waited for"),
            Err(error) => format!("{error:#}"),
        };
        let expected = format!("--store: ca={} holds no PEM certificate", missing.display());
        assert_eq!(garbage, expected);

        args.store = Some("etcd:http://127.0.0.1:1".into());
        let plain = open_unless_etcd(&args).await.unwrap();
        assert!(
            matches!(plain, Opening::Etcd(_)),
            "plain etcd is waited for"
        );
    }

    #[tokio::test]
    async fn a_client_certificate_or_key_that_is_not_one_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now();
        let (one, two) = (
            crate::certs::generate(&["a".into()], now).unwrap(),
            crate::certs::generate(&["b".into()], now).unwrap(),
        );
        let file = |name: &str, pem: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).unwrap();
            path.display().to_string()
        };
        let ca = file("ca.crt", &one.ca_cert_pem);
        let (cert, key) = (
            file("tls.crt", &one.cert_pem),
            file("tls.key", &one.key_pem),
        );
        let other_key = file("other.key", &two.key_pem);
        let args = |cert: &str, key: &str| {
            let mut args = ServeArgs::defaults(dir.path());
            args.store = Some(format!(
                "etcd:https://127.0.0.1:1?ca={ca}&cert={cert}&key={key}"
            ));
            args
        };
        async fn failure(args: ServeArgs) -> String {
            match open_unless_etcd(&args).await {
                Ok(_) => panic!("{:?} must not be waited for", args.store),
                Err(error) => format!("{error:#}"),
            }
        }
        let swapped = failure(args(&key, &cert)).await;
        assert_eq!(
            swapped,
            format!("--store: cert={key} holds no PEM certificate")
        );
        let not_a_key = failure(args(&cert, &cert)).await;
        let expected = format!("--store: key={cert} holds no PEM private key");
        assert!(not_a_key.starts_with(&expected), "{not_a_key}");
        let mismatched = failure(args(&cert, &other_key)).await;
        let expected = format!("--store: cert={cert} and key={other_key} are not a pair");
        assert!(mismatched.starts_with(&expected), "{mismatched}");
    }

    /// The message `serve` exits with when `spec` does not open.
    async fn failure(spec: &StoreSpec) -> String {
        match spec.open(EmbeddedOptions::default()).await {
            Ok(_) => panic!("{spec} opened"),
            Err(error) => format!("{:#}", explained(error)),
        }
    }

    #[tokio::test]
    async fn a_store_file_another_process_holds_is_named_with_the_likely_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let spec = StoreSpec::Embedded(path.clone());
        let Ok(_held) = spec.open(EmbeddedOptions::default()).await else {
            panic!("the first open fails");
        };
        let message = failure(&spec).await;
        let expected = format!(
            "cannot open the embedded store: the store file {} is open in another process (is \
             another imagelookup serving it?): stop that one, or give this one another store \
             (--store embedded:<path>, or --data-dir)",
            path.display()
        );
        assert_eq!(message, expected);
    }

    #[tokio::test]
    async fn a_corrupt_store_file_is_said_alone_naming_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        std::fs::write(&path, vec![0xA5; 8192]).unwrap();
        let message = failure(&StoreSpec::Embedded(path.clone())).await;
        let start = format!("the store file {} is corrupt (redb: ", path.display());
        assert!(message.starts_with(&start), "{message}");
        assert_eq!(message.matches(&*path.to_string_lossy()).count(), 1);
    }

    #[tokio::test]
    async fn other_open_failures_keep_their_causes_once() {
        let dir = tempfile::tempdir().unwrap();
        // Under a regular file: the directory cannot be made, and the file is not to blame.
        std::fs::write(dir.path().join("file"), "").unwrap();
        let path = dir.path().join("file").join("store");
        let message = failure(&StoreSpec::Embedded(path.clone())).await;
        let prefix = format!("cannot open the embedded store at {}: ", path.display());
        assert!(message.starts_with(&prefix), "{message}");
        assert!(!message.contains("internal error"), "{message}");
        let causes: Vec<&str> = message[prefix.len()..].split(": ").collect();
        for cause in &causes {
            let times = causes.iter().filter(|other| *other == cause).count();
            assert_eq!(times, 1, "{cause:?} in {message}");
        }
    }

    #[tokio::test]
    async fn connecting_gives_up_when_shutdown_begins() {
        let target = EtcdTarget {
            config: "http://127.0.0.1:9".parse().unwrap(),
            compaction_interval: Duration::from_secs(300),
        };
        let stopping = tokio::time::sleep(Duration::from_millis(700));
        let connected = tokio::time::timeout(
            Duration::from_secs(30),
            connect(&target, Compactions::default(), stopping),
        );
        assert!(connected.await.expect("it stops retrying").is_none());
    }
}
