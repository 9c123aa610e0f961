//! The status worker's request: the form body, the request fields the status manager
//! checks, and the page it answers.

use crate::config::directives::LogLevel;
use crate::config::workers::StatusParams;
use crate::httpd::{self, Request};
use crate::lb::Balancer;
use crate::site;
use crate::status;

use super::now_ms;
use super::state::{Runtime, ServerSlot};

/// The status worker (JK status manager). Form bodies are small; anything larger is refused.
pub(super) fn serve_status(
    req: &mut Request,
    sl: &ServerSlot,
    rt: &Runtime,
    name: &str,
    params: &StatusParams,
    rid: Option<&str>,
) -> i32 {
    const MAX_FORM: usize = 64 * 1024;
    let mut form = Vec::new();
    match req.setup_body() {
        Ok(Some(n)) if n as usize > MAX_FORM => return httpd::HTTP_REQUEST_ENTITY_TOO_LARGE,
        Ok(_) => {
            let mut buf = [0u8; 8192];
            loop {
                match req.read_body(&mut buf) {
                    Ok(0) => break,
                    Ok(n) if form.len() + n <= MAX_FORM => form.extend_from_slice(&buf[..n]),
                    Ok(_) => return httpd::HTTP_REQUEST_ENTITY_TOO_LARGE,
                    Err(()) => return httpd::HTTP_BAD_REQUEST,
                }
            }
        }
        Err(status) => return status,
    }
    let info = req.info();
    let header = |n: &str| {
        info.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let (sec_fetch_site, origin, referer, host, user_agent) = (
        header("Sec-Fetch-Site"),
        header("Origin"),
        header("Referer"),
        header("Host"),
        header("User-Agent"),
    );
    let browser_headers = info.headers.iter().any(|(k, _)| {
        k.len() > 10 && k[..10].eq_ignore_ascii_case(b"sec-fetch-")
            || k.eq_ignore_ascii_case(b"upgrade-insecure-requests")
    });
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (method, query, path) = (
        lossy(info.method),
        info.args.map(lossy).unwrap_or_default(),
        lossy(info.uri),
    );
    let user = info.user.map(lossy);
    let status_req = status::StatusRequest {
        method: &method,
        query: &query,
        form: &form,
        remote_user: user.as_deref(),
        sec_fetch_site: sec_fetch_site.as_deref(),
        origin: origin.as_deref(),
        referer: referer.as_deref(),
        host: host.as_deref().unwrap_or(""),
        path: &path,
        user_agent: user_agent.as_deref(),
        browser_headers,
    };
    let server_names = req.server().names();
    let server = format!("{}:{}", lossy(info.server_name), info.server_port);
    let maps: Vec<(String, Vec<status::MapRow>)> = rt
        .servers
        .iter()
        .map(|(label, map)| {
            let rows = map.read().rules().map(status::MapRow::from_rule).collect();
            (label.clone(), rows)
        })
        .collect();
    let segment = rt.shm.as_ref().map(|m| m.segment());
    let latency = |m: usize| {
        let seg = segment?;
        let lb = seg.member(m).map(|slot| slot.lb_index())?;
        Balancer::new(seg, lb).latency(m)
    };
    let ctx = status::StatusContext {
        worker: name,
        params,
        workers: &rt.workers,
        segment,
        maps: &maps,
        server: &server,
        software: &httpd::server_banner(),
        csrf_token: &rt.csrf_token,
        server_names: &server_names,
        now_ms: now_ms(),
        latency: &latency,
    };
    let resp = status::handle(&status_req, &ctx);
    for line in &resp.log {
        sl.log(LogLevel::Info, rid, site!("status"), line);
    }
    req.send_status_page(resp.status, &resp.content_type, &resp.headers, &resp.body)
}
