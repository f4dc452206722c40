//! The project's real clients, from the venv `make test-deps` fills: kubectl 1.37 and the
//! Python `kubernetes`/`openshift` clients. A missing tool fails the test, never skips it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Server;

/// `<repo>/.venv/bin/kubectl`.
pub fn kubectl_path() -> PathBuf {
    venv_tool("kubectl")
}

/// `<repo>/.venv/bin/python`.
pub fn python_path() -> PathBuf {
    venv_tool("python")
}

fn venv_tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run make test-deps",
        path.display()
    );
    path
}

/// What a client run printed.
#[derive(Debug)]
pub struct Run {
    /// Whether it exited 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Fails the test unless the run succeeded; returns stdout.
    pub fn success(self) -> String {
        assert!(
            self.ok,
            "the client failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Fails the test if the run succeeded; returns stderr.
    pub fn failure(self) -> String {
        assert!(!self.ok, "the client should have failed: {}", self.stdout);
        self.stderr
    }
}

impl Server {
    /// A kubectl command against this server (its kubeconfig, a cache in the data dir, and a
    /// HOME that is not the user's).
    pub fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(kubectl_path());
        command
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.data_dir.join("kube-cache"))
            .args(args)
            .env("HOME", &self.data_dir)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl to the end.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        Run::from(self.kubectl_command(args).output().expect("kubectl starts"))
    }

    /// Runs kubectl with `input` on stdin (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .kubectl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("write kubectl's stdin");
        Run::from(child.wait_with_output().expect("kubectl ends"))
    }

    /// Runs a script of `tests/python/` with the venv's Python: `script <kubeconfig> args…`.
    pub fn python(&self, script: &str, args: &[&str]) -> Run {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/python")
            .join(script);
        let tmp = self.data_dir.join("py-tmp");
        std::fs::create_dir_all(&tmp).expect("create the Python temp dir");
        let output = Command::new(python_path())
            .arg(path)
            .arg(self.kubeconfig())
            .args(args)
            .env("HOME", &self.data_dir)
            .env("TMPDIR", &tmp)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("python starts");
        Run::from(output)
    }
}
