#!/usr/bin/env bash
# Builds the base image of the compose setup from Debian's packages, without any
# container registry: debootstrap (minbase) into a directory, then `docker import`.
#   bash docker/base.sh [IMAGE]      default localhost/mod_rjk/debian:trixie
# The mirror is the first Debian one in this machine's apt sources (override with
# RJK_DEBIAN_MIRROR), and the machine's local CA certificates are trusted in the image; the suite is RJK_DEBIAN_SUITE (default trixie: the first Debian
# release whose rustc builds mod_rjk). DOCKER (default docker) names the client, so
# podman works too.
set -euo pipefail
image=${1:-localhost/mod_rjk/debian:trixie}
suite=${RJK_DEBIAN_SUITE:-trixie}
docker=${DOCKER:-docker}

mirror_of_apt_sources() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
    done
    if [ -e /etc/apt/sources.list ]; then
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) print $i; break } }' /etc/apt/sources.list
    fi
}
mirror=${RJK_DEBIAN_MIRROR:-$(mirror_of_apt_sources | head -n1)}
[ -n "$mirror" ] || { echo "base.sh: no Debian mirror in the apt sources; set RJK_DEBIAN_MIRROR" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

root=$(mktemp -d /var/tmp/mod_rjk-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base.sh: debootstrap $suite from the mirror of the apt sources"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# The same mirror for apt-get inside the images; no caches, no machine identity.
printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "$suite" "$suite" >"$root/etc/apt/sources.list.d/debian.sources"
rm -f "$root/etc/apt/sources.list"
# The machine's own local CA certificates (as update-ca-certificates takes them), so the
# images trust what the machine trusts (the crate downloads of the build included).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
: >"$root/etc/machine-id"
tar -C "$root" -c . | "$docker" import \
    --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$image"
echo "base.sh: built $image"
