//! Who may ask and from where: the user list, the form token, the Host check against DNS
//! rebinding and the cross-site markers of browsers.

use super::params::{Cmd, Params, glob};
use super::{Failure, MIN_TOKEN_LEN, OPT_READ_ONLY, StatusContext, StatusRequest};
use crate::config::workers::StatusParams;

/// The Host check and the user list, before anything else of the request is looked at.
pub(super) fn admit(req: &StatusRequest, ctx: &StatusContext) -> Result<(), Failure> {
    if !host_allowed(req, ctx) {
        return Err((
            403,
            "Refused: the Host of this request is not a name of this server. Use the server's \
             name or IP address, or list the name in the status worker's allowed_hosts."
                .to_owned(),
        ));
    }
    if !user_allowed(ctx.params, req.remote_user) {
        return Err((403, "Access denied.".to_owned()));
    }
    Ok(())
}

/// The form token of a POST, read-only mode, and the cross-site and browser checks of
/// state changes.
pub(super) fn guard(
    req: &StatusRequest,
    ctx: &StatusContext,
    params: &Params,
    cmd: Cmd,
    opt: u32,
    post: bool,
) -> Result<(), Failure> {
    let refuse = |message: &str| Err((403, message.to_owned()));
    let token_ok = {
        let token = ctx.csrf_token;
        token.len() >= MIN_TOKEN_LEN && token_eq(params.get("csrf").unwrap_or(""), token)
    };
    if post && !token_ok {
        return refuse("Missing or wrong form token (csrf): reload the status page and try again.");
    }
    let read_only = ctx.params.read_only || opt & OPT_READ_ONLY != 0;
    if read_only && (cmd.changes_state() || cmd == Cmd::Edit) {
        return refuse("This command is not allowed in read only mode.");
    }
    if post || cmd.changes_state() {
        if let Some(marker) = cross_site(req) {
            return refuse(&format!(
                "Refused: the request comes from another site ({marker})."
            ));
        }
    }
    if cmd.changes_state() && !token_ok && from_browser(req) {
        return refuse(
            "Refused: a change from a web browser needs this page's form token. In a browser, \
             use the page's Edit, Reset and Recover forms. Scripts send the GET without \
             browser headers (no Mozilla User-Agent, Origin, Referer or Sec-Fetch-*), for \
             example: curl 'http://HOST/jkmanager/?cmd=update&w=LB&sw=MEMBER&vwa=D'.",
        );
    }
    Ok(())
}

fn user_allowed(params: &StatusParams, remote_user: Option<&str>) -> bool {
    if params.user.is_empty() {
        return true;
    }
    let Some(user) = remote_user.filter(|u| !u.is_empty()) else {
        return false;
    };
    params.user.iter().any(|u| {
        if params.user_case_insensitive {
            u.eq_ignore_ascii_case(user)
        } else {
            u == user
        }
    })
}

/// Constant-time comparison (the token length is not secret).
fn token_eq(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `host:port` (lower-case, default port of `scheme` removed) of an absolute http(s) URL.
fn url_authority(url: &str) -> Option<(String, &'static str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // No user info in an Origin; in a Referer it would be odd enough to refuse.
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((normalize_authority(authority, scheme), scheme))
}

fn normalize_authority(authority: &str, scheme: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    match a.strip_suffix(default) {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        _ => a,
    }
}

/// Whether a web browser sent the request: its User-Agent, or a header only browsers send.
/// A state change from a browser needs the form token even as a GET, because a browser
/// on a plain-http origin sends no `Sec-Fetch-*`, and `referrerpolicy=no-referrer` drops
/// the Referer: the cross-site markers alone cannot tell a foreign page's `<img>`.
fn from_browser(req: &StatusRequest) -> bool {
    req.user_agent.is_some_and(|ua| ua.contains("Mozilla/"))
        || req.browser_headers
        || req.origin.is_some()
        || req.referer.is_some()
}

/// The host name of a `Host` header value (no port, no brackets, no trailing dot,
/// lower-case).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// DNS rebinding: a page on an attacker's name that resolves to this server must not get
/// an answer it can read. The page answers for the server's names and aliases, localhost,
/// IP literals, the status worker's `allowed_hosts` (`*`: any), and requests without Host.
fn host_allowed(req: &StatusRequest, ctx: &StatusContext) -> bool {
    let name = host_name(req.host);
    name.is_empty()
        || name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok()
        || ctx
            .server_names
            .iter()
            .chain(&ctx.params.allowed_hosts)
            .any(|n| glob(n.to_ascii_lowercase().as_bytes(), name.as_bytes()))
}

/// Why the request looks like it came from another site, if it does.
fn cross_site(req: &StatusRequest) -> Option<&'static str> {
    if let Some(site) = req.sec_fetch_site {
        let site = site.trim();
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Some("Sec-Fetch-Site");
        }
    }
    let same = |url: &str| match url_authority(url.trim()) {
        Some((authority, scheme)) => authority == normalize_authority(req.host, scheme),
        None => false,
    };
    if let Some(origin) = req.origin {
        return (!same(origin)).then_some("Origin");
    }
    if let Some(referer) = req.referer.filter(|r| !r.trim().is_empty()) {
        return (!same(referer)).then_some("Referer");
    }
    None
}
