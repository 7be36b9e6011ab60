//! The seccomp section of a container's OCI spec.
//!
//! Kubernetes asks for one of three profiles: none (`Unconfined`), the runtime's built-in
//! default (`RuntimeDefault`), or a JSON file on the node (`Localhost`). This module turns that
//! choice, together with the container's final capability set, into an
//! [`oci_spec::runtime::LinuxSeccomp`] that the OCI runtime (runc) loads with libseccomp.
//!
//! The built-in default follows the shape of the profiles containerd, CRI-O and Docker ship:
//! everything is denied with `EPERM` except a long list of ordinary syscalls, and the
//! syscalls that need a capability are only allowed when the container holds it. The data
//! is kept as plain `const` lists so that it can be read and reviewed as a table. Names the
//! host's libseccomp does not know are harmless: runc skips them.
//!
//! Localhost profiles may be in the OCI format or in Docker's format (`archMap`,
//! `includes`/`excludes`); the Docker conditions are evaluated here, against the capability
//! set and the host architecture, because runc only understands the OCI format.
//!
//! Privileged containers get no seccomp filter at all, as with containerd and CRI-O.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::request::SeccompProfile;

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder,
};
use serde::Deserialize;

use super::process::capability_name;

/// A CRI profile string (the deprecated form) that names no profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfilePathError {
    /// Neither `unconfined`, `runtime/default` nor `localhost/…`.
    #[error(
        "seccomp profile {0:?}: unknown profile; expected \"unconfined\", \
         \"runtime/default\" or \"localhost/<absolute path>\""
    )]
    Unknown(String),
    /// `localhost/` followed by a relative path.
    #[error("seccomp profile {0:?}: the localhost profile path must be absolute")]
    RelativeLocalhost(String),
}

/// The server's request conversion reports its refusals as text (`?` in a function returning
/// `Result<_, String>`).
impl From<ProfilePathError> for String {
    fn from(e: ProfilePathError) -> Self {
        e.to_string()
    }
}

/// Why a container's seccomp section cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A Localhost profile named by a relative path.
    #[error("seccomp profile {}: the path must be absolute", path.display())]
    RelativePath {
        /// The path given.
        path: PathBuf,
    },
    /// A Localhost profile that cannot be read.
    #[error("seccomp profile {}: {source}", path.display())]
    Read {
        /// The profile.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Localhost profile that is not a profile.
    #[error("seccomp profile {}: {source}", path.display())]
    Profile {
        /// The profile.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: ProfileError,
    },
    /// The built-in profile did not build (a bug of this module).
    #[error(transparent)]
    Default(#[from] OciSpecError),
}

/// What is wrong in the text of a Localhost profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not JSON, or not the shape of a profile (unknown actions, architectures, operators
    /// and flags among them).
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A rule compares an argument no syscall has.
    #[error(
        "the rule for {names:?} compares argument {index}, but a syscall has only arguments 0 to {MAX_ARG_INDEX}"
    )]
    ArgumentIndex {
        /// The rule's syscalls.
        names: Vec<String>,
        /// The argument index.
        index: usize,
    },
    /// A rule or the profile is refused by the OCI types.
    #[error(transparent)]
    Build(#[from] OciSpecError),
}

/// From the deprecated CRI string form: "" -> Unconfined, "unconfined" -> Unconfined,
/// "runtime/default" or "docker/default" -> RuntimeDefault, "localhost/<abs path>" -> Localhost.
/// Anything else (an unprefixed custom profile, a relative localhost path) is refused with a
/// message naming the value and why.
pub fn parse_profile_path(value: &str) -> Result<SeccompProfile, ProfilePathError> {
    match value {
        "" | "unconfined" => return Ok(SeccompProfile::Unconfined),
        "runtime/default" | "docker/default" => return Ok(SeccompProfile::RuntimeDefault),
        _ => {}
    }
    let Some(rest) = value.strip_prefix("localhost/") else {
        return Err(ProfilePathError::Unknown(value.to_owned()));
    };
    let path = PathBuf::from(rest);
    if !path.is_absolute() {
        return Err(ProfilePathError::RelativeLocalhost(value.to_owned()));
    }
    Ok(SeccompProfile::Localhost(path))
}

