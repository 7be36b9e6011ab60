//! `LinuxContainerResources` within the bounds the kernel and runc accept, so that a bad
//! number is the client's InvalidArgument, not runc's failure.

/// The CFS bandwidth bounds of `kernel/sched/core.c`: a period of 1 ms to 1 s, a quota of at
/// least 1 ms and at most `MAX_BW` (2^44 - 1 µs); all in µs.
const CFS_PERIOD_MIN: i64 = 1_000;
/// See [`CFS_PERIOD_MIN`].
const CFS_PERIOD_MAX: i64 = 1_000_000;
/// See [`CFS_PERIOD_MIN`].
const CFS_QUOTA_MIN: i64 = 1_000;
/// See [`CFS_PERIOD_MIN`].
const CFS_QUOTA_MAX: i64 = (1 << 44) - 1;
/// cgroup v1 `cpu.shares` bounds (`MIN_SHARES`, `MAX_SHARES` of the scheduler).
const SHARES_MIN: i64 = 2;
/// See [`SHARES_MIN`].
const SHARES_MAX: i64 = 1 << 18;
/// `OOM_SCORE_ADJ_MIN` and `OOM_SCORE_ADJ_MAX`.
const OOM_SCORE_ADJ: std::ops::RangeInclusive<i64> = -1000..=1000;

/// Why a resource setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceRefusal {
    /// A CFS period outside the kernel's bounds.
    #[error("must be 0 (unset) or {min}..={max} µs (the kernel's CFS period bounds)")]
    CpuPeriod {
        /// The shortest period, µs.
        min: i64,
        /// The longest period, µs.
        max: i64,
    },
    /// A CFS quota outside the kernel's bounds.
    #[error(
        "must be 0 (unset), -1 (unlimited) or {min}..={max} µs (the kernel's CFS quota bounds)"
    )]
    CpuQuota {
        /// The smallest quota, µs.
        min: i64,
        /// The largest quota, µs.
        max: i64,
    },
    /// CPU shares outside the kernel's bounds.
    #[error("must be 0 (unset) or {min}..={max} (the kernel's cpu.shares bounds)")]
    CpuShares {
        /// The fewest shares.
        min: i64,
        /// The most shares.
        max: i64,
    },
    /// A negative memory limit.
    #[error("must be 0 (unlimited) or a positive number of bytes")]
    NegativeMemory,
    /// An `oom_score_adj` outside the kernel's bounds.
    #[error("must be {min}..={max} (the kernel's oom_score_adj bounds)")]
    OomScoreAdj {
        /// The lowest adjustment.
        min: i64,
        /// The highest adjustment.
        max: i64,
    },
    /// A cpuset list item that is neither a number nor an ascending range.
    #[error("{item:?} is not a number or a range a-b with a <= b (e.g. \"0-3,5\")")]
    Cpuset {
        /// The item refused (between commas).
        item: String,
    },
    /// A hugepage size not spelled as the hugetlb controller names sizes.
    #[error("is not a hugepage size such as \"2MB\" or \"1GB\"")]
    HugepageSpelling,
    /// A hugepage size the node does not offer.
    #[error("is not a hugepage size this node has (it has: {})", kib_list(.node_kib))]
    HugepageAbsent {
        /// The sizes the node offers, KiB, smallest first.
        node_kib: Vec<u64>,
    },
    /// A hugepage limit beyond the OCI spec's `int64`.
    #[error("must be at most {max} bytes")]
    HugepageLimit {
        /// The largest limit, bytes.
        max: i64,
    },
    /// A swap limit that is neither unset, unlimited, nor at least the memory limit.
    #[error(
        "must be 0 (unset), -1 (unlimited) or at least memory_limit_in_bytes ({memory}): it is memory plus swap"
    )]
    Swap {
        /// The memory limit, bytes (0: none).
        memory: i64,
    },
    /// A swap limit without a memory limit to add it to.
    #[error("needs memory_limit_in_bytes: a swap limit is memory plus swap")]
    SwapWithoutMemory,
    /// A `unified` key that is not a cgroup v2 controller file.
    #[error(
        "is not a cgroup v2 controller file such as \"memory.high\" or \"pids.max\" (a controller of a-z and '_', a dot, a name of letters, digits, '_' and '.'; cgroup.* files are the runtime's)"
    )]
    UnifiedKey,
    /// A `unified` value that is empty or spans lines.
    #[error("must be one non-empty line")]
    UnifiedValue,
    /// `unified` on a node without cgroup v2.
    #[error(
        "needs a cgroup v2 node; this node has cgroup v1 (set its limits with the other fields)"
    )]
    UnifiedOnV1,
    /// Device permissions other than some of `r`, `w`, `m`.
    #[error("must be made of 'r', 'w' and 'm'")]
    DevicePermissions,
}

