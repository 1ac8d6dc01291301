//! Zero-allocation proof: parse and emit through the crate under a counting global
//! allocator (issue: workspace foundation; STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use core::time::Duration;

use bng_pppoe::ac::{Ac, AcConfig, AnyService, CookieSecret, Outcome, SessionAllocator, SessionId};
use bng_pppoe::client::{Action, Client, ClientConfig, Event};
use bng_pppoe::discovery::{Code, Packet, Repr, Tag, TagList, TagType};
use bng_pppoe::ethernet::Mac;
use bng_pppoe::tags::DiscoveryTags;
use bng_testkit::alloc::{CountingAlloc, count_allocations};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn discovery_parse_and_emit_allocate_nothing() {
    let n = count_allocations(|| {
        let tags = [
            Tag {
                kind: TagType::SERVICE_NAME,
                value: b"isp",
            },
            Tag {
                kind: TagType::HOST_UNIQ,
                value: &[9, 9, 9, 9],
            },
        ];
        let r = Repr {
            code: Code::PADI,
            session_id: 0,
            tags: TagList::List(&tags),
        };
        let mut buf = [0u8; 128];
        let len = r.emit(&mut buf).unwrap_or(0);
        let p = Packet::new_checked(&buf[..len]).ok();
        let back = p.as_ref().and_then(|p| Repr::parse(p).ok());
        let mut again = [0u8; 128];
        back.map(|b| b.emit(&mut again))
    });
    assert_eq!(n, 0, "PPPoE discovery parse/emit allocated");
}

/// A fixed-size session table (no heap).
struct Fixed {
    used: [Option<Mac>; 8],
}

impl SessionAllocator for Fixed {
    fn allocate(&mut self, peer: &Mac, _: Option<&[u8]>) -> Option<SessionId> {
        let i = self.used.iter().position(Option::is_none)?;
        self.used[i] = Some(*peer);
        SessionId::new(u16::try_from(i).ok()? + 1)
    }

    fn release(&mut self, peer: &Mac, id: SessionId) -> bool {
        let slot = &mut self.used[usize::from(id.get() - 1)];
        let ok = *slot == Some(*peer);
        if ok {
            *slot = None;
        }
        ok
    }
}

#[test]
fn discovery_machines_allocate_nothing() {
    let ac_mac = [2, 0, 0, 0, 0, 0xac];
    let mut ac = Ac::new(
        AcConfig {
            mac: ac_mac,
            ac_name: b"ac",
            cookie_window: Duration::from_secs(30),
            max_payload: Some(1500),
        },
        AnyService,
        CookieSecret::new([3; 32]),
    )
    .unwrap();
    let mut client = Client::new(ClientConfig {
        host_uniq: Some(&[1, 2, 3, 4]),
        max_payload: Some(1500),
        ..ClientConfig::new([2, 0, 0, 0, 0, 1])
    })
    .unwrap();
    let mut table = Fixed { used: [None; 8] };
    let mut up = None;
    let n = count_allocations(|| {
        let now = Duration::from_secs(100);
        let (mut to_ac, mut to_client) = ([0u8; 1600], [0u8; 1600]);
        client.start(now);
        for _ in 0..8 {
            while let Some(a) = client.poll_action(now, &mut to_ac) {
                match a {
                    Action::Transmit(len) => {
                        match ac.handle_frame(now, &to_ac[..len], &mut to_client, &mut table) {
                            Outcome::Reply { len, .. } | Outcome::SessionStarted { len, .. } => {
                                let _ = client.handle_frame(now, &to_client[..len]);
                            }
                            _ => {}
                        }
                    }
                    Action::Event(Event::SessionUp(s)) => up = Some(s.session_id),
                    Action::Event(_) => {}
                }
            }
        }
        let _ = DiscoveryTags::parse(&to_client[20..]);
    });
    assert_eq!(n, 0, "PPPoE discovery machines allocated");
    assert_eq!(up.map(SessionId::get), Some(1));
}
