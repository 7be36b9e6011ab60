//! Streaming over WebSocket (RFC 6455), as `crictl --transport websocket` and critest's
//! `-websocket-*` options speak it:
//!
//! - exec and attach: the channel protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`,
//!   `channel.k8s.io`, and their `base64` forms): each message is one channel's bytes after
//!   a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize); `base64` protocols send
//!   text, the channel as an ASCII digit and the bytes in base64. v5 adds the close signal:
//!   `[255, channel]` from the client ends that channel's input. The session ends with the
//!   status on channel 3 and a Close frame (1000), without which clients report an error.
//! - port-forward: `SPDY/3.1+portforward.k8s.io`, Kubernetes' tunnel (KEP-4006): the binary
//!   messages carry a SPDY byte stream, frames split across messages at will; the SPDY
//!   session inside is port-forward's own. And the kubelet's older channel form
//!   (`v4.channel.k8s.io`, `v4.base64.channel.k8s.io` or no sub-protocol): the ports in the
//!   URL's query (`?port=80&port=443`), two channels per port (data `2i`, error `2i + 1`),
//!   each starting with the port in two little-endian bytes (`port_channels`).
//!
//! Pings are answered (tungstenite queues the pong, the pump's next flush sends it): the
//! Go client gives up after 61 s without a pong.

use std::time::Duration;

use base64::Engine as _;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::remotecommand::Channels;

/// The channel protocols served for exec and attach, in berth's order (the client's decides).
pub const CHANNEL_PROTOCOLS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// Port-forward's tunnel of SPDY through WebSocket.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The protocols served for port-forward: the tunnel, and the kubelet's older channels.
pub const PORT_FORWARD_PROTOCOLS: &[&str] = &[
    TUNNEL_PROTOCOL,
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
];

/// How much one channel buffers between the socket and the command.
const CHANNEL_BUFFER: usize = 64 * 1024;
/// The channel numbers.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5's close signal.
const CLOSE_SIGNAL: u8 = 255;
/// How long the Close handshake may take at the end.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Which channels a session has, from its request.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub resize: bool,
}

/// The channels of a channel-protocol session on `ws`, and the pump that carries them (run
/// it beside the session; it ends when the client leaves or every output is closed).
pub fn channels<S>(
    ws: WebSocketStream<S>,
    protocol: &str,
    wanted: Wanted,
) -> (Channels, impl Future<Output = ()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let base64 = protocol.contains("base64");
    let mut channels = Channels::default();
    let mut inputs: Vec<Option<DuplexStream>> = (0..=RESIZE).map(|_| None).collect();
    let mut outputs: Vec<(u8, DuplexStream)> = Vec::new();
    if wanted.stdin {
        let (ours, theirs) = tokio::io::duplex(CHANNEL_BUFFER);
        channels.stdin = Some(Box::new(theirs));
        inputs[STDIN as usize] = Some(ours);
    }
    if wanted.resize {
        let (ours, theirs) = tokio::io::duplex(CHANNEL_BUFFER);
        channels.resize = Some(Box::new(theirs));
        inputs[RESIZE as usize] = Some(ours);
    }
    for (channel, wanted) in [
        (STDOUT, wanted.stdout),
        (STDERR, wanted.stderr),
        (ERROR, true),
    ] {
        if wanted {
            let (ours, theirs) = tokio::io::duplex(CHANNEL_BUFFER);
            let writer: Box<dyn AsyncWrite + Send + Unpin> = Box::new(theirs);
            match channel {
                STDOUT => channels.stdout = Some(writer),
                STDERR => channels.stderr = Some(writer),
                _ => channels.error = Some(writer),
            }
            outputs.push((channel, ours));
        }
    }
    (channels, pump(ws, inputs, outputs, base64))
}

/// Carries messages to the input channels and output channels to messages, until every
/// output has ended (then Close 1000) or the client is gone.
async fn pump<S>(
    ws: WebSocketStream<S>,
    mut inputs: Vec<Option<DuplexStream>>,
    outputs: Vec<(u8, DuplexStream)>,
    base64: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut sink, mut source) = ws.split();
    let (to_send, mut sending) = tokio::sync::mpsc::channel::<Message>(8);
    let mut readers = tokio::task::JoinSet::new();
    for (channel, mut out) in outputs {
        let to_send = to_send.clone();
        readers.spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match out.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if to_send
                            .send(encode(channel, &buf[..n], base64))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(to_send);
    let mut outputs_open = true;
    loop {
        tokio::select! {
            message = sending.recv(), if outputs_open => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                // Every output ended, the error channel last: say goodbye.
                None => outputs_open = false,
            },
            incoming = source.next() => match incoming {
                Some(Ok(message)) => {
                    if !deliver(message, &mut inputs, base64).await {
                        break;
                    }
                    // Flushes a pong tungstenite queued for a ping.
                    let _ = sink.flush().await;
                }
                // The client went away: the inputs end (dropped below), the session sees it.
                Some(Err(_)) | None => return,
            },
        }
        if !outputs_open {
            break;
        }
    }
    readers.abort_all();
    close_normally(sink, source).await;
}

