//! The standard RADIUS dictionary, compiled in as open newtypes with associated
//! constants (STYLE.md section 3): packet codes, attribute types and the enumerated
//! values of the attributes a BNG uses.
//!
//! Every newtype is `#[repr(transparent)]` over its wire integer; values this crate
//! does not know are still representable and print as `Name(0x..)`.

use core::fmt;

macro_rules! open_newtype {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr, $s:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(transparent)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registry name of this value, if this crate knows it.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}

open_newtype! {
    /// RADIUS packet type: IANA "RADIUS Packet Type Codes" (RFC 2865 section 3 and 4,
    /// RFC 2866 section 4, RFC 5997, RFC 5176 section 3).
    Code(u8) {
        /// Access-Request (RFC 2865 section 4.1).
        ACCESS_REQUEST = 1, "Access-Request";
        /// Access-Accept (RFC 2865 section 4.2).
        ACCESS_ACCEPT = 2, "Access-Accept";
        /// Access-Reject (RFC 2865 section 4.3).
        ACCESS_REJECT = 3, "Access-Reject";
        /// Accounting-Request (RFC 2866 section 4.1).
        ACCOUNTING_REQUEST = 4, "Accounting-Request";
        /// Accounting-Response (RFC 2866 section 4.2).
        ACCOUNTING_RESPONSE = 5, "Accounting-Response";
        /// Access-Challenge (RFC 2865 section 4.4).
        ACCESS_CHALLENGE = 11, "Access-Challenge";
        /// Status-Server (RFC 5997).
        STATUS_SERVER = 12, "Status-Server";
        /// Status-Client (RFC 2865 section 3, reserved).
        STATUS_CLIENT = 13, "Status-Client";
        /// Disconnect-Request (RFC 5176 section 3.1).
        DISCONNECT_REQUEST = 40, "Disconnect-Request";
        /// Disconnect-ACK (RFC 5176 section 3.1).
        DISCONNECT_ACK = 41, "Disconnect-ACK";
        /// Disconnect-NAK (RFC 5176 section 3.1).
        DISCONNECT_NAK = 42, "Disconnect-NAK";
        /// CoA-Request (RFC 5176 section 3.2).
        COA_REQUEST = 43, "CoA-Request";
        /// CoA-ACK (RFC 5176 section 3.2).
        COA_ACK = 44, "CoA-ACK";
        /// CoA-NAK (RFC 5176 section 3.2).
        COA_NAK = 45, "CoA-NAK";
    }
}

/// How the Authenticator field of a packet with this code is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    /// A random Request Authenticator chosen by the sender (RFC 2865 section 3;
    /// Status-Server, RFC 5997 section 3).
    Random,
    /// MD5 over the packet with a zero authenticator and the secret (Accounting-Request,
    /// RFC 2866 section 3; CoA/Disconnect-Request, RFC 5176 section 3.5).
    RequestHash,
    /// Response Authenticator: MD5 over the packet with the request's authenticator and
    /// the secret (RFC 2865 section 3, RFC 2866 section 3, RFC 5176 section 3.5).
    Response,
}

impl Code {
    /// How this code's Authenticator field is formed; unknown codes are treated as
    /// requests with a random authenticator.
    #[must_use]
    pub const fn authenticator_kind(self) -> AuthenticatorKind {
        match self.0 {
            4 | 40 | 43 => AuthenticatorKind::RequestHash,
            2 | 3 | 5 | 11 | 41 | 42 | 44 | 45 => AuthenticatorKind::Response,
            _ => AuthenticatorKind::Random,
        }
    }

    /// True for the reply codes (`Response` authenticators).
    #[must_use]
    pub const fn is_response(self) -> bool {
        matches!(self.authenticator_kind(), AuthenticatorKind::Response)
    }

    /// True if `reply` is a valid answer to a request with this code (RFC 2865 section
    /// 4, RFC 2866 section 4, RFC 5997 section 3, RFC 5176 section 3).
    #[must_use]
    pub const fn accepts_reply(self, reply: Self) -> bool {
        matches!(
            (self.0, reply.0),
            (1, 2 | 3 | 11) | (4, 5) | (12, 2 | 3 | 5) | (40, 41 | 42) | (43, 44 | 45)
        )
    }
}

