//! The fuzzing loop: per batch, make valid objects, send hostile cases concurrently, judge
//! every answer, check the host; at the end remove everything and look for leftovers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_cri_client::{CriClient, connect, cri};
use futures_util::stream::{self, StreamExt};
use tonic::Code;

use crate::call::{Answer, Call};
use crate::case::{Batch, CORPUS, Case, Expect};
use crate::host::{self, Baseline, EscapeWatch, Places};
use crate::report::{Kind, Report, Violation};
use crate::values::{Env, Gen};
use crate::{FuzzConfig, FuzzError};

/// How many recent IDs of each kind hostile requests aim at.
const KEEP_IDS: usize = 48;
/// How long Version may take after a batch before berthd counts as hung.
const VERSION_LIMIT: Duration = Duration::from_secs(20);
/// How long leftovers may take to go after the clean-up answered.
const SETTLE: Duration = Duration::from_secs(10);
/// The largest answer the fuzzer accepts (berthd may echo 1 MiB strings back many times).
const MAX_ANSWER: usize = 256 << 20;

/// What the loop keeps between batches.
struct Fuzzer {
    cfg: FuzzConfig,
    client: CriClient,
    generator: Gen,
    report: Report,
    /// Every pod and container ID seen, for the cgroup and process checks.
    ids: HashSet<String>,
    /// Each request number's (RPC, label, request), to trace an escape to its request.
    cases: HashMap<u64, (String, String, String)>,
    watch: EscapeWatch,
    places: Places,
    unimplemented: HashSet<String>,
    corpus_at: usize,
    live_pods: usize,
    live_containers: usize,
    dead: bool,
}

