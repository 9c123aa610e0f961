#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests of the pure core, and the
# integration tests against the real Debian apache2, tomcat10 and the fake AJP backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash apxs/install-deps.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# The browser test's driver (playwright-core, pinned by package-lock.json).
npm ci --prefix tests/status_browser --no-audit --no-fund --loglevel=error
# Integration tests load target/debug/libmod_rjk.so and run target/debug/rjk-fakeajp.
cargo build --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test 2>&1 | tee "$log"
# The compose setup on a private container engine (docker/test/run.sh): about 2.5 min
# when its images are not cached yet, under a minute after a change to src/.
bash docker/test/run.sh
# Two minutes of prefork mod_rjk and mod_jk under graceful restarts, Tomcat kills, drains
# and aborted downloads: fails on a mixed or corrupted body, a crash or a leftover shm file.
python3 tests/soak/soak.py --short --module target/debug/libmod_rjk.so
# Every fuzz target for 20 s over its seed corpus (a longer run: bash fuzz/run.sh 3600).
bash fuzz/run.sh 20
# The benchmark script stays runnable: one short round checking that mod_rjk, mod_jk and
# mod_proxy_ajp return the right bytes (never a performance verdict).
python3 tests/bench/bench.py --smoke --module target/debug/libmod_rjk.so --fakeajp target/debug/rjk-fakeajp
# One closing line over every test binary cargo ran.
awk '/^test result:/ { p += $4; f += $6 } END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
