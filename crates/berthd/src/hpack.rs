//! HPACK (RFC 7541), as much of it as [`crate::authority`] needs: a decoder that keeps a
//! client's dynamic table, and an encoder that writes only literals *without indexing*.
//!
//! Owns: the static table (Appendix A), the Huffman code (Appendix B, kept as code lengths: the
//! code is canonical, so the codes are derived from them), prefix integers and string literals.
//! Must not touch: HTTP/2 framing (that is `authority.rs`) or header semantics.
//!
//! Why our own and not a crate: the candidates are `hpack` 0.3 (unreleased since 2016),
//! `httlib-hpack` 0.1 (unreleased since 2021), and `loona-hpack`/`fluke-hpack` (a fork of
//! `hpack` for an experimental server, renamed twice). None bounds the decoded size of a header
//! list, which a codec facing any local client must. What we need is small, and RFC 7541's
//! Appendix C test vectors pin it down.

use std::collections::VecDeque;

/// Errors while decoding a header block; each is a COMPRESSION_ERROR in RFC 7540's terms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    #[error("header block truncated")]
    Truncated,
    /// A prefix integer does not fit the decoder's bounds.
    #[error("HPACK integer overflows")]
    IntegerOverflow,
    /// An index refers to no entry of the static or dynamic table.
    #[error("HPACK index {index} refers to no table entry")]
    BadIndex {
        /// The index the block used.
        index: usize,
    },
    /// A Huffman string is malformed (EOS inside, bad padding).
    #[error("malformed Huffman string")]
    BadHuffman,
    /// A dynamic table size update above the limit the server advertised, or after a field.
    #[error("dynamic table size update to {size} not allowed (limit {limit})")]
    BadSizeUpdate {
        /// The size the block asked for.
        size: usize,
        /// The most the block may ask for here.
        limit: usize,
    },
    /// The decoded header list is larger than the caller allows.
    #[error("decoded header list exceeds {limit} bytes")]
    ListTooLarge {
        /// The caller's bound.
        limit: usize,
    },
}

/// One decoded header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as sent (`:authority`, `content-type`, ...).
    pub name: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Sent as "never indexed": an intermediary must re-encode it the same way (RFC 7541 §6.2.3).
    pub sensitive: bool,
}

impl Field {
    /// A field that is not marked sensitive.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// The size RFC 7541 §4.1 counts for the entry (and RFC 7540 for a header list).
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + 32
    }
}

/// The static table, RFC 7541 Appendix A; index 1 is the first entry.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Largest value a prefix integer may decode to: far above any real index, length or table size,
/// and small enough that the arithmetic cannot overflow.
const MAX_INTEGER: usize = 1 << 28;

/// The decoding side of one HPACK context: the peer's dynamic table and its size limit.
#[derive(Debug)]
pub struct Decoder {
    /// Newest entry first, so dynamic index 62 is `entries[0]`.
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Sum of the entries' sizes.
    size: usize,
    /// The table's current maximum, as the encoder last set it.
    max_size: usize,
    /// The most the encoder may set it to: our SETTINGS_HEADER_TABLE_SIZE.
    limit: usize,
}

impl Decoder {
    /// A decoder for a peer told `settings_header_table_size` (RFC 7540 §6.5.2).
    pub fn new(settings_header_table_size: usize) -> Decoder {
        Decoder {
            entries: VecDeque::new(),
            size: 0,
            max_size: settings_header_table_size,
            limit: settings_header_table_size,
        }
    }

