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
    /// The IKE header's major version is neither 1 nor 2 (RFC 7296 section 3.1).
    #[error("unsupported IKE major version {version}")]
    BadVersion {
        /// The major version found.
        version: u8,
    },
    /// The message is IKEv1/ISAKMP (major version 1, RFC 2408): not IKEv2, rejected
    /// cleanly so a caller can count or forward it (RFC 7296 section 3.1).
    #[error("IKEv1/ISAKMP message (version 1.{minor})")]
    Ikev1 {
        /// The minor version found.
        minor: u8,
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
    pub const COUNT: usize = 6;
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
    /// The message did not parse.
    #[error("malformed message: {0}")]
    Malformed(ParseError),
    /// Integrity check, decryption or key exchange failed.
    #[error("crypto failure: {0}")]
    Crypto(CryptoError),
    /// The peer answered with an error notify (RFC 7296 section 3.10.1).
    #[error("peer sent error notify {0}")]
    PeerError(u16),
    /// No proposal of the peer is acceptable (NO_PROPOSAL_CHOSEN, section 2.7).
    #[error("no acceptable proposal")]
    NoProposalChosen,
    /// The AUTH payload did not verify (AUTHENTICATION_FAILED, section 2.15).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// No response after the last retransmission (section 2.4).
    #[error("peer did not answer")]
    Timeout,
}

impl ProtocolError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 8;
}

impl From<ParseError> for ProtocolError {
    fn from(e: ParseError) -> Self {
        Self::Malformed(e)
    }
}

impl From<CryptoError> for ProtocolError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

/// A cryptographic operation failed (RFC 7296 sections 2.13-2.15, 3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The ICV (or AEAD tag) did not verify.
    #[error("integrity check failed")]
    Integrity,
    /// The ciphertext has a length or padding the cipher cannot accept.
    #[error("bad ciphertext length or padding")]
    BadCiphertext,
    /// The peer's key-exchange value is invalid (wrong length, not on the curve,
    /// or an all-zero shared secret).
    #[error("invalid key-exchange value")]
    BadPublicKey,
    /// The algorithm (transform ID or key length) is not provided by this crate.
    #[error("unsupported algorithm: {0}")]
    Unsupported(&'static str),
    /// An output or key buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
}

impl CryptoError {
    /// Number of variants, for per-variant counters.
    pub const COUNT: usize = 5;
}

impl From<EmitError> for CryptoError {
    fn from(_: EmitError) -> Self {
        Self::BufferTooSmall
    }
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
    /// A field does not fit its wire width (e.g. a payload over 65535 bytes).
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
