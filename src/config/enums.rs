//! The value enums of the configuration and the shared-memory segment, each defined once
//! by [`coded_enum!`]: its variants, their texts, their workers.properties letters and
//! their codes in the segment.

/// Defines an enum from one table and derives every conversion from it:
///
/// ```text
/// coded_enum! {
///     /// docs
///     pub enum Name (unknown codes read as Default) {
///         Variant = 0, "TEXT", 'l';   // code, text, workers.properties letter
///         Other = 1, "OTHER";         // no letter: not accepted in workers.properties
///     }
/// }
/// ```
///
/// Generates `ALL` (in code order), `as_str` (and `Display`), `code`, `from_code`
/// (unknown codes read as the named default variant, since any child can scribble over
/// the segment), `parse` and `FromStr`. `parse` accepts a variant's text (any case) or,
/// as mod_jk does, any word starting with the variant's letter or its code digit (any
/// case): `Active`, `disabled`, `S` and `2` all work for the activation.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident (unknown codes read as $default:ident) {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $code:literal, $text:literal $(, $letter:literal)?;
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant = $code,
            )+
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The code stored in the shared-memory segment.
            pub fn code(self) -> u32 {
                self as u32
            }

            /// The variant a segment code stands for; unknown codes read as
            #[doc = concat!("`", stringify!($default), "`.")]
            pub fn from_code(code: u32) -> $name {
                match code {
                    $($code => $name::$variant,)+
                    _ => $name::$default,
                }
            }

            /// The variant's text (any case), or a word starting with its letter or its
            /// code digit (any case).
            pub fn parse(value: &str) -> Option<$name> {
                let value = value.trim_ascii();
                if let Some(v) = $name::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(value))
                {
                    return Some(v);
                }
                #[allow(unused_variables)] // enums without letters
                let first = value.bytes().next()?.to_ascii_lowercase();
                $($(
                    if first == $letter || u32::from(first) == u32::from(b'0') + $code {
                        return Some($name::$variant);
                    }
                )?)+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<$name, String> {
                $name::parse(value).ok_or_else(|| {
                    format!(concat!("'{}' is not a ", stringify!($name)), value)
                })
            }
        }
    };
}

pub(crate) use coded_enum;

coded_enum! {
    /// A member's `activation` (status worker "Act" column).
    pub enum Activation (unknown codes read as Active) {
        Active = 0, "ACT", b'a';
        Disabled = 1, "DIS", b'd';
        Stopped = 2, "STP", b's';
    }
}

coded_enum! {
    /// An lb's `method`.
    pub enum LbMethod (unknown codes read as Request) {
        Request = 0, "Request", b'r';
        Traffic = 1, "Traffic", b't';
        Busyness = 2, "Busyness", b'b';
        Sessions = 3, "Sessions", b's';
        Next = 4, "Next", b'n';
    }
}

coded_enum! {
    /// An lb's `lock`.
    pub enum LbLock (unknown codes read as Optimistic) {
        Optimistic = 0, "Optimistic", b'o';
        Pessimistic = 1, "Pessimistic", b'p';
    }
}

/// CPing/CPong modes as configured by `ping_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingMode {
    /// `C`: after opening a connection.
    pub connect: bool,
    /// `P`: before each request.
    pub prepost: bool,
    /// `I`: on idle pooled connections during maintenance.
    pub interval: bool,
}

impl PingMode {
    /// Letters C, P, I and A (= all), any case, in any order. Returns the mode and the
    /// characters that were not understood.
    pub fn parse(value: &str) -> (PingMode, String) {
        let mut mode = PingMode::default();
        let mut unknown = String::new();
        for c in value.chars() {
            match c.to_ascii_uppercase() {
                'C' => mode.connect = true,
                'P' => mode.prepost = true,
                'I' => mode.interval = true,
                'A' => {
                    mode = PingMode {
                        connect: true,
                        prepost: true,
                        interval: true,
                    }
                }
                _ => unknown.push(c),
            }
        }
        (mode, unknown)
    }

    /// Canonical letters, as the status worker shows them.
    pub fn as_letters(self) -> String {
        [
            (self.connect, 'C'),
            (self.prepost, 'P'),
            (self.interval, 'I'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| c)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_texts_and_parse_round_trip() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            code: fn(T) -> u32,
            from_code: fn(u32) -> T,
            text: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
            unknown: T,
        ) {
            for (i, &v) in all.iter().enumerate() {
                assert_eq!(code(v), i as u32);
                assert_eq!(from_code(code(v)), v);
                assert_eq!(parse(text(v)), Some(v), "{}", text(v));
                assert_eq!(parse(&text(v).to_ascii_lowercase()), Some(v));
                assert_eq!(parse(&i.to_string()), Some(v));
            }
            assert_eq!(from_code(all.len() as u32), unknown);
            assert_eq!(from_code(u32::MAX), unknown);
            assert_eq!(parse("?"), None);
            assert_eq!(parse(""), None);
        }
        use Activation as A;
        check(
            &A::ALL,
            A::code,
            A::from_code,
            A::as_str,
            A::parse,
            A::Active,
        );
        use LbMethod as M;
        check(
            &M::ALL,
            M::code,
            M::from_code,
            M::as_str,
            M::parse,
            M::Request,
        );
        use LbLock as L;
        check(
            &L::ALL,
            L::code,
            L::from_code,
            L::as_str,
            L::parse,
            L::Optimistic,
        );
        assert_eq!("stopped".parse::<Activation>(), Ok(Activation::Stopped));
        assert_eq!(LbMethod::Busyness.to_string(), "Busyness");
        assert!("x".parse::<LbLock>().unwrap_err().contains("'x'"));
        // Without letters only the texts count.
        use crate::config::directives::LogLevel;
        assert_eq!(LogLevel::parse("WARN"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("w"), None);
        assert_eq!(LogLevel::parse("3"), None);
        assert!(LogLevel::Trace < LogLevel::Emerg);
    }
}
