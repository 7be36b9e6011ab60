//! Our own clients of berth's streaming server, speaking as kubectl and crictl do: SPDY/3.1
//! after an HTTP/1.1 upgrade (what the kubelet always uses), and WebSocket (the
//! `v5.channel.k8s.io` channels for exec, Kubernetes' SPDY tunnel for port-forward). Tests
//! use them against the real berthd; the real crictl and critest are run by hand.

use std::io;

use berth_streaming::spdy::{Headers, Session, StreamReader};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What an exec sends.
#[derive(Debug, Clone, Default)]
pub struct ExecInput {
    /// Input, ended (FIN / close signal) after it is sent; `None`: no stdin stream.
    pub stdin: Option<Vec<u8>>,
    /// A terminal (then no stderr stream).
    pub tty: bool,
    /// Whether a stderr stream is opened (without a terminal).
    pub stderr: bool,
    /// A terminal size sent first, with a terminal.
    pub size: Option<(u16, u16)>,
    /// Input is sent only once the output has shown these bytes (SPDY only): an attacher
    /// knows it is attached when it sees what the container writes.
    pub wait_for: Option<Vec<u8>>,
}

/// What an exec received.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Standard output (the terminal's).
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The error channel's bytes (a v4 Status in JSON).
    pub status: Vec<u8>,
}

impl ExecOutput {
    /// The exit code the status says: 0 for Success, the ExitCode cause for a non-zero exit;
    /// `None` for anything else.
    pub fn exit_code(&self) -> Option<i32> {
        let status: serde_json::Value = serde_json::from_slice(&self.status).ok()?;
        match status["status"].as_str()? {
            "Success" => Some(0),
            _ if status["reason"] == "NonZeroExitCode" => status["details"]["causes"]
                .as_array()?
                .iter()
                .find(|c| c["reason"] == "ExitCode")?["message"]
                .as_str()?
                .parse()
                .ok(),
            _ => None,
        }
    }
}

/// The host:port and path of an `http://` URL.
fn split_url(url: &str) -> io::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other(format!("not an http:// URL: {url}")))?;
    let slash = rest.find('/').unwrap_or(rest.len());
    Ok((&rest[..slash], &rest[slash..]))
}

/// Sends a plain request for `url` with `headers` and reads the response head (status and
/// headers), leaving the connection right after it.
async fn request(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
) -> io::Result<(TcpStream, u16, Vec<(String, String)>)> {
    let (host, path) = split_url(url)?;
    let mut tcp = TcpStream::connect(host).await?;
    // As Go's dialer (kubectl, crictl, the kubelet): no Nagle delay on small frames.
    tcp.set_nodelay(true)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await?;
    // Byte by byte: nothing after the head may be taken from the stream.
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let byte = tcp.read_u8().await?;
        response.push(byte);
        if response.len() > 64 * 1024 {
            return Err(io::Error::other("response head too long"));
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad response: {text}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((tcp, status, headers))
}

/// The status a SPDY upgrade request for `url` gets (404 for a used or unknown token).
pub async fn upgrade_status(url: &str, protocol: &str) -> io::Result<u16> {
    let (_, status, _) = request(url, "POST", &spdy_headers(protocol)).await?;
    Ok(status)
}

fn spdy_headers(protocol: &str) -> Vec<(&str, &str)> {
    vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("X-Stream-Protocol-Version", protocol),
    ]
}

/// Upgrades `url` to SPDY with `protocol`; the session of a client.
pub async fn spdy(url: &str, protocol: &str) -> io::Result<Session> {
    let (tcp, status, headers) = request(url, "POST", &spdy_headers(protocol)).await?;
    if status != 101 {
        return Err(io::Error::other(format!("upgrade refused: {status}")));
    }
    let chosen = headers
        .iter()
        .find(|(n, _)| n == "x-stream-protocol-version");
    if chosen.map(|(_, v)| v.as_str()) != Some(protocol) {
        return Err(io::Error::other(format!(
            "protocol not echoed: {headers:?}"
        )));
    }
    let (session, _incoming) = Session::client(tcp);
    Ok(session)
}

async fn open(
    session: &Session,
    pairs: &[(&str, &str)],
) -> io::Result<berth_streaming::spdy::Stream> {
    let mut headers = Headers::default();
    for (name, value) in pairs {
        headers.insert(*name, *value);
    }
    session.open(headers).await.map_err(io::Error::other)
}

/// Reads `reader` to its end; says on `seen` when what was read holds `wanted`.
async fn read_watching(
    mut reader: impl AsyncRead + Unpin,
    wanted: Option<Vec<u8>>,
    seen: tokio::sync::oneshot::Sender<()>,
) -> Vec<u8> {
    let mut seen = Some(seen);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if let Some(wanted) = &wanted
            && out.windows(wanted.len()).any(|w| w == &wanted[..])
            && let Some(seen) = seen.take()
        {
            let _ = seen.send(());
        }
    }
    out
}

async fn read_all(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = reader.read_to_end(&mut out).await;
    out
}

