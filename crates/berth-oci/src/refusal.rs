//! Runtime failures that the request's own input caused. Validation catches what it can
//! before the runtime runs; some input can only be judged inside the container (is the
//! executable in the image? does this kernel take this sysctl value, this CPU set?). When the
//! runtime refuses such input, the caller should hear InvalidArgument with the runtime's
//! words, not Internal: nothing is wrong with the node.

/// What part of the request the runtime refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The command's executable is missing from the container, or not executable.
    Executable,
    /// The working directory cannot be entered.
    WorkingDir,
    /// The kernel refused a sysctl value.
    Sysctl,
    /// The kernel refused a resource value written to the cgroup (CPU set, limits).
    CgroupValue,
}

impl Refusal {
    /// The request field the refusal is about.
    pub fn field(self) -> &'static str {
        match self {
            Refusal::Executable => "command",
            Refusal::WorkingDir => "working_dir",
            Refusal::Sysctl => "sysctls",
            Refusal::CgroupValue => "resources",
        }
    }
}

/// Recognises, in a runtime's error text (runc's or crun's), a refusal of the request's
/// input. `None` for everything else, which stays an internal failure.
pub fn input_refusal(text: &str) -> Option<Refusal> {
    let lower = text.to_ascii_lowercase();
    let refused_write = lower.contains("invalid argument")
        || lower.contains("numerical result out of range")
        || lower.contains("numerical argument out of domain");
    // runc: `exec: "x": stat x: no such file or directory`, `exec: "x": executable file not
    // found in $PATH`, `exec: "x": permission denied`; crun: "executable file `x` not found
    // in $PATH", "open executable: ...".
    if lower.contains("unable to start container process: exec: ")
        || lower.contains("executable file not found")
        || (lower.contains("executable file `") && lower.contains("not found"))
        || lower.contains("open executable")
    {
        return Some(Refusal::Executable);
    }
    // runc: `chdir to cwd ("/x") set in config.json failed`; crun: "chdir `/x`".
    if lower.contains("chdir to cwd") || lower.contains("chdir `") {
        return Some(Refusal::WorkingDir);
    }
    if refused_write && lower.contains("/proc/sys/") {
        return Some(Refusal::Sysctl);
    }
    if refused_write && lower.contains("/sys/fs/cgroup/") {
        return Some(Refusal::CgroupValue);
    }
    // runc: "unable to set memory limit to 4096 (current usage: ...)" (a limit below what
    // the container already uses), "cannot set hugetlb limit" (a size or limit the node's
    // hugetlb controller refuses).
    if lower.contains("unable to set memory limit") || lower.contains("cannot set hugetlb limit") {
        return Some(Refusal::CgroupValue);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_refusals_are_recognised() {
        let cases = [
            (
                r#"runc create failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory"#,
                Some(Refusal::Executable),
            ),
            (
                r#"runc create failed: unable to start container process: exec: "x": executable file not found in $PATH"#,
                Some(Refusal::Executable),
            ),
            (
                "executable file `x` not found in $PATH: No such file or directory",
                Some(Refusal::Executable),
            ),
            (
                r#"runc create failed: unable to start container process: error during container init: chdir to cwd ("/x") set in config.json failed: not a directory"#,
                Some(Refusal::WorkingDir),
            ),
            (
                "runc create failed: unable to start container process: error during container init: write /proc/sys/kernel/msgmax: invalid argument",
                Some(Refusal::Sysctl),
            ),
            (
                r#"runc create failed: unable to start container process: unable to apply cgroup configuration: failed to write "0-1": write /sys/fs/cgroup/cpuset/berth/x/cpuset.mems: invalid argument"#,
                Some(Refusal::CgroupValue),
            ),
            (
                "runc update x failed (exit status: 1): unable to set memory limit to 4096 (current usage: 524288, peak usage: 2392064)",
                Some(Refusal::CgroupValue),
            ),
            (
                "error setting cgroup config for procHooks process: cannot set hugetlb limit: container could not join or create cgroup",
                Some(Refusal::CgroupValue),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(input_refusal(text), want, "{text}");
        }
    }

    #[test]
    fn node_failures_are_not_input_refusals() {
        for text in [
            "runc create failed: unable to start container process: error during container init: error mounting \"proc\" to rootfs: permission denied",
            "runc create failed: cannot allocate memory",
            "write /sys/fs/cgroup/memory/x/memory.limit_in_bytes: device or resource busy",
            "",
        ] {
            assert_eq!(input_refusal(text), None, "{text}");
        }
    }
}