/// One output message.
fn encode(channel: u8, data: &[u8], base64: bool) -> Message {
    if base64 {
        let mut text = String::with_capacity(1 + data.len() * 4 / 3 + 4);
        text.push(char::from(b'0' + channel));
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
        Message::Text(text.into())
    } else {
        let mut bytes = Vec::with_capacity(1 + data.len());
        bytes.push(channel);
        bytes.extend_from_slice(data);
        Message::Binary(bytes.into())
    }
}

/// Hands one client message to its input channel; false when the client closed the socket
/// or broke the protocol.
async fn deliver(message: Message, inputs: &mut [Option<DuplexStream>], base64: bool) -> bool {
    let (channel, data) = match message {
        Message::Binary(bytes) if !base64 => match bytes.split_first() {
            Some((&CLOSE_SIGNAL, rest)) => {
                // v5: [255, channel] ends that channel's input.
                let Some(input) = rest.first().and_then(|c| inputs.get_mut(*c as usize)) else {
                    return false;
                };
                if let Some(mut input) = input.take() {
                    let _ = input.shutdown().await;
                }
                return true;
            }
            Some((&channel, rest)) => (channel, rest.to_vec()),
            None => return true,
        },
        Message::Text(text) if base64 => {
            let text = text.as_bytes();
            let Some((&digit, rest)) = text.split_first() else {
                return true;
            };
            let Ok(data) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            (digit.wrapping_sub(b'0'), data)
        }
        Message::Close(_) => return false,
        // Pings are answered by tungstenite; pongs and frames of the wrong kind are dropped.
        _ => return true,
    };
    if let Some(slot) = inputs.get_mut(channel as usize)
        && let Some(input) = slot
        && input.write_all(&data).await.is_err()
    {
        *slot = None;
    }
    true
}

/// One forwarded port's channels on a channel-protocol port-forward (see
/// `portforward::websocket`): the client's bytes, and ours to it and on its error channel.
pub struct PortChannels {
    /// What the client sends to the port.
    pub data_in: DuplexStream,
    /// What the port sends to the client.
    pub data_out: DuplexStream,
    /// The error channel; a failure's text.
    pub error_out: DuplexStream,
}

/// The channels of a port-forward session on `ws` over a channel protocol, two per port
/// (data `2i`, error `2i + 1`), and the pump that carries them (it ends when the client
/// leaves or every output is closed).
pub fn port_channels<S>(
    ws: WebSocketStream<S>,
    protocol: &str,
    ports: usize,
) -> (Vec<PortChannels>, impl Future<Output = ()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut inputs = Vec::with_capacity(ports * 2);
    let mut outputs = Vec::with_capacity(ports * 2);
    let mut channels = Vec::with_capacity(ports);
    for i in 0..ports {
        let channel = (i * 2) as u8;
        let (pump_in, data_in) = tokio::io::duplex(CHANNEL_BUFFER);
        let (pump_out, data_out) = tokio::io::duplex(CHANNEL_BUFFER);
        let (pump_error, error_out) = tokio::io::duplex(CHANNEL_BUFFER);
        inputs.push(Some(pump_in));
        inputs.push(None);
        outputs.push((channel, pump_out));
        outputs.push((channel + 1, pump_error));
        channels.push(PortChannels {
            data_in,
            data_out,
            error_out,
        });
    }
    let base64 = protocol.contains("base64");
    (channels, pump(ws, inputs, outputs, base64))
}

/// A WebSocket carrying a byte stream (the port-forward tunnel), as a byte stream, and the
/// pump that carries it.
pub fn tunnel<S>(ws: WebSocketStream<S>) -> (DuplexStream, impl Future<Output = ()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (ours, theirs) = tokio::io::duplex(CHANNEL_BUFFER);
    (theirs, carry(ws, ours))
}

async fn carry<S>(ws: WebSocketStream<S>, inner: DuplexStream)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut sink, mut source) = ws.split();
    let (mut from_inner, mut to_inner) = tokio::io::split(inner);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            read = from_inner.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        return;
                    }
                }
            },
            incoming = source.next() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_inner.write_all(&bytes).await.is_err() {
                        break;
                    }
                    let _ = sink.flush().await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let _ = to_inner.shutdown().await;
                    return;
                }
                Some(Ok(_)) => {
                    let _ = sink.flush().await;
                }
            },
        }
    }
    close_normally(sink, source).await;
}

/// Sends Close 1000 and reads until the client's Close (or its hang-up), bounded.
async fn close_normally<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut source: SplitStream<WebSocketStream<S>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = sink.send(Message::Close(Some(close))).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = source.next().await {}
    })
    .await;
}
