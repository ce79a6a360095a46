// elementwise.cpp — broadcasting binary/unary ops, reductions, transposes, gathers, casts.
//
// Binary: c[out_shape] = a op b with per-input element strides (0 = broadcast). Dimensions are
// coalesced (size-1 dims dropped, neighbours merged when both inputs stay linear across them), so
// same-shape, scalar and row-broadcast [M,N] op [N] inputs all reduce to a 1-D or 2-D loop whose
// inner stride pair is (1,1), (1,0) or (0,1) — each a separate vectorised loop. Anything else walks
// an odometer over the outer dims with a strided inner loop.
// Reductions are coalesced into kept/reduced groups: [R], [K,R] (contiguous rows), [R,K] / [K,R,K]
// (column sums into a double buffer, vectorised across K) and an odometer fallback. Sums
// accumulate in double in a fixed order; threads split OUTPUTS (or fixed-size blocks of one long
// sum, combined in block order), never a single accumulator, so results are identical for any
// thread count. Only arrays of more than kParallelMin elements use the thread pool.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")  // lets GCC vectorise the selects (see activation_impl.h)
#endif
#include "cpu/elementwise.h"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/scalar_math.h"
#include "cpu/runtime.h"
#include "cpu/parallel.h"

namespace fusednet::cpu {

namespace {

constexpr i64 kParallelMin = 1 << 15;
constexpr i64 kBlock = 1 << 14;  // fixed reduction / work block (thread-count independent)

bool use_threads(i64 work) { return work >= kParallelMin && num_threads() > 1; }

// body(lo, hi) over [0, n) in chunks of `chunk`, in parallel when `parallel`.
template <class Body>
void for_chunks(i64 n, i64 chunk, bool parallel, Body body) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  const i64 nchunks = (n + chunk - 1) / chunk;
  if (!parallel || nchunks <= 1) {
    body(0, n);
    return;
  }
  parallel_for(nchunks, num_threads(), [&](i64 c) { body(c * chunk, std::min(n, (c + 1) * chunk)); });
}

// ------------------------------------------------------------------ binary
template <BinOp OP>
inline float bin(float a, float b) {
  if constexpr (OP == BinOp::Add) return a + b;
  else if constexpr (OP == BinOp::Sub) return a - b;
  else if constexpr (OP == BinOp::Mul) return a * b;
  else if constexpr (OP == BinOp::Div) return a / b;
  else if constexpr (OP == BinOp::Maximum) return (a != a || a > b) ? a : b;  // NaN propagates
  else if constexpr (OP == BinOp::Minimum) return (a != a || a < b) ? a : b;
  else if constexpr (OP == BinOp::Pow) return std::pow(a, b);
  else if constexpr (OP == BinOp::Equal) return a == b ? 1.0f : 0.0f;
  else if constexpr (OP == BinOp::NotEqual) return a != b ? 1.0f : 0.0f;
  else if constexpr (OP == BinOp::Greater) return a > b ? 1.0f : 0.0f;
  else if constexpr (OP == BinOp::GreaterEqual) return a >= b ? 1.0f : 0.0f;
  else if constexpr (OP == BinOp::Less) return a < b ? 1.0f : 0.0f;
  else return a <= b ? 1.0f : 0.0f;
}

template <BinOp OP>
inline void bin_inner(float* c, const float* a, const float* b, i64 n, i64 sa, i64 sb) {
  if (sa == 1 && sb == 1) {
    for (i64 i = 0; i < n; ++i) c[i] = bin<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (i64 i = 0; i < n; ++i) c[i] = bin<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (i64 i = 0; i < n; ++i) c[i] = bin<OP>(av, b[i]);
  } else {
    for (i64 i = 0; i < n; ++i) c[i] = bin<OP>(a[i * sa], b[i * sb]);
  }
}

struct Coalesced {
  int nd = 0;
  i64 shape[kMaxDims];
  i64 sa[kMaxDims], sb[kMaxDims];
};

Coalesced coalesce2(int ndim, const i64* shape, const i64* as, const i64* bs) {
  Coalesced c;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (c.nd > 0) {
      int p = c.nd - 1;
      if (c.sa[p] == as[d] * shape[d] && c.sb[p] == bs[d] * shape[d]) {
        c.shape[p] *= shape[d];
        c.sa[p] = as[d];
        c.sb[p] = bs[d];
        continue;
      }
    }
    c.shape[c.nd] = shape[d];
    c.sa[c.nd] = as[d];
    c.sb[c.nd] = bs[d];
    ++c.nd;
  }
  return c;
}