    /// Decodes one complete header block, updating the dynamic table. Fails once the decoded
    /// list (RFC 7540 sizes) passes `max_list_size`.
    pub fn decode(&mut self, block: &[u8], max_list_size: usize) -> Result<Vec<Field>, HpackError> {
        let mut src = block;
        let mut fields = Vec::new();
        let mut list_size = 0usize;
        while let Some(&first) = src.first() {
            let field = if first & 0x80 != 0 {
                let index = decode_int(&mut src, 7)?;
                let (name, value) = self.lookup(index)?;
                Field::new(name, value)
            } else if first & 0xc0 == 0x40 {
                let field = self.decode_literal(&mut src, 6, false)?;
                self.insert(field.name.clone(), field.value.clone());
                field
            } else if first & 0xe0 == 0x20 {
                let size = decode_int(&mut src, 5)?;
                // Only at the start of a block (RFC 7541 §4.2), and never above our setting.
                if !fields.is_empty() || size > self.limit {
                    let limit = if fields.is_empty() { self.limit } else { 0 };
                    return Err(HpackError::BadSizeUpdate { size, limit });
                }
                self.max_size = size;
                self.evict(0);
                continue;
            } else {
                // 0000xxxx without indexing, 0001xxxx never indexed.
                self.decode_literal(&mut src, 4, first & 0x10 != 0)?
            };
            list_size += field.size();
            if list_size > max_list_size {
                return Err(HpackError::ListTooLarge {
                    limit: max_list_size,
                });
            }
            fields.push(field);
        }
        Ok(fields)
    }

    /// Number of entries in the dynamic table.
    #[cfg(test)]
    pub fn dynamic_len(&self) -> usize {
        self.entries.len()
    }

    fn decode_literal(
        &self,
        src: &mut &[u8],
        prefix: u8,
        sensitive: bool,
    ) -> Result<Field, HpackError> {
        let index = decode_int(src, prefix)?;
        let name = if index == 0 {
            decode_string(src)?
        } else {
            self.lookup(index)?.0
        };
        let value = decode_string(src)?;
        Ok(Field {
            name,
            value,
            sensitive,
        })
    }

    fn lookup(&self, index: usize) -> Result<(Vec<u8>, Vec<u8>), HpackError> {
        if index == 0 {
            return Err(HpackError::BadIndex { index });
        }
        if let Some((name, value)) = STATIC.get(index - 1) {
            return Ok((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        }
        self.entries
            .get(index - STATIC.len() - 1)
            .cloned()
            .ok_or(HpackError::BadIndex { index })
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + 32;
        if size > self.max_size {
            // An entry larger than the table empties it and is not added (RFC 7541 §4.4).
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.entries.push_front((name, value));
        self.size += size;
    }

    /// Evicts the oldest entries until `room` more bytes fit under the maximum.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.entries.pop_back() else {
                break;
            };
            self.size -= name.len() + value.len() + 32;
        }
    }
}

/// Appends `field` as a literal that no table keeps: "without indexing", or "never indexed"
/// when the field is sensitive (RFC 7541 §6.2.2, §6.2.3). The name refers to the static table
/// when it can; strings are written raw, not Huffman-coded.
pub fn encode_literal(field: &Field, out: &mut Vec<u8>) {
    let flag = if field.sensitive { 0x10 } else { 0x00 };
    match STATIC
        .iter()
        .position(|(name, _)| name.as_bytes() == field.name.as_slice())
    {
        Some(position) => encode_int(position + 1, 4, flag, out),
        None => {
            out.push(flag);
            encode_string(&field.name, out);
        }
    }
    encode_string(&field.value, out);
}

/// Appends a raw (not Huffman-coded) string literal.
pub fn encode_string(value: &[u8], out: &mut Vec<u8>) {
    encode_int(value.len(), 7, 0x00, out);
    out.extend_from_slice(value);
}

