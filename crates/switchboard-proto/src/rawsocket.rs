//! RawSocket transport framing (wamp-spec §8.3): the 4-octet opening handshake and the
//! 4-octet frame header, as pure encode/decode functions with no IO.
//!
//! A connection starts with the client sending a [`Handshake`]; the router answers with a
//! [`HandshakeReply`]: either the accepted handshake (serializer echoed, router's own receive
//! limit) or a [`HandshakeError`]. After that, both sides exchange frames: a header built by
//! [`encode_header`] / read by [`decode_header`], then the payload. [`FrameDecoder`] splits a
//! growing receive buffer into whole [`Frame`]s and is meant to sit inside a tokio codec.
//!
//! All integers on the wire are big-endian.
//!
//! ```
//! use bytes::BytesMut;
//! use switchboard_proto::rawsocket::{
//!     encode_frame, FrameDecoder, FrameKind, Handshake, HandshakeReply, MaxLength, SerializerId,
//! };
//!
//! // Client: ask for JSON, willing to receive up to 16 MiB.
//! let request = Handshake::new(MaxLength::MAX, SerializerId::Json);
//! assert_eq!(request.encode(), [0x7F, 0xF1, 0x00, 0x00]);
//!
//! // Router: accept, announcing it receives at most 64 KiB.
//! let reply = HandshakeReply::answer(request.encode(), MaxLength::covering(64 * 1024), |s| {
//!     s.is_supported()
//! });
//! let Some(reply) = reply else { unreachable!("0x7F magic") };
//!
//! // Client: check the router's reply against what it asked for.
//! let accepted = request.check_reply(reply.encode())?;
//! assert_eq!(accepted.max_len_exp.bytes(), 64 * 1024);
//!
//! // Frames.
//! let mut wire = BytesMut::new();
//! encode_frame(FrameKind::Message, b"[1,\"realm1\",{}]", &mut wire)?;
//! let mut decoder = FrameDecoder::new(accepted.max_len_exp.bytes());
//! let frame = decoder.decode(&mut wire)?.ok_or("incomplete")?;
//! assert_eq!(frame.kind, FrameKind::Message);
//! assert_eq!(&frame.payload[..], b"[1,\"realm1\",{}]");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The first octet of every RawSocket handshake and handshake reply.
pub const MAGIC: u8 = 0x7F;

/// Length of a frame header in octets.
pub const HEADER_LEN: usize = 4;

/// The largest payload a RawSocket frame can carry: 2^24 octets (16 MiB).
pub const MAX_FRAME_LEN: u32 = 1 << 24;

/// Bit 3 of the first header octet: the 25th length bit, set only for a length of exactly 2^24.
const LEN_BIT_25: u8 = 0x08;

// ---------------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------------

/// A serializer id from the handshake's low nibble (`SSSS`).
///
/// `0` is illegal and `6..=15` are reserved, so neither has a variant. UBJSON and FlatBuffers
/// are known ids that Switchboard does not implement; see [`SerializerId::is_supported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SerializerId {
    /// `1`: JSON.
    Json,
    /// `2`: MessagePack.
    MessagePack,
    /// `3`: CBOR.
    Cbor,
    /// `4`: UBJSON (known, not supported by Switchboard).
    Ubjson,
    /// `5`: FlatBuffers (known, not supported by Switchboard).
    FlatBuffers,
}

impl SerializerId {
    /// The 4-bit id sent on the wire.
    pub const fn code(self) -> u8 {
        match self {
            SerializerId::Json => 1,
            SerializerId::MessagePack => 2,
            SerializerId::Cbor => 3,
            SerializerId::Ubjson => 4,
            SerializerId::FlatBuffers => 5,
        }
    }

    /// The serializer with wire id `code`, or `None` for `0` (illegal) and `6..` (reserved).
    pub const fn from_code(code: u8) -> Option<SerializerId> {
        match code {
            1 => Some(SerializerId::Json),
            2 => Some(SerializerId::MessagePack),
            3 => Some(SerializerId::Cbor),
            4 => Some(SerializerId::Ubjson),
            5 => Some(SerializerId::FlatBuffers),
            _ => None,
        }
    }

    /// Whether Switchboard implements this serializer (JSON, MessagePack and CBOR).
    pub const fn is_supported(self) -> bool {
        matches!(
            self,
            SerializerId::Json | SerializerId::MessagePack | SerializerId::Cbor
        )
    }
}

/// The maximum message length a peer is willing to receive, as the handshake's 4-bit
/// exponent `LLLL`: `2^(9 + LLLL)` octets, from 512 B (`0`) to 16 MiB (`15`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxLength(u8);

impl MaxLength {
    /// The smallest limit, exponent `0`: 512 octets.
    pub const MIN: MaxLength = MaxLength(0);
    /// The largest limit, exponent `15`: 2^24 octets (16 MiB).
    pub const MAX: MaxLength = MaxLength(15);

    /// The limit with exponent `exp`, or `None` unless `exp <= 15`.
    pub const fn new(exp: u8) -> Option<MaxLength> {
        if exp <= 15 {
            Some(MaxLength(exp))
        } else {
            None
        }
    }

    /// The exponent `LLLL` sent on the wire (`0..=15`).
    pub const fn exponent(self) -> u8 {
        self.0
    }

    /// The limit in octets: `2^(9 + exponent)`.
    pub const fn bytes(self) -> u32 {
        1 << (9 + self.0 as u32)
    }

