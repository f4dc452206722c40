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
        let (cert, key) = self.client_pem(common_name);
        reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap()
    }

    /// A client certificate with `common_name`: its PEM and its key's.
    pub fn client_pem(&self, common_name: &str) -> (String, String) {
        self.issue(common_name, &[], vec![ExtendedKeyUsagePurpose::ClientAuth])
    }

    /// A certificate for 127.0.0.1 good for serving and as a client too (etcd's gateway dials
    /// its own gRPC server with its serving certificate): its PEM and its key's.
    pub fn loopback_peer_pem(&self) -> (String, String) {
        let usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.issue("127.0.0.1", &["127.0.0.1".to_string()], usages)
    }

    fn issue(
        &self,
        common_name: &str,
        sans: &[String],
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> (String, String) {
        let mut params = CertificateParams::new(sans.to_vec()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = usages;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
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