/// Appends `value` as a prefix integer of `prefix` bits, the first byte's high bits `flags`.
pub fn encode_int(value: usize, prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads a prefix integer of `prefix` bits (RFC 7541 §5.1).
pub fn decode_int(src: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let (&first, rest) = src.split_first().ok_or(HpackError::Truncated)?;
    *src = rest;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let (&byte, rest) = src.split_first().ok_or(HpackError::Truncated)?;
        *src = rest;
        value += usize::from(byte & 0x7f) << shift;
        if value > MAX_INTEGER {
            return Err(HpackError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

/// Reads a string literal, Huffman-coded or raw (RFC 7541 §5.2).
pub fn decode_string(src: &mut &[u8]) -> Result<Vec<u8>, HpackError> {
    let huffman = src.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = decode_int(src, 7)?;
    if len > src.len() {
        return Err(HpackError::Truncated);
    }
    let (bytes, rest) = src.split_at(len);
    *src = rest;
    if huffman {
        huffman_decode(bytes)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Code length in bits of each symbol (0..=255, then EOS), RFC 7541 Appendix B.
const HUFFMAN_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

const EOS: u16 = 256;
const MAX_CODE_LEN: usize = 30;

/// The canonical code, as tables indexed by code length: the first code of each length, how
/// many codes have it, and where its symbols start in [`HUFFMAN.symbols`].
struct Huffman {
    first: [u32; MAX_CODE_LEN + 1],
    count: [u16; MAX_CODE_LEN + 1],
    offset: [u16; MAX_CODE_LEN + 1],
    /// Symbols sorted by (code length, symbol).
    symbols: [u16; 257],
    /// Each symbol's code (right-aligned), for the encoder.
    #[cfg_attr(not(test), allow(dead_code))]
    codes: [u32; 257],
}

const HUFFMAN: Huffman = canonical();

/// Builds the canonical code from [`HUFFMAN_LENGTHS`] (RFC 7541's code is canonical: codes of
/// one length are consecutive, in symbol order, and each length starts where the last ended).
const fn canonical() -> Huffman {
    let mut h = Huffman {
        first: [0; MAX_CODE_LEN + 1],
        count: [0; MAX_CODE_LEN + 1],
        offset: [0; MAX_CODE_LEN + 1],
        symbols: [0; 257],
        codes: [0; 257],
    };
    let mut sym = 0;
    while sym < 257 {
        h.count[HUFFMAN_LENGTHS[sym] as usize] += 1;
        sym += 1;
    }
    let mut code = 0u32;
    let mut offset = 0u16;
    let mut len = 1;
    while len <= MAX_CODE_LEN {
        code <<= 1;
        h.first[len] = code;
        h.offset[len] = offset;
        let mut sym = 0;
        while sym < 257 {
            if HUFFMAN_LENGTHS[sym] as usize == len {
                h.codes[sym] = code;
                h.symbols[offset as usize] = sym as u16;
                code += 1;
                offset += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    h
}

/// Decodes a Huffman-coded string (RFC 7541 §5.2): no EOS inside, padding of at most 7 bits,
/// all ones.
pub fn huffman_decode(src: &[u8]) -> Result<Vec<u8>, HpackError> {
    let mut out = Vec::with_capacity(src.len() * 8 / 5);
    let mut code = 0u32;
    let mut len = 0usize;
    for &byte in src {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            let index = code.wrapping_sub(HUFFMAN.first[len]);
            if index < u32::from(HUFFMAN.count[len]) {
                let symbol = HUFFMAN.symbols[usize::from(HUFFMAN.offset[len]) + index as usize];
                if symbol == EOS {
                    return Err(HpackError::BadHuffman);
                }
                out.push(symbol as u8);
                code = 0;
                len = 0;
            } else if len == MAX_CODE_LEN {
                return Err(HpackError::BadHuffman);
            }
        }
    }
    // What is left must be a prefix of EOS (all ones), shorter than a byte.
    if len > 7 || code != (1 << len) - 1 {
        return Err(HpackError::BadHuffman);
    }
    Ok(out)
}

/// Huffman-codes `src`, padding with ones.
#[cfg(test)]
pub fn huffman_encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &byte in src {
        let len = u32::from(HUFFMAN_LENGTHS[usize::from(byte)]);
        acc = (acc << len) | u64::from(HUFFMAN.codes[usize::from(byte)]);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(fields: &[Field]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8(f.name.clone()).unwrap(),
                    String::from_utf8(f.value.clone()).unwrap(),
                )
            })
            .collect()
    }

    fn expect(fields: &[Field], want: &[(&str, &str)]) {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(fields), want);
    }

    /// The table's entries as (name, value), newest first, and its size.
    fn table(decoder: &Decoder) -> (Vec<(String, String)>, usize) {
        let entries = decoder
            .entries
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                )
            })
            .collect();
        (entries, decoder.size)
    }

    fn entries(want: &[(&str, &str)]) -> Vec<(String, String)> {
        want.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const LIMIT: usize = 1 << 20;

    #[test]
    fn huffman_code_is_complete_and_ends_in_eos() {
        let kraft: u64 = HUFFMAN_LENGTHS
            .iter()
            .map(|&len| 1u64 << (MAX_CODE_LEN as u32 - u32::from(len)))
            .sum();
        assert_eq!(kraft, 1 << MAX_CODE_LEN);
        assert_eq!(HUFFMAN.codes[256], 0x3fff_ffff);
        // Spot checks against Appendix B.
        assert_eq!(HUFFMAN.codes[b'0' as usize], 0x0);
        assert_eq!(HUFFMAN.codes[b' ' as usize], 0x14);
        assert_eq!(HUFFMAN.codes[b'a' as usize], 0x3);
        assert_eq!(HUFFMAN.codes[0], 0x1ff8);
        assert_eq!(HUFFMAN.codes[255], 0x3ffffee);
    }

    #[test]
    fn integers_round_trip_and_match_c1() {
        // C.1.1 to C.1.3.
        let mut out = Vec::new();
        encode_int(10, 5, 0, &mut out);
        assert_eq!(out, [0x0a]);
        out.clear();
        encode_int(1337, 5, 0, &mut out);
        assert_eq!(out, [0x1f, 0x9a, 0x0a]);
        out.clear();
        encode_int(42, 8, 0, &mut out);
        assert_eq!(out, [0x2a]);
        for prefix in 1..=8 {
            for value in [0, 1, 30, 31, 127, 128, 255, 256, 16_384, 1 << 20] {
                let mut out = Vec::new();
                encode_int(value, prefix, 0, &mut out);
                let mut src = out.as_slice();
                assert_eq!(decode_int(&mut src, prefix).unwrap(), value);
                assert!(src.is_empty());
            }
        }
        let mut src: &[u8] = &[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(decode_int(&mut src, 5), Err(HpackError::IntegerOverflow));
        let mut src: &[u8] = &[0x1f, 0x9a];
        assert_eq!(decode_int(&mut src, 5), Err(HpackError::Truncated));
    }

    #[test]
    fn c2_single_representations() {
        let mut d = Decoder::new(4096);
        let f = d
            .decode(
                &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
                LIMIT,
            )
            .unwrap();
        expect(&f, &[("custom-key", "custom-header")]);
        assert_eq!(table(&d).1, 55);

        let mut d = Decoder::new(4096);
        let f = d
            .decode(&hex("040c 2f73 616d 706c 652f 7061 7468"), LIMIT)
            .unwrap();
        expect(&f, &[(":path", "/sample/path")]);
        assert_eq!(d.dynamic_len(), 0);

        let mut d = Decoder::new(4096);
        let f = d
            .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), LIMIT)
            .unwrap();
        expect(&f, &[("password", "secret")]);
        assert!(f[0].sensitive);
        assert_eq!(d.dynamic_len(), 0);

        let mut d = Decoder::new(4096);
        expect(&d.decode(&hex("82"), LIMIT).unwrap(), &[(":method", "GET")]);
        assert_eq!(d.dynamic_len(), 0);
    }

    fn requests(blocks: [&str; 3]) {
        let mut d = Decoder::new(4096);
        let f = d.decode(&hex(blocks[0]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ],
        );
        assert_eq!(
            table(&d),
            (entries(&[(":authority", "www.example.com")]), 57)
        );
        let f = d.decode(&hex(blocks[1]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ],
        );
        assert_eq!(
            table(&d),
            (
                entries(&[
                    ("cache-control", "no-cache"),
                    (":authority", "www.example.com")
                ]),
                110
            )
        );
        let f = d.decode(&hex(blocks[2]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ],
        );
        assert_eq!(
            table(&d),
            (
                entries(&[
                    ("custom-key", "custom-value"),
                    ("cache-control", "no-cache"),
                    (":authority", "www.example.com"),
                ]),
                164
            )
        );
    }

    #[test]
    fn c3_requests_without_huffman() {
        requests([
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ]);
    }

    #[test]
    fn c4_requests_with_huffman() {
        requests([
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ]);
    }

    fn responses(blocks: [&str; 3]) {
        let mut d = Decoder::new(256);
        let f = d.decode(&hex(blocks[0]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ],
        );
        assert_eq!(
            table(&d),
            (
                entries(&[
                    ("location", "https://www.example.com"),
                    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                    ("cache-control", "private"),
                    (":status", "302"),
                ]),
                222
            )
        );
        let f = d.decode(&hex(blocks[1]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("location", "https://www.example.com"),
            ],
        );
        assert_eq!(
            table(&d),
            (
                entries(&[
                    (":status", "307"),
                    ("location", "https://www.example.com"),
                    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                    ("cache-control", "private"),
                ]),
                222
            )
        );
        let f = d.decode(&hex(blocks[2]), LIMIT).unwrap();
        expect(
            &f,
            &[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("location", "https://www.example.com"),
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
            ],
        );
        assert_eq!(
            table(&d),
            (
                entries(&[
                    (
                        "set-cookie",
                        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
                    ),
                    ("content-encoding", "gzip"),
                    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ]),
                215
            )
        );
    }

    #[test]
    fn c5_responses_without_huffman_evict() {
        responses([
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
             3d31",
        ]);
    }

    #[test]
    fn c6_responses_with_huffman_evict() {
        responses([
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]);
    }

    #[test]
    fn huffman_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        for input in [&b""[..], b"www.example.com", b"/run/berth/berth.sock", &all] {
            assert_eq!(huffman_decode(&huffman_encode(input)).unwrap(), input);
        }
        // C.4.1's value.
        assert_eq!(
            huffman_encode(b"www.example.com"),
            hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")
        );
    }

    #[test]
    fn huffman_rejects_bad_padding_and_eos() {
        // '0' is 00000: padding with zeros is not a prefix of EOS.
        assert_eq!(huffman_decode(&[0x00]), Err(HpackError::BadHuffman));
        // Eight or more bits of padding.
        assert_eq!(huffman_decode(&[0x07, 0xff]), Err(HpackError::BadHuffman));
        // EOS itself.
        assert_eq!(
            huffman_decode(&[0xff, 0xff, 0xff, 0xfc]),
            Err(HpackError::BadHuffman)
        );
    }

    #[test]
    fn literals_round_trip_without_touching_the_table() {
        let fields = vec![
            Field::new(":method", "POST"),
            Field::new(":authority", "localhost"),
            Field::new("x-custom", "v".repeat(300)),
            Field {
                name: b"authorization".to_vec(),
                value: b"secret".to_vec(),
                sensitive: true,
            },
        ];
        let mut block = Vec::new();
        for field in &fields {
            encode_literal(field, &mut block);
        }
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode(&block, LIMIT).unwrap(), fields);
        assert_eq!(d.dynamic_len(), 0);
    }

    #[test]
    fn rejects_bad_indexes_size_updates_and_large_lists() {
        let mut d = Decoder::new(4096);
        assert_eq!(
            d.decode(&[0x80], LIMIT),
            Err(HpackError::BadIndex { index: 0 })
        );
        assert_eq!(
            d.decode(&[0xbe], LIMIT),
            Err(HpackError::BadIndex { index: 62 })
        );
        // A size update to 4096 is fine, to 4097 is not; after a field it never is.
        assert!(d.decode(&hex("3fe1 1f"), LIMIT).is_ok());
        assert!(matches!(
            d.decode(&hex("3fe2 1f"), LIMIT),
            Err(HpackError::BadSizeUpdate { size: 4097, .. })
        ));
        assert!(matches!(
            d.decode(&hex("82 20"), LIMIT),
            Err(HpackError::BadSizeUpdate { .. })
        ));
        // Size update to 0 empties the table.
        d.decode(
            &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
            LIMIT,
        )
        .unwrap();
        assert_eq!(d.dynamic_len(), 1);
        d.decode(&hex("20 3fe1 1f"), LIMIT).unwrap();
        assert_eq!(d.dynamic_len(), 0);
        // An indexed field repeated past the list bound.
        let block = vec![0x82; 100];
        assert_eq!(
            d.decode(&block, 1000),
            Err(HpackError::ListTooLarge { limit: 1000 })
        );
        // Truncated string.
        assert_eq!(
            d.decode(&hex("4005 6162"), LIMIT),
            Err(HpackError::Truncated)
        );
    }

    #[test]
    fn static_table_matches_appendix_a_positions() {
        assert_eq!(STATIC[0], (":authority", ""));
        assert_eq!(STATIC[15], ("accept-encoding", "gzip, deflate"));
        assert_eq!(STATIC[30].0, "content-type");
        assert_eq!(STATIC[57].0, "user-agent");
        assert_eq!(STATIC[60].0, "www-authenticate");
    }
}
