-- What ardour.lua and ardour_synth.lua share (loaded with dofile from $HISS_LUA_LIB, which
-- ardour_lib.sh sets): failing loudly, settings from the environment, inserting the plugin with
-- its preset, routing track outputs to the master bus inputs, the float-WAV export, and the
-- session's life: created, built, exported and saved; or, with HISS_RELOAD set, the session
-- saved by the first run loaded again (moved elsewhere meanwhile: the plugin's state must still
-- find its model) and exported again.
local lib = {}

function lib.fail(msg)
  print("FAIL: " .. msg)
  error(msg) -- stops the script; the .sh then finds no export
end

function lib.env(k)
  local v = os.getenv(k)
  if not v then lib.fail("missing environment variable " .. k) end
  return v
end

-- The plugin HISS_URI with the preset HISS_PRESET, first on track t's processors.
function lib.insert_plugin(s, t, where)
  local p = ARDOUR.LuaAPI.new_plugin(s, lib.env("HISS_URI"), ARDOUR.PluginType.LV2, lib.env("HISS_PRESET"))
  if p:isnil() then lib.fail("Ardour does not find " .. lib.env("HISS_URI")) end
  if t:add_processor_by_index(p, 0, nil, true) ~= 0 then lib.fail("cannot add the plugin") end
  print("inserted " .. p:display_name() .. " with preset " .. lib.env("HISS_PRESET") .. " on " .. where)
end

-- Track tracks[i]'s first output to master input i alone, checked. prepare(t), if given, runs
-- for each track once the auto-connection is over (to route its input).
function lib.route(s, tracks, prepare)
  -- New tracks are auto-connected by a background thread: let it finish, then route by hand.
  sleep(1)
  local master_in = s:master_out():input()
  local said = {}
  for i, t in ipairs(tracks) do
    t:output():disconnect_all(nil)
    if prepare then prepare(t) end
    t:output():audio(0):connect(master_in:audio(i - 1):name())
    table.insert(said, t:name() .. " -> master in " .. i)
  end
  sleep(1)
  for i, t in ipairs(tracks) do
    for j = 0, 1 do
      local want = (j == i - 1)
      if t:output():audio(0):connected_to(master_in:audio(j):name()) ~= want then
        lib.fail("track " .. t:name() .. " output is " .. (want and "not " or "") ..
                 "connected to master input " .. (j + 1))
      end
    end
  end
  print("routing: " .. table.concat(said, ", "))
end

-- Export [0, seconds) at rate with the export preset HISS_EXPORT_PRESET into HISS_EXPORT_DIR.
function lib.export(s, rate, seconds)
  local e = s:simple_export()
  if not e:set_preset(lib.env("HISS_EXPORT_PRESET")) then lib.fail("export preset not found") end
  e:set_folder(lib.env("HISS_EXPORT_DIR"))
  e:set_name("hiss-export")
  e:set_range(0, math.floor(seconds * rate))
  if not e:run_export() then lib.fail("export failed") end
  print("exported")
end

-- The session HISS_SESSION at rate: built by build(s), exported and saved; or reloaded and
-- exported. Then Ardour quits.
function lib.run(rate, seconds, build)
  local s
  if os.getenv("HISS_RELOAD") then
    s = load_session(lib.env("HISS_SESSION"), "hiss")
    if not s then lib.fail("cannot load the session " .. lib.env("HISS_SESSION")) end
    print("reloaded " .. lib.env("HISS_SESSION"))
    lib.export(s, rate, seconds)
  else
    s = create_session(lib.env("HISS_SESSION"), "hiss", rate)
    if not s then lib.fail("cannot create the session " .. lib.env("HISS_SESSION")) end
    build(s)
    lib.export(s, rate, seconds)
    s:save_state("", false, false, false, false, false)
  end
  close_session()
  quit()
end

return lib
