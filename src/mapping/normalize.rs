//! Servlet-style URI normalisation, applied before any rule is matched.
//!
//! Matching (and therefore every `JkUnMount` used as access control) must see the URI the way
//! Tomcat will interpret it, otherwise `/app//private/x` or `/app/private;x=1/x` slips past an
//! exclusion that Tomcat then honours anyway (CVE-2014-8111, CVE-2018-11759).

use std::fmt;

/// Longest normalised URI that is still mapped; longer ones are declined, never forwarded.
pub const MAX_URI_LEN: usize = 4095;

/// Why [`normalize`] refused a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormalizeError {
    /// Does not start with `/`.
    NotAbsolute,
    /// The URI is exactly `*` (`OPTIONS *`): not mappable, but not a client error either.
    Asterisk,
    /// A `..` segment would climb above the root.
    EscapesRoot,
    /// Longer than [`MAX_URI_LEN`] after normalisation.
    TooLong,
    /// Contains NUL or another control character.
    ControlChar,
}

impl NormalizeError {
    /// Whether the handler should answer 400; otherwise the request is simply not mapped
    /// and httpd serves it.
    pub fn is_bad_request(self) -> bool {
        matches!(
            self,
            Self::NotAbsolute | Self::EscapesRoot | Self::ControlChar
        )
    }
}

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "URI does not start with '/'",
            Self::Asterisk => "URI '*' cannot be mapped",
            Self::EscapesRoot => "URI contains a '..' segment that escapes above the root",
            Self::TooLong => "URI is longer than 4095 bytes",
            Self::ControlChar => "URI contains a control character",
        })
    }
}

impl std::error::Error for NormalizeError {}

/// Normalises httpd's already-decoded `r->uri` for mapping.
///
/// Path parameters are cut from every segment *before* dot segments are interpreted, so
/// `..;x` counts as `..`, exactly as the servlet container will see it. No percent-decoding
/// happens here: httpd decoded once already and a second pass would reopen CVE-2007-1860.
/// A trailing slash survives (also the one implied by a final `.`/`..`), because
/// `/jkmanager/` and `/jkmanager` are different exact rules.
pub fn normalize(uri: &str) -> Result<String, NormalizeError> {
    if uri == "*" {
        return Err(NormalizeError::Asterisk);
    }
    let Some(rest) = uri.strip_prefix('/') else {
        return Err(NormalizeError::NotAbsolute);
    };
    if uri.chars().any(char::is_control) {
        return Err(NormalizeError::ControlChar);
    }

    // Invariant: `out` is "/" or "/seg(/seg)*" without a trailing slash; the slash is added
    // at the end when the last input segment asked for one.
    let mut out = String::with_capacity(uri.len());
    out.push('/');
    let mut trailing_slash = false;
    for raw in rest.split('/') {
        let segment = raw.split_once(';').map_or(raw, |(name, _params)| name);
        match segment {
            "" | "." => trailing_slash = true,
            ".." => {
                if out.len() == 1 {
                    return Err(NormalizeError::EscapesRoot);
                }
                // `out` always starts with '/', so a slash is found; index 0 keeps the root.
                let cut = out.rfind('/').unwrap_or(0).max(1);
                out.truncate(cut);
                trailing_slash = true;
            }
            name => {
                if out.len() > 1 {
                    out.push('/');
                }
                out.push_str(name);
                trailing_slash = false;
            }
        }
    }
    if trailing_slash && out.len() > 1 {
        out.push('/');
    }
    if out.len() > MAX_URI_LEN {
        return Err(NormalizeError::TooLong);
    }
    Ok(out)
}

/// Re-encodes httpd's once-decoded URI for forwarding: characters that are safe in a path
/// stay, everything else becomes `%XX`. A literal `%` becomes `%25`, so Tomcat's single
/// decoding restores exactly what httpd decoded and nothing is decoded twice
/// (CVE-2007-1860). This is `JkOptions ForwardURIProxy` (the default), with upper-case
/// hex digits as mod_jk writes them.
pub fn escape_forward_uri(uri: &[u8]) -> Vec<u8> {
    escape_path(uri, b"0123456789ABCDEF")
}

/// `JkOptions ForwardURIEscaped`: httpd's `ap_escape_uri`, which keeps the same set as
/// [`escape_forward_uri`] (`;` included, so a `;jsessionid=` reaches Tomcat as such) and
/// writes lower-case hex digits.
pub fn escape_uri_lower(uri: &[u8]) -> Vec<u8> {
    escape_path(uri, b"0123456789abcdef")
}

