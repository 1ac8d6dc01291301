//! A reader for FreeRADIUS-format dictionary files (behind the `alloc` feature): the
//! ecosystem's habit for naming vendor attributes and values at run time. The standard
//! dictionary this crate needs is compiled in ([`crate::dict`]); this reader is for
//! names only and never changes how packets are parsed.
//!
//! Understood: `ATTRIBUTE name number type [flags|vendor]`, `VALUE attribute name
//! number`, `VENDOR name id [format=...]`, `BEGIN-VENDOR name [...]` / `END-VENDOR`,
//! `BEGIN-TLV name` / `END-TLV`, `#` comments, numbers in decimal, `0x` hex and the
//! dotted form of RFC 6929 extended attributes (`241.1`). `$INCLUDE name` lines are
//! collected in [`Dictionary::includes`] for the caller to load and [`Dictionary::merge`]
//! (the crate does no file I/O).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One `ATTRIBUTE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictAttribute {
    /// Name, e.g. `Cisco-AVPair`.
    pub name: String,
    /// Vendor id (0 for the standard space).
    pub vendor: u32,
    /// Attribute number (for `241.1`, 241).
    pub number: u32,
    /// The extended type for dotted numbers (`241.1` -> 1), RFC 6929.
    pub extended: Option<u32>,
    /// The data type keyword as written (`string`, `integer`, `ipaddr`, ...).
    pub data_type: String,
    /// Flags as written (`encrypt=1,has_tag`), empty if none.
    pub flags: String,
    /// The enclosing `BEGIN-TLV` attribute, for sub-TLVs.
    pub tlv_parent: Option<String>,
}

/// One `VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictValue {
    /// The attribute's name.
    pub attribute: String,
    /// The value's name, e.g. `Framed-User`.
    pub name: String,
    /// The number.
    pub value: u64,
}

/// Why a dictionary text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DictError {
    /// A line does not follow the format.
    #[error("dictionary line {line}: {what}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// A parsed dictionary: attributes, values and vendors, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    /// `ATTRIBUTE` entries.
    pub attributes: Vec<DictAttribute>,
    /// `VALUE` entries.
    pub values: Vec<DictValue>,
    /// `VENDOR` entries: name and id.
    pub vendors: Vec<(String, u32)>,
    /// `$INCLUDE` targets seen, for the caller to load.
    pub includes: Vec<String>,
}

fn number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

impl Dictionary {
    /// Parses one dictionary text.
    ///
    /// # Errors
    /// [`DictError::Syntax`] for the first malformed line.
    pub fn parse(text: &str) -> Result<Self, DictError> {
        let mut d = Self::default();
        d.merge(text)?;
        Ok(d)
    }

