//! What `serve` keeps in its data directory on first start: the serving certificate, the admin
//! token and a kubeconfig that uses them.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine;

use crate::auth::TokenAuthenticator;
use crate::certs;
use crate::tls::TlsFiles;

use super::ServeArgs;

/// The serving certificate files: given, or generated into the data directory.
pub(super) fn tls_files(args: &ServeArgs) -> anyhow::Result<TlsFiles> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !args.listen.ip().is_unspecified() {
        sans.push(args.listen.ip().to_string());
    }
    let paths = certs::ensure_serving_certs(&args.data_dir, &sans)
        .context("cannot generate the serving certificate")?;
    Ok(TlsFiles {
        cert: paths.cert,
        key: paths.key,
    })
}

/// Logs each token the file lists twice, by line (never the token), as kube-apiserver warns:
/// an appended line would otherwise hand an existing token other rights without a trace.
fn warn_repeated_tokens(path: &std::path::Path, tokens: &TokenAuthenticator) {
    for repeat in tokens.repeated_tokens() {
        tracing::warn!(
            file = %path.display(),
            line = repeat.line,
            earlier_line = repeat.earlier_line,
            "duplicate token in the token file {}: line {} repeats the token of line {}; the later line wins",
            path.display(),
            repeat.line,
            repeat.earlier_line
        );
    }
}

/// Warns when the token file lists no token: every bearer token is then refused (401), which
/// is right only where callers come through the front proxy.
fn warn_no_tokens(path: &Path, tokens: &TokenAuthenticator, front_proxy: bool) {
    if !tokens.is_empty() {
        return;
    }
    match front_proxy {
        true => tracing::info!(
            file = %path.display(),
            "the token file lists no token: only callers the front proxy vouches for are \
             authenticated"
        ),
        false => tracing::warn!(
            file = %path.display(),
            "the token file lists no token, and no front proxy is configured: every API call \
             will be refused 401; add a line token,user,uid to the file, or leave out \
             --token-file to have an admin token generated"
        ),
    }
}

/// The token file, or a generated admin token (plus a kubeconfig) in the data directory.
pub(super) fn load_tokens(
    args: &ServeArgs,
    tls_files: &TlsFiles,
) -> anyhow::Result<TokenAuthenticator> {
    if let Some(path) = &args.token_file {
        let tokens =
            TokenAuthenticator::parse(&read(path)?).with_context(|| path.display().to_string())?;
        warn_repeated_tokens(path, &tokens);
        warn_no_tokens(
            path,
            &tokens,
            args.requestheader.requestheader_client_ca_file.is_some(),
        );
        return Ok(tokens);
    }
    let path = args.data_dir.join("tokens.csv");
    if !path.exists() {
        let token: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        write_private(&path, &format!("{token},admin,admin,\"system:masters\"\n"))?;
    }
    let tokens =
        TokenAuthenticator::parse(&read(&path)?).with_context(|| path.display().to_string())?;
    let admin_token = read(&path)?
        .split(',')
        .next()
        .unwrap_or_default()
        .to_string();
    write_kubeconfig(args, tls_files, &admin_token)?;
    Ok(tokens)
}

/// Writes `<data-dir>/kubeconfig` pointing at this server with the admin token.
pub(super) fn write_kubeconfig(
    args: &ServeArgs,
    tls_files: &TlsFiles,
    token: &str,
) -> anyhow::Result<()> {
    let ca_path = tls_files.cert.with_file_name(certs::CA_CERT_FILE);
    let ca = std::fs::read(&ca_path)
        .unwrap_or_else(|_| std::fs::read(&tls_files.cert).unwrap_or_default());
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca);
    let server = format!("https://{}", advertised_address(args.listen));
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: imagelookup\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca_data}\nusers:\n- name: admin\n  user:\n    token: {token}\n\
         contexts:\n- name: imagelookup\n  context:\n    cluster: imagelookup\n    user: admin\n    namespace: default\n\
         current-context: imagelookup\n"
    );
    write_private(&args.data_dir.join("kubeconfig"), &kubeconfig)
}

/// `host:port` clients should use: a wildcard listen address is reached on loopback.
pub(super) fn advertised_address(listen: SocketAddr) -> String {
    match listen.ip().is_unspecified() {
        true => format!("127.0.0.1:{}", listen.port()),
        false => listen.to_string(),
    }
}

pub(super) fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes a file readable only by its owner (tokens, kubeconfig).
pub(super) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
