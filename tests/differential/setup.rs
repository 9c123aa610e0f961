//! One configuration, generated once per MPM, run by two httpds: one loading Debian's
//! mod_jk, one loading mod_rjk. Certificates and the htpasswd file are made at test time.

use crate::common::{self, FakeAjp, Httpd, Mpm, ServerRoot, apache_modules_dir};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

pub const SECRET: &str = "diff-secret";
pub const AUTH_USER: &str = "alice";
pub const AUTH_PASS: &str = "s3cret";

/// Name-based virtual hosts on the plain port, each with one JkOptions set (JkOptions is
/// per server, so each flag gets its own vhost). The first is the default vhost.
pub const VHOSTS: &[(&str, &str)] = &[
    ("main.test", ""),
    ("compat.test", "JkOptions +ForwardURICompat"),
    ("unparsed.test", "JkOptions +ForwardURICompatUnparsed"),
    ("escaped.test", "JkOptions +ForwardURIEscaped"),
    ("proxy.test", "JkOptions +ForwardURIProxy"),
    ("reject.test", "JkOptions +RejectUnsafeURI"),
    ("local.test", "JkOptions +ForwardLocalAddress"),
    (
        "physical.test",
        "JkOptions +ForwardPhysicalAddress\n    RemoteIPHeader X-Forwarded-For\n    RemoteIPInternalProxy 127.0.0.1",
    ),
    (
        "remoteip.test",
        "RemoteIPHeader X-Forwarded-For\n    RemoteIPInternalProxy 127.0.0.1",
    ),
    (
        "flags.test",
        "JkOptions +FlushPackets +FlushHeader +DisableReuse -ForwardKeySize",
    ),
    (
        "envvar.test",
        "JkEnvVar RJK_A\n    JkEnvVar RJK_B default-b\n    JkEnvVar RJK_UNSET\n    SetEnv RJK_A from-setenv",
    ),
    ("strip.test", "JkStripSession On"),
];

pub use crate::common::pki::Material;

/// The htpasswd file with [`AUTH_USER`], next to the certificates.
pub fn htpasswd() -> String {
    static DONE: OnceLock<String> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = Material::get().path("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-cb", &path, AUTH_USER, AUTH_PASS])
            .output()
            .expect("htpasswd (apache2-utils)");
        assert!(out.status.success(), "htpasswd: {out:?}");
        path
    })
    .clone()
}

/// Backend addresses both configurations point at.
pub struct Backends {
    pub fake_port: u16,
    pub tomcat_ajp_port: u16,
    /// A loopback port nothing listens on (a member that is down).
    pub dead_port: u16,
}

pub fn workers_properties(b: &Backends) -> String {
    let fake = |w: &str| {
        format!(
            "worker.{w}.type=ajp13\nworker.{w}.host=127.0.0.1\nworker.{w}.port={}\nworker.{w}.secret={SECRET}\n",
            b.fake_port
        )
    };
    let tc = |w: &str| {
        format!(
            "worker.{w}.type=ajp13\nworker.{w}.host=127.0.0.1\nworker.{w}.port={}\nworker.{w}.secret={}\n",
            b.tomcat_ajp_port,
            common::tomcat::SHARED_SECRET
        )
    };
    format!(
        "worker.list=lb,fake,tclb,tc,deadlb,jkstatus\n{}{}worker.lb.type=lb\nworker.lb.balance_workers=fake1\n\
         {}{}worker.tclb.type=lb\nworker.tclb.balance_workers=tomcat1\n\
         worker.dead1.type=ajp13\nworker.dead1.host=127.0.0.1\nworker.dead1.port={}\n\
         worker.deadlb.type=lb\nworker.deadlb.balance_workers=dead1\n\
         worker.jkstatus.type=status\n",
        fake("fake1"),
        fake("fake"),
        tc("tomcat1"),
        tc("tc"),
        b.dead_port,
    )
}

