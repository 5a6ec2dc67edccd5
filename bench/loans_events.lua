-- wrk script for bench/loans_events.py: repaid events (1.00 each) on LOANS loans, each with a fresh event_id and
-- Idempotency-Key; 5% are a duplicate of an event this thread already sent (same body, new key).
-- globals: thread:get reads them in done()
counter, uniques, dups, created, replayed, other = 0, 0, 0, 0, 0, 0
tag = 0
local threads = {}
local id_number = os.getenv("BENCH_ID_NUMBER")
local loans = tonumber(os.getenv("BENCH_LOANS"))
local made = 0

function setup(thread)
  made = made + 1
  thread:set("tag", made)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tag * 7919)
end

local function body(n)
  local loan = (n * 7 + tag) % loans
  return string.format('{"event_id":"T%d-%d","loan_no":"NX-B%d","id_number":"%s","kind":"repaid",' ..
    '"occurred_at":"2021-01-01T09:00:00+08:00","amount":"1.00"}', tag, n, loan, id_number)
end

function request()
  counter = counter + 1
  local n
  if uniques > 0 and math.random() < 0.05 then
    n = math.random(1, uniques)
    dups = dups + 1
  else
    uniques = uniques + 1
    n = uniques
  end
  wrk.headers["Idempotency-Key"] = string.format("k%d-%d", tag, counter)
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", nil, nil, body(n))
end

function response(status, headers, b)
  if status == 201 then created = created + 1 elseif status == 200 then replayed = replayed + 1 else
    other = other + 1 end
end

function done(summary, latency, requests)
  local u, d, c, r, o = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    u = u + t:get("uniques"); d = d + t:get("dups"); c = c + t:get("created"); r = r + t:get("replayed")
    o = o + t:get("other")
  end
  io.write(string.format("BENCH uniques=%d dups=%d created=%d replayed=%d other=%d\n", u, d, c, r, o))
end
