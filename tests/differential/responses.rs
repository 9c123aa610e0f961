//! Part 2: real Tomcat responses through each module (the shared tomcat1, via the lb
//! `tclb` and the plain ajp13 worker `tc`).

use crate::common::{chunked, parse_response};
use crate::compare::{self, Diff, Record};
use crate::corpus::body;
use crate::setup::Pair;
use crate::{Side, curl, sides, skip_interim};
use sha2::{Digest, Sha256};

struct TcCase {
    name: &'static str,
    host: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn get(name: &'static str, host: &'static str, path: &'static str) -> TcCase {
    TcCase {
        name,
        host,
        method: "GET",
        path,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn cases() -> Vec<TcCase> {
    let mut v = vec![
        get("get-echo", "main.test", "/echo?x=1&y=%20z"),
        get("status-204", "main.test", "/status/204"),
        get("etag-200", "main.test", "/etag"),
        get("redirect-relative", "main.test", "/redirect?to=/echo/x"),
        get(
            "redirect-absolute",
            "main.test",
            "/redirect?to=http://other.test/y",
        ),
        get("set-cookies", "main.test", "/headers"),
        get("size-1mib", "main.test", "/size/1048576"),
        get("size-chunked", "main.test", "/size/100000?chunked=1"),
        get("not-found", "main.test", "/nf"),
        get("status-503-body", "main.test", "/status/503?body=1"),
        get("errdoc-500", "errors.test", "/status/500?body=1"),
        get("errdoc-404", "errors.test", "/status/404?body=1"),
        get("errdoc-400-default", "errors.test", "/status/400?body=1"),
        get("errdoc-302", "errors.test", "/status/302"),
        get("errdoc-200", "errors.test", "/status/200?body=1"),
        get(
            "envvar-echo",
            "envvar.test",
            "/echo?attrs=RJK_A,RJK_B,RJK_UNSET",
        ),
    ];
    let mut c = get("etag-304", "main.test", "/etag");
    c.headers.push(("If-None-Match", "\"rjk-v1\"".into()));
    v.push(c);
    for (name, path) in [("head-echo", "/echo"), ("head-size", "/size/5000")] {
        let mut c = get(name, "main.test", path);
        c.method = "HEAD";
        v.push(c);
    }
    let mut c = get("post-echo", "main.test", "/echo");
    c.method = "POST";
    c.body = body(3000);
    c.headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded".into()),
        ("Content-Length", "3000".into()),
    ];
    v.push(c);
    let mut c = get("post-chunked-15x7000", "main.test", "/echo");
    c.method = "POST";
    c.body = chunked(&body(105_000), &[7000]);
    c.headers = vec![("Transfer-Encoding", "chunked".into())];
    v.push(c);
    v
}

fn raw(c: &TcCase) -> Vec<u8> {
    let mut s = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", c.method, c.path, c.host);
    for (n, v) in &c.headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("Connection: close\r\n\r\n");
    let mut b = s.into_bytes();
    b.extend_from_slice(&c.body);
    b
}

/// Status, headers and body of one reply, normalised.
fn record(side: &Side<'_>, raw: &[u8], head_only: bool) -> Record {
    let mut rec = Record::default();
    let raw = skip_interim(raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut order = Vec::new();
    for line in head.lines().skip(1) {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        let n = n.trim().to_ascii_lowercase();
        let v = match n.as_str() {
            // The clock, and the server banner (each module adds its own name and
            // version to it).
            "date" | "server" => "<normalised>".to_string(),
            // httpd's own static files (an ErrorDocument): validators made from each
            // ServerRoot's copy of the file (inode, mtime).
            "etag" | "last-modified" if !v.contains("rjk-v1") && !v.contains("2001") => {
                "<static file>".to_string()
            }
            _ => side.ports(v.trim()),
        };
        rec.put(format!("header.{n}"), v);
        order.push(n);
    }
    rec.put("header-order", order.join(","));
    let status = head.split(' ').nth(1).unwrap_or("none").to_string();
    rec.put("status", status);
    let body = if head_only {
        raw.get(end + 4..).unwrap_or(&[]).to_vec()
    } else {
        parse_response(raw).map(|r| r.body).unwrap_or_default()
    };
    // Text (the servlet's /echo, error pages) line by line, so that lines can be
    // normalised; binary bodies (/size) by length and checksum.
    if std::str::from_utf8(&body).is_err() {
        rec.put(
            "body",
            format!("{} bytes, sha256 {:x}", body.len(), Sha256::digest(&body)),
        );
    } else {
        let text = String::from_utf8_lossy(&body);
        for (i, line) in text.lines().enumerate() {
            rec.put(format!("body.{i}"), echo_line(side, line));
        }
    }
    rec
}

/// One line of a body; the servlet's /echo lines that differ by run are normalised.
fn echo_line(side: &Side<'_>, line: &str) -> String {
    let key = line.split('=').next().unwrap_or("");
    match key {
        // The client's ephemeral port.
        "remote_port" => "remote_port=<client port>".into(),
        // The httpd's own (per-run) ports.
        "server_port" | "local_port" | "header.host" | "header.referer" => side.ports(line),
        // A fresh TLS session per curl run.
        k if k.contains("ssl_session") => format!("{k}=<session id>"),
        // The httpd's own (per-run) listen address, e.g. local_addr.
        _ => line.replace(side.h.host(), "<host>"),
    }
}

pub fn diffs(pair: &Pair) -> Vec<Diff> {
    let (jk, rjk) = sides(pair);
    let mut out = Vec::new();
    for c in cases() {
        let bytes = raw(&c);
        let head = c.method == "HEAD";
        let a = record(&jk, &jk.h.raw(&bytes), head);
        let b = record(&rjk, &rjk.h.raw(&bytes), head);
        push(&mut out, c.name, a, b);
    }
    for (name, host, cert) in [
        ("tls-echo", "ssl.test", None),
        ("tls-echo-cert", "chain.test", Some("client-chain.pem")),
    ] {
        let path =
            "/echo?attrs=jakarta.servlet.request.key_size,jakarta.servlet.request.cipher_suite";
        let a = record(&jk, &curl(&jk, host, path, cert, &[]).1, false);
        let b = record(&rjk, &curl(&rjk, host, path, cert, &[]).1, false);
        push(&mut out, name, a, b);
    }
    out
}

fn push(out: &mut Vec<Diff>, name: &str, a: Record, b: Record) {
    let (mut ra, mut rb) = (Record::default(), Record::default());
    ra.extend_prefixed(&format!("tomcat/{name}/"), a);
    rb.extend_prefixed(&format!("tomcat/{name}/"), b);
    out.extend(compare::diff(&ra, &rb));
}
