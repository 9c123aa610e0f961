#!/bin/sh
# End-to-end check of mod_rjk in front of three Tomcats (the compose setup, or the local
# demo of apxs/demo.sh): the same checks as the local tests.
#   e2e.sh [BASE_URL]        default http://127.0.0.1
#   RJK_E2E_WAIT=seconds     how long to wait for the first answer (default 120)
# Needs sh and curl only (runs in curlimages/curl). Must reach /jkmanager/ from 127.0.0.1.
set -eu
BASE=${1:-http://127.0.0.1}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }

# httpd and the Tomcats may still be starting.
wait=${RJK_E2E_WAIT:-120}
i=0
until [ "$(code "$BASE/echo")" = 200 ]; do
    i=$((i + 1))
    [ "$i" -le "$wait" ] || fail "$BASE/echo did not answer 200 within $wait s"
    sleep 1
done
echo "ok: $BASE/echo answers through mod_rjk"

# 9 requests without a session: the load balancer spreads them 3/3/3 (equal lbfactor).
routes=""
for _ in 1 2 3 4 5 6 7 8 9; do
    r=$(curl -fsS "$BASE/echo" | sed -n 's/^route=//p') || fail "GET $BASE/echo failed"
    routes="$routes $r"
done
for t in tomcat1 tomcat2 tomcat3; do
    n=$(echo "$routes" | tr ' ' '\n' | grep -cx "$t" || true)
    [ "$n" = 3 ] || fail "$t answered $n of 9 requests (routes:$routes), expected 3"
done
echo "ok: 9 requests balanced 3/3/3 over tomcat1..3"

# A session sticks to the Tomcat that created it.
jar=$(mktemp)
first=$(curl -fsS -c "$jar" "$BASE/session" | sed -n 's/^route=\([^ ]*\).*/\1/p')
[ -n "$first" ] || fail "GET $BASE/session did not name a route"
for _ in 1 2 3 4 5; do
    r=$(curl -fsS -b "$jar" "$BASE/session" | sed -n 's/^route=\([^ ]*\).*/\1/p')
    [ "$r" = "$first" ] || fail "session of $first went to $r"
done
rm -f "$jar"
echo "ok: a session stays on $first"

# The status manager answers (from 127.0.0.1 only, see conf-examples/httpd-jk.conf).
status=$(curl -fsS "$BASE/jkmanager/?mime=txt") || fail "GET $BASE/jkmanager/?mime=txt failed"
for w in load_balancer tomcat1 tomcat2 tomcat3; do
    echo "$status" | grep -q "$w" || fail "the status page does not mention $w"
done
echo "ok: the status manager lists load_balancer and its members"
echo "PASS"
