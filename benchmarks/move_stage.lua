-- wrk script: POST /v1/leads/{id}/stage, legal moves only: new → contacted, then
-- contacted ↔ closed_lost (a reason each time), over leads <first>..<last>.
-- Usage: wrk -tT ... -s move_stage.lua URL -- <api key> <first lead id> <last lead id> <T>
-- Each wrk thread moves its own share of the leads in turn, so one lead is never moved by two
-- requests at once (a 409 would be a lost race, not the cost of a move).

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_status.lua")

function init(args)
  api_key = args[1]
  first, last = tonumber(args[2]), tonumber(args[3])
  n_threads = tonumber(args[4])
  counter = 0
  headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = api_key }
end

function request()
  -- This thread's leads: first + thread_no, first + thread_no + threads, ...
  local share = math.floor((last - first + 1 - thread_no + n_threads - 1) / n_threads)
  local slot = counter % share
  local round = math.floor(counter / share)
  counter = counter + 1
  local lead = first + thread_no + slot * n_threads
  local body
  if round % 2 == 0 then
    body = '{"stage":"contacted","reason":"bench"}'
  else
    body = '{"stage":"closed_lost","reason":"bench: not selling"}'
  end
  return wrk.format("POST", "/v1/leads/" .. lead .. "/stage", headers, body)
end
