# Tests of the trainer (tools/train): gradient check, forward against the reference and the
# engine, convergence on a synthetic target, determinism of the threaded step, and the
# command-line tool end to end.
# tests/train/ holds what the tests share: train_grad_util.c (the gradient checks) and
# train_cli_util.c (the command-line tests).
if(TARGET hiss_train)
  set(HT_TEST_REF ${CMAKE_CURRENT_SOURCE_DIR}/ref)
  set(HT_TEST_UTIL ${CMAKE_CURRENT_SOURCE_DIR}/train)
  foreach(n gradcheck forward converge determinism)
    add_executable(test_train_${n} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_${n}.c
                   ${HT_TEST_REF}/ref_model.c ${HT_TEST_REF}/ref_signal.c)
    target_include_directories(test_train_${n} PRIVATE ${HT_TEST_REF} ${HT_TEST_UTIL})
    target_link_libraries(test_train_${n} PRIVATE hiss_train)
    add_test(NAME test_train_${n} COMMAND test_train_${n})
    set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  endforeach()
  target_sources(test_train_gradcheck PRIVATE ${HT_TEST_UTIL}/train_grad_util.c)
  # The synth trainer: gradients and forward against the float64 reference of tests/synth_ref.c
  # (tests/synth.cmake builds it), convergence on a synthetic instrument, determinism, self-feed.
  if(TARGET hiss_synth_ref)
    foreach(n synth_grad synth_converge synth_determinism synth_self_feed)
      add_executable(test_train_${n} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_${n}.c)
      target_include_directories(test_train_${n} PRIVATE ${HT_TEST_REF} ${HT_TEST_UTIL})
      target_link_libraries(test_train_${n} PRIVATE hiss_train hiss_synth_ref)
      target_compile_definitions(test_train_${n} PRIVATE HISS_TEST_TMP="${CMAKE_CURRENT_BINARY_DIR}")
      add_test(NAME test_train_${n} COMMAND test_train_${n})
      set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
    endforeach()
    target_sources(test_train_synth_grad PRIVATE ${HT_TEST_UTIL}/train_grad_util.c)
  endif()
  # The float math's instruction set (HISS_TRAIN_ISA, tools/train/isa.c): the choice, and the
  # gradient under every set this machine runs (test_train_isa); then the gradient checks again
  # under each set, skipped (77) where the processor or the build lacks it.
  add_executable(test_train_isa ${CMAKE_CURRENT_SOURCE_DIR}/test_train_isa.c
                 ${HT_TEST_UTIL}/train_grad_util.c)
  target_include_directories(test_train_isa PRIVATE ${HT_TEST_REF} ${HT_TEST_UTIL})
  target_link_libraries(test_train_isa PRIVATE hiss_train)
  add_test(NAME test_train_isa COMMAND test_train_isa)
  set_tests_properties(test_train_isa PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  foreach(isa baseline avx2 avx512)
    foreach(n gradcheck synth_grad)
      if(TARGET test_train_${n})
        add_test(NAME test_train_${n}_${isa} COMMAND test_train_${n})
        set_tests_properties(test_train_${n}_${isa} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                             ENVIRONMENT HISS_TRAIN_ISA=${isa})
      endif()
    endforeach()
  endforeach()
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

# hiss-train end to end, fx (test_train_cli) and synth (test_train_synth_cli): hiss-train is built
# only with libsndfile, and the tests write their WAV files with it.
if(TARGET hiss-train)
  foreach(n cli synth_cli)
    add_executable(test_train_${n} ${CMAKE_CURRENT_SOURCE_DIR}/test_train_${n}.c
                   ${CMAKE_CURRENT_SOURCE_DIR}/train/train_cli_util.c)
    target_include_directories(test_train_${n} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ref
                               ${CMAKE_CURRENT_SOURCE_DIR}/train)
    target_link_libraries(test_train_${n} PRIVATE hiss_static PkgConfig::HISS_SNDFILE m)
    target_compile_definitions(test_train_${n} PRIVATE
      HT_TRAIN_EXE="$<TARGET_FILE:hiss-train>"
      HT_TMP_DIR="${CMAKE_CURRENT_BINARY_DIR}/train_${n}_tmp")
    add_dependencies(test_train_${n} hiss-train)
    add_test(NAME test_train_${n} COMMAND test_train_${n})
    set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  endforeach()
  if(HISS_TRAIN_HAVE_PLOT)
    target_compile_definitions(test_train_synth_cli PRIVATE HT_HAVE_PLOT=1)
  endif()
else()
  foreach(n cli synth_cli)
    add_test(NAME test_train_${n} COMMAND sh -c "echo 'skipped: hiss-train is not built \
(HISS_TOOLS=OFF, or no libsndfile: pkg-config sndfile)'; exit 77")
    set_tests_properties(test_train_${n} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
