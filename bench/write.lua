-- write.lua: wrk script for the tinhso write path: POST /api/v1/agencies
-- creating a new commune-level unit under 000.00.31.H23 on every request, as
-- an admin (bearer token from the environment variable BENCH_TOKEN). Each
-- create is a durable (SQLite WAL, synchronous=FULL, group commit), signed and
-- audited write that hashes no password.
--   BENCH_TOKEN=... wrk -t2 -c64 -d10s --latency -s bench/write.lua http://127.0.0.1:PORT -- 2
-- (the argument after -- is wrk's thread count; default 64, which wastes codes.)
-- Codes are unique per request and match ^\d{3}\.\d{2}\.\d{2}\.H23$: the
-- demo codes all start with 000, these with 100..999. Request number n of
-- thread t of T gets index g = base + n*T + t, with base random per run (below
-- 4 million), and code = (100 + g/10000 % 900).(g/100 % 100).(g % 100).H23:
-- 9 million codes, so unique while base + n*T stays below 9 million.
-- Counts non-201 answers and prints them at the end (any is a failed run).

local token = os.getenv("BENCH_TOKEN") or ""
-- globals: thread:set/get see only globals of each thread's Lua state
local threads = {}
local nthreads = 0
math.randomseed(os.time())
local run_base = tonumber(os.getenv("BENCH_BASE") or "") or math.random(0, 3999) * 1000

function setup(thread)
  thread:set("tid", nthreads)
  thread:set("base", run_base) -- the same for every thread: the main state's value
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local n, stride
function init(args)
  n = 0
  bad = 0
  stride = tonumber(args[1] or "") or 64
  assert(tid < stride, "write.lua: give wrk's thread count after --")
end

-- The request is put together by hand rather than with wrk.format (which
-- walks a header table and formats each line on every call): the client's
-- CPU is taken from the same 2 cores as the server's.
local head
function request()
  if not head then
    head = "POST /api/v1/agencies HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
      "\r\nContent-Type: application/json\r\nAuthorization: Bearer " .. token .. "\r\nContent-Length: "
  end
  local g = base + n * stride + tid
  n = n + 1
  local code = string.format("%03d.%02d.%02d.H23", 100 + math.floor(g / 10000) % 900,
    math.floor(g / 100) % 100, g % 100)
  local body = '{"code":"' .. code .. '","name":"Đơn vị thử tải ' .. tid .. '-' .. n ..
    '","level":"commune","kind":"unit","parent":"000.00.31.H23"}'
  return head .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("write.lua: status " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function done(summary, latency, requests)
  local nbad = 0
  for _, t in ipairs(threads) do nbad = nbad + (t:get("bad") or 0) end
  io.write(string.format("non-201 answers: %d\n", nbad))
  io.write(string.format("RESULT rps=%.0f requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d bad=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    nbad))
end
