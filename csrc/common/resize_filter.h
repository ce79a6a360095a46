// resize_filter.h — the separable resampling filters of resize_filter.{cpp,cu}, shared by host and
// device (FN_HD) so the CPU and CUDA kernels compute the same taps with the same expressions.
//
// One axis: `in` source pixels (a window), `out` output pixels, s = in / out (double).
//   Kernel filters (Keras' scale_and_translate: TF / JAX / Keras' NumPy backend; with antialias
//   also torch's interpolate(antialias=True), which is PIL's filter):
//     centre of output o in source coordinates: u = (o + 0.5)·s − 0.5
//     kernel scale  ks = antialias ? max(s, 1) : 1    (stretch the kernel when downsampling)
//     taps          j in [ceil(u − R·ks), floor(u + R·ks)] ∩ [0, in − 1], R = the kernel's radius
//     weight        w_j = k(|u − j| / ks), then normalised by Σ w (0 when |Σ w| ≤ 1000·eps_f32)
//     k: triangle (R = 1), Keys cubic A = −0.5 (R = 2), lanczos3 / lanczos5
//        (R·sin(πx)·sin(πx/R) / (π²x²), 1 for x ≤ 1e-3, 0 beyond R), and TF's two others:
//        gaussian (R = 1.5, σ = R/3: exp(−x²/2σ²) for x < R) and Mitchell–Netravali cubic
//        (B = C = 1/3, R = 2: (7/6·x − 2)x² + 8/9 for x < 1, ((−7/18·x + 2)x − 10/3)x + 16/9 below 2).
//   Area (TF's ResizeArea; antialias is irrelevant): output o averages the source interval
//     [o·s, (o+1)·s): tap j weighs |[j, j+1) ∩ [o·s, (o+1)·s)| / s.
// Why shared: indices come from double arithmetic whose rounding must agree on host and device.
#pragma once
#include <cmath>

#include "common/common.h"

namespace fusednet {

enum class ResizeFilter : int {
  Triangle = 0, KeysCubic = 1, Lanczos3 = 2, Lanczos5 = 3, Area = 4, Gaussian = 5, MitchellCubic = 6
};

FN_HD double resize_filter_radius(ResizeFilter f) {
  switch (f) {
    case ResizeFilter::Triangle: return 1.0;
    case ResizeFilter::KeysCubic: return 2.0;
    case ResizeFilter::Lanczos3: return 3.0;
    case ResizeFilter::Gaussian: return 1.5;
    case ResizeFilter::MitchellCubic: return 2.0;
    default: return 5.0;
  }
}

// Kernel value at distance x >= 0 (Keras' _fill_*_kernel expressions).
FN_HD double resize_filter_value(ResizeFilter f, double x) {
  const double kPi = 3.14159265358979323846;
  if (f == ResizeFilter::Triangle) return x < 1.0 ? 1.0 - x : 0.0;
  if (f == ResizeFilter::KeysCubic) {
    if (x >= 2.0) return 0.0;
    if (x >= 1.0) return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
    return ((1.5 * x - 2.5) * x) * x + 1.0;
  }
  if (f == ResizeFilter::Gaussian) {
    const double sigma = 1.5 / 3.0;
    return x >= 1.5 ? 0.0 : exp(-x * x / (2.0 * sigma * sigma));
  }
  if (f == ResizeFilter::MitchellCubic) {
    if (x >= 2.0) return 0.0;
    if (x >= 1.0) return (((-7.0 / 18.0) * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0;
    return (((7.0 / 6.0) * x - 2.0) * x) * x + 8.0 / 9.0;
  }
  const double r = f == ResizeFilter::Lanczos3 ? 3.0 : 5.0;
  if (x > r) return 0.0;
  if (x <= 1e-3) return 1.0;
  return r * sin(kPi * x) * sin(kPi * x / r) / (kPi * kPi * x * x);
}

// The taps of output o: [*j0, *j1) and the (unnormalised) weight of tap j via resize_filter_tap.
struct FilterAxis {
  i64 in, out;
  double s, ks;  // in / out, kernel scale
  ResizeFilter f;
};

FN_HD FilterAxis make_filter_axis(i64 in, i64 out, ResizeFilter f, bool antialias) {
  FilterAxis a;
  a.in = in;
  a.out = out;
  a.s = static_cast<double>(in) / static_cast<double>(out);
  a.ks = (antialias && a.s > 1.0) ? a.s : 1.0;
  a.f = f;
  return a;
}

FN_HD void resize_filter_span(const FilterAxis& a, i64 o, i64* j0, i64* j1) {
  if (a.f == ResizeFilter::Area) {
    const double lo = static_cast<double>(o) * a.s, hi = static_cast<double>(o + 1) * a.s;
    i64 b = static_cast<i64>(floor(lo)), e = static_cast<i64>(ceil(hi));
    *j0 = b < 0 ? 0 : b;
    *j1 = e > a.in ? a.in : (e <= *j0 ? *j0 + 1 : e);
    return;
  }
  const double u = (static_cast<double>(o) + 0.5) * a.s - 0.5, r = resize_filter_radius(a.f) * a.ks;
  i64 b = static_cast<i64>(ceil(u - r)), e = static_cast<i64>(floor(u + r)) + 1;
  *j0 = b < 0 ? 0 : b;
  *j1 = e > a.in ? a.in : e;
  if (*j1 <= *j0) *j1 = *j0 < a.in ? *j0 + 1 : *j0;
}

FN_HD double resize_filter_tap(const FilterAxis& a, i64 o, i64 j) {
  if (a.f == ResizeFilter::Area) {
    const double lo = static_cast<double>(o) * a.s, hi = static_cast<double>(o + 1) * a.s;
    const double l = lo > static_cast<double>(j) ? lo : static_cast<double>(j);
    const double h = hi < static_cast<double>(j + 1) ? hi : static_cast<double>(j + 1);
    return h > l ? (h - l) / a.s : 0.0;
  }
  const double u = (static_cast<double>(o) + 0.5) * a.s - 0.5;
  return resize_filter_value(a.f, fabs(u - static_cast<double>(j)) / a.ks);
}

// 1 / Σ_j w_j over the span, or 0 when the sum is too small to normalise by (Keras' rule).
FN_HD double resize_filter_norm(const FilterAxis& a, i64 o) {
  i64 j0, j1;
  resize_filter_span(a, o, &j0, &j1);
  double sum = 0.0;
  for (i64 j = j0; j < j1; ++j) sum += resize_filter_tap(a, o, j);
  return fabs(sum) > 1000.0 * 1.1920928955078125e-07 ? 1.0 / sum : 0.0;
}

}  // namespace fusednet
