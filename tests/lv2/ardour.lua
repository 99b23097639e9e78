-- Ardour 7 headless (ardour7-lua), "None (Dummy)" backend: a session with two mono tracks fed
-- from the same capture port (the backend generates noise on it), one plain ("dry") and one
-- with the hiss FX plugin and a preset ("wet"), routed to the two inputs of the master bus,
-- exported as 32-bit float WAV. Settings come from the environment (see ardour.sh).
-- With HISS_RELOAD set, it loads the session saved by the first run instead (moved elsewhere
-- meanwhile: the plugin's state must still find its model) and exports it again.
local function fail(msg)
  print("FAIL: " .. msg)
  error(msg) -- stops the script; ardour.sh then finds no export
end

local function env(k)
  local v = os.getenv(k)
  if not v then fail("missing environment variable " .. k) end
  return v
end

local rate = 48000
local backend = AudioEngine:set_backend("None (Dummy)", "", "")
backend:set_device_name("Gaussian White Noise")

local function export(s)
  local e = s:simple_export()
  if not e:set_preset(env("HISS_EXPORT_PRESET")) then fail("export preset not found") end
  e:set_folder(env("HISS_EXPORT_DIR"))
  e:set_name("hiss-export")
  e:set_range(0, math.floor(tonumber(env("HISS_SECONDS")) * rate))
  if not e:run_export() then fail("export failed") end
  print("exported")
end

local function track(s, name)
  local tl = s:new_audio_track(1, 1, nil, 1, name, ARDOUR.PresentationInfo.max_order,
                               ARDOUR.TrackMode.Normal, false, false)
  for t in tl:iter() do return t end
end

local function build(s)
  local dry, wet = track(s, "dry"), track(s, "wet")
  local p = ARDOUR.LuaAPI.new_plugin(s, env("HISS_URI"), ARDOUR.PluginType.LV2, env("HISS_PRESET"))
  if p:isnil() then fail("Ardour does not find " .. env("HISS_URI")) end
  if wet:add_processor_by_index(p, 0, nil, true) ~= 0 then fail("cannot add the plugin") end
  print("inserted " .. p:display_name() .. " with preset " .. env("HISS_PRESET") .. " on track wet")

  -- New tracks are auto-connected by a background thread: let it finish, then route by hand.
  sleep(1)
  local master_in = s:master_out():input()
  for i, t in ipairs({dry, wet}) do
    t:input():disconnect_all(nil)
    t:output():disconnect_all(nil)
    t:input():audio(0):connect("system:capture_1")
    t:output():audio(0):connect(master_in:audio(i - 1):name())
    t:monitoring_control():set_value(ARDOUR.MonitorChoice.MonitorInput, PBD.GroupControlDisposition.NoGroup)
  end
  sleep(1)
  for i, t in ipairs({dry, wet}) do
    for j = 0, 1 do
      local want = (j == i - 1)
      if t:output():audio(0):connected_to(master_in:audio(j):name()) ~= want then
        fail("track " .. t:name() .. " output is " .. (want and "not " or "") ..
             "connected to master input " .. (j + 1))
      end
    end
  end
  print("routing: dry -> master in 1, wet -> master in 2")
end

local s
if os.getenv("HISS_RELOAD") then
  s = load_session(env("HISS_SESSION"), "hiss")
  if not s then fail("cannot load the session " .. env("HISS_SESSION")) end
  print("reloaded " .. env("HISS_SESSION"))
  export(s)
else
  s = create_session(env("HISS_SESSION"), "hiss", rate)
  if not s then fail("cannot create the session " .. env("HISS_SESSION")) end
  build(s)
  export(s)
  s:save_state("", false, false, false, false, false)
end
close_session()
quit()
