//! kubectl helpers beyond one-shot runs: stream manifests as YAML, kubectl processes that keep
//! running (`get -w`, a waiting `delete`), and who manages what in managedFields.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, PATIENCE};

/// A stream manifest as YAML, for `kubectl … -f -`.
pub fn manifest(namespace: &str, name: &str, local: bool, tags: &[&str]) -> String {
    let mut yaml = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: {name}\n  \
         namespace: {namespace}\n  labels:\n    app: {name}\nspec:\n  lookupPolicy:\n    local: {local}\n"
    );
    if !tags.is_empty() {
        yaml.push_str("  tags:\n");
    }
    for tag in tags {
        yaml.push_str(&format!(
            "  - name: {tag}\n    reference: true\n    from:\n      kind: DockerImage\n      \
             name: quay.io/example/app:{tag}\n"
        ));
    }
    yaml
}

/// `(manager, operation)` of every managedFields entry.
pub fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let manager = entry["manager"].as_str().unwrap_or("").to_string();
            (
                manager,
                entry["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A kubectl that keeps running (`get -w`, `delete` waiting): its stdout lines as they come.
pub struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts kubectl and leaves it running.
    pub fn kubectl_running(&self, args: &[&str]) -> Running {
        let mut child = self
            .kubectl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

impl Running {
    /// Waits for a line containing every one of `parts`.
    pub fn wait_for(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self
                .seen
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {parts:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for kubectl to exit; returns whether it succeeded, and its stderr.
    pub fn wait_exit(mut self) -> (bool, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll kubectl") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
                }
                return (status.success(), stderr);
            }
            assert!(Instant::now() < deadline, "kubectl did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
