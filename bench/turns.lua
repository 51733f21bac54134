-- POST /v1/turns for wrk: the bench/turns.py message mix, every message new to the detector's
-- cache, three turns per conversation, one conversation per customer. HITL_KEY: a channel key.
local messages = {
  {"Where is my order? It should have arrived yesterday.", 0.92, "order_status"},
  {"How do I change my login password?", 0.88, "password_reset"},
  {"Can I change the delivery address?", 0.55, "change_address"},
  {"Your app keeps crashing when I open my invoices.", 0.61, "app_bug"},
  {"What are your opening hours on Sunday?", 0.97, "opening_hours"},
  {"I was charged twice for the same order!", 0.74, "billing"},
  {"I want to talk to a real person please", 0.9, "other"},
}
local threads, next_id = {}, 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  n = 0
  run = os.getenv("HITL_RUN") or "run"
  headers = {
    ["Authorization"] = "Bearer " .. os.getenv("HITL_KEY"),
    ["Content-Type"] = "application/json",
  }
  math.randomseed(id)
end

function request()
  n = n + 1
  local m = messages[math.random(#messages)]
  local conversation = string.format("%s-%d-%d", run, id, math.floor(n / 3))
  local body = string.format(
    '{"conversation_id":"%s","channel":"email","customer_id":"c-%s","message":"%s (order %d-%d)",'
      .. '"draft":{"text":"Thanks, here is what we can do.","confidence":%.2f,"intent":"%s"}}',
    conversation, conversation, m[1], id, n, m[2], m[3])
  return wrk.format("POST", "/v1/turns", headers, body)
end

local shown = false
function response(status, headers, body)
  if status ~= 200 and not shown then
    shown = true
    io.stderr:write("first non-200 answer: " .. status .. " " .. body:sub(1, 300) .. "\n")
  end
end
