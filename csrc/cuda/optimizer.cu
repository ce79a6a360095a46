// optimizer.cu — multi-tensor optimizer steps and norm/clip helpers on the device (Keras 3
// formulas, identical to csrc/cpu/optimizer.cpp; see cpu/optimizer.h).
//
// Shape: an optimizer step is memory-bound (Adam: read p, g, m, v, write p, m, v = 28 bytes per
// parameter) and a model is a few big tensors plus many tiny ones. So the host cuts every tensor
// into chunks of kChunk elements (the last chunk of a tensor is short) and describes each chunk by
// its already-offset pointers (params, up to three state tensors, grads) in one device array; ONE
// kernel launch then updates all parameters, one 256-thread block per chunk (grid-stride over
// chunks), each thread moving float4s when the chunk's pointers are 16-byte aligned (16 elements
// in flight per thread per stream) and scalars otherwise / for the ragged tail.
// Pruning masks ride in the chunk table (Chunk::mk, null = dense): after the op, a masked chunk
// keeps p and every state where mask != 0 and stores +0 where mask == 0, in the same pass (the
// CPU's select, csrc/cpu/optimizer.cpp); dense chunks run the unchanged path (a chunk-uniform branch).
// The chunk table is uploaded only when it changes: parameters keep their addresses from step to
// step, so the steady-state step is a memcmp on the host plus one launch (no H2D copy, no sync).
//
// Norms (global_norm, tensor_norms for clip_by_norm) are deterministic two-pass reductions: pass 1
// writes one double partial Σx² per chunk (block reduction in a fixed order), pass 2 sums a
// tensor's (or all) partials in chunk order in one block. No atomics, so the result depends only
// on the inputs — the value differs from the CPU's (different association) by rounding only.
#include <cstring>
#include <mutex>
#include <vector>

#include "cpu/optimizer.h"
#include "cuda/check.cuh"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "cuda/runtime.h"

