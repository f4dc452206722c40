//! Where the importer, and the `imagestreams/<name>/secrets` subresource, find a namespace's
//! pull secrets.
//!
//! OpenShift's importer reads the namespace's real Secrets. Served through an APIService, this
//! server sees only `image.openshift.io`: `kubectl create secret docker-registry` writes to the
//! cluster, never to this store. So the importer can read them from the cluster, with a
//! Kubernetes client (its service account in a pod, or a kubeconfig), or from the Secrets
//! written to this server's own `/api/v1` (standalone use and tests).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::Value;

use super::credentials::is_pull_secret;

use crate::store::{collection_prefix, ListOptions, Store};

/// The source of pull secrets.
#[derive(Clone, Default)]
pub enum PullSecrets {
    /// The Secrets written to this server's own `/api/v1`.
    #[default]
    Store,
    /// The cluster's Secrets, listed per namespace through this client.
    Cluster(Client),
}

impl std::fmt::Debug for PullSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store => f.write_str("Store"),
            Self::Cluster(_) => f.write_str("Cluster"),
        }
    }
}

/// Why the cluster cannot be found (at start-up).
#[derive(Debug, thiserror::Error)]
pub enum PullSecretsError {
    /// The kubeconfig file could not be read or does not describe a cluster.
    #[error("cannot read the kubeconfig {path}: {error}; check --pull-secrets-kubeconfig")]
    Kubeconfig {
        /// The file given.
        path: String,
        /// What went wrong.
        error: String,
    },
    /// Neither a service account nor a kubeconfig was found.
    #[error(
        "cannot find the cluster ({0}); run in a pod with a service account, or pass \
         --pull-secrets-kubeconfig"
    )]
    NoCluster(String),
}

impl PullSecrets {
    /// Whether the cluster's Secrets are read (not those written to this server).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// A client for the cluster described by `kubeconfig`, or, without one, the pod's service
    /// account (then `KUBECONFIG` and `~/.kube/config`, as kubectl looks).
    pub async fn cluster(kubeconfig: Option<&Path>) -> Result<Self, PullSecretsError> {
        let config = match kubeconfig {
            Some(path) => from_file(path).await?,
            None => Config::infer()
                .await
                .map_err(|e| PullSecretsError::NoCluster(e.to_string()))?,
        };
        let client = Client::try_from(config).map_err(|e| PullSecretsError::Kubeconfig {
            path: kubeconfig
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            error: e.to_string(),
        })?;
        Ok(Self::Cluster(client))
    }

    /// The pull secrets of `namespace`. The caller decides what a failure means: the importer
    /// goes on anonymously (public images still import) and says why on a refused tag.
    pub async fn list(&self, store: &dyn Store, namespace: &str) -> Result<Vec<Value>, ReadError> {
        let listed = match self {
            Self::Store => from_store(store, namespace).await?,
            Self::Cluster(client) => list_cluster(client, namespace).await?.items,
        };
        Ok(listed.into_iter().filter(is_pull_secret).collect())
    }
}

/// Why a namespace's Secrets could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The cluster refused this server's account: its RBAC lacks `list` on `secrets`.
    #[error(
        "{0}; let this server's service account (or the --pull-secrets-kubeconfig user) list \
         secrets, as manifests/rbac.yaml does"
    )]
    Forbidden(String),
    /// The cluster answered the list with another error status.
    #[error("the cluster answered {code} to the secrets list: {message}")]
    Failed {
        /// The HTTP status.
        code: u16,
        /// The cluster's message.
        message: String,
    },
    /// No answer came: the connection, TLS or the client's credentials failed.
    #[error(
        "cannot reach the cluster to list secrets: {0}; check the cluster address and network"
    )]
    Unreachable(String),
    /// This server's own store failed.
    #[error("cannot list secrets in this server's store: {0}")]
    Store(String),
}

/// How long an unreachable cluster is taken as still unreachable: the passes in that window
/// import anonymously at once instead of each waiting [`CLUSTER_TIMEOUT`] again.
pub const OUTAGE_MEMORY: Duration = Duration::from_secs(30);

/// The importer's memory of a cluster that did not answer (pure: the clock is an argument).
/// Only [`ReadError::Unreachable`] is remembered: it is the cluster's, not one namespace's, and
/// it is the failure that costs a timeout per try.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<(std::time::Instant, ReadError)>,
}

