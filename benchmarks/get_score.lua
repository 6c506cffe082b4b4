-- wrk script: GET /v1/leads/<random id>/score over a book of N leads.
-- Usage: wrk ... -s get_score.lua URL -- <api key> <N>
-- done() prints one "status <code> <count>" line per HTTP status seen, for bench_scoring.py.

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  headers = { ["X-API-Key"] = args[1] }
  n = tonumber(args[2])
  math.randomseed(os.time() * 1000 + thread_no)
  statuses = {}
end

function request()
  return wrk.format("GET", "/v1/leads/" .. math.random(1, n) .. "/score", headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 300 and not first_error then
    first_error = status .. " " .. body
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
    local err = thread:get("first_error")
    if err then
      io.write("first_error ", err, "\n")
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d %d\n", code, count))
  end
end
