#!/bin/sh
# shellcheck disable=SC2086,SC3013  # word splitting of flag lists is wanted; dash and bash have -nt
# Terrarium's spine benchmarks: catalog load, search, lineage, SVG, RSS, startup.
#
#   tests/bench/run.sh [BINARY] [-n ENTITIES] [-e EDGES] [--fresh]
#
# BINARY defaults to build/terrarium (`make bench` passes it).  ENTITIES
# defaults to 1,000,000 (or $BENCH_ENTITIES) and EDGES to twice that.  Work
# files go under ${BENCH_DIR:-/tmp/terrarium-bench}: the generated catalog is
# kept there and reused by later runs with the same size, generator and schema
# (loading a million entities takes minutes); --fresh rebuilds it.  The load
# time reported is the one measured when the catalog was built.
#
# Every figure is printed beside a baseline measured in the same run (see
# docs/benchmarks.md for the method).  Nothing here is an assertion: the
# script fails only when something does not work (an import error, a non-200).
# Loopback only; the server it starts is stopped on exit.
set -eu

cd "$(dirname "$0")/../.."
BIN=build/terrarium
case "${1:-}" in
-*|"") ;;
*) BIN=$1; shift ;;
esac
N=${BENCH_ENTITIES:-1000000}
E=
FRESH=0
while [ $# -gt 0 ]; do
	case "$1" in
	-n) N=$2; shift 2 ;;
	-e) E=$2; shift 2 ;;
	--fresh) FRESH=1; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
E=${E:-$((2 * N))}
BENCH_DIR=${BENCH_DIR:-/tmp/terrarium-bench}
BUILD=$(dirname "$BIN")
TOOLS=$BENCH_DIR/tools
CAT=$BENCH_DIR/catalog-$N-$E
DATA=$CAT/data
RUN=$BENCH_DIR/run
mkdir -p "$TOOLS" "$RUN"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
# elapsed START END -> seconds with 3 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# kv FILE KEY -> value of KEY=value in FILE
kv() { sed -n "s/^$2=//p" "$1" | head -n 1; }
# field LINE KEY -> value of KEY=value within one line of space-separated pairs
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# --- the binary and the tools ---------------------------------------------------------
if [ ! -x "$BIN" ]; then
	say "bench: building $BIN"
	make --no-print-directory -j2 "$BIN" >&2
fi
BCFLAGS="-std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I."
PKGS="sqlite3 lua5.4 libgvc libcgraph jansson libssl libcrypto libcurl"
stale() { # stale OUT INPUTS...: whether OUT is missing or older than an input
	out=$1; shift
	[ -x "$out" ] || return 0
	for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done
	return 1
}
if stale "$TOOLS/gen_catalog" tests/bench/gen_catalog.c; then
	cc $BCFLAGS -o "$TOOLS/gen_catalog" tests/bench/gen_catalog.c
fi
if stale "$TOOLS/bench_start" tests/bench/bench_start.c; then
	cc $BCFLAGS -o "$TOOLS/bench_start" tests/bench/bench_start.c
fi
if stale "$TOOLS/bench_search" tests/bench/bench_search.c "$BUILD/libterrarium.a"; then
	# shellcheck disable=SC2046
	cc $BCFLAGS $(pkg-config --cflags $PKGS) -o "$TOOLS/bench_search" \
		tests/bench/bench_search.c "$BUILD/libterrarium.a" \
		$(pkg-config --libs $PKGS) -lcivetweb -lpthread -lm -ldl
fi

