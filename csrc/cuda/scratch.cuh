// scratch.cuh — launcher-side helpers shared by the newer CUDA families (elementwise, conv, pool,
// norm): RAII scratch from the caching allocator, a device "first bad position" flag, and a
// by-value shape struct for broadcasting / odometer kernels.
//
// Scratch: launchers that need temporaries (im2col chunks, reduction partials, CSR lists) take
// them from the caching allocator of the current device and hand them back when the launcher
// returns. That is safe without synchronising because every kernel runs on the one per-device
// stream (runtime.cu): a block returned here can only be reused by work enqueued later on the
// same stream. In steady state this performs no cudaMalloc.
//
// Flags: index-taking ops (take_rows, one_hot, max-pool backward, …) must raise ValueError for a
// bad index (DESIGN invariant 7), so their kernels never read or write out of bounds and record
// the smallest offending position with an integer atomicMin (order-independent, so still
// deterministic); the launcher then reads the 8-byte flag back, which synchronises the stream.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "common/common.h"
#include "cuda/check.cuh"
#include "cuda/runtime.h"

namespace fusednet::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t nbytes) { reset(nbytes); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reset(size_t nbytes) {
    release();
    dev_ = current_device();
    p_ = device_malloc(nbytes ? nbytes : 1, dev_);
  }
  template <class T> T* as() const { return static_cast<T*>(p_); }

 private:
  void release() {
    if (p_) device_free(p_, dev_);
    p_ = nullptr;
  }
  void* p_ = nullptr;
  int dev_ = 0;
};

constexpr unsigned long long kNoBad = ~0ull;

// A device word initialised to kNoBad; kernels atomicMin a position into it.
class BadFlag {
 public:
  BadFlag() : buf_(sizeof(unsigned long long)) {
    FN_CUDA_CHECK(cudaMemsetAsync(buf_.as<void>(), 0xff, sizeof(unsigned long long), current_stream()));
  }
  unsigned long long* ptr() const { return buf_.as<unsigned long long>(); }
  // Synchronises; -1 when no position was recorded, else the smallest one.
  i64 read() const {
    unsigned long long h = kNoBad;
    FN_CUDA_CHECK(cudaMemcpyAsync(&h, buf_.as<void>(), sizeof(h), cudaMemcpyDeviceToHost, current_stream()));
    FN_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
    return h == kNoBad ? -1 : static_cast<i64>(h);
  }

 private:
  DeviceBuffer buf_;
};

__device__ __forceinline__ void flag_bad(unsigned long long* flag, int64_t pos) {
  atomicMin(flag, static_cast<unsigned long long>(pos));  // integer min: order-independent
}

// Up to 8 dims, passed by value to kernels.
struct Dims8 {
  int nd = 0;
  int64_t n[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t s0[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // stride of operand 0 per dim (elements)
  int64_t s1[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // stride of operand 1 per dim (elements)
};

}  // namespace fusednet::cuda