const MOUNTS: &str = "JkMount /f lb
JkMount /f/* lb
JkMount /direct/* fake
JkMount /dead/* deadlb
JkMount /echo tclb
JkMount /echo/* tclb
JkMount /size/* tclb
JkMount /status/* tclb
JkMount /headers tclb
JkMount /nf tclb
JkMount /redirect tc
JkMount /etag tc
JkMount /jkstatus jkstatus
";

/// The httpd.conf part after the harness's own: modules, SSL listener, vhosts.
pub fn jk_config(root: &ServerRoot, ssl_port: u16) -> String {
    let mods = apache_modules_dir();
    let m = Material::get();
    let (host, port) = (&root.host, root.port);
    let mut c = String::new();
    for module in [
        "ssl",
        "socache_shmcb",
        "auth_basic",
        "authn_core",
        "authn_file",
        "authz_user",
        "remoteip",
        "alias",
    ] {
        c.push_str(&format!(
            "LoadModule {module}_module {mods}/mod_{module}.so\n"
        ));
    }
    c.push_str(&format!(
        "Listen {host}:{ssl_port}\n\
         JkWorkersFile conf/workers.properties\nJkLogFile logs/mod_jk.log\nJkLogLevel info\n\
         JkShmFile run/jk-shm\n{MOUNTS}"
    ));
    for (name, opts) in VHOSTS {
        c.push_str(&format!(
            "<VirtualHost {host}:{port}>\n    ServerName {name}\n    JkMountCopy On\n    {opts}\n\
             <Location /f/auth>\n        AuthType Basic\n        AuthName \"diff\"\n        \
             AuthBasicProvider file\n        AuthUserFile {}\n        Require valid-user\n    </Location>\n\
             </VirtualHost>\n",
            htpasswd()
        ));
    }
    // Own mounts only (no JkMountCopy): 4xx/5xx of Tomcat become httpd's error pages.
    c.push_str(&format!(
        "<VirtualHost {host}:{port}>\n    ServerName errors.test\n    \
         JkMount /status/* tclb;use_server_errors=400\n    \
         ErrorDocument 500 \"custom 500 page\"\n    ErrorDocument 404 /static.txt\n</VirtualHost>\n"
    ));
    for (name, verify, opts) in [
        ("ssl.test", "optional", ""),
        ("chain.test", "require", "JkOptions +ForwardSSLCertChain"),
        ("nokey.test", "optional", "JkOptions -ForwardKeySize"),
    ] {
        c.push_str(&format!(
            "<VirtualHost {host}:{ssl_port}>\n    ServerName {name}\n    JkMountCopy On\n    {opts}\n    \
             SSLEngine on\n    SSLCertificateFile {}\n    SSLCertificateKeyFile {}\n    \
             SSLCACertificateFile {}\n    SSLVerifyClient {verify}\n    SSLVerifyDepth 3\n    \
             SSLOptions +StdEnvVars +ExportCertData\n</VirtualHost>\n",
            m.path("server.pem"),
            m.path("server.key"),
            m.path("ca.pem"),
        ));
    }
    c
}

/// The two httpds of one MPM.
pub struct Pair {
    pub jk: Httpd,
    pub rjk: Httpd,
    pub jk_ssl: u16,
    pub rjk_ssl: u16,
}

pub fn start_pair(mpm: Mpm, b: &Backends) -> Pair {
    let jk_module = Path::new(common::MOD_JK);
    assert!(
        jk_module.exists(),
        "{} is missing: apt-get install libapache2-mod-jk",
        common::MOD_JK
    );
    let start = |root: ServerRoot| {
        let ssl = root.other_port();
        root.write("conf/workers.properties", &workers_properties(b));
        let extra = jk_config(&root, ssl);
        root.configure(&extra);
        (root.start(), ssl)
    };
    let (jk, jk_ssl) = start(ServerRoot::new(mpm).with_module(jk_module));
    let (rjk, rjk_ssl) = start(ServerRoot::new(mpm));
    Pair {
        jk,
        rjk,
        jk_ssl,
        rjk_ssl,
    }
}

pub fn start_fake() -> FakeAjp {
    FakeAjp::start("fake1", &[])
}