template <BinOp OP>
void binary_impl(float* c, const float* a, const float* b, const Coalesced& g) {
  if (g.nd <= 1) {
    const i64 n = g.nd ? g.shape[0] : 1;
    const i64 sa = g.nd ? g.sa[0] : 0, sb = g.nd ? g.sb[0] : 0;
    for_chunks(n, kBlock, use_threads(n), [&](i64 lo, i64 hi) {
      bin_inner<OP>(c + lo, a + lo * sa, b + lo * sb, hi - lo, sa, sb);
    });
    return;
  }
  const int last = g.nd - 1;
  const i64 inner = g.shape[last];
  i64 rows = 1;
  for (int d = 0; d < last; ++d) rows *= g.shape[d];
  const i64 rows_per = std::max<i64>(1, kBlock / inner);
  for_chunks(rows, rows_per, use_threads(rows * inner), [&](i64 lo, i64 hi) {
    // unravel row `lo` over the outer dims
    i64 idx[kMaxDims];
    i64 r = lo, oa = 0, ob = 0;
    for (int d = last - 1; d >= 0; --d) {
      idx[d] = r % g.shape[d];
      r /= g.shape[d];
      oa += idx[d] * g.sa[d];
      ob += idx[d] * g.sb[d];
    }
    for (i64 row = lo; row < hi; ++row) {
      bin_inner<OP>(c + row * inner, a + oa, b + ob, inner, g.sa[last], g.sb[last]);
      for (int d = last - 1; d >= 0; --d) {  // odometer increment
        oa += g.sa[d];
        ob += g.sb[d];
        if (++idx[d] < g.shape[d]) break;
        oa -= g.sa[d] * g.shape[d];
        ob -= g.sb[d] * g.shape[d];
        idx[d] = 0;
      }
    }
  });
}

// ------------------------------------------------------------------ unary
template <UnOp OP>
inline float un(float x) {
  if constexpr (OP == UnOp::Neg) return -x;
  else if constexpr (OP == UnOp::Exp) return sm::fn_exp(x);
  else if constexpr (OP == UnOp::Log) return sm::fn_log(x);
  else if constexpr (OP == UnOp::Sqrt) return std::sqrt(x);
  else if constexpr (OP == UnOp::Rsqrt) return 1.0f / std::sqrt(x);
  else if constexpr (OP == UnOp::Square) return x * x;
  else if constexpr (OP == UnOp::Abs) return std::fabs(x);
  else if constexpr (OP == UnOp::Sign) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);  // 0, NaN kept
  else if constexpr (OP == UnOp::Reciprocal) return 1.0f / x;
  else if constexpr (OP == UnOp::Sin) return std::sin(x);
  else if constexpr (OP == UnOp::Cos) return std::cos(x);
  else if constexpr (OP == UnOp::Floor) return std::floor(x);
  else return std::nearbyint(x);  // half to even, like NumPy
}

template <UnOp OP>
void unary_impl(float* y, const float* x, i64 n) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 lo, i64 hi) {
    for (i64 i = lo; i < hi; ++i) y[i] = un<OP>(x[i]);
  });
}

// ------------------------------------------------------------------ reductions
template <RedOp OP>
struct Acc;  // accumulator type and combine rule per op
template <> struct Acc<RedOp::Sum> {
  using T = double;
  static T init() { return 0.0; }
  static T add(T a, float v) { return a + v; }
  static T merge(T a, T b) { return a + b; }
};
template <> struct Acc<RedOp::Mean> : Acc<RedOp::Sum> {};
template <> struct Acc<RedOp::Prod> {
  using T = double;
  static T init() { return 1.0; }
  static T add(T a, float v) { return a * v; }
  static T merge(T a, T b) { return a * b; }
};
template <> struct Acc<RedOp::Max> {
  using T = float;
  static T init() { return -std::numeric_limits<float>::infinity(); }
  static T add(T a, float v) { return (v > a || v != v) ? v : a; }
  static T merge(T a, T b) { return (a != a) ? a : add(a, b); }
};
template <> struct Acc<RedOp::Min> {
  using T = float;
  static T init() { return std::numeric_limits<float>::infinity(); }
  static T add(T a, float v) { return (v < a || v != v) ? v : a; }
  static T merge(T a, T b) { return (a != a) ? a : add(a, b); }
};

