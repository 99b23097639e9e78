# The safetensors reader/writer and its JSON parser: exact conversions, round trips, every
# rejection the format requires, and a mutation fuzzer (run it in a HISS_SANITIZE=ON build to have
# every out-of-bounds read caught, not just the ones that crash).
foreach(t test_safetensors fuzz_safetensors)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE hiss_static m)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/engine/src)
endforeach()
add_test(NAME safetensors COMMAND test_safetensors ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME safetensors_fuzz COMMAND fuzz_safetensors)
set_tests_properties(safetensors safetensors_fuzz PROPERTIES TIMEOUT 300)
