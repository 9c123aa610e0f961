#!/bin/sh
# Starts Tomcat in the foreground, logging to the container's stdout. RJK_JVM_ROUTE names
# the instance (jvmRoute, and route= of /echo), RJK_ADDRESS is the loopback address its
# connectors bind (the containers use the host's network). The AJP secret is read from a
# file (the compose secret /run/secrets/ajp_secret, or RJK_AJP_SECRET_FILE) into a
# root-only catalina.properties, which server.xml's ${ajp.secret} reads: never a command
# line (-D...), an environment variable or a log line.
set -eu
: "${RJK_JVM_ROUTE:?}" "${RJK_ADDRESS:?}"
secret_file=${RJK_AJP_SECRET_FILE:-/run/secrets/ajp_secret}
[ -r "$secret_file" ] || { echo "rjk-tomcat: no AJP secret at $secret_file" >&2; exit 1; }
base=/srv/tomcat
umask 077
{
    cat "$base/conf/catalina.properties.dist"
    printf '\njvm.route=%s\nrjk.address=%s\najp.secret=' "$RJK_JVM_ROUTE" "$RJK_ADDRESS"
    head -n1 "$secret_file"
} >"$base/conf/catalina.properties"
umask 022
home=/usr/share/tomcat10
exec java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
    -Djava.security.egd=file:/dev/./urandom \
    --add-opens=java.base/java.lang=ALL-UNNAMED \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/java.util=ALL-UNNAMED \
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
    --add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED \
    -Djava.util.logging.config.file="$base/conf/logging.properties" \
    -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \
    -classpath "$home/bin/bootstrap.jar:$home/bin/tomcat-juli.jar" \
    -Dcatalina.base="$base" -Dcatalina.home="$home" -Djava.io.tmpdir="$base/temp" \
    org.apache.catalina.startup.Bootstrap start
