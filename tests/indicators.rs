//! The indicator directives (JkRemotePortIndicator, JkHTTPSIndicator, ...) name the
//! environment variable a forwarded value is read from; JkExtractSSL turns the SSL ones
//! off. Each test runs two name-based vhosts in front of the fake backend: `plain.test`
//! keeps the default variable and `renamed.test` names `RJK_VAR` with the directive. The
//! requests set both variables to different values, so each vhost must forward the value
//! of its own variable and ignore the other one.

mod common;
#[allow(dead_code)]
#[path = "differential/json.rs"]
mod json;

use common::pki::Material;
use common::{FakeAjp, Httpd, Mpm, ServerRoot, apache_modules_dir};
use json::Json;

struct Setup {
    h: Httpd,
    /// `one` (worker w1, mounted at /app/*) and `two` (worker w2).
    fakes: [FakeAjp; 2],
}

/// Workers w1 and w2 on two fakes; `server` goes at server level (SetEnvIf lines),
/// `vhosts` after it.
fn start_with(server: &str, vhosts: &str, root: ServerRoot) -> Setup {
    let fakes = [FakeAjp::start("one", &[]), FakeAjp::start("two", &[])];
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=w1,w2\nworker.w1.host=127.0.0.1\nworker.w1.port={}\n\
             worker.w2.host=127.0.0.1\nworker.w2.port={}\n",
            fakes[0].port, fakes[1].port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogFile logs/mod_jk.log\n{server}\n{vhosts}"
    ));
    Setup {
        h: root.start(),
        fakes,
    }
}

/// `plain.test` (the default vhost) and `renamed.test`, which adds `renamed`.
fn start(server: &str, renamed: &str) -> Setup {
    let root = ServerRoot::new(Mpm::Event);
    let listen = root.listen();
    let vhost = |name: &str, extra: &str| {
        format!(
            "<VirtualHost {listen}>\n    ServerName {name}\n    JkMount /app/* w1\n    \
             <Location /h/>\n        SetHandler jakarta-servlet\n    </Location>\n    {extra}\n\
             </VirtualHost>\n"
        )
    };
    let vhosts = vhost("plain.test", "") + &vhost("renamed.test", renamed);
    start_with(server, &vhosts, root)
}

impl Setup {
    /// The fake's request event for one request to `host`.
    fn seen(&self, host: &str, method: &str, path: &str, body: &[u8]) -> Json {
        let fake = &self.fakes[0];
        let before = fake.events("request").len();
        let r = self.h.request(method, path, &[("Host", host)], body);
        assert_eq!(r.status, 200, "{host}{path}: {}", r.text());
        last_event(fake, "request", before + 1)
    }

    fn get(&self, host: &str, path: &str) -> Json {
        self.seen(host, "GET", path, b"")
    }

    /// (plain.test, renamed.test) request events for `path`.
    fn both(&self, path: &str) -> (Json, Json) {
        (self.get("plain.test", path), self.get("renamed.test", path))
    }
}

fn last_event(fake: &FakeAjp, ev: &str, n: usize) -> Json {
    let events = fake.wait_events(ev, n);
    assert!(events.len() >= n, "no {ev} event:\n{}", fake.log());
    Json::parse(&events[n - 1]).expect("fake log line")
}

/// A request attribute the fake logged, by name.
fn attr(ev: &Json, name: &str) -> Option<String> {
    ev.get("attrs")?
        .items()
        .iter()
        .find(|a| a.field("name") == name)
        .map(|a| a.field("value"))
}

/// Both variables set on every /app/ request: the renamed one to `renamed`, the
/// default `var` to `default`; `directive RJK_VAR` in renamed.test. Returns the
/// (plain.test, renamed.test) events.
fn renamed(directive: &str, var: &str, renamed: &str, default: &str) -> (Json, Json) {
    let s = start(
        &format!("SetEnvIf Request_URI ^/app/ RJK_VAR={renamed} {var}={default}"),
        &format!("{directive} RJK_VAR"),
    );
    s.both("/app/echo")
}

/// As [`renamed`] for an SSL value: the requests are also marked HTTPS (`HTTPS=on`).
fn renamed_ssl(directive: &str, var: &str, renamed: &str, default: &str) -> (Json, Json) {
    let s = start(
        &format!("SetEnvIf Request_URI ^/app/ HTTPS=on RJK_VAR={renamed} {var}={default}"),
        &format!("{directive} RJK_VAR"),
    );
    let (plain, ren) = s.both("/app/echo");
    assert_eq!(plain.field("is_ssl"), "true");
    assert_eq!(ren.field("is_ssl"), "true");
    (plain, ren)
}

