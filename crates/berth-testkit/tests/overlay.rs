//! The layers the image store unpacks, stacked by overlayfs as a container will see them:
//! whiteouts hide lower files, opaque directories hide lower contents. Needs root.

use berth_image::rootfs::{mount_overlay, unmount};
use berth_image::unpack::{Compression, unpack_layer};
use berth_testkit::{busybox_layer, whiteout_layers};

#[test]
fn whiteouts_and_opaque_dirs_take_effect_in_the_container_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = whiteout_layers();
    let mut lowers = Vec::new();
    for (i, layer) in [busybox_layer(), first, second].iter().enumerate() {
        let path = dir.path().join(format!("layer{i}"));
        std::fs::create_dir(&path).unwrap();
        unpack_layer(layer.tar.as_slice(), Compression::None, &path).unwrap();
        lowers.push(path);
    }
    let target = dir.path().join("rootfs");
    mount_overlay(
        &lowers,
        &dir.path().join("upper"),
        &dir.path().join("work"),
        &target,
    )
    .unwrap();
    let seen = (
        target.join("bin/busybox").exists(),
        target.join("data/keep").exists(),
        target.join("data/gone").exists(),
        target.join("opaque/old").exists(),
        target.join("opaque/new").exists(),
    );
    // Writes go to the container's upper dir, never into a layer.
    std::fs::write(target.join("tmp/written"), "x").unwrap();
    let upper_has_it = dir.path().join("upper/tmp/written").exists();
    let layer_has_it = lowers.iter().any(|l| l.join("tmp/written").exists());
    unmount(&target).unwrap();
    unmount(&target).unwrap();
    assert_eq!(
        seen,
        (true, true, false, false, true),
        "(busybox, keep, gone, old, new)"
    );
    assert!(upper_has_it && !layer_has_it);
}
