//! One SPDY stream: its state, and the handles through which it is read and written.
//!
//! Owns: a stream's inbound buffer (bounded; see the session's header for why the bound
//! stalls the connection rather than dropping data), its half-close and reset state, and
//! [`Stream`], [`StreamReader`] (tokio `AsyncRead`) and [`StreamWriter`] (tokio
//! `AsyncWrite`). It must not read or write the connection itself: frames go out through
//! the session's queue, and frames come in through the session's reader task, which calls
//! the `pub(crate)` methods here.
//!
//! What dropping a handle does (the peer must never be left waiting on a stream nobody
//! holds):
//! - the writer, while the reader lives: half-close (an empty data frame with FIN, or a
//!   SYN_REPLY with FIN if the stream was never replied to), as dropping a tokio
//!   `OwnedWriteHalf` shuts the write side;
//! - the last of the two, on a stream the peer opened and this side never replied to:
//!   RST_STREAM REFUSED_STREAM, so a Kubernetes client fails at once instead of after its
//!   30-second reply timeout;
//! - the last of the two while the peer has not finished sending: RST_STREAM CANCEL (what
//!   the kubelet's Go server sends for every stream when a request ends);
//! - the reader: whatever it buffered is released, and later data for the stream is
//!   discarded, so an unread stream whose reader is gone never stalls the connection.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_util::sync::PollSemaphore;

use super::SpdyError;
use super::frame::{Frame, RstStatus};
use super::headers::Headers;
use super::session::{Lifeline, Shared};

/// Largest data frame this side sends; a write of more is split.
pub const MAX_DATA_FRAME: usize = 16 * 1024;

/// Who reset a stream, and with which status.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reset {
    ByPeer(RstStatus),
    Locally(RstStatus),
}

/// The state a stream's handles and the session's reader task share.
#[derive(Debug)]
pub(crate) struct StreamShared {
    pub(crate) id: u32,
    /// The peer sent the SYN_STREAM (so this side owes a SYN_REPLY).
    pub(crate) peer_opened: bool,
    state: Mutex<StreamState>,
}

#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// Inbound data not yet read; `head` bytes of the front chunk are already consumed.
    buf: VecDeque<Vec<u8>>,
    head: usize,
    buffered: usize,
    read_waker: Option<Waker>,
    remote_fin: bool,
    reader_gone: bool,
    writer_gone: bool,
    replied: bool,
    local_fin: bool,
    reset: Option<Reset>,
    conn_lost: bool,
    /// Completes `Session::open` when the SYN_REPLY (or a refusal) arrives.
    reply_waiter: Option<oneshot::Sender<Result<(), SpdyError>>>,
}

/// What became of a data frame offered to a stream.
pub(crate) enum Admit {
    /// Buffered for the reader.
    Queued,
    /// Nobody will read it (reader gone, stream reset): dropped.
    Discarded,
    /// The stream's buffer is full: try again once the reader has consumed some.
    Full(Vec<u8>),
}

impl StreamState {
    /// Done in both directions: nothing more can be sent or received.
    fn finished(&self) -> bool {
        self.reset.is_some() || self.conn_lost || (self.local_fin && self.remote_fin)
    }

    /// Drops buffered data, returning how many bytes were released.
    fn discard(&mut self) -> usize {
        let n = self.buffered;
        self.buf.clear();
        self.head = 0;
        self.buffered = 0;
        n
    }

    fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    fn reset_error(&self, stream_id: u32) -> Option<SpdyError> {
        self.reset.map(|r| match r {
            Reset::ByPeer(status) => SpdyError::ResetByPeer { stream_id, status },
            Reset::Locally(status) => SpdyError::ResetLocally { stream_id, status },
        })
    }

    /// The frame that half-closes this side: a SYN_REPLY with FIN if none was sent yet.
    fn fin_frame(&mut self, stream_id: u32) -> Frame {
        self.local_fin = true;
        if self.replied {
            Frame::Data {
                stream_id,
                fin: true,
                data: Vec::new(),
            }
        } else {
            self.replied = true;
            Frame::SynReply {
                stream_id,
                fin: true,
                headers: Headers::new(),
            }
        }
    }
}

