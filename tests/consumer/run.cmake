# Installs labor from LABOR_BINARY_DIR into a fresh prefix, then configures, builds and runs a
# downstream project that uses find_package(labor). Run with cmake -P.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install "${LABOR_BINARY_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/include/labor/labor.hpp")
  message(FATAL_ERROR "install did not put labor/labor.hpp under ${prefix}/include")
endif()
run(${CMAKE_COMMAND} -S "${LABOR_SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCONSUMER_CUDA=${CUDA})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j 2)
run("${WORK_DIR}/build/consumer")
run("${WORK_DIR}/build/consumer_thrust_cpp")
run("${WORK_DIR}/build/consumer_thrust_own")
if(CUDA)
  # Links cudart and cuBLAS; runs a GPU step where a device is present, else says so and exits 0.
  run("${WORK_DIR}/build/consumer_cuda")
endif()
