//! The connection adapter that lets every real CRI client in, whatever its `:authority`.
//!
//! Why it exists: over a Unix socket, grpc-go before `k8s.io/cri-client` (crictl, critest and the
//! kubelet up to 1.30) sends the socket path as `:authority`, grpc-java the raw path, grpc C-core
//! and Python a percent-encoded path. The `h2` server under tonic parses `:authority` with
//! `http::uri::Authority` and resets the stream with PROTOCOL_ERROR when it does not parse, so
//! those calls die before tonic sees them. containerd and CRI-O accept them all. We may not
//! patch `h2`, so the bytes are fixed before it reads them.
//!
//! Owns: the client-to-server byte stream of each accepted connection. It passes the 24-byte
//! preface and every frame through untouched except header blocks (HEADERS + CONTINUATION,
//! trailers included): each is decoded with the client's HPACK context, rewritten, re-encoded
//! with literals *without indexing* (so the server's dynamic table stays empty and cannot drift
//! from whatever the client's holds) and re-framed within the server's SETTINGS_MAX_FRAME_SIZE.
//! The server-to-client direction is not touched. Must not touch: what the fields mean to gRPC
//! (that is tonic's and berth-server's).
//!
//! The rewrite: `:authority`, when present, always becomes `localhost`. It means nothing on a
//! Unix socket, nothing in berth reads it, and one fixed value keeps any later layer from
//! depending on what a client chose; rewriting only the values `h2` refuses would copy `h2`'s
//! parser rules into ours. An absent `:authority` stays absent (`h2` accepts that). Header names
//! are lowercased: `h2` fails the whole connection (not one stream) on an uppercase name, and
//! grpc-go sends metadata keys as given when a caller builds `metadata.MD` by hand. Nothing else
//! a grpc-go, grpc-java or C-core client sends (`:scheme http`, `te: trailers`, `user-agent`,
//! `grpc-*`) trips `h2`.
//!
//! Bounds: at most one read's worth of frames and one header block (encoded and decoded, each
//! at most [`MAX_HEADER_BLOCK`]) are held; a client that goes past them loses its connection,
//! as a CONTINUATION out of sequence or an HPACK error would cost it with `h2` anyway.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio_stream::wrappers::UnixListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::Connected;

use crate::hpack::{self, Field, HpackError};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The most we emit per frame: SETTINGS_MAX_FRAME_SIZE's initial value, which the server keeps
/// (hyper sets 16 KiB, tonic does not raise it, berthd does not configure it).
const MAX_FRAME_SIZE: usize = 16_384;

/// The server's SETTINGS_HEADER_TABLE_SIZE: h2's default of 4096, which neither hyper, tonic nor
/// berthd changes. The client's dynamic table may grow to this.
const HEADER_TABLE_SIZE: usize = 4_096;

/// The most a header block may take, encoded or decoded (RFC 9113 header-list sizes). Far above
/// what the server accepts (hyper's 16 KiB header list), so it only bounds memory.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

/// What the rewritten `:authority` says.
const LOCALHOST: &[u8] = b"localhost";

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Why a client connection was dropped.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The header block does not decode.
    #[error("stream {stream}: bad header block: {source}")]
    Hpack {
        /// The HEADERS frame's stream.
        stream: u32,
        /// What the decoder found.
        #[source]
        source: HpackError,
    },
    /// The header block is larger than [`MAX_HEADER_BLOCK`].
    #[error("stream {stream}: header block larger than {MAX_HEADER_BLOCK} bytes")]
    BlockTooLarge {
        /// The HEADERS frame's stream.
        stream: u32,
    },
    /// A frame other than the CONTINUATION of an open header block (RFC 9113 §6.10).
    #[error("stream {stream}: frame type {kind:#x} on stream {got} inside a header block")]
    ContinuationExpected {
        /// The stream whose header block is open.
        stream: u32,
        /// The frame type that came instead.
        kind: u8,
        /// Its stream.
        got: u32,
    },
    /// A CONTINUATION with no header block open.
    #[error("stream {stream}: CONTINUATION without HEADERS")]
    StrayContinuation {
        /// Its stream.
        stream: u32,
    },
    /// A client sent PUSH_PROMISE, which only servers may (RFC 9113 §8.4).
    #[error("stream {stream}: PUSH_PROMISE from a client")]
    PushPromise {
        /// Its stream.
        stream: u32,
    },
    /// Padding or priority fields longer than the HEADERS frame.
    #[error("stream {stream}: HEADERS padding longer than the frame")]
    BadPadding {
        /// Its stream.
        stream: u32,
    },
}

