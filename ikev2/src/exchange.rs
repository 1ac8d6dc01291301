//! Sans-IO IKE SA machines for both roles (STYLE.md section 7): IKE_SA_INIT with
//! proposal selection, INVALID_KE_PAYLOAD, NAT detection and stateless COOKIEs
//! (RFC 7296 sections 1.2, 2.6, 2.23), IKE_AUTH with a pre-shared key (section
//! 2.15) creating one Child SA whose keys and selectors leave as plain data
//! (section 2.17), retransmission timers and the message-ID window (sections 2.1,
//! 2.3, 2.4), liveness checks and Delete in INFORMATIONAL exchanges (section 1.4).
//!
//! CREATE_CHILD_SA creates and rekeys Child SAs in both directions, with or without
//! PFS (sections 1.3.1, 1.3.3), and rekeys the IKE SA in both directions (section
//! 1.3.2). IKE fragmentation (RFC 7383) with [`Options`] and [`Reassembly`];
//! certificate authentication (RFC 7427) through the caller's [`Signer`] and
//! [`Verifier`]; EAP (section 2.16) passed through to the caller. Not yet: window
//! sizes above 1.
//!
//! The machine never reads a clock or an RNG of its own: `now` is a `Duration`
//! since the caller's epoch, and SPIs, nonces, key pairs and IVs come from the
//! caller's `CryptoRng`.

use core::net::SocketAddr;
use core::time::Duration;

use hmac::{Hmac, Mac as _};
use rand_core::{CryptoRng, RngCore};
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;

use crate::crypto::{
    EphemeralKey, HmacIntegrity, HmacPrf, IkeKeys, KeyExchange as _, KeyLengths, MAX_PUBLIC_LEN,
    MAX_SHARED_LEN, Prf as _, Secret, derive_child_keys, derive_ike_keys, skeyseed,
};
use crate::error::{CryptoError, ProtocolError, UsageError};
use crate::header::{Flags, HeaderRepr, Packet};
use crate::message::Repr;
use crate::payload::{
    AddrRange, Auth, Cert, ConfigAttribute, ConfigList, Cp, Delete, Id, Ke, Notify, Payload,
    PayloadList, Payloads, SelectorList, TrafficSelector, Ts,
};
use crate::sa::{ProposalList, ProposalRepr, Proposals, Sa, TransformRepr};
use crate::sk::{SkSuite, open, open_fragment, seal, seal_fragment};
use crate::types::{
    AuthMethod, CertEncoding, CfgType, ConfigAttr, DhGroup, EncrId, EsnId, ExchangeType, IdType,
    IntegId, NotifyType, PayloadType, PrfId, ProtocolId, TransformType,
};

/// Largest IKE message this machine builds or accepts.
pub const MAX_MESSAGE: usize = 2048;
/// Our nonce length (section 2.10: at least half the PRF key size, at least 16).
pub const NONCE_LEN: usize = 32;
const MAX_NONCE: usize = 256;
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";
const EVENTS: usize = 4;

/// An IKE SA transform set (section 3.3.2): what we propose or accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// ENCR: `AES_GCM_16` or `AES_CBC`.
    pub encr: EncrId,
    /// AES key length in bits.
    pub key_bits: u16,
    /// PRF.
    pub prf: PrfId,
    /// INTEG (`NONE` with AES-GCM).
    pub integ: IntegId,
    /// Key exchange group.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// aes128gcm16-prfsha256-x25519.
    pub const AES128GCM_SHA256_X25519: Self = Self {
        encr: EncrId::AES_GCM_16,
        key_bits: 128,
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::NONE,
        dh: DhGroup::CURVE25519,
    };
    /// aes256-sha256-ecp384.
    pub const AES256_SHA256_ECP384: Self = Self {
        encr: EncrId::AES_CBC,
        key_bits: 256,
        prf: PrfId::HMAC_SHA2_256,
        integ: IntegId::HMAC_SHA2_256_128,
        dh: DhGroup::ECP384,
    };

    const fn sk(&self) -> SkSuite {
        SkSuite {
            encr: self.encr,
            key_bits: self.key_bits,
            integ: self.integ,
        }
    }

    fn transforms(&self) -> ([TransformRepr; 4], usize) {
        let t = [
            transform(TransformType::ENCR, self.encr.0, Some(self.key_bits)),
            transform(TransformType::PRF, self.prf.0, None),
            transform(TransformType::DH, self.dh.0, None),
            transform(TransformType::INTEG, self.integ.0, None),
        ];
        (t, if self.encr.is_aead() { 3 } else { 4 })
    }
}

/// A Child SA (ESP) transform set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildSuite {
    /// ENCR: `AES_GCM_16` or `AES_CBC`.
    pub encr: EncrId,
    /// AES key length in bits.
    pub key_bits: u16,
    /// INTEG (`NONE` with AES-GCM).
    pub integ: IntegId,
    /// Extended sequence numbers.
    pub esn: EsnId,
}

impl ChildSuite {
    /// ESP aes128gcm16, no ESN.
    pub const AES128GCM: Self = Self {
        encr: EncrId::AES_GCM_16,
        key_bits: 128,
        integ: IntegId::NONE,
        esn: EsnId::NO,
    };
    /// ESP aes256-sha256, no ESN.
    pub const AES256_SHA256: Self = Self {
        encr: EncrId::AES_CBC,
        key_bits: 256,
        integ: IntegId::HMAC_SHA2_256_128,
        esn: EsnId::NO,
    };

    /// ESP encryption key length: AES key plus a 4-byte salt for GCM (RFC 4106
    /// section 8.1).
    #[must_use]
    pub fn encr_key_len(&self) -> usize {
        usize::from(self.key_bits / 8) + if self.encr.is_aead() { 4 } else { 0 }
    }

    /// ESP integrity key length.
    #[must_use]
    pub fn integ_key_len(&self) -> usize {
        HmacIntegrity::new(self.integ).map_or(0, |i| crate::crypto::Integrity::key_len(&i))
    }

    fn transforms(self) -> ([TransformRepr; 3], usize) {
        let t = [
            transform(TransformType::ENCR, self.encr.0, Some(self.key_bits)),
            transform(TransformType::ESN, self.esn.0, None),
            transform(TransformType::INTEG, self.integ.0, None),
        ];
        (t, if self.encr.is_aead() { 2 } else { 3 })
    }
}

/// An identity (section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// ID Type.
    pub id_type: IdType,
    /// Identification Data.
    pub data: &'a [u8],
}

/// Configuration shared by SAs (borrowed by each machine).
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// IKE suites in preference order (at most 8 are proposed).
    pub ike_suites: &'a [IkeSuite],
    /// Child SA suites in preference order (at most 8 are proposed).
    pub child_suites: &'a [ChildSuite],
    /// The pre-shared key (section 2.15).
    pub psk: &'a [u8],
    /// Our identity.
    pub local_id: Identity<'a>,
    /// The peer identity we require, if any.
    pub remote_id: Option<Identity<'a>>,
    /// Initiator-side traffic selector (initiator: proposed; responder: allowed).
    pub ts_i: TrafficSelector,
    /// Responder-side traffic selector.
    pub ts_r: TrafficSelector,
    /// First retransmission timeout (doubles each time, section 2.4).
    pub retransmit: Duration,
    /// Retransmissions before giving up.
    pub max_retransmits: u8,
}

impl Config<'_> {
    fn check(&self) -> Result<(), UsageError> {
        if self.ike_suites.is_empty() || self.child_suites.is_empty() {
            return Err(UsageError::InvalidConfig("no suites"));
        }
        for s in self.ike_suites {
            if s.sk().check().is_err()
                || HmacPrf::new(s.prf).is_err()
                || !EphemeralKey::supports(s.dh)
            {
                return Err(UsageError::InvalidConfig("unsupported IKE suite"));
            }
        }
        if self.psk.is_empty() {
            return Err(UsageError::InvalidConfig("empty PSK"));
        }
        Ok(())
    }
}

/// The keys of one direction of a Child SA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectionKeys {
    /// Encryption key, plus the 4-byte salt for AES-GCM (RFC 4106 section 8.1).
    pub encr: Secret,
    /// Integrity key (empty for AES-GCM).
    pub integ: Secret,
}

/// A negotiated Child SA pair, as plain data for the ESP implementation, from this
/// end's point of view (RFC 7296 section 2.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSa {
    /// The SPI we chose: the peer sends ESP to us with it.
    pub inbound_spi: [u8; 4],
    /// The SPI the peer chose: we send ESP with it.
    pub outbound_spi: [u8; 4],
    /// The negotiated transforms.
    pub suite: ChildSuite,
    /// Keys for ESP we receive.
    pub inbound: DirectionKeys,
    /// Keys for ESP we send.
    pub outbound: DirectionKeys,
    /// Our selector (narrowed, section 2.9).
    pub local_ts: TrafficSelector,
    /// The peer's selector (narrowed).
    pub remote_ts: TrafficSelector,
    /// For a rekey (section 1.3.3): the SPI of the REKEY_SA notify, which is the
    /// rekey initiator's inbound SPI of the replaced Child SA (ours if we started the
    /// rekey, else our outbound one).
    pub replaces: Option<[u8; 4]>,
}

/// What the caller must do next (from [`IkeSa::poll_action`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "Child SA keys travel by value through a fixed queue; no heap"
)]
pub enum Action {
    /// Send the first `len` bytes of `tx` to the peer (UDP 500, or 4500 with a
    /// non-ESP marker once NAT is detected).
    Send {
        /// Datagram length.
        len: usize,
    },
    /// The IKE SA is authenticated (section 1.2).
    IkeSaEstablished {
        /// Initiator's SPI.
        spi_i: [u8; 8],
        /// Responder's SPI.
        spi_r: [u8; 8],
        /// The peer is behind a NAT (its NAT_DETECTION_SOURCE_IP did not match).
        peer_behind_nat: bool,
        /// We are behind a NAT (the peer's NAT_DETECTION_DESTINATION_IP did not match).
        local_behind_nat: bool,
    },
    /// A Child SA is ready for the data plane.
    ChildSa(ChildSa),
    /// Our CREATE_CHILD_SA request was refused with this error notify (the IKE SA
    /// stays up).
    ChildSaRefused(NotifyType),
    /// The peer rekeyed this IKE SA (section 1.3.2): take the new SA with
    /// [`IkeSa::take_rekeyed`] and route these SPIs to it; this one ends when the
    /// peer deletes it.
    IkeSaRekeyed {
        /// The new SA's initiator SPI.
        spi_i: [u8; 8],
        /// The new SA's responder SPI.
        spi_r: [u8; 8],
    },
    /// EAP (RFC 7296 section 2.16): an EAP message from the peer waits in
    /// [`IkeSa::eap_message`] (empty on a responder: send the first EAP request).
    /// Answer with [`IkeSa::eap_reply`]; an initiator that received EAP-Success
    /// calls [`IkeSa::set_msk`] and [`IkeSa::eap_complete`] instead.
    Eap,
    /// The IKE SA was deleted (by us or the peer); drop the machine.
    Closed,
    /// The exchange failed; drop the machine.
    Failed(ProtocolError),
}

/// The role of this end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The original initiator.
    Initiator,
    /// The original responder.
    Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Initiator: IKE_AUTH sent. Responder: IKE_SA_INIT answered.
    AuthPending,
    /// Established.
    Established,
    /// Initiator of a Delete: waiting for the answer.
    Deleting,
    /// Over.
    Dead,
}

#[derive(Debug, Clone, Copy)]
struct Buf<const N: usize> {
    b: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    const fn new() -> Self {
        Self { b: [0; N], len: 0 }
    }
    fn set(&mut self, s: &[u8]) -> Result<(), ProtocolError> {
        self.b
            .get_mut(..s.len())
            .ok_or(ProtocolError::PeerMisbehaved("message too large"))?
            .copy_from_slice(s);
        self.len = s.len();
        Ok(())
    }
    fn get(&self) -> &[u8] {
        self.b.get(..self.len).unwrap_or_default()
    }
}

/// Signature creation for certificate authentication (RFC 7427, RFC 7296 section
/// 2.15), done by the caller: the machine computes the octets to be signed, the
/// caller's key (software, HSM, `ring`, RustCrypto) signs them.
pub trait Signer {
    /// The DER `AlgorithmIdentifier` of the signatures made (RFC 7427 section 3 and
    /// appendix A, e.g. ecdsa-with-SHA256 `30 0a 06 08 2a 86 48 ce 3d 04 03 02`), at
    /// most 255 bytes.
    fn algorithm(&self) -> &[u8];
    /// The end-entity certificate (DER) sent in a CERT payload of encoding
    /// X.509 Certificate - Signature (RFC 7296 section 3.6); empty for none.
    fn certificate(&self) -> &[u8];
    /// Signs the concatenation of `octets`; writes the signature to `out` and
    /// returns its length.
    ///
    /// # Errors
    /// [`CryptoError`] when the signature cannot be made.
    fn sign(&self, octets: &[&[u8]], out: &mut [u8]) -> Result<usize, CryptoError>;
    /// The `index`-th certificate (DER) sent after [`Signer::certificate`] in a
    /// further CERT payload (X.509 Certificate - Signature), e.g. the intermediate
    /// CAs from the end entity up (RFC 7296 section 3.6: "the first certificate
    /// provided MUST contain the public key used to verify the AUTH field"); empty
    /// ends the list. At most [`MAX_CHAIN`] are sent. Default: none.
    fn intermediate(&self, index: usize) -> &[u8] {
        let _ = index;
        &[]
    }
    /// The signer to use instead of this one for a peer that sent a CERTREQ
    /// (RFC 7296 section 3.7) of encoding X.509 Certificate - Signature whose
    /// Certification Authority field is `authorities` (concatenated 20-byte SHA-1
    /// hashes of trusted CAs' `SubjectPublicKeyInfo`), e.g. the key whose chain
    /// ends at one of those CAs; `None` keeps this one. Asked once per IKE SA,
    /// before our AUTH is made. Default: `None`.
    fn select(&self, authorities: &[u8]) -> Option<&dyn Signer> {
        let _ = authorities;
        None
    }
}

/// Most CERT payloads after the end-entity certificate that we send
/// ([`Signer::intermediate`]).
pub const MAX_CHAIN: usize = 4;
/// Most CERT payloads of one peer message handed to [`Verifier::verify_chain`];
/// further ones are ignored.
pub const MAX_PEER_CERTS: usize = 8;

/// Signature verification for certificate authentication, done by the caller,
/// including the certificate path validation and the binding of the certificate to
/// the peer's identity (RFC 7296 sections 2.15 and 3.6, RFC 7427).
pub trait Verifier {
    /// Is `signature`, made with the DER `algorithm`, a valid signature of the
    /// concatenation of `octets` by the key of `certificate` (the peer's first CERT
    /// payload, if any), and is that certificate valid for `peer`?
    fn verify(
        &self,
        peer: Identity<'_>,
        certificate: Option<&[u8]>,
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool;
    /// [`Verifier::verify`] with all the peer's CERT payloads of the message, in
    /// the order received (at most [`MAX_PEER_CERTS`]): the end-entity certificate
    /// first, then e.g. intermediate CAs to build the path from. Default: `verify`
    /// with the first one.
    fn verify_chain(
        &self,
        peer: Identity<'_>,
        certificates: &[&[u8]],
        algorithm: &[u8],
        octets: &[&[u8]],
        signature: &[u8],
    ) -> bool {
        self.verify(
            peer,
            certificates.first().copied(),
            algorithm,
            octets,
            signature,
        )
    }
    /// The Certification Authority field of the CERTREQ we send (RFC 7296 section
    /// 3.7, encoding X.509 Certificate - Signature): the concatenated 20-byte SHA-1
    /// hashes of our trust anchors' `SubjectPublicKeyInfo`, sent in the responder's
    /// IKE_SA_INIT response and the initiator's IKE_AUTH request; empty (the
    /// default) sends no CERTREQ.
    fn authorities(&self) -> &[u8] {
        &[]
    }
}

/// Certificate authentication for one SA: our signer and the peer's verifier.
#[derive(Clone, Copy)]
pub struct CertAuth<'c> {
    /// Makes our AUTH payload.
    pub signer: &'c dyn Signer,
    /// Checks the peer's.
    pub verifier: &'c dyn Verifier,
}

impl core::fmt::Debug for CertAuth<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CertAuth").finish_non_exhaustive()
    }
}

