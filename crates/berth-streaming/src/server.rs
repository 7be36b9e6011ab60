//! The HTTP side: the listener, the routes (`/exec/<token>`, `/attach/<token>`,
//! `/portforward/<token>`, GET or POST as the kubelet's server takes them), the token's
//! request, and the upgrade to SPDY/3.1 or WebSocket with the protocol the client's order of
//! preference picks.
//!
//! Task ownership: `serve` owns every connection and session task (one `TaskTracker`); on
//! shutdown it stops accepting, cancels the sessions (their commands end with them) and
//! waits for the tasks within a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming as Body;
use hyper::header::{CONNECTION, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;
use crate::tokens::{TokenError, Tokens};
use crate::{Target, portforward, remotecommand, websocket};

/// `X-Stream-Protocol-Version`: the SPDY sub-protocols the client offers, and the one chosen.
const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The sub-protocol of port-forward over SPDY.
pub const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";
/// How long sessions get to end after shutdown cancelled them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The session timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A session with no data either way for this long is closed.
    pub idle: Duration,
    /// How long a client has to open a session's streams.
    pub creation: Duration,
}

/// What the CRI side needs: where URLs point and where their requests wait.
#[derive(Debug, Clone)]
pub struct Streaming {
    tokens: Arc<Tokens>,
    base: String,
}

impl Streaming {
    /// A single-use URL for `target`.
    pub fn url(&self, target: Target) -> Result<String, TokenError> {
        let verb = target.verb();
        let token = self.tokens.insert(target)?;
        Ok(format!("{}/{verb}/{token}", self.base))
    }

    /// The URLs' common start, `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// The server's certificate chain and key (PEM files): with them it speaks HTTPS.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The certificate chain.
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
}

/// The TLS set-up could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the certificate and key.
    #[error("the streaming certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

impl Tls {
    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| TlsError::Pem { path, source }
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(pem(&self.cert))?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(pem(&self.key))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address could not be listened on.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// The TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Listens on `address` (with TLS when `tls` is given) and answers the handle for the CRI
/// side and the future that serves until `shutdown`.
pub async fn bind<B: Backend>(
    address: SocketAddr,
    tls: Option<Tls>,
    backend: Arc<B>,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) -> Result<(Streaming, impl Future<Output = ()>), BindError> {
    let acceptor = tls.as_ref().map(Tls::acceptor).transpose()?;
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let streaming = Streaming {
        tokens: Arc::new(Tokens::default()),
        base: format!("{scheme}://{}", dialable(bound)),
    };
    let shared = Arc::new(Shared {
        tokens: streaming.tokens.clone(),
        backend,
        timeouts,
        sessions: shutdown.child_token(),
        tasks: TaskTracker::new(),
    });
    Ok((streaming, serve(listener, acceptor, shared, shutdown)))
}

/// `bound` as a client dials it: an unspecified address (`0.0.0.0`, `[::]`) is not one, so
/// it becomes the loopback of its family.
fn dialable(bound: SocketAddr) -> SocketAddr {
    let mut address = bound;
    if address.ip().is_unspecified() {
        address.set_ip(match bound {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

/// What every connection shares.
struct Shared<B> {
    tokens: Arc<Tokens>,
    backend: Arc<B>,
    timeouts: Timeouts,
    /// Cancelled at shutdown: every session ends.
    sessions: CancellationToken,
    tasks: TaskTracker,
}

async fn serve<B: Backend>(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared<B>>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "streaming accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn_shared = shared.clone();
        let acceptor = acceptor.clone();
        shared.tasks.spawn(async move {
            match acceptor {
                None => connection(stream, conn_shared).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => connection(stream, conn_shared).await,
                    Err(e) => tracing::debug!(error = %e, "streaming TLS handshake failed"),
                },
            }
        });
    }
    drop(listener);
    shared.sessions.cancel();
    shared.tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, shared.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("streaming sessions outlived the shutdown grace");
    }
}

/// Serves one HTTP/1.1 connection, whose upgrades become sessions.
async fn connection<B, IO>(stream: IO, shared: Arc<Shared<B>>)
where
    B: Backend,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(route(req, &shared)) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "streaming connection ended");
    }
}

