-- wrk script for seed 003's surface, with the key in BENCH_KEY:
--   BENCH_MODE=create  POST /api/inference?index=1
--   BENCH_MODE=status  GET /api/task/{id}/status of a random task of the file BENCH_IDS (an id a line)
-- At the end it prints one JSON line: requests, seconds, errors and latency percentiles.
local headers = { Authorization = "Bearer " .. os.getenv("BENCH_KEY") }

if os.getenv("BENCH_MODE") == "create" then
    request = function()
        return wrk.format("POST", "/api/inference?index=1", headers)
    end
else
    local ids = {}
    for line in io.lines(os.getenv("BENCH_IDS")) do
        ids[#ids + 1] = line
    end
    request = function()
        return wrk.format("GET", "/api/task/" .. ids[math.random(#ids)] .. "/status", headers)
    end
end

done = function(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        '{"requests":%d,"seconds":%f,"non_2xx":%d,"socket_errors":%d,"p50_ms":%f,"p99_ms":%f}\n',
        summary.requests, summary.duration / 1e6, errors.status,
        errors.connect + errors.read + errors.write + errors.timeout,
        latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
