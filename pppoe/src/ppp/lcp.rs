//! Link Control Protocol options (RFC 1661 section 6) as used over PPPoE:
//! Maximum-Receive-Unit (6.1; 1492 by default, RFC 2516 section 7, or more with
//! PPP-Max-Payload, RFC 4638 section 4), Authentication-Protocol (6.2; PAP per
//! RFC 1334 section 3.1, CHAP-MD5 per RFC 1994 section 3), Magic-Number (6.4, with
//! loop detection), and Protocol-Field-Compression / Address-and-Control-Field-
//! Compression (6.5, 6.6), which are always rejected because RFC 2516 section 7
//! forbids them over PPPoE.

use super::cp::{Handler, Verdict};
use super::packet::{Opt, Options, Writer};
use super::{Prng, Protocol, ppp_newtype};

ppp_newtype! {
    /// LCP Configuration Option type: IANA "PPP LCP Configuration Option Types"
    /// (RFC 1661 section 6).
    LcpOption(u8) {
        /// Maximum-Receive-Unit (section 6.1).
        MRU = 1, "Maximum-Receive-Unit";
        /// Async-Control-Character-Map (RFC 1662 section 7.1); meaningless over PPPoE.
        ACCM = 2, "Async-Control-Character-Map";
        /// Authentication-Protocol (section 6.2).
        AUTH_PROTOCOL = 3, "Authentication-Protocol";
        /// Quality-Protocol (section 6.3).
        QUALITY_PROTOCOL = 4, "Quality-Protocol";
        /// Magic-Number (section 6.4).
        MAGIC_NUMBER = 5, "Magic-Number";
        /// Protocol-Field-Compression (section 6.5).
        PFC = 7, "Protocol-Field-Compression";
        /// Address-and-Control-Field-Compression (section 6.6).
        ACFC = 8, "Address-and-Control-Field-Compression";
    }
}

/// CHAP Algorithm value for MD5 (RFC 1994 section 3).
pub const CHAP_MD5: u8 = 5;

/// CHAP Algorithm value for MS-CHAPv2 (RFC 2759 section 2).
pub const CHAP_MSCHAPV2: u8 = 0x81;

/// Smallest MRU we accept from a peer (below it we Nak with this value).
pub const MIN_MRU: u16 = 64;

/// Times the peer may echo our own Magic-Number before we declare a loop
/// (RFC 1661 section 6.4).
pub const LOOP_LIMIT: u8 = 5;

/// The authentication protocol of the Authentication-Protocol option
/// (RFC 1661 section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthProto {
    /// No authentication.
    #[default]
    None,
    /// PAP (RFC 1334), protocol `c023`.
    Pap,
    /// CHAP with MD5 (RFC 1994), protocol `c223`, algorithm 5.
    ChapMd5,
    /// MS-CHAPv2 (RFC 2759), protocol `c223`, algorithm `0x81`. On the AC the
    /// response goes to the caller (typically RADIUS, RFC 2548); the host answers
    /// and checks the authenticator's `S=` response (mutual authentication).
    MsChapV2,
}

impl AuthProto {
    fn write(self, w: &mut Writer<'_>) {
        match self {
            Self::None => {}
            Self::Pap => w.opt(LcpOption::AUTH_PROTOCOL.0, &Protocol::PAP.0.to_be_bytes()),
            Self::ChapMd5 => {
                let [a, b] = Protocol::CHAP.0.to_be_bytes();
                w.opt(LcpOption::AUTH_PROTOCOL.0, &[a, b, CHAP_MD5]);
            }
            Self::MsChapV2 => {
                let [a, b] = Protocol::CHAP.0.to_be_bytes();
                w.opt(LcpOption::AUTH_PROTOCOL.0, &[a, b, CHAP_MSCHAPV2]);
            }
        }
    }

