// resize.cpp (bindings) — `resize_images`: nearest / bilinear / bicubic resizing of NHWC images with
// half-pixel centres (formulas in csrc/cpu/resize.h), optionally of the centred crop that has the
// target's aspect ratio (Keras' crop_to_aspect_ratio). Two overloads:
//   * a float32 Array [N, H, W, C] (CPU or CUDA) -> Array [N, h, w, C] on the same device;
//   * a C-contiguous uint8 NumPy array [H, W, C] or [N, H, W, C] (what a decoder hands over) ->
//     float32 CPU Array of the same rank, converted inside the kernel (no float copy of the image).
// The kernels run with the GIL released, so decoding threads resize in parallel with training.
#include <algorithm>
#include <cctype>
#include <string>

#include <pybind11/numpy.h>

#include "bindings/bind_util.h"
#include "cpu/resize.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/resize.h"
#endif

namespace fusednet {
namespace {

constexpr const char* kOp = "resize_images";

// Which kernel runs: the 2/4-tap interpolators of resize.cpp, or a separable filter of
// resize_filter.cpp (area, lanczos, and bilinear / bicubic with antialias, as torch and TF do).
struct Method {
  bool filtered;
  cpu::ResizeMode mode;
  ResizeFilter filter;
};

Method mode_arg(const std::string& s, bool antialias) {
  std::string m = s;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  if (m == "bilinear")
    return antialias ? Method{true, cpu::ResizeMode::Bilinear, ResizeFilter::Triangle}
                     : Method{false, cpu::ResizeMode::Bilinear, ResizeFilter::Triangle};
  if (m == "nearest") return {false, cpu::ResizeMode::Nearest, ResizeFilter::Triangle};  // antialias ignored (Keras)
  if (m == "bicubic")
    return antialias ? Method{true, cpu::ResizeMode::Bicubic, ResizeFilter::KeysCubic}
                     : Method{false, cpu::ResizeMode::Bicubic, ResizeFilter::KeysCubic};
  if (m == "area") return {true, cpu::ResizeMode::Bilinear, ResizeFilter::Area};
  if (m == "lanczos3") return {true, cpu::ResizeMode::Bilinear, ResizeFilter::Lanczos3};
  if (m == "lanczos5") return {true, cpu::ResizeMode::Bilinear, ResizeFilter::Lanczos5};
  if (m == "gaussian") return {true, cpu::ResizeMode::Bilinear, ResizeFilter::Gaussian};
  if (m == "mitchellcubic") return {true, cpu::ResizeMode::Bilinear, ResizeFilter::MitchellCubic};
  throw ValueError(std::string(kOp) + ": interpolation must be one of 'bilinear', 'nearest', 'bicubic', 'area', "
                   "'lanczos3', 'lanczos5', 'gaussian', 'mitchellcubic', got '" + s + "'");
}

std::string dims_str(i64 N, i64 H, i64 W, i64 C, bool batched) {
  std::string s = "(";
  if (batched) s += std::to_string(N) + ", ";
  return s + std::to_string(H) + ", " + std::to_string(W) + ", " + std::to_string(C) + ")";
}

// Validates sizes and returns the source window (the whole image, or Keras' centred crop).
cpu::ResizeWindow window(i64 H, i64 W, i64 height, i64 width, bool crop, const std::string& shape) {
  if (height <= 0 || width <= 0)
    throw ValueError(std::string(kOp) + ": height and width must be positive, got (" + std::to_string(height) + ", " +
                     std::to_string(width) + ") for images " + shape);
  if (H <= 0 || W <= 0)
    throw ValueError(std::string(kOp) + ": images must have positive height and width, got shape " + shape);
  if (static_cast<double>(height) * static_cast<double>(width) > static_cast<double>(i64(1) << 40))
    throw ValueError(std::string(kOp) + ": output size (" + std::to_string(height) + ", " + std::to_string(width) +
                     ") is too large for images " + shape);
  if (!crop) return {0, 0, H, W};
  // Keras ops.image.resize: crop_h = int(W * height / width), crop_w = int(H * width / height), clamped
  // to [1, H] / [1, W], centred with int((H - crop_h) / 2).
  i64 ch = static_cast<i64>(static_cast<double>(W * height) / static_cast<double>(width));
  ch = std::max<i64>(std::min(H, ch), 1);
  i64 cw = static_cast<i64>(static_cast<double>(H * width) / static_cast<double>(height));
  cw = std::max<i64>(std::min(W, cw), 1);
  return {static_cast<i64>(static_cast<double>(H - ch) / 2), static_cast<i64>(static_cast<double>(W - cw) / 2), ch, cw};
}

}  // namespace

FN_BIND(resize) {
  m.def(
      "resize_images",
      [](py::array_t<uint8_t, py::array::c_style> x, i64 height, i64 width, const std::string& interpolation,
         bool crop_to_aspect_ratio, bool antialias) {
        if (x.ndim() != 3 && x.ndim() != 4)
          throw ValueError(std::string(kOp) + ": uint8 images must be 3-D (H, W, C) or 4-D (N, H, W, C), got " +
                           std::to_string(x.ndim()) + "-D");
        const bool batched = x.ndim() == 4;
        const i64 N = batched ? x.shape(0) : 1, H = x.shape(batched ? 1 : 0), W = x.shape(batched ? 2 : 1),
                  C = x.shape(batched ? 3 : 2);
        const Method md = mode_arg(interpolation, antialias);
        const cpu::ResizeWindow win = window(H, W, height, width, crop_to_aspect_ratio, dims_str(N, H, W, C, batched));
        std::vector<i64> shape = {height, width, C};
        if (batched) shape.insert(shape.begin(), N);
        Array y = Array::empty(shape, DType::F32, Device{});
        const uint8_t* src = x.data();
        {
          py::gil_scoped_release nogil;
          if (md.filtered)
            cpu::resize_images_filtered_u8(y.f32(), src, N, H, W, C, height, width, win, md.filter, antialias);
          else
            cpu::resize_images_u8(y.f32(), src, N, H, W, C, height, width, win, md.mode);
        }
        return y;
      },
      py::arg("x").noconvert(), py::arg("height"), py::arg("width"), py::arg("interpolation") = "bilinear",
      py::arg("crop_to_aspect_ratio") = false, py::arg("antialias") = false);
  m.def(
      "resize_images",
      [](const Array& x, i64 height, i64 width, const std::string& interpolation, bool crop_to_aspect_ratio,
         bool antialias) {
        check_dtype(kOp, "x", x, DType::F32);
        if (x.ndim() != 4)
          throw ValueError(std::string(kOp) + ": x must be 4-D (N, H, W, C), got shape " + x.shape_str());
        const i64 N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
        const Method md = mode_arg(interpolation, antialias);
        const cpu::ResizeMode mode = md.mode;
        const cpu::ResizeWindow win = window(H, W, height, width, crop_to_aspect_ratio, x.shape_str());
        Array y = Array::empty({N, height, width, C}, DType::F32, x.device());
        FN_DISPATCH(kOp, x,
                    {
                      py::gil_scoped_release nogil;
                      if (md.filtered)
                        cpu::resize_images_filtered(y.f32(), x.f32(), N, H, W, C, height, width, win, md.filter,
                                                    antialias);
                      else
                        cpu::resize_images(y.f32(), x.f32(), N, H, W, C, height, width, win, mode);
                    },
                    {
                      if (md.filtered)
                        cuda::resize_images_filtered(y.f32(), x.f32(), N, H, W, C, height, width, win, md.filter,
                                                     antialias);
                      else
                        cuda::resize_images(y.f32(), x.f32(), N, H, W, C, height, width, win, mode);
                    });
        return y;
      },
      py::arg("x"), py::arg("height"), py::arg("width"), py::arg("interpolation") = "bilinear",
      py::arg("crop_to_aspect_ratio") = false, py::arg("antialias") = false,
      "Resize NHWC images to (height, width) with half-pixel centres (tf.image.resize / torch interpolate "
      "align_corners=False). interpolation: 'bilinear' | 'nearest' | 'bicubic' (torch's, A=-0.75) | 'area' (TF's "
      "ResizeArea) | 'lanczos3' | 'lanczos5' | 'gaussian' | 'mitchellcubic' (TF/JAX scale_and_translate). antialias: stretch the bilinear / bicubic "
      "(Keys A=-0.5) / lanczos kernel by the downscale factor (torch antialias=True, TF antialias); ignored for "
      "nearest and area. crop_to_aspect_ratio: resize the "
      "centred crop with the target aspect ratio (Keras). x: float32 Array [N, H, W, C] (CPU/CUDA) or uint8 NumPy "
      "[H, W, C] / [N, H, W, C] (CPU, returns float32 of the same rank).");
}

}  // namespace fusednet