open_newtype! {
    /// RADIUS attribute type: IANA "RADIUS Attribute Types" (RFC 2865 section 5, RFC
    /// 2866 section 5, RFC 2867, RFC 2868, RFC 2869 section 5, RFC 3162, RFC 4818,
    /// RFC 5176 section 3.5, RFC 6911, RFC 6929).
    AttrType(u8) {
        /// User-Name (RFC 2865 section 5.1).
        USER_NAME = 1, "User-Name";
        /// User-Password, hidden (RFC 2865 section 5.2).
        USER_PASSWORD = 2, "User-Password";
        /// CHAP-Password (RFC 2865 section 5.3).
        CHAP_PASSWORD = 3, "CHAP-Password";
        /// NAS-IP-Address (RFC 2865 section 5.4).
        NAS_IP_ADDRESS = 4, "NAS-IP-Address";
        /// NAS-Port (RFC 2865 section 5.5).
        NAS_PORT = 5, "NAS-Port";
        /// Service-Type (RFC 2865 section 5.6).
        SERVICE_TYPE = 6, "Service-Type";
        /// Framed-Protocol (RFC 2865 section 5.7).
        FRAMED_PROTOCOL = 7, "Framed-Protocol";
        /// Framed-IP-Address (RFC 2865 section 5.8).
        FRAMED_IP_ADDRESS = 8, "Framed-IP-Address";
        /// Framed-IP-Netmask (RFC 2865 section 5.9).
        FRAMED_IP_NETMASK = 9, "Framed-IP-Netmask";
        /// Framed-Routing (RFC 2865 section 5.10).
        FRAMED_ROUTING = 10, "Framed-Routing";
        /// Filter-Id (RFC 2865 section 5.11).
        FILTER_ID = 11, "Filter-Id";
        /// Framed-MTU (RFC 2865 section 5.12).
        FRAMED_MTU = 12, "Framed-MTU";
        /// Framed-Compression (RFC 2865 section 5.13).
        FRAMED_COMPRESSION = 13, "Framed-Compression";
        /// Login-IP-Host (RFC 2865 section 5.14).
        LOGIN_IP_HOST = 14, "Login-IP-Host";
        /// Login-Service (RFC 2865 section 5.15).
        LOGIN_SERVICE = 15, "Login-Service";
        /// Login-TCP-Port (RFC 2865 section 5.16).
        LOGIN_TCP_PORT = 16, "Login-TCP-Port";
        /// Reply-Message (RFC 2865 section 5.18).
        REPLY_MESSAGE = 18, "Reply-Message";
        /// Callback-Number (RFC 2865 section 5.19).
        CALLBACK_NUMBER = 19, "Callback-Number";
        /// Callback-Id (RFC 2865 section 5.20).
        CALLBACK_ID = 20, "Callback-Id";
        /// Framed-Route (RFC 2865 section 5.22).
        FRAMED_ROUTE = 22, "Framed-Route";
        /// Framed-IPX-Network (RFC 2865 section 5.23).
        FRAMED_IPX_NETWORK = 23, "Framed-IPX-Network";
        /// State (RFC 2865 section 5.24).
        STATE = 24, "State";
        /// Class (RFC 2865 section 5.25).
        CLASS = 25, "Class";
        /// Vendor-Specific (RFC 2865 section 5.26).
        VENDOR_SPECIFIC = 26, "Vendor-Specific";
        /// Session-Timeout (RFC 2865 section 5.27).
        SESSION_TIMEOUT = 27, "Session-Timeout";
        /// Idle-Timeout (RFC 2865 section 5.28).
        IDLE_TIMEOUT = 28, "Idle-Timeout";
        /// Termination-Action (RFC 2865 section 5.29).
        TERMINATION_ACTION = 29, "Termination-Action";
        /// Called-Station-Id (RFC 2865 section 5.30).
        CALLED_STATION_ID = 30, "Called-Station-Id";
        /// Calling-Station-Id (RFC 2865 section 5.31).
        CALLING_STATION_ID = 31, "Calling-Station-Id";
        /// NAS-Identifier (RFC 2865 section 5.32).
        NAS_IDENTIFIER = 32, "NAS-Identifier";
        /// Proxy-State (RFC 2865 section 5.33).
        PROXY_STATE = 33, "Proxy-State";
        /// Login-LAT-Service (RFC 2865 section 5.34).
        LOGIN_LAT_SERVICE = 34, "Login-LAT-Service";
        /// Login-LAT-Node (RFC 2865 section 5.35).
        LOGIN_LAT_NODE = 35, "Login-LAT-Node";
        /// Login-LAT-Group (RFC 2865 section 5.36).
        LOGIN_LAT_GROUP = 36, "Login-LAT-Group";
        /// Framed-AppleTalk-Link (RFC 2865 section 5.37).
        FRAMED_APPLETALK_LINK = 37, "Framed-AppleTalk-Link";
        /// Framed-AppleTalk-Network (RFC 2865 section 5.38).
        FRAMED_APPLETALK_NETWORK = 38, "Framed-AppleTalk-Network";
        /// Framed-AppleTalk-Zone (RFC 2865 section 5.39).
        FRAMED_APPLETALK_ZONE = 39, "Framed-AppleTalk-Zone";
        /// Acct-Status-Type (RFC 2866 section 5.1).
        ACCT_STATUS_TYPE = 40, "Acct-Status-Type";
        /// Acct-Delay-Time (RFC 2866 section 5.2).
        ACCT_DELAY_TIME = 41, "Acct-Delay-Time";
        /// Acct-Input-Octets (RFC 2866 section 5.3).
        ACCT_INPUT_OCTETS = 42, "Acct-Input-Octets";
        /// Acct-Output-Octets (RFC 2866 section 5.4).
        ACCT_OUTPUT_OCTETS = 43, "Acct-Output-Octets";
        /// Acct-Session-Id (RFC 2866 section 5.5).
        ACCT_SESSION_ID = 44, "Acct-Session-Id";
        /// Acct-Authentic (RFC 2866 section 5.6).
        ACCT_AUTHENTIC = 45, "Acct-Authentic";
        /// Acct-Session-Time (RFC 2866 section 5.7).
        ACCT_SESSION_TIME = 46, "Acct-Session-Time";
        /// Acct-Input-Packets (RFC 2866 section 5.8).
        ACCT_INPUT_PACKETS = 47, "Acct-Input-Packets";
        /// Acct-Output-Packets (RFC 2866 section 5.9).
        ACCT_OUTPUT_PACKETS = 48, "Acct-Output-Packets";
        /// Acct-Terminate-Cause (RFC 2866 section 5.10).
        ACCT_TERMINATE_CAUSE = 49, "Acct-Terminate-Cause";
        /// Acct-Multi-Session-Id (RFC 2866 section 5.11).
        ACCT_MULTI_SESSION_ID = 50, "Acct-Multi-Session-Id";
        /// Acct-Link-Count (RFC 2866 section 5.12).
        ACCT_LINK_COUNT = 51, "Acct-Link-Count";
        /// Acct-Input-Gigawords (RFC 2869 section 5.1).
        ACCT_INPUT_GIGAWORDS = 52, "Acct-Input-Gigawords";
        /// Acct-Output-Gigawords (RFC 2869 section 5.2).
        ACCT_OUTPUT_GIGAWORDS = 53, "Acct-Output-Gigawords";
        /// Event-Timestamp (RFC 2869 section 5.3).
        EVENT_TIMESTAMP = 55, "Event-Timestamp";
        /// CHAP-Challenge (RFC 2865 section 5.40).
        CHAP_CHALLENGE = 60, "CHAP-Challenge";
        /// NAS-Port-Type (RFC 2865 section 5.41).
        NAS_PORT_TYPE = 61, "NAS-Port-Type";
        /// Port-Limit (RFC 2865 section 5.42).
        PORT_LIMIT = 62, "Port-Limit";
        /// Login-LAT-Port (RFC 2865 section 5.43).
        LOGIN_LAT_PORT = 63, "Login-LAT-Port";
        /// Tunnel-Type (RFC 2868 section 3.1).
        TUNNEL_TYPE = 64, "Tunnel-Type";
        /// Tunnel-Medium-Type (RFC 2868 section 3.2).
        TUNNEL_MEDIUM_TYPE = 65, "Tunnel-Medium-Type";
        /// Tunnel-Client-Endpoint (RFC 2868 section 3.3).
        TUNNEL_CLIENT_ENDPOINT = 66, "Tunnel-Client-Endpoint";
        /// Tunnel-Server-Endpoint (RFC 2868 section 3.4).
        TUNNEL_SERVER_ENDPOINT = 67, "Tunnel-Server-Endpoint";
        /// Acct-Tunnel-Connection (RFC 2867 section 4.1).
        ACCT_TUNNEL_CONNECTION = 68, "Acct-Tunnel-Connection";
        /// Tunnel-Password, salted (RFC 2868 section 3.5).
        TUNNEL_PASSWORD = 69, "Tunnel-Password";
        /// ARAP-Password (RFC 2869 section 5.4).
        ARAP_PASSWORD = 70, "ARAP-Password";
        /// ARAP-Features (RFC 2869 section 5.5).
        ARAP_FEATURES = 71, "ARAP-Features";
        /// ARAP-Zone-Access (RFC 2869 section 5.6).
        ARAP_ZONE_ACCESS = 72, "ARAP-Zone-Access";
        /// ARAP-Security (RFC 2869 section 5.7).
        ARAP_SECURITY = 73, "ARAP-Security";
        /// ARAP-Security-Data (RFC 2869 section 5.8).
        ARAP_SECURITY_DATA = 74, "ARAP-Security-Data";
        /// Password-Retry (RFC 2869 section 5.9).
        PASSWORD_RETRY = 75, "Password-Retry";
        /// Prompt (RFC 2869 section 5.10).
        PROMPT = 76, "Prompt";
        /// Connect-Info (RFC 2869 section 5.11).
        CONNECT_INFO = 77, "Connect-Info";
        /// Configuration-Token (RFC 2869 section 5.12).
        CONFIGURATION_TOKEN = 78, "Configuration-Token";
        /// EAP-Message (RFC 2869 section 5.13, RFC 3579 section 3.1).
        EAP_MESSAGE = 79, "EAP-Message";
        /// Message-Authenticator, HMAC-MD5 (RFC 2869 section 5.14, RFC 3579 section 3.2).
        MESSAGE_AUTHENTICATOR = 80, "Message-Authenticator";
        /// Tunnel-Private-Group-ID (RFC 2868 section 3.6).
        TUNNEL_PRIVATE_GROUP_ID = 81, "Tunnel-Private-Group-ID";
        /// Tunnel-Assignment-ID (RFC 2868 section 3.7).
        TUNNEL_ASSIGNMENT_ID = 82, "Tunnel-Assignment-ID";
        /// Tunnel-Preference (RFC 2868 section 3.8).
        TUNNEL_PREFERENCE = 83, "Tunnel-Preference";
        /// ARAP-Challenge-Response (RFC 2869 section 5.15).
        ARAP_CHALLENGE_RESPONSE = 84, "ARAP-Challenge-Response";
        /// Acct-Interim-Interval (RFC 2869 section 5.16).
        ACCT_INTERIM_INTERVAL = 85, "Acct-Interim-Interval";
        /// Acct-Tunnel-Packets-Lost (RFC 2867 section 4.2).
        ACCT_TUNNEL_PACKETS_LOST = 86, "Acct-Tunnel-Packets-Lost";
        /// NAS-Port-Id (RFC 2869 section 5.17).
        NAS_PORT_ID = 87, "NAS-Port-Id";
        /// Framed-Pool (RFC 2869 section 5.18).
        FRAMED_POOL = 88, "Framed-Pool";
        /// Tunnel-Client-Auth-ID (RFC 2868 section 3.9).
        TUNNEL_CLIENT_AUTH_ID = 90, "Tunnel-Client-Auth-ID";
        /// Tunnel-Server-Auth-ID (RFC 2868 section 3.10).
        TUNNEL_SERVER_AUTH_ID = 91, "Tunnel-Server-Auth-ID";
        /// NAS-IPv6-Address (RFC 3162 section 2.1).
        NAS_IPV6_ADDRESS = 95, "NAS-IPv6-Address";
        /// Framed-Interface-Id (RFC 3162 section 2.2).
        FRAMED_INTERFACE_ID = 96, "Framed-Interface-Id";
        /// Framed-IPv6-Prefix (RFC 3162 section 2.3).
        FRAMED_IPV6_PREFIX = 97, "Framed-IPv6-Prefix";
        /// Login-IPv6-Host (RFC 3162 section 2.4).
        LOGIN_IPV6_HOST = 98, "Login-IPv6-Host";
        /// Framed-IPv6-Route (RFC 3162 section 2.5).
        FRAMED_IPV6_ROUTE = 99, "Framed-IPv6-Route";
        /// Framed-IPv6-Pool (RFC 3162 section 2.6).
        FRAMED_IPV6_POOL = 100, "Framed-IPv6-Pool";
        /// Error-Cause (RFC 5176 section 3.5).
        ERROR_CAUSE = 101, "Error-Cause";
        /// Delegated-IPv6-Prefix (RFC 4818 section 3).
        DELEGATED_IPV6_PREFIX = 123, "Delegated-IPv6-Prefix";
        /// Framed-IPv6-Address (RFC 6911 section 3.1).
        FRAMED_IPV6_ADDRESS = 168, "Framed-IPv6-Address";
        /// DNS-Server-IPv6-Address (RFC 6911 section 3.2).
        DNS_SERVER_IPV6_ADDRESS = 169, "DNS-Server-IPv6-Address";
        /// Route-IPv6-Information (RFC 6911 section 3.3).
        ROUTE_IPV6_INFORMATION = 170, "Route-IPv6-Information";
        /// Delegated-IPv6-Prefix-Pool (RFC 6911 section 3.4).
        DELEGATED_IPV6_PREFIX_POOL = 171, "Delegated-IPv6-Prefix-Pool";
        /// Stateful-IPv6-Address-Pool (RFC 6911 section 3.5).
        STATEFUL_IPV6_ADDRESS_POOL = 172, "Stateful-IPv6-Address-Pool";
        /// Extended-Type-1 (RFC 6929 section 2.1).
        EXTENDED_TYPE_1 = 241, "Extended-Type-1";
        /// Extended-Type-2 (RFC 6929 section 2.1).
        EXTENDED_TYPE_2 = 242, "Extended-Type-2";
        /// Extended-Type-3 (RFC 6929 section 2.1).
        EXTENDED_TYPE_3 = 243, "Extended-Type-3";
        /// Extended-Type-4 (RFC 6929 section 2.1).
        EXTENDED_TYPE_4 = 244, "Extended-Type-4";
        /// Long-Extended-Type-1 (RFC 6929 section 2.2).
        LONG_EXTENDED_TYPE_1 = 245, "Long-Extended-Type-1";
        /// Long-Extended-Type-2 (RFC 6929 section 2.2).
        LONG_EXTENDED_TYPE_2 = 246, "Long-Extended-Type-2";
    }
}

