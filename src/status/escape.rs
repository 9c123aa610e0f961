//! One escaper for every output format: `Escaped` writes a value with the characters that
//! are special in its format replaced, by one table of (format, character) rules.

use std::fmt::{self, Write as _};

/// Where a value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// HTML text and double- or single-quoted attribute values.
    Html,
    /// XML attribute values (XML 1.0: other control characters cannot appear at all).
    Xml,
    /// JSON string contents (also safe inside HTML `<script>`, which is never used).
    Json,
    /// Prometheus label values: `\`, `"` and newlines escaped.
    Label,
    /// txt values (one object per line, tokens split at blanks) in quotes.
    Txt,
    /// Unquoted txt tokens: as [`Format::Txt`], blanks escaped as well.
    TxtToken,
    /// Java-properties values.
    Prop,
    /// Java-properties key components: also `=`, `:`, blanks, `#` and `!`.
    PropKey,
}

/// What one character becomes.
enum Subst {
    Keep,
    Text(&'static str),
    /// `\uXXXX`.
    Unicode,
    /// `\xXX` of the low byte.
    Byte,
    /// A backslash, then the character.
    Backslash,
    /// U+FFFD.
    Replace,
}

/// The table. Rules of one character for several formats share a row; control characters
/// not named get the format's last resort.
fn subst(format: Format, c: char, first: bool) -> Subst {
    use Format::*;
    match (format, c) {
        (Html | Xml, '&') => Subst::Text("&amp;"),
        (Html | Xml, '<') => Subst::Text("&lt;"),
        (Html | Xml, '>') => Subst::Text("&gt;"),
        (Html | Xml, '"') => Subst::Text("&quot;"),
        (Html, '\'') => Subst::Text("&#39;"),
        (Xml, '\'') => Subst::Text("&apos;"),
        (Html, '\n' | '\t') => Subst::Keep,
        (Xml, '\n') => Subst::Text("&#10;"),
        (Xml, '\r') => Subst::Text("&#13;"),
        (Xml, '\t') => Subst::Text("&#9;"),
        (Xml, '\u{FFFE}' | '\u{FFFF}') => Subst::Replace,
        (Json | Label | Txt | TxtToken | Prop | PropKey, '\\') => Subst::Text("\\\\"),
        (Json | Label | Txt | TxtToken, '"') => Subst::Text("\\\""),
        (Json | Label | Txt | TxtToken | Prop | PropKey, '\n') => Subst::Text("\\n"),
        (Json | Txt | TxtToken | Prop | PropKey, '\r') => Subst::Text("\\r"),
        (Json | Prop | PropKey, '\t') => Subst::Text("\\t"),
        (Json, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => Subst::Unicode,
        (TxtToken, ' ') => Subst::Text("\\x20"),
        (PropKey, '=' | ':' | '#' | '!') => Subst::Backslash,
        (PropKey, ' ') => Subst::Text("\\ "),
        (Prop, ' ') if first => Subst::Text("\\ "),
        (Html | Xml | Label, c) if c.is_control() => Subst::Replace,
        (Json | Prop | PropKey, c) if c.is_control() => Subst::Unicode,
        (Txt | TxtToken, c) if c.is_control() => Subst::Byte,
        _ => Subst::Keep,
    }
}

/// A value escaped for its format, written by `Display`.
pub(crate) struct Escaped<'a>(pub Format, pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.1.chars().enumerate() {
            match subst(self.0, c, i == 0) {
                Subst::Keep => f.write_char(c)?,
                Subst::Text(s) => f.write_str(s)?,
                Subst::Unicode => write!(f, "\\u{:04x}", c as u32)?,
                Subst::Byte => write!(f, "\\x{:02x}", c as u32 & 0xff)?,
                Subst::Backslash => write!(f, "\\{c}")?,
                Subst::Replace => f.write_char('\u{FFFD}')?,
            }
        }
        Ok(())
    }
}

pub(crate) fn html(s: &str) -> Escaped<'_> {
    Escaped(Format::Html, s)
}

pub(crate) fn xml(s: &str) -> Escaped<'_> {
    Escaped(Format::Xml, s)
}

pub(crate) fn json(s: &str) -> Escaped<'_> {
    Escaped(Format::Json, s)
}

pub(crate) fn label(s: &str) -> Escaped<'_> {
    Escaped(Format::Label, s)
}

pub(crate) fn txt(s: &str) -> Escaped<'_> {
    Escaped(Format::Txt, s)
}

pub(crate) fn txt_token(s: &str) -> Escaped<'_> {
    Escaped(Format::TxtToken, s)
}

pub(crate) fn prop(s: &str) -> Escaped<'_> {
    Escaped(Format::Prop, s)
}

pub(crate) fn prop_key(s: &str) -> Escaped<'_> {
    Escaped(Format::PropKey, s)
}
