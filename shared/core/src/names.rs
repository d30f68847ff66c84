//! Closed sets of names a client may use (capabilities, statuses, ratios, ...): each a Rust
//! enum with its wire names, a parser whose error names the field, and the list for schemas.

/// Declares a closed set of names a field accepts, with `parse` and the list for schemas.
macro_rules! named_values {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }

            pub fn parse(raw: &str, field: &str) -> $crate::Result<Self> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::Error::invalid(format!(
                        "{field}: {raw:?} is not allowed; expected one of {}",
                        Self::NAMES.join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