/// Hugepage sizes as the kernel names them (`2048kB, 1048576kB`), or `none`.
fn kib_list(sizes: &[u64]) -> String {
    if sizes.is_empty() {
        return "none".to_owned();
    }
    let named: Vec<String> = sizes.iter().map(|k| format!("{k}kB")).collect();
    named.join(", ")
}

/// CFS period in µs: 0 (unset) or 1000..=1000000.
pub fn cpu_period(v: i64) -> Result<(), ResourceRefusal> {
    if v == 0 || (CFS_PERIOD_MIN..=CFS_PERIOD_MAX).contains(&v) {
        Ok(())
    } else {
        Err(ResourceRefusal::CpuPeriod {
            min: CFS_PERIOD_MIN,
            max: CFS_PERIOD_MAX,
        })
    }
}

/// CFS quota in µs: 0 (unset), -1 (unlimited) or 1000..=2^44-1.
pub fn cpu_quota(v: i64) -> Result<(), ResourceRefusal> {
    if v == 0 || v == -1 || (CFS_QUOTA_MIN..=CFS_QUOTA_MAX).contains(&v) {
        Ok(())
    } else {
        Err(ResourceRefusal::CpuQuota {
            min: CFS_QUOTA_MIN,
            max: CFS_QUOTA_MAX,
        })
    }
}

/// CPU shares: 0 (unset) or 2..=262144.
pub fn cpu_shares(v: i64) -> Result<(), ResourceRefusal> {
    if v == 0 || (SHARES_MIN..=SHARES_MAX).contains(&v) {
        Ok(())
    } else {
        Err(ResourceRefusal::CpuShares {
            min: SHARES_MIN,
            max: SHARES_MAX,
        })
    }
}

/// Swap limit (memory plus swap) in bytes, with the memory limit it adds to: 0 (unset), -1
/// (unlimited), or at least a memory limit that is set.
pub fn memory_swap(swap: i64, memory: i64) -> Result<(), ResourceRefusal> {
    match swap {
        0 | -1 => Ok(()),
        _ if memory <= 0 => Err(ResourceRefusal::SwapWithoutMemory),
        _ if swap >= memory => Ok(()),
        _ => Err(ResourceRefusal::Swap { memory }),
    }
}

/// A `unified` key: a cgroup v2 controller's file (`memory.high`), on a cgroup v2 node
/// (`v2`). `cgroup.*` files move processes or reshape the tree: the runtime's, not a
/// request's.
pub fn unified_key(key: &str, v2: bool) -> Result<(), ResourceRefusal> {
    let well_formed = key.split_once('.').is_some_and(|(controller, file)| {
        !controller.is_empty()
            && !file.is_empty()
            && controller != "cgroup"
            && controller
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
            && file
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    });
    if !well_formed {
        Err(ResourceRefusal::UnifiedKey)
    } else if !v2 {
        Err(ResourceRefusal::UnifiedOnV1)
    } else {
        Ok(())
    }
}

/// A `unified` value: one non-empty line.
pub fn unified_value(value: &str) -> Result<(), ResourceRefusal> {
    if value.trim().is_empty() || value.contains(['\n', '\r', '\0']) {
        Err(ResourceRefusal::UnifiedValue)
    } else {
        Ok(())
    }
}

