-- The escalation-heavy mix (an outage, a billing error): on live chat, customers coming back
-- about the same thing (a pool of 300 per thread, so repeat contact fires), a quarter asking for
-- a person; mostly warm transfers. Nobody is online: transfers queue, as in a real peak.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local asking = {
  "I want to talk to a real person please",
  "Get me a human, this is the third time I write",
  "Can someone from your team call me back?",
  "Put me through to one of your staff",
}
local other = {
  "My bill is twice what it should be this month.",
  "The service has been down since this morning.",
  "I was charged for a plan I cancelled.",
  "Nothing works, when will it be fixed?",
}

function init(args)
  n = 0
  run = os.getenv("BENCH_RUN") or "run"
  headers = {["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
             ["Content-Type"] = "application/json"}
  math.randomseed(id * 104729 + os.time())
end

function request()
  n = n + 1
  local customer = string.format("x-%s-%d-%d", run, id, math.random(300))
  local ask = math.random() < 0.25
  local text = ask and asking[math.random(#asking)] or other[math.random(#other)]
  local body = string.format(
    '{"conversation_id":"%s-%d","channel":"chat","customer_id":"%s","message":"%s (ref %d-%d)",'
      .. '"draft":{"text":"Sorry about that, let me check.","confidence":0.85,"intent":"billing"}}',
    customer, n, customer, text, id, n)
  return wrk.format("POST", "/v1/turns", headers, body)
end
