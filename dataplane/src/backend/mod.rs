//! Packet I/O backends. All `unsafe` of the dataplane lives under this module, each
//! block with a `// SAFETY:` comment (STYLE.md section 9).

pub mod afpacket;
