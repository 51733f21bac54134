-- The everyday mix: 4-turn conversations, one per customer, on email; one turn in five has a
-- low-confidence draft and is held for review; every message new to the detector's cache.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local messages = {
  "Where is my order? It should have arrived yesterday.",
  "How do I change my login password?",
  "Can I change the delivery address?",
  "Your app keeps crashing when I open my invoices.",
  "What are your opening hours on Sunday?",
  "Do you ship to Norway, and how long does it take?",
  "I'd like to return the blue jacket, it is too small.",
  "Can I pay the invoice in two parts?",
}

function init(args)
  n = 0
  run = os.getenv("BENCH_RUN") or "run"
  headers = {["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
             ["Content-Type"] = "application/json"}
  math.randomseed(id * 7919 + os.time())
end

function request()
  n = n + 1
  local conversation = string.format("e-%s-%d-%d", run, id, math.floor((n - 1) / 4))
  local held = math.random() < 0.2
  local body = string.format(
    '{"conversation_id":"%s","channel":"email","customer_id":"%s","message":"%s (ref %d-%d)",'
      .. '"draft":{"text":"Thanks, here is what we can do.","confidence":%s,"intent":"i%d"}}',
    conversation, conversation, messages[math.random(#messages)], id, n,
    held and "0.40" or "0.92", n % 4)
  return wrk.format("POST", "/v1/turns", headers, body)
end