/// Where an EAP authentication (RFC 7296 section 2.16) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EapStage {
    /// Responder: no EAP message sent yet. Initiator: IKE_AUTH without AUTH sent.
    Start,
    /// EAP messages going back and forth.
    Running,
    /// EAP-Success sent (responder) or our MSK AUTH sent (initiator).
    Success,
}

/// EAP state of one IKE SA.
struct Eap {
    stage: EapStage,
    /// The last EAP message from the peer.
    inbox: Buf<MAX_MESSAGE>,
    /// Responder: the request ID whose response waits for the caller's EAP message.
    owed: Option<u32>,
    /// The Master Session Key of the EAP method (caller-supplied).
    msk: Option<crate::crypto::Secret>,
    /// The peer's RestOfIDPayload, for the MSK AUTH at the end.
    peer_id: Buf<260>,
    /// Responder: the initiator's SA payload body and selectors from the first
    /// IKE_AUTH request, answered at the end.
    sa: Buf<512>,
    tsi: Option<TrafficSelector>,
    tsr: Option<TrafficSelector>,
    cp_request: bool,
}

impl Eap {
    const fn new() -> Self {
        Self {
            stage: EapStage::Start,
            inbox: Buf::new(),
            owed: None,
            msk: None,
            peer_id: Buf::new(),
            sa: Buf::new(),
            tsi: None,
            tsr: None,
            cp_request: false,
        }
    }
}

/// Largest signature a [`Signer`] may return (RSA-8192).
pub const MAX_SIGNATURE: usize = 1024;
const AUTH_BUF: usize = 1 + 255 + MAX_SIGNATURE;

/// Most fragments of one message, sent or reassembled (RFC 7383 section 2.5).
pub const MAX_FRAGMENTS: usize = 16;
/// Smallest fragment size [`Options::fragment_len`] accepts.
pub const MIN_FRAGMENT_LEN: u16 = 256;
/// Bytes kept for all fragments of one outgoing message.
const OUT_CAP: usize = 4096;

/// Per-SA options beyond [`Config`]. `Default` is: no fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Options {
    /// IKE fragmentation (RFC 7383): announce IKEV2_FRAGMENTATION_SUPPORTED in
    /// IKE_SA_INIT and, when the peer does too, send every SK message longer than
    /// this many bytes (IKE header to ICV, without the UDP 4500 non-ESP marker) as
    /// Encrypted Fragment messages of at most this size. At least
    /// [`MIN_FRAGMENT_LEN`]; [`fragment_len_for_mtu`] computes it from a path MTU.
    pub fragment_len: Option<u16>,
    /// Announce SIGNATURE_HASH_ALGORITHMS (SHA2-256/384/512) in IKE_SA_INIT (RFC
    /// 7427 section 4), so that a peer such as strongSwan signs with the Digital
    /// Signature method; set it on an initiator that uses [`CertAuth`] (a responder
    /// with [`CertAuth`] announces it anyway).
    pub signature_hash_algorithms: bool,
}

impl Options {
    /// These options with IKE fragmentation at `fragment_len` bytes per message.
    #[must_use]
    pub const fn with_fragmentation(mut self, fragment_len: u16) -> Self {
        self.fragment_len = Some(fragment_len);
        self
    }

    /// These options with SIGNATURE_HASH_ALGORITHMS announced (RFC 7427 section 4).
    #[must_use]
    pub const fn with_signature_auth(mut self) -> Self {
        self.signature_hash_algorithms = true;
        self
    }

    fn check(self) -> Result<(), UsageError> {
        match self.fragment_len {
            Some(n) if n < MIN_FRAGMENT_LEN => {
                Err(UsageError::InvalidConfig("fragment length below 256"))
            }
            _ => Ok(()),
        }
    }
}

/// The largest IKE message for a path MTU (RFC 7383 section 2.5.1): the MTU less
/// the IPv4 (20) or IPv6 (40) header, the UDP header (8) and the non-ESP marker (4,
/// always reserved so the value holds after a move to port 4500).
#[must_use]
pub const fn fragment_len_for_mtu(mtu: u16, ipv6: bool) -> u16 {
    mtu.saturating_sub(if ipv6 { 40 } else { 20 } + 8 + 4)
}

/// An outgoing message kept for retransmission: one datagram, or every fragment of
/// a fragmented one (RFC 7383 section 2.5: a retransmission resends them all).
#[derive(Clone, Copy)]
struct Out {
    buf: [u8; OUT_CAP],
    lens: [u16; MAX_FRAGMENTS],
    count: usize,
    used: usize,
    cursor: usize,
    pending: bool,
}

impl Out {
    const fn new() -> Self {
        Self {
            buf: [0; OUT_CAP],
            lens: [0; MAX_FRAGMENTS],
            count: 0,
            used: 0,
            cursor: 0,
            pending: false,
        }
    }

    const fn clear(&mut self) {
        self.count = 0;
        self.used = 0;
        self.cursor = 0;
        self.pending = false;
    }

    const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Free space for the next datagram.
    fn slot(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.used..).unwrap_or_default()
    }

    /// Keeps the `n` bytes just written at [`Out::slot`].
    fn commit(&mut self, n: usize) -> Result<(), ProtocolError> {
        let len = u16::try_from(n).map_err(|_| CryptoError::BufferTooSmall)?;
        let l = self
            .lens
            .get_mut(self.count)
            .ok_or(ProtocolError::Crypto(CryptoError::BufferTooSmall))?;
        *l = len;
        self.count += 1;
        self.used += n;
        Ok(())
    }

    /// One datagram to send, replacing what was kept.
    fn set(&mut self, m: &[u8]) -> Result<(), ProtocolError> {
        self.clear();
        self.slot()
            .get_mut(..m.len())
            .ok_or(ProtocolError::PeerMisbehaved("message too large"))?
            .copy_from_slice(m);
        self.commit(m.len())?;
        self.start();
        Ok(())
    }

    /// (Re)send every datagram from the first.
    const fn start(&mut self) {
        if self.count > 0 {
            self.pending = true;
            self.cursor = 0;
        }
    }

    /// Copies the next datagram into `tx`.
    fn next(&mut self, tx: &mut [u8]) -> Option<usize> {
        if !self.pending {
            return None;
        }
        let start: usize = self
            .lens
            .get(..self.cursor)?
            .iter()
            .map(|l| usize::from(*l))
            .sum();
        let len = usize::from(*self.lens.get(self.cursor)?);
        let m = self.buf.get(start..start + len)?;
        tx.get_mut(..len)?.copy_from_slice(m);
        self.cursor += 1;
        if self.cursor >= self.count {
            self.pending = false;
        }
        Some(len)
    }
}

/// Caller-owned storage for reassembling fragmented messages (RFC 7383 section
/// 2.6), passed to [`IkeSa::handle_packet_with`]. Bounded three ways: at most
/// `max_fragments` fragments per message, at most half the buffer per message (one
/// half for requests, one for responses: with a window of one, at most one of each
/// is in flight), and one message per direction: a fragment of another message ID
/// starts over. Only fragments whose integrity checked are stored; duplicates are
/// ignored; a fragment with more Total Fragments than those stored (the sender
/// fragmented again, smaller) restarts the message, one with fewer is dropped.
pub struct Reassembly<'b> {
    buf: &'b mut [u8],
    slots: [Slot; 2],
    max_fragments: u16,
}

impl core::fmt::Debug for Reassembly<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembly")
            .field("capacity", &self.buf.len())
            .field("max_fragments", &self.max_fragments)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    active: bool,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    message_id: u32,
    exchange: ExchangeType,
    total: u16,
    first: PayloadType,
    have: u32,
    off: [usize; MAX_FRAGMENTS],
    len: [usize; MAX_FRAGMENTS],
    used: usize,
}

impl<'b> Reassembly<'b> {
    /// Storage over `buf` (half per direction), up to [`MAX_FRAGMENTS`] fragments
    /// per message. An empty `buf` drops every fragment.
    #[must_use]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            slots: [Slot::default(); 2],
            max_fragments: 16,
        }
    }

    /// Lowers the per-message fragment cap (at most [`MAX_FRAGMENTS`]).
    #[must_use]
    pub fn with_max_fragments(mut self, n: u16) -> Self {
        self.max_fragments = n.min(16);
        self
    }

    /// Forgets every partial message (e.g. when the SA is rekeyed or closed).
    pub fn clear(&mut self) {
        self.slots = [Slot::default(); 2];
    }

    /// Number of fragments held for the message in progress in each direction
    /// (requests, responses).
    #[must_use]
    pub const fn held(&self) -> (u32, u32) {
        (
            self.slots[0].have.count_ones(),
            self.slots[1].have.count_ones(),
        )
    }

    /// Keeps one verified, decrypted fragment; returns the whole inner payload
    /// chain once every fragment is there (section 2.6).
    fn add(
        &mut self,
        response: bool,
        hdr: &HeaderRepr,
        number: u16,
        total: u16,
        first: PayloadType,
        chunk: &[u8],
    ) -> Result<Option<Inner<'_>>, ProtocolError> {
        if total > self.max_fragments || number == 0 || number > total {
            return Err(ProtocolError::PeerMisbehaved("too many fragments"));
        }
        let half = self.buf.len() / 2;
        let (req, resp) = self.buf.split_at_mut(half);
        let (region, slot) = if response {
            (resp, &mut self.slots[1])
        } else {
            (req, &mut self.slots[0])
        };
        let same = slot.active
            && slot.message_id == hdr.message_id
            && slot.spi_i == hdr.spi_i
            && slot.spi_r == hdr.spi_r
            && slot.exchange == hdr.exchange;
        if same && total < slot.total {
            return Err(ProtocolError::PeerMisbehaved("fewer Total Fragments"));
        }
        if !same || total > slot.total {
            *slot = Slot {
                active: true,
                spi_i: hdr.spi_i,
                spi_r: hdr.spi_r,
                message_id: hdr.message_id,
                exchange: hdr.exchange,
                total,
                ..Slot::default()
            };
        }
        let k = usize::from(number - 1);
        let bit = 1u32 << k;
        if slot.have & bit != 0 {
            return Ok(None);
        }
        let end = slot.used.saturating_add(chunk.len());
        let Some(dst) = region.get_mut(slot.used..end) else {
            *slot = Slot::default();
            return Err(ProtocolError::PeerMisbehaved(
                "reassembled message too large",
            ));
        };
        dst.copy_from_slice(chunk);
        if let (Some(o), Some(l)) = (slot.off.get_mut(k), slot.len.get_mut(k)) {
            *o = slot.used;
            *l = chunk.len();
        }
        slot.used = end;
        slot.have |= bit;
        if number == 1 {
            slot.first = first;
        }
        if slot.have != (1u32 << total) - 1 {
            return Ok(None);
        }
        // Put the chunks, stored in arrival order, in fragment order, in place.
        let n = usize::from(total);
        let mut pos = 0;
        for k in 0..n {
            let (o, l) = (
                slot.off.get(k).copied().unwrap_or_default(),
                slot.len.get(k).copied().unwrap_or_default(),
            );
            if o != pos {
                region
                    .get_mut(pos..o + l)
                    .ok_or(ProtocolError::Unexpected)?
                    .rotate_right(l);
                for off in slot.off.iter_mut().take(n) {
                    if (pos..o).contains(off) {
                        *off += l;
                    }
                }
                if let Some(off) = slot.off.get_mut(k) {
                    *off = pos;
                }
            }
            pos += l;
        }
        let first = slot.first;
        *slot = Slot::default();
        Ok(Some(Inner {
            first,
            bytes: region.get(..pos).unwrap_or_default(),
        }))
    }
}

/// One IKE SA, either role.
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent flags: two send queues and the two NAT detection results"
)]
pub struct IkeSa<'c> {
    cfg: &'c Config<'c>,
    role: Role,
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    suite: IkeSuite,
    child_suite: ChildSuite,
    ke: Option<EphemeralKey>,
    ni: Buf<MAX_NONCE>,
    nr: Buf<MAX_NONCE>,
    cookie: Buf<64>,
    keys: IkeKeys,
    /// RealMessage1 and RealMessage2 (section 2.15).
    msg1: Buf<MAX_MESSAGE>,
    msg2: Buf<MAX_MESSAGE>,
    /// Our outstanding request, kept for retransmission (section 2.1).
    req_out: Out,
    /// Our last response, repeated when the request comes again (section 2.1);
    /// separate from `req_out` since both ends may have a request outstanding.
    resp_out: Out,
    /// RFC 7383: our fragment size, if we offer fragmentation; whether both do.
    frag_len: Option<u16>,
    frag_on: bool,
    /// RFC 7427 section 4: announce SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT.
    sig_hashes: bool,
    /// RFC 7427 digital signatures instead of the PSK, both ways.
    cert: Option<CertAuth<'c>>,
    /// EAP (section 2.16) for the initiator's authentication.
    eap: Option<Eap>,
    /// Initiator role for requests: next message ID to use; awaiting its response.
    next_request_id: u32,
    awaiting: Option<u32>,
    /// Responder role for requests: next expected message ID.
    expected_request_id: u32,
    retransmit_at: Option<Duration>,
    retransmits: u8,
    child_spi: [u8; 4],
    nat_peer: bool,
    nat_local: bool,
    pending_child: Option<PendingChild>,
    pending_rekey: Option<PendingIkeRekey>,
    rekeyed: Option<Rekeyed>,
    virtual_ip: Option<[u8; 4]>,
    dns: [[u8; 4]; 2],
    dns_len: usize,
    events: heapless::Deque<Action, EVENTS>,
}

/// The new IKE SA of a rekey, until the caller takes it.
#[derive(Debug, Clone)]
struct Rekeyed {
    role: Role,
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    suite: IkeSuite,
    keys: IkeKeys,
}

/// Our side of an outstanding IKE SA rekey request.
struct PendingIkeRekey {
    nonce: [u8; NONCE_LEN],
    spi_i: [u8; 8],
    key: EphemeralKey,
}

/// Our side of an outstanding CREATE_CHILD_SA request.
#[derive(Debug)]
struct PendingChild {
    nonce: [u8; NONCE_LEN],
    spi: [u8; 4],
    replaces: Option<[u8; 4]>,
    /// With PFS: our key pair (section 1.3.1).
    key: Option<EphemeralKey>,
}

impl core::fmt::Debug for IkeSa<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeSa")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("spi_i", &self.spi_i)
            .field("spi_r", &self.spi_r)
            .finish_non_exhaustive()
    }
}

fn nat_hash(spi_i: [u8; 8], spi_r: [u8; 8], addr: SocketAddr) -> [u8; 20] {
    // Section 2.23: SHA-1(SPIi | SPIr | IP | Port).
    let mut h = Sha1::new();
    h.update(spi_i);
    h.update(spi_r);
    match addr {
        SocketAddr::V4(a) => h.update(a.ip().octets()),
        SocketAddr::V6(a) => h.update(a.ip().octets()),
    }
    h.update(addr.port().to_be_bytes());
    h.finalize().into()
}

fn random<const N: usize, R: RngCore + CryptoRng>(rng: &mut R) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

/// Intersection of two selectors (section 2.9 narrowing), if not empty.
#[must_use]
pub fn narrow(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    if start_port > end_port {
        return None;
    }
    let range = match (a.range, b.range) {
        (AddrRange::V4 { start: s1, end: e1 }, AddrRange::V4 { start: s2, end: e2 }) => {
            let (start, end) = (s1.max(s2), e1.min(e2));
            (start <= end).then_some(AddrRange::V4 { start, end })?
        }
        (AddrRange::V6 { start: s1, end: e1 }, AddrRange::V6 { start: s2, end: e2 }) => {
            let (start, end) = (s1.max(s2), e1.min(e2));
            (start <= end).then_some(AddrRange::V6 { start, end })?
        }
        _ => return None,
    };
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        range,
    })
}

/// The peer's proposals checked against our suites (section 2.7): the first of our
/// suites (in preference order) that one of the peer's proposals contains.
fn select_ike(ours: &[IkeSuite], sa_body: &[u8]) -> Result<(u8, IkeSuite), ProtocolError> {
    for s in ours {
        for prop in Proposals::new(sa_body) {
            let prop = prop?;
            if prop.protocol != ProtocolId::IKE {
                continue;
            }
            let (mut encr, mut prf, mut dh) = (false, false, false);
            let mut integ = s.integ == IntegId::NONE;
            for t in prop.transforms() {
                let t = t?;
                match t.kind {
                    TransformType::ENCR => {
                        encr |= t.id == s.encr.0 && t.key_length() == Some(s.key_bits);
                    }
                    TransformType::PRF => prf |= t.id == s.prf.0,
                    TransformType::DH => dh |= t.id == s.dh.0,
                    TransformType::INTEG => integ |= t.id == s.integ.0,
                    _ => {}
                }
            }
            if encr && prf && dh && integ {
                return Ok((prop.num, *s));
            }
        }
    }
    Err(ProtocolError::NoProposalChosen)
}

