# dsla_add_test(NAME SOURCES ... LIBS ... [LABELS ...]): one gtest binary, one ctest entry (LibTorch start-up is slow).
function(dsla_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest dsla_test_support)
  dsla_set_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "DSLA_REPO_ROOT=${PROJECT_SOURCE_DIR};ASAN_OPTIONS=detect_container_overflow=0:detect_leaks=0"
    LABELS "${T_LABELS}")
endfunction()