    /// The smallest limit of at least `limit` octets, capped at [`MaxLength::MAX`] (16 MiB).
    ///
    /// Use it to announce a configured byte limit: `covering(1000)` is 1 KiB, `covering(512)`
    /// is 512 B, and anything above 16 MiB becomes 16 MiB.
    pub const fn covering(limit: u64) -> MaxLength {
        let mut exp = 0;
        while exp < 15 && (1u64 << (9 + exp as u32)) < limit {
            exp += 1;
        }
        MaxLength(exp)
    }
}

/// A handshake error code (`EEEE`) that a router sends instead of accepting a handshake.
///
/// Code `0` is illegal and `5..=15` are reserved, so neither has a variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// `1`: the router does not support the requested serializer.
    #[error("RawSocket serializer unsupported")]
    SerializerUnsupported,
    /// `2`: the router does not accept the maximum message length the client announced.
    #[error("RawSocket maximum message length unacceptable")]
    MaxLengthUnacceptable,
    /// `3`: the handshake uses reserved bits (an unsupported feature).
    #[error("RawSocket handshake uses reserved bits")]
    ReservedBitsUsed,
    /// `4`: the router has reached its maximum connection count.
    #[error("RawSocket maximum connection count reached")]
    MaxConnectionCountReached,
}

impl HandshakeError {
    /// The 4-bit error code sent on the wire.
    pub const fn code(self) -> u8 {
        match self {
            HandshakeError::SerializerUnsupported => 1,
            HandshakeError::MaxLengthUnacceptable => 2,
            HandshakeError::ReservedBitsUsed => 3,
            HandshakeError::MaxConnectionCountReached => 4,
        }
    }

    /// The error with wire code `code`, or `None` for `0` (illegal) and `5..` (reserved).
    pub const fn from_code(code: u8) -> Option<HandshakeError> {
        match code {
            1 => Some(HandshakeError::SerializerUnsupported),
            2 => Some(HandshakeError::MaxLengthUnacceptable),
            3 => Some(HandshakeError::ReservedBitsUsed),
            4 => Some(HandshakeError::MaxConnectionCountReached),
            _ => None,
        }
    }

    /// The router's error reply: `7F (E << 4) 00 00`. The router closes the connection after
    /// sending it.
    pub const fn encode_reply(self) -> [u8; 4] {
        [MAGIC, self.code() << 4, 0, 0]
    }
}

/// A RawSocket handshake: the client's request, or the router's successful reply.
///
/// In a request, `max_len_exp` is what the client is willing to receive; in the reply, it is
/// what the router is willing to receive. Neither side may send a message longer than the other
/// side's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Maximum message length the sender of this handshake is willing to receive.
    pub max_len_exp: MaxLength,
    /// Serializer requested (client) or echoed (router).
    pub serializer: SerializerId,
}

impl Handshake {
    /// A handshake announcing `max_len_exp` and `serializer`.
    pub const fn new(max_len_exp: MaxLength, serializer: SerializerId) -> Handshake {
        Handshake {
            max_len_exp,
            serializer,
        }
    }

    /// The four octets on the wire: `7F (LLLL << 4 | SSSS) 00 00`.
    pub const fn encode(self) -> [u8; 4] {
        [
            MAGIC,
            (self.max_len_exp.0 << 4) | self.serializer.code(),
            0,
            0,
        ]
    }

    /// Parses a handshake request (router side) or a successful reply.
    ///
    /// Fails when the first octet is not `0x7F`, when the reserved octets 3–4 are not zero, or
    /// when the serializer is `0` (illegal, which is also how an error reply looks) or reserved.
    /// [`HandshakeDecodeError::reply_code`] says which error the router should answer with.
    pub const fn decode(bytes: [u8; 4]) -> Result<Handshake, HandshakeDecodeError> {
        let [magic, octet, r1, r2] = bytes;
        if magic != MAGIC {
            return Err(HandshakeDecodeError::BadMagic(magic));
        }
        if r1 != 0 || r2 != 0 {
            return Err(HandshakeDecodeError::ReservedOctets([r1, r2]));
        }
        let code = octet & 0x0F;
        if code == 0 {
            return Err(HandshakeDecodeError::IllegalSerializer);
        }
        match SerializerId::from_code(code) {
            Some(serializer) => Ok(Handshake {
                max_len_exp: MaxLength(octet >> 4),
                serializer,
            }),
            None => Err(HandshakeDecodeError::UnknownSerializer(code)),
        }
    }

    /// Router side: the success reply to this request, echoing its serializer and announcing
    /// `router_max`, the longest message the router is willing to receive.
    pub const fn accept(self, router_max: MaxLength) -> Handshake {
        Handshake {
            max_len_exp: router_max,
            serializer: self.serializer,
        }
    }

    /// Client side: checks the router's reply to this request.
    ///
    /// Returns the router's handshake (its `max_len_exp` is the longest message the client may
    /// send) or why the connection must be failed: the router refused
    /// ([`ReplyError::Rejected`] with its error code), the reply is malformed, or the router did
    /// not echo the requested serializer.
    pub fn check_reply(self, reply: [u8; 4]) -> Result<Handshake, ReplyError> {
        match HandshakeReply::decode(reply)? {
            HandshakeReply::Reject(error) => Err(ReplyError::Rejected(error)),
            HandshakeReply::Accept(accepted) if accepted.serializer != self.serializer => {
                Err(ReplyError::SerializerMismatch {
                    requested: self.serializer,
                    echoed: accepted.serializer,
                })
            }
            HandshakeReply::Accept(accepted) => Ok(accepted),
        }
    }
}

