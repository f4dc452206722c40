//! `imagelookup serve` as a child process of the built binary: for what only a process of its
//! own shows (signals, its environment, a second server on one data directory).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A `serve` child process, killed when dropped.
pub struct Serving {
    pub child: Child,
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The admin token it wrote to `tokens.csv`.
    pub token: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `imagelookup serve` on a free port with `data_dir`, `flags` and `env` (added to this
/// process's environment), logging to `data_dir/server.log`, and waits until it prints its
/// address.
pub fn spawn_serve(data_dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Serving {
    let log = data_dir.join("server.log");
    std::fs::create_dir_all(data_dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(flags)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start imagelookup serve");
    // In the guard at once, so a failed start still kills it.
    let mut serving = Serving {
        child,
        base: String::new(),
        token: String::new(),
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let address = text
            .lines()
            .find_map(|line| line.strip_prefix("imagelookup is serving "));
        let tokens = std::fs::read_to_string(data_dir.join("tokens.csv")).unwrap_or_default();
        if let (Some(base), Some((token, _))) = (address, tokens.split_once(',')) {
            serving.base = base.trim().to_string();
            serving.token = token.to_string();
            return serving;
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