fn escape_path(uri: &[u8], hex: &[u8; 16]) -> Vec<u8> {
    const KEEP: &[u8] = b"~$-_.+!*'(),;:@&=/";
    let mut out = Vec::with_capacity(uri.len() + 8);
    for &b in uri {
        if b.is_ascii_alphanumeric() || KEEP.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    }
    out
}

/// Removes every `;<name>=value` path parameter (up to the next `;`, `/` or `?`).
pub fn strip_path_parameter(s: &str, param: &str) -> Option<String> {
    let mut pos = s.find(param)?;
    let mut out = s.to_string();
    loop {
        let end = out[pos + param.len()..]
            .find([';', '/', '?'])
            .map_or(out.len(), |e| pos + param.len() + e);
        out.replace_range(pos..end, "");
        match out.find(param) {
            Some(p) => pos = p,
            None => return Some(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(uri: &str) -> String {
        normalize(uri).unwrap_or_else(|e| panic!("{uri:?}: {e}"))
    }

    #[test]
    fn path_parameters_are_stripped_from_every_segment() {
        assert_eq!(ok("/a;x=1/b;y"), "/a/b");
        assert_eq!(ok("/jkstatus;"), "/jkstatus");
        assert_eq!(ok("/jkstatus;/"), "/jkstatus/");
        assert_eq!(ok("/a/;x/b"), "/a/b");
        assert_eq!(ok("/a;b;c/d"), "/a/d");
        assert_eq!(ok("/;x"), "/");
    }

    #[test]
    fn slashes_collapse_and_dots_resolve() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("//"), "/");
        assert_eq!(ok("///a////b"), "/a/b");
        assert_eq!(ok("/a/./b"), "/a/b");
        assert_eq!(ok("/./a/."), "/a/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/.."), "/");
        assert_eq!(ok("/a/../"), "/");
        assert_eq!(ok("/a/b/../../c"), "/c");
        assert_eq!(ok("/a/..;x/b"), "/b");
        assert_eq!(ok("/a/.;x/b"), "/a/b");
        assert_eq!(ok("/a/.../b"), "/a/.../b");
        assert_eq!(ok("/a/..b/.c"), "/a/..b/.c");
        assert_eq!(ok("/a/"), "/a/");
    }

    #[test]
    fn escapes_and_bad_input() {
        assert_eq!(normalize("/.."), Err(NormalizeError::EscapesRoot));
        assert_eq!(normalize("/../a"), Err(NormalizeError::EscapesRoot));
        assert_eq!(
            normalize("/app/../../etc"),
            Err(NormalizeError::EscapesRoot)
        );
        assert_eq!(normalize("/./.."), Err(NormalizeError::EscapesRoot));
        assert_eq!(normalize("/..;x/a"), Err(NormalizeError::EscapesRoot));
        assert_eq!(normalize(""), Err(NormalizeError::NotAbsolute));
        assert_eq!(normalize("app/x"), Err(NormalizeError::NotAbsolute));
        assert_eq!(normalize("*"), Err(NormalizeError::Asterisk));
        assert_eq!(normalize("/a\0b"), Err(NormalizeError::ControlChar));
        assert_eq!(normalize("/a\nb"), Err(NormalizeError::ControlChar));
        assert_eq!(normalize("/a\u{7f}"), Err(NormalizeError::ControlChar));
        assert_eq!(normalize("/a\u{85}"), Err(NormalizeError::ControlChar));
        assert!(NormalizeError::EscapesRoot.is_bad_request());
        assert!(!NormalizeError::TooLong.is_bad_request());
        assert!(!NormalizeError::Asterisk.is_bad_request());
    }

    #[test]
    fn no_second_decoding() {
        assert_eq!(ok("/app/%2e%2e/x"), "/app/%2e%2e/x");
        assert_eq!(ok("/app/%252e%252e/x"), "/app/%252e%252e/x");
        assert_eq!(ok("/app/..%5cx"), "/app/..%5cx");
    }

    #[test]
    fn length_limit() {
        let max = format!("/{}", "a".repeat(MAX_URI_LEN - 1));
        assert_eq!(max.len(), 4095);
        assert_eq!(normalize(&max).as_deref(), Ok(max.as_str()));
        let over = format!("/{}", "a".repeat(MAX_URI_LEN));
        assert_eq!(over.len(), 4096);
        assert_eq!(normalize(&over), Err(NormalizeError::TooLong));
        // The limit applies to what is matched, as in mod_jk.
        let shrinks = format!("/{}a", "/".repeat(5000));
        assert_eq!(ok(&shrinks), "/a");
    }

    /// Independent formulation as successive textual rewrites (the shape of the classic
    /// multi-pass algorithm), to cross-check the single segment pass above.
    fn reference(uri: &str) -> Option<String> {
        if !uri.starts_with('/') {
            return None;
        }
        let mut s = String::new();
        let mut in_param = false;
        for c in uri.chars() {
            match c {
                ';' => in_param = true,
                '/' => {
                    in_param = false;
                    s.push(c);
                }
                _ if !in_param => s.push(c),
                _ => {}
            }
        }
        while s.contains("//") {
            s = s.replace("//", "/");
        }
        loop {
            if let Some(p) = s.find("/./") {
                s.replace_range(p..p + 3, "/");
            } else if s.ends_with("/.") {
                s.pop();
            } else {
                break;
            }
        }
        loop {
            let (p, end) = if let Some(p) = s.find("/../") {
                (p, p + 4)
            } else if s.ends_with("/..") {
                (s.len() - 3, s.len())
            } else {
                break;
            };
            if p == 0 {
                return None;
            }
            let q = s[..p].rfind('/').unwrap();
            s = format!("{}{}", &s[..=q], &s[end..]);
        }
        Some(s)
    }

    fn uri_like() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("/"),
                Just("."),
                Just(".."),
                Just(";"),
                Just("a"),
                Just("b"),
                Just("="),
                Just("%2e"),
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_canonical(uri in prop_oneof![any::<String>(), uri_like()]) {
            if let Ok(n) = normalize(&uri) {
                prop_assert!(n.starts_with('/'));
                prop_assert!(!n.contains("//"), "{n:?}");
                prop_assert!(!n.contains("/./"), "{n:?}");
                prop_assert!(!n.contains("/../"), "{n:?}");
                prop_assert!(!n.ends_with("/.") && !n.ends_with("/.."), "{n:?}");
                prop_assert!(!n.contains(';'), "{n:?}");
                prop_assert_eq!(normalize(&n), Ok(n.clone()));
            }
        }

        #[test]
        fn agrees_with_rewrite_reference(tail in uri_like()) {
            let uri = format!("/{tail}");
            prop_assert_eq!(normalize(&uri).ok(), reference(&uri));
        }
    }

    #[test]
    fn forward_uri_is_encoded_once() {
        assert_eq!(escape_forward_uri(b"/app/%2e%2e/x"), b"/app/%252e%252e/x");
        assert_eq!(
            escape_forward_uri(b"/a b/\xc3\xa9;jsessionid=1"),
            b"/a%20b/%C3%A9;jsessionid=1"
        );
        assert_eq!(escape_forward_uri(b"/x\r\nY:1"), b"/x%0D%0AY:1");
        assert_eq!(escape_forward_uri(b"/a;b"), b"/a;b");
        assert_eq!(escape_forward_uri(b"/\xc3\xa9 x"), b"/%C3%A9%20x");
        assert_eq!(escape_uri_lower(b"/\xc3\xa9;x"), b"/%c3%a9;x");
        // Every byte outside httpd's path set (alphanumerics and `$-_.+!*'(),:;@&=/~`)
        // is escaped, in upper-case hex.
        let all: Vec<u8> = (1..=255u8).collect();
        let escaped = escape_forward_uri(&all);
        let kept: Vec<u8> = all
            .iter()
            .copied()
            .filter(|&b| !escape_forward_uri(&[b]).starts_with(b"%"))
            .collect();
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "!$&'()*+,-./0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
        );
        assert_eq!(escaped.len(), 255 + 2 * (255 - 80));
    }
    #[test]
    fn strips_every_session_parameter() {
        let p = ";jsessionid=";
        assert_eq!(
            strip_path_parameter("/a/b.png;jsessionid=XYZ.t1", p).as_deref(),
            Some("/a/b.png")
        );
        assert_eq!(
            strip_path_parameter("/a;jsessionid=1/b;jsessionid=2;x=y", p).as_deref(),
            Some("/a/b;x=y")
        );
        assert_eq!(strip_path_parameter("/a/b", p), None);
    }
}