impl StreamShared {
    /// A stream the peer opened; `remote_fin` and `unidirectional` come from its SYN_STREAM.
    pub(crate) fn inbound(id: u32, remote_fin: bool, unidirectional: bool) -> Self {
        Self {
            id,
            peer_opened: true,
            state: Mutex::new(StreamState {
                remote_fin,
                // A unidirectional stream is one this side may not send on: nothing to
                // reply and nothing to half-close.
                replied: unidirectional,
                local_fin: unidirectional,
                ..StreamState::default()
            }),
        }
    }

    /// A stream this side opens; `reply` completes when the peer answers.
    pub(crate) fn outbound(id: u32, reply: oneshot::Sender<Result<(), SpdyError>>) -> Self {
        Self {
            id,
            peer_opened: false,
            state: Mutex::new(StreamState {
                replied: true,
                reply_waiter: Some(reply),
                ..StreamState::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A panic while holding this lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers inbound data. Buffered if the stream holds less than `limit` bytes and the
    /// connection's `conn_buffered` is under `conn_limit` (and then counted there); handed
    /// back if not.
    pub(crate) fn admit(
        &self,
        data: Vec<u8>,
        limit: usize,
        conn_buffered: &AtomicUsize,
        conn_limit: usize,
    ) -> Admit {
        let mut st = self.lock();
        if st.reader_gone || st.reset.is_some() || st.remote_fin || st.conn_lost {
            return Admit::Discarded;
        }
        if st.buffered >= limit || conn_buffered.load(Ordering::Acquire) >= conn_limit {
            return Admit::Full(data);
        }
        // Counted before the reader can see the bytes, so its release never underflows.
        conn_buffered.fetch_add(data.len(), Ordering::AcqRel);
        st.buffered += data.len();
        st.buf.push_back(data);
        st.wake_reader();
        Admit::Queued
    }

    /// The peer half-closed (FIN on data, SYN_REPLY or HEADERS). True when the stream is
    /// now finished and can leave the session's table.
    pub(crate) fn on_remote_fin(&self) -> bool {
        let mut st = self.lock();
        st.remote_fin = true;
        st.wake_reader();
        st.finished()
    }

    /// The peer's SYN_REPLY arrived. True when the stream is now finished.
    pub(crate) fn on_reply(&self, fin: bool) -> bool {
        let mut st = self.lock();
        if let Some(w) = st.reply_waiter.take() {
            let _ = w.send(Ok(()));
        }
        if fin {
            st.remote_fin = true;
            st.wake_reader();
        }
        st.finished()
    }

    /// The peer reset the stream. What it sent before the reset stays readable (it may
    /// well have sent FIN first: the kubelet resets every stream when a request ends), then
    /// the reader sees EOF if it had, an error if not. Writing fails at once.
    pub(crate) fn on_peer_reset(&self, status: RstStatus) {
        let mut st = self.lock();
        if st.reset.is_none() {
            st.reset = Some(Reset::ByPeer(status));
        }
        if let Some(w) = st.reply_waiter.take() {
            let _ = w.send(Err(SpdyError::ResetByPeer {
                stream_id: self.id,
                status,
            }));
        }
        st.wake_reader();
    }

    /// True while this side still waits for the peer's SYN_REPLY.
    pub(crate) fn awaiting_reply(&self) -> bool {
        self.lock().reply_waiter.is_some()
    }

    /// The connection is gone: readers return what they buffered, then EOF if the peer had
    /// finished or an error if not; writers fail.
    pub(crate) fn on_connection_lost(&self) {
        let mut st = self.lock();
        st.conn_lost = true;
        if let Some(w) = st.reply_waiter.take() {
            let _ = w.send(Err(SpdyError::ConnectionClosed));
        }
        st.wake_reader();
    }
}

/// A stream: its opening headers and both directions.
///
/// A stream the peer opened must be accepted with [`Stream::reply`] (Kubernetes clients wait
/// up to 30 s for it); writing on it replies implicitly. Dropping it unreplied refuses it.
#[derive(Debug)]
pub struct Stream {
    headers: Headers,
    reader: StreamReader,
    writer: StreamWriter,
}

impl Stream {
    pub(crate) fn new(stream: Arc<StreamShared>, headers: Headers, conn: Arc<Lifeline>) -> Self {
        let permits = PollSemaphore::new(conn.shared.send_budget());
        Stream {
            headers,
            reader: StreamReader {
                stream: stream.clone(),
                conn: conn.clone(),
            },
            writer: StreamWriter {
                stream,
                conn,
                permits,
            },
        }
    }

    /// The stream id (odd if the client opened it, even if the server did).
    pub fn id(&self) -> u32 {
        self.reader.stream.id
    }

    /// The headers of the SYN_STREAM that opened the stream.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Accepts a stream the peer opened by sending SYN_REPLY with no headers (what the
    /// kubelet sends). Does nothing if already replied, or on a stream this side opened.
    pub fn reply(&self) -> Result<(), SpdyError> {
        let stream = &self.writer.stream;
        let shared = &self.writer.conn.shared;
        let mut st = stream.lock();
        if let Some(e) = st.reset_error(stream.id) {
            return Err(e);
        }
        if st.conn_lost || shared.is_closing() {
            return Err(SpdyError::ConnectionClosed);
        }
        if !st.replied {
            st.replied = true;
            shared.queue(Frame::SynReply {
                stream_id: stream.id,
                fin: false,
                headers: Headers::new(),
            });
        }
        Ok(())
    }

    /// Aborts the stream with RST_STREAM: both directions fail from now on.
    pub fn reset(&self, status: RstStatus) {
        self.writer.reset(status);
    }

    /// The two directions, to be used from different tasks.
    pub fn split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().writer).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().writer).poll_shutdown(cx)
    }
}

/// The receiving direction of a stream: EOF at the peer's FIN; an error at RST_STREAM or
/// when the connection is lost before the peer finished (in both cases after the data that
/// arrived before); an error at once after [`StreamWriter::reset`] or [`Stream::reset`].
#[derive(Debug)]
pub struct StreamReader {
    stream: Arc<StreamShared>,
    conn: Arc<Lifeline>,
}

impl StreamReader {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.stream.id
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.stream.lock();
        if let Some(Reset::Locally(status)) = st.reset {
            let e = SpdyError::ResetLocally {
                stream_id: this.stream.id,
                status,
            };
            return Poll::Ready(Err(e.into_io()));
        }
        if !st.buf.is_empty() {
            let mut copied = 0;
            while buf.remaining() > 0 {
                let head = st.head;
                let Some(front) = st.buf.front() else { break };
                let n = (front.len() - head).min(buf.remaining());
                buf.put_slice(&front[head..head + n]);
                copied += n;
                if head + n == front.len() {
                    st.buf.pop_front();
                    st.head = 0;
                } else {
                    st.head = head + n;
                }
            }
            st.buffered -= copied;
            drop(st);
            this.conn.shared.release_buffered(copied);
            return Poll::Ready(Ok(()));
        }
        if st.remote_fin {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = st.reset_error(this.stream.id) {
            return Poll::Ready(Err(e.into_io()));
        }
        if st.conn_lost {
            return Poll::Ready(Err(SpdyError::ConnectionClosed.into_io()));
        }
        match &mut st.read_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        half_dropped(&self.stream, &self.conn.shared, Half::Reader);
    }
}

/// The sending direction of a stream: each write becomes data frames of at most
/// [`MAX_DATA_FRAME`] bytes, and `shutdown` sends FIN. Writes wait while the connection's
/// send queue is full, and fail after RST_STREAM, after FIN, or once the connection is gone.
#[derive(Debug)]
pub struct StreamWriter {
    stream: Arc<StreamShared>,
    conn: Arc<Lifeline>,
    permits: PollSemaphore,
}

impl StreamWriter {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.stream.id
    }

