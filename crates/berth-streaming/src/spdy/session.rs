//! A SPDY/3 connection: stream multiplexing over one byte stream, in either role.
//!
//! Owns: the connection's two tasks (a reader and a writer), its stream table, stream id
//! allocation, PING, GOAWAY, inbound buffering limits and the shutdown path. It must not
//! know what the streams carry, nor anything of the HTTP upgrade before it.
//!
//! # What the Go peer does (read in moby/spdystream `connection.go`, `stream.go`, `spdy/`)
//!
//! - **Flow control: none.** spdystream never sends WINDOW_UPDATE or SETTINGS. A
//!   WINDOW_UPDATE it receives is parsed and then dropped by its frame handler ("unhandled
//!   frame type"), and it never limits what it sends by any window: `Stream.Write` sends one
//!   data frame per call, of any size up to 2^24 - 1. So this side neither sends
//!   WINDOW_UPDATE nor honours windows; waiting for credit the Go side never grants would
//!   hang `kubectl cp` at 64 KiB. SETTINGS and WINDOW_UPDATE from the peer are ignored.
//! - **Buffering: bounded, with head-of-line blocking.** Its reader goroutine pushes every
//!   frame into one of five priority queues (stream id % 5) of 50 frames each; one worker
//!   per queue hands data frames to the stream over an *unbuffered* channel, i.e. it blocks
//!   until the application reads. An unread stream therefore blocks its queue, and once
//!   that queue holds 50 frames the reader goroutine blocks and the whole connection stops
//!   (pings included). There is no per-stream buffer beyond one frame.
//! - **Replies.** The Kubernetes server side answers every accepted stream with a SYN_REPLY
//!   with empty headers; the client waits 30 s for it (`createStreamResponseTimeout`).
//!   spdystream drops data that arrives on a stream before its SYN_REPLY, so this side
//!   always sends the reply before any data (writing on an unreplied stream replies).
//! - **Unknown control frame types** are a read error in Go, which ends its `Serve` loop,
//!   i.e. the connection. This side only ever sends the eight known types.
//! - **PING**: Go echoes a ping whose id has the other side's parity (client odd, server
//!   even) and treats one of its own parity as the answer; so does this side.
//!   Kubernetes' keepalive logs a failed ping and carries on; it does not close.
//! - **GOAWAY**: on receipt Go stops reading the connection at once (every stream's reads
//!   end with EOF) and closes it once its streams are gone. Its `Close` sends GOAWAY; the
//!   Kubernetes wrapper first resets every stream (RST_STREAM CANCEL).
//!
//! # Inbound buffering (the trade-off)
//!
//! Each stream buffers at most [`SessionConfig::stream_buffer`] bytes that its reader has
//! not taken (plus the frame that crossed the line), and all streams together at most
//! [`SessionConfig::connection_buffer`]. When a frame arrives for a stream that is full,
//! the reader task stops reading the socket until that stream's reader makes room, which
//! pushes back on the peer through TCP. SPDY without windows offers nothing finer: the
//! only alternatives are unbounded memory or dropping data, and `kubectl cp` must neither
//! blow our memory nor lose bytes. The price is the one Go pays too: one stream whose
//! reader is held but never read stalls every other stream (and the echoing of pings) of
//! that connection until it is read, dropped or reset, or the connection is closed. So
//! every [`StreamReader`](super::StreamReader) must be either read or dropped: dropping one discards what it
//! buffered and all later data for it, and unblocks the connection at once. A stall never
//! outlives the session: closing it ends the reader task wherever it waits.
//!
//! # Tasks and shutdown
//!
//! [`Session::server`]/[`Session::client`] spawn two tasks on a [`TaskTracker`] owned by
//! the session: the reader (decodes frames, feeds streams, answers pings, hands new
//! streams to [`Incoming`]) and the writer (the only code that writes the socket; it
//! encodes frames in queue order, so the outbound header compression context stays in
//! step, and interleaves streams frame by frame). Their shutdown path, in every case:
//!
//! 1. A close begins when [`Session::close`] is called, when the last handle
//!    ([`Session`], [`Incoming`], [`Stream`], [`StreamReader`](super::StreamReader), [`StreamWriter`](super::StreamWriter)) is
//!    dropped (both send GOAWAY OK), when the peer ends the byte stream, or when the peer
//!    breaks the protocol (GOAWAY PROTOCOL_ERROR). From then on no stream can be opened,
//!    writes fail, and every stream's reader returns what it buffered and then EOF (if the
//!    peer had sent FIN) or an error, so whoever serves a stream notices a vanished peer.
//! 2. The writer sends what was already queued, flushes and shuts the write side, within
//!    [`SessionConfig::drain_timeout`].
//! 3. The reader keeps reading and discarding until the peer closes, for at most
//!    [`SessionConfig::linger_timeout`] after the writer finished, so that closing the
//!    socket with unread input does not make the kernel send RST and destroy output the
//!    peer has not read yet.
//! 4. Both tasks end and drop their halves of the byte stream; [`Session::closed`] returns.
//!
//! A read or write error on the socket skips straight to 4.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::SpdyError;
use super::frame::{
    Frame, FrameDecoder, FrameEncoder, FrameError, GoAwayStatus, MAX_FRAME_PAYLOAD, MAX_STREAM_ID,
    RstStatus, data_frame_header,
};
use super::headers::{DEFAULT_MAX_HEADER_BLOCK, Headers};
use super::stream::{Admit, MAX_DATA_FRAME, Stream, StreamShared};

/// Which end of the connection this side is: it decides stream and ping id parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Opens odd-numbered streams and pings (kubectl's side).
    Client,
    /// Opens even-numbered streams and pings (the kubelet's, and berth's, side).
    Server,
}

