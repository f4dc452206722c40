//! The certificates `serve` keeps in its data directory: reused while they serve, issued again
//! from the same CA when they stop, and a new CA only when the old one is missing or unusable.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::authority::ca_params;
use super::files::{extend_unique, io_error, write_bundle, write_file, write_serving};
use super::{
    verify_serving_cert, CertBundle, CertPaths, CertificateAuthority, Result, CA_CERT_FILE,
    CA_KEY_FILE, CERT_FILE, DATA_DIR_SUBDIR, KEY_FILE, RENEW_BEFORE,
};

/// Names every self-managed certificate carries, so local clients can connect.
pub(super) const LOCAL_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The self-managed certificates in `data_dir/tls`: reused when they still cover localhost and
/// `sans`; otherwise a serving certificate is issued again from the CA there, so clients that
/// trust its `ca.crt` keep working. Only a CA that is missing is replaced silently; one whose
/// files cannot be used is replaced with a warning that clients need the new `ca.crt`.
pub fn ensure_serving_certs(data_dir: &Path, sans: &[String]) -> Result<CertPaths> {
    let dir = data_dir.join(DATA_DIR_SUBDIR);
    let mut wanted: Vec<String> = LOCAL_SANS.iter().map(|name| name.to_string()).collect();
    extend_unique(&mut wanted, sans);
    let (paths, outcome) = ensure_at(&dir, &wanted, SystemTime::now())?;
    let ca = paths.ca_cert.display();
    match outcome {
        Outcome::Kept => {}
        Outcome::KeptWithoutCa(unusable) => tracing::warn!(
            file = %dir.join(unusable.file).display(),
            reason = %unusable.reason,
            "the serving certificate in {} still serves, but its CA cannot issue the next one: \
             {} {}; restore it now, or the next certificate (when this one expires or a name is \
             added) comes from a new CA whose {ca} clients must then be given",
            dir.display(),
            unusable.file,
            unusable.reason
        ),
        Outcome::Created => {
            tracing::info!(dir = %dir.display(), "generating a self-signed CA and serving certificate");
        }
        Outcome::Reissued { reason } => tracing::info!(
            dir = %dir.display(),
            %reason,
            "issuing a new serving certificate from the CA in {ca}: {reason}"
        ),
        Outcome::Replaced(unusable) => tracing::warn!(
            file = %dir.join(unusable.file).display(),
            reason = %unusable.reason,
            "the CA in {} cannot be used: {} {}; generated a new CA: clients that trusted the \
             old one (the webhook's caBundle, kubeconfigs copied from the data directory) must \
             be given the new {ca}",
            dir.display(),
            unusable.file,
            unusable.reason
        ),
    }
    Ok(paths)
}

/// What [`ensure_at`] did with the files it found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The serving certificate still serves every name: nothing written.
    Kept,
    /// The serving certificate still serves every name, but the CA could not issue the next
    /// one (its key is missing, unreadable or another CA's, or the CA expires soon): nothing
    /// written.
    KeptWithoutCa(Unusable),
    /// The CA was kept; a serving certificate was issued from it because of `reason`.
    Reissued { reason: String },
    /// There was no CA: a new one and its certificate were written.
    Created,
    /// The CA's files could not be used: a new CA and certificate replaced them.
    Replaced(Unusable),
}

/// [`ensure_serving_certs`] in `dir`, for exactly the names `wanted`, at `now`.
pub(super) fn ensure_at(
    dir: &Path,
    wanted: &[String],
    now: SystemTime,
) -> Result<(CertPaths, Outcome)> {
    let paths = CertPaths::in_dir(dir);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_cert_pem = match fs::read_to_string(&paths.ca_cert) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return renew_ca(dir, wanted, now, Outcome::Created);
        }
        Err(error) => {
            let unusable = Unusable::cert(format!("cannot be read ({error})"));
            return renew_ca(dir, wanted, now, Outcome::Replaced(unusable));
        }
        Ok(pem) => pem,
    };
    let serving = (
        fs::read_to_string(&paths.cert),
        fs::read_to_string(&paths.key),
    );
    let reason = match &serving {
        (Ok(cert), Ok(key)) => serving_problem(&ca_cert_pem, cert, key, wanted, now),
        (Err(error), _) => Some(unreadable(CERT_FILE, error)),
        (_, Err(error)) => Some(unreadable(KEY_FILE, error)),
    };
    let ca = || {
        fs::read_to_string(&ca_key_path)
            .map_err(|error| Unusable::key(unreadable_reason(&error)))
            .and_then(|key_pem| CertificateAuthority::from_pem(&ca_cert_pem, &key_pem, now))
    };
    let Some(reason) = reason else {
        // Said now, while the certificate still serves, not at the start that needs another.
        let outcome = match ca() {
            Ok(_) => Outcome::Kept,
            Err(unusable) => Outcome::KeptWithoutCa(unusable),
        };
        return Ok((paths, outcome));
    };
    let ca = ca().and_then(|ca| issue_checked(&ca, wanted, now));
    match ca {
        Ok(bundle) => {
            write_serving(&bundle, dir)?;
            Ok((paths, Outcome::Reissued { reason }))
        }
        Err(unusable) => renew_ca(dir, wanted, now, Outcome::Replaced(unusable)),
    }
}

