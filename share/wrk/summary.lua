-- iommuvm: wrk summary script. At the end of the run, done() prints ONE line of
-- JSON (marked "iommuvm_wrk":1) with the totals and the latency distribution in
-- microseconds, including the whole distribution ("histogram_us": value, count, value,
-- count, ... ascending, wrk's 1 us resolution) so that the figures of several wrk
-- processes can be merged exactly. The same text is compiled into iommuvm
-- (workload::wrk_lua_script()).
local function num(x)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.0f", x)
end
local function real(x)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.3f", x)
end
done = function(summary, latency, requests)
  local e = summary.errors
  local lat = "null"
  local hist = "null"
  -- no samples (every request failed or timed out): wrk leaves min at 2^64-1 and max at 0
  if summary.requests > 0 and latency.min <= latency.max then
    lat = string.format(
      '{"min":%s,"max":%s,"mean":%s,"stdev":%s,"p50":%s,"p75":%s,"p90":%s,"p99":%s,"p99.9":%s,"p99.99":%s}',
      num(latency.min), num(latency.max), real(latency.mean), real(latency.stdev),
      num(latency:percentile(50)), num(latency:percentile(75)), num(latency:percentile(90)),
      num(latency:percentile(99)), num(latency:percentile(99.9)), num(latency:percentile(99.99)))
    -- latency(i): the i-th distinct recorded value and its count, ascending
    local parts = {}
    for i = 1, #latency do
      local v, c = latency(i)
      parts[#parts + 1] = num(v) .. "," .. num(c)
    end
    hist = "[" .. table.concat(parts, ",") .. "]"
  end
  io.write(string.format(
    '{"iommuvm_wrk":1,"requests":%s,"duration_us":%s,"bytes":%s,' ..
    '"errors":{"connect":%s,"read":%s,"write":%s,"status":%s,"timeout":%s},"latency_us":%s,' ..
    '"histogram_us":%s}\n',
    num(summary.requests), num(summary.duration), num(summary.bytes),
    num(e.connect), num(e.read), num(e.write), num(e.status), num(e.timeout), lat, hist))
end
