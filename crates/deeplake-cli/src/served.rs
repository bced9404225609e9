//! A `deeplake serve` subprocess on a loopback port, for benchmarks and
//! tests: started with its address read from its first stdout line, and
//! stopped with SIGTERM (then killed) when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Served {
    /// Runs `bin serve --http 127.0.0.1:0 --root ROOT EXTRA...` with `secret`
    /// and waits (60 s at most) for it to say where it listens.
    pub fn start(bin: &Path, root: &Path, secret: &str, extra: &[&str]) -> std::io::Result<Served> {
        Served::start_with(bin, root, secret, extra, &[])
    }

    /// [`Served::start`] with more variables in its environment (an
    /// object store's endpoint and credentials, say).
    pub fn start_with(
        bin: &Path,
        root: &Path,
        secret: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> std::io::Result<Served> {
        let mut child = Command::new(bin)
            .args(["serve", "--http", "127.0.0.1:0", "--root"])
            .arg(root)
            .args(extra)
            .env("DEEPLAKE_JWT_SECRET", secret)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => Ok(Served { child, url }),
            Err(_) => {
                let _ = child.kill();
                Err(std::io::Error::other(
                    "deeplake serve did not report its address within 60 s",
                ))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
