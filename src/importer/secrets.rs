//! Where the importer finds a namespace's pull secrets.
//!
//! OpenShift's importer reads the namespace's real Secrets. Served through an APIService, this
//! server sees only `image.openshift.io`: `kubectl create secret docker-registry` writes to the
//! cluster, never to this store. So the importer can read them from the cluster, with a
//! Kubernetes client (its service account in a pod, or a kubeconfig), or from the Secrets
//! written to this server's own `/api/v1` (standalone use and tests).

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::Value;

use crate::store::{collection_prefix, ListOptions, Store};

/// The secret types that carry registry credentials.
const PULL_SECRET_TYPES: [&str; 2] = ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"];

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

/// Why the cluster's Secrets cannot be read.
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

    /// The pull secrets of `namespace`; a failure to list is logged and means none (the import
    /// then goes anonymous and the registry's refusal explains itself on the tag).
    pub async fn list(&self, store: &dyn Store, namespace: &str) -> Vec<Value> {
        let listed = match self {
            Self::Store => from_store(store, namespace).await,
            Self::Cluster(client) => from_cluster(client, namespace).await,
        };
        match listed {
            Ok(secrets) => secrets.into_iter().filter(is_pull_secret).collect(),
            Err(error) => {
                tracing::warn!(%namespace, %error, "cannot list pull secrets; importing anonymously");
                Vec::new()
            }
        }
    }
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

async fn from_store(store: &dyn Store, namespace: &str) -> Result<Vec<Value>, String> {
    let prefix = collection_prefix("secrets", Some(namespace));
    let page = store
        .list(&prefix, &ListOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(page.items.iter().map(|o| (*o.value).clone()).collect())
}

async fn from_cluster(client: &Client, namespace: &str) -> Result<Vec<Value>, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let listed = secrets
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    listed
        .items
        .iter()
        .map(|secret| serde_json::to_value(secret).map_err(|e| e.to_string()))
        .collect()
}

fn is_pull_secret(secret: &Value) -> bool {
    let secret_type = secret["type"].as_str().unwrap_or("");
    PULL_SECRET_TYPES.contains(&secret_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_docker_config_secrets_carry_credentials() {
        let typed = |t: &str| json!({"type": t});
        assert!(is_pull_secret(&typed("kubernetes.io/dockerconfigjson")));
        assert!(is_pull_secret(&typed("kubernetes.io/dockercfg")));
        assert!(!is_pull_secret(&typed("Opaque")));
        assert!(!is_pull_secret(&json!({})));
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
