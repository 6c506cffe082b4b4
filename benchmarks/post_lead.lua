-- wrk script: POST /v1/leads, one new lead per request.
-- Usage: wrk ... -s post_lead.lua URL -- <api key> <run id>
-- external_id = <run id>-<thread>-<counter>, so every request stores a new lead (no dedup hits).
-- done() prints one "status <code> <count>" line per HTTP status seen, for bench_api.py.

-- setup(), response() and done(): the shared status counting, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_status.lua")

function init(args)
  api_key = args[1]
  run_id = args[2] or "run"
  counter = 0
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
