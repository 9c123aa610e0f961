//! Test harness: a private Debian `apache2` with the freshly built mod_rjk, in its own
//! ServerRoot under the temp dir, listening on a random loopback address and port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const APACHE2: &str = "/usr/sbin/apache2";

/// Debian's mod_jk (libapache2-mod-jk), the reference for side-by-side tests.
pub const MOD_JK: &str = "/usr/lib/apache2/modules/mod_jk.so";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Prefork,
    Worker,
    Event,
}

impl Mpm {
    fn name(self) -> &'static str {
        match self {
            Mpm::Prefork => "prefork",
            Mpm::Worker => "worker",
            Mpm::Event => "event",
        }
    }
    fn tuning(self) -> &'static str {
        match self {
            Mpm::Prefork => {
                "StartServers 3\nMinSpareServers 2\nMaxSpareServers 5\nMaxRequestWorkers 10\n"
            }
            Mpm::Worker | Mpm::Event => {
                "StartServers 2\nServerLimit 4\nThreadsPerChild 8\nMinSpareThreads 8\nMaxSpareThreads 32\nMaxRequestWorkers 32\n"
            }
        }
    }
}

/// Path of the module built by `cargo build` (tests/run.sh builds it before the tests).
pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("RJK_MODULE") {
        return PathBuf::from(p);
    }
    // Test binaries live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let so = profile_dir.join("libmod_rjk.so");
    assert!(
        so.exists(),
        "{} is missing: build the module first with `cargo build` (tests/run.sh does this)",
        so.display()
    );
    so
}

