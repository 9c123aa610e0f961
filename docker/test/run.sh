#!/usr/bin/env bash
# The compose setup on a real container engine, end to end:
#   bash docker/test/run.sh          (as root; the log goes to docker/test/last-run.log)
# Installs Debian's docker.io, docker-compose (1.29) and debootstrap when missing, starts
# a private dockerd without bridge networking (--bridge=none --iptables=false
# --ip-forward=false) unless RJK_DOCKER_HOST names a running engine, builds the Debian base
# image (docker/base.sh) and the project's images, runs httpd and three Tomcats as
# separate containers with docker/compose.yaml, and checks: the e2e script (3/3/3, a
# sticky session, the status manager), a member drained from the status page gets none
# of 9 requests, the tomcat1 container killed costs no client an error, started again it
# serves again; the AJP secret is in no command line, environment, image history or log;
# the JK log is on httpd's stderr. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
log=$top/docker/test/last-run.log
exec > >(tee "$log") 2>&1
t0=$(date +%s)
say() { printf '[%4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
fail() { say "FAIL: $*"; exit 1; }

missing=()
for p in docker.io docker-compose debootstrap curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    # docker.io's own service must not start (it would make a bridge): a policy-rc.d that
    # refuses every start while the packages install, unless the machine has one.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$policy" ] || rm -f "$policy"
fi
say "docker-compose $(docker-compose version --short), $(dockerd --version)"

dockerd_pid=""
cleanup() {
    set +e
    if [ -n "${compose_up:-}" ]; then
        docker-compose -f docker/compose.yaml --profile test down --remove-orphans >/dev/null 2>&1
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        say "dockerd stopped"
    fi
}
trap cleanup EXIT
if [ -n "${RJK_DOCKER_HOST:-}" ]; then
    export DOCKER_HOST=$RJK_DOCKER_HOST
else
    state=/var/lib/mod_rjk-docker
    sock=/run/mod_rjk-docker.sock
    # One private engine at a time on this data root (its image cache).
    exec 9>"$state.lock"
    flock 9
    mkdir -p "$state" /run/mod_rjk-docker
    dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
        --data-root "$state" --exec-root /run/mod_rjk-docker -H "unix://$sock" \
        --pidfile /run/mod_rjk-docker.pid >"$state.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST=unix://$sock
    for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { tail -20 "$state.log"; fail "dockerd did not start"; }
    say "dockerd started (pid $dockerd_pid): no bridge, no iptables, no forwarding"
fi

base=${RJK_BASE_IMAGE:-localhost/mod_rjk/debian:trixie}
if ! docker image inspect "$base" >/dev/null 2>&1; then
    bash docker/base.sh "$base"
fi
say "base image $base: $(docker image inspect -f '{{.Size}}' "$base") bytes"

mkdir -p docker/secrets
if [ ! -s docker/secrets/ajp_secret ]; then
    (umask 077; head -c 24 /dev/urandom | base64 >docker/secrets/ajp_secret)
fi
# Searched for with grep -f FILE: a pattern given as an argument would itself be on a
# command line.
secret_file=$top/docker/secrets/ajp_secret
has_secret() { grep -qF -f "$secret_file"; }

dc() { docker-compose -f docker/compose.yaml "$@"; }
tb=$(date +%s)
dc build >/dev/null
say "images built in $(($(date +%s) - tb)) s: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep mod_rjk | sort | tr '\n' ' ')"
compose_up=1
dc up -d
url=http://127.0.0.10:8080
for _ in $(seq 1 180); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/echo")" = 200 ] && break
    sleep 1
done
say "up: $(docker ps --format '{{.Names}} {{.Status}}' | tr '\n' ';')"

route() { curl -s -o "$1.body" -w '%{http_code}' "$url/echo" >"$1.code"; sed -n 's/^route=//p' "$1.body"; }
tmp=$(mktemp -d)
nine() {
    local out=() r
    for i in 1 2 3 4 5 6 7 8 9; do
        r=$(route "$tmp/$i")
        [ "$(cat "$tmp/$i.code")" = 200 ] || fail "request $i answered $(cat "$tmp/$i.code")"
        out+=("$r")
    done
    echo "${out[*]}"
}
count() { tr ' ' '\n' <<<"$1" | grep -cx "$2" || true; }

r=$(nine)
for t in tomcat1 tomcat2 tomcat3; do [ "$(count "$r" $t)" = 3 ] || fail "not 3/3/3: $r"; done
say "ok: 9 requests 3/3/3: $r"

# The e2e script in its own container (a session's requests go to one member, so any 3/3/3
# check comes before it).
dc run --rm test || fail "the e2e script failed"

st="$url/jkmanager/?cmd=update&w=load_balancer&sw=tomcat1"
curl -fsS -o /dev/null "$st&vwa=1" || fail "the status page refused the drain"
r=$(nine)
[ "$(count "$r" tomcat1)" = 0 ] || fail "drained tomcat1 still served: $r"
say "ok: tomcat1 drained (activation Disabled) from the status page: $r"
curl -fsS -o /dev/null "$st&vwa=0" || fail "the status page refused to activate tomcat1"

dc kill tomcat1 >/dev/null 2>&1
r=$(nine)
[ "$(count "$r" tomcat1)" = 0 ] || fail "killed tomcat1 served: $r"
say "ok: tomcat1 container killed, 9 requests all 200: $r"

dc start tomcat1 >/dev/null 2>&1
seen=0
for _ in $(seq 1 120); do
    r=$(route "$tmp/back")
    [ "$(cat "$tmp/back.code")" = 200 ] || fail "a request answered $(cat "$tmp/back.code") while tomcat1 came back"
    [ "$r" = tomcat1 ] && { seen=1; break; }
    sleep 0.5
done
[ "$seen" = 1 ] || fail "tomcat1 did not serve again within 60 s"
say "ok: tomcat1 started again and serves"

# The secret: in no process's command line or environment, no container's or image's
# configuration or history, no log.
httpd_id=$(dc ps -q httpd)
docker exec "$httpd_id" cat /run/mod_rjk/secret.conf | has_secret \
    || fail "the secret is not even where the entrypoint writes it: the checks below would prove nothing"
[ "$(docker exec "$httpd_id" stat -c %a /run/mod_rjk/secret.conf)" = 600 ] || fail "secret.conf is not mode 600"
ps -eo args | has_secret && fail "the secret is on a command line"
for p in /proc/[0-9]*; do
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | has_secret; then
        fail "the secret is in the environment of $(cat "$p/comm")"
    fi
done
ids=$(docker ps -aq)
docker inspect $ids | has_secret && fail "the secret is in a container's configuration"
for i in localhost/mod_rjk/httpd:0.1.0 localhost/mod_rjk/tomcat:10.1; do
    docker history --no-trunc "$i" | has_secret && fail "the secret is in the history of $i"
    docker image inspect "$i" | has_secret && fail "the secret is in the configuration of $i"
done
logs=$(dc logs --no-color 2>&1)
has_secret <<<"$logs" && fail "the secret is in a container's log"
say "ok: the AJP secret is in no command line, environment, image, history or log"

jk=$(docker logs "$httpd_id" 2>&1 >/dev/null | grep -E '^\[.*\] \[[0-9]+:[0-9]+\] \[(info|warn|error)\]' | grep tomcat1 | head -n2 || true)
[ -n "$jk" ] || fail "no JK log line about tomcat1 on httpd's stderr"
say "ok: the JK log is on httpd's stderr:"
sed 's/^/    /' <<<"$jk"
rm -rf "$tmp"
say "PASS"
