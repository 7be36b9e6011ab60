//! Every `:authority` a real CRI client sends gets real answers (issue 13).
//!
//! grpc-go before `k8s.io/cri-client` (crictl, critest, the kubelet up to 1.30) puts the socket
//! path in `:authority`, grpc C-core and Python a percent-encoded path, the kubelet from 1.31
//! `localhost`; `h2` alone resets the first two. A minimal HTTP/2 client written here sends
//! exactly those header blocks over the socket, HPACK-coded the way grpc-go codes them
//! (Huffman strings, incremental indexing, then indexed references), and checks Version,
//! ListPodSandbox and PullImage answer. It reuses berthd's HPACK module (`src/hpack.rs`) to
//! decode the answers; that module's own tests pin it to RFC 7541 Appendix C. Needs root and Debian's docker-registry and busybox.

mod common;

#[path = "../src/hpack.rs"]
#[allow(dead_code)]
mod hpack;

use std::path::Path;
use std::time::Duration;

use berth_cri_client::cri;
use berth_testkit::Registry;
use common::{Daemon, setup};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The client side of an HPACK context, coding as grpc-go does: a field already in the table is
/// an indexed reference, any other a Huffman-coded literal with incremental indexing.
#[derive(Default)]
struct Encoder {
    /// Newest first: dynamic index 62 is `table[0]`.
    table: Vec<(String, String)>,
    size: usize,
    indexed: usize,
    evicted: usize,
}

impl Encoder {
    const MAX: usize = 4096;

    fn encode(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(name, value) in fields {
            if let Some(at) = self.table.iter().position(|(n, v)| n == name && v == value) {
                hpack::encode_int(62 + at, 7, 0x80, &mut out);
                self.indexed += 1;
                continue;
            }
            hpack::encode_int(0, 6, 0x40, &mut out);
            for s in [name, value] {
                let coded = hpack::huffman_encode(s.as_bytes());
                hpack::encode_int(coded.len(), 7, 0x80, &mut out);
                out.extend_from_slice(&coded);
            }
            let size = name.len() + value.len() + 32;
            self.table.insert(0, (name.to_owned(), value.to_owned()));
            self.size += size;
            while self.size > Self::MAX {
                let (n, v) = self.table.pop().unwrap();
                self.size -= n.len() + v.len() + 32;
                self.evicted += 1;
            }
        }
        out
    }
}

/// A grpc call's outcome as read off the wire.
#[derive(Debug)]
struct Answer {
    status: String,
    message: String,
    body: Vec<u8>,
}

/// A hand-written HTTP/2 client over the CRI socket.
struct RawClient {
    io: UnixStream,
    encoder: Encoder,
    decoder: hpack::Decoder,
    next_stream: u32,
}

impl RawClient {
    async fn connect(socket: &Path) -> RawClient {
        let mut io = UnixStream::connect(socket).await.unwrap();
        io.write_all(PREFACE).await.unwrap();
        io.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        let mut client = RawClient {
            io,
            encoder: Encoder::default(),
            decoder: hpack::Decoder::new(4096),
            next_stream: 1,
        };
        // The server's SETTINGS come first (RFC 9113 §3.4). The adapter assumes the server keeps
        // the initial header table and frame sizes: check it does.
        let (kind, flags, _, payload) = client.read_frame().await;
        assert_eq!((kind, flags & ACK), (SETTINGS, 0), "server preface");
        for setting in payload.chunks(6) {
            let id = u16::from_be_bytes([setting[0], setting[1]]);
            let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
            match id {
                0x1 => assert_eq!(value, 4096, "SETTINGS_HEADER_TABLE_SIZE"),
                0x5 => assert_eq!(value, 16_384, "SETTINGS_MAX_FRAME_SIZE"),
                _ => {}
            }
        }
        client
            .io
            .write_all(&frame(SETTINGS, ACK, 0, &[]))
            .await
            .unwrap();
        client
    }

    async fn read_frame(&mut self) -> (u8, u8, u32, Vec<u8>) {
        let mut head = [0u8; 9];
        self.io.read_exact(&mut head).await.expect("frame header");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        self.io
            .read_exact(&mut payload)
            .await
            .expect("frame payload");
        (head[3], head[4], stream, payload)
    }