# --- the catalog: generate and import, or reuse ---------------------------------------
STAMP="n=$N e=$E gen=$(sha256sum tests/bench/gen_catalog.c | cut -c1-16)"
STAMP="$STAMP schema=$(sha256sum catalog/schema.c | cut -c1-16)"
if [ "$FRESH" = 1 ] || [ ! -f "$CAT/load.txt" ] || [ "$(kv "$CAT/load.txt" stamp)" != "$STAMP" ]; then
	REUSED=no
	rm -rf "$CAT"
	mkdir -p "$CAT"
	say "bench: generating $N entities and $E edges"
	t0=$(now)
	"$TOOLS/gen_catalog" -n "$N" -e "$E" -m "$CAT/meta.txt" -q "$CAT/queries.txt" \
		>"$CAT/catalog.jsonl"
	t1=$(now)
	jsonl_bytes=$(stat -c %s "$CAT/catalog.jsonl")
	say "bench: importing $(mib "$jsonl_bytes") MiB of JSON lines (this takes a while)"
	peak=""
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f 'peak_rss_kb=%M' -o "$CAT/import.time" \
			"$BIN" import "$CAT/catalog.jsonl" --data "$DATA" 2>"$CAT/import.log"
		peak=$(kv "$CAT/import.time" peak_rss_kb)
	else
		"$BIN" import "$CAT/catalog.jsonl" --data "$DATA" 2>"$CAT/import.log"
	fi
	t2=$(now)
	cat "$CAT/import.log" >&2
	{
		echo "stamp=$STAMP"
		echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "gen_s=$(elapsed "$t0" "$t1")"
		echo "import_s=$(elapsed "$t1" "$t2")"
		echo "import_peak_rss_kb=${peak:-n/a}"
		echo "jsonl_bytes=$jsonl_bytes"
		echo "jsonl_lines=$(wc -l <"$CAT/catalog.jsonl")"
	} >"$CAT/load.txt"
	# The JSON is not needed again and is large.
	[ "${BENCH_KEEP_JSONL:-0}" = 1 ] || rm -f "$CAT/catalog.jsonl"
else
	REUSED=yes
	say "bench: reusing the catalog in $CAT (built $(kv "$CAT/load.txt" built_at)," \
		"--fresh rebuilds it)"
fi
META=$CAT/meta.txt
QUERIES=$CAT/queries.txt
DB=$DATA/catalog.db
db_bytes=$(stat -c %s "$DB")
wal_bytes=$(stat -c %s "$DB-wal" 2>/dev/null || echo 0)

# --- startup: exec -> first 200 on /healthz --------------------------------------------
say "bench: startup (5 runs)"
START_OUT=$("$TOOLS/bench_start" "$BIN" "$DATA" 5)
printf '%s\n' "$START_OUT" >&2
START_SUM=$(printf '%s\n' "$START_OUT" | grep '^summary')

# --- one server for the rest ------------------------------------------------------------
SRV=
LOG=$RUN/server.log
cleanup() {
	if [ -n "$SRV" ]; then
		kill "$SRV" 2>/dev/null || true
		wait "$SRV" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$BIN" serve --listen 127.0.0.1:0 --data "$DATA" >"$LOG" 2>&1 &
SRV=$!
ADDR=
i=0
while [ $i -lt 300 ] && [ -z "$ADDR" ]; do
	ADDR=$(sed -n 's/.*msg="\{0,1\}listening"\{0,1\} .*addr=\([^ ]*\).*/\1/p' "$LOG" | head -n 1)
	[ -n "$ADDR" ] || sleep 0.1
	i=$((i + 1))
done
if [ -z "$ADDR" ]; then
	say "bench: the server did not start:"
	cat "$LOG" >&2
	exit 1
fi
BASE=http://$ADDR
say "bench: server pid $SRV on $BASE"

# get URL OUT -> "CODE SECONDS BYTES"; a non-200 is reported and fails the run
# at the end (inside a pipeline `exit` would not stop the script).
rm -f "$RUN/failed"
get() {
	r=$(curl -s -o "$2" -w '%{http_code} %{time_total} %{size_download}' "$1") || true
	case "$r" in
	200\ *) printf '%s\n' "$r" ;;
	*) say "bench: GET $1 answered '$r'"; : >"$RUN/failed"; return 1 ;;
	esac
}
# Percent-encode a query parameter value (ASCII).
urlenc() {
	printf '%s' "$1" | LC_ALL=C awk 'BEGIN { for (i = 1; i < 128; i++) ord[sprintf("%c", i)] = i }
		{ if (NR > 1) printf "%%0A"
		  for (i = 1; i <= length($0); i++) { c = substr($0, i, 1)
			if (c ~ /[A-Za-z0-9._~-]/) printf "%s", c; else printf "%%%02X", ord[c] } }'
}