/// The first of our Child SA suites that one of the peer's ESP proposals contains;
/// with `pfs`, the proposal must also list that key exchange group (section 1.3.1).
fn select_child(
    ours: &[ChildSuite],
    sa_body: &[u8],
    pfs: Option<DhGroup>,
) -> Result<(u8, ChildSuite, [u8; 4]), ProtocolError> {
    for s in ours {
        for prop in Proposals::new(sa_body) {
            let prop = prop?;
            let Ok(spi) = <[u8; 4]>::try_from(prop.spi) else {
                continue;
            };
            if prop.protocol != ProtocolId::ESP {
                continue;
            }
            let (mut encr, mut esn, mut integ) = (false, false, s.integ == IntegId::NONE);
            let mut dh = pfs.is_none();
            for t in prop.transforms() {
                let t = t?;
                match t.kind {
                    TransformType::ENCR => {
                        encr |= t.id == s.encr.0 && t.key_length() == Some(s.key_bits);
                    }
                    TransformType::ESN => esn |= t.id == s.esn.0,
                    TransformType::INTEG => integ |= t.id == s.integ.0,
                    TransformType::DH => dh |= pfs.is_some_and(|g| g.0 == t.id),
                    _ => {}
                }
            }
            if encr && esn && integ && dh {
                return Ok((prop.num, *s, spi));
            }
        }
    }
    Err(ProtocolError::NoProposalChosen)
}

/// The payloads of an IKE_SA_INIT message the machine needs.
#[derive(Default)]
struct InitPayloads<'a> {
    sa: Option<&'a [u8]>,
    ke: Option<Ke<'a>>,
    nonce: Option<&'a [u8]>,
    nat_src: Option<&'a [u8]>,
    nat_dst: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
    invalid_ke: Option<DhGroup>,
    error: Option<NotifyType>,
    /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 section 2.3).
    fragmentation: bool,
    /// The first CERTREQ of encoding X.509 Certificate - Signature (section 3.7).
    certreq: Option<&'a [u8]>,
}

fn collect_init<'a>(p: &Packet<&'a [u8]>) -> Result<InitPayloads<'a>, ProtocolError> {
    let mut out = InitPayloads::default();
    let bytes: &'a [u8] = p.into_inner().get(28..p.length()).unwrap_or_default();
    for raw in Payloads::new(p.next_payload(), bytes) {
        let raw = raw?;
        match Payload::parse(&raw)? {
            Payload::Sa(_) => out.sa = Some(raw.body),
            Payload::Ke(k) => out.ke = Some(k),
            Payload::Nonce(n) => out.nonce = Some(n),
            Payload::CertReq(c) if c.encoding == CertEncoding::X509_SIGNATURE => {
                out.certreq = out.certreq.or(Some(c.data));
            }
            Payload::Notify(n) => match n.notify_type {
                NotifyType::NAT_DETECTION_SOURCE_IP => out.nat_src = Some(n.data),
                NotifyType::NAT_DETECTION_DESTINATION_IP => out.nat_dst = Some(n.data),
                NotifyType::COOKIE => out.cookie = Some(n.data),
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED => out.fragmentation = true,
                NotifyType::INVALID_KE_PAYLOAD => {
                    let g = n.data.first_chunk::<2>().map(|g| u16::from_be_bytes(*g));
                    out.invalid_ke = g.map(DhGroup);
                }
                t if t.is_error() => out.error = Some(t),
                _ => {}
            },
            Payload::Other { critical: true, .. } => {
                return Err(ProtocolError::PeerMisbehaved(
                    "unsupported critical payload",
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Stateless front end of a responder: COOKIE handling (section 2.6) and the
/// refusals that must not create state (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN).
pub struct Responder<'c> {
    cfg: &'c Config<'c>,
    secret: [u8; 32],
    secret_version: u8,
    /// Half-open IKE SAs above which an IKE_SA_INIT without a valid cookie is
    /// answered with a COOKIE and no state (section 2.6).
    pub cookie_threshold: usize,
    /// Options of every SA this front end creates (fragmentation, RFC 7383: answered
    /// only when the initiator announces it too; a `fragment_len` below
    /// [`MIN_FRAGMENT_LEN`] counts as that minimum).
    pub options: Options,
    cert: Option<CertAuth<'c>>,
    eap: bool,
}

impl core::fmt::Debug for Responder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("cookie_threshold", &self.cookie_threshold)
            .finish_non_exhaustive()
    }
}

/// What [`Responder::handle_init`] decided.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the SA is moved once into the caller's table; no heap"
)]
pub enum InitOutcome<'c> {
    /// A stateless answer (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) is in
    /// `tx[..len]`; no state was created.
    Reply(usize),
    /// A new half-open SA; its IKE_SA_INIT response waits in `poll_action`.
    NewSa(IkeSa<'c>),
}

impl<'c> Responder<'c> {
    /// A responder with a fresh cookie secret from `rng`.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a configuration the crate cannot serve.
    pub fn new<R: RngCore + CryptoRng>(
        cfg: &'c Config<'c>,
        rng: &mut R,
    ) -> Result<Self, UsageError> {
        cfg.check()?;
        Ok(Self {
            cfg,
            secret: random(rng),
            secret_version: 0,
            cookie_threshold: 64,
            options: Options::default(),
            cert: None,
            eap: false,
        })
    }

    /// Offers EAP (section 2.16) to initiators that leave AUTH out of IKE_AUTH: the
    /// SAs this front end creates then raise [`Action::Eap`] and relay EAP
    /// messages between the initiator and the caller (e.g. a RADIUS server).
    pub const fn set_eap(&mut self) {
        self.eap = true;
    }

    /// Authenticates every SA this front end creates with digital signatures (RFC
    /// 7427, auth method 14) made and checked by the caller, instead of the PSK;
    /// a peer that uses another method fails authentication.
    pub const fn set_cert_auth(&mut self, cert: CertAuth<'c>) {
        self.cert = Some(cert);
    }

    /// Replaces the cookie secret (section 2.6: change it regularly).
    pub fn rotate_secret<R: RngCore + CryptoRng>(&mut self, rng: &mut R) {
        self.secret = random(rng);
        self.secret_version = self.secret_version.wrapping_add(1);
    }

    /// `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)` (section 2.6),
    /// with HMAC-SHA-256 keyed by the secret, truncated to 16 bytes.
    fn cookie(&self, ni: &[u8], ip: SocketAddr, spi_i: [u8; 8]) -> [u8; 17] {
        let mut out = [0u8; 17];
        if let Ok(mut m) = <Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.secret) {
            m.update(ni);
            match ip {
                SocketAddr::V4(a) => m.update(&a.ip().octets()),
                SocketAddr::V6(a) => m.update(&a.ip().octets()),
            }
            m.update(&spi_i);
            let tag = m.finalize().into_bytes();
            let (v, rest) = out.split_at_mut(1);
            if let (Some(v), Some(t)) = (v.first_mut(), tag.get(..16)) {
                *v = self.secret_version;
                rest.copy_from_slice(t);
            }
        }
        out
    }

    /// Handles an IKE_SA_INIT request from `remote` received on `local`.
    /// `half_open` is the caller's count of SAs not yet established.
    ///
    /// # Errors
    /// [`ProtocolError`] when the message is not a valid initial request (drop it).
    #[allow(
        clippy::too_many_arguments,
        clippy::too_many_lines,
        reason = "section 1.2 responder steps in order; the inputs are all distinct"
    )]
    pub fn handle_init<R: RngCore + CryptoRng>(
        &self,
        now: Duration,
        half_open: usize,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
        rng: &mut R,
        tx: &mut [u8],
    ) -> Result<InitOutcome<'c>, ProtocolError> {
        let p = Packet::new_checked(bytes)?;
        if p.exchange() != ExchangeType::IKE_SA_INIT
            || p.flags().response()
            || !p.flags().initiator()
            || p.message_id() != 0
            || p.spi_r() != [0; 8]
        {
            return Err(ProtocolError::Unexpected);
        }
        let ip = collect_init(&p)?;
        let (Some(sa), Some(ke), Some(ni)) = (ip.sa, ip.ke, ip.nonce) else {
            return Err(ProtocolError::PeerMisbehaved(
                "IKE_SA_INIT without SA, KE or Ni",
            ));
        };
        if !(16..=MAX_NONCE).contains(&ni.len()) {
            return Err(ProtocolError::PeerMisbehaved("nonce length"));
        }
        let spi_i = p.spi_i();
        let hdr = HeaderRepr {
            spi_i,
            spi_r: [0; 8],
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::RESPONSE,
            message_id: 0,
        };
        let reply = |t: NotifyType, data: &[u8], tx: &mut [u8]| {
            let pl = [notify(t, data)];
            Repr {
                header: hdr,
                payloads: PayloadList::List(&pl),
            }
            .emit(tx)
            .map_err(|_| ProtocolError::Crypto(CryptoError::BufferTooSmall))
        };
        if half_open >= self.cookie_threshold {
            let want = self.cookie(ni, remote, spi_i);
            let ok = ip
                .cookie
                .is_some_and(|c| c.len() == want.len() && bool::from(c.ct_eq(&want)));
            if !ok {
                return reply(NotifyType::COOKIE, &want, tx).map(InitOutcome::Reply);
            }
        }
        let Ok((num, suite)) = select_ike(self.cfg.ike_suites, sa) else {
            return reply(NotifyType::NO_PROPOSAL_CHOSEN, &[], tx).map(InitOutcome::Reply);
        };
        if ke.group != suite.dh {
            // Section 1.2: tell the initiator which group we want.
            return reply(
                NotifyType::INVALID_KE_PAYLOAD,
                &suite.dh.0.to_be_bytes(),
                tx,
            )
            .map(InitOutcome::Reply);
        }
        let mut sa_new = IkeSa::blank(self.cfg, Role::Responder, local, remote);
        sa_new.spi_i = spi_i;
        sa_new.spi_r = random(rng);
        sa_new.suite = suite;
        sa_new.ni.set(ni)?;
        sa_new.nr.set(&random::<NONCE_LEN, R>(rng))?;
        sa_new.msg1.set(p.as_bytes())?;
        sa_new.nat_check(ip.nat_src, ip.nat_dst);
        // RFC 7383 section 2.3: fragmentation only if both ends announce it.
        let frag_len = self.options.fragment_len.map(|f| f.max(MIN_FRAGMENT_LEN));
        sa_new.frag_len = frag_len;
        sa_new.frag_on = ip.fragmentation && frag_len.is_some();
        sa_new.cert = self.cert;
        if self.eap {
            sa_new.eap = Some(Eap::new());
        }
        let key = EphemeralKey::generate(suite.dh, rng)?;
        let mut shared = [0u8; MAX_SHARED_LEN];
        let n = key.agree(ke.data, &mut shared)?;
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let pn = key.public_key(&mut pubk)?;
        sa_new.derive(shared.get(..n).unwrap_or_default())?;
        zeroize::Zeroize::zeroize(&mut shared);
        // The response (section 1.2): SA, KE, Nr, NAT detection.
        let (t, tn) = suite.transforms();
        let props = [ProposalRepr {
            num,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: t.get(..tn).unwrap_or_default(),
        }];
        let src = nat_hash(sa_new.spi_i, sa_new.spi_r, local);
        let dst = nat_hash(sa_new.spi_i, sa_new.spi_r, remote);
        let (pl, n) = compact([
            Some(Payload::Sa(Sa {
                proposals: ProposalList::List(&props),
            })),
            Some(Payload::Ke(Ke {
                group: suite.dh,
                data: pubk.get(..pn).unwrap_or_default(),
            })),
            Some(Payload::Nonce(sa_new.nr.get())),
            Some(notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src)),
            Some(notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst)),
            sa_new.frag_on.then_some(FRAGMENTATION_SUPPORTED),
            (self.cert.is_some() || self.options.signature_hash_algorithms)
                .then_some(SIGNATURE_HASHES),
            // Section 1.2: `HDR, SAr1, KEr, Nr, [CERTREQ]`.
            self.cert.and_then(certreq),
        ]);
        let mut buf = [0u8; MAX_MESSAGE];
        let len = Repr {
            header: HeaderRepr {
                spi_r: sa_new.spi_r,
                ..hdr
            },
            payloads: PayloadList::List(pl.get(..n).unwrap_or_default()),
        }
        .emit(&mut buf)
        .map_err(|_| ProtocolError::Crypto(CryptoError::BufferTooSmall))?;
        let m2 = buf.get(..len).unwrap_or_default();
        sa_new.msg2.set(m2)?;
        sa_new.resp_out.set(m2)?;
        sa_new.expected_request_id = 1;
        sa_new.state = State::AuthPending;
        // A half-open SA that never completes times out (section 2.4).
        sa_new.retransmit_at = Some(now + self.cfg.retransmit * 32);
        Ok(InitOutcome::NewSa(sa_new))
    }
}

/// RFC 7427 section 4: SHA2-256, SHA2-384, SHA2-512 (IANA IKEv2 Hash Algorithms 2,
/// 3, 4).
const SIGNATURE_HASHES: Payload<'static> =
    notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, &[0, 2, 0, 3, 0, 4]);

/// RFC 7383 section 2.3: an empty status notify in IKE_SA_INIT.
const FRAGMENTATION_SUPPORTED: Payload<'static> =
    notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, &[]);

/// A Notify payload about no particular SA (RFC 7296 section 3.10: Protocol ID 0,
/// no SPI).
const fn notify(t: NotifyType, data: &[u8]) -> Payload<'_> {
    Payload::Notify(Notify {
        protocol: ProtocolId::NONE,
        notify_type: t,
        spi: &[],
        data,
    })
}

impl<'c> IkeSa<'c> {
    fn blank(cfg: &'c Config<'c>, role: Role, local: SocketAddr, remote: SocketAddr) -> Self {
        Self {
            cfg,
            role,
            state: State::InitSent,
            local,
            remote,
            spi_i: [0; 8],
            spi_r: [0; 8],
            suite: cfg
                .ike_suites
                .first()
                .copied()
                .unwrap_or(IkeSuite::AES128GCM_SHA256_X25519),
            child_suite: cfg
                .child_suites
                .first()
                .copied()
                .unwrap_or(ChildSuite::AES128GCM),
            ke: None,
            ni: Buf::new(),
            nr: Buf::new(),
            cookie: Buf::new(),
            keys: IkeKeys::default(),
            msg1: Buf::new(),
            msg2: Buf::new(),
            req_out: Out::new(),
            resp_out: Out::new(),
            frag_len: None,
            frag_on: false,
            sig_hashes: false,
            cert: None,
            eap: None,
            next_request_id: 0,
            awaiting: None,
            expected_request_id: 0,
            retransmit_at: None,
            retransmits: 0,
            child_spi: [0; 4],
            nat_peer: false,
            nat_local: false,
            pending_child: None,
            pending_rekey: None,
            rekeyed: None,
            virtual_ip: None,
            dns: [[0; 4]; 2],
            dns_len: 0,
            events: heapless::Deque::new(),
        }
    }

    /// Starts an IKE SA as initiator: the IKE_SA_INIT request waits in
    /// [`IkeSa::poll_action`].
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a configuration the crate cannot serve.
    pub fn initiate<R: RngCore + CryptoRng>(
        cfg: &'c Config<'c>,
        now: Duration,
        local: SocketAddr,
        remote: SocketAddr,
        rng: &mut R,
    ) -> Result<Self, UsageError> {
        Self::initiate_with(cfg, Options::default(), now, local, remote, rng)
    }

    /// [`IkeSa::initiate`] with [`Options`] (e.g. IKE fragmentation, RFC 7383).
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a configuration or options the crate cannot
    /// serve.
    pub fn initiate_with<R: RngCore + CryptoRng>(
        cfg: &'c Config<'c>,
        options: Options,
        now: Duration,
        local: SocketAddr,
        remote: SocketAddr,
        rng: &mut R,
    ) -> Result<Self, UsageError> {
        cfg.check()?;
        options.check()?;
        let mut s = Self::blank(cfg, Role::Initiator, local, remote);
        s.frag_len = options.fragment_len;
        s.sig_hashes = options.signature_hash_algorithms;
        s.spi_i = random(rng);
        let _ = s.ni.set(&random::<NONCE_LEN, R>(rng));
        let group = s.suite.dh;
        s.send_init(now, group, rng)
            .map_err(|_| UsageError::InvalidConfig("cannot build IKE_SA_INIT"))?;
        Ok(s)
    }

