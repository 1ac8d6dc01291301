//! IPv6 Control Protocol (RFC 5072 section 4): the Interface-Identifier option
//! (4.1). Identifiers come from the caller-seeded PRNG; a zero identifier or one
//! equal to ours is Nak'd with a fresh one.

use super::cp::{Handler, Verdict};
use super::packet::{Opt, Options, Writer};
use super::{Prng, Protocol, ppp_newtype};

ppp_newtype! {
    /// IPv6CP Configuration Option type: IANA "IPv6CP Configuration Options"
    /// (RFC 5072 section 4).
    Ipv6cpOption(u8) {
        /// Interface-Identifier (section 4.1).
        INTERFACE_IDENTIFIER = 1, "Interface-Identifier";
        /// IPv6-Compression-Protocol (section 4.2).
        COMPRESSION = 2, "IPv6-Compression-Protocol";
    }
}

/// IPv6CP option state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6cp {
    /// Our interface identifier (never zero).
    pub local: [u8; 8],
    /// The peer's interface identifier (zero until acknowledged).
    pub peer: [u8; 8],
    send_iid: bool,
}

fn random_iid(rng: &mut Prng, not: [u8; 8]) -> [u8; 8] {
    loop {
        let v = rng.next_u64().to_be_bytes();
        if v != [0; 8] && v != not {
            return v;
        }
    }
}

impl Ipv6cp {
    /// An IPv6CP with our identifier `local` (zero: drawn from `rng`).
    #[must_use]
    pub fn new(local: [u8; 8], rng: &mut Prng) -> Self {
        let local = if local == [0; 8] {
            random_iid(rng, [0; 8])
        } else {
            local
        };
        Self {
            local,
            peer: [0; 8],
            send_iid: true,
        }
    }
}

impl Handler for Ipv6cp {
    const PROTOCOL: Protocol = Protocol::IPV6CP;

    fn request(&self, w: &mut Writer<'_>) {
        if self.send_iid {
            w.opt(Ipv6cpOption::INTERFACE_IDENTIFIER.0, &self.local);
        }
    }

    fn check(&mut self, opt: Opt<'_>, nak: &mut Writer<'_>, rng: &mut Prng) -> Verdict {
        if Ipv6cpOption(opt.kind) != Ipv6cpOption::INTERFACE_IDENTIFIER {
            return Verdict::Reject;
        }
        let Ok(iid) = <[u8; 8]>::try_from(opt.data) else {
            return Verdict::Reject;
        };
        if iid == [0; 8] || iid == self.local {
            // Section 4.1: a zero or duplicate identifier is Nak'd with a new one.
            nak.opt(opt.kind, &random_iid(rng, self.local));
            Verdict::Nak
        } else {
            self.peer = iid;
            Verdict::Ack
        }
    }

    fn nak_received(&mut self, opts: Options<'_>, rng: &mut Prng) {
        for opt in opts.flatten() {
            if Ipv6cpOption(opt.kind) == Ipv6cpOption::INTERFACE_IDENTIFIER {
                match <[u8; 8]>::try_from(opt.data) {
                    Ok(v) if v != [0; 8] && v != self.peer => self.local = v,
                    _ => self.local = random_iid(rng, self.peer),
                }
            }
        }
    }

    fn reject_received(&mut self, opts: Options<'_>) {
        for opt in opts.flatten() {
            if Ipv6cpOption(opt.kind) == Ipv6cpOption::INTERFACE_IDENTIFIER {
                self.send_iid = false;
            }
        }
    }

    fn reset(&mut self) {
        self.send_iid = true;
    }

    fn peer_reset(&mut self) {
        self.peer = [0; 8];
    }
}
