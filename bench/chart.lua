-- wrk script: GET /api/v1/clients/{id} for ids read from ids.txt, with a bearer token.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE") or "ids.txt") do ids[#ids + 1] = line end
local token = os.getenv("TOKEN")
local i = 0
request = function()
  i = i + 1
  local id = ids[(i % #ids) + 1]
  return wrk.format("GET", "/api/v1/clients/" .. id, { ["Authorization"] = "Bearer " .. token })
end
