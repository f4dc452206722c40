//! Certificates on disk: each file replaced atomically, and the self-managed pair in the data
//! directory reused while it still covers every name.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::SystemTime;

use super::authority::{generate, service_dns_names};
use super::verify::covers;
use super::{CertBundle, CertError, CertPaths, Result, DATA_DIR_SUBDIR};

/// Names every self-managed certificate carries, so local clients can connect.
const LOCAL_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

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

/// The self-managed certificates in `data_dir/tls`: reused when they still cover localhost and
/// `sans`, otherwise a new CA and certificate replace them.
pub fn ensure_serving_certs(data_dir: &Path, sans: &[String]) -> Result<CertPaths> {
    let dir = data_dir.join(DATA_DIR_SUBDIR);
    let mut wanted: Vec<String> = LOCAL_SANS.iter().map(|name| name.to_string()).collect();
    extend_unique(&mut wanted, sans);
    let now = SystemTime::now();
    let paths = CertPaths::in_dir(&dir);
    if read_bundle(&paths).is_some_and(|bundle| covers(&bundle, &wanted, now)) {
        return Ok(paths);
    }
    tracing::info!(dir = %dir.display(), "generating a self-signed CA and serving certificate");
    write_bundle(&generate(&wanted, now)?, &dir)
}

fn extend_unique(names: &mut Vec<String>, more: &[String]) {
    for name in more {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
}

pub(super) fn read_bundle(paths: &CertPaths) -> Option<CertBundle> {
    Some(CertBundle {
        ca_cert_pem: fs::read_to_string(&paths.ca_cert).ok()?,
        cert_pem: fs::read_to_string(&paths.cert).ok()?,
        key_pem: fs::read_to_string(&paths.key).ok()?,
    })
}

/// Writes `bundle` into `dir` (created if missing), each file replaced atomically.
pub fn write_bundle(bundle: &CertBundle, dir: &Path) -> Result<CertPaths> {
    fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let paths = CertPaths::in_dir(dir);
    // Key first: a watcher polling this directory sees the new pair complete only after
    // the certificate lands, and rejects the half-written state in between.
    write_file(&paths.key, bundle.key_pem.as_bytes(), 0o600)?;
    write_file(&paths.cert, bundle.cert_pem.as_bytes(), 0o644)?;
    write_file(&paths.ca_cert, bundle.ca_cert_pem.as_bytes(), 0o644)?;
    write_file(&paths.ca_bundle, bundle.ca_bundle().as_bytes(), 0o644)?;
    Ok(paths)
}

/// Writes through a temporary file and a rename, so readers see the old or the new content.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
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

fn io_error(path: &Path, error: io::Error) -> CertError {
    CertError::Io {
        path: path.to_path_buf(),
        error,
    }
}
