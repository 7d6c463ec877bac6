-- wrk script for bench/serve_bench.sh (not a test).
-- BENCH_MODE=get: GET /v1/users/{random known user}/recommendations?n=10
-- BENCH_MODE=post: POST /v1/ratings with one random rating per request
-- BENCH_MODE=healthz: GET /healthz (the HTTP layer alone)
-- BENCH_MODE=mixed: GETs of recommendations with one POST /v1/ratings in
--   every MIXED_READS + 1 requests (bench/soak.sh)
-- BENCH_USERS / BENCH_ITEMS: files with one ID per line.
-- BENCH_QUERY: appended to every recommendations path (request-time rules,
--   bench/filter_serve.sh), e.g. "&category=D1&exclude=...".
local mode = os.getenv("BENCH_MODE") or "get"
local paths, users, items = {}, {}, {}

local function load(path, t)
  for line in io.lines(path) do
    if #line > 0 then t[#t + 1] = line end
  end
end

local function pct(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function json_str(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  load(os.getenv("BENCH_USERS"), users)
  for i, u in ipairs(users) do
    paths[i] = "/v1/users/" .. pct(u) .. "/recommendations?n=10" .. (os.getenv("BENCH_QUERY") or "")
  end
  if mode == "post" or mode == "mixed" then
    load(os.getenv("BENCH_ITEMS"), items)
    for i, u in ipairs(users) do users[i] = json_str(u) end
    for i, it in ipairs(items) do items[i] = json_str(it) end
  end
end

-- mixed: one write for every MIXED_READS reads (default 9), as a shop's
-- traffic, where most requests read.
local mixed_reads = tonumber(os.getenv("MIXED_READS") or "9")
local counter = 0

function request()
  if mode == "mixed" then
    counter = counter + 1
    if counter % (mixed_reads + 1) == 0 then
      local body = '{"user":' .. users[math.random(#users)] .. ',"item":' ..
        items[math.random(#items)] .. ',"rating":' .. math.random(5) .. '}'
      return wrk.format("POST", "/v1/ratings", headers, body)
    end
    return wrk.format("GET", paths[math.random(#paths)])
  end
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  if mode == "post" then
    local body = '{"user":' .. users[math.random(#users)] .. ',"item":' ..
      items[math.random(#items)] .. ',"rating":' .. math.random(5) .. '}'
    return wrk.format("POST", "/v1/ratings", headers, body)
  end
  return wrk.format("GET", paths[math.random(#paths)])
end
