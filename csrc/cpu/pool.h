// pool.h — 2-D pooling on channels-last (NHWC) images, forward and backward.
//
//   max:  y[n,oh,ow,c] = max_{(i,j) in window ∩ image} x[n, oh*sh - pt + i, ow*sw - pl + j, c]
//         idx[n,oh,ow,c] = h*W + w of that maximum (int32, first in row-major window order on ties;
//         NaN propagates); backward scatter-adds dY at idx.
//   avg:  y = (Σ over window ∩ image) / count, count = number of non-padded elements (Keras 'same'
//         rule; with 'valid' that is always ph*pw); backward spreads dY/count over the same window.
//   global avg / max: (N, H, W, C) -> (N, C).
// Windows follow the TF/Keras padding rule (conv_out_size in conv.h). Layout NHWC puts C innermost,
// so every window step is a contiguous C-vector operation; threads split over images/output rows.
#pragma once
#include <cstdint>

#include "common/common.h"

namespace fusednet::cpu {

struct PoolGeom {
  i64 N = 0, H = 0, W = 0, C = 0;
  i64 ph = 1, pw = 1, sh = 1, sw = 1;
  i64 pt = 0, pl = 0, Ho = 0, Wo = 0;
};

// Throws ValueError (prefixed with op) for pool sizes / strides < 1 and for a 'valid' window
// larger than the input.
PoolGeom make_pool_geom(const char* op, i64 N, i64 H, i64 W, i64 C, i64 ph, i64 pw, i64 sh, i64 sw,
                        bool same);

void max_pool2d_forward(float* Y, int32_t* idx, const float* X, const PoolGeom& g);
// Returns false (after zero-filling dX) when an index is outside [0, H*W): the caller raises.
// relu_y (nullable): the forward's pooled output. When the pooled input was relu(z), the ReLU's
// derivative at the argmax is relu_y > 0, so passing it fuses the ReLU backward here (dropped
// contributions leave +0, exactly as the separate select would) and the producer of the pooled
// input (a Conv2D with a relu epilogue) never re-reads its [N,H,W,C] output for the mask.
bool max_pool2d_backward(float* dX, const float* dY, const int32_t* idx, const PoolGeom& g,
                         const float* relu_y = nullptr);

void avg_pool2d_forward(float* Y, const float* X, const PoolGeom& g);
void avg_pool2d_backward(float* dX, const float* dY, const PoolGeom& g);

// Y [N, C]
void global_avg_pool_forward(float* Y, const float* X, i64 N, i64 HW, i64 C);
void global_avg_pool_backward(float* dX, const float* dY, i64 N, i64 HW, i64 C);
void global_max_pool_forward(float* Y, int32_t* idx, const float* X, i64 N, i64 HW, i64 C);
bool global_max_pool_backward(float* dX, const float* dY, const int32_t* idx, i64 N, i64 HW, i64 C);

}  // namespace fusednet::cpu
