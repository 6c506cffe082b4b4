-- Shared by the wrk scripts (loaded with dofile from the script's own folder): numbers the
-- threads, counts the HTTP statuses, and at the end prints one "status <code> <count>" line
-- per status and the first error body ("first_error ..."), which bench_api.parse_wrk reads.

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

statuses = {}

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
