# Builds examples/minimal as an outside project would, two ways, and runs it once each (linking
# fbseg::fbseg: the headers and libfbseg):
#   1. add_subdirectory(<fbseg source>)        (FBSEG_SOURCE_DIR set)
#   2. find_package(fbseg CONFIG) after `cmake --install` of fbseg into a scratch prefix.
# Invoked by ctest with -DSOURCE_DIR, -DBUILD_DIR (the fbseg build under test), -DWORK_DIR, -DGENERATOR.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
# Built without optimisation (the test is about the packaging; examples/minimal is a small MLP):
# about half the compile time of a Release build.
set(common -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0)
find_program(CCACHE ccache)
if(CCACHE)
  list(APPEND common -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()

# 1. add_subdirectory
# (FBSEG_CPU_DISPATCH OFF: libfbseg with its baseline kernels only, a third of the compile; the
# project's own build, which runs this test and is installed in 2., has the dispatching one)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/minimal -B ${WORK_DIR}/subdir ${common}
    -DFBSEG_SOURCE_DIR=${SOURCE_DIR} -DFBSEG_CUDA=OFF -DFBSEG_CPU_DISPATCH=OFF)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/subdir)
run(${WORK_DIR}/subdir/fbseg_minimal --steps 3)

# 2. install, then find_package. What is installed is the build that runs this test (BUILD_DIR:
# libfbseg as that build compiled it, with every instruction set's kernels), so libfbseg is not
# compiled a second time here; `cmake --install` only copies.
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/minimal -B ${WORK_DIR}/installed ${common}
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/installed)
run(${WORK_DIR}/installed/fbseg_minimal --steps 3)
message(STATUS "examples/minimal built and ran through add_subdirectory and find_package")
