// runtime.cu — device discovery, one stream per device, and the caching allocator.
//
// Allocator: blocks are rounded up (512 B below 1 MiB, 2 MiB above) and kept in per-device
// size-keyed free lists; a free returns the block to its list instead of calling cudaFree, so the
// steady-state training loop never synchronises on cudaMalloc/cudaFree. On OOM the cache is
// emptied and the allocation retried once. All kernels run on the per-device stream, so a block
// freed on the host may be reused by the next launch on the same stream without a race.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/check.cuh"
#include "cuda/runtime.h"

namespace fusednet::cuda {

namespace {
constexpr int kMaxDevices = 64;

struct DeviceState {
  cudaStream_t stream = nullptr;
  std::multimap<size_t, void*> free_blocks;      // size -> block
  std::unordered_map<void*, size_t> live;         // block -> size
  size_t allocated = 0, reserved = 0;
};

std::mutex g_mu;
DeviceState g_dev[kMaxDevices];
int g_current = 0;

int probe_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n < (1u << 20)) return (n + 511) / 512 * 512;
  return (n + (2u << 20) - 1) / (2u << 20) * (2u << 20);
}
}  // namespace

int device_count() {
  static const int n = probe_count();
  return n;
}

bool is_available() { return device_count() > 0; }

void set_device(int dev) {
  if (dev < 0 || dev >= device_count())
    throw std::invalid_argument("cuda: device index " + std::to_string(dev) + " out of range (" +
                                std::to_string(device_count()) + " devices)");
  FN_CUDA_CHECK(cudaSetDevice(dev));
  g_current = dev;
}

int current_device() {
  std::lock_guard<std::mutex> lk(g_mu);
  return g_current;
}

std::string device_name(int dev) {
  cudaDeviceProp p;
  FN_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  return p.name;
}

cudaStream_t current_stream() {
  std::lock_guard<std::mutex> lk(g_mu);
  DeviceState& s = g_dev[g_current];
  if (!s.stream) FN_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  return s.stream;
}

void* stream() { return current_stream(); }

void synchronize() { FN_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

void* device_malloc(size_t nbytes, int dev) {
  if (!is_available()) throw std::runtime_error("cuda: no CUDA device is available");
  size_t sz = round_size(nbytes);
  std::lock_guard<std::mutex> lk(g_mu);
  DeviceState& s = g_dev[dev];
  auto it = s.free_blocks.lower_bound(sz);
  // Reuse a cached block unless it would waste more than half of itself.
  if (it != s.free_blocks.end() && it->first <= 2 * sz) {
    void* p = it->second;
    size_t bsz = it->first;
    s.free_blocks.erase(it);
    s.live[p] = bsz;
    s.allocated += bsz;
    return p;
  }
  FN_CUDA_CHECK(cudaSetDevice(dev));
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, sz);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    for (auto& kv : s.free_blocks) {
      cudaFree(kv.second);
      s.reserved -= kv.first;
    }
    s.free_blocks.clear();
    err = cudaMalloc(&p, sz);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error("cuda: out of memory allocating " + std::to_string(nbytes) +
                             " bytes: " + cudaGetErrorString(err));
  }
  s.live[p] = sz;
  s.allocated += sz;
  s.reserved += sz;
  return p;
}

void device_free(void* p, int dev) {
  if (!p) return;
  std::lock_guard<std::mutex> lk(g_mu);
  DeviceState& s = g_dev[dev];
  auto it = s.live.find(p);
  if (it == s.live.end()) return;
  s.allocated -= it->second;
  s.free_blocks.emplace(it->second, p);
  s.live.erase(it);
}

void empty_cache() {
  std::lock_guard<std::mutex> lk(g_mu);
  for (int d = 0; d < device_count() && d < kMaxDevices; ++d) {
    DeviceState& s = g_dev[d];
    if (s.free_blocks.empty()) continue;
    cudaSetDevice(d);
    if (s.stream) cudaStreamSynchronize(s.stream);
    for (auto& kv : s.free_blocks) {
      cudaFree(kv.second);
      s.reserved -= kv.first;
    }
    s.free_blocks.clear();
  }
  cudaSetDevice(g_current);
}

size_t memory_allocated() {
  std::lock_guard<std::mutex> lk(g_mu);
  size_t t = 0;
  for (auto& s : g_dev) t += s.allocated;
  return t;
}

size_t memory_reserved() {
  std::lock_guard<std::mutex> lk(g_mu);
  size_t t = 0;
  for (auto& s : g_dev) t += s.reserved;
  return t;
}

void memcpy_h2d(void* dst, const void* src, size_t n) {
  if (!n) return;
  cudaStream_t st = current_stream();
  FN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st));
  FN_CUDA_CHECK(cudaStreamSynchronize(st));  // the host buffer may be freed right after
}

void memcpy_d2h(void* dst, const void* src, size_t n) {
  if (!n) return;
  cudaStream_t st = current_stream();
  FN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, st));
  FN_CUDA_CHECK(cudaStreamSynchronize(st));
}

void memcpy_d2d(void* dst, const void* src, size_t n) {
  if (!n) return;
  FN_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, current_stream()));
}

template <class T>
__global__ void fill_kernel(T* __restrict__ dst, T v, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    dst[i] = v;
}

void fill_bytes4(void* dst, uint32_t pattern, size_t count) {
  if (!count) return;
  fill_kernel<<<grid_1d(count, 256), 256, 0, current_stream()>>>(static_cast<uint32_t*>(dst),
                                                                 pattern, (long long)count);
  FN_CUDA_LAUNCH_CHECK();
}

void fill_bytes8(void* dst, uint64_t pattern, size_t count) {
  if (!count) return;
  fill_kernel<<<grid_1d(count, 256), 256, 0, current_stream()>>>(
      static_cast<unsigned long long*>(dst), (unsigned long long)pattern, (long long)count);
  FN_CUDA_LAUNCH_CHECK();
}

}  // namespace fusednet::cuda
