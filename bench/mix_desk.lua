-- The desk mix: reviewers working the queue through the API: take the next review (a claim),
-- then approve it, again and again; the queue was filled by the everyday mix before.
-- BENCH_TOKENS: reviewer tokens, comma separated (one per thread, in turn).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")

function init(args)
  local tokens = {}
  for t in string.gmatch(os.getenv("BENCH_TOKENS"), "[^,]+") do table.insert(tokens, t) end
  headers = {["Authorization"] = "Bearer " .. tokens[(id - 1) % #tokens + 1],
             ["Content-Type"] = "application/json"}
  claimed = {}
end

function request()
  local review = table.remove(claimed)
  if review then
    return wrk.format("POST", "/v1/reviews/" .. review .. "/approve", headers, "")
  end
  return wrk.format("POST", "/v1/reviews/next", headers, "")
end

function on_response(status, body)
  if status == 200 and body then
    local review = body:match('^{"id":"([0-9a-f%-]+)"')
    if review and not body:find('"status":"approved"', 1, true) then
      table.insert(claimed, review)
    end
  end
end