/// Runs the fuzzer against the berthd at `cfg.socket` and returns its report.
pub async fn run(cfg: FuzzConfig) -> Result<Report, FuzzError> {
    let started = Instant::now();
    let mut client = connect(&cfg.socket)
        .await
        .map_err(|source| FuzzError::Connect {
            socket: cfg.socket.clone(),
            source,
        })?;
    client.runtime = client.runtime.max_decoding_message_size(MAX_ANSWER);
    client.image = client.image.max_decoding_message_size(MAX_ANSWER);
    let registry = match cfg.image.split_once('/') {
        Some((host, _)) if !host.is_empty() => host.to_owned(),
        _ => return Err(FuzzError::Image(cfg.image.clone())),
    };

    // The fuzzer's own dir: log directories and host paths of mounts.
    let temp;
    let work = match &cfg.work {
        Some(w) => w.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("berth-fuzz-work.")
                .tempdir()
                .map_err(|source| FuzzError::Work {
                    dir: std::env::temp_dir(),
                    source,
                })?;
            temp.path().to_path_buf()
        }
    };
    prepare_work(&work).map_err(|source| FuzzError::Work {
        dir: work.clone(),
        source,
    })?;

    let state = cfg.state.clone().unwrap_or_else(|| {
        cfg.socket
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    let root = cfg.root.clone().unwrap_or_else(|| state.clone());
    let mut allowed = cfg.allowed_dirs.clone();
    allowed.extend([root.clone(), state.clone(), work.clone()]);
    let mut extra = Vec::new();
    if let Some(pid) = cfg.pid
        && let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd"))
    {
        extra.push(cwd);
    }
    if let Ok(cwd) = std::env::current_dir() {
        extra.push(cwd);
    }
    let watch = EscapeWatch::new(&allowed, &extra);
    let places = Places {
        root,
        state,
        cni_leases: cfg.cni_leases.clone(),
        berthd: cfg.pid,
    };
    let base = places.baseline();
    let (shm_rmid_forced, unprivileged_port_start) = Env::host_sysctls();
    let env = Env {
        image: cfg.image.clone(),
        registry,
        logs: work.join("logs"),
        scratch: work.join("scratch"),
        pod_network: cfg.pod_network,
        shm_rmid_forced,
        unprivileged_port_start,
    };
    let mut f = Fuzzer {
        generator: Gen::new(cfg.seed, env),
        report: Report {
            seed: cfg.seed,
            ..Default::default()
        },
        unimplemented: cfg.unimplemented.iter().cloned().collect(),
        cfg,
        client,
        ids: HashSet::new(),
        cases: HashMap::new(),
        watch,
        places,
        corpus_at: 0,
        live_pods: 0,
        live_containers: 0,
        dead: false,
    };
    f.fuzz().await;
    if !f.dead {
        f.finish(&base).await;
    }
    f.watch.remove_found();
    host::remove_marked_cgroups();
    f.report.seconds = started.elapsed().as_secs_f64();
    Ok(f.report)
}

/// Makes `<work>/logs` and `<work>/scratch` with the host paths hostile mounts name.
fn prepare_work(work: &Path) -> std::io::Result<()> {
    let scratch = work.join("scratch");
    std::fs::create_dir_all(work.join("logs"))?;
    std::fs::create_dir_all(scratch.join("src"))?;
    std::fs::write(scratch.join("file"), "berth-fuzz\n")?;
    std::fs::write(
        scratch.join("profile.json"),
        r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#,
    )?;
    std::fs::write(scratch.join("garbage.json"), "{\"defaultAction\": [")?;
    let link = scratch.join("link");
    if !link.exists() {
        std::os::unix::fs::symlink("src", link)?;
    }
    Ok(())
}

fn short(s: &str) -> String {
    let s = crate::case::fold_runs(s);
    match s.char_indices().nth(500) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Whether the call failed in the transport (the connection went away under it) rather
/// than with an answer of berthd's: tonic reports those with the h2 or hyper error text.
fn transport_error(answer: &Answer) -> bool {
    answer.code != Code::Ok
        && [
            "h2 protocol error",
            "transport error",
            "operation was canceled",
            "connection",
        ]
        .iter()
        .any(|m| answer.message.starts_with(m))
}

fn push_recent(list: &mut Vec<String>, id: String) {
    if !list.contains(&id) {
        list.push(id);
        if list.len() > KEEP_IDS {
            list.remove(0);
        }
    }
}

impl Fuzzer {
    async fn fuzz(&mut self) {
        let mut sent = 0u64;
        let mut batch_no = 0u64;
        while sent < self.cfg.requests && !self.dead {
            let batch = self.setup(batch_no).await;
            let mut cases = Vec::new();
            while cases.len() < self.cfg.batch && sent + (cases.len() as u64) < self.cfg.requests {
                self.generator.n += 1;
                let new = if self.generator.rng.chance(1, 4) {
                    let name = CORPUS[self.corpus_at % CORPUS.len()];
                    self.corpus_at += 1;
                    self.generator.corpus(name, &batch)
                } else {
                    self.generator.random(&batch)
                };
                cases.extend(new);
            }
            sent += cases.len() as u64;
            self.send_all(cases).await;
            self.check().await;
            if !self.dead
                && (self.live_pods > self.cfg.max_pods
                    || self.live_containers > 4 * self.cfg.max_pods)
            {
                self.sweep().await;
            }
            batch_no += 1;
        }
    }

    /// The batch's valid objects: the image, a pod (host network, or its own every other
    /// batch when CNI is there), a running container, an exec in it. Each must succeed.
    async fn setup(&mut self, batch_no: u64) -> Batch {
        let mut batch = Batch::default();
        self.generator.n += 1;
        let image = self.generator.env.image.clone();
        let pull = Call::PullImage(cri::PullImageRequest {
            image: Some(crate::mutate::spec(&image)),
            ..Default::default()
        });
        if self.valid("valid:pull", pull).await.code != Code::Ok {
            return batch;
        }
        let name = format!("valid-{}-{batch_no}", self.cfg.seed);
        let network = self.cfg.pod_network && batch_no % 2 == 1;
        let config = self.generator.pod_config(&name, network);
        let run = Call::RunPodSandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        });
        let Some(pod) = self.valid("valid:run-pod", run).await.made else {
            return batch;
        };
        batch.pod = Some((pod.clone(), config.clone()));
        let create = Call::CreateContainer(cri::CreateContainerRequest {
            pod_sandbox_id: pod,
            config: Some(self.generator.container_config(&name)),
            sandbox_config: Some(config),
        });
        let Some(ctr) = self.valid("valid:create-container", create).await.made else {
            return batch;
        };
        batch.container = Some(ctr.clone());
        let start = Call::StartContainer(cri::StartContainerRequest {
            container_id: ctr.clone(),
        });
        if self.valid("valid:start-container", start).await.code == Code::Ok {
            let exec = Call::ExecSync(cri::ExecSyncRequest {
                container_id: ctr,
                cmd: vec!["true".into()],
                timeout: 10,
            });
            self.valid("valid:exec", exec).await;
        }
        batch
    }

    async fn valid(&mut self, label: &str, call: Call) -> Answer {
        let case = Case {
            n: self.generator.n,
            label: label.to_owned(),
            call,
            expect: Expect::Valid,
            deadline: None,
        };
        self.send_one(case).await
    }

    async fn send_one(&mut self, case: Case) -> Answer {
        let mut client = self.client.clone();
        let answer = case
            .call
            .clone()
            .send(&mut client, case.deadline, self.cfg.call_limit)
            .await;
        self.judge(&case, &answer);
        answer
    }

    async fn send_all(&mut self, cases: Vec<Case>) {
        let client = self.client.clone();
        let limit = self.cfg.call_limit;
        let results: Vec<(Case, Answer)> = stream::iter(cases)
            .map(|case| {
                let mut client = client.clone();
                async move {
                    let answer = case
                        .call
                        .clone()
                        .send(&mut client, case.deadline, limit)
                        .await;
                    (case, answer)
                }
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        for (case, answer) in results {
            self.judge(&case, &answer);
        }
    }

    /// Counts the answer, learns the IDs it made, and checks it against the case.
    fn judge(&mut self, case: &Case, answer: &Answer) {
        let rpc = case.call.rpc();
        self.report.answer(rpc, answer.code);
        if case.n > 0 {
            self.cases
                .entry(case.n)
                .or_insert_with(|| (rpc.to_owned(), case.label.clone(), case.describe()));
        }
        if answer.code == Code::Ok
            && let Some(made) = answer.made.clone()
        {
            match &case.call {
                Call::RunPodSandbox(_) => {
                    self.live_pods += 1;
                    self.ids.insert(made.clone());
                    push_recent(&mut self.generator.known.pods, made);
                }
                Call::CreateContainer(_) => {
                    self.live_containers += 1;
                    self.ids.insert(made.clone());
                    push_recent(&mut self.generator.known.containers, made);
                }
                Call::PullImage(r) => {
                    let image = r
                        .image
                        .as_ref()
                        .map(|i| i.image.clone())
                        .unwrap_or_default();
                    if image.starts_with(&format!("{}/", self.generator.env.registry)) {
                        push_recent(&mut self.generator.known.images, image);
                    }
                    push_recent(&mut self.generator.known.images, made);
                }
                _ => {}
            }
        }
        if let Some(kind) = self.verdict(case, answer) {
            self.report.violate(Violation {
                kind,
                rpc: rpc.to_owned(),
                code: Some(format!("{:?}", answer.code)),
                label: case.label.clone(),
                detail: short(&answer.message),
                request: case.describe(),
            });
        }
    }

    /// Which rule the answer breaks, if any.
    fn verdict(&self, case: &Case, answer: &Answer) -> Option<Kind> {
        let code = answer.code;
        let rpc = case.call.rpc();
        if transport_error(answer) {
            return Some(Kind::Connection);
        }
        if case.deadline.is_some() && matches!(code, Code::DeadlineExceeded | Code::Cancelled) {
            return None;
        }
        let faulty = match code {
            Code::Internal | Code::Unknown | Code::DataLoss => Some(Kind::ForbiddenCode),
            Code::Unimplemented if !self.unimplemented.contains(rpc) => Some(Kind::Unimplemented),
            Code::DeadlineExceeded | Code::Cancelled if !self.waits_by_request(case) => {
                Some(Kind::Hang)
            }
            _ => None,
        };
        match &case.expect {
            Expect::Valid => (code != Code::Ok).then_some(Kind::ValidRefused),
            Expect::Hostile | Expect::Cleanup => faulty,
            Expect::OneOf(codes) if codes.contains(&code) => None,
            Expect::OneOf(_) => Some(faulty.unwrap_or(Kind::WrongCode)),
        }
    }

    /// Whether the request itself asks for a wait longer than the fuzzer's limit.
    fn waits_by_request(&self, case: &Case) -> bool {
        let limit = self.cfg.call_limit.as_secs() as i64;
        match &case.call {
            Call::StopContainer(r) => r.timeout >= limit,
            Call::CheckpointContainer(r) => r.timeout >= limit,
            // ExecSync's own timeout: DeadlineExceeded is its documented answer when the
            // command outlives it (a `sleep 1` with timeout 1 races it).
            Call::ExecSync(r) => r.timeout > 0,
            _ => false,
        }
    }

    /// After a batch: berthd lives and answers, and no file escaped.
    async fn check(&mut self) {
        if let Some(pid) = self.cfg.pid
            && !host::alive(pid)
        {
            self.report.crashes.push(format!(
                "berthd (PID {pid}) is gone after request {}",
                self.generator.n
            ));
            self.dead = true;
            return;
        }
        let mut client = self.client.clone();
        let version = Call::Version(cri::VersionRequest::default())
            .send(&mut client, None, VERSION_LIMIT)
            .await;
        self.report.answer("Version", version.code);
        if version.code != Code::Ok {
            self.report.crashes.push(format!(
                "Version answered {:?} after request {}: {}",
                version.code, self.generator.n, version.message
            ));
            self.dead = true;
        }
        self.escapes();
    }

    fn escapes(&mut self) {
        for path in self.watch.new_escapes() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (rpc, label, request) = host::tag_of(&name)
                .and_then(|n| self.cases.get(&n).cloned())
                .unwrap_or_else(|| ("host".into(), "unknown request".into(), String::new()));
            self.report.violate(Violation {
                kind: Kind::Escape,
                rpc,
                code: None,
                label,
                detail: format!("created {}", path.display()),
                request,
            });
        }
    }

    async fn list(&mut self) -> (Vec<String>, Vec<String>) {
        let mut client = self.client.clone();
        let limit = self.cfg.call_limit;
        let pods = tokio::time::timeout(
            limit,
            client
                .runtime
                .list_pod_sandbox(cri::ListPodSandboxRequest::default()),
        )
        .await;
        let ctrs = tokio::time::timeout(
            limit,
            client
                .runtime
                .list_containers(cri::ListContainersRequest::default()),
        )
        .await;
        self.report.requests += 2;
        let pods = match pods {
            Ok(Ok(r)) => r.into_inner().items.into_iter().map(|p| p.id).collect(),
            _ => Vec::new(),
        };
        let ctrs = match ctrs {
            Ok(Ok(r)) => r
                .into_inner()
                .containers
                .into_iter()
                .map(|c| c.id)
                .collect(),
            _ => Vec::new(),
        };
        (pods, ctrs)
    }

    /// Removes every container and pod berthd lists.
    async fn sweep(&mut self) {
        let (pods, ctrs) = self.list().await;
        self.ids.extend(pods.iter().cloned());
        self.ids.extend(ctrs.iter().cloned());
        let cleanup = |call: Call| Case {
            n: 0,
            label: "cleanup".into(),
            call,
            expect: Expect::Cleanup,
            deadline: None,
        };
        let removals: Vec<Case> = ctrs
            .into_iter()
            .map(|container_id| {
                cleanup(Call::RemoveContainer(cri::RemoveContainerRequest {
                    container_id,
                }))
            })
            .collect();
        self.send_all(removals).await;
        let stops: Vec<Case> = pods
            .iter()
            .map(|id| {
                cleanup(Call::StopPodSandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: id.clone(),
                }))
            })
            .collect();
        self.send_all(stops).await;
        let removals: Vec<Case> = pods
            .into_iter()
            .map(|pod_sandbox_id| {
                cleanup(Call::RemovePodSandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id,
                }))
            })
            .collect();
        self.send_all(removals).await;
        self.live_pods = 0;
        self.live_containers = 0;
    }

    /// The final clean-up and the leftover checks.
    async fn finish(&mut self, base: &Baseline) {
        for _ in 0..3 {
            self.sweep().await;
            let (pods, ctrs) = self.list().await;
            if pods.is_empty() && ctrs.is_empty() {
                break;
            }
        }
        let (pods, ctrs) = self.list().await;
        for (what, id) in pods
            .iter()
            .map(|p| ("pod", p))
            .chain(ctrs.iter().map(|c| ("container", c)))
        {
            self.leftover(format!("{what} {id} still listed after removal"));
        }
        self.check().await;
        let deadline = Instant::now() + SETTLE;
        let left = loop {
            let left = self.places.leftovers(base, &self.ids);
            if left.is_empty() || Instant::now() > deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        for l in left {
            self.leftover(l);
        }
    }

    fn leftover(&mut self, detail: String) {
        self.report.violate(Violation {
            kind: Kind::Leftover,
            rpc: "host".into(),
            code: None,
            label: "after clean-up".into(),
            detail,
            request: String::new(),
        });
    }
}