/// The seccomp section of the OCI spec. None when unconfined or privileged (privileged ignores
/// seccomp, as containerd and CRI-O do). `capabilities` is the container's final capability set.
pub fn seccomp_for(
    profile: &SeccompProfile,
    capabilities: &[String],
    privileged: bool,
) -> Result<Option<LinuxSeccomp>, SeccompError> {
    if privileged {
        return Ok(None);
    }
    let arch = std::env::consts::ARCH;
    match profile {
        SeccompProfile::Unconfined => Ok(None),
        SeccompProfile::RuntimeDefault => Ok(Some(default_profile(capabilities, arch)?)),
        SeccompProfile::Localhost(path) => localhost_profile(path, capabilities, arch).map(Some),
    }
}

// ---------------------------------------------------------------------------------------------
// The built-in default profile.
// ---------------------------------------------------------------------------------------------

/// `EPERM`: what a denied syscall returns.
const EPERM: u32 = 1;
/// `ENOSYS`: what `clone3` returns without `CAP_SYS_ADMIN`, so that libc falls back to `clone`
/// (whose flags a filter can inspect; `clone3`'s live behind a pointer).
const ENOSYS: u32 = 38;
/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
/// CLONE_NEWCGROUP`: the namespace bits `clone` may not set without `CAP_SYS_ADMIN`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `personality` values allowed to everyone: `PER_LINUX`, `PER_LINUX32`, `UNAME26`,
/// `UNAME26|PER_LINUX32` and the query value `0xffffffff`.
const PERSONALITY_VALUES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Syscalls every container may make.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "alarm", "bind", "brk", "cachestat", "capget", "capset",
    "chdir", "chmod", "chown", "chown32", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close",
    "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
    "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
    "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue",
    "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_robust_list",
    "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "io_setup", "io_submit", "io_uring_enter", "io_uring_register",
    "io_uring_setup", "ioctl", "ioprio_get", "ioprio_set", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr",
    "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
    "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid",
    "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
    "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// Extra syscalls allowed on x86 hosts.
const ALLOWED_X86: &[&str] = &["arch_prctl", "modify_ldt"];

/// Extra syscalls allowed on ARM hosts.
#[rustfmt::skip]
const ALLOWED_ARM: &[&str] = &[
    "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
    "sync_file_range2",
];

/// Syscalls allowed only when the container holds the capability.
#[rustfmt::skip]
const CAPABILITY_GATED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
            "open_by_handle_at", "open_tree", "perf_event_open", "pivot_root", "quotactl",
            "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
            "umount2", "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "finit_module", "init_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &[
            "adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64",
            "settimeofday", "stime",
        ],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &["get_mempolicy", "mbind", "move_pages", "set_mempolicy", "set_mempolicy_home_node"],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// Syscalls the default profile never allows, whatever the capabilities: they reach kernel
/// state shared by the whole node (keyrings, swap, kexec) or are obsolete attack surface.
/// None of them is in the lists above; they are also removed from the allowed set as a
/// safeguard against a later edit of those lists.
#[rustfmt::skip]
const NEVER_ALLOWED: &[&str] = &[
    "_sysctl", "add_key", "afs_syscall", "create_module", "get_kernel_syms", "kexec_file_load",
    "kexec_load", "keyctl", "nfsservctl", "query_module", "request_key", "swapoff", "swapon",
    "sysfs", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
];

/// The built-in default profile for `capabilities` on the host architecture `arch`
/// (a `std::env::consts::ARCH` value).
fn default_profile(capabilities: &[String], arch: &str) -> Result<LinuxSeccomp, OciSpecError> {
    let sys_admin = has_capability(capabilities, "CAP_SYS_ADMIN");
    let mut syscalls = vec![allow(allowed_names(capabilities, arch))?];
    syscalls.extend(personality_rules()?);
    if !sys_admin {
        syscalls.push(clone_without_namespaces(arch)?);
        syscalls.push(errno(&["clone3"], ENOSYS)?);
    }
    let mut builder = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .syscalls(syscalls);
    if let Some(arches) = native_arches(arch) {
        builder = builder.architectures(arches);
    }
    builder.build()
}

/// Every name allowed unconditionally: the base list, the host's architecture extras and the
/// groups of the capabilities held. Sorted and without duplicates.
fn allowed_names(capabilities: &[String], arch: &str) -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&'static str> = ALLOWED.iter().copied().collect();
    names.extend(arch_extras(arch).iter().copied());
    for (capability, group) in CAPABILITY_GATED {
        if has_capability(capabilities, capability) {
            names.extend(group.iter().copied());
        }
    }
    names.retain(|n| !NEVER_ALLOWED.contains(n));
    names
}

