//! A container's resource usage read from its cgroup, on cgroup v1 and v2 alike, with the
//! meanings cAdvisor gives them (the kubelet's eviction and `kubectl top` read them so):
//!
//! - CPU: total time used, in nanoseconds (v2 `cpu.stat` `usage_usec`, v1 `cpuacct.usage`).
//! - Memory: usage (v2 `memory.current`, v1 `memory.usage_in_bytes`); the working set, usage
//!   less inactive file pages (what the kernel cannot drop at once; what eviction compares
//!   with the limit); RSS (anonymous memory: v2 `anon`, v1 `total_rss`); page faults and
//!   major page faults; the limit when there is one; swap used and its limit.
//! - Processes (v2 and v1 `pids.current`).
//! - Pressure stall totals (v2 `cpu.pressure`, `memory.pressure`, `io.pressure`, where the
//!   kernel has PSI).
//!
//! The parsers take the files' text, so they are tested on real-format files; `read` reads
//! the files of a cgroup. A file that is missing (a controller not enabled) leaves its
//! figure out rather than failing the whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a process's cgroups are on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupDirs {
    /// cgroup v2: one directory for every controller.
    Unified(PathBuf),
    /// cgroup v1: a directory per controller, where that controller is mounted.
    Legacy {
        /// The `cpuacct` controller's directory.
        cpuacct: Option<PathBuf>,
        /// The `memory` controller's directory.
        memory: Option<PathBuf>,
        /// The `pids` controller's directory.
        pids: Option<PathBuf>,
    },
}

impl CgroupDirs {
    /// The directories `/proc/<pid>/cgroup` text names, on a `unified` (v2) node or not.
    /// v1 controllers are found at `/sys/fs/cgroup/<controller>`, where systemd mounts or
    /// links them (`cpuacct` → `cpu,cpuacct` on a joint mount).
    pub fn parse(proc_cgroup: &str, unified: bool) -> Option<Self> {
        let mut lines = proc_cgroup.lines().filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers, path))
        });
        if unified {
            let (_, path) = lines.find(|(controllers, _)| controllers.is_empty())?;
            return Some(Self::Unified(PathBuf::from(format!(
                "/sys/fs/cgroup{path}"
            ))));
        }
        let (mut cpuacct, mut memory, mut pids) = (None, None, None);
        for (controllers, path) in lines {
            for controller in controllers.split(',') {
                let slot = match controller {
                    "cpuacct" => &mut cpuacct,
                    "memory" => &mut memory,
                    "pids" => &mut pids,
                    _ => continue,
                };
                *slot = Some(PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}")));
            }
        }
        Some(Self::Legacy {
            cpuacct,
            memory,
            pids,
        })
    }

    /// The cgroups of process `pid` now; `None` when it is gone.
    pub fn of_pid(pid: i32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Self::parse(
            &text,
            Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        )
    }

    /// The cgroup at `relative` (to each hierarchy's root) on a `unified` (v2) node or not,
    /// where `parse` would find it.
    pub fn at(relative: &Path, unified: bool) -> Self {
        let under = |root: &str| Path::new(root).join(relative);
        if unified {
            return Self::Unified(under("/sys/fs/cgroup"));
        }
        Self::Legacy {
            cpuacct: Some(under("/sys/fs/cgroup/cpuacct")),
            memory: Some(under("/sys/fs/cgroup/memory")),
            pids: Some(under("/sys/fs/cgroup/pids")),
        }
    }

    /// The cgroups that hold a pod's processes: the pod's own cgroup when it has one (`own`:
    /// its path relative to the hierarchies' roots, see `sandbox::pod_cgroup_path`), else
    /// its infra's (`infra_pid`, 0 in a pod without one) and its running containers'
    /// (`containers`: their init processes), whose usage is summed. Empty when the pod's
    /// infra process is gone.
    pub fn of_pod(infra_pid: i32, own: Option<&Path>, containers: &[i32]) -> Vec<Self> {
        let infra = Self::of_pid(infra_pid).filter(|_| infra_pid > 0);
        if infra_pid > 0 && infra.is_none() {
            return Vec::new();
        }
        if let Some(relative) = own {
            return vec![Self::at(relative, unified_hierarchy())];
        }
        let others = containers.iter().filter_map(|&pid| Self::of_pid(pid));
        infra.into_iter().chain(others).collect()
    }

    /// What `cgroups` say together: one cgroup's reading as it is, several summed (see
    /// `Usage::sum`); nothing without a cgroup.
    pub fn read_all(cgroups: &[Self]) -> Usage {
        match cgroups {
            [one] => one.read(),
            many => Usage::sum(many.iter().map(Self::read)),
        }
    }

    /// CPU time used, nanoseconds (the one figure a stats call reads live).
    pub fn cpu_ns(&self) -> Option<u64> {
        let text = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        match self {
            Self::Unified(dir) => text(dir, "cpu.stat").as_deref().and_then(v2_cpu_ns),
            Self::Legacy { cpuacct, .. } => cpuacct
                .as_deref()
                .and_then(|dir| text(dir, "cpuacct.usage"))
                .as_deref()
                .and_then(number),
        }
    }

    /// What the cgroups' files say now.
    pub fn read(&self) -> Usage {
        let text = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        match self {
            Self::Unified(dir) => {
                let file = |name: &str| text(dir, name);
                Usage {
                    cpu_ns: self.cpu_ns(),
                    memory: v2_memory(&V2MemoryFiles {
                        current: file("memory.current"),
                        stat: file("memory.stat"),
                        max: file("memory.max"),
                        swap_current: file("memory.swap.current"),
                        swap_max: file("memory.swap.max"),
                    }),
                    pids: file("pids.current").as_deref().and_then(number),
                    pressure: Some(Pressure {
                        cpu: file("cpu.pressure").as_deref().and_then(stall),
                        memory: file("memory.pressure").as_deref().and_then(stall),
                        io: file("io.pressure").as_deref().and_then(stall),
                    })
                    .filter(|p| p.cpu.is_some() || p.memory.is_some() || p.io.is_some()),
                }
            }
            Self::Legacy { memory, pids, .. } => {
                let memory = memory.as_deref().and_then(|dir| {
                    let file = |name: &str| text(dir, name);
                    v1_memory(&V1MemoryFiles {
                        usage: file("memory.usage_in_bytes"),
                        stat: file("memory.stat"),
                        limit: file("memory.limit_in_bytes"),
                        memsw_usage: file("memory.memsw.usage_in_bytes"),
                        memsw_limit: file("memory.memsw.limit_in_bytes"),
                    })
                });
                Usage {
                    cpu_ns: self.cpu_ns(),
                    memory,
                    pids: pids
                        .as_deref()
                        .and_then(|dir| text(dir, "pids.current"))
                        .as_deref()
                        .and_then(number),
                    pressure: None,
                }
            }
        }
    }
}

