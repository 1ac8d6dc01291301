//! Open newtypes for the IANA "Internet Key Exchange Version 2 (IKEv2) Parameters"
//! registries (RFC 7296 section 3 and the registries it created), STYLE.md section 3.
//!
//! Every value is a `#[repr(transparent)]` wrapper around the wire integer with named
//! associated constants; values not named here are still representable and print as
//! a number.

macro_rules! registry {
    (
        $(#[$meta:meta])*
        $name:ident($int:ty) { $( $(#[$cmeta:meta])* $c:ident = $v:expr, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$cmeta])* pub const $c: Self = Self($v); )*

            /// The registry name of this value, if this crate knows it.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $v => Some(stringify!($c)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

registry! {
    /// IKEv2 Payload Types (IANA registry "IKEv2 Payload Types", RFC 7296 section 3.2).
    PayloadType(u8) {
        /// No Next Payload.
        NONE = 0,
        /// Security Association (section 3.3).
        SA = 33,
        /// Key Exchange (section 3.4).
        KE = 34,
        /// Identification - Initiator (section 3.5).
        IDI = 35,
        /// Identification - Responder (section 3.5).
        IDR = 36,
        /// Certificate (section 3.6).
        CERT = 37,
        /// Certificate Request (section 3.7).
        CERTREQ = 38,
        /// Authentication (section 3.8).
        AUTH = 39,
        /// Nonce (section 3.9).
        NONCE = 40,
        /// Notify (section 3.10).
        NOTIFY = 41,
        /// Delete (section 3.11).
        DELETE = 42,
        /// Vendor ID (section 3.12).
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator (section 3.13).
        TSI = 44,
        /// Traffic Selector - Responder (section 3.13).
        TSR = 45,
        /// Encrypted and Authenticated (section 3.14).
        SK = 46,
        /// Configuration (section 3.15).
        CP = 47,
        /// Extensible Authentication (section 3.16).
        EAP = 48,
        /// Generic Secure Password Methods (RFC 6467).
        GSPM = 49,
        /// Encrypted and Authenticated Fragment (RFC 7383 section 2.5).
        SKF = 53,
    }
}

registry! {
    /// IKEv2 Exchange Types (IANA registry, RFC 7296 section 3.1).
    ExchangeType(u8) {
        /// IKE_SA_INIT (section 1.2).
        IKE_SA_INIT = 34,
        /// IKE_AUTH (section 1.2).
        IKE_AUTH = 35,
        /// CREATE_CHILD_SA (section 1.3).
        CREATE_CHILD_SA = 36,
        /// INFORMATIONAL (section 1.4).
        INFORMATIONAL = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IKE_SESSION_RESUME = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IKE_INTERMEDIATE = 43,
    }
}

registry! {
    /// IKEv2 Notify Message Types, error (1-16383) and status (16384-) values
    /// (IANA registries, RFC 7296 section 3.10.1).
    NotifyType(u16) {
        /// Error: UNSUPPORTED_CRITICAL_PAYLOAD.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// Error: INVALID_IKE_SPI.
        INVALID_IKE_SPI = 4,
        /// Error: INVALID_MAJOR_VERSION.
        INVALID_MAJOR_VERSION = 5,
        /// Error: INVALID_SYNTAX.
        INVALID_SYNTAX = 7,
        /// Error: INVALID_MESSAGE_ID.
        INVALID_MESSAGE_ID = 9,
        /// Error: INVALID_SPI.
        INVALID_SPI = 11,
        /// Error: NO_PROPOSAL_CHOSEN.
        NO_PROPOSAL_CHOSEN = 14,
        /// Error: INVALID_KE_PAYLOAD (section 1.2).
        INVALID_KE_PAYLOAD = 17,
        /// Error: AUTHENTICATION_FAILED.
        AUTHENTICATION_FAILED = 24,
        /// Error: SINGLE_PAIR_REQUIRED.
        SINGLE_PAIR_REQUIRED = 34,
        /// Error: NO_ADDITIONAL_SAS.
        NO_ADDITIONAL_SAS = 35,
        /// Error: INTERNAL_ADDRESS_FAILURE.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// Error: FAILED_CP_REQUIRED.
        FAILED_CP_REQUIRED = 37,
        /// Error: TS_UNACCEPTABLE.
        TS_UNACCEPTABLE = 38,
        /// Error: INVALID_SELECTORS.
        INVALID_SELECTORS = 39,
        /// Error: TEMPORARY_FAILURE.
        TEMPORARY_FAILURE = 43,
        /// Error: CHILD_SA_NOT_FOUND.
        CHILD_SA_NOT_FOUND = 44,
        /// Status: INITIAL_CONTACT.
        INITIAL_CONTACT = 16384,
        /// Status: SET_WINDOW_SIZE.
        SET_WINDOW_SIZE = 16385,
        /// Status: ADDITIONAL_TS_POSSIBLE.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// Status: IPCOMP_SUPPORTED.
        IPCOMP_SUPPORTED = 16387,
        /// Status: NAT_DETECTION_SOURCE_IP (section 2.23).
        NAT_DETECTION_SOURCE_IP = 16388,
        /// Status: NAT_DETECTION_DESTINATION_IP (section 2.23).
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// Status: COOKIE (section 2.6).
        COOKIE = 16390,
        /// Status: USE_TRANSPORT_MODE.
        USE_TRANSPORT_MODE = 16391,
        /// Status: HTTP_CERT_LOOKUP_SUPPORTED.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// Status: REKEY_SA.
        REKEY_SA = 16393,
        /// Status: ESP_TFC_PADDING_NOT_SUPPORTED.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// Status: NON_FIRST_FRAGMENTS_ALSO.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// Status: MOBIKE_SUPPORTED (RFC 4555).
        MOBIKE_SUPPORTED = 16396,
        /// Status: IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// Status: SIGNATURE_HASH_ALGORITHMS (RFC 7427).
        SIGNATURE_HASH_ALGORITHMS = 16431,
    }
}

impl NotifyType {
    /// Error types are below 16384 (RFC 7296 section 3.10.1).
    #[must_use]
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}

registry! {
    /// Security Protocol Identifiers (IANA registry, RFC 7296 section 3.3.1).
    ProtocolId(u8) {
        /// None (in Notify payloads about the IKE SA as a whole).
        NONE = 0,
        /// IKE.
        IKE = 1,
        /// AH.
        AH = 2,
        /// ESP.
        ESP = 3,
    }
}

registry! {
    /// Transform Type Values (IANA registry, RFC 7296 section 3.3.2).
    TransformType(u8) {
        /// Encryption Algorithm (ENCR).
        ENCR = 1,
        /// Pseudorandom Function (PRF).
        PRF = 2,
        /// Integrity Algorithm (INTEG).
        INTEG = 3,
        /// Diffie-Hellman / Key Exchange Method (D-H, KE).
        DH = 4,
        /// Extended Sequence Numbers (ESN).
        ESN = 5,
    }
}

registry! {
    /// Transform Type 1 - Encryption Algorithm Transform IDs (IANA registry,
    /// RFC 7296 section 3.3.2).
    EncrId(u16) {
        /// ENCR_DES.
        DES = 2,
        /// ENCR_3DES.
        TRIPLE_DES = 3,
        /// ENCR_NULL.
        NULL = 11,
        /// ENCR_AES_CBC (RFC 3602).
        AES_CBC = 12,
        /// ENCR_AES_CTR (RFC 5930).
        AES_CTR = 13,
        /// ENCR_AES_CCM_8 (RFC 5282).
        AES_CCM_8 = 14,
        /// ENCR_AES_CCM_12 (RFC 5282).
        AES_CCM_12 = 15,
        /// ENCR_AES_CCM_16 (RFC 5282).
        AES_CCM_16 = 16,
        /// ENCR_AES_GCM_8 (RFC 5282).
        AES_GCM_8 = 18,
        /// ENCR_AES_GCM_12 (RFC 5282).
        AES_GCM_12 = 19,
        /// ENCR_AES_GCM_16 (RFC 5282).
        AES_GCM_16 = 20,
        /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543).
        NULL_AUTH_AES_GMAC = 21,
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        CHACHA20_POLY1305 = 28,
    }
}

impl EncrId {
    /// Combined-mode (AEAD) ciphers need no INTEG transform (RFC 5282 section 8).
    #[must_use]
    pub const fn is_aead(self) -> bool {
        matches!(self.0, 14..=16 | 18..=20 | 21 | 28)
    }
}

registry! {
    /// Transform Type 2 - Pseudorandom Function Transform IDs (IANA registry,
    /// RFC 7296 section 3.3.2).
    PrfId(u16) {
        /// PRF_HMAC_MD5 (RFC 2104).
        HMAC_MD5 = 1,
        /// PRF_HMAC_SHA1 (RFC 2104).
        HMAC_SHA1 = 2,
        /// PRF_AES128_XCBC (RFC 4434).
        AES128_XCBC = 4,
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        HMAC_SHA2_256 = 5,
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        HMAC_SHA2_384 = 6,
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        HMAC_SHA2_512 = 7,
        /// PRF_AES128_CMAC (RFC 4615).
        AES128_CMAC = 8,
    }
}

registry! {
    /// Transform Type 3 - Integrity Algorithm Transform IDs (IANA registry,
    /// RFC 7296 section 3.3.2).
    IntegId(u16) {
        /// NONE (with combined-mode ciphers).
        NONE = 0,
        /// AUTH_HMAC_MD5_96 (RFC 2403).
        HMAC_MD5_96 = 1,
        /// AUTH_HMAC_SHA1_96 (RFC 2404).
        HMAC_SHA1_96 = 2,
        /// AUTH_AES_XCBC_96 (RFC 3566).
        AES_XCBC_96 = 5,
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        HMAC_SHA2_256_128 = 12,
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        HMAC_SHA2_384_192 = 13,
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        HMAC_SHA2_512_256 = 14,
    }
}

registry! {
    /// Transform Type 4 - Key Exchange Method Transform IDs (IANA registry, formerly
    /// "Diffie-Hellman Group Transform IDs", RFC 7296 section 3.3.2).
    DhGroup(u16) {
        /// NONE.
        NONE = 0,
        /// 768-bit MODP Group (RFC 7296 appendix B).
        MODP768 = 1,
        /// 1024-bit MODP Group (RFC 7296 appendix B).
        MODP1024 = 2,
        /// 1536-bit MODP Group (RFC 3526).
        MODP1536 = 5,
        /// 2048-bit MODP Group (RFC 3526).
        MODP2048 = 14,
        /// 3072-bit MODP Group (RFC 3526).
        MODP3072 = 15,
        /// 4096-bit MODP Group (RFC 3526).
        MODP4096 = 16,
        /// 6144-bit MODP Group (RFC 3526).
        MODP6144 = 17,
        /// 8192-bit MODP Group (RFC 3526).
        MODP8192 = 18,
        /// 256-bit random ECP group (RFC 5903).
        ECP256 = 19,
        /// 384-bit random ECP group (RFC 5903).
        ECP384 = 20,
        /// 521-bit random ECP group (RFC 5903).
        ECP521 = 21,
        /// Curve25519 (RFC 8031).
        CURVE25519 = 31,
        /// Curve448 (RFC 8031).
        CURVE448 = 32,
    }
}

registry! {
    /// Transform Type 5 - Extended Sequence Numbers Transform IDs (IANA registry,
    /// RFC 7296 section 3.3.2).
    EsnId(u16) {
        /// No Extended Sequence Numbers.
        NO = 0,
        /// Extended Sequence Numbers.
        YES = 1,
    }
}

registry! {
    /// IKEv2 Transform Attribute Types (IANA registry, RFC 7296 section 3.3.5).
    AttributeType(u16) {
        /// Key Length (in bits), TV format.
        KEY_LENGTH = 14,
    }
}

registry! {
    /// IKEv2 Identification Payload ID Types (IANA registry, RFC 7296 section 3.5).
    IdType(u8) {
        /// ID_IPV4_ADDR.
        IPV4_ADDR = 1,
        /// ID_FQDN.
        FQDN = 2,
        /// ID_RFC822_ADDR.
        RFC822_ADDR = 3,
        /// ID_IPV6_ADDR.
        IPV6_ADDR = 5,
        /// ID_DER_ASN1_DN.
        DER_ASN1_DN = 9,
        /// ID_DER_ASN1_GN.
        DER_ASN1_GN = 10,
        /// ID_KEY_ID.
        KEY_ID = 11,
    }
}

registry! {
    /// IKEv2 Authentication Method (IANA registry, RFC 7296 section 3.8).
    AuthMethod(u8) {
        /// RSA Digital Signature.
        RSA_SIG = 1,
        /// Shared Key Message Integrity Code (section 2.15).
        SHARED_KEY_MIC = 2,
        /// DSS Digital Signature.
        DSS_SIG = 3,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        ECDSA_SHA256_P256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        ECDSA_SHA384_P384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        ECDSA_SHA512_P521 = 11,
        /// Generic Secure Password Authentication Method (RFC 6467).
        GSPAM = 12,
        /// NULL Authentication (RFC 7619).
        NULL = 13,
        /// Digital Signature (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

registry! {
    /// IKEv2 Certificate Encodings (IANA registry, RFC 7296 section 3.6).
    CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7_X509 = 1,
        /// X.509 Certificate - Signature.
        X509_SIGNATURE = 4,
        /// Certificate Revocation List (CRL).
        CRL = 7,
        /// Raw RSA Key.
        RAW_RSA_KEY = 11,
        /// Hash and URL of X.509 certificate.
        HASH_URL_X509 = 12,
        /// Hash and URL of X.509 bundle.
        HASH_URL_BUNDLE = 13,
        /// Raw Public Key (RFC 7670).
        RAW_PUBLIC_KEY = 15,
    }
}

registry! {
    /// IKEv2 Traffic Selector Types (IANA registry, RFC 7296 section 3.13.1).
    TsType(u8) {
        /// TS_IPV4_ADDR_RANGE.
        IPV4_ADDR_RANGE = 7,
        /// TS_IPV6_ADDR_RANGE.
        IPV6_ADDR_RANGE = 8,
    }
}

registry! {
    /// IKEv2 Configuration Payload CFG Types (IANA registry, RFC 7296 section 3.15).
    CfgType(u8) {
        /// CFG_REQUEST.
        REQUEST = 1,
        /// CFG_REPLY.
        REPLY = 2,
        /// CFG_SET.
        SET = 3,
        /// CFG_ACK.
        ACK = 4,
    }
}

registry! {
    /// IKEv2 Configuration Payload Attribute Types (IANA registry, RFC 7296
    /// section 3.15.1).
    ConfigAttr(u16) {
        /// INTERNAL_IP4_ADDRESS.
        INTERNAL_IP4_ADDRESS = 1,
        /// INTERNAL_IP4_NETMASK.
        INTERNAL_IP4_NETMASK = 2,
        /// INTERNAL_IP4_DNS.
        INTERNAL_IP4_DNS = 3,
        /// INTERNAL_IP4_NBNS.
        INTERNAL_IP4_NBNS = 4,
        /// INTERNAL_IP4_DHCP.
        INTERNAL_IP4_DHCP = 6,
        /// APPLICATION_VERSION.
        APPLICATION_VERSION = 7,
        /// INTERNAL_IP6_ADDRESS.
        INTERNAL_IP6_ADDRESS = 8,
        /// INTERNAL_IP6_DNS.
        INTERNAL_IP6_DNS = 10,
        /// INTERNAL_IP6_DHCP.
        INTERNAL_IP6_DHCP = 12,
        /// INTERNAL_IP4_SUBNET.
        INTERNAL_IP4_SUBNET = 13,
        /// SUPPORTED_ATTRIBUTES.
        SUPPORTED_ATTRIBUTES = 14,
        /// INTERNAL_IP6_SUBNET.
        INTERNAL_IP6_SUBNET = 15,
    }
}
