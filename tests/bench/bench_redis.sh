#!/bin/sh
# The Redis collector's benchmark (tests/bench/bench_redis.c): `terrarium
# collect redis` on a redis-server holding 1,000,000 keys, with the server's
# own latency during the crawl beside an idle baseline from the same run.
#
#   tests/bench/bench_redis.sh [BINARY] [-n KEYS]
#
# BINARY defaults to build/terrarium.  Needs redis-server (Debian package
# redis-server) and hiredis.  Work files go under ${BENCH_DIR:-/tmp/terrarium-bench}.
set -eu

cd "$(dirname "$0")/../.."
BIN=build/terrarium
case "${1:-}" in
-*|"") ;;
*) BIN=$1; shift ;;
esac
BENCH_DIR=${BENCH_DIR:-/tmp/terrarium-bench}
TOOLS=$BENCH_DIR/tools
mkdir -p "$TOOLS"
if [ ! -x "$BIN" ]; then
	echo "bench_redis: building $BIN" >&2
	make --no-print-directory -j2 "$BIN" >&2
fi
if ! command -v redis-server >/dev/null 2>&1; then
	echo "bench_redis: skipped: no redis-server (package redis-server)" >&2
	exit 0
fi
OUT=$TOOLS/bench_redis
if [ ! -x "$OUT" ] || [ tests/bench/bench_redis.c -nt "$OUT" ] || [ tests/lib/redis.c -nt "$OUT" ]; then
	# shellcheck disable=SC2046
	cc -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. $(pkg-config --cflags hiredis) \
		-o "$OUT" tests/bench/bench_redis.c tests/lib/redis.c $(pkg-config --libs hiredis)
fi
exec "$OUT" "$BIN" "$@"
