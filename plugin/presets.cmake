# The bundle's presets and manifest from a folder of models: each model becomes a preset of every
# plugin that runs its kind ("hiss.io" in its safetensors header: fx models go to hiss FX mono and
# stereo, synth models to hiss Synth), and is copied into the bundle's models/. A folder with no
# model of a kind gives that plugin no preset.
#
# Included by plugin/CMakeLists.txt at configure time. Also a script, so a test can build a
# bundle from models it writes itself:
#   cmake -DMODEL_DIR=DIR -DBUNDLE=DIR/hiss.lv2 -DBINARY=hiss.so -P plugin/presets.cmake
set(HISS_PRESETS_TEMPLATES ${CMAKE_CURRENT_LIST_DIR})

# The kind of a model, read from its header (empty when unreadable), and the temperature it is
# meant to be played at: its "hiss.synth.temperature" when that is a plain decimal from 0 to 2
# (the plugin's Temperature range), else 1.0, as hiss_synth_model_temperature reads it.
function(hiss_model_io path out temperature)
  set(${out} "" PARENT_SCOPE)
  set(${temperature} "1.0" PARENT_SCOPE)
  file(READ ${path} len_hex LIMIT 8 HEX)
  string(LENGTH "${len_hex}" n)
  if(NOT n EQUAL 16)
    return()
  endif()
  set(be "")
  foreach(i RANGE 14 0 -2) # little-endian u64 -> big-endian hex digits
    string(SUBSTRING "${len_hex}" ${i} 2 byte)
    string(APPEND be "${byte}")
  endforeach()
  math(EXPR len "0x${be}")
  if(len LESS 2 OR len GREATER 16777216)
    return()
  endif()
  file(READ ${path} header OFFSET 8 LIMIT ${len})
  string(JSON io ERROR_VARIABLE jerr GET "${header}" "__metadata__" "hiss.io")
  if(NOT jerr)
    set(${out} "${io}" PARENT_SCOPE)
  endif()
  string(JSON t ERROR_VARIABLE terr GET "${header}" "__metadata__" "hiss.synth.temperature")
  if(NOT terr AND t MATCHES "^[0-9]+(\\.[0-9]+)?$")
    if(NOT t MATCHES "\\.")
      string(APPEND t ".0") # a Turtle decimal, as the other port values
    endif()
    if(NOT t GREATER 2)
      set(${temperature} "${t}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

# Writes BUNDLE/manifest.ttl and BUNDLE/presets.ttl and copies the models into BUNDLE/models.
# Sets HISS_LV2_MODEL_FILES (the models shipped) in the caller's scope.
function(hiss_lv2_presets model_dir bundle binary)
  set(plugins_fx fx fx-stereo)
  set(plugins_synth synth)
  if(CMAKE_SCRIPT_MODE_FILE)
    file(GLOB models ${model_dir}/*.safetensors)
  else()
    # Re-checked at build time: a new model in the folder reconfigures.
    file(GLOB models CONFIGURE_DEPENDS ${model_dir}/*.safetensors)
  endif()
  list(SORT models)
  set(HISS_LV2_PRESETS "")
  set(HISS_LV2_PRESET_MANIFEST "")
  set(shipped "")
  set(count_fx 0)
  set(count_synth 0)
  foreach(model ${models})
    get_filename_component(HISS_PRESET_FILE ${model} NAME)
    get_filename_component(HISS_PRESET_LABEL ${model} NAME_WLE)
    if(NOT HISS_PRESET_LABEL MATCHES "^[A-Za-z0-9_.+-]+$")
      message(WARNING "hiss: ${model}: no preset made; a model's file name may only use letters, "
                      "digits and _.+- (it becomes part of a URI)")
      continue()
    endif()
    hiss_model_io(${model} io HISS_PRESET_TEMPERATURE)
    if(NOT io STREQUAL "fx" AND NOT io STREQUAL "synth")
      message(WARNING "hiss: ${model}: no preset made; its \"hiss.io\" is \"${io}\", which no plugin "
                      "in this bundle runs")
      continue()
    endif()
    file(READ ${HISS_PRESETS_TEMPLATES}/preset-${io}.ttl.in template)
    configure_file(${model} ${bundle}/models/${HISS_PRESET_FILE} COPYONLY)
    list(APPEND shipped ${model})
    math(EXPR count_${io} "${count_${io}} + 1")
    foreach(kind ${plugins_${io}})
      set(HISS_PRESET_URI https://hiss-audio.org/presets/${kind}/${HISS_PRESET_LABEL})
      set(HISS_PLUGIN_URI https://hiss-audio.org/plugins/${kind})
      string(CONFIGURE "${template}" preset @ONLY)
      string(APPEND HISS_LV2_PRESETS "${preset}")
      string(APPEND HISS_LV2_PRESET_MANIFEST "\n<${HISS_PRESET_URI}>\n    a pset:Preset ;\n"
                                             "    lv2:appliesTo <${HISS_PLUGIN_URI}> ;\n"
                                             "    rdfs:seeAlso <presets.ttl> .\n")
    endforeach()
  endforeach()
  message(STATUS "hiss: LV2 presets for ${count_fx} fx and ${count_synth} synth model(s) in ${model_dir}")
  set(HISS_LV2_BINARY ${binary})
  configure_file(${HISS_PRESETS_TEMPLATES}/manifest.ttl.in ${bundle}/manifest.ttl @ONLY)
  configure_file(${HISS_PRESETS_TEMPLATES}/presets.ttl.in ${bundle}/presets.ttl @ONLY)
  set(HISS_LV2_MODEL_FILES ${shipped} PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  foreach(v MODEL_DIR BUNDLE BINARY)
    if(NOT DEFINED ${v})
      message(FATAL_ERROR "presets.cmake: -D${v}=... is required")
    endif()
  endforeach()
  hiss_lv2_presets(${MODEL_DIR} ${BUNDLE} ${BINARY})
endif()
