//! Hostile values, by the kind of field they go into. Owns the rules that keep the fuzzer
//! from hurting the host: every path it sends names a file `berthfuzz<N>` (N the request's
//! number) so an escape is found by name and traced to its request; host paths are only
//! under the fuzzer's scratch dir; absolute log directories only under its log dir; host
//! ports are high and unused; sysctls it may set on the host carry the host's own value.

use std::path::PathBuf;

use crate::rng::Rng;

/// What every file name the fuzzer sends contains.
pub const MARKER: &str = "berthfuzz";

/// 1 MiB and one byte: the "huge".
pub const HUGE: usize = (1 << 20) + 1;

/// The node-side facts generation needs.
#[derive(Debug, Clone)]
pub struct Env {
    /// A pullable image, `host:port/busybox:latest`.
    pub image: String,
    /// The image's registry `host:port`.
    pub registry: String,
    /// Log directories go under here (an allowed dir).
    pub logs: PathBuf,
    /// Host paths of mounts go under here (an allowed dir).
    pub scratch: PathBuf,
    /// Whether pods may have their own network (CNI is configured).
    pub pod_network: bool,
    /// The host's `kernel.shm_rmid_forced`, sent unchanged where a pod lacks its own IPC
    /// namespace, so even a daemon that applies it to the host changes nothing.
    pub shm_rmid_forced: String,
    /// The host's `net.ipv4.ip_unprivileged_port_start`, likewise for the host network.
    pub unprivileged_port_start: String,
}

impl Env {
    /// Reads the host's sysctl values for the "sysctl for a namespace the pod lacks" cases.
    pub fn host_sysctls() -> (String, String) {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "0".into())
        };
        (
            read("/proc/sys/kernel/shm_rmid_forced"),
            read("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
        )
    }
}

/// Where a path goes: each kind has its own hostile values, all safe for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// `ContainerConfig.log_path` (relative to the pod's log directory).
    LogPath,
    /// `PodSandboxConfig.log_directory`.
    LogDirectory,
    /// `Mount.host_path`.
    HostPath,
    /// A path inside the container: mount target, working dir, masked path.
    InContainer,
    /// `Device.host_path`.
    DeviceHost,
    /// A file berth reads on the host (seccomp profile, checkpoint location).
    HostFile,
}

/// The objects the fuzzer knows of, to aim requests at real things.
#[derive(Debug, Default, Clone)]
pub struct Known {
    /// Pod IDs seen.
    pub pods: Vec<String>,
    /// Container IDs seen.
    pub containers: Vec<String>,
    /// Image references and IDs seen.
    pub images: Vec<String>,
}

/// A request generator's state: the RNG, the node facts, the known objects, and the number
/// of the request being built (it goes into every path).
pub struct Gen {
    /// The seeded RNG.
    pub rng: Rng,
    /// Node facts.
    pub env: Env,
    /// Known objects.
    pub known: Known,
    /// The number of the request being built.
    pub n: u64,
    /// The fields the current request's mutations touched, for its label.
    pub trail: Vec<String>,
}

impl Gen {
    /// A generator over `env` with `seed`.
    pub fn new(seed: u64, env: Env) -> Gen {
        Gen {
            rng: Rng::new(seed),
            env,
            known: Known::default(),
            n: 0,
            trail: Vec::new(),
        }
    }

    /// Records that a mutation touched `field`.
    pub fn touch(&mut self, field: &str) {
        self.trail.push(field.to_owned());
    }

    /// `berthfuzz<N>`: names a file so an escape leads back to its request.
    pub fn tag(&self) -> String {
        format!("{MARKER}{}", self.n)
    }

    /// A huge string (1 MiB+) of one repeated letter.
    pub fn huge(&mut self) -> String {
        let c = *self.rng.pick(&['a', 'x', '/', '.']);
        std::iter::repeat_n(c, HUGE).collect()
    }

    /// Some free text: short names, control characters, NUL, Unicode, format strings, the
    /// empty string, 300 characters, and rarely 1 MiB.
    pub fn text(&mut self) -> String {
        if self.rng.chance(1, 60) {
            return self.huge();
        }
        match self.rng.below(16) {
            0 => String::new(),
            1 => "a\0b".into(),
            2 => "..".into(),
            3 => "line\ninjected".into(),
            4 => "x".repeat(300),
            5 => "ü漢字🙂\u{202e}".into(),
            6 => "%s%n%x{}".into(),
            7 => " ".into(),
            8 => "-".into(),
            9 => "UPPER_case.Dots".into(),
            10 => "\r\n\t".into(),
            11 => "*".into(),
            12 => "a=b=c".into(),
            13 => format!("../../{}", self.tag()),
            _ => {
                let len = 1 + self.rng.below(40);
                (0..len)
                    .map(|_| (b' ' + self.rng.below(95) as u8) as char)
                    .collect()
            }
        }
    }