namespace fusednet::cuda {

using cpu::TensorList;

namespace {

constexpr int64_t kChunk = 16384;  // elements per chunk: 256 threads × 16 float4
constexpr int kThreads = 256;

struct Chunk {
  float* p;           // params (or the arrays of scale_/clip_)
  float* s[3];        // optimizer state, op-specific order (see each Op)
  const float* g;     // grads (null for grad-free ops)
  const float* mk;    // pruning mask (null: dense)
  int64_t n;          // elements in this chunk
  float aux;          // per-chunk scalar (clip_by_norm: the tensor's scale factor)
  int vec;            // 1: every pointer used is 16-byte aligned → float4 path
};

bool al16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Builds the chunk table. states[k] may be null (state k unused); aux (per tensor) may be null.
std::vector<Chunk> make_chunks(float* const* p, float* const* const* states, const float* const* g,
                               const float* const* masks, TensorList tl, const float* aux) {
  std::vector<Chunk> out;
  for (int t = 0; t < tl.count; ++t) {
    for (int64_t b = 0; b < tl.sizes[t]; b += kChunk) {
      Chunk c{};
      c.p = p[t] + b;
      bool vec = al16(c.p);
      for (int k = 0; k < 3; ++k) {
        c.s[k] = states[k] ? states[k][t] + b : nullptr;
        if (c.s[k]) vec = vec && al16(c.s[k]);
      }
      c.g = g ? g[t] + b : nullptr;
      if (c.g) vec = vec && al16(c.g);
      c.mk = masks && masks[t] ? masks[t] + b : nullptr;
      if (c.mk) vec = vec && al16(c.mk);
      c.n = tl.sizes[t] - b < kChunk ? tl.sizes[t] - b : kChunk;
      c.aux = aux ? aux[t] : 1.0f;
      c.vec = vec ? 1 : 0;
      out.push_back(c);
    }
  }
  return out;
}

// Device copy of a chunk table, re-uploaded only when its bytes change. One cache slot per call
// site (slot id), so alternating ops (e.g. clip then adam) do not evict each other.
struct TableCache {
  std::vector<Chunk> host;
  void* dev = nullptr;
  size_t cap = 0;
  int device = -1;
};

const Chunk* upload(int slot, const std::vector<Chunk>& chunks) {
  static std::mutex mu;
  static TableCache cache[8];
  std::lock_guard<std::mutex> lk(mu);
  int dev = 0;
  FN_CUDA_CHECK(cudaGetDevice(&dev));
  TableCache& c = cache[slot];
  const size_t bytes = chunks.size() * sizeof(Chunk);
  if (c.dev && c.device == dev && c.host.size() == chunks.size() &&
      std::memcmp(c.host.data(), chunks.data(), bytes) == 0)
    return static_cast<const Chunk*>(c.dev);
  if (!c.dev || c.device != dev || c.cap < bytes) {
    if (c.dev) device_free(c.dev, c.device);
    c.dev = nullptr;
    c.dev = device_malloc(bytes, dev);
    c.cap = bytes;
    c.device = dev;
  }
  memcpy_h2d(c.dev, chunks.data(), bytes);  // synchronous: only when the table changed
  c.host = chunks;
  return static_cast<const Chunk*>(c.dev);
}

enum Slot { kSlotSgd = 0, kSlotAdam, kSlotRms, kSlotAdagrad, kSlotNorm, kSlotScale, kSlotClip, kSlotClipNorm };

int grid_for(size_t nchunks) { return static_cast<int>(nchunks < 65535u * 4 ? nchunks : 65535u * 4); }

// Pruned entry (mask == 0): parameter and all state +0; kept entry: untouched bits.
template <int N>
__device__ __forceinline__ void apply_mask(float mk, float& p, float (&s)[N]) {
  if (mk == 0.f) {
    p = 0.f;
#pragma unroll
    for (int k = 0; k < N; ++k) s[k] = 0.f;
  }
}

// ---- the multi-tensor kernel: for every element, op(p, g, s[0..NS-1], aux).
template <class Op>
__global__ void __launch_bounds__(kThreads) mt_kernel(const Chunk* __restrict__ chunks, int64_t nchunks, Op op) {
  constexpr int NS = Op::kStates;
  constexpr int NSA = NS > 0 ? NS : 1;
  for (int64_t ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    int64_t start = 0;
    if (ch.vec) {
      const int64_t nv = ch.n >> 2;
      for (int64_t v = threadIdx.x; v < nv; v += blockDim.x) {
        float4 p4 = reinterpret_cast<const float4*>(ch.p)[v];
        float4 g4 = make_float4(0.f, 0.f, 0.f, 0.f);
        if (Op::kGrad) g4 = reinterpret_cast<const float4*>(ch.g)[v];
        float4 s4[NSA];
#pragma unroll
        for (int k = 0; k < NS; ++k) s4[k] = reinterpret_cast<const float4*>(ch.s[k])[v];
        float4 k4 = make_float4(1.f, 1.f, 1.f, 1.f);
        if (ch.mk) k4 = reinterpret_cast<const float4*>(ch.mk)[v];
        const float kv[4] = {k4.x, k4.y, k4.z, k4.w};
        float pv[4] = {p4.x, p4.y, p4.z, p4.w};
        const float gv[4] = {g4.x, g4.y, g4.z, g4.w};
        float sv[NSA][4];
#pragma unroll
        for (int k = 0; k < NS; ++k) {
          sv[k][0] = s4[k].x; sv[k][1] = s4[k].y; sv[k][2] = s4[k].z; sv[k][3] = s4[k].w;
        }
#pragma unroll
        for (int l = 0; l < 4; ++l) {
          float st[NSA];
#pragma unroll
          for (int k = 0; k < NS; ++k) st[k] = sv[k][l];
          op(pv[l], gv[l], st, ch.aux);
          if (ch.mk) apply_mask(kv[l], pv[l], st);
#pragma unroll
          for (int k = 0; k < NS; ++k) sv[k][l] = st[k];
        }
        reinterpret_cast<float4*>(ch.p)[v] = make_float4(pv[0], pv[1], pv[2], pv[3]);
#pragma unroll
        for (int k = 0; k < NS; ++k)
          reinterpret_cast<float4*>(ch.s[k])[v] = make_float4(sv[k][0], sv[k][1], sv[k][2], sv[k][3]);
      }
      start = nv << 2;
    }
    for (int64_t i = start + threadIdx.x; i < ch.n; i += blockDim.x) {
      float pv = ch.p[i];
      const float gv = Op::kGrad ? ch.g[i] : 0.f;
      float st[NSA];
#pragma unroll
      for (int k = 0; k < NS; ++k) st[k] = ch.s[k][i];
      op(pv, gv, st, ch.aux);
      if (ch.mk) apply_mask(ch.mk[i], pv, st);
      ch.p[i] = pv;
#pragma unroll
      for (int k = 0; k < NS; ++k) ch.s[k][i] = st[k];
    }
  }
}

// ---- per-element updates (same expressions as the CPU loops)
template <bool AMS>
struct AdamOp {  // s0 = m, s1 = v, s2 = vhat
  static constexpr int kStates = AMS ? 3 : 2;
  static constexpr bool kGrad = true;
  float alpha, c1, c2, eps, lrwd;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float g, float (&s)[N], float) const {
    const float mi = s[0] + (g - s[0]) * c1;
    const float vi = s[1] + (g * g - s[1]) * c2;
    s[0] = mi;
    s[1] = vi;
    float vu = vi;
    if constexpr (AMS) {
      const float hi = fmaxf(s[2], vi);
      s[2] = hi;
      vu = hi;
    }
    const float pi = p - p * lrwd;
    p = pi - (mi * alpha) / (sqrtf(vu) + eps);
  }
};

template <bool MOM, bool NESTEROV>
struct SgdOp {  // s0 = velocity (momentum only)
  static constexpr int kStates = MOM ? 1 : 0;
  static constexpr bool kGrad = true;
  float lr, mu, lrwd;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float g, float (&s)[N], float) const {
    if constexpr (!MOM) {
      p = (p - p * lrwd) - g * lr;
    } else {
      const float mi = s[0] * mu - g * lr;
      s[0] = mi;
      if constexpr (NESTEROV) p = (p - p * lrwd) + (mi * mu - g * lr);
      else p = (p - p * lrwd) + mi;
    }
  }
};

