#!/bin/sh
# shellcheck disable=SC2086  # word splitting of flag lists is wanted
# The ingest pipeline's benchmark.
#
#   tests/bench/bench_ingest.sh [BINARY] [-d SECONDS] [--no-large]
#
# BINARY defaults to build/terrarium.  Work files go under
# ${BENCH_DIR:-/tmp/terrarium-bench}/ingest (made fresh each run).
#
#  1. Acknowledged submissions per second: wrk -t2 -c64 (keep-alive) POSTing
#     the 2 KB fixture with an ingest token, every answer a durable 201, on a
#     server configured with http = { threads = 80 } (CivetWeb serves one
#     connection per thread: 64 keep-alive clients need more than 64).  Beside
#     it, the same run's baseline, with the same wrk settings on the same
#     server: the bare HTTP server answering a static 200 to the same request
#     (the same 2 KB POST with the same token, to the example plugin's
#     /api/v1/example/sink, which reads the body and answers {"ok":true}),
#     and, for reference, GET /healthz.  Then the time the processor takes to
#     drain the queue.
#  2. Large samples: a 10 MB and a 50 MB sample posted once each to a fresh
#     server: acknowledge time (upload, streaming validation, durable write),
#     time to processed, MB/s, and the server's peak RSS (VmHWM) before and
#     after, which shows memory does not grow with the body.
#
# Every figure is printed beside its baseline; nothing here is an assertion.
# The script fails only when something does not work (a server that does not
# start, a non-2xx answer).  Loopback only; the servers it starts are stopped
# on exit.  MB are 10^6 bytes.
set -eu

cd "$(dirname "$0")/../.."
BIN=build/terrarium
case "${1:-}" in
-*|"") ;;
*) BIN=$1; shift ;;
esac
DUR=10
LARGE=1
while [ $# -gt 0 ]; do
	case "$1" in
	-d) DUR=$2; shift 2 ;;
	--no-large) LARGE=0; shift ;;
	-h|--help) sed -n '2,26p' "$0"; exit 0 ;;
	*) echo "bench_ingest.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
FIXTURE=../shared/fixtures/ingest/sample.json
WORK=${BENCH_DIR:-/tmp/terrarium-bench}/ingest
rm -rf "$WORK"
mkdir -p "$WORK"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf '%s\n' "$*" >&2; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# json KEY FILE -> the first number or string value of "KEY" in FILE
json() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$2" | head -n 1; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
die() { say "bench_ingest: $*"; exit 1; }

[ -x "$BIN" ] || make --no-print-directory -j2 "$BIN" >&2
SINK_SO=$(dirname "$BIN")/tests/plugins/example.so
[ -f "$SINK_SO" ] || make --no-print-directory "$SINK_SO" >&2
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -f "$FIXTURE" ] || die "no fixture at $FIXTURE"

