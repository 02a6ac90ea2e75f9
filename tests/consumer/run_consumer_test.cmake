# The `consumer` CTest test (CMakeLists.txt): installs sola_core into WORK_DIR/prefix, checks that
# every header there finds its quoted includes inside the installed tree, then configures, builds
# and runs tests/consumer against that prefix alone (no sola source folder on its include path).
#   cmake -DSOURCE_DIR=... -DBUILD_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX=... [-DLAUNCHER=...]
#         [-DCONFIG=Release] -P run_consumer_test.cmake
foreach(var SOURCE_DIR BUILD_DIR WORK_DIR GENERATOR CXX)
  if(NOT ${var})
    message(FATAL_ERROR "run_consumer_test.cmake: -D${var}= is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()
set(prefix ${WORK_DIR}/prefix)

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "consumer test: ${step} failed (${code}):\n${out}")
  endif()
  message(STATUS "${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --config ${CONFIG})

# Each installed header's "..." includes resolve next to it or under include/sola (the exported
# include path); a header of sola_core that includes an uninstalled one fails here, quickly.
file(GLOB_RECURSE headers ${prefix}/include/sola/*.h)
set(missing)
foreach(header ${headers})
  file(STRINGS ${header} lines REGEX "^#include \"")
  get_filename_component(here ${header} DIRECTORY)
  foreach(line ${lines})
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" name "${line}")
    if(NOT EXISTS ${here}/${name} AND NOT EXISTS ${prefix}/include/sola/${name})
      list(APPEND missing "${header}: ${name}")
    endif()
  endforeach()
endforeach()
if(missing)
  list(JOIN missing "\n  " missing)
  message(FATAL_ERROR "consumer test: installed headers include files that are not installed:\n  ${missing}")
endif()
list(LENGTH headers count)
message(STATUS "headers: ${count} installed, every quoted include inside the tree")

set(configure ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=${CONFIG} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
if(LAUNCHER)
  list(APPEND configure -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configure" ${configure})
run("build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG})
file(GLOB_RECURSE program ${WORK_DIR}/build/consumer ${WORK_DIR}/build/*/consumer)
run("run" ${program})
message(STATUS "consumer: ${last_output}")
