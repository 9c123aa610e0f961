#!/usr/bin/env bash
# Runs a private Debian tomcat10 on 127.0.0.1 for mod_rjk's integration tests.
#
#   tomcat.sh start BASE NAME AJP_PORT HTTP_PORT SHUTDOWN_PORT SECRET [PACKET_SIZE]
#       (Re)creates the CATALINA_BASE at BASE, deploys tests/tomcat/webapp as ROOT, starts
#       the JVM in the background, waits until Tomcat has started and listens on its three
#       ports, prints the pid.
#       NAME becomes the Engine's jvmRoute (and -Djvm.route for /echo and /session).
#   tomcat.sh stop BASE
#       SIGTERM to the pid in BASE/tomcat.pid, SIGKILL after 10 s.
#
# Environment (all optional):
#   WATCH_PID                 a watchdog kills the JVM once this process is gone, so no
#                             Tomcat outlives the test binary that started it
#   WATCH_RM_BASE=1           the watchdog also deletes BASE once WATCH_PID is gone
#   RJK_TOMCAT_ATTR_PATTERN   AJP allowedRequestAttributesPattern (default RJK_.*)
#   RJK_TOMCAT_MAX_THREADS    maxThreads of each connector (default 32)
#   RJK_TOMCAT_AJP_ATTRS      extra XML attributes for the AJP <Connector>, verbatim
#   RJK_TOMCAT_AJP_UNIX       a path: the AJP connector listens on this Unix domain socket
#                             (unixDomainSocketPath) instead of AJP_PORT, with permissions
#                             rw-rw-rw- unless RJK_TOMCAT_AJP_ATTRS sets
#                             unixDomainSocketPathPermissions; readiness waits for it
#   RJK_TOMCAT_AJP_UNIX_ALSO  a path: a second AJP connector (same settings, rw-rw-rw-) on
#                             this Unix domain socket, beside the one on AJP_PORT
#   RJK_TOMCAT_AJP_UNIX_DIR   MODE[:GROUP] of the socket's directory (default 0755; Tomcat
#                             refuses a directory more open than the socket's permissions)
#   RJK_TOMCAT_JAVA_OPTS      extra JVM options (after the defaults, so they win)
#   RJK_TOMCAT_START_TIMEOUT  seconds to wait for the ports (default 60)
#   RJK_TOMCAT_CACHE          where compiled webapp classes are cached
#                             (default ${TMPDIR:-/tmp}/rjk-tomcat-classes)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CATALINA_HOME=/usr/share/tomcat10
# Bash 5.2 would otherwise expand '&' in ${var//pat/repl} replacements to the match.
shopt -u patsub_replacement 2>/dev/null || true

die() {
    echo "tomcat.sh: $*" >&2
    exit 1
}

now_ms() { date +%s%3N; }

# Alive and not a zombie: the JVM's parent (this script) exits at once, and whoever
# inherits it (pid 1 in a container) may never reap it, so kill -0 alone would report a
# dead Tomcat as running.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case "${stat%% *}" in
        Z | X | x) return 1 ;;
        *) return 0 ;;
    esac
}

# Guards every signal we send against the pid having been reused by someone else.
is_ours() {
    tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "-Dcatalina.base=$2"
}

log_tail() {
    echo "---- last lines of $1/logs/catalina.out ----" >&2
    tail -n "${2:-60}" "$1/logs/catalina.out" >&2 2>/dev/null || true
}

# True if process $1 holds the listening socket on ${3:-127.0.0.1}:$2. A port that merely
# accepts may belong to someone else who took it between the caller's pick and our bind.
listens() {
    local pid=$1 inode fd hex a b c d
    IFS=. read -r a b c d <<<"${3:-127.0.0.1}"
    hex=$(printf '%02X%02X%02X%02X' "$d" "$c" "$b" "$a")
    # Java listens on IPv6 sockets; 127.0.0.1 then shows as ::ffff:127.0.0.1 in tcp6.
    inode=$(awk -v a="$hex:$(printf '%04X' "$2")" \
        'substr($2, length($2) - 12) == a && $4 == "0A" { print $10; exit }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    owns_socket "$pid" "$inode"
}

# True if process $1 has socket inode $2 open.
owns_socket() {
    local fd
    [ -n "$2" ] || return 1
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$2]" ] && return 0
    done
    return 1
}