for _ in 1 2 3; do get "$BASE/healthz" /dev/null >/dev/null; done
sleep 2
rss_fresh_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$SRV/status")

# --- search -----------------------------------------------------------------------------
NQ=$(grep -c . "$QUERIES")
say "bench: search, $NQ queries: direct SQL, in-process, HTTP (1 client each)"
SQL1=$("$TOOLS/bench_search" sql "$DB" "$QUERIES" -t 1 -r 10) || : >"$RUN/failed"
API1=$("$TOOLS/bench_search" api "$DB" "$QUERIES" -t 1 -r 10) || : >"$RUN/failed"
TCK=$(getconf CLK_TCK)
srv_cpu() { awk '{ print $14 + $15 }' "/proc/$SRV/stat"; }
c0=$(srv_cpu)
HTTP1=$("$TOOLS/bench_search" http "$BASE" "$QUERIES" -t 1 -r 10) || : >"$RUN/failed"
say "bench: search, 16 concurrent: wrk -t2 -c16 -d10s --timeout 30s, and direct SQL with 16 threads"
c1=$(srv_cpu)
WRK=$(BENCH_QUERIES=$QUERIES wrk -t2 -c16 -d10s --timeout 30s --latency -s tests/bench/search.lua "$BASE") ||
	: >"$RUN/failed"
c2=$(srv_cpu)
SQL16=$("$TOOLS/bench_search" sql "$DB" "$QUERIES" -t 16 -d 10) || : >"$RUN/failed"

# --- lineage JSON at depth 5 of a busy node --------------------------------------------
BUSY=$(kv "$META" busy_node)
BQ="$BASE/api/v1/lineage?nodeId=$(urlenc "$BUSY")&depth=5&direction=both&format=json"
say "bench: lineage JSON of $BUSY at depth 5"
get "$BQ" "$RUN/busy.json" >/dev/null || true
busy_bytes=$(stat -c %s "$RUN/busy.json")
busy_nodes=$(grep -o '"type": *"[A-Z_]*"' "$RUN/busy.json" | wc -l)
busy_edges=$(( $(grep -o '"origin"' "$RUN/busy.json" | wc -l) / 2 ))
lineage_s=$(for _ in 1 2 3 4 5 6 7 8 9; do get "$BQ" /dev/null | cut -d' ' -f2; done | median)
# Baseline: the same traversal by the CLI on the file (process start included).
lineage_cli_s=$(for _ in 1 2 3; do
	t0=$(now)
	"$BIN" lineage "$BUSY" --depth 5 --data "$DATA" >/dev/null
	elapsed "$t0" "$(now)"; echo; done | median)
healthz_s=$(for _ in 1 2 3 4 5 6 7 8 9; do get "$BASE/healthz" /dev/null | cut -d' ' -f2; done | median)

# --- SVG of the 500-node neighbourhood: cold, uncached, cached --------------------------
ROOT=$(kv "$META" neighbourhood_root)
RDEPTH=$(kv "$META" neighbourhood_depth)
LQ="$BASE/api/v1/lineage?nodeId=$(urlenc "$ROOT")&depth=$RDEPTH&direction=both"
say "bench: SVG of $ROOT at depth $RDEPTH"
r=$(get "$LQ&format=svg" "$RUN/neigh.svg") || r="failed nan 0"
svg_first_s=$(echo "$r" | cut -d' ' -f2)
svg_bytes=$(echo "$r" | cut -d' ' -f3)
svg_cached_s=$(for _ in 1 2 3 4 5; do get "$LQ&format=svg" /dev/null | cut -d' ' -f2; done | median)
# Uncached renders on a warm process: each hopCap is a new cache key, same graph.
svg_uncached_s=$(for cap in 101 102 103 104 105; do
	get "$LQ&format=svg&hopCap=$cap" /dev/null | cut -d' ' -f2; done | median)