    /// The role of this end.
    #[must_use]
    pub const fn role(&self) -> Role {
        self.role
    }

    /// Is the IKE SA established?
    #[must_use]
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Our SPI (the one the peer puts in its messages for us).
    #[must_use]
    pub const fn spis(&self) -> ([u8; 8], [u8; 8]) {
        (self.spi_i, self.spi_r)
    }

    /// Sets the virtual IPv4 address (and up to two DNS servers) this responder
    /// hands to a remote-access initiator that sends a CFG_REQUEST in IKE_AUTH
    /// (sections 2.19, 3.15); call it before IKE_AUTH arrives. Without it such a
    /// request gets INTERNAL_ADDRESS_FAILURE (the IKE SA still comes up). The
    /// initiator's traffic selector is narrowed to the address.
    pub fn set_virtual_ip(&mut self, addr: core::net::Ipv4Addr, dns: &[core::net::Ipv4Addr]) {
        self.virtual_ip = Some(addr.octets());
        self.dns_len = 0;
        for (slot, d) in self.dns.iter_mut().zip(dns) {
            *slot = d.octets();
            self.dns_len += 1;
        }
    }

    /// Whether NAT detection (section 2.23) found a NAT on either side. Known once
    /// the IKE_SA_INIT exchange is done: from then on the driver sends on UDP 4500
    /// with the non-ESP marker (RFC 3948), and ESP goes UDP-encapsulated.
    #[must_use]
    pub const fn use_nat_t(&self) -> bool {
        self.nat_peer || self.nat_local
    }

    /// Authenticates with digital signatures (RFC 7427, auth method 14) made and
    /// checked by the caller, instead of the PSK. Call it before the IKE_SA_INIT
    /// response arrives (right after [`IkeSa::initiate_with`]); a peer that uses
    /// another method fails authentication.
    pub const fn set_cert_auth(&mut self, cert: CertAuth<'c>) {
        self.cert = Some(cert);
    }

    /// Initiator: authenticates with EAP (section 2.16) instead of an AUTH payload
    /// of its own; call it before the IKE_SA_INIT response arrives.
    pub fn set_eap(&mut self) {
        self.eap = Some(Eap::new());
    }

    /// The last EAP message from the peer (after [`Action::Eap`]).
    #[must_use]
    pub fn eap_message(&self) -> &[u8] {
        self.eap.as_ref().map_or(&[][..], |e| e.inbox.get())
    }

