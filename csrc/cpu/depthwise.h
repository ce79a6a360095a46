// depthwise.h — depthwise 2-D convolution, channels-last (NHWC), Keras kernel layout (kh, kw, C, dm).
//
//   Y[n,oh,ow,c·dm+m] = act( b[c·dm+m] + Σ_{i,j} X[n, oh*sh - pt + i*dh, ow*sw - pl + j*dw, c] · W[i,j,c,m] )
//   (X outside the image reads as 0: zero padding; output channels O = C·dm)
//
// Shapes: X [N,H,W,C], W [kh,kw,C,dm], b [C·dm], Y [N,Ho,Wo,C·dm]. Geometry (Ho, Wo, padding) is
// the Conv2D one: a ConvGeom from make_conv_geom with O = C·dm. W viewed as [kh·kw, C·dm] has
// output channel o = c·dm + m at column o, so every tap is one contiguous weight row that lines up
// with the output pixel's channel vector; input channel o / dm feeds output channel o.
//
// Why shaped so: a depthwise layer does kh·kw multiply-adds per output element, so there is no
// reduction long enough for a GEMM (and im2col would be pure overhead). The kernels are direct
// loops vectorised over the contiguous C·dm channel axis; see depthwise.cpp for the threading and
// the determinism rules (results are bitwise independent of the thread count).
#pragma once
#include "common/common.h"
#include "cpu/conv.h"  // ConvGeom, make_conv_geom

namespace fusednet::cpu {

// Y [N,Ho,Wo,C·dm] = act(depthwise(X, Wt) + bias); g.O must equal g.C·dm. bias may be null.
void depthwise_conv2d_forward(float* Y, const float* X, const float* Wt, const float* bias,
                              const ConvGeom& g, i64 dm, Act act);

// Backward of Y = act(depthwise(X, Wt) + b) through the saved output Y (dZ = dY·act'(Y)).
// dX (may be null: not wanted) [N,H,W,C]; dW [kh,kw,C,dm]; db (may be null) [C·dm].
// Y may be null when act == None. Deterministic: independent of the thread count.
void depthwise_conv2d_backward(float* dX, float* dW, float* db, const float* dY, const float* X,
                               const float* Wt, const float* Y, const ConvGeom& g, i64 dm, Act act);

}  // namespace fusednet::cpu
