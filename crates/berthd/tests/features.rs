//! The optional runtime features `Status` declares, used through real berthd and runc:
//! recursive read-only mounts (per runtime handler) and SupplementalGroupsPolicy with
//! `ContainerStatus.user`. Asserts what critest v1.36 asserts for them. Needs root, runc
//! with `rro` in `runc features` and Linux 5.12 or newer (else it skips, loudly).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_cri_client::cri;
use common::node::{Node, node};
use tonic::Code;

/// A host directory with a tmpfs mounted on its `tmpfs/` subdirectory, as critest makes
/// for its recursive read-only specs; unmounted when dropped, whatever the test did.
struct HostVolume {
    dir: PathBuf,
    submount: PathBuf,
}

impl HostVolume {
    fn new(under: &Path) -> Self {
        let dir = under.join("volume");
        let submount = dir.join("tmpfs");
        std::fs::create_dir_all(&submount).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "rro-test"])
            .arg(&submount)
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "cannot mount a tmpfs on {}",
            submount.display()
        );
        Self { dir, submount }
    }
}

impl Drop for HostVolume {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.submount, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Why this host cannot make recursive read-only mounts with runc, if it cannot.
fn rro_prerequisite_missing() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version < (5, 12) {
        return Some(format!("kernel {} is older than 5.12", release.trim()));
    }
    let features = std::process::Command::new("/usr/sbin/runc")
        .arg("features")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    (!features.contains("\"rro\"")).then(|| "`runc features` does not list rro".to_owned())
}

/// Skips with a loud message, or fails under CI, when the host lacks a prerequisite.
fn skip_without_rro() -> bool {
    let Some(why) = rro_prerequisite_missing() else {
        return false;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "prerequisite missing in CI: {why}"
    );
    eprintln!("\n*** SKIPPED: recursive read-only mounts cannot work here: {why} ***\n");
    true
}

async fn status(n: &mut Node) -> cri::StatusResponse {
    n.client
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .unwrap()
        .into_inner()
}