    /// The Master Session Key of the EAP method (section 2.16): the responder sets
    /// it before relaying EAP-Success, the initiator after receiving it. At most
    /// 64 bytes.
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] without EAP or for a longer key.
    pub fn set_msk(&mut self, msk: &[u8]) -> Result<(), ProtocolError> {
        let e = self.eap.as_mut().ok_or(ProtocolError::Unexpected)?;
        e.msk =
            Some(crate::crypto::Secret::from_slice(msk).map_err(|_| ProtocolError::Unexpected)?);
        Ok(())
    }

    /// Sends the caller's next EAP message (section 2.16). Responder: the answer
    /// to the initiator's last IKE_AUTH request (the first one also carries IDr and
    /// our AUTH); EAP-Success (code 3) needs [`IkeSa::set_msk`] first, EAP-Failure
    /// (code 4) ends the SA. Initiator: a new IKE_AUTH request.
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] when no EAP message is due.
    pub fn eap_reply<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        eap: &[u8],
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let stage = self
            .eap
            .as_ref()
            .map(|e| (e.stage, e.owed, e.msk.is_some()));
        let code = eap.first().copied();
        match (self.role, stage) {
            (Role::Responder, Some((stage, Some(rid), msk))) if stage != EapStage::Success => {
                if code == Some(3) && !msk {
                    return Err(ProtocolError::Unexpected);
                }
                let eapp = Payload::Eap(eap);
                if stage == EapStage::Start {
                    let lid = self.cfg.local_id;
                    let mut id_body = [0u8; 260];
                    let idn = id_body_bytes(lid, &mut id_body)?;
                    let mut our = [0u8; AUTH_BUF];
                    let (method, an) =
                        self.our_auth(false, id_body.get(..idn).unwrap_or_default(), &mut our)?;
                    // IDr, [CERT,] AUTH, EAP (section 2.16).
                    let [c0, c1, c2, c3, c4] = self.our_certs();
                    let (inner, n) = compact([
                        Some(Payload::Idr(Id {
                            id_type: lid.id_type,
                            data: lid.data,
                        })),
                        c0,
                        c1,
                        c2,
                        c3,
                        c4,
                        Some(Payload::Auth(Auth {
                            method,
                            data: our.get(..an).unwrap_or_default(),
                        })),
                        Some(eapp),
                    ]);
                    self.seal_out(
                        ExchangeType::IKE_AUTH,
                        true,
                        rid,
                        inner.get(..n).unwrap_or_default(),
                        rng,
                    )?;
                } else {
                    self.seal_out(ExchangeType::IKE_AUTH, true, rid, &[eapp], rng)?;
                }
                if let Some(e) = self.eap.as_mut() {
                    e.owed = None;
                    e.stage = if code == Some(3) {
                        EapStage::Success
                    } else {
                        EapStage::Running
                    };
                }
                if code == Some(4) {
                    let _ = self.fail(ProtocolError::AuthenticationFailed);
                }
                Ok(())
            }
            (Role::Initiator, Some((EapStage::Running, _, _)))
                if self.state == State::AuthPending && self.awaiting.is_none() =>
            {
                self.send_request(now, ExchangeType::IKE_AUTH, &[Payload::Eap(eap)], rng)
            }
            _ => Err(ProtocolError::Unexpected),
        }
    }

    /// Initiator, after EAP-Success and [`IkeSa::set_msk`]: sends our AUTH computed
    /// with the MSK as the shared secret (section 2.16); the responder's answer
    /// brings its MSK AUTH and the Child SA.
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] when EAP is not at that point or no MSK is set.
    pub fn eap_complete<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let ok = self.role == Role::Initiator
            && self.state == State::AuthPending
            && self.awaiting.is_none()
            && self
                .eap
                .as_ref()
                .is_some_and(|e| e.stage == EapStage::Running && e.msk.is_some());
        if !ok {
            return Err(ProtocolError::Unexpected);
        }
        let lid = self.cfg.local_id;
        let mut id_body = [0u8; 260];
        let idn = id_body_bytes(lid, &mut id_body)?;
        let mut a = [0u8; 64];
        let n = self.msk_auth(true, id_body.get(..idn).unwrap_or_default(), &mut a)?;
        let inner = [Payload::Auth(Auth {
            method: AuthMethod::SHARED_KEY_MIC,
            data: a.get(..n).unwrap_or_default(),
        })];
        self.send_request(now, ExchangeType::IKE_AUTH, &inner, rng)?;
        if let Some(e) = self.eap.as_mut() {
            e.stage = EapStage::Success;
        }
        Ok(())
    }

    /// Seals and starts a request with the next message ID.
    fn send_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        exchange: ExchangeType,
        inner: &[Payload<'_>],
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let mid = self.next_request_id;
        self.seal_out(exchange, false, mid, inner, rng)?;
        self.awaiting = Some(mid);
        self.next_request_id = mid.wrapping_add(1);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        Ok(())
    }

    /// `prf(prf(MSK, "Key Pad for IKEv2"), <SignedOctets>)` (section 2.16).
    fn msk_auth(
        &self,
        initiator: bool,
        id_body: &[u8],
        out: &mut [u8; 64],
    ) -> Result<usize, ProtocolError> {
        let msk = self
            .eap
            .as_ref()
            .and_then(|e| e.msk.as_ref())
            .ok_or(ProtocolError::Unexpected)?;
        self.psk_auth_key(msk.as_bytes(), initiator, id_body, out)
    }

    /// Checks the peer's MSK AUTH (section 2.16) over its saved identity.
    fn check_msk_auth(&mut self, auth: Auth<'_>) -> Result<(), ProtocolError> {
        let mut id = [0u8; 260];
        let n = self.eap.as_ref().map_or(0, |e| {
            let b = e.peer_id.get();
            if let Some(d) = id.get_mut(..b.len()) {
                d.copy_from_slice(b);
            }
            b.len()
        });
        let mut expect = [0u8; 64];
        let peer_is_initiator = self.role == Role::Responder;
        let en = self.msk_auth(
            peer_is_initiator,
            id.get(..n).unwrap_or_default(),
            &mut expect,
        )?;
        let ok = auth.method == AuthMethod::SHARED_KEY_MIC
            && auth.data.len() == en
            && bool::from(auth.data.ct_eq(expect.get(..en).unwrap_or_default()));
        if ok {
            Ok(())
        } else {
            Err(self.fail(ProtocolError::AuthenticationFailed))
        }
    }

    /// Whether both ends announced IKE fragmentation (RFC 7383 section 2.3); known
    /// once the IKE_SA_INIT exchange is done.
    #[must_use]
    pub const fn fragmentation(&self) -> bool {
        self.frag_on
    }

    /// The negotiated IKE suite.
    #[must_use]
    pub const fn suite(&self) -> IkeSuite {
        self.suite
    }

    /// The IKE SA keys (section 2.14), for logging to a key file in tests.
    #[must_use]
    pub const fn keys(&self) -> &IkeKeys {
        &self.keys
    }

    fn send_init<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        group: DhGroup,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let key = EphemeralKey::generate(group, rng)?;
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let pn = key.public_key(&mut pubk)?;
        self.ke = Some(key);
        let suites = self.cfg.ike_suites;
        let (ts, lens) = transform_rows(suites.iter().map(IkeSuite::transforms), None);
        let (props, np) = numbered_proposals(ProtocolId::IKE, &[], &ts, &lens, suites.len());
        let src = nat_hash(self.spi_i, [0; 8], self.local);
        let dst = nat_hash(self.spi_i, [0; 8], self.remote);
        let cookie = notify(NotifyType::COOKIE, self.cookie.get());
        // Section 2.6: the COOKIE notify comes first when retrying.
        let (all, n) = compact([
            (self.cookie.len > 0).then_some(cookie),
            Some(Payload::Sa(Sa {
                proposals: ProposalList::List(props.get(..np).unwrap_or_default()),
            })),
            Some(Payload::Ke(Ke {
                group,
                data: pubk.get(..pn).unwrap_or_default(),
            })),
            Some(Payload::Nonce(self.ni.get())),
            Some(notify(NotifyType::NAT_DETECTION_SOURCE_IP, &src)),
            Some(notify(NotifyType::NAT_DETECTION_DESTINATION_IP, &dst)),
            self.frag_len.is_some().then_some(FRAGMENTATION_SUPPORTED),
            (self.sig_hashes || self.cert.is_some()).then_some(SIGNATURE_HASHES),
        ]);
        let pl = all.get(..n).unwrap_or_default();
        let mut buf = [0u8; MAX_MESSAGE];
        let len = Repr {
            header: HeaderRepr {
                spi_i: self.spi_i,
                spi_r: [0; 8],
                version: 0x20,
                exchange: ExchangeType::IKE_SA_INIT,
                flags: Flags::INITIATOR,
                message_id: 0,
            },
            payloads: PayloadList::List(pl),
        }
        .emit(&mut buf)
        .map_err(|_| ProtocolError::Crypto(CryptoError::BufferTooSmall))?;
        let m = buf.get(..len).unwrap_or_default();
        self.msg1.set(m)?;
        self.start_request(now, 0, m)?;
        self.next_request_id = 1;
        self.state = State::InitSent;
        Ok(())
    }

    fn start_request(&mut self, now: Duration, id: u32, m: &[u8]) -> Result<(), ProtocolError> {
        self.req_out.set(m)?;
        self.awaiting = Some(id);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        Ok(())
    }

    fn nat_check(&mut self, src: Option<&[u8]>, dst: Option<&[u8]>) {
        // Section 2.23: the hashes are computed with the SPIs of the message that
        // carried them (SPIr zero in the request).
        let spi_r = if self.role == Role::Responder {
            [0; 8]
        } else {
            self.spi_r
        };
        if let Some(s) = src {
            self.nat_peer = s != nat_hash(self.spi_i, spi_r, self.remote);
        }
        if let Some(d) = dst {
            self.nat_local = d != nat_hash(self.spi_i, spi_r, self.local);
        }
    }

    fn derive(&mut self, shared: &[u8]) -> Result<(), ProtocolError> {
        let prf = HmacPrf::new(self.suite.prf)?;
        let sk = self.suite.sk();
        let seed = skeyseed(&prf, self.ni.get(), self.nr.get(), shared)?;
        self.keys = derive_ike_keys(
            &prf,
            seed.as_bytes(),
            self.ni.get(),
            self.nr.get(),
            &self.spi_i,
            &self.spi_r,
            KeyLengths {
                prf: prf.output_len(),
                integ: sk.integ_key_len(),
                encr: sk.encr_key_len(),
            },
        )?;
        Ok(())
    }

    /// `RealMessage` and `Nonce` of the signed octets of section 2.15: the
    /// initiator signs message 1 and Nr, the responder message 2 and Ni.
    fn real_message_nonce(&self, initiator: bool) -> (&[u8], &[u8]) {
        if initiator {
            (self.msg1.get(), self.nr.get())
        } else {
            (self.msg2.get(), self.ni.get())
        }
    }

    /// `MACedIDFor[I|R] = prf(SK_p[i|r], RestOfIDPayload)` (section 2.15).
    fn maced_id(
        &self,
        initiator: bool,
        id_body: &[u8],
        out: &mut [u8; 64],
    ) -> Result<usize, ProtocolError> {
        let prf = HmacPrf::new(self.suite.prf)?;
        let skp = if initiator {
            self.keys.pi.as_bytes()
        } else {
            self.keys.pr.as_bytes()
        };
        Ok(prf.prf(skp, &[id_body], out)?)
    }

    /// `AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)` with
    /// `SignedOctets = RealMessage | Nonce | prf(SK_p, RestOfIDPayload)` (section
    /// 2.15).
    fn psk_auth(
        &self,
        initiator: bool,
        id_body: &[u8],
        out: &mut [u8; 64],
    ) -> Result<usize, ProtocolError> {
        self.psk_auth_key(self.cfg.psk, initiator, id_body, out)
    }

    fn psk_auth_key(
        &self,
        psk: &[u8],
        initiator: bool,
        id_body: &[u8],
        out: &mut [u8; 64],
    ) -> Result<usize, ProtocolError> {
        let prf = HmacPrf::new(self.suite.prf)?;
        let (msg, nonce) = self.real_message_nonce(initiator);
        let mut maced = [0u8; 64];
        let mn = self.maced_id(initiator, id_body, &mut maced)?;
        let mut k = [0u8; 64];
        let kn = prf.prf(psk, &[KEY_PAD], &mut k)?;
        let n = prf.prf(
            k.get(..kn).unwrap_or_default(),
            &[msg, nonce, maced.get(..mn).unwrap_or_default()],
            out,
        )?;
        zeroize::Zeroize::zeroize(&mut k);
        Ok(n)
    }

    /// Our AUTH payload: the PSK MAC, or with [`CertAuth`] the RFC 7427 section 3
    /// Digital Signature (`ASN.1 length | AlgorithmIdentifier | signature`) over the
    /// same signed octets.
    fn our_auth(
        &self,
        initiator: bool,
        id_body: &[u8],
        out: &mut [u8; AUTH_BUF],
    ) -> Result<(AuthMethod, usize), ProtocolError> {
        let Some(c) = self.cert else {
            let mut a = [0u8; 64];
            let n = self.psk_auth(initiator, id_body, &mut a)?;
            out.get_mut(..n)
                .ok_or(ProtocolError::Unexpected)?
                .copy_from_slice(a.get(..n).unwrap_or_default());
            return Ok((AuthMethod::SHARED_KEY_MIC, n));
        };
        let (msg, nonce) = self.real_message_nonce(initiator);
        let mut maced = [0u8; 64];
        let mn = self.maced_id(initiator, id_body, &mut maced)?;
        let alg = c.signer.algorithm();
        let al = u8::try_from(alg.len())
            .map_err(|_| CryptoError::Unsupported("AlgorithmIdentifier above 255 bytes"))?;
        let (head, sig) = out.split_at_mut(1 + alg.len());
        if let Some((l, a)) = head.split_first_mut() {
            *l = al;
            a.copy_from_slice(alg);
        }
        let sig = sig.get_mut(..MAX_SIGNATURE).unwrap_or_default();
        let n = c
            .signer
            .sign(&[msg, nonce, maced.get(..mn).unwrap_or_default()], sig)?;
        Ok((
            AuthMethod::DIGITAL_SIGNATURE,
            1 + alg.len() + n.min(MAX_SIGNATURE),
        ))
    }

    /// Our CERT payloads, with [`CertAuth`] and a certificate (section 3.6): the
    /// end-entity certificate, then [`Signer::intermediate`]s.
    fn our_certs(&self) -> [Option<Payload<'c>>; 1 + MAX_CHAIN] {
        let mut out = [None; 1 + MAX_CHAIN];
        let Some(c) = self.cert else {
            return out;
        };
        let data = c.signer.certificate();
        if data.is_empty() {
            return out;
        }
        let chain = core::iter::once(data)
            .chain((0..MAX_CHAIN).map(|i| c.signer.intermediate(i)))
            .take_while(|d| !d.is_empty());
        for (slot, data) in out.iter_mut().zip(chain) {
            *slot = Some(Payload::Cert(Cert {
                encoding: CertEncoding::X509_SIGNATURE,
                data,
            }));
        }
        out
    }

    /// Section 3.7: a CERTREQ from the peer lets the caller's [`Signer::select`]
    /// pick the signer (and certificate) of our AUTH.
    fn peer_requested(&mut self, authorities: Option<&[u8]>) {
        if let (Some(c), Some(a)) = (self.cert, authorities)
            && let Some(signer) = c.signer.select(a)
        {
            self.cert = Some(CertAuth { signer, ..c });
        }
    }

    fn recv_keys(&self) -> (&[u8], &[u8]) {
        match self.role {
            Role::Initiator => (self.keys.er.as_bytes(), self.keys.ar.as_bytes()),
            Role::Responder => (self.keys.ei.as_bytes(), self.keys.ai.as_bytes()),
        }
    }

    fn seal_out<R: RngCore + CryptoRng>(
        &mut self,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        inner: &[Payload<'_>],
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let sk = self.suite.sk();
        let mut flags = if self.role == Role::Initiator {
            Flags::INITIATOR
        } else {
            Flags(0)
        };
        if response {
            flags = flags.with(Flags::RESPONSE);
        }
        let hdr = HeaderRepr {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            version: 0x20,
            exchange,
            flags,
            message_id,
        };
        let (ek, ak) = match self.role {
            Role::Initiator => (self.keys.ei.as_bytes(), self.keys.ai.as_bytes()),
            Role::Responder => (self.keys.er.as_bytes(), self.keys.ar.as_bytes()),
        };
        let list = PayloadList::List(inner);
        let out = if response {
            &mut self.resp_out
        } else {
            &mut self.req_out
        };
        out.clear();
        let frag = self
            .frag_len
            .filter(|f| self.frag_on && sk.message_len(list.wire_len()) > usize::from(*f));
        if let Some(f) = frag {
            // RFC 7383 section 2.5: split the inner payload chain, protect each
            // piece as its own Encrypted Fragment message.
            let cap = sk
                .fragment_capacity(usize::from(f))
                .ok_or(CryptoError::BufferTooSmall)?;
            let mut plain = [0u8; MAX_MESSAGE];
            let n = list.emit(&mut plain).map_err(CryptoError::from)?;
            let chunks = plain.get(..n).unwrap_or_default().chunks(cap);
            let total = u16::try_from(chunks.len())
                .ok()
                .filter(|t| usize::from(*t) <= MAX_FRAGMENTS)
                .ok_or(CryptoError::BufferTooSmall)?;
            for (c, number) in chunks.zip(1u16..) {
                let iv: [u8; 16] = random(rng);
                let m = seal_fragment(
                    &sk,
                    ek,
                    ak,
                    iv.get(..sk.iv_len()).unwrap_or_default(),
                    &hdr,
                    list.first(),
                    number,
                    total,
                    c,
                    out.slot(),
                )?;
                out.commit(m)?;
            }
            zeroize::Zeroize::zeroize(&mut plain);
            out.start();
            return Ok(());
        }
        let iv: [u8; 16] = random(rng);
        let n = seal(
            &sk,
            ek,
            ak,
            iv.get(..sk.iv_len()).unwrap_or_default(),
            &hdr,
            &list,
            out.slot(),
        )?;
        out.commit(n)?;
        out.start();
        Ok(())
    }

    fn send_auth<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let id = self.cfg.local_id;
        let mut id_body = [0u8; 260];
        let idn = id_body_bytes(id, &mut id_body)?;
        let mut auth = [0u8; AUTH_BUF];
        // Section 2.16: an EAP initiator leaves AUTH (and CERT) out.
        let eap = self.eap.is_some();
        let (method, an) = if eap {
            (AuthMethod::SHARED_KEY_MIC, 0)
        } else {
            self.our_auth(true, id_body.get(..idn).unwrap_or_default(), &mut auth)?
        };
        let [c0, c1, c2, c3, c4] = if eap {
            [None; 1 + MAX_CHAIN]
        } else {
            self.our_certs()
        };
        self.child_spi = random(rng);
        let spi = self.child_spi;
        let suites = self.cfg.child_suites;
        let (ts, lens) = transform_rows(suites.iter().map(|s| s.transforms()), None);
        let (props, np) = numbered_proposals(ProtocolId::ESP, &spi, &ts, &lens, suites.len());
        let tsi = [self.cfg.ts_i];
        let tsr = [self.cfg.ts_r];
        // IDi, [CERT,] [CERTREQ,] AUTH, SAi2, TSi, TSr (section 1.2).
        let (inner, n) = compact([
            Some(Payload::Idi(Id {
                id_type: id.id_type,
                data: id.data,
            })),
            c0,
            c1,
            c2,
            c3,
            c4,
            self.cert.and_then(certreq),
            (!eap).then_some(Payload::Auth(Auth {
                method,
                data: auth.get(..an).unwrap_or_default(),
            })),
            Some(Payload::Sa(Sa {
                proposals: ProposalList::List(props.get(..np).unwrap_or_default()),
            })),
            Some(Payload::Tsi(Ts {
                selectors: SelectorList::List(&tsi),
            })),
            Some(Payload::Tsr(Ts {
                selectors: SelectorList::List(&tsr),
            })),
        ]);
        let inner = inner.get(..n).unwrap_or_default();
        let mid = self.next_request_id;
        self.seal_out(ExchangeType::IKE_AUTH, false, mid, inner, rng)?;
        self.awaiting = Some(mid);
        self.next_request_id = mid.wrapping_add(1);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        self.state = State::AuthPending;
        Ok(())
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.state = State::Dead;
        self.retransmit_at = None;
        self.awaiting = None;
        let _ = self.events.push_back(Action::Failed(e));
        e
    }

    /// Feeds a datagram (the IKE message, non-ESP marker removed) from the peer.
    ///
    /// # Errors
    /// [`ProtocolError`] for a message that is dropped (malformed, unexpected,
    /// failing integrity) — the SA stays as it was — or one that ends the SA (then
    /// [`Action::Failed`] is also queued).
    pub fn handle_packet<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        self.handle_packet_with(now, bytes, &mut Reassembly::new(&mut []), rng)
    }

    /// [`IkeSa::handle_packet`] with storage for reassembling fragmented messages
    /// (RFC 7383 section 2.6). Keep one [`Reassembly`] per IKE SA, next to it, and
    /// pass it with every datagram of that SA; [`IkeSa::handle_packet`] drops every
    /// fragment.
    ///
    /// # Errors
    /// As [`IkeSa::handle_packet`]; a fragment that does not verify, is outside the
    /// message-ID window or does not fit `reassembly` is dropped with an error and
    /// changes nothing else.
    pub fn handle_packet_with<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        bytes: &[u8],
        reassembly: &mut Reassembly<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let p = Packet::new_checked(bytes)?;
        if p.spi_i() != self.spi_i || matches!(self.state, State::Dead) {
            return Err(ProtocolError::Unexpected);
        }
        // Section 2.21.1/3.1: the I flag must name the original initiator.
        if p.flags().initiator() != (self.role == Role::Responder) {
            return Err(ProtocolError::Unexpected);
        }
        if p.next_payload() == PayloadType::SKF {
            return self.on_fragment(now, &p, reassembly, rng);
        }
        if p.flags().response() {
            self.handle_response(now, &p, None, rng)
        } else {
            self.handle_request(&p, None, rng)
        }
    }

    /// One Encrypted Fragment message (RFC 7383 section 2.6): checked against the
    /// message-ID window, verified and decrypted on its own, then kept in
    /// `reassembly`; the message is processed once every fragment is there.
    fn on_fragment<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        p: &Packet<&[u8]>,
        reassembly: &mut Reassembly<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        // Section 2.5: only after IKE_SA_INIT, and only if both ends announced it.
        if !self.frag_on || p.exchange() == ExchangeType::IKE_SA_INIT {
            return Err(ProtocolError::PeerMisbehaved("unnegotiated fragment"));
        }
        let response = p.flags().response();
        let id = p.message_id();
        if !response && self.eap.as_ref().and_then(|e| e.owed) == Some(id) {
            return Ok(());
        }
        let retransmitted = !response
            && id.wrapping_add(1) == self.expected_request_id
            && !self.resp_out.is_empty();
        let in_window = if response {
            self.awaiting == Some(id)
        } else {
            retransmitted || id == self.expected_request_id
        };
        if !in_window {
            return Err(ProtocolError::Unexpected);
        }
        let mut buf = [0u8; MAX_MESSAGE];
        let m = p.as_bytes();
        let dst = buf
            .get_mut(..m.len())
            .ok_or(ProtocolError::PeerMisbehaved("too large"))?;
        dst.copy_from_slice(m);
        let sk = self.suite.sk();
        let (ek, ak) = self.recv_keys();
        let f = open_fragment(&sk, ek, ak, dst)?;
        if retransmitted {
            // Section 2.6.1: only fragment 1 of a retransmitted request makes us
            // resend the (whole) response.
            if f.number == 1 {
                self.resp_out.start();
            }
            return Ok(());
        }
        let hdr = HeaderRepr::parse(p);
        match reassembly.add(
            response,
            &hdr,
            f.number,
            f.total,
            f.chunk.first,
            f.chunk.bytes,
        )? {
            None => Ok(()),
            Some(d) if response => self.handle_response(now, p, Some(d), rng),
            Some(d) => self.handle_request(p, Some(d), rng),
        }
    }

    fn handle_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        p: &Packet<&[u8]>,
        reassembled: Option<Inner<'_>>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        #[derive(Clone, Copy)]
        enum Kind {
            Auth,
            Closing,
            Info,
            IkeRekey,
            Child,
        }
        if self.awaiting != Some(p.message_id()) {
            return Err(ProtocolError::Unexpected);
        }
        let kind = match (self.state, p.exchange()) {
            (State::InitSent, ExchangeType::IKE_SA_INIT) if reassembled.is_none() => {
                return self.on_init_response(now, p, rng);
            }
            (State::AuthPending, ExchangeType::IKE_AUTH) if self.role == Role::Initiator => {
                Kind::Auth
            }
            (State::Deleting, ExchangeType::INFORMATIONAL) => Kind::Closing,
            (State::Established, ExchangeType::INFORMATIONAL) => Kind::Info,
            (State::Established, ExchangeType::CREATE_CHILD_SA) if self.pending_rekey.is_some() => {
                Kind::IkeRekey
            }
            (State::Established, ExchangeType::CREATE_CHILD_SA) => Kind::Child,
            _ => return Err(ProtocolError::Unexpected),
        };
        let owned;
        let d = if let Some(d) = reassembled {
            d
        } else {
            owned = self.decrypt(p)?;
            owned.inner()
        };
        match kind {
            Kind::Auth => self.on_auth_response(d),
            Kind::Closing => {
                self.state = State::Dead;
                self.awaiting = None;
                self.retransmit_at = None;
                let _ = self.events.push_back(Action::Closed);
                Ok(())
            }
            Kind::Info => {
                self.awaiting = None;
                self.retransmit_at = None;
                Ok(())
            }
            Kind::IkeRekey => self.on_ike_rekey_response(d),
            Kind::Child => self.on_create_child_response(d),
        }
    }

    fn on_init_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        p: &Packet<&[u8]>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let ip = collect_init(p)?;
        if let Some(c) = ip.cookie {
            // Section 2.6: retry with the cookie first, all else unchanged.
            if c.is_empty() || c.len() > 64 {
                return Err(ProtocolError::PeerMisbehaved("cookie length"));
            }
            self.cookie.set(c)?;
            let g = self
                .ke
                .as_ref()
                .map_or(self.suite.dh, crate::crypto::KeyExchange::group);
            return self.send_init(now, g, rng);
        }
        if let Some(g) = ip.invalid_ke {
            // Section 1.2: retry with the group the responder asked for, if we
            // proposed it.
            let ours = self.cfg.ike_suites.iter().find(|s| s.dh == g).copied();
            let Some(s) = ours else {
                return Err(self.fail(ProtocolError::PeerError(NotifyType::INVALID_KE_PAYLOAD.0)));
            };
            if self.ke.as_ref().map(crate::crypto::KeyExchange::group) == Some(g) {
                return Err(ProtocolError::PeerMisbehaved(
                    "INVALID_KE_PAYLOAD for our group",
                ));
            }
            self.suite = s;
            return self.send_init(now, g, rng);
        }
        if let Some(e) = ip.error {
            return Err(self.fail(ProtocolError::PeerError(e.0)));
        }
        let (Some(sa), Some(ke), Some(nr)) = (ip.sa, ip.ke, ip.nonce) else {
            return Err(ProtocolError::PeerMisbehaved(
                "IKE_SA_INIT response without SA, KE or Nr",
            ));
        };
        if !(16..=MAX_NONCE).contains(&nr.len()) {
            return Err(ProtocolError::PeerMisbehaved("nonce length"));
        }
        if p.spi_r() == [0; 8] {
            return Err(ProtocolError::PeerMisbehaved("zero responder SPI"));
        }
        let (_, suite) = select_ike(self.cfg.ike_suites, sa).map_err(|e| self.fail(e))?;
        // The responder must pick exactly one proposal of ours, with our KE group.
        if Proposals::new(sa).count() != 1 || ke.group != suite.dh {
            return Err(self.fail(ProtocolError::PeerMisbehaved("bad SA in response")));
        }
        let key = self.ke.take().ok_or(ProtocolError::Unexpected)?;
        if key.group() != suite.dh {
            return Err(self.fail(ProtocolError::NoProposalChosen));
        }
        let mut shared = [0u8; MAX_SHARED_LEN];
        let n = key
            .agree(ke.data, &mut shared)
            .map_err(|e| self.fail(e.into()))?;
        self.suite = suite;
        self.spi_r = p.spi_r();
        self.nr.set(nr)?;
        self.msg2.set(p.as_bytes())?;
        self.nat_check(ip.nat_src, ip.nat_dst);
        self.frag_on = self.frag_len.is_some() && ip.fragmentation;
        self.peer_requested(ip.certreq);
        self.derive(shared.get(..n).unwrap_or_default())?;
        zeroize::Zeroize::zeroize(&mut shared);
        self.send_auth(now, rng)
    }

    fn decrypt(&self, p: &Packet<&[u8]>) -> Result<DecryptedBuf, ProtocolError> {
        let mut d = DecryptedBuf {
            buf: [0u8; MAX_MESSAGE],
            first: PayloadType::NONE,
            start: 0,
            len: 0,
        };
        let m = p.as_bytes();
        let dst = d
            .buf
            .get_mut(..m.len())
            .ok_or(ProtocolError::PeerMisbehaved("too large"))?;
        dst.copy_from_slice(m);
        let (ek, ak) = self.recv_keys();
        let sk = self.suite.sk();
        let out = open(&sk, ek, ak, dst)?;
        d.first = out.first;
        d.start = out.offset;
        d.len = out.bytes.len();
        Ok(d)
    }

    #[allow(
        clippy::too_many_lines,
        reason = "section 1.2 / 2.16 initiator IKE_AUTH steps in order"
    )]
    fn on_auth_response(&mut self, d: Inner<'_>) -> Result<(), ProtocolError> {
        let got = AuthPayloads::collect(d, false)?;
        let AuthPayloads {
            idr,
            auth,
            sa,
            tsi,
            tsr,
            err,
            eap,
            ..
        } = got;
        let peer_certs = got.certs();
        let stage = self.eap.as_ref().map(|e| e.stage);
        if let Some(EapStage::Start | EapStage::Running) = stage {
            // Section 2.16: IDr, [CERT,] AUTH, EAP first (the responder proves
            // itself with its own key), then EAP alone.
            let Some(m) = eap else {
                let e = err.map_or(ProtocolError::PeerMisbehaved("IKE_AUTH without EAP"), |t| {
                    ProtocolError::PeerError(t.0)
                });
                return Err(self.fail(e));
            };
            if stage == Some(EapStage::Start) {
                let (Some(idr), Some(auth)) = (idr, auth) else {
                    return Err(self.fail(ProtocolError::PeerMisbehaved(
                        "first EAP response without IDr or AUTH",
                    )));
                };
                self.check_peer(idr, auth, peer_certs)?;
                if let Some(e) = self.eap.as_mut() {
                    e.peer_id.set(idr)?;
                }
            }
            if let Some(e) = self.eap.as_mut() {
                e.inbox.set(m)?;
                e.stage = EapStage::Running;
            }
            self.awaiting = None;
            self.retransmit_at = None;
            if m.first() == Some(&4) {
                // EAP-Failure.
                return Err(self.fail(ProtocolError::AuthenticationFailed));
            }
            let _ = self.events.push_back(Action::Eap);
            return Ok(());
        }
        if stage == Some(EapStage::Success) {
            // Section 2.16: the responder's AUTH with the MSK, then the Child SA.
            let Some(auth) = auth else {
                let e = err.map_or(
                    ProtocolError::PeerMisbehaved("IKE_AUTH without AUTH"),
                    |t| ProtocolError::PeerError(t.0),
                );
                return Err(self.fail(e));
            };
            self.check_msk_auth(auth)?;
        } else {
            let (Some(idr), Some(auth)) = (idr, auth) else {
                let e = err.map_or(
                    ProtocolError::PeerMisbehaved("IKE_AUTH without IDr or AUTH"),
                    |t| ProtocolError::PeerError(t.0),
                );
                return Err(self.fail(e));
            };
            self.check_peer(idr, auth, peer_certs)?;
        }
        self.established();
        // Section 1.2: a Child SA error leaves the IKE SA established.
        if let Some(t) = err {
            let _ = self.events.push_back(Action::ChildSaRefused(t));
            return Ok(());
        }
        let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
            let _ = self
                .events
                .push_back(Action::ChildSaRefused(NotifyType::INVALID_SYNTAX));
            return Err(ProtocolError::PeerMisbehaved("IKE_AUTH without Child SA"));
        };
        let Ok((_, cs, spi_r)) = select_child(self.cfg.child_suites, sa, None) else {
            let _ = self
                .events
                .push_back(Action::ChildSaRefused(NotifyType::NO_PROPOSAL_CHOSEN));
            return Err(ProtocolError::NoProposalChosen);
        };
        self.child_suite = cs;
        self.push_child(self.child_spi, spi_r, tsi, tsr)?;
        Ok(())
    }

    fn check_peer(
        &mut self,
        id_body: &[u8],
        auth: Auth<'_>,
        certs: &[&[u8]],
    ) -> Result<(), ProtocolError> {
        if let Some(want) = self.cfg.remote_id {
            let mut b = [0u8; 260];
            let n = id_body_bytes(want, &mut b)?;
            if b.get(..n) != Some(id_body) {
                return Err(self.fail(ProtocolError::AuthenticationFailed));
            }
        }
        let peer_is_initiator = self.role == Role::Responder;
        if let Some(c) = self.cert {
            // RFC 7427 section 3: ASN.1 length, AlgorithmIdentifier, signature.
            let parts = (auth.method == AuthMethod::DIGITAL_SIGNATURE)
                .then(|| auth.data.split_first())
                .flatten()
                .and_then(|(l, rest)| rest.split_at_checked(usize::from(*l)));
            let peer = id_body.split_first().map(|(t, rest)| Identity {
                id_type: IdType(*t),
                data: rest.get(3..).unwrap_or_default(),
            });
            let ok = match (parts, peer) {
                (Some((alg, sig)), Some(peer)) => {
                    let (msg, nonce) = self.real_message_nonce(peer_is_initiator);
                    let mut maced = [0u8; 64];
                    let mn = self.maced_id(peer_is_initiator, id_body, &mut maced)?;
                    c.verifier.verify_chain(
                        peer,
                        certs,
                        alg,
                        &[msg, nonce, maced.get(..mn).unwrap_or_default()],
                        sig,
                    )
                }
                _ => false,
            };
            return if ok {
                Ok(())
            } else {
                Err(self.fail(ProtocolError::AuthenticationFailed))
            };
        }
        let mut expect = [0u8; 64];
        let n = self.psk_auth(peer_is_initiator, id_body, &mut expect)?;
        let ok = auth.method == AuthMethod::SHARED_KEY_MIC
            && auth.data.len() == n
            && bool::from(auth.data.ct_eq(expect.get(..n).unwrap_or_default()));
        if ok {
            Ok(())
        } else {
            Err(self.fail(ProtocolError::AuthenticationFailed))
        }
    }

    fn established(&mut self) {
        self.state = State::Established;
        self.awaiting = None;
        self.retransmit_at = None;
        let _ = self.events.push_back(Action::IkeSaEstablished {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            peer_behind_nat: self.nat_peer,
            local_behind_nat: self.nat_local,
        });
    }

    /// Child SA keys (section 2.17): `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)`,
    /// the exchange initiator's direction first.
    #[allow(
        clippy::too_many_arguments,
        reason = "the inputs of section 2.17, all distinct"
    )]
    fn make_child(
        &self,
        we_initiated: bool,
        ni: &[u8],
        nr: &[u8],
        shared: Option<&[u8]>,
        our_spi: [u8; 4],
        peer_spi: [u8; 4],
        ts_i: TrafficSelector,
        ts_r: TrafficSelector,
        replaces: Option<[u8; 4]>,
    ) -> Result<ChildSa, ProtocolError> {
        let prf = HmacPrf::new(self.suite.prf)?;
        let cs = self.child_suite;
        let k = derive_child_keys(
            &prf,
            self.keys.d.as_bytes(),
            shared,
            ni,
            nr,
            cs.encr_key_len(),
            cs.integ_key_len(),
        )?;
        let i_to_r = DirectionKeys {
            encr: k.ei.clone(),
            integ: k.ai.clone(),
        };
        let r_to_i = DirectionKeys {
            encr: k.er.clone(),
            integ: k.ar.clone(),
        };
        let (inbound, outbound, local_ts, remote_ts) = if we_initiated {
            (r_to_i, i_to_r, ts_i, ts_r)
        } else {
            (i_to_r, r_to_i, ts_r, ts_i)
        };
        Ok(ChildSa {
            inbound_spi: our_spi,
            outbound_spi: peer_spi,
            suite: cs,
            inbound,
            outbound,
            local_ts,
            remote_ts,
            replaces,
        })
    }

    fn push_child(
        &mut self,
        our_spi: [u8; 4],
        peer_spi: [u8; 4],
        ts_i: TrafficSelector,
        ts_r: TrafficSelector,
    ) -> Result<(), ProtocolError> {
        let c = self.make_child(
            self.role == Role::Initiator,
            self.ni.get(),
            self.nr.get(),
            None,
            our_spi,
            peer_spi,
            ts_i,
            ts_r,
            None,
        )?;
        let _ = self.events.push_back(Action::ChildSa(c));
        Ok(())
    }

    fn handle_request<R: RngCore + CryptoRng>(
        &mut self,
        p: &Packet<&[u8]>,
        reassembled: Option<Inner<'_>>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        #[derive(Clone, Copy)]
        enum Kind {
            Auth,
            Info,
            Child,
        }
        let id = p.message_id();
        if self.eap.as_ref().and_then(|e| e.owed) == Some(id) {
            // Section 2.16: the answer waits for the caller's EAP message.
            return Ok(());
        }
        // Section 2.3 with a window of 1: a retransmitted request gets the same answer
        // (all its fragments, RFC 7383 section 2.6.1).
        if id.wrapping_add(1) == self.expected_request_id && !self.resp_out.is_empty() {
            if p.exchange() == ExchangeType::IKE_SA_INIT && p.as_bytes() != self.msg1.get() {
                return Err(ProtocolError::Unexpected);
            }
            self.resp_out.start();
            return Ok(());
        }
        if id != self.expected_request_id {
            return Err(ProtocolError::PeerMisbehaved(
                "message ID outside the window",
            ));
        }
        let kind = match (self.state, p.exchange()) {
            (State::AuthPending, ExchangeType::IKE_AUTH) if self.role == Role::Responder => {
                Kind::Auth
            }
            (State::Established | State::Deleting, ExchangeType::INFORMATIONAL) => Kind::Info,
            (State::Established, ExchangeType::CREATE_CHILD_SA) => Kind::Child,
            _ => return Err(ProtocolError::Unexpected),
        };
        let owned;
        let d = if let Some(d) = reassembled {
            d
        } else {
            owned = self.decrypt(p)?;
            owned.inner()
        };
        match kind {
            Kind::Auth => self.on_auth_request(id, d, rng),
            Kind::Info => self.on_informational(id, d, rng),
            Kind::Child => self.on_create_child_request(id, d, rng),
        }
    }

    /// Our selectors as (TSi, TSr) of an exchange we initiate.
    const fn our_ts_pair(&self) -> (TrafficSelector, TrafficSelector) {
        match self.role {
            Role::Initiator => (self.cfg.ts_i, self.cfg.ts_r),
            Role::Responder => (self.cfg.ts_r, self.cfg.ts_i),
        }
    }

    /// Starts a CREATE_CHILD_SA exchange for a new Child SA, or a rekey of the one
    /// whose inbound SPI is `rekey` (sections 1.3.1 and 1.3.3); with `pfs`, a KE
    /// payload of that group and the group in every proposal. The result arrives as
    /// [`Action::ChildSa`] or [`Action::ChildSaRefused`].
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] unless established with no request outstanding;
    /// [`ProtocolError::Crypto`] for a group this crate does not provide.
    #[allow(
        clippy::too_many_lines,
        reason = "section 1.3.1 request, payload by payload"
    )]
    pub fn create_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rekey: Option<[u8; 4]>,
        pfs: Option<DhGroup>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        if self.state != State::Established || self.awaiting.is_some() {
            return Err(ProtocolError::Unexpected);
        }
        let key = pfs.map(|g| EphemeralKey::generate(g, rng)).transpose()?;
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let pn = match &key {
            Some(k) => k.public_key(&mut pubk)?,
            None => 0,
        };
        let pending = PendingChild {
            nonce: random(rng),
            spi: random(rng),
            replaces: rekey,
            key,
        };
        // Section 1.3.1: with PFS each proposal ends with the DH transform.
        let dh = pfs.map(|g| transform(TransformType::DH, g.0, None));
        let suites = self.cfg.child_suites;
        let (ts, lens) = transform_rows(suites.iter().map(|s| s.transforms()), dh);
        let (props, np) =
            numbered_proposals(ProtocolId::ESP, &pending.spi, &ts, &lens, suites.len());
        let (ti, tr) = self.our_ts_pair();
        let (tia, tra) = ([ti], [tr]);
        let old = rekey.unwrap_or_default();
        let rekey_n = Payload::Notify(Notify {
            protocol: ProtocolId::ESP,
            notify_type: NotifyType::REKEY_SA,
            spi: &old,
            data: &[],
        });
        let body = [
            Payload::Sa(Sa {
                proposals: ProposalList::List(props.get(..np).unwrap_or_default()),
            }),
            Payload::Nonce(&pending.nonce),
            Payload::Ke(Ke {
                group: pfs.unwrap_or(DhGroup::NONE),
                data: pubk.get(..pn).unwrap_or_default(),
            }),
            Payload::Tsi(Ts {
                selectors: SelectorList::List(&tia),
            }),
            Payload::Tsr(Ts {
                selectors: SelectorList::List(&tra),
            }),
        ];
        // [N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr (section 1.3.1).
        let mut all = [rekey_n; 6];
        let mut n = usize::from(rekey.is_some());
        for (k, p) in body.iter().enumerate() {
            if k == 2 && pfs.is_none() {
                continue;
            }
            if let Some(d) = all.get_mut(n) {
                *d = *p;
                n += 1;
            }
        }
        let inner = all.get(..n).unwrap_or_default();
        let mid = self.next_request_id;
        self.seal_out(ExchangeType::CREATE_CHILD_SA, false, mid, inner, rng)?;
        self.pending_child = Some(pending);
        self.awaiting = Some(mid);
        self.next_request_id = mid.wrapping_add(1);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        Ok(())
    }

    #[allow(
        clippy::too_many_lines,
        reason = "section 1.3 responder steps in order"
    )]
    fn on_create_child_request<R: RngCore + CryptoRng>(
        &mut self,
        id: u32,
        d: Inner<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let (mut sa, mut nonce, mut ke, mut tsi, mut tsr, mut rekey) =
            (None, None, None, None, None, None);
        for raw in d.payloads() {
            let raw = raw?;
            match Payload::parse(&raw)? {
                Payload::Sa(_) => sa = Some(raw.body),
                Payload::Nonce(n) => nonce = Some(n),
                Payload::Ke(k) => ke = Some(k),
                Payload::Tsi(t) => tsi = t.iter().next().and_then(Result::ok),
                Payload::Tsr(t) => tsr = t.iter().next().and_then(Result::ok),
                Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => {
                    rekey = <[u8; 4]>::try_from(n.spi).ok();
                }
                Payload::Other { critical: true, .. } => {
                    return Err(ProtocolError::PeerMisbehaved(
                        "unsupported critical payload",
                    ));
                }
                _ => {}
            }
        }
        self.expected_request_id = id.wrapping_add(1);
        let ni = nonce.filter(|n| (16..=MAX_NONCE).contains(&n.len()));
        let is_ike_rekey = sa.is_some_and(|b| {
            Proposals::new(b)
                .next()
                .and_then(Result::ok)
                .is_some_and(|p| p.protocol == ProtocolId::IKE)
        });
        if is_ike_rekey {
            if let (Some(sa), Some(ni), Some(ke)) = (sa, ni, ke) {
                return self.on_ike_rekey_request(id, sa, ni, ke, rng);
            }
            let n = [notify(NotifyType::INVALID_SYNTAX, &[])];
            return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &n, rng);
        }
        // Section 1.3.1: a KE payload asks for PFS with its group.
        let pfs = ke.map(|k| k.group);
        let chosen = match (sa, ni) {
            (Some(sa), Some(ni)) if pfs.is_none_or(EphemeralKey::supports) => {
                select_child(self.cfg.child_suites, sa, pfs)
                    .map(|c| (c, ni))
                    .map_err(|_| NotifyType::NO_PROPOSAL_CHOSEN)
            }
            _ => Err(NotifyType::NO_PROPOSAL_CHOSEN),
        };
        // The peer's TSi is its side (our remote), its TSr ours.
        let (ours, theirs) = self.our_ts_pair();
        let narrowed = match (tsi, tsr) {
            (Some(i), Some(r)) => narrow(&i, &theirs).zip(narrow(&r, &ours)),
            _ => None,
        };
        let refuse = |t: NotifyType| [notify(t, &[])];
        let ((num, cs, peer_spi), ni) = match chosen {
            Ok(c) => c,
            Err(t) => {
                return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &refuse(t), rng);
            }
        };
        let Some((ti, tr)) = narrowed else {
            let n = refuse(NotifyType::TS_UNACCEPTABLE);
            return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &n, rng);
        };
        let mut nib = [0u8; MAX_NONCE];
        let ni = {
            let dst = nib.get_mut(..ni.len()).ok_or(ProtocolError::Unexpected)?;
            dst.copy_from_slice(ni);
            &*dst
        };
        let nr: [u8; NONCE_LEN] = random(rng);
        let our_spi: [u8; 4] = random(rng);
        // PFS (section 1.3.1): our KE of the same group, g^ir into KEYMAT.
        let mut shared = [0u8; MAX_SHARED_LEN];
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let (mut sn, mut pn) = (0, 0);
        if let Some(k) = ke {
            let key = EphemeralKey::generate(k.group, rng)?;
            sn = key.agree(k.data, &mut shared)?;
            pn = key.public_key(&mut pubk)?;
        }
        let saved = self.child_suite;
        self.child_suite = cs;
        let child = self.make_child(
            false,
            ni,
            &nr,
            ke.map(|_| shared.get(..sn).unwrap_or_default()),
            our_spi,
            peer_spi,
            ti,
            tr,
            rekey,
        );
        self.child_suite = saved;
        zeroize::Zeroize::zeroize(&mut shared);
        let child = child?;
        let (t, tn) = cs.transforms();
        let mut t4 = [TransformRepr {
            kind: TransformType::DH,
            id: pfs.map_or(0, |g| g.0),
            key_length: None,
        }; 4];
        for (d, x) in t4.iter_mut().zip(t.get(..tn).unwrap_or_default()) {
            *d = *x;
        }
        let props = [ProposalRepr {
            num,
            protocol: ProtocolId::ESP,
            spi: &our_spi,
            transforms: t4
                .get(..tn + usize::from(pfs.is_some()))
                .unwrap_or_default(),
        }];
        let (tia, tra) = ([ti], [tr]);
        let ker = Payload::Ke(Ke {
            group: pfs.unwrap_or(DhGroup::NONE),
            data: pubk.get(..pn).unwrap_or_default(),
        });
        let inner = [
            Payload::Sa(Sa {
                proposals: ProposalList::List(&props),
            }),
            Payload::Nonce(&nr),
            Payload::Tsi(Ts {
                selectors: SelectorList::List(&tia),
            }),
            Payload::Tsr(Ts {
                selectors: SelectorList::List(&tra),
            }),
            ker,
        ];
        let inner = if pfs.is_some() {
            &inner[..]
        } else {
            inner.get(..4).unwrap_or_default()
        };
        self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, inner, rng)?;
        let _ = self.events.push_back(Action::ChildSa(child));
        Ok(())
    }

    /// Responder side of an IKE SA rekey (section 1.3.2): `SA(IKE, SPIi'), Ni, KEi`
    /// in, `SA(IKE, SPIr'), Nr, KEr` out; `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni
    /// | Nr)` (section 2.18). The new SA waits in [`IkeSa::take_rekeyed`].
    fn on_ike_rekey_request<R: RngCore + CryptoRng>(
        &mut self,
        id: u32,
        sa: &[u8],
        ni: &[u8],
        ke: Ke<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let Ok((num, suite)) = select_ike(self.cfg.ike_suites, sa) else {
            let n = [notify(NotifyType::NO_PROPOSAL_CHOSEN, &[])];
            return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &n, rng);
        };
        let peer_spi = Proposals::new(sa)
            .filter_map(Result::ok)
            .find(|p| p.num == num)
            .and_then(|p| <[u8; 8]>::try_from(p.spi).ok());
        let Some(new_spi_i) = peer_spi else {
            let n = [notify(NotifyType::INVALID_SYNTAX, &[])];
            return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &n, rng);
        };
        if ke.group != suite.dh {
            let g = suite.dh.0.to_be_bytes();
            let n = [notify(NotifyType::INVALID_KE_PAYLOAD, &g)];
            return self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &n, rng);
        }
        let key = EphemeralKey::generate(suite.dh, rng)?;
        let mut shared = [0u8; MAX_SHARED_LEN];
        let n = key.agree(ke.data, &mut shared)?;
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let pn = key.public_key(&mut pubk)?;
        let nr: [u8; NONCE_LEN] = random(rng);
        let new_spi_r: [u8; 8] = random(rng);
        // The old SA's PRF keys the new SKEYSEED; the new SA's PRF expands it.
        let old_prf = HmacPrf::new(self.suite.prf)?;
        let seed = crate::crypto::skeyseed_rekey(
            &old_prf,
            self.keys.d.as_bytes(),
            shared.get(..n).unwrap_or_default(),
            ni,
            &nr,
        )?;
        zeroize::Zeroize::zeroize(&mut shared);
        let prf = HmacPrf::new(suite.prf)?;
        let sk = suite.sk();
        let keys = derive_ike_keys(
            &prf,
            seed.as_bytes(),
            ni,
            &nr,
            &new_spi_i,
            &new_spi_r,
            KeyLengths {
                prf: prf.output_len(),
                integ: sk.integ_key_len(),
                encr: sk.encr_key_len(),
            },
        )?;
        let (t, tn) = suite.transforms();
        let props = [ProposalRepr {
            num,
            protocol: ProtocolId::IKE,
            spi: &new_spi_r,
            transforms: t.get(..tn).unwrap_or_default(),
        }];
        let inner = [
            Payload::Sa(Sa {
                proposals: ProposalList::List(&props),
            }),
            Payload::Nonce(&nr),
            Payload::Ke(Ke {
                group: suite.dh,
                data: pubk.get(..pn).unwrap_or_default(),
            }),
        ];
        self.seal_out(ExchangeType::CREATE_CHILD_SA, true, id, &inner, rng)?;
        self.rekeyed = Some(Rekeyed {
            role: Role::Responder,
            spi_i: new_spi_i,
            spi_r: new_spi_r,
            suite,
            keys,
        });
        let _ = self.events.push_back(Action::IkeSaRekeyed {
            spi_i: new_spi_i,
            spi_r: new_spi_r,
        });
        Ok(())
    }

    /// After [`Action::IkeSaRekeyed`]: the new IKE SA (section 2.18), established,
    /// with message IDs from 0; whoever started the rekey is its original initiator.
    /// This SA stays until deleted: by the peer if it rekeyed, else call
    /// [`IkeSa::delete`] on it.
    #[must_use]
    pub fn take_rekeyed(&mut self) -> Option<IkeSa<'c>> {
        let r = self.rekeyed.take()?;
        let mut n = Self::blank(self.cfg, r.role, self.local, self.remote);
        n.state = State::Established;
        n.spi_i = r.spi_i;
        n.spi_r = r.spi_r;
        n.suite = r.suite;
        n.keys = r.keys;
        n.child_suite = self.child_suite;
        n.nat_peer = self.nat_peer;
        n.nat_local = self.nat_local;
        n.frag_len = self.frag_len;
        n.frag_on = self.frag_on;
        n.cert = self.cert;
        Some(n)
    }

    /// Starts an IKE SA rekey (section 1.3.2): `SA(IKE, SPIi'), Ni, KEi` with the
    /// current suite. The new SA arrives as [`Action::IkeSaRekeyed`]; then take it
    /// with [`IkeSa::take_rekeyed`] and delete this one.
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] unless established with no request outstanding.
    pub fn rekey_ike<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        if self.state != State::Established || self.awaiting.is_some() {
            return Err(ProtocolError::Unexpected);
        }
        let suite = self.suite;
        let key = EphemeralKey::generate(suite.dh, rng)?;
        let mut pubk = [0u8; MAX_PUBLIC_LEN];
        let pn = key.public_key(&mut pubk)?;
        let pending = PendingIkeRekey {
            nonce: random(rng),
            spi_i: random(rng),
            key,
        };
        let (t, tn) = suite.transforms();
        let props = [ProposalRepr {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &pending.spi_i,
            transforms: t.get(..tn).unwrap_or_default(),
        }];
        let inner = [
            Payload::Sa(Sa {
                proposals: ProposalList::List(&props),
            }),
            Payload::Nonce(&pending.nonce),
            Payload::Ke(Ke {
                group: suite.dh,
                data: pubk.get(..pn).unwrap_or_default(),
            }),
        ];
        let mid = self.next_request_id;
        self.seal_out(ExchangeType::CREATE_CHILD_SA, false, mid, &inner, rng)?;
        self.pending_rekey = Some(pending);
        self.awaiting = Some(mid);
        self.next_request_id = mid.wrapping_add(1);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        Ok(())
    }

    fn on_ike_rekey_response(&mut self, d: Inner<'_>) -> Result<(), ProtocolError> {
        let (mut sa, mut nonce, mut ke, mut err) = (None, None, None, None);
        for raw in d.payloads() {
            let raw = raw?;
            match Payload::parse(&raw)? {
                Payload::Sa(_) => sa = Some(raw.body),
                Payload::Nonce(n) => nonce = Some(n),
                Payload::Ke(k) => ke = Some(k),
                Payload::Notify(n) if n.notify_type.is_error() => err = Some(n.notify_type),
                _ => {}
            }
        }
        self.awaiting = None;
        self.retransmit_at = None;
        let pending = self.pending_rekey.take().ok_or(ProtocolError::Unexpected)?;
        if let Some(e) = err {
            return Err(ProtocolError::PeerError(e.0));
        }
        let (Some(sa), Some(nr), Some(ke)) = (sa, nonce, ke) else {
            return Err(ProtocolError::PeerMisbehaved(
                "IKE rekey response incomplete",
            ));
        };
        let (num, suite) = select_ike(&[self.suite], sa)?;
        let spi_r = Proposals::new(sa)
            .filter_map(Result::ok)
            .find(|p| p.num == num)
            .and_then(|p| <[u8; 8]>::try_from(p.spi).ok())
            .ok_or(ProtocolError::PeerMisbehaved("IKE rekey without SPI"))?;
        if ke.group != suite.dh || !(16..=MAX_NONCE).contains(&nr.len()) {
            return Err(ProtocolError::PeerMisbehaved("IKE rekey KE or nonce"));
        }
        let mut shared = [0u8; MAX_SHARED_LEN];
        let n = pending.key.agree(ke.data, &mut shared)?;
        let old_prf = HmacPrf::new(self.suite.prf)?;
        let seed = crate::crypto::skeyseed_rekey(
            &old_prf,
            self.keys.d.as_bytes(),
            shared.get(..n).unwrap_or_default(),
            &pending.nonce,
            nr,
        )?;
        zeroize::Zeroize::zeroize(&mut shared);
        let prf = HmacPrf::new(suite.prf)?;
        let sk = suite.sk();
        let keys = derive_ike_keys(
            &prf,
            seed.as_bytes(),
            &pending.nonce,
            nr,
            &pending.spi_i,
            &spi_r,
            KeyLengths {
                prf: prf.output_len(),
                integ: sk.integ_key_len(),
                encr: sk.encr_key_len(),
            },
        )?;
        self.rekeyed = Some(Rekeyed {
            role: Role::Initiator,
            spi_i: pending.spi_i,
            spi_r,
            suite,
            keys,
        });
        let _ = self.events.push_back(Action::IkeSaRekeyed {
            spi_i: pending.spi_i,
            spi_r,
        });
        Ok(())
    }

    fn on_create_child_response(&mut self, d: Inner<'_>) -> Result<(), ProtocolError> {
        self.awaiting = None;
        self.retransmit_at = None;
        let pending = self.pending_child.take().ok_or(ProtocolError::Unexpected)?;
        let (mut sa, mut nonce, mut tsi, mut tsr, mut err) = (None, None, None, None, None);
        let mut ke = None;
        for raw in d.payloads() {
            let raw = raw?;
            match Payload::parse(&raw)? {
                Payload::Sa(_) => sa = Some(raw.body),
                Payload::Nonce(n) => nonce = Some(n),
                Payload::Ke(k) => ke = Some(k),
                Payload::Tsi(t) => tsi = t.iter().next().and_then(Result::ok),
                Payload::Tsr(t) => tsr = t.iter().next().and_then(Result::ok),
                Payload::Notify(n) if n.notify_type.is_error() => err = Some(n.notify_type),
                _ => {}
            }
        }
        if let Some(e) = err {
            let _ = self.events.push_back(Action::ChildSaRefused(e));
            return Ok(());
        }
        let (Some(sa), Some(nr), Some(ti), Some(tr)) = (sa, nonce, tsi, tsr) else {
            let _ = self
                .events
                .push_back(Action::ChildSaRefused(NotifyType::INVALID_SYNTAX));
            return Err(ProtocolError::PeerMisbehaved(
                "CREATE_CHILD_SA response incomplete",
            ));
        };
        let pfs = pending.key.as_ref().map(crate::crypto::KeyExchange::group);
        let (_, cs, peer_spi) = select_child(self.cfg.child_suites, sa, pfs)?;
        // PFS (section 1.3.1): the responder's KE of our group.
        let mut shared = [0u8; MAX_SHARED_LEN];
        let sn = match (&pending.key, ke) {
            (Some(k), Some(ke)) if Some(ke.group) == pfs => k.agree(ke.data, &mut shared)?,
            (None, None) => 0,
            _ => {
                let _ = self
                    .events
                    .push_back(Action::ChildSaRefused(NotifyType::INVALID_KE_PAYLOAD));
                return Err(ProtocolError::PeerMisbehaved("CREATE_CHILD_SA KE mismatch"));
            }
        };
        let saved = self.child_suite;
        self.child_suite = cs;
        let child = self.make_child(
            true,
            &pending.nonce,
            nr,
            pfs.map(|_| shared.get(..sn).unwrap_or_default()),
            pending.spi,
            peer_spi,
            ti,
            tr,
            pending.replaces,
        );
        self.child_suite = saved;
        zeroize::Zeroize::zeroize(&mut shared);
        let _ = self.events.push_back(Action::ChildSa(child?));
        Ok(())
    }

    #[allow(
        clippy::too_many_lines,
        reason = "section 1.2 responder IKE_AUTH steps in order"
    )]
    fn on_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        id: u32,
        d: Inner<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let got = AuthPayloads::collect(d, true)?;
        let AuthPayloads {
            idi,
            certreq,
            auth,
            sa,
            tsi,
            tsr,
            cp_request,
            eap,
            ..
        } = got;
        let peer_certs = got.certs();
        let stage = self.eap.as_ref().map(|e| e.stage);
        match (stage, auth, idi) {
            (Some(EapStage::Start), None, Some(idi)) => {
                // Section 2.16: no AUTH asks for EAP; keep what the final answer
                // needs and let the caller send the first EAP request.
                if let Some(want) = self.cfg.remote_id {
                    let mut b = [0u8; 260];
                    let n = id_body_bytes(want, &mut b)?;
                    if b.get(..n) != Some(idi) {
                        return Err(ProtocolError::AuthenticationFailed);
                    }
                }
                self.expected_request_id = id.wrapping_add(1);
                if let Some(e) = self.eap.as_mut() {
                    e.peer_id.set(idi)?;
                    e.sa.set(sa.unwrap_or_default())?;
                    e.tsi = tsi;
                    e.tsr = tsr;
                    e.cp_request = cp_request;
                    e.inbox.len = 0;
                    e.owed = Some(id);
                }
                let _ = self.events.push_back(Action::Eap);
                return Ok(());
            }
            (Some(EapStage::Running), _, _) => {
                let m = eap.ok_or(ProtocolError::PeerMisbehaved("IKE_AUTH without EAP"))?;
                self.expected_request_id = id.wrapping_add(1);
                if let Some(e) = self.eap.as_mut() {
                    e.inbox.set(m)?;
                    e.owed = Some(id);
                }
                let _ = self.events.push_back(Action::Eap);
                return Ok(());
            }
            (Some(EapStage::Success), Some(auth), _) => {
                self.expected_request_id = id.wrapping_add(1);
                if let Err(e) = self.check_msk_auth(auth) {
                    let n = [notify(NotifyType::AUTHENTICATION_FAILED, &[])];
                    self.seal_out(ExchangeType::IKE_AUTH, true, id, &n, rng)?;
                    return Err(e);
                }
                let lid = self.cfg.local_id;
                let mut id_body = [0u8; 260];
                let idn = id_body_bytes(lid, &mut id_body)?;
                let mut a = [0u8; 64];
                let an = self.msk_auth(false, id_body.get(..idn).unwrap_or_default(), &mut a)?;
                let mut saved = [0u8; 512];
                let (n, tsi, tsr, cp) = self.eap.as_ref().map_or((0, None, None, false), |e| {
                    let b = e.sa.get();
                    if let Some(d) = saved.get_mut(..b.len()) {
                        d.copy_from_slice(b);
                    }
                    (b.len(), e.tsi, e.tsr, e.cp_request)
                });
                let sa = (n > 0).then(|| saved.get(..n).unwrap_or_default());
                let authp = Payload::Auth(Auth {
                    method: AuthMethod::SHARED_KEY_MIC,
                    data: a.get(..an).unwrap_or_default(),
                });
                return self.auth_response_tail(
                    id,
                    None,
                    [None; 1 + MAX_CHAIN],
                    authp,
                    sa,
                    tsi,
                    tsr,
                    cp,
                    rng,
                );
            }
            (Some(EapStage::Start) | None, _, _) => {}
            _ => {
                return Err(ProtocolError::PeerMisbehaved(
                    "unexpected IKE_AUTH during EAP",
                ));
            }
        }
        let (Some(idi), Some(auth)) = (idi, auth) else {
            return Err(ProtocolError::PeerMisbehaved(
                "IKE_AUTH without IDi or AUTH",
            ));
        };
        self.expected_request_id = id.wrapping_add(1);
        if let Err(e) = self.check_peer(idi, auth, peer_certs) {
            // Section 2.21.2: answer AUTHENTICATION_FAILED, then forget the SA.
            let n = [notify(NotifyType::AUTHENTICATION_FAILED, &[])];
            self.seal_out(ExchangeType::IKE_AUTH, true, id, &n, rng)?;
            return Err(e);
        }
        self.peer_requested(certreq);
        // Our AUTH over RealMessage2 | Ni | prf(SK_pr, IDr').
        let lid = self.cfg.local_id;
        let mut id_body = [0u8; 260];
        let idn = id_body_bytes(lid, &mut id_body)?;
        let mut our_auth = [0u8; AUTH_BUF];
        let (method, an) =
            self.our_auth(false, id_body.get(..idn).unwrap_or_default(), &mut our_auth)?;
        let certp = self.our_certs();
        let idr = Payload::Idr(Id {
            id_type: lid.id_type,
            data: lid.data,
        });
        let authp = Payload::Auth(Auth {
            method,
            data: our_auth.get(..an).unwrap_or_default(),
        });
        self.auth_response_tail(id, Some(idr), certp, authp, sa, tsi, tsr, cp_request, rng)
    }

    /// The IKE_AUTH response that establishes the SA: `[IDr, CERT,] AUTH` and the
    /// Child SA (SA, TSi, TSr, CP) or the notify refusing it (sections 1.2, 2.9,
    /// 2.16, 2.19).
    #[allow(
        clippy::too_many_arguments,
        clippy::too_many_lines,
        reason = "section 1.2 responder steps in order; the inputs are all distinct"
    )]
    fn auth_response_tail<R: RngCore + CryptoRng>(
        &mut self,
        id: u32,
        idr: Option<Payload<'_>>,
        certp: [Option<Payload<'_>>; 1 + MAX_CHAIN],
        authp: Payload<'_>,
        sa: Option<&[u8]>,
        tsi: Option<TrafficSelector>,
        tsr: Option<TrafficSelector>,
        cp_request: bool,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let [c0, c1, c2, c3, c4] = certp;
        self.established();
        // Child SA: proposal and selectors (section 2.9 narrowing).
        let child = sa
            .ok_or(ProtocolError::NoProposalChosen)
            .and_then(|sa| select_child(self.cfg.child_suites, sa, None));
        // Remote access (section 2.19): the initiator's side narrows to the
        // virtual IP the caller assigned.
        let vip_ts = self.virtual_ip.map(|a| TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 0xffff,
            range: AddrRange::V4 { start: a, end: a },
        });
        let allowed_i = match (cp_request, vip_ts) {
            (true, Some(v)) => Some(v),
            (true, None) => None,
            (false, _) => Some(self.cfg.ts_i),
        };
        let narrowed = match (tsi, tsr, allowed_i) {
            (Some(ti), Some(tr), Some(allowed)) => {
                narrow(&ti, &allowed).zip(narrow(&tr, &self.cfg.ts_r))
            }
            _ => None,
        };
        let mut cp_attrs = [ConfigAttribute {
            kind: ConfigAttr::INTERNAL_IP4_DNS,
            value: &[],
        }; 3];
        let vip = self.virtual_ip.unwrap_or_default();
        if let Some(first) = cp_attrs.first_mut() {
            *first = ConfigAttribute {
                kind: ConfigAttr::INTERNAL_IP4_ADDRESS,
                value: &vip,
            };
        }
        let dns = self.dns;
        for (slot, server) in cp_attrs
            .iter_mut()
            .skip(1)
            .zip(dns.iter().take(self.dns_len))
        {
            slot.value = server;
        }
        let cp_reply = Payload::Cp(Cp {
            cfg_type: CfgType::REPLY,
            attributes: ConfigList::List(cp_attrs.get(..1 + self.dns_len).unwrap_or_default()),
        });
        match (child, narrowed) {
            (Ok((num, cs, spi_i)), Some((ti, tr))) => {
                self.child_suite = cs;
                self.child_spi = random(rng);
                let spi = self.child_spi;
                let (t, tn) = cs.transforms();
                let props = [ProposalRepr {
                    num,
                    protocol: ProtocolId::ESP,
                    spi: &spi,
                    transforms: t.get(..tn).unwrap_or_default(),
                }];
                let (tia, tra) = ([ti], [tr]);
                // IDr, [CERT,] AUTH, SAr2, TSi, TSr, [CP(CFG_REPLY)] (sections 1.2, 2.19).
                let (inner, count) = compact([
                    idr,
                    c0,
                    c1,
                    c2,
                    c3,
                    c4,
                    Some(authp),
                    Some(Payload::Sa(Sa {
                        proposals: ProposalList::List(&props),
                    })),
                    Some(Payload::Tsi(Ts {
                        selectors: SelectorList::List(&tia),
                    })),
                    Some(Payload::Tsr(Ts {
                        selectors: SelectorList::List(&tra),
                    })),
                    (cp_request && self.virtual_ip.is_some()).then_some(cp_reply),
                ]);
                self.seal_out(
                    ExchangeType::IKE_AUTH,
                    true,
                    id,
                    inner.get(..count).unwrap_or_default(),
                    rng,
                )?;
                self.push_child(self.child_spi, spi_i, ti, tr)
            }
            (c, _) => {
                // Section 1.2 / 2.9: the IKE SA stands, the Child SA is refused.
                let t = if c.is_err() {
                    NotifyType::NO_PROPOSAL_CHOSEN
                } else if cp_request && self.virtual_ip.is_none() {
                    NotifyType::INTERNAL_ADDRESS_FAILURE
                } else {
                    NotifyType::TS_UNACCEPTABLE
                };
                let (inner, count) =
                    compact([idr, c0, c1, c2, c3, c4, Some(authp), Some(notify(t, &[]))]);
                let inner = inner.get(..count).unwrap_or_default();
                self.seal_out(ExchangeType::IKE_AUTH, true, id, inner, rng)
            }
        }
    }

    fn on_informational<R: RngCore + CryptoRng>(
        &mut self,
        id: u32,
        d: Inner<'_>,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        let mut delete_ike = false;
        for raw in d.payloads() {
            if let Payload::Delete(del) = Payload::parse(&raw?)? {
                delete_ike |= del.protocol == ProtocolId::IKE;
            }
        }
        self.expected_request_id = id.wrapping_add(1);
        // Section 1.4.1: an empty response acknowledges a Delete or a liveness check.
        self.seal_out(ExchangeType::INFORMATIONAL, true, id, &[], rng)?;
        if delete_ike {
            self.state = State::Dead;
            self.retransmit_at = None;
            self.awaiting = None;
            let _ = self.events.push_back(Action::Closed);
        }
        Ok(())
    }

    /// Starts an INFORMATIONAL exchange: a Delete of the IKE SA (and with it its
    /// Child SAs), section 1.4.1.
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] unless established with no request outstanding.
    pub fn delete<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        self.informational(now, true, rng)?;
        self.state = State::Deleting;
        Ok(())
    }

    /// Starts a liveness check: an empty INFORMATIONAL request (section 1.4).
    ///
    /// # Errors
    /// [`ProtocolError::Unexpected`] unless established with no request outstanding.
    pub fn liveness_check<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        self.informational(now, false, rng)
    }

    fn informational<R: RngCore + CryptoRng>(
        &mut self,
        now: Duration,
        delete: bool,
        rng: &mut R,
    ) -> Result<(), ProtocolError> {
        if self.state != State::Established || self.awaiting.is_some() {
            return Err(ProtocolError::Unexpected);
        }
        let del = [Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: &[],
        })];
        let inner: &[Payload<'_>] = if delete { &del } else { &[] };
        let mid = self.next_request_id;
        self.seal_out(ExchangeType::INFORMATIONAL, false, mid, inner, rng)?;
        self.awaiting = Some(mid);
        self.next_request_id = mid.wrapping_add(1);
        self.retransmits = 0;
        self.retransmit_at = Some(now + self.cfg.retransmit);
        Ok(())
    }

    /// Retransmits the outstanding request, or gives up (section 2.4).
    pub fn handle_timeout(&mut self, now: Duration) {
        let Some(at) = self.retransmit_at else { return };
        if now < at {
            return;
        }
        if self.awaiting.is_none() || self.retransmits >= self.cfg.max_retransmits {
            let _ = self.fail(ProtocolError::Timeout);
            return;
        }
        self.retransmits += 1;
        self.req_out.start();
        let backoff = self.cfg.retransmit * (1u32 << self.retransmits.min(10));
        self.retransmit_at = Some(now + backoff);
    }

    /// The next thing to do: events first, then a datagram to send.
    #[must_use]
    pub fn poll_action(&mut self, _now: Duration, tx: &mut [u8]) -> Option<Action> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        for out in [&mut self.resp_out, &mut self.req_out] {
            if out.pending {
                return out.next(tx).map(|len| Action::Send { len });
            }
        }
        None
    }

    /// When [`IkeSa::handle_timeout`] wants to run next.
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Duration> {
        self.retransmit_at
    }
}