/// A frame's 9-byte header (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy)]
struct FrameHead {
    len: usize,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl FrameHead {
    fn parse(bytes: &[u8; 9]) -> FrameHead {
        FrameHead {
            len: usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]),
            kind: bytes[3],
            flags: bytes[4],
            stream: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = self.len as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&self.stream.to_be_bytes());
    }
}

/// Where the rewriter is in the byte stream.
#[derive(Debug)]
enum State {
    /// Inside the connection preface, `seen` bytes of it so far.
    Preface { seen: usize },
    /// Reading a frame header.
    Head { bytes: [u8; 9], have: usize },
    /// Forwarding `left` more payload bytes of a frame that is not a header block.
    Forward { left: usize },
    /// Collecting the payload of a HEADERS or CONTINUATION frame.
    Collect { head: FrameHead, payload: Vec<u8> },
    /// Not HTTP/2 with prior knowledge: forward everything, let the server answer it.
    Opaque,
}

/// A header block being assembled from HEADERS and CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    fragments: Vec<u8>,
}

/// The client-to-server half of the adapter, without I/O: bytes in, rewritten bytes out.
#[derive(Debug)]
pub struct Rewriter {
    state: State,
    decoder: hpack::Decoder,
    block: Option<Block>,
    /// Whether a replaced `:authority` was logged yet: once per connection is enough.
    logged: bool,
}

impl Default for Rewriter {
    fn default() -> Rewriter {
        Rewriter {
            state: State::Preface { seen: 0 },
            decoder: hpack::Decoder::new(HEADER_TABLE_SIZE),
            block: None,
            logged: false,
        }
    }
}