impl AttrType {
    /// True for the RFC 6929 section 2.1 "Extended Type" attributes (241..=244).
    #[must_use]
    pub const fn is_extended(self) -> bool {
        matches!(self.0, 241..=244)
    }

    /// True for the RFC 6929 section 2.2 "Long Extended Type" attributes (245, 246).
    #[must_use]
    pub const fn is_long_extended(self) -> bool {
        matches!(self.0, 245 | 246)
    }
}

open_newtype! {
    /// Acct-Status-Type values (RFC 2866 section 5.1, RFC 2867 section 4.1).
    AcctStatusType(u32) {
        /// Start.
        START = 1, "Start";
        /// Stop.
        STOP = 2, "Stop";
        /// Interim-Update (RFC 2869 section 2.1).
        INTERIM_UPDATE = 3, "Interim-Update";
        /// Accounting-On.
        ACCOUNTING_ON = 7, "Accounting-On";
        /// Accounting-Off.
        ACCOUNTING_OFF = 8, "Accounting-Off";
        /// Failed (RFC 2866 section 5.1, IANA).
        FAILED = 15, "Failed";
    }
}

open_newtype! {
    /// Acct-Terminate-Cause values (RFC 2866 section 5.10).
    TerminateCause(u32) {
        /// User Request.
        USER_REQUEST = 1, "User-Request";
        /// Lost Carrier.
        LOST_CARRIER = 2, "Lost-Carrier";
        /// Lost Service.
        LOST_SERVICE = 3, "Lost-Service";
        /// Idle Timeout.
        IDLE_TIMEOUT = 4, "Idle-Timeout";
        /// Session Timeout.
        SESSION_TIMEOUT = 5, "Session-Timeout";
        /// Admin Reset.
        ADMIN_RESET = 6, "Admin-Reset";
        /// Admin Reboot.
        ADMIN_REBOOT = 7, "Admin-Reboot";
        /// Port Error.
        PORT_ERROR = 8, "Port-Error";
        /// NAS Error.
        NAS_ERROR = 9, "NAS-Error";
        /// NAS Request.
        NAS_REQUEST = 10, "NAS-Request";
        /// NAS Reboot.
        NAS_REBOOT = 11, "NAS-Reboot";
        /// Port Unneeded.
        PORT_UNNEEDED = 12, "Port-Unneeded";
        /// Port Preempted.
        PORT_PREEMPTED = 13, "Port-Preempted";
        /// Port Suspended.
        PORT_SUSPENDED = 14, "Port-Suspended";
        /// Service Unavailable.
        SERVICE_UNAVAILABLE = 15, "Service-Unavailable";
        /// Callback.
        CALLBACK = 16, "Callback";
        /// User Error.
        USER_ERROR = 17, "User-Error";
        /// Host Request.
        HOST_REQUEST = 18, "Host-Request";
        /// Supplicant Restart (RFC 3580 section 3.32).
        SUPPLICANT_RESTART = 19, "Supplicant-Restart";
        /// Reauthentication Failure (RFC 3580 section 3.32).
        REAUTHENTICATION_FAILURE = 20, "Reauthentication-Failure";
        /// Port Reinitialized (RFC 3580 section 3.32).
        PORT_REINIT = 21, "Port-Reinit";
        /// Port Administratively Disabled (RFC 3580 section 3.32).
        PORT_DISABLED = 22, "Port-Disabled";
    }
}