/// A decrypted message copied out of the caller's buffer.
struct DecryptedBuf {
    buf: [u8; MAX_MESSAGE],
    first: PayloadType,
    start: usize,
    len: usize,
}

impl DecryptedBuf {
    fn inner(&self) -> Inner<'_> {
        let end = self.start.saturating_add(self.len);
        Inner {
            first: self.first,
            bytes: self.buf.get(self.start..end).unwrap_or_default(),
        }
    }
}

/// The decrypted inner payload chain of a message (from one SK payload or
/// reassembled from fragments).
#[derive(Debug, Clone, Copy)]
struct Inner<'x> {
    first: PayloadType,
    bytes: &'x [u8],
}

impl<'x> Inner<'x> {
    const fn payloads(self) -> Payloads<'x> {
        Payloads::new(self.first, self.bytes)
    }
}

/// The IKE_AUTH payloads either end looks at (RFC 7296 sections 1.2, 2.16, 3.6,
/// 3.7, 3.15), gathered in one pass over the decrypted message; the last of each
/// kind counts, but for CERT (up to [`MAX_PEER_CERTS`] in order) and CERTREQ (the
/// first with X.509 authorities).
#[derive(Clone, Copy)]
struct AuthPayloads<'x> {
    /// The IDi body (in a request).
    idi: Option<&'x [u8]>,
    /// The IDr body (in a response).
    idr: Option<&'x [u8]>,
    peer_certs: [&'x [u8]; MAX_PEER_CERTS],
    nc: usize,
    certreq: Option<&'x [u8]>,
    auth: Option<Auth<'x>>,
    /// The SA payload's body.
    sa: Option<&'x [u8]>,
    /// The first traffic selector of TSi and of TSr.
    tsi: Option<TrafficSelector>,
    tsr: Option<TrafficSelector>,
    /// A CFG_REQUEST configuration payload was present.
    cp_request: bool,
    eap: Option<&'x [u8]>,
    /// An error notify (section 3.10.1).
    err: Option<NotifyType>,
}