get "$LQ&format=json" "$RUN/neigh.json" >/dev/null || true
neigh_nodes=$(grep -o '"type": *"[A-Z_]*"' "$RUN/neigh.json" | wc -l)
neigh_edges=$(( $(grep -o '"origin"' "$RUN/neigh.json" | wc -l) / 2 ))

if ! kill -0 "$SRV" 2>/dev/null; then
	wait "$SRV" || say "bench: the server died (exit status $?); see $LOG"
	SRV=
	: >"$RUN/failed"
	rss_after_kb=0 hwm_kb=0 threads=0
else
sleep 5
rss_after_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$SRV/status")
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$SRV/status")
threads=$(awk '/^Threads/ { print $2 }' "/proc/$SRV/status")
fi
cleanup
SRV=

# --- report ------------------------------------------------------------------------------
S1=$(printf '%s\n' "$SQL1" | grep '^summary' || true)
A1=$(printf '%s\n' "$API1" | grep '^summary' || true)
H1=$(printf '%s\n' "$HTTP1" | grep '^summary' || true)
S16=$(printf '%s\n' "$SQL16" | grep '^summary' || true)
W=$(printf '%s\n' "$WRK" | grep '^wrk_summary' || true)
verdict() { # verdict VALUE LIMIT -> "met" or "missed by X%"
	awk -v v="$1" -v l="$2" 'BEGIN { if (v <= l) print "met"; else printf "MISSED (%.1fx)\n", v / l }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
# Server CPU per request: ticks over the run / requests.
per_req() { awk -v t="$1" -v n="$2" -v hz="$TCK" 'BEGIN { if (n > 0) printf "%.2f", t * 1000 / hz / n; else print "nan" }'; }
srv_cpu_h1=$(per_req $((c1 - c0)) "$(field "$H1" samples)")
srv_cpu_w=$(per_req $((c2 - c1)) "$(field "$W" requests)")
rss_mb=$(awk -v k="$rss_fresh_kb" 'BEGIN { printf "%.1f", k / 1024 }')
rss_after_mb=$(awk -v k="$rss_after_kb" 'BEGIN { printf "%.1f", k / 1024 }')
hwm_mb=$(awk -v k="$hwm_kb" 'BEGIN { printf "%.1f", k / 1024 }')
w_p50=$(field "$W" p50_ms); w_p99=$(field "$W" p99_ms)
s16_p50=$(field "$S16" p50_ms); s16_p99=$(field "$S16" p99_ms)
s1_p99=$(field "$S1" p99_ms); h1_p99=$(field "$H1" p99_ms)
st_med=$(field "$START_SUM" startup_ms_median)

cat <<EOF

== per-query search latency, 1 client, 10 runs each ==
-- direct FTS5 on the file (sqlite3, MATCH expression from search_fts_expr) --
$SQL1
-- search_run_text() in-process (everything but HTTP; the JSON text included) --
$API1
-- HTTP GET /api/v1/search (libcurl, keep-alive) --
$HTTP1
-- direct FTS5, 16 threads for 10 s --
$S16
-- wrk -t2 -c16 -d10s --timeout 30s --latency --
$WRK

== Terrarium spine benchmark ==
load:      load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine inflates latencies, not CPU per query)
machine:   $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%d)
catalog:   $N entities, $(kv "$META" edges) edges, $(kv "$META" fields) fields (reused: $REUSED)

