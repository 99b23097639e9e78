# The engine's correctness tests, against the independent float64 reference in tests/ref/.

# The reference and its file writer: no engine code, so the two cannot share a mistake.
add_library(hiss_ref STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/ref/ref_model.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ref/ref_writer.c
  ${CMAKE_CURRENT_SOURCE_DIR}/ref/ref_signal.c)
target_include_directories(hiss_ref PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/ref)
target_link_libraries(hiss_ref PUBLIC m)
# The reference runs hundreds of thousands of float64 steps per test: keep it optimised in Debug
# builds too (sanitisers stay on), so that the sanitised tests stay within their time. It is the
# oracle here, not the code under test.
target_compile_options(hiss_ref PRIVATE $<$<CONFIG:Debug>:-O2>)

# Glue between the reference and the engine (writes a reference model, runs both).
add_library(hiss_ref_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/ref/harness.c)
target_link_libraries(hiss_ref_harness PUBLIC hiss_ref hiss_static)
target_compile_definitions(hiss_ref_harness PRIVATE
  HISS_TEST_TMP_DIR="${CMAKE_CURRENT_BINARY_DIR}")

# Regenerates tests/data/golden* from the reference: a tool, not a test.
add_executable(hiss_make_golden ${CMAKE_CURRENT_SOURCE_DIR}/ref/make_golden.c)
target_link_libraries(hiss_make_golden PRIVATE hiss_ref)
target_compile_definitions(hiss_make_golden PRIVATE
  HISS_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data")

foreach(t reference blocks state nan golden)
  add_executable(test_engine_${t} ${CMAKE_CURRENT_SOURCE_DIR}/test_engine_${t}.c)
  target_link_libraries(test_engine_${t} PRIVATE hiss_ref_harness)
  target_compile_definitions(test_engine_${t} PRIVATE
    HISS_TEST_DATA_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data")
  add_test(NAME engine_${t} COMMAND test_engine_${t})
  set_tests_properties(engine_${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# The CPU step is dispatched to the widest vector unit; HISS_CPU=sse2 forces the baseline that
# other machines run. The cheap tests run again on it.
foreach(t blocks golden)
  add_test(NAME engine_${t}_sse2 COMMAND test_engine_${t} sse2)
  set_tests_properties(engine_${t}_sse2 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT HISS_CPU=sse2)
endforeach()

add_executable(test_engine_render ${CMAKE_CURRENT_SOURCE_DIR}/test_engine_render.c)
target_link_libraries(test_engine_render PRIVATE hiss_static)
add_test(NAME engine_render COMMAND test_engine_render)

add_executable(test_engine_render_batch ${CMAKE_CURRENT_SOURCE_DIR}/test_engine_render_batch.c)
target_link_libraries(test_engine_render_batch PRIVATE hiss_static)
add_test(NAME engine_render_batch COMMAND test_engine_render_batch)

# hiss_offline on the CPU: any partition into calls equals one hiss_render_offline call, bit for bit
# (random models from tests/test_cuda_util.h, which needs the engine's internal model.h).
add_executable(test_engine_offline ${CMAKE_CURRENT_SOURCE_DIR}/test_engine_offline.c)
target_link_libraries(test_engine_offline PRIVATE hiss_static hiss_internal m)
add_test(NAME engine_offline COMMAND test_engine_offline)

# Model metadata numbers are read the same under a decimal-comma LC_NUMERIC (engine/src/cnum.c).
add_executable(test_engine_locale ${CMAKE_CURRENT_SOURCE_DIR}/test_engine_locale.c)
target_link_libraries(test_engine_locale PRIVATE hiss_static hiss_internal)
target_include_directories(test_engine_locale PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_engine_locale PRIVATE HISS_TEST_TMP_DIR="${CMAKE_CURRENT_BINARY_DIR}")
add_test(NAME engine_locale COMMAND test_engine_locale)
set_tests_properties(engine_locale PROPERTIES SKIP_RETURN_CODE 77)