// One contiguous run, 8 independent lanes (vectorisable, fixed order).
template <RedOp OP>
typename Acc<OP>::T reduce_run(const float* x, i64 n) {
  using A = Acc<OP>;
  typename A::T lane[8];
  for (int k = 0; k < 8; ++k) lane[k] = A::init();
  i64 i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] = A::add(lane[k], x[i + k]);
  typename A::T s = A::init();
  for (; i < n; ++i) s = A::add(s, x[i]);
  for (int k = 0; k < 8; ++k) s = A::merge(s, lane[k]);
  return s;
}

template <RedOp OP>
float finish(typename Acc<OP>::T v, i64 count) {
  if constexpr (OP == RedOp::Mean)
    return count ? static_cast<float>(v / static_cast<double>(count)) : std::numeric_limits<float>::quiet_NaN();
  else
    return static_cast<float>(v);
}

// One long contiguous reduction: fixed blocks (parallel), combined in block order.
template <RedOp OP>
float reduce_all(const float* x, i64 n) {
  using A = Acc<OP>;
  if (n <= kBlock * 2) return finish<OP>(reduce_run<OP>(x, n), n);
  const i64 nb = (n + kBlock - 1) / kBlock;
  std::vector<typename A::T> part(nb);
  for_chunks(nb, 1, use_threads(n), [&](i64 lo, i64 hi) {
    for (i64 b = lo; b < hi; ++b) part[b] = reduce_run<OP>(x + b * kBlock, std::min(kBlock, n - b * kBlock));
  });
  typename A::T s = A::init();
  for (i64 b = 0; b < nb; ++b) s = A::merge(s, part[b]);
  return finish<OP>(s, n);
}

// x viewed as [outer, R, inner]: y[o, j] = reduce_r x[o, r, j]; columns vectorised in a buffer.
template <RedOp OP>
void reduce_cols(float* y, const float* x, i64 outer, i64 R, i64 inner) {
  using A = Acc<OP>;
  constexpr i64 W = 512;
  const i64 jchunks = (inner + W - 1) / W;
  for_chunks(outer * jchunks, 1, use_threads(outer * R * inner), [&](i64 lo, i64 hi) {
    typename A::T acc[W];
    for (i64 t = lo; t < hi; ++t) {
      const i64 o = t / jchunks, j0 = (t % jchunks) * W, w = std::min(W, inner - j0);
      for (i64 j = 0; j < w; ++j) acc[j] = A::init();
      const float* base = x + o * R * inner + j0;
      for (i64 r = 0; r < R; ++r) {
        const float* row = base + r * inner;
        for (i64 j = 0; j < w; ++j) acc[j] = A::add(acc[j], row[j]);
      }
      for (i64 j = 0; j < w; ++j) y[o * inner + j0 + j] = finish<OP>(acc[j], R);
    }
  });
}

