-- wrk script: POST one lead's features to `mlflow models serve` (/invocations).
-- Usage: wrk ... -s post_invocation.lua URL -- <file with the JSON body>
-- done() prints one "status <code> <count>" line per HTTP status seen.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  body = file:read("*a")
  file:close()
  headers = { ["Content-Type"] = "application/json" }
  statuses = {}
end

function request()
  return wrk.format("POST", "/invocations", headers, body)
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
