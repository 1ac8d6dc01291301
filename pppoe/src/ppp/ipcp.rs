//! IP Control Protocol options (RFC 1332 section 3): IP-Address (3.3), and the
//! Primary/Secondary DNS Server Address options of RFC 1877 section 1. The AC side
//! Naks the host's `0.0.0.0` with the address the caller supplies (RFC 1332
//! section 3.3: "the peer ... Nak ... with a valid IP-Address").

use super::cp::{Handler, Verdict};
use super::packet::{Opt, Options, Writer};
use super::{Prng, Protocol, ppp_newtype};

ppp_newtype! {
    /// IPCP Configuration Option type: IANA "IPCP Configuration Option Types"
    /// (RFC 1332 section 3, RFC 1877).
    IpcpOption(u8) {
        /// IP-Addresses, deprecated (RFC 1332 section 3.1).
        IP_ADDRESSES = 1, "IP-Addresses";
        /// IP-Compression-Protocol (RFC 1332 section 3.2).
        IP_COMPRESSION = 2, "IP-Compression-Protocol";
        /// IP-Address (RFC 1332 section 3.3).
        IP_ADDRESS = 3, "IP-Address";
        /// Primary DNS Server Address (RFC 1877 section 1.1).
        PRIMARY_DNS = 129, "Primary-DNS-Server-Address";
        /// Primary NBNS Server Address (RFC 1877 section 1.2).
        PRIMARY_NBNS = 130, "Primary-NBNS-Server-Address";
        /// Secondary DNS Server Address (RFC 1877 section 1.3).
        SECONDARY_DNS = 131, "Secondary-DNS-Server-Address";
        /// Secondary NBNS Server Address (RFC 1877 section 1.4).
        SECONDARY_NBNS = 132, "Secondary-NBNS-Server-Address";
    }
}

/// Which end of the link this IPCP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpRole {
    /// The access concentrator: hands out the peer's address and DNS.
    Server,
    /// The host: asks for an address (and DNS).
    Client,
}

/// IPCP option state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipcp {
    /// Which end we are.
    pub role: IpcpRole,
    /// Our address (AC: its own address; host: learned from the Nak, 0 first).
    pub local: [u8; 4],
    /// The peer's address (AC: the address to assign, 0 = not known yet; host:
    /// the AC's address from its request).
    pub peer: [u8; 4],
    /// DNS servers (AC: to hand out, 0 = none; host: learned).
    pub dns: [[u8; 4]; 2],
    /// Host: ask for DNS servers (RFC 1877).
    pub want_dns: bool,
    send_addr: bool,
    send_dns: [bool; 2],
}

impl Ipcp {
    /// An IPCP for `role`; `local` is the AC's own address (host: `0.0.0.0`, or a
    /// preferred address).
    #[must_use]
    pub const fn new(role: IpcpRole, local: [u8; 4], dns: [[u8; 4]; 2], want_dns: bool) -> Self {
        Self {
            role,
            local,
            peer: [0; 4],
            dns,
            want_dns,
            send_addr: true,
            send_dns: [want_dns, want_dns],
        }
    }

    fn check_dns(&self, i: usize, opt: &Opt<'_>, nak: &mut Writer<'_>) -> Verdict {
        let ours = self.dns.get(i).copied().unwrap_or_default();
        if self.role == IpcpRole::Client || ours == [0; 4] || opt.data.len() != 4 {
            return Verdict::Reject;
        }
        if opt.data == ours {
            Verdict::Ack
        } else {
            nak.opt(opt.kind, &ours);
            Verdict::Nak
        }
    }
}

impl Handler for Ipcp {
    const PROTOCOL: Protocol = Protocol::IPCP;

    fn request(&self, w: &mut Writer<'_>) {
        if self.send_addr {
            w.opt(IpcpOption::IP_ADDRESS.0, &self.local);
        }
        if self.role == IpcpRole::Client {
            let [d1, d2] = self.dns;
            let [s1, s2] = self.send_dns;
            if s1 {
                w.opt(IpcpOption::PRIMARY_DNS.0, &d1);
            }
            if s2 {
                w.opt(IpcpOption::SECONDARY_DNS.0, &d2);
            }
        }
    }

    fn check(&mut self, opt: Opt<'_>, nak: &mut Writer<'_>, _rng: &mut Prng) -> Verdict {
        match IpcpOption(opt.kind) {
            IpcpOption::IP_ADDRESS => {
                let Ok(addr) = <[u8; 4]>::try_from(opt.data) else {
                    return Verdict::Reject;
                };
                match self.role {
                    IpcpRole::Server => {
                        if addr == self.peer {
                            Verdict::Ack
                        } else {
                            nak.opt(opt.kind, &self.peer);
                            Verdict::Nak
                        }
                    }
                    IpcpRole::Client => {
                        self.peer = addr;
                        Verdict::Ack
                    }
                }
            }
            IpcpOption::PRIMARY_DNS => self.check_dns(0, &opt, nak),
            IpcpOption::SECONDARY_DNS => self.check_dns(1, &opt, nak),
            _ => Verdict::Reject,
        }
    }

    fn nak_received(&mut self, opts: Options<'_>, _rng: &mut Prng) {
        if self.role != IpcpRole::Client {
            return;
        }
        for opt in opts.flatten() {
            let Ok(v) = <[u8; 4]>::try_from(opt.data) else {
                continue;
            };
            match IpcpOption(opt.kind) {
                IpcpOption::IP_ADDRESS => self.local = v,
                IpcpOption::PRIMARY_DNS => self.dns[0] = v,
                IpcpOption::SECONDARY_DNS => self.dns[1] = v,
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, opts: Options<'_>) {
        for opt in opts.flatten() {
            match IpcpOption(opt.kind) {
                IpcpOption::IP_ADDRESS => self.send_addr = false,
                IpcpOption::PRIMARY_DNS => self.send_dns[0] = false,
                IpcpOption::SECONDARY_DNS => self.send_dns[1] = false,
                _ => {}
            }
        }
    }

    fn reset(&mut self) {
        self.send_addr = true;
        self.send_dns = [self.want_dns, self.want_dns];
    }

    fn peer_reset(&mut self) {
        if self.role == IpcpRole::Client {
            self.peer = [0; 4];
        }
    }

    fn ready(&self) -> bool {
        self.role == IpcpRole::Client || self.peer != [0; 4]
    }
}
