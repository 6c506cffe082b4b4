-- wrk script: GET /v1/leads/<random id>/score over a book of N leads.
-- Usage: wrk ... -s get_score.lua URL -- <api key> <N>
-- done() prints one "status <code> <count>" line per HTTP status seen, for bench_scoring.py.

-- setup(), response() and done(): the shared status counting, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_status.lua")

function init(args)
  headers = { ["X-API-Key"] = args[1] }
  n = tonumber(args[2])
  math.randomseed(os.time() * 1000 + thread_no)
end

function request()
  return wrk.format("GET", "/v1/leads/" .. math.random(1, n) .. "/score", headers)
end
