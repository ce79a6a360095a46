// winograd_impl.h — the F(4x4,3x3) tile transforms, written once over a vector-traits type V
// (V::W channels per vector: 16 AVX-512, 8 AVX2, 1 portable) and instantiated per ISA file inside
// its FN_ISA_BEGIN region (cpu/isa.h); include nothing here. Internal to the winograd family.
//
// A tile's 36 points are transformed channel-vector by channel-vector: NHWC keeps C contiguous,
// so every vector op works on W channels of the same pixel and no transpose is ever needed.
// Input  (Bᵀ d B, rows then columns), with the points 0, ±1, ±2, ∞:
//   t0 = 4d0 - 5d2 + d4           t1 = -4(d1 + d2) + (d3 + d4)   t2 = 4(d1 - d2) + (d4 - d3)
//   t3 = 2(d3 - d1) + (d4 - d2)   t4 = 2(d1 - d3) + (d4 - d2)    t5 = 4d1 - 5d3 + d5
// Output (Aᵀ m A): y0 = m0 + (m1 + m2) + (m3 + m4)   y1 = (m1 - m2) + 2(m3 - m4)
//                  y2 = (m1 + m2) + 4(m3 + m4)       y3 = (m1 - m2) + 8(m3 - m4) + m5
// The channel tail (C % W) runs through the scalar traits S of the same file.