    /// A DNS-ish name: valid, too long, with newlines, with bad characters.
    pub fn name(&mut self) -> String {
        match self.rng.below(8) {
            0 => format!("ok-{}", self.n),
            1 => "x".repeat(300),
            2 => "a\nb".into(),
            3 => "-bad-".into(),
            4 => "UPPER".into(),
            5 => "a..b".into(),
            6 => "a\0b".into(),
            _ => self.text(),
        }
    }

    /// A hostile path for a field of `kind`.
    pub fn path(&mut self, kind: PathKind) -> String {
        let tag = self.tag();
        if self.rng.chance(1, 40) {
            return self.huge();
        }
        let common = match self.rng.below(6) {
            0 => Some(String::new()),
            1 => Some(format!("a\0{tag}")),
            2 => Some("..".into()),
            3 => Some(format!("{tag}-relative")),
            4 => Some(format!("./{tag}/../{tag}-dot")),
            _ => None,
        };
        if let Some(p) = common {
            return p;
        }
        let logs = self.env.logs.display().to_string();
        let scratch = self.env.scratch.display().to_string();
        match kind {
            PathKind::LogPath => self
                .rng
                .pick(&[
                    format!("{tag}.log"),
                    format!("sub/{tag}.log"),
                    format!("/etc/evil-{tag}.log"),
                    format!("/tmp/evil-{tag}.log"),
                    format!("/root/evil-{tag}.log"),
                    format!("/evil-{tag}.log"),
                    format!("../evil-{tag}.log"),
                    format!("../../../../../../etc/evil-{tag}.log"),
                    format!("{logs}/{tag}-abs.log"),
                    format!("{tag}\n.log"),
                    ".".into(),
                    "/".into(),
                ])
                .clone(),
            PathKind::LogDirectory => self
                .rng
                .pick(&[
                    format!("{logs}/{tag}"),
                    format!("{logs}/x/../{tag}-in"),
                    format!("{logs}/{}", "y".repeat(300)),
                    format!("{logs}/{tag}\n"),
                    format!("{tag}-rel-logs"),
                    format!("./{tag}-rel-logs"),
                ])
                .clone(),
            PathKind::HostPath => self
                .rng
                .pick(&[
                    format!("{scratch}/src"),
                    format!("{scratch}/{tag}-missing"),
                    format!("{scratch}/file"),
                    format!("{scratch}/link"),
                    format!("{tag}-rel-src"),
                    format!("{scratch}/{}", "z".repeat(300)),
                ])
                .clone(),
            PathKind::InContainer => self
                .rng
                .pick(&[
                    format!("/mnt/{tag}"),
                    format!("/../../../../../{tag}-up"),
                    format!("../../../../{tag}-up"),
                    format!("/proc/{tag}"),
                    "/proc".into(),
                    "/".into(),
                    "/dev/shm".into(),
                    format!("/etc/{tag}"),
                    "/tmp".into(),
                ])
                .clone(),
            PathKind::DeviceHost => self
                .rng
                .pick(&[
                    "/dev/null".into(),
                    "/dev/zero".into(),
                    format!("/dev/{tag}-missing"),
                    format!("{scratch}/file"),
                    format!("{tag}-rel-dev"),
                ])
                .clone(),
            PathKind::HostFile => self
                .rng
                .pick(&[
                    format!("{scratch}/profile.json"),
                    format!("{scratch}/garbage.json"),
                    format!("{scratch}/{tag}-missing.json"),
                    format!("{tag}-rel.json"),
                    "/proc/self/status".into(),
                ])
                .clone(),
        }
    }

    /// A boundary i64.
    pub fn int(&mut self) -> i64 {
        let random = (self.rng.next_u64() >> 1) as i64;
        *self.rng.pick(&[
            0,
            -1,
            1,
            2,
            -4096,
            i64::MIN,
            i64::MAX,
            1 << 62,
            -(1 << 62),
            4096,
            100_000,
            1_000_000_000,
            random,
        ])
    }

    /// A boundary i32 (ports, exit codes).
    pub fn int32(&mut self) -> i32 {
        *self
            .rng
            .pick(&[0, -1, 1, 80, 65535, 65536, i32::MAX, i32::MIN])
    }

    /// A boundary u32.
    pub fn uint32(&mut self) -> u32 {
        *self
            .rng
            .pick(&[0, 1, 65534, 65535, 65536, u32::MAX, u32::MAX - 1])
    }

    /// An enum number: the valid ones and unknown ones (9, 99, -1, extremes).
    pub fn enumeration(&mut self, valid: i32) -> i32 {
        if self.rng.chance(1, 2) {
            self.rng.below(valid as usize) as i32
        } else {
            *self.rng.pick(&[valid, 9, 99, -1, i32::MAX, i32::MIN])
        }
    }

