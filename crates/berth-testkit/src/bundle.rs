//! An OCI bundle whose rootfs is the busybox layer, unpacked by berth's own unpacker.

use std::path::Path;

use berth_image::unpack::{Compression, unpack_layer};
use oci_spec::runtime::{LinuxBuilder, ProcessBuilder, RootBuilder, Spec};

use crate::layers::busybox_layer;

/// Writes `bundle/config.json` running `args` (PATH=/bin) in cgroup `cgroups_path`, with a
/// read-only busybox rootfs at `bundle/rootfs`.
pub fn busybox_bundle(bundle: &Path, args: &[&str], cgroups_path: &str) {
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).expect("rootfs dir");
    unpack_layer(busybox_layer().tar.as_slice(), Compression::None, &rootfs)
        .expect("unpack busybox");
    let mut spec = Spec::default();
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(true)
            .build()
            .expect("root"),
    ));
    spec.set_process(Some(
        ProcessBuilder::default()
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .cwd("/")
            .env(vec!["PATH=/bin".to_owned()])
            .build()
            .expect("process"),
    ));
    let mut linux = spec
        .linux()
        .clone()
        .unwrap_or_else(|| LinuxBuilder::default().build().expect("linux"));
    linux.set_cgroups_path(Some(cgroups_path.into()));
    spec.set_linux(Some(linux));
    spec.save(bundle.join("config.json")).expect("config.json");
}