    /// Adds the entries of another dictionary text (e.g. an `$INCLUDE`d file).
    ///
    /// # Errors
    /// [`DictError::Syntax`] for the first malformed line; entries before it are kept.
    pub fn merge(&mut self, text: &str) -> Result<(), DictError> {
        let mut vendor = 0u32;
        let mut tlv: Vec<String> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |what| DictError::Syntax { line, what };
            let body = raw.split('#').next().unwrap_or_default();
            let mut t = body.split_whitespace();
            let Some(kw) = t.next() else { continue };
            match kw {
                "ATTRIBUTE" => {
                    let name = t.next().ok_or(err("ATTRIBUTE without name"))?;
                    let num = t.next().ok_or(err("ATTRIBUTE without number"))?;
                    let ty = t.next().ok_or(err("ATTRIBUTE without type"))?;
                    let (main, ext) = match num.split_once('.') {
                        Some((a, b)) => (a, Some(b)),
                        None => (num, None),
                    };
                    let number = number(main)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or(err("bad attribute number"))?;
                    let extended = match ext {
                        Some(e) => {
                            Some(number_dotted(e).ok_or(err("bad extended attribute number"))?)
                        }
                        None => None,
                    };
                    let mut flags = String::new();
                    let mut this_vendor = vendor;
                    if let Some(f) = t.next() {
                        if let Some(v) = self.vendor_id(f) {
                            this_vendor = v; // old format: vendor name as 4th field
                        } else {
                            flags = f.to_string();
                        }
                    }
                    self.attributes.push(DictAttribute {
                        name: name.to_string(),
                        vendor: this_vendor,
                        number,
                        extended,
                        data_type: ty.to_string(),
                        flags,
                        tlv_parent: tlv.last().cloned(),
                    });
                }
                "VALUE" => {
                    let attr = t.next().ok_or(err("VALUE without attribute"))?;
                    let name = t.next().ok_or(err("VALUE without name"))?;
                    let v = t.next().and_then(number).ok_or(err("bad VALUE number"))?;
                    self.values.push(DictValue {
                        attribute: attr.to_string(),
                        name: name.to_string(),
                        value: v,
                    });
                }
                "VENDOR" => {
                    let name = t.next().ok_or(err("VENDOR without name"))?;
                    let id = t
                        .next()
                        .and_then(number)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or(err("bad VENDOR id"))?;
                    self.vendors.push((name.to_string(), id));
                }
                "BEGIN-VENDOR" => {
                    let name = t.next().ok_or(err("BEGIN-VENDOR without name"))?;
                    vendor = self
                        .vendor_id(name)
                        .ok_or(err("BEGIN-VENDOR of an unknown vendor"))?;
                }
                "END-VENDOR" => vendor = 0,
                "BEGIN-TLV" => tlv.push(t.next().ok_or(err("BEGIN-TLV without name"))?.to_string()),
                "END-TLV" => {
                    tlv.pop();
                }
                "$INCLUDE" | "$INCLUDE-" => {
                    self.includes
                        .push(t.next().ok_or(err("$INCLUDE without file"))?.to_string());
                }
                _ => return Err(err("unknown keyword")),
            }
        }
        Ok(())
    }

    /// The id of vendor `name`.
    #[must_use]
    pub fn vendor_id(&self, name: &str) -> Option<u32> {
        self.vendors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    /// The attribute called `name` (the last definition wins, as in FreeRADIUS).
    #[must_use]
    pub fn attribute_by_name(&self, name: &str) -> Option<&DictAttribute> {
        self.attributes.iter().rev().find(|a| a.name == name)
    }

    /// The top-level attribute `number` of `vendor` (0: standard).
    #[must_use]
    pub fn attribute(&self, vendor: u32, number: u32) -> Option<&DictAttribute> {
        self.attributes.iter().rev().find(|a| {
            a.vendor == vendor
                && a.number == number
                && a.extended.is_none()
                && a.tlv_parent.is_none()
        })
    }

    /// The name of `value` of attribute `attribute`.
    #[must_use]
    pub fn value_name(&self, attribute: &str, value: u64) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|v| v.attribute == attribute && v.value == value)
            .map(|v| v.name.as_str())
    }

    /// The number of value `name` of attribute `attribute`.
    #[must_use]
    pub fn value(&self, attribute: &str, name: &str) -> Option<u64> {
        self.values
            .iter()
            .rev()
            .find(|v| v.attribute == attribute && v.name == name)
            .map(|v| v.value)
    }
}

