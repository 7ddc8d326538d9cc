# Finds the Thrust/CUB headers labor's samplers use and sets LABOR_THRUST_INCLUDE_DIR.
# Prefers the CUDA toolkit's own CCCL (its include/cccl folder); without a toolkit, Debian's
# libthrust-dev in the system include path. Never both: the toolkit's copy comes first on the
# include path whenever it exists. Used by labor's build and by the installed package config.
if(NOT LABOR_THRUST_INCLUDE_DIR)
  set(_labor_cccl_hints "")
  if(DEFINED ENV{CUDA_PATH})
    list(APPEND _labor_cccl_hints "$ENV{CUDA_PATH}/include/cccl")
  endif()
  if(CUDAToolkit_INCLUDE_DIRS)
    foreach(_dir ${CUDAToolkit_INCLUDE_DIRS})
      list(APPEND _labor_cccl_hints "${_dir}/cccl")
    endforeach()
  endif()
  list(APPEND _labor_cccl_hints /usr/local/cuda/include/cccl)
  find_path(LABOR_THRUST_INCLUDE_DIR NAMES thrust/version.h cub/version.cuh
            HINTS ${_labor_cccl_hints} NO_DEFAULT_PATH)
  if(NOT LABOR_THRUST_INCLUDE_DIR)
    find_path(LABOR_THRUST_INCLUDE_DIR NAMES thrust/version.h)
  endif()
  unset(_labor_cccl_hints)
endif()
if(NOT LABOR_THRUST_INCLUDE_DIR)
  message(FATAL_ERROR "labor: Thrust headers not found. Install the CUDA toolkit or Debian's libthrust-dev, "
                      "or set LABOR_THRUST_INCLUDE_DIR.")
endif()