impl Outage {
    /// The remembered failure, while it is younger than [`OUTAGE_MEMORY`] at `now`.
    pub fn current(&self, now: std::time::Instant) -> Option<ReadError> {
        let (at, error) = self.since.as_ref()?;
        (now.saturating_duration_since(*at) < OUTAGE_MEMORY).then(|| error.clone())
    }

    /// Notes the outcome of a list made at `now`: an unreachable cluster is remembered, any
    /// answer (an error status included) ends the outage.
    pub fn record(&mut self, listed: &Result<Vec<Value>, ReadError>, now: std::time::Instant) {
        self.since = match listed {
            Err(error @ ReadError::Unreachable(_)) => Some((now, error.clone())),
            _ => None,
        };
    }
}

/// One list of a namespace's Secrets from the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSecrets {
    /// Every Secret of the namespace, of any type, as JSON documents.
    pub items: Vec<Value>,
    /// The cluster's `resourceVersion` of the list.
    pub resource_version: String,
}

/// How long a list of a namespace's Secrets may take. kube-rs sets no response timeout, and
/// a cluster API that accepts the connection but never answers would hold an import pass (and
/// its worker) for good.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Every Secret of `namespace` in the cluster, in one list (no paging: a namespace holds few).
pub async fn list_cluster(client: &Client, namespace: &str) -> Result<ClusterSecrets, ReadError> {
    list_cluster_within(client, namespace, CLUSTER_TIMEOUT).await
}

async fn list_cluster_within(
    client: &Client,
    namespace: &str,
    limit: Duration,
) -> Result<ClusterSecrets, ReadError> {
    // The namespace comes from a request path as sent (`/secrets` on a stream that need not
    // exist), and kube-rs puts it into the cluster's URL as it is: `team%2Fsecrets%2Fpull`
    // would be decoded there into another path. No namespace of such a name can exist.
    if !crate::strategy::validate_namespace(namespace).is_empty() {
        return Ok(ClusterSecrets::default());
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let listed = tokio::time::timeout(limit, secrets.list(&ListParams::default()))
        .await
        .map_err(|_| ReadError::Unreachable(format!("no answer within {limit:?}")))?
        .map_err(read_error)?;
    let items = listed
        .items
        .iter()
        .map(|secret| serde_json::to_value(secret).expect("Secrets serialise"))
        .collect();
    Ok(ClusterSecrets {
        items,
        resource_version: listed.metadata.resource_version.unwrap_or_default(),
    })
}

async fn from_file(path: &Path) -> Result<Config, PullSecretsError> {
    let failed = |error: String| PullSecretsError::Kubeconfig {
        path: path.display().to_string(),
        error,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| failed(e.to_string()))?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| failed(e.to_string()))
}

async fn from_store(store: &dyn Store, namespace: &str) -> Result<Vec<Value>, ReadError> {
    let prefix = collection_prefix("secrets", Some(namespace));
    let page = store
        .list(&prefix, &ListOptions::default())
        .await
        .map_err(|e| ReadError::Store(e.to_string()))?;
    Ok(page.items.iter().map(|o| (*o.value).clone()).collect())
}

/// The cluster's own words for a refusal; the whole cause chain for a failure to get one
/// (kube's top-level text alone is `ServiceError: client error (Connect)`).
fn read_error(error: kube::Error) -> ReadError {
    match error {
        kube::Error::Api(status) if status.code == 403 => ReadError::Forbidden(status.message),
        kube::Error::Api(status) => ReadError::Failed {
            code: status.code,
            message: status.message,
        },
        other => ReadError::Unreachable(cause_chain(&other)),
    }
}

