//! Real Debian `tomcat10` instances on 127.0.0.1 as AJP backends, run by
//! `tests/tomcat/tomcat.sh`, serving the test webapp in `tests/tomcat/webapp/`.
//!
//! A JVM costs about a second of CPU to start, so tests that only send requests should use
//! [`shared`]: instances started once per test binary. Tests that stop, kill or restart a
//! Tomcat must own one ([`Tomcat::start`]); it is stopped when dropped. Every instance,
//! shared or owned, dies with the test process (a watchdog in tomcat.sh sees to it), even
//! if the test binary is killed.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The AJP secret of the [`shared`] instances (`worker.X.secret`).
pub const SHARED_SECRET: &str = "rjk-shared-secret";

/// Knobs of one instance beyond name and secret.
#[derive(Clone, Debug)]
pub struct Options {
    /// AJP `packetSize` (Tomcat accepts 8192..=65536); must match `worker.X.max_packet_size`.
    pub packet_size: u32,
    /// `allowedRequestAttributesPattern` of the AJP connector.
    pub attr_pattern: String,
    /// `maxThreads` of each connector.
    pub max_threads: u32,
    /// Extra XML attributes for the AJP `<Connector>`, verbatim, e.g.
    /// `connectionTimeout="2000" keepAliveTimeout="2000"`.
    pub ajp_attrs: String,
    /// Extra JVM options, after the defaults so they override them (e.g. `-Xmx256m
    /// -XX:TieredStopAtLevel=4` for benchmarks).
    pub java_opts: String,
    /// Loopback address the AJP connector listens on (a backend "at another address").
    pub ajp_address: String,
    /// The AJP connector listens on a Unix domain socket
    /// (`unixDomainSocketPath` `BASE/ajp/ajp.sock`, mode rw-rw-rw- unless `ajp_attrs` sets
    /// `unixDomainSocketPathPermissions`) instead of `ajp_port`.
    pub ajp_unix: bool,
    /// `MODE[:GROUP]` of the socket's directory `BASE/ajp` (empty: 0755).
    pub ajp_unix_dir: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            packet_size: 8192,
            attr_pattern: "RJK_.*".into(),
            max_threads: 32,
            ajp_attrs: String::new(),
            java_opts: String::new(),
            ajp_address: "127.0.0.1".into(),
            ajp_unix: false,
            ajp_unix_dir: String::new(),
        }
    }
}

pub struct Tomcat {
    /// Also the Engine's jvmRoute and what `/echo` prints as `route=`.
    pub name: String,
    pub secret: String,
    pub ajp_port: u16,
    pub http_port: u16,
    pub shutdown_port: u16,
    /// The CATALINA_BASE; the log is `logs/catalina.out`.
    pub base: PathBuf,
    pub opts: Options,
    /// 0 while stopped. Atomic so shared (`&'static`) instances need no lock.
    pid: AtomicU32,
    shared: bool,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static SHARED: Mutex<Vec<&'static Tomcat>> = Mutex::new(Vec::new());

/// The first `n` process-wide instances, named `tomcat1`..`tomcatN` with secret
/// [`SHARED_SECRET`], started on first use (missing ones in parallel). Never stop, kill or
/// restart them: other tests use them concurrently.
pub fn shared(n: usize) -> Vec<&'static Tomcat> {
    // A panic while starting poisons the lock; the next caller simply tries again.
    let mut v = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if v.len() < n {
        let first = v.len() + 1;
        let started: Vec<Tomcat> = std::thread::scope(|s| {
            let handles: Vec<_> = (first..=n)
                .map(|i| {
                    s.spawn(move || {
                        Tomcat::launch(
                            &format!("tomcat{i}"),
                            SHARED_SECRET,
                            Options::default(),
                            true,
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        v.extend(started.into_iter().map(|t| &*Box::leak(Box::new(t))));
    }
    v[..n].to_vec()
}

pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tomcat/tomcat.sh")
}

/// `N` distinct random ports below the kernel's ephemeral range, so that no outgoing
/// connection on the machine can hold one. Tomcat stays on 127.0.0.1, where workers and
/// the example configurations reach it; when another server got one of the ports first,
/// Tomcat fails to bind and [`Tomcat::launch`] tries new ones. Nothing is bound here.
fn random_ports<const N: usize>() -> [u16; N] {
    let first_ephemeral: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, first_ephemeral.max(12_000));
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        let p = lo + (random() % u64::from(hi - lo)) as u16;
        if !out[..i].contains(&p) {
            out[i] = p;
            i += 1;
        }
    }
    out
}

/// A random number (this file also builds alone, without `common`): the std hasher's
/// per-process random keys over a counter and the clock.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static N: AtomicUsize = AtomicUsize::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// True if the process exists and is not a zombie. The JVM is orphaned at start (its parent,
/// tomcat.sh, exits), and whoever adopts it may be slow to reap it.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(") ")
                .next()
                .and_then(|s| s.split(' ').next())
                .unwrap_or("");
            !matches!(state, "Z" | "X" | "x" | "")
        }
        Err(_) => false,
    }
}

fn keep_bases() -> bool {
    std::env::var_os("RJK_KEEP_TOMCAT").is_some()
}

impl Tomcat {
    /// An owned instance with default [`Options`]; stopped on drop.
    pub fn start(name: &str, secret: &str) -> Tomcat {
        Tomcat::launch(name, secret, Options::default(), false)
    }