/// Memory limit in bytes: 0 (unlimited) or more.
pub fn memory_limit(v: i64) -> Result<(), ResourceRefusal> {
    if v >= 0 {
        Ok(())
    } else {
        Err(ResourceRefusal::NegativeMemory)
    }
}

/// `oom_score_adj`: -1000..=1000.
pub fn oom_score_adj(v: i64) -> Result<(), ResourceRefusal> {
    if OOM_SCORE_ADJ.contains(&v) {
        Ok(())
    } else {
        Err(ResourceRefusal::OomScoreAdj {
            min: *OOM_SCORE_ADJ.start(),
            max: *OOM_SCORE_ADJ.end(),
        })
    }
}

/// A cpuset list as the kubelet writes it: empty, or comma-separated numbers and ranges
/// `a-b` with `a <= b` (`0-3,5`).
pub fn cpuset(list: &str) -> Result<(), ResourceRefusal> {
    if list.is_empty() {
        return Ok(());
    }
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    for item in list.split(',') {
        let ok = match item.split_once('-') {
            Some((a, b)) => matches!((number(a), number(b)), (Some(a), Some(b)) if a <= b),
            None => number(item).is_some(),
        };
        if !ok {
            return Err(ResourceRefusal::Cpuset {
                item: item.to_owned(),
            });
        }
    }
    Ok(())
}

/// A hugepage size as the hugetlb controller names it (a number and `KB`, `MB` or `GB`:
/// `2MB`, `1GB`) that this node offers: the runtime cannot set a limit for another size.
pub fn hugepage_size(size: &str) -> Result<(), ResourceRefusal> {
    let kib = hugepage_kib(size)?;
    let node_kib = node_hugepage_sizes_kib();
    if node_kib.contains(&kib) {
        Ok(())
    } else {
        Err(ResourceRefusal::HugepageAbsent { node_kib })
    }
}

/// A hugepage size's KiB, when it is spelled as the hugetlb controller names sizes.
fn hugepage_kib(size: &str) -> Result<u64, ResourceRefusal> {
    let digits = size.trim_end_matches(|c: char| !c.is_ascii_digit());
    let unit = &size[digits.len()..];
    let number_ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && digits.len() <= 6;
    if !(number_ok && matches!(unit, "KB" | "MB" | "GB")) {
        return Err(ResourceRefusal::HugepageSpelling);
    }
    let shift = match unit {
        "KB" => 0,
        "MB" => 10,
        _ => 20,
    };
    Ok(digits.parse::<u64>().unwrap_or(0) << shift)
}

/// The hugepage sizes the kernel offers, in KiB (`/sys/kernel/mm/hugepages/hugepages-<N>kB`).
fn node_hugepage_sizes_kib() -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    sizes.sort_unstable();
    sizes
}

/// A hugepage limit in bytes: the OCI spec's limit is an `int64`.
pub fn hugepage_limit(v: u64) -> Result<(), ResourceRefusal> {
    if i64::try_from(v).is_ok() {
        Ok(())
    } else {
        Err(ResourceRefusal::HugepageLimit { max: i64::MAX })
    }
}

