#!/usr/bin/env bash
# Builds mod_rjk in release mode and installs it into the running httpd's module
# directory with that httpd's own apxs, as mod_rjk.so, and rjk-check into a bin directory.
# For systems without Debian packaging; on Debian, `bash debian/build-deb.sh` builds the
# libapache2-mod-rjk package instead.
#   apxs/install.sh             build + install (+ Debian rjk.load/rjk.conf when /etc/apache2 exists)
#   apxs/install.sh --uninstall remove what install put there (an edited rjk.conf is kept)
# Environment:
#   APXS=/path/to/apxs          selects another httpd (its module directory, its headers)
#   CARGO_TARGET_DIR            where cargo builds (default: target/ of this checkout)
#   RJK_BINDIR                  where rjk-check goes (default: /usr/local/bin)
#   RJK_APACHE2_ETC             Debian's httpd configuration directory (default: /etc/apache2)
#   RJK_INSTALL_NO_DEBIAN=1     leave the Debian configuration alone (no rjk.load/rjk.conf)
set -euo pipefail
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
libexec=$("$APXS" -q LIBEXECDIR)
bindir=${RJK_BINDIR:-/usr/local/bin}
etc=${RJK_APACHE2_ETC:-/etc/apache2}
sysconf=$etc/mods-available
debian=1
if [ -n "${RJK_INSTALL_NO_DEBIAN:-}" ] || [ ! -d "$sysconf" ]; then
    debian=0
fi
if [ "$debian" = 1 ] && dpkg-query -W -f '${Status}' libapache2-mod-rjk 2>/dev/null | grep -q installed; then
    echo "install.sh: the Debian package libapache2-mod-rjk is installed and owns these files;" >&2
    echo "            upgrade it instead (bash debian/build-deb.sh; apt-get install ./target/debian/*.deb)." >&2
    exit 1
fi

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$libexec/mod_rjk.so" "$bindir/rjk-check" "$bindir/rjk-switch"
    if [ "$debian" = 1 ]; then
        rm -f "$etc/mods-enabled/rjk.load" "$etc/mods-enabled/rjk.conf" "$sysconf/rjk.load"
        # rjk.conf is the administrator's: removed only while it is the shipped one.
        if [ -e "$sysconf/rjk.conf" ] && ! cmp -s apxs/rjk.conf "$sysconf/rjk.conf"; then
            echo "Kept $sysconf/rjk.conf: it was edited (delete it by hand if it is no longer needed)"
        else
            rm -f "$sysconf/rjk.conf"
        fi
    fi
    echo "mod_rjk removed from $libexec"
    exit 0
fi

APXS="$APXS" cargo build --release --lib --bin rjk-check
target_dir=${CARGO_TARGET_DIR:-target}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# apxs installs a file under its own base name; cargo calls it libmod_rjk.so.
cp "$target_dir/release/libmod_rjk.so" "$stage/mod_rjk.so"
"$APXS" -i -n jk "$stage/mod_rjk.so"
install -d "$bindir"
install -m 0755 "$target_dir/release/rjk-check" "$bindir/rjk-check"
echo "Installed $bindir/rjk-check"

if [ "$debian" = 1 ]; then
    # Debian's libapache2-mod-jk owns jk.load/jk.conf: ours are rjk.*, and the two
    # modules must never be enabled together (both define jk_module).
    install -m 0755 debian/rjk-switch "$bindir/rjk-switch"
    install -m 0644 apxs/rjk.load "$sysconf/rjk.load"
    [ -e "$sysconf/rjk.conf" ] || install -m 0644 apxs/rjk.conf "$sysconf/rjk.conf"
    echo "Switch from mod_jk with: rjk-switch rjk   (and back: rjk-switch jk)"
fi
echo "Installed $libexec/mod_rjk.so"