/// The router's answer to a handshake request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeReply {
    /// Success: the serializer echoed and the router's receive limit.
    Accept(Handshake),
    /// Refusal; the router closes the connection after sending it.
    Reject(HandshakeError),
}

impl HandshakeReply {
    /// The four octets on the wire.
    pub const fn encode(self) -> [u8; 4] {
        match self {
            HandshakeReply::Accept(handshake) => handshake.encode(),
            HandshakeReply::Reject(error) => error.encode_reply(),
        }
    }

    /// Parses a router's reply (client side). A zero serializer nibble marks an error reply;
    /// its code must be one of the defined [`HandshakeError`]s.
    pub const fn decode(bytes: [u8; 4]) -> Result<HandshakeReply, HandshakeDecodeError> {
        match Handshake::decode(bytes) {
            Ok(handshake) => Ok(HandshakeReply::Accept(handshake)),
            Err(HandshakeDecodeError::IllegalSerializer) => {
                let code = bytes[1] >> 4;
                match HandshakeError::from_code(code) {
                    Some(error) => Ok(HandshakeReply::Reject(error)),
                    None => Err(HandshakeDecodeError::UnknownErrorCode(code)),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Router side: the reply to the client's 4-octet `request`.
    ///
    /// `router_max` is the longest message the router is willing to receive, and `supported`
    /// says which serializers the router speaks. Returns `None` when the first octet is not
    /// `0x7F`: the peer is not a RawSocket client, and the router fails the connection without
    /// a reply.
    pub fn answer(
        request: [u8; 4],
        router_max: MaxLength,
        supported: impl FnOnce(SerializerId) -> bool,
    ) -> Option<HandshakeReply> {
        match Handshake::decode(request) {
            Ok(handshake) if supported(handshake.serializer) => {
                Some(HandshakeReply::Accept(handshake.accept(router_max)))
            }
            Ok(_) => Some(HandshakeReply::Reject(
                HandshakeError::SerializerUnsupported,
            )),
            Err(error) => error.reply_code().map(HandshakeReply::Reject),
        }
    }
}

/// Four octets that are not a valid handshake or handshake reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeDecodeError {
    /// The first octet is not `0x7F`: the peer does not speak RawSocket.
    #[error("not a RawSocket handshake: first octet is {0:#04x}, expected 0x7f")]
    BadMagic(u8),
    /// Octets 3 and 4 are reserved and must be zero.
    #[error("RawSocket handshake reserved octets are not zero: {0:02x?}")]
    ReservedOctets([u8; 2]),
    /// Serializer id `0` is illegal in a handshake request or success reply.
    #[error("RawSocket handshake uses the illegal serializer id 0")]
    IllegalSerializer,
    /// A reserved serializer id (`6..=15`).
    #[error("RawSocket handshake uses the reserved serializer id {0}")]
    UnknownSerializer(u8),
    /// An error reply with code `0` (illegal) or a reserved code (`5..=15`).
    #[error("RawSocket handshake error reply has the illegal or reserved code {0}")]
    UnknownErrorCode(u8),
}

impl HandshakeDecodeError {
    /// The error a router answers a malformed request with, or `None` when it must fail the
    /// connection without replying (bad magic).
    pub const fn reply_code(self) -> Option<HandshakeError> {
        match self {
            HandshakeDecodeError::BadMagic(_) => None,
            HandshakeDecodeError::ReservedOctets(_) => Some(HandshakeError::ReservedBitsUsed),
            HandshakeDecodeError::IllegalSerializer
            | HandshakeDecodeError::UnknownSerializer(_) => {
                Some(HandshakeError::SerializerUnsupported)
            }
            // Only error replies carry an error code; a request cannot produce this.
            HandshakeDecodeError::UnknownErrorCode(_) => None,
        }
    }
}

/// Why a client fails the connection after reading the router's handshake reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The router refused the handshake.
    #[error("router refused the RawSocket handshake: {0}")]
    Rejected(HandshakeError),
    /// The reply is not a valid handshake reply.
    #[error("malformed RawSocket handshake reply: {0}")]
    Malformed(#[from] HandshakeDecodeError),
    /// The router accepted but did not echo the requested serializer.
    #[error("router answered with serializer {echoed:?}, but {requested:?} was requested")]
    SerializerMismatch {
        /// The serializer the client asked for.
        requested: SerializerId,
        /// The serializer in the router's reply.
        echoed: SerializerId,
    },
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// The type of a RawSocket frame (`TTT`, the low three bits of the header's first octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// `0`: one serialized WAMP message.
    Message,
    /// `1`: PING; the peer must answer with one PONG echoing the payload.
    Ping,
    /// `2`: PONG, echoing a PING's payload.
    Pong,
}

impl FrameKind {
    /// The 3-bit type sent on the wire.
    pub const fn code(self) -> u8 {
        match self {
            FrameKind::Message => 0,
            FrameKind::Ping => 1,
            FrameKind::Pong => 2,
        }
    }

    /// The frame type with wire code `code`, or `None` for reserved codes.
    pub const fn from_code(code: u8) -> Option<FrameKind> {
        match code {
            0 => Some(FrameKind::Message),
            1 => Some(FrameKind::Ping),
            2 => Some(FrameKind::Pong),
            _ => None,
        }
    }
}

/// A frame that cannot be encoded or decoded. Any of these on receive fails the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The reserved high nibble of the header's first octet is not zero.
    #[error("RawSocket frame header uses reserved bits: first octet {0:#04x}")]
    ReservedBits(u8),
    /// A reserved frame type (`3..=7`).
    #[error("RawSocket frame has the reserved type {0}")]
    ReservedType(u8),
    /// The 25th length bit is set together with other length bits, declaring more than 2^24
    /// octets.
    #[error("RawSocket frame header declares {0} octets, more than the 2^24 maximum")]
    InvalidLength(u32),
    /// The payload is longer than the limit: the peer's announced limit on receive, or 2^24
    /// octets on send.
    #[error("RawSocket frame of {len} octets exceeds the limit of {max}")]
    TooLong {
        /// The payload length.
        len: u64,
        /// The limit it exceeds.
        max: u32,
    },
}

/// The 4-octet header of a frame of type `kind` carrying `len` payload octets.
///
/// A length of exactly 2^24 sets the 25th length bit (`08 00 00 00` for a message). Fails with
/// [`FrameError::TooLong`] when `len` exceeds [`MAX_FRAME_LEN`].
pub const fn encode_header(kind: FrameKind, len: u32) -> Result<[u8; 4], FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLong {
            len: len as u64,
            max: MAX_FRAME_LEN,
        });
    }
    // `len <= 2^24`, so the top octet is 0, or 1 for exactly 2^24: the 25th length bit.
    let [x, l2, l1, l0] = len.to_be_bytes();
    Ok([(x << 3) | kind.code(), l2, l1, l0])
}

