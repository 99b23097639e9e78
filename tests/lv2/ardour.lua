-- Ardour 7 headless (ardour7-lua), "None (Dummy)" backend: a session with two mono tracks fed
-- from the same capture port (the backend generates noise on it), one plain ("dry") and one
-- with the hiss FX plugin and a preset ("wet"), routed to the two inputs of the master bus,
-- exported as 32-bit float WAV. Settings come from the environment (see ardour.sh); what the
-- synth's script does alike is in ardour_lib.lua.
local lib = dofile(assert(os.getenv("HISS_LUA_LIB"), "missing environment variable HISS_LUA_LIB"))

local rate = 48000
local backend = AudioEngine:set_backend("None (Dummy)", "", "")
backend:set_device_name("Gaussian White Noise")

local function track(s, name)
  local tl = s:new_audio_track(1, 1, nil, 1, name, ARDOUR.PresentationInfo.max_order,
                               ARDOUR.TrackMode.Normal, false, false)
  for t in tl:iter() do return t end
end

local function build(s)
  local dry, wet = track(s, "dry"), track(s, "wet")
  lib.insert_plugin(s, wet, "track wet")
  lib.route(s, {dry, wet}, function(t)
    t:input():disconnect_all(nil)
    t:input():audio(0):connect("system:capture_1")
    t:monitoring_control():set_value(ARDOUR.MonitorChoice.MonitorInput, PBD.GroupControlDisposition.NoGroup)
  end)
end

lib.run(rate, tonumber(lib.env("HISS_SECONDS")), build)
