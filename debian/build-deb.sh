#!/usr/bin/env bash
# Builds the Debian package: target/debian/libapache2-mod-rjk_<version>_<arch>.deb.
#   bash debian/build-deb.sh
# Needs a Rust toolchain on PATH (cargo, rustc >= 1.85) and Debian's debhelper,
# apache2-dev (dh_apache2) and libclang-dev, which it installs when missing.
# CARGO_TARGET_DIR is honoured (default: target/ of this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(debhelper dpkg-dev apache2-dev libclang-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
version=$(dpkg-parsechangelog -S Version)
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
if [ "$version" != "$cargo_version" ]; then
    echo "build-deb.sh: debian/changelog says $version, Cargo.toml $cargo_version: add a changelog entry" >&2
    exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# dpkg-buildpackage writes its results next to the source tree: move them under target/.
out=$CARGO_TARGET_DIR/debian
mkdir -p "$out"
base=libapache2-mod-rjk_${version}_${arch}
dpkg-buildpackage -b -us -uc --no-sign
for f in "../$base.deb" "../$base.buildinfo" "../$base.changes"; do
    [ -e "$f" ] && mv -f "$f" "$out/"
done
debian/rules clean >/dev/null
echo "Built $out/$base.deb"