template <bool MOM, bool AVG>
struct RmsOp {  // s0 = velocity, then momentum (if MOM), then average grad (if AVG)
  static constexpr int kStates = 1 + (MOM ? 1 : 0) + (AVG ? 1 : 0);
  static constexpr bool kGrad = true;
  float lr, rho, mu, eps, lrwd;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float g, float (&s)[N], float) const {
    const float c = 1.0f - rho;
    const float vi = rho * s[0] + c * (g * g);
    s[0] = vi;
    float denom;
    if constexpr (AVG) {
      constexpr int ia = MOM ? 2 : 1;
      const float ai = rho * s[ia] + c * g;
      s[ia] = ai;
      denom = vi - ai * ai + eps;
    } else {
      denom = vi + eps;
    }
    const float inc = (lr * g) / sqrtf(denom);
    const float pi = p - p * lrwd;
    if constexpr (MOM) {
      const float mo = mu * s[1] + inc;
      s[1] = mo;
      p = pi - mo;
    } else {
      p = pi - inc;
    }
  }
};

struct AdagradOp {  // s0 = accumulator
  static constexpr int kStates = 1;
  static constexpr bool kGrad = true;
  float lr, eps, lrwd;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float g, float (&s)[N], float) const {
    const float a = s[0] + g * g;
    s[0] = a;
    p = (p - p * lrwd) - (lr * g) / sqrtf(a + eps);
  }
};

struct ScaleOp {  // x *= f (f = aux per chunk when per_chunk, else the global factor)
  static constexpr int kStates = 0;
  static constexpr bool kGrad = false;
  float f;
  bool per_chunk;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float, float (&)[N], float aux) const {
    p *= per_chunk ? aux : f;
  }
};

struct ClipOp {
  static constexpr int kStates = 0;
  static constexpr bool kGrad = false;
  float c;
  template <int N>
  __device__ __forceinline__ void operator()(float& p, float, float (&)[N], float) const {
    p = fminf(fmaxf(p, -c), c);
  }
};

template <class Op>
void run(int slot, const std::vector<Chunk>& chunks, const Op& op) {
  if (chunks.empty()) return;
  const Chunk* d = upload(slot, chunks);
  mt_kernel<Op><<<grid_for(chunks.size()), kThreads, 0, current_stream()>>>(
      d, static_cast<int64_t>(chunks.size()), op);
  FN_CUDA_LAUNCH_CHECK();
}

// ---- norms: pass 1, one double Σx² per chunk.
__global__ void __launch_bounds__(kThreads)
    chunk_sumsq_kernel(double* __restrict__ part, const Chunk* __restrict__ chunks, int64_t nchunks) {
  __shared__ double red[32];
  for (int64_t ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < ch.n; i += blockDim.x) {
      const double x = ch.p[i];
      s += x * x;
    }
    s = block_reduce(s, SumOp(), 0.0, red);
    if (threadIdx.x == 0) part[ci] = s;
  }
}