impl Rewriter {
    /// Consumes all of `input`, appending to `out` the bytes to hand to the server.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        while !input.is_empty() {
            match &mut self.state {
                State::Preface { seen } => {
                    let n = (PREFACE.len() - *seen).min(input.len());
                    let (chunk, rest) = input.split_at(n);
                    out.extend_from_slice(chunk);
                    input = rest;
                    if chunk != &PREFACE[*seen..*seen + n] {
                        self.state = State::Opaque;
                    } else {
                        *seen += n;
                        if *seen == PREFACE.len() {
                            self.state = State::Head {
                                bytes: [0; 9],
                                have: 0,
                            };
                        }
                    }
                }
                State::Head { bytes, have } => {
                    let n = (9 - *have).min(input.len());
                    bytes[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    input = &input[n..];
                    if *have == 9 {
                        let raw = *bytes;
                        self.start_frame(&raw, out)?;
                    }
                }
                State::Forward { left } => {
                    let n = (*left).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Head {
                            bytes: [0; 9],
                            have: 0,
                        };
                    }
                }
                State::Collect { head, payload } => {
                    let n = (head.len - payload.len()).min(input.len());
                    payload.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if payload.len() == head.len {
                        let head = *head;
                        let payload = std::mem::take(payload);
                        self.state = State::Head {
                            bytes: [0; 9],
                            have: 0,
                        };
                        self.header_frame(head, &payload, out)?;
                    }
                }
                State::Opaque => {
                    out.extend_from_slice(input);
                    input = &[];
                }
            }
        }
        Ok(())
    }

    /// Acts on a complete frame header.
    fn start_frame(&mut self, raw: &[u8; 9], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let head = FrameHead::parse(raw);
        if let Some(block) = &self.block
            && (head.kind != CONTINUATION || head.stream != block.stream)
        {
            return Err(RewriteError::ContinuationExpected {
                stream: block.stream,
                kind: head.kind,
                got: head.stream,
            });
        }
        match head.kind {
            HEADERS | CONTINUATION => {
                if head.kind == CONTINUATION && self.block.is_none() {
                    return Err(RewriteError::StrayContinuation {
                        stream: head.stream,
                    });
                }
                if head.len > MAX_HEADER_BLOCK {
                    return Err(RewriteError::BlockTooLarge {
                        stream: head.stream,
                    });
                }
                self.state = State::Collect {
                    head,
                    payload: Vec::with_capacity(head.len),
                };
                if head.len == 0 {
                    // No payload bytes will come to finish the frame: finish it now.
                    self.state = State::Head {
                        bytes: [0; 9],
                        have: 0,
                    };
                    self.header_frame(head, &[], out)?;
                }
            }
            PUSH_PROMISE => {
                return Err(RewriteError::PushPromise {
                    stream: head.stream,
                });
            }
            _ => {
                out.extend_from_slice(raw);
                self.state = if head.len == 0 {
                    State::Head {
                        bytes: [0; 9],
                        have: 0,
                    }
                } else {
                    State::Forward { left: head.len }
                };
            }
        }
        Ok(())
    }

    /// Adds a HEADERS or CONTINUATION payload to the open block; rewrites the block once it ends.
    fn header_frame(
        &mut self,
        head: FrameHead,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RewriteError> {
        let stream = head.stream;
        if head.kind == HEADERS {
            let mut start = 0;
            let mut end = payload.len();
            if head.flags & PADDED != 0 {
                let pad = usize::from(*payload.first().ok_or(RewriteError::BadPadding { stream })?);
                start = 1;
                end = end
                    .checked_sub(pad)
                    .ok_or(RewriteError::BadPadding { stream })?;
            }
            let priority = if head.flags & PRIORITY != 0 {
                let fields: [u8; 5] = payload
                    .get(start..start + 5)
                    .and_then(|p| p.try_into().ok())
                    .ok_or(RewriteError::BadPadding { stream })?;
                start += 5;
                Some(fields)
            } else {
                None
            };
            if start > end {
                return Err(RewriteError::BadPadding { stream });
            }
            self.block = Some(Block {
                stream,
                end_stream: head.flags & END_STREAM != 0,
                priority,
                fragments: payload[start..end].to_vec(),
            });
        } else if let Some(block) = &mut self.block {
            if block.fragments.len() + payload.len() > MAX_HEADER_BLOCK {
                return Err(RewriteError::BlockTooLarge { stream });
            }
            block.fragments.extend_from_slice(payload);
        }
        if head.flags & END_HEADERS == 0 {
            return Ok(());
        }
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        let mut fields = self
            .decoder
            .decode(&block.fragments, MAX_HEADER_BLOCK)
            .map_err(|source| RewriteError::Hpack { stream, source })?;
        self.normalize(stream, &mut fields);
        let mut encoded = Vec::with_capacity(block.fragments.len() * 2);
        for field in &fields {
            hpack::encode_literal(field, &mut encoded);
        }
        write_block(&block, &encoded, out);
        Ok(())
    }

    /// The rewrite itself: lowercase names, `:authority` to `localhost`.
    fn normalize(&mut self, stream: u32, fields: &mut [Field]) {
        for field in fields {
            field.name.make_ascii_lowercase();
            if field.name == b":authority" && field.value != LOCALHOST {
                if !self.logged {
                    self.logged = true;
                    tracing::debug!(
                        stream,
                        authority = %String::from_utf8_lossy(&field.value),
                        "client :authority replaced with localhost"
                    );
                }
                field.value = LOCALHOST.to_vec();
            }
        }
    }
}

