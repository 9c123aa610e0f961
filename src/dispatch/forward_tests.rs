//! The forwarding rules with an in-memory request and environment. Tests are named after
//! the README's directive table entries they hold to.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::config::directives::opt;

fn info() -> RequestInfo<'static> {
    RequestInfo {
        method: b"GET",
        protocol: b"HTTP/1.1",
        uri: b"/app/a b;jsessionid=x",
        unparsed_uri: b"/app/a%20b;jsessionid=x?q=1",
        args: Some(b"q=1"),
        user: Some(b"httpd-user"),
        auth_type: Some(b"Basic"),
        client_ip: b"192.0.2.1",
        client_port: 40000,
        peer_ip: b"198.51.100.7",
        peer_port: 50000,
        remote_host: None,
        local_ip: b"127.0.0.1",
        server_name: b"www.example.org",
        server_port: 80,
        headers: vec![(b"Host", b"www.example.org")],
        header_only: false,
    }
}

fn conf(options: u32) -> ServerConf {
    let mut c = ServerConf::new(false);
    c.effective_options = options;
    c
}

fn env_of(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn fwd(c: &ServerConf, vars: &[(&str, &str)]) -> Forwarded<'static> {
    fwd_uri(c, vars, None)
}

fn fwd_uri(c: &ServerConf, vars: &[(&str, &str)], orig: Option<&str>) -> Forwarded<'static> {
    let env = env_of(vars);
    forwarded(info(), orig.map(str::to_string), c, &|n| {
        env.get(n).cloned()
    })
}

#[test]
fn jk_options_forward_uri_proxy_the_default_re_encodes_the_decoded_uri() {
    let f = fwd(&conf(opt::DEFAULT), &[]);
    assert_eq!(f.req_uri, b"/app/a%20b;jsessionid=x");
}

#[test]
fn jk_options_forward_uri_compat_sends_the_decoded_uri() {
    let f = fwd(&conf(opt::FORWARD_URI_COMPAT), &[]);
    assert_eq!(f.req_uri, b"/app/a b;jsessionid=x");
}

#[test]
fn jk_options_forward_uri_compat_unparsed_sends_the_uri_as_the_client_wrote_it_without_query() {
    let f = fwd(&conf(opt::FORWARD_URI_COMPAT_UNPARSED), &[]);
    assert_eq!(f.req_uri, b"/app/a%20b;jsessionid=x");
}

#[test]
fn jk_options_forward_uri_escaped_writes_lower_case_hex() {
    let orig = "/app/\u{e9}";
    let f = fwd_uri(&conf(opt::FORWARD_URI_ESCAPED), &[], Some(orig));
    assert_eq!(f.req_uri, b"/app/%c3%a9");
    let f = fwd_uri(&conf(opt::DEFAULT), &[], Some(orig));
    assert_eq!(f.req_uri, b"/app/%C3%A9");
}

#[test]
fn the_uri_before_normalisation_is_what_is_forwarded() {
    let f = fwd_uri(&conf(opt::FORWARD_URI_COMPAT), &[], Some("/app/../app/x"));
    assert_eq!(f.req_uri, b"/app/../app/x");
}

#[test]
fn jk_options_forward_local_address_and_forward_physical_address() {
    let f = fwd(&conf(opt::DEFAULT), &[]);
    assert_eq!(
        (&f.remote_addr[..], f.remote_port),
        (&b"192.0.2.1"[..], 40000)
    );
    let f = fwd(&conf(opt::FORWARD_LOCAL_ADDRESS), &[]);
    assert_eq!((&f.remote_addr[..], f.remote_port), (&b"127.0.0.1"[..], 0));
    let f = fwd(&conf(opt::FORWARD_PHYSICAL_ADDRESS), &[]);
    assert_eq!(
        (&f.remote_addr[..], f.remote_port),
        (&b"198.51.100.7"[..], 50000)
    );
}

#[test]
fn jk_remote_and_local_indicators_override_what_httpd_knows() {
    let vars = [
        ("JK_REMOTE_ADDR", "203.0.113.9"),
        ("JK_REMOTE_PORT", "1234"),
        ("JK_REMOTE_HOST", "client.example"),
        ("JK_REMOTE_USER", "alice"),
        ("JK_AUTH_TYPE", "Digest"),
        ("JK_LOCAL_NAME", "internal"),
        ("JK_LOCAL_ADDR", "10.0.0.1"),
        ("JK_LOCAL_PORT", "8443"),
    ];
    let f = fwd(&conf(opt::DEFAULT), &vars);
    assert_eq!(&f.remote_addr[..], b"203.0.113.9");
    assert_eq!(f.remote_port, 1234);
    assert_eq!(f.remote_host.as_deref(), Some(&b"client.example"[..]));
    assert_eq!(f.remote_user.as_deref(), Some(&b"alice"[..]));
    assert_eq!(f.auth_type.as_deref(), Some(&b"Digest"[..]));
    assert_eq!(&f.server_name[..], b"internal");
    assert_eq!(&f.local_addr[..], b"10.0.0.1");
    assert_eq!(f.server_port, 8443);
    // Without them, httpd's values.
    let f = fwd(&conf(opt::DEFAULT), &[]);
    assert_eq!(f.remote_user.as_deref(), Some(&b"httpd-user"[..]));
    assert_eq!(&f.server_name[..], b"www.example.org");
    assert_eq!(f.server_port, 80);
}

#[test]
fn jk_remote_addr_indicator_names_the_variable_to_read() {
    let mut c = conf(opt::DEFAULT);
    c.indicators[Indicator::RemoteAddr as usize] = Some("X_CLIENT".into());
    assert_eq!(c.indicator(Indicator::RemoteAddr), "X_CLIENT");
    let f = fwd(
        &c,
        &[("X_CLIENT", "203.0.113.5"), ("JK_REMOTE_ADDR", "1.1.1.1")],
    );
    assert_eq!(&f.remote_addr[..], b"203.0.113.5");
}