/// Parses a frame header into its type and payload length.
///
/// Fails when the reserved high nibble is set, the type is reserved (`3..=7`), or the 25th
/// length bit is combined with other length bits.
pub const fn decode_header(header: [u8; 4]) -> Result<(FrameKind, u32), FrameError> {
    let [first, l2, l1, l0] = header;
    if first & 0xF0 != 0 {
        return Err(FrameError::ReservedBits(first));
    }
    let len = u32::from_be_bytes([(first & LEN_BIT_25) >> 3, l2, l1, l0]);
    let Some(kind) = FrameKind::from_code(first & 0x07) else {
        return Err(FrameError::ReservedType(first & 0x07));
    };
    if len > MAX_FRAME_LEN {
        return Err(FrameError::InvalidLength(len));
    }
    Ok((kind, len))
}

/// Appends a frame (header, then `payload`) to `dst`.
///
/// Fails with [`FrameError::TooLong`], leaving `dst` untouched, when the payload is longer than
/// 2^24 octets. Checking the peer's announced limit is the caller's business.
pub fn encode_frame(kind: FrameKind, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLong {
        len: payload.len() as u64,
        max: MAX_FRAME_LEN,
    })?;
    let header = encode_header(kind, len)?;
    dst.reserve(HEADER_LEN + payload.len());
    dst.put_slice(&header);
    dst.put_slice(payload);
    Ok(())
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The frame type.
    pub kind: FrameKind,
    /// The payload, without the header.
    pub payload: Bytes,
}

/// Splits a receive buffer into whole [`Frame`]s, rejecting any frame longer than a limit.
///
/// Shaped like `tokio_util::codec::Decoder::decode`: feed it the connection's buffer after each
/// read; it returns `Ok(None)` until a whole frame is buffered. The limit applies to every frame
/// type, PINGs included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDecoder {
    max_len: u32,
}

impl FrameDecoder {
    /// A decoder accepting payloads of at most `max_len` octets (never more than 2^24,
    /// whatever `max_len` says).
    pub const fn new(max_len: u32) -> FrameDecoder {
        FrameDecoder { max_len }
    }

    /// A decoder enforcing the limit this side announced in its handshake.
    pub const fn with_max_length(max: MaxLength) -> FrameDecoder {
        FrameDecoder::new(max.bytes())
    }

    /// The payload limit in octets.
    pub const fn max_len(&self) -> u32 {
        self.max_len
    }

    /// Takes the next whole frame off the front of `buf`.
    ///
    /// Returns `Ok(None)`, leaving `buf` untouched, while the header or payload is incomplete.
    /// Errors are detected from the header alone, before the payload arrives; `buf` is then
    /// left untouched and the connection must be failed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(&[b0, b1, b2, b3]) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (kind, len) = decode_header([b0, b1, b2, b3])?;
        if len > self.max_len {
            return Err(FrameError::TooLong {
                len: u64::from(len),
                max: self.max_len,
            });
        }
        // `len <= 2^24`, so this cannot overflow on any platform with at least 32-bit usize.
        let frame_len = HEADER_LEN + len as usize;
        if buf.len() < frame_len {
            buf.reserve(frame_len - buf.len());
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(len as usize).freeze();
        Ok(Some(Frame { kind, payload }))
    }
}