/// A plain response.
fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_found() -> Response<Full<Bytes>> {
    reply(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// Answers one request: the token's target, upgraded to the session that serves it.
fn route<B: Backend>(req: Request<Body>, shared: &Arc<Shared<B>>) -> Response<Full<Bytes>> {
    if !matches!(*req.method(), hyper::Method::GET | hyper::Method::POST) {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let mut parts = req.uri().path().trim_start_matches('/').splitn(2, '/');
    let (Some(verb), Some(token)) = (parts.next(), parts.next()) else {
        return not_found();
    };
    // The token is used once, even by a request that then fails.
    let Some(target) = shared.tokens.take(token) else {
        return not_found();
    };
    if target.verb() != verb {
        return not_found();
    }
    if wants(&req, "websocket") {
        return upgrade_websocket(req, target, shared);
    }
    if !wants(&req, "spdy/3.1") {
        return reply(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: missing upgrade headers in request: Connection: Upgrade and Upgrade: SPDY/3.1 are required\n",
        );
    }
    let offered = offered_protocols(&req, PROTOCOL_HEADER);
    if offered.is_empty() {
        return reply(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: header X-Stream-Protocol-Version does not exist in request\n",
        );
    }
    let served: &[&'static str] = match target {
        Target::PortForward { .. } => &[PORT_FORWARD_PROTOCOL],
        _ => remotecommand::SPDY_PROTOCOLS,
    };
    let offered_refs: Vec<&str> = offered.iter().map(String::as_str).collect();
    let Some(protocol) = remotecommand::negotiate(&offered_refs, served) else {
        let mut response = reply(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {served:?}\n"
            ),
        );
        for p in served {
            response.headers_mut().append(
                "x-accepted-stream-protocol-versions",
                HeaderValue::from_static(p),
            );
        }
        return response;
    };
    on_upgrade(req, shared, move |io, s| async move {
        let gone = s.sessions.clone();
        match target {
            Target::PortForward { pod } => {
                portforward::spdy::serve(io, s.backend.clone(), &pod, s.timeouts, gone).await;
            }
            Target::Exec { .. } | Target::Attach { .. } => {
                let (container, command, stdio) = target.remote_command().expect("exec or attach");
                let version = remotecommand::Version::of(protocol).expect("a served protocol");
                remotecommand::spdy::serve(
                    io,
                    &*s.backend,
                    container,
                    command,
                    stdio,
                    version,
                    s.timeouts,
                    gone,
                )
                .await;
            }
        }
    });
    switching("SPDY/3.1", PROTOCOL_HEADER, protocol)
}

/// Upgrades to WebSocket with the sub-protocol the client's order picks among those served
/// for `target`, and serves the session on it.
fn upgrade_websocket<B: Backend>(
    req: Request<Body>,
    target: Target,
    shared: &Arc<Shared<B>>,
) -> Response<Full<Bytes>> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
    else {
        return reply(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let offered = offered_protocols(&req, "sec-websocket-protocol");
    let served: &[&'static str] = match target {
        Target::PortForward { .. } => websocket::PORT_FORWARD_PROTOCOLS,
        Target::Exec { .. } | Target::Attach { .. } => websocket::CHANNEL_PROTOCOLS,
    };
    let offered_refs: Vec<&str> = offered.iter().map(String::as_str).collect();
    // The kubelet's older port-forward clients may offer no sub-protocol: binary channels.
    let unnamed = offered.is_empty() && matches!(target, Target::PortForward { .. });
    let negotiated = remotecommand::negotiate(&offered_refs, served).or(unnamed.then_some(""));
    // Port-forward over channels takes its ports from the query.
    let ports = match (&target, negotiated) {
        (Target::PortForward { .. }, Some(p)) if p != websocket::TUNNEL_PROTOCOL => {
            match query_ports(&req) {
                Ok(ports) => ports,
                Err(why) => return reply(StatusCode::BAD_REQUEST, why),
            }
        }
        _ => Vec::new(),
    };
    let Some(protocol) = negotiated else {
        return reply(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate a WebSocket protocol: client supports {offered:?}, server accepts {served:?}\n"
            ),
        );
    };
    on_upgrade(req, shared, move |io, s| async move {
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            io,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        match target {
            Target::PortForward { pod } if protocol != websocket::TUNNEL_PROTOCOL => {
                let (channels, pump) = websocket::port_channels(ws, protocol, ports.len());
                portforward::websocket::serve(
                    channels,
                    pump,
                    s.backend.clone(),
                    &pod,
                    &ports,
                    s.timeouts,
                    s.sessions.clone(),
                )
                .await;
            }
            Target::PortForward { pod } => {
                let (tunnel, carry) = websocket::tunnel(ws);
                let serve = portforward::spdy::serve(
                    tunnel,
                    s.backend.clone(),
                    &pod,
                    s.timeouts,
                    s.sessions.clone(),
                );
                tokio::join!(carry, serve);
            }
            Target::Exec { .. } | Target::Attach { .. } => {
                let (container, command, stdio) = target.remote_command().expect("exec or attach");
                let version = remotecommand::Version::of(protocol).expect("a served protocol");
                let wanted = websocket::Wanted {
                    stdin: stdio.stdin,
                    stdout: stdio.stdout,
                    stderr: stdio.stderr,
                    resize: stdio.tty,
                };
                let (channels, pump) = websocket::channels(ws, protocol, wanted);
                let client_gone = CancellationToken::new();
                let pump = async {
                    pump.await;
                    client_gone.cancel();
                };
                let gone = async {
                    tokio::select! {
                        () = client_gone.cancelled() => {}
                        () = s.sessions.cancelled() => {}
                    }
                };
                let exec = remotecommand::execute(
                    &*s.backend,
                    container,
                    command,
                    stdio,
                    version,
                    channels,
                    s.timeouts,
                    gone,
                );
                tokio::join!(pump, exec);
            }
        }
    });
    let mut response = switching("websocket", "sec-websocket-protocol", protocol);
    if protocol.is_empty() {
        response.headers_mut().remove("sec-websocket-protocol");
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        response
            .headers_mut()
            .insert("sec-websocket-accept", accept);
    }
    response
}

/// The 101 that switches to `upgrade`, naming the chosen `protocol` in `header`.
fn switching(
    upgrade: &'static str,
    header: &'static str,
    protocol: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(upgrade));
    headers.insert(header, HeaderValue::from_static(protocol));
    response
}

/// Runs `serve` on the connection once hyper hands it over after the 101, as a session task.
fn on_upgrade<B, F, Fut>(req: Request<Body>, shared: &Arc<Shared<B>>, serve: F)
where
    B: Backend,
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>, Arc<Shared<B>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let upgrade = hyper::upgrade::on(req);
    let session_shared = shared.clone();
    shared.tasks.spawn(async move {
        match upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), session_shared).await,
            Err(e) => tracing::debug!(error = %e, "streaming upgrade failed"),
        }
    });
}

/// The ports of a channel port-forward's query (`?port=80&port=443`): at least one, each
/// from 1 to 65535; else why not.
fn query_ports<B>(req: &Request<B>) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for pair in req.uri().query().unwrap_or("").split('&') {
        let Some(value) = pair.strip_prefix("port=") else {
            continue;
        };
        match value.parse::<u16>() {
            Ok(port) if port > 0 => ports.push(port),
            _ => {
                return Err(format!(
                    "invalid port {value:?}: a port is from 1 to 65535\n"
                ));
            }
        }
    }
    if ports.is_empty() {
        return Err("query parameter \"port\" is required\n".to_owned());
    }
    Ok(ports)
}

/// Whether the request asks to upgrade to `protocol` (lower case).
fn wants<B>(req: &Request<B>, protocol: &str) -> bool {
    let has = |name, value: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains(value))
        })
    };
    has(CONNECTION, "upgrade") && has(UPGRADE, protocol)
}

/// Every value of the protocol header `name`, in order (several headers or comma-separated).
fn offered_protocols<B>(req: &Request<B>, name: &str) -> Vec<String> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}
