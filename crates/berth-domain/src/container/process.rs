//! The container process as Kubernetes defines it from the image config and the CRI
//! `ContainerConfig`: command line, environment, user and capabilities. Pure rules, used by
//! CreateContainer; the one thing read from the node, berthd's own bounding capability set
//! (what "every capability" means), comes through `crate::host`.

use std::collections::BTreeSet;

use crate::host::{Host, Node};
use crate::request::{GroupsPolicy, UserRequest};

/// Why no command line can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Neither the request nor the image names a command.
    #[error("no command: the container config and the image both leave it empty")]
    Empty,
    /// The first word is an empty string.
    #[error("the executable (the command line's first word) is an empty string")]
    EmptyExecutable,
}

/// Why the user cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// `run_as_group` without a user to go with it.
    #[error("run_as_group is set without run_as_user or run_as_username")]
    GroupWithoutUser,
    /// A user name the image does not know.
    #[error("user {0:?} is not in the image's /etc/passwd")]
    UnknownUser(String),
    /// A group name the image does not know.
    #[error("group {0:?} is not in the image's /etc/group")]
    UnknownGroup(String),
}

/// A capability name that is none of Linux's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCapability(pub String);

/// The command line, by Kubernetes' rules: `command` replaces the image's Entrypoint (and
/// then the image's Cmd is dropped); `args` replaces the image's Cmd.
pub fn command_line(
    image_entrypoint: &[String],
    image_cmd: &[String],
    command: &[String],
    args: &[String],
) -> Result<Vec<String>, CommandError> {
    let out: Vec<String> = match (command.is_empty(), args.is_empty()) {
        (false, _) => command.iter().chain(args).cloned().collect(),
        (true, false) => image_entrypoint.iter().chain(args).cloned().collect(),
        (true, true) => image_entrypoint.iter().chain(image_cmd).cloned().collect(),
    };
    match out.first() {
        None => Err(CommandError::Empty),
        Some(first) if first.is_empty() => Err(CommandError::EmptyExecutable),
        Some(_) => Ok(out),
    }
}

/// The environment: the image's, with the request's values replacing same-named ones and new
/// names appended, in order.
pub fn environment(image_env: &[String], envs: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = image_env.to_vec();
    for (key, value) in envs {
        let entry = format!("{key}={value}");
        match out
            .iter_mut()
            .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key.as_str()))
        {
            Some(existing) => *existing = entry,
            None => out.push(entry),
        }
    }
    out
}

/// Who the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UID.
    pub uid: u32,
    /// Primary GID.
    pub gid: u32,
    /// Supplementary GIDs, sorted, without the primary.
    pub additional_gids: Vec<u32>,
}

impl User {
    /// Every group the process holds: the primary, then the supplementary ones, sorted and
    /// without repeats (what `ContainerStatus.user.linux.supplemental_groups` reports, as
    /// containerd does).
    pub fn all_gids(&self) -> Vec<u32> {
        let set: BTreeSet<u32> = std::iter::once(self.gid)
            .chain(self.additional_gids.iter().copied())
            .collect();
        set.into_iter().collect()
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

/// `(name, gid, members)` of each `/etc/group` line.
fn groups(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves the user from the request, else the image's `User` (`name`, `uid`, `name:group`,
/// `uid:gid`), through the image rootfs's `/etc/passwd` and `/etc/group` texts. `run_as_group`
/// without a user is refused; an unknown user name is refused; an unknown numeric UID runs with
/// GID 0, as runc does. Supplementary groups: the request's, plus (policy Merge) the groups
/// listing the user; never the primary GID itself.
pub fn resolve_user(
    request: &UserRequest,
    image_user: &str,
    passwd_text: &str,
    group_text: &str,
) -> Result<User, UserError> {
    if request.gid.is_some() && request.uid.is_none() && request.username.is_none() {
        return Err(UserError::GroupWithoutUser);
    }
    let entries = passwd(passwd_text);
    let group_entries = groups(group_text);
    let (user_part, group_part) = match (&request.uid, &request.username) {
        (Some(uid), _) => (uid.to_string(), None),
        (None, Some(name)) => (name.clone(), None),
        (None, None) => match image_user.split_once(':') {
            Some((u, g)) => (u.to_owned(), Some(g.to_owned())),
            None => (image_user.to_owned(), None),
        },
    };
    let user_part = if user_part.is_empty() {
        "0".to_owned()
    } else {
        user_part
    };
    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => match entries.iter().find(|e| e.uid == uid) {
            Some(e) => (uid, e.gid, Some(e.name.clone())),
            None => (uid, 0, None),
        },
        Err(_) => {
            let e = entries
                .iter()
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::UnknownUser(user_part.clone()))?;
            (e.uid, e.gid, Some(e.name.clone()))
        }
    };
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries
                .iter()
                .find(|(n, _, _)| *n == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| UserError::UnknownGroup(g.clone()))?,
        };
    }
    if let Some(g) = request.gid {
        gid = g;
    }
    let mut additional: BTreeSet<u32> = request.supplemental.iter().copied().collect();
    if let (Some(name), GroupsPolicy::Merge) = (&name, request.groups_policy) {
        additional.extend(
            group_entries
                .iter()
                .filter(|(_, _, m)| m.contains(name))
                .map(|(_, gid, _)| *gid),
        );
    }
    additional.remove(&gid);
    Ok(User {
        uid,
        gid,
        additional_gids: additional.into_iter().collect(),
    })
}

