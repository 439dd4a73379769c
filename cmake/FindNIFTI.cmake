# FindNIFTI.cmake - finds nifti_clib (the NIfTI-1/NIfTI-2 reference C library; Debian's
# libnifti2-dev) and defines the imported targets NIFTI::nifti2 (nifti2_io: NIfTI-1 and NIfTI-2)
# and NIFTI::znz (its zlib wrapper), the names nifti_clib's own CMake package exports.
#
# Why a find module and not nifti_clib's NIFTIConfig.cmake: Debian 12's libnifti2-dev 3.0.1 ships
# /usr/share/cmake/NIFTI/NIFTITargets-none.cmake pointing at /usr/lib/libznz.so.3.0.0 while the
# library lives in /usr/lib/x86_64-linux-gnu/, and its existence check is a FATAL_ERROR that
# find_package cannot recover from. This module looks for the headers and libraries directly, so
# it works with that package, with a source build of nifti_clib and with other distributions.
#
# Result variables: NIFTI_FOUND, NIFTI_INCLUDE_DIR, NIFTI_LIBRARY (nifti2), NIFTI_ZNZ_LIBRARY.
find_package(ZLIB QUIET)

find_path(NIFTI_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti nifti2)
find_library(NIFTI_LIBRARY NAMES nifti2)
find_library(NIFTI_ZNZ_LIBRARY NAMES znz)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NIFTI REQUIRED_VARS NIFTI_LIBRARY NIFTI_ZNZ_LIBRARY NIFTI_INCLUDE_DIR ZLIB_FOUND)

if(NIFTI_FOUND)
  if(NOT TARGET NIFTI::znz)
    add_library(NIFTI::znz UNKNOWN IMPORTED)
    set_target_properties(NIFTI::znz PROPERTIES IMPORTED_LOCATION "${NIFTI_ZNZ_LIBRARY}"
                                                INTERFACE_INCLUDE_DIRECTORIES "${NIFTI_INCLUDE_DIR}"
                                                INTERFACE_LINK_LIBRARIES ZLIB::ZLIB)
  endif()
  if(NOT TARGET NIFTI::nifti2)
    add_library(NIFTI::nifti2 UNKNOWN IMPORTED)
    set_target_properties(NIFTI::nifti2 PROPERTIES IMPORTED_LOCATION "${NIFTI_LIBRARY}"
                                                   INTERFACE_INCLUDE_DIRECTORIES "${NIFTI_INCLUDE_DIR}"
                                                   INTERFACE_LINK_LIBRARIES "NIFTI::znz;m")
  endif()
endif()
mark_as_advanced(NIFTI_INCLUDE_DIR NIFTI_LIBRARY NIFTI_ZNZ_LIBRARY)
