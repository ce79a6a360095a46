// parallel.h — fusednet's own thread pool: the only place CPU kernels get threads from.
//
// parallel_team(T, body) runs body(t, T) for every t in [0, T): T *tasks*, not T threads. The
// calling thread and the pool's workers claim tasks from a shared counter; the caller returns
// once every task has finished. Why not OpenMP (which this replaced):
// * A worker that is late (descheduled because another process or another library's threads hold
//   the cores) is not waited for: the running threads take its tasks. An OpenMP region ends with a
//   barrier that every team thread must reach, so each fork/join waited for a scheduler slice
//   whenever a core was taken away (measured: the seed CNN 3-13x slower beside a 2-thread job).
// * Idle workers spin only briefly (FUSEDNET_SPIN_US, default 250 us: longer than the gaps
//   between the kernels of one training step, shorter than a PyTorch step or a data-loading
//   pause) and then sleep, so they do not hold a core another process or library is about to
//   need; libgomp's default spins for milliseconds.
// * No shared runtime: libgomp is one per process and PyTorch ships its own copy under the same
//   soname, so whichever loads first configured the other's threads.
// Results never depend on which thread ran a task (callers partition work by task index only),
// so everything stays bitwise independent of the thread count and of the scheduling.
//
// Nesting: a parallel_team called from inside a task runs its tasks in order on that thread (the
// outer level already uses the cores). A second top-level caller (another Python thread while the
// GIL is released) finds the pool busy and also runs inline. Exceptions thrown by tasks: the first
// one is rethrown on the caller after all tasks ended.
#pragma once
#include <cstdint>
#include <utility>

#include "common/common.h"
#include "cpu/runtime.h"

namespace fusednet::cpu {

using TaskFn = void (*)(void* ctx, int t, int T);
void parallel_team_impl(int T, TaskFn fn, void* ctx);

// True on a pool worker, and on the calling thread while it runs tasks of a parallel_team.
bool in_parallel();

// fn(ctx, 0, 1) on the calling thread (nesting state unchanged), the caller's FTZ/DAZ mode
// restored afterwards, as parallel_team_impl does: a one-task team must not leak the tasks'
// set_ftz() into the Python thread either.
void parallel_single_impl(TaskFn fn, void* ctx);

template <class F>
void parallel_team(int T, F&& body) {
  using Fn = std::remove_reference_t<F>;
  const TaskFn fn = [](void* c, int t, int n) { (*static_cast<Fn*>(c))(t, n); };
  void* ctx = const_cast<void*>(static_cast<const void*>(&body));
  if (T <= 1) return parallel_single_impl(fn, ctx);
  parallel_team_impl(T, fn, ctx);
}

// f(i) for i in [0, n) in T contiguous static blocks (block t = [n·t/T, n·(t+1)/T)), FTZ/DAZ
// set on the thread running each block.
template <class F>
void parallel_for(i64 n, int T, F&& f) {
  if (n <= 0) return;
  if (T > n) T = int(n);
  parallel_team(T, [&](int t, int nt) {
    set_ftz();
    const i64 lo = n * t / nt, hi = n * (t + 1) / nt;
    for (i64 i = lo; i < hi; ++i) f(i);
  });
}

// f(i) for i in [0, n), one index per task claim (uneven work items).
template <class F>
void parallel_for_dynamic(i64 n, int T, F&& f) {
  if (n <= 0) return;
  if (n > (i64(1) << 30)) n = i64(1) << 30;  // task ids are int; no caller comes near this
  (void)T;
  parallel_team(int(n), [&](int t, int) {
    set_ftz();
    f(i64(t));
  });
}

// The same when `cond`, else f(i) in order on this thread (what OpenMP's `if` clause did).
template <class F>
void parallel_for_if(bool cond, i64 n, int T, F&& f) {
  if (cond) return parallel_for(n, T, f);
  for (i64 i = 0; i < n; ++i) f(i);
}

template <class F>
void parallel_for_dynamic_if(bool cond, i64 n, int T, F&& f) {
  if (cond) return parallel_for_dynamic(n, T, f);
  for (i64 i = 0; i < n; ++i) f(i);
}

}  // namespace fusednet::cpu
