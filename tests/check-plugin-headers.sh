#!/bin/sh
# A native plugin (plugins/<name>/*.c|h, tests/plugins/*.c) may include only
# hub/plugin.h, headers of its own folder, and system headers.
#   tests/check-plugin-headers.sh [ROOT]
cd "${1:-$(dirname "$0")/..}" || exit 1
bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' plugins/*/*.[ch] tests/plugins/*.c 2>/dev/null |
	grep -vE '"hub/plugin\.h"' |
	awk -F: '{ f=$1; d=f; sub(/\/[^\/]*$/, "", d); line=$0;
		match(line, /"[^"]*"/); inc=substr(line, RSTART+1, RLENGTH-2);
		if (index(inc, "/") == 0 && system("test -f " d "/" inc) == 0) next;
		if (index(inc, d "/") == 1) next;
		print }')
if [ -n "$bad" ]; then
	echo "plugins may include only hub/plugin.h and their own headers:" >&2
	echo "$bad" >&2
	exit 1
fi
