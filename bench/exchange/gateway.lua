-- gateway.lua: wrk script for bench/exchange/run: GETs through the LGSP
-- gateway, each signed beforehand by gen.py (a fresh nonce per request, so none
-- is ever replayed). Thread t reads $BENCH_REQS.t; $BENCH_CLIENT is the client
-- subsystem; $BENCH_PURPOSE and $BENCH_SUBJECT when the signatures cover them.
-- With $BENCH_DIRECT=PREFIX the same paths go to the backend directly, with
-- the gateway prefix replaced by PREFIX and no X-Road headers.
-- Prints one RESULT line; "exhausted" counts requests beyond the signed set
-- (each one a replay the gateway refuses: the run is then invalid).
local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  paths, times, nonces, sigs = {}, {}, {}, {}
  local f = assert(io.open(os.getenv("BENCH_REQS") .. "." .. (tid or 0), "r"))
  local direct = os.getenv("BENCH_DIRECT")
  for line in f:lines() do
    local p, t, n, s = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if direct then p = direct .. p:match("(/[^/]+)$") end
    paths[#paths + 1], times[#times + 1], nonces[#nonces + 1], sigs[#sigs + 1] = p, t, n, s
  end
  f:close()
  is_direct = direct ~= nil
  client = os.getenv("BENCH_CLIENT")
  purpose = os.getenv("BENCH_PURPOSE")
  subject = os.getenv("BENCH_SUBJECT")
  i, bad, exhausted = 0, 0, 0
end

function request()
  i = i + 1
  if i > #paths then
    if not is_direct then exhausted = exhausted + 1 end
    i = 1
  end
  if is_direct then
    return wrk.format("GET", paths[i])
  end
  local h = { ["X-Road-Client"] = client, ["X-Road-Time"] = times[i], ["X-Road-Nonce"] = nonces[i],
              ["X-Road-Signature"] = sigs[i] }
  if purpose then h["X-Road-Purpose"] = purpose end
  if subject then h["X-Road-Subject"] = subject end
  return wrk.format("GET", paths[i], h)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad == 1 then io.stderr:write("gateway.lua: status " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function done(summary, latency, requests)
  local nbad, nex = 0, 0
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    nex = nex + (t:get("exhausted") or 0)
  end
  io.write(string.format("RESULT rps=%.0f requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d bad=%d exhausted=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    nbad, nex))
end