    /// Aborts the stream with RST_STREAM: both directions fail from now on. Does nothing on
    /// a stream already finished or reset.
    pub fn reset(&self, status: RstStatus) {
        let shared = &self.conn.shared;
        let released = {
            let mut st = self.stream.lock();
            if st.finished() {
                return;
            }
            st.reset = Some(Reset::Locally(status));
            if let Some(w) = st.reply_waiter.take() {
                let _ = w.send(Err(SpdyError::ResetLocally {
                    stream_id: self.stream.id,
                    status,
                }));
            }
            st.wake_reader();
            shared.queue(Frame::RstStream {
                stream_id: self.stream.id,
                status,
            });
            st.discard()
        };
        shared.release_buffered(released);
        shared.remove_stream(self.stream.id);
    }

    fn check_writable(&self, st: &StreamState) -> Result<(), SpdyError> {
        if let Some(e) = st.reset_error(self.stream.id) {
            return Err(e);
        }
        if st.local_fin {
            return Err(SpdyError::WriteAfterFin {
                stream_id: self.stream.id,
            });
        }
        if st.conn_lost || self.conn.shared.is_closing() {
            return Err(SpdyError::ConnectionClosed);
        }
        Ok(())
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if let Err(e) = this.check_writable(&this.stream.lock()) {
            return Poll::Ready(Err(e.into_io()));
        }
        let n = buf.len().min(MAX_DATA_FRAME);
        // `n` is at most MAX_DATA_FRAME, far below u32::MAX.
        let Some(permit) = ready!(this.permits.poll_acquire_many(cx, n as u32)) else {
            return Poll::Ready(Err(SpdyError::ConnectionClosed.into_io()));
        };
        let shared = &this.conn.shared;
        let mut st = this.stream.lock();
        if let Err(e) = this.check_writable(&st) {
            return Poll::Ready(Err(e.into_io()));
        }
        let stream_id = this.stream.id;
        if !st.replied {
            // Go drops data that arrives on a stream before its SYN_REPLY.
            st.replied = true;
            shared.queue(Frame::SynReply {
                stream_id,
                fin: false,
                headers: Headers::new(),
            });
        }
        let frame = Frame::Data {
            stream_id,
            fin: false,
            data: buf[..n].to_vec(),
        };
        shared.queue_data(frame, permit);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Frames are queued in order and the session's writer task writes and flushes them
        // as soon as the socket takes them; there is nothing to push from here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shared = &this.conn.shared;
        let finished = {
            let mut st = this.stream.lock();
            if st.local_fin {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.check_writable(&st) {
                return Poll::Ready(Err(e.into_io()));
            }
            let frame = st.fin_frame(this.stream.id);
            shared.queue(frame);
            st.finished()
        };
        if finished {
            shared.remove_stream(this.stream.id);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        half_dropped(&self.stream, &self.conn.shared, Half::Writer);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Reader,
    Writer,
}

/// One handle of a stream was dropped: tell the peer what it needs to know (see the module
/// header) and forget the stream once nothing more can happen on it.
fn half_dropped(stream: &StreamShared, shared: &Shared, half: Half) {
    let (frame, released, forget) = {
        let mut st = stream.lock();
        let mut released = 0;
        match half {
            Half::Reader => {
                st.reader_gone = true;
                st.read_waker = None;
                released = st.discard();
            }
            Half::Writer => st.writer_gone = true,
        }
        let both_gone = st.reader_gone && st.writer_gone;
        let mut frame = None;
        if st.reset.is_none() && !st.conn_lost && !shared.is_closing() {
            let refuse = both_gone && !st.replied;
            let cancel = both_gone && !st.remote_fin;
            if refuse || cancel {
                let status = if refuse {
                    RstStatus::REFUSED_STREAM
                } else {
                    RstStatus::CANCEL
                };
                st.reset = Some(Reset::Locally(status));
                released += st.discard();
                frame = Some(Frame::RstStream {
                    stream_id: stream.id,
                    status,
                });
            } else if st.writer_gone && !st.local_fin {
                frame = Some(st.fin_frame(stream.id));
            }
        }
        (frame, released, both_gone || st.finished())
    };
    if let Some(frame) = frame {
        shared.queue(frame);
    }
    shared.release_buffered(released);
    if forget {
        shared.remove_stream(stream.id);
    }
}