/// `error` and its sources, joined by `: `, skipping a source whose text is already shown.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster source whose API refuses connections (loopback port 1, where nothing listens).
    async fn unreachable_cluster() -> PullSecrets {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let config = "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
            clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
            users:\n- name: u\n  user:\n    token: t\n\
            contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n";
        std::fs::write(&kubeconfig, config).unwrap();
        PullSecrets::cluster(Some(&kubeconfig)).await.unwrap()
    }

    #[test]
    fn the_cluster_s_refusal_keeps_its_words_and_other_failures_their_causes() {
        let status = |code: u16, message: &str| {
            let status = kube::core::Status::failure(message, "Reason").with_code(code);
            kube::Error::Api(status.boxed())
        };
        let check = |error: kube::Error, expected: ReadError| {
            assert_eq!(read_error(error), expected);
        };
        check(
            status(403, "secrets is forbidden: User \"u\" cannot list"),
            ReadError::Forbidden("secrets is forbidden: User \"u\" cannot list".into()),
        );
        check(
            status(500, "etcd is down"),
            ReadError::Failed {
                code: 500,
                message: "etcd is down".into(),
            },
        );
        check(
            kube::Error::LinesCodecMaxLineLengthExceeded,
            ReadError::Unreachable("Error finding newline character".into()),
        );
    }

    #[test]
    fn causes_are_chained_once_each() {
        let io = std::io::Error::other("Connection refused");
        let wrapped = kube::Error::ReadEvents(io);
        assert_eq!(
            cause_chain(&wrapped),
            "Error reading events stream: Connection refused"
        );
    }

    #[test]
    fn a_refusal_says_which_account_needs_which_rights() {
        let message = ReadError::Forbidden("secrets is forbidden".into()).to_string();
        assert!(message.starts_with("secrets is forbidden; "), "{message}");
        assert!(message.contains("list secrets"), "{message}");
        assert!(message.contains("manifests/rbac.yaml"), "{message}");
    }

    #[tokio::test]
    async fn a_cluster_that_does_not_answer_is_an_error_not_an_empty_list() {
        let store = crate::store::EmbeddedStore::in_memory(Default::default()).unwrap();
        let error = unreachable_cluster()
            .await
            .list(&store, "team")
            .await
            .unwrap_err();
        let refused =
            matches!(&error, ReadError::Unreachable(cause) if cause.contains("Connection refused"));
        assert!(refused, "{error:?}");
    }

    #[tokio::test]
    async fn a_namespace_no_cluster_can_hold_is_an_empty_list_without_asking_the_cluster() {
        let store = crate::store::EmbeddedStore::in_memory(Default::default()).unwrap();
        let cluster = unreachable_cluster().await;
        for namespace in ["team%2Fsecrets%2Fpull", "..", "Team", "a.b", ""] {
            let listed = cluster.list(&store, namespace).await;
            assert_eq!(
                listed,
                Ok(Vec::new()),
                "{namespace:?}: the cluster was asked"
            );
        }
    }

    #[tokio::test]
    async fn a_cluster_that_accepts_but_never_answers_times_out() {
        // Accepts connections and holds them without a byte: TLS never completes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let holding = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             clusters:\n- name: c\n  cluster:\n    server: https://{address}\n\
             users:\n- name: u\n  user:\n    token: t\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
        );
        std::fs::write(&kubeconfig, config).unwrap();
        let PullSecrets::Cluster(client) = PullSecrets::cluster(Some(&kubeconfig)).await.unwrap()
        else {
            panic!("a kubeconfig gives a cluster source");
        };
        let limit = Duration::from_millis(300);
        let error = list_cluster_within(&client, "team", limit)
            .await
            .unwrap_err();
        assert_eq!(
            error,
            ReadError::Unreachable("no answer within 300ms".into())
        );
        assert!(
            error.to_string().contains("check the cluster address"),
            "{error}"
        );
        holding.abort();
    }

    #[test]
    fn an_unreachable_cluster_is_remembered_for_a_while_and_any_answer_ends_it() {
        let start = std::time::Instant::now();
        let later = |seconds: u64| start + Duration::from_secs(seconds);
        let unreachable = ReadError::Unreachable("no answer within 10s".into());
        let mut outage = Outage::default();
        assert_eq!(outage.current(start), None);
        outage.record(&Err(unreachable.clone()), start);
        assert_eq!(outage.current(later(29)), Some(unreachable.clone()));
        assert_eq!(
            outage.current(later(30)),
            None,
            "then the cluster is asked again"
        );
        outage.record(&Err(unreachable.clone()), later(30));
        outage.record(&Ok(Vec::new()), later(31));
        assert_eq!(outage.current(later(31)), None);
        let refused = ReadError::Forbidden("secrets is forbidden".into());
        outage.record(&Err(refused), later(32));
        assert_eq!(
            outage.current(later(32)),
            None,
            "a namespace's refusal is not an outage"
        );
    }

    #[tokio::test]
    async fn an_unreadable_kubeconfig_names_the_file_and_the_flag() {
        let missing = Path::new("/nonexistent/kubeconfig");
        let error = PullSecrets::cluster(Some(missing)).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/nonexistent/kubeconfig"), "{message}");
        assert!(message.contains("--pull-secrets-kubeconfig"), "{message}");
    }
}
