// parallel.cpp — the thread pool behind parallel_team (see parallel.h for why it exists).
//
// One job slot, owned by one top-level caller at a time (a mutex; a busy pool makes a second
// caller run inline). Protocol:
//   caller:  fill the slot, open it (active = ++gen), wake sleepers, claim tasks itself, wait
//            until every task is done, close it (active = 0), wait until no worker is inside.
//   worker:  wait for gen to change (spin FUSEDNET_SPIN_US, then sleep on a condition variable),
//            enter (inside++), and only if the slot is still open for the generation it saw,
//            claim tasks until none is left; leave (inside--).
// `inside++` then `load active` (worker) against `active = 0` then `load inside` (caller), all
// sequentially consistent, guarantee that a worker which read an old generation never touches a
// slot refilled for a newer job. A worker that wakes after all tasks were claimed does nothing.
#include "cpu/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "cpu/ftz_scope.h"
#include "cpu/runtime.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax() { asm volatile("yield" ::: "memory"); }
#else
static inline void cpu_relax() {}
#endif

namespace fusednet::cpu {
namespace {

thread_local bool tl_in_task = false;

struct Pool {
  std::mutex owner;                      // held by the caller of the running job
  std::atomic<uint64_t> gen{0};          // bumped for every job
  std::atomic<uint64_t> active{0};       // generation of the open job, 0 = closed
  std::atomic<int> next{0}, done{0}, inside{0};
  int ntasks = 0;
  TaskFn fn = nullptr;
  void* ctx = nullptr;
  std::mutex err_mu;
  std::exception_ptr err;

  std::mutex sleep_mu;
  std::condition_variable sleep_cv;
  std::atomic<int> sleepers{0};
  std::vector<std::thread> workers;
  std::mutex grow_mu;
  bool stopping = false;

  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(sleep_mu);
      stopping = true;
      gen.fetch_add(1);
    }
    sleep_cv.notify_all();
    for (auto& w : workers)
      if (w.joinable()) w.detach();  // at interpreter exit: never block on a worker
  }

  void run_tasks() {
    const int T = ntasks;
    for (int i = next.fetch_add(1); i < T; i = next.fetch_add(1)) {
      try {
        fn(ctx, i, T);
      } catch (...) {
        std::lock_guard<std::mutex> lk(err_mu);
        if (!err) err = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_release);
    }
  }

  void worker_loop() {
    tl_in_task = true;
    set_ftz();
    uint64_t seen = gen.load();
    const auto spin = std::chrono::microseconds(spin_us());
    for (;;) {
      // wait for a new job: spin a little, then sleep
      auto t0 = std::chrono::steady_clock::now();
      int k = 0;
      while (gen.load(std::memory_order_acquire) == seen) {
        cpu_relax();
        if ((++k & 255) == 0 && std::chrono::steady_clock::now() - t0 > spin) {
          std::unique_lock<std::mutex> lk(sleep_mu);
          sleepers.fetch_add(1);
          sleep_cv.wait(lk, [&] { return gen.load() != seen || stopping; });
          sleepers.fetch_sub(1);
          break;
        }
      }
      if (stopping) return;
      seen = gen.load();
      inside.fetch_add(1);
      if (active.load() == seen) {
        set_ftz();
        run_tasks();
      }
      inside.fetch_sub(1);
    }
  }

  static int spin_us() {
    static const int us = [] {
      const char* s = std::getenv("FUSEDNET_SPIN_US");
      int v = s ? std::atoi(s) : 250;
      return v < 0 ? 0 : v;
    }();
    return us;
  }

  void ensure_workers(int n) {
    std::lock_guard<std::mutex> lk(grow_mu);
    while (int(workers.size()) < n) workers.emplace_back([this] { worker_loop(); });
  }
};

Pool& pool() {
  static Pool* p = new Pool();   // leaked on purpose: workers may outlive static destruction
  return *p;
}

void run_inline(int T, TaskFn fn, void* ctx) {
  const bool was = tl_in_task;
  tl_in_task = true;
  std::exception_ptr err;
  for (int t = 0; t < T; ++t) {
    try {
      fn(ctx, t, T);
    } catch (...) {
      if (!err) err = std::current_exception();
    }
  }
  tl_in_task = was;
  if (err) std::rethrow_exception(err);
}

}  // namespace

bool in_parallel() { return tl_in_task; }

void parallel_single_impl(TaskFn fn, void* ctx) {
  FtzScope restore_caller_fp_mode;
  fn(ctx, 0, 1);
}

void parallel_team_impl(int T, TaskFn fn, void* ctx) {
  // Tasks set FTZ/DAZ on the thread that runs them, the calling (Python) thread included; restore
  // the caller's mode on every return path, or NumPy maths after any threaded kernel that has no
  // FtzScope of its own (elementwise ops, reductions, activations, permutation) flush denormals.
  FtzScope restore_caller_fp_mode;
  const int nt = num_threads();
  if (T <= 1 || nt <= 1 || tl_in_task) return run_inline(T, fn, ctx);
  Pool& P = pool();
  std::unique_lock<std::mutex> own(P.owner, std::try_to_lock);
  if (!own.owns_lock()) return run_inline(T, fn, ctx);
  try {
    P.ensure_workers(nt - 1);
  } catch (const std::system_error&) {   // no threads allowed here (sandbox, ulimit): serial
    own.unlock();
    return run_inline(T, fn, ctx);
  }
  P.fn = fn;
  P.ctx = ctx;
  P.ntasks = T;
  P.err = nullptr;
  P.next.store(0);
  P.done.store(0);
  const uint64_t g = P.gen.load() + 1;
  P.active.store(g);
  P.gen.store(g);
  if (P.sleepers.load() > 0) {
    std::lock_guard<std::mutex> lk(P.sleep_mu);
    P.sleep_cv.notify_all();
  }
  tl_in_task = true;
  P.run_tasks();
  tl_in_task = false;
  // tasks claimed by workers that are still running: spin, then yield the core to them
  for (int k = 0; P.done.load(std::memory_order_acquire) < T; ++k) {
    if (k < 4096) cpu_relax();
    else std::this_thread::yield();
  }
  P.active.store(0);
  for (int k = 0; P.inside.load() != 0; ++k) {
    if (k < 4096) cpu_relax();
    else std::this_thread::yield();
  }
  std::exception_ptr err = P.err;
  P.err = nullptr;
  own.unlock();
  if (err) std::rethrow_exception(err);
}

}  // namespace fusednet::cpu