    /// A seconds timeout: boundaries, mostly short so calls end.
    pub fn timeout(&mut self) -> i64 {
        *self
            .rng
            .pick(&[0, 0, 1, 2, -1, i64::MIN, i64::MAX, 1 << 40])
    }

    /// A host port that cannot steal a real service's traffic.
    pub fn host_port(&mut self) -> i32 {
        match self.rng.below(5) {
            0 => 0,
            1 => -1,
            2 => 65536,
            3 => i32::MAX,
            _ => 39_000 + self.rng.below(1000) as i32,
        }
    }

    /// A cpuset: valid, reversed, out of range, garbage.
    pub fn cpuset(&mut self) -> String {
        self.rng
            .pick(&[
                "0", "0-1", "abc", "1-0", "0-99999", ",", "-1", "0,,1", "", "0-", "99999",
            ])
            .to_string()
    }

    /// A sysctl name and value.
    pub fn sysctl(&mut self) -> (String, String) {
        let host_ipc = ("kernel.shm_rmid_forced", self.env.shm_rmid_forced.clone());
        let host_net = (
            "net.ipv4.ip_unprivileged_port_start",
            self.env.unprivileged_port_start.clone(),
        );
        let (k, v) = self
            .rng
            .pick(&[
                host_ipc,
                host_net,
                ("kernel.msgmax", "abc".to_owned()),
                ("berthfuzz.nope", "1".to_owned()),
                ("kernel.shm_rmid_forced", "1\n2".to_owned()),
                ("../../../../tmp/berthfuzz", "1".to_owned()),
                ("", String::new()),
                ("kernel/shm_rmid_forced", "1".to_owned()),
            ])
            .clone();
        (k.to_owned(), v)
    }

    /// An ID aimed at something: a real pod or container, another kind's ID, a prefix, an
    /// unknown one, or garbage.
    pub fn id(&mut self, want_pod: bool) -> String {
        let (mine, theirs) = if want_pod {
            (&self.known.pods, &self.known.containers)
        } else {
            (&self.known.containers, &self.known.pods)
        };
        let mine = (!mine.is_empty()).then(|| self.rng.pick(mine).clone());
        let theirs = (!theirs.is_empty()).then(|| self.rng.pick(theirs).clone());
        match self.rng.below(12) {
            0..=3 if mine.is_some() => mine.unwrap(),
            4 if mine.is_some() => mine.unwrap().chars().take(12).collect(),
            5 if mine.is_some() => mine.unwrap().chars().take(1).collect(),
            6 if theirs.is_some() => theirs.unwrap(),
            7 if mine.is_some() => mine.unwrap().to_uppercase(),
            8 => format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64()).repeat(2),
            9 => String::new(),
            _ => self.text(),
        }
    }

    /// An image reference: the real one, missing ones in the real registry, bad registries,
    /// and malformed ones. Never a name that would reach a registry on the internet.
    pub fn image(&mut self) -> String {
        let reg = self.env.registry.clone();
        let tag = self.tag();
        match self.rng.below(14) {
            0..=2 => self.env.image.clone(),
            3 => format!("{reg}/{tag}-missing:latest"),
            4 => format!("{reg}/busybox@sha256:{}", "0".repeat(64)),
            5 => "localhost:99999/busybox:latest".into(),
            6 => "localhost:1/busybox:latest".into(),
            7 => format!("{reg}/busybox:"),
            8 => format!("{reg}/../{tag}:latest"),
            9 => format!("{reg}/UPPER/Case:latest"),
            10 => format!("{reg}/busybox:latest\0"),
            11 => String::new(),
            _ => format!("{reg}/busybox@sha256:abc"),
        }
    }

    /// A reference for lookups only (never pulled): anything [`Gen::image`] gives, or text.
    pub fn image_lookup(&mut self) -> String {
        if self.rng.chance(1, 4) {
            self.text()
        } else if self.rng.chance(1, 4) && !self.known.images.is_empty() {
            self.rng.pick(&self.known.images).clone()
        } else {
            self.image()
        }
    }

    /// A short command a container may run: nothing here writes or kills on the host even
    /// in a privileged container with the host's namespaces.
    pub fn command(&mut self) -> Vec<String> {
        let v: &[&str] = match self.rng.below(9) {
            0 => &["true"],
            1 => &["sleep", "1"],
            2 => &["sh", "-c", "exit 3"],
            3 => &[],
            4 => &[""],
            5 => &["/berthfuzz-nonexistent"],
            6 => &["echo", "a\0b"],
            7 => &["sleep", "0.2"],
            _ => &["echo", "hello"],
        };
        v.iter().map(|s| s.to_string()).collect()
    }
}
