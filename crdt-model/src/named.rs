//! A small macro for the closed sets of names the documents store (statuses,
//! reasons, kinds): one definition gives the enum, its stored name, lookup by
//! name, `ALL`, `Display` and serde in the same spelling.

macro_rules! named {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $v:ident => $n:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $ty { $($(#[$vdoc])* $v,)* }
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$v,)*];
            /// The name used in documents, on the command line and in exports.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$v => $n,)* }
            }
            /// Looks a value up by name.
            pub fn from_name(s: &str) -> Option<$ty> {
                match s { $($n => Some($ty::$v),)* _ => None }
            }
            /// Every name, for help texts and errors.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