// Pass 2: out[t] = sqrt(Σ part[first[t] .. first[t+1])), one block per segment, fixed order.
__global__ void __launch_bounds__(kThreads)
    segment_sqrt_sum_kernel(double* __restrict__ out, const double* __restrict__ part,
                            const int64_t* __restrict__ first, int nseg) {
  __shared__ double red[32];
  for (int t = blockIdx.x; t < nseg; t += gridDim.x) {
    double s = 0.0;
    for (int64_t i = first[t] + threadIdx.x; i < first[t + 1]; i += blockDim.x) s += part[i];
    s = block_reduce(s, SumOp(), 0.0, red);
    if (threadIdx.x == 0) out[t] = sqrt(s);
  }
}

// Per-segment norms on the host: segments are consecutive runs of chunks (first has nseg+1 entries).
std::vector<double> segment_norms(const std::vector<Chunk>& chunks, const std::vector<int64_t>& first) {
  const int nseg = static_cast<int>(first.size()) - 1;
  std::vector<double> res(nseg, 0.0);
  if (nseg <= 0) return res;
  if (chunks.empty()) return res;  // all segments empty: norms 0
  int dev = 0;
  FN_CUDA_CHECK(cudaGetDevice(&dev));
  const Chunk* d = upload(kSlotNorm, chunks);
  const size_t nc = chunks.size();
  // scratch: partials [nc] doubles, segment bounds [nseg+1], results [nseg]
  const size_t bytes = nc * sizeof(double) + (nseg + 1) * sizeof(int64_t) + nseg * sizeof(double);
  char* buf = static_cast<char*>(device_malloc(bytes, dev));
  double* part = reinterpret_cast<double*>(buf);
  int64_t* dfirst = reinterpret_cast<int64_t*>(buf + nc * sizeof(double));
  double* dout = reinterpret_cast<double*>(buf + nc * sizeof(double) + (nseg + 1) * sizeof(int64_t));
  try {
    memcpy_h2d(dfirst, first.data(), (nseg + 1) * sizeof(int64_t));
    chunk_sumsq_kernel<<<grid_for(nc), kThreads, 0, current_stream()>>>(part, d, static_cast<int64_t>(nc));
    FN_CUDA_LAUNCH_CHECK();
    segment_sqrt_sum_kernel<<<grid_for(nseg), kThreads, 0, current_stream()>>>(dout, part, dfirst, nseg);
    FN_CUDA_LAUNCH_CHECK();
    memcpy_d2h(res.data(), dout, nseg * sizeof(double));  // synchronises
  } catch (...) {
    device_free(buf, dev);
    throw;
  }
  device_free(buf, dev);
  return res;
}

std::vector<Chunk> plain_chunks(const float* const* arrays, TensorList tl, const float* aux = nullptr) {
  float* const* const states[3] = {nullptr, nullptr, nullptr};
  return make_chunks(const_cast<float* const*>(arrays), states, nullptr, nullptr, tl, aux);
}

}  // namespace

void adam_step(float* const* params, float* const* m, float* const* v, float* const* vhat,
               const float* const* grads, const float* const* masks, TensorList tl, double lr,
               double beta1, double beta2, double eps, i64 step, double weight_decay) {
  const double t = static_cast<double>(step);
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta2, t)) / (1.0 - std::pow(beta1, t)));
  const float c1 = static_cast<float>(1.0 - beta1), c2 = static_cast<float>(1.0 - beta2);
  const float fe = static_cast<float>(eps), lrwd = static_cast<float>(lr * weight_decay);
  float* const* const states[3] = {m, v, vhat};
  const auto chunks = make_chunks(params, states, grads, masks, tl, nullptr);
  if (vhat) run(kSlotAdam, chunks, AdamOp<true>{alpha, c1, c2, fe, lrwd});
  else run(kSlotAdam, chunks, AdamOp<false>{alpha, c1, c2, fe, lrwd});
}

