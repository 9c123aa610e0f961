#!/usr/bin/env python3
"""Where one httpd child spends its time per request, per connector (analysis, not a test).

    cargo build --release
    python3 tests/bench/httpd_profile.py --backend fast --out target/profile
    python3 tests/bench/httpd_profile.py --backend tomcat --connectors jk,rjk,static

For each connector (mod_rjk, mod_jk, the static floor; see bench.py) it starts the
backends and one httpd with a single event-MPM child (25 threads) through bench.py's own
classes, warms it up (30 requests, then `wrk -t1 -c16` for 5 s), and then measures GET
/size/SIZE (or with --post a POST of SIZE bytes to /echo) on the lb port three ways:

  * strace -f of the child during REQUESTS sequential requests on one keep-alive connection:
    system calls per request by name, the sizes that read/recv/writev returned;
  * perf stat of the child during `wrk -t1 -c16 -d5s`: task-clock, context switches and
    page faults per request, and system calls per request from the syscall tracepoints
    (the same counts under load, at no tracing cost);
  * perf record -e cpu-clock -g of the child during another 5 s wrk run: the top
    symbols, kernel included.

Needs strace, perf (linux-perf) and wrk, and the right to trace another process (root,
or kernel.perf_event_paranoid <= 1 and ptrace allowed). Hardware counters are not needed:
virtual machines often have none. Output: OUT/report.txt (printed too), the raw
strace logs, perf data and perf reports.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

ONE_CHILD = """\
StartServers 1
ServerLimit 1
ThreadLimit 25
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15
"""
IO_CALLS = ("read", "recvfrom", "recvmsg", "readv", "write", "writev", "sendto", "sendmsg", "sendfile")
TRACEPOINTS = ("raw_syscalls:sys_enter", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_read",
               "syscalls:sys_enter_writev", "syscalls:sys_enter_poll", "syscalls:sys_enter_futex")
SYSCALL_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>.*|(\w+)\((.*))\s+=\s+(-?\d+|\?)")


class Load:
    """GET /size/SIZE, or with --post a POST of SIZE bytes to /echo."""

    def __init__(self, size: int, post: bool, workdir: Path) -> None:
        self.size, self.post = size, post
        self.path = "/echo" if post else f"/size/{size}"
        self.body = bench.post_body(size) if post else None
        self.lua = None
        if post:
            (workdir / "post-body.bin").write_bytes(self.body)
            self.lua = workdir / "post.lua"
            self.lua.write_text(bench.LUA_POST.format(path=workdir / "post-body.bin"))
        self.label = f"{'POST' if post else 'GET'} {size} B"

    def sequential(self, port: int, n: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(n):
                c.request("POST" if self.post else "GET", self.path, body=self.body)
                r = c.getresponse()
                data = r.read()
                if r.status != 200 or (not self.post and len(data) != self.size):
                    raise bench.BenchError(f"{self.label}: HTTP {r.status}, {len(data)} bytes")
        finally:
            c.close()

    def wrk(self, port: int, seconds: int) -> int:
        cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s"] + (["-s", str(self.lua)] if self.lua else [])
        out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{self.path}"], capture_output=True, text=True,
                             timeout=seconds + 30).stdout
        m = re.search(r"(\d+) requests in", out)
        if not m:
            raise bench.BenchError(f"cannot parse wrk output:\n{out}")
        return int(m.group(1))


def size_class(n: int) -> str:
    for b in (64, 1024, 8192, 16384, 32768, 65536, 131072, 262144, 1 << 20):
        if n <= b:
            return f"<={b // 1024} KiB" if b >= 1024 else f"<={b} B"
    return ">1 MiB"


def parse_strace(path: Path):
    calls: Counter = Counter()
    sizes: dict[str, Counter] = defaultdict(Counter)
    nbytes: Counter = Counter()
    for line in open(path, errors="replace"):
        m = SYSCALL_LINE.match(line)
        if "unfinished ..." in line or not m:
            continue
        name, ret = m.group(2) or m.group(3), m.group(5)
        calls[name] += 1
        if name in IO_CALLS and ret != "?":
            n = int(ret)
            sizes[name][size_class(n) if n > 0 else f"returned {n}"] += 1
            nbytes[name] += max(n, 0)
    return calls, sizes, nbytes


def stop(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)


def trace_syscalls(child: int, port: int, load: Load, n: int, out: Path) -> list[str]:
    st = subprocess.Popen(["strace", "-f", "-qq", "-s", "0", "-o", str(out), "-p", str(child)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached to every thread
    load.sequential(port, n)
    time.sleep(0.5)
    stop(st)
    calls, sizes, nbytes = parse_strace(out)
    lines = [f"strace, {n} sequential requests on one connection: system calls per request (all threads of the child)"]
    lines += [f"  {name:<16} {c / n:8.2f}" for name, c in calls.most_common()]
    lines.append(f"  {'total':<16} {sum(calls.values()) / n:8.2f}")
    for name in sorted(sizes):
        dist = ", ".join(f"{k}: {v / n:.2f}" for k, v in sorted(sizes[name].items()))
        lines.append(f"  {name} per request by size returned: {dist}; {nbytes[name] / n:.0f} bytes per request")
    return lines


def perf_stat(child: int, port: int, load: Load, out: Path) -> list[str]:
    events = "task-clock,context-switches,cpu-migrations,page-faults," + ",".join(TRACEPOINTS)
    ps = subprocess.Popen(["perf", "stat", "-e", events, "-p", str(child), "-o", str(out)])
    time.sleep(0.3)
    reqs = load.wrk(port, 5)
    stop(ps)
    lines = [f"perf stat under wrk -t1 -c16 -d5s: {reqs} requests ({reqs / 5:.0f}/s), per request:"]
    for line in open(out):
        m = re.match(r"\s*([\d,.]+)\s+(msec\s+)?(task-clock|context-switches|cpu-migrations|page-faults|\S*sys_enter\S*)", line)
        if m:
            v = float(m.group(1).replace(",", ""))
            what = m.group(3)
            lines.append(f"  {what:<28} {v * 1000 / reqs:10.1f} µs" if what == "task-clock" else f"  {what:<28} {v / reqs:10.2f}")
    return lines


def perf_record(child: int, port: int, load: Load, data: Path, report: Path) -> list[str]:
    pr = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-o", str(data), "-p", str(child)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    load.wrk(port, 5)
    stop(pr)
    lines = ["perf record -e cpu-clock under wrk -t1 -c16 -d5s: share of samples"]
    for sort, top in (("dso", 6), ("dso,sym", 16)):
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort, "-g", "none"],
                             capture_output=True, text=True).stdout
        if sort == "dso,sym":
            report.write_text(rep)
        lines += ["  " + " ".join(x.split()) for x in rep.splitlines() if x.strip() and not x.startswith("#")][:top]
    return lines


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="fast", choices=("fast", "tomcat"))
    ap.add_argument("--connectors", default="rjk,jk,static", help="comma list of rjk,jk,static,proxy")
    ap.add_argument("--size", type=int, default=1048576, help="response size, or with --post the body's (default 1 MiB)")
    ap.add_argument("--post", action="store_true", help="POST --size bytes to /echo instead of GET /size/SIZE")
    ap.add_argument("--requests", type=int, default=50, help="sequential GETs under strace (default 50)")
    ap.add_argument("--module", default=None)
    ap.add_argument("--fakeajp", default=None)
    ap.add_argument("--out", default=str(bench.REPO / "target" / "profile"))
    ap.add_argument("--transport", choices=("tcp", "unix"), default="tcp",
                    help="unix: mod_rjk and mod_proxy_ajp reach the backends over Unix domain sockets")
    a = ap.parse_args(argv)
    bench.TRANSPORT = a.transport
    for tool in ("strace", "perf", "wrk"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            print(f"{tool} is missing", file=sys.stderr)
            return 2
    conns = [bench.SHORT.get(c.strip(), c.strip()) for c in a.connectors.split(",") if c.strip()]
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    bench.EVENT_MPM = ONE_CHILD
    tests = [{"name": "get", "method": "GET", "path": f"/size/{a.size}", "size": a.size}]
    module = bench.find_artifact(a.module, "libmod_rjk.so")
    wd = Path(tempfile.mkdtemp(prefix="rjk-profile-"))
    os.chmod(wd, 0o755)
    load = Load(a.size, a.post, wd)
    report = [f"# {load.label}, {a.backend} backends, one httpd child (25 threads), lb port", ""]
    try:
        if a.backend == "tomcat":
            be: bench.Backends = bench.TomcatBackends(wd, "-Xmx256m -XX:TieredStopAtLevel=4", 64)
        else:
            be = bench.FastBackends(bench.find_artifact(a.fakeajp, "rjk-fakeajp"), wd)
        for c in conns:
            h = bench.Httpd(wd, c, be.ports, module, "/usr/lib/apache2/modules")
            if c == bench.FLOOR:
                bench.write_floor_files(h.root / "htdocs", be, tests)
            h.start()
            child = h.children()[0]
            load.sequential(h.lb_port, 30)
            load.wrk(h.lb_port, 5)
            report.append(f"## {c}")
            report += trace_syscalls(child, h.lb_port, load, a.requests, out / f"strace-{c}.txt")
            report += perf_stat(child, h.lb_port, load, out / f"perfstat-{c}.txt")
            report += perf_record(child, h.lb_port, load, out / f"perf-{c}.data", out / f"perf-{c}.txt")
            report.append("")
            h.stop()
    except bench.BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        bench.CLEANUP.run()
        subprocess.run(["rm", "-rf", str(wd)], check=False)
    text = "\n".join(report)
    (out / "report.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
