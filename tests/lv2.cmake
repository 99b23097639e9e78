# The LV2 plugin's tests (tests/lv2/): lv2_validate on the bundle; a lilv test host that checks
# the plugin against the engine run directly; a preloaded checker that counts allocation, locks
# and I/O during run(); a stress test of model swaps (run under ASan by tools/test.sh); and the
# real hosts jalv (jackd, dummy driver) and Ardour 7 (headless, dummy backend).
if(NOT TARGET hiss_lv2)
  message(STATUS "hiss: LV2 plugin not built: its tests are not either")
  return()
endif()
pkg_check_modules(LILV QUIET IMPORTED_TARGET lilv-0)
if(NOT LILV_FOUND)
  message(STATUS "hiss: lilv not found (Debian: apt-get install liblilv-dev): LV2 host tests not built")
  return()
endif()
find_package(Threads REQUIRED)

set(HISS_LV2_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/lv2)
set(HISS_LV2_TMP ${CMAKE_CURRENT_BINARY_DIR}/lv2-tmp)
set(HISS_LV2_BUNDLE_DIR ${HISS_LV2_DIR}/hiss.lv2)

add_executable(hiss-lv2-test ${HISS_LV2_TEST_DIR}/test_plugin.c ${HISS_LV2_TEST_DIR}/host.c
                             ${HISS_LV2_TEST_DIR}/kit.c ${HISS_LV2_TEST_DIR}/models.c ${HISS_LV2_TEST_DIR}/wav.c)
target_link_libraries(hiss-lv2-test PRIVATE hiss_static PkgConfig::LILV Threads::Threads m ${CMAKE_DL_LIBS})
add_dependencies(hiss-lv2-test hiss_lv2)

