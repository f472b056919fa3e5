-- read.lua: wrk script for the tinhso read path: GET /api/v1/agencies/{code},
-- rotating over the demo agencies. The codes come from the file named by the
-- environment variable BENCH_CODES (one code a line; bench/run writes it from
-- the live server's agency list), else from a few built-in demo codes.
--   BENCH_CODES=codes.txt wrk -t2 -c64 -d10s --latency -s bench/read.lua http://127.0.0.1:PORT
-- Counts non-2xx answers and prints them at the end (any is a failed run).

local codes = {}
local path = os.getenv("BENCH_CODES")
if path then
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do
      if line:match("^%d%d%d%.%d%d%.%d%d%.H23$") then codes[#codes + 1] = line end
    end
    f:close()
  end
end
if #codes == 0 then
  codes = { "000.00.00.H23", "000.00.01.H23", "000.00.02.H23", "000.00.31.H23" }
end

-- globals: thread:set/get see only globals of each thread's Lua state
local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local i
function init(args)
  i = (tid or 0) * 7919 -- spread the threads over the list
  bad = 0
end

function request()
  i = i + 1
  return wrk.format("GET", "/api/v1/agencies/" .. codes[(i % #codes) + 1])
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad == 1 then io.stderr:write("read.lua: status " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function done(summary, latency, requests)
  local nbad = 0
  for _, t in ipairs(threads) do nbad = nbad + (t:get("bad") or 0) end
  io.write(string.format("non-200 answers: %d\n", nbad))
  io.write(string.format("RESULT rps=%.0f requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d bad=%d codes=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    nbad, #codes))
end
