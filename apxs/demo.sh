#!/usr/bin/env bash
# The main job: httpd with mod_rjk on 127.0.0.1:8080 in front of three Tomcat 10
# instances (AJP on 18009/28009/38009, jvmRoute tomcat1..3), configured from
# conf-examples/, with the status manager at /jkmanager/.
#   apxs/demo.sh start | stop | status
# RJK_DEMO_DIR (default /var/tmp/mod_rjk-demo) holds every file it creates.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
DEMO=${RJK_DEMO_DIR:-/var/tmp/mod_rjk-demo}
PORT=${RJK_DEMO_PORT:-8080}
SECRET=${RJK_DEMO_SECRET:-demo-secret}
MODULES=$(apxs -q LIBEXECDIR)

stop() {
    if [ -f "$DEMO/httpd/logs/httpd.pid" ]; then
        kill "$(cat "$DEMO/httpd/logs/httpd.pid")" 2>/dev/null || true
        rm -f "$DEMO/httpd/logs/httpd.pid"
    fi
    for i in 1 2 3; do
        [ -d "$DEMO/tomcat$i" ] && bash tests/tomcat/tomcat.sh stop "$DEMO/tomcat$i" || true
    done
}

start() {
    stop
    mkdir -p "$DEMO"
    for i in 1 2 3; do
        bash tests/tomcat/tomcat.sh start "$DEMO/tomcat$i" "tomcat$i" "${i}8009" "${i}8080" "${i}8005" "$SECRET" >/dev/null &
    done
    wait
    local root=$DEMO/httpd
    mkdir -p "$root"/{conf,logs,modules,htdocs,run}
    local so="$MODULES/mod_rjk.so"
    [ -f "$so" ] || so=$TOP/target/release/libmod_rjk.so
    cp "$so" "$root/modules/mod_rjk.so"
    sed "s/^worker.template.secret=.*/worker.template.secret=$SECRET/" conf-examples/workers.properties >"$root/conf/workers.properties"
    local user=""
    [ "$(id -u)" -eq 0 ] && { user=$'User www-data\nGroup www-data'; chown www-data "$root/run"; }
    cat >"$root/conf/httpd.conf" <<CONF
ServerRoot "$root"
Listen 127.0.0.1:$PORT
ServerName 127.0.0.1
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authz_host_module $MODULES/mod_authz_host.so
$user
PidFile logs/httpd.pid
DefaultRuntimeDir run
ErrorLog logs/error_log
DocumentRoot "$root/htdocs"
Include conf/httpd-jk.conf
CONF
    cp conf-examples/httpd-jk.conf "$root/conf/httpd-jk.conf"
    /usr/sbin/apache2 -d "$root" -f "$root/conf/httpd.conf" -k start
    sleep 1
    status
}

status() {
    echo "mod_rjk demo: http://127.0.0.1:$PORT/ (status manager: http://127.0.0.1:$PORT/jkmanager/)"
    echo "9 requests through the load balancer, by the Tomcat that answered:"
    for _ in $(seq 9); do
        curl -s "http://127.0.0.1:$PORT/echo" | sed -n 's/^route=//p'
    done | sort | uniq -c
    echo "Status manager:"
    curl -s "http://127.0.0.1:$PORT/jkmanager/?mime=txt" | head -20 || true
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