impl<'x> AuthPayloads<'x> {
    /// Parses every payload of `d`; with `refuse_critical` an unknown payload with
    /// the critical bit set ends it (section 2.5).
    fn collect(d: Inner<'x>, refuse_critical: bool) -> Result<Self, ProtocolError> {
        let mut g = Self {
            idi: None,
            idr: None,
            peer_certs: [&[]; MAX_PEER_CERTS],
            nc: 0,
            certreq: None,
            auth: None,
            sa: None,
            tsi: None,
            tsr: None,
            cp_request: false,
            eap: None,
            err: None,
        };
        for raw in d.payloads() {
            let raw = raw?;
            match Payload::parse(&raw)? {
                Payload::Eap(m) => g.eap = Some(m),
                Payload::Idi(_) => g.idi = Some(raw.body),
                Payload::Idr(_) => g.idr = Some(raw.body),
                Payload::Cert(c) => {
                    if let Some(s) = g.peer_certs.get_mut(g.nc) {
                        *s = c.data;
                        g.nc += 1;
                    }
                }
                Payload::CertReq(c) if c.encoding == CertEncoding::X509_SIGNATURE => {
                    g.certreq = g.certreq.or(Some(c.data));
                }
                Payload::Auth(a) => g.auth = Some(a),
                Payload::Sa(_) => g.sa = Some(raw.body),
                Payload::Tsi(t) => g.tsi = t.iter().next().and_then(Result::ok),
                Payload::Tsr(t) => g.tsr = t.iter().next().and_then(Result::ok),
                Payload::Cp(cp) => g.cp_request |= cp.cfg_type == CfgType::REQUEST,
                Payload::Notify(n) if n.notify_type.is_error() => g.err = Some(n.notify_type),
                Payload::Other { critical: true, .. } if refuse_critical => {
                    return Err(ProtocolError::PeerMisbehaved(
                        "unsupported critical payload",
                    ));
                }
                _ => {}
            }
        }
        Ok(g)
    }

