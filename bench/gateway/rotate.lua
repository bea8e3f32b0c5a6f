-- Rotates through the keys in KEYS_FILE, one request at a time.
local keys, n, i = {}, 0, 0
for line in io.lines(os.getenv("KEYS_FILE")) do n = n + 1; keys[n] = line end
local path = os.getenv("REQ_PATH") or "/v1/bench/x"

request = function()
  i = i % n + 1
  return wrk.format("GET", path, { ["X-Api-Key"] = keys[i] })
end