impl Default for FrameDecoder {
    /// A decoder accepting the largest RawSocket frames, 2^24 octets.
    fn default() -> FrameDecoder {
        FrameDecoder::new(MAX_FRAME_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exp(n: u8) -> MaxLength {
        MaxLength::new(n).unwrap()
    }

    /// Decodes frames from `buf` until it needs more bytes or fails.
    fn drain(
        decoder: &mut FrameDecoder,
        buf: &mut BytesMut,
        out: &mut Vec<Frame>,
    ) -> Option<FrameError> {
        loop {
            match decoder.decode(buf) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => return None,
                Err(error) => return Some(error),
            }
        }
    }

    /// Decodes all of `bytes` at once: the frames, then the error or leftover bytes.
    fn one_shot(max_len: u32, bytes: &[u8]) -> (Vec<Frame>, Option<FrameError>, usize) {
        let mut decoder = FrameDecoder::new(max_len);
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        let error = drain(&mut decoder, &mut buf, &mut frames);
        (frames, error, buf.len())
    }

    /// Decodes `bytes` fed in chunks cut at `cuts` (positions, any order, may repeat).
    fn chunked(
        max_len: u32,
        bytes: &[u8],
        cuts: &[usize],
    ) -> (Vec<Frame>, Option<FrameError>, usize) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut decoder = FrameDecoder::new(max_len);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut start = 0;
        for cut in cuts {
            buf.extend_from_slice(&bytes[start..cut]);
            start = cut;
            if let Some(error) = drain(&mut decoder, &mut buf, &mut frames) {
                // The buffer is untouched on error: with the rest appended, it must hold
                // what one-shot decoding leaves behind.
                buf.extend_from_slice(&bytes[start..]);
                return (frames, Some(error), buf.len());
            }
        }
        (frames, None, buf.len())
    }

    // --- handshake: spec examples (wamp-spec §8.3) ---

    #[test]
    fn spec_example_json_16_mib() {
        let hs = Handshake::new(MaxLength::MAX, SerializerId::Json);
        assert_eq!(hs.encode(), [0x7F, 0xF1, 0x00, 0x00]);
        assert_eq!(Handshake::decode([0x7F, 0xF1, 0x00, 0x00]), Ok(hs));
        assert_eq!(hs.max_len_exp.bytes(), 16 * 1024 * 1024);
    }

    #[test]
    fn spec_example_msgpack_16_mib() {
        let hs = Handshake::new(MaxLength::MAX, SerializerId::MessagePack);
        assert_eq!(hs.encode(), [0x7F, 0xF2, 0x00, 0x00]);
        assert_eq!(Handshake::decode([0x7F, 0xF2, 0x00, 0x00]), Ok(hs));
    }

    #[test]
    fn spec_example_cbor_512_bytes() {
        let hs = Handshake::new(MaxLength::MIN, SerializerId::Cbor);
        assert_eq!(hs.encode(), [0x7F, 0x03, 0x00, 0x00]);
        assert_eq!(Handshake::decode([0x7F, 0x03, 0x00, 0x00]), Ok(hs));
        assert_eq!(hs.max_len_exp.bytes(), 512);
    }

    #[test]
    fn spec_example_error_serializer_unsupported() {
        let e = HandshakeError::SerializerUnsupported;
        assert_eq!(e.encode_reply(), [0x7F, 0x10, 0x00, 0x00]);
        assert_eq!(HandshakeReply::Reject(e).encode(), [0x7F, 0x10, 0x00, 0x00]);
        assert_eq!(
            HandshakeReply::decode([0x7F, 0x10, 0x00, 0x00]),
            Ok(HandshakeReply::Reject(e))
        );
    }

    #[test]
    fn spec_example_error_max_connections() {
        let e = HandshakeError::MaxConnectionCountReached;
        assert_eq!(e.encode_reply(), [0x7F, 0x40, 0x00, 0x00]);
        assert_eq!(
            HandshakeReply::decode([0x7F, 0x40, 0x00, 0x00]),
            Ok(HandshakeReply::Reject(e))
        );
    }

    #[test]
    fn error_codes_match_spec() {
        let all = [
            (HandshakeError::SerializerUnsupported, 1),
            (HandshakeError::MaxLengthUnacceptable, 2),
            (HandshakeError::ReservedBitsUsed, 3),
            (HandshakeError::MaxConnectionCountReached, 4),
        ];
        for (error, code) in all {
            assert_eq!(error.code(), code);
            assert_eq!(HandshakeError::from_code(code), Some(error));
            assert_eq!(error.encode_reply(), [0x7F, code << 4, 0, 0]);
        }
        assert_eq!(HandshakeError::from_code(0), None);
        assert_eq!(HandshakeError::from_code(5), None);
    }

    #[test]
    fn serializer_ids_match_spec() {
        use SerializerId::*;
        for (s, code, supported) in [
            (Json, 1, true),
            (MessagePack, 2, true),
            (Cbor, 3, true),
            (Ubjson, 4, false),
            (FlatBuffers, 5, false),
        ] {
            assert_eq!(s.code(), code);
            assert_eq!(SerializerId::from_code(code), Some(s));
            assert_eq!(s.is_supported(), supported);
        }
        assert_eq!(SerializerId::from_code(0), None);
        for code in 6..=15 {
            assert_eq!(SerializerId::from_code(code), None);
        }
    }

    // --- handshake: max length ---

    #[test]
    fn max_length_exponent_range() {
        assert_eq!(MaxLength::new(0), Some(MaxLength::MIN));
        assert_eq!(MaxLength::new(15), Some(MaxLength::MAX));
        assert_eq!(MaxLength::new(16), None);
        assert_eq!(MaxLength::MIN.bytes(), 512);
        assert_eq!(exp(1).bytes(), 1024);
        assert_eq!(MaxLength::MAX.bytes(), MAX_FRAME_LEN);
    }

