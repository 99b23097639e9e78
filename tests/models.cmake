# Each shipped model reproduces the test ESR recorded in its metadata on its committed clip.
if(TARGET hiss-eval)
  file(GLOB HISS_SHIPPED_MODELS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/presets/models/*.safetensors)
  foreach(m ${HISS_SHIPPED_MODELS})
    get_filename_component(n ${m} NAME_WE)
    add_test(NAME model_${n}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/models/check_model.sh
              $<TARGET_FILE:hiss-eval> $<TARGET_FILE:hiss-model> ${m} ${PROJECT_SOURCE_DIR}/presets/models/clips)
    set_tests_properties(model_${n} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
