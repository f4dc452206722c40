//! A certificate authority made for a test, client certificates it signs, and clients that
//! present them.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

/// A CA: its PEM and its issuer.
pub struct Ca {
    /// The CA certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate with `common_name`, as a reqwest identity (certificate + key PEM).
    pub fn client(&self, common_name: &str) -> reqwest::Identity {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let pem = format!("{}{}", cert.pem(), key.serialize_pem());
        reqwest::Identity::from_pem(pem.as_bytes()).unwrap()
    }
}

/// A client trusting only `server_ca` (PEM), presenting `identity` if given.
pub fn client(server_ca: &[u8], identity: Option<reqwest::Identity>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server_ca).unwrap();
    let builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([ca]);
    match identity {
        Some(identity) => builder.identity(identity),
        None => builder,
    }
    .build()
    .unwrap()
}

/// The CA certificate `serve` generated in `data_dir` (PEM), once it is written.
pub async fn generated(data_dir: &std::path::Path) -> Vec<u8> {
    let path = data_dir.join("tls").join(imagelookup::certs::CA_CERT_FILE);
    super::eventually("the serving CA", || {
        let found = std::fs::read(&path).ok().filter(|pem| !pem.is_empty());
        std::future::ready(found)
    })
    .await
}
