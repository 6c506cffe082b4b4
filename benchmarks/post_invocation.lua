-- wrk script: POST one lead's features to `mlflow models serve` (/invocations).
-- Usage: wrk ... -s post_invocation.lua URL -- <file with the JSON body>
-- done() prints one "status <code> <count>" line per HTTP status seen.

-- setup(), response() and done(): the shared status counting, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_status.lua")

function init(args)
  local file = assert(io.open(args[1], "r"))
  body = file:read("*a")
  file:close()
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", "/invocations", headers, body)
end
