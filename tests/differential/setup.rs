//! One configuration, generated once per MPM, run by two httpds: one loading Debian's
//! mod_jk, one loading mod_rjk. Certificates and the htpasswd file are made at test time.

use crate::common::{self, FakeAjp, Httpd, Mpm, ServerRoot, apache_modules_dir, free_port};
use std::path::{Path, PathBuf};
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

/// Files shared by both httpds of every run: CA, intermediate, server and client
/// certificates, and the htpasswd file.
pub struct Material {
    pub dir: PathBuf,
}

impl Material {
    pub fn get() -> &'static Material {
        static M: OnceLock<Material> = OnceLock::new();
        M.get_or_init(Material::make)
    }

    pub fn path(&self, f: &str) -> String {
        self.dir.join(f).to_string_lossy().into_owned()
    }

    fn make() -> Material {
        let dir = std::env::temp_dir().join(format!("rjk-diff-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = Material { dir };
        std::fs::write(m.dir.join("ca.ext"), "basicConstraints=critical,CA:true\n").unwrap();
        m.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rjk diff root CA",
        ]);
        m.signed("int", "/CN=rjk diff intermediate", "ca", Some("ca.ext"));
        std::fs::write(
            m.dir.join("server.ext"),
            "subjectAltName=DNS:ssl.test,DNS:chain.test,DNS:nokey.test,IP:127.0.0.1\n",
        )
        .unwrap();
        m.signed("server", "/CN=ssl.test", "ca", Some("server.ext"));
        m.signed("client", "/O=rjk/CN=diff client", "int", None);
        let chain = [m.read("client.pem"), m.read("int.pem")].concat();
        std::fs::write(m.dir.join("client-chain.pem"), chain).unwrap();
        let out = Command::new("htpasswd")
            .args(["-cb"])
            .arg(m.dir.join("htpasswd"))
            .args([AUTH_USER, AUTH_PASS])
            .output()
            .expect("htpasswd (apache2-utils)");
        assert!(out.status.success(), "htpasswd: {out:?}");
        // Children (www-data when root) read nothing here; the parent loads it all.
        m
    }

    fn read(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.join(f)).unwrap()
    }

    fn signed(&self, name: &str, subj: &str, ca: &str, ext: Option<&str>) {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subj,
        ]);
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "7",
            "-days",
            "2",
            "-out",
            &pem,
        ];
        if let Some(e) = ext {
            args.extend(["-extfile", e]);
        }
        self.openssl(&args);
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
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
    let port = root.port;
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
        "Listen 127.0.0.1:{ssl_port}\n\
         JkWorkersFile conf/workers.properties\nJkLogFile logs/mod_jk.log\nJkLogLevel info\n\
         JkShmFile run/jk-shm\n{MOUNTS}"
    ));
    for (name, opts) in VHOSTS {
        c.push_str(&format!(
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName {name}\n    JkMountCopy On\n    {opts}\n\
             <Location /f/auth>\n        AuthType Basic\n        AuthName \"diff\"\n        \
             AuthBasicProvider file\n        AuthUserFile {}\n        Require valid-user\n    </Location>\n\
             </VirtualHost>\n",
            m.path("htpasswd")
        ));
    }
    // Own mounts only (no JkMountCopy): 4xx/5xx of Tomcat become httpd's error pages.
    c.push_str(&format!(
        "<VirtualHost 127.0.0.1:{port}>\n    ServerName errors.test\n    \
         JkMount /status/* tclb;use_server_errors=400\n    \
         ErrorDocument 500 \"custom 500 page\"\n    ErrorDocument 404 /static.txt\n</VirtualHost>\n"
    ));
    for (name, verify, opts) in [
        ("ssl.test", "optional", ""),
        ("chain.test", "require", "JkOptions +ForwardSSLCertChain"),
        ("nokey.test", "optional", "JkOptions -ForwardKeySize"),
    ] {
        c.push_str(&format!(
            "<VirtualHost 127.0.0.1:{ssl_port}>\n    ServerName {name}\n    JkMountCopy On\n    {opts}\n    \
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
        let ssl = free_port();
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