/// The architecture-specific extras for `arch`.
fn arch_extras(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" | "x86" => ALLOWED_X86,
        "aarch64" | "arm" => ALLOWED_ARM,
        _ => &[],
    }
}

/// An unconditional allow rule.
fn allow(names: BTreeSet<&str>) -> Result<LinuxSyscall, OciSpecError> {
    LinuxSyscallBuilder::default()
        .names(names.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActAllow)
        .build()
}

/// A rule making `names` fail with `errno`.
fn errno(names: &[&str], errno: u32) -> Result<LinuxSyscall, OciSpecError> {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(errno)
        .build()
}

/// An allow rule for `names` when the argument matches.
fn allow_if(names: &[&str], arg: LinuxSeccompArg) -> Result<LinuxSyscall, OciSpecError> {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActAllow)
        .args(vec![arg])
        .build()
}

/// A comparison of argument `index`.
fn arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> Result<LinuxSeccompArg, OciSpecError> {
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    if let Some(two) = value_two {
        builder = builder.value_two(two);
    }
    builder.build()
}

/// `clone` allowed when its flags set no namespace bit.
fn clone_without_namespaces(arch: &str) -> Result<LinuxSyscall, OciSpecError> {
    // s390 swaps the first two arguments of clone.
    let flags_index = if arch.starts_with("s390") { 1 } else { 0 };
    let masked = arg(
        flags_index,
        LinuxSeccompOperator::ScmpCmpMaskedEq,
        CLONE_NAMESPACE_FLAGS,
        Some(0),
    )?;
    // libseccomp compares `(arg & value) == valueTwo` for SCMP_CMP_MASKED_EQ.
    allow_if(&["clone"], masked)
}

/// `personality` allowed for the harmless values only, one rule per value.
fn personality_rules() -> Result<Vec<LinuxSyscall>, OciSpecError> {
    PERSONALITY_VALUES
        .iter()
        .map(|v| {
            let eq = arg(0, LinuxSeccompOperator::ScmpCmpEq, *v, None)?;
            allow_if(&["personality"], eq)
        })
        .collect()
}

/// The libseccomp architectures of a host: the native one first, then the compat ones its
/// kernel also runs. None when berth does not know the host (runc then uses the native one).
fn native_arches(arch: &str) -> Option<Vec<Arch>> {
    match arch {
        "x86_64" => Some(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ]),
        "aarch64" => Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]),
        "riscv64" => Some(vec![Arch::ScmpArchRiscv64]),
        "s390x" => Some(vec![Arch::ScmpArchS390x, Arch::ScmpArchS390]),
        "loongarch64" => Some(vec![Arch::ScmpArchLoongarch64]),
        _ => None,
    }
}

/// Whether `capabilities` holds `wanted`, whichever way either is spelt.
fn has_capability(capabilities: &[String], wanted: &str) -> bool {
    let wanted = capability_name(wanted);
    capabilities.iter().any(|c| capability_name(c) == wanted)
}

// ---------------------------------------------------------------------------------------------
// Localhost profiles.
// ---------------------------------------------------------------------------------------------

/// A profile file: the OCI fields plus Docker's `archMap` and `defaultErrnoRet`. Unknown
/// fields (`comment`, …) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileFile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    listener_path: Option<PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<SyscallEntry>>,
}

/// Docker's `archMap` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

/// A syscall rule, OCI or Docker (which may also use a single `name`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallEntry {
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Condition>,
    #[serde(default)]
    excludes: Option<Condition>,
}

/// Docker's `includes`/`excludes`; `minKernel` and the like are ignored.
#[derive(Debug, Default, Deserialize)]
struct Condition {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
}

