// image.h — geometric image ops on channels-last (NHWC) float32 batches: padding / cropping (with
// backward), per-image random flips, per-image affine/projective resampling and per-image random
// crops. Used by ZeroPadding2D / Cropping2D and the augmentation layers (RandomFlip, RandomRotation,
// RandomTranslation, RandomZoom, RandomCrop).
//
// Shapes: x [N, H, W, C]. Every output element is computed from its own indices only, so results
// are bitwise independent of the thread count; random decisions are pure functions of
// (seed, offset, image index) through the Philox stream of common/philox.h:
//   image n uses block n of (seed, offset), i.e. the four lanes that random_uniform([N, 4], seed,
//   offset) turns into row n.
//
// pad2d:   y [N, H+t+b, W+l+r, C]; y = value outside, y[n, t+i, l+j, c] = x[n, i, j, c] inside.
//          backward: dX = dY[:, t:t+H, l:l+W, :] (a crop).
// crop2d:  y [N, H-t-b, W-l-r, C] = x[:, t:H-b, l:W-r, :]; backward: zero-pad dY by (t, b, l, r).
// flip_images: image n is mirrored left-right iff lane 0 of its block has uniform01 < 0.5 (and
//          `horizontal`), upside-down iff lane 1 has uniform01 < 0.5 (and `vertical`).
// affine_transform: Keras / TF `transform` semantics: params[n] = (a0 a1 a2 b0 b1 b2 c0 c1) maps
//          output pixel (x = column, y = row) to input point
//              k = c0 x + c1 y + 1,  x' = (a0 x + a1 y + a2) / k,  y' = (b0 x + b1 y + b2) / k
//          (k == 0 gives fill_value). Coordinates are computed in double. Sampling:
//            nearest:  the pixel (floor(y'+0.5), floor(x'+0.5)), index mapped by fill_mode;
//            bilinear: the four neighbours floor/floor+1, each index mapped by fill_mode, weighted
//                      by the fractional parts.
//          fill_mode maps an integer index i outside [0, L):
//            constant: the sample is fill_value;   nearest: clamp to [0, L-1];
//            reflect:  (d c b a | a b c d | d c b a)  (mirror about the pixel edge);
//            wrap:     (a b c d | a b c d | a b c d)  (i mod L).
//          (Per-neighbour index mapping equals TF's ImageProjectiveTransformV3 for constant,
//          nearest and reflect; for wrap TF clamps the seam, fusednet interpolates across it, as
//          scipy's 'grid-wrap' / JAX map_coordinates do.) params is [N, 8] or [1, 8] (shared).
// random_crop: training: image n is cropped at (oh, ow) with oh = ((lane0 >> 8) * (H-h+1)) >> 24,
//          ow = ((lane1 >> 8) * (W-w+1)) >> 24 (uniform over the valid offsets, exact integers);
//          inference (training=false): the centre crop at ((H-h)/2, (W-w)/2) (integer division).
#pragma once
#include <cstdint>

#include "common/common.h"

namespace fusednet::cpu {

enum class FillMode : int { Constant = 0, Reflect = 1, Wrap = 2, Nearest = 3 };
enum class Interp : int { Nearest = 0, Bilinear = 1 };

// Y [N, H+t+b, W+l+r, C]
void pad2d_forward(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 t, i64 b, i64 l, i64 r,
                   float value);
// dX [N, H, W, C] from dY [N, H+t+b, W+l+r, C]
void pad2d_backward(float* dX, const float* dY, i64 N, i64 H, i64 W, i64 C, i64 t, i64 b, i64 l, i64 r);
// General window copy: Y [N, h, w, C] = X[:, oh[n]:oh[n]+h, ow[n]:ow[n]+w, :] (oh/ow per image;
// nullptr means 0 for every image, with a common offset added: off_h / off_w).
void crop_windows(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 h, i64 w,
                  const int64_t* oh, const int64_t* ow, i64 off_h, i64 off_w);
void flip_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, bool horizontal, bool vertical,
                 uint64_t seed, uint64_t offset);
// params [P, 8] with P == N or P == 1.
void affine_transform(float* Y, const float* X, const float* params, i64 P, i64 N, i64 H, i64 W, i64 C,
                      Interp interp, FillMode fill, float fill_value);
// Per-image crop offsets (training) written to oh / ow [N].
void random_crop_offsets(int64_t* oh, int64_t* ow, i64 N, i64 H, i64 W, i64 h, i64 w, uint64_t seed,
                         uint64_t offset);

}  // namespace fusednet::cpu
