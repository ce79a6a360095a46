// image.cpp (bindings) — padding / cropping, random flips, affine resampling and random crops on
// NHWC float32 batches (see csrc/cpu/image.h for the formulas). All kernels run with the GIL
// released; CUDA arrays raise TypeError "<op>: not implemented on CUDA yet" for now.
#include <algorithm>
#include <cctype>

#include "bindings/bind_util.h"
#include "cpu/image.h"

namespace fusednet {
namespace {

void check_x4(const char* op, const char* arg, const Array& x) {
  check_dtype(op, arg, x, DType::F32);
  if (x.ndim() != 4)
    throw ValueError(std::string(op) + ": " + arg + " must be 4-D (N, H, W, C), got shape " + x.shape_str());
}

uint64_t u64_arg(const py::int_& v) {
  unsigned long long x = PyLong_AsUnsignedLongLongMask(v.ptr());
  if (PyErr_Occurred()) throw py::error_already_set();
  return static_cast<uint64_t>(x);
}

void check_amounts(const char* op, const char* what, i64 t, i64 b, i64 l, i64 r) {
  if (t < 0 || b < 0 || l < 0 || r < 0)
    throw ValueError(std::string(op) + ": " + what + " amounts must be >= 0, got (top=" + std::to_string(t) +
                     ", bottom=" + std::to_string(b) + ", left=" + std::to_string(l) + ", right=" +
                     std::to_string(r) + ")");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

cpu::FillMode fill_arg(const char* op, const std::string& s) {
  const std::string m = lower(s);
  if (m == "constant") return cpu::FillMode::Constant;
  if (m == "reflect") return cpu::FillMode::Reflect;
  if (m == "wrap") return cpu::FillMode::Wrap;
  if (m == "nearest") return cpu::FillMode::Nearest;
  throw ValueError(std::string(op) + ": fill_mode must be one of 'constant', 'reflect', 'wrap', 'nearest', got '" +
                   s + "'");
}

cpu::Interp interp_arg(const char* op, const std::string& s) {
  const std::string m = lower(s);
  if (m == "bilinear") return cpu::Interp::Bilinear;
  if (m == "nearest") return cpu::Interp::Nearest;
  throw ValueError(std::string(op) + ": interpolation must be 'bilinear' or 'nearest', got '" + s + "'");
}

#define FN_IMG_CPU(op, arr, stmt) \
  FN_DISPATCH(op, arr, { py::gil_scoped_release nogil; stmt; }, throw TypeError(std::string(op) + ": not implemented on CUDA yet"))

// Y = zero/value-padded X (shared by pad2d and crop2d_backward).
Array do_pad(const char* op, const Array& x, i64 t, i64 b, i64 l, i64 r, float value) {
  const i64 N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  Array y = Array::empty({N, H + t + b, W + l + r, C}, DType::F32, x.device());
  FN_IMG_CPU(op, x, cpu::pad2d_forward(y.f32(), x.f32(), N, H, W, C, t, b, l, r, value));
  return y;
}

// Y = X[:, t:H-b, l:W-r, :] (shared by crop2d and pad2d_backward).
Array do_crop(const char* op, const Array& x, i64 t, i64 b, i64 l, i64 r) {
  const i64 N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
  if (t + b > H || l + r > W)
    throw ValueError(std::string(op) + ": cropping (top=" + std::to_string(t) + ", bottom=" + std::to_string(b) +
                     ", left=" + std::to_string(l) + ", right=" + std::to_string(r) + ") is larger than the input " +
                     x.shape_str());
  Array y = Array::empty({N, H - t - b, W - l - r, C}, DType::F32, x.device());
  FN_IMG_CPU(op, x, cpu::crop_windows(y.f32(), x.f32(), N, H, W, C, H - t - b, W - l - r, nullptr, nullptr, t, l));
  return y;
}

}  // namespace

FN_BIND(image) {
  m.def(
      "pad2d",
      [](const Array& x, i64 top, i64 bottom, i64 left, i64 right, double value) {
        const char* op = "pad2d";
        check_x4(op, "x", x);
        check_amounts(op, "padding", top, bottom, left, right);
        return do_pad(op, x, top, bottom, left, right, static_cast<float>(value));
      },
      py::arg("x"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"), py::arg("value") = 0.0,
      "y [N, H+top+bottom, W+left+right, C]: x surrounded by `value` (ZeroPadding2D).");
  m.def(
      "pad2d_backward",
      [](const Array& dY, i64 top, i64 bottom, i64 left, i64 right) {
        const char* op = "pad2d_backward";
        check_x4(op, "dY", dY);
        check_amounts(op, "padding", top, bottom, left, right);
        return do_crop(op, dY, top, bottom, left, right);
      },
      py::arg("dY"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"),
      "dX = dY[:, top:H-bottom, left:W-right, :] (H, W of dY).");
  m.def(
      "crop2d",
      [](const Array& x, i64 top, i64 bottom, i64 left, i64 right) {
        const char* op = "crop2d";
        check_x4(op, "x", x);
        check_amounts(op, "cropping", top, bottom, left, right);
        return do_crop(op, x, top, bottom, left, right);
      },
      py::arg("x"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"),
      "y = x[:, top:H-bottom, left:W-right, :] (Cropping2D).");
  m.def(
      "crop2d_backward",
      [](const Array& dY, i64 top, i64 bottom, i64 left, i64 right) {
        const char* op = "crop2d_backward";
        check_x4(op, "dY", dY);
        check_amounts(op, "cropping", top, bottom, left, right);
        return do_pad(op, dY, top, bottom, left, right, 0.0f);
      },
      py::arg("dY"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"),
      "dX = dY zero-padded back to the input size.");
  m.def(
      "flip_images",
      [](const Array& x, bool horizontal, bool vertical, py::int_ seed, py::int_ offset) {
        const char* op = "flip_images";
        check_x4(op, "x", x);
        const uint64_t s = u64_arg(seed), o = u64_arg(offset);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_IMG_CPU(op, x,
                   cpu::flip_images(y.f32(), x.f32(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), horizontal, vertical, s, o));
        return y;
      },
      py::arg("x"), py::arg("horizontal") = true, py::arg("vertical") = true, py::arg("seed") = 0,
      py::arg("offset") = 0,
      "Per-image random flips: image n is mirrored left-right iff uniform(lane 0 of Philox block n) < 0.5 "
      "(horizontal), upside-down iff uniform(lane 1) < 0.5 (vertical); lanes = random_uniform([N, 4], seed, offset)[n].");
  m.def(
      "affine_transform",
      [](const Array& x, const Array& transforms, const std::string& interpolation, const std::string& fill_mode,
         double fill_value) {
        const char* op = "affine_transform";
        check_x4(op, "x", x);
        check_dtype(op, "transforms", transforms, DType::F32);
        check_same_device(op, {&x, &transforms});
        const i64 N = x.dim(0);
        i64 P = 0;
        if (transforms.ndim() == 1 && transforms.dim(0) == 8)
          P = 1;
        else if (transforms.ndim() == 2 && transforms.dim(1) == 8 && (transforms.dim(0) == N || transforms.dim(0) == 1))
          P = transforms.dim(0);
        else
          throw ValueError(std::string(op) + ": transforms must be [N, 8], [1, 8] or [8] for x " + x.shape_str() +
                           ", got " + transforms.shape_str());
        const cpu::Interp ip = interp_arg(op, interpolation);
        const cpu::FillMode fm = fill_arg(op, fill_mode);
        Array y = Array::empty(x.shape, DType::F32, x.device());
        FN_IMG_CPU(op, x,
                   cpu::affine_transform(y.f32(), x.f32(), transforms.f32(), P, N, x.dim(1), x.dim(2), x.dim(3), ip, fm,
                                         static_cast<float>(fill_value)));
        return y;
      },
      py::arg("x"), py::arg("transforms"), py::arg("interpolation") = "bilinear", py::arg("fill_mode") = "constant",
      py::arg("fill_value") = 0.0,
      "Keras `transform` resampling: output pixel (x=col, y=row) reads input ((a0 x + a1 y + a2)/k, "
      "(b0 x + b1 y + b2)/k), k = c0 x + c1 y + 1; transforms [N|1, 8]; interpolation bilinear|nearest; "
      "fill_mode constant|reflect|wrap|nearest.");
  m.def(
      "random_crop",
      [](const Array& x, i64 height, i64 width, py::int_ seed, py::int_ offset, bool training) {
        const char* op = "random_crop";
        check_x4(op, "x", x);
        const i64 N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3);
        if (height <= 0 || width <= 0)
          throw ValueError(std::string(op) + ": height and width must be positive, got (" + std::to_string(height) +
                           ", " + std::to_string(width) + ")");
        if (height > H || width > W)
          throw ValueError(std::string(op) + ": crop size (" + std::to_string(height) + ", " + std::to_string(width) +
                           ") is larger than the input images " + x.shape_str());
        const uint64_t s = u64_arg(seed), o = u64_arg(offset);
        Array y = Array::empty({N, height, width, C}, DType::F32, x.device());
        if (!training) {
          FN_IMG_CPU(op, x, cpu::crop_windows(y.f32(), x.f32(), N, H, W, C, height, width, nullptr, nullptr,
                                               (H - height) / 2, (W - width) / 2));
          return y;
        }
        std::vector<int64_t> oh(static_cast<size_t>(N)), ow(static_cast<size_t>(N));
        FN_IMG_CPU(op, x, {
          cpu::random_crop_offsets(oh.data(), ow.data(), N, H, W, height, width, s, o);
          cpu::crop_windows(y.f32(), x.f32(), N, H, W, C, height, width, oh.data(), ow.data(), 0, 0);
        });
        return y;
      },
      py::arg("x"), py::arg("height"), py::arg("width"), py::arg("seed") = 0, py::arg("offset") = 0,
      py::arg("training") = true,
      "Training: per-image crop at oh = floor(u0*(H-height+1)), ow = floor(u1*(W-width+1)) with (u0, u1) = "
      "random_uniform([N, 4], seed, offset)[n, :2]; training=False: the centre crop ((H-height)//2, (W-width)//2).");
}

}  // namespace fusednet