/// containerd's default capability set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability name, for `ALL`.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// "Every capability" means every one berthd itself holds (its bounding set), as containerd
/// does: a node's root may lack some (CAP_SYS_RESOURCE in a container, capabilities newer
/// than the kernel), and asking the runtime for those fails the container.
fn host_capabilities() -> Vec<String> {
    within(Node.capability_bounding_set())
}

/// The capabilities of a bounding set (bit N is capability number N).
fn within(bounding: u64) -> Vec<String> {
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// The one spelling of a capability name: `CAP_SYS_ADMIN`, `sys_admin` and ` SYS_ADMIN` are
/// all `CAP_SYS_ADMIN` (CRI requests and seccomp profiles use each). Not checked against
/// the known names.
pub fn capability_name(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// A requested capability in its one spelling; `CAP_ALL` stands for ALL.
fn known_capability(name: &str) -> Result<String, UnknownCapability> {
    let full = capability_name(name);
    if full == "CAP_ALL" || ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(UnknownCapability(name.to_owned()))
    }
}

/// The capability set: the default set, then `add` (ALL adds every one), then `drop` (ALL
/// drops every one, after which `add` still applies, as containerd does). Privileged gets all.
pub fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, UnknownCapability> {
    if privileged {
        return Ok(host_capabilities());
    }
    let add: Vec<String> = add
        .iter()
        .map(|c| known_capability(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| known_capability(c))
        .collect::<Result<_, _>>()?;
    let mut set: BTreeSet<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    if add.iter().any(|c| c == "CAP_ALL") {
        set.extend(host_capabilities());
    }
    if drop.iter().any(|c| c == "CAP_ALL") {
        set.clear();
    }
    for c in &drop {
        set.remove(c);
    }
    for c in add.iter().filter(|c| *c != "CAP_ALL") {
        set.insert(c.clone());
    }
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_and_args_follow_kubernetes() {
        let (ep, cmd) = (v(&["/entry"]), v(&["--default"]));
        assert_eq!(
            command_line(&ep, &cmd, &[], &[]).unwrap(),
            v(&["/entry", "--default"])
        );
        assert_eq!(
            command_line(&ep, &cmd, &[], &v(&["--x"])).unwrap(),
            v(&["/entry", "--x"])
        );
        assert_eq!(
            command_line(&ep, &cmd, &v(&["sh"]), &[]).unwrap(),
            v(&["sh"]),
            "command drops the image Cmd"
        );
        assert_eq!(
            command_line(&ep, &cmd, &v(&["sh"]), &v(&["-c", "x"])).unwrap(),
            v(&["sh", "-c", "x"])
        );
        assert_eq!(command_line(&[], &[], &[], &[]), Err(CommandError::Empty));
        assert_eq!(
            command_line(&[], &[], &v(&[""]), &[]),
            Err(CommandError::EmptyExecutable)
        );
    }

    #[test]
    fn request_env_overrides_the_image() {
        let env = environment(
            &v(&["PATH=/bin", "A=1"]),
            &[("A".into(), "2".into()), ("B".into(), "3".into())],
        );
        assert_eq!(env, v(&["PATH=/bin", "A=2", "B=3"]));
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:3000:app\n";

    #[test]
    fn users_resolve_through_the_image_files() {
        let none = UserRequest::default();
        assert_eq!(
            resolve_user(&none, "", PASSWD, GROUP).unwrap(),
            User {
                uid: 0,
                gid: 0,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve_user(&none, "app", PASSWD, GROUP).unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![3000]
            }
        );
        assert_eq!(
            resolve_user(&none, "1000:extra", PASSWD, GROUP).unwrap(),
            User {
                uid: 1000,
                gid: 3000,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve_user(&none, "4242", PASSWD, GROUP).unwrap(),
            User {
                uid: 4242,
                gid: 0,
                additional_gids: vec![]
            }
        );
        assert_eq!(
            resolve_user(&none, "nobody", PASSWD, GROUP)
                .unwrap_err()
                .to_string(),
            "user \"nobody\" is not in the image's /etc/passwd"
        );
        assert_eq!(
            resolve_user(&none, "app:nogroup", PASSWD, GROUP),
            Err(UserError::UnknownGroup("nogroup".into()))
        );
        let by_name = UserRequest {
            username: Some("app".into()),
            supplemental: vec![5],
            ..Default::default()
        };
        assert_eq!(
            resolve_user(&by_name, "", PASSWD, GROUP)
                .unwrap()
                .additional_gids,
            vec![5, 3000]
        );
        let with_group = UserRequest {
            uid: Some(1000),
            gid: Some(7),
            ..Default::default()
        };
        assert_eq!(
            resolve_user(&with_group, "root", PASSWD, GROUP)
                .unwrap()
                .gid,
            7
        );
        let group_only = UserRequest {
            gid: Some(7),
            ..Default::default()
        };
        assert_eq!(
            resolve_user(&group_only, "app", PASSWD, GROUP),
            Err(UserError::GroupWithoutUser),
            "run_as_group without a user"
        );
    }

    #[test]
    fn strict_policy_ignores_the_image_groups() {
        let merge = UserRequest {
            uid: Some(1000),
            supplemental: vec![1234],
            ..Default::default()
        };
        let user = resolve_user(&merge, "", PASSWD, GROUP).unwrap();
        assert_eq!(user.additional_gids, vec![1234, 3000]);
        assert_eq!(user.all_gids(), vec![1000, 1234, 3000]);
        let strict = UserRequest {
            groups_policy: GroupsPolicy::Strict,
            ..merge
        };
        let user = resolve_user(&strict, "", PASSWD, GROUP).unwrap();
        assert_eq!(
            (user.uid, user.gid),
            (1000, 1000),
            "the primary group still comes from /etc/passwd"
        );
        assert_eq!(user.additional_gids, vec![1234]);
        assert_eq!(user.all_gids(), vec![1000, 1234]);
        // The image's `user:group` names the primary group: Strict keeps it.
        let strict_image = UserRequest {
            groups_policy: GroupsPolicy::Strict,
            ..Default::default()
        };
        let user = resolve_user(&strict_image, "app:extra", PASSWD, GROUP).unwrap();
        assert_eq!((user.gid, user.all_gids()), (3000, vec![3000]));
    }

    #[test]
    fn capabilities_add_and_drop_including_all() {
        let default = capabilities(&[], &[], false).unwrap();
        assert_eq!(default.len(), DEFAULT_CAPABILITIES.len());
        let caps = capabilities(&v(&["NET_ADMIN"]), &v(&["CAP_KILL"]), false).unwrap();
        assert!(
            caps.contains(&"CAP_NET_ADMIN".to_owned()) && !caps.contains(&"CAP_KILL".to_owned())
        );
        assert_eq!(
            capabilities(&v(&["NET_BIND_SERVICE"]), &v(&["ALL"]), false).unwrap(),
            v(&["CAP_NET_BIND_SERVICE"])
        );
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(capabilities(&v(&["ALL"]), &[], false).unwrap()),
            sorted(host_capabilities())
        );
        assert_eq!(
            capabilities(&v(&["NOPE"]), &[], false),
            Err(UnknownCapability("NOPE".into()))
        );
        assert_eq!(
            capabilities(&v(&[" cap_sys_admin", "all"]), &v(&["ALL"]), false).unwrap(),
            v(&["CAP_SYS_ADMIN"]),
            "any spelling, ALL included"
        );
        assert_eq!(
            capabilities(&[], &v(&["ALL"]), true).unwrap(),
            host_capabilities(),
            "privileged"
        );
        assert!(host_capabilities().contains(&"CAP_CHOWN".to_owned()));
    }

    #[test]
    fn every_capability_means_those_of_the_bounding_set() {
        assert_eq!(within(0b101), v(&["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]));
        assert_eq!(within(u64::MAX).len(), ALL_CAPABILITIES.len());
        assert!(within(0).is_empty());
    }

    #[test]
    fn capability_names_have_one_spelling() {
        for spelt in ["CAP_SYS_ADMIN", "SYS_ADMIN", "sys_admin", " cap_sys_admin "] {
            assert_eq!(capability_name(spelt), "CAP_SYS_ADMIN", "{spelt:?}");
        }
        assert_eq!(capability_name("made_up"), "CAP_MADE_UP");
    }
}
