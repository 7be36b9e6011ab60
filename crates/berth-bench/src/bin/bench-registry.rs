//! A registry for benchmarks: Debian's docker-registry on loopback with berth's test images
//! (busybox as `busybox:latest`; busybox running `sleep 2147483647` as `pause:bench`, for a
//! runtime that needs a sandbox image). Prints the registry's `host:port` on one line, then
//! serves until SIGTERM or SIGINT, and removes its storage on the way out.

use berth_testkit::{Flavour, Registry, build_image, busybox_layer, default_config, push_image};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let registry = Registry::start().await;
    let busybox = build_image(
        &[busybox_layer()],
        Flavour::Gzip,
        default_config("amd64", ""),
    );
    push_image(&registry, "busybox", "latest", &busybox).await;
    let mut pause = default_config("amd64", "");
    pause["config"]["Cmd"] = serde_json::json!(["sleep", "2147483647"]);
    let pause = build_image(&[busybox_layer()], Flavour::Gzip, pause);
    push_image(&registry, "pause", "bench", &pause).await;
    println!("{}", registry.host());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(registry);
}