    pub fn start_with(name: &str, secret: &str, opts: Options) -> Tomcat {
        Tomcat::launch(name, secret, opts, false)
    }

    fn launch(name: &str, secret: &str, opts: Options, shared: bool) -> Tomcat {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base =
            std::env::temp_dir().join(format!("rjk-tomcat-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let [ajp_port, http_port, shutdown_port] = random_ports::<3>();
        let mut t = Tomcat {
            name: name.to_string(),
            secret: secret.to_string(),
            ajp_port,
            http_port,
            shutdown_port,
            base,
            opts,
            pid: AtomicU32::new(0),
            shared,
        };
        // Another server may hold one of the ports: then pick new ones.
        for attempt in 1..=5 {
            match t.run_start() {
                Ok(()) => return t,
                Err(msg) if attempt < 5 && msg.contains("BindException") => {
                    eprintln!("tomcat {name}: port clash, retrying with new ports");
                    [t.ajp_port, t.http_port, t.shutdown_port] = random_ports::<3>();
                }
                Err(msg) => panic!("{msg}"),
            }
        }
        unreachable!()
    }

    fn run_start(&self) -> Result<(), String> {
        let start = Instant::now();
        let mut cmd = Command::new("bash");
        cmd.arg(script_path())
            .arg("start")
            .arg(&self.base)
            .arg(&self.name)
            .arg(self.ajp_port.to_string())
            .arg(self.http_port.to_string())
            .arg(self.shutdown_port.to_string())
            .arg(&self.secret)
            .arg(self.opts.packet_size.to_string())
            .env("WATCH_PID", std::process::id().to_string())
            .env("RJK_TOMCAT_ATTR_PATTERN", &self.opts.attr_pattern)
            .env("RJK_TOMCAT_MAX_THREADS", self.opts.max_threads.to_string())
            .env("RJK_TOMCAT_AJP_ATTRS", &self.opts.ajp_attrs)
            .env("RJK_TOMCAT_JAVA_OPTS", &self.opts.java_opts)
            .env("RJK_TOMCAT_AJP_ADDRESS", &self.opts.ajp_address);
        if self.opts.ajp_unix {
            cmd.env("RJK_TOMCAT_AJP_UNIX", self.ajp_socket());
            cmd.env("RJK_TOMCAT_AJP_UNIX_DIR", &self.opts.ajp_unix_dir);
        }
        if self.shared && !keep_bases() {
            cmd.env("WATCH_RM_BASE", "1");
        }
        let out = cmd.output().expect("run bash tests/tomcat/tomcat.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            // stderr already ends with the tail of catalina.out.
            return Err(format!(
                "tomcat.sh start {} (base {}) failed ({}) after {:?}:\n{stderr}",
                self.name,
                self.base.display(),
                out.status,
                start.elapsed(),
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let pid: u32 = stdout
            .trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("tomcat.sh start printed no pid: {stdout:?} {stderr}"));
        self.pid.store(pid, Ordering::SeqCst);
        eprint!("{stderr}");
        Ok(())
    }

    /// Pid of the JVM, 0 while stopped.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    pub fn is_running(&self) -> bool {
        let pid = self.pid();
        pid != 0 && pid_alive(pid)
    }

    /// SIGTERM (SIGKILL after 10 s), waiting until the JVM is gone.
    pub fn stop(&self) {
        let out = Command::new("bash")
            .arg(script_path())
            .arg("stop")
            .arg(&self.base)
            .output()
            .expect("run bash tests/tomcat/tomcat.sh stop");
        assert!(
            out.status.success(),
            "tomcat.sh stop {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        self.pid.store(0, Ordering::SeqCst);
    }

    /// A crash: SIGKILL, no shutdown, sockets reset by the kernel. Returns when the JVM is gone.
    pub fn kill9(&self) {
        let pid = self.pid();
        assert!(pid != 0, "tomcat {} is not running", self.name);
        // SAFETY: plain kill(2) on the JVM this harness started (tomcat.pid / is_running).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "tomcat {} (pid {pid}) survived SIGKILL",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pid.store(0, Ordering::SeqCst);
    }

    /// Stops the instance if it runs, then starts it again on the same ports and base.
    pub fn restart(&self) {
        if self.pid() != 0 {
            self.stop();
        }
        self.start_again();
    }

    /// Starts a stopped or killed instance on the same ports and base.
    pub fn start_again(&self) {
        assert!(
            !self.is_running(),
            "tomcat {} is already running",
            self.name
        );
        // The ports were ours a moment ago; a clash here is a real failure.
        self.run_start().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("logs/catalina.out")).unwrap_or_default()
    }

    /// The end of the Tomcat log, for panic messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "---- {} (last {} lines) ----\n{}",
            self.base.join("logs/catalina.out").display(),
            all.len() - from,
            all[from..].join("\n")
        )
    }

    /// The AJP Unix socket of an instance started with [`Options::ajp_unix`].
    pub fn ajp_socket(&self) -> PathBuf {
        self.base.join("ajp/ajp.sock")
    }

    /// workers.properties lines for an ajp13 worker named like this instance.
    pub fn worker_properties(&self) -> String {
        self.worker_properties_as(&self.name)
    }

    /// The same lines for an ajp13 worker named `w` instead of the instance's name.
    pub fn worker_properties_as(&self, w: &str) -> String {
        let host = if self.opts.ajp_unix {
            format!("unix:{}", self.ajp_socket().display())
        } else {
            "127.0.0.1".to_string()
        };
        let mut s = format!(
            "worker.{w}.type=ajp13\nworker.{w}.host={host}\nworker.{w}.port={}\nworker.{w}.secret={}\n",
            self.ajp_port, self.secret
        );
        if self.opts.packet_size != 8192 {
            s.push_str(&format!(
                "worker.{w}.max_packet_size={}\n",
                self.opts.packet_size
            ));
        }
        s
    }

    /// GET on Tomcat's own HTTP port, bypassing httpd.
    pub fn http_get(&self, path: &str) -> (u16, Vec<u8>) {
        http_get(self.http_port, path)
    }
}

impl Drop for Tomcat {
    fn drop(&mut self) {
        if self.shared {
            return;
        }
        if self.pid() != 0 {
            // Never panic in drop (a second panic aborts and hides the first).
            let _ = Command::new("bash")
                .arg(script_path())
                .arg("stop")
                .arg(&self.base)
                .output();
        }
        if !std::thread::panicking() && !keep_bases() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `(status, body)` of a GET to 127.0.0.1:`port`.
pub fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let r = http_request(port, "GET", path, &[], b"");
    (r.status, r.body)
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); chunked replies are
/// decoded. Panics with a clear message on connection errors or timeouts (60 s).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| {
        panic!(
            "{method} {path} on 127.0.0.1:{port}: {e} after {} bytes",
            raw.len()
        )
    });
    parse_reply(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "unparsable reply to {method} {path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_reply(raw: &[u8], head: bool) -> Option<HttpReply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut reply = HttpReply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    };
    if !head
        && reply
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        reply.body = dechunk(&reply.body)?;
    }
    Some(reply)
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..nl])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// The body `/size/N` sends: byte i is `(i * 31 + 7) & 0xFF`.
pub fn size_body(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(31).wrapping_add(7) & 0xFF) as u8)
        .collect()
}

