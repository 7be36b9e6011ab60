//! The size of a CRI message: up to 16 MiB in either direction, as the kubelet sends and
//! accepts (`k8s.io/cri-client`'s `maxMsgSize`) and containerd serves. A larger request is
//! `ResourceExhausted`, the code grpc-go's servers (containerd, CRI-O) answer it with.

use tonic::body::Body;
use tonic::codegen::http;
use tower::util::MapResponseLayer;

/// The largest request berthd decodes, and the largest reply the kubelet accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The server layer that gives an oversized request its gRPC code.
pub type MessageLimitLayer = MapResponseLayer<fn(http::Response<Body>) -> http::Response<Body>>;

/// tonic refuses a request over `max_decoding_message_size` with `OutOfRange`, a code that
/// means "past the end of a range" and that no CRI client expects there; rewrite it.
pub fn message_limit_layer() -> MessageLimitLayer {
    MapResponseLayer::new(oversized_is_exhausted as fn(_) -> _)
}

/// `grpc-status` 11 (OutOfRange) whose message is tonic's "decoded message length too large"
/// becomes 8 (ResourceExhausted) with a message that says the limit.
fn oversized_is_exhausted(mut response: http::Response<Body>) -> http::Response<Body> {
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| {
                m.contains("decoded%20message%20length%20too%20large")
                    || m.contains("decoded message length too large")
            });
    if oversized {
        let message = format!(
            "the request is larger than berthd accepts ({MAX_MESSAGE_BYTES} bytes, as the kubelet)"
        );
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        if let Ok(value) = http::HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert("grpc-message", value);
        }
    }
    response
}

/// gRPC's percent-encoding of `grpc-message`: everything outside printable ASCII, and `%`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_response(code: &str, message: &str) -> http::Response<Body> {
        let mut r = http::Response::new(Body::empty());
        r.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_str(code).unwrap());
        r.headers_mut().insert(
            "grpc-message",
            http::HeaderValue::from_str(message).unwrap(),
        );
        r
    }

    #[test]
    fn oversized_requests_are_resource_exhausted() {
        let r = oversized_is_exhausted(status_response(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%2020000000%20bytes",
        ));
        assert_eq!(r.headers()["grpc-status"], "8");
        assert!(
            r.headers()["grpc-message"]
                .to_str()
                .unwrap()
                .contains("16777216 bytes")
        );
    }

    #[test]
    fn other_statuses_are_left_alone() {
        let r = oversized_is_exhausted(status_response("11", "something else"));
        assert_eq!(r.headers()["grpc-status"], "11");
        let r = oversized_is_exhausted(status_response("3", "decoded message length too large"));
        assert_eq!(r.headers()["grpc-status"], "3");
    }
}
