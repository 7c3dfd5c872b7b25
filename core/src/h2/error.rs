//! HTTP/2 error codes (RFC 9113 §7) and the errors the frame layer reports.

/// An HTTP/2 error code, as carried by RST_STREAM and GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Graceful shutdown, or a stream no longer needed.
    NoError,
    /// A protocol violation without a more specific code.
    ProtocolError,
    /// An unexpected internal error.
    InternalError,
    /// A flow-control limit was broken.
    FlowControlError,
    /// SETTINGS were not acknowledged in time.
    SettingsTimeout,
    /// A frame arrived on a half-closed stream.
    StreamClosed,
    /// A frame had an invalid size.
    FrameSizeError,
    /// The stream was refused before any processing.
    RefusedStream,
    /// The stream is no longer needed.
    Cancel,
    /// The header compression context is lost.
    CompressionError,
    /// A CONNECT tunnel failed.
    ConnectError,
    /// The peer is generating excessive load.
    EnhanceYourCalm,
    /// The transport does not meet minimum security requirements.
    InadequateSecurity,
    /// HTTP/1.1 is required.
    Http11Required,
    /// A code this implementation does not know (treated like INTERNAL_ERROR).
    Unknown(u32),
}

impl ErrorCode {
    /// The code from its wire value.
    pub fn from_u32(v: u32) -> Self {
        use ErrorCode::*;
        match v {
            0x0 => NoError,
            0x1 => ProtocolError,
            0x2 => InternalError,
            0x3 => FlowControlError,
            0x4 => SettingsTimeout,
            0x5 => StreamClosed,
            0x6 => FrameSizeError,
            0x7 => RefusedStream,
            0x8 => Cancel,
            0x9 => CompressionError,
            0xa => ConnectError,
            0xb => EnhanceYourCalm,
            0xc => InadequateSecurity,
            0xd => Http11Required,
            other => Unknown(other),
        }
    }

    /// The wire value.
    pub fn to_u32(self) -> u32 {
        use ErrorCode::*;
        match self {
            NoError => 0x0,
            ProtocolError => 0x1,
            InternalError => 0x2,
            FlowControlError => 0x3,
            SettingsTimeout => 0x4,
            StreamClosed => 0x5,
            FrameSizeError => 0x6,
            RefusedStream => 0x7,
            Cancel => 0x8,
            CompressionError => 0x9,
            ConnectError => 0xa,
            EnhanceYourCalm => 0xb,
            InadequateSecurity => 0xc,
            Http11Required => 0xd,
            Unknown(v) => v,
        }
    }
}

/// A protocol violation found while reading a frame: either the whole connection is
/// broken (GOAWAY) or only one stream (RST_STREAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Error {
    /// The code to send.
    pub code: ErrorCode,
    /// `Some(id)` for a stream error on stream `id`; `None` for a connection error.
    pub stream: Option<u32>,
    /// What was wrong, for logs and GOAWAY debug data.
    pub reason: &'static str,
}

impl H2Error {
    /// A connection error.
    pub fn conn(code: ErrorCode, reason: &'static str) -> Self {
        H2Error {
            code,
            stream: None,
            reason,
        }
    }

    /// A stream error on `stream`.
    pub fn stream(stream: u32, code: ErrorCode, reason: &'static str) -> Self {
        H2Error {
            code,
            stream: Some(stream),
            reason,
        }
    }
}

impl std::fmt::Display for H2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stream {
            Some(s) => write!(f, "stream {s}: {:?}: {}", self.code, self.reason),
            None => write!(f, "connection: {:?}: {}", self.code, self.reason),
        }
    }
}

impl std::error::Error for H2Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in 0..=0xe {
            assert_eq!(ErrorCode::from_u32(v).to_u32(), v);
        }
        assert_eq!(ErrorCode::from_u32(0xb), ErrorCode::EnhanceYourCalm);
        assert_eq!(ErrorCode::from_u32(0x77), ErrorCode::Unknown(0x77));
    }
}
