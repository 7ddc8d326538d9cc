# Dependencies of the labor INTERFACE target. Kept in one file so the installed package config
# finds exactly the same ones (see laborConfig.cmake.in).
include(GNUInstallDirs)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
include(${CMAKE_CURRENT_LIST_DIR}/LaborFindThrust.cmake)
find_package(PNG REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
