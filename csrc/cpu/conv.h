// conv.h — 2-D convolution, channels-last (NHWC), Keras kernel layout (kh, kw, Cin, Cout).
//
//   Y[n,oh,ow,o] = act( b[o] + Σ_{i,j,c} X[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c] · W[i,j,c,o] )
//   (X outside the image reads as 0: zero padding)
//
// Forward is an implicit GEMM: the "im2col" matrix has one row per output pixel (M = N·Ho·Wo) and
// K = kh·kw·Cin columns ordered (i, j, c) — exactly the row order of W viewed as [K, Cout], so
// W needs no repacking and Y [M, Cout] is the GEMM's C in NHWC order. See conv.cpp for the
// chunking (no full-size im2col temporary), threading and determinism rules.
#pragma once
#include <cstdint>

#include "common/common.h"
#include "cpu/pool.h"

namespace fusednet::cpu {

struct ConvGeom {
  i64 N = 0, H = 0, W = 0, C = 0;   // input (N, H, W, C)
  i64 kh = 1, kw = 1, O = 0;        // kernel (kh, kw, C, O)
  i64 sh = 1, sw = 1, dh = 1, dw = 1;
  i64 pt = 0, pl = 0;               // top / left zero padding
  i64 Ho = 0, Wo = 0;               // output (N, Ho, Wo, O)
  i64 K() const { return kh * kw * C; }
  i64 M() const { return N * Ho * Wo; }
  bool pointwise() const {          // 1x1, stride 1, no padding: X is already the im2col matrix
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0;
  }
};

// Output size and padding along one axis, Keras/TF rules. 'valid': Ho = floor((H - eff)/s) + 1
// with eff = (k-1)·d + 1 (H >= eff required); 'same': Ho = ceil(H/s),
// pad_total = max((Ho-1)·s + eff - H, 0), pad_before = pad_total / 2.
// Returns false when 'valid' and the (dilated) kernel is larger than the input.
bool conv_out_size(i64 H, i64 k, i64 s, i64 d, bool same, i64* Ho, i64* pad_before);

// Throws ValueError (prefixed with `op`) on bad sizes; fills the derived fields.
ConvGeom make_conv_geom(const char* op, i64 N, i64 H, i64 W, i64 C, i64 kh, i64 kw, i64 O, i64 sh,
                        i64 sw, i64 dh, i64 dw, bool same);

// Y [N,Ho,Wo,O] = act(conv(X, Wt) + bias). bias may be null.
void conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                    Act act);

// Backward of Y = act(conv(X, Wt) + b) through the saved output Y (dZ = dY·act'(Y)).
// dX (may be null: not wanted) [N,H,W,C]; dW [kh,kw,C,O]; db (may be null) [O].
// Y may be null when act == None. Deterministic: independent of the thread count.
void conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                     const float* Wt, const float* Y, const ConvGeom& g, Act act);

// dZ = dY · act'(Y) through the saved output Y (relu: Y > 0, sigmoid: Y(1-Y), tanh: 1-Y²; a copy for
// none): the first step of the conv and depthwise backwards. dZ must not overlap dY or Y.
void conv_act_backward(float* dZ, const float* dY, const float* Y, i64 n, Act act);

// dX only (no dW): dX [N,H,W,C] = col2im(dZ · Wtᵀ) for dZ [N,Ho,Wo,O], the gradient at the conv's
// pre-activation. Deterministic (whole images per thread).
void conv2d_backward_data(float* dX, const float* dZ, const float* Wt, const ConvGeom& g);

// Transposed convolution (Keras Conv2DTranspose) as the data gradient of the conv described by g:
// the layer's input X is [N, Ho, Wo, O], its output Y [N, H, W, C], its kernel Wt the conv's
// [kh, kw, C, O] (Keras' transpose layout [kh, kw, filters, in_channels]).
//   forward   Y = act(conv2d_backward_data(X, Wt) + bias[C])            (bias may be null)
//   backward  dZ = dY·act'(Y);  db = Σ dZ;  dX = conv2d_forward(dZ, Wt);
//             dW = the conv's weight gradient with input dZ and output gradient X.
// dX and db may be null.
void conv2d_transpose_forward(float* Y, const float* X, const float* Wt, const float* bias, const ConvGeom& g,
                              Act act);
void conv2d_transpose_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, Act act);

// Conv2D followed by MaxPooling2D (pg pools the conv's output [N,Ho,Wo,O]):
//   forward   P, idx = max_pool2d(act(conv(X, Wt) + bias))          (pool.h's argmax rule)
//   backward  dZ = max_pool2d_backward(dP, idx, relu_y) then the conv's dX/dW/db with Act::None;
//             relu_y = P when the conv's activation was relu (its derivative applied at the
//             argmax, see max_pool2d_backward), null when it was none.
// Why: at training batch sizes the conv's output (11 MiB for the seed CNN's first layer at batch
// 128) goes to DRAM and straight back. Here each thread convolves whole images into an L2-sized
// buffer and pools them from there, so the conv output is never materialised; in the backward
// without dX (the first layer) each image's dZ is rebuilt from the pooled gradient right before
// its dW pass. When 'valid' pooling leaves the last conv rows/columns unread (11x11 -> 5x5), only
// the block it reads is convolved, forward and (on the direct full path, with dX) backward.
// Identical bits to the separate calls (the per-pixel kernels are the same), except dX when
// columns were cropped: the same terms, added by the fused col2im in another order.
// The backward throws ValueError when idx holds a position outside the image.
void conv2d_maxpool_forward(float* P, int32_t* idx, const float* X, const float* Wt, const float* bias,
                            const ConvGeom& g, Act act, const PoolGeom& pg);
void conv2d_maxpool_backward(float* dX, float* dW, float* db, const float* dP, const int32_t* idx,
                             const float* relu_y, const float* X, const float* Wt, const ConvGeom& g,
                             const PoolGeom& pg);

}  // namespace fusednet::cpu
