-- wrk script: POST /v1/leads, one new lead per request.
-- Usage: wrk ... -s post_lead.lua URL -- <api key> <run id>
-- external_id = <run id>-<thread>-<counter>, so every request stores a new lead (no dedup hits).
-- done() prints one "status <code> <count>" line per HTTP status seen, for bench_api.py.

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_no", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  api_key = args[1]
  run_id = args[2] or "run"
  counter = 0
  statuses = {}
  headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = api_key }
end

-- Email and phone differ in every request too: the server caches their normalisation, and
-- real leads are different people, so repeats would flatter the numbers.
local BODY = [[{"external_id":"%s","source":"wrk_bench","first_name":"Dana","last_name":"Seller",]]
  .. [["email":"dana.%s@example.com","phone":"(512) %03d-%04d","property_street":"%d Oak St",]]
  .. [["property_city":"Austin","property_state":"TX","property_zip":"78701",]]
  .. [["property_type":"single family","bedrooms":3,"bathrooms":2,"square_feet":1450,]]
  .. [["asking_price":"$250,000","condition":"needs work","occupancy":"vacant",]]
  .. [["motivation":"inherited","timeline":"asap","consent_email":true}]]

function request()
  counter = counter + 1
  local unique = string.format("%s-%d-%d", run_id, thread_no, counter)
  -- NANP exchange codes are 200-999: 8 per thread, 10,000 numbers each, so distinct up to 80k.
  local exchange = 200 + (thread_no * 8 + math.floor(counter / 10000) % 8) % 800
  local body = string.format(BODY, unique, unique, exchange, counter % 10000, counter)
  return wrk.format("POST", "/v1/leads", headers, body)
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
    local seen = thread:get("statuses")
    for code, count in pairs(seen) do
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
