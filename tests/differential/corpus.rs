//! The requests both modules forward to the fake backend: one `Case` each, sent byte
//! for byte on a fresh connection (HTTPS ones through curl).

use crate::common::chunked;

pub enum Wire {
    /// Raw bytes to the plain port.
    Plain(Vec<u8>),
    /// curl to the SSL port: SNI host name, path, client certificate chain file (from the
    /// test material), extra curl arguments.
    Tls {
        host: &'static str,
        path: String,
        cert: Option<&'static str>,
        args: Vec<String>,
    },
}

pub struct Case {
    pub name: String,
    pub wire: Wire,
}

fn raw(method: &str, host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("Connection: close\r\n\r\n");
    let mut b = s.into_bytes();
    b.extend_from_slice(body);
    b
}

fn plain(name: impl Into<String>, bytes: Vec<u8>) -> Case {
    Case {
        name: name.into(),
        wire: Wire::Plain(bytes),
    }
}

/// Deterministic body bytes.
pub fn body(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36])
        .collect()
}

const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PATCH",
    "FOO",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ACL",
    "REPORT",
    "VERSION-CONTROL",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "SEARCH",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "BASELINE-CONTROL",
    "MKACTIVITY",
];

/// URIs sent to every ForwardURI* vhost: raw and encoded characters, `%2F`, path
/// parameters, dot segments.
const URIS: &[(&str, &str)] = &[
    ("plain", "/f/a/b.html"),
    ("query", "/f/q?x=1&y=%20two&z=a+b&e=%C3%A9"),
    ("rawquery", "/f/q?x=\"<>\"&raw=\u{e9}|^`"),
    ("space", "/f/a%20b"),
    ("encslash", "/f/a%2Fb"),
    ("semi", "/f/a;jsessionid=ABC123.fake1?k=v"),
    ("semiparam", "/f/a;x=1/b;y=2"),
    ("encsemi", "/f/a%3Bb"),
    ("dotdot", "/f/x/../a"),
    ("encdot", "/f/x/%2e%2e/a"),
    ("doubleslash", "/f//a"),
    ("tilde", "/f/%7Euser/%41"),
    ("utf8", "/f/caf%C3%A9/\u{e9}"),
    ("pct25", "/f/a%252Fb%25"),
    ("reserved", "/f/a:b@c!d$e&f'g(h)i*j+k,l=m"),
];

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for m in METHODS {
        v.push(plain(
            format!("method-{m}"),
            raw(m, "main.test", "/f/m?x=1", &[], b""),
        ));
    }
    for host in [
        "main", "compat", "unparsed", "escaped", "proxy", "reject", "strip",
    ] {
        for (n, uri) in URIS {
            v.push(plain(
                format!("{host}-{n}"),
                raw("GET", &format!("{host}.test"), uri, &[], b""),
            ));
        }
    }
    headers_cases(&mut v);
    body_cases(&mut v);
    misc_cases(&mut v);
    tls_cases(&mut v);
    v
}

