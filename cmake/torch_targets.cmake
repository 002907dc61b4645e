# ATen's at::parallel_for expands its OpenMP loop in the caller's own code (ATen/ParallelOpenMP.h),
# so code compiled without -fopenmp runs every parallel_for on one thread, silently. With it, the
# runtime is the torch wheel's libgomp.so.1 (the rpath finds it before the system's, and both have
# that soname), so genbox's loops and torch's ops share one thread pool and torch::set_num_threads.
find_package(OpenMP REQUIRED COMPONENTS CXX)

# One precompiled torch header, built once and reused by every torch target.
# It sees the same usage requirements (defines, include paths) as its users, or GCC rejects it.
add_library(genbox_torch_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_link_libraries(genbox_torch_pch PUBLIC genbox_base ${TORCH_LIBRARIES} OpenMP::OpenMP_CXX)
target_precompile_headers(genbox_torch_pch PUBLIC ${PROJECT_SOURCE_DIR}/cmake/torch_pch.hpp)

# Links a target against torch and gives it the shared precompiled header.
function(genbox_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES} OpenMP::OpenMP_CXX)
  target_precompile_headers(${target} REUSE_FROM genbox_torch_pch)
endfunction()
