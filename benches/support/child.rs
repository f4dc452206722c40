//! The release `imagelookup serve` binary as a child process, for what only a separate
//! process can show: its resident memory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use imagelookup::certs;

use super::fixtures::REGISTRY;
use super::loadgen::{Call, Target};

/// A running server process; killed (by its pid) and reaped when dropped.
pub struct Child {
    process: std::process::Child,
    /// A client target for it.
    pub target: Target,
}

impl Child {
    /// Starts `binary serve` on a free 127.0.0.1 port with `data_dir` and the embedded store
    /// at `store`, and waits until `/readyz` answers 200 (the index is loaded).
    pub async fn start(binary: &Path, data_dir: &Path, store: &Path) -> anyhow::Result<Self> {
        let ca = certs::ensure_serving_certs(data_dir, &[])?.ca_cert;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let token_file = data_dir.join("tokens.csv");
        let token_line = format!("{},admin,admin,\"system:masters\"\n", super::stack::TOKEN);
        std::fs::write(&token_file, token_line)?;
        let process = Command::new(binary)
            .arg("serve")
            .arg("--token-file")
            .arg(&token_file)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--store")
            .arg(format!("embedded:{}", store.display()))
            .args(["--registry-hostname", REGISTRY])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let target = Target::new(([127, 0, 0, 1], port).into(), &std::fs::read(ca)?)?;
        let child = Self { process, target };
        child.wait_ready(data_dir).await?;
        Ok(child)
    }

    /// The process's resident set (`VmRSS`), in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmRSS:")
    }

    /// The process's peak resident set since it started (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmHWM:")
    }

    /// A size `/proc/<pid>/status` gives in kB under `field`, in bytes.
    fn status_bytes(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
        Ok(kib * 1024)
    }

    async fn wait_ready(&self, data_dir: &Path) -> anyhow::Result<()> {
        let readyz = Call::get("/readyz");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        while tokio::time::Instant::now() < deadline {
            if let Ok(mut connection) = self.target.connect().await {
                if let Ok((status, _)) = connection.send(&readyz).await {
                    if status.is_success() {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
        anyhow::bail!("the server never became ready; its log:\n{log}")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
