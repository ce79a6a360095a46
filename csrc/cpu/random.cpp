// random.cpp — CPU random kernels (formulas and stream layout in random.h / common/philox.h).
//
// Shape: the output is cut into runs of whole Philox blocks (4 elements each); each parallel block
// generates a contiguous run (static schedule) and every element is computed from its own global
// index, so the split cannot change a single bit. One Philox4x32-10 call yields 4 elements, which
// is ~10 multiply rounds per 4 floats: cheap next to memory traffic for the sizes that matter.
// Below kParallelMin elements the fork/join is not worth it and one thread runs.
#include "cpu/random.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "cpu/ftz_scope.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;

// f(block_index, first_element, count) for every Philox block covering [0, n).
template <class F>
void for_philox_blocks(i64 n, F&& f) {
  const i64 nblocks = (n + 3) / 4;
  auto run = [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      const i64 i0 = b * 4;
      f(b, i0, std::min<i64>(4, n - i0));
    }
  };
  FtzScope guard;
  if (n < kParallelMin || num_threads() <= 1) {
    set_ftz();
    run(0, nblocks);
    return;
  }
  parallel_for((nblocks + 1023) / 1024, num_threads(), [&](i64 c) { run(c * 1024, std::min(nblocks, (c + 1) * 1024)); });
}

}  // namespace

void random_uniform(float* out, i64 n, uint64_t seed, uint64_t offset, float low, float high) {
  const float span = high - low;
  // low + span*u can round up to high; keep the interval half-open like Keras/NumPy.
  const float top = span > 0.0f ? std::nextafter(high, low) : high;
  for_philox_blocks(n, [&](i64 b, i64 i0, i64 cnt) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(b));
    for (i64 k = 0; k < cnt; ++k) out[i0 + k] = std::min(low + span * uniform01(r.v[k]), top);
  });
}

void random_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float std) {
  for_philox_blocks(n, [&](i64 b, i64 i0, i64 cnt) {
    float z[4];
    normal4(philox_block(seed, offset, static_cast<uint64_t>(b)), z);
    for (i64 k = 0; k < cnt; ++k) out[i0 + k] = mean + std * z[k];
  });
}

void random_truncated_normal(float* out, i64 n, uint64_t seed, uint64_t offset, float mean, float std) {
  constexpr int kMaxAttempts = 64;
  for_philox_blocks(n, [&](i64 b, i64 i0, i64 cnt) {
    float z[4];
    normal4(philox_block(seed, offset, static_cast<uint64_t>(b)), z);
    for (i64 k = 0; k < cnt; ++k) {
      float zk = z[k];
      int attempt = 0;
      while (std::fabs(zk) > 2.0f) {
        if (++attempt >= kMaxAttempts) {
          zk = 0.0f;
          break;
        }
        float zz[4];
        normal4(philox_block(seed, offset + (static_cast<uint64_t>(attempt) << 32), static_cast<uint64_t>(b)), zz);
        zk = zz[k];
      }
      out[i0 + k] = mean + std * zk;
    }
  });
}

void dropout_forward(float* y, float* mask, const float* x, i64 n, double rate, uint64_t seed,
                     uint64_t offset) {
  // keep iff uniform01 >= rate, decided exactly on the 24-bit integer (u >> 8) >= ceil(rate * 2^24),
  // so the CUDA twin reproduces every decision; the scale is rounded once from double.
  const uint32_t thr = static_cast<uint32_t>(std::ceil(rate * 16777216.0));
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  for_philox_blocks(n, [&](i64 b, i64 i0, i64 cnt) {
    const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(b));
    for (i64 k = 0; k < cnt; ++k) {
      const float mk = (r.v[k] >> 8) >= thr ? scale : 0.0f;
      mask[i0 + k] = mk;
      y[i0 + k] = x[i0 + k] * mk;
    }
  });
}

void random_permutation(int64_t* out, i64 n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  const i64 nb2 = (n + 1) / 2;  // one Philox block gives the keys of two indices
  auto fill = [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      const Philox4 r = philox_block(seed, offset, static_cast<uint64_t>(b));
      for (int h = 0; h < 2; ++h) {
        const i64 i = 2 * b + h;
        if (i < n) keyed[i] = {(static_cast<uint64_t>(r.v[2 * h]) << 32) | r.v[2 * h + 1], i};
      }
    }
  };
  if (n < kParallelMin || num_threads() <= 1) {
    fill(0, nb2);
  } else {
    parallel_for((nb2 + 1023) / 1024, num_threads(), [&](i64 c) {
      fill(c * 1024, std::min(nb2, (c + 1) * 1024));
    });
  }
  // (key, index) pairs are unique, so any correct sort gives the same order (= a stable sort by key).
  std::sort(keyed.begin(), keyed.end());
  for (i64 i = 0; i < n; ++i) out[i] = keyed[i].second;
}

}  // namespace fusednet::cpu
