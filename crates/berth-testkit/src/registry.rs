//! A real registry on loopback.
//!
//! The registry process is killed and reaped when the [`Registry`] is dropped. If the test
//! process dies without dropping it (abort, SIGKILL, a registry kept in a `static`), the
//! kernel kills it too: it is forked by a spawner thread that lives as long as the process,
//! with `PR_SET_PDEATHSIG` = SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use oci_client::secrets::RegistryAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BINARY: &str = "/usr/bin/docker-registry";

/// The response header, set through the registry's `http.headers`, by which the readiness
/// probe knows it reached this registry and not another process on a reused port.
const NONCE_HEADER: &str = "X-Berth-Testkit";

/// A running `docker-registry` on `127.0.0.1`, killed with its storage when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    host: String,
    storage: PathBuf,
    credentials: Option<(String, String)>,
    // Dropped after `child` is reaped (see `Drop`): holds the config, log and storage.
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts an anonymous registry (pull and push without credentials).
    ///
    /// Panics, with the registry's log, if it does not come up within a few attempts.
    pub async fn start() -> Registry {
        Self::launch(None).await
    }

    /// Starts a registry that requires HTTP basic auth as `user`/`password` for every request
    /// (htpasswd, bcrypt). Plain HTTP: docker-registry 2.8 accepts htpasswd without TLS.
    pub async fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        assert!(
            !user.contains(':') && !user.contains('\n'),
            "an htpasswd user name cannot contain ':' or a newline: {user:?}"
        );
        Self::launch(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: apt-get install docker-registry"
        );
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("a temp dir for the registry");
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let nonce = format!("{}-{port}-{}", std::process::id(), nanos());
            let storage = dir.path().join("storage");
            let mut config = format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {host}\n  secret: {nonce}\n  headers:\n    {NONCE_HEADER}: [\"{nonce}\"]\n",
                storage = yaml_string(&storage),
            );
            if let Some((user, password)) = &credentials {
                // Cost 4, the minimum: hashing and every request's check stay fast.
                let hash = bcrypt::hash(password, 4).expect("bcrypt hash of the test password");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    yaml_string(&htpasswd)
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write the registry config");
            let log = std::fs::File::create(dir.path().join("registry.log"))
                .expect("create the registry log");
            let mut command = Command::new(BINARY);
            command
                .arg("serve")
                .arg(&config_path)
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let child = spawn_tied_to_process(command)
                .await
                .unwrap_or_else(|e| panic!("start {BINARY}: {e}"));
            let mut registry = Registry {
                child,
                host,
                storage,
                credentials: credentials.clone(),
                dir,
            };
            if registry.wait_ready(&nonce).await {
                return registry;
            }
            // Lost a race for the port, or it died: try another port.
            last_log = registry.log();
        }
        panic!("docker-registry did not start on loopback; its last log:\n{last_log}");
    }

    /// Waits until this child answers `GET /v2/` with its nonce header.
    async fn wait_ready(&mut self, nonce: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if let Ok(Ok(head)) =
                tokio::time::timeout(Duration::from_secs(2), http_head(&self.host, "/v2/")).await
                && head.contains_header(NONCE_HEADER, nonce)
                && (head.status == 200 || head.status == 401)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// `127.0.0.1:PORT`: the registry part of references to it.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The credentials it requires, if started with [`Registry::start_with_basic_auth`].
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// Its credentials for `oci-client`: basic auth, or anonymous.
    pub fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Where the registry keeps the blob `digest` (`sha256:<hex>`), for tests that corrupt or
    /// remove it: `<storage>/docker/registry/v2/blobs/sha256/<hex[..2]>/<hex>/data`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest:?}"));
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry process's PID.
    pub fn pid(&self) -> Option<u32> {
        Some(self.child.id())
    }

    /// What the registry has logged (level warn and above).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGKILL, then reap: it exits at once, and no zombie outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `dir` (storage, config, log) is removed when the fields drop.
    }
}

type SpawnJob = (
    Command,
    tokio::sync::oneshot::Sender<std::io::Result<Child>>,
);

/// Spawns `command` from a thread that lives until the process exits, with the parent death
/// signal set to SIGKILL: the kernel kills the child when that thread, and so the process,
/// ends. (The death signal fires when the forking *thread* exits, so it cannot be a test's or
/// a runtime's thread.)
async fn spawn_tied_to_process(mut command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("berth-testkit-spawner".into())
            .spawn(move || {
                for (mut command, reply) in queue {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the testkit spawner thread");
        jobs
    });
    let parent = rustix::process::getpid();
    // SAFETY: the closure only makes two async-signal-safe system calls.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The process may have died between fork and prctl: then nobody will signal us.
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other("the test process is gone"));
            }
            Ok(())
        });
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    spawner
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the testkit spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| std::io::Error::other("the testkit spawner thread dropped the job"))?
}

/// `path` as a YAML (here: JSON) double-quoted string, whatever characters it holds.
fn yaml_string(path: &Path) -> String {
    let path = path
        .to_str()
        .unwrap_or_else(|| panic!("a temp path that is not UTF-8: {}", path.display()));
    serde_json::to_string(path).expect("a string serializes")
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// A port that was free on 127.0.0.1 a moment ago (the caller retries if it is taken since).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Status line and headers of an HTTP answer.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn contains_header(&self, name: &str, value: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
    }
}

/// `GET path` over plain HTTP/1.0 (the server closes the connection after answering).
async fn http_head(host: &str, path: &str) -> std::io::Result<Head> {
    let mut stream = TcpStream::connect(host).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Head { status, headers })
}
