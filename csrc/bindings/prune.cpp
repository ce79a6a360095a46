// bindings/prune.cpp — magnitude_mask (the pruning mask: the k largest |w| kept, ties kept;
// csrc/cpu/prune.h). CPU and CUDA.
#include <limits>

#include "bindings/bind_util.h"
#include "cpu/prune.h"
#ifdef FUSEDNET_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fusednet {

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
}

}  // namespace fusednet