/// A serving certificate from `ca` for `wanted`, checked to serve them under its `ca.crt`.
fn issue_checked(
    ca: &CertificateAuthority,
    wanted: &[String],
    now: SystemTime,
) -> Result<CertBundle, Unusable> {
    let bundle = ca
        .issue(wanted, now)
        .map_err(|error| Unusable::key(format!("cannot sign ({error})")))?;
    match serving_problem(
        &bundle.ca_cert_pem,
        &bundle.cert_pem,
        &bundle.key_pem,
        wanted,
        now,
    ) {
        None => Ok(bundle),
        Some(problem) => Err(Unusable::cert(format!(
            "does not verify a certificate issued from it ({problem})"
        ))),
    }
}

/// Writes a new CA, its key and a serving certificate for `wanted` into `dir`.
fn renew_ca(
    dir: &Path,
    wanted: &[String],
    now: SystemTime,
    outcome: Outcome,
) -> Result<(CertPaths, Outcome)> {
    let ca = CertificateAuthority::new(now)?;
    let bundle = ca.issue(wanted, now)?;
    // The key before the certificate: a `ca.crt` on disk always has its key beside it.
    crate::dirs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    write_file(&dir.join(CA_KEY_FILE), ca.key_pem.as_bytes(), 0o600)?;
    Ok((write_bundle(&bundle, dir)?, outcome))
}

/// Why a file that could not be read is unusable, as a phrase following its name.
fn unreadable_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "is missing".to_string(),
        _ => format!("cannot be read ({error})"),
    }
}

fn unreadable(file: &str, error: &io::Error) -> String {
    format!("{file} {}", unreadable_reason(error))
}

/// Why `cert_pem` and `key_pem` cannot go on serving every name in `sans` under `ca_cert_pem`
/// until at least `now + RENEW_BEFORE`, if they cannot.
pub(super) fn serving_problem(
    ca_cert_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    sans: &[String],
    now: SystemTime,
) -> Option<String> {
    if let Err(error) = crate::tls::certified_key_from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
    {
        return Some(format!(
            "{CERT_FILE} and {KEY_FILE} are not a pair: {error}"
        ));
    }
    // Now as well as in 30 days: a certificate issued while the clock ran ahead is not valid
    // yet, and callers would refuse it until then.
    let when = [(now, "now"), (now + RENEW_BEFORE, "for the next 30 days")];
    sans.iter().find_map(|name| {
        when.iter().find_map(|&(at, until)| {
            let verified = verify_serving_cert(ca_cert_pem, cert_pem, name, at);
            verified.err().map(|error| {
                format!("{CERT_FILE} does not serve {name} {until} under {CA_CERT_FILE}: {error}")
            })
        })
    })
}

/// Why the CA files in a data directory cannot issue certificates.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file} {reason}")]
pub struct Unusable {
    /// [`CA_CERT_FILE`] or [`CA_KEY_FILE`].
    pub file: &'static str,
    /// What is wrong with it, a phrase following the file name.
    pub reason: String,
}

impl Unusable {
    fn cert(reason: String) -> Self {
        Self {
            file: CA_CERT_FILE,
            reason,
        }
    }

    fn key(reason: String) -> Self {
        Self {
            file: CA_KEY_FILE,
            reason,
        }
    }
}

impl CertificateAuthority {
    /// The CA [`CertificateAuthority::new`] made, read back from its certificate and key, if it
    /// can still issue at `now` a certificate that [`ensure_serving_certs`] keeps: otherwise
    /// which of the two is unusable and why.
    pub fn from_pem(cert_pem: &str, key_pem: &str, now: SystemTime) -> Result<Self, Unusable> {
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|error| Unusable::cert(format!("holds no PEM certificate ({error})")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|error| Unusable::cert(format!("is not an X.509 certificate ({error})")))?;
        if !parsed.is_ca() {
            return Err(Unusable::cert("is not a CA certificate".to_string()));
        }
        // A CA not valid yet is kept: made while the clock ran ahead, or read while it runs
        // behind, nothing here can tell, and a new CA would break every caBundle in use. Said,
        // since callers that check a root's dates (Go's) refuse it until then.
        let begins = parsed.validity().not_before;
        if begins.timestamp()
            > now
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        {
            tracing::warn!(not_before = %begins, "{CA_CERT_FILE} is not valid yet by this clock: clients that check a CA's dates refuse it until then; check the node's clock");
        }
        let ends = parsed.validity().not_after;
        let not_after = UNIX_EPOCH + Duration::from_secs(ends.timestamp().try_into().unwrap_or(0));
        if not_after < now + RENEW_BEFORE {
            let when = if not_after < now {
                "expired"
            } else {
                "expires"
            };
            return Err(Unusable::cert(format!("{when} at {ends}")));
        }
        let key = KeyPair::from_pem(key_pem)
            .map_err(|error| Unusable::key(format!("holds no usable private key ({error})")))?;
        if key.public_key_raw() != parsed.public_key().subject_public_key.data.as_ref() {
            return Err(Unusable::key(format!("is not the key of {CA_CERT_FILE}")));
        }
        // The issuer's name and key identifiers are all a signature takes from its params; a
        // CA this module made has these (checked again on the certificate it issues).
        let params = ca_params(now, not_after);
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            not_after,
        })
    }
}