open_newtype! {
    /// Error-Cause values (RFC 5176 section 3.5); names as in the FreeRADIUS dictionary.
    ErrorCause(u32) {
        /// Residual Session Context Removed.
        RESIDUAL_SESSION_CONTEXT_REMOVED = 201, "Residual-Context-Removed";
        /// Invalid EAP Packet (Ignored).
        INVALID_EAP_PACKET = 202, "Invalid-EAP-Packet";
        /// Unsupported Attribute.
        UNSUPPORTED_ATTRIBUTE = 401, "Unsupported-Attribute";
        /// Missing Attribute.
        MISSING_ATTRIBUTE = 402, "Missing-Attribute";
        /// NAS Identification Mismatch.
        NAS_IDENTIFICATION_MISMATCH = 403, "NAS-Identification-Mismatch";
        /// Invalid Request.
        INVALID_REQUEST = 404, "Invalid-Request";
        /// Unsupported Service.
        UNSUPPORTED_SERVICE = 405, "Unsupported-Service";
        /// Unsupported Extension.
        UNSUPPORTED_EXTENSION = 406, "Unsupported-Extension";
        /// Invalid Attribute Value.
        INVALID_ATTRIBUTE_VALUE = 407, "Invalid-Attribute-Value";
        /// Administratively Prohibited.
        ADMINISTRATIVELY_PROHIBITED = 501, "Administratively-Prohibited";
        /// Request Not Routable (Proxy).
        REQUEST_NOT_ROUTABLE = 502, "Proxy-Request-Not-Routable";
        /// Session Context Not Found.
        SESSION_CONTEXT_NOT_FOUND = 503, "Session-Context-Not-Found";
        /// Session Context Not Removable.
        SESSION_CONTEXT_NOT_REMOVABLE = 504, "Session-Context-Not-Removable";
        /// Other Proxy Processing Error.
        OTHER_PROXY_PROCESSING_ERROR = 505, "Proxy-Processing-Error";
        /// Resources Unavailable.
        RESOURCES_UNAVAILABLE = 506, "Resources-Unavailable";
        /// Request Initiated.
        REQUEST_INITIATED = 507, "Request-Initiated";
        /// Multiple Session Selection Unsupported.
        MULTIPLE_SESSION_SELECTION_UNSUPPORTED = 508, "Multiple-Session-Selection-Unsupported";
    }
}