    /// One unary gRPC call.
    async fn call(&mut self, path: &str, authority: Option<&str>, request: &[u8]) -> Answer {
        tokio::time::timeout(CALL_TIMEOUT, self.call_inner(path, authority, request))
            .await
            .unwrap_or_else(|_| panic!("{path} with :authority {authority:?} timed out"))
    }

    async fn call_inner(&mut self, path: &str, authority: Option<&str>, request: &[u8]) -> Answer {
        let stream = self.next_stream;
        self.next_stream += 2;
        let mut fields = vec![(":method", "POST"), (":scheme", "http"), (":path", path)];
        if let Some(authority) = authority {
            fields.push((":authority", authority));
        }
        fields.extend([
            ("content-type", "application/grpc"),
            ("user-agent", "grpc-go/1.51.0"),
            ("te", "trailers"),
        ]);
        let block = self.encoder.encode(&fields);
        let mut body = vec![0];
        body.extend((request.len() as u32).to_be_bytes());
        body.extend(request);
        let mut out = frame(HEADERS, END_HEADERS, stream, &block);
        out.extend(frame(DATA, END_STREAM, stream, &body));
        self.io.write_all(&out).await.unwrap();

        let mut data = Vec::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut open: Option<(u32, u8, Vec<u8>)> = None;
        loop {
            let (kind, flags, id, payload) = self.read_frame().await;
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    self.io
                        .write_all(&frame(SETTINGS, ACK, 0, &[]))
                        .await
                        .unwrap();
                }
                PING if flags & ACK == 0 => {
                    self.io
                        .write_all(&frame(PING, ACK, 0, &payload))
                        .await
                        .unwrap();
                }
                RST_STREAM if id == stream => panic!("{path}: RST_STREAM {payload:?}"),
                GOAWAY => panic!("{path}: GOAWAY {payload:?}"),
                DATA => {
                    let mut fragment = payload.as_slice();
                    if flags & PADDED != 0 {
                        let pad = usize::from(fragment[0]);
                        fragment = &fragment[1..fragment.len() - pad];
                    }
                    if !payload.is_empty() {
                        // Give the window back, so many calls fit on one connection.
                        let increment = (payload.len() as u32).to_be_bytes();
                        let mut update = frame(WINDOW_UPDATE, 0, 0, &increment);
                        update.extend(frame(WINDOW_UPDATE, 0, id, &increment));
                        self.io.write_all(&update).await.unwrap();
                    }
                    if id == stream {
                        data.extend_from_slice(fragment);
                        if flags & END_STREAM != 0 {
                            panic!("{path}: stream ended without trailers");
                        }
                    }
                }
                HEADERS => {
                    let mut fragment = payload.as_slice();
                    if flags & PADDED != 0 {
                        let pad = usize::from(fragment[0]);
                        fragment = &fragment[1..fragment.len() - pad];
                    }
                    if flags & PRIORITY != 0 {
                        fragment = &fragment[5..];
                    }
                    open = Some((id, flags, fragment.to_vec()));
                }
                CONTINUATION => open.as_mut().expect("HEADERS first").2.extend(payload),
                _ => {}
            }
            if matches!(kind, HEADERS | CONTINUATION) && flags & END_HEADERS != 0 {
                let (id, first_flags, block) = open.take().unwrap();
                // Every block goes through the decoder, ours or not: the table is per connection.
                let decoded = self
                    .decoder
                    .decode(&block, 1 << 20)
                    .expect("response HPACK");
                if id != stream {
                    continue;
                }
                headers.extend(decoded.into_iter().map(|f| {
                    (
                        String::from_utf8(f.name).unwrap(),
                        String::from_utf8(f.value).unwrap(),
                    )
                }));
                if first_flags & END_STREAM != 0 {
                    break;
                }
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(":status").as_deref(),
            Some("200"),
            "{path}: {headers:?}"
        );
        let status = get("grpc-status").unwrap_or_else(|| panic!("{path}: {headers:?}"));
        let body = if data.is_empty() {
            Vec::new()
        } else {
            assert_eq!(data[0], 0, "{path}: compressed answer");
            let len = u32::from_be_bytes(data[1..5].try_into().unwrap()) as usize;
            assert_eq!(data.len(), 5 + len, "{path}: one message");
            data[5..].to_vec()
        };
        Answer {
            status,
            message: get("grpc-message").unwrap_or_default(),
            body,
        }
    }

    async fn ok<T: Message + Default>(
        &mut self,
        path: &str,
        authority: Option<&str>,
        request: &impl Message,
    ) -> T {
        let answer = self.call(path, authority, &request.encode_to_vec()).await;
        assert_eq!(
            answer.status, "0",
            "{path} with :authority {authority:?}: {}",
            answer.message
        );
        T::decode(answer.body.as_slice()).expect("answer decodes")
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

const VERSION: &str = "/runtime.v1.RuntimeService/Version";
const LIST_PODS: &str = "/runtime.v1.RuntimeService/ListPodSandbox";
const PULL: &str = "/runtime.v1.ImageService/PullImage";

/// Version, ListPodSandbox and PullImage, each answered for real.
async fn three_calls(client: &mut RawClient, authority: Option<&str>, image: &str, id: &str) {
    let version: cri::VersionResponse = client
        .ok(VERSION, authority, &cri::VersionRequest::default())
        .await;
    assert_eq!(version.runtime_name, "berth");
    assert_eq!(version.runtime_api_version, "v1");
    let pods: cri::ListPodSandboxResponse = client
        .ok(LIST_PODS, authority, &cri::ListPodSandboxRequest::default())
        .await;
    assert!(pods.items.is_empty());
    let pulled: cri::PullImageResponse = client
        .ok(
            PULL,
            authority,
            &cri::PullImageRequest {
                image: Some(cri::ImageSpec {
                    image: image.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(pulled.image_ref, id);
}

#[tokio::test]
async fn every_authority_gets_real_answers() {
    let registry = Registry::start().await;
    let images = berth_testkit::push_all(&registry, "busybox").await;
    let dir = setup(&format!(
        "[registries.\"{}\"]\ninsecure = true\n",
        registry.host()
    ));
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    // Our own tonic client goes through the adapter too.
    let mut tonic_client = daemon.ready_client().await;
    let socket = daemon.socket.clone();
    let path = socket.to_str().unwrap().to_owned();
    let encoded = path.replace('/', "%2F");
    let busybox = &images.busybox;
    let (image, id) = (busybox.reference.as_str(), busybox.config_digest.as_str());

    // (a) the socket path, (b) percent-encoded, then localhost, then (d) none: a connection
    // each, three calls on it.
    for authority in [
        Some(path.as_str()),
        Some(encoded.as_str()),
        Some("localhost"),
        None,
    ] {
        let mut client = RawClient::connect(&socket).await;
        three_calls(&mut client, authority, image, id).await;
        assert!(
            client.encoder.indexed > 0,
            "later calls must refer to the dynamic table"
        );
    }

    // (c) one connection, many calls, the authorities mixed: the client's dynamic table fills
    // and, with long distinct values, evicts, while the adapter keeps in step.
    let mut client = RawClient::connect(&socket).await;
    for round in 0..8 {
        let odd = format!("{path}-{round}-{}", "x".repeat(1000));
        for authority in [
            Some(path.as_str()),
            Some(odd.as_str()),
            None,
            Some(encoded.as_str()),
        ] {
            let _: cri::VersionResponse = client
                .ok(VERSION, authority, &cri::VersionRequest::default())
                .await;
        }
        three_calls(&mut client, Some(&path), image, id).await;
    }
    assert!(client.encoder.indexed > 100, "{}", client.encoder.indexed);
    assert!(
        client.encoder.evicted > 0,
        "the client's table must have evicted"
    );

    // Our own client still works, and sees the pulled image.
    let images = tonic_client
        .image
        .list_images(cri::ListImagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .images;
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, id);
    let log = daemon.log();
    assert!(
        !log.contains("dropping CRI client connection"),
        "the adapter dropped a connection:\n{log}"
    );
    assert!(daemon.terminate().await.success(), "{}", daemon.log());
}
