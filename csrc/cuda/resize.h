// resize.h (cuda) — host-side launcher of the CUDA resize kernel (plain C++: includable without
// nvcc). Same contract and raw-pointer signature as cpu::resize_images (csrc/cpu/resize.h); device
// pointers, enqueued on cuda::current_stream(), no synchronisation. Declared here rather than in
// kernels.h so the resize family stays self-contained. Only compiled with FUSEDNET_WITH_CUDA.
#pragma once
#include "common/common.h"
#include "cpu/resize.h"

namespace fusednet::cuda {

void resize_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, cpu::ResizeWindow win,
                   cpu::ResizeMode mode);
// resize_filter.cu: the separable filters (area, lanczos, antialiased bilinear / bicubic).
void resize_images_filtered(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo,
                            cpu::ResizeWindow win, ResizeFilter f, bool antialias);

}  // namespace fusednet::cuda
