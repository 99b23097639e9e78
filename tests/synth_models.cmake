# Quality gates of shipped synth models (tests/models/synth_gate.c, docs/training.md): held-out
# cross-entropy on a committed clip, pitch across three octaves, a held note neither silent nor
# noise. synth_model_gates skips (77) while presets/models/ holds no synth model;
# synth_gate_untrained checks that an untrained model fails them (the gates can fail) and that
# the estimators pass on the recorded clip.
# The gate reads the clip through tools/common's libsndfile reader.
if(TARGET hiss_tools_common AND TARGET PkgConfig::HISS_SNDFILE)
  add_executable(synth_gate ${CMAKE_CURRENT_SOURCE_DIR}/models/synth_gate.c)
  target_link_libraries(synth_gate PRIVATE hiss_tools_common hiss_static m)
  add_test(NAME synth_model_gates
           COMMAND synth_gate ${PROJECT_SOURCE_DIR}/presets/models ${CMAKE_CURRENT_SOURCE_DIR}/models)
  # A shipped model plays 17 s of notes: minutes under the sanitizers, so release build only.
  set_tests_properties(synth_model_gates PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS nosan)
  add_test(NAME synth_gate_untrained
           COMMAND synth_gate --untrained ${CMAKE_CURRENT_SOURCE_DIR}/models ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(synth_gate_untrained PROPERTIES TIMEOUT 600)
else()
  foreach(t synth_model_gates synth_gate_untrained)
    add_test(NAME ${t} COMMAND sh -c "echo 'skipped: synth_gate reads its clip with libsndfile \
(tools/common: HISS_TOOLS=ON, pkg-config sndfile)'; exit 77")
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