template <RedOp OP>
void reduce_impl(float* y, const float* x, int ndim, const i64* shape, const bool* reduced) {
  i64 total = 1, out_n = 1;
  for (int d = 0; d < ndim; ++d) {
    total *= shape[d];
    if (!reduced[d]) out_n *= shape[d];
  }
  if (out_n == 0) return;
  if (total == 0) {  // empty reduction: identity for every output
    const float v = finish<OP>(Acc<OP>::init(), 0);
    for (i64 i = 0; i < out_n; ++i) y[i] = v;
    return;
  }
  // coalesce into alternating kept/reduced groups (size-1 dims dropped)
  int nd = 0;
  i64 gs[kMaxDims];
  bool gr[kMaxDims];
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    if (nd && gr[nd - 1] == reduced[d]) {
      gs[nd - 1] *= shape[d];
    } else {
      gs[nd] = shape[d];
      gr[nd] = reduced[d];
      ++nd;
    }
  }
  if (nd == 0) {  // a single element
    y[0] = finish<OP>(Acc<OP>::add(Acc<OP>::init(), x[0]), 1);
    return;
  }
  if (nd == 1 && !gr[0]) {  // nothing reduced (only size-1 axes): copy
    for_chunks(total, kBlock, use_threads(total), [&](i64 lo, i64 hi) {
      for (i64 i = lo; i < hi; ++i) y[i] = finish<OP>(Acc<OP>::add(Acc<OP>::init(), x[i]), 1);
    });
    return;
  }
  if (nd == 1) {
    y[0] = reduce_all<OP>(x, total);
    return;
  }
  if (nd == 2 && !gr[0]) {  // [K, R]: contiguous rows, one thread per output
    const i64 K = gs[0], R = gs[1];
    for_chunks(K, std::max<i64>(1, kBlock / R), use_threads(total), [&](i64 lo, i64 hi) {
      for (i64 k = lo; k < hi; ++k) y[k] = finish<OP>(reduce_run<OP>(x + k * R, R), R);
    });
    return;
  }
  if (nd == 2) {  // [R, K]
    reduce_cols<OP>(y, x, 1, gs[0], gs[1]);
    return;
  }
  if (nd == 3 && !gr[0]) {  // [K, R, K]
    reduce_cols<OP>(y, x, gs[0], gs[1], gs[2]);
    return;
  }
  // general: odometer over the reduced dims for each output (rare: >= 2 separate reduced groups)
  i64 stride[kMaxDims];
  {
    i64 s = 1;
    for (int d = nd - 1; d >= 0; --d) {
      stride[d] = s;
      s *= gs[d];
    }
  }
  int kd[kMaxDims], rd[kMaxDims], nk = 0, nr = 0;
  i64 rcount = 1;
  for (int d = 0; d < nd; ++d) {
    if (gr[d]) {
      rd[nr++] = d;
      rcount *= gs[d];
    } else {
      kd[nk++] = d;
    }
  }
  for_chunks(out_n, std::max<i64>(1, kBlock / rcount), use_threads(total), [&](i64 lo, i64 hi) {
    for (i64 o = lo; o < hi; ++o) {
      i64 base = 0, rem = o;
      for (int q = nk - 1; q >= 0; --q) {
        base += (rem % gs[kd[q]]) * stride[kd[q]];
        rem /= gs[kd[q]];
      }
      i64 idx[kMaxDims] = {0};
      typename Acc<OP>::T acc = Acc<OP>::init();
      i64 off = 0;
      for (i64 t = 0; t < rcount; ++t) {
        acc = Acc<OP>::add(acc, x[base + off]);
        for (int q = nr - 1; q >= 0; --q) {
          const int d = rd[q];
          off += stride[d];
          if (++idx[q] < gs[d]) break;
          off -= stride[d] * gs[d];
          idx[q] = 0;
        }
      }
      y[o] = finish<OP>(acc, rcount);
    }
  });
}