void sgd_step(float* const* params, float* const* velocities, const float* const* grads,
              const float* const* masks, TensorList tl, double lr, double momentum, bool nesterov,
              double weight_decay) {
  const float flr = static_cast<float>(lr), mu = static_cast<float>(momentum);
  const float lrwd = static_cast<float>(lr * weight_decay);
  const bool use_m = momentum != 0.0;
  FN_CHECK(!use_m || velocities, "sgd_step: momentum needs velocities");
  float* const* const states[3] = {use_m ? velocities : nullptr, nullptr, nullptr};
  const auto chunks = make_chunks(params, states, grads, masks, tl, nullptr);
  if (!use_m) run(kSlotSgd, chunks, SgdOp<false, false>{flr, mu, lrwd});
  else if (nesterov) run(kSlotSgd, chunks, SgdOp<true, true>{flr, mu, lrwd});
  else run(kSlotSgd, chunks, SgdOp<true, false>{flr, mu, lrwd});
}

void rmsprop_step(float* const* params, float* const* velocities, float* const* moms,
                  float* const* avg_grads, const float* const* grads, const float* const* masks,
                  TensorList tl, double lr, double rho, double momentum, double eps, double weight_decay) {
  const float flr = static_cast<float>(lr), frho = static_cast<float>(rho);
  const float mu = static_cast<float>(momentum), fe = static_cast<float>(eps);
  const float lrwd = static_cast<float>(lr * weight_decay);
  const bool use_m = momentum > 0.0 && moms;
  const bool use_a = avg_grads != nullptr;
  // State order must match RmsOp: velocity, [momentum], [average grad].
  float* const* const states[3] = {velocities, use_m ? moms : (use_a ? avg_grads : nullptr),
                                   use_m && use_a ? avg_grads : nullptr};
  const auto chunks = make_chunks(params, states, grads, masks, tl, nullptr);
  const RmsOp<false, false> base{flr, frho, mu, fe, lrwd};
  if (use_m && use_a) run(kSlotRms, chunks, RmsOp<true, true>{flr, frho, mu, fe, lrwd});
  else if (use_m) run(kSlotRms, chunks, RmsOp<true, false>{flr, frho, mu, fe, lrwd});
  else if (use_a) run(kSlotRms, chunks, RmsOp<false, true>{flr, frho, mu, fe, lrwd});
  else run(kSlotRms, chunks, base);
}

void adagrad_step(float* const* params, float* const* accumulators, const float* const* grads,
                  const float* const* masks, TensorList tl, double lr, double eps, double weight_decay) {
  const float flr = static_cast<float>(lr), fe = static_cast<float>(eps);
  const float lrwd = static_cast<float>(lr * weight_decay);
  float* const* const states[3] = {accumulators, nullptr, nullptr};
  run(kSlotAdagrad, make_chunks(params, states, grads, masks, tl, nullptr), AdagradOp{flr, fe, lrwd});
}

void tensor_norms(double* norms, const float* const* arrays, TensorList tl) {
  const auto chunks = plain_chunks(arrays, tl);
  std::vector<int64_t> first(tl.count + 1, 0);
  int64_t c = 0;
  for (int t = 0; t < tl.count; ++t) {
    first[t] = c;
    c += (tl.sizes[t] + kChunk - 1) / kChunk;
  }
  first[tl.count] = c;
  const auto r = segment_norms(chunks, first);
  for (int t = 0; t < tl.count; ++t) norms[t] = r[t];
}

double global_norm(const float* const* arrays, TensorList tl) {
  const auto chunks = plain_chunks(arrays, tl);
  const std::vector<int64_t> first = {0, static_cast<int64_t>(chunks.size())};
  return segment_norms(chunks, first)[0];
}

void scale_inplace(float* const* arrays, TensorList tl, double factor) {
  run(kSlotScale, plain_chunks(arrays, tl), ScaleOp{static_cast<float>(factor), false});
}

void clip_by_value_inplace(float* const* arrays, TensorList tl, double clip) {
  run(kSlotClip, plain_chunks(arrays, tl), ClipOp{static_cast<float>(clip)});
}

void clip_by_norm_inplace(float* const* arrays, TensorList tl, double max_norm) {
  std::vector<double> norms(tl.count);
  cuda::tensor_norms(norms.data(), arrays, tl);
  std::vector<float> factor(tl.count, 1.0f);
  bool any = false;
  for (int t = 0; t < tl.count; ++t)
    if (norms[t] > max_norm) {
      factor[t] = static_cast<float>(max_norm / norms[t]);
      any = true;
    }
  if (!any) return;
  // Per-chunk factor (1 for tensors within the norm: x*1 is exact, so untouched tensors keep
  // their bits, as on the CPU which skips them).
  run(kSlotClipNorm, plain_chunks(arrays, tl, factor.data()), ScaleOp{1.0f, true});
}

}  // namespace fusednet::cuda