impl Role {
    fn first_id(self) -> u32 {
        match self {
            Role::Client => 1,
            Role::Server => 2,
        }
    }

    /// True if `id` (of a stream or a ping) has this side's parity.
    fn owns(self, id: u32) -> bool {
        id % 2 == self.first_id() % 2
    }
}

/// Limits and timeouts of a session. The defaults suit berth's streaming server.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Unread inbound bytes one stream may hold before the connection stops reading.
    pub stream_buffer: usize,
    /// Unread inbound bytes all streams together may hold.
    pub connection_buffer: usize,
    /// Outbound data bytes that may wait in the send queue before writers wait.
    pub send_buffer: usize,
    /// Streams the peer opened that may wait for [`Incoming::next`] before the connection
    /// stops reading.
    pub accept_backlog: usize,
    /// Largest frame payload accepted (at most 2^24 - 1, which the length field allows).
    pub max_frame_payload: usize,
    /// Largest decompressed header block accepted.
    pub max_header_block: usize,
    /// How long a close may take to send what was queued.
    pub drain_timeout: Duration,
    /// How long to keep reading after sending everything, waiting for the peer to close.
    pub linger_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            stream_buffer: 1024 * 1024,
            connection_buffer: 16 * 1024 * 1024,
            send_buffer: 512 * 1024,
            accept_backlog: 64,
            max_frame_payload: MAX_FRAME_PAYLOAD,
            max_header_block: DEFAULT_MAX_HEADER_BLOCK,
            drain_timeout: Duration::from_secs(10),
            linger_timeout: Duration::from_secs(5),
        }
    }
}

/// Frames the reader task may queue on its own (ping echoes, refusals) before it drops
/// them: a peer that floods pings while not reading our answers must not grow the queue.
const CONTROL_BACKLOG: usize = 256;

/// Size of the writer's buffer; frames are batched into it and flushed when the queue is
/// empty.
const WRITE_BUFFER: usize = 64 * 1024;

/// A frame waiting for the writer task, with the send-budget permit it holds, if any.
pub(crate) struct Outbound {
    frame: Frame,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Connection state shared by the handles and the two tasks.
pub(crate) struct Shared {
    role: Role,
    config: SessionConfig,
    out: mpsc::UnboundedSender<Outbound>,
    /// Bytes of data frames queued but not yet handed to the socket buffer.
    send_budget: Arc<Semaphore>,
    /// Frames the reader task queued and the writer has not yet written.
    control_budget: Arc<Semaphore>,
    conn: Mutex<ConnState>,
    /// Unread inbound bytes over all streams.
    buffered: AtomicUsize,
    /// Signalled when a reader consumed or released inbound bytes.
    space: Notify,
    /// A close has begun (step 1 of the shutdown path).
    closing: CancellationToken,
    /// Stop now, whatever is left (step 4).
    abort: CancellationToken,
    /// The reader task has stopped reading.
    read_done: CancellationToken,
    tasks: TaskTracker,
}

struct ConnState {
    next_stream_id: u32,
    last_peer_stream_id: u32,
    next_ping_id: u32,
    pings: HashMap<u32, oneshot::Sender<()>>,
    streams: HashMap<u32, Arc<StreamShared>>,
    goaway_sent: bool,
    goaway_received: bool,
    closed: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("role", &self.role)
            .field("closing", &self.closing.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ConnState> {
        // The state stays consistent across a panic elsewhere (every update is one step).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame from a handle. Never waits; after the writer stopped it is dropped.
    pub(crate) fn queue(&self, frame: Frame) {
        let _ = self.out.send(Outbound {
            frame,
            _permit: None,
        });
    }

    /// Queues a data frame holding `permit` from the send budget until it is written.
    pub(crate) fn queue_data(&self, frame: Frame, permit: OwnedSemaphorePermit) {
        let _ = self.out.send(Outbound {
            frame,
            _permit: Some(permit),
        });
    }

    /// Queues a frame the reader task decided to send, dropping it if too many wait.
    fn queue_control(&self, frame: Frame) {
        match self.control_budget.clone().try_acquire_owned() {
            Ok(permit) => {
                let _ = self.out.send(Outbound {
                    frame,
                    _permit: Some(permit),
                });
            }
            Err(_) => tracing::debug!(?frame, "SPDY control queue full; frame dropped"),
        }
    }

    pub(crate) fn send_budget(&self) -> Arc<Semaphore> {
        self.send_budget.clone()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_cancelled()
    }

    pub(crate) fn buffered(&self) -> &AtomicUsize {
        &self.buffered
    }

    /// A reader consumed or dropped `n` buffered bytes; the reader task may be waiting.
    pub(crate) fn release_buffered(&self, n: usize) {
        if n > 0 {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
        }
        self.space.notify_one();
    }

    pub(crate) fn remove_stream(&self, id: u32) {
        self.lock().streams.remove(&id);
    }

    /// Step 1 of the shutdown path, with a GOAWAY first if `goaway` is set. Idempotent.
    fn begin_close(&self, goaway: Option<GoAwayStatus>) {
        {
            let mut c = self.lock();
            if let Some(status) = goaway
                && !c.goaway_sent
                && !c.closed
            {
                c.goaway_sent = true;
                self.queue(Frame::GoAway {
                    last_good_stream_id: c.last_peer_stream_id,
                    status,
                });
            }
            c.closed = true;
        }
        self.closing.cancel();
        self.send_budget.close();
    }

    /// Step 4: stop both tasks now.
    fn abort(&self) {
        self.begin_close(None);
        self.abort.cancel();
    }

    /// Every stream learns the connection is gone; pending opens and pings fail.
    fn fail_all(&self) {
        let (streams, pings) = {
            let mut c = self.lock();
            c.closed = true;
            (std::mem::take(&mut c.streams), std::mem::take(&mut c.pings))
        };
        drop(pings);
        for stream in streams.values() {
            stream.on_connection_lost();
        }
    }
}

/// Keeps the connection alive while any public handle exists; the last one dropped begins
/// a graceful close. The tasks hold [`Shared`] but never this, so they cannot keep
/// themselves alive.
pub(crate) struct Lifeline {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Lifeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.shared.begin_close(Some(GoAwayStatus::OK));
    }
}

/// A SPDY/3 connection. Clones share it; see the module header for how it ends.
#[derive(Debug, Clone)]
pub struct Session {
    conn: Arc<Lifeline>,
}

/// The streams the peer opens, in order.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Stream>,
    _conn: Arc<Lifeline>,
}

impl Incoming {
    /// The next stream the peer opened, or `None` once the connection is closing.
    /// Dropping `Incoming` makes the session refuse new streams (RST_STREAM
    /// REFUSED_STREAM) rather than stall.
    pub async fn next(&mut self) -> Option<Stream> {
        self.rx.recv().await
    }
}

impl Session {
    /// Serves SPDY over `io` as the server (the side that accepted the HTTP upgrade).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn server<IO>(io: IO) -> (Session, Incoming)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::with_config(io, Role::Server, SessionConfig::default())
    }