#[test]
fn jk_remote_addr_indicator_names_the_variable_of_the_client_address() {
    let (plain, ren) = renamed(
        "JkRemoteAddrIndicator",
        "JK_REMOTE_ADDR",
        "192.0.2.7",
        "198.51.100.9",
    );
    assert_eq!(plain.field("remote_addr"), "198.51.100.9");
    assert_eq!(ren.field("remote_addr"), "192.0.2.7");
}

#[test]
fn jk_remote_port_indicator_names_the_variable_of_the_client_port() {
    let (plain, ren) = renamed("JkRemotePortIndicator", "JK_REMOTE_PORT", "4242", "5151");
    assert_eq!(attr(&plain, "AJP_REMOTE_PORT").as_deref(), Some("5151"));
    assert_eq!(attr(&ren, "AJP_REMOTE_PORT").as_deref(), Some("4242"));
}

#[test]
fn jk_remote_host_indicator_names_the_variable_of_the_client_host_name() {
    let (plain, ren) = renamed(
        "JkRemoteHostIndicator",
        "JK_REMOTE_HOST",
        "renamed.example",
        "default.example",
    );
    assert_eq!(plain.field("remote_host"), "default.example");
    assert_eq!(ren.field("remote_host"), "renamed.example");
}

#[test]
fn jk_remote_user_indicator_names_the_variable_of_the_user() {
    let (plain, ren) = renamed(
        "JkRemoteUserIndicator",
        "JK_REMOTE_USER",
        "renamed-user",
        "default-user",
    );
    assert_eq!(attr(&plain, "remote_user").as_deref(), Some("default-user"));
    assert_eq!(attr(&ren, "remote_user").as_deref(), Some("renamed-user"));
}

#[test]
fn jk_auth_type_indicator_names_the_variable_of_the_auth_type() {
    let (plain, ren) = renamed(
        "JkAuthTypeIndicator",
        "JK_AUTH_TYPE",
        "RenamedAuth",
        "DefaultAuth",
    );
    assert_eq!(attr(&plain, "auth_type").as_deref(), Some("DefaultAuth"));
    assert_eq!(attr(&ren, "auth_type").as_deref(), Some("RenamedAuth"));
}

#[test]
fn jk_local_name_indicator_names_the_variable_of_the_server_name() {
    let (plain, ren) = renamed(
        "JkLocalNameIndicator",
        "JK_LOCAL_NAME",
        "renamed.local",
        "default.local",
    );
    assert_eq!(plain.field("server_name"), "default.local");
    assert_eq!(ren.field("server_name"), "renamed.local");
}

#[test]
fn jk_local_addr_indicator_names_the_variable_of_the_local_address() {
    let (plain, ren) = renamed(
        "JkLocalAddrIndicator",
        "JK_LOCAL_ADDR",
        "192.0.2.44",
        "198.51.100.44",
    );
    assert_eq!(
        attr(&plain, "AJP_LOCAL_ADDR").as_deref(),
        Some("198.51.100.44")
    );
    assert_eq!(attr(&ren, "AJP_LOCAL_ADDR").as_deref(), Some("192.0.2.44"));
}

#[test]
fn jk_local_port_indicator_names_the_variable_of_the_server_port() {
    let (plain, ren) = renamed("JkLocalPortIndicator", "JK_LOCAL_PORT", "4343", "5353");
    assert_eq!(plain.field("server_port"), "5353");
    assert_eq!(ren.field("server_port"), "4343");
}

#[test]
fn jk_https_indicator_names_the_variable_that_marks_ssl_requests() {
    // /app/a sets only the renamed variable, /app/b only HTTPS.
    let s = start(
        "SetEnvIf Request_URI ^/app/a RJK_VAR=on\nSetEnvIf Request_URI ^/app/b HTTPS=on",
        "JkHTTPSIndicator RJK_VAR",
    );
    let ssl = |host, path| s.get(host, path).field("is_ssl");
    assert_eq!(ssl("plain.test", "/app/a"), "false");
    assert_eq!(ssl("plain.test", "/app/b"), "true");
    assert_eq!(ssl("renamed.test", "/app/a"), "true");
    assert_eq!(ssl("renamed.test", "/app/b"), "false");
}