/// A `/echo` reply: `key=value` lines. Values are the bytes Tomcat saw (headers, URI and
/// query byte for byte); a Java null is the text `(null)`.
#[derive(Debug)]
pub struct Echo {
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Echo {
    pub fn parse(body: &[u8]) -> Echo {
        let fields = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let eq = l.iter().position(|&b| b == b'=').unwrap_or(l.len());
                (
                    String::from_utf8_lossy(&l[..eq]).into_owned(),
                    l.get(eq + 1..).unwrap_or(&[]).to_vec(),
                )
            })
            .collect();
        Echo { fields }
    }

    /// First value of `key` (`"header.x-foo"`, `"attr.RJK_X"`, `"remote_port"` ...), lossy UTF-8.
    pub fn get(&self, key: &str) -> Option<String> {
        self.get_bytes(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    pub fn get_bytes(&self, key: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `key` in order (repeated headers).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

/// AJP CPING → CPONG on a fresh connection; false on any error or after `timeout`.
pub fn ajp_cping(port: u16, timeout: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    let mut reply = [0u8; 5];
    s.write_all(&[0x12, 0x34, 0x00, 0x01, 0x0A]).is_ok()
        && s.read_exact(&mut reply).is_ok()
        && reply == [0x41, 0x42, 0x00, 0x01, 0x09]
}
