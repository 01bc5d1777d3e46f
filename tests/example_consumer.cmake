# Installs skipzoo into a scratch prefix, then configures, builds and runs examples/consumer
# against that installed package (not the build tree), and examples/consumer_models (COMPONENTS
# models) with OpenCV hidden from CMake: the models component must not need it.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer_models -B ${WORK_DIR}/build_models -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build_models)
run(${WORK_DIR}/build_models/consumer_models)