/// Frames an encoded header block: HEADERS, then CONTINUATIONs, none over [`MAX_FRAME_SIZE`].
fn write_block(block: &Block, encoded: &[u8], out: &mut Vec<u8>) {
    let mut flags = if block.end_stream { END_STREAM } else { 0 };
    let room = match block.priority {
        Some(_) => {
            flags |= PRIORITY;
            MAX_FRAME_SIZE - 5
        }
        None => MAX_FRAME_SIZE,
    };
    let first = encoded.len().min(room);
    let (chunk, mut rest) = encoded.split_at(first);
    let priority_len = if block.priority.is_some() { 5 } else { 0 };
    FrameHead {
        len: chunk.len() + priority_len,
        kind: HEADERS,
        flags: flags | if rest.is_empty() { END_HEADERS } else { 0 },
        stream: block.stream,
    }
    .write(out);
    if let Some(priority) = &block.priority {
        out.extend_from_slice(priority);
    }
    out.extend_from_slice(chunk);
    while !rest.is_empty() {
        let n = rest.len().min(MAX_FRAME_SIZE);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        FrameHead {
            len: n,
            kind: CONTINUATION,
            flags: if rest.is_empty() { END_HEADERS } else { 0 },
            stream: block.stream,
        }
        .write(out);
        out.extend_from_slice(chunk);
    }
}

/// An accepted connection whose client-to-server bytes go through a [`Rewriter`].
#[derive(Debug)]
pub struct AuthorityRewrite<S> {
    inner: S,
    rewriter: Rewriter,
    chunk: Box<[u8]>,
    /// Rewritten bytes not yet handed to the server, from `pos` on.
    pending: Vec<u8>,
    pos: usize,
}