    #[test]
    fn max_length_covering_picks_smallest_sufficient_exponent() {
        assert_eq!(MaxLength::covering(0), MaxLength::MIN);
        assert_eq!(MaxLength::covering(1), MaxLength::MIN);
        assert_eq!(MaxLength::covering(512), MaxLength::MIN);
        assert_eq!(MaxLength::covering(513), exp(1));
        assert_eq!(MaxLength::covering(1000), exp(1));
        assert_eq!(MaxLength::covering(65_536), exp(7));
        assert_eq!(MaxLength::covering(65_537), exp(8));
        assert_eq!(MaxLength::covering(1 << 24), MaxLength::MAX);
        assert_eq!(MaxLength::covering((1 << 24) + 1), MaxLength::MAX);
        assert_eq!(MaxLength::covering(u64::MAX), MaxLength::MAX);
    }

    // --- handshake: decoding failures and router answers ---

    #[test]
    fn handshake_rejects_bad_magic_reserved_octets_and_bad_serializers() {
        use HandshakeDecodeError::*;
        assert_eq!(Handshake::decode(*b"GET "), Err(BadMagic(b'G')));
        assert_eq!(
            Handshake::decode([0x7F, 0xF1, 0x00, 0x01]),
            Err(ReservedOctets([0, 1]))
        );
        assert_eq!(
            Handshake::decode([0x7F, 0xF1, 0x80, 0x00]),
            Err(ReservedOctets([0x80, 0]))
        );
        assert_eq!(
            Handshake::decode([0x7F, 0xF0, 0, 0]),
            Err(IllegalSerializer)
        );
        assert_eq!(
            Handshake::decode([0x7F, 0xF6, 0, 0]),
            Err(UnknownSerializer(6))
        );
        assert_eq!(
            Handshake::decode([0x7F, 0x0F, 0, 0]),
            Err(UnknownSerializer(15))
        );
        // Known-but-unsupported serializers parse; the router decides.
        assert_eq!(
            Handshake::decode([0x7F, 0x04, 0, 0]).map(|h| h.serializer),
            Ok(SerializerId::Ubjson)
        );
        assert_eq!(
            Handshake::decode([0x7F, 0x05, 0, 0]).map(|h| h.serializer),
            Ok(SerializerId::FlatBuffers)
        );
    }

    #[test]
    fn decode_errors_map_to_router_reply_codes() {
        use HandshakeDecodeError::*;
        assert_eq!(BadMagic(0x47).reply_code(), None);
        assert_eq!(
            ReservedOctets([1, 0]).reply_code(),
            Some(HandshakeError::ReservedBitsUsed)
        );
        assert_eq!(
            IllegalSerializer.reply_code(),
            Some(HandshakeError::SerializerUnsupported)
        );
        assert_eq!(
            UnknownSerializer(9).reply_code(),
            Some(HandshakeError::SerializerUnsupported)
        );
    }

    #[test]
    fn router_answer_echoes_serializer_with_router_limit() {
        let request = [0x7F, 0xF2, 0x00, 0x00];
        let reply = HandshakeReply::answer(request, exp(7), SerializerId::is_supported);
        let expected = Handshake::new(exp(7), SerializerId::MessagePack);
        assert_eq!(reply, Some(HandshakeReply::Accept(expected)));
        assert_eq!(reply.map(HandshakeReply::encode), Some([0x7F, 0x72, 0, 0]));
    }

    #[test]
    fn router_answer_rejects_unsupported_and_malformed_requests() {
        let answer =
            |req: [u8; 4]| HandshakeReply::answer(req, MaxLength::MAX, SerializerId::is_supported);
        let reject = |e| Some(HandshakeReply::Reject(e));
        assert_eq!(
            answer([0x7F, 0xF4, 0, 0]),
            reject(HandshakeError::SerializerUnsupported)
        );
        assert_eq!(
            answer([0x7F, 0xF9, 0, 0]),
            reject(HandshakeError::SerializerUnsupported)
        );
        assert_eq!(
            answer([0x7F, 0xF0, 0, 0]),
            reject(HandshakeError::SerializerUnsupported)
        );
        assert_eq!(
            answer([0x7F, 0xF1, 0, 7]),
            reject(HandshakeError::ReservedBitsUsed)
        );
        assert_eq!(answer(*b"GET "), None);
        // A router that only speaks CBOR.
        let cbor_only = HandshakeReply::answer([0x7F, 0xF1, 0, 0], MaxLength::MAX, |s| {
            s == SerializerId::Cbor
        });
        assert_eq!(cbor_only, reject(HandshakeError::SerializerUnsupported));
    }

    #[test]
    fn client_accepts_echo_and_learns_router_limit() {
        let request = Handshake::new(MaxLength::MAX, SerializerId::Json);
        assert_eq!(
            request.check_reply([0x7F, 0x31, 0, 0]),
            Ok(Handshake::new(exp(3), SerializerId::Json))
        );
    }

