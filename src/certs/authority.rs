//! Issuing certificates: a private CA held in memory and the serving certificates it signs.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use super::{CertBundle, CertError, Result, VALIDITY};

/// Certificates start this far in the past so a client with a slow clock still accepts them.
pub(super) const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// The DNS names a Service `service` in `namespace` is reached by from inside the cluster, short
/// to fully qualified, for a serving certificate's subject alternative names.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// A new CA and a serving certificate for `sans` (DNS names or IP addresses), valid from `now`.
pub fn generate(sans: &[String], now: SystemTime) -> Result<CertBundle> {
    CertificateAuthority::new(now)?.issue(sans, now)
}

/// A private CA held in memory, to issue serving certificates (and rotate them) under one root.
pub struct CertificateAuthority {
    pub(super) issuer: Issuer<'static, KeyPair>,
    pub(super) cert_pem: String,
    /// The signing key (PEM), written only to the data directory (see `data_dir`).
    pub(super) key_pem: String,
    /// Issued certificates end by this time at the latest: some clients (Go's crypto/x509)
    /// reject a chain whose root has expired.
    pub(super) not_after: SystemTime,
}

impl CertificateAuthority {
    /// A new self-signed CA valid from `now`.
    pub fn new(now: SystemTime) -> Result<Self> {
        let key = KeyPair::generate()?;
        let not_after = now + VALIDITY;
        let params = ca_params(now, not_after);
        let cert_pem = params.self_signed(&key)?.pem();
        Ok(Self {
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
            cert_pem,
            not_after,
        })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A serving certificate and new key for `sans` (DNS names or IP addresses), valid from
    /// `now` for [`VALIDITY`] or until the CA expires, whichever comes first.
    pub fn issue(&self, sans: &[String], now: SystemTime) -> Result<CertBundle> {
        let params = serving_params(sans, now, self.not_after.min(now + VALIDITY))?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertBundle {
            ca_cert_pem: self.cert_pem.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key must not end up in logs.
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

pub(super) fn ca_params(now: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "imagelookup CA");
    // Path length 0: this CA signs serving certificates only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, not_after);
    params
}

fn serving_params(
    sans: &[String],
    now: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.subject_alt_names = subject_alt_names(sans)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    // Clients check the SANs; the CN is only for humans reading the certificate.
    params
        .distinguished_name
        .push(DnType::CommonName, "imagelookup");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, not_after);
    Ok(params)
}

fn subject_alt_names(sans: &[String]) -> Result<Vec<SanType>> {
    if sans.is_empty() {
        return Err(CertError::NoSubjectAltNames);
    }
    sans.iter().map(|name| subject_alt_name(name)).collect()
}

fn subject_alt_name(name: &str) -> Result<SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let dns = name
        .try_into()
        .map_err(|error| CertError::InvalidSubjectAltName {
            name: name.to_string(),
            error,
        })?;
    Ok(SanType::DnsName(dns))
}

fn set_validity(params: &mut CertificateParams, now: SystemTime, not_after: SystemTime) {
    params.not_before = (now - BACKDATE).into();
    params.not_after = not_after.into();
}
