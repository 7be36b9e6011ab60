//! The container's output into the CRI log, and to its attachers: one copier thread per
//! output stream (the stdout and stderr pipes, or the terminal), and the log file's opening,
//! also after the kubelet rotated it. The record format itself is `berth_monitor::cri_log`'s.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use berth_monitor::attach::FrameKind;
use berth_monitor::cri_log::LineSplitter;

use crate::shared::Shared;
use crate::sys;

/// Read size of a copier: a CRI log line splits at 16 KiB anyway, and a small buffer keeps
/// each monitor's memory small.
const READ_BUFFER: usize = 16 * 1024;

/// One output stream of the container, as the monitor reads it.
pub struct Stream {
    /// The read end of the container's pipe, or the terminal's master.
    pub file: File,
    /// `stdout` or `stderr`, as the log names it.
    pub name: &'static str,
}

impl Stream {
    /// The attach frame its bytes go out in.
    fn kind(&self) -> FrameKind {
        if self.name == "stderr" {
            FrameKind::Stderr
        } else {
            FrameKind::Stdout
        }
    }

    /// The stream `name` read from `fd`.
    pub fn new(fd: OwnedFd, name: &'static str) -> Self {
        Self {
            file: File::from(fd),
            name,
        }
    }
}

/// Opens the CRI log at `path` for appending, creating it and its directory.
pub fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options().create(true).append(true).open(path)
}

/// Starts one copier thread per stream.
pub fn spawn_copiers(streams: Vec<Stream>, shared: &Arc<Shared>) {
    for stream in streams {
        let shared = shared.clone();
        std::thread::spawn(move || copy(stream, &shared));
    }
}

/// Copies one stream into the log until its end, then counts it as drained. Its buffers are
/// made when the first bytes (or the end) arrive: a container that prints nothing keeps none
/// resident in its monitor.
fn copy(mut stream: Stream, shared: &Shared) {
    while let Err(e) = sys::poll_readable(&[stream.file.as_fd()], -1) {
        if e.kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    let mut splitter = LineSplitter::new(stream.name);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match stream.file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = splitter.feed(&buf[..n], &mut LogWriter(shared));
                shared.attach.broadcast(stream.kind(), &buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = splitter.finish(&mut LogWriter(shared));
    shared.stream_ended();
}

/// The shared log as a writer (the file is locked per write).
struct LogWriter<'a>(&'a Shared);

impl Write for LogWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_log(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