/// Runs an exec over SPDY (`v4.channel.k8s.io`) as the kubelet's client does: streams opened
/// one by one in the client's order, input sent and ended, outputs read to their end, then
/// the status.
pub async fn spdy_exec(url: &str, input: ExecInput) -> io::Result<ExecOutput> {
    let session = spdy(url, "v4.channel.k8s.io").await?;
    let error = open(&session, &[("streamtype", "error")]).await?;
    let stdin = match &input.stdin {
        Some(_) => Some(open(&session, &[("streamtype", "stdin")]).await?),
        None => None,
    };
    let stdout = open(&session, &[("streamtype", "stdout")]).await?;
    let stderr = if input.stderr && !input.tty {
        Some(open(&session, &[("streamtype", "stderr")]).await?)
    } else {
        None
    };
    let resize = if input.tty {
        Some(open(&session, &[("streamtype", "resize")]).await?)
    } else {
        None
    };
    // The resize stream stays open until the session ends.
    let mut resize = resize;
    if let (Some(resize), Some((w, h))) = (resize.as_mut(), input.size) {
        resize
            .write_all(format!("{{\"Width\":{w},\"Height\":{h}}}\n").as_bytes())
            .await?;
    }
    let (seen, shown) = tokio::sync::oneshot::channel();
    let waits = input.wait_for.is_some();
    let send_input = async move {
        if let (Some(stdin), Some(data)) = (stdin, input.stdin) {
            let (mut ours, mut writer) = stdin.split();
            if waits {
                // As Go's client (kubectl, crictl, critest): once the server closes its side
                // of stdin, the client closes stdin too, and later input is lost.
                tokio::select! {
                    _ = shown => {}
                    _ = ours.read_u8() => {
                        return Err(io::Error::other(
                            "the server closed its side of stdin before the input was sent",
                        ));
                    }
                }
            }
            writer.write_all(&data).await?;
            writer.shutdown().await?;
        }
        io::Result::Ok(())
    };
    let (error_reader, _error_writer) = error.split();
    let (stdout_reader, _) = stdout.split();
    let stderr_reader: Option<StreamReader> = stderr.map(|s| s.split().0);
    let ((), stdout, stderr) = tokio::try_join!(
        send_input,
        async { Ok(read_watching(stdout_reader, input.wait_for, seen).await) },
        async {
            Ok(match stderr_reader {
                Some(r) => read_all(r).await,
                None => Vec::new(),
            })
        }
    )?;
    let status = read_all(error_reader).await;
    drop(resize);
    session.close().await;
    Ok(ExecOutput {
        stdout,
        stderr,
        status,
    })
}

/// A streaming session held open and idle, with its streams; dropping it goes away without
/// a word.
pub struct Idle {
    _streams: Vec<berth_streaming::spdy::Stream>,
    _session: Session,
}

/// Opens an exec session over SPDY (`v4.channel.k8s.io`) with its error, stdin and stdout
/// streams, as the kubelet's client does, and sends nothing: a forgotten `kubectl exec -i`.
pub async fn spdy_exec_idle(url: &str) -> io::Result<Idle> {
    let session = spdy(url, "v4.channel.k8s.io").await?;
    let mut streams = Vec::new();
    for kind in ["error", "stdin", "stdout"] {
        streams.push(open(&session, &[("streamtype", kind)]).await?);
    }
    Ok(Idle {
        _streams: streams,
        _session: session,
    })
}

/// Opens a port-forward session over SPDY with one connection to `port` (its error and data
/// streams) and sends nothing: a forgotten `kubectl port-forward` with a client connected.
pub async fn spdy_forward_idle(url: &str, port: u16) -> io::Result<Idle> {
    let session = spdy_port_forward(url).await?;
    let port = port.to_string();
    let mut streams = Vec::new();
    for kind in ["error", "data"] {
        let headers = [
            ("streamtype", kind),
            ("port", port.as_str()),
            ("requestid", "0"),
        ];
        streams.push(open(&session, &headers).await?);
    }
    Ok(Idle {
        _streams: streams,
        _session: session,
    })
}

/// One forwarded connection over an open port-forward session: `send` is written and
/// ended, and what comes back on the data and error streams is answered.
pub async fn forward_once(
    session: &Session,
    port: u16,
    request_id: u32,
    send: &[u8],
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (port, id) = (port.to_string(), request_id.to_string());
    let error = open(
        session,
        &[("streamtype", "error"), ("port", &port), ("requestid", &id)],
    )
    .await?;
    let (error_reader, mut error_writer) = error.split();
    // As client-go: "we're not writing to this stream".
    error_writer.shutdown().await?;
    let data = open(
        session,
        &[("streamtype", "data"), ("port", &port), ("requestid", &id)],
    )
    .await?;
    let (data_reader, mut data_writer) = data.split();
    let _ = data_writer.write_all(send).await;
    let _ = data_writer.shutdown().await;
    let (data, error) = tokio::join!(read_all(data_reader), read_all(error_reader));
    Ok((data, error))
}

/// A port-forward session over SPDY (`portforward.k8s.io`).
pub async fn spdy_port_forward(url: &str) -> io::Result<Session> {
    spdy(url, "portforward.k8s.io").await
}

