# Each shipped effect model reproduces the test ESR recorded in its metadata on its committed
# clip. Synth models have no ESR: synth_model_gates (tests/synth_models.cmake) gates them.
include(${PROJECT_SOURCE_DIR}/plugin/presets.cmake) # hiss_model_io
if(TARGET hiss-eval)
  file(GLOB HISS_SHIPPED_MODELS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/presets/models/*.safetensors)
  foreach(m ${HISS_SHIPPED_MODELS})
    hiss_model_io(${m} io temperature)
    if(io STREQUAL "synth")
      continue()
    endif()
    get_filename_component(n ${m} NAME_WE)
    add_test(NAME model_${n}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/models/check_model.sh
              $<TARGET_FILE:hiss-eval> $<TARGET_FILE:hiss-model> ${m} ${PROJECT_SOURCE_DIR}/presets/models/clips)
    set_tests_properties(model_${n} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