    /// Speaks SPDY over `io` as the client (for berth's tests and test kit).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn client<IO>(io: IO) -> (Session, Incoming)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::with_config(io, Role::Client, SessionConfig::default())
    }

    /// Speaks SPDY over `io` in `role` with the given limits.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn with_config<IO>(io: IO, role: Role, config: SessionConfig) -> (Session, Incoming)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let mut config = config;
        config.send_buffer = config.send_buffer.max(MAX_DATA_FRAME);
        config.accept_backlog = config.accept_backlog.max(1);
        config.stream_buffer = config.stream_buffer.max(1);
        config.connection_buffer = config.connection_buffer.max(1);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (accept_tx, accept_rx) = mpsc::channel(config.accept_backlog);
        let shared = Arc::new(Shared {
            role,
            out: out_tx,
            send_budget: Arc::new(Semaphore::new(config.send_buffer)),
            control_budget: Arc::new(Semaphore::new(CONTROL_BACKLOG)),
            conn: Mutex::new(ConnState {
                next_stream_id: role.first_id(),
                last_peer_stream_id: 0,
                next_ping_id: role.first_id(),
                pings: HashMap::new(),
                streams: HashMap::new(),
                goaway_sent: false,
                goaway_received: false,
                closed: false,
            }),
            buffered: AtomicUsize::new(0),
            space: Notify::new(),
            closing: CancellationToken::new(),
            abort: CancellationToken::new(),
            read_done: CancellationToken::new(),
            tasks: TaskTracker::new(),
            config,
        });
        let lifeline = Arc::new(Lifeline {
            shared: shared.clone(),
        });
        let (rd, wr) = tokio::io::split(io);
        let decoder = FrameDecoder::new(
            shared.config.max_frame_payload,
            shared.config.max_header_block,
        );
        let reader = Reader {
            shared: shared.clone(),
            lifeline: Arc::downgrade(&lifeline),
            accept: Some(accept_tx),
            decoder,
            rd,
        };
        let span = tracing::debug_span!("spdy", ?role);
        shared
            .tasks
            .spawn(read_loop(reader).instrument(tracing::debug_span!(parent: &span, "reader")));
        shared.tasks.spawn(
            write_loop(shared.clone(), wr, out_rx)
                .instrument(tracing::debug_span!(parent: &span, "writer")),
        );
        shared.tasks.close();
        let incoming = Incoming {
            rx: accept_rx,
            _conn: lifeline.clone(),
        };
        (Session { conn: lifeline }, incoming)
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.conn.shared.role
    }

    /// Opens a stream (SYN_STREAM) and waits for the peer's SYN_REPLY. Fails if the peer
    /// resets the stream, sent GOAWAY, or the connection closes. Callers that must not wait
    /// forever wrap this in a timeout; dropping the future resets the stream.
    pub async fn open(&self, headers: Headers) -> Result<Stream, SpdyError> {
        let shared = &self.conn.shared;
        let (tx, rx) = oneshot::channel();
        let inner = {
            let mut c = shared.lock();
            if c.closed {
                return Err(SpdyError::ConnectionClosed);
            }
            if c.goaway_received {
                return Err(SpdyError::GoneAway);
            }
            let stream_id = c.next_stream_id;
            if stream_id > MAX_STREAM_ID {
                return Err(SpdyError::StreamIdsExhausted);
            }
            c.next_stream_id += 2;
            let inner = Arc::new(StreamShared::outbound(stream_id, tx));
            c.streams.insert(stream_id, inner.clone());
            // Queued under the lock so that stream ids go out in increasing order.
            shared.queue(Frame::SynStream {
                stream_id,
                associated_to: 0,
                priority: 0,
                slot: 0,
                fin: false,
                unidirectional: false,
                headers: headers.clone(),
            });
            inner
        };
        let stream = Stream::new(inner, headers, self.conn.clone());
        match rx.await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SpdyError::ConnectionClosed),
        }
    }

    /// Sends a PING and waits for its echo, returning the round-trip time.
    pub async fn ping(&self) -> Result<Duration, SpdyError> {
        let shared = &self.conn.shared;
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut c = shared.lock();
            if c.closed {
                return Err(SpdyError::ConnectionClosed);
            }
            let id = c.next_ping_id;
            // Stay on this side's parity, skipping 0, when the 32 bits wrap.
            c.next_ping_id = match id.checked_add(2) {
                Some(next) => next,
                None => shared.role.first_id(),
            };
            c.pings.insert(id, tx);
            id
        };
        let _forget = PingGuard { shared, id };
        let start = Instant::now();
        shared.queue(Frame::Ping { id });
        match rx.await {
            Ok(()) => Ok(start.elapsed()),
            Err(_) => Err(SpdyError::ConnectionClosed),
        }
    }

    /// Closes the connection: GOAWAY, then the shutdown path of the module header. Streams
    /// still open fail. Returns when both tasks have ended.
    pub async fn close(&self) {
        self.conn.shared.begin_close(Some(GoAwayStatus::OK));
        self.closed().await;
    }

    /// Resolves once the connection is gone (closed here, by the peer, or lost) and both
    /// of its tasks have ended.
    pub async fn closed(&self) {
        self.conn.shared.tasks.wait().await;
    }

    /// True once a close has begun (no stream can be opened any more).
    pub fn is_closing(&self) -> bool {
        self.conn.shared.is_closing()
    }
}