/// A cgroup's usage at one moment; a figure its files did not give is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Memory.
    pub memory: Option<Memory>,
    /// Processes (and threads) in it.
    pub pids: Option<u64>,
    /// Pressure stall information: cgroup v2 on a kernel with PSI.
    pub pressure: Option<Pressure>,
}

/// How long a cgroup's tasks were stalled for each resource (cgroup v2 `*.pressure`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Waiting for CPU.
    pub cpu: Option<Stall>,
    /// Waiting for memory (reclaim, refaults, swap-in).
    pub memory: Option<Stall>,
    /// Waiting for I/O.
    pub io: Option<Stall>,
}

/// Stall time of one resource, microseconds since the cgroup was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stall {
    /// Some of its tasks were stalled (`some total=`).
    pub some_us: u64,
    /// All of its non-idle tasks were stalled at once (`full total=`; 0 where the kernel
    /// does not say, as for CPU before Linux 5.13).
    pub full_us: u64,
}

impl Usage {
    /// The usage of several cgroups together (a pod without a cgroup of its own: its infra's
    /// and its containers'): counts add up, a figure none of them gave stays out, and the
    /// sum has no limit.
    pub fn sum(usages: impl IntoIterator<Item = Usage>) -> Usage {
        fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        usages.into_iter().fold(Usage::default(), |total, u| Usage {
            cpu_ns: add(total.cpu_ns, u.cpu_ns),
            pids: add(total.pids, u.pids),
            // Stall times of separate cgroups do not add up to the group's.
            pressure: None,
            memory: match (total.memory, u.memory) {
                (Some(a), Some(b)) => Some(Memory {
                    usage: a.usage + b.usage,
                    working_set: a.working_set + b.working_set,
                    rss: a.rss + b.rss,
                    page_faults: a.page_faults + b.page_faults,
                    major_page_faults: a.major_page_faults + b.major_page_faults,
                    limit: None,
                    swap_usage: add(a.swap_usage, b.swap_usage),
                    swap_limit: None,
                }),
                (a, b) => a.or(b).map(|m| Memory {
                    limit: None,
                    swap_limit: None,
                    ..m
                }),
            },
        })
    }
}