pub fn apache_modules_dir() -> String {
    let out = Command::new("apxs")
        .args(["-q", "LIBEXECDIR"])
        .output()
        .expect("apxs (apache2-dev) must be installed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A random number: the std hasher's per-process random keys over a counter and the clock.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A random loopback address `127.a.b.c`, each of `a`, `b`, `c` in 100..=254: never
/// 127.0.0.1, where every outgoing loopback connection takes its ephemeral port, nor
/// 127.0.1.1; always 15 characters, so that two httpds send requests of the same size
/// (the address is in every AJP request) and byte counters compare. For a server that
/// cannot bind port 0 and say which port it got (httpd): with a random address and a
/// random port ([`random_port`]) a clash is unlikely, and the caller retries with a new
/// address when the server reports one. Clients still connect from 127.0.0.1.
pub fn random_loopback() -> String {
    let r = random_u64();
    let [a, b, c] = [r, r >> 16, r >> 32].map(|x| 100 + x % 155);
    format!("127.{a}.{b}.{c}")
}

/// A random port in 20000..60000, for use with [`random_loopback`].
pub fn random_port() -> u16 {
    20_000 + (random_u64() % 40_000) as u16
}

/// What httpd writes to its error log when its Listen address is taken.
pub const ADDRESS_IN_USE: &str = "Address already in use";

/// A loopback port this test owns and nobody listens on: bound but never listening, so a
/// connect to it is refused for as long as the value lives, whatever else runs on the
/// machine (a backend that must be down, without guessing a port that is free).
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let port = socket
            .local_addr()
            .unwrap()
            .as_socket()
            .expect("an inet address")
            .port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// The port of a [`ClosedPort`] held until the test binary exits: for a backend that must
/// be down in a configuration.
pub fn down_port() -> u16 {
    static HELD: std::sync::Mutex<Vec<ClosedPort>> = std::sync::Mutex::new(Vec::new());
    let c = ClosedPort::new();
    let port = c.port;
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    port
}

/// A throw-away ServerRoot with config files; `start()` runs httpd on it.
pub struct ServerRoot {
    pub dir: PathBuf,
    /// The loopback address httpd listens on ([`random_loopback`]); a start that finds
    /// `host:port` taken moves every file under conf/ to a new address and tries again.
    pub host: String,
    pub port: u16,
    pub mpm: Mpm,
    /// The `.so` that `configure` loads as `jk_module`: mod_rjk's copy in modules/ unless
    /// [`Self::with_module`] chose another (Debian's mod_jk for side-by-side tests).
    pub module: PathBuf,
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl ServerRoot {
    pub fn new(mpm: Mpm) -> ServerRoot {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rjk-httpd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["conf", "logs", "modules", "htdocs", "run"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::copy(module_path(), dir.join("modules/mod_rjk.so")).unwrap();
        std::fs::write(dir.join("htdocs/index.html"), "static index\n").unwrap();
        std::fs::write(dir.join("htdocs/static.txt"), "served by httpd\n").unwrap();
        // Children run as www-data when the tests run as root: let them write run/.
        if is_root() {
            let _ = Command::new("chown")
                .args(["-R", "www-data:www-data"])
                .arg(dir.join("run"))
                .status();
        }
        ServerRoot {
            // Relative to the ServerRoot, as an admin writes it.
            module: PathBuf::from("modules/mod_rjk.so"),
            dir,
            host: random_loopback(),
            port: random_port(),
            mpm,
        }
    }

    /// Loads `so` as `jk_module` instead of mod_rjk, e.g. [`MOD_JK`]. Never both in one
    /// httpd: they define the same module and directives.
    pub fn with_module(mut self, so: &Path) -> ServerRoot {
        self.module = so.to_path_buf();
        self
    }

    /// `host:port`, httpd's main listen address.
    pub fn listen(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Another random port, e.g. for a second `Listen {host}:PORT` (TLS).
    pub fn other_port(&self) -> u16 {
        loop {
            let p = random_port();
            if p != self.port {
                return p;
            }
        }
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_string_lossy().into_owned()
    }

    pub fn write(&self, rel: &str, contents: &str) -> String {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// Writes conf/httpd.conf: a minimal server plus `extra` (the Jk directives under test).
    pub fn configure(&self, extra: &str) -> String {
        let mods = apache_modules_dir();
        let mpm = self.mpm.name();
        let user = if is_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let conf = format!(
            r#"ServerRoot "{root}"
Listen {host}:{port}
ServerName 127.0.0.1
LoadModule mpm_{mpm}_module {mods}/mod_mpm_{mpm}.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule authz_host_module {mods}/mod_authz_host.so
LoadModule mime_module {mods}/mod_mime.so
LoadModule dir_module {mods}/mod_dir.so
LoadModule env_module {mods}/mod_env.so
LoadModule setenvif_module {mods}/mod_setenvif.so
LoadModule headers_module {mods}/mod_headers.so
LoadModule jk_module {module}
{user}{tuning}PidFile logs/httpd.pid
DefaultRuntimeDir run
ErrorLog logs/error_log
LogLevel warn
CustomLog logs/requests_log "%m %U%q %>s"
TypesConfig /etc/mime.types
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    Require all granted
</Directory>
DirectoryIndex index.html
{extra}
"#,
            root = self.dir.display(),
            host = self.host,
            port = self.port,
            tuning = self.mpm.tuning(),
            module = self.module.display(),
        );
        self.write("conf/httpd.conf", &conf)
    }

    /// `apache2 -t` on the current configuration.
    pub fn config_test(&self) -> Output {
        Command::new(APACHE2)
            .args(["-t", "-d"])
            .arg(&self.dir)
            .arg("-f")
            .arg(self.dir.join("conf/httpd.conf"))
            .output()
            .expect("run apache2 -t")
    }

    /// Starts httpd in the foreground (so we own its pid) and waits until it answers.
    /// `RJK_VALGRIND=1` runs any suite's httpd the way [`Self::start_under_valgrind`] does.
    pub fn start(self) -> Httpd {
        self.start_wrapped(&[])
    }

    /// [`Self::start`] with httpd run by `wrapper` (a command and its arguments that ends
    /// by running the program it is given, e.g. `unshare -m sh -c '...; exec "$@"' sh`).
    pub fn start_wrapped(mut self, wrapper: &[&str]) -> Httpd {
        if std::env::var_os("RJK_VALGRIND").is_some_and(|v| v == "1") {
            // The ServerRoot goes away with the Httpd: keep the reports outside it.
            let log = std::env::temp_dir().join("rjk-valgrind.%p");
            return self.spawn_valgrind(&log);
        }
        let t = self.config_test();
        assert!(
            t.status.success(),
            "apache2 -t failed:\n{}",
            String::from_utf8_lossy(&t.stderr)
        );
        for attempt in 1.. {
            let mut child = self.spawn(wrapper);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !self.serves() {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    // Dropping the Httpd stops it.
                    let h = Httpd { root: self, child };
                    panic!(
                        "httpd did not start listening; error_log:\n{}",
                        h.error_log()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.serves() {
                return Httpd { root: self, child };
            }
            // httpd exited: a taken address is reported on stderr or in the error log.
            let mut why = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut why);
            }
            let _ = child.wait();
            why += &std::fs::read_to_string(self.dir.join("logs/error_log")).unwrap_or_default();
            assert!(
                why.contains(ADDRESS_IN_USE) && attempt < 5,
                "httpd did not start listening on {}:\n{why}",
                self.listen()
            );
            eprintln!("{} is taken; httpd tries another address", self.listen());
            self.move_to(&random_loopback());
        }
        unreachable!()
    }

    /// The module's post_config of the second configuration pass (the one that serves)
    /// has run once the MPM logs "resuming normal operations"; the port accepts
    /// connections from the first pass on.
    fn serves(&self) -> bool {
        std::fs::read_to_string(self.dir.join("logs/error_log"))
            .is_ok_and(|l| l.contains("resuming normal operations"))
            && TcpStream::connect(self.listen()).is_ok()
    }

    fn spawn(&self, wrapper: &[&str]) -> Child {
        let mut cmd = match wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(APACHE2);
                c
            }
            None => Command::new(APACHE2),
        };
        cmd.args(["-DFOREGROUND", "-d"])
            .arg(&self.dir)
            .arg("-f")
            .arg(self.dir.join("conf/httpd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // prefork signals its whole process group on stop/restart: keep ours out of it.
            .process_group(0)
            .spawn()
            .expect("start apache2")
    }

    /// After a clash: the address `host` replaces the old one in every file under conf/,
    /// and the error log starts afresh.
    fn move_to(&mut self, host: &str) {
        for e in std::fs::read_dir(self.dir.join("conf")).unwrap().flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                std::fs::write(e.path(), text.replace(&self.host, host)).unwrap();
            }
        }
        let _ = std::fs::remove_file(self.dir.join("logs/error_log"));
        self.host = host.to_string();
    }

    /// httpd as one process (`-X`, so every request runs in the traced process) under
    /// valgrind's memcheck. The verdict is in logs/valgrind.<pid>, complete once httpd has
    /// exited. Leaks are not checked: httpd frees its pools wholesale at exit.
    pub fn start_under_valgrind(self) -> Httpd {
        let log = self.dir.join("logs/valgrind.%p");
        self.spawn_valgrind(&log)
    }

    fn spawn_valgrind(self, log: &Path) -> Httpd {
        let t = self.config_test();
        assert!(
            t.status.success(),
            "apache2 -t failed:\n{}",
            String::from_utf8_lossy(&t.stderr)
        );
        let mut child = Command::new("valgrind")
            .args([
                "--tool=memcheck",
                "--error-exitcode=99",
                "--trace-children=no",
                "--vgdb=no",
                "--leak-check=no",
                "--num-callers=40",
            ])
            .arg(concat!(
                "--suppressions=",
                env!("CARGO_MANIFEST_DIR"),
                "/tests/valgrind.supp"
            ))
            .arg(format!("--log-file={}", log.display()))
            .args([APACHE2, "-X", "-DFOREGROUND", "-d"])
            .arg(&self.dir)
            .arg("-f")
            .arg(self.dir.join("conf/httpd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start valgrind (Debian: apt-get install valgrind)");
        // Loading httpd and the module's debug info under valgrind takes many seconds.
        let deadline = Instant::now() + Duration::from_secs(180);
        while TcpStream::connect(self.listen()).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "httpd under valgrind exited with {status}:\n{}\n{}",
                    std::fs::read_to_string(self.dir.join("logs/error_log")).unwrap_or_default(),
                    valgrind_logs(&self.dir).join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "httpd under valgrind did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Httpd { root: self, child }
    }
}

/// Contents of every logs/valgrind.<pid> under `root`.
pub fn valgrind_logs(root: &Path) -> Vec<String> {
    let mut logs: Vec<String> = std::fs::read_dir(root.join("logs"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("valgrind."))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

pub fn is_root() -> bool {
    // SAFETY-free check: uid 0 owns /proc/self.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

pub struct Httpd {
    pub root: ServerRoot,
    child: Child,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Httpd {
    pub fn port(&self) -> u16 {
        self.root.port
    }

    /// The loopback address httpd listens on (not 127.0.0.1).
    pub fn host(&self) -> &str {
        &self.root.host
    }

    /// Where httpd listens: connect here.
    pub fn addr(&self) -> SocketAddr {
        self.root.listen().parse().expect("an IPv4 listen address")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the (re)started httpd serves: see [`ServerRoot::serves`].
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.root.serves() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "httpd did not start listening; error_log:\n{}",
            self.error_log()
        );
    }

    /// One request on a fresh connection; `raw_path` is sent byte for byte. Panics, with
    /// both logs, when what came back is not an HTTP response.
    pub fn request(
        &self,
        method: &str,
        raw_path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, raw_path, headers, body)
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {raw_path}: {e}\nerror_log:\n{}\nmod_jk.log:\n{}",
                    self.error_log(),
                    self.jk_log()
                )
            })
    }

    /// Like `request`, but a reply that is not an HTTP response (such as a connection
    /// closed without one) is an `Err` describing what came back.
    pub fn try_request(
        &self,
        method: &str,
        raw_path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let mut req = format!("{method} {raw_path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: 127.0.0.1:{}\r\n", self.port()));
        }
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let (raw, read_error) = self.exchange(&bytes);
        parse_response(&raw).ok_or_else(|| {
            format!(
                "unparsable response {:?} (read error: {read_error:?})",
                String::from_utf8_lossy(&raw)
            )
        })
    }

    pub fn get(&self, raw_path: &str) -> Response {
        self.request("GET", raw_path, &[], b"")
    }

    pub fn get_with(&self, raw_path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", raw_path, headers, b"")
    }

    /// A fresh client connection whose reads give up after 30 s.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends raw bytes and returns everything the server sent until it closed.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        self.exchange(bytes).0
    }

    /// `raw`, with the error that ended the read if the server did not simply close.
    fn exchange(&self, bytes: &[u8]) -> (Vec<u8>, Option<std::io::Error>) {
        let mut s = self.connect();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let err = s.read_to_end(&mut out).err();
        (out, err)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.dir.join("logs/error_log")).unwrap_or_default()
    }

    /// Peak RSS (VmHWM) of the biggest child, in KiB.
    pub fn children_peak_rss_kib(&self) -> u64 {
        self.children()
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .filter_map(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .max()
            .unwrap_or(0)
    }

    /// No child died on a signal and no panic reached the guard at the FFI boundary.
    pub fn assert_clean_log(&self) {
        let err = self.error_log();
        for bad in [
            "exit signal",
            "mod_rjk: panic",
            "Segmentation fault",
            "AddressSanitizer",
        ] {
            assert!(!err.contains(bad), "error_log contains {bad:?}:\n{err}");
        }
    }

    pub fn jk_log(&self) -> String {
        self.read_log("logs/mod_jk.log")
    }

    pub fn read_log(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.dir.join(rel)).unwrap_or_default()
    }

    /// Waits until `f(log)` holds for the file (logs are written by other processes).
    pub fn wait_log(&self, rel: &str, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.read_log(rel);
            if f(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{rel} never showed {what}:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until httpd's request log (`%m %U%q %>s` per line, written once httpd is done
    /// with a request) has at least `n` lines starting with `prefix`, e.g. `"POST /app/echo "`:
    /// the positive event that a request, even one whose client went away, was finished.
    pub fn wait_requests_logged(&self, prefix: &str, n: usize) -> String {
        let what = format!("{n} requests {prefix:?}");
        self.wait_log("logs/requests_log", &what, |l| {
            l.lines().filter(|x| x.starts_with(prefix)).count() >= n
        })
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling the httpd parent we spawned and still own.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// `apachectl -k graceful` / `-k restart` equivalents, then wait for new children.
    pub fn restart(&self, graceful: bool) {
        let before = self
            .error_log()
            .matches("resuming normal operations")
            .count();
        self.signal(if graceful {
            libc::SIGUSR1
        } else {
            libc::SIGHUP
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while self
            .error_log()
            .matches("resuming normal operations")
            .count()
            <= before
        {
            assert!(
                Instant::now() < deadline,
                "httpd did not restart:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_ready();
    }

    /// Pids of the httpd children.
    pub fn children(&self) -> Vec<u32> {
        let parent = self.child.id();
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                let after = stat.rsplit(')').next().unwrap_or("");
                let ppid: u32 = after
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if ppid == parent {
                    out.push(pid);
                }
            }
        }
        out
    }

    /// Waits (up to 20 s: a loaded machine forks slowly) until at least `n` children
    /// run, and returns how many do.
    pub fn wait_children(&self, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let have = self.children().len();
            if have >= n || Instant::now() > deadline {
                return have;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the httpd parent has exited (reaping it if so).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn stop(mut self) -> String {
        self.shutdown();
        self.error_log()
    }

    pub fn shutdown(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        self.shutdown();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root.dir);
        }
    }
}

pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..nl]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// The scriptable fake AJP backend (`rjk-fakeajp`), on a loopback port it binds itself
/// (port 0) and reports.
pub struct FakeAjp {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl FakeAjp {
    pub fn start(name: &str, extra_args: &[&str]) -> FakeAjp {
        FakeAjp::spawn(name, "127.0.0.1:0", extra_args)
    }

    /// On a given port, e.g. to bring a "crashed" backend back where it was.
    pub fn start_on(name: &str, port: u16) -> FakeAjp {
        FakeAjp::spawn(name, &format!("127.0.0.1:{port}"), &[])
    }

    /// On the Unix domain socket `path` (mode 0666); `port` is 0.
    pub fn start_unix(name: &str, path: &Path, extra_args: &[&str]) -> FakeAjp {
        let path = path.to_string_lossy();
        let mut args = vec!["--unix", path.as_ref()];
        args.extend_from_slice(extra_args);
        FakeAjp::spawn(name, "127.0.0.1:0", &args)
    }

    /// On a given listen address such as `[::1]:PORT`.
    pub fn start_at(name: &str, listen: &str) -> FakeAjp {
        FakeAjp::spawn(name, listen, &[])
    }

    fn spawn(name: &str, listen: &str, extra_args: &[&str]) -> FakeAjp {
        FakeAjp::try_spawn(name, listen, extra_args)
            .unwrap_or_else(|why| panic!("rjk-fakeajp did not start on {listen}: {why}"))
    }

    /// [`Self::start_at`] that reports a listen address it could not bind (e.g. taken).
    pub fn try_start_at(name: &str, listen: &str) -> Result<FakeAjp, String> {
        FakeAjp::try_spawn(name, listen, &[])
    }

    fn try_spawn(name: &str, listen: &str, extra_args: &[&str]) -> Result<FakeAjp, String> {
        use std::io::BufRead;
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let log = std::env::temp_dir().join(format!("rjk-fake-{}-{n}.log", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_rjk-fakeajp"))
            .args([
                "--listen",
                listen,
                "--name",
                name,
                "--die-with-stdin",
                "--log",
            ])
            .arg(&log)
            .args(extra_args)
            // Closing our end of stdin (also when the test process dies) stops it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rjk-fakeajp");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        match line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        {
            Some(port) => Ok(FakeAjp { child, port, log }),
            None => {
                // It exits at once when it cannot listen (its reason went to stderr).
                let status = child.wait();
                let _ = std::fs::remove_file(&log);
                Err(format!("no READY line ({line:?}), exit {status:?}"))
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines of one event kind (`request`, `open`, `close`, `body`, ...).
    pub fn events(&self, ev: &str) -> Vec<String> {
        let tag = format!("\"ev\":\"{ev}\"");
        self.log()
            .lines()
            .filter(|l| l.contains(&tag))
            .map(str::to_string)
            .collect()
    }

    /// Data lengths of the request body packets read, in order, from the `since`-th
    /// `packet` event on.
    pub fn body_packet_sizes(&self, since: usize) -> Vec<usize> {
        self.events("packet")[since..]
            .iter()
            .filter(|l| l.contains("\"type\":\"BODY\""))
            .map(|l| {
                l.split("\"data\":")
                    .nth(1)
                    .and_then(|v| v.split(',').next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no data length in {l}"))
            })
            .collect()
    }

    /// Waits until at least `n` events of a kind were logged (the fake logs after acting);
    /// panics after 10 s, so that no caller goes on to judge a log still being written.
    pub fn wait_events(&self, ev: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.events(ev);
            if e.len() >= n {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "the backend logged {} of {n} {ev:?} events:\n{}",
                e.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl FakeAjp {
    /// Waits until a `request` event containing `needle` was logged and returns it; panics
    /// after 10 s.
    pub fn wait_request(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self
                .events("request")
                .into_iter()
                .find(|e| e.contains(needle))
            {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "the backend never saw a request with {needle}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Proof that httpd and the fakes are done with everything sent before: a marker request
/// `GET {path}?rjk-marker=N` (with `headers`) must be answered 200 and be logged by one of
/// `fakes`, whose index is returned. A fake logs a request before acting on it and httpd
/// answers only once it is done with the backend, so after the marker an event that is
/// still missing from the fakes' logs never happened (rather than not yet).
pub fn marker(h: &Httpd, path: &str, headers: &[(&str, &str)], fakes: &[FakeAjp]) -> usize {
    static MARKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MARKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let query = format!("rjk-marker={}-{n}", std::process::id());
    let r = h.get_with(&format!("{path}?{query}"), headers);
    assert_eq!(r.status, 200, "marker {path}: {}", r.text());
    let needle = format!("\"query\":\"{query}\"");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = |f: &FakeAjp| f.events("request").iter().any(|e| e.contains(&needle));
        if let Some(i) = fakes.iter().position(seen) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no backend logged the marker {query}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for FakeAjp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// workers.properties of an lb `lb` over `fakes` as members `tomcat1..N` on 127.0.0.1,
/// after `head` (e.g. `worker.list=...`), with `lb_extra` appended.
pub fn lb_properties(head: &str, fakes: &[FakeAjp], lb_extra: &str) -> String {
    let mut w = String::from(head);
    for (i, f) in fakes.iter().enumerate() {
        w.push_str(&format!(
            "worker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={p}\n",
            n = i + 1,
            p = f.port
        ));
    }
    let members: Vec<String> = (1..=fakes.len()).map(|i| format!("tomcat{i}")).collect();
    w.push_str(&format!(
        "worker.lb.type=lb\nworker.lb.balance_workers={}\n{lb_extra}",
        members.join(",")
    ));
    w
}

/// An lb `lb` over `n` fake members `tomcat1`..`tomcatN` (event MPM), mounted at `mount`,
/// with `lb_extra` in workers.properties and `conf_extra` in httpd.conf.
pub fn lb_over_fakes(
    n: usize,
    mount: &str,
    lb_extra: &str,
    conf_extra: &str,
) -> (Httpd, Vec<FakeAjp>) {
    let fakes: Vec<FakeAjp> = (1..=n)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(Mpm::Event);
    let w = lb_properties("worker.list=lb\n", &fakes, lb_extra);
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkMount {mount} lb\n{conf_extra}"
    ));
    (root.start(), fakes)
}

/// The fake backend that answered `path` (its `X-Backend` header); the request must
/// succeed.
pub fn backend_of(h: &Httpd, path: &str, headers: &[(&str, &str)]) -> String {
    let r = h.get_with(path, headers);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.header("X-Backend").unwrap_or("?").to_string()
}

/// How `n` sequential requests for `path` spread over the fake backends.
pub fn spread_over(h: &Httpd, path: &str, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for _ in 0..n {
        *m.entry(backend_of(h, path, &[])).or_default() += 1;
    }
    m
}

/// Sends a `Connection: close` GET and reads the response head, leaving the body to
/// be read (slowly, partly, or not at all) by the caller.
pub fn open_download(
    addr: SocketAddr,
    path: &str,
    extra: &str,
) -> (std::io::BufReader<std::net::TcpStream>, String) {
    use std::io::{BufRead, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes(),
    )
    .unwrap();
    let mut reader = std::io::BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    (reader, head)
}

pub mod pki;
pub mod tomcat;

/// `data` as a chunked request body: chunks of the given sizes in turn (the last one
/// shorter if need be), then the terminating zero chunk.
pub fn chunked(data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// FNV-1a 64, the checksum the fake backend reports for request bodies.
pub fn fnv1a(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A client connection kept open across requests. Under prefork a connection stays with
/// one child process, so several of them reach several children for sure.
pub struct KeepAlive {
    reader: std::io::BufReader<TcpStream>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        KeepAlive {
            reader: std::io::BufReader::new(s),
        }
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.try_get(path)
            .expect("a response on the kept-alive connection")
    }

    /// [`Self::get`] that reports a connection closed or cut instead of panicking.
    pub fn try_get(&mut self, path: &str) -> std::io::Result<Response> {
        use std::io::BufRead;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line: {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            self.reader.read_line(&mut l)?;
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let header = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(std::io::Error::other)?;
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(len) = header("Content-Length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Standard base64 with padding (for `Authorization: Basic`).
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

/// `worker.<name>.<field>` from the status worker at `page` (e.g. `/jkstatus/`) in
/// mod_jk's prop format; panics with the page if the page fails or lacks it.
pub fn status_prop(h: &Httpd, page: &str, name: &str, field: &str) -> String {
    let r = h.get(&format!("{page}?mime=prop"));
    assert_eq!(r.status, 200, "{}", r.text());
    let key = format!("worker.{name}.{field}=");
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(&key).map(str::to_string))
        .unwrap_or_else(|| panic!("no {key} in\n{}", r.text()))
}

/// A sequential client of `h`'s Tomcat echo page: `GET /echo?id=TAG-rN`, at least `min`
/// and at most `max` requests, going on while `going` is true, each counted in `total`.
/// Returns every request that did not come back 200 with its own query echoed.
pub fn echo_client(
    h: std::sync::Arc<Httpd>,
    tag: String,
    going: std::sync::Arc<std::sync::atomic::AtomicBool>,
    (min, max): (usize, usize),
    total: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> std::thread::JoinHandle<Vec<String>> {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let mut bad = Vec::new();
        let mut i = 0;
        while (i < min || going.load(Ordering::Relaxed)) && i < max {
            let id = format!("{tag}-r{i}");
            match h.try_request("GET", &format!("/echo?id={id}"), &[], b"") {
                Ok(r) => {
                    let got = tomcat::Echo::parse(&r.body)
                        .get("query")
                        .unwrap_or_default();
                    if r.status != 200 || got != format!("id={id}") {
                        let text = r.text();
                        let head: String = text.chars().take(120).collect();
                        bad.push(format!("{id}: {} {got} {head:?}", r.status));
                    }
                }
                Err(e) => bad.push(format!("{id}: {e}")),
            }
            i += 1;
            total.fetch_add(1, Ordering::Relaxed);
        }
        bad
    })
}

/// Tells [`echo_client`]s to finish (each still makes its minimum of requests) and
/// returns every failure they met.
pub fn stop_clients(
    going: &std::sync::atomic::AtomicBool,
    clients: Vec<std::thread::JoinHandle<Vec<String>>>,
) -> Vec<String> {
    going.store(false, std::sync::atomic::Ordering::Relaxed);
    clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect()
}