    #[test]
    fn client_fails_on_rejection_mismatch_or_garbage() {
        let request = Handshake::new(MaxLength::MAX, SerializerId::Json);
        assert_eq!(
            request.check_reply([0x7F, 0x40, 0, 0]),
            Err(ReplyError::Rejected(
                HandshakeError::MaxConnectionCountReached
            ))
        );
        assert_eq!(
            request.check_reply([0x7F, 0x20, 0, 0]),
            Err(ReplyError::Rejected(HandshakeError::MaxLengthUnacceptable))
        );
        assert_eq!(
            request.check_reply([0x7F, 0xF2, 0, 0]),
            Err(ReplyError::SerializerMismatch {
                requested: SerializerId::Json,
                echoed: SerializerId::MessagePack,
            })
        );
        use HandshakeDecodeError::*;
        assert_eq!(
            request.check_reply([0x7F, 0x00, 0, 0]),
            Err(ReplyError::Malformed(UnknownErrorCode(0)))
        );
        assert_eq!(
            request.check_reply([0x7F, 0x50, 0, 0]),
            Err(ReplyError::Malformed(UnknownErrorCode(5)))
        );
        assert_eq!(
            request.check_reply([0x7E, 0xF1, 0, 0]),
            Err(ReplyError::Malformed(BadMagic(0x7E)))
        );
        assert_eq!(
            request.check_reply([0x7F, 0x10, 1, 0]),
            Err(ReplyError::Malformed(ReservedOctets([1, 0])))
        );
    }

    #[test]
    fn handshake_round_trips_every_exponent_and_serializer() {
        use SerializerId::*;
        for n in 0..=15 {
            for s in [Json, MessagePack, Cbor, Ubjson, FlatBuffers] {
                let hs = Handshake::new(exp(n), s);
                assert_eq!(Handshake::decode(hs.encode()), Ok(hs));
                let reply = HandshakeReply::Accept(hs);
                assert_eq!(HandshakeReply::decode(reply.encode()), Ok(reply));
            }
        }
    }

    // --- frame headers ---

    #[test]
    fn spec_example_message_header_0x1234() {
        assert_eq!(
            encode_header(FrameKind::Message, 0x1234),
            Ok([0, 0, 0x12, 0x34])
        );
        assert_eq!(
            decode_header([0, 0, 0x12, 0x34]),
            Ok((FrameKind::Message, 0x1234))
        );
    }

    #[test]
    fn length_of_exactly_2_pow_24_uses_25th_bit() {
        assert_eq!(
            encode_header(FrameKind::Message, 1 << 24),
            Ok([0x08, 0, 0, 0])
        );
        assert_eq!(
            decode_header([0x08, 0, 0, 0]),
            Ok((FrameKind::Message, 1 << 24))
        );
        assert_eq!(encode_header(FrameKind::Pong, 1 << 24), Ok([0x0A, 0, 0, 0]));
        assert_eq!(
            encode_header(FrameKind::Message, (1 << 24) - 1),
            Ok([0, 0xFF, 0xFF, 0xFF])
        );
    }

    #[test]
    fn header_encodes_ping_and_pong_types() {
        assert_eq!(encode_header(FrameKind::Ping, 3), Ok([0x01, 0, 0, 3]));
        assert_eq!(encode_header(FrameKind::Pong, 3), Ok([0x02, 0, 0, 3]));
        assert_eq!(decode_header([0x01, 0, 0, 0]), Ok((FrameKind::Ping, 0)));
        assert_eq!(decode_header([0x02, 0, 1, 0]), Ok((FrameKind::Pong, 256)));
    }

    #[test]
    fn encoding_over_2_pow_24_fails() {
        assert_eq!(
            encode_header(FrameKind::Message, (1 << 24) + 1),
            Err(FrameError::TooLong {
                len: (1 << 24) + 1,
                max: MAX_FRAME_LEN
            })
        );
        let mut dst = BytesMut::new();
        let big = vec![0u8; (1 << 24) + 1];
        assert!(matches!(
            encode_frame(FrameKind::Message, &big, &mut dst),
            Err(FrameError::TooLong { .. })
        ));
        assert!(dst.is_empty());
    }

    #[test]
    fn header_rejects_reserved_bits_types_and_overlong_lengths() {
        for high in 1..=0x0F_u8 {
            let first = high << 4;
            assert_eq!(
                decode_header([first, 0, 0, 1]),
                Err(FrameError::ReservedBits(first))
            );
        }
        for t in 3..=7 {
            assert_eq!(
                decode_header([t, 0, 0, 1]),
                Err(FrameError::ReservedType(t))
            );
        }
        assert_eq!(
            decode_header([0x08, 0, 0, 1]),
            Err(FrameError::InvalidLength((1 << 24) + 1))
        );
        assert_eq!(
            decode_header([0x08, 0xFF, 0xFF, 0xFF]),
            Err(FrameError::InvalidLength((1 << 25) - 1))
        );
    }

    // --- frame decoder ---

