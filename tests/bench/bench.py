#!/usr/bin/env python3
"""mod_rjk vs mod_jk vs mod_proxy_ajp beside httpd's floor: one rerunnable benchmark (Python 3 std lib only).

    cargo build --release
    python3 tests/bench/bench.py --rounds 5 --duration 10 --out target/bench
    python3 tests/bench/bench.py --smoke            # CI: correctness + a 2 s run each

What it does, for each backend set (--backends, default `fast,tomcat`):
  * backends: three private Tomcat 10 (tests/tomcat/tomcat.sh, jvmRoute node1..3) or
    three `rjk-fakeajp --fast` (a native AJP backend doing almost nothing per request, so
    the connector's own cost shows), all on 127.0.0.1;
  * three private httpd (/usr/sbin/apache2, event MPM, 2 children x 25 threads, KeepAlive
    on, MaxKeepAliveRequests unlimited, no access log), one per connector, never two
    connectors in one httpd (mod_rjk and mod_jk both define jk_module):
      mod_rjk        target/release/libmod_rjk.so    + conf/workers.properties
      mod_jk         Debian's mod_jk.so              + the same workers.properties
      mod_proxy_ajp  mod_proxy_ajp + mod_proxy_balancer (slotmem_shm, byrequests)
      mod_jk2        the null run: Debian's mod_jk.so once more, configured exactly as
                     mod_jk, measured as if it were another connector
      static         the floor: no connector, httpd serves the same bytes itself from
                     htdocs/ (a POST reads and discards the body and gets a fixed file)
    Each httpd listens on two ports: the "lb" port maps /* to the load balancer over the
    three backends (worker `bal` / balancer://bal), the "single" port maps /* to the
    ajp13 worker node1 (ajp://... for mod_proxy_ajp). Same AJP secret everywhere.
  * correctness, before and after measuring, on both ports: GET /size/N returns the
    backend's byte pattern, a POST to /echo reports the right body length and hash, and
    9 sequential requests on fresh connections to the lb port spread 3/3/3 (route= of
    Tomcat's /echo, X-Backend of the fake);
  * load with wrk (-t1 -c16 --timeout 5s --latency): GET /size/6, GET /size/1048576,
    POST of 64 KiB to /echo (a generated wrk Lua script); a warm-up run per connector and
    test, then --rounds rounds, connectors interleaved A B C / B C A / C A B per test;
  * latency at an equal load: after the rounds, one run per connector and test with every
    connection pausing between requests, paced for --paced (0.5) x mod_jk's median req/s
    (at saturation a faster connector queues more requests, so its p99 is not comparable);
  * per connector and test: req/s, p50/p99 latency, httpd CPU us per request (user+sys of
    the whole httpd process tree from /proc, before/after, divided by requests), backend
    CPU us per request, RSS/PSS per httpd child after the rounds; ratios to mod_jk are
    taken within each round, then the median over rounds is reported;
  * the floor and the noise: httpd CPU per request above the floor's (same round) and
    req/s over the floor's; the null run's per-round ratios to mod_jk give the spread
    (largest |ratio - 1|), and a connector's ratio to mod_jk within that spread is
    reported as "no measurable difference".

Load goes to the lb port by default; --single sends it to the single-worker port (usable
while a connector has no working load balancer). A connector that fails a check on the
port under load is reported and left out of that port's measurements.

Output: a markdown report on stdout and in OUT/bench.md, raw numbers in OUT/bench.json,
a chart in OUT/bench.svg (and OUT/bench.png when matplotlib is importable).

Exit status: 1 if a connector returned wrong bytes (a 200 whose body is not the expected
one), or any error status on the single-worker port, or the script itself failed; 0
otherwise, whatever the performance. Error statuses on the lb port (mod_rjk answers 503
there until its load balancer exists), an uneven 3/3/3 spread and errors under load are
reported but only fail the run with --strict. Every process the script starts (httpd,
JVMs, fake backends, wrk) is stopped on exit, Ctrl-C and errors; httpd and the fakes also
die with the script (PR_SET_PDEATHSIG), the JVMs through tomcat.sh's watchdog.

--transport unix: the backends also listen on Unix domain sockets (each Tomcat gets a
second AJP connector on unixDomainSocketPath, each fake a twin started with --unix), and
mod_rjk (`host=unix:/path`) and mod_proxy_ajp (`unix:/path|ajp://localhost:PORT/`) use
them; mod_jk has no Unix socket support and stays on TCP.

Environment: CARGO_TARGET_DIR is honoured when looking for libmod_rjk.so and
rjk-fakeajp; RJK_TOMCAT_JAVA_OPTS overrides --tomcat-java-opts.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import hashlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APACHE2 = "/usr/sbin/apache2"
TOMCAT_SH = REPO / "tests" / "tomcat" / "tomcat.sh"
SECRET = "rjk-bench-secret"
NODES = ("node1", "node2", "node3")
# FLOOR: httpd serving the same bytes itself (static files), the cost of httpd's own HTTP
# side. NULL_RUN: Debian's mod_jk once more in an httpd of its own, configured exactly as
# the mod_jk one and measured as if it were another connector: its ratios to mod_jk
# spread around 1 by noise alone, and a ratio within that spread is no difference.
FLOOR = "static"
NULL_RUN = "mod_jk2"
CONNECTORS = ("mod_rjk", "mod_jk", NULL_RUN, "mod_proxy_ajp", FLOOR)
SHORT = {"rjk": "mod_rjk", "jk": "mod_jk", "jk2": NULL_RUN, "proxy": "mod_proxy_ajp", "proxy_ajp": "mod_proxy_ajp",
         "floor": FLOOR}
BASELINE = "mod_jk"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IS_ROOT = os.geteuid() == 0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The script cannot go on (missing tool, a process that does not start, ...)."""


# ---------------------------------------------------------------------------------------
# Processes: everything started is registered and stopped in reverse order on exit.

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int):
    def f() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return f


class Cleanup:
    def __init__(self) -> None:
        self.actions: list[tuple[str, object]] = []

    def add(self, what: str, fn) -> None:
        self.actions.append((what, fn))

    def run(self) -> None:
        while self.actions:
            what, fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                log(f"cleanup of {what} failed: {e}")


CLEANUP = Cleanup()


