//! `oom_score_adj` clamped to what the process may set. (Sysctls are checked in
//! `validate::sysctl`.)

/// The `oom_score_adj` to give a process: the request, raised to `current` (this process's
/// own value) when lower, because lowering it needs CAP_SYS_RESOURCE, which berth may lack
/// (containerd's `restrict_oom_score_adj`). Kept within the kernel's -1000..=1000.
pub fn clamp_oom_score_adj(requested: i64, current: i64) -> i64 {
    requested.max(current).clamp(-1000, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_score_adj_is_never_lowered_below_our_own() {
        assert_eq!(clamp_oom_score_adj(-998, 0), 0);
        assert_eq!(clamp_oom_score_adj(1000, 0), 1000);
        assert_eq!(clamp_oom_score_adj(500, -500), 500);
        assert_eq!(clamp_oom_score_adj(-999, -1000), -999);
        assert_eq!(clamp_oom_score_adj(5000, 0), 1000);
    }
}
