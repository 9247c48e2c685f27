-- The request mix for one `wrk` run of scripts/bench.sh, chosen by environment variables:
--   BENCH_MODE      get | me | signin-ok | signin-unknown | signin-wrong
--   BENCH_PATH      the path for `get`
--   BENCH_COOKIE    a Cookie header (signed-in runs)
--   BENCH_ORIGIN    the Origin header for POSTs (the CSRF guard wants one)
--   BENCH_ENCODING  an Accept-Encoding header, if any
--   BENCH_EXPECT    the status every answer should have (200 unless told); `ok_rps`
--                   counts only those
--   BENCH_USERS, BENCH_THREADS, BENCH_PASSWORD  the benchmark's accounts
-- Every request comes "from" a random address in 10.0.0.0/8 through the trusted proxy
-- (the benchmark's server trusts 127.0.0.1's X-Forwarded-For), so per-address limits do
-- not turn the run into a measurement of 429s. Per-account rules stay as configured.
-- `done` prints one machine-readable line that bench.sh turns into the table.

local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/"
local cookie = os.getenv("BENCH_COOKIE")
local origin = os.getenv("BENCH_ORIGIN") or "http://localhost"
local encoding = os.getenv("BENCH_ENCODING")
local users = tonumber(os.getenv("BENCH_USERS") or "100")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local password = os.getenv("BENCH_PASSWORD") or ""
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")

local threads = {}
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  statuses = {}
  turn = 0
  math.randomseed(os.time() + id * 7919)
end

-- Each thread takes every nthreads-th account in turn, so no account has two sign-ins in
-- flight at once (the in-flight cap would refuse the second).
local function next_account()
  local i = (id + turn * nthreads) % users
  turn = turn + 1
  return string.format("bench-%d@example.test", i)
end

function request()
  local headers = {
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
  }
  if cookie then headers["Cookie"] = cookie end
  if encoding then headers["Accept-Encoding"] = encoding end
  if mode == "get" then
    return wrk.format("GET", path, headers)
  end
  headers["Origin"] = origin
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  if mode == "me" then
    return wrk.format("POST", "/api/me", headers, "")
  end
  local email, pw
  if mode == "signin-ok" then
    email, pw = next_account(), password
  elseif mode == "signin-wrong" then
    email, pw = next_account(), password .. " typo"
  else
    email, pw = string.format("nobody-%d-%d@example.test", id, math.random(1, 2000000000)), password
  end
  return wrk.format("POST", "/api/login", headers, "email=" .. urlencode(email) .. "&password=" .. urlencode(pw))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, parts, ok = {}, {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  for status, n in pairs(counts) do
    table.insert(parts, status .. ":" .. n)
    if status == expect then ok = ok + n end
  end
  table.sort(parts)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f ok_rps=%.1f p50_ms=%.2f p99_ms=%.2f statuses=%s socket_errors=%d\n",
    summary.requests / secs, ok / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ","), e.connect + e.read + e.write + e.timeout))
end
