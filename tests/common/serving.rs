//! `imagelookup serve` started in-process for a test: a free loopback port, its own data
//! directory, a client that trusts the CA it generates and the admin token it writes.

use std::net::SocketAddr;

use serde_json::Value;

/// `serve`'s flags, parsed as the binary parses them.
#[derive(clap::Parser)]
struct ServeCli {
    #[command(flatten)]
    serve: imagelookup::cli::serve::ServeArgs,
}

/// A running server; dropping it asks it to stop, [`InProcess::shut_down`] also waits.
pub struct InProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client trusting the server's CA.
    pub client: reqwest::Client,
    /// The admin token from `tokens.csv`.
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

impl InProcess {
    /// Starts `serve --data-dir <fresh> <flags…>` and waits for its CA and token.
    pub async fn start(flags: &[&str]) -> Self {
        super::setup();
        let dir = super::temp_dir();
        let (listener, addr) = super::bind_localhost().await;
        let data_dir = dir.path().display().to_string();
        let argv = ["serve", "--data-dir", &data_dir]
            .into_iter()
            .chain(flags.iter().copied());
        let cli = <ServeCli as clap::Parser>::parse_from(argv);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let serving = imagelookup::cli::serve::serve_on(listener, cli.serve, shutdown);
        let serving = tokio::spawn(async move { serving.await.expect("serve") });
        let (tokens, ca) = (dir.path().join("tokens.csv"), dir.path().join("tls/ca.crt"));
        let (tokens, ca) = super::eventually("the server's token and CA", || async {
            Some((
                std::fs::read_to_string(&tokens).ok()?,
                std::fs::read(&ca).ok()?,
            ))
        })
        .await;
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        Self {
            addr,
            client,
            token: tokens.split(',').next().unwrap().to_string(),
            stop: Some(stop),
            serving,
            dir,
        }
    }

    /// A kubeconfig for this server (its address, CA and admin token), written to its data
    /// directory: what a Kubernetes client needs to use it as a cluster.
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("test-kubeconfig");
        let ca = self.dir.path().join("tls/ca.crt");
        let config = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             clusters:\n- name: test\n  cluster:\n    server: https://{}\n    certificate-authority: {}\n\
             users:\n- name: admin\n  user:\n    token: {}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n",
            self.addr,
            ca.display(),
            self.token
        );
        std::fs::write(&path, config).unwrap();
        path
    }

    /// A file in the server's data directory, such as `tls/tls.crt`.
    pub fn data_file(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    /// `https://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// The `/metrics` text, or `None` while the server does not answer.
    pub async fn metrics(&self) -> Option<String> {
        let response = self.client.get(self.url("/metrics")).send().await.ok()?;
        response.text().await.ok()
    }

    /// The counter `series` (with its labels) of the server's metrics, 0 while absent or
    /// while the server does not answer.
    pub async fn counted(&self, series: &str) -> u64 {
        let metrics = self.metrics().await.unwrap_or_default();
        let prefix = format!("{series} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether this server leads the importer role (`imagelookup_importer_leader`), once it
    /// answers.
    pub async fn leads_importer(&self) -> Option<bool> {
        let text = self.metrics().await?;
        let line = text
            .lines()
            .find(|line| line.starts_with("imagelookup_importer_leader "))?;
        Some(line.ends_with(" 1"))
    }

    /// Sends `request` with the admin token; the status and the JSON answer (null if none).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server and waits until it has.
    pub async fn shut_down(mut self) {
        drop(self.stop.take());
        let serving = &mut self.serving;
        tokio::time::timeout(super::PATIENCE * 2, serving)
            .await
            .expect("the server stops")
            .expect("serve ends cleanly");
    }
}