open_newtype! {
    /// Service-Type values (RFC 2865 section 5.6, RFC 5176 section 3.2).
    ServiceType(u32) {
        /// Login.
        LOGIN = 1, "Login-User";
        /// Framed.
        FRAMED = 2, "Framed-User";
        /// Callback Login.
        CALLBACK_LOGIN = 3, "Callback-Login-User";
        /// Callback Framed.
        CALLBACK_FRAMED = 4, "Callback-Framed-User";
        /// Outbound.
        OUTBOUND = 5, "Outbound-User";
        /// Administrative.
        ADMINISTRATIVE = 6, "Administrative-User";
        /// NAS Prompt.
        NAS_PROMPT = 7, "NAS-Prompt-User";
        /// Authenticate Only.
        AUTHENTICATE_ONLY = 8, "Authenticate-Only";
        /// Callback NAS Prompt.
        CALLBACK_NAS_PROMPT = 9, "Callback-NAS-Prompt";
        /// Call Check.
        CALL_CHECK = 10, "Call-Check";
        /// Callback Administrative.
        CALLBACK_ADMINISTRATIVE = 11, "Callback-Administrative";
        /// Authorize Only (RFC 5176 section 3.2).
        AUTHORIZE_ONLY = 17, "Authorize-Only";
    }
}

