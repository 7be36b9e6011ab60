//! A real registry on loopback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BINARY: &str = "/usr/bin/docker-registry";

/// A running `docker-registry`, killed with its storage when dropped.
pub struct Registry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
    credentials: Option<(String, String)>,
}

impl Registry {
    /// Starts an anonymous registry.
    pub async fn start() -> Registry {
        Self::launch(None).await
    }

    /// Starts a registry that requires basic auth as `user`/`password` (htpasswd, bcrypt).
    pub async fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        Self::launch(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: apt-get install docker-registry (scripts/install-deps)"
        );
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("registry temp dir");
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                dir.path().join("storage").display()
            );
            if let Some((user, password)) = &credentials {
                let hash = bcrypt::hash(password, 4).expect("bcrypt");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write registry config");
            let child = Command::new(BINARY)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log file"))
                .kill_on_drop(true)
                .spawn()
                .expect("start docker-registry");
            let mut registry = Registry {
                child,
                host,
                dir,
                credentials: credentials.clone(),
            };
            if registry.wait_ready().await {
                return registry;
            }
            // Lost a race for the port, or it died: try another port.
        }
        panic!("docker-registry did not start on loopback");
    }

    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(status) = http_status(&self.host, "/v2/").await
                && (status == 200 || status == 401)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The credentials it requires, if any.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// The registry's storage directory.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob `digest` (`sha256:…`), to corrupt it in tests.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry process's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The registry's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Reap it so no zombie outlives the test; a short blocking wait is fine here.
        if let Some(pid) = self.child.id() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The status code of `GET path` over plain HTTP/1.0.
async fn http_status(host: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(host).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
