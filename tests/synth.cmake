# The synth (issue 6): step against the float64 reference, sampler and mu-law, voice allocation,
# the instrument, its real-time setters, model files, the phase features against their closed
# form, hiss-model for synth files; the MIDI-file reader (tools/midi); hiss-host's ring and hiss-host
# itself against a JACK dummy server.

add_library(hiss_synth_ref STATIC ${CMAKE_CURRENT_SOURCE_DIR}/synth_ref.c)
target_include_directories(hiss_synth_ref PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(hiss_synth_ref PUBLIC hiss_static m)

foreach(t step sample voices instrument setters model phase)
  add_executable(test_synth_${t} ${CMAKE_CURRENT_SOURCE_DIR}/test_synth_${t}.c)
  target_link_libraries(test_synth_${t} PRIVATE hiss_synth_ref hiss_static m)
  target_include_directories(test_synth_${t} PRIVATE ${PROJECT_SOURCE_DIR}/engine/src)
  target_compile_definitions(test_synth_${t} PRIVATE HISS_TEST_TMP="${CMAKE_CURRENT_BINARY_DIR}")
  add_test(NAME synth_${t} COMMAND test_synth_${t})
  set_tests_properties(synth_${t} PROPERTIES TIMEOUT 300)
endforeach()

if(TARGET hiss-model)
  add_executable(test_synth_cli ${CMAKE_CURRENT_SOURCE_DIR}/test_synth_cli.c)
  target_link_libraries(test_synth_cli PRIVATE hiss_static m)
  add_test(NAME synth_cli COMMAND test_synth_cli $<TARGET_FILE:hiss-model> ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(synth_cli PROPERTIES TIMEOUT 300)
endif()

add_executable(test_synth_midifile ${CMAKE_CURRENT_SOURCE_DIR}/test_synth_midifile.c)
target_link_libraries(test_synth_midifile PRIVATE hiss_midi m)
add_test(NAME synth_midifile COMMAND test_synth_midifile)
set_tests_properties(synth_midifile PROPERTIES TIMEOUT 300)

if(TARGET hiss-host)
  find_package(Threads REQUIRED)
  add_executable(test_synth_ring ${CMAKE_CURRENT_SOURCE_DIR}/test_synth_ring.c)
  target_link_libraries(test_synth_ring PRIVATE hiss_spsc Threads::Threads)
  add_test(NAME synth_ring COMMAND test_synth_ring)
  set_tests_properties(synth_ring PROPERTIES TIMEOUT 300)

  add_executable(synth_host_check ${CMAKE_CURRENT_SOURCE_DIR}/synth_host_check.c)
  target_link_libraries(synth_host_check PRIVATE hiss_midi hiss_static PkgConfig::HISS_SNDFILE m)
  # A real host, in real time: not under the sanitizers (label nosan).
  add_test(NAME synth_host COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/synth_host_test.sh
    $<TARGET_FILE:hiss-host> $<TARGET_FILE:synth_host_check> ${CMAKE_CURRENT_BINARY_DIR}/synth_host
    $<TARGET_FILE:hiss-server>)
  set_tests_properties(synth_host PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS nosan)
else()
  add_test(NAME synth_host COMMAND sh -c "echo 'SKIP: hiss-host was not built (PortAudio, RtMidi or libsndfile missing at configure time)'; exit 77")
  set_tests_properties(synth_host PROPERTIES SKIP_RETURN_CODE 77)
endif()
