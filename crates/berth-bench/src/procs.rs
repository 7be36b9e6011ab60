//! Finding a runtime's processes: the daemon behind a socket, and helper processes by name.

use std::path::Path;

use regex::Regex;

/// Resident set size of `pid`, KiB (0 if gone).
pub fn rss_kib(pid: i32) -> u64 {
    field_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Proportional set size of `pid` (shared pages divided among their users), KiB (0 if gone).
pub fn pss_kib(pid: i32) -> u64 {
    field_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// Private pages of `pid` (`Private_Clean` and `Private_Dirty`), KiB (0 if gone).
pub fn private_kib(pid: i32) -> u64 {
    let rollup = format!("/proc/{pid}/smaps_rollup");
    field_kib(&rollup, "Private_Clean:") + field_kib(&rollup, "Private_Dirty:")
}

/// Anonymous resident memory of `pid` (heap, stacks: `RssAnon`), KiB (0 if gone).
pub fn anon_kib(pid: i32) -> u64 {
    field_kib(&format!("/proc/{pid}/status"), "RssAnon:")
}

/// Peak resident set size of `pid` since it started (`VmHWM`), KiB (0 if gone).
pub fn peak_rss_kib(pid: i32) -> u64 {
    field_kib(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// Open file descriptors of `pid` (0 if gone).
pub fn fds(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// CPU time `pid` has used (user and system), in clock ticks (0 if gone).
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(14) + field(15)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, from the auxiliary vector).
pub fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

fn field_kib(file: &str, name: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The process listening on the Unix socket `socket`: the inode from `/proc/net/unix`, then
/// the process holding a descriptor to it.
pub fn socket_owner(socket: &Path) -> Option<i32> {
    let path = socket.to_str()?.trim_start_matches("unix://");
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let inode = table.lines().find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        (fields.len() >= 8 && fields[7] == path).then(|| fields[6].to_owned())
    })?;
    let target = format!("socket:[{inode}]");
    pids().into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path())
                    .map(|l| l.to_string_lossy() == target)
                    .unwrap_or(false)
            })
    })
}

/// PIDs of processes whose command line matches `pattern`.
pub fn matching(pattern: &Regex) -> Vec<i32> {
    let me = std::process::id() as i32;
    pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|&pid| pattern.is_match(&cmdline(pid)))
        .collect()
}

/// The PID of berth's monitor of container or sandbox `id` (its command line names the ID).
pub fn berth_monitor(id: &str) -> Option<i32> {
    let pattern = Regex::new(&format!("berth-monitor --id {}", regex::escape(id))).ok()?;
    matching(&pattern).into_iter().next()
}

/// Summed memory of the processes matching a helper pattern, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelperMemory {
    /// Their resident set sizes added up: a page they share counts once per process.
    pub rss: u64,
    /// Their proportional set sizes added up: a shared page is divided among its users.
    pub pss: u64,
    /// Their private pages (clean and dirty) added up: what each one alone costs.
    pub private: u64,
}

/// The summed RSS, PSS and private memory of the processes matching `pattern`.
pub fn helpers_memory(pattern: &Regex) -> HelperMemory {
    matching(pattern)
        .into_iter()
        .fold(HelperMemory::default(), |m, p| HelperMemory {
            rss: m.rss + rss_kib(p),
            pss: m.pss + pss_kib(p),
            private: m.private + private_kib(p),
        })
}

/// The helper pattern for a runtime, from its CRI name.
pub fn default_helper_pattern(runtime_name: &str) -> &'static str {
    match runtime_name {
        "berth" => r"^\S*berth-(monitor|pause)\b",
        "containerd" => r"^\S*containerd-shim|^/pause\b|^sleep 2147483647",
        "cri-o" => r"^\S*conmon\b|^/pause\b",
        _ => r"^$",
    }
}