SRV=
cleanup() {
	if [ -n "$SRV" ]; then
		kill "$SRV" 2>/dev/null || true
		wait "$SRV" 2>/dev/null || true
	fi
	SRV=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start DIR: a server on DIR (config DIR/terrarium.lua); sets SRV, BASE, TOKEN.
start() {
	mkdir -p "$1/plugins"
	cp "$SINK_SO" "$1/plugins/"
	printf 'http = { threads = 80 }\n' >"$1/terrarium.lua"
	TOKEN=$("$BIN" token create --scope ingest --data "$1" 2>/dev/null | tail -n 1)
	"$BIN" serve --config "$1/terrarium.lua" --listen 127.0.0.1:0 --data "$1" \
		>"$1/server.log" 2>&1 &
	SRV=$!
	ADDR=
	i=0
	while [ $i -lt 300 ] && [ -z "$ADDR" ]; do
		ADDR=$(sed -n 's/.*msg="\{0,1\}listening"\{0,1\} .*addr=\([^ ]*\).*/\1/p' \
			"$1/server.log" | head -n 1)
		[ -n "$ADDR" ] || sleep 0.1
		i=$((i + 1))
	done
	[ -n "$ADDR" ] || { cat "$1/server.log" >&2; die "the server did not start"; }
	BASE=http://$ADDR
	grep -q 'plugin=ingest' "$1/server.log" || die "the ingest plugin is not loaded"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SRV/stat"; }
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SRV/status"; }
stats() { curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/ingest/stats" >"$1"; }
TCK=$(getconf CLK_TCK)

# ---- 1. acknowledged/s under 64 keep-alive clients ------------------------------------
say "bench_ingest: server for the throughput run"
start "$WORK/run"
curl -sf -o /dev/null "$BASE/healthz" || die "no /healthz"
code=$(curl -s -o "$WORK/first.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/json' --data-binary @"$FIXTURE" "$BASE/api/v1/ingest/samples")
[ "$code" = 201 ] || die "POST of the fixture answered $code: $(cat "$WORK/first.json")"

say "bench_ingest: reference GET /healthz, wrk -t2 -c64 -d${DUR}s"
HZ_OUT=$(wrk -t2 -c64 -d"${DUR}s" --latency -s tests/bench/ingest_post.lua "$BASE/healthz" |
	grep '^wrk_summary') || die "wrk failed"
say "bench_ingest: baseline POST the fixture to a static 200, wrk -t2 -c64 -d${DUR}s"
c0=$(cpu_ticks)
BASE_OUT=$(BENCH_BODY=$FIXTURE BENCH_TOKEN=$TOKEN wrk -t2 -c64 -d"${DUR}s" --latency \
	-s tests/bench/ingest_post.lua "$BASE/api/v1/example/sink" | grep '^wrk_summary') ||
	die "wrk failed"
c1=$(cpu_ticks)
[ "$(field "$BASE_OUT" non2xx)" = 0 ] || die "the static-200 baseline answered non-2xx"
say "bench_ingest: POST the fixture ($(stat -c %s "$FIXTURE") bytes), wrk -t2 -c64 -d${DUR}s"
t0=$(now)
POST_OUT=$(BENCH_BODY=$FIXTURE BENCH_TOKEN=$TOKEN wrk -t2 -c64 -d"${DUR}s" --latency \
	-s tests/bench/ingest_post.lua "$BASE/api/v1/ingest/samples" | grep '^wrk_summary') ||
	die "wrk failed"
c2=$(cpu_ticks)
stats "$WORK/stats-end.json"
queue_end=$(json queue_depth "$WORK/stats-end.json")
i=0
while [ $i -lt 1200 ]; do
	stats "$WORK/stats.json"
	[ "$(json queue_depth "$WORK/stats.json")" = 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
t1=$(now)
processed=$(sed -n 's/.*"totals":{[^}]*"processed":\([0-9]*\).*/\1/p' "$WORK/stats.json")
e2e=$(sed -n 's/.*"end_to_end":{"p50":\([^,]*\),"p90":[^,]*,"p99":\([^,]*\),.*/p50 \1 ms, p99 \2 ms/p' \
	"$WORK/stats.json")
ackl=$(sed -n 's/.*"acknowledge":{"p50":\([^,]*\),"p90":[^,]*,"p99":\([^,]*\),.*/p50 \1 ms, p99 \2 ms/p' \
	"$WORK/stats.json")
raw_bytes=$(json raw_bytes "$WORK/stats.json")
hwm_run=$(status_kb VmHWM)
threads=$(status_kb Threads)
cleanup
[ "$(field "$POST_OUT" non2xx)" = 0 ] || say "bench_ingest: some POSTs were not answered 2xx"

per_req() { awk -v t="$1" -v n="$2" -v hz="$TCK" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }'; }
cpu_base=$(per_req $((c1 - c0)) "$(field "$BASE_OUT" requests)")
cpu_post=$(per_req $((c2 - c1)) "$(field "$POST_OUT" requests)")
drain_s=$(calc "%.1f" "$t1 - $t0")

# ---- 2. large samples --------------------------------------------------------------------
LARGE_ROWS=
if [ "$LARGE" = 1 ]; then
	# gen BYTES FILE: a valid sample of about BYTES bytes (numbers like the fixture's).
	gen() {
		awk -v n="$1" 'BEGIN { srand(7); printf "{\"time_stamp\": \"2019-05-01T06:00:00-04:00\", \"data\": [";
			len = 55; sep = "";
			while (len < n - 24) { s = sprintf("%s%.17g", sep, rand() * 4 - 1); printf "%s", s; len += length(s); sep = ", " }
			printf "]}" }' >"$2"
	}
	say "bench_ingest: generating 10 MB and 50 MB samples"
	gen 10000000 "$WORK/10mb.json"
	gen 50000000 "$WORK/50mb.json"
	start "$WORK/large"
	curl -sf -o /dev/null "$BASE/healthz" || die "no /healthz"
	sleep 0.5
	hwm0=$(status_kb VmHWM)
	for f in 10mb 50mb; do
		size=$(stat -c %s "$WORK/$f.json")
		say "bench_ingest: POST $f ($size bytes)"
		r=$(curl -s -o "$WORK/$f.resp" -w '%{http_code} %{time_total}' -H 'Expect:' \
			-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
			--data-binary @"$WORK/$f.json" "$BASE/api/v1/ingest/samples")
		[ "${r%% *}" = 201 ] || die "POST $f answered $r: $(cat "$WORK/$f.resp")"
		ack_s=${r#* }
		id=$(json submission_id "$WORK/$f.resp")
		i=0
		while [ $i -lt 1200 ]; do
			curl -s -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/ingest/samples/$id" \
				>"$WORK/$f.sample"
			[ "$(json status "$WORK/$f.sample")" = processed ] && break
			sleep 0.05
			i=$((i + 1))
		done
		[ "$(json status "$WORK/$f.sample")" = processed ] || die "$f was not processed"
		rec=$(date -d "$(json received_at "$WORK/$f.sample")" +%s.%N)
		proc=$(date -d "$(json processed_at "$WORK/$f.sample")" +%s.%N)
		e2e_s=$(calc "%.3f" "$proc - $rec")
		# Peak RSS before any GET raw (whose mapped file pages count as RSS).
		hwm=$(status_kb VmHWM)
		echo "$id" >"$WORK/$f.id"
		LARGE_ROWS="$LARGE_ROWS
| $f sample, $(calc "%.1f" "$size / 1e6") MB | acknowledged (upload, validation, durable) in $(calc "%.3f" "$ack_s") s = $(calc "%.0f" "$size / 1e6 / $ack_s") MB/s; received -> processed $e2e_s s = $(calc "%.0f" "$size / 1e6 / $e2e_s") MB/s end to end; processed $(calc "%.3f" "$e2e_s - $ack_s") s after the acknowledgement (the POST's streaming parse computes the result; tests/bench/bench_ingest_parse.c measures the parser alone) | peak RSS $(calc "%.1f" "$hwm0 / 1024") MiB before any, $(calc "%.1f" "$hwm / 1024") MiB after | raw bytes identical on GET |"
	done
	# The bytes come back whole.
	for f in 10mb 50mb; do
		curl -s -H "Authorization: Bearer $TOKEN" -o "$WORK/$f.back" "$BASE/raw/$(cat "$WORK/$f.id")"
		cmp -s "$WORK/$f.json" "$WORK/$f.back" || die "$f: raw bytes differ"
	done
	cleanup
	rm -f "$WORK"/*.json "$WORK"/*.back
fi

# ---- report ------------------------------------------------------------------------------
cat <<EOF

== wrk summaries ==
static:  $BASE_OUT
healthz: $HZ_OUT
ingest:  $POST_OUT

== Terrarium ingest benchmark ==
load:    load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine lowers throughput)
machine: $(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%d); data dir on $(df -T "$WORK" | awk 'NR == 2 { print $2 }')
server:  http = { threads = 80 }, $threads threads, peak RSS $(calc "%.1f" "$hwm_run / 1024") MiB after the run

| figure | measured | same-run baseline | target |
| --- | --- | --- | --- |
| acknowledged POSTs/s, 64 keep-alive clients, 2 KB fixture, each a durable 201 | $(field "$POST_OUT" ok_rps)/s; p50 $(field "$POST_OUT" p50_ms) ms, p99 $(field "$POST_OUT" p99_ms) ms; non-2xx $(field "$POST_OUT" non2xx), errors $(field "$POST_OUT" errors) | bare server, static 200 to the same POST: $(field "$BASE_OUT" ok_rps)/s; p50 $(field "$BASE_OUT" p50_ms) ms, p99 $(field "$BASE_OUT" p99_ms) ms (GET /healthz: $(field "$HZ_OUT" ok_rps)/s) | >= 20000/s on 2 cores |
| ingest / bare server | $(calc "%.0f%%" "100 * $(field "$POST_OUT" ok_rps) / $(field "$BASE_OUT" ok_rps)") | | >= 50% |
| server CPU per request | POST: $cpu_post us | static 200: $cpu_base us | |
| processing | $processed processed; queue $queue_end at the end of the run, empty $drain_s s after the run began; stored $raw_bytes raw bytes | | |
| latencies from /api/v1/ingest/stats | acknowledge $ackl; received -> processed $e2e | | |$LARGE_ROWS
EOF
