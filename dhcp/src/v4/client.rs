//! DHCPv4 client (RFC 2131 section 4.4).