fn mount(host: &Path, readonly: bool, rro: bool, propagation: cri::MountPropagation) -> cri::Mount {
    cri::Mount {
        container_path: "/mnt".into(),
        host_path: host.display().to_string(),
        readonly,
        recursive_read_only: rro,
        selinux_relabel: true,
        propagation: propagation as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn recursive_read_only_mounts_are_declared_and_reach_submounts() {
    if skip_without_rro() {
        return;
    }
    let mut n = node().await;

    // Declared for runc and for the default handler "" (runc here), never user namespaces;
    // SupplementalGroupsPolicy for the whole runtime.
    let s = status(&mut n).await;
    for name in ["", "runc"] {
        let h = s
            .runtime_handlers
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no handler {name:?}: {:?}", s.runtime_handlers));
        let f = h.features.as_ref().unwrap();
        assert!(f.recursive_read_only_mounts, "{name:?}: {f:?}");
        assert!(!f.user_namespaces, "{name:?}: {f:?}");
    }
    assert!(s.features.unwrap().supplemental_groups_policy);

    let pod = n.pod("rro").await;
    let volume = HostVolume::new(n.dir.path());
    std::fs::write(volume.dir.join("top"), "top").unwrap();

    // Recursive: the submount is read-only in the container too.
    let mut config = n.config("recursive", "sleep 600");
    config.mounts = vec![mount(
        &volume.dir,
        true,
        true,
        cri::MountPropagation::PropagationPrivate,
    )];
    let rro = n.create(&pod, config).await.unwrap();
    let mounts = n.status(&rro).await.status.unwrap().mounts;
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert!(
        mounts[0].readonly && mounts[0].recursive_read_only,
        "{mounts:?}"
    );
    n.start(&rro).await.unwrap();
    assert_eq!(n.sh(&rro, "cat /mnt/top").await, "top");
    // critest's own check, word for word.
    n.sh(
        &rro,
        r#"touch /mnt/tmpfs/foo 2>&1 | grep -q "Read-only file system""#,
    )
    .await;
    let out = n.exec(&rro, &["touch", "/mnt/top-new"], 60).await.unwrap();
    assert_ne!(out.exit_code, 0);
    assert!(!volume.submount.join("foo").exists());

    // Plain read-only: only the top is; the submount stays writable. That difference is
    // the point of rro.
    let mut config = n.config("plain", "sleep 600");
    config.mounts = vec![mount(
        &volume.dir,
        true,
        false,
        cri::MountPropagation::PropagationPrivate,
    )];
    let plain = n.create(&pod, config).await.unwrap();
    n.start(&plain).await.unwrap();
    n.sh(&plain, "touch /mnt/tmpfs/file").await;
    assert!(volume.submount.join("file").exists());
    let out = n
        .exec(&plain, &["touch", "/mnt/top-new"], 60)
        .await
        .unwrap();
    assert_ne!(out.exit_code, 0);

    // Refused before anything is made: rro without readonly, or with propagation.
    let refused = [
        (
            mount(
                &volume.dir,
                false,
                true,
                cri::MountPropagation::PropagationPrivate,
            ),
            "must also set readonly",
        ),
        (
            mount(
                &volume.dir,
                true,
                true,
                cri::MountPropagation::PropagationHostToContainer,
            ),
            "needs Private propagation",
        ),
        (
            mount(
                &volume.dir,
                true,
                true,
                cri::MountPropagation::PropagationBidirectional,
            ),
            "needs Private propagation",
        ),
    ];
    for (i, (m, why)) in refused.into_iter().enumerate() {
        let mut config = n.config(&format!("refused-{i}"), "sleep 600");
        config.mounts = vec![m];
        let e = n.create(&pod, config).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        let msg = e.message();
        assert!(
            msg.contains(&format!("container \"refused-{i}\""))
                && msg.contains("mounts[0].recursive_read_only")
                && msg.contains(&volume.dir.display().to_string())
                && msg.contains(why),
            "{msg}"
        );
    }
    let listed = common::list_containers(&mut n.client).await;
    assert_eq!(
        listed.len(),
        2,
        "a refused container was recorded: {listed:?}"
    );

    n.remove_pod(&pod.0).await;
    drop(volume);
    n.assert_clean();
}

/// The first lines of a container's log, once it has `want` of them.
async fn log_lines(n: &Node, pod: &str, name: &str, want: usize) -> Vec<String> {
    let path = n.logs().join(pod).join(format!("{name}.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_owned())
            .collect();
        if lines.len() >= want {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {lines:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn supplemental_groups_policy_merge_and_strict() {
    let mut n = node().await;
    assert!(
        status(&mut n)
            .await
            .features
            .unwrap()
            .supplemental_groups_policy
    );
    let pod = n.pod("groups").await;
    let security = |policy: i32| cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            run_as_user: Some(cri::Int64Value { value: 1000 }),
            supplemental_groups: vec![1234],
            supplemental_groups_policy: policy,
            ..Default::default()
        }),
        ..Default::default()
    };
    // The test image's /etc/group lists user 1000 in group "extra" (3000). Merge keeps it;
    // Strict gives only the primary group and the request's.
    let cases = [
        (
            "merge",
            cri::SupplementalGroupsPolicy::Merge,
            vec![1000, 1234, 3000],
        ),
        (
            "strict",
            cri::SupplementalGroupsPolicy::Strict,
            vec![1000, 1234],
        ),
    ];
    for (name, policy, groups) in cases {
        let mut config = n.config(name, "id -G; sleep 600");
        config.linux = Some(security(policy as i32));
        let id = n.create(&pod, config).await.unwrap();
        n.start(&id).await.unwrap();
        let status = n.status(&id).await.status.unwrap();
        assert_eq!(
            status.user,
            Some(cri::ContainerUser {
                linux: Some(cri::LinuxContainerUser {
                    uid: 1000,
                    gid: 1000,
                    supplemental_groups: groups.clone(),
                }),
            }),
            "{name}"
        );
        let expected = groups
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        // The first process, then an exec'd one.
        assert_eq!(
            log_lines(&n, "groups", name, 1).await[0],
            expected,
            "{name}"
        );
        assert_eq!(n.sh(&id, "id -G").await, expected, "{name}");
    }

    // A policy the CRI does not define is refused.
    let mut config = n.config("unknown", "true");
    config.linux = Some(security(7));
    let e = n.create(&pod, config).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.message().contains("supplemental_groups_policy 7"), "{e}");

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}
