# hiss-render and the resampling wrapper (tools/common/resampler.c).
#   render_resampler          the wrapper against soxr_oneshot + engine references (C)
#   render_resampler_noalloc  no allocation after creation (replaces malloc: not under ASan)
#   render_<case>             end-to-end runs of hiss-render (tests/render/render_test.sh), the
#                             numbers checked by render_check against the engine called directly;
#                             render_files*: several files at once (--out-dir)
#   render_midi_<case>, render_whole, render_whole_segments
#                             hiss-render --midi (synth models) against the same song rendered by
#                             synth_check through the hiss_synth API, and the whole-file path of
#                             effect models (tests/render/midi_test.sh); whole_segments: a long
#                             file a segment at a time equals the file read whole, to the bit
if(TARGET hiss_tools_common AND TARGET PkgConfig::HISS_SOXR)
  add_executable(test_resampler render/test_resampler.c)
  target_link_libraries(test_resampler PRIVATE hiss_tools_common hiss_static PkgConfig::HISS_SOXR m)
  add_test(NAME render_resampler COMMAND test_resampler)

  add_executable(test_resampler_noalloc render/test_resampler_noalloc.c)
  target_link_libraries(test_resampler_noalloc PRIVATE hiss_tools_common hiss_static m)
  add_test(NAME render_resampler_noalloc COMMAND test_resampler_noalloc)
  set_tests_properties(render_resampler_noalloc PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan)
else()
  message(STATUS "hiss: libsoxr not found: resampler tests not built")
endif()

if(TARGET hiss-render)
  add_executable(render_check render/render_check.c)
  target_link_libraries(render_check PRIVATE hiss_static PkgConfig::HISS_SNDFILE m)
  set(HISS_RENDER_CASES
    help progress mono_float mono_24 mono_16 stereo mono_mixdown gain_mix cond flac nonfinite
    rate_strict rate_delta resample resample_blocks errors existing_out same_file signal cuda
    files files_errors files_signal files_cuda)
  foreach(c ${HISS_RENDER_CASES})
    add_test(NAME render_${c}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/render/render_test.sh ${c}
              $<TARGET_FILE:hiss-render> $<TARGET_FILE:render_check>
              ${CMAKE_CURRENT_BINARY_DIR}/render-work/${c})
    set_tests_properties(render_${c} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()

  add_executable(synth_check render/synth_check.c)
  target_link_libraries(synth_check PRIVATE hiss_static PkgConfig::HISS_SNDFILE m)
  foreach(c midi_render midi_options midi_errors midi_signal whole whole_segments)
    add_test(NAME render_${c}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/render/midi_test.sh ${c}
              $<TARGET_FILE:hiss-render> $<TARGET_FILE:synth_check> $<TARGET_FILE:render_check>
              ${CMAKE_CURRENT_BINARY_DIR}/render-work/${c})
    set_tests_properties(render_${c} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
else()
  message(STATUS "hiss: hiss-render not built: its tests are not either")
endif()
