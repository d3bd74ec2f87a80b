#!/bin/sh
# shellcheck disable=SC2086  # word splitting of flag lists is wanted
# The PostgreSQL collector's benchmark.
#
#   tests/bench/bench_postgres.sh [BINARY] [-t TABLES] [-c COLUMNS] [-r RUNS]
#
# Starts a throw-away PostgreSQL on a free loopback port (initdb + pg_ctl from
# /usr/lib/postgresql/N/bin, the highest N, or $PG_BINDIR; as the postgres user
# when run as root), creates TABLES tables (default 10,000) of COLUMNS columns
# (default 20, one of them a primary key) with generate_series and DO blocks,
# then times `terrarium collect postgres` on them: wall time and peak RSS, for
# the first crawl (every entity new) and a second one (nothing changed).
#
# Beside it, the cost of a collector run that emits nothing (RUNS runs,
# default 20, median) and, measured in the same invocation, the cost of
# starting the binary at all (`terrarium --version`).
#
# Nothing here is an assertion: the script fails only when something does not
# work.  Work files go under ${BENCH_DIR:-/tmp/terrarium-bench}/postgres; the
# server is stopped and its files removed on exit.
set -eu

cd "$(dirname "$0")/../.."
BIN=build/terrarium
case "${1:-}" in
-*|"") ;;
*) BIN=$1; shift ;;
esac
TABLES=10000
COLUMNS=20
RUNS=20
while [ $# -gt 0 ]; do
	case "$1" in
	-t) TABLES=$2; shift 2 ;;
	-c) COLUMNS=$2; shift 2 ;;
	-r) RUNS=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "bench_postgres: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ "$COLUMNS" -ge 2 ] || { echo "bench_postgres: -c must be at least 2" >&2; exit 2; }

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
mib_kb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

if [ ! -x "$BIN" ]; then
	say "bench_postgres: building $BIN"
	make --no-print-directory -j2 "$BIN" >&2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# --- the server ---------------------------------------------------------------------------
BINDIR=${PG_BINDIR:-}
if [ -z "$BINDIR" ]; then
	BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -n 1)
fi
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
	say "bench_postgres: no PostgreSQL server binaries (install the postgresql package," \
		"or set PG_BINDIR)"
	exit 1
fi
ROOT=${BENCH_DIR:-/tmp/terrarium-bench}
mkdir -p "$ROOT"
WORK=$(mktemp -d "$ROOT/postgres-XXXXXX")
chmod 0755 "$WORK"   # the postgres user must reach its directory
PGDIR=$WORK/pg
mkdir -p "$PGDIR"
AS=""
if [ "$(id -u)" = 0 ]; then
	chown postgres "$PGDIR"
	AS="runuser -u postgres --"
fi
STARTED=0
cleanup() {
	if [ "$STARTED" = 1 ]; then
		$AS "$BINDIR/pg_ctl" -D "$PGDIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "bench_postgres: initdb in $PGDIR ($BINDIR)"
$AS "$BINDIR/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log" >&2; exit 1; }
PORT=
for p in $(seq 25432 25531); do
	# a port nobody listens on (hex in /proc/net/tcp)
	hex=$(printf '%04X' "$p")
	if grep -q ":$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
		continue
	fi
	if $AS "$BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
		-o "-p $p -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_locks_per_transaction=512" \
		start >/dev/null 2>&1; then
		PORT=$p
		STARTED=1
		break
	fi
done
if [ -z "$PORT" ]; then
	say "bench_postgres: PostgreSQL did not start:"
	tail -n 20 "$PGDIR/server.log" >&2 || true
	exit 1
fi
DSN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
PSQL="$BINDIR/psql -X -q -v ON_ERROR_STOP=1"
say "bench_postgres: server on 127.0.0.1:$PORT"

# --- the tables ---------------------------------------------------------------------------
say "bench_postgres: creating $TABLES tables of $COLUMNS columns"
t0=$(now)
$PSQL -d "$DSN" -c "CREATE DATABASE bench" >/dev/null
BDSN="host=127.0.0.1 port=$PORT user=postgres dbname=bench"
$PSQL -d "$BDSN" -c "CREATE SCHEMA bench" >/dev/null
# One transaction per 1,000 tables (each holds a lock per table, index and toast table).
start=1
while [ "$start" -le "$TABLES" ]; do
	end=$((start + 999))
	[ "$end" -le "$TABLES" ] || end=$TABLES
	$PSQL -d "$BDSN" >/dev/null <<EOF
DO \$\$
DECLARE
	cols text;
BEGIN
	SELECT string_agg(format('c%s %s', j, CASE j % 4 WHEN 0 THEN 'integer NOT NULL DEFAULT 0'
	                                                WHEN 1 THEN 'text'
	                                                WHEN 2 THEN 'numeric(12,2)'
	                                                ELSE 'timestamptz DEFAULT now()' END), ', ')
	  INTO cols FROM generate_series(2, $COLUMNS) j;
	FOR i IN $start..$end LOOP
		EXECUTE format('CREATE TABLE bench.t%s (id bigint PRIMARY KEY, %s)', i, cols);
		IF i % 10 = 0 THEN
			EXECUTE format('COMMENT ON TABLE bench.t%s IS %L', i, 'table number ' || i);
		END IF;
	END LOOP;
