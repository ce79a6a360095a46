// philox.h — Philox4x32-10 counter-based RNG (Salmon, Moraes, Dror, Shaw, SC'11 "Parallel random
// numbers: as easy as 1, 2, 3") and the uint32 -> float conversions every fusednet RNG op uses.
//
// Why counter-based: element i of any random op is a pure function of (seed, offset, i), so the
// result is identical for any thread count, any work split, and on CUDA (DESIGN invariant 6).
//
// Stream layout (the contract; CPU and CUDA kernels must both follow it):
//   key     = (seed & 0xffffffff, seed >> 32)                      — 64-bit seed
//   counter = (b & 0xffffffff, b >> 32, offset & 0xffffffff, offset >> 32),  b = i / 4
//   element i uses lane i % 4 of the 4x32-bit block philox(counter, key).
// Conversions:
//   uniform01(u)  = (u >> 8) * 2^-24                in [0, 1)   (24-bit mantissa, exact in float)
//   uniform01_open(u) = ((u >> 8) + 1) * 2^-24     in (0, 1]   (for log in Box–Muller)
//   normal pair from lanes (a, b): r = sqrt(-2 ln uniform01_open(a)), t = 2π uniform01(b),
//     z0 = r cos t, z1 = r sin t, computed in double and rounded to float (so CPU and CUDA libm
//     differences of 1 float ulp cannot appear). Element 4k+0 = z0(lanes 0,1), 4k+1 = z1(lanes 0,1),
//     4k+2 = z0(lanes 2,3), 4k+3 = z1(lanes 2,3).
// Everything here is FN_HD: header-only, no state, usable from __device__ code.
#pragma once
#include <cmath>
#include <cstdint>

#include "common/common.h"

namespace fusednet {

struct Philox4 {
  uint32_t v[4];
};

FN_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// One Philox4x32 round with the standard multipliers (Random123 PHILOX_M4x32_0/1).
FN_HD void philox_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint32_t hi0, lo0, hi1, lo1;
  philox_mulhilo(0xD2511F53u, c[0], hi0, lo0);
  philox_mulhilo(0xCD9E8D57u, c[2], hi1, lo1);
  uint32_t n0 = hi1 ^ c[1] ^ k0;
  uint32_t n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// Philox4x32-10: 10 rounds, key bumped by the Weyl constants between rounds.
FN_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                            uint32_t k1) {
  uint32_t c[4] = {c0, c1, c2, c3};
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int r = 0; r < 10; ++r) {
    philox_round(c, k0, k1);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c[0], c[1], c[2], c[3]}};
}

// The block holding element i's lane for (seed, offset): block index b = i / 4.
FN_HD Philox4 philox_block(uint64_t seed, uint64_t offset, uint64_t b) {
  return philox4x32_10(static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32),
                       static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

FN_HD float uniform01(uint32_t u) { return static_cast<float>(u >> 8) * (1.0f / 16777216.0f); }
FN_HD double uniform01_open_d(uint32_t u) {
  return (static_cast<double>(u >> 8) + 1.0) * (1.0 / 16777216.0);
}

// Box–Muller on two lanes; see the header comment for which lanes feed which element.
FN_HD void box_muller(uint32_t a, uint32_t b, float& z0, float& z1) {
  const double kTwoPi = 6.283185307179586476925286766559;
  double r = sqrt(-2.0 * log(uniform01_open_d(a)));
  double t = kTwoPi * static_cast<double>(uniform01(b));
  z0 = static_cast<float>(r * cos(t));
  z1 = static_cast<float>(r * sin(t));
}

// All four standard normals of one block, in element order.
FN_HD void normal4(const Philox4& blk, float z[4]) {
  box_muller(blk.v[0], blk.v[1], z[0], z[1]);
  box_muller(blk.v[2], blk.v[3], z[2], z[3]);
}

}  // namespace fusednet
