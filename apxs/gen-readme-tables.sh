#!/usr/bin/env bash
# Regenerates the reference tables of README.md from the module's own tables
# (DIRECTIVES in src/config/directives.rs, ATTRIBUTES in src/config/workers.rs):
# the text between <!-- BEGIN directives --> / <!-- END directives --> and
# <!-- BEGIN workers --> / <!-- END workers --> becomes the output of
# `rjk-check --markdown-directives` / `--markdown-workers`.
# tests/rjk_check.rs fails while README.md differs from that output.
#   RJK_CHECK=/path/to/rjk-check skips the cargo build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RJK_CHECK:-}" ]; then
    cargo build --quiet --bin rjk-check
    RJK_CHECK=${CARGO_TARGET_DIR:-target}/debug/rjk-check
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$RJK_CHECK" --markdown-directives >"$tmp/directives.md"
"$RJK_CHECK" --markdown-workers >"$tmp/workers.md"
cp README.md "$tmp/README.md"
for section in directives workers; do
    grep -qx "<!-- BEGIN $section -->" "$tmp/README.md" || { echo "README.md lacks <!-- BEGIN $section -->" >&2; exit 1; }
    grep -qx "<!-- END $section -->" "$tmp/README.md" || { echo "README.md lacks <!-- END $section -->" >&2; exit 1; }
    awk -v begin="<!-- BEGIN $section -->" -v end="<!-- END $section -->" -v table="$tmp/$section.md" '
        $0 == begin { print; while ((getline line < table) > 0) print line; skip = 1; next }
        $0 == end { skip = 0 }
        !skip { print }
    ' "$tmp/README.md" >"$tmp/README.new"
    mv "$tmp/README.new" "$tmp/README.md"
done
if cmp -s "$tmp/README.md" README.md; then
    echo "README.md tables are up to date"
else
    cp "$tmp/README.md" README.md
    echo "README.md tables regenerated"
fi
