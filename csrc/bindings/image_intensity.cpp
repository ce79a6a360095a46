// image_intensity.cpp (bindings) — `image_intensity` (Keras channel shift + brightness per image)
// and `image_standardize` (rescale, samplewise / featurewise centring and std normalisation) on
// NHWC float32 batches; formulas in csrc/cpu/image_intensity.h. Used by ImageDataGenerator.
// Per-image amounts are float32 Arrays [N] (or None), per-channel statistics [C] (or None), on
// the images' device. The kernels run with the GIL released.
#include <optional>

#include "bindings/bind_util.h"
#include "cpu/image_intensity.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/image_intensity.h"
#endif

namespace fusednet {
namespace {

void check_images(const char* op, const Array& x) {
  check_dtype(op, "x", x, DType::F32);
  if (x.ndim() != 4) throw ValueError(std::string(op) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
}

const float* vec_arg(const char* op, const char* arg, const std::optional<Array>& a, i64 n, const Array& x,
                     const char* what) {
  if (!a) return nullptr;
  check_dtype(op, arg, *a, DType::F32);
  check_same_device(op, {&x, &*a});
  if (a->ndim() != 1 || a->dim(0) != n)
    throw ValueError(std::string(op) + ": " + arg + " must be [" + std::to_string(n) + "] (one per " + what +
                     ") for x " + x.shape_str() + ", got " + a->shape_str());
  return a->f32();
}

}  // namespace

FN_BIND(image_intensity) {
  m.def(
      "image_intensity",
      [](const Array& x, std::optional<Array> channel_shift, std::optional<Array> brightness) {
        const char* op = "image_intensity";
        check_images(op, x);
        const i64 N = x.dim(0), P = x.dim(1) * x.dim(2), C = x.dim(3);
        const float* s = vec_arg(op, "channel_shift", channel_shift, N, x, "image");
        const float* b = vec_arg(op, "brightness", brightness, N, x, "image");
        if (b && C != 1 && C != 3 && C != 4)
          throw ValueError(std::string(op) + ": brightness needs 1, 3 or 4 channels (a PIL image), got x " +
                           x.shape_str());
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x,
                    {
                      py::gil_scoped_release nogil;
                      cpu::image_intensity(y.f32(), x.f32(), N, P, C, s, b);
                    },
                    cuda::image_intensity(y.f32(), x.f32(), N, P, C, s, b));
        return y;
      },
      py::arg("x"), py::arg("channel_shift") = py::none(), py::arg("brightness") = py::none(),
      "Keras ImageDataGenerator intensity ops per image n: y = clamp(x + channel_shift[n], min(x_n), max(x_n)), then "
      "Keras/PIL brightness (uint8 round trip, y = trunc(clamp(brightness[n] * trunc(y), 0, 255)), rescaled back "
      "when the image is outside [0, 255]). x float32 [N, H, W, C]; amounts float32 [N] or None.");
  m.def(
      "image_standardize",
      [](const Array& x, double rescale, bool samplewise_center, bool samplewise_std_normalization,
         std::optional<Array> mean, std::optional<Array> std) {
        const char* op = "image_standardize";
        check_images(op, x);
        const i64 N = x.dim(0), P = x.dim(1) * x.dim(2), C = x.dim(3);
        const float* mu = vec_arg(op, "mean", mean, C, x, "channel");
        const float* sd = vec_arg(op, "std", std, C, x, "channel");
        const float r = static_cast<float>(rescale);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_DISPATCH(op, x,
                    {
                      py::gil_scoped_release nogil;
                      cpu::image_standardize(y.f32(), x.f32(), N, P, C, r, samplewise_center,
                                             samplewise_std_normalization, mu, sd);
                    },
                    cuda::image_standardize(y.f32(), x.f32(), N, P, C, r, samplewise_center,
                                            samplewise_std_normalization, mu, sd));
        return y;
      },
      py::arg("x"), py::arg("rescale") = 0.0, py::arg("samplewise_center") = false,
      py::arg("samplewise_std_normalization") = false, py::arg("mean") = py::none(), py::arg("std") = py::none(),
      "Keras ImageDataGenerator.standardize per image: y = x * rescale (0: none); minus the image mean; over "
      "(image std + 1e-6); minus mean[c]; over (std[c] + 1e-6). x float32 [N, H, W, C]; mean / std float32 [C] or "
      "None.");
}

}  // namespace fusednet