    /// Decodes the data of an Authentication-Protocol option.
    #[must_use]
    pub fn from_option(opt: &Opt<'_>) -> Option<Self> {
        match opt.split_u16()? {
            (0xc023, []) => Some(Self::Pap),
            (0xc223, [CHAP_MD5]) => Some(Self::ChapMd5),
            (0xc223, [CHAP_MSCHAPV2]) => Some(Self::MsChapV2),
            _ => None,
        }
    }
}

/// LCP option configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcpConfig {
    /// Our MRU, and the largest MRU we let the peer use (1492 over PPPoE, or the
    /// PPP-Max-Payload of RFC 4638).
    pub mru: u16,
    /// The protocol we require the peer to authenticate with (AC side), or
    /// `None` (host side).
    pub require_auth: AuthProto,
    /// On the AC side, switch to the protocol a peer Naks us with (PAP ↔ CHAP).
    pub auth_fallback: bool,
    /// On the host side, the protocols we can answer: PAP, CHAP-MD5.
    pub can_pap: bool,
    /// See [`LcpConfig::can_pap`].
    pub can_chap: bool,
}

impl Default for LcpConfig {
    fn default() -> Self {
        Self {
            mru: super::PPPOE_DEFAULT_MRU,
            require_auth: AuthProto::None,
            auth_fallback: false,
            can_pap: false,
            can_chap: false,
        }
    }
}

/// LCP option state: what we request, what the peer requested, loop detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lcp {
    /// Configuration.
    pub config: LcpConfig,
    /// The MRU we request.
    pub mru: u16,
    /// Our Magic-Number (never zero).
    pub magic: u32,
    /// The protocol we currently request (AC side).
    pub auth: AuthProto,
    /// The peer's MRU (the most we may send).
    pub peer_mru: u16,
    /// The peer's Magic-Number (0 = none).
    pub peer_magic: u32,
    /// The protocol the peer wants us to authenticate with (host side).
    pub peer_auth: AuthProto,
    send_mru: bool,
    send_magic: bool,
    /// The peer rejected our Authentication-Protocol (the AC cannot go on).
    pub auth_refused: bool,
    /// Times the peer sent our own Magic-Number.
    pub loops: u8,
}

impl Lcp {
    /// LCP with `config` and our first Magic-Number from `rng`.
    #[must_use]
    pub fn new(config: LcpConfig, rng: &mut Prng) -> Self {
        let mut s = Self {
            config,
            mru: config.mru,
            magic: rng.next_nonzero_u32(),
            auth: config.require_auth,
            peer_mru: 1500,
            peer_magic: 0,
            peer_auth: AuthProto::None,
            send_mru: true,
            send_magic: true,
            auth_refused: false,
            loops: 0,
        };
        s.reset();
        s
    }

    /// Whether the peer keeps echoing our Magic-Number (a looped-back link,
    /// RFC 1661 section 6.4).
    #[must_use]
    pub const fn loop_detected(&self) -> bool {
        self.loops >= LOOP_LIMIT
    }

    /// The Magic-Number to put in Echo-Request/Reply and Discard-Request (0 when
    /// it was not negotiated, section 5.8).
    #[must_use]
    pub const fn echo_magic(&self) -> u32 {
        if self.send_magic { self.magic } else { 0 }
    }
}

impl Handler for Lcp {
    const PROTOCOL: Protocol = Protocol::LCP;

    fn request(&self, w: &mut Writer<'_>) {
        if self.send_mru && self.mru != 1500 {
            w.opt(LcpOption::MRU.0, &self.mru.to_be_bytes());
        }
        self.auth.write(w);
        if self.send_magic {
            w.opt(LcpOption::MAGIC_NUMBER.0, &self.magic.to_be_bytes());
        }
    }

