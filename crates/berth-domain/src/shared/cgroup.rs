//! The cgroup path given to the OCI runtime for a sandbox or container.

use berth_config::CgroupDriver;

/// The runtime's `cgroupsPath` for `id` under `parent` (the CRI `cgroup_parent`).
///
/// - cgroupfs: a path, `<parent>/<id>` (`/berth/<id>` without a parent).
/// - systemd: `slice:prefix:name`, `<parent>:berth:<id>` (`system.slice` without a parent);
///   runc then creates the scope `berth-<id>.scope` in that slice. A parent written as a
///   cgroupfs path by the kubelet (`/kubepods/burstable/pod123`) is converted to its slice
///   name (`kubepods-burstable-pod123.slice`), as containerd does.
pub fn cgroups_path(driver: CgroupDriver, parent: &str, id: &str) -> String {
    match driver {
        CgroupDriver::Cgroupfs => {
            let parent = parent.trim_end_matches('/');
            let parent = if parent.is_empty() { "/berth" } else { parent };
            let parent = if parent.starts_with('/') {
                parent.to_owned()
            } else {
                format!("/{parent}")
            };
            format!("{parent}/{id}")
        }
        CgroupDriver::Systemd => format!("{}:berth:{id}", systemd_slice(parent)),
    }
}

/// The systemd slice a CRI `cgroup_parent` names: itself (its last component) when it ends
/// in `.slice`, else its path components joined by `-`; `system.slice` when empty.
pub fn systemd_slice(parent: &str) -> String {
    if parent.is_empty() {
        "system.slice".to_owned()
    } else if parent.ends_with(".slice") {
        parent.rsplit('/').next().unwrap_or(parent).to_owned()
    } else {
        let parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
        format!("{}.slice", parts.join("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroupfs_paths_nest_under_the_parent() {
        assert_eq!(
            cgroups_path(CgroupDriver::Cgroupfs, "", "abc"),
            "/berth/abc"
        );
        assert_eq!(
            cgroups_path(CgroupDriver::Cgroupfs, "/kubepods/besteffort/pod1/", "abc"),
            "/kubepods/besteffort/pod1/abc"
        );
        assert_eq!(
            cgroups_path(CgroupDriver::Cgroupfs, "kubepods", "abc"),
            "/kubepods/abc"
        );
    }

    #[test]
    fn systemd_paths_name_a_slice() {
        assert_eq!(
            cgroups_path(CgroupDriver::Systemd, "", "abc"),
            "system.slice:berth:abc"
        );
        assert_eq!(
            cgroups_path(
                CgroupDriver::Systemd,
                "kubepods-burstable-pod1.slice",
                "abc"
            ),
            "kubepods-burstable-pod1.slice:berth:abc"
        );
        assert_eq!(
            cgroups_path(CgroupDriver::Systemd, "/kubepods/burstable/pod1", "abc"),
            "kubepods-burstable-pod1.slice:berth:abc"
        );
    }
}