/// Removes a ping's entry if its waiter goes away before the echo.
struct PingGuard<'a> {
    shared: &'a Shared,
    id: u32,
}

impl Drop for PingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pings.remove(&self.id);
    }
}

/// The reader task's state.
struct Reader<R> {
    shared: Arc<Shared>,
    /// To give new streams a handle; never upgraded except to build one.
    lifeline: Weak<Lifeline>,
    accept: Option<mpsc::Sender<Stream>>,
    decoder: FrameDecoder,
    rd: R,
}

/// Why the reader stopped decoding frames.
enum ReadEnd {
    /// The peer ended the byte stream between frames.
    Eof,
    /// A close began.
    Closing,
    /// Reading failed or the peer broke the protocol.
    Failed(FrameError),
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: Reader<R>) {
    let shared = reader.shared.clone();
    let end = tokio::select! {
        biased;
        _ = shared.closing.cancelled() => ReadEnd::Closing,
        end = reader.run() => end,
    };
    let linger = match &end {
        ReadEnd::Eof => {
            tracing::debug!("peer closed the connection");
            shared.begin_close(None);
            false
        }
        ReadEnd::Closing => true,
        ReadEnd::Failed(FrameError::Io(e)) => {
            tracing::debug!(error = %e, "reading the connection failed");
            shared.abort();
            false
        }
        ReadEnd::Failed(e) => {
            tracing::warn!(error = %e, "SPDY protocol error; closing the connection");
            shared.begin_close(Some(GoAwayStatus::PROTOCOL_ERROR));
            !matches!(e, FrameError::Truncated { .. })
        }
    };
    shared.fail_all();
    // Incoming::next now returns None.
    reader.accept = None;
    if linger {
        tokio::select! {
            _ = shared.abort.cancelled() => {}
            _ = discard_until_eof(&mut reader.rd) => {}
        }
    }
    shared.read_done.cancel();
}

