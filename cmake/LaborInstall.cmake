include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LABOR_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/labor")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/labor" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")

set(LABOR_EXPORTED_TARGETS labor)
if(TARGET labor_cuda)
  list(APPEND LABOR_EXPORTED_TARGETS labor_cuda)
endif()
install(TARGETS ${LABOR_EXPORTED_TARGETS} EXPORT laborTargets)
install(EXPORT laborTargets NAMESPACE labor:: DESTINATION "${LABOR_CMAKE_DIR}")

set(LABOR_PACKAGE_HAS_CUDA OFF)
if(TARGET labor_cuda)
  set(LABOR_PACKAGE_HAS_CUDA ON)
endif()
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/laborConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/laborConfig.cmake" INSTALL_DESTINATION "${LABOR_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/laborConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/laborConfig.cmake" "${PROJECT_BINARY_DIR}/laborConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/LaborFindThrust.cmake"
  DESTINATION "${LABOR_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/labor")