/// The tail of a dotted number: `1` or `26.9.1` (the first component is kept).
fn number_dotted(s: &str) -> Option<u32> {
    let first = s.split('.').next()?;
    number(first).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        reason = "tests"
    )]

    use super::{DictError, Dictionary};
    use crate::dict::{AttrType, ErrorCause, TerminateCause};

    const TEXT: &str = "\
# comment
$INCLUDE dictionary.rfc2865
ATTRIBUTE\tUser-Name\t1\tstring
ATTRIBUTE\tService-Type\t6\tinteger
VALUE\tService-Type\tFramed-User\t2
VALUE\tService-Type\tAuthorize-Only\t0x11
ATTRIBUTE\tTunnel-Password\t69\tstring\thas_tag,encrypt=2
ATTRIBUTE\tExtended-Attribute-1\t241\textended
ATTRIBUTE\tFrag-Status\t241.1\tinteger
VENDOR\t\tCisco\t\t\t\t9
BEGIN-VENDOR\tCisco
ATTRIBUTE\tCisco-AVPair\t1\tstring
END-VENDOR\tCisco
VENDOR\tWiMAX\t24757\tformat=1,1,c
BEGIN-VENDOR\tWiMAX
ATTRIBUTE\tWiMAX-Capability\t1\ttlv
BEGIN-TLV\tWiMAX-Capability
ATTRIBUTE\tWiMAX-Release\t1\tstring
END-TLV\tWiMAX-Capability
END-VENDOR\tWiMAX
ATTRIBUTE\tOld-Style\t5\tstring\tCisco
";

    #[test]
    fn parses_the_freeradius_format() {
        let d = Dictionary::parse(TEXT).unwrap();
        assert_eq!(d.includes, ["dictionary.rfc2865"]);
        assert_eq!(d.attribute(0, 1).unwrap().name, "User-Name");
        assert_eq!(d.value("Service-Type", "Authorize-Only"), Some(17));
        assert_eq!(d.value_name("Service-Type", 2), Some("Framed-User"));
        assert_eq!(
            d.attribute_by_name("Tunnel-Password").unwrap().flags,
            "has_tag,encrypt=2"
        );
        let fs = d.attribute_by_name("Frag-Status").unwrap();
        assert_eq!((fs.number, fs.extended), (241, Some(1)));
        assert_eq!(d.attribute(9, 1).unwrap().name, "Cisco-AVPair");
        assert_eq!(d.vendor_id("WiMAX"), Some(24757));
        let rel = d.attribute_by_name("WiMAX-Release").unwrap();
        assert_eq!(rel.tlv_parent.as_deref(), Some("WiMAX-Capability"));
        assert_eq!(d.attribute(24757, 1).unwrap().name, "WiMAX-Capability");
        assert_eq!(d.attribute(9, 5).unwrap().name, "Old-Style");
        assert_eq!(
            Dictionary::parse("ATTRIBUTE X notanumber string"),
            Err(DictError::Syntax {
                line: 1,
                what: "bad attribute number"
            })
        );
        assert!(Dictionary::parse("BEGIN-VENDOR Nobody").is_err());
        assert!(Dictionary::parse("FROB x").is_err());
    }

    /// The installed FreeRADIUS dictionaries (when present) all parse, and agree with
    /// the compiled-in constants on every name they share.
    #[test]
    fn installed_freeradius_dictionaries_agree_with_the_constants() {
        let dir = std::path::Path::new("/usr/share/freeradius");
        let Ok(rd) = std::fs::read_dir(dir) else {
            std::eprintln!("SKIP: no /usr/share/freeradius");
            return;
        };
        let mut files: std::vec::Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        let mut d = Dictionary::default();
        let mut n = 0;
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            // each file defines its own vendors; errors name the file
            if let Err(e) = d.merge(&text) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
        assert!(n > 100, "{n} files");
        let mut shared = 0;
        for t in 1..=255u8 {
            let Some(name) = AttrType(t).name() else {
                continue;
            };
            if let Some(a) = d.attributes.iter().find(|a| {
                a.name == name && a.vendor == 0 && a.extended.is_none() && a.tlv_parent.is_none()
            }) {
                assert_eq!(a.number, u32::from(t), "{name}");
                shared += 1;
            }
        }
        assert!(shared >= 80, "only {shared} names shared with FreeRADIUS");
        for v in 201..=508u32 {
            if let Some(name) = ErrorCause(v).name() {
                assert_eq!(d.value("Error-Cause", name), Some(u64::from(v)), "{name}");
            }
        }
        for v in 1..=22u32 {
            let name = TerminateCause(v).name().unwrap();
            assert_eq!(
                d.value("Acct-Terminate-Cause", name),
                Some(u64::from(v)),
                "{name}"
            );
        }
    }
}
