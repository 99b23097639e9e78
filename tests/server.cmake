# hiss-server and the engine's server backend: clients against local CPU streams (bit for bit with
# the server on the CPU; to 1e-5 on CUDA, which prints that it skipped without a GPU).
add_executable(test_server ${CMAKE_CURRENT_SOURCE_DIR}/test_server.c)
target_link_libraries(test_server PRIVATE hiss_static hiss_internal m)
foreach(b cpu cuda)
  add_test(NAME server_${b} COMMAND test_server $<TARGET_FILE:hiss-server> ${b} ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(server_${b} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()
set_tests_properties(server_cuda PROPERTIES LABELS cuda)

# SIGTERM with a thread started before main (a preloaded library, as compute-sanitizer injects):
# the server still stops through its own clean-up. Not in sanitizer builds, where a preloaded
# library may not come before the sanitizer's runtime.
if(NOT HISS_SANITIZE)
  add_library(hiss_server_thread SHARED ${CMAKE_CURRENT_SOURCE_DIR}/server_thread.c)
  target_link_libraries(hiss_server_thread PRIVATE Threads::Threads)
  add_test(NAME server_stop COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/server_stop.sh $<TARGET_FILE:hiss-server>
                                    $<TARGET_FILE:hiss_server_thread> ${CMAKE_CURRENT_BINARY_DIR}/server-stop)
endif()
