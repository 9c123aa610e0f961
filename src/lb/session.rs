//! Sticky sessions: the session id of a request (cookie or path parameter), the route in
//! it, and the cookie that pins a client to a member.

/// The `Set-Cookie` value an lb with `set_session_cookie` sends when it chose a member
/// without the session's help: an empty session id carrying the route, so the client's
/// next request sticks to that member (`;PATH=` only for a non-empty path).
pub fn route_cookie(cookie: &str, route: &str, path: &str, secure: bool) -> String {
    let mut v = format!("{cookie}=.{route}");
    if !path.is_empty() {
        v.push_str(";PATH=");
        v.push_str(path);
    }
    v.push_str(";HttpOnly");
    if secure {
        v.push_str(";Secure");
    }
    v
}

/// Text after the first `.` of a session id; `None` without a route.
pub fn session_route(id: &str) -> Option<&str> {
    id.split_once('.')
        .map(|(_, route)| route)
        .filter(|r| !r.is_empty())
}

/// Routes of `ids` in order, skipping ids without one.
pub fn session_routes<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    ids.iter().filter_map(|id| session_route(id)).collect()
}

/// Session ids of a request in the order mod_jk tries them: the path parameter
/// `session_path` (e.g. `;jsessionid`) anywhere in the URI, value ending at `?`, `;` or
/// `/`; then every cookie named exactly `session_cookie` in every Cookie header, in order
/// (whitespace around names, `=` and values tolerated, surrounding quotes stripped). Empty
/// values are skipped.
pub fn extract_session_id<'a>(
    uri: &'a str,
    cookie_headers: &[&'a str],
    session_path: &str,
    session_cookie: &str,
) -> Vec<&'a str> {
    let mut ids = Vec::new();
    if let Some(id) = path_param(uri, session_path) {
        ids.push(id);
    }
    if !session_cookie.is_empty() {
        for header in cookie_headers {
            cookie_values(header, session_cookie, &mut ids);
        }
    }
    ids
}

pub(super) fn path_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(pos) = uri[from..].find(name) {
        let after = from + pos + name.len();
        from = after;
        if let Some(value) = uri[after..].strip_prefix('=') {
            let end = value.find(['?', ';', '/']).unwrap_or(value.len());
            if end > 0 {
                return Some(&value[..end]);
            }
        }
    }
    None
}

pub(super) fn cookie_values<'a>(header: &'a str, name: &str, out: &mut Vec<&'a str>) {
    let mut from = 0;
    while let Some(pos) = header[from..].find(name) {
        let start = from + pos;
        from = start + name.len();
        // The name must start a cookie, not end a longer one ("XJSESSIONID").
        let boundary = header[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c == ';' || c == ',' || c.is_ascii_whitespace());
        if !boundary {
            continue;
        }
        let Some(rest) = header[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        let end = rest.find([';', ',']).unwrap_or(rest.len());
        let mut value = rest[..end].trim_matches(|c: char| c.is_ascii_whitespace());
        if value.len() > 1 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        if !value.is_empty() {
            out.push(value);
        }
    }
}
