#!/usr/bin/env bash
# Run by tests/debian_package.rs as `unshare -m --propagation private bash switch.sh`:
# /etc, /usr, /var and /run become overlays on $WORK, so Debian's real apache2,
# libapache2-mod-jk and the libapache2-mod-rjk package under test install, configure and
# run as on a Debian machine, and all of it vanishes with the mount namespace.
# Prints what it observes as `OBS key=value` lines; the Rust test judges them.
# Input: DEB (the package), HOST and PORT (the Listen address, a 127.x.y.z literal and a
# port), WORKERS (a workers.properties with an lb "load_balancer" and a status worker
# "jkstatus"), WORK (a scratch directory). Exits 75 when apache2 finds HOST:PORT taken, so
# that the caller can try another address.
set -euo pipefail
: "${DEB:?}" "${HOST:?}" "${PORT:?}" "${WORKERS:?}" "${WORK:?}"
for d in etc usr var run; do
    mkdir -p "$WORK/ov/$d/u" "$WORK/ov/$d/w"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/ov/$d/u,workdir=$WORK/ov/$d/w" "/$d"
done
export DEBIAN_FRONTEND=noninteractive
# An apache2 of the machine itself is none of ours: its pid file must not stop ours.
rm -f /run/apache2/apache2.pid
# A machine's own invoke-rc.d policy (containers forbid service actions) is not Debian's.
rm -f /usr/sbin/policy-rc.d
# Without an init, invoke-rc.d cannot tell the runlevel: answer as a sysvinit machine in
# runlevel 2 does, so the maintainer scripts act on apache2 as on a booted machine.
if ! /sbin/runlevel >/dev/null 2>&1; then
    rm -f /usr/sbin/runlevel
    printf '#!/bin/sh\necho "N 2"\n' > /usr/sbin/runlevel
    chmod 755 /usr/sbin/runlevel
fi
obs() { printf 'OBS %s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ')"; }
server() { curl -s -o /dev/null -D - "http://$HOST:$PORT/echo" | sed -n 's/^Server: //Ip' | tr -d '\r'; }
routes() {
    local out=()
    for _ in 1 2 3 4 5 6 7 8 9; do
        out+=("$(curl -s --max-time 10 "http://$HOST:$PORT/echo" | sed -n 's/^route=//p' | head -n1)")
    done
    (IFS=,; echo "${out[*]}")
}
wait_up() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://$HOST:$PORT/" && return 0
        sleep 0.1
    done
    return 1
}
phase() {
    wait_up || true
    obs "$1.server" "$(server)"
    obs "$1.routes" "$(routes)"
}

# A Debian machine serving through mod_jk with the site's configuration in jk.conf: no
# mod_rjk of an earlier package or of apxs/install.sh (apxs/quickstart.sh runs that).
dpkg --purge libapache2-mod-rjk >/dev/null 2>&1 || true
rm -f /etc/apache2/mods-enabled/rjk.* /etc/apache2/mods-available/rjk.* \
    /usr/lib/apache2/modules/mod_rjk.so /usr/local/bin/rjk-check /usr/local/bin/rjk-switch
