//! Pulls: a ~50 MB four-layer image pulled from a loopback `docker-registry` by berthd
//! (download, verify, unpack), against `skopeo copy docker://… dir:…` (download and verify
//! only) on the same image in the same run, alternating; and berthd's peak RSS over them.

use std::time::Instant;

use berth_cri_client::cri;
use berth_testkit::{Registry, push_big};

use super::berthd::Berthd;
use super::{On, insecure, pull};
use crate::procs::{peak_rss_kib, rss_kib};
use crate::scenarios::ms;
use crate::stats::Samples;
use crate::target::{Failure, failed, image_spec};

/// Runs the benchmark with `rounds` pulls of each and prints its figures.
pub async fn run(on: &On, rounds: usize) -> Result<(), Failure> {
    let registry = Registry::start().await;
    let image = push_big(&registry, "big").await;
    let size_mb = image.total_layer_bytes as f64 / 1e6;
    let work = on.work()?;
    let (daemon, client) = Berthd::start(&on.berthd, work.path(), &insecure(&registry)).await?;
    let idle_kib = rss_kib(daemon.pid());
    let (mut berth, mut skopeo) = (Samples::default(), Samples::default());
    let scratch = work.path().join("skopeo");
    for _ in 0..rounds {
        let start = Instant::now();
        pull(&client, &image.reference).await?;
        berth.0.push(ms(start));
        client
            .clone()
            .image
            .remove_image(cri::RemoveImageRequest {
                image: Some(image_spec(&image.reference)),
            })
            .await
            .map_err(failed("RemoveImage"))?;

        let _ = std::fs::remove_dir_all(&scratch);
        let start = Instant::now();
        let status = tokio::process::Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}", image.reference))
            .arg(format!("dir:{}", scratch.display()))
            .status()
            .await
            .map_err(|e| format!("skopeo (apt-get install skopeo): {e}"))?;
        if !status.success() {
            return Err(format!("skopeo copy exited with {status}"));
        }
        skopeo.0.push(ms(start));
    }
    let peak_kib = peak_rss_kib(daemon.pid());
    drop(client);
    daemon.stop(&[]).await?;

    let (b, s) = (berth.upper_median(), skopeo.upper_median());
    println!(
        "image: {} ({size_mb:.1} MB compressed, 4 layers)",
        image.reference
    );
    println!("rounds: {rounds} (median)");
    println!("berth pull (download + verify + unpack): {b:.0} ms");
    println!("skopeo copy to dir: (download + verify):  {s:.0} ms");
    println!("ratio berth/skopeo: {:.2}", b / s);
    println!(
        "berthd RSS idle: {:.1} MiB, peak over the pulls: {:.1} MiB",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0
    );
    Ok(())
}
