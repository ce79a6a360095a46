// runtime.h — CPU thread count and floating-point environment for every kernel.
#pragma once
#include <algorithm>
#include <cstddef>

#include "common/common.h"

namespace fusednet::cpu {

// Threads of the kernel thread pool (cpu/parallel.h), the caller included. Default:
// FUSEDNET_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs the process may run on.
int num_threads();
void set_num_threads(int n);

// Flush-to-zero + denormals-are-zero for the calling thread. Every parallel region calls it on
// entry: denormal operands are ~100x slower on x86 and appear in late training (tiny gradients).
void set_ftz();

// CPU feature level detected once by CPUID: 0 portable, 1 AVX2+FMA, 2 AVX-512 (F/VL/BW/DQ).
// FUSEDNET_ISA=portable|avx2|avx512 in the environment caps it (tests use that to cover all paths).
int isa_level();
const char* isa_name();

// 64-byte aligned host allocation (free with aligned_free); throws std::bad_alloc.
void* aligned_malloc(size_t nbytes);
void aligned_free(void* p);

// Host memory for Array storage: like aligned_malloc, but blocks of 256 KiB and more are kept in
// a size-keyed cache when freed and handed out again for the next request of (nearly) the same
// size. A training loop allocates the same activation/gradient sizes every step; without the
// cache each multi-MB block is a fresh mmap whose pages fault on first touch (measured: 20-25%
// of a CNN training step). The cache holds at most FUSEDNET_CPU_CACHE_MB (default 1024) MiB of
// free blocks; beyond that blocks go straight back to the system.
void* array_malloc(size_t nbytes);
void array_free(void* p, size_t nbytes);
void array_empty_cache();        // return every cached free block to the system
size_t array_cached_bytes();     // bytes held in the cache (free blocks only)

// A kernel's temporary float buffer (RAII) on the same cache: a multi-MB temporary allocated on
// every call (the conv backward's dZ, a zero-padded input copy) would otherwise page-fault all of
// its pages every step (measured: 0.8 ms of a 3.9 ms conv2 dW pass at batch 128).
struct HostBuf {
  float* p = nullptr;
  size_t nbytes = 0;
  explicit HostBuf(size_t nfloats)
      : p(static_cast<float*>(array_malloc(std::max<size_t>(nfloats, 1) * sizeof(float)))),
        nbytes(std::max<size_t>(nfloats, 1) * sizeof(float)) {}
  ~HostBuf() { array_free(p, nbytes); }
  HostBuf(const HostBuf&) = delete;
  HostBuf& operator=(const HostBuf&) = delete;
};

}  // namespace fusednet::cpu