# The checker is preloaded into the test host; it must not carry sanitizer runtimes itself.
add_library(hiss_rtcheck SHARED ${HISS_LV2_TEST_DIR}/rtcheck.c)
target_link_libraries(hiss_rtcheck PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(hiss_rtcheck PROPERTIES C_VISIBILITY_PRESET hidden)

add_test(NAME lv2_validate COMMAND sh ${HISS_LV2_TEST_DIR}/validate.sh ${HISS_LV2_BUNDLE_DIR})

foreach(mode deferred immediate threaded)
  add_test(NAME lv2_basic_${mode}
           COMMAND hiss-lv2-test basic ${HISS_LV2_DIR} ${HISS_LV2_TMP}/basic_${mode} ${mode})
endforeach()
foreach(c params stereo rate presets stress)
  add_test(NAME lv2_${c} COMMAND hiss-lv2-test ${c} ${HISS_LV2_DIR} ${HISS_LV2_TMP}/${c})
endforeach()
if(TARGET hiss-render)
  add_test(NAME lv2_vs_render
           COMMAND hiss-lv2-test render ${HISS_LV2_DIR} ${HISS_LV2_TMP}/render $<TARGET_FILE:hiss-render>)
else()
  message(STATUS "hiss: hiss-render not built: the plugin is compared with the engine only")
endif()
add_test(NAME lv2_rt COMMAND hiss-lv2-test rt ${HISS_LV2_DIR} ${HISS_LV2_TMP}/rt)
set_tests_properties(lv2_rt PROPERTIES
  ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:hiss_rtcheck>"
  LABELS nosan) # the sanitizers interpose the allocator themselves

# The Synth plugin: the same host, against the engine's hiss_synth API.
add_executable(hiss-lv2-synth-test ${HISS_LV2_TEST_DIR}/test_synth.c ${HISS_LV2_TEST_DIR}/host.c
                                   ${HISS_LV2_TEST_DIR}/kit.c ${HISS_LV2_TEST_DIR}/models.c
                                   ${HISS_LV2_TEST_DIR}/synth_models.c)
target_link_libraries(hiss-lv2-synth-test PRIVATE hiss_static PkgConfig::LILV Threads::Threads m ${CMAKE_DL_LIBS})
add_dependencies(hiss-lv2-synth-test hiss_lv2)
foreach(mode deferred immediate threaded)
  add_test(NAME lv2_synth_play_${mode}
           COMMAND hiss-lv2-synth-test play ${HISS_LV2_DIR} ${HISS_LV2_TMP}/synth_play_${mode} ${mode})
endforeach()
add_test(NAME lv2_synth_params COMMAND hiss-lv2-synth-test params ${HISS_LV2_DIR} ${HISS_LV2_TMP}/synth_params)
add_test(NAME lv2_synth_presets
         COMMAND hiss-lv2-synth-test presets ${HISS_LV2_DIR} ${HISS_LV2_TMP}/synth_presets ${CMAKE_COMMAND}
                 ${PROJECT_SOURCE_DIR}/plugin/presets.cmake)
add_test(NAME lv2_synth_rt COMMAND hiss-lv2-synth-test rt ${HISS_LV2_DIR} ${HISS_LV2_TMP}/synth_rt)
set_tests_properties(lv2_synth_rt PROPERTIES
  ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:hiss_rtcheck>"
  LABELS nosan)

set_tests_properties(lv2_validate lv2_presets PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(lv2_stress PROPERTIES TIMEOUT 600)

# Real hosts. They run in real time (jackd's dummy driver) or start a whole DAW: nosan.
pkg_check_modules(JACK QUIET IMPORTED_TARGET jack)
if(JACK_FOUND)
  add_executable(hiss-jack-check ${HISS_LV2_TEST_DIR}/jack_check.c ${HISS_LV2_TEST_DIR}/jack_util.c
                                 ${HISS_LV2_TEST_DIR}/models.c)
  target_link_libraries(hiss-jack-check PRIVATE hiss_static PkgConfig::JACK m)
  foreach(kind fx fx-stereo)
    add_test(NAME lv2_jalv_${kind}
             COMMAND sh ${HISS_LV2_TEST_DIR}/jalv.sh ${HISS_LV2_DIR} $<TARGET_FILE:hiss-jack-check>
                     ${HISS_LV2_TMP}/jalv_${kind} ${kind})
    set_tests_properties(lv2_jalv_${kind} PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 180)
  endforeach()
  add_executable(hiss-jack-synth-check ${HISS_LV2_TEST_DIR}/jack_synth_check.c ${HISS_LV2_TEST_DIR}/jack_util.c
                                       ${HISS_LV2_TEST_DIR}/synth_models.c)
  target_link_libraries(hiss-jack-synth-check PRIVATE hiss_static PkgConfig::JACK m)
  add_test(NAME lv2_jalv_synth
           COMMAND sh ${HISS_LV2_TEST_DIR}/jalv_synth.sh ${HISS_LV2_DIR} $<TARGET_FILE:hiss-lv2-synth-test>
                   $<TARGET_FILE:hiss-jack-synth-check> ${CMAKE_COMMAND} ${PROJECT_SOURCE_DIR}/plugin/presets.cmake
                   ${HISS_LV2_TMP}/jalv_synth)
  set_tests_properties(lv2_jalv_synth PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 180)
else()
  add_test(NAME lv2_jalv COMMAND sh -c
           "echo 'SKIPPED: JACK headers not found at configure time (Debian: apt-get install libjack-jackd2-dev)'; exit 77")
  set_tests_properties(lv2_jalv PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan)
endif()

add_executable(hiss-wav-check ${HISS_LV2_TEST_DIR}/wav_check.c ${HISS_LV2_TEST_DIR}/models.c
                              ${HISS_LV2_TEST_DIR}/wav.c)
target_link_libraries(hiss-wav-check PRIVATE hiss_static m)
add_test(NAME lv2_ardour
         COMMAND sh ${HISS_LV2_TEST_DIR}/ardour.sh ${HISS_LV2_DIR} $<TARGET_FILE:hiss-wav-check> ${HISS_LV2_TMP}/ardour)
set_tests_properties(lv2_ardour PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 200)

add_executable(hiss-wav-synth-check ${HISS_LV2_TEST_DIR}/wav_synth_check.c ${HISS_LV2_TEST_DIR}/synth_models.c
                                    ${HISS_LV2_TEST_DIR}/wav.c)
target_link_libraries(hiss-wav-synth-check PRIVATE hiss_static m)
add_test(NAME lv2_ardour_synth
         COMMAND sh ${HISS_LV2_TEST_DIR}/ardour_synth.sh ${HISS_LV2_DIR} $<TARGET_FILE:hiss-lv2-synth-test>
                 $<TARGET_FILE:hiss-wav-synth-check> ${CMAKE_COMMAND} ${PROJECT_SOURCE_DIR}/plugin/presets.cmake
                 ${HISS_LV2_TMP}/ardour_synth)
set_tests_properties(lv2_ardour_synth PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 300)

# The FX plugin with its models on a hiss-server (CPU): two instances against the engine, one
# block of latency, and the fallback into the process when the server dies.
add_test(NAME lv2_server COMMAND hiss-lv2-test server ${HISS_LV2_DIR} ${HISS_LV2_TMP}/server
                                 $<TARGET_FILE:hiss-server>)
if(HISS_SANITIZE)
  set_tests_properties(lv2_server PROPERTIES ENVIRONMENT HISS_TEST_PACE=8)
endif()

# Ardour exporting (freewheeling) with the plugin's model on a hiss-server: the export equals the
# engine's output, as lv2_ardour's does in the process.
add_test(NAME lv2_ardour_server
         COMMAND sh ${HISS_LV2_TEST_DIR}/ardour_server.sh ${HISS_LV2_DIR} $<TARGET_FILE:hiss-wav-check>
                 $<TARGET_FILE:hiss-server> ${HISS_LV2_TMP}/ardour_server)
set_tests_properties(lv2_ardour_server PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 200)