/// A device's cgroup permissions: empty (meaning `rwm`) or some of `r`, `w`, `m`.
pub fn device_permissions(p: &str) -> Result<(), ResourceRefusal> {
    if p.len() <= 3 && p.bytes().all(|b| matches!(b, b'r' | b'w' | b'm')) {
        Ok(())
    } else {
        Err(ResourceRefusal::DevicePermissions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_is_memory_plus_swap() {
        assert_eq!(memory_swap(0, 0), Ok(()));
        assert_eq!(memory_swap(-1, 0), Ok(()));
        assert_eq!(memory_swap(64, 64), Ok(()));
        assert_eq!(memory_swap(32, 0), Err(ResourceRefusal::SwapWithoutMemory));
        assert_eq!(
            memory_swap(32, 64),
            Err(ResourceRefusal::Swap { memory: 64 })
        );
        assert_eq!(
            memory_swap(-2, 64),
            Err(ResourceRefusal::Swap { memory: 64 })
        );
    }

    #[test]
    fn unified_takes_controller_files_on_cgroup_v2_only() {
        for key in ["memory.high", "pids.max", "hugetlb.2MB.max", "io.weight"] {
            assert_eq!(unified_key(key, true), Ok(()), "{key}");
            assert_eq!(
                unified_key(key, false),
                Err(ResourceRefusal::UnifiedOnV1),
                "{key}"
            );
        }
        for key in [
            "",
            "memory",
            ".max",
            "memory.",
            "cgroup.procs",
            "../x.y",
            "a/b.c",
            "Memory.high",
        ] {
            assert_eq!(
                unified_key(key, true),
                Err(ResourceRefusal::UnifiedKey),
                "{key}"
            );
        }
        assert_eq!(unified_value("max"), Ok(()));
        assert_eq!(unified_value("50000 100000"), Ok(()));
        for value in ["", " ", "1\n2", "a\0"] {
            assert_eq!(
                unified_value(value),
                Err(ResourceRefusal::UnifiedValue),
                "{value:?}"
            );
        }
    }

    #[test]
    fn numbers() {
        type Rule = fn(i64) -> Result<(), ResourceRefusal>;
        let cases: &[(&str, Rule, &[i64], &[i64])] = &[
            (
                "cpu_period",
                cpu_period,
                &[0, 1_000, 100_000, 1_000_000],
                &[-1, 1, 999, 1_000_001, 1 << 62, i64::MIN],
            ),
            (
                "cpu_quota",
                cpu_quota,
                &[0, -1, 1_000, 50_000, (1 << 44) - 1],
                &[-2, 1, 999, 1 << 44, i64::MAX],
            ),
            (
                "cpu_shares",
                cpu_shares,
                &[0, 2, 1024, 262_144],
                &[-1, 1, 262_145],
            ),
            (
                "memory_limit",
                memory_limit,
                &[0, 1, 1 << 40, i64::MAX],
                &[-1, i64::MIN],
            ),
            (
                "oom_score_adj",
                oom_score_adj,
                &[-1000, 0, 1000],
                &[-1001, 1001, 5000],
            ),
        ];
        for (name, rule, good, bad) in cases {
            for v in *good {
                assert_eq!(rule(*v), Ok(()), "{name} {v}");
            }
            for v in *bad {
                assert!(rule(*v).is_err(), "{name} {v}");
            }
        }
    }

    #[test]
    fn cpusets() {
        for ok in ["", "0", "0-3", "0-3,5", "1,3,5-7", "2-2"] {
            assert_eq!(cpuset(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "abc",
            "3-1",
            "0-",
            "-1",
            ",",
            "0,",
            "0 ,1",
            "0-3\n",
            "0-3:2/4",
            "99999999999",
        ] {
            assert!(cpuset(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hugepages() {
        for (ok, kib) in [
            ("2MB", 2048),
            ("1GB", 1 << 20),
            ("64KB", 64),
            ("16GB", 16 << 20),
        ] {
            assert_eq!(hugepage_kib(ok), Ok(kib), "{ok:?}");
        }
        for bad in [
            "", "2", "MB", "2mb", "2 MB", "02MB", "2MiB", "2MB/../x", "-2MB",
        ] {
            assert!(hugepage_size(bad).is_err(), "{bad:?}");
        }
        // Only the node's own sizes pass.
        let node = node_hugepage_sizes_kib();
        assert_eq!(hugepage_size("2MB").is_ok(), node.contains(&2048));
        assert!(hugepage_size("64KB").is_err() || node.contains(&64));
        assert_eq!(hugepage_limit(1 << 30), Ok(()));
        assert!(hugepage_limit(u64::MAX).is_err());
    }

    #[test]
    fn device_permissions_are_rwm() {
        for ok in ["", "r", "rw", "rwm", "mr"] {
            assert_eq!(device_permissions(ok), Ok(()), "{ok:?}");
        }
        for bad in ["x", "rwmx", "rwmm", "RW"] {
            assert!(device_permissions(bad).is_err(), "{bad:?}");
        }
    }
}
