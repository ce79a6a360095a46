// gemm_config.h — the ONE place where the CPU SGEMM's register and cache blocking lives.
//
// BLIS terminology (see csrc/cpu/gemm.cpp):  C[M,N] += A[M,K]·B[K,N] is cut into
//   NC-wide column blocks of B   (packed B block KC×NC lives in L3, shared by all MC blocks)
//   KC-deep slices of K          (a packed B sliver KC×NR is reused across one MC block)
//   MC-tall row blocks of A      (packed A block MC×KC lives in L2, reused for every NR sliver)
//   MR×NR register tiles         (the micro-kernel keeps the whole C tile in vector registers)
// Sizes are per instruction set because the register file (and so MR×NR) differs. Values were
// measured on the 2-core Zen 4 dev machine (32 KiB L1d, 1 MiB L2 per core, 32 MiB L3): see
// bench/RESULTS.md. Changing any value changes the K-blocking and therefore the last bits of
// results, but never their independence from the thread count.
#pragma once
#include <cstdint>

namespace fusednet::gemm {

struct Blocking {
  int mr, nr;   // register tile (nr is a multiple of the vector width)
  int mc, kc;   // A block rows (multiple of mr), K slice depth
  int nc;       // B block columns (multiple of nr)
};

// AVX-512: 32 zmm registers -> 12×32 tile = 24 accumulators + 2 B vectors + 1 broadcast.
// 12 rows keep the FMA:load ratio at 24:14, enough for two 512-bit FMA ports (Intel) and far
// more than Zen 4's double-pumped unit needs; 12 divides the common batch sizes badly only at
// the last panel, which the row-templated micro-kernel computes without padding.
// KC 768 (was 384): the epilogue (C tile load + add + store) and the per-slice packing run half as
// often (time outside the micro-kernel loop, perf samples of a 2048³ product: 10% at KC 384, 5.6%
// at 768), and the tile's B sliver (KC×32) streams from L2 at either depth. Against OpenBLAS in
// alternating runs: 1 thread 0.94–0.97× -> 1.00–1.01×, 2 threads (mean over 1024³–4096³)
// 0.99–1.00× -> 1.03–1.05×. The A block, 192×768 floats = 576 KiB, stays within the 1 MiB L2;
// KC 1024 measured the same, MC 96 worse, KC 128 worse.
constexpr Blocking kBlockAvx512{12, 32, 192, 768, 4096};
// AVX2: 16 ymm registers -> 6×16 tile = 12 accumulators + 2 B vectors + 1 broadcast.
constexpr Blocking kBlockAvx2{6, 16, 144, 256, 4096};
// Portable (SSE2-width GCC vectors, no FMA): 6×8 tile = 12 accumulators of 4 floats.
constexpr Blocking kBlockPortable{6, 8, 120, 256, 2048};

constexpr int kMaxMR = 12;
constexpr int kMaxNR = 32;

// Problems below this many multiply-adds run on the calling thread: a thread-pool fork/join costs
// a few microseconds (far more when the machine is oversubscribed and the join barrier waits
// for a descheduled thread), which is the whole run time of e.g. a (128×128)·(128×10) product.
constexpr int64_t kSerialMacs = 256 * 1024;
// And each additional thread must get at least this much work to be worth waking.
constexpr int64_t kMacsPerThread = 48 * 1024;

}  // namespace fusednet::gemm
