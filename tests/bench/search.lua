-- wrk script for tests/bench/run.sh: GET /api/v1/search cycling through the
-- queries in the file named by $BENCH_QUERIES (one query text a line), each
-- wrk thread starting at a different query.  At the end it prints one line the
-- script parses (latencies in milliseconds):
--   wrk_summary requests=N seconds=S rps=R p50_ms=X p90_ms=X p99_ms=X max_ms=X non2xx=N errors=N

local path = os.getenv("BENCH_QUERIES")
local paths = {}
local nthreads = 0
local pos = 0

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function load()
  if not path then
    error("BENCH_QUERIES is not set")
  end
  for line in io.lines(path) do
    if #line > 0 then
      paths[#paths + 1] = "/api/v1/search?q=" .. urlencode(line)
    end
  end
  if #paths == 0 then
    error("no queries in " .. path)
  end
end

function setup(thread)
  thread:set("first", nthreads)
  nthreads = nthreads + 1
end

function init(args)
  load()
  pos = first or 0
end

function request()
  pos = pos % #paths + 1
  return wrk.format("GET", paths[pos])
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "wrk_summary requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    e.status, e.connect + e.read + e.write + e.timeout))
end