// ------------------------------------------------------------------ transpose
template <class T>
void transpose_impl(T* y, const T* x, int ndim, const i64* shape, const int* perm) {
  i64 xs[kMaxDims];
  {
    i64 s = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      xs[d] = s;
      s *= shape[d];
    }
  }
  // output dims with their input strides, coalesced
  int nd = 0;
  i64 os[kMaxDims], is[kMaxDims];
  i64 total = 1;
  for (int d = 0; d < ndim; ++d) {
    const i64 n = shape[perm[d]], s = xs[perm[d]];
    total *= n;
    if (n == 1) continue;
    if (nd && is[nd - 1] == s * n) {
      os[nd - 1] *= n;
      is[nd - 1] = s;
      continue;
    }
    os[nd] = n;
    is[nd] = s;
    ++nd;
  }
  if (total == 0) return;
  if (nd <= 1) {  // plain copy
    std::memcpy(y, x, static_cast<size_t>(total) * sizeof(T));
    return;
  }
  const int last = nd - 1;
  const i64 inner = os[last], sin = is[last];
  if (nd == 2 && sin != 1) {
    // [A, B] output from input [B, A] (is = {1, A}): 32x32 tiles keep both sides in cache
    const i64 A = os[0], B = os[1];
    constexpr i64 TB = 32;
    const i64 ta = (A + TB - 1) / TB, tb = (B + TB - 1) / TB;
    for_chunks(ta * tb, 1, use_threads(total), [&](i64 lo, i64 hi) {
      for (i64 t = lo; t < hi; ++t) {
        const i64 a0 = (t / tb) * TB, b0 = (t % tb) * TB;
        const i64 a1 = std::min(A, a0 + TB), b1 = std::min(B, b0 + TB);
        for (i64 a = a0; a < a1; ++a)
          for (i64 b = b0; b < b1; ++b) y[a * B + b] = x[b * sin + a * is[0]];
      }
    });
    return;
  }
  i64 rows = total / inner;
  for_chunks(rows, std::max<i64>(1, kBlock / inner), use_threads(total), [&](i64 lo, i64 hi) {
    i64 idx[kMaxDims];
    i64 r = lo, off = 0;
    for (int d = last - 1; d >= 0; --d) {
      idx[d] = r % os[d];
      r /= os[d];
      off += idx[d] * is[d];
    }
    for (i64 row = lo; row < hi; ++row) {
      T* yr = y + row * inner;
      const T* xr = x + off;
      if (sin == 1) std::memcpy(yr, xr, static_cast<size_t>(inner) * sizeof(T));
      else
        for (i64 j = 0; j < inner; ++j) yr[j] = xr[j * sin];
      for (int d = last - 1; d >= 0; --d) {
        off += is[d];
        if (++idx[d] < os[d]) break;
        off -= is[d] * os[d];
        idx[d] = 0;
      }
    }
  });
}

template <class D, class S>
inline D cast_one(S v) {
  if constexpr (std::is_same_v<S, float> && !std::is_same_v<D, float>) {
    // NaN -> 0, saturate, truncate toward zero (the C++ conversion is UB out of range)
    constexpr double lo = static_cast<double>(std::numeric_limits<D>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<D>::max());
    const double d = static_cast<double>(v);
    if (!(d == d)) return 0;
    if (d <= lo) return std::numeric_limits<D>::min();
    if (d >= hi) return std::numeric_limits<D>::max();
    return static_cast<D>(d);
  } else {
    return static_cast<D>(v);
  }
}

template <class D, class S>
void cast_impl(D* y, const S* x, i64 n) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 lo, i64 hi) {
    for (i64 i = lo; i < hi; ++i) y[i] = cast_one<D, S>(x[i]);
  });
}

}  // namespace

// ==================================================================== public kernels
void binary(float* c, const float* a, const float* b, BinOp op, int ndim, const i64* shape,
            const i64* astride, const i64* bstride) {
  for (int d = 0; d < ndim; ++d)
    if (shape[d] == 0) return;
  Coalesced g = coalesce2(ndim, shape, astride, bstride);
  switch (op) {
#define FN_CASE(O) case BinOp::O: binary_impl<BinOp::O>(c, a, b, g); break;
    FN_CASE(Add) FN_CASE(Sub) FN_CASE(Mul) FN_CASE(Div) FN_CASE(Maximum) FN_CASE(Minimum)
    FN_CASE(Pow) FN_CASE(Equal) FN_CASE(NotEqual) FN_CASE(Greater) FN_CASE(GreaterEqual)
    FN_CASE(Less) FN_CASE(LessEqual)
#undef FN_CASE
  }
}

void unary(float* y, const float* x, i64 n, UnOp op) {
  switch (op) {
#define FN_CASE(O) case UnOp::O: unary_impl<UnOp::O>(y, x, n); break;
    FN_CASE(Neg) FN_CASE(Exp) FN_CASE(Log) FN_CASE(Sqrt) FN_CASE(Rsqrt) FN_CASE(Square) FN_CASE(Abs)
    FN_CASE(Sign) FN_CASE(Reciprocal) FN_CASE(Sin) FN_CASE(Cos) FN_CASE(Floor) FN_CASE(Round)
#undef FN_CASE
  }
}

void clip(float* y, const float* x, i64 n, float lo, float hi) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 l, i64 h) {
    for (i64 i = l; i < h; ++i) {
      const float v = x[i];
      y[i] = v < lo ? lo : (v > hi ? hi : v);  // NaN passes through
    }
  });
}

