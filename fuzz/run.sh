#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 20) over its checked-in seed
# corpus. Any crash or failed assertion, any input taking longer than PER_INPUT_TIMEOUT
# (a hang) and any run above RSS_LIMIT_MB (unbounded allocation) fails the script; the
# reproducer lands in fuzz/artifacts/<target>/.
#
#   bash fuzz/run.sh          # CI: about 20 s per target
#   bash fuzz/run.sh 3600     # a long run: one hour per target
#
# The targets are built with debug assertions and overflow checks but without
# AddressSanitizer: the code under test is safe Rust, so ASan would only halve the build
# speed and quarter the executions. RJK_FUZZ_SANITIZER=address turns it on (nightly only).
# cargo-fuzz wants a nightly compiler; without one (and without rustup to fetch it) the
# stable compiler builds the targets with RUSTC_BOOTSTRAP=1. RJK_FUZZ_STABLE=1 forces that.
set -euo pipefail
secs=${1:-20}
cd "$(dirname "$0")"

PER_INPUT_TIMEOUT=10
RSS_LIMIT_MB=512
MALLOC_LIMIT_MB=128
MAX_LEN=4096

die() {
    echo "fuzz/run.sh: FAILED: $*" >&2
    exit 1
}
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer, not '$secs'"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || die "cannot install cargo-fuzz"
    cargo fuzz --version >/dev/null 2>&1 || die "cargo-fuzz installed but 'cargo fuzz' does not run (is ~/.cargo/bin on PATH?)"
fi

toolchain=()
sanitizer=${RJK_FUZZ_SANITIZER:-none}
build_flags=(--sanitizer "$sanitizer")
if [ "${RJK_FUZZ_STABLE:-0}" != 1 ] && cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
elif [ "${RJK_FUZZ_STABLE:-0}" != 1 ] && command -v rustup >/dev/null &&
    rustup toolchain install nightly --profile minimal && cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    [ "$sanitizer" = none ] || die "RJK_FUZZ_SANITIZER=$sanitizer needs a nightly toolchain"
    echo "fuzz/run.sh: no nightly toolchain: building with $(cargo --version) and RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi

# libFuzzer's runtime is C++; Debian's clang (a build dependency) serves when g++ is absent.
if ! command -v c++ >/dev/null && [ -z "${CXX:-}" ]; then
    command -v clang++ >/dev/null || die "a C++ compiler (c++ or clang++) is needed to build libFuzzer"
    export CXX=clang++
fi

cargo "${toolchain[@]}" fuzz build "${build_flags[@]}" || die "the fuzz targets do not build"
mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
[ ${#targets[@]} -gt 0 ] || die "cargo fuzz list found no targets"

# Targets run side by side, one per core (RJK_FUZZ_JOBS overrides).
jobs=${RJK_FUZZ_JOBS:-$(nproc)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "RJK_FUZZ_JOBS must be a positive integer, not '$jobs'"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fuzz_one() {
    local t=$1 rc=0
    # New inputs go to a scratch directory, so the checked-in seeds stay hand-made.
    mkdir "$work/$t"
    cargo "${toolchain[@]}" fuzz run "${build_flags[@]}" "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout="$PER_INPUT_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" \
        -malloc_limit_mb="$MALLOC_LIMIT_MB" -max_len="$MAX_LEN" -print_final_stats=1 \
        >"$work/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$t.rc"
}

for t in "${targets[@]}"; do
    [ -n "$(ls -A "corpus/$t" 2>/dev/null)" ] || die "target $t has no seed corpus in fuzz/corpus/$t"
done
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        sleep 1
    done
    echo "fuzz/run.sh: $t for ${secs}s" >&2
    fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
    rc=$(cat "$work/$t.rc" 2>/dev/null || echo missing)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    if [ "$rc" != 0 ]; then
        tail -n 60 "$work/$t.log" >&2
        echo "fuzz/run.sh: $t: crash, hang or memory limit (exit $rc); reproduce with:" \
            "cd fuzz && cargo ${toolchain[*]} fuzz run ${build_flags[*]} $t artifacts/$t/<file>" >&2
        failed+=("$t")
    elif [ "${runs:-0}" -le 0 ]; then
        tail -n 20 "$work/$t.log" >&2
        echo "fuzz/run.sh: $t executed no inputs" >&2
        failed+=("$t")
    else
        echo "fuzz/run.sh: $t: $runs inputs, no failure" >&2
    fi
done
[ ${#failed[@]} -eq 0 ] || die "${failed[*]}"
echo "fuzz/run.sh: ${#targets[@]} targets, ${secs}s each, no failures" >&2
