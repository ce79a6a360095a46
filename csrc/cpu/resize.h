// resize.h — image resizing on channels-last (NHWC) batches: "nearest", "bilinear" and "bicubic", with
// half-pixel centres, no antialiasing: the semantics of tf.image.resize (Keras 3's
// ops.image.resize / Resizing / image_dataset_from_directory) and of torch.nn.functional.
// interpolate(mode="bilinear" | "nearest-exact", align_corners=False, antialias=False).
//
// Layout: X [N, H, W, C] (float32, or uint8 straight from a decoder), Y [N, Ho, Wo, C] float32.
// An optional source window (top, left, h, w) inside X is resized instead of the whole image
// (crop_to_aspect_ratio: the centred crop is never materialised).
//
// Formula (per axis; in = window size, out = output size, s = in / out, computed in double):
//   source coordinate of output index o:   u = (o + 0.5) · s − 0.5
//   bilinear: u' = max(u, 0); i0 = floor(u'); i1 = min(i0 + 1, in − 1); λ = u' − i0
//             y = (1−λy)·((1−λx)·x[i0,j0] + λx·x[i0,j1]) + λy·((1−λx)·x[i1,j0] + λx·x[i1,j1])
//             (u < 0 clamps to the first pixel, u > in−1 to the last: TF's floor/ceil clamps
//             give the same values)
//   nearest:  i = min(floor((o + 0.5) · s), in − 1)   (TF half-pixel nearest, torch nearest-exact)
//   bicubic:  torch's (= Keras with the torch backend): u = (o + 0.5) · s − 0.5 (not clamped),
//             i = floor(u), t = u − i, taps i−1..i+2 with indices clamped to [0, in − 1], Keys cubic
//             convolution weights with A = −0.75: W(d) = ((A+2)d − (A+3))d² + 1 for d ≤ 1,
//             ((A d − 5A)d + 8A)d − 4A for 1 < d < 2; rows of horizontal results blended vertically.
//             (TF's bicubic uses A = −0.5 and renormalises weights at the border instead.)
//
// Why this shape: indices and weights depend on one axis only, so they are computed once per
// output row and once per output column (O(Ho + Wo) work), and the inner loop is a blend of C
// contiguous channels of at most four pixels. Work is split over (image, output row) pairs;
// every output element depends on its own indices only, so results are bitwise independent of
// the thread count.
//
// Separable filters (resize_filter.cpp; taps and formulas in common/resize_filter.h): "area" (TF's
// ResizeArea), "lanczos3" / "lanczos5" (TF / JAX / Keras' NumPy backend scale_and_translate, with
// or without antialias), and "bilinear" / "bicubic" with antialias (triangle / Keys A = −0.5
// kernels stretched by the downscale factor: torch interpolate(antialias=True), i.e. PIL's).
#pragma once
#include <cstdint>

#include "common/common.h"
#include "common/resize_filter.h"

namespace fusednet::cpu {

enum class ResizeMode : int { Nearest = 0, Bilinear = 1, Bicubic = 2 };

// Source window of every image: rows [top, top + h), columns [left, left + w) of X [N, H, W, C].
struct ResizeWindow {
  i64 top, left, h, w;
};

void resize_images(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                   ResizeMode mode);
void resize_images_u8(float* Y, const uint8_t* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                      ResizeMode mode);
void resize_images_filtered(float* Y, const float* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo, ResizeWindow win,
                            ResizeFilter f, bool antialias);
void resize_images_filtered_u8(float* Y, const uint8_t* X, i64 N, i64 H, i64 W, i64 C, i64 Ho, i64 Wo,
                               ResizeWindow win, ResizeFilter f, bool antialias);

}  // namespace fusednet::cpu
