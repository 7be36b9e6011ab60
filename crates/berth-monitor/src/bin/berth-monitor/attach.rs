//! Attachers (CRI `Attach`, through berthd): each connection to the attach socket gets what
//! the container writes from then on, and may write to its stdin and resize its terminal
//! (the protocol is `berth_monitor::attach`'s). Two threads per attacher: a writer that sends
//! it its queue of frames, and a reader that takes its input. The copiers never wait on an
//! attacher: an attacher whose queue is full is dropped (its connection closes), as the log
//! must keep being written whatever one client does.
//!
//! stdin: a container created with `--stdin true` has a pipe (or its terminal) as input,
//! held here for every attacher to write to. With `--stdin-once true` it is closed after the
//! first attacher that carried input ends it or leaves: the container reads end of file (on
//! a terminal, input just stops: closing berth's copy of the terminal hangs nothing up).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_monitor::attach::{
    ATTACH_SOCKET_FILE, FrameKind, MAX_PAYLOAD, decode_size, encode_frame, read_frame,
};

use crate::shared::Shared;
use crate::sys;

/// Attachers at once; one more is turned away (its connection closed).
const MAX_ATTACHERS: usize = 64;
/// Frames queued for one attacher (each at most a copier's read, 16 KiB: 1 MiB in all).
const QUEUE_FRAMES: usize = 64;
/// How long the last frames may take to leave once the container ended.
const END_FLUSH: Duration = Duration::from_secs(1);

/// The container's attachers, its held stdin and its terminal.
pub struct Attach {
    clients: Mutex<Clients>,
    stdin: Mutex<Option<File>>,
    stdin_once: bool,
    terminal: Option<File>,
    /// Writer threads still sending.
    writers: AtomicUsize,
}

#[derive(Default)]
struct Clients {
    queues: Vec<(u64, SyncSender<Arc<[u8]>>)>,
    next: u64,
    /// The container ended: newcomers get `End` at once.
    ended: bool,
}

impl Attach {
    /// Attach for a container with `stdin` (its input's write end, if it takes input) and
    /// `terminal` (a copy of its terminal's master, if it has one).
    pub fn new(stdin: Option<File>, stdin_once: bool, terminal: Option<File>) -> Self {
        Self {
            clients: Mutex::new(Clients::default()),
            stdin: Mutex::new(stdin),
            stdin_once,
            terminal,
            writers: AtomicUsize::new(0),
        }
    }

    fn clients(&self) -> MutexGuard<'_, Clients> {
        self.clients.lock().expect("attachers")
    }

    /// Sends `bytes` the container wrote on `kind` to every attacher, dropping the ones that
    /// cannot keep up.
    pub fn broadcast(&self, kind: FrameKind, bytes: &[u8]) {
        let mut clients = self.clients();
        if clients.queues.is_empty() {
            return;
        }
        for chunk in bytes.chunks(MAX_PAYLOAD) {
            let frame: Arc<[u8]> = encode_frame(kind, chunk).into();
            // Full: too slow, dropped; disconnected: gone.
            clients
                .queues
                .retain(|(_, queue)| queue.try_send(frame.clone()).is_ok());
        }
    }

    /// The container ended and its output is drained: tells every attacher, then waits a
    /// little for their last frames to leave.
    pub fn end(&self) {
        {
            let mut clients = self.clients();
            clients.ended = true;
            let end: Arc<[u8]> = encode_frame(FrameKind::End, b"").into();
            for (_, queue) in clients.queues.drain(..) {
                let _ = queue.try_send(end.clone());
            }
        }
        let deadline = Instant::now() + END_FLUSH;
        while self.writers.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Takes a new attacher on `conn`: registers its queue and starts its two threads.
    pub fn admit(shared: &Arc<Shared>, conn: UnixStream) {
        let attach = &shared.attach;
        let (queue, frames) = sync_channel(QUEUE_FRAMES);
        let id = {
            let mut clients = attach.clients();
            if clients.ended {
                let _ = (&conn).write_all(&encode_frame(FrameKind::End, b""));
                return;
            }
            if clients.queues.len() >= MAX_ATTACHERS {
                return;
            }
            clients.next += 1;
            let id = clients.next;
            clients.queues.push((id, queue));
            id
        };
        let Ok(writer) = conn.try_clone() else {
            attach.leave(id);
            return;
        };
        attach.writers.fetch_add(1, Ordering::SeqCst);
        let shared_w = shared.clone();
        std::thread::spawn(move || send(writer, frames, &shared_w.attach));
        let shared_r = shared.clone();
        std::thread::spawn(move || receive(id, conn, &shared_r.attach));
    }

    /// Forgets attacher `id` (its writer then ends).
    fn leave(&self, id: u64) {
        self.clients().queues.retain(|(other, _)| *other != id);
    }

    fn write_stdin(&self, bytes: &[u8]) {
        let mut stdin = self.stdin.lock().expect("stdin");
        if let Some(file) = stdin.as_mut()
            && file.write_all(bytes).is_err()
        {
            *stdin = None;
        }
    }

    /// An attacher's input ended: with `stdin_once`, the container's too.
    fn stdin_ended(&self) {
        if self.stdin_once {
            self.stdin.lock().expect("stdin").take();
        }
    }

    fn resize(&self, width: u16, height: u16) {
        if let Some(terminal) = &self.terminal {
            let _ = sys::set_window_size(terminal.as_fd(), width, height);
        }
    }
}

/// Listens at the attach socket in `state_dir`, replacing a stale one.
pub fn bind(state_dir: &Path) -> Result<UnixListener, String> {
    let socket = state_dir.join(ATTACH_SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))
}

/// An attacher's writer: sends its frames until its queue closes or it goes away, then
/// closes the connection (which ends its reader too).
fn send(mut conn: UnixStream, frames: Receiver<Arc<[u8]>>, attach: &Attach) {
    for frame in frames {
        if conn.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
    attach.writers.fetch_sub(1, Ordering::SeqCst);
}

/// An attacher's reader: its input, sizes and end of input, until it goes away. An
/// attacher that carried input and leaves has ended its input.
fn receive(id: u64, mut conn: UnixStream, attach: &Attach) {
    let mut carried_input = false;
    while let Ok(Some((kind, payload))) = read_frame(&mut conn) {
        match kind {
            FrameKind::Stdin => {
                carried_input = true;
                attach.write_stdin(&payload);
            }
            FrameKind::StdinClosed => {
                carried_input = false;
                attach.stdin_ended();
            }
            FrameKind::Resize => {
                if let Some((width, height)) = decode_size(&payload) {
                    attach.resize(width, height);
                }
            }
            FrameKind::Stdout | FrameKind::Stderr | FrameKind::End => {}
        }
    }
    attach.leave(id);
    if carried_input {
        attach.stdin_ended();
    }
}
