-- Shared by the bench/mix_*.lua scripts (loaded with dofile): the first non-2xx answer is shown,
-- and done() prints one JSON line with the slice's counts and 1,000 latency quantiles, which
-- bench/load.py merges across slices into the run's percentiles and its latency-over-time chart.
local shown = false
function response(status, headers, body)
  if status >= 300 and not shown then
    shown = true
    io.stderr:write("first non-2xx answer: " .. status .. " " .. body:sub(1, 300) .. "\n")
  end
  if on_response then on_response(status, body) end
end

function done(summary, latency, requests)
  local e = summary.errors
  local q = {}
  for i = 1, 1000 do q[i] = latency:percentile(i / 10) end
  io.write(string.format(
    'SLICE {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"q_us":[%s]}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    table.concat(q, ",")))
end

local threads, next_id = {}, 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function json_escape(s)
  return (s:gsub('\\', '\\\\'):gsub('"', '\\"'))
end
