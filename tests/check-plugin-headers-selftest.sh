#!/bin/sh
# The header check must refuse a plugin that includes a core header, and
# accept one that includes only hub/plugin.h and its own header.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/plugins/good" "$tmp/plugins/bad"
printf '#include "hub/plugin.h"\n#include "own.h"\n#include <stdio.h>\n' > "$tmp/plugins/good/good.c"
: > "$tmp/plugins/good/own.h"
if ! "$here/check-plugin-headers.sh" "$tmp" 2>/dev/null; then
	echo "header check refused a well-behaved plugin" >&2; exit 1
fi
printf '#include "hub/plugin.h"\n#include "catalog/catalog.h"\n' > "$tmp/plugins/bad/bad.c"
if "$here/check-plugin-headers.sh" "$tmp" 2>/dev/null; then
	echo "header check accepted a plugin including catalog/catalog.h" >&2; exit 1
fi
echo "plugin header check: 2 passed, 0 failed"