    fn check(&mut self, opt: Opt<'_>, nak: &mut Writer<'_>, rng: &mut Prng) -> Verdict {
        match LcpOption(opt.kind) {
            LcpOption::MRU => match opt.data_u16() {
                None => Verdict::Reject,
                Some(v) if v > self.config.mru => {
                    nak.opt(opt.kind, &self.config.mru.to_be_bytes());
                    Verdict::Nak
                }
                Some(v) if v < MIN_MRU => {
                    nak.opt(opt.kind, &MIN_MRU.to_be_bytes());
                    Verdict::Nak
                }
                Some(v) => {
                    self.peer_mru = v;
                    Verdict::Ack
                }
            },
            LcpOption::AUTH_PROTOCOL => {
                // Section 6.2: the peer wants *us* to authenticate.
                let (can_pap, can_chap) = (self.config.can_pap, self.config.can_chap);
                if !can_pap && !can_chap {
                    return Verdict::Reject;
                }
                match AuthProto::from_option(&opt) {
                    Some(p @ AuthProto::Pap) if can_pap => {
                        self.peer_auth = p;
                        Verdict::Ack
                    }
                    Some(p @ (AuthProto::ChapMd5 | AuthProto::MsChapV2)) if can_chap => {
                        self.peer_auth = p;
                        Verdict::Ack
                    }
                    _ => {
                        let alt = if can_chap {
                            AuthProto::ChapMd5
                        } else {
                            AuthProto::Pap
                        };
                        alt.write(nak);
                        Verdict::Nak
                    }
                }
            }
            LcpOption::MAGIC_NUMBER => match opt.data_u32() {
                None => Verdict::Reject,
                Some(v) if v == 0 || (self.send_magic && v == self.magic) => {
                    // Section 6.4: zero is always Nak'd; our own number means a
                    // possible loop: Nak with a different value and pick a new one.
                    if v != 0 {
                        self.loops = self.loops.saturating_add(1);
                        self.magic = rng.next_nonzero_u32();
                    }
                    let mut other = rng.next_nonzero_u32();
                    if other == self.magic {
                        other = other.wrapping_add(1).max(1);
                    }
                    nak.opt(opt.kind, &other.to_be_bytes());
                    Verdict::Nak
                }
                Some(v) => {
                    self.peer_magic = v;
                    Verdict::Ack
                }
            },
            // RFC 2516 section 7: PFC and ACFC must not be used over PPPoE; ACCM,
            // Quality-Protocol and unknown options are not supported.
            _ => Verdict::Reject,
        }
    }

    fn nak_received(&mut self, opts: Options<'_>, rng: &mut Prng) {
        for opt in opts.flatten() {
            match LcpOption(opt.kind) {
                LcpOption::MRU => {
                    if let Some(v) = opt.data_u16() {
                        if (MIN_MRU..=self.config.mru).contains(&v) {
                            self.mru = v;
                        }
                    }
                }
                LcpOption::MAGIC_NUMBER => {
                    // Section 6.4: a Nak'd Magic-Number means choose a new one.
                    if opt.data_u32() == Some(self.magic) {
                        self.loops = self.loops.saturating_add(1);
                    }
                    self.magic = rng.next_nonzero_u32();
                }
                LcpOption::AUTH_PROTOCOL
                    if self.config.auth_fallback && self.auth != AuthProto::None =>
                {
                    if let Some(p) = AuthProto::from_option(&opt) {
                        self.auth = p;
                    }
                }
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, opts: Options<'_>) {
        for opt in opts.flatten() {
            match LcpOption(opt.kind) {
                LcpOption::MRU => self.send_mru = false,
                LcpOption::MAGIC_NUMBER => self.send_magic = false,
                LcpOption::AUTH_PROTOCOL if self.auth != AuthProto::None => {
                    self.auth_refused = true;
                }
                _ => {}
            }
        }
    }

    fn reset(&mut self) {
        self.mru = self.config.mru;
        self.auth = self.config.require_auth;
        self.send_mru = true;
        self.send_magic = true;
        self.auth_refused = false;
    }

    fn peer_reset(&mut self) {
        self.peer_mru = 1500;
        self.peer_magic = 0;
        self.peer_auth = AuthProto::None;
    }
}