/// A WebSocket to `url` with `protocol`.
async fn websocket(
    url: &str,
    protocol: &str,
) -> io::Result<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let (host, _) = split_url(url)?;
    let tcp = TcpStream::connect(host).await?;
    tcp.set_nodelay(true)?;
    let ws_url = url.replacen("http://", "ws://", 1);
    let mut request = ws_url.into_client_request().map_err(io::Error::other)?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        protocol.parse().map_err(io::Error::other)?,
    );
    let (ws, response) = tokio_tungstenite::client_async(request, tcp)
        .await
        .map_err(io::Error::other)?;
    let chosen = response.headers().get("sec-websocket-protocol");
    if chosen.and_then(|v| v.to_str().ok()) != Some(protocol) {
        return Err(io::Error::other(format!("protocol not chosen: {chosen:?}")));
    }
    Ok(ws)
}

/// Runs an exec over WebSocket (`v5.channel.k8s.io`) as crictl's `--transport websocket`
/// does: a size first, input then the close signal, every message read until the server's
/// Close.
pub async fn ws_exec(url: &str, input: ExecInput) -> io::Result<ExecOutput> {
    let mut ws = websocket(url, "v5.channel.k8s.io").await?;
    if let (true, Some((w, h))) = (input.tty, input.size) {
        let mut message = vec![4u8];
        message.extend_from_slice(format!("{{\"Width\":{w},\"Height\":{h}}}\n").as_bytes());
        ws.send(Message::Binary(message.into()))
            .await
            .map_err(io::Error::other)?;
    }
    if let Some(data) = &input.stdin {
        let mut message = vec![0u8];
        message.extend_from_slice(data);
        ws.send(Message::Binary(message.into()))
            .await
            .map_err(io::Error::other)?;
        ws.send(Message::Binary(vec![255u8, 0].into()))
            .await
            .map_err(io::Error::other)?;
    }
    let mut out = ExecOutput::default();
    while let Some(message) = ws.next().await {
        match message.map_err(io::Error::other)? {
            Message::Binary(bytes) => match bytes.split_first() {
                Some((1, data)) => out.stdout.extend_from_slice(data),
                Some((2, data)) => out.stderr.extend_from_slice(data),
                Some((3, data)) => out.status.extend_from_slice(data),
                _ => {}
            },
            Message::Close(frame) => {
                let normal = frame.is_some_and(|f| u16::from(f.code) == 1000);
                if !normal {
                    return Err(io::Error::other("the session did not end with Close 1000"));
                }
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What each port of a channel port-forward received: its data and its error channel's
/// bytes, each without the two port bytes it starts with (checked).
pub type PortReplies = Vec<(Vec<u8>, Vec<u8>)>;

/// A port-forward over WebSocket channels, the kubelet's older form: `ports` in the query,
/// `send` written on every port's data channel, every message read until the server's Close.
pub async fn ws_forward_channels(url: &str, ports: &[u16], send: &[u8]) -> io::Result<PortReplies> {
    let query: Vec<String> = ports.iter().map(|p| format!("port={p}")).collect();
    let url = format!("{url}?{}", query.join("&"));
    let mut ws = websocket(&url, "v4.channel.k8s.io").await?;
    for i in 0..ports.len() {
        let mut message = vec![(i * 2) as u8];
        message.extend_from_slice(send);
        ws.send(Message::Binary(message.into()))
            .await
            .map_err(io::Error::other)?;
    }
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); ports.len() * 2];
    while let Some(message) = ws.next().await {
        match message.map_err(io::Error::other)? {
            Message::Binary(bytes) => {
                if let Some((&channel, data)) = bytes.split_first()
                    && let Some(slot) = got.get_mut(channel as usize)
                {
                    slot.extend_from_slice(data);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let mut replies = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut pair = [
            std::mem::take(&mut got[i * 2]),
            std::mem::take(&mut got[i * 2 + 1]),
        ];
        for channel in &mut pair {
            if channel.get(..2) != Some(&port.to_le_bytes()[..]) {
                return Err(io::Error::other(format!(
                    "port {port}'s channel does not start with its port: {channel:?}"
                )));
            }
            channel.drain(..2);
        }
        let [data, error] = pair;
        replies.push((data, error));
    }
    Ok(replies)
}

/// A port-forward session through the WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`), as
/// crictl 1.36's `--transport websocket` opens it.
pub async fn ws_port_forward(url: &str) -> io::Result<Session> {
    let ws = websocket(url, "SPDY/3.1+portforward.k8s.io").await?;
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(carry(ws, ours));
    let (session, _incoming) = Session::client(theirs);
    Ok(session)
}

/// Carries a byte stream through binary messages until either side ends.
async fn carry(
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    inner: impl AsyncRead + AsyncWrite + Unpin,
) {
    let (mut sink, mut source) = ws.split();
    let (mut from_inner, mut to_inner) = tokio::io::split(inner);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            read = from_inner.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => if sink.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() { break },
            },
            message = source.next() => match message {
                Some(Ok(Message::Binary(bytes))) => if to_inner.write_all(&bytes).await.is_err() { break },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = to_inner.shutdown().await;
    let _ = sink.close().await;
}
