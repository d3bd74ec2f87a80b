-- wrk script for tests/bench/bench_ingest.sh.  With $BENCH_BODY (a file) it
-- POSTs that file as application/json on every request; without it, it sends
-- plain GETs (the same-run baseline).  $BENCH_TOKEN, when set, goes in an
-- Authorization: Bearer header.  At the end it prints one line the script
-- parses (latencies in milliseconds; ok = 2xx answers):
--   wrk_summary requests=N ok=N seconds=S rps=R ok_rps=R p50_ms=X p90_ms=X p99_ms=X max_ms=X non2xx=N errors=N

local body_path = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")

if body_path and #body_path > 0 then
  local f = assert(io.open(body_path, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
if token and #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local ok = summary.requests - e.status
  io.write(string.format(
    "wrk_summary requests=%d ok=%d seconds=%.2f rps=%.1f ok_rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests, ok, seconds, summary.requests / seconds, ok / seconds,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    e.status, e.connect + e.read + e.write + e.timeout))
end