impl<S> AuthorityRewrite<S> {
    /// Wraps an accepted connection.
    pub fn new(inner: S) -> AuthorityRewrite<S> {
        AuthorityRewrite {
            inner,
            rewriter: Rewriter::default(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            pending: Vec::new(),
            pos: 0,
        }
    }
}

/// The listener's connections, each wrapped in an [`AuthorityRewrite`].
pub fn incoming(
    listener: UnixListenerStream,
) -> impl Stream<Item = io::Result<AuthorityRewrite<UnixStream>>> {
    listener.map(|accepted| accepted.map(AuthorityRewrite::new))
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityRewrite<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.pos < this.pending.len() {
                let n = buf.remaining().min(this.pending.len() - this.pos);
                buf.put_slice(&this.pending[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.pending.len() {
                    this.pending.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = ReadBuf::new(&mut this.chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            let read = chunk.filled();
            if read.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.rewriter.feed(read, &mut this.pending) {
                tracing::warn!(error = %e, "dropping CRI client connection: malformed HTTP/2");
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityRewrite<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for AuthorityRewrite<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: u8 = 0x0;
    const SETTINGS: u8 = 0x4;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        FrameHead {
            len: payload.len(),
            kind,
            flags,
            stream,
        }
        .write(&mut out);
        out.extend_from_slice(payload);
        out
    }

    /// A client encoder that inserts every new field with incremental indexing, Huffman-coded,
    /// and refers to fields already in its table by index, as grpc-go's does.
    #[derive(Default)]
    struct ClientEncoder {
        table: Vec<(Vec<u8>, Vec<u8>)>,
    }

    impl ClientEncoder {
        fn encode(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
            let mut out = Vec::new();
            for (name, value) in fields {
                let entry = (name.as_bytes().to_vec(), value.as_bytes().to_vec());
                if let Some(at) = self.table.iter().position(|e| *e == entry) {
                    hpack::encode_int(62 + at, 7, 0x80, &mut out);
                    continue;
                }
                hpack::encode_int(0, 6, 0x40, &mut out);
                for s in [&entry.0, &entry.1] {
                    let coded = hpack::huffman_encode(s);
                    hpack::encode_int(coded.len(), 7, 0x80, &mut out);
                    out.extend_from_slice(&coded);
                }
                self.table.insert(0, entry);
            }
            out
        }
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Headers {
            stream: u32,
            end_stream: bool,
            priority: Option<[u8; 5]>,
            fields: Vec<(String, String)>,
        },
        Frame(Vec<u8>),
    }

    /// What the server reads from `bytes`: checks the framing limits and that its dynamic table
    /// stays empty.
    fn server_view(bytes: &[u8]) -> Vec<Seen> {
        assert_eq!(&bytes[..24], PREFACE);
        let mut rest = &bytes[24..];
        let mut decoder = hpack::Decoder::new(HEADER_TABLE_SIZE);
        let mut seen = Vec::new();
        let mut open: Option<Block> = None;
        while !rest.is_empty() {
            let head = FrameHead::parse(rest[..9].try_into().unwrap());
            let payload = &rest[9..9 + head.len];
            let raw = &rest[..9 + head.len];
            rest = &rest[9 + head.len..];
            assert!(head.len <= MAX_FRAME_SIZE, "frame of {} bytes", head.len);
            match head.kind {
                HEADERS => {
                    assert!(open.is_none());
                    assert_eq!(head.flags & PADDED, 0);
                    let (priority, fragment) = if head.flags & PRIORITY != 0 {
                        (Some(payload[..5].try_into().unwrap()), &payload[5..])
                    } else {
                        (None, payload)
                    };
                    open = Some(Block {
                        stream: head.stream,
                        end_stream: head.flags & END_STREAM != 0,
                        priority,
                        fragments: fragment.to_vec(),
                    });
                }
                CONTINUATION => {
                    let block = open.as_mut().expect("CONTINUATION without HEADERS");
                    assert_eq!(block.stream, head.stream);
                    block.fragments.extend_from_slice(payload);
                }
                _ => {
                    assert!(open.is_none());
                    seen.push(Seen::Frame(raw.to_vec()));
                    continue;
                }
            }
            if head.flags & END_HEADERS != 0 {
                let Block {
                    stream,
                    end_stream,
                    priority,
                    fragments,
                } = open.take().unwrap();
                let fields = decoder.decode(&fragments, MAX_HEADER_BLOCK).unwrap();
                assert_eq!(decoder.dynamic_len(), 0, "server table must stay empty");
                seen.push(Seen::Headers {
                    stream,
                    end_stream,
                    priority,
                    fields: fields
                        .into_iter()
                        .map(|f| {
                            (
                                String::from_utf8(f.name).unwrap(),
                                String::from_utf8(f.value).unwrap(),
                            )
                        })
                        .collect(),
                });
            }
        }
        assert!(open.is_none());
        seen
    }

    fn headers(stream: u32, end_stream: bool, fields: &[(&str, &str)]) -> Seen {
        Seen::Headers {
            stream,
            end_stream,
            priority: None,
            fields: fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Runs `input` through a rewriter whole, then byte by byte, and checks both agree.
    fn rewrite(input: &[u8]) -> Vec<u8> {
        let mut whole = Vec::new();
        Rewriter::default().feed(input, &mut whole).unwrap();
        let mut bytewise = Vec::new();
        let mut rewriter = Rewriter::default();
        for byte in input {
            rewriter
                .feed(std::slice::from_ref(byte), &mut bytewise)
                .unwrap();
        }
        assert_eq!(whole, bytewise);
        whole
    }

    fn request(path: &str, authority: &str) -> Vec<(&'static str, String)> {
        vec![
            (":method", "POST".into()),
            (":scheme", "http".into()),
            (":path", path.into()),
            (":authority", authority.into()),
            ("content-type", "application/grpc".into()),
            ("user-agent", "grpc-go/1.51.0".into()),
            ("te", "trailers".into()),
        ]
    }

    fn borrowed<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        fields.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }

    #[test]
    fn socket_path_authority_becomes_localhost_and_the_rest_passes() {
        let socket = "/run/berth/berth.sock";
        assert!(http::uri::Authority::from_maybe_shared(socket).is_err());
        let mut client = ClientEncoder::default();
        let fields = request("/runtime.v1.RuntimeService/Version", socket);
        let settings = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let data = frame(DATA, END_STREAM, 1, &[0, 0, 0, 0, 2, 10, 0]);
        let mut input = PREFACE.to_vec();
        input.extend(&settings);
        input.extend(frame(
            HEADERS,
            END_HEADERS,
            1,
            &client.encode(&borrowed(&fields)),
        ));
        input.extend(&data);
        let seen = server_view(&rewrite(&input));
        let mut want = fields.clone();
        want[3].1 = "localhost".into();
        assert_eq!(
            seen,
            vec![
                Seen::Frame(settings),
                headers(1, false, &borrowed(&want)),
                Seen::Frame(data),
            ]
        );
    }

    #[test]
    fn dynamic_table_references_across_blocks_and_trailers() {
        let mut client = ClientEncoder::default();
        let mut input = PREFACE.to_vec();
        let mut want = Vec::new();
        for (i, authority) in ["%2Frun%2Fberth%2Fberth.sock", "localhost", "unix:/x"]
            .iter()
            .enumerate()
        {
            let stream = 1 + 2 * i as u32;
            for path in ["/a.B/C", "/a.B/D"] {
                let fields = request(path, authority);
                input.extend(frame(
                    HEADERS,
                    END_HEADERS,
                    stream,
                    &client.encode(&borrowed(&fields)),
                ));
                let mut expected = fields.clone();
                expected[3].1 = "localhost".into();
                want.push(headers(stream, false, &borrowed(&expected)));
            }
            // Trailers: a header block too, referring to the table.
            let trailer = [("grpc-status", "0"), ("te", "trailers")];
            input.extend(frame(
                HEADERS,
                END_HEADERS | END_STREAM,
                stream,
                &client.encode(&trailer),
            ));
            want.push(headers(stream, true, &trailer));
        }
        // The later blocks were mostly indexed references.
        assert!(client.table.len() > 7);
        assert_eq!(server_view(&rewrite(&input)), want);
    }

    #[test]
    fn padded_priority_headers_split_over_continuations() {
        let mut client = ClientEncoder::default();
        let fields = request("/runtime.v1.RuntimeService/Status", "/run/berth/berth.sock");
        let block = client.encode(&borrowed(&fields));
        let (a, rest) = block.split_at(3);
        let (b, c) = rest.split_at(rest.len() / 2);
        let mut payload = vec![4u8];
        payload.extend([0x80, 0, 0, 0, 15]);
        payload.extend(a);
        payload.extend([0; 4]);
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, PADDED | PRIORITY | END_STREAM, 5, &payload));
        input.extend(frame(CONTINUATION, 0, 5, b));
        input.extend(frame(CONTINUATION, END_HEADERS, 5, c));
        let mut want = fields.clone();
        want[3].1 = "localhost".into();
        let Seen::Headers { fields, .. } = headers(5, true, &borrowed(&want)) else {
            unreachable!()
        };
        assert_eq!(
            server_view(&rewrite(&input)),
            vec![Seen::Headers {
                stream: 5,
                end_stream: true,
                priority: Some([0x80, 0, 0, 0, 15]),
                fields,
            }]
        );
    }

    #[test]
    fn large_blocks_are_reframed_within_max_frame_size() {
        let big = "x".repeat(3000);
        let mut fields = request("/p", "/run/berth/berth.sock");
        for i in 0..20 {
            fields.push((["m0", "m1", "m2", "m3"][i % 4], big.clone()));
        }
        // Literals without indexing: 60 KB of fields, more than three frames' worth.
        let mut block = Vec::new();
        for (name, value) in &fields {
            hpack::encode_literal(&Field::new(*name, value.as_bytes()), &mut block);
        }
        let mut input = PREFACE.to_vec();
        for (i, chunk) in block.chunks(MAX_FRAME_SIZE).enumerate() {
            let last = (i + 1) * MAX_FRAME_SIZE >= block.len();
            let kind = if i == 0 { HEADERS } else { CONTINUATION };
            input.extend(frame(kind, if last { END_HEADERS } else { 0 }, 1, chunk));
        }
        let mut want = fields.clone();
        want[3].1 = "localhost".into();
        assert_eq!(
            server_view(&rewrite(&input)),
            vec![headers(1, false, &borrowed(&want))]
        );
    }

    #[test]
    fn uppercase_names_are_lowercased_and_absent_authority_stays_absent() {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/p"),
            ("X-Custom", "v"),
        ] {
            hpack::encode_literal(&Field::new(name, value), &mut block);
        }
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &block));
        assert_eq!(
            server_view(&rewrite(&input)),
            vec![headers(
                1,
                false,
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/p"),
                    ("x-custom", "v")
                ]
            )]
        );
    }

    #[test]
    fn malformed_sequences_drop_the_connection() {
        let mut client = ClientEncoder::default();
        let block = client.encode(&[(":method", "POST")]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                [frame(HEADERS, 0, 1, &block), frame(DATA, 0, 1, b"x")].concat(),
                "inside a header block",
            ),
            (
                [frame(HEADERS, 0, 1, &block), frame(CONTINUATION, 4, 3, &[])].concat(),
                "inside a header block",
            ),
            (frame(CONTINUATION, 4, 1, &block), "without HEADERS"),
            (frame(PUSH_PROMISE, 4, 1, &[0, 0, 0, 2]), "PUSH_PROMISE"),
            (
                frame(HEADERS, PADDED | END_HEADERS, 1, &[9, 0x82]),
                "padding",
            ),
            (frame(HEADERS, END_HEADERS, 1, &[0xbe]), "bad header block"),
            (
                frame(HEADERS, END_HEADERS, 1, &vec![0; MAX_HEADER_BLOCK + 1]),
                "larger than",
            ),
        ];
        for (frames, want) in cases {
            let mut input = PREFACE.to_vec();
            input.extend(frames);
            let err = Rewriter::default()
                .feed(&input, &mut Vec::new())
                .unwrap_err();
            assert!(err.to_string().contains(want), "{err} lacks {want:?}");
        }
        // A block that grows past the bound over CONTINUATIONs.
        let mut rewriter = Rewriter::default();
        let mut out = Vec::new();
        rewriter.feed(PREFACE, &mut out).unwrap();
        rewriter
            .feed(&frame(HEADERS, 0, 1, &vec![0x82; MAX_FRAME_SIZE]), &mut out)
            .unwrap();
        let err = (0..MAX_HEADER_BLOCK / MAX_FRAME_SIZE)
            .find_map(|_| {
                rewriter
                    .feed(
                        &frame(CONTINUATION, 0, 1, &vec![0x82; MAX_FRAME_SIZE]),
                        &mut out,
                    )
                    .err()
            })
            .expect("bound enforced");
        assert!(matches!(err, RewriteError::BlockTooLarge { stream: 1 }));
    }

    #[test]
    fn non_http2_bytes_pass_through() {
        let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(rewrite(input), input);
    }

    #[tokio::test]
    async fn adapter_rewrites_reads_and_passes_writes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let mut server = AuthorityRewrite::new(server);
        let mut encoder = ClientEncoder::default();
        let fields = request("/p", "/run/berth/berth.sock");
        let mut input = PREFACE.to_vec();
        input.extend(frame(
            HEADERS,
            END_HEADERS,
            1,
            &encoder.encode(&borrowed(&fields)),
        ));
        input.extend(frame(DATA, END_STREAM, 1, &[7; 200]));
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            client_write.write_all(&input).await.unwrap();
            client_write.shutdown().await.unwrap();
            client_write
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        let mut client_write = writer.await.unwrap();
        let mut want = fields.clone();
        want[3].1 = "localhost".into();
        assert_eq!(
            server_view(&got),
            vec![
                headers(1, false, &borrowed(&want)),
                Seen::Frame(frame(DATA, END_STREAM, 1, &[7; 200])),
            ]
        );
        server.write_all(b"server bytes").await.unwrap();
        server.flush().await.unwrap();
        let mut back = [0; 12];
        client_read.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"server bytes");
        let _ = client_write.shutdown().await;
    }
}
