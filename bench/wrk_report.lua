-- Prints wrk's summary and a latency distribution as one JSON line after the run.
-- Percentiles are in microseconds, as wrk records them.
local percentiles = {1, 5, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99}

done = function(summary, latency, requests)
  local parts = {}
  for _, p in ipairs(percentiles) do
    parts[#parts + 1] = string.format('"%g": %d', p, latency:percentile(p))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "percentiles": {%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.mean, latency.stdev, latency.max, table.concat(parts, ", ")))
end