END
\$\$;
EOF
	start=$((end + 1))
done
$PSQL -d "$BDSN" -c "ANALYZE" >/dev/null
t1=$(now)
create_s=$(elapsed "$t0" "$t1")
ncols=$($PSQL -d "$BDSN" -At -c "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench' AND c.relkind = 'r' AND a.attnum > 0")
say "bench_postgres: created in $create_s s ($ncols columns)"

# --- the crawl ----------------------------------------------------------------------------
DATA=$WORK/data
# `terrarium collect` finds lua/collectors/postgres.lua from the repository root (we are there).
cat >"$WORK/pg.lua" <<EOF
plugins = {
  postgres = { timeout = 600, query_timeout = 120,
               dsn = "$DSN" },
}
EOF
# crawl N: wall seconds and peak RSS of one `terrarium collect postgres`
crawl() {
	t0=$(now)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f 'peak_rss_kb=%M' -o "$WORK/time.$1" \
			"$BIN" collect postgres --config "$WORK/pg.lua" --data "$DATA" \
			>"$WORK/crawl.$1.log" 2>&1 || { cat "$WORK/crawl.$1.log" >&2; exit 1; }
		rss=$(sed -n 's/^peak_rss_kb=//p' "$WORK/time.$1")
	else
		"$BIN" collect postgres --config "$WORK/pg.lua" --data "$DATA" \
			>"$WORK/crawl.$1.log" 2>&1 &
		pid=$!
		rss=0
		while kill -0 "$pid" 2>/dev/null; do
			h=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
			[ "${h:-0}" -gt "$rss" ] && rss=$h
			sleep 0.05
		done
		wait "$pid" || { cat "$WORK/crawl.$1.log" >&2; exit 1; }
	fi
	t1=$(now)
	echo "$(elapsed "$t0" "$t1") $rss"
}
say "bench_postgres: first crawl"
first=$(crawl 1)
say "bench_postgres: second crawl (nothing changed)"
second=$(crawl 2)
first_s=${first% *}; first_kb=${first#* }
second_s=${second% *}; second_kb=${second#* }
cat_mib=$(awk -v b="$(stat -c %s "$DATA/catalog.db")" 'BEGIN { printf "%.1f", b / 1048576 }')

# --- an empty collector, and the cost of starting the binary ------------------------------
# The empty collector lives in DATA_DIR/collectors, the other place collectors are looked for.
mkdir -p "$WORK/edata/collectors"
printf -- '-- emits nothing\n' >"$WORK/edata/collectors/empty.lua"
cat >"$WORK/empty.lua" <<EOF
plugins = { empty = {} }
EOF
say "bench_postgres: empty collector and --version, $RUNS runs each"
"$BIN" collect empty --config "$WORK/empty.lua" --data "$WORK/edata" >"$WORK/empty.log" 2>&1 ||
	{ cat "$WORK/empty.log" >&2; exit 1; }
i=0
: >"$WORK/empty.times"
: >"$WORK/version.times"
while [ $i -lt "$RUNS" ]; do
	t0=$(now)
	"$BIN" collect empty --config "$WORK/empty.lua" --data "$WORK/edata" >/dev/null 2>&1
	t1=$(now)
	"$BIN" --version >/dev/null 2>&1
	t2=$(now)
	elapsed "$t0" "$t1" >>"$WORK/empty.times"; echo >>"$WORK/empty.times"
	elapsed "$t1" "$t2" >>"$WORK/version.times"; echo >>"$WORK/version.times"
	i=$((i + 1))
done
empty_s=$(grep . "$WORK/empty.times" | median)
version_s=$(grep . "$WORK/version.times" | median)
verdict=$(awk -v v="$first_s" 'BEGIN { if (v <= 10) print "met"; else printf "MISSED (%.1fx)\n", v / 10 }')

cat <<EOF

== PostgreSQL collector benchmark ==
machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d)
server:   PostgreSQL $($PSQL -d "$DSN" -At -c "SHOW server_version"), loopback, fsync off
source:   $TABLES tables, $ncols columns in database bench (created in $create_s s)

| figure | measured | same-run baseline | target | verdict |
| --- | --- | --- | --- | --- |
| first crawl (all new) | $first_s s, peak RSS $(mib_kb "$first_kb") MiB | | <= 10 s | $verdict |
| second crawl (unchanged) | $second_s s, peak RSS $(mib_kb "$second_kb") MiB | | | |
| catalog.db after | $cat_mib MiB | | | |
| empty collector run (median of $RUNS) | $(ms "$empty_s") ms | terrarium --version: $(ms "$version_s") ms | | |
EOF
say "bench_postgres: the collector said:"
grep -h 'crawled' "$WORK/crawl.1.log" "$WORK/crawl.2.log" >&2 || true
