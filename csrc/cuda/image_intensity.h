// image_intensity.h (cuda) — host-side launchers of the CUDA channel shift / brightness /
// standardisation kernels (plain C++: includable without nvcc). Same contract and signatures as
// csrc/cpu/image_intensity.h; device pointers (shift / bright / mean / std too), enqueued on
// cuda::current_stream(). Only compiled with FUSEDNET_WITH_CUDA.
#pragma once
#include "common/common.h"

namespace fusednet::cuda {

void image_intensity(float* Y, const float* X, i64 N, i64 P, i64 C, const float* shift, const float* bright);
void image_standardize(float* Y, const float* X, i64 N, i64 P, i64 C, float rescale, bool sample_center,
                       bool sample_std, const float* mean, const float* std);

}  // namespace fusednet::cuda
