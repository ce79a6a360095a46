// bindings/prune.cpp — magnitude_mask (the pruning mask: the k largest |w| kept, ties kept;
// csrc/cpu/prune.h). CPU and CUDA.
#include <limits>
#include <string>
#include <vector>

#include "bindings/bind_util.h"
#include "cpu/prune.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {
namespace {

constexpr i64 kMaxBlock = i64(1) << 31;  // keeps R + bh - 1 far from overflow

void check_2d_blocks(const char* op, const Array& w, i64 bh, i64 bw) {
  check_dtype(op, "w", w, DType::F32);
  if (w.ndim() != 2)
    throw ValueError(std::string(op) + ": w must be 2-D (R, C), got shape " + w.shape_str());
  if (bh < 1 || bw < 1 || bh > kMaxBlock || bw > kMaxBlock)
    throw ValueError(std::string(op) + ": block sizes must be in [1, 2^31], got (" + std::to_string(bh) + ", " +
                     std::to_string(bw) + ") for w of shape " + w.shape_str());
}

}  // namespace

FN_BIND(prune) {
  m.def(
      "magnitude_mask",
      [](const Array& w, i64 k, const std::optional<Array>& out) {
        const char* op = "magnitude_mask";
        check_dtype(op, "w", w, DType::F32);
        const i64 n = w.numel();
        if (k < 0 || k > n)
          throw ValueError(std::string(op) + ": k (entries kept) must be in [0, " + std::to_string(n) +
                           "] for w of shape " + w.shape_str() + ", got " + std::to_string(k));
        Array mask = out_or_empty(op, out, w.shape, DType::F32, w.device());
        if (out) {
          const char* pm = static_cast<const char*>(mask.raw());
          const char* pw = static_cast<const char*>(w.raw());
          if (pm != pw && n > 0 && pm < pw + w.nbytes() && pw < pm + mask.nbytes())
            throw ValueError(std::string(op) + ": out overlaps w (shape " + w.shape_str() +
                             "); pass w itself or a separate array");
        }
        float thr = std::numeric_limits<float>::infinity();
        FN_DISPATCH(op, w, {
          py::gil_scoped_release nogil;
          thr = cpu::magnitude_mask(mask.f32(), w.f32(), n, k);
        }, {
          py::gil_scoped_release nogil;
          thr = cuda::magnitude_mask(mask.f32(), w.f32(), n, k);
        });
        return py::make_tuple(mask, thr);
      },
      py::arg("w"), py::arg("k"), py::arg("out") = py::none(),
      "(mask, threshold): threshold = the k-th largest |w| (exact; k == 0: inf), mask = 1.0 where "
      "|w| >= threshold else 0.0 (ties at the threshold are all kept). |NaN| ranks above inf.");
  m.def(
      "block_magnitude",
      [](const Array& w, i64 bh, i64 bw, const std::string& pooling) {
        const char* op = "block_magnitude";
        check_2d_blocks(op, w, bh, bw);
        if (pooling != "AVG" && pooling != "MAX")
          throw ValueError(std::string(op) + ": pooling must be 'AVG' or 'MAX', got '" + pooling + "'");
        const i64 R = w.dim(0), C = w.dim(1);
        Array p = Array::empty({(R + bh - 1) / bh, (C + bw - 1) / bw}, DType::F32, w.device());
        const bool use_max = pooling == "MAX";
        FN_DISPATCH(op, w, {
          py::gil_scoped_release nogil;
          cpu::block_magnitude(p.f32(), w.f32(), R, C, bh, bw, use_max);
        }, {
          py::gil_scoped_release nogil;
          cuda::block_magnitude(p.f32(), w.f32(), R, C, bh, bw, use_max);
        });
        return p;
      },
      py::arg("w"), py::arg("bh"), py::arg("bw"), py::arg("pooling") = "AVG",
      "P (ceil(R/bh), ceil(C/bw)): mean ('AVG') or max ('MAX') of |w| over each bh x bw block of the "
      "2-D w (blocks aligned at (0, 0); edge blocks over their valid entries).");
  m.def(
      "block_mask_expand",
      [](const Array& block_mask, i64 bh, i64 bw, const std::vector<i64>& shape, const std::optional<Array>& out) {
        const char* op = "block_mask_expand";
        check_dtype(op, "block_mask", block_mask, DType::F32);
        if (shape.size() != 2 || shape[0] < 0 || shape[1] < 0 || shape[0] > kMaxBlock || shape[1] > kMaxBlock ||
            bh < 1 || bw < 1 || bh > kMaxBlock || bw > kMaxBlock)
          throw ValueError(std::string(op) + ": needs a 2-D shape and block sizes in [1, 2^31], got shape of " +
                           std::to_string(shape.size()) + " dims, block (" + std::to_string(bh) + ", " +
                           std::to_string(bw) + ")");
        const i64 R = shape[0], C = shape[1];
        const std::vector<i64> want = {(R + bh - 1) / bh, (C + bw - 1) / bw};
        if (block_mask.shape != want)
          throw ValueError(std::string(op) + ": block_mask has shape " + block_mask.shape_str() + " but (" +
                           std::to_string(R) + ", " + std::to_string(C) + ") in blocks of (" + std::to_string(bh) +
                           ", " + std::to_string(bw) + ") needs (" + std::to_string(want[0]) + ", " +
                           std::to_string(want[1]) + ")");
        Array mask = out_or_empty(op, out, {R, C}, DType::F32, block_mask.device());
        FN_DISPATCH(op, block_mask, {
          py::gil_scoped_release nogil;
          cpu::block_mask_expand(mask.f32(), block_mask.f32(), R, C, bh, bw);
        }, {
          py::gil_scoped_release nogil;
          cuda::block_mask_expand(mask.f32(), block_mask.f32(), R, C, bh, bw);
        });
        return mask;
      },
      py::arg("block_mask"), py::arg("bh"), py::arg("bw"), py::arg("shape"), py::arg("out") = py::none(),
      "mask[r, c] = block_mask[r // bh, c // bw] for a 2-D shape (R, C).");
}

}  // namespace fusednet