fn tls() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HTTPS", "on"),
        ("SSL_CLIENT_CERT", "CERT;"),
        ("SSL_CIPHER", "TLS_AES_128_GCM_SHA256"),
        ("SSL_SESSION_ID", "abcd"),
        ("SSL_PROTOCOL", "TLSv1.3"),
        ("SSL_CIPHER_USEKEYSIZE", "128"),
        ("SSL_CLIENT_CERT_CHAIN_0", "CA0;"),
        ("SSL_CLIENT_CERT_CHAIN_1", "CA1;"),
        ("SSL_CLIENT_CERT_CHAIN_3", "not-contiguous;"),
    ]
}

#[test]
fn jk_https_indicator_and_the_ssl_indicators_forward_tls_data() {
    let f = fwd(&conf(opt::DEFAULT), &tls());
    assert!(f.is_ssl);
    assert_eq!(f.ssl[0].as_deref(), Some(&b"CERT;"[..]));
    assert_eq!(f.ssl[1].as_deref(), Some(&b"TLS_AES_128_GCM_SHA256"[..]));
    assert_eq!(f.ssl[2].as_deref(), Some(&b"abcd"[..]));
    assert_eq!(f.ssl[3].as_deref(), Some(&b"TLSv1.3"[..]));
    // ForwardKeySize is in the default options.
    assert_eq!(f.ssl_key_size, Some(128));
    let f = fwd(&conf(opt::FORWARD_URI_PROXY), &tls());
    assert_eq!(f.ssl_key_size, None);
}

#[test]
fn jk_extract_ssl_off_and_a_plain_request_forward_no_tls_data() {
    let mut c = conf(opt::DEFAULT);
    c.extract_ssl = Some(false);
    let f = fwd(&c, &tls());
    assert!(!f.is_ssl && f.ssl.iter().all(Option::is_none) && f.ssl_key_size.is_none());
    let mut plain = tls();
    plain[0] = ("HTTPS", "off");
    let f = fwd(&conf(opt::DEFAULT), &plain);
    assert!(!f.is_ssl && f.ssl.iter().all(Option::is_none));
}

#[test]
fn jk_certchain_prefix_appends_the_chain_with_forward_ssl_cert_chain() {
    let f = fwd(&conf(opt::DEFAULT | opt::FORWARD_SSL_CERT_CHAIN), &tls());
    // Up to the first gap in the numbering.
    assert_eq!(f.ssl[0].as_deref(), Some(&b"CERT;CA0;CA1;"[..]));
    let f = fwd(&conf(opt::DEFAULT), &tls());
    assert_eq!(f.ssl[0].as_deref(), Some(&b"CERT;"[..]));
    let mut c = conf(opt::DEFAULT | opt::FORWARD_SSL_CERT_CHAIN);
    c.indicators[Indicator::CertChainPrefix as usize] = Some("CHAIN_".into());
    assert_eq!(c.indicator(Indicator::CertChainPrefix), "CHAIN_");
    let mut vars = tls();
    vars.push(("CHAIN_0", "X;"));
    let f = fwd(&c, &vars);
    assert_eq!(f.ssl[0].as_deref(), Some(&b"CERT;X;"[..]));
}

#[test]
fn jk_env_var_is_sent_when_set_even_empty_and_with_a_default_always() {
    let mut c = conf(opt::DEFAULT);
    c.env_vars = vec![
        ("SET".into(), None),
        ("EMPTY".into(), None),
        ("UNSET".into(), None),
        ("DEFAULTED".into(), Some("dflt".into())),
    ];
    let f = fwd(&c, &[("SET", "v"), ("EMPTY", "")]);
    let got: Vec<(String, String)> = f
        .env_vars
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("SET".to_string(), "v".to_string()),
            ("EMPTY".to_string(), String::new()),
            ("DEFAULTED".to_string(), "dflt".to_string()),
        ]
    );
}

#[test]
fn the_forward_request_carries_route_activation_secret_and_query() {
    let f = fwd(&conf(opt::DEFAULT), &[]);
    let r = f.request(
        crate::ajp::body_mode(Some(0), false),
        Some("s3cret"),
        Some(b"t2"),
        b"DIS",
    );
    assert_eq!(r.route, Some(&b"t2"[..]));
    assert_eq!(r.lb_activation, b"DIS");
    assert_eq!(r.secret, Some(&b"s3cret"[..]));
    assert_eq!(r.query_string, Some(&b"q=1"[..]));
    assert_eq!(r.req_uri, b"/app/a%20b;jsessionid=x");
}

proptest! {
    /// Whatever the decoded URI, ForwardURIProxy's form decodes back to it exactly once
    /// (CVE-2007-1860) and holds no byte a request line cannot carry.
    #[test]
    fn forward_uri_proxy_decodes_back_to_the_uri_httpd_decoded(uri in "/[ -~\u{a0}-\u{ff}]{0,40}") {
        let f = fwd_uri(&conf(opt::DEFAULT), &[], Some(&uri));
        prop_assert!(f.req_uri.iter().all(|b| b.is_ascii_graphic()));
        let mut back = Vec::new();
        let mut i = 0;
        while i < f.req_uri.len() {
            if f.req_uri[i] == b'%' {
                let hex = std::str::from_utf8(&f.req_uri[i + 1..i + 3]).unwrap();
                back.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                back.push(f.req_uri[i]);
                i += 1;
            }
        }
        prop_assert_eq!(back, uri.as_bytes());
    }
}
