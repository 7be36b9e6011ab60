//! What a stats call must not wait for, sampled in the background: a container's or pod's CPU
//! rate (`usage_nano_cores`: CPU time used between the last two samples over the time
//! between them), the size of its writable layer (a walk of its upper directory, which can
//! be big), and its cgroups' last full reading (memory, processes, stall times: several
//! files per container, which `ListContainerStats` of a hundred containers would otherwise
//! read at the call) with the cgroups themselves. One pass samples every running container
//! and ready pod and forgets the others; the calls read the last pass's figures. The pass
//! itself is the domain's one sampler task's (`stats::background`), run off the async
//! threads.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::cgroup::{CgroupDirs, Usage};

/// A running container or pod to sample.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its ID.
    pub id: String,
    /// The cgroups whose CPU time together is its own.
    pub cgroups: Vec<CgroupDirs>,
    /// Its writable layer's upper directory (a container's).
    pub upper: Option<PathBuf>,
}

/// A writable layer's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerUsage {
    /// Bytes of its files' blocks.
    pub bytes: u64,
    /// Files, directories and links in it.
    pub inodes: u64,
}

/// The last figures of one container or pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// CPU used between the last two samples, in billionths of a core.
    pub nano_cores: Option<u64>,
    /// Its writable layer at the last sample.
    pub layer: Option<LayerUsage>,
    /// Its cgroups, as the last pass found them.
    pub cgroups: Vec<CgroupDirs>,
    /// Its cgroups' last full reading.
    pub reading: Option<Reading>,
    /// The last CPU reading: when, and the CPU time then (ns).
    cpu: Option<(Instant, u64)>,
}

/// A full reading of a cgroup's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// When, nanoseconds since the epoch.
    pub at_ns: i64,
    /// What the files said.
    pub usage: Usage,
}

/// The last pass's figures, by container ID.
#[derive(Debug, Default)]
pub struct Sampler {
    samples: Mutex<HashMap<String, Sample>>,
}

impl Sampler {
    /// The last figures of container `id` (empty before its first sample).
    pub fn get(&self, id: &str) -> Sample {
        let samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.get(id).cloned().unwrap_or_default()
    }