# True if process $1 listens on the Unix domain socket at path $2.
listens_unix() {
    local inode
    inode=$(awk -v p="$2" '$8 == p && $4 == "00010000" { print $7; exit }' /proc/net/unix 2>/dev/null)
    owns_socket "$1" "$inode"
}

# The AJP connector is ready: on its Unix socket with RJK_TOMCAT_AJP_UNIX, else its port.
ajp_ready() {
    if [ -n "${RJK_TOMCAT_AJP_UNIX_ALSO:-}" ] && ! listens_unix "$1" "$RJK_TOMCAT_AJP_UNIX_ALSO"; then
        return 1
    fi
    if [ -n "${RJK_TOMCAT_AJP_UNIX:-}" ]; then
        listens_unix "$1" "$RJK_TOMCAT_AJP_UNIX"
    else
        listens "$1" "$2" "${RJK_TOMCAT_AJP_ADDRESS:-127.0.0.1}"
    fi
}

# The AJP <Connector> of template $1 once more, on the Unix socket $2 instead of port $3.
unix_twin() {
    local c=$1 path=$2 port=$3
    c=${c#*<Connector protocol=\"AJP/1.3\"}
    c=${c%%/>*}
    c=${c//address=\"127.0.0.1\"/}
    c=${c//port=\"$port\"/}
    printf '<Connector protocol="AJP/1.3" unixDomainSocketPath="%s" unixDomainSocketPathPermissions="rw-rw-rw-" %s/>\n    ' \
        "$(xml_escape "$path")" "$c"
}

xml_escape() {
    local s=$1
    s=${s//&/&amp;}
    s=${s//</&lt;}
    s=${s//>/&gt;}
    s=${s//\"/&quot;}
    s=${s//\'/&apos;}
    printf '%s' "$s"
}

# Kills the JVM of BASE: TERM, then KILL after `grace` seconds.
terminate() {
    local base=$1 pid=$2 grace=${3:-10} i
    alive "$pid" && is_ours "$pid" "$base" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    if alive "$pid" && is_ours "$pid" "$base"; then
        echo "tomcat.sh: $base: pid $pid ignored SIGTERM for ${grace}s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            alive "$pid" || return 0
            sleep 0.1
        done
        die "$base: pid $pid survived SIGKILL"
    fi
}

stop_watchdog() {
    local base=$1 wpid
    [ -f "$base/watchdog.pid" ] || return 0
    wpid=$(cat "$base/watchdog.pid")
    if alive "$wpid" && tr '\0' '\n' <"/proc/$wpid/cmdline" 2>/dev/null | grep -qxF -- "$base" &&
        tr '\0' '\n' <"/proc/$wpid/cmdline" | grep -qxF watch; then
        kill -TERM "$wpid" 2>/dev/null || true
    fi
    rm -f "$base/watchdog.pid"
}

# Compiles the webapp once per source version; concurrent starts race harmlessly because
# the finished directory appears with one rename.
compile_webapp() {
    local src="$HERE/webapp" cache key dir tmp
    cache=${RJK_TOMCAT_CACHE:-${TMPDIR:-/tmp}/rjk-tomcat-classes}
    key=$(cat "$src"/*.java | sha256sum | cut -c1-16)
    dir="$cache/$key"
    if [ ! -d "$dir" ]; then
        mkdir -p "$cache"
        tmp=$(mktemp -d "$cache/tmp.XXXXXX")
        if ! javac -nowarn -encoding UTF-8 -cp "$CATALINA_HOME/lib/servlet-api.jar" \
            -d "$tmp" "$src"/*.java >&2; then
            rm -rf "$tmp"
            die "javac failed on $src"
        fi
        mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
    fi
    printf '%s' "$dir"
}

cmd_start() {
    [ $# -ge 6 ] && [ $# -le 7 ] ||
        die "usage: tomcat.sh start BASE NAME AJP_PORT HTTP_PORT SHUTDOWN_PORT SECRET [PACKET_SIZE]"
    local base name=$2 ajp=$3 http=$4 shut=$5 secret=$6 packet=${7:-8192}
    base=$(realpath -m "$1")
    local t0
    t0=$(now_ms)

    if [ -f "$base/tomcat.pid" ]; then
        local old
        old=$(cat "$base/tomcat.pid")
        if alive "$old" && is_ours "$old" "$base"; then
            die "$base: already running as pid $old"
        fi
    fi
    stop_watchdog "$base"

    local etc=$CATALINA_HOME/etc
    [ -f "$etc/server.xml" ] || etc=/etc/tomcat10
    mkdir -p "$base"/{conf,logs,work,temp,webapps/ROOT/WEB-INF}
    cp -r "$etc"/. "$base/conf/"
    # Our own server.xml, context.xml and logging.properties; the rest (catalina.properties,
    # the global web.xml with its MIME types and default servlet) is Debian's.
    cp "$HERE/context.xml" "$HERE/logging.properties" "$base/conf/"

    local tpl
    tpl=$(<"$HERE/server.xml.in")
    tpl=${tpl//@NAME@/$(xml_escape "$name")}
    tpl=${tpl//@AJP_PORT@/$ajp}
    tpl=${tpl//@AJP_ADDRESS@/${RJK_TOMCAT_AJP_ADDRESS:-127.0.0.1}}
    tpl=${tpl//@HTTP_PORT@/$http}
    tpl=${tpl//@SHUTDOWN_PORT@/$shut}
    tpl=${tpl//@SECRET@/$(xml_escape "$secret")}
    tpl=${tpl//@PACKET_SIZE@/$packet}
    tpl=${tpl//@ATTR_PATTERN@/$(xml_escape "${RJK_TOMCAT_ATTR_PATTERN:-RJK_.*}")}
    tpl=${tpl//@MAX_THREADS@/${RJK_TOMCAT_MAX_THREADS:-32}}
    local ajp_extra=${RJK_TOMCAT_AJP_ATTRS:-}
    if [ -n "${RJK_TOMCAT_AJP_UNIX:-}" ]; then
        # A socket left by a killed JVM would make the bind fail.
        [ -S "$RJK_TOMCAT_AJP_UNIX" ] && rm -f "$RJK_TOMCAT_AJP_UNIX"
        local sdir spec=${RJK_TOMCAT_AJP_UNIX_DIR:-0755}
        sdir=$(dirname "$RJK_TOMCAT_AJP_UNIX")
        mkdir -p "$sdir"
        chmod "${spec%%:*}" "$sdir"
        case "$spec" in *:*) chgrp "${spec#*:}" "$sdir" ;; esac
        ajp_extra="unixDomainSocketPath=\"$(xml_escape "$RJK_TOMCAT_AJP_UNIX")\" $ajp_extra"
        case "$ajp_extra" in
            *unixDomainSocketPathPermissions*) ;;
            *) ajp_extra="$ajp_extra unixDomainSocketPathPermissions=\"rw-rw-rw-\"" ;;
        esac
    fi
    if [ -n "${RJK_TOMCAT_AJP_UNIX_ALSO:-}" ]; then
        [ -S "$RJK_TOMCAT_AJP_UNIX_ALSO" ] && rm -f "$RJK_TOMCAT_AJP_UNIX_ALSO"
        mkdir -p "$(dirname "$RJK_TOMCAT_AJP_UNIX_ALSO")"
        local twin
        twin=$(unix_twin "$tpl" "$RJK_TOMCAT_AJP_UNIX_ALSO" "$ajp")
        tpl=${tpl/<Engine /$twin<Engine }
    fi
    tpl=${tpl//@AJP_EXTRA@/$ajp_extra}
    printf '%s\n' "$tpl" >"$base/conf/server.xml"

    local classes
    classes=$(compile_webapp)
    rm -rf "$base/webapps/ROOT/WEB-INF/classes"
    cp -r "$classes" "$base/webapps/ROOT/WEB-INF/classes"
    cp "$HERE/webapp/WEB-INF/web.xml" "$base/webapps/ROOT/WEB-INF/web.xml"
    rm -rf "$base/webapps/ROOT/jsp"
    cp -r "$HERE/webapp/jsp" "$base/webapps/ROOT/jsp"

    local t_java
    t_java=$(now_ms)
    local log_start
    log_start=$(stat -c %s "$base/logs/catalina.out" 2>/dev/null || echo 0)
    echo "==== tomcat.sh start $name ajp=$ajp http=$http shutdown=$shut packet=$packet $(date -Is)" \
        >>"$base/logs/catalina.out"
    # C1 only, SerialGC, small heap and stacks: a JVM that starts in about a second and
    # leaves CPU for httpd on 2 cores (RJK_TOMCAT_JAVA_OPTS=-XX:TieredStopAtLevel=4 etc.
    # undoes it for benchmarks). The --add-opens are what catalina.sh passes.
    # shellcheck disable=SC2086
    java -Xmx128m -XX:+UseSerialGC -Xss512k -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
        -Djava.security.egd=file:/dev/./urandom \
        --add-opens=java.base/java.lang=ALL-UNNAMED \
        --add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
        --add-opens=java.base/java.io=ALL-UNNAMED \
        --add-opens=java.base/java.util=ALL-UNNAMED \
        --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
        --add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED \
        -Djava.util.logging.config.file="$base/conf/logging.properties" \
        -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \
        -Djava.protocol.handler.pkgs=org.apache.catalina.webresources \
        -Djvm.route="$name" \
        -Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true \
        ${RJK_TOMCAT_JAVA_OPTS:-} \
        -classpath "$CATALINA_HOME/bin/bootstrap.jar:$CATALINA_HOME/bin/tomcat-juli.jar" \
        -Dcatalina.base="$base" -Dcatalina.home="$CATALINA_HOME" -Djava.io.tmpdir="$base/temp" \
        org.apache.catalina.startup.Bootstrap start \
        </dev/null >>"$base/logs/catalina.out" 2>&1 &
    local jpid=$!
    echo "$jpid" >"$base/tomcat.pid"

    if [ -n "${WATCH_PID:-}" ]; then
        bash "$HERE/tomcat.sh" watch "$base" "$jpid" "$WATCH_PID" </dev/null >/dev/null 2>&1 &
        echo "$!" >"$base/watchdog.pid"
    fi

    local timeout=${RJK_TOMCAT_START_TIMEOUT:-60} deadline
    deadline=$(($(now_ms) + timeout * 1000))
    # Ready: Catalina has finished starting (webapp deployed) in this run, and the JVM
    # owns all three ports (the shutdown port is bound last, after that log line).
    while ! { grep -q 'Catalina.start Server startup in' < <(tail -c +$((log_start + 1)) "$base/logs/catalina.out") &&
        ajp_ready "$jpid" "$ajp" && listens "$jpid" "$http" && listens "$jpid" "$shut"; }; do
        if ! alive "$jpid"; then
            log_tail "$base"
            die "$base: java (pid $jpid) exited during start"
        fi
        if [ "$(now_ms)" -gt "$deadline" ]; then
            log_tail "$base"
            terminate "$base" "$jpid" 5 || true
            die "$base: not ready after ${timeout}s (AJP port $ajp, HTTP port $http, shutdown port $shut)"
        fi
        sleep 0.1
    done
    local t1
    t1=$(now_ms)
    echo "tomcat.sh: $name (pid $jpid) ready in $((t1 - t0)) ms ($((t1 - t_java)) ms JVM)" >&2
    echo "$jpid"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: tomcat.sh stop BASE"
    local base
    base=$(realpath -m "$1")
    # The watchdog first: it would otherwise act on the stopped instance (and on a new one
    # started on the same BASE).
    stop_watchdog "$base"
    [ -f "$base/tomcat.pid" ] || return 0
    terminate "$base" "$(cat "$base/tomcat.pid")" 10
    rm -f "$base/tomcat.pid"
}

# Internal: the watchdog started by cmd_start (its argv is how stop_watchdog finds it).
cmd_watch() {
    local base=$1 jpid=$2 watch=$3
    trap '' INT HUP
    while alive "$watch" && alive "$jpid"; do sleep 1; done
    terminate "$base" "$jpid" 10 || true
    if [ "${WATCH_RM_BASE:-}" = 1 ] && ! alive "$watch"; then
        rm -rf "$base"
    fi
}

case "${1:-}" in
    start)
        shift
        cmd_start "$@"
        ;;
    stop)
        shift
        cmd_stop "$@"
        ;;
    watch)
        shift
        cmd_watch "$@"
        ;;
    *) die "usage: tomcat.sh start BASE NAME AJP_PORT HTTP_PORT SHUTDOWN_PORT SECRET [PACKET_SIZE] | stop BASE" ;;
esac