echo "Listen $HOST:$PORT" > /etc/apache2/ports.conf
# Debian's ServerTokens OS hides the modules' tokens in the Server header.
sed -i 's/^ServerTokens .*/ServerTokens Full/' /etc/apache2/conf-available/security.conf
a2dissite -q 000-default >/dev/null
a2enmod -q jk >/dev/null
cp "$WORKERS" /etc/libapache2-mod-jk/workers.properties
cat > /etc/apache2/mods-available/jk.conf <<'CONF'
<IfModule jk_module>
    JkWorkersFile /etc/libapache2-mod-jk/workers.properties
    JkLogFile /var/log/apache2/mod_jk.log
    JkLogLevel info
    JkShmFile /var/log/apache2/jk-runtime-status
    JkMount /echo load_balancer
    JkMount /echo/* load_balancer
    <Location /jk-status>
        JkMount jkstatus
        Require ip 127.0.0.1
    </Location>
</IfModule>
CONF
if ! out=$(apache2ctl start 2>&1); then
    echo "$out" >&2
    case $out in *"Address already in use"*) exit 75 ;; esac
    exit 1
fi
phase jk

# The package installs beside the enabled jk without enabling rjk.
set +e
out=$(dpkg -i "$DEB" 2>&1); obs install.rc $?; obs install.out "$out"
obs install.rjk_state "$(a2query -m rjk 2>&1)"
obs install.rjk_check "$(command -v rjk-check)"
obs install.rjk_switch "$(command -v rjk-switch)"
out=$(a2enmod rjk 2>&1); obs a2enmod.rc $?; obs a2enmod.out "$out"
phase installed

# Both enabled by hand: the configuration check fails and says why.
ln -s ../mods-available/rjk.load /etc/apache2/mods-enabled/rjk.load
out=$(apache2ctl -t 2>&1); obs both.rc $?; obs both.out "$out"
rm /etc/apache2/mods-enabled/rjk.load

# A mount of a worker that workers.properties does not define (as Debian's stock jk.conf
# has for jk-manager): mod_jk starts with it, mod_rjk refuses it, so the switch goes back.
cp /etc/apache2/mods-available/jk.conf "$WORK/jk.conf.site"
sed -i 's|^</IfModule>|    <Location /jk-manager>\n        JkMount jk-manager\n    </Location>\n</IfModule>|' \
    /etc/apache2/mods-available/jk.conf
out=$(rjk-switch rjk 2>&1); obs refused.rc $?; obs refused.out "$out"
obs refused.jk_state "$(a2query -m jk 2>&1)"
phase refused
cp "$WORK/jk.conf.site" /etc/apache2/mods-available/jk.conf

out=$(rjk-switch rjk 2>&1); obs to_rjk.rc $?; obs to_rjk.out "$out"
phase rjk
out=$(rjk-switch jk 2>&1); obs to_jk.rc $?; obs to_jk.out "$out"
phase back
rjk-switch rjk >/dev/null 2>&1

# Remove keeps the conffiles and disables the module; purge deletes them.
out=$(dpkg -r libapache2-mod-rjk 2>&1); obs remove.rc $?
for f in /etc/apache2/mods-available/rjk.conf /etc/apache2/mods-available/rjk.load \
    /usr/lib/apache2/modules/mod_rjk.so /usr/bin/rjk-check /etc/apache2/mods-enabled/rjk.load; do
    obs "remove.exists.$f" "$([ -e "$f" ] && echo yes || echo no)"
done
out=$(dpkg --purge libapache2-mod-rjk 2>&1); obs purge.rc $?
for f in /etc/apache2/mods-available/rjk.conf /etc/apache2/mods-available/rjk.load; do
    obs "purge.exists.$f" "$([ -e "$f" ] && echo yes || echo no)"
done

# A first installation on a machine where jk is not enabled enables rjk and restarts
# the running apache2, which then serves the site's jk.conf through mod_rjk.
a2dismod -q jk >/dev/null
apache2ctl restart >/dev/null 2>&1
wait_up
obs nomod.server "$(server)"
out=$(dpkg -i "$DEB" 2>&1); obs fresh.rc $?; obs fresh.out "$out"
obs fresh.rjk_state "$(a2query -m rjk 2>&1)"
phase fresh

# Removed and installed again while apache2 is stopped: enabled, and apache2 stays stopped.
dpkg -r libapache2-mod-rjk >/dev/null 2>&1
pid=$(cat /run/apache2/apache2.pid)
apache2ctl stop >/dev/null 2>&1
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
out=$(dpkg -i "$DEB" 2>&1); obs stopped.rc $?; obs stopped.out "$out"
obs stopped.rjk_state "$(a2query -m rjk 2>&1)"
obs stopped.http "$(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$PORT/")"
apache2ctl start >/dev/null 2>&1
phase started
set -e
apache2ctl stop >/dev/null 2>&1 || true
for _ in $(seq 1 100); do
    [ -e /run/apache2/apache2.pid ] || break
    sleep 0.1
done
echo "switch.sh done"