/// Reads and converts the profile at `path`.
fn localhost_profile(
    path: &Path,
    capabilities: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, SeccompError> {
    if !path.is_absolute() {
        return Err(SeccompError::RelativePath {
            path: path.to_owned(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| SeccompError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_profile(&text, capabilities, arch).map_err(|source| SeccompError::Profile {
        path: path.to_owned(),
        source,
    })
}

/// The OCI form of a profile's text.
fn parse_profile(
    text: &str,
    capabilities: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, ProfileError> {
    let file: ProfileFile = serde_json::from_str(text).map_err(ProfileError::Json)?;
    convert(file, capabilities, arch)
}

/// The OCI form of a parsed profile file.
fn convert(
    file: ProfileFile,
    capabilities: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, ProfileError> {
    let architectures = architectures(
        file.architectures.unwrap_or_default(),
        file.arch_map.unwrap_or_default(),
        arch,
    );
    let syscalls = file
        .syscalls
        .unwrap_or_default()
        .into_iter()
        .filter(|s| applies(s, capabilities, arch))
        .filter_map(|s| rule(s).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = LinuxSeccompBuilder::default()
        .default_action(file.default_action)
        .syscalls(syscalls);
    if let Some(errno) = file.default_errno_ret {
        builder = builder.default_errno_ret(errno);
    }
    if !architectures.is_empty() {
        builder = builder.architectures(architectures);
    }
    if let Some(flags) = file.flags.filter(|f| !f.is_empty()) {
        builder = builder.flags(flags);
    }
    if let Some(listener) = file.listener_path {
        builder = builder.listener_path(listener);
    }
    if let Some(metadata) = file.listener_metadata {
        builder = builder.listener_metadata(metadata);
    }
    Ok(builder.build()?)
}

/// The OCI `architectures` followed by the `archMap` entry of the host (or, when the map has
/// none for it, every architecture the map lists), without duplicates.
fn architectures(listed: Vec<Arch>, arch_map: Vec<ArchMapEntry>, arch: &str) -> Vec<Arch> {
    let native = native_arches(arch).and_then(|a| a.first().copied());
    let host_entry = arch_map.iter().position(|e| Some(e.architecture) == native);
    let chosen: Vec<ArchMapEntry> = match host_entry {
        Some(i) => arch_map.into_iter().skip(i).take(1).collect(),
        None => arch_map,
    };
    let mut out: Vec<Arch> = Vec::new();
    let mapped = chosen.into_iter().flat_map(|e| {
        std::iter::once(e.architecture).chain(e.sub_architectures.unwrap_or_default())
    });
    for a in listed.into_iter().chain(mapped) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Whether a Docker entry's `includes` are met and its `excludes` do not match.
fn applies(entry: &SyscallEntry, capabilities: &[String], arch: &str) -> bool {
    let includes = entry.includes.as_ref();
    let excludes = entry.excludes.as_ref();
    let caps_in = includes.and_then(|c| c.caps.as_deref()).unwrap_or_default();
    let arches_in = includes
        .and_then(|c| c.arches.as_deref())
        .unwrap_or_default();
    let caps_out = excludes.and_then(|c| c.caps.as_deref()).unwrap_or_default();
    let arches_out = excludes
        .and_then(|c| c.arches.as_deref())
        .unwrap_or_default();
    caps_in.iter().all(|c| has_capability(capabilities, c))
        && (arches_in.is_empty() || arches_in.iter().any(|a| arch_matches(a, arch)))
        && !caps_out.iter().any(|c| has_capability(capabilities, c))
        && !arches_out.iter().any(|a| arch_matches(a, arch))
}

/// Whether an architecture name from a Docker profile (Go's `amd64`, `arm64`, … or the
/// kernel's `x86_64`, `aarch64`, …) names the host architecture `arch`.
fn arch_matches(name: &str, arch: &str) -> bool {
    let aliases: &[&str] = match arch {
        "x86_64" => &["amd64", "x86_64"],
        "aarch64" => &["arm64", "aarch64"],
        "x86" => &["386", "x86"],
        "powerpc64" => &["ppc64le", "ppc64"],
        "loongarch64" => &["loong64", "loongarch64"],
        _ => &[],
    };
    name == arch || aliases.contains(&name)
}

/// The highest syscall argument index a rule may compare.
const MAX_ARG_INDEX: usize = 5;

/// The OCI rule of an entry; None when it names no syscall.
fn rule(entry: SyscallEntry) -> Result<Option<LinuxSyscall>, ProfileError> {
    let mut names = entry.names.unwrap_or_default();
    names.extend(entry.name);
    if names.is_empty() {
        return Ok(None);
    }
    let args = entry.args.unwrap_or_default();
    // libseccomp compares at most six arguments; runc would refuse a higher index ("syscalls
    // only have up to 6 arguments") only once the container starts.
    if let Some(arg) = args.iter().find(|a| a.index() > MAX_ARG_INDEX) {
        return Err(ProfileError::ArgumentIndex {
            names,
            index: arg.index(),
        });
    }
    let mut builder = LinuxSyscallBuilder::default()
        .names(names)
        .action(entry.action);
    if let Some(errno) = entry.errno_ret {
        builder = builder.errno_ret(errno);
    }
    if !args.is_empty() {
        builder = builder.args(args);
    }
    Ok(Some(builder.build()?))
}

#[cfg(test)]
#[path = "seccomp_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn rules<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        s.syscalls()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed whatever its arguments.
    fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
        rules(s, name).iter().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow
                && r.args().as_deref().unwrap_or_default().is_empty()
        })
    }

    fn denied(s: &LinuxSeccomp, name: &str) -> bool {
        s.default_action() == LinuxSeccompAction::ScmpActErrno && rules(s, name).is_empty()
    }

    struct TempProfile(PathBuf);

    impl TempProfile {
        fn new(tag: &str, json: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "berth-seccomp-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("profile.json"), json).unwrap();
            Self(dir)
        }

        fn path(&self) -> PathBuf {
            self.0.join("profile.json")
        }
    }

    impl Drop for TempProfile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn parses_profile_paths() {
        assert_eq!(parse_profile_path(""), Ok(SeccompProfile::Unconfined));
        assert_eq!(
            parse_profile_path("unconfined"),
            Ok(SeccompProfile::Unconfined)
        );
        assert_eq!(
            parse_profile_path("runtime/default"),
            Ok(SeccompProfile::RuntimeDefault)
        );
        assert_eq!(
            parse_profile_path("docker/default"),
            Ok(SeccompProfile::RuntimeDefault)
        );
        assert_eq!(
            parse_profile_path("localhost//var/lib/kubelet/seccomp/a.json"),
            Ok(SeccompProfile::Localhost(PathBuf::from(
                "/var/lib/kubelet/seccomp/a.json"
            )))
        );
    }

    #[test]
    fn rejects_bad_profile_paths() {
        let err = parse_profile_path("my-profile").unwrap_err().to_string();
        assert!(
            err.contains("\"my-profile\"") && err.contains("unknown"),
            "{err}"
        );
        let err = String::from(parse_profile_path("localhost/profiles/a.json").unwrap_err());
        assert!(
            err.contains("profiles/a.json") && err.contains("absolute"),
            "{err}"
        );
        assert!(parse_profile_path("localhost/").is_err());
    }

    #[test]
    fn privileged_and_unconfined_get_no_filter() {
        let all = caps(&["CAP_CHOWN"]);
        assert!(matches!(
            seccomp_for(&SeccompProfile::RuntimeDefault, &all, true),
            Ok(None)
        ));
        let missing = SeccompProfile::Localhost(PathBuf::from("/nonexistent/p.json"));
        assert!(matches!(seccomp_for(&missing, &all, true), Ok(None)));
        assert!(matches!(
            seccomp_for(&SeccompProfile::Unconfined, &all, false),
            Ok(None)
        ));
    }

    #[test]
    fn default_profile_shape() {
        let s = default_profile(&caps(&["CAP_CHOWN"]), "x86_64").unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(EPERM));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "futex",
            "epoll_wait",
            "arch_prctl",
        ] {
            assert!(allowed(&s, name), "{name}");
        }
        let arm = default_profile(&[], "aarch64").unwrap();
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(!allowed(&arm, "arch_prctl"));
        // The real call, whatever the host.
        let host = seccomp_for(&SeccompProfile::RuntimeDefault, &[], false).unwrap();
        assert!(host.is_some_and(|h| allowed(&h, "read")));
    }

    #[test]
    fn sys_admin_gates_mount_family() {
        let without =
            default_profile(&caps(&["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]), "x86_64").unwrap();
        for name in [
            "sethostname",
            "mount",
            "unshare",
            "setns",
            "pivot_root",
            "bpf",
        ] {
            assert!(denied(&without, name), "{name}");
        }
        let with = default_profile(&caps(&["CAP_SYS_ADMIN"]), "x86_64").unwrap();
        for name in [
            "sethostname",
            "mount",
            "unshare",
            "setns",
            "clone",
            "clone3",
        ] {
            assert!(allowed(&with, name), "{name}");
        }
        assert_eq!(rules(&with, "clone").len(), 1);
        assert_eq!(rules(&with, "clone3").len(), 1);
    }

    #[test]
    fn other_capability_groups() {
        let none = default_profile(&[], "x86_64").unwrap();
        let some = default_profile(&caps(&["CAP_SYS_PTRACE", "sys_time"]), "x86_64").unwrap();
        for name in [
            "ptrace",
            "process_vm_readv",
            "settimeofday",
            "clock_settime",
        ] {
            assert!(denied(&none, name), "{name}");
            assert!(allowed(&some, name), "{name}");
        }
        assert!(denied(&some, "reboot") && denied(&some, "init_module"));
    }

    #[test]
    fn never_allowed_even_with_every_capability() {
        let every: Vec<String> = CAPABILITY_GATED
            .iter()
            .map(|(c, _)| (*c).to_owned())
            .collect();
        let s = default_profile(&every, "x86_64").unwrap();
        for name in NEVER_ALLOWED {
            assert!(denied(&s, name), "{name}");
        }
    }

    #[test]
    fn clone_is_masked_without_sys_admin() {
        let s = default_profile(&caps(&["CAP_CHOWN"]), "x86_64").unwrap();
        let clone = rules(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].action(), LinuxSeccompAction::ScmpActAllow);
        let args = clone[0].args().clone().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value_two(), Some(0));
        let clone3 = rules(&s, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(ENOSYS));
        let s390 = default_profile(&[], "s390x").unwrap();
        assert_eq!(
            rules(&s390, "clone")[0].args().clone().unwrap()[0].index(),
            1
        );
    }

    const DOCKER_PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [],
             "comment": "basics", "includes": {}, "excludes": {}},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_PTRACE"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
             "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "excludes": {"arches": ["amd64"]}},
            {"name": "chroot", "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    }"#;

    #[test]
    fn docker_localhost_profile_honours_includes_and_excludes() {
        let file = TempProfile::new("docker", DOCKER_PROFILE);
        let s = localhost_profile(&file.path(), &caps(&["CAP_SYS_ADMIN"]), "x86_64").unwrap();
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(allowed(&s, "read") && allowed(&s, "mount") && allowed(&s, "arch_prctl"));
        assert!(rules(&s, "ptrace").is_empty());
        assert!(rules(&s, "clone").is_empty());
        assert!(rules(&s, "personality").is_empty());
        assert_eq!(rules(&s, "chroot")[0].errno_ret(), Some(38));

        let arm = localhost_profile(&file.path(), &caps(&["CAP_SYS_PTRACE"]), "aarch64").unwrap();
        assert_eq!(
            arm.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(allowed(&arm, "ptrace") && allowed(&arm, "personality"));
        assert!(rules(&arm, "mount").is_empty() && rules(&arm, "arch_prctl").is_empty());
        let clone = rules(&arm, "clone");
        assert_eq!(clone[0].args().clone().unwrap()[0].value(), 0x7E02_0000);

        // Unknown host: every mapped architecture.
        let other = localhost_profile(&file.path(), &[], "mips").unwrap();
        assert_eq!(other.architectures().as_ref().map(Vec::len), Some(5));
    }

    #[test]
    fn oci_localhost_profile() {
        let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1}]}"#;
        let file = TempProfile::new("oci", json);
        let profile = SeccompProfile::Localhost(file.path());
        let s = seccomp_for(&profile, &[], false).unwrap().unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(
            rules(&s, "sethostname")[0].action(),
            LinuxSeccompAction::ScmpActErrno
        );
    }

    #[test]
    fn localhost_errors_name_the_path() {
        let missing = PathBuf::from("/nonexistent/berth/seccomp/missing.json");
        let err = seccomp_for(&SeccompProfile::Localhost(missing), &[], false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/berth/seccomp/missing.json"),
            "{err}"
        );

        let file = TempProfile::new("invalid", "{ not json");
        let err = seccomp_for(&SeccompProfile::Localhost(file.path()), &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&file.path().display().to_string()), "{err}");
        assert!(err.contains("invalid JSON"), "{err}");

        let relative = SeccompProfile::Localhost(PathBuf::from("p.json"));
        assert!(
            seccomp_for(&relative, &[], false)
                .unwrap_err()
                .to_string()
                .contains("p.json")
        );
    }

    #[test]
    fn serializes_with_runc_field_names() {
        let s = default_profile(&[], "x86_64").unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["architectures"][0], "SCMP_ARCH_X86_64");
        let syscalls = v["syscalls"].as_array().unwrap();
        assert_eq!(syscalls[0]["action"], "SCMP_ACT_ALLOW");
        assert!(syscalls[0]["names"].as_array().unwrap().len() > 250);
        let clone = syscalls.iter().find(|r| r["names"][0] == "clone").unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["valueTwo"], 0);
        let clone3 = syscalls.iter().find(|r| r["names"][0] == "clone3").unwrap();
        assert_eq!(clone3["errnoRet"], 38);
    }
}
