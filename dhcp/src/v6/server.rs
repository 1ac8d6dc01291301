//! DHCPv6 server (RFC 8415 section 18.3).
