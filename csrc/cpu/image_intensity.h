// image_intensity.h — per-image intensity ops of ImageDataGenerator on channels-last float32
// batches X [N, H, W, C] (P = H·W pixels): Keras' random channel shift and brightness, and the
// standardisation chain (rescale, samplewise / featurewise centring and std normalisation).
//
// intensity (per image n; either part may be absent):
//   channel shift s[n]:  y = clamp(x + s[n], min(x_n), max(x_n))   (min / max over the whole image,
//                        all channels: Keras' apply_channel_shift)
//   brightness b[n]:     Keras' apply_brightness_shift(scale=False) = a trip through a uint8 PIL
//                        image and ImageEnhance.Brightness: with lo / hi the image's min / max and
//                        local = lo < 0 or hi > 255:
//                          q = trunc(local ? (y − lo) / (hi − lo) · 255 : y)     (astype uint8)
//                          q' = trunc(clamp(float(b) · q, 0, 255))               (PIL's blend)
//                          y = local ? q' / 255 · (hi − lo) + lo : q'
//                        the alpha channel of a 4-channel image keeps q (PIL keeps alpha).
// standardize (per image, Keras' order):
//   y = x · r;  y −= mean(y_n);  y /= std(y_n) + 1e-6;  y −= mean[c];  y /= std[c] + 1e-6
//   (each step optional; image statistics over all of H, W, C, accumulated in double)
// Why shaped so: the statistics are per image, so work is split over images; each image's
// result depends on its own values only (bitwise independent of the thread count).
#pragma once
#include <cmath>

#include "common/common.h"

namespace fusednet::cpu {

// float32 steps in NumPy's order so the uint8 truncation agrees with Keras exactly.
FN_HD float brightness_value(float v, float lo, float hi, float b, bool local, bool alpha) {
  float q;
  if (local) {
    float t = v - lo;
    const float d = hi - lo;
    if (d != 0.f) t = t / d;
    q = truncf(t * 255.f);
  } else {
    q = truncf(v);
  }
  q = q < 0.f ? 0.f : (q > 255.f ? 255.f : q);
  if (!alpha) {
    const float t = b * q;
    q = t <= 0.f ? 0.f : (t >= 255.f ? 255.f : truncf(t));
  }
  return local ? q / 255.f * (hi - lo) + lo : q;
}

// shift / bright: [N] or nullptr.
void image_intensity(float* Y, const float* X, i64 N, i64 P, i64 C, const float* shift, const float* bright);
// mean / std: [C] or nullptr; rescale 0 means none.
void image_standardize(float* Y, const float* X, i64 N, i64 P, i64 C, float rescale, bool sample_center,
                       bool sample_std, const float* mean, const float* std);

}  // namespace fusednet::cpu
