#!/usr/bin/env bash
# Builds mod_rjk in release mode and installs it into the running httpd's module
# directory with that httpd's own apxs, as mod_rjk.so.
#   apxs/install.sh             build + install (+ Debian rjk.load/rjk.conf when /etc/apache2 exists)
#   apxs/install.sh --uninstall remove what install put there
# Environment:
#   APXS=/path/to/apxs          selects another httpd (its module directory, its headers)
#   CARGO_TARGET_DIR            where cargo builds (default: target/ of this checkout)
#   RJK_INSTALL_NO_DEBIAN=1     leave /etc/apache2/mods-available alone (no rjk.load/rjk.conf)
set -euo pipefail
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
libexec=$("$APXS" -q LIBEXECDIR)
sysconf=/etc/apache2/mods-available
debian=1
if [ -n "${RJK_INSTALL_NO_DEBIAN:-}" ] || [ ! -d "$sysconf" ]; then
    debian=0
fi

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$libexec/mod_rjk.so"
    if [ "$debian" = 1 ]; then
        rm -f "$sysconf/rjk.load" "$sysconf/rjk.conf"
        rm -f /etc/apache2/mods-enabled/rjk.load /etc/apache2/mods-enabled/rjk.conf
    fi
    echo "mod_rjk removed from $libexec"
    exit 0
fi

APXS="$APXS" cargo build --release --lib
target_dir=${CARGO_TARGET_DIR:-target}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# apxs installs a file under its own base name; cargo calls it libmod_rjk.so.
cp "$target_dir/release/libmod_rjk.so" "$stage/mod_rjk.so"
"$APXS" -i -n jk "$stage/mod_rjk.so"

if [ "$debian" = 1 ]; then
    # Debian's libapache2-mod-jk owns jk.load/jk.conf: ours are rjk.*, and the two
    # modules must never be enabled together (both define jk_module).
    install -m 0644 apxs/rjk.load "$sysconf/rjk.load"
    [ -e "$sysconf/rjk.conf" ] || install -m 0644 apxs/rjk.conf "$sysconf/rjk.conf"
    echo "Enable with: a2dismod jk 2>/dev/null; a2enmod rjk; systemctl restart apache2"
fi
echo "Installed $libexec/mod_rjk.so"