    /// The peer's certificates, end entity first.
    fn certs(&self) -> &[&'x [u8]] {
        self.peer_certs.get(..self.nc).unwrap_or_default()
    }
}

/// The present payloads of `items`, in order, and their count.
/// Our CERTREQ (section 3.7), when the verifier names trust anchors.
fn certreq(c: CertAuth<'_>) -> Option<Payload<'_>> {
    let data = c.verifier.authorities();
    (!data.is_empty()).then_some(Payload::CertReq(Cert {
        encoding: CertEncoding::X509_SIGNATURE,
        data,
    }))
}

/// A transform substructure's fields (RFC 7296 section 3.3.2), the Key Length
/// attribute only where given (section 3.3.5).
const fn transform(kind: TransformType, id: u16, key_length: Option<u16>) -> TransformRepr {
    TransformRepr {
        kind,
        id,
        key_length,
    }
}

/// The transform rows of up to eight proposals (RFC 7296 section 3.3): each suite's
/// first `n` transforms, then `extra` when given (the DH transform of a
/// CREATE_CHILD_SA with PFS, section 1.3.1). The rows' lengths in the second array.
fn transform_rows<const M: usize>(
    suites: impl Iterator<Item = ([TransformRepr; M], usize)>,
    extra: Option<TransformRepr>,
) -> ([[TransformRepr; 4]; 8], [usize; 8]) {
    let fill = match extra {
        Some(t) => t,
        None => transform(TransformType::ENCR, 0, None),
    };
    let mut rows = [[fill; 4]; 8];
    let mut lens = [0usize; 8];
    for ((row, len), (t, n)) in rows.iter_mut().zip(&mut lens).zip(suites) {
        for (d, x) in row.iter_mut().zip(t.get(..n).unwrap_or_default()) {
            *d = *x;
        }
        *len = n + usize::from(extra.is_some());
    }
    (rows, lens)
}

/// The first `count` rows as proposals numbered from 1 (RFC 7296 section 3.3.1),
/// each with `spi`; returns them and how many there are.
fn numbered_proposals<'t>(
    protocol: ProtocolId,
    spi: &'t [u8],
    rows: &'t [[TransformRepr; 4]; 8],
    lens: &[usize; 8],
    count: usize,
) -> ([ProposalRepr<'t>; 8], usize) {
    let mut props = [ProposalRepr {
        num: 0,
        protocol,
        spi: &[],
        transforms: &[],
    }; 8];
    let mut np = 0;
    for ((p, (t, len)), i) in props
        .iter_mut()
        .zip(rows.iter().zip(lens).take(count))
        .zip(1u8..)
    {
        *p = ProposalRepr {
            num: i,
            protocol,
            spi,
            transforms: t.get(..*len).unwrap_or_default(),
        };
        np += 1;
    }
    (props, np)
}

fn compact<const N: usize>(items: [Option<Payload<'_>>; N]) -> ([Payload<'_>; N], usize) {
    let mut out = [Payload::Nonce(&[]); N];
    let mut n = 0;
    for p in items.into_iter().flatten() {
        if let Some(d) = out.get_mut(n) {
            *d = p;
            n += 1;
        }
    }
    (out, n)
}

/// `RestOfIDPayload`: ID Type, three reserved bytes, data (section 2.15).
fn id_body_bytes(id: Identity<'_>, out: &mut [u8; 260]) -> Result<usize, ProtocolError> {
    let n = 4 + id.data.len();
    let dst = out
        .get_mut(..n)
        .ok_or(ProtocolError::PeerMisbehaved("identity too long"))?;
    let (h, d) = dst.split_at_mut(4);
    h.copy_from_slice(&[id.id_type.0, 0, 0, 0]);
    d.copy_from_slice(id.data);
    Ok(n)
}