    #[test]
    fn decoder_waits_for_whole_frame() {
        let mut wire = BytesMut::new();
        encode_frame(FrameKind::Message, b"hello", &mut wire).unwrap();
        let bytes = wire.freeze();
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        for i in 0..bytes.len() {
            buf.extend_from_slice(&bytes[i..=i]);
            let got = decoder.decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert_eq!(got, None, "after {} bytes", i + 1);
                assert_eq!(buf.len(), i + 1, "buffer untouched while incomplete");
            } else {
                let frame = got.unwrap();
                assert_eq!(frame.kind, FrameKind::Message);
                assert_eq!(&frame.payload[..], b"hello");
            }
        }
        assert!(buf.is_empty());
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }

    #[test]
    fn decoder_returns_back_to_back_frames_in_order() {
        let mut buf = BytesMut::new();
        encode_frame(FrameKind::Ping, b"p", &mut buf).unwrap();
        encode_frame(FrameKind::Message, b"", &mut buf).unwrap();
        encode_frame(FrameKind::Pong, b"p", &mut buf).unwrap();
        buf.extend_from_slice(&[0, 0]); // start of a fourth header
        let mut decoder = FrameDecoder::default();
        let kinds: Vec<_> = std::iter::from_fn(|| decoder.decode(&mut buf).unwrap())
            .map(|f| (f.kind, f.payload))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (FrameKind::Ping, Bytes::from_static(b"p")),
                (FrameKind::Message, Bytes::new()),
                (FrameKind::Pong, Bytes::from_static(b"p")),
            ]
        );
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn decoder_rejects_too_long_frame_from_header_alone() {
        let mut decoder = FrameDecoder::with_max_length(MaxLength::MIN);
        assert_eq!(decoder.max_len(), 512);
        let mut buf = BytesMut::from(&[0x00, 0x00, 0x02, 0x01][..]); // 513 octets announced
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::TooLong { len: 513, max: 512 })
        );
        assert_eq!(buf.len(), HEADER_LEN, "buffer untouched on error");
        // Exactly at the limit is fine.
        let mut buf = BytesMut::from(&[0x01, 0x00, 0x02, 0x00][..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }

    #[test]
    fn decoder_rejects_bad_headers() {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0x10, 0, 0, 0][..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::ReservedBits(0x10))
        );
        let mut buf = BytesMut::from(&[0x07, 0, 0, 0][..]);
        assert_eq!(decoder.decode(&mut buf), Err(FrameError::ReservedType(7)));
    }

    #[test]
    fn decoder_accepts_a_full_2_pow_24_frame() {
        let payload = vec![0xAB; 1 << 24];
        let mut buf = BytesMut::new();
        encode_frame(FrameKind::Message, &payload, &mut buf).unwrap();
        assert_eq!(&buf[..4], &[0x08, 0, 0, 0]);
        let frame = FrameDecoder::with_max_length(MaxLength::MAX)
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(frame.payload.len(), 1 << 24);
        assert!(buf.is_empty());
    }

    // --- property tests ---

    fn kind() -> impl Strategy<Value = FrameKind> {
        prop_oneof![
            Just(FrameKind::Message),
            Just(FrameKind::Ping),
            Just(FrameKind::Pong)
        ]
    }

    fn frames() -> impl Strategy<Value = Vec<(FrameKind, Vec<u8>)>> {
        prop::collection::vec((kind(), prop::collection::vec(any::<u8>(), 0..300)), 0..8)
    }

    proptest! {
        #[test]
        fn header_round_trips(kind in kind(), len in 0..=MAX_FRAME_LEN) {
            let header = encode_header(kind, len).unwrap();
            prop_assert_eq!(decode_header(header), Ok((kind, len)));
        }

        #[test]
        fn any_header_decodes_to_its_canonical_encoding_or_errors(header in any::<[u8; 4]>()) {
            if let Ok((kind, len)) = decode_header(header) {
                prop_assert_eq!(encode_header(kind, len), Ok(header));
            }
        }

        #[test]
        fn any_handshake_decodes_to_its_encoding_or_errors(bytes in any::<[u8; 4]>()) {
            if let Ok(hs) = Handshake::decode(bytes) {
                prop_assert_eq!(hs.encode(), bytes);
            }
            if let Ok(reply) = HandshakeReply::decode(bytes) {
                prop_assert_eq!(reply.encode(), bytes);
            }
            let _ = HandshakeReply::answer(bytes, MaxLength::MAX, SerializerId::is_supported);
        }

        #[test]
        fn frames_round_trip_through_chunked_decoding(
            frames in frames(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut wire = BytesMut::new();
            for (kind, payload) in &frames {
                encode_frame(*kind, payload, &mut wire).unwrap();
            }
            let expected: Vec<Frame> = frames
                .iter()
                .map(|(kind, payload)| Frame { kind: *kind, payload: Bytes::copy_from_slice(payload) })
                .collect();
            let whole = one_shot(MAX_FRAME_LEN, &wire);
            prop_assert_eq!(&whole, &(expected.clone(), None, 0));
            prop_assert_eq!(chunked(MAX_FRAME_LEN, &wire, &cuts), whole);
        }

        #[test]
        fn chunked_decoding_of_arbitrary_bytes_matches_one_shot(
            max_len in 0..600_u32,
            // Mostly valid-looking frames with garbage mixed in, so decoding gets somewhere.
            pieces in prop::collection::vec(
                prop_oneof![
                    3 => (kind(), prop::collection::vec(any::<u8>(), 0..700)).prop_map(|(k, p)| {
                        let mut b = BytesMut::new();
                        encode_frame(k, &p, &mut b).unwrap();
                        b.to_vec()
                    }),
                    1 => prop::collection::vec(any::<u8>(), 0..16),
                ],
                0..6,
            ),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = pieces.concat();
            let whole = one_shot(max_len, &bytes);
            // The decoded frames re-encode to exactly the bytes they were decoded from.
            let mut reencoded = BytesMut::new();
            for frame in &whole.0 {
                encode_frame(frame.kind, &frame.payload, &mut reencoded).unwrap();
            }
            prop_assert_eq!(&reencoded[..], &bytes[..bytes.len() - whole.2]);
            prop_assert_eq!(chunked(max_len, &bytes, &cuts), whole);
        }

        #[test]
        fn chunked_decoding_of_random_bytes_matches_one_shot(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            prop_assert_eq!(chunked(16, &bytes, &cuts), one_shot(16, &bytes));
        }
    }
}
