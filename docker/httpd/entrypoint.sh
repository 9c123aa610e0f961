#!/bin/sh
# Starts httpd in the foreground. The AJP secret is read from a file (the compose secret
# /run/secrets/ajp_secret, or RJK_AJP_SECRET_FILE) into a root-only configuration file:
# never a command line, an environment variable or a log line.
set -eu
secret_file=${RJK_AJP_SECRET_FILE:-/run/secrets/ajp_secret}
[ -r "$secret_file" ] || { echo "rjk-httpd: no AJP secret at $secret_file" >&2; exit 1; }
export RJK_LISTEN=${RJK_LISTEN:-127.0.0.10:8080}
mkdir -p /run/mod_rjk
umask 077
{
    printf 'JkWorkerProperty worker.template.secret='
    head -n1 "$secret_file"
} >/run/mod_rjk/secret.conf
umask 022
exec /usr/sbin/apache2 -d /etc/mod_rjk -f conf/httpd.conf -DFOREGROUND