/// A cgroup's memory, bytes unless said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// All memory charged to it, page cache included.
    pub usage: u64,
    /// Usage less inactive file pages.
    pub working_set: u64,
    /// Anonymous memory (and swap cache).
    pub rss: u64,
    /// Page faults, a count.
    pub page_faults: u64,
    /// Major page faults (those that read from disk), a count.
    pub major_page_faults: u64,
    /// Its memory limit, when it has one.
    pub limit: Option<u64>,
    /// Swap used, where the node accounts it.
    pub swap_usage: Option<u64>,
    /// Its swap limit, when it has one.
    pub swap_limit: Option<u64>,
}

impl Memory {
    /// What is left before the limit: the limit less the working set (as cAdvisor).
    pub fn available(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.working_set))
    }

    /// Swap left before its limit.
    pub fn swap_available(&self) -> Option<u64> {
        Some(
            self.swap_limit?
                .saturating_sub(self.swap_usage.unwrap_or(0)),
        )
    }
}

/// The text of a cgroup v2 memory controller's files (`None`: missing).
struct V2MemoryFiles {
    current: Option<String>,
    stat: Option<String>,
    max: Option<String>,
    swap_current: Option<String>,
    swap_max: Option<String>,
}

/// The text of a cgroup v1 memory controller's files (`None`: missing).
struct V1MemoryFiles {
    usage: Option<String>,
    stat: Option<String>,
    limit: Option<String>,
    memsw_usage: Option<String>,
    memsw_limit: Option<String>,
}

fn v2_memory(files: &V2MemoryFiles) -> Option<Memory> {
    let usage = number(files.current.as_deref()?)?;
    let stat = keyed(files.stat.as_deref().unwrap_or_default());
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    Some(Memory {
        usage,
        working_set: usage.saturating_sub(get("inactive_file")),
        rss: get("anon"),
        page_faults: get("pgfault"),
        major_page_faults: get("pgmajfault"),
        limit: files.max.as_deref().and_then(limit),
        swap_usage: files.swap_current.as_deref().and_then(number),
        swap_limit: files.swap_max.as_deref().and_then(limit),
    })
}

fn v1_memory(files: &V1MemoryFiles) -> Option<Memory> {
    let usage = number(files.usage.as_deref()?)?;
    let stat = keyed(files.stat.as_deref().unwrap_or_default());
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    let limit = files.limit.as_deref().and_then(limit);
    // memsw counts memory and swap together: swap is the difference.
    let swap_usage = files
        .memsw_usage
        .as_deref()
        .and_then(number)
        .map(|both| both.saturating_sub(usage));
    let swap_limit = match (files.memsw_limit.as_deref().and_then(self::limit), limit) {
        (Some(both), Some(memory)) => Some(both.saturating_sub(memory)),
        _ => None,
    };
    Some(Memory {
        usage,
        working_set: usage.saturating_sub(get("total_inactive_file")),
        rss: get("total_rss"),
        page_faults: get("total_pgfault"),
        major_page_faults: get("total_pgmajfault"),
        limit,
        swap_usage,
        swap_limit,
    })
}

/// CPU time in nanoseconds from a cgroup v2 `cpu.stat`.
fn v2_cpu_ns(cpu_stat: &str) -> Option<u64> {
    keyed(cpu_stat).get("usage_usec").map(|us| us * 1000)
}

/// A `*.pressure` file's stall totals.
fn stall(text: &str) -> Option<Stall> {
    let total = |kind: &str| {
        text.lines()
            .find(|line| line.starts_with(kind))?
            .split_whitespace()
            .find_map(|field| field.strip_prefix("total="))?
            .parse()
            .ok()
    };
    Some(Stall {
        some_us: total("some ")?,
        full_us: total("full ").unwrap_or(0),
    })
}

