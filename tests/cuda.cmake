# The CUDA backend's tests: the GPU against the CPU backend (itself held to the float64 reference
# by the engine tests). Without a CUDA device (or without the backend) they print why and exit 77.
foreach(t match state nan many render batch offline sync synth)
  add_executable(test_cuda_${t} ${CMAKE_CURRENT_SOURCE_DIR}/test_cuda_${t}.c)
  target_link_libraries(test_cuda_${t} PRIVATE hiss_static hiss_internal m)
  if(TARGET hiss_cuda)
    target_include_directories(test_cuda_${t} PRIVATE ${PROJECT_SOURCE_DIR}/kernels)
  endif()
  add_test(NAME cuda_${t} COMMAND test_cuda_${t})
  set_tests_properties(cuda_${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS cuda)
endforeach()