void scale(float* y, const float* x, i64 n, float alpha) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 l, i64 h) {
    for (i64 i = l; i < h; ++i) y[i] = alpha * x[i];
  });
}

void axpy(float* y, const float* x, i64 n, float alpha) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 l, i64 h) {
    for (i64 i = l; i < h; ++i) y[i] += alpha * x[i];
  });
}

void where(float* y, const float* cond, const float* a, const float* b, i64 n) {
  for_chunks(n, kBlock, use_threads(n), [&](i64 l, i64 h) {
    for (i64 i = l; i < h; ++i) y[i] = cond[i] != 0.0f ? a[i] : b[i];
  });
}

void reduce(float* y, const float* x, RedOp op, int ndim, const i64* shape, const bool* reduced) {
  switch (op) {
    case RedOp::Sum: reduce_impl<RedOp::Sum>(y, x, ndim, shape, reduced); break;
    case RedOp::Mean: reduce_impl<RedOp::Mean>(y, x, ndim, shape, reduced); break;
    case RedOp::Max: reduce_impl<RedOp::Max>(y, x, ndim, shape, reduced); break;
    case RedOp::Min: reduce_impl<RedOp::Min>(y, x, ndim, shape, reduced); break;
    case RedOp::Prod: reduce_impl<RedOp::Prod>(y, x, ndim, shape, reduced); break;
  }
}

void transpose(void* y, const void* x, size_t itemsize, int ndim, const i64* shape, const int* perm) {
  if (itemsize == 8)
    transpose_impl(static_cast<uint64_t*>(y), static_cast<const uint64_t*>(x), ndim, shape, perm);
  else
    transpose_impl(static_cast<uint32_t*>(y), static_cast<const uint32_t*>(x), ndim, shape, perm);
}

template <class IdxT>
static i64 first_bad(const IdxT* idx, i64 n, i64 limit) {
  for (i64 i = 0; i < n; ++i)
    if (idx[i] < 0 || static_cast<i64>(idx[i]) >= limit) return i;
  return -1;
}

template <class IdxT>
i64 take_rows(void* y, const void* x, const IdxT* idx, i64 nidx, i64 nrows, size_t row_bytes) {
  const i64 bad = first_bad(idx, nidx, nrows);
  if (bad >= 0) return bad;
  char* yc = static_cast<char*>(y);
  const char* xc = static_cast<const char*>(x);
  const i64 row_elems = std::max<i64>(1, static_cast<i64>(row_bytes / 4));
  for_chunks(nidx, std::max<i64>(1, kBlock / row_elems), use_threads(nidx * row_elems), [&](i64 lo, i64 hi) {
    for (i64 i = lo; i < hi; ++i)
      std::memcpy(yc + i * row_bytes, xc + static_cast<i64>(idx[i]) * row_bytes, row_bytes);
  });
  return -1;
}

template <class IdxT>
i64 scatter_add_rows(float* dx, const float* dy, const IdxT* idx, i64 nidx, i64 nrows, i64 row) {
  const i64 bad = first_bad(idx, nidx, nrows);
  if (bad >= 0) return bad;
  std::memset(dx, 0, static_cast<size_t>(nrows * row) * sizeof(float));
  // threads split the row's columns, so each output element is summed in index order by one thread
  constexpr i64 W = 256;
  const i64 nchunks = (row + W - 1) / W;
  for_chunks(nchunks, 1, use_threads(nidx * row) && nchunks > 1, [&](i64 lo, i64 hi) {
    const i64 j0 = lo * W, j1 = std::min(row, hi * W);
    for (i64 i = 0; i < nidx; ++i) {
      float* d = dx + static_cast<i64>(idx[i]) * row;
      const float* s = dy + i * row;
      for (i64 j = j0; j < j1; ++j) d[j] += s[j];
    }
  });
  return -1;
}

template <class IdxT>
i64 one_hot(float* y, const IdxT* idx, i64 n, i64 num_classes) {
  const i64 bad = first_bad(idx, n, num_classes);
  if (bad >= 0) return bad;
  std::memset(y, 0, static_cast<size_t>(n * num_classes) * sizeof(float));
  for (i64 i = 0; i < n; ++i) y[i * num_classes + static_cast<i64>(idx[i])] = 1.0f;
  return -1;
}