/// Reads and drops bytes until the peer closes or reading fails.
async fn discard_until_eof<R: AsyncRead + Unpin>(rd: &mut R) {
    let mut sink = vec![0u8; 16 * 1024];
    while let Ok(n) = rd.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

impl<R: AsyncRead + Unpin> Reader<R> {
    async fn run(&mut self) -> ReadEnd {
        loop {
            let frame = match self.decoder.read_frame(&mut self.rd).await {
                Ok(Some(frame)) => frame,
                Ok(None) => return ReadEnd::Eof,
                Err(e) => return ReadEnd::Failed(e),
            };
            self.handle(frame).await;
        }
    }

    fn stream(&self, id: u32) -> Option<Arc<StreamShared>> {
        self.shared.lock().streams.get(&id).cloned()
    }

    async fn handle(&mut self, frame: Frame) {
        match frame {
            Frame::SynStream {
                stream_id,
                fin,
                unidirectional,
                headers,
                ..
            } => {
                self.on_syn_stream(stream_id, fin, unidirectional, headers)
                    .await
            }
            Frame::SynReply { stream_id, fin, .. } => match self.stream(stream_id) {
                Some(s) if !s.peer_opened => {
                    if s.on_reply(fin) {
                        self.shared.remove_stream(stream_id);
                    }
                }
                // Go ignores a reply for a stream it does not know; so do we.
                _ => tracing::debug!(stream_id, "SYN_REPLY for no stream we opened; ignored"),
            },
            Frame::RstStream { stream_id, status } => {
                let stream = self.shared.lock().streams.remove(&stream_id);
                if let Some(s) = stream {
                    tracing::debug!(stream_id, %status, "peer reset a stream");
                    s.on_peer_reset(status);
                }
            }
            Frame::Ping { id } => self.on_ping(id),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => self.on_goaway(last_good_stream_id, status),
            Frame::Headers { stream_id, fin, .. } => {
                if fin {
                    self.remote_fin(stream_id);
                }
            }
            Frame::Data {
                stream_id,
                fin,
                data,
            } => self.on_data(stream_id, fin, data).await,
            // No flow control (see the module header) and no setting we act on.
            Frame::Settings { .. } | Frame::WindowUpdate { .. } => {}
        }
    }

    async fn on_syn_stream(
        &mut self,
        stream_id: u32,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    ) {
        let inner = {
            let mut c = self.shared.lock();
            if self.shared.role.owns(stream_id) || stream_id <= c.last_peer_stream_id {
                drop(c);
                tracing::debug!(stream_id, "SYN_STREAM with an invalid stream id");
                self.shared.queue_control(Frame::RstStream {
                    stream_id,
                    status: RstStatus::PROTOCOL_ERROR,
                });
                return;
            }
            c.last_peer_stream_id = stream_id;
            if c.goaway_sent || c.closed {
                drop(c);
                self.shared.queue_control(Frame::RstStream {
                    stream_id,
                    status: RstStatus::REFUSED_STREAM,
                });
                return;
            }
            let inner = Arc::new(StreamShared::inbound(stream_id, fin, unidirectional));
            if !(fin && unidirectional) {
                c.streams.insert(stream_id, inner.clone());
            }
            inner
        };
        let Some(lifeline) = self.lifeline.upgrade() else {
            // Every handle is gone and the close has begun; nobody can take the stream.
            self.shared.remove_stream(stream_id);
            return;
        };
        tracing::debug!(stream_id, ?headers, "peer opened a stream");
        let stream = Stream::new(inner, headers, lifeline);
        // If Incoming is gone the stream comes back and is dropped here unreplied, which
        // refuses it (see the stream module).
        if let Some(accept) = &self.accept {
            let _ = accept.send(stream).await;
        }
    }

    async fn on_data(&mut self, stream_id: u32, fin: bool, data: Vec<u8>) {
        let Some(stream) = self.stream(stream_id) else {
            // A stream reset or forgotten here may still have frames in flight; Go ignores
            // data for streams it does not know, and so do we.
            tracing::trace!(stream_id, "data for no open stream; ignored");
            return;
        };
        if !data.is_empty() {
            let limit = self.shared.config.stream_buffer;
            let conn_limit = self.shared.config.connection_buffer;
            let mut data = data;
            loop {
                match stream.admit(data, limit, self.shared.buffered(), conn_limit) {
                    Admit::Queued | Admit::Discarded => break,
                    Admit::Full(back) => {
                        data = back;
                        // Backpressure: stop reading the socket until a reader makes room.
                        self.shared.space.notified().await;
                    }
                }
            }
        }
        if fin {
            self.remote_fin(stream_id);
        }
    }

    fn remote_fin(&self, stream_id: u32) {
        if let Some(stream) = self.stream(stream_id)
            && stream.on_remote_fin()
        {
            self.shared.remove_stream(stream_id);
        }
    }

    fn on_ping(&self, id: u32) {
        if self.shared.role.owns(id) {
            if let Some(waiter) = self.shared.lock().pings.remove(&id) {
                let _ = waiter.send(());
            }
        } else {
            self.shared.queue_control(Frame::Ping { id });
        }
    }

    fn on_goaway(&self, last_good_stream_id: u32, status: GoAwayStatus) {
        tracing::debug!(
            last_good_stream_id,
            status = status.0,
            "peer sent GOAWAY; no new streams"
        );
        // Streams we opened above the peer's last good id were never processed by it.
        let refused: Vec<Arc<StreamShared>> = {
            let mut c = self.shared.lock();
            c.goaway_received = true;
            let ids: Vec<u32> = c
                .streams
                .values()
                .filter(|s| !s.peer_opened && s.id > last_good_stream_id && s.awaiting_reply())
                .map(|s| s.id)
                .collect();
            ids.iter().filter_map(|id| c.streams.remove(id)).collect()
        };
        for stream in refused {
            stream.on_peer_reset(RstStatus::REFUSED_STREAM);
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    wr: W,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, wr);
    let mut encoder = FrameEncoder::new();
    let mut scratch = Vec::new();
    let work = async {
        // Until a close begins: write frames in queue order, flushing when none wait.
        loop {
            let item = tokio::select! {
                biased;
                _ = shared.closing.cancelled() => break,
                item = rx.recv() => item,
            };
            let Some(item) = item else { break };
            write_frame(&mut w, &mut encoder, &mut scratch, item).await?;
            while let Ok(item) = rx.try_recv() {
                write_frame(&mut w, &mut encoder, &mut scratch, item).await?;
            }
            w.flush().await?;
        }
        // Closing: send what was queued (the GOAWAY included), then shut the write side.
        while let Ok(item) = rx.try_recv() {
            write_frame(&mut w, &mut encoder, &mut scratch, item).await?;
        }
        w.flush().await?;
        w.shutdown().await?;
        Ok::<(), std::io::Error>(())
    };
    let drain_deadline = async {
        shared.closing.cancelled().await;
        tokio::time::sleep(shared.config.drain_timeout).await;
    };
    let drained = tokio::select! {
        biased;
        _ = shared.abort.cancelled() => false,
        result = work => match result {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "writing the connection failed");
                false
            }
        },
        _ = drain_deadline => {
            tracing::debug!("SPDY close: queued frames not sent within the drain timeout");
            false
        }
    };
    if drained {
        tokio::select! {
            _ = shared.abort.cancelled() => {}
            _ = shared.read_done.cancelled() => {}
            _ = tokio::time::sleep(shared.config.linger_timeout) => {}
        }
    }
    shared.abort();
    // Frames still queued are dropped with their permits.
    rx.close();
}

