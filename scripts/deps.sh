#!/bin/sh
# Install the Debian packages Terrarium needs, if any are missing.
#   scripts/deps.sh build   - what `make` needs
#   scripts/deps.sh test    - what `make test` needs as well
# Idempotent: it asks dpkg first and runs apt-get only for what is missing.
set -eu

build="gcc make pkg-config libcivetweb-dev libsqlite3-dev sqlite3 liblua5.4-dev
libgraphviz-dev libjansson-dev libssl-dev libcurl4-openssl-dev libgit2-dev libpq-dev
libhiredis-dev librdkafka-dev tzdata"
test="$build libcmocka-dev curl postgresql redis-server git chromium"
bench="$test wrk"

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# The browser tests need node and npm; a machine's own Node.js (whose package
# may bundle npm, and conflict with Debian's npm package) is fine.
if [ "${1:-build}" != build ]; then
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
