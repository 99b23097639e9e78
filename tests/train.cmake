# Tests of the trainer (tools/train): gradient check, forward against the reference and the
# engine, convergence on a synthetic target, determinism of the threaded step, and the
# command-line tool end to end.
if(TARGET hiss_train)
  set(HT_TEST_REF ${CMAKE_CURRENT_SOURCE_DIR}/ref)
  foreach(n gradcheck forward converge determinism)
    add_executable(test_train_${n} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_${n}.c
                   ${HT_TEST_REF}/ref_model.c ${HT_TEST_REF}/ref_signal.c)
    target_include_directories(test_train_${n} PRIVATE ${HT_TEST_REF})
    target_link_libraries(test_train_${n} PRIVATE hiss_train)
    add_test(NAME test_train_${n} COMMAND test_train_${n})
    set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  endforeach()
  # The synth trainer: gradients and forward against the float64 reference of tests/synth_ref.c
  # (tests/synth.cmake builds it), convergence on a synthetic instrument, determinism.
  if(TARGET hiss_synth_ref)
    foreach(n synth_grad synth_converge synth_determinism)
      add_executable(test_train_${n} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_${n}.c)
      target_include_directories(test_train_${n} PRIVATE ${HT_TEST_REF})
      target_link_libraries(test_train_${n} PRIVATE hiss_train hiss_synth_ref)
      target_compile_definitions(test_train_${n} PRIVATE HISS_TEST_TMP="${CMAKE_CURRENT_BINARY_DIR}")
      add_test(NAME test_train_${n} COMMAND test_train_${n})
      set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
    endforeach()
  endif()
  # Thousands of training steps: numerics are checked in the plain build; under the sanitizers
  # the gradient check, determinism and CLI tests exercise the same code paths.
  set_tests_properties(test_train_converge PROPERTIES LABELS nosan)
  if(TARGET test_train_synth_converge)
    set_tests_properties(test_train_synth_converge PROPERTIES LABELS nosan)
  endif()
else()
  add_test(NAME test_train
           COMMAND sh -c "echo 'skipped: the trainer is built with the tools (HISS_TOOLS=ON)'; exit 77")
  set_tests_properties(test_train PROPERTIES SKIP_RETURN_CODE 77)
endif()

# The fx command line needs libsndfile (hiss-train is built without it for synth training).
if(TARGET hiss-train AND TARGET PkgConfig::HISS_SNDFILE)
  add_executable(test_train_cli ${CMAKE_CURRENT_SOURCE_DIR}/test_train_cli.c)
  target_include_directories(test_train_cli PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ref)
  target_link_libraries(test_train_cli PRIVATE hiss_static PkgConfig::HISS_SNDFILE m)
  target_compile_definitions(test_train_cli PRIVATE
    HT_TRAIN_EXE="$<TARGET_FILE:hiss-train>"
    HT_TMP_DIR="${CMAKE_CURRENT_BINARY_DIR}/train_cli_tmp")
  add_dependencies(test_train_cli hiss-train)
  add_test(NAME test_train_cli COMMAND test_train_cli)
  set_tests_properties(test_train_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
else()
  add_test(NAME test_train_cli
           COMMAND sh -c "echo 'skipped: hiss-train is not built with libsndfile (fx training needs it)'; exit 77")
  set_tests_properties(test_train_cli PROPERTIES SKIP_RETURN_CODE 77)
endif()

# hiss-train --synth end to end; it needs no libsndfile (the test writes its WAV files itself).
if(TARGET hiss-train)
  add_executable(test_train_synth_cli ${CMAKE_CURRENT_SOURCE_DIR}/test_train_synth_cli.c)
  target_include_directories(test_train_synth_cli PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ref)
  target_link_libraries(test_train_synth_cli PRIVATE hiss_static m)
  target_compile_definitions(test_train_synth_cli PRIVATE
    HT_TRAIN_EXE="$<TARGET_FILE:hiss-train>"
    HT_TMP_DIR="${CMAKE_CURRENT_BINARY_DIR}/train_synth_cli_tmp")
  if(HISS_TRAIN_HAVE_PLOT)
    target_compile_definitions(test_train_synth_cli PRIVATE HT_HAVE_PLOT=1)
  endif()
  add_dependencies(test_train_synth_cli hiss-train)
  add_test(NAME test_train_synth_cli COMMAND test_train_synth_cli)
  set_tests_properties(test_train_synth_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
else()
  add_test(NAME test_train_synth_cli
           COMMAND sh -c "echo 'skipped: hiss-train is not built (HISS_TOOLS=OFF)'; exit 77")
  set_tests_properties(test_train_synth_cli PROPERTIES SKIP_RETURN_CODE 77)
endif()