/// A file holding one number.
fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A limit: `max` (v2) or a value near `i64::MAX` (v1's "unlimited", rounded down to a page)
/// is no limit.
fn limit(text: &str) -> Option<u64> {
    number(text).filter(|&v| v < 1 << 62)
}

/// A flat keyed file (`key value` per line): `memory.stat`, `cpu.stat`.
fn keyed(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key, value.trim().parse().ok()?))
        })
        .collect()
}

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
fn unified_hierarchy() -> bool {
    /// `CGROUP2_SUPER_MAGIC` from linux/magic.h.
    const CGROUP2: u64 = 0x6367_7270;
    rustix::fs::statfs("/sys/fs/cgroup").is_ok_and(|s| s.f_type as u64 == CGROUP2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts of a container's `memory.stat` on cgroup v2 (Linux 6.1).
    const V2_STAT: &str = "anon 4943872\nfile 20480000\nkernel 569344\nkernel_stack 49152\n\
        pagetables 98304\nsock 0\nshmem 0\nfile_mapped 1216512\nfile_dirty 0\n\
        inactive_anon 4915200\nactive_anon 28672\ninactive_file 14336000\n\
        active_file 6144000\nunevictable 0\npgfault 7321\npgmajfault 12\n";

    /// Parts of a container's `memory.stat` on cgroup v1 (its own and the `total_` lines).
    const V1_STAT: &str = "cache 20480000\nrss 4943872\nrss_huge 0\nshmem 0\n\
        pgfault 100\npgmajfault 1\ninactive_anon 0\ninactive_file 99\n\
        hierarchical_memory_limit 67108864\ntotal_cache 20480000\ntotal_rss 4943872\n\
        total_pgfault 7321\ntotal_pgmajfault 12\ntotal_inactive_anon 4915200\n\
        total_inactive_file 14336000\ntotal_active_file 6144000\n";

    #[test]
    fn the_cgroups_of_a_process_are_found_on_either_version() {
        let v2 = "0::/kubepods.slice/kubepods-pod1.slice/berth-c.scope\n";
        assert_eq!(
            CgroupDirs::parse(v2, true),
            Some(CgroupDirs::Unified(PathBuf::from(
                "/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/berth-c.scope"
            )))
        );
        // A hybrid node's v1 lines, with cpu and cpuacct mounted together.
        let v1 = "12:pids:/berth/c\n9:memory:/berth/c\n4:cpu,cpuacct:/berth/c\n\
                  1:name=systemd:/x\n0::/x\n";
        assert_eq!(
            CgroupDirs::parse(v1, false),
            Some(CgroupDirs::Legacy {
                cpuacct: Some(PathBuf::from("/sys/fs/cgroup/cpuacct/berth/c")),
                memory: Some(PathBuf::from("/sys/fs/cgroup/memory/berth/c")),
                pids: Some(PathBuf::from("/sys/fs/cgroup/pids/berth/c")),
            })
        );
        assert_eq!(CgroupDirs::parse("9:memory:/berth/c\n", true), None);
    }

    #[test]
    fn v2_memory_is_read_as_cadvisor_reads_it() {
        let memory = v2_memory(&V2MemoryFiles {
            current: Some("26112000\n".into()),
            stat: Some(V2_STAT.into()),
            max: Some("67108864\n".into()),
            swap_current: Some("0\n".into()),
            swap_max: Some("max\n".into()),
        })
        .unwrap();
        assert_eq!(memory.usage, 26_112_000);
        assert_eq!(memory.working_set, 26_112_000 - 14_336_000);
        assert_eq!(memory.rss, 4_943_872);
        assert_eq!((memory.page_faults, memory.major_page_faults), (7321, 12));
        assert_eq!(memory.limit, Some(67_108_864));
        assert_eq!(memory.available(), Some(67_108_864 - 11_776_000));
        assert_eq!(memory.swap_usage, Some(0));
        assert_eq!((memory.swap_limit, memory.swap_available()), (None, None));

        let unlimited = v2_memory(&V2MemoryFiles {
            current: Some("100\n".into()),
            stat: None,
            max: Some("max\n".into()),
            swap_current: None,
            swap_max: None,
        })
        .unwrap();
        assert_eq!((unlimited.limit, unlimited.available()), (None, None));
        assert_eq!(unlimited.working_set, 100);
        assert!(
            v2_memory(&V2MemoryFiles {
                current: None,
                stat: Some(V2_STAT.into()),
                max: None,
                swap_current: None,
                swap_max: None,
            })
            .is_none(),
            "no memory.current, no memory figures"
        );
    }

    #[test]
    fn v1_memory_uses_the_hierarchical_totals_and_memsw_for_swap() {
        let memory = v1_memory(&V1MemoryFiles {
            usage: Some("26112000\n".into()),
            stat: Some(V1_STAT.into()),
            limit: Some("67108864\n".into()),
            memsw_usage: Some("26116096\n".into()),
            memsw_limit: Some("134217728\n".into()),
        })
        .unwrap();
        assert_eq!(memory.working_set, 26_112_000 - 14_336_000);
        assert_eq!(memory.rss, 4_943_872);
        assert_eq!((memory.page_faults, memory.major_page_faults), (7321, 12));
        assert_eq!(memory.limit, Some(67_108_864));
        assert_eq!(memory.swap_usage, Some(4096));
        assert_eq!(memory.swap_limit, Some(67_108_864));
        assert_eq!(memory.swap_available(), Some(67_108_864 - 4096));

        // v1's "unlimited" is i64::MAX rounded down to a page.
        let unlimited = v1_memory(&V1MemoryFiles {
            usage: Some("4096\n".into()),
            stat: Some(V1_STAT.into()),
            limit: Some("9223372036854771712\n".into()),
            memsw_usage: None,
            memsw_limit: None,
        })
        .unwrap();
        assert_eq!((unlimited.limit, unlimited.swap_limit), (None, None));
        assert_eq!(unlimited.working_set, 0, "never below zero");
    }

    #[test]
    fn cpu_time_is_read_in_nanoseconds_on_either_version() {
        let cpu_stat = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n\
                        nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n";
        assert_eq!(v2_cpu_ns(cpu_stat), Some(1_234_567_000));
        assert_eq!(v2_cpu_ns("nr_periods 0\n"), None);
        assert_eq!(number("987654321\n"), Some(987_654_321));
    }

    #[test]
    fn this_process_has_cgroups_whose_files_read() {
        let dirs = CgroupDirs::of_pid(std::process::id() as i32).expect("own cgroups");
        let usage = dirs.read();
        // Whatever the node, a process's memory controller counts something.
        if let Some(memory) = usage.memory {
            assert!(memory.usage > 0, "{usage:?}");
        }
    }

    #[test]
    fn a_pods_cgroup_is_found_where_parse_would_find_it() {
        let pod = Path::new("k.slice/k-pod1.slice");
        assert_eq!(
            CgroupDirs::at(pod, true),
            CgroupDirs::parse("0::/k.slice/k-pod1.slice\n", true).unwrap()
        );
        let v1 = "12:pids:/kubepods/pod1\n9:memory:/kubepods/pod1\n4:cpu,cpuacct:/kubepods/pod1\n";
        assert_eq!(
            CgroupDirs::at(Path::new("kubepods/pod1"), false),
            CgroupDirs::parse(v1, false).unwrap()
        );
    }

    #[test]
    fn stall_totals_are_read_from_pressure_files() {
        let memory = "some avg10=0.00 avg60=0.12 avg300=0.05 total=41234\n\
                      full avg10=0.00 avg60=0.02 avg300=0.01 total=9876\n";
        assert_eq!(
            stall(memory),
            Some(Stall {
                some_us: 41234,
                full_us: 9876
            })
        );
        // CPU before Linux 5.13 says only `some`.
        let cpu = "some avg10=1.50 avg60=0.40 avg300=0.10 total=777\n";
        assert_eq!(
            stall(cpu),
            Some(Stall {
                some_us: 777,
                full_us: 0
            })
        );
        assert_eq!(stall(""), None);
    }

    #[test]
    fn usages_add_up_without_a_limit() {
        let memory = |usage, limit| Memory {
            usage,
            working_set: usage / 2,
            rss: 1,
            page_faults: 10,
            major_page_faults: 1,
            limit,
            swap_usage: None,
            swap_limit: limit,
        };
        let total = Usage::sum([
            Usage {
                cpu_ns: Some(5),
                memory: Some(memory(100, Some(1000))),
                pids: Some(1),
                pressure: Some(Pressure::default()),
            },
            Usage {
                cpu_ns: None,
                memory: Some(memory(300, None)),
                pids: Some(2),
                pressure: None,
            },
            Usage::default(),
        ]);
        assert_eq!(total.cpu_ns, Some(5));
        assert_eq!(total.pids, Some(3));
        let m = total.memory.unwrap();
        assert_eq!(
            (m.usage, m.working_set, m.rss, m.page_faults),
            (400, 200, 2, 20)
        );
        assert_eq!((m.limit, m.swap_limit, m.swap_usage), (None, None, None));
        assert_eq!(total.pressure, None);
        assert_eq!(Usage::sum([]), Usage::default());
    }
}