open_newtype! {
    /// Framed-Protocol values (RFC 2865 section 5.7).
    FramedProtocol(u32) {
        /// PPP.
        PPP = 1, "PPP";
        /// SLIP.
        SLIP = 2, "SLIP";
        /// AppleTalk Remote Access Protocol.
        ARAP = 3, "ARAP";
        /// Gandalf proprietary.
        GANDALF = 4, "Gandalf-SLML";
        /// Xylogics proprietary IPX/SLIP.
        XYLOGICS = 5, "Xylogics-IPX-SLIP";
        /// X.75 Synchronous.
        X75 = 6, "X.75-Synchronous";
    }
}

open_newtype! {
    /// NAS-Port-Type values (RFC 2865 section 5.41, IANA).
    NasPortType(u32) {
        /// Async.
        ASYNC = 0, "Async";
        /// Sync.
        SYNC = 1, "Sync";
        /// ISDN Sync.
        ISDN = 2, "ISDN";
        /// Virtual.
        VIRTUAL = 5, "Virtual";
        /// xDSL.
        XDSL = 16, "xDSL";
        /// Ethernet.
        ETHERNET = 15, "Ethernet";
        /// Cable.
        CABLE = 17, "Cable";
        /// Wireless 802.11.
        WIRELESS_802_11 = 19, "Wireless-802.11";
        /// PPPoA (RFC 4603).
        PPPOA = 30, "PPPoA";
        /// PPPoEoA (RFC 4603).
        PPPOEOA = 31, "PPPoEoA";
        /// PPPoEoE (RFC 4603).
        PPPOEOE = 32, "PPPoEoE";
        /// PPPoEoVLAN (RFC 4603).
        PPPOEOVLAN = 33, "PPPoEoVLAN";
        /// PPPoEoQinQ (RFC 4603).
        PPPOEOQINQ = 34, "PPPoEoQinQ";
    }
}

open_newtype! {
    /// Acct-Authentic values (RFC 2866 section 5.6).
    AcctAuthentic(u32) {
        /// RADIUS.
        RADIUS = 1, "RADIUS";
        /// Local.
        LOCAL = 2, "Local";
        /// Remote.
        REMOTE = 3, "Remote";
    }
}
