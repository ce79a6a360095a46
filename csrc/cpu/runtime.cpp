// runtime.cpp — thread count, FTZ/DAZ, CPU feature detection and aligned host memory.
// Kept tiny and dependency-free: every other CPU file includes runtime.h.
#include "cpu/runtime.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif

#include "cpu/ftz_scope.h"
#include "cpu/isa.h"
#if FN_X86
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

namespace fusednet::cpu {

static std::atomic<int> g_threads{0};

// FUSEDNET_NUM_THREADS, else OMP_NUM_THREADS (what users already set for other libraries), else
// the CPUs this process may run on (sched_getaffinity: taskset, cgroup cpusets).
static int default_threads() {
  for (const char* var : {"FUSEDNET_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const char* s = std::getenv(var)) {
      const int v = std::atoi(s);
      if (v >= 1) return v;
    }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int c = CPU_COUNT(&set);
    if (c >= 1) return c;
  }
#endif
  const unsigned h = std::thread::hardware_concurrency();
  return h >= 1 ? int(h) : 1;
}

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n <= 0) {
    n = default_threads();
    g_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1, got " + std::to_string(n));
  g_threads.store(n, std::memory_order_relaxed);
}

void set_ftz() {
#if FN_X86
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#elif defined(__aarch64__)
  // Same numerics as x86 (denormals flushed, in and out), so a model gives the same losses on
  // both; the write is skipped when already set because msr fpcr can stall the pipeline.
  const FpControl c = fp_control_get();
  if (!(c & kFpcrFz)) fp_control_set(c | kFpcrFz);
#endif
}

static int detect_isa() {
  int level = 0;  // non-x86: only the portable kernels are compiled in
#if FN_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
  if (level == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    level = 2;
#endif
  if (const char* cap = std::getenv("FUSEDNET_ISA")) {
    int want = level;
    if (!std::strcmp(cap, "portable")) want = 0;
    else if (!std::strcmp(cap, "avx2")) want = 1;
    else if (!std::strcmp(cap, "avx512")) want = 2;
    if (want < level) level = want;
  }
  return level;
}

int isa_level() {
  static const int level = detect_isa();
  return level;
}

const char* isa_name() {
  static const char* names[] = {"portable", "avx2", "avx512"};
  return names[isa_level()];
}

void* aligned_malloc(size_t nbytes) {
  size_t n = (nbytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return p;
}

void aligned_free(void* p) { std::free(p); }

namespace {
constexpr size_t kCacheMin = 256 * 1024;  // below this glibc's heap arenas already recycle

struct HostCache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  size_t cached = 0;
  size_t limit = 0;
  HostCache() {
    size_t mb = 1024;
    if (const char* e = std::getenv("FUSEDNET_CPU_CACHE_MB")) mb = std::strtoull(e, nullptr, 10);
    limit = mb << 20;
  }
};

HostCache& host_cache() {
  static HostCache* c = new HostCache();  // never destroyed: Arrays may be freed at exit
  return *c;
}

size_t round_block(size_t n) { return (n + 4095) / 4096 * 4096; }
}  // namespace

void* array_malloc(size_t nbytes) {
  if (nbytes < kCacheMin) return aligned_malloc(nbytes);
  size_t sz = round_block(nbytes);
  HostCache& c = host_cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.free_blocks.lower_bound(sz);
    // Reuse a block at most 25% larger than asked, so a small request never pins a huge block.
    if (it != c.free_blocks.end() && it->first <= sz + sz / 4) {
      void* p = it->second;
      c.cached -= it->first;
      c.free_blocks.erase(it);
      return p;
    }
  }
  return aligned_malloc(sz);
}

void array_free(void* p, size_t nbytes) {
  if (!p) return;
  if (nbytes < kCacheMin) return aligned_free(p);
  size_t sz = round_block(nbytes);
  HostCache& c = host_cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.cached + sz <= c.limit) {
      c.free_blocks.emplace(sz, p);
      c.cached += sz;
      return;
    }
  }
  aligned_free(p);
}

void array_empty_cache() {
  HostCache& c = host_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto& kv : c.free_blocks) aligned_free(kv.second);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t array_cached_bytes() {
  HostCache& c = host_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return c.cached;
}

}  // namespace fusednet::cpu
