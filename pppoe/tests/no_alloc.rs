//! Zero-allocation proof: parse and emit through the crate under a counting global
//! allocator (issue: workspace foundation; STYLE.md section 16 item 5).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use bng_pppoe::discovery::{Code, Packet, Repr, Tag, TagList, TagType};
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