    /// Keeps a reading a call made of a target the last pass did not see (a container
    /// started since), so that calls until the next pass reuse it; a target already sampled
    /// keeps its sample.
    pub fn remember(&self, id: &str, cgroups: Vec<CgroupDirs>, reading: Reading) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.entry(id.to_owned()).or_insert_with(|| Sample {
            cgroups,
            reading: Some(reading),
            ..Sample::default()
        });
    }

    /// Samples every one of `targets` (blocking: reads cgroup files and walks layers; the
    /// figures are swapped in at the end, so calls never wait for a walk).
    pub fn pass(&self, targets: Vec<Target>) {
        let previous = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let fresh = targets
            .into_iter()
            .map(|target| {
                let before = previous.get(&target.id).cloned().unwrap_or_default();
                let usage = CgroupDirs::read_all(&target.cgroups);
                let cpu = usage.cpu_ns.map(|ns| (Instant::now(), ns));
                let mut sample = next(before, cpu, target.upper.as_deref());
                sample.reading = Some(Reading {
                    at_ns: crate::clock::now_ns(),
                    usage,
                });
                sample.cgroups = target.cgroups;
                (target.id, sample)
            })
            .collect();
        *self.samples.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

/// The sample after `before`, with a new CPU reading and a walk of `upper`.
fn next(before: Sample, cpu: Option<(Instant, u64)>, upper: Option<&Path>) -> Sample {
    let nano_cores = match (before.cpu, cpu) {
        (Some(then), Some(now)) => rate(then, now).or(before.nano_cores),
        _ => before.nano_cores,
    };
    Sample {
        nano_cores,
        layer: upper.and_then(walk).or(before.layer),
        cpu: cpu.or(before.cpu),
        ..before
    }
}

/// CPU time per second of wall time, in billionths of a core, between two readings.
fn rate((then, used_then): (Instant, u64), (now, used_now): (Instant, u64)) -> Option<u64> {
    let seconds = now.checked_duration_since(then)?.as_secs_f64();
    (seconds > 0.0).then(|| (used_now.saturating_sub(used_then) as f64 / seconds) as u64)
}

/// The blocks and inodes under `dir` (not following links, not leaving its file system);
/// `None` when `dir` cannot be read at all.
fn walk(dir: &Path) -> Option<LayerUsage> {
    let top = std::fs::symlink_metadata(dir).ok()?;
    let mut usage = LayerUsage::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            usage.inodes += 1;
            usage.bytes += meta.blocks() * 512;
            if meta.is_dir() && meta.dev() == top.dev() {
                pending.push(entry.path());
            }
        }
    }
    Some(usage)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_cpu_rate_is_cpu_time_over_wall_time() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        // One core busy for two seconds is a billion nanocores.
        assert_eq!(rate((t0, 0), (t1, 2_000_000_000)), Some(1_000_000_000));
        assert_eq!(rate((t0, 5), (t0, 9)), None, "no time passed");
        assert_eq!(rate((t1, 5), (t0, 9)), None, "time ran backwards");
        assert_eq!(
            rate((t0, 9), (t1, 5)),
            Some(0),
            "a counter reset is not negative"
        );
    }

    #[test]
    fn a_sample_keeps_what_a_failed_reading_could_not_replace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), vec![7u8; 10_000]).unwrap();
        let t0 = Instant::now();
        let first = next(Sample::default(), Some((t0, 0)), Some(dir.path()));
        assert_eq!(first.nano_cores, None, "one reading has no rate");
        let layer = first.layer.unwrap();
        assert_eq!(layer.inodes, 2);
        assert!(layer.bytes >= 10_000, "{layer:?}");

        let t1 = t0 + Duration::from_millis(500);
        let second = next(first.clone(), Some((t1, 250_000_000)), Some(dir.path()));
        assert_eq!(second.nano_cores, Some(500_000_000));
        // The process went (no reading) and so did its layer: the last figures stay.
        let gone = next(second.clone(), None, Some(&dir.path().join("missing")));
        assert_eq!(
            (gone.nano_cores, gone.layer),
            (second.nano_cores, second.layer)
        );
    }

    #[test]
    fn a_pass_forgets_containers_no_longer_running() {
        let dir = tempfile::tempdir().unwrap();
        let sampler = Sampler::default();
        let me = |id: &str| Target {
            id: id.into(),
            cgroups: CgroupDirs::of_pid(std::process::id() as i32)
                .into_iter()
                .collect(),
            upper: Some(dir.path().to_path_buf()),
        };
        sampler.pass(vec![me("a"), me("b")]);
        let a = sampler.get("a");
        assert!(a.layer.is_some());
        assert_eq!(a.cgroups.len(), 1);
        assert!(a.reading.unwrap().at_ns > 0);
        sampler.pass(vec![me("b")]);
        assert_eq!(sampler.get("a"), Sample::default());
        assert!(sampler.get("b").layer.is_some());
    }

    #[test]
    fn a_calls_reading_serves_until_the_next_pass_and_never_replaces_a_sample() {
        let sampler = Sampler::default();
        let reading = |at_ns| Reading {
            at_ns,
            usage: Usage::default(),
        };
        sampler.remember("new", Vec::new(), reading(5));
        assert_eq!(sampler.get("new").reading, Some(reading(5)));
        sampler.remember("new", Vec::new(), reading(9));
        assert_eq!(
            sampler.get("new").reading,
            Some(reading(5)),
            "kept until the pass"
        );
        sampler.pass(Vec::new());
        assert_eq!(
            sampler.get("new"),
            Sample::default(),
            "a pass starts afresh"
        );
    }
}