async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut BufWriter<W>,
    encoder: &mut FrameEncoder,
    scratch: &mut Vec<u8>,
    item: Outbound,
) -> std::io::Result<()> {
    match &item.frame {
        Frame::Data {
            stream_id,
            fin,
            data,
        } => {
            w.write_all(&data_frame_header(*stream_id, *fin, data.len()))
                .await?;
            w.write_all(data).await?;
        }
        frame => {
            scratch.clear();
            encoder
                .encode(frame, scratch)
                .map_err(std::io::Error::other)?;
            w.write_all(scratch).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::spdy::frame::Setting;

    async fn within<F: std::future::Future>(f: F) -> F::Output {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("test timed out")
    }

    fn pair_with(config: SessionConfig) -> ((Session, Incoming), (Session, Incoming)) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        (
            Session::with_config(a, Role::Client, config.clone()),
            Session::with_config(b, Role::Server, config),
        )
    }

    fn pair() -> ((Session, Incoming), (Session, Incoming)) {
        pair_with(SessionConfig::default())
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
            .collect()
    }

    #[tokio::test]
    async fn three_streams_carry_data_both_ways_and_fin_is_eof() {
        within(async {
            let ((client, _ci), (_server, mut si)) = pair();
            let serve = tokio::spawn(async move {
                let mut handlers = Vec::new();
                for _ in 0..3 {
                    let stream = si.next().await.expect("a stream");
                    stream.reply().unwrap();
                    let kind = stream.headers().get("streamtype").unwrap().to_owned();
                    handlers.push(tokio::spawn(async move {
                        let (mut r, mut w) = stream.split();
                        let mut got = Vec::new();
                        r.read_to_end(&mut got).await.unwrap();
                        w.write_all(format!("{kind}:").as_bytes()).await.unwrap();
                        w.write_all(&got).await.unwrap();
                        w.shutdown().await.unwrap();
                    }));
                }
                for h in handlers {
                    h.await.unwrap();
                }
            });
            let mut streams = Vec::new();
            for kind in ["stdin", "stdout", "stderr"] {
                let s = client
                    .open(Headers::from([("streamtype", kind)]))
                    .await
                    .unwrap();
                streams.push((kind, s));
            }
            assert_eq!(
                streams.iter().map(|(_, s)| s.id()).collect::<Vec<_>>(),
                [1, 3, 5]
            );
            for (kind, s) in &mut streams {
                s.write_all(format!("hello {kind}").as_bytes())
                    .await
                    .unwrap();
                s.shutdown().await.unwrap();
            }
            for (kind, mut s) in streams {
                let mut back = String::new();
                s.read_to_string(&mut back).await.unwrap();
                assert_eq!(back, format!("{kind}:hello {kind}"));
                // EOF stays EOF.
                assert_eq!(s.read(&mut [0u8; 8]).await.unwrap(), 0);
            }
            serve.await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn a_reset_fails_the_reader_and_the_writer() {
        within(async {
            let ((client, _ci), (_server, mut si)) = pair();
            let serve = tokio::spawn(async move {
                let s = si.next().await.unwrap();
                s.reply().unwrap();
                let mut buf = [0u8; 5];
                let (mut r, w) = s.split();
                r.read_exact(&mut buf).await.unwrap();
                w.reset(RstStatus::CANCEL);
                let err = r.read(&mut buf).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionReset);
                si
            });
            let mut s = client.open(Headers::new()).await.unwrap();
            s.write_all(b"hello").await.unwrap();
            let err = s.read(&mut [0u8; 8]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            let inner = err.into_inner().unwrap().downcast::<SpdyError>().unwrap();
            assert!(matches!(
                *inner,
                SpdyError::ResetByPeer {
                    stream_id: 1,
                    status: RstStatus::CANCEL
                }
            ));
            let err = s.write_all(b"more").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            let _si = serve.await.unwrap();
            // The connection itself is fine.
            client.ping().await.unwrap();
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn megabytes_flow_both_ways_without_window_updates() {
        within(async {
            let ((client, _ci), (_server, mut si)) = pair();
            const LEN: usize = 6 * 1024 * 1024;
            let serve = tokio::spawn(async move {
                // Stream 1: echo. Stream 3: a download of its own, interleaved with it.
                let echo = si.next().await.unwrap();
                echo.reply().unwrap();
                let echo = tokio::spawn(async move {
                    let (mut r, mut w) = echo.split();
                    let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                    n
                });
                let download = si.next().await.unwrap();
                let down = tokio::spawn(async move {
                    let (_r, mut w) = download.split();
                    w.write_all(&pattern(LEN, 7)).await.unwrap();
                    w.shutdown().await.unwrap();
                });
                down.await.unwrap();
                echo.await.unwrap()
            });
            let echo = client
                .open(Headers::from([("streamtype", "echo")]))
                .await
                .unwrap();
            let down = client
                .open(Headers::from([("streamtype", "down")]))
                .await
                .unwrap();
            let (mut er, mut ew) = echo.split();
            let upload = tokio::spawn(async move {
                ew.write_all(&pattern(LEN, 1)).await.unwrap();
                ew.shutdown().await.unwrap();
            });
            let download = tokio::spawn(async move {
                let mut got = Vec::new();
                let mut down = down;
                down.read_to_end(&mut got).await.unwrap();
                got
            });
            let mut echoed = Vec::new();
            er.read_to_end(&mut echoed).await.unwrap();
            upload.await.unwrap();
            assert!(echoed == pattern(LEN, 1), "echo differs");
            assert!(
                download.await.unwrap() == pattern(LEN, 7),
                "download differs"
            );
            assert_eq!(serve.await.unwrap(), LEN as u64);
        })
        .await;
    }

    #[tokio::test]
    async fn a_dropped_client_ends_the_servers_readers_and_tasks() {
        within(async {
            let ((client, ci), (server, mut si)) = pair();
            let client_tasks = client.conn.shared.tasks.clone();
            let (s, accepted) = tokio::join!(client.open(Headers::new()), async {
                let accepted = si.next().await.unwrap();
                accepted.reply().unwrap();
                accepted
            });
            let mut s = s.unwrap();
            s.write_all(b"partial").await.unwrap();
            let (mut r, mut w) = accepted.split();
            let mut buf = [0u8; 7];
            r.read_exact(&mut buf).await.unwrap();
            drop((client, ci, s));
            // The server's reader errors (the peer never sent FIN), promptly: the dropped
            // stream was reset (CANCEL) before the connection closed.
            let err = r.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            assert!(si.next().await.is_none());
            let err = w.write_all(b"to nobody").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            server.closed().await;
            client_tasks.wait().await;
        })
        .await;
    }

    #[tokio::test]
    async fn pings_are_echoed_both_ways() {
        within(async {
            let ((client, _ci), (server, _si)) = pair();
            client.ping().await.unwrap();
            client.ping().await.unwrap();
            server.ping().await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn a_stream_dropped_unreplied_is_refused() {
        within(async {
            let ((client, _ci), (_server, mut si)) = pair();
            let refuse = tokio::spawn(async move {
                drop(si.next().await.unwrap());
                si
            });
            let err = client.open(Headers::new()).await.unwrap_err();
            assert!(matches!(
                err,
                SpdyError::ResetByPeer {
                    status: RstStatus::REFUSED_STREAM,
                    ..
                }
            ));
            let si = refuse.await.unwrap();
            // Without Incoming, streams are refused instead of queued.
            drop(si);
            let err = client.open(Headers::new()).await.unwrap_err();
            assert!(matches!(
                err,
                SpdyError::ResetByPeer {
                    status: RstStatus::REFUSED_STREAM,
                    ..
                }
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn close_sends_what_was_written_first() {
        within(async {
            let ((client, _ci), (server, mut si)) = pair();
            let serve = tokio::spawn(async move {
                let s = si.next().await.unwrap();
                s.reply().unwrap();
                let (_r, mut w) = s.split();
                w.write_all(&pattern(1024 * 1024, 3)).await.unwrap();
                w.shutdown().await.unwrap();
                server.close().await;
            });
            let mut s = client.open(Headers::new()).await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            assert!(got == pattern(1024 * 1024, 3));
            serve.await.unwrap();
            client.closed().await;
            assert!(matches!(
                client.open(Headers::new()).await,
                Err(SpdyError::ConnectionClosed)
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn an_unread_stream_stalls_the_connection_only_until_its_reader_goes() {
        within(async {
            let config = SessionConfig {
                stream_buffer: 64 * 1024,
                ..SessionConfig::default()
            };
            let ((client, _ci), (server, mut si)) = pair_with(config);
            async fn accept(si: &mut Incoming) -> Stream {
                let s = si.next().await.unwrap();
                s.reply().unwrap();
                s
            }
            let (a, sa) = tokio::join!(
                client.open(Headers::from([("streamtype", "a")])),
                accept(&mut si)
            );
            let a = a.unwrap();
            let (b, sb) = tokio::join!(
                client.open(Headers::from([("streamtype", "b")])),
                accept(&mut si)
            );
            let mut b = b.unwrap();
            let flood = tokio::spawn(async move {
                let (_r, mut w) = a.split();
                // Far more than the stream may buffer; it completes only once the server
                // drops A's reader and discards.
                w.write_all(&vec![0u8; 4 * 1024 * 1024]).await.unwrap();
                w.shutdown().await.unwrap();
            });
            // Let the flood fill A's buffer.
            while server.conn.shared.buffered.load(Ordering::Acquire) < 64 * 1024 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // B's frames queue behind A's on the client's side too.
            let b_writer = tokio::spawn(async move {
                b.write_all(b"b").await.unwrap();
                b.shutdown().await.unwrap();
                b
            });
            let (sa_r, _sa_w) = sa.split();
            let (mut sb_r, _sb_w) = sb.split();
            let mut got = Vec::new();
            // Head-of-line blocking, as documented: B waits behind A's unread data.
            let stalled =
                tokio::time::timeout(Duration::from_millis(300), sb_r.read_to_end(&mut got)).await;
            assert!(stalled.is_err(), "B should wait behind A");
            let buffered = server.conn.shared.buffered.load(Ordering::Acquire);
            assert!(
                buffered <= 64 * 1024 + MAX_DATA_FRAME,
                "buffered {buffered} bytes"
            );
            drop(sa_r);
            sb_r.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"b");
            flood.await.unwrap();
            let _b = b_writer.await.unwrap();
        })
        .await;
    }

    /// A hand-driven peer, to see and send exact frames.
    struct Raw {
        io: DuplexStream,
        enc: FrameEncoder,
        dec: FrameDecoder,
    }

    impl Raw {
        fn new(io: DuplexStream) -> Self {
            Raw {
                io,
                enc: FrameEncoder::new(),
                dec: FrameDecoder::default(),
            }
        }

        async fn send(&mut self, frame: Frame) {
            let mut out = Vec::new();
            self.enc.encode(&frame, &mut out).unwrap();
            self.io.write_all(&out).await.unwrap();
        }

        async fn recv(&mut self) -> Option<Frame> {
            self.dec.read_frame(&mut self.io).await.unwrap()
        }
    }

    fn syn(stream_id: u32, headers: Headers) -> Frame {
        Frame::SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin: false,
            unidirectional: false,
            headers,
        }
    }

    #[tokio::test]
    async fn the_server_speaks_the_wire_format_a_go_client_expects() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(a);
            let (_server, mut si) = Session::server(b);
            raw.send(syn(1, Headers::from([("streamtype", "stdin")])))
                .await;
            let s = si.next().await.unwrap();
            assert_eq!((s.id(), s.headers().get("streamtype")), (1, Some("stdin")));
            s.reply().unwrap();
            assert_eq!(
                raw.recv().await,
                Some(Frame::SynReply {
                    stream_id: 1,
                    fin: false,
                    headers: Headers::new()
                })
            );
            raw.send(Frame::Ping { id: 1 }).await;
            assert_eq!(raw.recv().await, Some(Frame::Ping { id: 1 }));
            // Ignored: settings, window updates, an unknown control type, data for a
            // stream that does not exist.
            raw.send(Frame::Settings {
                clear: false,
                entries: vec![Setting {
                    flags: 0,
                    id: 7,
                    value: 1024,
                }],
            })
            .await;
            raw.send(Frame::WindowUpdate {
                stream_id: 1,
                delta: 1,
            })
            .await;
            raw.io
                .write_all(&[0x80, 0x03, 0x00, 0x0a, 0, 0, 0, 2, 0xab, 0xcd])
                .await
                .unwrap();
            raw.send(Frame::Data {
                stream_id: 99,
                fin: false,
                data: b"lost".to_vec(),
            })
            .await;
            raw.send(Frame::Data {
                stream_id: 1,
                fin: true,
                data: b"abc".to_vec(),
            })
            .await;
            let (mut r, mut w) = s.split();
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"abc");
            // A megabyte with no WINDOW_UPDATE from the peer: no stall at 64 KiB.
            let sent = pattern(1024 * 1024, 9);
            let writer = tokio::spawn(async move {
                w.write_all(&sent).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            let mut received = Vec::new();
            loop {
                match raw.recv().await.unwrap() {
                    Frame::Data {
                        stream_id: 1,
                        fin,
                        data,
                    } => {
                        assert!(data.len() <= MAX_DATA_FRAME);
                        received.extend_from_slice(&data);
                        if fin {
                            assert!(data.is_empty());
                            break;
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(received == pattern(1024 * 1024, 9));
            let _w = writer.await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn a_vanished_client_fails_the_servers_readers_and_writers() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(a);
            let (server, mut si) = Session::server(b);
            raw.send(syn(1, Headers::from([("streamtype", "stdin")])))
                .await;
            raw.send(syn(3, Headers::from([("streamtype", "stdout")])))
                .await;
            let stdin = si.next().await.unwrap();
            let stdout = si.next().await.unwrap();
            stdin.reply().unwrap();
            stdout.reply().unwrap();
            raw.send(Frame::Data {
                stream_id: 1,
                fin: false,
                data: b"ls\n".to_vec(),
            })
            .await;
            let (mut r, _) = stdin.split();
            let mut buf = [0u8; 3];
            r.read_exact(&mut buf).await.unwrap();
            // The client goes away without a word: no RST, no GOAWAY, no FIN.
            drop(raw);
            let err = r.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
            let (_, mut w) = stdout.split();
            let err = w.write_all(b"output").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionAborted);
            assert!(si.next().await.is_none());
            server.closed().await;
        })
        .await;
    }

    #[tokio::test]
    async fn bad_stream_ids_are_reset_and_the_connection_lives_on() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(a);
            let (_server, mut si) = Session::server(b);
            raw.send(syn(2, Headers::new())).await;
            assert_eq!(
                raw.recv().await,
                Some(Frame::RstStream {
                    stream_id: 2,
                    status: RstStatus::PROTOCOL_ERROR
                })
            );
            raw.send(syn(5, Headers::new())).await;
            let s = si.next().await.unwrap();
            assert_eq!(s.id(), 5);
            raw.send(syn(3, Headers::new())).await;
            assert_eq!(
                raw.recv().await,
                Some(Frame::RstStream {
                    stream_id: 3,
                    status: RstStatus::PROTOCOL_ERROR
                })
            );
            raw.send(Frame::Ping { id: 3 }).await;
            assert_eq!(raw.recv().await, Some(Frame::Ping { id: 3 }));
        })
        .await;
    }

    #[tokio::test]
    async fn a_protocol_error_gets_goaway_and_the_connection_ends() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(a);
            let (server, mut si) = Session::server(b);
            // SYN_STREAM whose header block is not zlib at all.
            raw.io
                .write_all(&[
                    0x80, 0x03, 0x00, 0x01, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4,
                ])
                .await
                .unwrap();
            assert_eq!(
                raw.recv().await,
                Some(Frame::GoAway {
                    last_good_stream_id: 0,
                    status: GoAwayStatus::PROTOCOL_ERROR
                })
            );
            assert_eq!(raw.recv().await, None);
            assert!(si.next().await.is_none());
            drop(raw);
            server.closed().await;
        })
        .await;
    }

    #[tokio::test]
    async fn goaway_refuses_unanswered_opens_and_later_ones() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(b);
            let (client, _ci) = Session::client(a);
            let opening = tokio::spawn({
                let client = client.clone();
                async move { client.open(Headers::new()).await }
            });
            assert!(matches!(
                raw.recv().await,
                Some(Frame::SynStream { stream_id: 1, .. })
            ));
            raw.send(Frame::GoAway {
                last_good_stream_id: 0,
                status: GoAwayStatus::OK,
            })
            .await;
            assert!(matches!(
                opening.await.unwrap(),
                Err(SpdyError::ResetByPeer {
                    stream_id: 1,
                    status: RstStatus::REFUSED_STREAM
                })
            ));
            assert!(matches!(
                client.open(Headers::new()).await,
                Err(SpdyError::GoneAway)
            ));
            // The connection still answers pings until the peer closes it.
            raw.send(Frame::Ping { id: 2 }).await;
            assert_eq!(raw.recv().await, Some(Frame::Ping { id: 2 }));
        })
        .await;
    }

    #[tokio::test]
    async fn dropping_every_handle_sends_goaway_and_ends_the_tasks() {
        within(async {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let mut raw = Raw::new(a);
            let (server, si) = Session::server(b);
            let tasks = server.conn.shared.tasks.clone();
            raw.send(syn(1, Headers::new())).await;
            raw.send(Frame::Ping { id: 1 }).await;
            assert_eq!(raw.recv().await, Some(Frame::Ping { id: 1 }));
            drop((server, si));
            // The queued stream was dropped unreplied: refused, then GOAWAY, then EOF.
            assert_eq!(
                raw.recv().await,
                Some(Frame::RstStream {
                    stream_id: 1,
                    status: RstStatus::REFUSED_STREAM
                })
            );
            assert_eq!(
                raw.recv().await,
                Some(Frame::GoAway {
                    last_good_stream_id: 1,
                    status: GoAwayStatus::OK
                })
            );
            assert_eq!(raw.recv().await, None);
            drop(raw);
            tasks.wait().await;
        })
        .await;
    }
}