namespace fusednet::cpu::wino_detail {

template <class V>
struct Tf {
  using R = typename V::R;
  static inline void bt(const R* d, R* t) {  // 6 -> 6, d and t strided by the caller's layout
    const R c4 = V::set1(4.f), c5 = V::set1(-5.f), cm4 = V::set1(-4.f), c2 = V::set1(2.f);
    t[0] = V::fma(c4, d[0], V::fma(c5, d[2], d[4]));
    t[1] = V::fma(cm4, V::add(d[1], d[2]), V::add(d[3], d[4]));
    t[2] = V::fma(c4, V::sub(d[1], d[2]), V::sub(d[4], d[3]));
    t[3] = V::fma(c2, V::sub(d[3], d[1]), V::sub(d[4], d[2]));
    t[4] = V::fma(c2, V::sub(d[1], d[3]), V::sub(d[4], d[2]));
    t[5] = V::fma(c4, d[1], V::fma(c5, d[3], d[5]));
  }
  static inline void at(const R* m, R* y) {  // 6 -> 4
    const R p12 = V::add(m[1], m[2]), m12 = V::sub(m[1], m[2]);
    const R p34 = V::add(m[3], m[4]), m34 = V::sub(m[3], m[4]);
    y[0] = V::add(V::add(m[0], p12), p34);
    y[1] = V::fma(V::set1(2.f), m34, m12);
    y[2] = V::fma(V::set1(4.f), p34, p12);
    y[3] = V::add(V::fma(V::set1(8.f), m34, m12), m[5]);
  }
};

// Tile geometry: tile index -> image n and the window origin (may be negative: zero padding).
struct TileAt {
  i64 n, oh, ow, ih, iw;
};
template <class V>  // a template so each ISA file gets its own copy (cpu/isa.h)
inline TileAt tile_at(const ConvGeom& g, i64 t) {
  const i64 tw = (g.Wo + 3) / 4, th = (g.Ho + 3) / 4;
  TileAt a;
  a.n = t / (th * tw);
  const i64 r = t % (th * tw);
  a.oh = (r / tw) * 4;
  a.ow = (r % tw) * 4;
  a.ih = a.oh - g.pt;
  a.iw = a.ow - g.pl;
  return a;
}

// Channels [c0, c1) of one tile ((c1 - c0) % V::W == 0): dst point p at dst + p·ldd.
template <class V>
inline void in_tile(float* dst, i64 ldd, const float* X, const ConvGeom& g, const TileAt& a, i64 c0, i64 c1) {
  using R = typename V::R;
  const i64 C = g.C;
  const float* Xn = X + a.n * g.H * g.W * C;
  bool rok[6], cok[6];
  bool interior = true;
  for (int i = 0; i < 6; ++i) {
    rok[i] = a.ih + i >= 0 && a.ih + i < g.H;
    cok[i] = a.iw + i >= 0 && a.iw + i < g.W;
    interior = interior && rok[i] && cok[i];
  }
  for (i64 c = c0; c < c1; c += V::W) {
    R tmp[36];  // tmp[6i + j] = (Bᵀ d)[i][j]
    for (int j = 0; j < 6; ++j) {
      R d[6], t[6];
      for (int i = 0; i < 6; ++i) {
        const bool ok = interior || (rok[i] && cok[j]);
        d[i] = ok ? V::load(Xn + ((a.ih + i) * g.W + (a.iw + j)) * C + c) : V::zero();
      }
      Tf<V>::bt(d, t);
      for (int i = 0; i < 6; ++i) tmp[6 * i + j] = t[i];
    }
    for (int i = 0; i < 6; ++i) {
      R t[6];
      Tf<V>::bt(tmp + 6 * i, t);
      for (int j = 0; j < 6; ++j) V::store(dst + (6 * i + j) * ldd + c, t[j]);
    }
  }
}

// Output channels [o0, o1) of one tile from src point p at src + p·lds.
template <class V>
inline void out_tile(float* Y, const float* src, i64 lds, const float* bias, const ConvGeom& g, bool relu,
                     const TileAt& a, i64 o0, i64 o1) {
  using R = typename V::R;
  const i64 O = g.O;
  const int nh = int(g.Ho - a.oh < 4 ? g.Ho - a.oh : 4), nw = int(g.Wo - a.ow < 4 ? g.Wo - a.ow : 4);
  float* Yt = Y + ((a.n * g.Ho + a.oh) * g.Wo + a.ow) * O;
  for (i64 o = o0; o < o1; o += V::W) {
    R tmp[24];  // tmp[6a + j] = (Aᵀ m)[a][j]
    for (int j = 0; j < 6; ++j) {
      R m[6], y[4];
      for (int i = 0; i < 6; ++i) m[i] = V::load(src + (6 * i + j) * lds + o);
      Tf<V>::at(m, y);
      for (int i = 0; i < 4; ++i) tmp[6 * i + j] = y[i];
    }
    const R b = bias ? V::load(bias + o) : V::zero();
    for (int i = 0; i < nh; ++i) {
      R y[4];
      Tf<V>::at(tmp + 6 * i, y);
      for (int j = 0; j < nw; ++j) {
        R v = V::add(y[j], b);
        if (relu) v = V::max(V::zero(), v);  // maxps(0, v): NaN passes, as conv2d's epilogue
        V::store(Yt + (i * g.Wo + j) * O + o, v);
      }
    }
  }
}

// U[36, C·O] = G w Gᵀ for the filters co in [c0, c1) ((c1 - c0) % V::W == 0), Wt [9, C·O]:
//   u0 = g0/4   u1 = -(g0 + g1 + g2)/6   u2 = -(g0 - g1 + g2)/6
//   u3 = g0/24 + g1/12 + g2/6   u4 = g0/24 - g1/12 + g2/6   u5 = g2      (columns, then rows)
template <class V>
struct Gt {
  using R = typename V::R;
  static inline void g3(R g0, R g1, R g2, R* u) {
    const R e = V::add(g0, g2), q = V::fma(V::set1(0.25f), g0, g2), h = V::mul(V::set1(0.5f), g1);
    u[0] = V::mul(V::set1(0.25f), g0);
    u[1] = V::mul(V::set1(-1.f / 6), V::add(e, g1));
    u[2] = V::mul(V::set1(-1.f / 6), V::sub(e, g1));
    u[3] = V::mul(V::set1(1.f / 6), V::add(q, h));
    u[4] = V::mul(V::set1(1.f / 6), V::sub(q, h));
    u[5] = g2;
  }
};
template <class V>
inline void weights_range(float* U, const float* Wt, i64 CO, i64 c0, i64 c1) {
  using R = typename V::R;
  for (i64 c = c0; c < c1; c += V::W) {
    R t[18];  // t[3r + j] = (G w)[r][j]
    for (int j = 0; j < 3; ++j) {
      R u[6];
      Gt<V>::g3(V::load(Wt + j * CO + c), V::load(Wt + (3 + j) * CO + c), V::load(Wt + (6 + j) * CO + c), u);
      for (int r = 0; r < 6; ++r) t[3 * r + j] = u[r];
    }
    for (int r = 0; r < 6; ++r) {
      R u[6];
      Gt<V>::g3(t[3 * r], t[3 * r + 1], t[3 * r + 2], u);
      for (int s = 0; s < 6; ++s) V::store(U + (6 * r + s) * CO + c, u[s]);
    }
  }
}
template <class V, class S>
void weights_block(float* U, const float* Wt, i64 CO, i64 c0, i64 c1) {
  const i64 cv = c0 + (c1 - c0) / V::W * V::W;
  if (cv > c0) weights_range<V>(U, Wt, CO, c0, cv);
  if (cv < c1) weights_range<S>(U, Wt, CO, cv, c1);
}

template <class V, class S>
void in_chunk(float* Vb, const float* X, const ConvGeom& g, i64 t0, i64 nt) {
  const i64 C = g.C, cv = C - C % V::W;
  for (i64 k = 0; k < nt; ++k) {
    const TileAt a = tile_at<V>(g, t0 + k);
    float* dst = Vb + k * 36 * C;
    if (cv > 0) in_tile<V>(dst, C, X, g, a, 0, cv);
    if (cv < C) in_tile<S>(dst, C, X, g, a, cv, C);
  }
}

template <class V, class S>
void out_chunk(float* Y, const float* Mb, const float* bias, const ConvGeom& g, Act act, i64 t0, i64 nt) {
  const i64 O = g.O, ov = O - O % V::W;
  const bool relu = act == Act::Relu;
  for (i64 k = 0; k < nt; ++k) {
    const TileAt a = tile_at<V>(g, t0 + k);
    const float* src = Mb + k * 36 * O;
    if (ov > 0) out_tile<V>(Y, src, O, bias, g, relu, a, 0, ov);
    if (ov < O) out_tile<S>(Y, src, O, bias, g, relu, a, ov, O);
  }
}

}  // namespace fusednet::cpu::wino_detail
