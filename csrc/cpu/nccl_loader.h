// nccl_loader.h — NCCL loaded at run time with dlopen (issue 14: DataParallel on CUDA arrays).
//
// fusednet never links NCCL and never includes nccl.h: CI builds have neither, and the wheel must
// import where NCCL is absent. The few types and prototypes used are declared here from NCCL's
// stable C ABI (nccl.h, 2.x): ncclUniqueId is 128 opaque bytes passed by value, ncclComm_t an
// opaque pointer, results an int enum (0 = ncclSuccess), ncclFloat32 = 7, ncclSum = 0. The
// library comes from the nvidia-nccl-cu12/cu13 wheel (its lib/ directory, found by Python) or
// from the dynamic loader's search (LD_LIBRARY_PATH, ldconfig). Not a kernel family, so it has no
// csrc/cuda twin: it is plain C++ and compiled in every build (CPU-only builds report "needs a
// CUDA build" when a communicator is made).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace fusednet::nccl {

constexpr int kUniqueIdBytes = 128;                // NCCL_UNIQUE_ID_BYTES
struct UniqueId { char internal[kUniqueIdBytes]; };  // ncclUniqueId
using Comm = struct OpaqueComm*;                    // ncclComm_t
using Result = int;                                 // ncclResult_t (0 = ncclSuccess)
constexpr int kFloat32 = 7;                         // ncclFloat32
constexpr int kSum = 0;                             // ncclSum

// The resolved entry points (all non-null once load() succeeded).
struct Api {
  Result (*GetVersion)(int*);
  Result (*GetUniqueId)(UniqueId*);
  Result (*CommInitRank)(Comm*, int, UniqueId, int);
  Result (*CommDestroy)(Comm);
  Result (*CommAbort)(Comm);
  Result (*AllReduce)(const void*, void*, size_t, int, int, Comm, void*);
  Result (*Broadcast)(const void*, void*, size_t, int, int, Comm, void*);
  Result (*GroupStart)();
  Result (*GroupEnd)();
  const char* (*GetErrorString)(Result);
};

// Tries each candidate file in order, then "libnccl.so.2" through the loader's own search.
// Idempotent (the first success sticks); returns the path or name that loaded. Throws
// std::runtime_error listing every candidate and dlerror()'s reason when none loads or a
// symbol is missing.
std::string load(const std::vector<std::string>& candidates);
bool loaded();
const Api& api();            // throws std::runtime_error when load() has not succeeded
int version();               // e.g. 22105 for 2.21.5

// Throws std::runtime_error "<what>: NCCL error <code>: <ncclGetErrorString>" unless r == 0.
void check(Result r, const char* what);

}  // namespace fusednet::nccl
