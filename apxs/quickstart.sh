#!/usr/bin/env bash
# One command on a fresh Debian 12: install what is needed, build and install mod_rjk,
# and start the demo (httpd + three Tomcats on loopback, load-balanced, status page up).
set -euo pipefail
cd "$(dirname "$0")/.."
bash apxs/install-deps.sh
bash apxs/install.sh
bash apxs/demo.sh start