#[test]
fn jk_cipher_indicator_names_the_variable_of_the_cipher() {
    let (plain, ren) = renamed_ssl(
        "JkCIPHERIndicator",
        "SSL_CIPHER",
        "RENAMED-CIPHER",
        "DEFAULT-CIPHER",
    );
    assert_eq!(
        attr(&plain, "ssl_cipher").as_deref(),
        Some("DEFAULT-CIPHER")
    );
    assert_eq!(attr(&ren, "ssl_cipher").as_deref(), Some("RENAMED-CIPHER"));
}

#[test]
fn jk_session_indicator_names_the_variable_of_the_ssl_session() {
    let (plain, ren) = renamed_ssl(
        "JkSESSIONIndicator",
        "SSL_SESSION_ID",
        "renamedsession",
        "defaultsession",
    );
    assert_eq!(
        attr(&plain, "ssl_session").as_deref(),
        Some("defaultsession")
    );
    assert_eq!(attr(&ren, "ssl_session").as_deref(), Some("renamedsession"));
}

#[test]
fn jk_sslprotocol_indicator_names_the_variable_of_the_protocol() {
    let (plain, ren) = renamed_ssl(
        "JkSSLPROTOCOLIndicator",
        "SSL_PROTOCOL",
        "RenamedTLS",
        "DefaultTLS",
    );
    assert_eq!(
        attr(&plain, "AJP_SSL_PROTOCOL").as_deref(),
        Some("DefaultTLS")
    );
    assert_eq!(
        attr(&ren, "AJP_SSL_PROTOCOL").as_deref(),
        Some("RenamedTLS")
    );
}

#[test]
fn jk_certs_indicator_names_the_variable_of_the_client_certificate() {
    let (plain, ren) = renamed_ssl(
        "JkCERTSIndicator",
        "SSL_CLIENT_CERT",
        "RENAMEDCERT",
        "DEFAULTCERT",
    );
    assert_eq!(attr(&plain, "ssl_cert").as_deref(), Some("DEFAULTCERT"));
    assert_eq!(attr(&ren, "ssl_cert").as_deref(), Some("RENAMEDCERT"));
}

#[test]
fn jk_keysize_indicator_names_the_variable_of_the_key_size() {
    let (plain, ren) = renamed_ssl(
        "JkKEYSIZEIndicator",
        "SSL_CIPHER_USEKEYSIZE",
        "4242",
        "5151",
    );
    assert_eq!(attr(&plain, "ssl_key_size").as_deref(), Some("5151"));
    assert_eq!(attr(&ren, "ssl_key_size").as_deref(), Some("4242"));
}

#[test]
fn jk_certchain_prefix_names_the_variables_appended_to_the_certificate() {
    let s = start(
        "JkOptions +ForwardSSLCertChain\n\
         SetEnvIf Request_URI ^/app/ HTTPS=on SSL_CLIENT_CERT=CERT \
         RJK_CHAIN_0=renamed0 RJK_CHAIN_1=renamed1 SSL_CLIENT_CERT_CHAIN_0=default0",
        "JkOptions +ForwardSSLCertChain\n    JkCERTCHAINPrefix RJK_CHAIN_",
    );
    let (plain, ren) = s.both("/app/echo");
    assert_eq!(attr(&plain, "ssl_cert").as_deref(), Some("CERTdefault0"));
    assert_eq!(
        attr(&ren, "ssl_cert").as_deref(),
        Some("CERTrenamed0renamed1")
    );
}

#[test]
fn jk_worker_indicator_names_the_variable_that_picks_the_worker() {
    // /h/ is handled by `SetHandler jakarta-servlet` with no JkMount: the worker comes
    // from the variable, w1 (`one`) by the renamed one, w2 (`two`) by the default one.
    let s = start(
        "SetEnvIf Request_URI ^/h/ RJK_VAR=w1 JK_WORKER_NAME=w2",
        "JkWorkerIndicator RJK_VAR",
    );
    let backend = |host| {
        let r = s.h.get_with("/h/echo", &[("Host", host)]);
        assert_eq!(r.status, 200, "{host}: {}", r.text());
        r.header("X-Backend").unwrap_or("?").to_string()
    };
    assert_eq!(backend("plain.test"), "two");
    assert_eq!(backend("renamed.test"), "one");
}

