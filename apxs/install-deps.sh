#!/usr/bin/env bash
# Installs the Debian 12 packages mod_rjk builds and tests with. Idempotent.
set -euo pipefail
PKGS=(apache2 apache2-dev libclang-dev clang binutils curl tomcat10 default-jdk-headless libapache2-mod-jk debhelper dpkg-dev wrk chromium python3 valgrind)
# The browser test drives Chromium with Node; use the machine's node when it has one.
command -v node >/dev/null || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The distribution starts its own apache2/tomcat10 services where it can; ours run privately.
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required: https://rustup.rs" >&2; exit 1; }
