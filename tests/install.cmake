# cmake --install puts a usable library, header and pkg-config file in place.
add_test(NAME install COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh
         ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install_check)
set_tests_properties(install PROPERTIES LABELS nosan)
