//! Certificates on disk, each file replaced atomically.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::SystemTime;

use super::authority::{generate, service_dns_names};
use super::{CertBundle, CertError, CertPaths, Result};

/// Writes a new CA and a certificate for the Service's DNS names plus `extra_sans` to `out_dir`.
pub fn write_webhook_certs(
    service: &str,
    namespace: &str,
    extra_sans: &[String],
    out_dir: &Path,
) -> Result<CertPaths> {
    let mut sans = service_dns_names(service, namespace);
    extend_unique(&mut sans, extra_sans);
    write_bundle(&generate(&sans, SystemTime::now())?, out_dir)
}

pub(super) fn extend_unique(names: &mut Vec<String>, more: &[String]) {
    for name in more {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
}

/// Writes `bundle` into `dir` (created if missing), each file replaced atomically.
pub fn write_bundle(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    let paths = write_serving(bundle, dir)?;
    write_file(&paths.ca_cert, bundle.ca_cert_pem.as_bytes(), 0o644)?;
    Ok(paths)
}

/// Writes `bundle`'s serving pair and `caBundle` into `dir` (created if missing), leaving
/// `ca.crt` as it is.
pub(super) fn write_serving(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    crate::dirs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let paths = CertPaths::in_dir(dir);
    // Key first: a watcher polling this directory sees the new pair complete only after
    // the certificate lands, and rejects the half-written state in between.
    write_file(&paths.key, bundle.key_pem.as_bytes(), 0o600)?;
    write_file(&paths.cert, bundle.cert_pem.as_bytes(), 0o644)?;
    write_file(&paths.ca_bundle, bundle.ca_bundle().as_bytes(), 0o644)?;
    Ok(paths)
}

/// Writes through a temporary file and a rename, so readers see the old or the new content.
pub(super) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&tmp)
        .map_err(|source| io_error(&tmp, source))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(&tmp, source))?;
    fs::rename(&tmp, path).map_err(|source| io_error(path, source))
}

pub(super) fn io_error(path: &Path, error: io::Error) -> CertError {
    CertError::Io {
        path: path.to_path_buf(),
        error,
    }
}
