//! The flags that authenticate clients by their certificates: the front proxy's
//! (`--requestheader-*`, kube's aggregated-server flags) and the webhook caller's
//! (`--admission-*`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::server::danger::ClientCertVerifier;

use crate::auth::client_certs::ClientCertPool;
use crate::auth::requestheader::{RequestHeaderAuthenticator, RequestHeaderConfig};
use crate::tls;

/// The `--requestheader-*` flags, named as kube-apiserver and aggregated servers name them.
#[derive(Debug, Clone, clap::Args)]
pub struct RequestHeaderArgs {
    /// PEM CA of the front proxy (kube-system/extension-apiserver-authentication's
    /// `requestheader-client-ca-file`); enables request-header authentication.
    #[arg(long, env = "IMAGELOOKUP_REQUESTHEADER_CLIENT_CA_FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names the front proxy's certificate may have (comma list); empty allows any the CA signed.
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_ALLOWED_NAMES",
        value_delimiter = ','
    )]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers naming the user (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_USERNAME_HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-User"
    )]
    pub requestheader_username_headers: Vec<String>,
    /// Headers listing the user's groups (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_GROUP_HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-Group"
    )]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user information (comma list).
    #[arg(
        long,
        env = "IMAGELOOKUP_REQUESTHEADER_EXTRA_HEADERS_PREFIX",
        value_delimiter = ',',
        default_value = "X-Remote-Extra-"
    )]
    pub requestheader_extra_headers_prefix: Vec<String>,
}

impl Default for RequestHeaderArgs {
    /// The flags' defaults: disabled, kube's header names.
    fn default() -> Self {
        let config = RequestHeaderConfig::default();
        Self {
            requestheader_client_ca_file: None,
            requestheader_allowed_names: config.allowed_names,
            requestheader_username_headers: config.username_headers,
            requestheader_group_headers: config.group_headers,
            requestheader_extra_headers_prefix: config.extra_headers_prefixes,
        }
    }
}

impl RequestHeaderArgs {
    /// The client CA verifier and authenticator, when `--requestheader-client-ca-file` is set.
    pub(in crate::cli::serve) fn load(
        &self,
    ) -> anyhow::Result<Option<(Arc<dyn ClientCertVerifier>, RequestHeaderAuthenticator)>> {
        let Some(path) = &self.requestheader_client_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let verifier = tls::client_ca_verifier(&pem)
            .with_context(|| format!("--requestheader-client-ca-file {}", path.display()))?;
        let config = RequestHeaderConfig {
            username_headers: self.requestheader_username_headers.clone(),
            group_headers: self.requestheader_group_headers.clone(),
            extra_headers_prefixes: self.requestheader_extra_headers_prefix.clone(),
            allowed_names: self.requestheader_allowed_names.clone(),
        };
        Ok(Some((
            verifier.clone(),
            RequestHeaderAuthenticator::new(config, verifier),
        )))
    }
}

/// The `--admission-*` flags: client-certificate authentication of the webhook's callers.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdmissionCallerArgs {
    /// PEM CA bundle that the webhook's callers' client certificates must chain to (the
    /// certificate the kube-apiserver presents through its AdmissionConfiguration kubeconfig);
    /// `/mutate` then refuses a caller without one. Unset: anyone who reaches the port may call.
    #[arg(
        long,
        env = "IMAGELOOKUP_ADMISSION_CLIENT_CA_FILE",
        value_name = "FILE"
    )]
    pub admission_client_ca_file: Option<PathBuf>,
    /// Common names the caller's certificate may have (comma list); empty allows any the CA signed.
    #[arg(
        long,
        env = "IMAGELOOKUP_ADMISSION_ALLOWED_NAMES",
        value_delimiter = ',',
        requires = "admission_client_ca_file"
    )]
    pub admission_allowed_names: Vec<String>,
}

impl AdmissionCallerArgs {
    /// The callers' pool, when `--admission-client-ca-file` is set.
    pub(in crate::cli::serve) fn load(&self) -> anyhow::Result<Option<ClientCertPool>> {
        let Some(path) = &self.admission_client_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let verifier = tls::client_ca_verifier(&pem)
            .with_context(|| format!("--admission-client-ca-file {}", path.display()))?;
        let names = self.admission_allowed_names.iter().map(|name| name.trim());
        let names = names.filter(|name| !name.is_empty()).map(String::from);
        Ok(Some(ClientCertPool::new(verifier, names.collect())))
    }
}