def _to_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def random_ports(n: int) -> list[int]:
    """n distinct random ports below the kernel's ephemeral range, so that no outgoing
    connection can hold one. Nothing is bound here: the server binds them itself, and the
    caller picks new ones when it reports a clash (httpd: "Address already in use" in its
    error log; Tomcat: a BindException)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    return random.SystemRandom().sample(range(10000, max(first, 12000)), n)


def wait_port(port: int, timeout: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s.rsplit(")", 1)[1].split()


def proc_ticks(pid: int, with_children: bool = False) -> int:
    f = stat_fields(pid)
    if f is None:
        return 0
    t = int(f[11]) + int(f[12])
    if with_children:
        t += int(f[13]) + int(f[14])
    return t


def child_pids(ppid: int) -> list[int]:
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        f = stat_fields(int(e))
        if f is not None and int(f[1]) == ppid:
            out.append(int(e))
    return sorted(out)


def system_busy_ticks() -> int:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is counted in user)
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def mem_kib(pid: int) -> tuple[int, int | None]:
    rss = 0
    pss = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


# ---------------------------------------------------------------------------------------
# Backends


def tomcat_pattern(n: int) -> bytes:
    block = bytes(((i * 31 + 7) & 0xFF) for i in range(256))
    return (block * (n // 256 + 1))[:n]


def fake_pattern(n: int) -> bytes:
    block = bytes(b"abcdefghijklmnopqrstuvwxyz")
    return (block * (n // 26 + 1))[:n]


def fnv1a(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


class Backends:
    """Three AJP backends named node1..node3."""

    kind = ""
    label = ""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.pids: list[int] = []
        # With --transport unix: the Unix socket of each node, in NODES order.
        self.sockets: list[str] = []

    def pattern(self, n: int) -> bytes:
        raise NotImplementedError

    def check_echo(self, fields: dict[str, str], body: bytes) -> str | None:
        raise NotImplementedError

    def route_of(self, headers, fields: dict[str, str]) -> str | None:
        raise NotImplementedError

    def cpu_ticks(self) -> int:
        return sum(proc_ticks(p) for p in self.pids)

    def stop(self) -> None:
        pass


class FastBackends(Backends):
    kind = "fast"
    label = "rjk-fakeajp --fast"

    def __init__(self, binary: Path, workdir: Path) -> None:
        super().__init__()
        self.procs: list[subprocess.Popen] = []
        for name in NODES:
            line = self.start_fake(binary, workdir, name, ["--listen", "127.0.0.1:0"])
            self.ports.append(int(line.split()[1]))
        log(f"fast backends on ports {self.ports}")
        if TRANSPORT == "unix":
            start_unix_fakes(self, binary, workdir)

    def start_fake(self, binary: Path, workdir: Path, name: str, where: list[str], tag: str = "") -> str:
        """Starts one fast fake listening on `where` (`tag`, e.g. "unix", names its twin
        on another address in logs and file names); returns its READY line."""
        label = f"{name} ({tag})" if tag else name
        suffix = f"-{tag}" if tag else ""
        p = subprocess.Popen(
            [str(binary), *where, "--name", name, "--fast", "--die-with-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(workdir / f"fakeajp-{name}{suffix}.err", "wb"),
            start_new_session=True,
            preexec_fn=_die_with_parent(signal.SIGKILL),
        )
        self.procs.append(p)
        CLEANUP.add(f"rjk-fakeajp {label}", lambda p=p: self._kill(p))
        line = p.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("READY "):
            raise BenchError(f"rjk-fakeajp {label} did not start: {line!r}")
        self.pids.append(p.pid)
        return line

    @staticmethod
    def _kill(p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)

    def stop(self) -> None:
        for p in self.procs:
            self._kill(p)

    def pattern(self, n: int) -> bytes:
        return fake_pattern(n)

    def check_echo(self, fields, body):
        want = (str(len(body)), fnv1a(body))
        got = (fields.get("body_len"), fields.get("body_fnv"))
        return None if got == want else f"echo body_len/body_fnv {got} != {want}"

    def route_of(self, headers, fields):
        return headers.get("X-Backend")


class TomcatBackends(Backends):
    kind = "tomcat"
    label = "Tomcat 10"

    def __init__(self, workdir: Path, java_opts: str, max_threads: int) -> None:
        super().__init__()
        self.bases = [workdir / f"tomcat-{n}" for n in NODES]
        env = dict(os.environ)
        env["WATCH_PID"] = str(os.getpid())
        env["RJK_TOMCAT_JAVA_OPTS"] = os.environ.get("RJK_TOMCAT_JAVA_OPTS", java_opts)
        env["RJK_TOMCAT_MAX_THREADS"] = str(max_threads)
        env.setdefault("RJK_TOMCAT_START_TIMEOUT", "180")
        def launch(i: int, name: str):
            base = self.bases[i]
            ajp, http_port, shut = random_ports(3)
            out = open(workdir / f"tomcat-{name}.start.log", "w+b")
            p = subprocess.Popen(
                ["bash", str(TOMCAT_SH), "start", str(base), name, str(ajp), str(http_port), str(shut), SECRET],
                stdout=subprocess.PIPE,
                stderr=out,
                env=tomcat_unix_env(self, env, base),
                start_new_session=True,
            )
            CLEANUP.add(f"tomcat.sh start {name}", lambda p=p: (p.poll() is None and p.kill(), p.wait()))
            return (name, p, out, ajp)

        starts = []
        for i, name in enumerate(NODES):
            CLEANUP.add(f"tomcat {name}", lambda b=self.bases[i]: self._stop(b))
            starts.append(launch(i, name))
        log(f"starting 3 Tomcat (java opts: {env['RJK_TOMCAT_JAVA_OPTS'] or 'tomcat.sh defaults'})")
        for i, (name, p, out, ajp) in enumerate(starts):
            for attempt in range(5):
                try:
                    stdout, _ = p.communicate(timeout=240)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise BenchError(f"tomcat {name} did not start in 240 s")
                out.seek(0)
                text = out.read().decode(errors="replace")
                if p.returncode == 0:
                    break
                if attempt == 4 or "BindException" not in text:
                    raise BenchError(f"tomcat {name} failed to start:\n{text[-3000:]}")
                log(f"tomcat {name}: port clash, retrying with new ports")
                name, p, out, ajp = launch(i, name)
            self.ports.append(ajp)
            self.pids.append(int(stdout.decode().split()[-1]))
        log(f"Tomcat AJP ports {self.ports}, JVM pids {self.pids}")

    @staticmethod
    def _stop(base: Path) -> None:
        if (base / "tomcat.pid").exists() or (base / "watchdog.pid").exists():
            subprocess.run(["bash", str(TOMCAT_SH), "stop", str(base)], timeout=60, check=False)

    def stop(self) -> None:
        for b in self.bases:
            self._stop(b)

    def pattern(self, n: int) -> bytes:
        return tomcat_pattern(n)

    def check_echo(self, fields, body):
        want = (str(len(body)), hashlib.sha256(body).hexdigest())
        got = (fields.get("body_len"), fields.get("body_sha256"))
        return None if got == want else f"echo body_len/body_sha256 {got} != {want}"

    def route_of(self, headers, fields):
        return fields.get("route")


# ---------------------------------------------------------------------------------------
# --transport unix: the backends also listen on Unix domain sockets

TRANSPORT = "tcp"
# mod_jk cannot connect to a Unix socket: it stays on TCP.
UNIX_CONNECTORS = ("mod_rjk", "mod_proxy_ajp")


def uses_unix(connector: str) -> bool:
    return TRANSPORT == "unix" and connector in UNIX_CONNECTORS


def proxy_ajp_url(ports: list[int], sockets: list[str] | None, i: int) -> str:
    """mod_proxy_ajp's URL of node i: TCP, or the node's socket (the port only keeps the
    balancer members apart; it is not used)."""
    if sockets:
        return f'"unix:{sockets[i]}|ajp://localhost:{ports[i]}/"'
    return f"ajp://127.0.0.1:{ports[i]}/"


def tomcat_unix_env(be: Backends, env: dict, base: Path) -> dict:
    """tomcat.sh's environment for one node: with --transport unix, a second AJP
    connector on BASE/ajp/ajp.sock (recorded in be.sockets)."""
    if TRANSPORT != "unix":
        return env
    sock = base / "ajp" / "ajp.sock"
    be.sockets.append(str(sock))
    return {**env, "RJK_TOMCAT_AJP_UNIX_ALSO": str(sock)}


def start_unix_fakes(be: "FastBackends", binary: Path, workdir: Path) -> None:
    """A twin of each fast backend on a Unix socket (a fake listens on one address)."""
    sdir = workdir / "sockets"
    sdir.mkdir(exist_ok=True)
    os.chmod(sdir, 0o755)
    for name in NODES:
        sock = sdir / f"{name}.sock"
        be.start_fake(binary, workdir, name, ["--unix", str(sock)], "unix")
        be.sockets.append(str(sock))
    log(f"fast backends also on {be.sockets}")


# ---------------------------------------------------------------------------------------
# httpd, one per connector

EVENT_MPM = """\
StartServers 2
ServerLimit 2
ThreadLimit 25
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15
"""


def workers_properties(ports: list[int], sockets: list[str] | None = None) -> str:
    lines = ["# Generated by tests/bench/bench.py: the same file for mod_rjk and mod_jk.", "worker.list=bal,node1"]
    for i, (name, port) in enumerate(zip(NODES, ports)):
        lines += [
            f"worker.{name}.type=ajp13",
            f"worker.{name}.host=" + (f"unix:{sockets[i]}" if sockets else "127.0.0.1"),
            f"worker.{name}.port={port}",
            f"worker.{name}.secret={SECRET}",
        ]
    lines += ["worker.bal.type=lb", "worker.bal.balance_workers=" + ",".join(NODES), ""]
    return "\n".join(lines)


class Httpd:
    def __init__(self, workdir: Path, connector: str, backend_ports: list[int], module: Path, mods: str,
                 sockets: list[str] | None = None) -> None:
        self.connector = connector
        self.root = workdir / f"httpd-{connector}"
        for sub in ("conf", "logs", "run", "htdocs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lb_port, self.single_port = random_ports(2)
        self.proc: subprocess.Popen | None = None
        self.known_children: set[int] = set()
        user = "User www-data\nGroup www-data\n" if IS_ROOT else ""
        if connector in ("mod_rjk", "mod_jk", NULL_RUN):
            so = module if connector == "mod_rjk" else Path(mods) / "mod_jk.so"
            (self.root / "conf" / "workers.properties").write_text(workers_properties(backend_ports, sockets))
            connector_conf = f"""\
