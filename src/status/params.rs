//! Request parameters: the command and format names, query and form decoding, URL
//! building, and the validation of values.

use super::{MAX_PARAMS, MAX_REFRESH, OPT_ALL};
use crate::shm::MAX_STR_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    List,
    Show,
    Edit,
    Update,
    Reset,
    Recover,
    Version,
    Dump,
}

impl Cmd {
    pub(super) fn parse(s: &str) -> Option<Cmd> {
        Some(match s {
            "list" => Cmd::List,
            "show" => Cmd::Show,
            "edit" => Cmd::Edit,
            "update" => Cmd::Update,
            "reset" => Cmd::Reset,
            "recover" => Cmd::Recover,
            "version" => Cmd::Version,
            "dump" => Cmd::Dump,
            _ => return None,
        })
    }

    pub(super) fn changes_state(self) -> bool {
        matches!(self, Cmd::Update | Cmd::Reset | Cmd::Recover)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mime {
    Html,
    Xml,
    Txt,
    Prop,
    Json,
    Prometheus,
}

impl Mime {
    pub(super) fn parse(s: &str) -> Option<Mime> {
        Some(match s {
            "html" => Mime::Html,
            "xml" => Mime::Xml,
            "txt" => Mime::Txt,
            "prop" => Mime::Prop,
            "json" => Mime::Json,
            "prometheus" => Mime::Prometheus,
            _ => return None,
        })
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            Mime::Html => "text/html; charset=utf-8",
            Mime::Xml => "text/xml; charset=utf-8",
            Mime::Txt | Mime::Prop => "text/plain; charset=utf-8",
            Mime::Json => "application/json",
            Mime::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The action a redirected-to page reports (`ok=` parameter): a fixed text, never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Update,
    Reset,
    Recover,
}

impl Done {
    pub(super) fn parse(s: &str) -> Option<Done> {
        Some(match s {
            "update" => Done::Update,
            "reset" => Done::Reset,
            "recover" => Done::Recover,
            _ => return None,
        })
    }

    pub(super) fn from_cmd(cmd: Cmd) -> Option<Done> {
        Some(match cmd {
            Cmd::Update => Done::Update,
            Cmd::Reset => Done::Reset,
            Cmd::Recover => Done::Recover,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Done::Update => "update",
            Done::Reset => "reset",
            Done::Recover => "recover",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Done::Update => "Changes applied.",
            Done::Reset => "Statistics reset.",
            Done::Recover => "Member marked for recovery.",
        }
    }
}

/// The command and the view settings `opt` and `re` (defaults: `list`, 0, 0).
pub(super) fn view_settings(params: &Params) -> Result<(Cmd, u32, u32), &'static str> {
    let cmd = match params.get_nonempty("cmd") {
        None => Cmd::List,
        Some(c) => Cmd::parse(c).ok_or("Invalid command.")?,
    };
    let opt = match params.get_nonempty("opt") {
        None => 0,
        Some(v) => parse_opt(v).ok_or("Invalid value for opt.")?,
    };
    let refresh = match params.get_nonempty("re") {
        None => 0,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => n.min(u64::from(MAX_REFRESH)) as u32,
            Err(_) => return Err("Invalid refresh interval (re)."),
        },
    };
    Ok((cmd, opt, refresh))
}

/// Decoded request parameters; a later duplicate wins, as in mod_jk.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(super) fn parse(raw: &[u8]) -> Result<Params, String> {
        let mut params = Params::default();
        params.add(raw)?;
        Ok(params)
    }

    pub(super) fn add(&mut self, raw: &[u8]) -> Result<(), String> {
        for piece in raw.split(|&b| b == b'&') {
            if piece.is_empty() {
                continue;
            }
            if self.pairs.len() >= MAX_PARAMS {
                return Err("Too many parameters.".into());
            }
            let (k, v) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let key = decode(k)?;
            let value = decode(v)?;
            if key.is_empty() {
                continue;
            }
            self.pairs.push((key, value));
        }
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Present and not empty.
    pub(super) fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte. Invalid
/// escapes, invalid UTF-8 and control characters are errors.
pub(super) fn decode(raw: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let hi = raw.get(i + 1).copied().and_then(hex);
                let lo = raw.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
                    _ => return Err("Malformed percent-encoding in the parameters.".into()),
                }
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    let s = String::from_utf8(bytes).map_err(|_| "Parameters must be UTF-8.".to_owned())?;
    if s.chars().any(char::is_control) {
        return Err("Control characters are not allowed in parameters.".into());
    }
    Ok(s)
}

/// Percent-encodes a query component.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'*') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path for use in a URL (slashes stay).
pub(super) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL of the manager with query parameters (raw: escape it for the output format).
pub(crate) fn manager_url(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = if path.starts_with('/') {
        encode_path(path)
    } else {
        String::new()
    };
    let mut first = true;
    for (k, v) in pairs {
        url.push(if first { '?' } else { '&' });
        first = false;
        url.push_str(&encode_component(k));
        url.push('=');
        url.push_str(&encode_component(v));
    }
    if url.is_empty() {
        url.push('?');
    }
    url
}

/// Integer within `min..=max`, decimal only (no sign for non-negative ranges).
pub(super) fn parse_ranged(value: &str, min: i64, max: i64, what: &str) -> Result<i64, String> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 19
        && v.strip_prefix('-')
            .unwrap_or(v)
            .bytes()
            .all(|b| b.is_ascii_digit())
        && !v.strip_prefix('-').unwrap_or(v).is_empty();
    let n = if ok { v.parse::<i64>().ok() } else { None };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "Invalid value {} for {what}: expected a number from {min} to {max}.",
            quote_short(value)
        )),
    }
}

/// `'value'`, cut to 64 characters (for messages; escaped by the output format).
pub(super) fn quote_short(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    if cut.len() < value.len() {
        format!("'{cut}…'")
    } else {
        format!("'{cut}'")
    }
}

/// `opt`: decimal or `0x` hex, masked to the known bits.
pub(super) fn parse_opt(value: &str) -> Option<u32> {
    let v = value.trim();
    let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => v.parse::<u32>().ok()?,
    };
    Some(n & OPT_ALL)
}

/// Route, redirect and domain values: at most [`MAX_STR_LEN`] bytes of printable ASCII
/// without blanks and without characters that are special in markup or shells.
pub(super) fn check_name_value(
    value: &str,
    what: &str,
    allow_empty: bool,
) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(format!("The {what} must not be empty."))
        };
    }
    if v.len() > MAX_STR_LEN {
        return Err(format!(
            "The {what} is longer than {MAX_STR_LEN} bytes: {}.",
            quote_short(v)
        ));
    }
    let bad =
        |c: char| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | '\'' | '&' | '\\' | '`');
    if v.chars().any(bad) {
        return Err(format!(
            "Invalid {what} {}: use letters, digits and punctuation other than <>\"'&\\`.",
            quote_short(v)
        ));
    }
    Ok(v.to_owned())
}

/// `*` any run, `?` one byte; whole-string match (member names, and host names as
/// ServerAlias globs them).
pub(super) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

pub(super) fn is_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}
