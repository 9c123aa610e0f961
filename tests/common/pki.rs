//! Test certificates made with `openssl` at test time, for httpd's mod_ssl.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Names the server certificate is valid for (besides 127.0.0.1), for SNI vhosts.
pub const SERVER_NAMES: [&str; 5] = [
    "ssl.test",
    "chain.test",
    "nokey.test",
    "extract.test",
    "noextract.test",
];

/// Certificates made once per test process: a root CA (`ca`), an intermediate (`int`),
/// a server certificate for every name in [`SERVER_NAMES`] and 127.0.0.1 signed by the
/// root (`server`), and a client certificate signed by the intermediate (`client`, with
/// `client-chain.pem` holding it and the intermediate). Each as `<name>.pem`/`<name>.key`.
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
        let dir = std::env::temp_dir().join(format!("rjk-pki-{}", std::process::id()));
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
            "/CN=rjk test root CA",
        ]);
        m.signed("int", "/CN=rjk test intermediate", "ca", Some("ca.ext"));
        std::fs::write(
            m.dir.join("server.ext"),
            format!(
                "subjectAltName={},IP:127.0.0.1\n",
                SERVER_NAMES.map(|n| format!("DNS:{n}")).join(",")
            ),
        )
        .unwrap();
        m.signed("server", "/CN=ssl.test", "ca", Some("server.ext"));
        m.signed("client", "/O=rjk/CN=test client", "int", None);
        let chain = [m.read("client.pem"), m.read("int.pem")].concat();
        std::fs::write(m.dir.join("client-chain.pem"), chain).unwrap();
        // Children (www-data when root) read nothing here; the parent loads it all.
        m
    }

    pub fn read(&self, f: &str) -> String {
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