LoadModule jk_module {so}
JkWorkersFile conf/workers.properties
JkLogFile logs/mod_jk.log
JkLogLevel error
JkShmFile run/jk-runtime-status
<VirtualHost 127.0.0.1:{self.lb_port}>
    JkMount /* bal
</VirtualHost>
<VirtualHost 127.0.0.1:{self.single_port}>
    JkMount /* node1
</VirtualHost>
"""
        elif connector == FLOOR:
            # No connector: htdocs/ holds the bytes (write_floor_files), httpd's default
            # handler serves them (EnableMMAP on, EnableSendfile off: httpd's defaults).
            # No .htaccess lookups up the path (as in Debian's stock apache2.conf): the
            # connectors' requests skip httpd's directory walk altogether.
            connector_conf = "# The floor: httpd serves htdocs/ itself.\n<Directory />\n    AllowOverride None\n</Directory>\n"
        else:
            members = "\n".join(
                f"        BalancerMember {proxy_ajp_url(backend_ports, sockets, i)} secret={SECRET} route={n}"
                for i, n in enumerate(NODES)
            )
            connector_conf = f"""\
LoadModule proxy_module {mods}/mod_proxy.so
LoadModule proxy_ajp_module {mods}/mod_proxy_ajp.so
LoadModule proxy_balancer_module {mods}/mod_proxy_balancer.so
LoadModule slotmem_shm_module {mods}/mod_slotmem_shm.so
LoadModule lbmethod_byrequests_module {mods}/mod_lbmethod_byrequests.so
<VirtualHost 127.0.0.1:{self.lb_port}>
    <Proxy balancer://bal>
{members}
        ProxySet lbmethod=byrequests
    </Proxy>
    ProxyPass / balancer://bal/
</VirtualHost>
<VirtualHost 127.0.0.1:{self.single_port}>
    ProxyPass / {proxy_ajp_url(backend_ports, sockets, 0)} secret={SECRET}
</VirtualHost>
"""
        conf = f"""\
# Generated by tests/bench/bench.py ({connector}).
ServerRoot "{self.root}"
Listen 127.0.0.1:{self.lb_port}
Listen 127.0.0.1:{self.single_port}
ServerName 127.0.0.1
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
{user}{EVENT_MPM}PidFile logs/httpd.pid
DefaultRuntimeDir run
ErrorLog logs/error_log
LogLevel warn
DocumentRoot "{self.root}/htdocs"
<Directory "{self.root}/htdocs">
    Require all granted
</Directory>
{connector_conf}"""
        self.conf = self.root / "conf" / "httpd.conf"
        self.conf.write_text(conf)
        if IS_ROOT:
            subprocess.run(["chown", "-R", "www-data:www-data", str(self.root / "run")], check=False)

    def start(self) -> None:
        t = subprocess.run([APACHE2, "-t", "-d", str(self.root), "-f", str(self.conf)], capture_output=True, text=True)
        if t.returncode != 0:
            raise BenchError(f"{self.connector}: apache2 -t failed:\n{t.stderr}")
        CLEANUP.add(f"httpd {self.connector}", self.stop)
        for attempt in range(5):
            self.proc = subprocess.Popen(
                [APACHE2, "-DFOREGROUND", "-d", str(self.root), "-f", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(self.root / "logs" / "stderr", "wb"),
                start_new_session=True,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
            alive = lambda: self.proc.poll() is None  # noqa: E731
            if wait_port(self.lb_port, 20, alive) and wait_port(self.single_port, 20, alive):
                break
            if attempt == 4 or alive() or "Address already in use" not in self.error_log():
                raise BenchError(f"{self.connector}: httpd did not start:\n{self.error_log()[-3000:]}")
            self._move_ports()
        deadline = time.monotonic() + 10
        while len(self.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    def children(self) -> list[int]:
        if self.proc is None:
            return []
        kids = child_pids(self.proc.pid)
        self.known_children.update(kids)
        return kids

    def cpu_ticks(self) -> int:
        if self.proc is None:
            return 0
        return proc_ticks(self.proc.pid, with_children=True) + sum(proc_ticks(c) for c in self.children())

    def _move_ports(self) -> None:
        """After a clash: new random ports in the configuration, a fresh error log."""
        new = random_ports(2)
        text = self.conf.read_text()
        for old, port in zip((self.lb_port, self.single_port), new):
            text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{port}")
        self.conf.write_text(text)
        self.lb_port, self.single_port = new
        (self.root / "logs" / "error_log").unlink(missing_ok=True)

    def error_log(self) -> str:
        try:
            return (self.root / "logs" / "error_log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            log(f"{self.connector}: httpd ignored SIGTERM, killing it")
            self.proc.kill()
            self.proc.wait(timeout=10)
        # Children of a killed parent: only those we saw, and only if they are still its.
        for c in self.known_children:
            f = stat_fields(c)
            if f is not None and int(f[1]) in (self.proc.pid, 1) and f[0] not in "ZX":
                try:
                    with open(f"/proc/{c}/cmdline", "rb") as fh:
                        if str(self.conf).encode() in fh.read():
                            os.kill(c, signal.SIGKILL)
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------
# Correctness


def http_request(port: int, method: str, path: str, body: bytes | None = None, keepalive=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {} if keepalive else {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.headers, data
    finally:
        conn.close()


def echo_fields(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in body.decode("latin-1").split("\n"):
        k, sep, v = line.partition("=")
        if sep and k not in out:
            out[k] = v
    return out


def post_body(n: int) -> bytes:
    block = bytes(((i * 7 + 3) & 0xFF) for i in range(256))
    return (block * (n // 256 + 1))[:n]


class Check:
    def __init__(self, name: str, ok: bool, detail: str = "", wrong_bytes: bool = False, status: int | None = None):
        self.name, self.ok, self.detail, self.wrong_bytes, self.status = name, ok, detail, wrong_bytes, status

    def as_dict(self):
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "wrong_bytes": self.wrong_bytes, "status": self.status}


FLOOR_ECHO = b"floor=httpd read the request body and served this file\n"


def write_floor_files(htdocs: Path, be: Backends, tests: list[dict]) -> None:
    """The floor's documents: /size/N with the backend's bytes, /echo a fixed small file
    (a POST to a static file: httpd reads and discards the body, then serves the file)."""
    (htdocs / "size").mkdir(exist_ok=True)
    for t in tests:
        if t["method"] == "GET":
            (htdocs / "size" / str(t["size"])).write_bytes(be.pattern(t["size"]))
    (htdocs / "echo").write_bytes(FLOOR_ECHO)


class FloorView(Backends):
    """The floor checked like a connector: the same bytes for GET, its fixed file for POST."""

    def __init__(self, be: Backends) -> None:
        super().__init__()
        self.be = be

    def pattern(self, n: int) -> bytes:
        return self.be.pattern(n)

    def check_echo(self, fields, body):
        want = FLOOR_ECHO.decode().rstrip("\n").partition("=")[2]
        return None if fields.get("floor") == want else f"POST answered {fields} instead of the floor's file"


def check_bytes(port: int, be: Backends, tests: list[dict]) -> list[Check]:
    out = []
    for t in tests:
        try:
            if t["method"] == "GET":
                status, _, data = http_request(port, "GET", t["path"])
                if status != 200:
                    out.append(Check(t["name"], False, f"HTTP {status}", status=status))
                    continue
                want = be.pattern(t["size"])
                if data == want:
                    out.append(Check(t["name"], True, f"{len(data)} bytes ok", status=status))
                else:
                    at = next((i for i, (a, b) in enumerate(zip(data, want)) if a != b), min(len(data), len(want)))
                    out.append(
                        Check(t["name"], False, f"got {len(data)} bytes, want {len(want)}, first difference at {at}", True, status)
                    )
            else:
                body = post_body(t["size"])
                status, _, data = http_request(port, "POST", t["path"], body)
                if status != 200:
                    out.append(Check(t["name"], False, f"HTTP {status}", status=status))
                    continue
                err = be.check_echo(echo_fields(data), body)
                out.append(Check(t["name"], err is None, err or f"{len(body)} bytes echoed ok", err is not None, status))
        except (OSError, http.client.HTTPException) as e:
            out.append(Check(t["name"], False, f"{type(e).__name__}: {e}", wrong_bytes=True))
    return out


def check_spread(port: int, be: Backends, n: int = 9) -> Check:
    counts: dict[str, int] = {}
    statuses: dict[int, int] = {}
    for _ in range(n):
        try:
            status, headers, data = http_request(port, "GET", "/echo")
        except (OSError, http.client.HTTPException) as e:
            return Check("lb spread 3/3/3", False, f"{type(e).__name__}: {e}")
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            r = be.route_of(headers, echo_fields(data)) or "?"
            counts[r] = counts.get(r, 0) + 1
    if statuses.get(200, 0) != n:
        bad = ", ".join(f"HTTP {s} x{c}" for s, c in sorted(statuses.items()))
        return Check("lb spread 3/3/3", False, bad, status=max(s for s in statuses if s != 200))
    spread = "/".join(str(counts.get(r, 0)) for r in NODES)
    ok = all(counts.get(r, 0) == n // 3 for r in NODES)
    return Check("lb spread 3/3/3", ok, spread + ("" if ok else f" ({counts})"), status=200)


# ---------------------------------------------------------------------------------------
# Load


LUA_POST = """\
-- Generated by tests/bench/bench.py: POST the bytes of {path} to every request.
local f = assert(io.open("{path}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
"""

# wrk calls delay() before each request of a connection; it takes whole milliseconds, so
# the fraction is spread over requests at random.
LUA_PACED = """
-- Generated by tests/bench/bench.py: each connection pauses {ms:.3f} ms between requests.
local pause_whole, pause_frac = {whole}, {frac:.6f}
function delay()
   if math.random() < pause_frac then return pause_whole + 1 end
   return pause_whole
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    r: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not m:
        raise BenchError(f"cannot parse wrk output:\n{out}")
    r["requests"] = int(m.group(1))
    r["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        r[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def run_wrk(args, url: str, seconds: float, lua: Path | None) -> str:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    if lua is not None:
        cmd += ["-s", str(lua)]
    cmd.append(url)
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent(signal.SIGKILL),
    )
    try:
        out, _ = p.communicate(timeout=seconds + 30)
    except BaseException:
        p.kill()
        p.wait()
        raise
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {out}")
    return out


def measure(args, h: Httpd, be: Backends, port: int, test: dict, seconds: float) -> dict:
    url = f"http://127.0.0.1:{port}{test['path']}"
    h0, b0, s0 = h.cpu_ticks(), be.cpu_ticks(), system_busy_ticks()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = run_wrk(args, url, seconds, test.get("lua"))
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    h1, b1, s1 = h.cpu_ticks(), be.cpu_ticks(), system_busy_ticks()
    r = parse_wrk(out)
    n = max(r["requests"], 1)
    tick_us = 1e6 / CLK_TCK
    r["httpd_cpu_us"] = (h1 - h0) * tick_us / n
    r["backend_cpu_us"] = (b1 - b0) * tick_us / n
    wrk_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    busy_s = (s1 - s0) / CLK_TCK
    ours_s = ((h1 - h0) + (b1 - b0)) / CLK_TCK + wrk_s
    # CPU used on the machine by processes that are not ours (others' work), in cores.
    r["foreign_cores"] = max(0.0, busy_s - ours_s) / seconds
    r["wrk_cpu_us"] = wrk_s * 1e6 / n
    return r


# ---------------------------------------------------------------------------------------
# Stats and report


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "–"
    if nd == 0:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{nd}f}"


def _per_round(runs: list[dict], rounds: list[int], c: str, other: str, f) -> list[float]:
    """f(run of c, run of other) for every round in which both ran and f gave a number."""
    out = []
    for rd in rounds:
        a = next((r for r in runs if r["round"] == rd and r["connector"] == c), None)
        b = next((r for r in runs if r["round"] == rd and r["connector"] == other), None)
        v = f(a, b) if a and b else None
        if v is not None:
            out.append(v)
    return out


def _ratio(key):
    return lambda a, b: a[key] / b[key] if b[key] > 0 else None


def _over_floor(floor_of):
    """(httpd CPU above the floor) / (mod_jk's httpd CPU above the floor), within a round."""

    def f(a, b):
        fl = floor_of(a["round"])
        if fl is None or b["httpd_cpu_us"] - fl <= 0:
            return None
        return (a["httpd_cpu_us"] - fl) / (b["httpd_cpu_us"] - fl)

    return f


# Ratios to mod_jk reported per connector: key in the row, per-round function.
RATIOS = ("rps_ratio", "p99_ratio", "cpu_ratio", "over_ratio")


def summarize(results: dict) -> list[dict]:
    """One row per backend, test and connector: medians over rounds; ratios to mod_jk and
    to the floor taken within each round. `null_spread` (per test, from NULL_RUN) is the
    largest distance from 1 of the null run's per-round ratios; a ratio no farther from 1
    than that is flagged `<key>_noise` (no measurable difference)."""
    rows = []
    for phase in results["phases"]:
        for t in phase["tests"]:
            name = t["name"]
            runs = [r for r in phase["runs"] if r["test"] == name]
            rounds = sorted({r["round"] for r in runs})

            def floor_of(rd):
                r = next((r for r in runs if r["round"] == rd and r["connector"] == FLOOR), None)
                return r["httpd_cpu_us"] if r else None

            fns = {"rps_ratio": _ratio("rps"), "p99_ratio": _ratio("p99_ms"), "cpu_ratio": _ratio("httpd_cpu_us"),
                   "over_ratio": _over_floor(floor_of)}
            null = {k: _per_round(runs, rounds, NULL_RUN, BASELINE, f) for k, f in fns.items()}
            spread = {k: (max(abs(v - 1) for v in vs) if vs else None) for k, vs in null.items()}
            for c in phase["connectors"]:
                mine = [r for r in runs if r["connector"] == c]
                if not mine:
                    rows.append({"backend": phase["backend"], "test": name, "label": t["label"], "connector": c, "measured": False})
                    continue
                row = {
                    "backend": phase["backend"],
                    "test": name,
                    "label": t["label"],
                    "connector": c,
                    "measured": True,
                    "rounds": len(mine),
                    "rps": median(r["rps"] for r in mine),
                    "rps_vs_floor": median(_per_round(runs, rounds, c, FLOOR, _ratio("rps"))),
                    "p50_ms": median(r["p50_ms"] for r in mine),
                    "p99_ms": median(r["p99_ms"] for r in mine),
                    "httpd_cpu_us": median(r["httpd_cpu_us"] for r in mine),
                    "cpu_over_floor_us": median(
                        _per_round(runs, rounds, c, FLOOR, lambda a, b: a["httpd_cpu_us"] - b["httpd_cpu_us"])
                    ),
                    "cpu_vs_floor": median(_per_round(runs, rounds, c, FLOOR, _ratio("httpd_cpu_us"))),
                    "backend_cpu_us": median(r["backend_cpu_us"] for r in mine),
                    "errors": sum(r["non2xx"] + r["socket_errors"] for r in mine),
                    "foreign_cores": median(r["foreign_cores"] for r in mine),
                    "null_spread": spread,
                    "null_ratios": null,
                }
                for k, f in fns.items():
                    v = median(_per_round(runs, rounds, c, BASELINE, f))
                    row[k] = v
                    sp = spread[k]
                    row[k + "_noise"] = (
                        v is not None and sp is not None and c not in (BASELINE, NULL_RUN) and abs(v - 1) <= sp
                    )
                # CPU above the floor no larger than the null run's CPU noise is none.
                v, sp = row["cpu_vs_floor"], spread["cpu_ratio"]
                row["over_floor_noise"] = v is not None and sp is not None and c != FLOOR and abs(v - 1) <= sp
                rows.append(row)
    return rows


NOISE = "no measurable difference"


def _ratio_cell(r: dict, key: str) -> str:
    v = r.get(key)
    if v is None:
        return "–"
    if r["connector"] == NULL_RUN:
        return f"{v:.2f} (null run)"
    return f"{v:.2f} ({NOISE})" if r.get(key + "_noise") else f"{v:.2f}"


def throughput_md(rows: list[dict]) -> list[str]:
    """The main table (each connector beside the floor, ratios to mod_jk flagged against the
    null run) and the null run's spread per test."""
    L = ["## Throughput, latency, CPU", ""]
    L.append(
        f"Floor: `{FLOOR}`, httpd serving the same bytes itself (static files; a POST reads and discards the body). "
        f"Null run: `{NULL_RUN}`, mod_jk once more in an httpd of its own, configured identically; its per-round ratios "
        f"to mod_jk show the noise. \"{NOISE}\": the ratio is no farther from 1 than the null run's farthest round. "
        "\"above floor\": httpd CPU per request minus the floor's in the same round; \"x floor\": req/s over the "
        "floor's; \"above floor vs mod_jk\": this connector's CPU above the floor over mod_jk's. CPU above the floor is "
        f"\"{NOISE}\" when the connector's CPU over the floor's is no farther from 1 than the null run's CPU ratios."
    )
    L.append("")
    L.append(
        "| backend | test | connector | req/s | x floor | req/s vs mod_jk | p50 ms | p99 ms | httpd CPU µs/req "
        "| above floor µs/req | CPU vs mod_jk | above floor vs mod_jk | p99 vs mod_jk | backend CPU µs/req | errors |"
    )
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if not r["measured"]:
            L.append(f"| {r['backend']} | {r['label']} | {r['connector']} | not measured (failed its checks) |"
                     + " |" * 11)
            continue
        above = fmt(r["cpu_over_floor_us"]) + (f" ({NOISE})" if r.get("over_floor_noise") else "")
        cells = [r["backend"], r["label"], r["connector"], fmt(r["rps"]), fmt(r["rps_vs_floor"], 2),
                 _ratio_cell(r, "rps_ratio"), fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2), fmt(r["httpd_cpu_us"]), above,
                 _ratio_cell(r, "cpu_ratio"), _ratio_cell(r, "over_ratio"), _ratio_cell(r, "p99_ratio"),
                 fmt(r["backend_cpu_us"]), str(r["errors"])]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append(f"Noise: the null run's ratios to mod_jk per round ({NULL_RUN} / mod_jk) and their spread (largest |ratio - 1|).")
    L.append("")
    L.append("| backend | test | req/s per round | ± | p99 per round | ± | httpd CPU per round | ± | above floor per round | ± |")
    L.append("|---|---|---|---:|---|---:|---|---:|---|---:|")
    seen = set()
    for r in rows:
        if not r["measured"] or (r["backend"], r["test"]) in seen:
            continue
        seen.add((r["backend"], r["test"]))
        nr, sp = r["null_ratios"], r["null_spread"]
        cells = []
        for k in RATIOS:
            cells.append(" ".join(f"{v:.2f}" for v in nr[k]) or "no null run")
            cells.append(fmt(sp[k], 2))
        L.append(f"| {r['backend']} | {r['label']} | " + " | ".join(cells) + " |")
    L.append("")
    return L


def report_md(results: dict, rows: list[dict]) -> str:
    a = results["args"]
    L = []
    L.append(f"# mod_rjk benchmark, {results['started']}")
    L.append("")
    L.append(
        f"Mode: **{'single ajp13 worker (node1)' if a['single'] else 'load balancer over 3 backends'}**"
        f"{' (smoke)' if a['smoke'] else ''}. {a['rounds']} round(s) x {a['duration']} s per connector and test, "
        f"{a['warmup']} s warm-up; `wrk -t{a['threads']} -c{a['connections']} --timeout 5s --latency`; "
        "connectors interleaved per test and round (rotating order); ratios vs mod_jk taken within each round, "
        "medians over rounds."
    )
    env = results["env"]
    L.append(
        f"httpd {env['httpd']} event MPM (2 children x 25 threads, KeepAlive on, no access log); "
        f"mod_jk {env['mod_jk']}; Tomcat {env['tomcat']} (java opts `{env['tomcat_java_opts']}`); "
        f"{env['cpus']} CPUs, load average at start {env['loadavg']}. wrk, httpd and the backends share the CPUs."
    )
    fc = [r["foreign_cores"] for r in rows if r.get("measured") and r.get("foreign_cores") is not None]
    if fc:
        L.append(
            f"CPU used by other processes on the machine during the runs: median {statistics.median(fc):.2f} cores, "
            f"max {max(fc):.2f} (a shared machine: the null run's spread below is this run's noise; CPU per request is "
            "steadier than req/s and p99)."
        )
    L.append("")
    L.append("## Checks")
    L.append("")
    L.append(
        "Bytes: GET /size/N against the backend's pattern, POST body length and hash as the backend saw them; "
        "before and after the load, on both ports. Spread: 9 sequential requests on fresh connections to the lb port."
    )
    L.append("")
    L.append("| backend | connector | single port | lb port | lb spread node1/node2/node3 |")
    L.append("|---|---|---|---|---|")

    def cell(checks_by_when, port_kind):
        bad = []
        n = 0
        for when, per_port in checks_by_when.items():
            for ch in per_port.get(port_kind, []):
                if ch["name"].startswith("lb spread"):
                    continue
                n += 1
                if not ch["ok"]:
                    what = "**WRONG BYTES**" if ch["wrong_bytes"] else "FAILED"
                    bad.append(f"{ch['name']} ({when}) {what}: {ch['detail']}")
        return "; ".join(bad) if bad else f"ok ({n} checks)"

    for phase in results["phases"]:
        for c, whens in phase["checks"].items():
            spread = next((ch for ch in whens.get("before", {}).get("lb", []) if ch["name"].startswith("lb spread")), None)
            sp = "–" if spread is None else (spread["detail"] if spread["ok"] else f"FAILED: {spread['detail']}")
            L.append(f"| {phase['backend']} | {c} | {cell(whens, 'single')} | {cell(whens, 'lb')} | {sp} |")
    L.append("")
    L.extend(throughput_md(rows))
    paced = [(phase["backend"], r) for phase in results["phases"] for r in phase.get("paced", [])]
    if paced:
        L.append("## Latency at an equal offered load")
        L.append("")
        L.append(
            f"One run per connector and test after the rounds, every connection pausing between requests, the pause "
            f"set for {a.get('paced')} x mod_jk's median req/s above (each connection also waits for its response, "
            "so the rate reached is somewhat lower): nearly the same work for every connector, well below saturation, "
            "where a faster connector no longer queues more requests than a slower one. One run each: a p99 ratio no "
            f"farther from 1 than the null run's ({NULL_RUN} / mod_jk) is \"{NOISE}\"."
        )
        L.append("")
        L.append("| backend | test | connector | target req/s | req/s | p50 ms | p99 ms | p99 vs mod_jk |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|")
        for backend, r in paced:
            base = next((b for be, b in paced if be == backend and b["test"] == r["test"] and b["connector"] == BASELINE), None)
            ratio = r["p99_ms"] / base["p99_ms"] if base and base["p99_ms"] > 0 else None
            null = next((b for be, b in paced if be == backend and b["test"] == r["test"] and b["connector"] == NULL_RUN), None)
            spread = abs(null["p99_ms"] / base["p99_ms"] - 1) if null and ratio is not None else None
            cell = fmt(ratio, 2)
            if r["connector"] == NULL_RUN:
                cell += " (null run)"
            elif r["connector"] != BASELINE and spread is not None and abs(ratio - 1) <= spread:
                cell += f" ({NOISE})"
            L.append(
                f"| {backend} | {r['label']} | {r['connector']} | {fmt(r['offered_rps'])} | {fmt(r['rps'])} | "
                f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {cell} |"
            )
        L.append("")
    L.append("## Memory of the httpd children after the rounds")
    L.append("")
    L.append("| backend | connector | RSS MiB per child | PSS MiB per child |")
    L.append("|---|---|---|---|")
    for phase in results["phases"]:
        for c, mem in phase["memory"].items():
            rss = ", ".join(f"{m['rss_kib'] / 1024:.1f}" for m in mem) or "–"
            pss = ", ".join(f"{m['pss_kib'] / 1024:.1f}" for m in mem if m["pss_kib"] is not None) or "–"
            L.append(f"| {phase['backend']} | {c} | {rss} | {pss} |")
    L.append("")
    L.append(f"Command: `{results['command']}`")
    L.append("")
    return "\n".join(L)


def svg_chart(rows: list[dict], mode: str) -> str:
    """Two rows of panels (req/s and httpd CPU per request, both relative to mod_jk), one
    column per backend; absolute values are printed on the bars."""
    colors = {"mod_rjk": "#d9534f", "mod_jk": "#5b7fbf", NULL_RUN: "#9fb4dc", "mod_proxy_ajp": "#5cb85c", FLOOR: "#999999"}
    backends = sorted({r["backend"] for r in rows}, key=lambda b: ["fast", "tomcat"].index(b) if b in ("fast", "tomcat") else 9)
    metrics = [("rps_ratio", "rps", "req/s relative to mod_jk (higher is better)", "{:.0f}/s"),
               ("cpu_ratio", "httpd_cpu_us", "httpd CPU per request relative to mod_jk (lower is better)", "{:.0f} µs")]
    pw, ph, ml, mt, mb = 460, 260, 50, 40, 90
    W = ml + len(backends) * (pw + 30) + 10
    H = 50 + len(metrics) * (ph + mt + mb) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">mod_rjk vs mod_jk vs mod_proxy_ajp, {mode} '
           "(medians over rounds)</text>"]
    lx = 10
    for c, col in colors.items():
        out.append(f'<rect x="{lx}" y="32" width="12" height="12" fill="{col}"/><text x="{lx + 16}" y="42">{c}</text>')
        lx += 120
    for mi, (key, abs_key, title, absfmt) in enumerate(metrics):
        for bi, be in enumerate(backends):
            x0 = ml + bi * (pw + 30)
            y0 = 50 + mi * (ph + mt + mb) + mt
            mine = [r for r in rows if r["backend"] == be and r.get("measured")]
            tests = []
            for r in mine:
                if r["label"] not in tests:
                    tests.append(r["label"])
            vals = [r[key] for r in mine if r.get(key) is not None]
            top = max([1.2] + [v * 1.15 for v in vals])
            out.append(f'<text x="{x0}" y="{y0 - 8}" font-size="12" font-weight="bold">{be}: {title}</text>')
            step = 0.25 if top <= 2 else (0.5 if top <= 4 else 1.0)
            v = 0.0
            while v <= top + 1e-9:
                y = y0 + ph - v / top * ph
                dash = ' stroke-dasharray="4,3"' if abs(v - 1.0) < 1e-9 else ""
                col = "#888" if abs(v - 1.0) < 1e-9 else "#e5e5e5"
                out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + pw}" y2="{y:.1f}" stroke="{col}"{dash}/>')
                out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
                v += step
            out.append(f'<line x1="{x0}" y1="{y0 + ph}" x2="{x0 + pw}" y2="{y0 + ph}" stroke="black"/>')
            if not tests:
                continue
            gw = pw / len(tests)
            bw = gw * 0.8 / len(CONNECTORS)
            for ti, t in enumerate(tests):
                gx = x0 + ti * gw + gw * 0.1
                out.append(f'<text x="{x0 + ti * gw + gw / 2:.1f}" y="{y0 + ph + 16}" text-anchor="middle">{t}</text>')
                for ci, c in enumerate(CONNECTORS):
                    r = next((r for r in mine if r["label"] == t and r["connector"] == c), None)
                    bx = gx + ci * bw
                    if r is None or r.get(key) is None:
                        out.append(f'<text x="{bx + bw / 2:.1f}" y="{y0 + ph - 4}" text-anchor="middle" fill="#999">n/a</text>')
                        continue
                    hgt = r[key] / top * ph
                    out.append(f'<rect x="{bx:.1f}" y="{y0 + ph - hgt:.1f}" width="{bw - 2:.1f}" height="{hgt:.1f}" fill="{colors[c]}"/>')
                    out.append(f'<text x="{bx + bw / 2:.1f}" y="{y0 + ph - hgt - 3:.1f}" text-anchor="middle" font-size="9">{r[key]:.2f}</text>')
                    out.append(
                        f'<text x="{bx + bw / 2:.1f}" y="{y0 + ph + 30 + 11 * ci}" text-anchor="middle" font-size="8" '
                        f'fill="{colors[c]}">{absfmt.format(r[abs_key])}</text>'
                    )
    out.append("</svg>")
    return "\n".join(out)


def png_chart(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib  # type: ignore

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore
    except Exception:  # noqa: BLE001 - optional
        return False
    backends = sorted({r["backend"] for r in rows})
    fig, axes = plt.subplots(2, len(backends), figsize=(6 * len(backends), 7), squeeze=False)
    for bi, be in enumerate(backends):
        mine = [r for r in rows if r["backend"] == be and r.get("measured")]
        tests = list(dict.fromkeys(r["label"] for r in mine))
        for mi, (key, title) in enumerate([("rps_ratio", "req/s vs mod_jk"), ("cpu_ratio", "httpd CPU/req vs mod_jk")]):
            ax = axes[mi][bi]
            w = 0.8 / len(CONNECTORS)
            for ci, c in enumerate(CONNECTORS):
                xs, ys = [], []
                for ti, t in enumerate(tests):
                    r = next((r for r in mine if r["label"] == t and r["connector"] == c), None)
                    if r is not None and r.get(key) is not None:
                        xs.append(ti + ci * w)
                        ys.append(r[key])
                ax.bar(xs, ys, w, label=c)
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xticks([i + w for i in range(len(tests))])
            ax.set_xticklabels(tests)
            ax.set_title(f"{be}: {title}")
            if mi == 0 and bi == 0:
                ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------
# Main flow


def find_artifact(explicit: str | None, name: str) -> Path:
    if explicit:
        p = Path(explicit)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        if not target.is_absolute():
            target = REPO / target
        p = target / "release" / name
    if not p.exists():
        raise BenchError(f"{p} is missing: run `cargo build --release` first (or pass its path)")
    return p.resolve()


def tool_versions(java_opts: str) -> dict:
    def q(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except OSError:
            return "?"

    httpd_v = q([APACHE2, "-v"]).splitlines()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {
        "httpd": httpd_v[0].split(":", 1)[-1].strip() if httpd_v else "?",
        "mod_jk": q(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-jk"]) or "?",
        "tomcat": q(["dpkg-query", "-W", "-f=${Version}", "tomcat10"]) or "?",
        "tomcat_java_opts": os.environ.get("RJK_TOMCAT_JAVA_OPTS", java_opts) or "tomcat.sh defaults",
        "cpus": os.cpu_count(),
        "loadavg": load,
        "python": platform.python_version(),
    }


def make_tests(args, workdir: Path) -> list[dict]:
    body = workdir / "post-body.bin"
    body.write_bytes(post_body(args.post_size))
    lua = workdir / "post.lua"
    lua.write_text(LUA_POST.format(path=body))

    def size_label(n):
        return f"{n // 1048576} MiB" if n % 1048576 == 0 else (f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} B")

    all_tests = {
        "get_small": {"name": "get_small", "label": f"GET {size_label(args.small_size)}", "method": "GET",
                      "path": f"/size/{args.small_size}", "size": args.small_size},
        "get_large": {"name": "get_large", "label": f"GET {size_label(args.large_size)}", "method": "GET",
                      "path": f"/size/{args.large_size}", "size": args.large_size},
        "post": {"name": "post", "label": f"POST {size_label(args.post_size)}", "method": "POST",
                 "path": "/echo", "size": args.post_size, "lua": lua},
    }
    return [all_tests[t] for t in args.tests]


def run_paced(args, kind, pdir, tests, servers, usable, be, port_of, runs) -> list[dict]:
    """Latency at an equal offered load: at saturation a faster connector queues more
    requests, so its p99 is not comparable. One run per connector and test in which every
    connection pauses between requests, the pause set for `--paced` times mod_jk's median
    req/s of the rounds."""
    base = BASELINE if BASELINE in usable else usable[0]
    out = []
    for t in tests:
        rates = [r["rps"] for r in runs if r["test"] == t["name"] and r["connector"] == base]
        if not rates or median(rates) <= 0:
            continue
        offered = args.paced * median(rates)
        pause_ms = args.connections / offered * 1000
        lua = pdir / f"paced-{t['name']}.lua"
        whole = int(pause_ms)
        lua.write_text((t["lua"].read_text() if t.get("lua") else "") + LUA_PACED.format(
            ms=pause_ms, whole=whole, frac=pause_ms - whole))
        for c in usable:
            # Smoke: only that the paced runs work, 1 s each.
            secs = 1 if args.smoke else args.duration
            r = measure(args, servers[c], be, port_of(servers[c]), {**t, "lua": lua}, secs)
            r.update({"test": t["name"], "label": t["label"], "connector": c, "offered_rps": offered})
            out.append(r)
            log(f"{kind} paced {t['label']:>12} {c:<14} target {offered:7.0f} req/s, got {r['rps']:7.0f}  "
                f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
    return out


def run_phase(args, kind: str, workdir: Path, tests: list[dict], module: Path, fakeajp: Path, mods: str) -> dict:
    phase: dict = {"backend": kind, "tests": [{k: v for k, v in t.items() if k != "lua"} for t in tests],
                   "connectors": list(args.connectors), "checks": {}, "runs": [], "memory": {}}
    pdir = workdir / kind
    pdir.mkdir()
    if kind == "fast":
        be: Backends = FastBackends(fakeajp, pdir)
    else:
        be = TomcatBackends(pdir, args.tomcat_java_opts, args.tomcat_max_threads)
    try:
        servers = {}
        for c in args.connectors:
            h = Httpd(pdir, c, be.ports, module, mods, sockets=be.sockets if uses_unix(c) else None)
            if c == FLOOR:
                write_floor_files(h.root / "htdocs", be, tests)
            h.start()
            servers[c] = h
            log(f"{c}: httpd pid {h.proc.pid}, lb port {h.lb_port}, single port {h.single_port}")
        port_of = lambda h: h.single_port if args.single else h.lb_port  # noqa: E731
        load_port = "single" if args.single else "lb"

        # Correctness first, on both ports.
        usable = []
        view = lambda c: FloorView(be) if c == FLOOR else be  # noqa: E731
        for c, h in servers.items():
            single = check_bytes(h.single_port, view(c), tests)
            # The floor has no backends to spread over.
            lb = check_bytes(h.lb_port, view(c), tests) + ([] if c == FLOOR else [check_spread(h.lb_port, be)])
            phase["checks"][c] = {"before": {"single": [x.as_dict() for x in single], "lb": [x.as_dict() for x in lb]}}
            for port_kind, checks in (("single", single), ("lb", lb)):
                for ch in checks:
                    log(f"{kind} {c} {port_kind}: {ch.name}: {'ok' if ch.ok else 'FAILED'} {ch.detail}")
            measured = single if args.single else [ch for ch in lb if not ch.name.startswith("lb spread")]
            if all(ch.ok for ch in measured):
                usable.append(c)
            else:
                log(f"{kind} {c}: fails its checks on the {load_port} port, not measured")

        # Warm-up, then interleaved rounds.
        if args.warmup > 0:
            for t in tests:
                for c in usable:
                    run_wrk(args, f"http://127.0.0.1:{port_of(servers[c])}{t['path']}", args.warmup, t.get("lua"))
        for rd in range(args.rounds):
            for t in tests:
                order = usable[rd % len(usable):] + usable[: rd % len(usable)] if usable else []
                for c in order:
                    r = measure(args, servers[c], be, port_of(servers[c]), t, args.duration)
                    r.update({"round": rd + 1, "test": t["name"], "connector": c})
                    phase["runs"].append(r)
                    log(
                        f"{kind} round {rd + 1} {t['label']:>12} {c:<14} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  httpd {r['httpd_cpu_us']:6.0f} µs/req  backend {r['backend_cpu_us']:6.0f} µs/req"
                        + (f"  ERRORS {r['non2xx']} non-2xx {r['socket_errors']} socket" if r["non2xx"] or r["socket_errors"] else "")
                    )

        if args.paced > 0 and usable:
            phase["paced"] = run_paced(args, kind, pdir, tests, servers, usable, be, port_of, phase["runs"])

        for c, h in servers.items():
            phase["memory"][c] = [dict(zip(("rss_kib", "pss_kib"), mem_kib(p)), pid=p) for p in h.children()]
            single = check_bytes(h.single_port, view(c), tests)
            lb = check_bytes(h.lb_port, view(c), tests)
            phase["checks"][c]["after"] = {"single": [x.as_dict() for x in single], "lb": [x.as_dict() for x in lb]}
            for port_kind, checks in (("single", single), ("lb", lb)):
                for ch in checks:
                    if not ch.ok:
                        log(f"{kind} {c} {port_kind} after the load: {ch.name}: FAILED {ch.detail}")
        for c, h in servers.items():
            h.stop()
            for line in h.error_log().splitlines():
                if any(w in line for w in ("[emerg]", "[crit]", "[alert]", "segfault", "exit signal")):
                    log(f"{kind} {c} error_log: {line}")
    finally:
        be.stop()
    return phase


def failures(results: dict, strict: bool) -> list[str]:
    bad = []
    for phase in results["phases"]:
        for c, whens in phase["checks"].items():
            for when, ports in whens.items():
                for port_kind, checks in ports.items():
                    for ch in checks:
                        if ch["ok"]:
                            continue
                        hard = ch["wrong_bytes"] or port_kind == "single" or strict
                        if hard:
                            bad.append(f"{phase['backend']} {c} {port_kind} ({when}): {ch['name']}: {ch['detail']}")
        if strict:
            for r in phase["runs"]:
                if r["non2xx"] or r["socket_errors"]:
                    bad.append(f"{phase['backend']} {r['connector']} {r['test']} round {r['round']}: "
                               f"{r['non2xx']} non-2xx, {r['socket_errors']} socket errors under load")
    return bad


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the top of tests/bench/bench.py for what is measured and how.")
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (smoke: 1)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per connector, test and round (default 10; smoke 2)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up seconds per connector and test (default 5; smoke 1)")
    ap.add_argument("--out", default=None, help="output directory (default target/bench, smoke: target/bench-smoke)")
    ap.add_argument("--single", action="store_true", help="load the single ajp13 worker instead of the load balancer")
    ap.add_argument("--smoke", action="store_true", help="CI: 1 round, 2 s per test, 1 s warm-up, 64 KiB GET, 8 KiB POST")
    ap.add_argument("--strict", action="store_true", help="also fail on lb errors, an uneven spread, errors under load")
    ap.add_argument("--backends", default="fast,tomcat", help="comma list of fast,tomcat (default both)")
    ap.add_argument("--connectors", default="rjk,jk,jk2,proxy,static",
                    help="comma list of rjk,jk,jk2,proxy,static (default all; jk2 is the null run: mod_jk once more, "
                         "static the floor: httpd serving the bytes itself)")
    ap.add_argument("--tests", default="get_small,get_large,post", help="comma list of get_small,get_large,post")
    ap.add_argument("--small-size", type=int, default=6)
    ap.add_argument("--large-size", type=int, default=None, help="bytes (default 1048576; smoke 65536)")
    ap.add_argument("--post-size", type=int, default=None, help="bytes (default 65536; smoke 8192)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tomcat-java-opts", default=None,
                    help="extra JVM options (default '-Xmx256m -XX:TieredStopAtLevel=4'; smoke: tomcat.sh defaults)")
    ap.add_argument("--tomcat-max-threads", type=int, default=64)
    ap.add_argument("--module", default=None, help="mod_rjk .so (default $CARGO_TARGET_DIR|target /release/libmod_rjk.so)")
    ap.add_argument("--fakeajp", default=None, help="rjk-fakeajp binary (default next to the module)")
    ap.add_argument("--paced", type=float, default=0.5,
                    help="after the rounds, one run per connector and test at an equal offered load, this fraction "
                         "of mod_jk's median req/s (default 0.5; 0: none)")
    ap.add_argument("--transport", choices=("tcp", "unix"), default="tcp",
                    help="unix: mod_rjk and mod_proxy_ajp reach the backends over Unix domain sockets "
                         "(mod_jk stays on TCP); default tcp")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs)")
    ap.add_argument("--from-json", default=None, metavar="BENCH_JSON",
                    help="measure nothing: re-render bench.md/svg/png of an earlier bench.json into --out")
    a = ap.parse_args(argv)
    if a.rounds is None:
        a.rounds = 1 if a.smoke else 5
    if a.duration is None:
        a.duration = 2 if a.smoke else 10
    a.warmup = a.warmup if a.warmup is not None else (1 if a.smoke else 5)
    if not 0 <= a.paced < 1:
        ap.error("--paced must be >= 0 and < 1")
    a.large_size = a.large_size or (65536 if a.smoke else 1048576)
    a.post_size = a.post_size or (8192 if a.smoke else 65536)
    if a.tomcat_java_opts is None:
        a.tomcat_java_opts = "" if a.smoke else "-Xmx256m -XX:TieredStopAtLevel=4"
    a.out = a.out or str(REPO / "target" / ("bench-smoke" if a.smoke else "bench"))
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    a.connectors = [SHORT.get(c.strip(), c.strip()) for c in a.connectors.split(",") if c.strip()]
    a.tests = [t.strip() for t in a.tests.split(",") if t.strip()]
    for b in a.backends:
        if b not in ("fast", "tomcat"):
            ap.error(f"unknown backend {b}")
    for c in a.connectors:
        if c not in CONNECTORS:
            ap.error(f"unknown connector {c}")
    for t in a.tests:
        if t not in ("get_small", "get_large", "post"):
            ap.error(f"unknown test {t}")
    if a.rounds < 1 or a.duration <= 0:
        ap.error("--rounds must be >= 1 and --duration > 0")
    return a


def write_outputs(results: dict, out: Path, single: bool) -> bool:
    rows = summarize(results)
    results["summary"] = rows
    md = report_md(results, rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(md)
    (out / "bench.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "bench.svg").write_text(svg_chart(rows, "single ajp13 worker" if single else "load balancer"))
    try:
        png = png_chart(rows, out / "bench.png")
    except Exception as e:  # noqa: BLE001 - the PNG is optional, the SVG is always there
        log(f"no PNG chart: {e}")
        png = False
    print(md)
    return png


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    global TRANSPORT
    TRANSPORT = args.transport
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        out = Path(args.out)
        write_outputs(results, out if out.is_absolute() else Path.cwd() / out, results["args"]["single"])
        return 0
    # SIGINT too: a shell starting us in the background would have it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _to_interrupt)
    started = time.monotonic()
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    workdir = None
    try:
        for tool in ("wrk", APACHE2):
            if shutil.which(tool) is None:
                raise BenchError(f"{tool} is missing (bash apxs/install-deps.sh installs it)")
        mods = subprocess.run(["apxs", "-q", "LIBEXECDIR"], capture_output=True, text=True).stdout.strip() \
            if shutil.which("apxs") else "/usr/lib/apache2/modules"
        mods = mods or "/usr/lib/apache2/modules"
        if "mod_jk" in args.connectors and not Path(mods, "mod_jk.so").exists():
            raise BenchError(f"{mods}/mod_jk.so is missing: apt-get install libapache2-mod-jk")
        module = find_artifact(args.module, "libmod_rjk.so") if "mod_rjk" in args.connectors else None
        fakeajp = find_artifact(args.fakeajp, "rjk-fakeajp") if "fast" in args.backends else None
        if "tomcat" in args.backends and not TOMCAT_SH.exists():
            raise BenchError(f"{TOMCAT_SH} is missing")
        workdir = Path(tempfile.mkdtemp(prefix="rjk-bench-"))
        os.chmod(workdir, 0o755)
        tests = make_tests(args, workdir)
        results = {
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": "python3 tests/bench/bench.py " + " ".join(argv),
            "args": vars(args),
            "env": tool_versions(args.tomcat_java_opts),
            "phases": [],
        }
        log(f"work directory {workdir}; module {module}; mode {'single' if args.single else 'lb'}; "
            f"transport {args.transport}")
        for kind in args.backends:
            results["phases"].append(run_phase(args, kind, workdir, tests, module, fakeajp, mods))
        png = write_outputs(results, out, args.single)
        log(f"wrote {out}/bench.md, bench.json, bench.svg{', bench.png' if png else ''} in {time.monotonic() - started:.0f} s")
        bad = failures(results, args.strict)
        if bad:
            for b in bad:
                log(f"FAILED: {b}")
            return 1
        return 0
    except BenchError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        return 130
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        CLEANUP.run()
        if workdir is not None:
            if args.keep:
                log(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
