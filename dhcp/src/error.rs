//! Error kinds of this crate, layered as in the house style (STYLE.md section 6).
//!
//! Every error is small, `Copy`, holds only integers or `&'static str`, and is
//! `#[non_exhaustive]` so that new variants are not a breaking change. Each enum
//! has a `COUNT` so a dataplane can keep one counter per variant without a map.

/// The bytes are not a well-formed message (syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is shorter than the fixed header, or than a length field says.
    #[error("truncated: needed {needed} bytes, had {available}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// A length field is inconsistent with the data (would underflow or overrun).
    #[error("bad length field")]
    BadLength,
    /// A version field holds a version this crate does not implement.
    #[error("unsupported version {version}")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// A field holds a value the RFC forbids here.
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
    /// More TLVs than the hard cap of this crate allows (STYLE.md section 2).
    #[error("too many TLVs (cap {cap})")]
    TooManyTlvs {
        /// The cap that was hit.
        cap: usize,
    },
}

impl ParseError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 5;
}

/// The message is well formed but arrived at the wrong time or breaks the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The message code is not expected in the current state.
    #[error("unexpected message in this state")]
    Unexpected,
    /// The peer's message failed a check the RFC requires.
    #[error("peer violated the protocol: {0}")]
    PeerMisbehaved(&'static str),
    /// The bytes handed to a state machine did not parse.
    #[error("malformed message: {0}")]
    Malformed(ParseError),
}

impl ProtocolError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 3;
}

/// Emitting into the caller's buffer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is too small; nothing useful was written.
    #[error("buffer too small: needed {needed} bytes, had {available}")]
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes the caller gave.
        available: usize,
    },
    /// A field does not fit its wire width.
    #[error("value does not fit the wire format: {0}")]
    ValueTooLarge(&'static str),
}

impl EmitError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 2;
}

/// The caller used the API wrongly (a bug in the caller, not in the peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

impl UsageError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 1;
}
