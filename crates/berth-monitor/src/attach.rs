//! The attach protocol: how an attacher (berthd, for a CRI `Attach`) joins a running
//! container's own stdio, held by its monitor. The monitor listens at [`ATTACH_SOCKET_FILE`]
//! in its state directory; each connection is one attacher, and both sides send frames:
//! a kind byte, the payload's length (u32, big-endian) and at most [`MAX_PAYLOAD`] bytes.
//!
//! The monitor sends every attacher what the container writes ([`FrameKind::Stdout`],
//! [`FrameKind::Stderr`]; a terminal's output is `Stdout`) from the moment it attached, and
//! [`FrameKind::End`] once the container exited and its output is drained. An attacher
//! sends input ([`FrameKind::Stdin`]), a terminal size ([`FrameKind::Resize`]: columns and
//! rows, u16 big-endian each) and the end of its input ([`FrameKind::StdinClosed`]).

use std::io::{self, Read};

/// The attach socket's name inside the monitor's state directory.
pub const ATTACH_SOCKET_FILE: &str = "attach.sock";
/// The largest payload of one frame.
pub const MAX_PAYLOAD: usize = 32 * 1024;
/// A frame's header: its kind and its payload's length.
pub const HEADER_LEN: usize = 5;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Input for the container (attacher to monitor).
    Stdin = 0,
    /// The container's standard output, or its terminal's output.
    Stdout = 1,
    /// The container's standard error.
    Stderr = 2,
    /// The container exited and all its output was sent; nothing follows.
    End = 3,
    /// The terminal's new size (attacher to monitor).
    Resize = 4,
    /// The attacher's input ended (attacher to monitor).
    StdinClosed = 5,
}

impl FrameKind {
    /// The kind a header's first byte names.
    pub fn of(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Stdin,
            1 => Self::Stdout,
            2 => Self::Stderr,
            3 => Self::End,
            4 => Self::Resize,
            5 => Self::StdinClosed,
            _ => return None,
        })
    }
}

/// One frame on the wire; `payload` is cut to [`MAX_PAYLOAD`] by the caller.
pub fn encode_frame(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.push(kind as u8);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A resize frame's payload.
pub fn encode_size(width: u16, height: u16) -> [u8; 4] {
    let [w0, w1] = width.to_be_bytes();
    let [h0, h1] = height.to_be_bytes();
    [w0, w1, h0, h1]
}

/// A resize frame's columns and rows, if its payload is one.
pub fn decode_size(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [w0, w1, h0, h1] => Some((
            u16::from_be_bytes([*w0, *w1]),
            u16::from_be_bytes([*h0, *h1]),
        )),
        _ => None,
    }
}

/// Checks a frame's header: its kind and its payload's length.
pub fn decode_header(header: [u8; HEADER_LEN]) -> io::Result<(FrameKind, usize)> {
    let kind = FrameKind::of(header[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown attach frame kind {}", header[0]),
        )
    })?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes is over {MAX_PAYLOAD}"),
        ));
    }
    Ok((kind, len))
}

/// Reads one frame; `None` at the end of the stream (between frames).
pub fn read_frame(from: &mut impl Read) -> io::Result<Option<(FrameKind, Vec<u8>)>> {
    let mut header = [0u8; HEADER_LEN];
    match from.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = decode_header(header)?;
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// Frames out of a stream read in pieces of any size, for a reader that must not stop
/// mid-frame (an async one, reading among other things).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// Adds bytes as read.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> io::Result<Option<(FrameKind, Vec<u8>)>> {
        let Some(header) = self.pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (kind, len) = decode_header(*header)?;
        let Some(payload) = self.pending.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let payload = payload.to_vec();
        self.pending.drain(..HEADER_LEN + len);
        Ok(Some((kind, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_as_written() {
        let mut wire = encode_frame(FrameKind::Stdout, b"hello");
        wire.extend(encode_frame(FrameKind::Resize, &encode_size(80, 24)));
        wire.extend(encode_frame(FrameKind::End, b""));
        let mut r = &wire[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((FrameKind::Stdout, b"hello".to_vec()))
        );
        let (kind, size) = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(
            (kind, decode_size(&size)),
            (FrameKind::Resize, Some((80, 24)))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((FrameKind::End, vec![])));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn a_decoder_waits_for_whole_frames() {
        let mut wire = encode_frame(FrameKind::Stderr, b"oops");
        wire.extend(encode_frame(FrameKind::End, b""));
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for byte in wire {
            decoder.push(&[byte]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            vec![
                (FrameKind::Stderr, b"oops".to_vec()),
                (FrameKind::End, vec![])
            ]
        );
    }

    #[test]
    fn unknown_kinds_and_oversized_frames_are_refused() {
        assert!(read_frame(&mut &[9u8, 0, 0, 0, 0][..]).is_err());
        let too_long = (MAX_PAYLOAD as u32 + 1).to_be_bytes();
        let header = [1, too_long[0], too_long[1], too_long[2], too_long[3]];
        assert!(read_frame(&mut &header[..]).is_err());
        assert!(decode_size(b"abc").is_none());
    }
}
