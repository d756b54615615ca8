-- wrk script: POST /api/v1/clients/{id}/measures, a scored PHQ-9 for ids read
-- from a file (IDS_FILE), with a bearer token (TOKEN). One submission in 20
-- answers item 9 with 1, which raises an urgent self-harm alert.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE") or "ids.txt") do ids[#ids + 1] = line end
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or ""),
  ["Content-Type"] = "application/json",
}
-- 20 answer sets, made once: the first has item 9 = 1; item 10 (difficulty) is unscored.
local bodies = {}
for k = 0, 19 do
  local a = {}
  for item = 1, 8 do a[item] = (k + item) % 4 end
  a[9] = (k == 0) and 1 or 0
  a[10] = k % 4
  bodies[k + 1] = '{"instrument":"phq9","answers":[' .. table.concat(a, ",") .. ']}'
end

-- Each wrk thread starts at a different place in the id list.
local threads = 0
function setup(thread)
  thread:set("start", threads * 7919)
  threads = threads + 1
end

local i = 0
request = function()
  i = i + 1
  local n = i + (start or 0)
  local id = ids[(n % #ids) + 1]
  return wrk.format("POST", "/api/v1/clients/" .. id .. "/measures", headers, bodies[(n % 20) + 1])
end
