-- 16 requests per write: what a pipelining client sends.
init = function(args)
  local depth = tonumber(args[1]) or 16
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format("GET", "/plaintext")
  end
  batch = table.concat(parts)
end

request = function()
  return batch
end