template i64 take_rows<int32_t>(void*, const void*, const int32_t*, i64, i64, size_t);
template i64 take_rows<int64_t>(void*, const void*, const int64_t*, i64, i64, size_t);
template i64 scatter_add_rows<int32_t>(float*, const float*, const int32_t*, i64, i64, i64);
template i64 scatter_add_rows<int64_t>(float*, const float*, const int64_t*, i64, i64, i64);
template i64 one_hot<int32_t>(float*, const int32_t*, i64, i64);
template i64 one_hot<int64_t>(float*, const int64_t*, i64, i64);

void concat(void* y, const void* const* xs, const size_t* widths, int k, i64 outer) {
  size_t total_w = 0;
  for (int q = 0; q < k; ++q) total_w += widths[q];
  if (total_w == 0 || outer == 0) return;
  char* yc = static_cast<char*>(y);
  const i64 rows_per = std::max<i64>(1, static_cast<i64>(kBlock * 4 / std::max<size_t>(total_w, 1)));
  for_chunks(outer, rows_per, use_threads(outer * static_cast<i64>(total_w / 4)), [&](i64 lo, i64 hi) {
    for (i64 o = lo; o < hi; ++o) {
      char* dst = yc + o * total_w;
      for (int q = 0; q < k; ++q) {
        if (widths[q]) std::memcpy(dst, static_cast<const char*>(xs[q]) + o * widths[q], widths[q]);
        dst += widths[q];
      }
    }
  });
}

void cast(void* y, int yd, const void* x, int xd, i64 n) {
#define FN_CAST(DT, ST) cast_impl(static_cast<DT*>(y), static_cast<const ST*>(x), n)
  if (xd == yd) {
    std::memcpy(y, x, static_cast<size_t>(n) * (xd == 2 ? 8 : 4));
    return;
  }
  if (xd == 0 && yd == 1) FN_CAST(int32_t, float);
  else if (xd == 0 && yd == 2) FN_CAST(int64_t, float);
  else if (xd == 1 && yd == 0) FN_CAST(float, int32_t);
  else if (xd == 1 && yd == 2) FN_CAST(int64_t, int32_t);
  else if (xd == 2 && yd == 0) FN_CAST(float, int64_t);
  else if (xd == 2 && yd == 1) FN_CAST(int32_t, int64_t);  // wraps modulo 2^32, like NumPy
#undef FN_CAST
}

void argmax(int64_t* y, const float* x, i64 outer, i64 n, i64 inner) {
  if (outer == 0 || inner == 0 || n == 0) return;
  if (inner == 1) {
    for_chunks(outer, std::max<i64>(1, kBlock / n), use_threads(outer * n), [&](i64 lo, i64 hi) {
      for (i64 o = lo; o < hi; ++o) {
        const float* r = x + o * n;
        float best = r[0];
        i64 bi = 0;
        for (i64 i = 1; i < n && best == best; ++i)
          if (r[i] > best || r[i] != r[i]) {
            best = r[i];
            bi = i;
          }
        y[o] = bi;
      }
    });
    return;
  }
  constexpr i64 W = 256;
  const i64 jchunks = (inner + W - 1) / W;
  for_chunks(outer * jchunks, 1, use_threads(outer * n * inner), [&](i64 lo, i64 hi) {
    float best[W];
    for (i64 t = lo; t < hi; ++t) {
      const i64 o = t / jchunks, j0 = (t % jchunks) * W, w = std::min(W, inner - j0);
      const float* base = x + o * n * inner + j0;
      int64_t* yo = y + o * inner + j0;
      for (i64 j = 0; j < w; ++j) {
        best[j] = base[j];
        yo[j] = 0;
      }
      for (i64 r = 1; r < n; ++r) {
        const float* row = base + r * inner;
        for (i64 j = 0; j < w; ++j) {
          const float v = row[j];
          if (v > best[j] || (v != v && best[j] == best[j])) {
            best[j] = v;
            yo[j] = r;
          }
        }
      }
    }
  });
}

}  // namespace fusednet::cpu
