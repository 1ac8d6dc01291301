//! Crate-internal helpers.

/// An open newtype for an IANA registry value (STYLE.md section 3): associated
/// constants, and a `Debug` that prints the registry name.
macro_rules! open_newtype {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr, $s:literal;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: Self = Self($v);)*
            /// The registry name of this value, if it is one this crate knows.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some($s),)* _ => None }
            }
        }
        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}