| figure | measured | same-run baseline | target | verdict |
| --- | --- | --- | --- | --- |
| generate JSON lines | $(kv "$CAT/load.txt" gen_s) s, $(mib "$(kv "$CAT/load.txt" jsonl_bytes)") MiB, $(kv "$CAT/load.txt" jsonl_lines) lines | | | |
| import (load) | $(kv "$CAT/load.txt" import_s) s, peak RSS $(kv "$CAT/load.txt" import_peak_rss_kb) KiB | | | |
| catalog.db size | $(mib "$db_bytes") MiB (+ WAL $(mib "$wal_bytes") MiB) | | | |
| startup: exec -> first 200 /healthz | median $st_med ms (min $(field "$START_SUM" startup_ms_min), max $(field "$START_SUM" startup_ms_max)) | exec->exit: --version $(field "$START_SUM" version_ms_median) ms, /bin/true $(field "$START_SUM" true_ms_median) ms | <= 200 ms | $(verdict "$st_med" 200) |
| idle RSS, fresh (after 3 GET /healthz) | $rss_mb MiB | | <= 50 MB (47.7 MiB) | $(verdict "$rss_mb" 47.7) |
| idle RSS, after the benchmarks (5 s settle) | $rss_after_mb MiB (peak $hwm_mb MiB, $threads threads) | | <= 50 MB (47.7 MiB) | $(verdict "$rss_after_mb" 47.7) |
| search HTTP, 16 clients | p50 $w_p50 ms, p99 $w_p99 ms, $(field "$W" rps) req/s, non-2xx $(field "$W" non2xx) | direct FTS5, 16 threads: p50 $s16_p50 ms, p99 $s16_p99 ms, $(field "$S16" qps) q/s | p99 <= 10 ms; <= 2x direct | $(verdict "$w_p99" 10); $(ratio "$w_p99" "$s16_p99") direct |
| search, 1 client | HTTP p50 $(field "$H1" p50_ms) ms, p99 $h1_p99 ms; search_run_text p50 $(field "$A1" p50_ms) ms, p99 $(field "$A1" p99_ms) ms | direct FTS5: p50 $(field "$S1" p50_ms) ms, p99 $s1_p99 ms | <= 2x direct | $(ratio "$h1_p99" "$s1_p99") direct |
| CPU per search (load-independent) | server: $srv_cpu_h1 ms/request (1 client), $srv_cpu_w ms/request (16 clients); search_run_text in-process: $(field "$A1" cpu_ms_per_q) ms | direct FTS5: $(field "$S1" cpu_ms_per_q) ms (1 thread), $(field "$S16" cpu_ms_per_q) ms (16 threads) | | $(ratio "$srv_cpu_w" "$(field "$S16" cpu_ms_per_q)") direct |
| lineage JSON, depth 5, busy node | median $(ms "$lineage_s") ms ($busy_nodes nodes, $busy_edges edges, $(mib "$busy_bytes") MiB) | CLI on the file, process included: $(ms "$lineage_cli_s") ms; GET /healthz $(ms "$healthz_s") ms | | |
| lineage SVG, $neigh_nodes nodes / $neigh_edges edges | first (fresh process) $(ms "$svg_first_s") ms; uncached median $(ms "$svg_uncached_s") ms; cached median $(ms "$svg_cached_s") ms; $(mib "$svg_bytes") MiB | GET /healthz $(ms "$healthz_s") ms | | |
EOF

if [ -f "$RUN/failed" ]; then
	say "bench: some requests failed (see above)"
	exit 1
fi

# --- the ingest parser's own benchmark, if it is there ----------------------------------
if [ -f tests/bench/bench_ingest_parse.c ]; then
	srcs=$(sed -n '/cc -O2/,/-o build\/bench_ingest_parse/p' tests/bench/bench_ingest_parse.c |
		grep -o '[A-Za-z0-9_/.-]*\.c' | tr '\n' ' ')
	echo
	echo "== ingest parse (tests/bench/bench_ingest_parse.c) =="
	# shellcheck disable=SC2086
	if cc -O2 -std=c11 -D_GNU_SOURCE -I. $srcs -lm -lpthread -o "$TOOLS/bench_ingest_parse" 2>"$RUN/ingest_build.log"; then
		BENCH_TMPDIR=$BENCH_DIR "$TOOLS/bench_ingest_parse" || echo "bench_ingest_parse failed"
	else
		echo "skipped: it does not build yet ($(head -n 1 "$RUN/ingest_build.log"))"
	fi
fi

# the Redis collector on 1,000,000 keys, with the server's latency while crawled
tests/bench/bench_redis.sh "$BIN" || echo "bench_redis failed"
echo; tests/bench/bench_kafka.sh "$BIN" || echo "bench_kafka failed"  # Kafka collector, 5,000 mock topics