/// Whether the forwarded request carried a Content-Length header, and the body bytes
/// the backend received.
fn content_length_and_body(s: &Setup, host: &str, path: &str, body: &[u8]) -> (bool, u64) {
    let fake = &s.fakes[0];
    let bodies = fake.events("body").len();
    let ev = s.seen(host, "POST", path, body);
    let has_cl = ev
        .get("headers")
        .map(|h| {
            h.items()
                .iter()
                .any(|kv| kv.items()[0].text().eq_ignore_ascii_case("content-length"))
        })
        .unwrap_or(false);
    let got = last_event(fake, "body", bodies + 1);
    (has_cl, got.field("bytes").parse().unwrap())
}

#[test]
fn jk_ignore_cl_indicator_names_the_variable_that_drops_the_content_length() {
    // /app/a sets only the renamed variable, /app/b only JK_IGNORE_CL. A dropped
    // Content-Length makes the body one of unknown length, still delivered whole.
    let s = start(
        "SetEnvIf Request_URI ^/app/a RJK_VAR=1\nSetEnvIf Request_URI ^/app/b JK_IGNORE_CL=1",
        "JkIgnoreCLIndicator RJK_VAR",
    );
    let body = vec![b'x'; 20_000];
    let n = body.len() as u64;
    assert_eq!(
        content_length_and_body(&s, "plain.test", "/app/a", &body),
        (true, n)
    );
    assert_eq!(
        content_length_and_body(&s, "plain.test", "/app/b", &body),
        (false, n)
    );
    assert_eq!(
        content_length_and_body(&s, "renamed.test", "/app/a", &body),
        (false, n)
    );
    assert_eq!(
        content_length_and_body(&s, "renamed.test", "/app/b", &body),
        (true, n)
    );
}

/// An HTTPS request through curl with the test client certificate (SNI `host`).
/// HTTPS to `name` at `ip:port` (curl's --resolve).
fn curl_https(ip: &str, port: u16, host: &str, path: &str) -> u16 {
    let m = Material::get();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "30",
        ])
        .arg("--cacert")
        .arg(m.path("ca.pem"))
        .arg("--resolve")
        .arg(format!("{host}:{port}:{ip}"))
        .arg("--cert")
        .arg(m.path("client-chain.pem"))
        .arg("--key")
        .arg(m.path("client.key"))
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn jk_extract_ssl_off_forwards_no_ssl_data_even_over_https() {
    let m = Material::get();
    let root = ServerRoot::new(Mpm::Event);
    let ssl_port = root.other_port();
    let host = root.host.clone();
    let mods = apache_modules_dir();
    let mut server = format!(
        "LoadModule ssl_module {mods}/mod_ssl.so\n\
         LoadModule socache_shmcb_module {mods}/mod_socache_shmcb.so\n\
         Listen {host}:{ssl_port}\n"
    );
    let mut vhosts = String::new();
    for (name, extra) in [("extract.test", ""), ("noextract.test", "JkExtractSSL Off")] {
        vhosts.push_str(&format!(
            "<VirtualHost {host}:{ssl_port}>\n    ServerName {name}\n    JkMount /app/* w1\n    \
             SSLEngine on\n    SSLCertificateFile {}\n    SSLCertificateKeyFile {}\n    \
             SSLCACertificateFile {}\n    SSLVerifyClient optional\n    SSLVerifyDepth 3\n    \
             SSLOptions +StdEnvVars +ExportCertData\n    {extra}\n</VirtualHost>\n",
            m.path("server.pem"),
            m.path("server.key"),
            m.path("ca.pem"),
        ));
    }
    server.push_str("JkOptions +ForwardKeySize\n");
    let s = start_with(&server, &vhosts, root);
    let fake = &s.fakes[0];
    let ssl_attrs = [
        "ssl_cert",
        "ssl_cipher",
        "ssl_session",
        "ssl_key_size",
        "AJP_SSL_PROTOCOL",
    ];
    assert_eq!(
        curl_https(s.h.host(), ssl_port, "extract.test", "/app/echo"),
        200
    );
    let on = last_event(fake, "request", 1);
    // mod_ssl's variables are there and, by default, forwarded.
    assert_eq!(on.field("is_ssl"), "true");
    for a in ssl_attrs {
        assert!(
            attr(&on, a).is_some_and(|v| !v.is_empty()),
            "{a} missing: {on:?}"
        );
    }
    assert!(
        attr(&on, "ssl_cert")
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(
        curl_https(s.h.host(), ssl_port, "noextract.test", "/app/echo"),
        200
    );
    let off = last_event(fake, "request", 2);
    assert_eq!(off.field("is_ssl"), "false");
    for a in ssl_attrs {
        assert_eq!(attr(&off, a), None, "{a} forwarded with JkExtractSSL Off");
    }
}