fn headers_cases(v: &mut Vec<Case>) {
    let long = "L".repeat(6000);
    let h = |n: &str, hs: &[(&str, &str)]| plain(n, raw("GET", "main.test", "/f/h", hs, b""));
    v.push(h(
        "coded-headers",
        &[
            ("Accept", "text/html"),
            ("Accept-Charset", "utf-8"),
            ("Accept-Encoding", "gzip"),
            ("Accept-Language", "de"),
            ("Authorization", "Bearer xyz"),
            ("Cookie", "a=1; JSESSIONID=S1.fake1"),
            ("Cookie2", "$Version=1"),
            ("Pragma", "no-cache"),
            ("Referer", "http://main.test/"),
            ("User-Agent", "diff/1"),
            ("Content-Type", "text/plain"),
        ],
    ));
    v.push(h(
        "repeated-headers",
        &[
            ("X-Rep", "1"),
            ("X-Rep", "2"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
        ],
    ));
    v.push(h("long-header", &[("X-Long", &long)]));
    v.push(h(
        "case-and-empty",
        &[("x-lower", "v"), ("X-UPPER", "V"), ("X-Empty", "")],
    ));
    v.push(h("odd-values", &[("X-Odd", "a\tb  c, \"d\"; e=\u{e9}")]));
    v.push(h("many-headers", &[("X-1", "1"); 40]));
    v.push(plain(
        "host-with-port",
        raw("GET", "main.test:8080", "/f/h", &[], b""),
    ));
    v.push(plain(
        "no-host-http10",
        b"GET /f/h HTTP/1.0\r\n\r\n".to_vec(),
    ));
    v.push(plain(
        "http10-host",
        b"GET /f/h?x=1 HTTP/1.0\r\nHost: main.test\r\nUser-Agent: old\r\n\r\n".to_vec(),
    ));
    v.push(plain(
        "http10-post",
        b"POST /f/p HTTP/1.0\r\nHost: main.test\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
    ));
}

fn body_cases(v: &mut Vec<Case>) {
    let post = |name: &str, path: &str, hs: &[(&str, &str)], b: &[u8]| {
        plain(name, raw("POST", "main.test", path, hs, b))
    };
    for n in [0usize, 1, 10, 8186, 8187, 8188, 16372, 100_000] {
        let b = body(n);
        let len = n.to_string();
        v.push(post(
            &format!("cl-{n}"),
            "/f/p",
            &[
                ("Content-Length", &len),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &b,
        ));
    }
    let b = body(105_000);
    v.push(post(
        "chunked-15x7000",
        "/f/p",
        &[("Transfer-Encoding", "chunked")],
        &chunked(&b, &[7000]),
    ));
    let b = body(20);
    v.push(post(
        "chunked-small",
        "/f/p",
        &[("Transfer-Encoding", "chunked")],
        &chunked(&b, &[1, 3, 16]),
    ));
    v.push(post(
        "chunked-empty",
        "/f/p",
        &[("Transfer-Encoding", "chunked")],
        b"0\r\n\r\n",
    ));
    let b = body(20_000);
    v.push(post(
        "chunked-20000-one",
        "/f/p",
        &[("Transfer-Encoding", "chunked")],
        &chunked(&b, &[20_000]),
    ));
    let b = body(3000);
    v.push(post(
        "expect-100",
        "/f/p",
        &[("Expect", "100-continue"), ("Content-Length", "3000")],
        &b,
    ));
    v.push(plain(
        "put-cl",
        raw(
            "PUT",
            "main.test",
            "/f/put",
            &[("Content-Length", "4")],
            b"data",
        ),
    ));
    v.push(plain(
        "get-with-body",
        raw(
            "GET",
            "main.test",
            "/f/g",
            &[("Content-Length", "4")],
            b"abcd",
        ),
    ));
}

fn misc_cases(v: &mut Vec<Case>) {
    let basic = format!(
        "Basic {}",
        base64(format!("{}:{}", super::setup::AUTH_USER, super::setup::AUTH_PASS).as_bytes())
    );
    let bad = format!("Basic {}", base64(b"alice:wrong"));
    let get = |name: &str, host: &str, path: &str, hs: &[(&str, &str)]| {
        plain(name, raw("GET", host, path, hs, b""))
    };
    v.push(get(
        "auth-ok",
        "main.test",
        "/f/auth/x",
        &[("Authorization", &basic)],
    ));
    v.push(get(
        "auth-bad",
        "main.test",
        "/f/auth/x",
        &[("Authorization", &bad)],
    ));
    v.push(get("auth-none", "main.test", "/f/auth/x", &[]));
    let xff = [("X-Forwarded-For", "10.1.2.3")];
    v.push(get("local-addr", "local.test", "/f/l", &[]));
    v.push(get("physical-xff", "physical.test", "/f/l", &xff));
    v.push(get("remoteip-xff", "remoteip.test", "/f/l", &xff));
    v.push(get("flags", "flags.test", "/f/l", &[]));
    v.push(get("envvar", "envvar.test", "/f/e", &[]));
    v.push(get("direct-worker", "main.test", "/direct/x?y=1", &[]));
    v.push(get("lb-mount-exact", "main.test", "/f", &[]));
    v.push(get(
        "sticky-cookie",
        "main.test",
        "/f/s",
        &[("Cookie", "JSESSIONID=abc.fake1")],
    ));
    v.push(get(
        "strip-cookie",
        "strip.test",
        "/f/s",
        &[("Cookie", "JSESSIONID=abc.fake1")],
    ));
}

fn tls_cases(v: &mut Vec<Case>) {
    let tls = |name: &str, host: &'static str, path: &str, cert: Option<&'static str>| Case {
        name: name.into(),
        wire: Wire::Tls {
            host,
            path: path.into(),
            cert,
            args: Vec::new(),
        },
    };
    v.push(tls("tls-nocert", "ssl.test", "/f/t?x=1", None));
    v.push(tls(
        "tls-cert",
        "ssl.test",
        "/f/t",
        Some("client-chain.pem"),
    ));
    v.push(tls(
        "tls-chain",
        "chain.test",
        "/f/t",
        Some("client-chain.pem"),
    ));
    v.push(tls(
        "tls-nokeysize",
        "nokey.test",
        "/f/t",
        Some("client-chain.pem"),
    ));
    let mut post = tls("tls-post", "ssl.test", "/f/tp", None);
    if let Wire::Tls { args, .. } = &mut post.wire {
        args.extend(["--data-binary".into(), "tls body".into()]);
    }
    v.push(post);
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
