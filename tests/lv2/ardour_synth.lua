-- Ardour 7 headless (ardour7-lua), "None (Dummy)" backend: a MIDI track playing a MIDI region
-- into hiss Synth (a preset of a random synth model), routed to master input 1 alone, exported as
-- 32-bit float WAV. Settings come from the environment (see ardour_synth.sh); what the FX
-- plugin's script does alike is in ardour_lib.lua.
-- Ardour's Lua has no call that makes an empty MIDI region, so the script records a short take
-- from Ardour's own virtual-keyboard port (one note), then replaces its notes with HISS_NOTES:
-- "start:length:key:velocity,..." in ticks of 1/1920 beat at Ardour's default 120 bpm.
local lib = dofile(assert(os.getenv("HISS_LUA_LIB"), "missing environment variable HISS_LUA_LIB"))
local fail, env = lib.fail, lib.env

local rate = tonumber(env("HISS_RATE"))
local seconds = tonumber(env("HISS_SECONDS"))
AudioEngine:set_backend("None (Dummy)", "", "")

local function record_take(s, t)
  local vk = nil
  local _, pl = s:engine():get_ports(ARDOUR.DataType("midi"), ARDOUR.PortList())
  for p in pl[2]:iter() do
    local amp = p:to_asyncmidiport()
    if not amp:isnil() and amp:sends_output() and string.find(p:name(), "virtual") then vk = amp end
  end
  if not vk then fail("Ardour's virtual keyboard port not found") end
  t:input():disconnect_all(nil)
  t:input():midi(0):connect(vk:name())
  t:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
  s:maybe_enable_record(false)
  s:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
  sleep(0.3)
  local function send(bytes)
    local parser = ARDOUR.RawMidiParser()
    for _, b in ipairs(bytes) do parser:process_byte(b) end
    vk:write(parser:midi_buffer(), parser:buffer_size(), 0)
  end
  send({0x90, 60, 100})
  sleep(0.2)
  send({0x80, 60, 0})
  sleep(0.3)
  s:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
  sleep(1)
  t:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
  s:disable_record(false, false)
  t:input():disconnect_all(nil)
  for r in t:playlist():region_list():iter() do return r end
  fail("recording made no region")
end

local function build(s)
  local tl = s:new_midi_track(ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1),
                              ARDOUR.ChanCount(ARDOUR.DataType("audio"), 1), false, ARDOUR.PluginInfo(),
                              nil, nil, 1, "synth", ARDOUR.PresentationInfo.max_order,
                              ARDOUR.TrackMode.Normal, true, false)
  local t
  for x in tl:iter() do t = x end
  local r = record_take(s, t)
  local mm = r:to_midiregion():midi_source(0):model()
  local cmd = mm:new_note_diff_command("hiss notes")
  for n in ARDOUR.LuaAPI.note_list(mm):iter() do cmd:remove(n) end
  local count = 0
  for start, len, key, vel in string.gmatch(env("HISS_NOTES"), "(%d+):(%d+):(%d+):(%d+)") do
    start, len = tonumber(start), tonumber(len)
    cmd:add(ARDOUR.LuaAPI.new_noteptr(1, Temporal.Beats(start // 1920, start % 1920),
                                      Temporal.Beats(len // 1920, len % 1920), tonumber(key), tonumber(vel)))
    count = count + 1
  end
  mm:apply_command(s, cmd)
  r:set_length(Temporal.timecnt_t(math.floor(seconds * rate)))
  if r:position():samples() ~= 0 then fail("the region starts at sample " .. r:position():samples()) end
  local placed = {}
  for n in ARDOUR.LuaAPI.note_list(mm):iter() do
    table.insert(placed, string.format("%d@%s", n:note(), tostring(n:time())))
  end
  print("region of " .. count .. " notes (key@beat:tick) " .. table.concat(placed, " ") ..
        ", " .. r:length():samples() .. " samples long")

  lib.insert_plugin(s, t, "MIDI track synth")
  lib.route(s, {t})
end

lib.run(rate, seconds, build)
